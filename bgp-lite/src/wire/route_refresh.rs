//! ROUTE-REFRESH (RFC 2918 §3).
//!
//! ```text
//! +-------------------------------+---------------+---------------+
//! |          AFI (2)              |  Reserved (1) |   SAFI (1)    |
//! +-------------------------------+---------------+---------------+
//! ```

use super::{Afi, Reader, Safi};
use crate::error::WireError;

/// A ROUTE-REFRESH request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RouteRefresh {
    /// Address family.
    pub afi: Afi,
    /// The reserved octet (RFC 7313 subtype), kept for round trips.
    pub reserved: u8,
    /// Subsequent address family.
    pub safi: Safi,
}

impl RouteRefresh {
    /// IPv4 unicast.
    pub const IPV4_UNICAST: Self = Self {
        afi: Afi::IPV4,
        reserved: 0,
        safi: Safi::UNICAST,
    };

    /// Parses the 4-byte body.
    ///
    /// # Errors
    /// [`WireError::BadRouteRefresh`] when the body is not 4 bytes.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        if body.len() != 4 {
            return Err(WireError::BadRouteRefresh);
        }
        let mut r = Reader::new(body);
        Ok(Self {
            afi: Afi(r.u16("afi")?),
            reserved: r.u8("reserved")?,
            safi: Safi(r.u8("safi")?),
        })
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.afi.0.to_be_bytes());
        out.push(self.reserved);
        out.push(self.safi.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeCtx, Message};

    #[test]
    fn route_refresh_vector() {
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 23, 5, 0, 1, 0, 1]);
        let m = Message::parse(&want, &DecodeCtx::default()).unwrap();
        assert_eq!(m, Message::RouteRefresh(RouteRefresh::IPV4_UNICAST));
        assert_eq!(m.to_bytes(&DecodeCtx::default()).unwrap(), want);
        for n in 0..want.len() {
            assert!(Message::parse(&want[..n], &DecodeCtx::default()).is_err());
        }
    }
}

//! Capabilities advertisement (RFC 5492): multiprotocol (RFC 4760 §8), route refresh
//! (RFC 2918 §2), 4-octet AS (RFC 6793 §3); anything else is kept as `Unknown`.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use super::{Afi, Reader, Safi};
use crate::error::WireError;

/// One capability.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Capability {
    /// Multiprotocol extensions (code 1).
    Multiprotocol {
        /// AFI.
        afi: Afi,
        /// The reserved octet, kept for round trips.
        reserved: u8,
        /// SAFI.
        safi: Safi,
    },
    /// Route refresh (code 2).
    RouteRefresh,
    /// 4-octet AS number support (code 65) with our AS.
    FourOctetAs(u32),
    /// Any other capability, or a known one with an unexpected length, kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Value.
        value: Vec<u8>,
    },
}

impl Capability {
    /// Multiprotocol IPv4 unicast.
    pub const MP_IPV4_UNICAST: Self = Self::Multiprotocol {
        afi: Afi::IPV4,
        reserved: 0,
        safi: Safi::UNICAST,
    };
    /// Multiprotocol IPv6 unicast.
    pub const MP_IPV6_UNICAST: Self = Self::Multiprotocol {
        afi: Afi::IPV6,
        reserved: 0,
        safi: Safi::UNICAST,
    };

    /// Parses one capability from the reader.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when the length overruns.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let code = r.u8("capability code")?;
        let len = r.u8("capability length")?;
        let value = r.take(usize::from(len), "capability value")?;
        Ok(match (code, value) {
            (1, [a0, a1, res, safi]) => Self::Multiprotocol {
                afi: Afi(u16::from_be_bytes([*a0, *a1])),
                reserved: *res,
                safi: Safi(*safi),
            },
            (2, []) => Self::RouteRefresh,
            (65, [a, b, c, d]) => Self::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => Self::Unknown {
                code,
                value: value.to_vec(),
            },
        })
    }

    /// Appends the capability.
    ///
    /// # Errors
    /// [`WireError::TooLong`] for an unknown value longer than 255 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Self::Multiprotocol {
                afi,
                reserved,
                safi,
            } => {
                out.extend_from_slice(&[1, 4]);
                out.extend_from_slice(&afi.0.to_be_bytes());
                out.extend_from_slice(&[*reserved, safi.0]);
            }
            Self::RouteRefresh => out.extend_from_slice(&[2, 0]),
            Self::FourOctetAs(asn) => {
                out.extend_from_slice(&[65, 4]);
                out.extend_from_slice(&asn.to_be_bytes());
            }
            Self::Unknown { code, value } => {
                let len = u8::try_from(value.len())
                    .map_err(|_| WireError::TooLong { what: "capability" })?;
                out.extend_from_slice(&[*code, len]);
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_vectors() {
        let v = [
            1u8, 4, 0, 2, 0, 1, 2, 0, 65, 4, 0, 0, 0xfd, 0xe9, 70, 0, 128, 1, 9,
        ];
        let mut r = Reader::new(&v);
        let mut caps = Vec::new();
        while !r.is_empty() {
            caps.push(Capability::parse(&mut r).unwrap());
        }
        assert_eq!(
            caps,
            vec![
                Capability::MP_IPV6_UNICAST,
                Capability::RouteRefresh,
                Capability::FourOctetAs(65001),
                Capability::Unknown {
                    code: 70,
                    value: vec![]
                },
                Capability::Unknown {
                    code: 128,
                    value: vec![9]
                },
            ]
        );
        let mut out = Vec::new();
        for c in &caps {
            c.emit(&mut out).unwrap();
        }
        assert_eq!(out, v);
        assert!(Capability::parse(&mut Reader::new(&[65, 4, 0, 0])).is_err());
    }
}

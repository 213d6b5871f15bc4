//! Client Information Entries (RFC 2332 §5.2.0.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     code      | prefix length |            unused             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  maximum transmission unit    |        holding time (s)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | cli NBMA t/l  | cli sub t/l   | cli proto len |  preference   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | client NBMA address, subaddress, protocol address (variable)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use crate::error::WireError;
use crate::wire::fixed::{TL_LEN_MASK, TL_TYPE_MASK};
use crate::wire::{Address, MAX_CIES, Reader, len_u8, registry};

/// Length of a CIE without its addresses.
pub const HEADER_LEN: usize = 12;

registry! {
    /// CIE code (RFC 2332 §5.2.2, §5.2.4, §5.2.6).
    CieCode(u8) {
        /// Success.
        SUCCESS = 0 => "Success",
        /// Administratively prohibited.
        ADMINISTRATIVELY_PROHIBITED = 4 => "Administratively Prohibited",
        /// Insufficient resources.
        INSUFFICIENT_RESOURCES = 5 => "Insufficient Resources",
        /// No interworking layer address to NBMA address binding exists.
        NO_BINDING_EXISTS = 11 => "No Binding Exists",
        /// Binding exists but is not unique.
        BINDING_NON_UNIQUE = 13 => "Binding Non Unique",
        /// Unique internetworking layer address already registered.
        UNIQUE_ADDRESS_REGISTERED = 14 => "Unique Address Registered",
    }
}

/// One Client Information Entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Cie {
    /// Code.
    pub code: CieCode,
    /// Prefix length (0xff in a request means "host").
    pub prefix_len: u8,
    /// The unused field, kept for exact round trips.
    pub unused: u16,
    /// Maximum transmission unit (0: not given).
    pub mtu: u16,
    /// Holding time in seconds.
    pub holding_time: u16,
    /// Type bits (0xc0) of the client NBMA address type/length.
    pub nbma_type: u8,
    /// Type bits (0xc0) of the client NBMA subaddress type/length.
    pub nbma_sub_type: u8,
    /// Preference.
    pub preference: u8,
    /// Client NBMA address.
    pub nbma: Address,
    /// Client NBMA subaddress.
    pub nbma_sub: Address,
    /// Client protocol address.
    pub proto: Address,
}

impl Cie {
    /// A CIE with code Success for an IPv4 client, or an empty one when both are `None`.
    pub fn new(
        prefix_len: u8,
        mtu: u16,
        holding_time: u16,
        nbma: Option<Ipv4Addr>,
        proto: Option<Ipv4Addr>,
    ) -> Self {
        Self {
            code: CieCode::SUCCESS,
            prefix_len,
            unused: 0,
            mtu,
            holding_time,
            nbma_type: 0,
            nbma_sub_type: 0,
            preference: 0,
            nbma: nbma.map(Address::from).unwrap_or_default(),
            nbma_sub: Address::empty(),
            proto: proto.map(Address::from).unwrap_or_default(),
        }
    }

    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let code = CieCode(r.u8("cie code")?);
        let prefix_len = r.u8("cie prefix length")?;
        let unused = r.u16("cie unused")?;
        let mtu = r.u16("cie mtu")?;
        let holding_time = r.u16("cie holding time")?;
        let ntl = r.u8("cie nbma type/length")?;
        let stl = r.u8("cie subaddress type/length")?;
        let plen = r.u8("cie protocol length")?;
        let preference = r.u8("cie preference")?;
        let nbma = Address(
            r.take(usize::from(ntl & TL_LEN_MASK), "cie nbma address")?
                .to_vec(),
        );
        let nbma_sub = Address(
            r.take(usize::from(stl & TL_LEN_MASK), "cie nbma subaddress")?
                .to_vec(),
        );
        let proto = Address(r.take(usize::from(plen), "cie protocol address")?.to_vec());
        Ok(Self {
            code,
            prefix_len,
            unused,
            mtu,
            holding_time,
            nbma_type: ntl & TL_TYPE_MASK,
            nbma_sub_type: stl & TL_TYPE_MASK,
            preference,
            nbma,
            nbma_sub,
            proto,
        })
    }

    pub(crate) fn emit(&self, w: &mut Vec<u8>) -> Result<(), WireError> {
        let ntl = tl(self.nbma_type, self.nbma.0.len(), "cie nbma address")?;
        let stl = tl(
            self.nbma_sub_type,
            self.nbma_sub.0.len(),
            "cie nbma subaddress",
        )?;
        let plen = len_u8(self.proto.0.len(), "cie protocol address")?;
        w.push(self.code.0);
        w.push(self.prefix_len);
        w.extend_from_slice(&self.unused.to_be_bytes());
        w.extend_from_slice(&self.mtu.to_be_bytes());
        w.extend_from_slice(&self.holding_time.to_be_bytes());
        w.extend_from_slice(&[ntl, stl, plen, self.preference]);
        w.extend_from_slice(&self.nbma.0);
        w.extend_from_slice(&self.nbma_sub.0);
        w.extend_from_slice(&self.proto.0);
        Ok(())
    }
}

/// A type/length octet: type bits and a 6-bit length.
pub(crate) fn tl(ty: u8, len: usize, what: &'static str) -> Result<u8, WireError> {
    let l = len_u8(len, what)?;
    if l > TL_LEN_MASK {
        return Err(WireError::TooLong { what, len });
    }
    Ok((ty & TL_TYPE_MASK) | l)
}

/// Parses CIEs until the reader is empty.
pub(crate) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Cie>, WireError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        if v.len() >= MAX_CIES {
            return Err(WireError::TooMany {
                what: "cies",
                at: r.pos(),
            });
        }
        v.push(Cie::parse(r)?);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: [u8; 20] = [
        0x00, 0x18, 0x00, 0x00, 0x05, 0x78, 0x1c, 0x20, 0x04, 0x00, 0x04, 0x00, 172, 16, 2, 2, 10,
        1, 1, 177,
    ];

    fn repr() -> Cie {
        Cie::new(
            24,
            1400,
            7200,
            Some(Ipv4Addr::new(172, 16, 2, 2)),
            Some(Ipv4Addr::new(10, 1, 1, 177)),
        )
    }

    #[test]
    fn parse_and_emit() {
        let mut r = Reader::new(&VECTOR);
        assert_eq!(Cie::parse(&mut r).unwrap(), repr());
        assert!(r.is_empty());
        let mut w = Vec::new();
        repr().emit(&mut w).unwrap();
        assert_eq!(w, VECTOR);
    }

    #[test]
    fn truncation() {
        for n in 0..VECTOR.len() {
            let mut r = Reader::new(&VECTOR[..n]);
            assert!(Cie::parse(&mut r).is_err(), "{n}");
        }
    }

    #[test]
    fn address_too_long_for_six_bits() {
        let mut c = repr();
        c.nbma = Address(vec![0; 64]);
        assert!(matches!(
            c.emit(&mut Vec::new()),
            Err(WireError::TooLong { .. })
        ));
    }
}

//! Identification payloads IDi and IDr (RFC 7296 section 3.5).
//!
//! ```text
//! +---------------+-----------------------------------------------+
//! |   ID Type     |                 RESERVED (3)                  |
//! +---------------+-----------------------------------------------+
//! ~                   Identification Data                         ~
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{Reader, registry};
use crate::error::WireError;

registry! {
    /// Identification type (IANA "IKEv2 Identification Payload ID Types").
    pub struct IdType(u8) {
        IPV4_ADDR = 1,
        FQDN = 2,
        RFC822_ADDR = 3,
        IPV6_ADDR = 5,
        DER_ASN1_DN = 9,
        DER_ASN1_GN = 10,
        KEY_ID = 11,
        FC_NAME = 12,
        NULL = 13,
    }
}

/// An identity: its type and data. The data is opaque except for the helpers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Identification {
    /// ID type.
    pub ty: IdType,
    /// Identification data.
    pub data: Vec<u8>,
}

impl Identification {
    /// An ID_IPV4_ADDR identity.
    pub fn ipv4(a: Ipv4Addr) -> Self {
        Self {
            ty: IdType::IPV4_ADDR,
            data: a.octets().to_vec(),
        }
    }
    /// An ID_IPV6_ADDR identity.
    pub fn ipv6(a: Ipv6Addr) -> Self {
        Self {
            ty: IdType::IPV6_ADDR,
            data: a.octets().to_vec(),
        }
    }
    /// An ID_FQDN identity.
    pub fn fqdn(name: &str) -> Self {
        Self {
            ty: IdType::FQDN,
            data: name.as_bytes().to_vec(),
        }
    }
    /// An ID_RFC822_ADDR identity.
    pub fn email(addr: &str) -> Self {
        Self {
            ty: IdType::RFC822_ADDR,
            data: addr.as_bytes().to_vec(),
        }
    }
    /// An ID_KEY_ID identity (opaque bytes).
    pub fn key_id(id: &[u8]) -> Self {
        Self {
            ty: IdType::KEY_ID,
            data: id.to_vec(),
        }
    }

    /// The bytes that go into the AUTH computation (RFC 7296 section 2.15: the ID payload
    /// body without the generic header: type, three reserved octets, data).
    pub fn auth_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.data.len());
        self.write_body(&mut v);
        v
    }

    /// The address length the ID type requires, if it is an address type.
    fn address_len(ty: IdType) -> Option<usize> {
        match ty {
            IdType::IPV4_ADDR => Some(4),
            IdType::IPV6_ADDR => Some(16),
            _ => None,
        }
    }

    fn write_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.ty.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }

    /// Parses an ID payload body.
    ///
    /// # Errors
    /// [`WireError::Truncated`]; an IPv4/IPv6 identity of the wrong size is
    /// [`WireError::BadLength`].
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let ty = IdType(r.u8("ID payload")?);
        r.take(3, "ID payload")?;
        let data = r.rest().to_vec();
        let want = Self::address_len(ty);
        if want.is_some_and(|w| w != data.len()) {
            return Err(WireError::BadLength {
                what: "ID address",
                len: data.len(),
            });
        }
        Ok(Self { ty, data })
    }

    /// Appends the ID payload body.
    ///
    /// # Errors
    /// [`WireError::BadLength`] (`"ID address"`) for an IPv4/IPv6 identity whose data is
    /// not 4/16 octets (parse refuses it).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        if Self::address_len(self.ty).is_some_and(|w| w != self.data.len()) {
            return Err(WireError::BadLength {
                what: "ID address",
                len: self.data.len(),
            });
        }
        self.write_body(out);
        Ok(())
    }
}

impl core::fmt::Display for Identification {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.ty {
            IdType::IPV4_ADDR => match <[u8; 4]>::try_from(self.data.as_slice()) {
                Ok(a) => write!(f, "{}", Ipv4Addr::from(a)),
                Err(_) => write!(f, "ipv4?"),
            },
            IdType::IPV6_ADDR => match <[u8; 16]>::try_from(self.data.as_slice()) {
                Ok(a) => write!(f, "{}", Ipv6Addr::from(a)),
                Err(_) => write!(f, "ipv6?"),
            },
            IdType::FQDN | IdType::RFC822_ADDR => {
                write!(f, "{}", String::from_utf8_lossy(&self.data))
            }
            t => write!(f, "{t}:{}", super::hex(&self.data)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_all_types() {
        for id in [
            Identification::ipv4(Ipv4Addr::new(172, 25, 1, 1)),
            Identification::ipv6(Ipv6Addr::LOCALHOST),
            Identification::fqdn("hub.example"),
            Identification::email("a@b"),
            Identification::key_id(b"spoke1"),
            Identification {
                ty: IdType::DER_ASN1_DN,
                data: vec![0x30, 0],
            },
        ] {
            let mut v = Vec::new();
            id.emit(&mut v).unwrap();
            assert_eq!(Identification::parse(&v).unwrap(), id);
            for n in 0..4 {
                assert!(Identification::parse(&v[..n]).is_err());
            }
        }
        assert_eq!(
            Identification::ipv4(Ipv4Addr::new(1, 2, 3, 4)).to_string(),
            "1.2.3.4"
        );
    }

    #[test]
    fn bad_address_length() {
        assert!(Identification::parse(&[1, 0, 0, 0, 1, 2, 3]).is_err());
    }

    #[test]
    fn emit_refuses_bad_address_length() {
        for (ty, len) in [(IdType::IPV4_ADDR, 3), (IdType::IPV6_ADDR, 4)] {
            let id = Identification {
                ty,
                data: vec![1; len],
            };
            assert_eq!(
                id.emit(&mut Vec::new()),
                Err(WireError::BadLength {
                    what: "ID address",
                    len
                })
            );
        }
    }
}

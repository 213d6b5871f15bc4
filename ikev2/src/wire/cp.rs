//! The configuration payload CP (RFC 7296 section 3.15).
//!
//! ```text
//! +---------------+-----------------------------------------------+
//! |   CFG Type    |                 RESERVED (3)                  |
//! +---------------+-----------------------------------------------+
//! ~                   Configuration Attributes                    ~
//!
//! Attribute:
//! +-+-----------------------------+-------------------------------+
//! |R|      Attribute Type         |            Length             |
//! +-+-----------------------------+-------------------------------+
//! ~                             Value                             ~
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{Reader, registry};
use crate::error::WireError;

/// Maximum attributes in one CP payload.
pub const MAX_CP_ATTRIBUTES: usize = 64;

registry! {
    /// CFG type.
    pub struct CfgType(u8) {
        CFG_REQUEST = 1,
        CFG_REPLY = 2,
        CFG_SET = 3,
        CFG_ACK = 4,
    }
}

registry! {
    /// Configuration attribute type (IANA "IKEv2 Configuration Payload Attribute Types").
    pub struct ConfigAttributeType(u16) {
        INTERNAL_IP4_ADDRESS = 1,
        INTERNAL_IP4_NETMASK = 2,
        INTERNAL_IP4_DNS = 3,
        INTERNAL_IP4_NBNS = 4,
        INTERNAL_IP4_DHCP = 6,
        APPLICATION_VERSION = 7,
        INTERNAL_IP6_ADDRESS = 8,
        INTERNAL_IP6_DNS = 10,
        INTERNAL_IP6_DHCP = 12,
        INTERNAL_IP4_SUBNET = 13,
        SUPPORTED_ATTRIBUTES = 14,
        INTERNAL_IP6_SUBNET = 15,
        INTERNAL_IP6_LINK = 17,
        INTERNAL_IP6_PREFIX = 18,
        P_CSCF_IP4_ADDRESS = 20,
        P_CSCF_IP6_ADDRESS = 21,
    }
}

/// One configuration attribute. The value is opaque; helpers read the address forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConfigAttribute {
    /// Attribute type (15 bits: the top bit of the wire field is reserved, so
    /// [`Configuration::emit`] refuses types above 0x7fff).
    pub ty: ConfigAttributeType,
    /// Value (empty in a request that asks for any value).
    pub value: Vec<u8>,
}

impl ConfigAttribute {
    /// An empty attribute (a request for a value).
    pub fn request(ty: ConfigAttributeType) -> Self {
        Self {
            ty,
            value: Vec::new(),
        }
    }
    /// An attribute carrying an IPv4 address.
    pub fn ipv4(ty: ConfigAttributeType, a: Ipv4Addr) -> Self {
        Self {
            ty,
            value: a.octets().to_vec(),
        }
    }
    /// An INTERNAL_IP6_ADDRESS (address + prefix length).
    pub fn ipv6_address(a: Ipv6Addr, prefix: u8) -> Self {
        let mut value = a.octets().to_vec();
        value.push(prefix);
        Self {
            ty: ConfigAttributeType::INTERNAL_IP6_ADDRESS,
            value,
        }
    }
    /// The value as an IPv4 address (4 octets; INTERNAL_IP4_SUBNET's first 4 octets).
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        let a: [u8; 4] = self.value.get(..4)?.try_into().ok()?;
        Some(Ipv4Addr::from(a))
    }
    /// The value as an IPv6 address (first 16 octets).
    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        let a: [u8; 16] = self.value.get(..16)?.try_into().ok()?;
        Some(Ipv6Addr::from(a))
    }
}

/// The CP payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Configuration {
    /// Request, reply, set or ack.
    pub cfg_type: CfgType,
    /// Attributes.
    pub attributes: Vec<ConfigAttribute>,
}

impl Configuration {
    /// The first attribute of type `ty`.
    pub fn get(&self, ty: ConfigAttributeType) -> Option<&ConfigAttribute> {
        self.attributes.iter().find(|a| a.ty == ty)
    }

    /// Parses a CP payload body.
    ///
    /// # Errors
    /// Any [`WireError`].
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let cfg_type = CfgType(r.u8("CP payload")?);
        r.take(3, "CP payload")?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            if attributes.len() == MAX_CP_ATTRIBUTES {
                return Err(WireError::TooMany {
                    what: "CP attributes",
                    limit: MAX_CP_ATTRIBUTES,
                });
            }
            let ty = ConfigAttributeType(r.u16("CP attribute")? & 0x7fff);
            let len = r.u16("CP attribute")?;
            let value = r.take(usize::from(len), "CP attribute")?.to_vec();
            attributes.push(ConfigAttribute { ty, value });
        }
        Ok(Self {
            cfg_type,
            attributes,
        })
    }

    /// Appends the CP payload body.
    ///
    /// # Errors
    /// [`WireError::TooLong`] when a value exceeds 65535 bytes; [`WireError::InvalidValue`]
    /// (`"CP attribute type"`) for a type above 0x7fff (the top bit is the reserved bit);
    /// [`WireError::TooMany`] for more than [`MAX_CP_ATTRIBUTES`] attributes.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        if self.attributes.len() > MAX_CP_ATTRIBUTES {
            return Err(WireError::TooMany {
                what: "CP attributes",
                limit: MAX_CP_ATTRIBUTES,
            });
        }
        out.extend_from_slice(&[self.cfg_type.0, 0, 0, 0]);
        for a in &self.attributes {
            if a.ty.0 > 0x7fff {
                return Err(WireError::InvalidValue {
                    what: "CP attribute type",
                    value: u32::from(a.ty.0),
                });
            }
            let len = u16::try_from(a.value.len()).map_err(|_| WireError::TooLong {
                what: "CP attribute",
                len: a.value.len(),
            })?;
            out.extend_from_slice(&a.ty.0.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&a.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::unhex;

    #[test]
    fn request_reply() {
        let req = Configuration {
            cfg_type: CfgType::CFG_REQUEST,
            attributes: vec![
                ConfigAttribute::request(ConfigAttributeType::INTERNAL_IP4_ADDRESS),
                ConfigAttribute::request(ConfigAttributeType::INTERNAL_IP4_DNS),
            ],
        };
        let mut v = Vec::new();
        req.emit(&mut v).unwrap();
        assert_eq!(v, unhex("01000000 00010000 00030000"));
        assert_eq!(Configuration::parse(&v).unwrap(), req);
        let rep = Configuration {
            cfg_type: CfgType::CFG_REPLY,
            attributes: vec![
                ConfigAttribute::ipv4(
                    ConfigAttributeType::INTERNAL_IP4_ADDRESS,
                    Ipv4Addr::new(10, 1, 1, 100),
                ),
                ConfigAttribute::ipv6_address(Ipv6Addr::LOCALHOST, 128),
            ],
        };
        let mut v = Vec::new();
        rep.emit(&mut v).unwrap();
        let p = Configuration::parse(&v).unwrap();
        assert_eq!(p, rep);
        assert_eq!(
            p.get(ConfigAttributeType::INTERNAL_IP4_ADDRESS)
                .and_then(ConfigAttribute::as_ipv4),
            Some(Ipv4Addr::new(10, 1, 1, 100))
        );
        // Attribute boundaries (4, 12) are valid shorter bodies; every other prefix fails.
        for n in (0..v.len()).filter(|n| ![4, 12].contains(n)) {
            assert!(Configuration::parse(&v[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn attribute_type_with_reserved_bit_is_refused() {
        let mut cp = Configuration {
            cfg_type: CfgType::CFG_REQUEST,
            attributes: vec![ConfigAttribute::request(ConfigAttributeType(0x7fff))],
        };
        let mut v = Vec::new();
        cp.emit(&mut v).unwrap();
        assert_eq!(Configuration::parse(&v).unwrap(), cp);
        cp.attributes[0].ty = ConfigAttributeType(0x8001);
        assert_eq!(
            cp.emit(&mut Vec::new()),
            Err(WireError::InvalidValue {
                what: "CP attribute type",
                value: 0x8001
            })
        );
    }

    #[test]
    fn too_many_attributes_is_refused() {
        let mut cp = Configuration {
            cfg_type: CfgType::CFG_REPLY,
            attributes: vec![
                ConfigAttribute::request(ConfigAttributeType::INTERNAL_IP4_DNS);
                MAX_CP_ATTRIBUTES
            ],
        };
        let mut v = Vec::new();
        cp.emit(&mut v).unwrap();
        assert_eq!(Configuration::parse(&v).unwrap(), cp);
        cp.attributes.push(ConfigAttribute::request(
            ConfigAttributeType::INTERNAL_IP4_DNS,
        ));
        assert_eq!(
            cp.emit(&mut Vec::new()),
            Err(WireError::TooMany {
                what: "CP attributes",
                limit: MAX_CP_ATTRIBUTES
            })
        );
    }
}

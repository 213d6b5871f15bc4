//! NHRP extensions (RFC 2332 §5.3; Cisco NAT address type 9).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|u|        type (14 bits)     |        length of value        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         value ...                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! C is the compulsory bit: a receiver that does not know a compulsory extension must reject
//! the packet with Error Indication "Unrecognized Extension" (§5.3). The list ends with the
//! End extension (type 0, length 0), which must be last (§5.3.0).

use std::fmt;

use crate::error::WireError;
use crate::wire::cie::{self, Cie};
use crate::wire::{MAX_EXTENSIONS, Reader, len_u16, patch_u16, registry};

/// Compulsory bit of the extension type field.
pub const COMPULSORY: u16 = 0x8000;
/// The reserved `u` bit of the extension type field.
pub const U_BIT: u16 = 0x4000;
/// Mask of the type bits.
pub const TYPE_MASK: u16 = 0x3fff;

registry! {
    /// Extension type (14 bits).
    ExtensionType(u16) {
        /// End of extensions (§5.3.0).
        END = 0 => "End",
        /// Responder Address (§5.3.1).
        RESPONDER_ADDRESS = 3 => "Responder Address",
        /// Forward Transit NHS Record (§5.3.2).
        FORWARD_TRANSIT_NHS = 4 => "Forward Transit NHS Record",
        /// Reverse Transit NHS Record (§5.3.3).
        REVERSE_TRANSIT_NHS = 5 => "Reverse Transit NHS Record",
        /// Authentication (§5.3.4).
        AUTHENTICATION = 7 => "Authentication",
        /// Vendor-Private (§5.3.5).
        VENDOR_PRIVATE = 8 => "Vendor-Private",
        /// Cisco NAT address.
        NAT_ADDRESS = 9 => "Cisco NAT Address",
    }
}

/// One extension.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Extension {
    /// The C bit.
    pub compulsory: bool,
    /// The reserved `u` bit, kept for exact round trips.
    pub u_bit: bool,
    /// Type and value.
    pub value: ExtValue,
}

impl Extension {
    /// An extension with the compulsory bit set.
    pub fn compulsory(value: ExtValue) -> Self {
        Self {
            compulsory: true,
            u_bit: false,
            value,
        }
    }
    /// An extension without the compulsory bit.
    pub fn optional(value: ExtValue) -> Self {
        Self {
            compulsory: false,
            u_bit: false,
            value,
        }
    }
}

/// The value of an extension, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ExtValue {
    /// End of extensions; no value.
    End,
    /// Responder Address: empty in a request, one CIE describing the responder in a reply.
    ResponderAddress(Vec<Cie>),
    /// Forward Transit NHS Record: one CIE per NHS that forwarded the request.
    ForwardTransitNhs(Vec<Cie>),
    /// Reverse Transit NHS Record: one CIE per NHS that forwarded the reply.
    ReverseTransitNhs(Vec<Cie>),
    /// Authentication data (Cisco: a 4-byte type, 1 = cleartext, then the password).
    Authentication(AuthData),
    /// Vendor-Private: an OUI and opaque data.
    VendorPrivate {
        /// IEEE OUI of the vendor.
        oui: [u8; 3],
        /// Vendor data.
        data: Vec<u8>,
    },
    /// Cisco NAT address: CIEs with the NBMA address as seen by the NHS.
    NatAddress(Vec<Cie>),
    /// A non-compulsory extension this crate does not know, kept as it came.
    Unknown {
        /// Type (14 bits).
        ty: u16,
        /// Value.
        data: Vec<u8>,
    },
}

impl ExtValue {
    /// The extension type.
    pub fn ty(&self) -> ExtensionType {
        match self {
            Self::End => ExtensionType::END,
            Self::ResponderAddress(_) => ExtensionType::RESPONDER_ADDRESS,
            Self::ForwardTransitNhs(_) => ExtensionType::FORWARD_TRANSIT_NHS,
            Self::ReverseTransitNhs(_) => ExtensionType::REVERSE_TRANSIT_NHS,
            Self::Authentication(_) => ExtensionType::AUTHENTICATION,
            Self::VendorPrivate { .. } => ExtensionType::VENDOR_PRIVATE,
            Self::NatAddress(_) => ExtensionType::NAT_ADDRESS,
            Self::Unknown { ty, .. } => ExtensionType(ty & TYPE_MASK),
        }
    }

    /// The CIE list of a CIE-carrying extension.
    pub fn cies(&self) -> Option<&Vec<Cie>> {
        match self {
            Self::ResponderAddress(c)
            | Self::ForwardTransitNhs(c)
            | Self::ReverseTransitNhs(c)
            | Self::NatAddress(c) => Some(c),
            _ => None,
        }
    }

    /// The CIE list of a CIE-carrying extension, mutable.
    pub fn cies_mut(&mut self) -> Option<&mut Vec<Cie>> {
        match self {
            Self::ResponderAddress(c)
            | Self::ForwardTransitNhs(c)
            | Self::ReverseTransitNhs(c)
            | Self::NatAddress(c) => Some(c),
            _ => None,
        }
    }
}

/// Authentication extension data. It travels in clear on the wire, but `Debug` does not
/// print it, since with Cisco's cleartext type it is the network's password.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AuthData(pub Vec<u8>);

impl fmt::Debug for AuthData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthData({} bytes, redacted)", self.0.len())
    }
}

fn parse_one(r: &mut Reader<'_>) -> Result<Extension, WireError> {
    let at = r.pos();
    let raw = r.u16("extension type")?;
    let len = r.u16("extension length")?;
    let mut v = r.sub(usize::from(len), "extension value")?;
    let compulsory = raw & COMPULSORY != 0;
    let u_bit = raw & U_BIT != 0;
    let ty = ExtensionType(raw & TYPE_MASK);
    let cies = |v: &mut Reader<'_>| {
        cie::parse_list(v).map_err(|_| WireError::InvalidExtension {
            what: "cie list",
            at,
        })
    };
    let value = match ty {
        ExtensionType::END => {
            if len != 0 {
                return Err(WireError::InvalidExtension {
                    what: "end extension with a value",
                    at,
                });
            }
            ExtValue::End
        }
        ExtensionType::RESPONDER_ADDRESS => ExtValue::ResponderAddress(cies(&mut v)?),
        ExtensionType::FORWARD_TRANSIT_NHS => ExtValue::ForwardTransitNhs(cies(&mut v)?),
        ExtensionType::REVERSE_TRANSIT_NHS => ExtValue::ReverseTransitNhs(cies(&mut v)?),
        ExtensionType::NAT_ADDRESS => ExtValue::NatAddress(cies(&mut v)?),
        ExtensionType::AUTHENTICATION => ExtValue::Authentication(AuthData(v.rest().to_vec())),
        ExtensionType::VENDOR_PRIVATE => {
            let oui = v
                .take(3, "vendor oui")
                .map_err(|_| WireError::InvalidExtension {
                    what: "vendor-private shorter than its oui",
                    at,
                })?;
            ExtValue::VendorPrivate {
                oui: oui.try_into().unwrap_or_default(),
                data: v.rest().to_vec(),
            }
        }
        _ if compulsory => {
            // RFC 2332 §5.3: an unrecognized compulsory extension rejects the packet.
            return Err(WireError::UnrecognizedCompulsoryExtension { ty: ty.0, at });
        }
        _ => ExtValue::Unknown {
            ty: ty.0,
            data: v.rest().to_vec(),
        },
    };
    Ok(Extension {
        compulsory,
        u_bit,
        value,
    })
}

/// Parses the extension list up to the end of the reader. End must be the last one (§5.3.0).
pub(crate) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Extension>, WireError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        if v.len() >= MAX_EXTENSIONS {
            return Err(WireError::TooMany {
                what: "extensions",
                at: r.pos(),
            });
        }
        let e = parse_one(r)?;
        let end = e.value == ExtValue::End;
        v.push(e);
        if end && !r.is_empty() {
            return Err(WireError::TrailingData {
                what: "after end extension",
                extra: r.remaining(),
                at: r.pos(),
            });
        }
    }
    Ok(v)
}

pub(crate) fn emit_list(list: &[Extension], w: &mut Vec<u8>) -> Result<(), WireError> {
    for e in list {
        let mut raw = e.value.ty().0 & TYPE_MASK;
        if e.compulsory {
            raw |= COMPULSORY;
        }
        if e.u_bit {
            raw |= U_BIT;
        }
        w.extend_from_slice(&raw.to_be_bytes());
        let len_at = w.len();
        w.extend_from_slice(&[0, 0]);
        let start = w.len();
        match &e.value {
            ExtValue::End => {}
            ExtValue::ResponderAddress(c)
            | ExtValue::ForwardTransitNhs(c)
            | ExtValue::ReverseTransitNhs(c)
            | ExtValue::NatAddress(c) => {
                for cie in c {
                    cie.emit(w)?;
                }
            }
            ExtValue::Authentication(a) => w.extend_from_slice(&a.0),
            ExtValue::VendorPrivate { oui, data } => {
                w.extend_from_slice(oui);
                w.extend_from_slice(data);
            }
            ExtValue::Unknown { data, .. } => w.extend_from_slice(data),
        }
        let len = len_u16(w.len() - start, "extension value")?;
        patch_u16(w, len_at, len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Extension> {
        vec![
            Extension::compulsory(ExtValue::ResponderAddress(vec![])),
            Extension::compulsory(ExtValue::ForwardTransitNhs(vec![Cie::new(
                32,
                1400,
                7200,
                Some([172, 25, 1, 1].into()),
                Some([10, 1, 1, 1].into()),
            )])),
            Extension::compulsory(ExtValue::ReverseTransitNhs(vec![])),
            Extension::optional(ExtValue::NatAddress(vec![])),
            Extension::optional(ExtValue::VendorPrivate {
                oui: [0, 0, 0x0c],
                data: vec![1, 2],
            }),
            Extension::optional(ExtValue::Unknown {
                ty: 0x1234,
                data: vec![9],
            }),
            Extension::compulsory(ExtValue::End),
        ]
    }

    #[test]
    fn roundtrip_and_truncation() {
        let mut w = Vec::new();
        emit_list(&sample(), &mut w).unwrap();
        assert_eq!(&w[..4], &[0x80, 0x03, 0x00, 0x00]);
        assert_eq!(&w[w.len() - 4..], &[0x80, 0x00, 0x00, 0x00]);
        let got = parse_list(&mut Reader::new(&w)).unwrap();
        assert_eq!(got, sample());
        for n in 1..w.len() {
            // Every strict prefix ends inside an extension, or lacks nothing but is then
            // still a valid list; none may panic.
            let _ = parse_list(&mut Reader::new(&w[..n]));
        }
        // Prefixes that cut an extension in two are errors.
        assert!(parse_list(&mut Reader::new(&w[..3])).is_err());
        assert!(parse_list(&mut Reader::new(&w[..w.len() - 1])).is_err());
    }

    #[test]
    fn unknown_compulsory_is_rejected_unknown_optional_kept() {
        let bytes = [0x80, 0x33, 0x00, 0x01, 0xaa];
        assert_eq!(
            parse_list(&mut Reader::new(&bytes)),
            Err(WireError::UnrecognizedCompulsoryExtension { ty: 0x33, at: 0 })
        );
        let bytes = [0x00, 0x33, 0x00, 0x01, 0xaa];
        assert_eq!(
            parse_list(&mut Reader::new(&bytes)).unwrap()[0].value,
            ExtValue::Unknown {
                ty: 0x33,
                data: vec![0xaa]
            }
        );
    }

    #[test]
    fn end_must_be_last_and_empty() {
        assert!(parse_list(&mut Reader::new(&[0x80, 0, 0, 0, 0, 3, 0, 0])).is_err());
        assert!(parse_list(&mut Reader::new(&[0x80, 0, 0, 1, 0])).is_err());
    }

    #[test]
    fn auth_debug_is_redacted() {
        let a = AuthData(b"\0\0\0\x01cisco".to_vec());
        assert!(!format!("{a:?}").contains("cisco"));
    }
}

//! The SA payload: proposals, transforms and transform attributes (RFC 7296 section 3.3).
//!
//! ```text
//! Proposal substructure:
//! +---------------+---------------+-------------------------------+
//! | Last (0 or 2) |   RESERVED    |        Proposal Length        |
//! +---------------+---------------+---------------+---------------+
//! | Proposal Num  |  Protocol ID  |   SPI Size    | # Transforms  |
//! +---------------+---------------+---------------+---------------+
//! ~                        SPI (variable)                         ~
//! ~                        Transforms ...                         ~
//!
//! Transform substructure:
//! +---------------+---------------+-------------------------------+
//! | Last (0 or 3) |   RESERVED    |        Transform Length       |
//! +---------------+---------------+-------------------------------+
//! |Transform Type |   RESERVED    |          Transform ID         |
//! +---------------+---------------+-------------------------------+
//! ~                      Transform Attributes                     ~
//!
//! Attribute: |A| type (15) | value (2) when A=1, or | length (2) | value | when A=0
//! ```

use super::{Reader, patch_len16, registry, to_u8};
use crate::error::WireError;

/// Maximum proposals in one SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Maximum transforms in one proposal.
pub const MAX_TRANSFORMS: usize = 64;
/// Maximum attributes in one transform.
pub const MAX_ATTRIBUTES: usize = 16;

registry! {
    /// Security protocol identifier (IANA "IKEv2 Security Protocol Identifiers").
    pub struct ProtocolId(u8) {
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
    }
}

registry! {
    /// Transform type (IANA "Transform Type Values").
    pub struct TransformType(u8) {
        ENCR = 1,
        PRF = 2,
        INTEG = 3,
        DH = 4,
        ESN = 5,
    }
}

registry! {
    /// Encryption algorithm transform IDs (type 1).
    pub struct EncrId(u16) {
        DES_IV64 = 1,
        DES = 2,
        TRIPLE_DES = 3,
        NULL = 11,
        AES_CBC = 12,
        AES_CTR = 13,
        AES_CCM_8 = 14,
        AES_CCM_12 = 15,
        AES_CCM_16 = 16,
        AES_GCM_8 = 18,
        AES_GCM_12 = 19,
        AES_GCM_16 = 20,
        NULL_AUTH_AES_GMAC = 21,
        CAMELLIA_CBC = 23,
        CHACHA20_POLY1305 = 28,
    }
}

registry! {
    /// Pseudo-random function transform IDs (type 2).
    pub struct PrfId(u16) {
        HMAC_MD5 = 1,
        HMAC_SHA1 = 2,
        AES128_XCBC = 4,
        HMAC_SHA2_256 = 5,
        HMAC_SHA2_384 = 6,
        HMAC_SHA2_512 = 7,
        AES128_CMAC = 8,
    }
}

registry! {
    /// Integrity algorithm transform IDs (type 3).
    pub struct IntegId(u16) {
        NONE = 0,
        HMAC_MD5_96 = 1,
        HMAC_SHA1_96 = 2,
        AES_XCBC_96 = 5,
        AES_CMAC_96 = 8,
        HMAC_SHA2_256_128 = 12,
        HMAC_SHA2_384_192 = 13,
        HMAC_SHA2_512_256 = 14,
    }
}

registry! {
    /// Diffie-Hellman group transform IDs (type 4).
    pub struct DhGroup(u16) {
        NONE = 0,
        MODP_768 = 1,
        MODP_1024 = 2,
        MODP_1536 = 5,
        MODP_2048 = 14,
        MODP_3072 = 15,
        MODP_4096 = 16,
        MODP_6144 = 17,
        MODP_8192 = 18,
        ECP_256 = 19,
        ECP_384 = 20,
        ECP_521 = 21,
        CURVE25519 = 31,
        CURVE448 = 32,
    }
}

registry! {
    /// Extended sequence numbers transform IDs (type 5).
    pub struct EsnId(u16) {
        NO_ESN = 0,
        ESN = 1,
    }
}

/// The Key Length attribute type (RFC 7296 section 3.3.5).
pub const ATTR_KEY_LENGTH: u16 = 14;

/// A transform attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Attribute {
    /// Type/Value format (AF = 1), e.g. Key Length.
    Tv {
        /// Attribute type (15 bits; emit refuses a type above 0x7fff).
        ty: u16,
        /// Value.
        value: u16,
    },
    /// Type/Length/Value format (AF = 0).
    Tlv {
        /// Attribute type (15 bits; emit refuses a type above 0x7fff).
        ty: u16,
        /// Value.
        value: Vec<u8>,
    },
}

impl Attribute {
    fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let t = r.u16("transform attribute")?;
        if t & 0x8000 != 0 {
            Ok(Self::Tv {
                ty: t & 0x7fff,
                value: r.u16("transform attribute")?,
            })
        } else {
            let len = r.u16("transform attribute")?;
            Ok(Self::Tlv {
                ty: t,
                value: r.take(usize::from(len), "transform attribute")?.to_vec(),
            })
        }
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        // The top bit of the type field is the AF bit: a 16-bit type cannot be represented.
        let (Self::Tv { ty, .. } | Self::Tlv { ty, .. }) = self;
        if *ty > 0x7fff {
            return Err(WireError::InvalidValue {
                what: "transform attribute type",
                value: u32::from(*ty),
            });
        }
        match self {
            Self::Tv { ty, value } => {
                out.extend_from_slice(&(0x8000 | (ty & 0x7fff)).to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            Self::Tlv { ty, value } => {
                let len = u16::try_from(value.len()).map_err(|_| WireError::TooLong {
                    what: "transform attribute",
                    len: value.len(),
                })?;
                out.extend_from_slice(&(ty & 0x7fff).to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

/// A transform: one algorithm of one type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Transform {
    /// Transform type.
    pub ty: TransformType,
    /// Transform ID (interpret with [`EncrId`], [`PrfId`], [`IntegId`], [`DhGroup`], [`EsnId`]).
    pub id: u16,
    /// Attributes (normally at most a Key Length).
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// A transform with no attributes.
    pub fn new(ty: TransformType, id: u16) -> Self {
        Self {
            ty,
            id,
            attributes: Vec::new(),
        }
    }

    /// An ENCR transform with a Key Length attribute in bits.
    pub fn encr(id: EncrId, key_bits: u16) -> Self {
        Self {
            ty: TransformType::ENCR,
            id: id.0,
            attributes: vec![Attribute::Tv {
                ty: ATTR_KEY_LENGTH,
                value: key_bits,
            }],
        }
    }

    /// The Key Length attribute, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv {
                ty: ATTR_KEY_LENGTH,
                value,
            } => Some(*value),
            _ => None,
        })
    }

    fn parse(r: &mut Reader<'_>) -> Result<(Self, bool), WireError> {
        let last = r.u8("transform")?;
        let _reserved = r.u8("transform")?;
        let len = usize::from(r.u16("transform")?);
        if len < 8 {
            return Err(WireError::BadLength {
                what: "transform",
                len,
            });
        }
        let mut body = r.sub(len - 4, "transform")?;
        let ty = TransformType(body.u8("transform")?);
        let _reserved = body.u8("transform")?;
        let id = body.u16("transform")?;
        let mut attributes = Vec::new();
        while !body.is_empty() {
            if attributes.len() == MAX_ATTRIBUTES {
                return Err(WireError::TooMany {
                    what: "transform attributes",
                    limit: MAX_ATTRIBUTES,
                });
            }
            attributes.push(Attribute::parse(&mut body)?);
        }
        let more = match last {
            0 => false,
            3 => true,
            v => {
                return Err(WireError::InvalidValue {
                    what: "transform last substruc",
                    value: u32::from(v),
                });
            }
        };
        Ok((Self { ty, id, attributes }, more))
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        out.extend_from_slice(&[if last { 0 } else { 3 }, 0, 0, 0, self.ty.0, 0]);
        out.extend_from_slice(&self.id.to_be_bytes());
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(WireError::TooMany {
                what: "transform attributes",
                limit: MAX_ATTRIBUTES,
            });
        }
        for a in &self.attributes {
            a.emit(out)?;
        }
        patch_len16(out, start, start + 2, "transform")
    }
}

/// A proposal: a numbered set of transforms for one protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Proposal {
    /// Proposal number (1 for the first, RFC 7296 section 3.3.1).
    pub num: u8,
    /// Protocol.
    pub protocol: ProtocolId,
    /// SPI (empty in IKE_SA_INIT, 4 bytes for ESP, 8 for an IKE rekey).
    pub spi: Vec<u8>,
    /// Transforms.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// The first transform of type `ty`.
    pub fn first(&self, ty: TransformType) -> Option<&Transform> {
        self.transforms.iter().find(|t| t.ty == ty)
    }

    /// All transforms of type `ty`.
    pub fn of_type(&self, ty: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms.iter().filter(move |t| t.ty == ty)
    }

    fn parse(r: &mut Reader<'_>) -> Result<(Self, bool), WireError> {
        let last = r.u8("proposal")?;
        let _reserved = r.u8("proposal")?;
        let len = usize::from(r.u16("proposal")?);
        if len < 8 {
            return Err(WireError::BadLength {
                what: "proposal",
                len,
            });
        }
        let mut body = r.sub(len - 4, "proposal")?;
        let num = body.u8("proposal")?;
        let protocol = ProtocolId(body.u8("proposal")?);
        let spi_size = body.u8("proposal")?;
        let n = body.u8("proposal")?;
        let spi = body.take(usize::from(spi_size), "proposal SPI")?.to_vec();
        let mut transforms = Vec::new();
        let mut more = !body.is_empty();
        while more {
            if transforms.len() == MAX_TRANSFORMS {
                return Err(WireError::TooMany {
                    what: "transforms",
                    limit: MAX_TRANSFORMS,
                });
            }
            let (t, m) = Transform::parse(&mut body)?;
            transforms.push(t);
            more = m;
        }
        body.finish("proposal")?;
        if transforms.len() != usize::from(n) {
            return Err(WireError::InvalidValue {
                what: "proposal transform count",
                value: u32::from(n),
            });
        }
        let more = match last {
            0 => false,
            2 => true,
            v => {
                return Err(WireError::InvalidValue {
                    what: "proposal last substruc",
                    value: u32::from(v),
                });
            }
        };
        Ok((
            Self {
                num,
                protocol,
                spi,
                transforms,
            },
            more,
        ))
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), WireError> {
        if self.transforms.len() > MAX_TRANSFORMS {
            return Err(WireError::TooMany {
                what: "transforms",
                limit: MAX_TRANSFORMS,
            });
        }
        let start = out.len();
        out.extend_from_slice(&[if last { 0 } else { 2 }, 0, 0, 0, self.num, self.protocol.0]);
        out.push(to_u8(self.spi.len(), "proposal SPI")?);
        out.push(to_u8(self.transforms.len(), "proposal transforms")?);
        out.extend_from_slice(&self.spi);
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            t.emit(i + 1 == n, out)?;
        }
        patch_len16(out, start, start + 2, "proposal")
    }
}

/// The SA payload body: a list of proposals.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SaPayload {
    /// Proposals, in order of preference.
    pub proposals: Vec<Proposal>,
}

impl SaPayload {
    /// Parses an SA payload body.
    ///
    /// # Errors
    /// Any [`WireError`]; an SA with no proposal is [`WireError::InvalidValue`].
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        let mut more = true;
        while more {
            if proposals.len() == MAX_PROPOSALS {
                return Err(WireError::TooMany {
                    what: "proposals",
                    limit: MAX_PROPOSALS,
                });
            }
            let (p, m) = Proposal::parse(&mut r)?;
            proposals.push(p);
            more = m;
        }
        r.finish("SA payload")?;
        Ok(Self { proposals })
    }

    /// Appends the SA payload body.
    ///
    /// # Errors
    /// [`WireError::TooLong`] if a count or length does not fit; what parse refuses:
    /// [`WireError::InvalidValue`] (`"SA payload proposals"`) for an SA payload without
    /// proposals, [`WireError::TooMany`] for more than [`MAX_PROPOSALS`] proposals,
    /// [`MAX_TRANSFORMS`] transforms or [`MAX_ATTRIBUTES`] attributes, and
    /// [`WireError::InvalidValue`] (`"transform attribute type"`) for an attribute type above
    /// 0x7fff.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        if self.proposals.is_empty() {
            return Err(WireError::InvalidValue {
                what: "SA payload proposals",
                value: 0,
            });
        }
        if self.proposals.len() > MAX_PROPOSALS {
            return Err(WireError::TooMany {
                what: "proposals",
                limit: MAX_PROPOSALS,
            });
        }
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            p.emit(i + 1 == n, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{truncations, unhex};

    // One IKE proposal: AES-GCM-16 256, PRF SHA2-256, DH 19; as strongSwan sends it.
    const V: &str =
        "00000024 01010003 0300000c 0100 0014 800e0100 03000008 0200 0005 00000008 0400 0013";

    fn repr() -> SaPayload {
        SaPayload {
            proposals: vec![Proposal {
                num: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![
                    Transform::encr(EncrId::AES_GCM_16, 256),
                    Transform::new(TransformType::PRF, PrfId::HMAC_SHA2_256.0),
                    Transform::new(TransformType::DH, DhGroup::ECP_256.0),
                ],
            }],
        }
    }

    #[test]
    fn parse_emit() {
        let v = unhex(V);
        let p = SaPayload::parse(&v).unwrap();
        assert_eq!(p, repr());
        assert_eq!(p.proposals[0].transforms[0].key_length(), Some(256));
        let mut out = Vec::new();
        repr().emit(&mut out).unwrap();
        assert_eq!(out, v);
        truncations(&v, SaPayload::parse);
    }

    #[test]
    fn wrong_count_rejected() {
        let mut v = unhex(V);
        v[7] = 2;
        assert!(SaPayload::parse(&v).is_err());
    }

    #[test]
    fn tlv_attribute_roundtrip() {
        let t = Transform {
            ty: TransformType::ENCR,
            id: 12,
            attributes: vec![Attribute::Tlv {
                ty: 17,
                value: vec![1, 2, 3],
            }],
        };
        let sa = SaPayload {
            proposals: vec![Proposal {
                num: 1,
                protocol: ProtocolId::ESP,
                spi: vec![1, 2, 3, 4],
                transforms: vec![t],
            }],
        };
        let mut out = Vec::new();
        sa.emit(&mut out).unwrap();
        assert_eq!(SaPayload::parse(&out).unwrap(), sa);
    }

    fn one_proposal() -> SaPayload {
        SaPayload {
            proposals: vec![Proposal {
                num: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![Transform::encr(EncrId::AES_GCM_16, 256)],
            }],
        }
    }

    #[test]
    fn empty_sa_is_refused() {
        let e = SaPayload::default().emit(&mut Vec::new());
        assert_eq!(
            e,
            Err(WireError::InvalidValue {
                what: "SA payload proposals",
                value: 0
            })
        );
        // Parse refuses the empty body too: the two sides agree.
        assert!(SaPayload::parse(&[]).is_err());
    }

    #[test]
    fn counts_above_parse_limits_are_refused() {
        let mut sa = one_proposal();
        sa.proposals = vec![sa.proposals[0].clone(); MAX_PROPOSALS];
        let mut v = Vec::new();
        sa.emit(&mut v).unwrap();
        assert_eq!(SaPayload::parse(&v).unwrap(), sa);
        sa.proposals.push(sa.proposals[0].clone());
        assert_eq!(
            sa.emit(&mut Vec::new()),
            Err(WireError::TooMany {
                what: "proposals",
                limit: MAX_PROPOSALS
            })
        );

        let mut sa = one_proposal();
        let t = sa.proposals[0].transforms[0].clone();
        sa.proposals[0].transforms = vec![t.clone(); MAX_TRANSFORMS];
        let mut v = Vec::new();
        sa.emit(&mut v).unwrap();
        assert_eq!(SaPayload::parse(&v).unwrap(), sa);
        sa.proposals[0].transforms.push(t);
        assert_eq!(
            sa.emit(&mut Vec::new()),
            Err(WireError::TooMany {
                what: "transforms",
                limit: MAX_TRANSFORMS
            })
        );

        let mut sa = one_proposal();
        let a = Attribute::Tv { ty: 1, value: 2 };
        sa.proposals[0].transforms[0].attributes = vec![a.clone(); MAX_ATTRIBUTES];
        let mut v = Vec::new();
        sa.emit(&mut v).unwrap();
        assert_eq!(SaPayload::parse(&v).unwrap(), sa);
        sa.proposals[0].transforms[0].attributes.push(a);
        assert_eq!(
            sa.emit(&mut Vec::new()),
            Err(WireError::TooMany {
                what: "transform attributes",
                limit: MAX_ATTRIBUTES
            })
        );
    }

    #[test]
    fn attribute_type_with_af_bit_is_refused() {
        for a in [
            Attribute::Tv {
                ty: 0x7fff,
                value: 1,
            },
            Attribute::Tlv {
                ty: 0x7fff,
                value: vec![1],
            },
        ] {
            let mut sa = one_proposal();
            sa.proposals[0].transforms[0].attributes = vec![a];
            let mut v = Vec::new();
            sa.emit(&mut v).unwrap();
            assert_eq!(SaPayload::parse(&v).unwrap(), sa);
        }
        for a in [
            Attribute::Tv {
                ty: 0x800e,
                value: 1,
            },
            Attribute::Tlv {
                ty: 0x8001,
                value: vec![1],
            },
        ] {
            let (Attribute::Tv { ty, .. } | Attribute::Tlv { ty, .. }) = a.clone();
            let mut sa = one_proposal();
            sa.proposals[0].transforms[0].attributes = vec![a];
            assert_eq!(
                sa.emit(&mut Vec::new()),
                Err(WireError::InvalidValue {
                    what: "transform attribute type",
                    value: u32::from(ty)
                })
            );
        }
    }
}

//! The generic payload header, the [`Payload`] enum, and the small payloads: KE (3.4),
//! CERT (3.6), CERTREQ (3.7), AUTH (3.8), Nonce (3.9), Delete (3.11), Vendor ID (3.12)
//! and EAP (3.16) of RFC 7296.
//!
//! ```text
//! Generic payload header (RFC 7296 section 3.2):
//! +---------------+-+-------------+-------------------------------+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +---------------+-+-------------+-------------------------------+
//! KE:     | DH Group Num (2) | RESERVED (2) | Key Exchange Data ~
//! AUTH:   | Auth Method (1)  | RESERVED (3) | Authentication Data ~
//! CERT:   | Cert Encoding (1)| Certificate Data ~
//! Delete: | Protocol ID (1)  | SPI Size (1) | Num of SPIs (2) | SPIs ~
//! ```

use super::{
    Configuration, DhGroup, Encrypted, EncryptedFragment, Identification, Notify, ProtocolId,
    Reader, SaPayload, TrafficSelector, registry,
};
use crate::error::WireError;

registry! {
    /// Payload type (IANA "IKEv2 Payload Types").
    pub struct PayloadType(u8) {
        NONE = 0,
        SA = 33,
        KE = 34,
        IDI = 35,
        IDR = 36,
        CERT = 37,
        CERTREQ = 38,
        AUTH = 39,
        NONCE = 40,
        NOTIFY = 41,
        DELETE = 42,
        VENDOR = 43,
        TSI = 44,
        TSR = 45,
        SK = 46,
        CP = 47,
        EAP = 48,
        GSPM = 49,
        SKF = 53,
    }
}

registry! {
    /// Authentication method (IANA "IKEv2 Authentication Method").
    pub struct AuthMethod(u8) {
        RSA_SIG = 1,
        SHARED_KEY_MIC = 2,
        DSS_SIG = 3,
        ECDSA_SHA256_P256 = 9,
        ECDSA_SHA384_P384 = 10,
        ECDSA_SHA512_P521 = 11,
        GENERIC_SECURE_PASSWORD = 12,
        NULL_AUTH = 13,
        DIGITAL_SIGNATURE = 14,
    }
}

registry! {
    /// Certificate encoding (IANA "IKEv2 Certificate Encodings").
    pub struct CertEncoding(u8) {
        PKCS7_X509 = 1,
        PGP = 2,
        DNS_SIGNED_KEY = 3,
        X509_SIGNATURE = 4,
        KERBEROS_TOKEN = 6,
        CRL = 7,
        ARL = 8,
        SPKI = 9,
        X509_ATTRIBUTE = 10,
        RAW_RSA_KEY = 11,
        HASH_URL_X509_CERT = 12,
        HASH_URL_X509_BUNDLE = 13,
        OCSP_CONTENT = 14,
        RAW_PUBLIC_KEY = 15,
    }
}

/// KE payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct KeyExchange {
    /// The group of the public value.
    pub group: DhGroup,
    /// The public value.
    pub data: Vec<u8>,
}

/// AUTH payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AuthPayload {
    /// Method.
    pub method: AuthMethod,
    /// Authentication data (public: it goes on the wire).
    pub data: Vec<u8>,
}

/// CERT or CERTREQ payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CertPayload {
    /// Encoding.
    pub encoding: CertEncoding,
    /// Certificate data, or for CERTREQ the certification authority hashes.
    pub data: Vec<u8>,
}

/// Delete payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Delete {
    /// IKE (no SPIs: the IKE SA of the message), AH or ESP.
    pub protocol: ProtocolId,
    /// SPI size in octets (0 for IKE, 4 for ESP/AH).
    pub spi_size: u8,
    /// The SPIs, each `spi_size` octets.
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    /// A Delete of the IKE SA.
    pub fn ike() -> Self {
        Self {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }
    /// A Delete of ESP SAs by their inbound SPIs.
    pub fn esp(spis: &[u32]) -> Self {
        Self {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }
    /// The SPIs as u32 (for ESP/AH).
    pub fn spis_u32(&self) -> impl Iterator<Item = u32> + '_ {
        self.spis.iter().filter_map(|s| {
            <[u8; 4]>::try_from(s.as_slice())
                .ok()
                .map(u32::from_be_bytes)
        })
    }
}

/// Maximum SPIs accepted in one Delete payload.
pub const MAX_DELETE_SPIS: usize = 256;

/// One payload of an IKE message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Payload {
    /// SA.
    Sa(SaPayload),
    /// KE.
    Ke(KeyExchange),
    /// IDi.
    IdI(Identification),
    /// IDr.
    IdR(Identification),
    /// CERT.
    Cert(CertPayload),
    /// CERTREQ.
    CertReq(CertPayload),
    /// AUTH.
    Auth(AuthPayload),
    /// Ni / Nr.
    Nonce(Vec<u8>),
    /// N.
    Notify(Notify),
    /// D.
    Delete(Delete),
    /// V.
    Vendor(Vec<u8>),
    /// TSi.
    TsI(Vec<TrafficSelector>),
    /// TSr.
    TsR(Vec<TrafficSelector>),
    /// SK (encrypted body opaque; always the last payload).
    Sk(Encrypted),
    /// CP.
    Cp(Configuration),
    /// EAP (the EAP message, opaque).
    Eap(Vec<u8>),
    /// SKF (RFC 7383; always the last payload).
    Skf(EncryptedFragment),
    /// A payload type we do not know, non-critical, kept verbatim.
    Unknown {
        /// Its type.
        ty: PayloadType,
        /// The critical bit (false, or parsing would have failed; kept for emit).
        critical: bool,
        /// The body.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type.
    pub fn ty(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::IdI(_) => PayloadType::IDI,
            Self::IdR(_) => PayloadType::IDR,
            Self::Cert(_) => PayloadType::CERT,
            Self::CertReq(_) => PayloadType::CERTREQ,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::Vendor(_) => PayloadType::VENDOR,
            Self::TsI(_) => PayloadType::TSI,
            Self::TsR(_) => PayloadType::TSR,
            Self::Sk(_) => PayloadType::SK,
            Self::Cp(_) => PayloadType::CP,
            Self::Eap(_) => PayloadType::EAP,
            Self::Skf(_) => PayloadType::SKF,
            Self::Unknown { ty, .. } => *ty,
        }
    }

    /// Parses the body of a payload of type `ty`; `next` is the next-payload field (for SK
    /// and SKF it names the first inner payload).
    ///
    /// # Errors
    /// Any [`WireError`]; an unknown critical payload is [`WireError::UnsupportedCritical`].
    pub fn parse_body(
        ty: PayloadType,
        next: PayloadType,
        critical: bool,
        body: &[u8],
    ) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        Ok(match ty {
            PayloadType::SA => Self::Sa(SaPayload::parse(body)?),
            PayloadType::KE => {
                let group = DhGroup(r.u16("KE payload")?);
                r.take(2, "KE payload")?;
                Self::Ke(KeyExchange {
                    group,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::IDI => Self::IdI(Identification::parse(body)?),
            PayloadType::IDR => Self::IdR(Identification::parse(body)?),
            PayloadType::CERT | PayloadType::CERTREQ => {
                let c = CertPayload {
                    encoding: CertEncoding(r.u8("CERT payload")?),
                    data: r.rest().to_vec(),
                };
                if ty == PayloadType::CERT {
                    Self::Cert(c)
                } else {
                    Self::CertReq(c)
                }
            }
            PayloadType::AUTH => {
                let method = AuthMethod(r.u8("AUTH payload")?);
                r.take(3, "AUTH payload")?;
                Self::Auth(AuthPayload {
                    method,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::NONCE => Self::Nonce(body.to_vec()),
            PayloadType::NOTIFY => Self::Notify(Notify::parse(body)?),
            PayloadType::DELETE => {
                let protocol = ProtocolId(r.u8("Delete")?);
                let spi_size = r.u8("Delete")?;
                let n = usize::from(r.u16("Delete")?);
                if n > MAX_DELETE_SPIS {
                    return Err(WireError::TooMany {
                        what: "Delete SPIs",
                        limit: MAX_DELETE_SPIS,
                    });
                }
                let mut spis = Vec::with_capacity(n);
                for _ in 0..n {
                    spis.push(r.take(usize::from(spi_size), "Delete SPI")?.to_vec());
                }
                r.finish("Delete")?;
                Self::Delete(Delete {
                    protocol,
                    spi_size,
                    spis,
                })
            }
            PayloadType::VENDOR => Self::Vendor(body.to_vec()),
            PayloadType::TSI => Self::TsI(TrafficSelector::parse_payload(body)?),
            PayloadType::TSR => Self::TsR(TrafficSelector::parse_payload(body)?),
            PayloadType::SK => Self::Sk(Encrypted {
                first_inner: next,
                body: body.to_vec(),
            }),
            PayloadType::CP => Self::Cp(Configuration::parse(body)?),
            PayloadType::EAP => Self::Eap(body.to_vec()),
            PayloadType::SKF => Self::Skf(EncryptedFragment::parse(next, body)?),
            // RFC 7296 section 2.5: an unknown payload with the critical bit set rejects
            // the whole message; without it, the payload is skipped (here: kept).
            _ if critical => return Err(WireError::UnsupportedCritical(ty)),
            _ => Self::Unknown {
                ty,
                critical,
                body: body.to_vec(),
            },
        })
    }

    /// Appends the payload body (without the generic header).
    ///
    /// # Errors
    /// [`WireError::TooLong`] when an inner count or length does not fit.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Self::Sa(sa) => sa.emit(out)?,
            Self::Ke(ke) => {
                out.extend_from_slice(&ke.group.0.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ke.data);
            }
            Self::IdI(id) | Self::IdR(id) => id.emit(out)?,
            Self::Cert(c) | Self::CertReq(c) => {
                out.push(c.encoding.0);
                out.extend_from_slice(&c.data);
            }
            Self::Auth(a) => {
                out.extend_from_slice(&[a.method.0, 0, 0, 0]);
                out.extend_from_slice(&a.data);
            }
            Self::Nonce(b) | Self::Vendor(b) | Self::Eap(b) => out.extend_from_slice(b),
            Self::Notify(n) => n.emit(out)?,
            Self::Delete(d) => {
                out.push(d.protocol.0);
                out.push(d.spi_size);
                if d.spis.len() > MAX_DELETE_SPIS {
                    return Err(WireError::TooMany {
                        what: "Delete SPIs",
                        limit: MAX_DELETE_SPIS,
                    });
                }
                let n = u16::try_from(d.spis.len()).map_err(|_| WireError::TooLong {
                    what: "Delete SPIs",
                    len: d.spis.len(),
                })?;
                out.extend_from_slice(&n.to_be_bytes());
                for s in &d.spis {
                    if s.len() != usize::from(d.spi_size) {
                        return Err(WireError::BadLength {
                            what: "Delete SPI",
                            len: s.len(),
                        });
                    }
                    out.extend_from_slice(s);
                }
            }
            Self::TsI(ts) | Self::TsR(ts) => TrafficSelector::emit_payload(ts, out)?,
            Self::Sk(sk) => out.extend_from_slice(&sk.body),
            Self::Cp(cp) => cp.emit(out)?,
            Self::Skf(f) => f.emit(out)?,
            Self::Unknown { ty, body, .. } => {
                // Not representable: it would parse back as the known payload, or (type
                // NONE) end the chain.
                if Self::is_known(*ty) || *ty == PayloadType::NONE {
                    return Err(WireError::InvalidValue {
                        what: "unknown payload with a known type",
                        value: u32::from(ty.0),
                    });
                }
                out.extend_from_slice(body);
            }
        }
        Ok(())
    }

    /// True for the payload types [`Self::parse_body`] decodes (all others are kept as
    /// [`Payload::Unknown`]).
    pub fn is_known(ty: PayloadType) -> bool {
        matches!(ty.0, 33..=48 | 53)
    }

    /// The critical bit this payload is emitted with.
    pub(crate) fn critical(&self) -> bool {
        matches!(self, Self::Unknown { critical: true, .. })
    }

    /// A short name for Display summaries.
    pub fn summary(&self) -> String {
        match self {
            Self::Sa(_) => "SA".into(),
            Self::Ke(k) => format!("KE({})", k.group),
            Self::IdI(_) => "IDi".into(),
            Self::IdR(_) => "IDr".into(),
            Self::Cert(_) => "CERT".into(),
            Self::CertReq(_) => "CERTREQ".into(),
            Self::Auth(_) => "AUTH".into(),
            Self::Nonce(_) => "No".into(),
            Self::Notify(n) => format!("N({})", n.ty),
            Self::Delete(_) => "D".into(),
            Self::Vendor(_) => "V".into(),
            Self::TsI(_) => "TSi".into(),
            Self::TsR(_) => "TSr".into(),
            Self::Sk(_) => "SK".into(),
            Self::Cp(c) => format!("CP({})", c.cfg_type),
            Self::Eap(_) => "EAP".into(),
            Self::Skf(f) => format!("SKF({}/{})", f.number, f.total),
            Self::Unknown { ty, .. } => format!("U({})", ty.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_critical() {
        let e = Payload::parse_body(PayloadType(200), PayloadType::NONE, true, &[1]).unwrap_err();
        assert_eq!(e, WireError::UnsupportedCritical(PayloadType(200)));
        assert_eq!(
            e.notify(),
            super::super::NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD
        );
        assert_eq!(e.notify_data(), vec![200]);
        let p = Payload::parse_body(PayloadType(200), PayloadType::NONE, false, &[1]).unwrap();
        assert!(matches!(p, Payload::Unknown { .. }));
    }

    #[test]
    fn unknown_with_known_type_does_not_emit() {
        // Found by ikev2_message_roundtrip: Unknown { ty: SK, critical } parsed back as SK.
        let p = Payload::Unknown {
            ty: PayloadType::SK,
            critical: true,
            body: vec![],
        };
        assert!(p.emit_body(&mut Vec::new()).is_err());
    }

    #[test]
    fn delete_roundtrip() {
        let d = Payload::Delete(Delete::esp(&[0xc0ffee01, 2]));
        let mut v = Vec::new();
        d.emit_body(&mut v).unwrap();
        assert_eq!(v, [3, 4, 0, 2, 0xc0, 0xff, 0xee, 1, 0, 0, 0, 2]);
        assert_eq!(
            Payload::parse_body(PayloadType::DELETE, PayloadType::NONE, false, &v).unwrap(),
            d
        );
        for n in 0..v.len() {
            assert!(
                Payload::parse_body(PayloadType::DELETE, PayloadType::NONE, false, &v[..n])
                    .is_err()
            );
        }
    }

    #[test]
    fn unknown_with_type_none_does_not_emit() {
        // Type NONE in the previous next-payload field would end the chain early.
        let p = Payload::Unknown {
            ty: PayloadType::NONE,
            critical: false,
            body: vec![1],
        };
        assert_eq!(
            p.emit_body(&mut Vec::new()),
            Err(WireError::InvalidValue {
                what: "unknown payload with a known type",
                value: 0
            })
        );
    }

    #[test]
    fn too_many_delete_spis_is_refused() {
        let spis: Vec<u32> = (0..).take(MAX_DELETE_SPIS).collect();
        let mut d = Delete::esp(&spis);
        let mut v = Vec::new();
        Payload::Delete(d.clone()).emit_body(&mut v).unwrap();
        assert_eq!(
            Payload::parse_body(PayloadType::DELETE, PayloadType::NONE, false, &v).unwrap(),
            Payload::Delete(d.clone())
        );
        d.spis.push(vec![0; 4]);
        assert_eq!(
            Payload::Delete(d).emit_body(&mut Vec::new()),
            Err(WireError::TooMany {
                what: "Delete SPIs",
                limit: MAX_DELETE_SPIS
            })
        );
    }
}

//! A whole IKE message: header plus payload chain (RFC 7296 sections 3.1, 3.2).

use super::{Header, Payload, PayloadType, Reader, patch_len16};
use crate::error::WireError;

/// Maximum payloads in one chain (outer or decrypted inner). A flood of tiny payloads is
/// rejected with [`WireError::TooMany`].
pub const MAX_PAYLOADS: usize = 64;

/// An IKE message: header and payloads. Lengths and next-payload fields are computed on
/// emit. An SK or SKF payload, if present, is last.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Message {
    /// Header.
    pub header: Header,
    /// Payloads in order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses a datagram (without non-ESP marker). The header length must equal the
    /// datagram length.
    ///
    /// # Errors
    /// Any [`WireError`].
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let (header, first, len) = Header::parse(&mut r)?;
        if len as usize != buf.len() {
            return Err(WireError::BadLength {
                what: "IKE message",
                len: len as usize,
            });
        }
        let payloads = parse_chain_inner(first, r.rest(), true)?;
        Ok(Self { header, payloads })
    }

    /// Encodes the message.
    ///
    /// # Errors
    /// [`WireError::TooLong`] when a length does not fit; [`WireError::BadNesting`] when an
    /// SK/SKF payload is not last.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(256);
        let (first, _) = chain_first(&self.payloads);
        self.header.emit(first, 0, &mut out)?;
        emit_chain_into(&self.payloads, &mut out)?;
        let len = u32::try_from(out.len()).map_err(|_| WireError::TooLong {
            what: "IKE message",
            len: out.len(),
        })?;
        if let Some(s) = out.get_mut(24..28) {
            s.copy_from_slice(&len.to_be_bytes());
        }
        Ok(out)
    }

    /// The SK payload, if any.
    pub fn sk(&self) -> Option<&super::Encrypted> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Sk(s) => Some(s),
            _ => None,
        })
    }
}

/// The type of the first payload of a chain and whether the chain is non-empty.
fn chain_first(p: &[Payload]) -> (PayloadType, bool) {
    match p.first() {
        Some(x) => (x.ty(), true),
        None => (PayloadType::NONE, false),
    }
}

/// Parses a chain of payloads starting with type `first` (for example the plaintext of an
/// SK payload). SK and SKF are not allowed inside.
///
/// # Errors
/// Any [`WireError`].
pub fn parse_chain(first: PayloadType, buf: &[u8]) -> Result<Vec<Payload>, WireError> {
    parse_chain_inner(first, buf, false)
}

fn parse_chain_inner(
    first: PayloadType,
    buf: &[u8],
    outer: bool,
) -> Result<Vec<Payload>, WireError> {
    let mut r = Reader::new(buf);
    let mut ty = first;
    let mut out = Vec::new();
    while ty != PayloadType::NONE {
        if out.len() == MAX_PAYLOADS {
            return Err(WireError::TooMany {
                what: "payloads",
                limit: MAX_PAYLOADS,
            });
        }
        let next = PayloadType(r.u8("payload header")?);
        let flags = r.u8("payload header")?;
        let len = usize::from(r.u16("payload header")?);
        if len < 4 {
            return Err(WireError::BadLength {
                what: "payload header",
                len,
            });
        }
        let body = r.take(len - 4, "payload body")?;
        let p = Payload::parse_body(ty, next, flags & 0x80 != 0, body)?;
        let encrypted = matches!(p, Payload::Sk(_) | Payload::Skf(_));
        out.push(p);
        if encrypted {
            // RFC 7296 section 3.14: SK is the last payload; its next-payload field names
            // the first inner payload. SK inside SK is not allowed.
            if !outer {
                return Err(WireError::BadNesting("SK inside SK"));
            }
            break;
        }
        ty = next;
    }
    r.finish("payload chain")?;
    Ok(out)
}

/// Encodes a payload chain (without the IKE header); returns the first payload type and
/// the bytes. Used to build the plaintext of an SK payload.
///
/// # Errors
/// As [`Message::emit`].
pub fn emit_chain(p: &[Payload]) -> Result<(PayloadType, Vec<u8>), WireError> {
    let mut out = Vec::new();
    emit_chain_into(p, &mut out)?;
    Ok((chain_first(p).0, out))
}

fn emit_chain_into(p: &[Payload], out: &mut Vec<u8>) -> Result<(), WireError> {
    // Parse refuses longer chains; emitting one would break parse(emit(m)) == m.
    if p.len() > MAX_PAYLOADS {
        return Err(WireError::TooMany {
            what: "payloads",
            limit: MAX_PAYLOADS,
        });
    }
    for (i, pl) in p.iter().enumerate() {
        let next = match pl {
            Payload::Sk(sk) => {
                if i + 1 != p.len() {
                    return Err(WireError::BadNesting("SK not last"));
                }
                sk.first_inner
            }
            Payload::Skf(f) => {
                if i + 1 != p.len() {
                    return Err(WireError::BadNesting("SKF not last"));
                }
                f.first_inner
            }
            _ => p.get(i + 1).map_or(PayloadType::NONE, Payload::ty),
        };
        let start = out.len();
        out.extend_from_slice(&[next.0, if pl.critical() { 0x80 } else { 0 }, 0, 0]);
        pl.emit_body(out)?;
        patch_len16(out, start, start + 2, "payload")?;
    }
    Ok(())
}

impl core::fmt::Display for Message {
    /// `IKE_SA_INIT req mid=0 [SA KE(ECP_256) No N(NAT_DETECTION_SOURCE_IP)]`
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let h = &self.header;
        write!(
            f,
            "{} {} mid={} [",
            h.exchange,
            if h.is_response() { "resp" } else { "req" },
            h.message_id
        )?;
        for (i, p) in self.payloads.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&p.summary())?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::unhex;
    use crate::wire::*;

    fn sample() -> Message {
        Message {
            header: Header {
                spi_i: 0x1122334455667788,
                spi_r: 0,
                minor_version: 0,
                exchange: ExchangeType::IKE_SA_INIT,
                flags: Flags::new(true, false),
                message_id: 0,
            },
            payloads: vec![
                Payload::Sa(SaPayload {
                    proposals: vec![Proposal {
                        num: 1,
                        protocol: ProtocolId::IKE,
                        spi: vec![],
                        transforms: vec![
                            Transform::encr(EncrId::AES_GCM_16, 256),
                            Transform::new(TransformType::PRF, PrfId::HMAC_SHA2_256.0),
                            Transform::new(TransformType::DH, DhGroup::CURVE25519.0),
                        ],
                    }],
                }),
                Payload::Ke(KeyExchange {
                    group: DhGroup::CURVE25519,
                    data: vec![7; 32],
                }),
                Payload::Nonce(vec![1; 32]),
                Payload::Notify(Notify::new(
                    NotifyType::NAT_DETECTION_SOURCE_IP,
                    vec![2; 20],
                )),
                Payload::Notify(Notify::new(
                    NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                    vec![],
                )),
                Payload::Vendor(b"flexvpn-rs".to_vec()),
                Payload::Unknown {
                    ty: PayloadType(120),
                    critical: false,
                    body: vec![1, 2],
                },
            ],
        }
    }

    #[test]
    fn roundtrip_and_truncation() {
        let m = sample();
        let v = m.emit().unwrap();
        assert_eq!(Message::parse(&v).unwrap(), m);
        for n in 0..v.len() {
            let mut t = v[..n].to_vec();
            // Truncated datagram with its length field fixed up to match: still an error.
            if n >= 28 {
                t[24..28].copy_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
            }
            assert!(Message::parse(&t).is_err(), "prefix {n}");
            assert!(Message::parse(&v[..n]).is_err());
        }
        assert_eq!(
            m.to_string(),
            "IKE_SA_INIT req mid=0 [SA KE(CURVE25519) No N(NAT_DETECTION_SOURCE_IP) \
             N(IKEV2_FRAGMENTATION_SUPPORTED) V U(120)]"
        );
    }

    #[test]
    fn sk_last_and_nesting() {
        let mut m = sample();
        m.header.exchange = ExchangeType::IKE_AUTH;
        m.payloads = vec![
            Payload::Vendor(vec![1]),
            Payload::Sk(Encrypted {
                first_inner: PayloadType::IDI,
                body: vec![0xaa; 40],
            }),
        ];
        let v = m.emit().unwrap();
        assert_eq!(Message::parse(&v).unwrap(), m);
        // bytes after SK are rejected
        let mut w = v;
        w.push(0);
        let wl = u32::try_from(w.len()).unwrap();
        w[24..28].copy_from_slice(&wl.to_be_bytes());
        assert!(Message::parse(&w).is_err());
        m.payloads.reverse();
        assert_eq!(m.emit(), Err(WireError::BadNesting("SK not last")));
        // SK inside SK
        let inner = unhex("00000008 01020304");
        assert_eq!(
            parse_chain(PayloadType::SK, &inner),
            Err(WireError::BadNesting("SK inside SK"))
        );
    }

    #[test]
    fn payload_flood_is_limited() {
        let mut v = Vec::new();
        for _ in 0..100 {
            v.extend_from_slice(&[PayloadType::VENDOR.0, 0, 0, 4]);
        }
        assert_eq!(
            parse_chain(PayloadType::VENDOR, &v),
            Err(WireError::TooMany {
                what: "payloads",
                limit: MAX_PAYLOADS
            })
        );
    }

    #[test]
    fn critical_unknown_rejected_in_message() {
        let mut m = sample();
        m.payloads = vec![Payload::Unknown {
            ty: PayloadType(130),
            critical: true,
            body: vec![],
        }];
        let v = m.emit().unwrap();
        let e = Message::parse(&v).unwrap_err();
        assert_eq!(e.notify(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    }

    #[test]
    fn too_many_payloads_is_refused() {
        let mut m = sample();
        m.payloads = vec![Payload::Vendor(vec![1]); MAX_PAYLOADS];
        let v = m.emit().unwrap();
        assert_eq!(Message::parse(&v).unwrap(), m);
        m.payloads.push(Payload::Vendor(vec![2]));
        let too_many = WireError::TooMany {
            what: "payloads",
            limit: MAX_PAYLOADS,
        };
        assert_eq!(m.emit(), Err(too_many));
        assert_eq!(emit_chain(&m.payloads).err(), Some(too_many));
    }

    #[test]
    fn header_minor_version_is_checked_by_message_emit() {
        let mut m = sample();
        m.header.minor_version = 16;
        assert_eq!(
            m.emit(),
            Err(WireError::InvalidValue {
                what: "IKE header minor version",
                value: 16
            })
        );
    }
}

//! OPEN (RFC 4271 §4.2) with optional parameters (RFC 5492 capabilities).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |  Optional Parameters (type, length, value)...
//! +-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use super::{Capability, Reader, len_patch, len_start};
use crate::error::WireError;

/// AS_TRANS (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;

/// One optional parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OptParam {
    /// Type 2: one or more capabilities (kept grouped as received).
    Capabilities(Vec<Capability>),
    /// Any other parameter type (deprecated authentication etc.).
    Unknown {
        /// Parameter type.
        ty: u8,
        /// Value.
        value: Vec<u8>,
    },
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Open {
    /// Version (4).
    pub version: u8,
    /// My Autonomous System (2 octets; AS_TRANS when the real AS needs 4).
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Optional parameters.
    pub params: Vec<OptParam>,
}

impl Open {
    /// An OPEN for `asn` with the usual capabilities: MP IPv4 unicast, route refresh, 4-octet AS.
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr) -> Self {
        Self {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            params: vec![OptParam::Capabilities(vec![
                Capability::MP_IPV4_UNICAST,
                Capability::RouteRefresh,
                Capability::FourOctetAs(asn),
            ])],
        }
    }

    /// Every capability, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.params.iter().flat_map(|p| match p {
            OptParam::Capabilities(c) => c.as_slice(),
            OptParam::Unknown { .. } => &[],
        })
    }

    /// The 4-octet AS from the capability, if sent.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// The sender's AS: the 4-octet capability if present, else My AS.
    pub fn asn(&self) -> u32 {
        self.four_octet_as()
            .unwrap_or_else(|| u32::from(self.my_as))
    }

    /// Whether the route refresh capability is present.
    pub fn route_refresh(&self) -> bool {
        self.capabilities()
            .any(|c| matches!(c, Capability::RouteRefresh))
    }

    /// Parses the body. Semantic checks (version, AS, hold time, identifier) are made here too:
    /// version 4 (2/1), hold time 0 or >= 3 (2/6), identifier not 0.0.0.0 (2/3).
    ///
    /// # Errors
    /// A [`WireError`].
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let version = r.u8("version")?;
        let my_as = r.u16("my as")?;
        let hold_time = r.u16("hold time")?;
        let bgp_id = Ipv4Addr::from(r.u32("bgp identifier")?);
        let plen = r.u8("opt parm len")?;
        let mut pr = r
            .sub(usize::from(plen), "optional parameters")
            .map_err(|_| WireError::BadOptionalParameter)?;
        r.finish("open")
            .map_err(|_| WireError::BadOptionalParameter)?;
        let mut params = Vec::new();
        while !pr.is_empty() {
            let ty = pr
                .u8("param type")
                .map_err(|_| WireError::BadOptionalParameter)?;
            let len = pr
                .u8("param length")
                .map_err(|_| WireError::BadOptionalParameter)?;
            let mut v = pr
                .sub(usize::from(len), "param value")
                .map_err(|_| WireError::BadOptionalParameter)?;
            if ty == 2 {
                let mut caps = Vec::new();
                while !v.is_empty() {
                    caps.push(
                        Capability::parse(&mut v).map_err(|_| WireError::BadOptionalParameter)?,
                    );
                }
                params.push(OptParam::Capabilities(caps));
            } else {
                params.push(OptParam::Unknown {
                    ty,
                    value: v.rest().to_vec(),
                });
            }
        }
        if version != 4 {
            return Err(WireError::UnsupportedVersion(version));
        }
        if hold_time == 1 || hold_time == 2 {
            return Err(WireError::UnacceptableHoldTime(hold_time));
        }
        if bgp_id.is_unspecified() {
            return Err(WireError::BadBgpId);
        }
        Ok(Self {
            version,
            my_as,
            hold_time,
            bgp_id,
            params,
        })
    }

    /// Appends the body.
    ///
    /// # Errors
    /// [`WireError::TooLong`] when the parameters exceed 255 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let at = len_start(out, 1);
        for p in &self.params {
            match p {
                OptParam::Capabilities(caps) => {
                    out.push(2);
                    let pat = len_start(out, 1);
                    for c in caps {
                        c.emit(out)?;
                    }
                    len_patch(out, pat, 1, "capabilities parameter")?;
                }
                OptParam::Unknown { ty, value } => {
                    out.push(*ty);
                    let pat = len_start(out, 1);
                    out.extend_from_slice(value);
                    len_patch(out, pat, 1, "optional parameter")?;
                }
            }
        }
        len_patch(out, at, 1, "optional parameters")
    }
}

impl core::fmt::Display for Open {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "OPEN as={} hold={} id={} caps=[",
            self.asn(),
            self.hold_time,
            self.bgp_id
        )?;
        for (i, c) in self.capabilities().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match c {
                Capability::Multiprotocol { afi, safi, .. } => write!(f, "MP({afi:?},{safi:?})")?,
                Capability::RouteRefresh => f.write_str("RR")?,
                Capability::FourOctetAs(_) => f.write_str("AS4")?,
                Capability::Unknown { code, .. } => write!(f, "{code}")?,
            }
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeCtx, Message};

    /// An OPEN as FRR 8.4 sends it (trimmed to MP, RR, AS4, and an unknown capability 70).
    fn vector() -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&[0, 0, 1]);
        v.extend_from_slice(&[4, 0xfd, 0xe9, 0, 180, 10, 0, 0, 1]);
        v.extend_from_slice(&[
            20, 2, 18, 1, 4, 0, 1, 0, 1, 2, 0, 65, 4, 0, 0, 0xfd, 0xe9, 70, 0, 0x80, 0,
        ]);
        v[17] = u8::try_from(v.len()).unwrap();
        v
    }

    #[test]
    fn open_parse_emit_truncate() {
        let v = vector();
        let m = Message::parse(&v, &DecodeCtx::default()).unwrap();
        let Message::Open(o) = &m else {
            panic!("not open")
        };
        assert_eq!(o.asn(), 65001);
        assert_eq!(o.hold_time, 180);
        assert!(o.route_refresh());
        assert_eq!(o.capabilities().count(), 5);
        assert_eq!(m.to_bytes(&DecodeCtx::default()).unwrap(), v);
        for n in 0..v.len() {
            assert!(
                Message::parse(&v[..n], &DecodeCtx::default()).is_err(),
                "len {n}"
            );
        }
        let o2 = Open::new(65001, 180, Ipv4Addr::new(10, 0, 0, 1));
        let b = Message::Open(o2.clone())
            .to_bytes(&DecodeCtx::default())
            .unwrap();
        assert_eq!(
            Message::parse(&b, &DecodeCtx::default()).unwrap(),
            Message::Open(o2)
        );
    }

    #[test]
    fn open_semantic_errors() {
        let mut v = vector();
        v[19] = 3;
        assert_eq!(
            Message::parse(&v, &DecodeCtx::default()),
            Err(WireError::UnsupportedVersion(3))
        );
        let mut v = vector();
        v[23] = 2;
        assert_eq!(
            Message::parse(&v, &DecodeCtx::default()),
            Err(WireError::UnacceptableHoldTime(2))
        );
        let mut v = vector();
        v[24..28].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            Message::parse(&v, &DecodeCtx::default()),
            Err(WireError::BadBgpId)
        );
        let mut v = vector();
        v[28] = 30;
        assert_eq!(
            Message::parse(&v, &DecodeCtx::default()),
            Err(WireError::BadOptionalParameter)
        );
    }
}

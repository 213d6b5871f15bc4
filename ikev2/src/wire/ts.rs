//! Traffic selector payloads TSi and TSr (RFC 7296 section 3.13).
//!
//! ```text
//! +---------------+-----------------------------------------------+
//! | Number of TSs |                 RESERVED (3)                  |
//! +---------------+-----------------------------------------------+
//! ~                       Traffic Selectors                       ~
//!
//! Selector:
//! +---------------+---------------+-------------------------------+
//! |   TS Type     |IP Protocol ID |       Selector Length         |
//! +---------------+---------------+-------------------------------+
//! |           Start Port          |           End Port            |
//! ~                  Starting Address / Ending Address            ~
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Reader, patch_len16, registry, to_u8};
use crate::error::WireError;

/// Maximum selectors in one TS payload.
pub const MAX_SELECTORS: usize = 64;

registry! {
    /// Traffic selector type.
    pub struct TsType(u8) {
        TS_IPV4_ADDR_RANGE = 7,
        TS_IPV6_ADDR_RANGE = 8,
    }
}

/// One traffic selector: an address range, a port range and an IP protocol (0 = any).
/// Both addresses have the same family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TrafficSelector {
    /// IP protocol (0 = any, 47 = GRE).
    pub ip_proto: u8,
    /// First port.
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start: IpAddr,
    /// Last address.
    pub end: IpAddr,
}

impl TrafficSelector {
    /// Everything IPv4 (0.0.0.0-255.255.255.255, all protocols and ports).
    pub const fn any_v4() -> Self {
        Self {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
            start: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            end: IpAddr::V4(Ipv4Addr::BROADCAST),
        }
    }

    /// One IPv4 host, all protocols and ports.
    pub const fn host_v4(a: Ipv4Addr) -> Self {
        Self {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
            start: IpAddr::V4(a),
            end: IpAddr::V4(a),
        }
    }

    /// Everything IPv6.
    pub const fn any_v6() -> Self {
        Self {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
            start: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            end: IpAddr::V6(Ipv6Addr::new(
                0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
            )),
        }
    }

    /// An IPv4 prefix.
    pub fn prefix_v4(net: Ipv4Addr, len: u8) -> Self {
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len.min(32)))
        };
        let n = u32::from(net) & mask;
        Self {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
            start: IpAddr::V4(Ipv4Addr::from(n)),
            end: IpAddr::V4(Ipv4Addr::from(n | !mask)),
        }
    }

    /// The selector type.
    pub fn ts_type(&self) -> TsType {
        match self.start {
            IpAddr::V4(_) => TsType::TS_IPV4_ADDR_RANGE,
            IpAddr::V6(_) => TsType::TS_IPV6_ADDR_RANGE,
        }
    }

    /// The intersection of two selectors (RFC 7296 section 2.9 narrowing), if non-empty.
    pub fn intersect(&self, o: &Self) -> Option<Self> {
        let ip_proto = match (self.ip_proto, o.ip_proto) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(o.start_port);
        let end_port = self.end_port.min(o.end_port);
        if start_port > end_port {
            return None;
        }
        let (start, end) = match (self.start, self.end, o.start, o.end) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(c), IpAddr::V4(d)) => {
                let s = a.max(c);
                let e = b.min(d);
                if s > e {
                    return None;
                }
                (IpAddr::V4(s), IpAddr::V4(e))
            }
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(c), IpAddr::V6(d)) => {
                let s = a.max(c);
                let e = b.min(d);
                if s > e {
                    return None;
                }
                (IpAddr::V6(s), IpAddr::V6(e))
            }
            _ => return None,
        };
        Some(Self {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        })
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let ty = TsType(r.u8("traffic selector")?);
        let ip_proto = r.u8("traffic selector")?;
        let len = usize::from(r.u16("traffic selector")?);
        let want = match ty {
            TsType::TS_IPV4_ADDR_RANGE => 16,
            TsType::TS_IPV6_ADDR_RANGE => 40,
            t => {
                return Err(WireError::InvalidValue {
                    what: "TS type",
                    value: u32::from(t.0),
                });
            }
        };
        if len != want {
            return Err(WireError::BadLength {
                what: "traffic selector",
                len,
            });
        }
        let start_port = r.u16("traffic selector")?;
        let end_port = r.u16("traffic selector")?;
        let (start, end) = if ty == TsType::TS_IPV4_ADDR_RANGE {
            (
                IpAddr::from(r.array::<4>("traffic selector")?),
                IpAddr::from(r.array::<4>("traffic selector")?),
            )
        } else {
            (
                IpAddr::from(r.array::<16>("traffic selector")?),
                IpAddr::from(r.array::<16>("traffic selector")?),
            )
        };
        Ok(Self {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        out.extend_from_slice(&[self.ts_type().0, self.ip_proto, 0, 0]);
        out.extend_from_slice(&self.start_port.to_be_bytes());
        out.extend_from_slice(&self.end_port.to_be_bytes());
        match (self.start, self.end) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&b.octets());
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&b.octets());
            }
            _ => {
                return Err(WireError::InvalidValue {
                    what: "traffic selector families differ",
                    value: 0,
                });
            }
        }
        patch_len16(out, start, start + 2, "traffic selector")
    }

    /// Parses a TS payload body into its selectors.
    ///
    /// # Errors
    /// Any [`WireError`]; the count must match the selectors present.
    pub fn parse_payload(body: &[u8]) -> Result<Vec<Self>, WireError> {
        let mut r = Reader::new(body);
        let n = r.u8("TS payload")?;
        r.take(3, "TS payload")?;
        let mut v = Vec::new();
        while !r.is_empty() {
            if v.len() == MAX_SELECTORS {
                return Err(WireError::TooMany {
                    what: "traffic selectors",
                    limit: MAX_SELECTORS,
                });
            }
            v.push(Self::parse(&mut r)?);
        }
        if v.len() != usize::from(n) {
            return Err(WireError::InvalidValue {
                what: "TS count",
                value: u32::from(n),
            });
        }
        Ok(v)
    }

    /// Appends a TS payload body.
    ///
    /// # Errors
    /// [`WireError::TooMany`] on more than [`MAX_SELECTORS`] selectors (parse refuses them);
    /// [`WireError::InvalidValue`] for mixed families in one selector.
    pub fn emit_payload(ts: &[Self], out: &mut Vec<u8>) -> Result<(), WireError> {
        if ts.len() > MAX_SELECTORS {
            return Err(WireError::TooMany {
                what: "traffic selectors",
                limit: MAX_SELECTORS,
            });
        }
        out.extend_from_slice(&[to_u8(ts.len(), "TS count")?, 0, 0, 0]);
        for t in ts {
            t.emit(out)?;
        }
        Ok(())
    }
}

impl core::fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)?;
        if self.ip_proto != 0 {
            write!(f, "[{}]", self.ip_proto)?;
        }
        if (self.start_port, self.end_port) != (0, 0xffff) {
            write!(f, ":{}-{}", self.start_port, self.end_port)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{truncations, unhex};

    #[test]
    fn v4_v6_roundtrip() {
        let ts = vec![
            TrafficSelector::prefix_v4(Ipv4Addr::new(10, 1, 1, 0), 24),
            TrafficSelector::any_v6(),
        ];
        let mut v = Vec::new();
        TrafficSelector::emit_payload(&ts, &mut v).unwrap();
        assert_eq!(v.len(), 4 + 16 + 40);
        assert_eq!(&v[..8], &unhex("02000000 07000010")[..]);
        assert_eq!(TrafficSelector::parse_payload(&v).unwrap(), ts);
        truncations(&v, TrafficSelector::parse_payload);
    }

    #[test]
    fn narrowing() {
        let any = TrafficSelector::any_v4();
        let gre = TrafficSelector {
            ip_proto: 47,
            ..TrafficSelector::host_v4(Ipv4Addr::new(10, 1, 1, 100))
        };
        assert_eq!(any.intersect(&gre), Some(gre));
        let other = TrafficSelector::host_v4(Ipv4Addr::new(10, 1, 1, 101));
        assert_eq!(gre.intersect(&other), None);
        assert_eq!(any.intersect(&TrafficSelector::any_v6()), None);
        assert_eq!(gre.to_string(), "10.1.1.100-10.1.1.100[47]");
    }

    #[test]
    fn too_many_selectors_is_refused() {
        let mut ts = vec![TrafficSelector::any_v4(); MAX_SELECTORS];
        let mut v = Vec::new();
        TrafficSelector::emit_payload(&ts, &mut v).unwrap();
        assert_eq!(TrafficSelector::parse_payload(&v).unwrap(), ts);
        ts.push(TrafficSelector::any_v4());
        assert_eq!(
            TrafficSelector::emit_payload(&ts, &mut Vec::new()),
            Err(WireError::TooMany {
                what: "traffic selectors",
                limit: MAX_SELECTORS
            })
        );
    }
}

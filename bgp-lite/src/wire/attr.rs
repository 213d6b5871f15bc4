//! Path attributes (RFC 4271 §4.3, §5) with RFC 7606 error handling.
//!
//! ```text
//! +---------------+---------------+-------------------------------+
//! | Attr. Flags   |Attr. Type Code| Length (1 octet, or 2 if the  |
//! |O T P E 0 0 0 0|               | Extended Length bit E is set) |
//! +---------------+---------------+-------------------------------+
//! | Attribute value (Length octets)                               |
//! +---------------------------------------------------------------+
//! ```
//! O optional, T transitive, P partial, E extended length. The whole flags octet is kept in
//! [`PathAttr::flags`], so re-encoding gives the bytes received.

use std::net::Ipv4Addr;

use super::{Afi, DecodeCtx, Ipv4Prefix, Ipv6Prefix, Reader, Safi, len_patch, len_start, nlri};
use crate::error::{AttrError, ErrData, WireError};

/// Attribute flag bits.
pub mod flags {
    /// Optional.
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial.
    pub const PARTIAL: u8 = 0x20;
    /// Extended length (2-octet length field).
    pub const EXTENDED: u8 = 0x10;
}

/// Attribute type codes.
pub mod code {
    /// ORIGIN.
    pub const ORIGIN: u8 = 1;
    /// AS_PATH.
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP.
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC.
    pub const MED: u8 = 4;
    /// LOCAL_PREF.
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE.
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR.
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH: u8 = 15;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
}

/// ORIGIN values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Origin {
    /// IGP (0).
    Igp = 0,
    /// EGP (1).
    Egp = 1,
    /// INCOMPLETE (2).
    Incomplete = 2,
}

/// AS path segment types.
pub mod seg {
    /// AS_SET.
    pub const SET: u8 = 1;
    /// AS_SEQUENCE.
    pub const SEQUENCE: u8 = 2;
    /// AS_CONFED_SEQUENCE (RFC 5065).
    pub const CONFED_SEQUENCE: u8 = 3;
    /// AS_CONFED_SET (RFC 5065).
    pub const CONFED_SET: u8 = 4;
}

/// One AS path segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AsSegment {
    /// Segment type (see [`seg`]).
    pub ty: u8,
    /// AS numbers (1..=255 of them on the wire).
    pub asns: Vec<u32>,
}

/// An AS_PATH or AS4_PATH.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AsPath {
    /// Segments in order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// Length for best-path selection (RFC 4271 §9.1.2.2 a): an AS_SET counts 1,
    /// confederation segments 0.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.ty {
                seg::SEQUENCE => s.asns.len(),
                seg::SET => 1,
                _ => 0,
            })
            .sum()
    }
    /// The first AS of the path (the neighbor AS) if it starts with a sequence.
    pub fn first_as(&self) -> Option<u32> {
        self.segments
            .first()
            .filter(|s| s.ty == seg::SEQUENCE)
            .and_then(|s| s.asns.first().copied())
    }
    /// Whether `asn` appears anywhere.
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }
    /// Every AS in the path.
    pub fn all_asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    fn parse(v: &[u8], four: bool) -> Result<Self, &'static str> {
        let w = if four { 4 } else { 2 };
        let mut r = Reader::new(v);
        // almost always one segment: no growth to the default capacity of 4 (the parsed path
        // is kept as is in the shared attributes)
        let mut segments = Vec::with_capacity(usize::from(!v.is_empty()));
        while !r.is_empty() {
            let ty = r.u8("segment type").map_err(|_| "segment truncated")?;
            if !(1..=4).contains(&ty) {
                return Err("bad segment type");
            }
            let n = r.u8("segment length").map_err(|_| "segment truncated")?;
            if n == 0 {
                return Err("empty segment");
            }
            let b = r
                .take(usize::from(n) * w, "segment")
                .map_err(|_| "segment overruns")?;
            let asns = b
                .chunks_exact(w)
                .map(|c| match c {
                    [a, b] => u32::from(u16::from_be_bytes([*a, *b])),
                    [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
                    _ => 0,
                })
                .collect();
            segments.push(AsSegment { ty, asns });
        }
        Ok(Self { segments })
    }

    fn emit(&self, four: bool, out: &mut Vec<u8>) -> Result<(), WireError> {
        for s in &self.segments {
            let n = u8::try_from(s.asns.len()).map_err(|_| WireError::TooLong {
                what: "as path segment",
            })?;
            out.push(s.ty);
            out.push(n);
            for &a in &s.asns {
                if four {
                    out.extend_from_slice(&a.to_be_bytes());
                } else {
                    out.extend_from_slice(
                        &u16::try_from(a)
                            .unwrap_or(super::open::AS_TRANS)
                            .to_be_bytes(),
                    );
                }
            }
        }
        Ok(())
    }
}

impl core::fmt::Display for AsPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for s in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (o, c) = if s.ty == seg::SET {
                ("{", "}")
            } else {
                ("", "")
            };
            f.write_str(o)?;
            for (i, a) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(if s.ty == seg::SET { "," } else { " " })?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(c)?;
        }
        Ok(())
    }
}

/// NLRI carried in MP_REACH/MP_UNREACH.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MpNlri {
    /// IPv4 prefixes (AFI 1, SAFI 1).
    V4(Vec<Ipv4Prefix>),
    /// IPv6 prefixes (AFI 2, SAFI 1).
    V6(Vec<Ipv6Prefix>),
    /// Any other family, kept as bytes.
    Other(Vec<u8>),
}

impl MpNlri {
    fn parse(afi: Afi, safi: Safi, v: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(v);
        Ok(match (afi, safi) {
            (Afi::IPV4, Safi::UNICAST) => Self::V4(nlri::parse_v4_list(r)?),
            (Afi::IPV6, Safi::UNICAST) => {
                let mut l = Vec::new();
                while !r.is_empty() {
                    l.push(Ipv6Prefix::parse(&mut r)?);
                }
                Self::V6(l)
            }
            _ => Self::Other(v.to_vec()),
        })
    }
    fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Self::V4(l) => l.iter().for_each(|p| p.emit(out)),
            Self::V6(l) => l.iter().for_each(|p| p.emit(out)),
            Self::Other(b) => out.extend_from_slice(b),
        }
    }
    /// Whether no prefix is carried.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::V4(l) => l.is_empty(),
            Self::V6(l) => l.is_empty(),
            Self::Other(b) => b.is_empty(),
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MpReach {
    /// AFI.
    pub afi: Afi,
    /// SAFI.
    pub safi: Safi,
    /// Next hop bytes (4, 16 or 32 for IPv6 global + link-local).
    pub next_hop: Vec<u8>,
    /// The reserved octet, kept for round trips.
    pub reserved: u8,
    /// NLRI. Must match `afi`/`safi` (V4 for IPv4 unicast, V6 for IPv6 unicast, Other else).
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MpUnreach {
    /// AFI.
    pub afi: Afi,
    /// SAFI.
    pub safi: Safi,
    /// Withdrawn routes.
    pub withdrawn: MpNlri,
}

/// The value of one path attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum AttrValue {
    /// ORIGIN (1).
    Origin(Origin),
    /// AS_PATH (2), 2- or 4-octet ASNs per [`DecodeCtx`].
    AsPath(AsPath),
    /// NEXT_HOP (3).
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC (4).
    Med(u32),
    /// LOCAL_PREF (5).
    LocalPref(u32),
    /// ATOMIC_AGGREGATE (6).
    AtomicAggregate,
    /// AGGREGATOR (7), 2- or 4-octet AS per [`DecodeCtx`].
    Aggregator {
        /// AS.
        asn: u32,
        /// Address (router ID).
        addr: Ipv4Addr,
    },
    /// COMMUNITIES (8).
    Communities(Vec<u32>),
    /// ORIGINATOR_ID (9).
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST (10).
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI (14).
    MpReach(MpReach),
    /// MP_UNREACH_NLRI (15).
    MpUnreach(MpUnreach),
    /// AS4_PATH (17), always 4-octet.
    As4Path(AsPath),
    /// AS4_AGGREGATOR (18).
    As4Aggregator {
        /// AS.
        asn: u32,
        /// Address.
        addr: Ipv4Addr,
    },
    /// Any other attribute, kept as received.
    Unknown {
        /// Type code.
        code: u8,
        /// Value.
        value: Vec<u8>,
    },
}

impl AttrValue {
    /// The type code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Origin(_) => code::ORIGIN,
            Self::AsPath(_) => code::AS_PATH,
            Self::NextHop(_) => code::NEXT_HOP,
            Self::Med(_) => code::MED,
            Self::LocalPref(_) => code::LOCAL_PREF,
            Self::AtomicAggregate => code::ATOMIC_AGGREGATE,
            Self::Aggregator { .. } => code::AGGREGATOR,
            Self::Communities(_) => code::COMMUNITIES,
            Self::OriginatorId(_) => code::ORIGINATOR_ID,
            Self::ClusterList(_) => code::CLUSTER_LIST,
            Self::MpReach(_) => code::MP_REACH,
            Self::MpUnreach(_) => code::MP_UNREACH,
            Self::As4Path(_) => code::AS4_PATH,
            Self::As4Aggregator { .. } => code::AS4_AGGREGATOR,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// The flags RFC 4271/4456/4760/6793/1997 define for this attribute (without E or P).
    pub fn default_flags(&self) -> u8 {
        use flags::{OPTIONAL as O, TRANSITIVE as T};
        match self.code() {
            code::ORIGIN
            | code::AS_PATH
            | code::NEXT_HOP
            | code::LOCAL_PREF
            | code::ATOMIC_AGGREGATE => T,
            code::MED
            | code::ORIGINATOR_ID
            | code::CLUSTER_LIST
            | code::MP_REACH
            | code::MP_UNREACH => O,
            _ => O | T,
        }
    }

    fn emit_value(&self, ctx: &DecodeCtx, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Self::Origin(o) => out.push(*o as u8),
            Self::AsPath(p) => p.emit(ctx.four_octet_as, out)?,
            Self::NextHop(a) | Self::OriginatorId(a) => out.extend_from_slice(&a.octets()),
            Self::Med(v) | Self::LocalPref(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::AtomicAggregate => {}
            Self::Aggregator { asn, addr } => {
                if ctx.four_octet_as {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    out.extend_from_slice(
                        &u16::try_from(*asn)
                            .unwrap_or(super::open::AS_TRANS)
                            .to_be_bytes(),
                    );
                }
                out.extend_from_slice(&addr.octets());
            }
            Self::As4Aggregator { asn, addr } => {
                out.extend_from_slice(&asn.to_be_bytes());
                out.extend_from_slice(&addr.octets());
            }
            Self::Communities(c) => c
                .iter()
                .for_each(|c| out.extend_from_slice(&c.to_be_bytes())),
            Self::ClusterList(c) => c.iter().for_each(|c| out.extend_from_slice(&c.octets())),
            Self::MpReach(m) => {
                out.extend_from_slice(&m.afi.0.to_be_bytes());
                out.push(m.safi.0);
                let n = u8::try_from(m.next_hop.len()).map_err(|_| WireError::TooLong {
                    what: "mp next hop",
                })?;
                out.push(n);
                out.extend_from_slice(&m.next_hop);
                out.push(m.reserved);
                m.nlri.emit(out);
            }
            Self::MpUnreach(m) => {
                out.extend_from_slice(&m.afi.0.to_be_bytes());
                out.push(m.safi.0);
                m.withdrawn.emit(out);
            }
            Self::As4Path(p) => p.emit(true, out)?,
            Self::Unknown { value, .. } => out.extend_from_slice(value),
        }
        Ok(())
    }
}

/// One path attribute: the flags octet as sent and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PathAttr {
    /// Flags octet (O, T, P, E and the four unused low bits), kept exactly.
    pub flags: u8,
    /// The value.
    pub value: AttrValue,
}

impl PathAttr {
    /// An attribute with its default flags; the extended-length bit is set when the value
    /// needs more than 255 bytes (with a 4-octet-AS encoding as the size reference).
    pub fn new(value: AttrValue) -> Self {
        let mut f = value.default_flags();
        let mut tmp = Vec::new();
        if value
            .emit_value(
                &DecodeCtx {
                    four_octet_as: true,
                },
                &mut tmp,
            )
            .is_ok()
            && tmp.len() > 255
        {
            f |= flags::EXTENDED;
        }
        Self { flags: f, value }
    }

    /// The type code.
    pub fn code(&self) -> u8 {
        self.value.code()
    }

    /// Appends the attribute.
    ///
    /// # Errors
    /// [`WireError::TooLong`] when the value does not fit its length field.
    pub fn emit(&self, ctx: &DecodeCtx, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(self.flags);
        out.push(self.code());
        let w = if self.flags & flags::EXTENDED != 0 {
            2
        } else {
            1
        };
        let at = len_start(out, w);
        self.value.emit_value(ctx, out)?;
        len_patch(out, at, w, "path attribute")
    }
}

/// Parses the path attributes field, applying RFC 7606.
///
/// Attributes that parse are returned; non-fatal errors are appended to `errors`.
///
/// # Errors
/// Errors that reset the session (RFC 7606 §3 e, §5.3: malformed or repeated MP_REACH/
/// MP_UNREACH; RFC 4271 §6.3: an unrecognized well-known attribute).
pub fn parse_attrs(
    buf: &[u8],
    ctx: &DecodeCtx,
    errors: &mut Vec<AttrError>,
) -> Result<Vec<PathAttr>, WireError> {
    let mut r = Reader::new(buf);
    let mut out = Vec::with_capacity(8);
    let mut seen = [0u64; 4];
    while !r.is_empty() {
        let start = r.rest();
        let hdr = (|| -> Result<(u8, u8, usize), WireError> {
            let f = r.u8("attr flags")?;
            let c = r.u8("attr code")?;
            let l = if f & flags::EXTENDED != 0 {
                usize::from(r.u16("attr length")?)
            } else {
                usize::from(r.u8("attr length")?)
            };
            Ok((f, c, l))
        })();
        let Ok((f, c, l)) = hdr else {
            // RFC 7606 §4: an attribute header that overruns the field: treat-as-withdraw.
            errors.push(AttrError::TreatAsWithdraw {
                code: 0,
                reason: "attribute header overruns",
            });
            break;
        };
        let Ok(value) = r.take(l, "attr value") else {
            errors.push(AttrError::TreatAsWithdraw {
                code: c,
                reason: "attribute length overruns",
            });
            break;
        };
        let whole = start.get(..start.len() - r.remaining()).unwrap_or(start);
        let bit = 1u64 << (c % 64);
        let slot = &mut seen[usize::from(c / 64)];
        if *slot & bit != 0 {
            // RFC 7606 §3 g: repeated MP_(UN)REACH resets; other repeats are discarded.
            if c == code::MP_REACH || c == code::MP_UNREACH {
                return Err(WireError::MalformedAttribute {
                    code: c,
                    reason: "repeated",
                    data: ErrData::new(whole),
                });
            }
            errors.push(AttrError::Discard {
                code: c,
                reason: "repeated attribute",
            });
            continue;
        }
        *slot |= bit;
        match parse_one(f, c, value, ctx, whole) {
            Ok(v) => out.push(PathAttr { flags: f, value: v }),
            Err(AttrError::SessionReset(e)) => return Err(e),
            Err(e) => errors.push(e),
        }
    }
    Ok(out)
}

fn be32(v: &[u8]) -> Option<u32> {
    match v {
        [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

fn parse_one(
    f: u8,
    c: u8,
    v: &[u8],
    ctx: &DecodeCtx,
    whole: &[u8],
) -> Result<AttrValue, AttrError> {
    let taw = |reason| AttrError::TreatAsWithdraw { code: c, reason };
    let discard = |reason| AttrError::Discard { code: c, reason };
    let known = matches!(c, 1..=10 | 14 | 15 | 17 | 18);
    if !known {
        if f & flags::OPTIONAL == 0 {
            // RFC 4271 §6.3: unrecognized well-known attribute, 3/2.
            return Err(AttrError::SessionReset(WireError::UnrecognizedWellKnown {
                code: c,
                data: ErrData::new(whole),
            }));
        }
        return Ok(AttrValue::Unknown {
            code: c,
            value: v.to_vec(),
        });
    }
    // RFC 7606 §3 c: O/T bits in conflict with the definition.
    let want = match c {
        code::ORIGIN
        | code::AS_PATH
        | code::NEXT_HOP
        | code::LOCAL_PREF
        | code::ATOMIC_AGGREGATE => flags::TRANSITIVE,
        code::MED
        | code::ORIGINATOR_ID
        | code::CLUSTER_LIST
        | code::MP_REACH
        | code::MP_UNREACH => flags::OPTIONAL,
        _ => flags::OPTIONAL | flags::TRANSITIVE,
    };
    if f & (flags::OPTIONAL | flags::TRANSITIVE) != want {
        return Err(match c {
            // RFC 7606 §7.6, §7.7, RFC 6793 §6: attribute discard.
            code::ATOMIC_AGGREGATE | code::AGGREGATOR | code::AS4_AGGREGATOR | code::AS4_PATH => {
                discard("flags conflict")
            }
            _ => taw("flags conflict"),
        });
    }
    Ok(match c {
        // RFC 7606 §7.1
        code::ORIGIN => match v {
            [0] => AttrValue::Origin(Origin::Igp),
            [1] => AttrValue::Origin(Origin::Egp),
            [2] => AttrValue::Origin(Origin::Incomplete),
            _ => return Err(taw("bad origin")),
        },
        // RFC 7606 §7.2
        code::AS_PATH => AttrValue::AsPath(AsPath::parse(v, ctx.four_octet_as).map_err(taw)?),
        // RFC 7606 §7.3
        code::NEXT_HOP => AttrValue::NextHop(Ipv4Addr::from(
            be32(v).ok_or_else(|| taw("next hop length"))?,
        )),
        // RFC 7606 §7.4
        code::MED => AttrValue::Med(be32(v).ok_or_else(|| taw("med length"))?),
        // RFC 7606 §7.5
        code::LOCAL_PREF => AttrValue::LocalPref(be32(v).ok_or_else(|| taw("local pref length"))?),
        // RFC 7606 §7.6
        code::ATOMIC_AGGREGATE => {
            if !v.is_empty() {
                return Err(discard("atomic aggregate length"));
            }
            AttrValue::AtomicAggregate
        }
        // RFC 7606 §7.7
        code::AGGREGATOR => {
            let w = if ctx.four_octet_as { 4 } else { 2 };
            if v.len() != w + 4 {
                return Err(discard("aggregator length"));
            }
            let (a, b) = v.split_at(w);
            let asn = match a {
                [x, y] => u32::from(u16::from_be_bytes([*x, *y])),
                _ => be32(a).unwrap_or(0),
            };
            AttrValue::Aggregator {
                asn,
                addr: Ipv4Addr::from(be32(b).unwrap_or(0)),
            }
        }
        // RFC 7606 §7.8
        code::COMMUNITIES => {
            if v.is_empty() || !v.len().is_multiple_of(4) {
                return Err(taw("communities length"));
            }
            AttrValue::Communities(v.chunks_exact(4).filter_map(be32).collect())
        }
        // RFC 7606 §7.9
        code::ORIGINATOR_ID => AttrValue::OriginatorId(Ipv4Addr::from(
            be32(v).ok_or_else(|| taw("originator id length"))?,
        )),
        // RFC 7606 §7.10
        code::CLUSTER_LIST => {
            if v.is_empty() || !v.len().is_multiple_of(4) {
                return Err(taw("cluster list length"));
            }
            AttrValue::ClusterList(
                v.chunks_exact(4)
                    .filter_map(be32)
                    .map(Ipv4Addr::from)
                    .collect(),
            )
        }
        // RFC 7606 §7.11, §5.3: a malformed MP attribute resets the session.
        code::MP_REACH => {
            let reset = |reason| {
                AttrError::SessionReset(WireError::MalformedAttribute {
                    code: c,
                    reason,
                    data: ErrData::new(whole),
                })
            };
            let mut r = Reader::new(v);
            let afi = Afi(r.u16("afi").map_err(|_| reset("truncated"))?);
            let safi = Safi(r.u8("safi").map_err(|_| reset("truncated"))?);
            let nhl = r.u8("nh len").map_err(|_| reset("truncated"))?;
            let nh = r
                .take(usize::from(nhl), "next hop")
                .map_err(|_| reset("next hop overruns"))?;
            let ok_nh = match (afi, safi) {
                (Afi::IPV4, Safi::UNICAST) => nh.len() == 4,
                (Afi::IPV6, Safi::UNICAST) => nh.len() == 16 || nh.len() == 32,
                _ => true,
            };
            if !ok_nh {
                return Err(reset("next hop length"));
            }
            let reserved = r.u8("reserved").map_err(|_| reset("truncated"))?;
            let nlri = MpNlri::parse(afi, safi, r.rest()).map_err(|_| reset("bad nlri"))?;
            AttrValue::MpReach(MpReach {
                afi,
                safi,
                next_hop: nh.to_vec(),
                reserved,
                nlri,
            })
        }
        code::MP_UNREACH => {
            let reset = |reason| {
                AttrError::SessionReset(WireError::MalformedAttribute {
                    code: c,
                    reason,
                    data: ErrData::new(whole),
                })
            };
            let mut r = Reader::new(v);
            let afi = Afi(r.u16("afi").map_err(|_| reset("truncated"))?);
            let safi = Safi(r.u8("safi").map_err(|_| reset("truncated"))?);
            let withdrawn = MpNlri::parse(afi, safi, r.rest()).map_err(|_| reset("bad nlri"))?;
            AttrValue::MpUnreach(MpUnreach {
                afi,
                safi,
                withdrawn,
            })
        }
        // RFC 6793 §6: a malformed AS4_PATH / AS4_AGGREGATOR is discarded.
        code::AS4_PATH => AttrValue::As4Path(AsPath::parse(v, true).map_err(discard)?),
        code::AS4_AGGREGATOR => {
            if v.len() != 8 {
                return Err(discard("as4 aggregator length"));
            }
            let (a, b) = v.split_at(4);
            AttrValue::As4Aggregator {
                asn: be32(a).unwrap_or(0),
                addr: Ipv4Addr::from(be32(b).unwrap_or(0)),
            }
        }
        _ => AttrValue::Unknown {
            code: c,
            value: v.to_vec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> DecodeCtx {
        DecodeCtx {
            four_octet_as: true,
        }
    }

    #[test]
    fn attrs_round_trip_with_extended_length_kept() {
        // ORIGIN IGP with the extended-length bit set (as some speakers send it), AS_PATH,
        // NEXT_HOP, LOCAL_PREF, an unknown optional transitive attribute 99 with the partial bit.
        let v = [
            0x50, 1, 0, 1, 0, //
            0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, //
            0x40, 3, 4, 10, 0, 0, 1, //
            0x40, 5, 4, 0, 0, 0, 100, //
            0xe0, 99, 2, 0xaa, 0xbb,
        ];
        let mut errs = Vec::new();
        let a = parse_attrs(&v, &ctx(), &mut errs).unwrap();
        assert!(errs.is_empty());
        assert_eq!(a.len(), 5);
        assert_eq!(a[0].value, AttrValue::Origin(Origin::Igp));
        assert_eq!(
            a[4].value,
            AttrValue::Unknown {
                code: 99,
                value: vec![0xaa, 0xbb]
            }
        );
        let mut out = Vec::new();
        for x in &a {
            x.emit(&ctx(), &mut out).unwrap();
        }
        assert_eq!(out, v);
    }

    #[test]
    fn rfc7606_outcomes() {
        let mut errs = Vec::new();
        // bad ORIGIN value: treat-as-withdraw
        parse_attrs(&[0x40, 1, 1, 7], &ctx(), &mut errs).unwrap();
        assert_eq!(
            errs,
            vec![AttrError::TreatAsWithdraw {
                code: 1,
                reason: "bad origin"
            }]
        );
        errs.clear();
        // ATOMIC_AGGREGATE with a length: discard
        let a = parse_attrs(&[0x40, 6, 1, 0], &ctx(), &mut errs).unwrap();
        assert!(a.is_empty());
        assert!(matches!(errs[0], AttrError::Discard { code: 6, .. }));
        errs.clear();
        // unrecognized well-known: session reset 3/2
        let e = parse_attrs(&[0x40, 77, 0], &ctx(), &mut errs).unwrap_err();
        assert_eq!(e.code().1, 2);
        // malformed MP_REACH: session reset
        let e = parse_attrs(&[0x80, 14, 3, 0, 1, 1], &ctx(), &mut errs).unwrap_err();
        assert!(matches!(e, WireError::MalformedAttribute { code: 14, .. }));
        // LOCAL_PREF flagged optional: treat-as-withdraw
        errs.clear();
        parse_attrs(&[0xc0, 5, 4, 0, 0, 0, 1], &ctx(), &mut errs).unwrap();
        assert!(matches!(
            errs[0],
            AttrError::TreatAsWithdraw { code: 5, .. }
        ));
        // overrun: treat-as-withdraw
        errs.clear();
        parse_attrs(&[0x40, 3, 9, 1, 2], &ctx(), &mut errs).unwrap();
        assert!(matches!(errs[0], AttrError::TreatAsWithdraw { .. }));
        // repeated NEXT_HOP: discard the second
        errs.clear();
        let a = parse_attrs(
            &[0x40, 3, 4, 1, 2, 3, 4, 0x40, 3, 4, 5, 6, 7, 8],
            &ctx(),
            &mut errs,
        )
        .unwrap();
        assert_eq!(a.len(), 1);
        assert!(matches!(errs[0], AttrError::Discard { code: 3, .. }));
    }

    #[test]
    fn two_octet_as_path() {
        let v = [0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0];
        let mut errs = Vec::new();
        let c2 = DecodeCtx {
            four_octet_as: false,
        };
        let a = parse_attrs(&v, &c2, &mut errs).unwrap();
        let AttrValue::AsPath(p) = &a[0].value else {
            panic!()
        };
        assert_eq!(p.all_asns().collect::<Vec<_>>(), vec![65001, 23456]);
        assert_eq!(p.path_len(), 2);
        let mut out = Vec::new();
        a[0].emit(&c2, &mut out).unwrap();
        assert_eq!(out, v);
        // the same bytes read as 4-octet: a segment of 2 ASNs needs 8 bytes: treat-as-withdraw
        errs.clear();
        parse_attrs(&v, &ctx(), &mut errs).unwrap();
        assert!(matches!(
            errs[0],
            AttrError::TreatAsWithdraw { code: 2, .. }
        ));
    }
}

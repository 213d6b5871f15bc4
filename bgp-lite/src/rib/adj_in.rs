//! From received UPDATEs to shared [`RouteAttrs`], and back to path attributes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::Arc;

use smallvec::SmallVec;

use super::RouteAttrs;
use crate::wire::attr::{AsSegment, AttrValue, PathAttr, code, flags, seg};
use crate::wire::{AsPath, Update};

/// Interns attribute sets so prefixes with equal attributes share one allocation.
///
/// Keyed by the 64-bit hash of the set (computed once per lookup, never again: the table's own
/// hasher is the identity), each key holding the sets with that hash (almost always one).
/// Lookup only (never iterated into output).
#[derive(Debug, Default)]
pub struct AttrCache {
    map: HashMap<u64, SmallVec<[Arc<RouteAttrs>; 1]>, BuildHasherDefault<IdHasher>>,
    len: usize,
    gc_at: usize,
}

/// Passes a `u64` key through (the key already is a well-mixed hash).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A small fixed-key multiplicative hasher (the rustc "Fx" scheme, with a folded-multiply
/// finish so the low bits are well mixed): fast for the many small writes of `RouteAttrs` and
/// for prefixes, deterministic, lookup-only (never iterated into output).
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut c = bytes.chunks_exact(8);
        for x in &mut c {
            let mut a = [0u8; 8];
            a.copy_from_slice(x);
            self.add(u64::from_le_bytes(a));
        }
        for &b in c.remainder() {
            self.add(u64::from(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Fold the state with a full 64x64->128 multiply: the plain Fx state keeps the low bits
        // of aligned keys (prefixes: host bits zero) nearly constant, and hash tables index
        // buckets by the low bits, which made Loc-RIB probes long.
        let p = u128::from(self.0) * 0x9e37_79b9_7f4a_7c15;
        #[allow(
            clippy::cast_possible_truncation,
            reason = "folding the 128-bit product"
        )]
        let (lo, hi) = (p as u64, (p >> 64) as u64);
        lo ^ hi
    }
}

impl AttrCache {
    /// The shared copy of `a`.
    pub fn intern(&mut self, a: RouteAttrs) -> Arc<RouteAttrs> {
        let mut h = FxHasher::default();
        a.hash(&mut h);
        let h = h.finish();
        if let Some(x) = self.map.get(&h).and_then(|v| v.iter().find(|x| ***x == a)) {
            return Arc::clone(x);
        }
        if self.len >= self.gc_at.max(1024) {
            // drop the sets no route uses any more
            self.map.retain(|_, v| {
                v.retain(|x| Arc::strong_count(x) > 1);
                !v.is_empty()
            });
            self.len = self.map.values().map(SmallVec::len).sum();
            self.gc_at = self.len * 2;
        }
        let x = Arc::new(a);
        self.map.entry(h).or_default().push(Arc::clone(&x));
        self.len += 1;
        x
    }
    /// Distinct attribute sets held.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl RouteAttrs {
    /// Builds the attributes of an UPDATE. With a 2-octet peer, AS4_PATH and AS4_AGGREGATOR are
    /// merged as RFC 6793 §4.2.3 says.
    pub fn from_update(u: &Update, four_octet_as: bool) -> Self {
        Self::take_from_update(&mut u.clone(), four_octet_as)
    }

    /// As [`RouteAttrs::from_update`], moving the variable-length values (AS path, communities,
    /// cluster list, unknown attributes) out of `u` instead of copying them: the receive path
    /// uses this, the UPDATE being dropped afterwards. MP_REACH/MP_UNREACH stay in `u`.
    pub fn take_from_update(u: &mut Update, four_octet_as: bool) -> Self {
        let mut a = Self::default();
        let mut as4: Option<AsPath> = None;
        let mut as4_agg = None;
        for pa in &mut u.attrs {
            match &mut pa.value {
                AttrValue::Origin(o) => a.origin = *o,
                AttrValue::AsPath(p) => a.as_path = std::mem::take(p),
                AttrValue::NextHop(n) => a.next_hop = *n,
                AttrValue::Med(m) => a.med = Some(*m),
                AttrValue::LocalPref(l) => a.local_pref = Some(*l),
                AttrValue::AtomicAggregate => a.atomic_aggregate = true,
                AttrValue::Aggregator { asn, addr } => a.aggregator = Some((*asn, *addr)),
                AttrValue::Communities(c) => a.communities = std::mem::take(c),
                AttrValue::OriginatorId(o) => a.originator_id = Some(*o),
                AttrValue::ClusterList(c) => a.cluster_list = std::mem::take(c),
                AttrValue::As4Path(p) => as4 = Some(std::mem::take(p)),
                AttrValue::As4Aggregator { asn, addr } => as4_agg = Some((*asn, *addr)),
                AttrValue::MpReach(_) | AttrValue::MpUnreach(_) => {}
                AttrValue::Unknown { code, value } => {
                    if pa.flags & flags::TRANSITIVE != 0 {
                        a.unknown.push((pa.flags, *code, std::mem::take(value)));
                    }
                }
            }
        }
        if !four_octet_as {
            // RFC 6793 §4.2.3: AS4_AGGREGATOR is used when AGGREGATOR carries AS_TRANS.
            if let (Some((23456, _)), Some(x)) = (a.aggregator, as4_agg) {
                a.aggregator = Some(x);
            }
            if let Some(p4) = &as4 {
                let n2 = a.as_path.path_len();
                let n4 = p4.path_len();
                if n4 <= n2 {
                    // keep the leading n2 - n4 ASes of AS_PATH, then AS4_PATH
                    let mut keep = n2 - n4;
                    let mut segs = Vec::new();
                    for s in &a.as_path.segments {
                        if keep == 0 {
                            break;
                        }
                        if s.ty == seg::SEQUENCE {
                            let t: Vec<u32> = s.asns.iter().copied().take(keep).collect();
                            keep -= t.len();
                            segs.push(AsSegment { ty: s.ty, asns: t });
                        } else if s.ty == seg::SET {
                            keep -= 1;
                            segs.push(s.clone());
                        }
                    }
                    segs.extend(p4.segments.iter().cloned());
                    a.as_path = AsPath { segments: segs };
                }
            }
        }
        a
    }

    /// The path attributes to send, in type-code order. `four_octet_as` is the peer's
    /// capability; without it, AS4_PATH/AS4_AGGREGATOR are added when an AS needs 4 octets.
    pub fn to_path_attrs(&self, four_octet_as: bool) -> Vec<PathAttr> {
        let mut v = Vec::with_capacity(8);
        v.push(PathAttr::new(AttrValue::Origin(self.origin)));
        v.push(PathAttr::new(AttrValue::AsPath(self.as_path.clone())));
        v.push(PathAttr::new(AttrValue::NextHop(self.next_hop)));
        if let Some(m) = self.med {
            v.push(PathAttr::new(AttrValue::Med(m)));
        }
        if let Some(l) = self.local_pref {
            v.push(PathAttr::new(AttrValue::LocalPref(l)));
        }
        if self.atomic_aggregate {
            v.push(PathAttr::new(AttrValue::AtomicAggregate));
        }
        if let Some((asn, addr)) = self.aggregator {
            v.push(PathAttr::new(AttrValue::Aggregator { asn, addr }));
        }
        if !self.communities.is_empty() {
            v.push(PathAttr::new(AttrValue::Communities(
                self.communities.clone(),
            )));
        }
        if let Some(o) = self.originator_id {
            v.push(PathAttr::new(AttrValue::OriginatorId(o)));
        }
        if !self.cluster_list.is_empty() {
            v.push(PathAttr::new(AttrValue::ClusterList(
                self.cluster_list.clone(),
            )));
        }
        if !four_octet_as {
            if self.as_path.all_asns().any(|a| a > 0xffff) {
                v.push(PathAttr::new(AttrValue::As4Path(self.as_path.clone())));
            }
            if let Some((asn, addr)) = self.aggregator.filter(|(a, _)| *a > 0xffff) {
                v.push(PathAttr::new(AttrValue::As4Aggregator { asn, addr }));
            }
        }
        for (f, c, val) in &self.unknown {
            // RFC 4271 §5: an unrecognized optional transitive attribute passed on gets P set.
            let mut pa = PathAttr::new(AttrValue::Unknown {
                code: *c,
                value: val.clone(),
            });
            pa.flags = (f & !flags::EXTENDED) | flags::PARTIAL | (pa.flags & flags::EXTENDED);
            v.push(pa);
        }
        v.sort_by_key(|a| a.code());
        v
    }

    /// Whether the originator/cluster loop checks of RFC 4456 §8 reject this route.
    pub fn reflection_loop(&self, router_id: Ipv4Addr, cluster_id: Ipv4Addr) -> bool {
        self.originator_id == Some(router_id) || self.cluster_list.contains(&cluster_id)
    }
}

/// Whether `c` is a known attribute code (used by tests).
pub fn is_known(c: u8) -> bool {
    matches!(
        c,
        code::ORIGIN
            ..=code::CLUSTER_LIST
                | code::MP_REACH
                | code::MP_UNREACH
                | code::AS4_PATH
                | code::AS4_AGGREGATOR
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::DecodeCtx;

    #[test]
    fn as4_merge_and_partial_bit() {
        let mut u = Update::default();
        u.attrs.push(PathAttr::new(AttrValue::AsPath(AsPath {
            segments: vec![AsSegment {
                ty: seg::SEQUENCE,
                asns: vec![65002, 23456],
            }],
        })));
        u.attrs.push(PathAttr::new(AttrValue::As4Path(AsPath {
            segments: vec![AsSegment {
                ty: seg::SEQUENCE,
                asns: vec![4_200_000_000],
            }],
        })));
        u.attrs.push(PathAttr {
            flags: 0xc0,
            value: AttrValue::Unknown {
                code: 99,
                value: vec![1],
            },
        });
        u.attrs.push(PathAttr {
            flags: 0x80,
            value: AttrValue::Unknown {
                code: 98,
                value: vec![1],
            },
        });
        let a = RouteAttrs::from_update(&u, false);
        assert_eq!(
            a.as_path.all_asns().collect::<Vec<_>>(),
            vec![65002, 4_200_000_000]
        );
        assert_eq!(a.unknown.len(), 1, "non-transitive unknown dropped");
        let out = a.to_path_attrs(false);
        let unk = out.iter().find(|x| x.code() == 99).unwrap();
        assert_eq!(unk.flags, 0xe0);
        assert!(out.iter().any(|x| x.code() == code::AS4_PATH));
        let u2 = Update {
            attrs: out,
            ..Default::default()
        };
        let mut b = Vec::new();
        u2.emit(
            &DecodeCtx {
                four_octet_as: false,
            },
            &mut b,
        )
        .unwrap();
        let back = Update::parse(
            &b,
            &DecodeCtx {
                four_octet_as: false,
            },
        )
        .unwrap();
        assert_eq!(RouteAttrs::from_update(&back, false).as_path, a.as_path);
        let mut c = AttrCache::default();
        let x = c.intern(a.clone());
        let y = c.intern(a);
        assert!(Arc::ptr_eq(&x, &y));
        assert!(is_known(9) && !is_known(99));
    }
}

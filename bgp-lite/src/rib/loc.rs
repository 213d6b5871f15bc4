//! The Loc-RIB: per prefix, every candidate path (the Adj-RIBs-In after inbound policy are not
//! kept anywhere else) and the selected best.
//!
//! Layout: a two-level table. The top 16 bits of a prefix's address pick a bucket (through a
//! 256 KiB index of bucket numbers, so an empty table costs 256 KiB and a bucket is only made
//! when used); a bucket is a run of 4-byte entries sorted by key (the low 16 address bits and
//! the length) that also give the position of the prefix's [`Dest`] in an append-only vector,
//! so an insert in the middle moves 4 bytes per entry after it and no `Dest`. Prefixes shorter than /16
//! go in the bucket of their address too, so the concatenation of the buckets is the prefix
//! order. A run that grows beyond [`SPLIT_AT`] entries is split by the third octet into 256
//! runs; a split run holds at most the 511 prefixes of lengths 24..=32 inside one /24 plus one
//! prefix per shorter length, so an insert never moves more than ~540 entries whatever a peer
//! sends (the worst case is bounded, unlike a single sorted vector per /16).
//!
//! Why not a `BTreeMap` (the previous layout) or a hash table: measured in `benches/rib.rs`
//! (whole receive path, side by side), the speaker with this table is ~2.5x faster than with
//! the `BTreeMap` for an in-order feed (an append is one index load, one compare and two
//! pushes) and 2-3x for a shuffled one, and holds 38 bytes per prefix instead of 65-78
//! (attributes included); a hash table of a million entries misses the cache on every probe
//! even for in-order feeds, which were measured slower with one than with the `BTreeMap`.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::best_path::{BestCtx, compare};
use super::{Path, RouteAttrs};
use crate::wire::Ipv4Prefix;

/// Entries at which a bucket's single run is split by the third octet.
pub const SPLIT_AT: usize = 1 << IDX_BITS;

/// Candidate paths for one prefix: one or more, the best first (16 bytes; a single path is
/// stored inline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// The candidate paths, the best one first (the others in no particular order); reads as
    /// a `[Path]` slice.
    pub paths: Paths,
}

/// The candidate paths of a [`Dest`], read as a slice (`dest.paths.iter()`, `.len()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths(Repr);

impl std::ops::Deref for Paths {
    type Target = [Path];
    fn deref(&self) -> &[Path] {
        match &self.0 {
            Repr::One(p) => std::slice::from_ref(p),
            Repr::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    One(Path),
    /// Two or more paths.
    #[allow(
        clippy::box_collection,
        reason = "boxed so that a Dest is 16 bytes, not 24"
    )]
    Many(Box<Vec<Path>>),
}

impl Dest {
    fn one(p: Path) -> Self {
        Self {
            paths: Paths(Repr::One(p)),
        }
    }

    /// The best path (a destination in the RIB always has one).
    pub fn best(&self) -> Option<&Path> {
        self.paths().first()
    }

    /// Every candidate path, the best one first (the others in no particular order).
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    fn paths_mut(&mut self) -> &mut [Path] {
        match &mut self.paths.0 {
            Repr::One(p) => std::slice::from_mut(p),
            Repr::Many(v) => v,
        }
    }

    /// Whether a path from `src` is present.
    pub fn has(&self, src: u32) -> bool {
        self.paths().iter().any(|p| p.src == src)
    }

    fn push(&mut self, p: Path) {
        match &mut self.paths.0 {
            Repr::Many(v) => v.push(p),
            Repr::One(_) => {
                let Repr::One(first) = std::mem::replace(
                    &mut self.paths.0,
                    Repr::Many(Box::new(Vec::with_capacity(2))),
                ) else {
                    return;
                };
                if let Repr::Many(v) = &mut self.paths.0 {
                    v.push(first);
                    v.push(p);
                }
            }
        }
    }

    /// Removes path `i` from a `Many` (the caller removes the whole `Dest` for its last path).
    fn remove(&mut self, i: usize) {
        if let Repr::Many(v) = &mut self.paths.0 {
            if i < v.len() {
                v.swap_remove(i);
            }
            if v.len() == 1
                && let Some(last) = v.pop()
            {
                self.paths.0 = Repr::One(last);
            }
        }
    }

    /// Moves the best path to the front. `compare` is a total order (ties end on the source),
    /// so the choice does not depend on the order of the others.
    fn select(&mut self, ctx: &impl BestCtx) {
        let Repr::Many(v) = &mut self.paths.0 else {
            return;
        };
        let mut best = 0;
        for (i, p) in v.iter().enumerate().skip(1) {
            if let Some(bp) = v.get(best)
                && compare(bp, p, ctx).is_gt()
            {
                best = i;
            }
        }
        v.swap(0, best);
    }
}

/// How the best path of a prefix changed (its source or its attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BestChange {
    /// The prefix.
    pub prefix: Ipv4Prefix,
    /// Previous best.
    pub old: Option<BestSummary>,
    /// New best.
    pub new: Option<BestSummary>,
}

/// What the caller of [`LocRib::update`] needs of a best path (no reference count taken: the
/// insert path stays free of atomic operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BestSummary {
    /// Source of the path.
    pub src: u32,
    /// Its NEXT_HOP.
    pub next_hop: Ipv4Addr,
}

impl BestSummary {
    fn of(p: &Path) -> Self {
        Self {
            src: p.src,
            next_hop: p.attrs.next_hop,
        }
    }
}

impl BestChange {
    /// The change from the best path `old` (source, attributes) to `new`, or `None` when
    /// `new` is the same path.
    fn replaced(prefix: Ipv4Prefix, old: &(u32, Arc<RouteAttrs>), new: &Path) -> Option<Self> {
        if new.src == old.0 && Arc::ptr_eq(&new.attrs, &old.1) {
            return None;
        }
        Some(Self {
            prefix,
            old: Some(BestSummary {
                src: old.0,
                next_hop: old.1.next_hop,
            }),
            new: Some(BestSummary::of(new)),
        })
    }
}

/// Bits of a run entry that index `dests`.
const IDX_BITS: u32 = 10;
const IDX_MASK: u32 = (1 << IDX_BITS) - 1;

/// A run of destinations sorted by key, the key being `(low 16 address bits << 6) | length`.
/// `ents[i]` is `key << 10 | position in dests`: inserting in the middle moves 4-byte entries
/// only, the 16-byte `Dest`s stay where they were appended.
#[derive(Debug, Clone, Default)]
struct Run {
    ents: Vec<u32>,
    dests: Vec<Dest>,
}

impl Run {
    /// `Ok(i)` when `k` is at `i`, `Err(i)` where it would go. Appends (in-order feeds) are
    /// found with one comparison.
    #[inline]
    fn find(&self, k: u32) -> Result<usize, usize> {
        match self.ents.last() {
            None => Err(0),
            Some(&l) if k > l >> IDX_BITS => Err(self.ents.len()),
            Some(&l) if k == l >> IDX_BITS => Ok(self.ents.len() - 1),
            Some(_) => self.ents.binary_search_by_key(&k, |e| e >> IDX_BITS),
        }
    }
    #[inline]
    fn dest(&self, i: usize) -> Option<&Dest> {
        let e = *self.ents.get(i)?;
        self.dests.get((e & IDX_MASK) as usize)
    }
    #[inline]
    fn dest_mut(&mut self, i: usize) -> Option<&mut Dest> {
        let e = *self.ents.get(i)?;
        self.dests.get_mut((e & IDX_MASK) as usize)
    }
    /// Inserts at `i`; `false` when the run is full (never for a run of a split bucket, which
    /// holds at most ~540 prefixes, nor for a flat run, split when it reaches [`SPLIT_AT`]).
    fn insert(&mut self, i: usize, k: u32, d: Dest) -> bool {
        let Ok(idx) = u32::try_from(self.dests.len()) else {
            return false;
        };
        if idx > IDX_MASK {
            return false;
        }
        self.dests.push(d);
        let e = (k << IDX_BITS) | idx;
        if i >= self.ents.len() {
            self.ents.push(e);
        } else {
            self.ents.insert(i, e);
        }
        true
    }
    fn remove(&mut self, i: usize) {
        if i >= self.ents.len() {
            return;
        }
        let idx = self.ents.remove(i) & IDX_MASK;
        let last = self.dests.len().saturating_sub(1);
        if (idx as usize) < self.dests.len() {
            self.dests.swap_remove(idx as usize);
            if idx as usize != last {
                // the destination that was last now sits at `idx`
                if let Some(e) = self
                    .ents
                    .iter_mut()
                    .find(|e| (**e & IDX_MASK) as usize == last)
                {
                    *e = (*e & !IDX_MASK) | idx;
                }
            }
        }
        if self.ents.is_empty() {
            // give the memory back
            *self = Self::default();
        }
    }
    fn len(&self) -> usize {
        self.ents.len()
    }
    fn iter(&self) -> impl Iterator<Item = (u32, &Dest)> + '_ {
        self.ents
            .iter()
            .filter_map(move |e| Some((e >> IDX_BITS, self.dests.get((e & IDX_MASK) as usize)?)))
    }
}

#[derive(Debug, Clone)]
enum Bucket {
    Flat(Run),
    /// 256 runs by the third octet.
    Split(Box<[Run]>),
}

impl Bucket {
    #[inline]
    fn run(&self, k: u32) -> Option<&Run> {
        match self {
            Self::Flat(r) => Some(r),
            Self::Split(rs) => rs.get(sub_index(k)),
        }
    }
    #[inline]
    fn run_mut(&mut self, k: u32) -> Option<&mut Run> {
        match self {
            Self::Flat(r) => Some(r),
            Self::Split(rs) => rs.get_mut(sub_index(k)),
        }
    }
    fn runs(&self) -> &[Run] {
        match self {
            Self::Flat(r) => std::slice::from_ref(r),
            Self::Split(rs) => rs,
        }
    }
    /// Splits a flat run that grew beyond [`SPLIT_AT`].
    fn maybe_split(&mut self) {
        let Self::Flat(r) = self else {
            return;
        };
        if r.len() < SPLIT_AT {
            return;
        }
        let old = std::mem::take(r);
        let mut dests: Vec<Option<Dest>> = old.dests.into_iter().map(Some).collect();
        let mut rs: Box<[Run]> = vec![Run::default(); 256].into_boxed_slice();
        for e in old.ents {
            let k = e >> IDX_BITS;
            if let (Some(s), Some(d)) = (
                rs.get_mut(sub_index(k)),
                dests
                    .get_mut((e & IDX_MASK) as usize)
                    .and_then(Option::take),
            ) {
                let at = s.len();
                s.insert(at, k, d);
            }
        }
        *self = Self::Split(rs);
    }
}

#[inline]
fn sub_index(k: u32) -> usize {
    ((k >> 14) & 0xff) as usize
}

#[inline]
fn split_key(p: &Ipv4Prefix) -> (usize, u32) {
    let a = p.addr_bits();
    (
        (a >> 16) as usize,
        ((a & 0xffff) << 6) | u32::from(p.prefix_len()),
    )
}

#[inline]
fn join_key(hi: usize, k: u32) -> Ipv4Prefix {
    #[allow(clippy::cast_possible_truncation, reason = "hi < 65536, len <= 32")]
    Ipv4Prefix::from_masked(((hi as u32) << 16) | (k >> 6), (k & 0x3f) as u8)
}

/// The Loc-RIB. See the module docs for the layout.
#[derive(Debug, Clone, Default)]
pub struct LocRib {
    /// Top 16 address bits to 1 + the bucket's position in `buckets` (0: none). Empty until
    /// the first insert.
    index: Vec<u32>,
    buckets: Vec<Bucket>,
    len: usize,
}

impl LocRib {
    /// An empty RIB.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn bucket(&self, hi: usize) -> Option<&Bucket> {
        let b = *self.index.get(hi)?;
        self.buckets.get((b as usize).checked_sub(1)?)
    }

    #[inline]
    fn bucket_mut(&mut self, hi: usize) -> Option<&mut Bucket> {
        let b = *self.index.get(hi)?;
        self.buckets.get_mut((b as usize).checked_sub(1)?)
    }

    fn bucket_or_create(&mut self, hi: usize) -> Option<&mut Bucket> {
        if self.index.is_empty() {
            self.index = vec![0; 1 << 16];
        }
        let slot = self.index.get_mut(hi)?;
        if *slot == 0 {
            self.buckets.push(Bucket::Flat(Run::default()));
            *slot = u32::try_from(self.buckets.len()).ok()?;
        }
        let b = *slot as usize;
        self.buckets.get_mut(b.checked_sub(1)?)
    }

    /// Sets (Some) or removes (None) the path from `src` for `prefix`, reselects, and returns the
    /// change of best path if there was one.
    pub fn update(
        &mut self,
        prefix: Ipv4Prefix,
        src: u32,
        attrs: Option<Arc<RouteAttrs>>,
        ctx: &impl BestCtx,
    ) -> Option<BestChange> {
        let (hi, k) = split_key(&prefix);
        let Some(a) = attrs else {
            return self.withdraw(prefix, hi, k, src, ctx);
        };
        let bucket = self.bucket_or_create(hi)?;
        let run = bucket.run_mut(k)?;
        match run.find(k) {
            Err(i) => {
                // a new prefix: its only path is the best
                let new = Some(BestSummary {
                    src,
                    next_hop: a.next_hop,
                });
                if !run.insert(i, k, Dest::one(Path { src, attrs: a })) {
                    return None;
                }
                bucket.maybe_split();
                self.len += 1;
                Some(BestChange {
                    prefix,
                    old: None,
                    new,
                })
            }
            Ok(i) => {
                let d = run.dest_mut(i)?;
                let ob = d.best()?;
                let old = (ob.src, Arc::clone(&ob.attrs));
                match d.paths_mut().iter_mut().find(|p| p.src == src) {
                    Some(p) => {
                        if Arc::ptr_eq(&p.attrs, &a) {
                            return None;
                        }
                        p.attrs = a;
                    }
                    None => d.push(Path { src, attrs: a }),
                }
                d.select(ctx);
                BestChange::replaced(prefix, &old, d.best()?)
            }
        }
    }

    fn withdraw(
        &mut self,
        prefix: Ipv4Prefix,
        hi: usize,
        k: u32,
        src: u32,
        ctx: &impl BestCtx,
    ) -> Option<BestChange> {
        let run = self.bucket_mut(hi)?.run_mut(k)?;
        let i = run.find(k).ok()?;
        let d = run.dest_mut(i)?;
        let j = d.paths().iter().position(|p| p.src == src)?;
        let ob = d.best()?;
        if d.paths().len() == 1 {
            let old = BestSummary::of(ob);
            run.remove(i);
            self.len -= 1;
            return Some(BestChange {
                prefix,
                old: Some(old),
                new: None,
            });
        }
        let old = (ob.src, Arc::clone(&ob.attrs));
        d.remove(j);
        d.select(ctx);
        BestChange::replaced(prefix, &old, d.best()?)
    }

    /// Reselects the best path of `prefix` (after an IGP cost change); returns the change.
    pub fn reselect(&mut self, prefix: Ipv4Prefix, ctx: &impl BestCtx) -> Option<BestChange> {
        let (hi, k) = split_key(&prefix);
        let run = self.bucket_mut(hi)?.run_mut(k)?;
        let i = run.find(k).ok()?;
        let d = run.dest_mut(i)?;
        let ob = d.best()?;
        let old = (ob.src, Arc::clone(&ob.attrs));
        d.select(ctx);
        let nb = d.best()?;
        if nb.src == old.0 {
            return None;
        }
        Some(BestChange {
            prefix,
            old: Some(BestSummary {
                src: old.0,
                next_hop: old.1.next_hop,
            }),
            new: Some(BestSummary::of(nb)),
        })
    }

    /// Reads (only) the places the inserts of `prefixes` will touch, before any of them is
    /// done: the loads of different prefixes do not depend on each other, so their cache misses
    /// overlap instead of being paid one after the other (random feeds).
    pub fn warm(&self, prefixes: &[Ipv4Prefix]) {
        if let (Some(f), Some(l)) = (prefixes.first(), prefixes.last())
            && f.addr_bits() >> 16 == l.addr_bits() >> 16
        {
            // one bucket (an in-order feed): the first insert brings it in for the others
            return;
        }
        let mut acc = 0u32;
        for p in prefixes {
            let (hi, k) = split_key(p);
            if let Some(r) = self.bucket(hi).and_then(|b| b.run(k)) {
                let n = r.ents.len();
                acc ^= r.ents.get(n / 2).copied().unwrap_or(0);
                acc ^= r.ents.last().copied().unwrap_or(0);
                acc ^= r
                    .dests
                    .last()
                    .and_then(|d| d.paths.first())
                    .map_or(0, |x| x.src);
            }
        }
        std::hint::black_box(acc);
    }

    /// The destination for a prefix.
    pub fn get(&self, prefix: &Ipv4Prefix) -> Option<&Dest> {
        let (hi, k) = split_key(prefix);
        let run = self.bucket(hi)?.run(k)?;
        run.dest(run.find(k).ok()?)
    }

    /// The best path for a prefix.
    pub fn best(&self, prefix: &Ipv4Prefix) -> Option<&Path> {
        self.get(prefix).and_then(Dest::best)
    }

    /// All destinations in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Prefix, &Dest)> + '_ {
        self.range_hi(0, (1 << 16) - 1)
    }

    fn range_hi(&self, lo: usize, hi: usize) -> impl Iterator<Item = (Ipv4Prefix, &Dest)> + '_ {
        self.index
            .get(lo..=hi)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != 0)
            .filter_map(move |(i, b)| Some((lo + i, self.buckets.get(*b as usize - 1)?)))
            .flat_map(|(h, b)| {
                b.runs()
                    .iter()
                    .flat_map(Run::iter)
                    .map(move |(k, d)| (join_key(h, k), d))
            })
    }

    /// Destinations inside `agg` (including `agg` itself), in order.
    pub fn within(&self, agg: Ipv4Prefix) -> impl Iterator<Item = (Ipv4Prefix, &Dest)> + '_ {
        let lo = (agg.addr_bits() >> 16) as usize;
        let hi = (u32::from(agg.last()) >> 16) as usize;
        self.range_hi(lo, hi).filter(move |(p, _)| agg.contains(p))
    }

    /// Prefixes with a path from `src`, in prefix order.
    pub fn prefixes_from(&self, src: u32) -> Vec<Ipv4Prefix> {
        self.iter()
            .filter(|(_, d)| d.has(src))
            .map(|(p, _)| p)
            .collect()
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::rib::PeerInfo;

    struct Ctx;
    impl BestCtx for Ctx {
        fn peer(&self, src: u32) -> Option<PeerInfo> {
            Some(PeerInfo {
                addr: IpAddr::V4(Ipv4Addr::from(src)),
                bgp_id: Ipv4Addr::from(src),
                rr_client: false,
            })
        }
        fn igp_cost(&self, _: Ipv4Addr) -> u32 {
            0
        }
    }

    fn attrs(med: u32) -> Arc<RouteAttrs> {
        Arc::new(RouteAttrs {
            med: Some(med),
            ..RouteAttrs::default()
        })
    }

    /// A tiny deterministic generator (xorshift) for the model test.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn dest_is_16_bytes() {
        assert_eq!(size_of::<Dest>(), 16);
    }

    /// Random inserts and withdrawals from 3 sources against a `BTreeMap` model: same
    /// prefixes, same order, same best path; includes a hot /16 that gets split and
    /// prefixes shorter than /16.
    #[test]
    fn matches_a_btreemap_model() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let mut rib = LocRib::new();
        let mut model: BTreeMap<Ipv4Prefix, BTreeMap<u32, u32>> = BTreeMap::new();
        let pool: Vec<Arc<RouteAttrs>> = (0..8).map(attrs).collect();
        for step in 0..60_000u32 {
            let r = g.next();
            let len = [0u8, 8, 12, 16, 20, 24, 24, 28, 32][(r % 9) as usize];
            // mostly inside 10.1.0.0/16 (forces a split), some anywhere
            let addr = if r & 0x100 == 0 {
                0x0a01_0000 | ((r >> 16) as u32 & 0xffff)
            } else {
                (r >> 32) as u32
            };
            let p = Ipv4Prefix::new(Ipv4Addr::from(addr), len).unwrap();
            let src = 2 + ((r >> 9) % 3) as u32;
            let withdraw = (r >> 12).is_multiple_of(4);
            let med = ((r >> 20) % 8) as u32;
            let ch = if withdraw {
                rib.update(p, src, None, &Ctx)
            } else {
                rib.update(p, src, Some(Arc::clone(&pool[med as usize])), &Ctx)
            };
            let before = model.get(&p).map(best_of);
            if withdraw {
                if let Some(m) = model.get_mut(&p) {
                    m.remove(&src);
                    if m.is_empty() {
                        model.remove(&p);
                    }
                }
            } else {
                model.entry(p).or_default().insert(src, med);
            }
            let after = model.get(&p).map(best_of);
            assert_eq!(ch.is_some(), before != after, "step {step} {p}");
            assert_eq!(
                rib.best(&p).map(|b| (b.src, b.attrs.med.unwrap())),
                after,
                "step {step} {p}"
            );
        }
        assert_eq!(rib.len(), model.len());
        let got: Vec<_> = rib.iter().map(|(p, d)| (p, d.paths().len())).collect();
        let want: Vec<_> = model.iter().map(|(p, m)| (*p, m.len())).collect();
        assert_eq!(got, want);
        assert!(
            rib.buckets.iter().any(|b| matches!(b, Bucket::Split(_))),
            "the hot /16 was split"
        );
        let agg: Ipv4Prefix = "10.1.128.0/17".parse().unwrap();
        let inside: Vec<_> = rib.within(agg).map(|(p, _)| p).collect();
        let want: Vec<_> = model.keys().filter(|p| agg.contains(p)).copied().collect();
        assert_eq!(inside, want);
        for p in want {
            for s in 2..5 {
                rib.update(p, s, None, &Ctx);
            }
        }
        assert_eq!(rib.within(agg).count(), 0);
    }

    /// Best of the model: lowest MED, then lowest source (router id).
    fn best_of(m: &BTreeMap<u32, u32>) -> (u32, u32) {
        let (s, med) = m.iter().min_by_key(|(s, med)| (**med, **s)).unwrap();
        (*s, *med)
    }
}

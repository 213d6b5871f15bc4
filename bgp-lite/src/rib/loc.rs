//! The Loc-RIB: per prefix, every candidate path and the selected best.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use smallvec::SmallVec;

use super::adj_in::FxHasher;
use super::best_path::{BestCtx, compare};
use super::{Path, RouteAttrs};
use crate::wire::Ipv4Prefix;

/// Candidate paths for one prefix (24 bytes: one path inline, no separate best index).
#[derive(Debug, Clone, Default)]
pub struct Dest {
    /// One path per source, the best one first (the others in no particular order). A
    /// destination in the RIB always has at least one path.
    pub paths: SmallVec<[Path; 1]>,
}

impl Dest {
    /// The best path.
    pub fn best(&self) -> Option<&Path> {
        self.paths.first()
    }
}

/// How the best path of a prefix changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestChange {
    /// The prefix.
    pub prefix: Ipv4Prefix,
    /// Previous best (source, attributes).
    pub old: Option<(u32, Arc<RouteAttrs>)>,
    /// New best.
    pub new: Option<(u32, Arc<RouteAttrs>)>,
}

/// The Loc-RIB.
///
/// Destinations live in a hash map with a fixed-key hasher (one lookup per prefix on the
/// insert path); everything that reaches output ([`LocRib::iter`], [`LocRib::within`]) is
/// returned in prefix order, sorted at output time. Prefixes inside ranges registered with
/// [`LocRib::watch`] (the aggregates) are also kept in an ordered index so that
/// [`LocRib::within`] is a range query for them.
#[derive(Debug, Clone, Default)]
pub struct LocRib {
    dests: HashMap<Ipv4Prefix, Dest, BuildHasherDefault<FxHasher>>,
    watched: Vec<Ipv4Prefix>,
    ordered: BTreeSet<Ipv4Prefix>,
}

impl LocRib {
    /// An empty RIB.
    pub fn new() -> Self {
        Self::default()
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
        let d = match attrs {
            Some(_) => match self.dests.entry(prefix) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    if !self.watched.is_empty() && self.watched.iter().any(|w| w.contains(&prefix))
                    {
                        self.ordered.insert(prefix);
                    }
                    v.insert(Dest::default())
                }
            },
            None => self.dests.get_mut(&prefix)?,
        };
        let old = d.best().map(|p| (p.src, Arc::clone(&p.attrs)));
        let pos = d.paths.iter().position(|p| p.src == src);
        match (attrs, pos) {
            (Some(a), Some(i)) => {
                if let Some(p) = d.paths.get_mut(i) {
                    if Arc::ptr_eq(&p.attrs, &a) {
                        return None;
                    }
                    p.attrs = a;
                }
            }
            (Some(a), None) => d.paths.push(Path { src, attrs: a }),
            (None, Some(i)) => {
                d.paths.remove(i);
            }
            (None, None) => return None,
        }
        Self::select(d, ctx);
        let new = d.best().map(|p| (p.src, Arc::clone(&p.attrs)));
        if d.paths.is_empty() {
            self.dests.remove(&prefix);
            if !self.watched.is_empty() {
                self.ordered.remove(&prefix);
            }
        }
        let same = match (&old, &new) {
            (Some((s1, a1)), Some((s2, a2))) => s1 == s2 && Arc::ptr_eq(a1, a2),
            (None, None) => true,
            _ => false,
        };
        if same {
            None
        } else {
            Some(BestChange { prefix, old, new })
        }
    }

    /// Reselects the best path of `prefix` (after an IGP cost change); returns the change.
    pub fn reselect(&mut self, prefix: Ipv4Prefix, ctx: &impl BestCtx) -> Option<BestChange> {
        let d = self.dests.get_mut(&prefix)?;
        let old = d.best().map(|p| (p.src, Arc::clone(&p.attrs)));
        Self::select(d, ctx);
        let new = d.best().map(|p| (p.src, Arc::clone(&p.attrs)));
        if old.as_ref().map(|x| x.0) == new.as_ref().map(|x| x.0) {
            None
        } else {
            Some(BestChange { prefix, old, new })
        }
    }

    /// Moves the best path to the front. `compare` is a total order (ties end on the source),
    /// so the choice does not depend on the order of the others.
    fn select(d: &mut Dest, ctx: &impl BestCtx) {
        if d.paths.len() < 2 {
            return;
        }
        let mut best = 0;
        for (i, p) in d.paths.iter().enumerate().skip(1) {
            if let Some(bp) = d.paths.get(best)
                && compare(bp, p, ctx).is_gt()
            {
                best = i;
            }
        }
        d.paths.swap(0, best);
    }

    /// The destination for a prefix.
    pub fn get(&self, prefix: &Ipv4Prefix) -> Option<&Dest> {
        self.dests.get(prefix)
    }

    /// The best path for a prefix.
    pub fn best(&self, prefix: &Ipv4Prefix) -> Option<&Path> {
        self.dests.get(prefix).and_then(Dest::best)
    }

    /// Registers a range (an aggregate) whose contents [`LocRib::within`] must list quickly:
    /// prefixes inside it are also kept in an ordered index.
    pub fn watch(&mut self, range: Ipv4Prefix) {
        if self.watched.contains(&range) {
            return;
        }
        self.watched.push(range);
        self.ordered
            .extend(self.dests.keys().filter(|p| range.contains(p)).copied());
    }

    /// All destinations in prefix order (sorted when called: O(n log n)).
    pub fn iter(&self) -> impl Iterator<Item = (&Ipv4Prefix, &Dest)> {
        let mut v: Vec<(&Ipv4Prefix, &Dest)> = self.dests.iter().collect();
        v.sort_unstable_by_key(|(p, _)| **p);
        v.into_iter()
    }

    /// All destinations in no particular order (cheaper than [`LocRib::iter`]; for lookups and
    /// counts that never reach output).
    pub fn iter_unordered(&self) -> impl Iterator<Item = (&Ipv4Prefix, &Dest)> {
        self.dests.iter()
    }

    /// Destinations inside `agg` (including `agg` itself), in order. A range query when `agg`
    /// lies inside a range registered with [`LocRib::watch`], a full scan otherwise.
    pub fn within(&self, agg: Ipv4Prefix) -> impl Iterator<Item = (&Ipv4Prefix, &Dest)> {
        let v: Vec<(&Ipv4Prefix, &Dest)> = if self.watched.iter().any(|w| w.contains(&agg)) {
            let hi = Ipv4Prefix::new(agg.last(), 32).unwrap_or(agg);
            self.ordered
                .range(agg..=hi)
                .filter(|p| agg.contains(p))
                .filter_map(|p| self.dests.get_key_value(p))
                .collect()
        } else {
            let mut v: Vec<_> = self.dests.iter().filter(|(p, _)| agg.contains(p)).collect();
            v.sort_unstable_by_key(|(p, _)| **p);
            v
        };
        v.into_iter()
    }

    /// Prefixes with a path from `src`, in prefix order.
    pub fn prefixes_from(&self, src: u32) -> Vec<Ipv4Prefix> {
        let mut v: Vec<Ipv4Prefix> = self
            .dests
            .iter()
            .filter(|(_, d)| d.paths.iter().any(|p| p.src == src))
            .map(|(p, _)| *p)
            .collect();
        v.sort_unstable();
        v
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.dests.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.dests.is_empty()
    }
}

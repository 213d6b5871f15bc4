//! `aggregate-address` (RFC 4271 §9.2.2.2): the aggregate exists while at least one more
//! specific route is in the Loc-RIB.

use std::net::Ipv4Addr;

use crate::rib::RouteAttrs;
use crate::wire::attr::{AsSegment, seg};
use crate::wire::{AsPath, Origin};

/// Builds the aggregate's attributes from its contributors' best paths; `None` when there is
/// no contributor.
///
/// ORIGIN is the worst of the contributors' (INCOMPLETE > EGP > IGP). Without `as_set` the
/// AS_PATH is empty and ATOMIC_AGGREGATE is set (as IOS and FRR do); with `as_set` the AS_PATH is
/// an AS_SET of every contributor AS (empty when all are iBGP) and communities are merged.
/// AGGREGATOR carries our AS and router ID. The next hop is "self" (0.0.0.0).
pub fn compute<'a>(
    contributors: impl Iterator<Item = &'a RouteAttrs>,
    as_set: bool,
    local_as: u32,
    router_id: Ipv4Addr,
) -> Option<RouteAttrs> {
    let mut any = false;
    let mut origin = Origin::Igp;
    let mut asns: Vec<u32> = Vec::new();
    let mut communities: Vec<u32> = Vec::new();
    let mut atomic = false;
    for c in contributors {
        any = true;
        origin = origin.max(c.origin);
        atomic |= c.atomic_aggregate;
        if as_set {
            asns.extend(c.as_path.all_asns());
            communities.extend(c.communities.iter().copied());
        }
    }
    if !any {
        return None;
    }
    asns.sort_unstable();
    asns.dedup();
    communities.sort_unstable();
    communities.dedup();
    let as_path = if asns.is_empty() {
        AsPath::default()
    } else {
        AsPath {
            segments: vec![AsSegment { ty: seg::SET, asns }],
        }
    };
    Some(RouteAttrs {
        origin,
        as_path,
        atomic_aggregate: !as_set || atomic,
        aggregator: Some((local_as, router_id)),
        communities,
        ..RouteAttrs::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_attrs() {
        assert!(compute([].iter(), false, 65001, Ipv4Addr::new(1, 1, 1, 1)).is_none());
        let a = RouteAttrs {
            origin: Origin::Incomplete,
            ..Default::default()
        };
        let b = RouteAttrs {
            as_path: AsPath {
                segments: vec![AsSegment {
                    ty: seg::SEQUENCE,
                    asns: vec![65010, 65020],
                }],
            },
            communities: vec![5],
            ..Default::default()
        };
        let s = compute(
            [&a, &b].into_iter(),
            false,
            65001,
            Ipv4Addr::new(1, 1, 1, 1),
        )
        .unwrap();
        assert_eq!(s.origin, Origin::Incomplete);
        assert!(s.atomic_aggregate);
        assert_eq!(s.aggregator, Some((65001, Ipv4Addr::new(1, 1, 1, 1))));
        assert!(s.as_path.segments.is_empty());
        let s = compute([&a, &b].into_iter(), true, 65001, Ipv4Addr::new(1, 1, 1, 1)).unwrap();
        assert!(!s.atomic_aggregate);
        assert_eq!(s.as_path.to_string(), "{65010,65020}");
        assert_eq!(s.communities, vec![5]);
    }
}

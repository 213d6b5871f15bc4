//! Best-path selection (RFC 4271 §9.1.2.2, RFC 4456 §9, with the IOS order).
//!
//! In order: highest LOCAL_PREF; locally originated; shortest AS_PATH; lowest ORIGIN; lowest
//! MED (compared when the neighbor AS is the same, missing = 0); eBGP over iBGP (all iBGP here);
//! lowest IGP cost to the next hop (hook); lowest router ID (ORIGINATOR_ID if present, else the
//! neighbor's BGP identifier); shortest CLUSTER_LIST; lowest neighbor address.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use super::{DEFAULT_LOCAL_PREF, Path, PeerInfo};

/// What the comparison needs from outside the paths.
pub trait BestCtx {
    /// The neighbor a path came from (`None` for local paths).
    fn peer(&self, src: u32) -> Option<PeerInfo>;
    /// IGP cost to reach `next_hop` (the caller's route table); `u32::MAX` when unknown.
    fn igp_cost(&self, next_hop: Ipv4Addr) -> u32;
}

/// Compares two paths: `Less` means `a` is better.
pub fn compare(a: &Path, b: &Path, ctx: &impl BestCtx) -> Ordering {
    let (x, y) = (&*a.attrs, &*b.attrs);
    let lp = |p: &Path| p.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF);
    lp(b)
        .cmp(&lp(a))
        .then_with(|| b.is_local().cmp(&a.is_local()))
        .then_with(|| x.as_path.path_len().cmp(&y.as_path.path_len()))
        .then_with(|| x.origin.cmp(&y.origin))
        .then_with(|| {
            if x.as_path.first_as() == y.as_path.first_as() {
                x.med.unwrap_or(0).cmp(&y.med.unwrap_or(0))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| {
            if a.is_local() || b.is_local() {
                Ordering::Equal
            } else {
                ctx.igp_cost(x.next_hop).cmp(&ctx.igp_cost(y.next_hop))
            }
        })
        .then_with(|| {
            let rid = |p: &Path| {
                p.attrs
                    .originator_id
                    .or_else(|| ctx.peer(p.src).map(|i| i.bgp_id))
                    .unwrap_or(Ipv4Addr::UNSPECIFIED)
            };
            rid(a).cmp(&rid(b))
        })
        .then_with(|| x.cluster_list.len().cmp(&y.cluster_list.len()))
        .then_with(|| {
            let addr = |p: &Path| {
                ctx.peer(p.src)
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |i| i.addr)
            };
            addr(a).cmp(&addr(b))
        })
        .then_with(|| a.src.cmp(&b.src))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::rib::RouteAttrs;
    use crate::wire::{AsPath, Origin, attr::AsSegment};

    struct Ctx;
    impl BestCtx for Ctx {
        fn peer(&self, src: u32) -> Option<PeerInfo> {
            Some(PeerInfo {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, u8::try_from(src).unwrap())),
                bgp_id: Ipv4Addr::new(9, 9, 9, u8::try_from(100 - src).unwrap()),
                rr_client: false,
            })
        }
        fn igp_cost(&self, nh: Ipv4Addr) -> u32 {
            u32::from(nh.octets()[3])
        }
    }

    fn path(src: u32, f: impl FnOnce(&mut RouteAttrs)) -> Path {
        let mut a = RouteAttrs::default();
        f(&mut a);
        Path {
            src,
            attrs: Arc::new(a),
        }
    }

    #[test]
    fn decision_steps_in_order() {
        let c = Ctx;
        let better = |a: &Path, b: &Path| {
            compare(a, b, &c) == Ordering::Less && compare(b, a, &c) == Ordering::Greater
        };
        assert!(better(
            &path(5, |a| a.local_pref = Some(200)),
            &path(3, |_| {})
        ));
        assert!(better(&path(0, |_| {}), &path(3, |_| {})));
        let seq = |n: usize| AsPath {
            segments: vec![AsSegment {
                ty: 2,
                asns: vec![1; n],
            }],
        };
        assert!(better(
            &path(5, |a| a.as_path = seq(1)),
            &path(3, |a| a.as_path = seq(2))
        ));
        assert!(better(
            &path(5, |a| a.origin = Origin::Igp),
            &path(3, |a| a.origin = Origin::Incomplete)
        ));
        assert!(better(
            &path(5, |a| a.med = Some(5)),
            &path(3, |a| a.med = Some(10))
        ));
        assert!(better(
            &path(3, |a| a.next_hop = Ipv4Addr::new(1, 1, 1, 1)),
            &path(5, |a| a.next_hop = Ipv4Addr::new(1, 1, 1, 2))
        ));
        // router id: src 5 has the lower BGP id (95 < 97)
        assert!(better(&path(5, |_| {}), &path(3, |_| {})));
        // ORIGINATOR_ID replaces the BGP id
        assert!(better(
            &path(3, |a| a.originator_id = Some(Ipv4Addr::new(1, 0, 0, 0))),
            &path(5, |_| {})
        ));
        let o = Some(Ipv4Addr::new(1, 0, 0, 0));
        assert!(better(
            &path(5, |a| a.originator_id = o),
            &path(3, |a| {
                a.originator_id = o;
                a.cluster_list = vec![Ipv4Addr::new(1, 0, 0, 0)]
            })
        ));
        // neighbor address last
        assert!(better(
            &path(3, |a| a.originator_id = o),
            &path(5, |a| a.originator_id = o)
        ));
    }
}

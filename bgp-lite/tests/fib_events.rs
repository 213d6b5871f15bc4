//! Best-path (FIB) events are never lost: they are kept as one pending change per prefix and
//! produced lazily by `poll_event`, so a caller that does not drain during a full-table burst
//! still ends with a FIB equal to the Loc-RIB. Public API only.

mod two_peers;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bgp_lite::rib::SRC_FIRST_PEER;
use bgp_lite::wire::Ipv4Prefix;
use bgp_lite::{ConnId, Event, Speaker};
use two_peers::{A, Change, epoch, prefix};

const NH_A: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);
const NH_B: Ipv4Addr = Ipv4Addr::new(10, 8, 8, 8);

fn setup(now: Instant) -> Speaker {
    two_peers::setup(now, None)
}

/// UPDATEs announcing (with `nh` and LOCAL_PREF `lp`) or withdrawing `ids`, 100 per UPDATE.
fn updates(ids: &[u32], announce: Option<(Ipv4Addr, u32)>) -> Vec<u8> {
    let change = match announce {
        None => Change::Withdraw,
        Some((next_hop, lp)) => Change::Announce {
            next_hop,
            local_pref: Some(lp),
        },
    };
    two_peers::updates(ids.iter().copied(), change, 100)
}

/// Feeds bytes to a connection in 64 KiB chunks, without polling anything.
fn feed(sp: &mut Speaker, now: Instant, conn: ConnId, stream: &[u8]) {
    for chunk in stream.chunks(65536) {
        sp.handle_stream_data(now, conn, chunk).unwrap();
    }
}

/// Applies every event to `fib`; returns the events that were not `BestPath`, in order, and
/// the number of `BestPath` events.
fn drain(sp: &mut Speaker, fib: &mut BTreeMap<Ipv4Prefix, Ipv4Addr>) -> (Vec<Event>, usize) {
    let (mut other, mut best) = (Vec::new(), 0);
    while let Some(e) = sp.poll_event() {
        match e {
            Event::BestPath { prefix, next_hop } => {
                best += 1;
                match next_hop {
                    Some(nh) => fib.insert(prefix, nh),
                    None => fib.remove(&prefix),
                };
            }
            e => {
                assert_eq!(
                    best, 0,
                    "a non-FIB event after a BestPath in one drain: {e:?}"
                );
                other.push(e);
            }
        }
    }
    assert_eq!(sp.pending_best_changes(), 0);
    (other, best)
}

/// The FIB the Loc-RIB implies: learned best paths and their next hops.
fn rib_fib(sp: &Speaker) -> BTreeMap<Ipv4Prefix, Ipv4Addr> {
    sp.loc_rib()
        .iter()
        .filter_map(|(p, d)| d.best().map(|b| (p, b)))
        .filter(|(_, b)| b.src >= SRC_FIRST_PEER)
        .map(|(p, b)| (p, b.attrs.next_hop))
        .collect()
}

#[test]
fn burst_of_200k_without_draining_loses_no_fib_change() {
    const N: u32 = 200_000;
    let now = epoch();
    let mut sp = setup(now);
    let ids: Vec<u32> = (0..N).collect();
    feed(&mut sp, now, ConnId(1), &updates(&ids, Some((NH_A, 100))));
    assert_eq!(sp.loc_rib().len(), N as usize);
    assert_eq!(
        sp.pending_best_changes(),
        N as usize,
        "one pending change per prefix"
    );
    // B announces a better path for every 3rd prefix, and the same path for every 5th: still
    // one pending change per prefix.
    let better: Vec<u32> = (0..N).step_by(3).collect();
    let same: Vec<u32> = (0..N).step_by(5).collect();
    feed(
        &mut sp,
        now,
        ConnId(2),
        &updates(&better, Some((NH_B, 200))),
    );
    feed(&mut sp, now, ConnId(2), &updates(&same, Some((NH_A, 50))));
    let pending = sp.pending_best_changes();
    assert!(
        pending <= 2 * N as usize + 65536,
        "bounded by the changed prefixes: {pending}"
    );
    let mut fib = BTreeMap::new();
    let (other, best) = drain(&mut sp, &mut fib);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(best, N as usize, "exactly one BestPath per prefix");
    assert_eq!(sp.stats().events_dropped, 0);
    let want = rib_fib(&sp);
    assert_eq!(want.len(), N as usize);
    assert_eq!(fib, want);
    assert_eq!(fib.get(&prefix(3)), Some(&NH_B));
    assert_eq!(fib.get(&prefix(5)), Some(&NH_A));
}

#[test]
fn announce_then_withdraw_before_draining_nets_out() {
    let now = epoch();
    let mut sp = setup(now);
    let seen: Vec<u32> = (0..1000).collect();
    let mut fib = BTreeMap::new();
    feed(&mut sp, now, ConnId(1), &updates(&seen, Some((NH_A, 100))));
    assert_eq!(drain(&mut sp, &mut fib).1, 1000);
    // Not drained: new prefixes announced then withdrawn; seen prefixes withdrawn then
    // announced again with the same next hop; seen prefixes moved to B and back.
    let fresh: Vec<u32> = (1000..3000).collect();
    feed(&mut sp, now, ConnId(1), &updates(&fresh, Some((NH_A, 100))));
    feed(&mut sp, now, ConnId(1), &updates(&fresh, None));
    feed(&mut sp, now, ConnId(1), &updates(&seen[..500], None));
    feed(
        &mut sp,
        now,
        ConnId(1),
        &updates(&seen[..500], Some((NH_A, 100))),
    );
    feed(
        &mut sp,
        now,
        ConnId(2),
        &updates(&seen[500..], Some((NH_B, 200))),
    );
    feed(&mut sp, now, ConnId(2), &updates(&seen[500..], None));
    assert!(sp.pending_best_changes() <= 6000);
    let before = fib.clone();
    assert_eq!(drain(&mut sp, &mut fib).1, 0, "no net change, no event");
    assert_eq!(fib, before);
    assert_eq!(fib, rib_fib(&sp));
    // Partly drained in between: the rest still converges.
    feed(&mut sp, now, ConnId(2), &updates(&seen, Some((NH_B, 200))));
    for _ in 0..300 {
        if let Some(Event::BestPath { prefix, next_hop }) = sp.poll_event() {
            assert_eq!(next_hop, Some(NH_B));
            fib.insert(prefix, NH_B);
        }
    }
    feed(&mut sp, now, ConnId(2), &updates(&seen[..600], None));
    drain(&mut sp, &mut fib);
    assert_eq!(fib, rib_fib(&sp));
    assert_eq!(fib.values().filter(|nh| **nh == NH_B).count(), 400);
}

#[test]
fn session_drop_with_undrained_changes() {
    let now = epoch();
    let mut sp = setup(now);
    let mut fib = BTreeMap::new();
    let drained: Vec<u32> = (0..5000).collect();
    let undrained: Vec<u32> = (5000..50_000).collect();
    feed(
        &mut sp,
        now,
        ConnId(1),
        &updates(&drained, Some((NH_A, 100))),
    );
    drain(&mut sp, &mut fib);
    assert_eq!(fib.len(), 5000);
    // B backs up part of it; more from A, undrained; then A's session drops.
    let backup: Vec<u32> = (0..1000).chain(40_000..41_000).collect();
    feed(&mut sp, now, ConnId(2), &updates(&backup, Some((NH_B, 50))));
    feed(
        &mut sp,
        now,
        ConnId(1),
        &updates(&undrained, Some((NH_A, 100))),
    );
    sp.handle_closed(now, ConnId(1));
    let (other, best) = drain(&mut sp, &mut fib);
    assert!(
        other
            .iter()
            .any(|e| matches!(e, Event::NeighborDown { peer, .. } if *peer == IpAddr::V4(A))),
        "{other:?}"
    );
    let want = rib_fib(&sp);
    assert_eq!(fib, want);
    assert_eq!(fib.len(), 2000, "only B's routes remain");
    assert!(fib.values().all(|nh| *nh == NH_B));
    // 4,000 removals of seen routes, 1,000 moved to B, 1,000 new from B; the 44,000 that
    // came and went undrained produce nothing.
    assert_eq!(best, 6000);
    assert_eq!(sp.stats().events_dropped, 0);
}

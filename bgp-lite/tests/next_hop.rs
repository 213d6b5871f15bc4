//! RFC 4271 §9.1.2.1 with `next_hop_check`: a route whose NEXT_HOP the caller's route table
//! does not resolve stays out of the Loc-RIB (no FIB event, not reflected), enters it when a new
//! table resolves the next hop, and leaves it (withdrawn from the reflection client) when a
//! later table does not. Public API only.

mod two_peers;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::Range;

use bgp_lite::wire::{DecodeCtx, Ipv4Prefix, Message, Update};
use bgp_lite::{ConnId, Event, Framer, Speaker};
use two_peers::{Change, bytes, epoch, prefix, route};

const NH_OK: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);
const NH_LATER: Ipv4Addr = Ipv4Addr::new(10, 8, 8, 8);

fn setup(now: std::time::Instant) -> Speaker {
    two_peers::setup(now, Some(vec![route("10.9.0.0/16")]))
}

/// One UPDATE announcing `range` with next hop `nh`.
fn announce(range: Range<u32>, nh: Ipv4Addr) -> Vec<u8> {
    let change = Change::Announce {
        next_hop: nh,
        local_pref: None,
    };
    two_peers::updates(range, change, usize::MAX)
}

/// (announced, withdrawn) sent to B, and the FIB events, after draining.
fn drain(sp: &mut Speaker) -> (BTreeSet<Ipv4Prefix>, BTreeSet<Ipv4Prefix>, Vec<Event>) {
    let mut f = Framer::new(DecodeCtx::default());
    while let Some(t) = sp.poll_transmit() {
        assert_eq!(t.conn, ConnId(2));
        f.push(&t.bytes);
    }
    let (mut ann, mut wd) = (BTreeSet::new(), BTreeSet::new());
    while let Some(m) = f.next().unwrap() {
        if let Message::Update(u) = m {
            ann.extend(u.nlri);
            wd.extend(u.withdrawn);
        }
    }
    let mut ev = Vec::new();
    while let Some(e) = sp.poll_event() {
        if matches!(e, Event::BestPath { .. }) {
            ev.push(e);
        }
    }
    (ann, wd, ev)
}

fn set(r: Range<u32>) -> BTreeSet<Ipv4Prefix> {
    r.map(prefix).collect()
}

#[test]
fn unresolvable_next_hops_are_excluded_and_reevaluated() {
    let now = epoch();
    let mut sp = setup(now);
    let mut input = announce(0..10, NH_OK);
    input.extend(announce(10..20, NH_LATER));
    sp.handle_stream_data(now, ConnId(1), &input).unwrap();
    let (ann, wd, ev) = drain(&mut sp);
    assert_eq!(
        ann,
        set(0..10),
        "only routes with a resolvable next hop are reflected"
    );
    assert!(wd.is_empty());
    assert_eq!(ev.len(), 10);
    assert_eq!(sp.loc_rib().len(), 10);
    assert!(sp.loc_rib().best(&prefix(15)).is_none());

    // the IGP learns 10.8.0.0/16: the held routes enter the decision
    sp.set_route_table(now, [route("10.9.0.0/16"), route("10.8.0.0/16")]);
    let (ann, wd, ev) = drain(&mut sp);
    assert_eq!(ann, set(10..20));
    assert!(wd.is_empty());
    assert_eq!(ev.len(), 10);
    assert_eq!(
        sp.loc_rib().best(&prefix(15)).map(|b| b.attrs.next_hop),
        Some(NH_LATER)
    );

    // the IGP loses 10.9.0.0/16: those routes leave, the client gets withdrawals
    sp.set_route_table(now, [route("10.8.0.0/16")]);
    let (ann, wd, ev) = drain(&mut sp);
    assert!(ann.is_empty());
    assert_eq!(wd, set(0..10));
    assert!(ev.contains(&Event::BestPath {
        prefix: prefix(3),
        next_hop: None
    }));
    assert_eq!(sp.loc_rib().len(), 10);

    // a withdrawal of a held route forgets it: it does not come back with the next table
    let w = Update {
        withdrawn: vec![prefix(2)],
        ..Default::default()
    };
    sp.handle_stream_data(now, ConnId(1), &bytes(&Message::Update(w)))
        .unwrap();
    sp.set_route_table(now, [route("10.8.0.0/16"), route("10.9.0.0/16")]);
    let (ann, _, _) = drain(&mut sp);
    let mut want = set(0..10);
    want.remove(&prefix(2));
    assert_eq!(ann, want);
    assert!(sp.loc_rib().best(&prefix(2)).is_none());
}

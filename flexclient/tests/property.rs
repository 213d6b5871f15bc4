//! Property test: random configurations and random event sequences (sessions up and down,
//! stray reports, hubs dying and coming back, tracks and interfaces flapping, commands, time
//! passing). Checked throughout: no panic; a block never holds more than one session after the
//! caller has applied its actions, and more than one only during the make-before-break overlap
//! of `peer reactivate`, which always ends with exactly one; the engine's view matches the IKE
//! layer's. Checked once the world is stable: the block is connected to a possible peer, and to
//! the best possible peer when `peer reactivate` is on.

mod common;

use std::net::Ipv4Addr;

use common::{HUB1, HUB2, HUB3, Net};
use flexclient::{
    ClientConfig, ConnectMode, DownReason, PeerConfig, SessionEvent, SourceConfig, State, TrackRef,
    TrackWant,
};
use proptest::prelude::*;

const HUBS: [Ipv4Addr; 3] = [HUB1, HUB2, HUB3];
const IFACES: [&str; 2] = ["Ethernet0/0", "Cellular0/0"];

#[derive(Debug, Clone)]
enum Op {
    Advance(u32),
    KillNow(usize),
    SilentDeath(usize),
    Revive(usize),
    Refuse(usize, bool),
    Track(u16, bool),
    Interface(usize, bool),
    Connect,
    Disconnect,
    StrayUp(usize),
    SpuriousDown(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..120_000).prop_map(Op::Advance),
        1 => (0usize..3).prop_map(Op::KillNow),
        1 => (0usize..3).prop_map(Op::SilentDeath),
        2 => (0usize..3).prop_map(Op::Revive),
        1 => ((0usize..3), any::<bool>()).prop_map(|(h, r)| Op::Refuse(h, r)),
        3 => ((1u16..5), any::<bool>()).prop_map(|(t, u)| Op::Track(t, u)),
        1 => ((0usize..2), any::<bool>()).prop_map(|(i, u)| Op::Interface(i, u)),
        1 => Just(Op::Connect),
        1 => Just(Op::Disconnect),
        1 => (0usize..3).prop_map(Op::StrayUp),
        1 => (0usize..3).prop_map(Op::SpuriousDown),
    ]
}

#[derive(Debug, Clone)]
struct Shape {
    peers: Vec<(usize, Option<(u16, bool)>)>,
    reactivate: bool,
    mode: u8,
    mode_track: (u16, bool),
    sources: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3),
        proptest::collection::vec(proptest::option::of(((1u16..5), any::<bool>())), 3),
        any::<bool>(),
        0u8..3,
        ((1u16..5), any::<bool>()),
        any::<bool>(),
    )
        .prop_map(
            |(hubs, tracks, reactivate, mode, mode_track, sources)| Shape {
                peers: hubs.into_iter().zip(tracks).collect(),
                reactivate,
                mode,
                mode_track,
                sources,
            },
        )
}

fn want(up: bool) -> TrackWant {
    if up { TrackWant::Up } else { TrackWant::Down }
}

fn build(s: &Shape) -> ClientConfig {
    let mut b = ClientConfig::builder("P")
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .peer_reactivate(s.reactivate);
    for (seq, (hub, track)) in s.peers.iter().enumerate() {
        let mut p = PeerConfig::address(u8::try_from(seq + 1).unwrap(), HUBS[*hub]).unwrap();
        if let Some((t, up)) = track {
            p = p.track(*t, want(*up));
        }
        b = b.peer(p);
    }
    b = b.connect(match s.mode {
        0 => ConnectMode::Auto,
        1 => ConnectMode::Manual,
        _ => ConnectMode::Track(TrackRef {
            id: s.mode_track.0,
            want: want(s.mode_track.1),
        }),
    });
    if s.sources {
        b = b
            .source(SourceConfig::new(1, IFACES[0], 1).unwrap())
            .source(SourceConfig::new(2, IFACES[1], 2).unwrap());
    }
    b.build().unwrap()
}

fn check_consistent(net: &Net, id: flexclient::ClientId) {
    let c = net.set.client(id).unwrap();
    let sessions = net.sessions_of(id);
    match c.state() {
        State::Active => {
            let active = c.active_peer().unwrap();
            assert!(
                sessions.contains(&active),
                "engine on {active}, IKE has {sessions:?}"
            );
        }
        _ => assert!(c.active_peer().is_none()),
    }
    assert!(sessions.len() <= 1, "{sessions:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences(s in shape(), ops in proptest::collection::vec(op(), 0..60)) {
        let cfg = build(&s);
        let mut net = Net::new();
        let id = net.set.add(net.now, cfg);
        net.run_for(0.5);
        for o in ops {
            match o {
                Op::Advance(ms) => net.run_for(f64::from(ms) / 1000.0),
                Op::KillNow(h) => net.hub_dies_now(HUBS[h]),
                Op::SilentDeath(h) => net.hub(HUBS[h]).alive = false,
                Op::Revive(h) => net.hub(HUBS[h]).alive = true,
                Op::Refuse(h, r) => net.hub(HUBS[h]).refuse = r,
                Op::Track(t, up) => net.track(t, up),
                Op::Interface(i, up) => net.interface(IFACES[i], up),
                Op::Connect => {
                    let r = net.set.connect(net.now, id);
                    prop_assert_eq!(r.is_ok(), s.mode == 1);
                    net.drain();
                }
                Op::Disconnect => {
                    let _ = net.set.disconnect(net.now, id);
                    net.drain();
                }
                Op::StrayUp(h) => {
                    let peer = HUBS[h];
                    let c = net.set.client(id).unwrap();
                    if c.pending_peer() != Some(peer) && c.active_peer() != Some(peer) {
                        net.sessions.insert((id, peer));
                        let ev = SessionEvent::Up {
                            local: common::SPOKE,
                            peer_port: 4500,
                            peer_id: "stray".into(),
                            assigned_v4: None,
                        };
                        net.set.handle_session(net.now, id, peer, ev).unwrap();
                        net.drain();
                        prop_assert!(!net.sessions.contains(&(id, peer)), "stray kept");
                    }
                }
                Op::SpuriousDown(h) => {
                    let peer = HUBS[h];
                    net.sessions.remove(&(id, peer));
                    let ev = SessionEvent::Down { reason: DownReason::Other };
                    net.set.handle_session(net.now, id, peer, ev).unwrap();
                    net.drain();
                }
            }
            check_consistent(&net, id);
        }

        // Stabilize the world: every hub alive, every track up, every interface up.
        for h in HUBS {
            net.hub(h).alive = true;
            net.hub(h).refuse = false;
        }
        for t in 1..5 {
            net.track(t, true);
        }
        for i in IFACES {
            net.interface(i, true);
        }
        if s.mode == 1 {
            net.set.connect(net.now, id).unwrap();
        }
        net.run_for(2000.0);
        check_consistent(&net, id);

        let allowed = match s.mode {
            0 | 1 => true,
            _ => s.mode_track.1,
        };
        // With every track up, a peer is possible unless it wants its track down.
        let possible: Vec<Ipv4Addr> = s
            .peers
            .iter()
            .filter(|(_, t)| t.is_none_or(|(_, up)| up))
            .map(|(h, _)| HUBS[*h])
            .collect();
        let c = net.set.client(id).unwrap();
        if !allowed {
            prop_assert_eq!(c.state(), State::Inactive);
            prop_assert!(net.sessions_of(id).is_empty());
        } else if possible.is_empty() {
            prop_assert_eq!(c.state(), State::Waiting);
            prop_assert!(net.sessions_of(id).is_empty());
        } else {
            prop_assert_eq!(c.state(), State::Active);
            let active = c.active_peer().unwrap();
            prop_assert!(possible.contains(&active));
            if s.reactivate {
                prop_assert_eq!(active, possible[0], "not on the best possible peer");
            }
            prop_assert_eq!(net.sessions_of(id), vec![active]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Two blocks of one backup group under random events: no peer is ever used (attempted or
    /// established) by both.
    #[test]
    fn backup_group_is_exclusive(
        a in shape(),
        b in shape(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut net = Net::new();
        let grouped = |s: &Shape, name: &str| {
            let mut s = s.clone();
            s.mode = 0;
            let cfg = build(&s);
            let mut bld = ClientConfig::builder(name)
                .client_connect("Tunnel1")
                .tunnel_source("Ethernet0/0")
                .peer_reactivate(cfg.peer_reactivate())
                .backup_group(1);
            for p in cfg.peers() {
                bld = bld.peer(p.clone());
            }
            bld.build().unwrap()
        };
        let ia = net.set.add(net.now, grouped(&a, "A"));
        let ib = net.set.add(net.now, grouped(&b, "B"));
        for o in ops {
            match o {
                Op::Advance(ms) => net.run_for(f64::from(ms) / 1000.0),
                Op::KillNow(h) => net.hub_dies_now(HUBS[h]),
                Op::SilentDeath(h) => net.hub(HUBS[h]).alive = false,
                Op::Revive(h) => net.hub(HUBS[h]).alive = true,
                Op::Refuse(h, r) => net.hub(HUBS[h]).refuse = r,
                Op::Track(t, up) => net.track(t, up),
                Op::Interface(i, up) => net.interface(IFACES[i], up),
                Op::Connect | Op::Disconnect | Op::StrayUp(_) | Op::SpuriousDown(_) => {
                    net.run_for(1.0);
                }
            }
            let ca = net.set.client(ia).unwrap();
            let cb = net.set.client(ib).unwrap();
            let used_a: Vec<Ipv4Addr> =
                [ca.active_peer(), ca.pending_peer()].into_iter().flatten().collect();
            let used_b: Vec<Ipv4Addr> =
                [cb.active_peer(), cb.pending_peer()].into_iter().flatten().collect();
            for p in &used_a {
                prop_assert!(!used_b.contains(p), "{} used by both blocks", p);
            }
            for (x, y) in [(ia, ib), (ib, ia)] {
                for p in net.sessions_of(x) {
                    prop_assert!(!net.sessions_of(y).contains(&p), "IKE sessions share {}", p);
                }
            }
        }
    }
}

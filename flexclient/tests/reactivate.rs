//! `peer reactivate`: back to the more preferred peer once it is possible again, make before
//! break, with a hold-down that grows with the peer's failures so it does not flap.

mod common;

use std::time::Duration;

use common::{HUB1, HUB2, Net};
use flexclient::{ClientConfig, PeerConfig, State, TrackWant};

fn tracked(reactivate: bool) -> ClientConfig {
    ClientConfig::builder("Flex_Client")
        .peer(
            PeerConfig::address(1, HUB1)
                .unwrap()
                .track(1, TrackWant::Up),
        )
        .peer(PeerConfig::address(2, HUB2).unwrap())
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .peer_reactivate(reactivate)
        .build()
        .unwrap()
}

#[test]
fn returns_to_peer_1_make_before_break() {
    let mut net = Net::new();
    let id = net.set.add(net.now, tracked(true));
    net.track(1, true);
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB1));
    net.run_for(100.0);
    net.track(1, false);
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB2));

    let back = net.elapsed();
    net.track(1, true);
    // Hold-down: 30 s doubled once for hub 1's one failure = 60 s; not before.
    net.run_for(59.0);
    assert_eq!(net.active(id), Some(HUB2));
    net.run_for(2.0);
    assert_eq!(net.active(id), Some(HUB1));
    assert_eq!(net.sessions_of(id), [HUB1]);
    assert_eq!(net.max_sessions, 2, "the overlap of make before break");
    // The line stayed up during the switch; the new session is logged before the old goes.
    let log = net.log_since(id, back);
    assert!(!log.iter().any(|l| l.starts_with("%LINEPROTO")), "{log:#?}");
    assert_eq!(log.len(), 4);
    assert!(log[0].contains("is UP.  Peer 172.25.1.1:500"));
    assert!(log[1].starts_with("%FLEXVPN-6-FLEXVPN_CONNECTION_UP"));
    assert!(log[2].contains("is DOWN.  Peer 172.25.2.1:500"));
    assert!(log[3].starts_with("%FLEXVPN-6-FLEXVPN_CONNECTION_DOWN"));
    assert_eq!(net.set.client(id).unwrap().stats().reactivations, 1);
}

#[test]
fn without_reactivate_it_stays_on_the_backup() {
    let mut net = Net::new();
    let id = net.set.add(net.now, tracked(false));
    net.track(1, true);
    net.run_for(1.0);
    net.track(1, false);
    net.run_for(1.0);
    net.track(1, true);
    net.run_for(3600.0);
    assert_eq!(net.active(id), Some(HUB2));
    assert_eq!(net.connects_to(id, HUB1).len(), 1);
}

#[test]
fn does_not_flap_when_peer_1_recovers_and_dies_repeatedly() {
    let mut net = Net::new();
    let id = net.set.add(net.now, tracked(true));
    net.track(1, true);
    net.run_for(1.0);
    // Hub 1 flaps for two hours: down 45 s, up 100 s. A fixed 30 s hold-down would chase it
    // every cycle (50 times); the hold-down doubles with each loss of hub 1 (60, 120 s...), so
    // the block soon stops following it.
    for _ in 0..50 {
        net.track(1, false);
        net.run_for(45.0);
        net.track(1, true);
        net.run_for(100.0);
    }
    let switches_to_hub1 = net.connects_to(id, HUB1).len();
    assert!(
        (2..=3).contains(&switches_to_hub1),
        "flapped {switches_to_hub1} times back to hub 1"
    );
    // Then hub 1 is stable again: the block returns, within the capped hold-down.
    let stable = net.elapsed();
    net.run_for(301.0);
    assert_eq!(net.active(id), Some(HUB1));
    let back = *net.connects_to(id, HUB1).last().unwrap();
    assert!(back - stable <= Duration::from_secs(300));
    assert_eq!(net.state(id), State::Active);
}

#[test]
fn untracked_peer_1_is_probed_at_growing_intervals() {
    let mut net = Net::new();
    let cfg = common::two_hubs("Flex_Client")
        .peer_reactivate(true)
        .build()
        .unwrap();
    let id = net.set.add(net.now, cfg);
    net.run_for(1.0);
    net.hub_dies_now(HUB1);
    net.hub(HUB1).refuse = true;
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB2));
    net.run_for(3600.0);
    // Probes of the dead hub 1 while on hub 2: spaced ever wider, never more often than the
    // first hold-down, and the session with hub 2 was never disturbed.
    let probes = net.connects_to(id, HUB1);
    let gaps: Vec<Duration> = probes.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_secs(30)),
        "{gaps:?}"
    );
    assert!(probes.len() <= 16, "{} probes in an hour", probes.len());
    assert_eq!(net.active(id), Some(HUB2));
    assert_eq!(net.connects_to(id, HUB2).len(), 1);
    // Hub 1 comes back: the next probe succeeds and the block moves back.
    net.hub(HUB1).alive = true;
    net.run_for(301.0);
    assert_eq!(net.active(id), Some(HUB1));
}

//! Object tracking: a peer's track object, `source N IF track T`, and the source interface.
//! Failover happens at the same instant (within one tick) as the trigger.

mod common;

use common::{HUB1, HUB2, Net};
use flexclient::{Action, ClientConfig, PeerConfig, SourceConfig, State, TrackWant};

#[test]
fn peer_track_down_fails_over_in_the_same_tick() {
    let mut net = Net::new();
    let cfg = ClientConfig::builder("Flex_Client")
        .peer(
            PeerConfig::address(1, HUB1)
                .unwrap()
                .track(1, TrackWant::Up),
        )
        .peer(
            PeerConfig::address(2, HUB2)
                .unwrap()
                .track(2, TrackWant::Up),
        )
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .build()
        .unwrap();
    let id = net.set.add(net.now, cfg);
    net.track(1, true);
    net.track(2, true);
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB1));

    net.run_for(50.0);
    let t = net.elapsed();
    net.track(1, false);
    // Same instant: disconnect hub 1, line down, connect hub 2.
    let now_actions: Vec<&Action> = net
        .actions
        .iter()
        .filter(|(at, _, _)| *at == t)
        .map(|(_, _, a)| a)
        .collect();
    assert_eq!(
        now_actions,
        [
            &Action::Disconnect { peer: HUB1 },
            &Action::LineDown,
            &Action::Connect {
                peer: HUB2,
                source: "Ethernet0/0".into()
            },
        ]
    );
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB2));
    assert_eq!(net.sessions_of(id), [HUB2]);
}

#[test]
fn untracked_tracks_unknown_are_down_so_no_possible_peer_waits() {
    let mut net = Net::new();
    let cfg = ClientConfig::builder("Flex_Client")
        .peer(
            PeerConfig::address(1, HUB1)
                .unwrap()
                .track(1, TrackWant::Up),
        )
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .build()
        .unwrap();
    let id = net.set.add(net.now, cfg);
    net.run_for(100.0);
    assert_eq!(net.state(id), State::Waiting);
    assert!(net.connects_to(id, HUB1).is_empty());
    net.track(1, true);
    assert_eq!(net.connects_to(id, HUB1), [net.elapsed()]);
}

#[test]
fn track_down_wanted_peer_is_a_dial_backup() {
    // peer 2 is possible only while track 9 (the primary path) is down.
    let mut net = Net::new();
    let cfg = ClientConfig::builder("Flex_Client")
        .peer(
            PeerConfig::address(1, HUB1)
                .unwrap()
                .track(1, TrackWant::Up),
        )
        .peer(
            PeerConfig::address(2, HUB2)
                .unwrap()
                .track(9, TrackWant::Down),
        )
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .build()
        .unwrap();
    let id = net.set.add(net.now, cfg);
    net.track(9, true);
    net.track(1, true);
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB1));
    net.track(1, false); // hub 1 lost, but track 9 still up: hub 2 is not possible
    net.run_for(1.0);
    assert_eq!(net.state(id), State::Waiting);
    net.track(9, false);
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB2));
}

#[test]
fn source_interface_down_moves_to_the_next_source_in_the_same_tick() {
    let mut net = Net::new();
    let cfg = ClientConfig::builder("Flex_Client")
        .peer(PeerConfig::address(1, HUB1).unwrap())
        .peer(PeerConfig::address(2, HUB2).unwrap())
        .source(SourceConfig::new(1, "Ethernet0/0", 10).unwrap())
        .source(SourceConfig::new(2, "Cellular0/0", 11).unwrap())
        .client_connect("Tunnel1")
        .build()
        .unwrap();
    let id = net.set.add(net.now, cfg);
    net.track(10, true);
    net.track(11, true);
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB1));
    assert!(
        net.set
            .client(id)
            .unwrap()
            .show()
            .contains("Source : Ethernet0/0\n")
    );

    let t = net.elapsed();
    net.interface("Ethernet0/0", false);
    let last = net.actions.last().unwrap();
    assert_eq!(last.0, t);
    assert_eq!(
        last.2,
        Action::Connect {
            peer: HUB1,
            source: "Cellular0/0".into()
        },
        "the peer is not at fault: same peer, next source"
    );
    net.run_for(1.0);
    assert!(
        net.set
            .client(id)
            .unwrap()
            .show()
            .contains("Source : Cellular0/0\n")
    );

    // The source's track object going down is the same trigger.
    net.track(11, false);
    net.run_for(1.0);
    // Ethernet0/0 is still down and Cellular0/0's track is down: no source at all.
    assert_eq!(net.state(id), State::Waiting);
    assert!(net.sessions_of(id).is_empty());
    net.interface("Ethernet0/0", true);
    net.run_for(1.0);
    assert_eq!(net.state(id), State::Active);
    assert!(
        net.set
            .client(id)
            .unwrap()
            .show()
            .contains("Source : Ethernet0/0\n")
    );
}

#[test]
fn tunnel_source_down_waits_and_recovers() {
    let mut net = Net::new();
    let id = net
        .set
        .add(net.now, common::two_hubs("Flex_Client").build().unwrap());
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB1));
    net.interface("Ethernet0/0", false);
    assert_eq!(net.state(id), State::Waiting);
    assert!(net.sessions_of(id).is_empty());
    assert_eq!(net.line_up.get(&id), Some(&false));
    net.run_for(30.0);
    net.interface("Ethernet0/0", true);
    net.run_for(1.0);
    assert_eq!(net.state(id), State::Active);
    assert_eq!(net.line_up.get(&id), Some(&true));
}

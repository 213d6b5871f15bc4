//! `peer N fqdn NAME [dynamic]`: resolution asked of the caller.

mod common;

use common::{HUB1, HUB2, Net};
use flexclient::{Action, ClientConfig, PeerConfig, State};

fn cfg(dynamic: bool) -> ClientConfig {
    ClientConfig::builder("Flex_Client")
        .peer(PeerConfig::fqdn(1, "Hub1.Example.NET", dynamic).unwrap())
        .peer(PeerConfig::address(2, HUB2).unwrap())
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .build()
        .unwrap()
}

fn resolves(net: &Net) -> usize {
    net.actions
        .iter()
        .filter(|(_, _, a)| matches!(a, Action::Resolve { name } if name == "hub1.example.net"))
        .count()
}

#[test]
fn name_is_resolved_then_connected() {
    let mut net = Net::new();
    net.resolver.insert("hub1.example.net".into(), HUB1);
    let id = net.set.add(net.now, cfg(false));
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB1));
    assert_eq!(resolves(&net), 1);
    // Not dynamic: the address is kept for the next attempt.
    net.hub_dies_now(HUB1);
    net.hub(HUB2).alive = false;
    net.hub(HUB2).refuse = true;
    net.hub(HUB1).alive = true;
    net.run_for(60.0);
    assert_eq!(net.active(id), Some(HUB1));
    assert_eq!(resolves(&net), 1);
    assert_eq!(net.connects_to(id, HUB1).len(), 2);
}

#[test]
fn dynamic_names_are_resolved_on_every_attempt() {
    let mut net = Net::new();
    net.resolver.insert("hub1.example.net".into(), HUB1);
    let id = net.set.add(net.now, cfg(true));
    net.run_for(1.0);
    net.hub_dies_now(HUB1);
    net.hub(HUB2).alive = false;
    net.hub(HUB2).refuse = true;
    net.hub(HUB1).alive = true;
    net.run_for(60.0);
    assert_eq!(net.active(id), Some(HUB1));
    assert_eq!(resolves(&net), 2);
}

#[test]
fn failed_resolution_moves_to_the_next_peer() {
    let mut net = Net::new();
    let id = net.set.add(net.now, cfg(true));
    net.run_for(0.005);
    // While resolving, show names the peer being tried.
    let show = net.set.client(id).unwrap().show();
    assert!(
        show.contains("Current state:ACTIVATING\nPeer : hub1.example.net\n"),
        "{show}"
    );
    net.run_for(1.0);
    assert_eq!(net.state(id), State::Active);
    assert_eq!(net.active(id), Some(HUB2));
    assert!(net.connects_to(id, HUB1).is_empty());
}

/// Found by the `flexclient_engine` fuzz target: with `peer reactivate`, a more preferred peer
/// with the same address as the session held was "probed", and the switch-over disconnected the
/// session it had just taken over.
#[test]
fn reactivate_never_switches_to_the_address_already_in_use() {
    for dynamic in [false, true] {
        let mut net = Net::new();
        net.resolver.insert("hub1.example.net".into(), HUB1);
        let cfg = ClientConfig::builder("Flex_Client")
            .peer(PeerConfig::address(1, HUB1).unwrap())
            .peer(PeerConfig::fqdn(2, "hub1.example.net", dynamic).unwrap())
            .client_connect("Tunnel1")
            .tunnel_source("Ethernet0/0")
            .peer_reactivate(true)
            .build()
            .unwrap();
        net.hub(HUB1).alive = false; // silent: the first attempt times out
        let id = net.set.add(net.now, cfg);
        net.run_for(1.0);
        net.hub(HUB1).alive = true;
        net.run_for(40.0);
        assert_eq!(net.active(id), Some(HUB1));
        let established = net.elapsed();
        net.run_for(3600.0);
        assert_eq!(net.active(id), Some(HUB1), "dynamic={dynamic}");
        assert_eq!(net.sessions_of(id), [HUB1]);
        assert!(
            !net.actions
                .iter()
                .any(|(t, _, a)| *t > established && *a == Action::Disconnect { peer: HUB1 }),
            "dynamic={dynamic}: the session was torn down"
        );
        // Dynamic names are re-resolved for each probe, at growing intervals.
        assert!(
            resolves(&net) <= 20,
            "dynamic={dynamic}: {} resolutions",
            resolves(&net)
        );
    }
}

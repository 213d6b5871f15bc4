//! All peers dead: the block cycles through them with a per-peer back-off that doubles up to a
//! cap, never hammering a dead hub, and recovers when one comes back.

mod common;

use std::time::Duration;

use common::{HUB1, HUB2, Net, two_hubs};
use flexclient::State;

fn check_spacing(attempts: &[Duration], min_gap: Duration) {
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0]),
        "gaps shrink: {gaps:?}"
    );
    assert!(gaps.iter().all(|g| *g >= min_gap), "too close: {gaps:?}");
    assert!(
        gaps.iter()
            .all(|g| *g <= Duration::from_secs(300) + Duration::from_secs(31)),
        "cap exceeded: {gaps:?}"
    );
}

#[test]
fn dead_hubs_refusing_are_retried_with_capped_backoff() {
    let mut net = Net::new();
    for h in [HUB1, HUB2] {
        net.hub(h).alive = false;
        net.hub(h).refuse = true; // fail fast: the worst case for hammering
    }
    let id = net
        .set
        .add(net.now, two_hubs("Flex_Client").build().unwrap());
    net.run_for(7200.0);
    assert_eq!(net.state(id), State::Waiting);
    for h in [HUB1, HUB2] {
        let attempts = net.connects_to(id, h);
        check_spacing(&attempts, Duration::from_secs(10));
        // 10, 20, 40, 80, 160, then every 300 s: about 28 attempts in two hours, not thousands.
        assert!(attempts.len() <= 30, "{h}: {} attempts", attempts.len());
        assert!(
            attempts.len() >= 20,
            "{h}: gave up? {} attempts",
            attempts.len()
        );
    }
    // Cycling: the attempts alternate between the two hubs.
    let order: Vec<_> = net
        .actions
        .iter()
        .filter_map(|(_, _, a)| match a {
            flexclient::Action::Connect { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] != w[1]), "{order:?}");

    // Hub 2 comes back: connected on its next retry, at most the cap later.
    let back = net.elapsed();
    net.hub(HUB2).alive = true;
    net.run_for(301.0);
    assert_eq!(net.active(id), Some(HUB2));
    let t = *net.connects_to(id, HUB2).last().unwrap();
    assert!(t - back <= Duration::from_secs(300));
}

#[test]
fn silent_dead_hubs_time_out_and_are_retried() {
    let mut net = Net::new();
    for h in [HUB1, HUB2] {
        net.hub(h).alive = false;
    }
    let id = net
        .set
        .add(net.now, two_hubs("Flex_Client").build().unwrap());
    net.run_for(3600.0);
    for h in [HUB1, HUB2] {
        let attempts = net.connects_to(id, h);
        check_spacing(&attempts, Duration::from_secs(30));
        assert!(attempts.len() <= 20, "{h}: {} attempts", attempts.len());
    }
    // Every timed-out attempt was cancelled towards the IKE layer.
    let disconnects = net
        .actions
        .iter()
        .filter(|(_, _, a)| matches!(a, flexclient::Action::Disconnect { .. }))
        .count();
    let connects = net
        .actions
        .iter()
        .filter(|(_, _, a)| matches!(a, flexclient::Action::Connect { .. }))
        .count();
    assert!(connects - disconnects <= 1);
    net.hub(HUB1).alive = true;
    net.run_for(400.0);
    assert_eq!(net.active(id), Some(HUB1));
}

#[test]
fn single_peer_session_loss_waits_before_retrying() {
    let mut net = Net::new();
    let cfg = flexclient::ClientConfig::builder("One")
        .peer(flexclient::PeerConfig::address(1, HUB1).unwrap())
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .build()
        .unwrap();
    let id = net.set.add(net.now, cfg);
    net.run_for(1.0);
    let down = net.elapsed();
    net.hub_dies_now(HUB1);
    net.hub(HUB1).alive = true; // it rebooted
    net.run_for(30.0);
    let attempts = net.connects_to(id, HUB1);
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1] - down, Duration::from_secs(10), "retry_initial");
    assert_eq!(net.active(id), Some(HUB1));
}

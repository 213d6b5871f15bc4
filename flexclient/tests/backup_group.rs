//! `backup group G`: several blocks on one router; only one of a group uses a given peer.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::{HUB1, HUB2, Net, two_hubs};
use flexclient::{ClientId, ConnectMode, State};

/// No peer is used (attempted or established) by two blocks of group 1 at once.
fn assert_exclusive(net: &Net, group_members: &[ClientId]) {
    let mut users: BTreeMap<Ipv4Addr, ClientId> = BTreeMap::new();
    for &(id, peer) in &net.sessions {
        if group_members.contains(&id)
            && let Some(other) = users.insert(peer, id)
        {
            panic!("{peer} used by {other:?} and {id:?} at {:?}", net.elapsed());
        }
    }
    for &id in group_members {
        let c = net.set.client(id).unwrap();
        for peer in [c.active_peer(), c.pending_peer()].into_iter().flatten() {
            assert_eq!(
                net.set.groups().owner(1, peer),
                Some(id.0),
                "{peer} not reserved"
            );
        }
    }
}

fn run_checked(net: &mut Net, members: &[ClientId], secs: u32) {
    for _ in 0..secs {
        net.run_for(1.0);
        assert_exclusive(net, members);
    }
}

#[test]
fn two_blocks_of_a_group_never_share_a_peer() {
    let mut net = Net::new();
    let a = net
        .set
        .add(net.now, two_hubs("A").backup_group(1).build().unwrap());
    let b = net
        .set
        .add(net.now, two_hubs("B").backup_group(1).build().unwrap());
    let members = [a, b];
    run_checked(&mut net, &members, 2);
    assert_eq!(net.active(a), Some(HUB1));
    assert_eq!(net.active(b), Some(HUB2), "hub 1 is taken: B uses hub 2");
    assert!(
        net.set
            .client(b)
            .unwrap()
            .show()
            .contains("Backup group: 1\n")
    );

    // Hub 1 dies: A cannot take hub 2 (B has it) and waits; B is not disturbed.
    net.hub_dies_now(HUB1);
    net.hub(HUB1).refuse = true;
    run_checked(&mut net, &members, 120);
    assert_eq!(net.state(a), State::Waiting);
    assert_eq!(net.active(b), Some(HUB2));
    assert!(net.connects_to(a, HUB2).is_empty());

    // Hub 1 is back: A takes it on its next retry.
    net.hub(HUB1).alive = true;
    run_checked(&mut net, &members, 400);
    assert_eq!(net.active(a), Some(HUB1));

    // Hub 2 dies: B waits on hub 1, which A holds.
    net.hub_dies_now(HUB2);
    net.hub(HUB2).refuse = true;
    run_checked(&mut net, &members, 60);
    assert_eq!(net.state(b), State::Waiting);
    assert!(net.connects_to(b, HUB1).is_empty());
}

#[test]
fn a_released_peer_goes_to_the_waiting_block_at_once() {
    let mut net = Net::new();
    let one_peer = |name: &str| {
        flexclient::ClientConfig::builder(name)
            .peer(flexclient::PeerConfig::address(1, HUB1).unwrap())
            .client_connect("Tunnel1")
            .tunnel_source("Ethernet0/0")
            .backup_group(1)
            .connect(ConnectMode::Manual)
            .build()
            .unwrap()
    };
    let a = net.set.add(net.now, one_peer("A"));
    let b = net.set.add(net.now, one_peer("B"));
    net.set.connect(net.now, a).unwrap();
    net.run_for(1.0);
    net.set.connect(net.now, b).unwrap();
    net.run_for(10.0);
    assert_eq!(net.active(a), Some(HUB1));
    assert_eq!(net.state(b), State::Waiting);
    net.set.disconnect(net.now, a).unwrap();
    net.drain();
    let t = net.elapsed();
    assert_eq!(net.connects_to(b, HUB1), [t], "B connects in the same tick");
    net.run_for(1.0);
    assert_eq!(net.active(b), Some(HUB1));
}

#[test]
fn blocks_outside_a_group_may_share_peers() {
    let mut net = Net::new();
    let a = net
        .set
        .add(net.now, two_hubs("A").backup_group(1).build().unwrap());
    let b = net
        .set
        .add(net.now, two_hubs("B").backup_group(2).build().unwrap());
    let c = net.set.add(net.now, two_hubs("C").build().unwrap());
    net.run_for(1.0);
    for id in [a, b, c] {
        assert_eq!(net.active(id), Some(HUB1));
    }
}

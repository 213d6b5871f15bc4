//! Redirect and shortcut across two hubs sharing network-id 2, with a virtual clock.

mod common;

use std::time::Duration;

use common::*;
use nhrp::wire::{Body, MessageKind};
use nhrp::{Event, Packet, Prefix};

const H1: &str = "192.168.1.10";
const H2: &str = "192.168.2.20";

fn shortcut_installed(net: &Net, node: &str, prefix: &str, via: &str) -> bool {
    net.events_of(node).iter().any(|e| {
        matches!(e, Event::InstallShortcut { prefix: p, next_hop, .. }
            if *p == common::p(prefix) && *next_hop == a(via))
    })
}

/// Brings the scenario to "shortcut on both spokes".
fn establish(net: &mut Net) {
    // First packet: spoke 1 -> hub 1 -> hub 2 -> spoke 2.
    assert_eq!(
        net.send_data(SPOKE1, a(H1), a(H2)),
        ["spoke1", "hub1", "hub2", "spoke2"]
    );
    assert_eq!(net.nodes[HUB1].engine.stats().traffic_indications_sent, 1);
    // Hub 2 got the packet from another server: no redirect from it.
    assert_eq!(net.nodes[HUB2].engine.stats().traffic_indications_sent, 0);
    net.settle();
    // The resolution crossed the hub-to-hub link.
    assert_eq!(net.nodes[HUB1].engine.stats().resolutions_forwarded, 1);
    assert_eq!(net.nodes[HUB2].engine.stats().resolutions_forwarded, 1);
    assert_eq!(net.nodes[SPOKE2].engine.stats().resolutions_answered, 1);
    assert!(shortcut_installed(
        net,
        "spoke1",
        "192.168.2.0/24",
        "10.1.1.177"
    ));
    assert!(net.tunnels.contains(&(SPOKE1, a("172.16.2.2"))));
    assert!(net.tunnels.contains(&(SPOKE2, a("172.16.1.1"))));

    // The reply from spoke 2 goes back through the hubs until spoke 2 is redirected too.
    assert_eq!(
        net.send_data(SPOKE2, a(H2), a(H1)),
        ["spoke2", "hub2", "hub1", "spoke1"]
    );
    assert_eq!(net.nodes[HUB2].engine.stats().traffic_indications_sent, 1);
    net.settle();
    assert!(shortcut_installed(
        net,
        "spoke2",
        "192.168.1.0/24",
        "10.1.1.111"
    ));

    // Now both directions go direct.
    assert_eq!(net.send_data(SPOKE1, a(H1), a(H2)), ["spoke1", "spoke2"]);
    assert_eq!(net.send_data(SPOKE2, a(H2), a(H1)), ["spoke2", "spoke1"]);
}

#[test]
fn redirect_resolution_across_hubs_and_shortcut_on_both_spokes() {
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);

    // The forwarded request carried both hubs in its Forward Transit NHS Record.
    let fwd = net
        .wire
        .iter()
        .filter(|(_, from, _, _)| *from == "hub2")
        .filter_map(|(_, _, _, b)| Packet::parse(b).ok())
        .find(|p| matches!(&p.mandatory.body, Body::Message(m) if m.kind == MessageKind::ResolutionRequest))
        .expect("hub 2 forwarded the request");
    let rec = fwd
        .extension(nhrp::wire::ExtensionType::FORWARD_TRANSIT_NHS)
        .unwrap();
    let hops: Vec<_> = rec
        .value
        .cies()
        .unwrap()
        .iter()
        .map(|c| c.proto.ipv4().unwrap())
        .collect();
    assert_eq!(hops, [a("10.1.1.1"), a("10.1.1.2")]);

    let show = net.nodes[SPOKE1].engine.show(net.now);
    assert!(
        show.contains("192.168.2.0/24 via 10.1.1.177\n   Tunnel1 created"),
        "{show}"
    );
    assert!(show.contains("Type: dynamic, Flags: router rib"), "{show}");
    assert!(show.contains("NBMA address: 172.16.2.2"), "{show}");
    // Every packet on the wire parses and re-encodes identically.
    for (_, _, _, b) in &net.wire {
        assert_eq!(&Packet::parse(b).unwrap().emit().unwrap(), b);
    }
}

#[test]
fn unrefreshed_shortcut_expires_after_holding_time_and_traffic_returns_to_hubs() {
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);
    // The last packet of `establish` used the shortcut, so it is refreshed once (at 66 % of
    // the 60 s holding time); after that no traffic, so no refresh, and it expires.
    let sent_before = net.nodes[SPOKE1].engine.stats().resolutions_sent;
    net.run_for(Duration::from_secs(95));
    assert!(net.nodes[SPOKE1].engine.shortcut_for(a(H2)).is_some());
    assert_eq!(
        net.nodes[SPOKE1].engine.stats().resolutions_sent,
        sent_before + 1
    );
    let last_refresh = net
        .wire
        .iter()
        .filter(|(_, from, _, b)| {
            *from == "spoke1"
                && matches!(Packet::parse(b).map(|p| p.mandatory.body),
                    Ok(Body::Message(m)) if m.kind == MessageKind::ResolutionRequest)
        })
        .map(|(t, _, _, _)| *t)
        .max()
        .unwrap();
    net.run_for(Duration::from_secs(10));
    let withdrawn_at = net
        .log
        .iter()
        .find(|(_, n, e)| *n == "spoke1" && matches!(e, Event::WithdrawShortcut { prefix, .. } if *prefix == p("192.168.2.0/24")))
        .map(|(t, _, _)| *t)
        .expect("shortcut withdrawn");
    let lived = withdrawn_at - last_refresh;
    assert!(
        lived >= Duration::from_secs(60) && lived < Duration::from_secs(61),
        "{lived:?}"
    );
    // Unused after the refresh: never refreshed again.
    assert_eq!(
        net.nodes[SPOKE1].engine.stats().resolutions_sent,
        sent_before + 1
    );
    assert!(net.events_of("spoke1").contains(&&Event::TunnelUnused {
        nbma: a("172.16.2.2")
    }));
    assert!(net.nodes[SPOKE1].engine.shortcut_for(a(H2)).is_none());
    assert_eq!(
        net.send_data(SPOKE1, a(H1), a(H2)),
        ["spoke1", "hub1", "hub2", "spoke2"]
    );
}

#[test]
fn used_shortcut_is_refreshed_and_stays() {
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);
    let sent_before = net.nodes[SPOKE1].engine.stats().resolutions_sent;
    for _ in 0..18 {
        // Traffic every 10 s for three holding times.
        assert_eq!(net.send_data(SPOKE1, a(H1), a(H2)), ["spoke1", "spoke2"]);
        net.run_for(Duration::from_secs(10));
    }
    assert!(net.nodes[SPOKE1].engine.stats().resolutions_sent >= sent_before + 3);
    assert!(!net.events_of("spoke1").iter().any(
        |e| matches!(e, Event::WithdrawShortcut { prefix, .. } if *prefix == p("192.168.2.0/24"))
    ));
    // Refreshes went directly to spoke 2, not through the hubs.
    assert_eq!(net.nodes[HUB1].engine.stats().resolutions_forwarded, 2);
}

#[test]
fn purge_removes_the_shortcut_at_once() {
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);
    let t = net.since();
    assert_eq!(
        net.nodes[SPOKE2]
            .engine
            .purge_local(net.now, p("192.168.2.0/24")),
        1
    );
    net.settle();
    let (when, _, _) = net
        .log
        .iter()
        .find(|(_, n, e)| *n == "spoke1" && matches!(e, Event::WithdrawShortcut { prefix, .. } if *prefix == p("192.168.2.0/24")))
        .expect("withdrawn");
    assert!(*when - t <= LINK_DELAY, "{:?}", *when - t);
    assert_eq!(net.send_data(SPOKE1, a(H1), a(H2))[..2], ["spoke1", "hub1"]);
    // The other direction is untouched.
    assert_eq!(net.send_data(SPOKE2, a(H2), a(H1)), ["spoke2", "spoke1"]);
}

#[test]
fn tunnel_down_falls_back_to_the_hub_path() {
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);
    let now = net.now;
    net.nodes[SPOKE1]
        .engine
        .handle_tunnel_down(now, a("172.16.2.2"));
    net.drain();
    assert_eq!(net.send_data(SPOKE1, a(H1), a(H2))[..2], ["spoke1", "hub1"]);
}

#[test]
fn clear_shortcut_withdraws_locally_and_purges_remote_entry() {
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);
    let now = net.now;
    net.nodes[SPOKE1]
        .engine
        .clear_shortcut(now, p("192.168.2.0/24"))
        .unwrap();
    net.settle();
    assert!(net.nodes[SPOKE1].engine.shortcut_for(a(H2)).is_none());
    // Spoke 2 forgot spoke 1's tunnel address and its shortcut to spoke 1's LAN stays.
    assert!(
        net.nodes[SPOKE2]
            .engine
            .cache()
            .get(&Prefix::host(a("10.1.1.111")))
            .is_none()
    );
    assert!(net.nodes[SPOKE2].engine.shortcut_for(a(H1)).is_some());
}

#[test]
fn hub_answers_for_known_spoke_and_reply_is_relayed_across_hubs() {
    let mut net = Net::scenario(Opts::default());
    let now = net.now;
    assert!(net.nodes[SPOKE1].engine.resolve(now, a("10.1.1.177")));
    net.settle();
    assert_eq!(net.nodes[HUB2].engine.stats().resolutions_answered, 1);
    assert_eq!(net.nodes[HUB1].engine.stats().replies_relayed, 1);
    assert!(shortcut_installed(
        &net,
        "spoke1",
        "10.1.1.177/32",
        "10.1.1.177"
    ));
    // The relayed reply carries hub 1 in its Reverse Transit NHS Record.
    let relayed = net
        .wire
        .iter()
        .filter(|(_, from, to, _)| *from == "hub1" && *to == a("172.16.1.1"))
        .filter_map(|(_, _, _, b)| Packet::parse(b).ok())
        .find(|p| matches!(&p.mandatory.body, Body::Message(m) if m.kind == MessageKind::ResolutionReply))
        .unwrap();
    let rev = relayed
        .extension(nhrp::wire::ExtensionType::REVERSE_TRANSIT_NHS)
        .unwrap();
    assert_eq!(rev.value.cies().unwrap().len(), 1);
}

#[test]
fn routing_loop_between_hubs_is_detected_and_the_resolution_fails() {
    let mut net = Net::scenario(Opts::default());
    net.nodes[HUB1]
        .engine
        .set_route(p("172.31.0.0/16"), hub2_link());
    net.nodes[HUB2]
        .engine
        .set_route(p("172.31.0.0/16"), hub1_link());
    let now = net.now;
    assert!(net.nodes[SPOKE1].engine.resolve(now, a("172.31.1.1")));
    net.settle();
    assert!(net.events_of("spoke1").contains(&&Event::ResolutionFailed {
        dst: a("172.31.1.1")
    }));
    assert!(net.nodes[HUB2].engine.stats().error_indications_sent >= 1);
    assert!(net.nodes[HUB1].engine.stats().replies_relayed >= 1);
    assert_eq!(net.nodes[SPOKE1].engine.pending_requests(), 0);
    // The negative entry stops a new request until it expires.
    let now = net.now;
    assert!(!net.nodes[SPOKE1].engine.resolve(now, a("172.31.1.1")));
    assert!(
        net.nodes[SPOKE1]
            .engine
            .show(now)
            .contains("Type: negative")
    );
}

#[test]
fn unanswered_request_retries_with_same_id_then_goes_negative() {
    let mut net = Net::scenario(Opts::default());
    // Hub 1 cannot reach anything: cut its route to 192.168.2.0/24 and make spoke 2's answer
    // impossible by routing the request into the void (an NBMA address nobody owns).
    net.nodes[HUB1].engine.set_route(
        p("192.168.2.0/24"),
        nhrp::Peer::new(a("10.9.9.9"), a("203.0.113.9")),
    );
    let now = net.now;
    assert!(net.nodes[SPOKE1].engine.resolve(now, a(H2)));
    net.run_for(Duration::from_secs(20));
    let ids: Vec<u32> = net
        .wire
        .iter()
        .filter(|(_, from, _, _)| *from == "spoke1")
        .filter_map(|(_, _, _, b)| Packet::parse(b).ok())
        .filter_map(|p| match p.mandatory.body {
            Body::Message(m) if m.kind == MessageKind::ResolutionRequest => Some(m.request_id),
            _ => None,
        })
        .collect();
    assert!(ids.len() >= 3, "{ids:?}");
    assert!(ids.iter().all(|i| *i == ids[0]));
    assert!(
        net.events_of("spoke1")
            .contains(&&Event::ResolutionFailed { dst: a(H2) })
    );
}

#[test]
fn bad_packet_changes_nothing_and_is_answered() {
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);
    let before = net.nodes[SPOKE1].engine.show(net.now);
    let mut junk = net.wire[0].3.clone();
    junk[17] = 0x63; // unknown type: checksum now wrong -> silent drop
    let now = net.now;
    assert!(
        net.nodes[SPOKE1]
            .engine
            .handle_nhrp(now, a("172.16.2.2"), &junk)
            .is_err()
    );
    assert!(net.nodes[SPOKE1].engine.poll_transmit().is_none());
    // A well-checksummed packet with an unknown compulsory extension gets an Error Indication.
    let mut p = Packet::parse(&net.wire[0].3).unwrap();
    p.extensions = Some(vec![
        nhrp::wire::Extension::compulsory(nhrp::wire::ExtValue::Unknown {
            ty: 0x77,
            data: vec![],
        }),
        nhrp::wire::Extension::compulsory(nhrp::wire::ExtValue::End),
    ]);
    let bytes = p.emit().unwrap();
    assert!(
        net.nodes[SPOKE1]
            .engine
            .handle_nhrp(now, a("172.16.2.2"), &bytes)
            .is_err()
    );
    let t = net.nodes[SPOKE1]
        .engine
        .poll_transmit()
        .expect("error indication");
    assert_eq!(t.nbma, a("172.16.2.2"));
    match Packet::parse(&t.payload).unwrap().mandatory.body {
        Body::ErrorIndication(e) => {
            assert_eq!(e.code, nhrp::wire::ErrorCode::UNRECOGNIZED_EXTENSION)
        }
        b => panic!("{b:?}"),
    }
    assert_eq!(net.nodes[SPOKE1].engine.show(now), before);
    assert_eq!(net.send_data(SPOKE1, a(H1), a(H2)), ["spoke1", "spoke2"]);
}

#[test]
fn same_seed_same_transcript() {
    let run = || {
        let mut net = Net::scenario(Opts::default());
        establish(&mut net);
        net.run_for(Duration::from_secs(70));
        (net.log.clone(), net.wire.clone())
    };
    assert_eq!(run(), run());
}

#[test]
fn redirect_is_rate_limited_per_flow_and_never_for_lan_traffic() {
    let mut net = Net::scenario(Opts::default());
    // Nothing settles between the packets, so they all take the hub path.
    for _ in 0..5 {
        assert_eq!(net.send_data(SPOKE1, a(H1), a(H2))[..2], ["spoke1", "hub1"]);
    }
    assert_eq!(net.nodes[HUB1].engine.stats().traffic_indications_sent, 1);
    assert_eq!(
        net.nodes[HUB1].engine.stats().traffic_indications_limited,
        4
    );
    // Another destination behind the same spoke is another flow.
    assert_eq!(
        net.send_data(SPOKE1, a(H1), a("192.168.2.21"))[..2],
        ["spoke1", "hub1"]
    );
    assert_eq!(net.nodes[HUB1].engine.stats().traffic_indications_sent, 2);
    // The spoke itself never redirects what it originates (no ingress peer).
    assert_eq!(net.nodes[SPOKE1].engine.stats().traffic_indications_sent, 0);
}

#[test]
fn registered_spoke_is_answered_for_by_its_hub() {
    let mut net = Net::scenario(Opts::default());
    let now = net.now;
    // Forget the session-learned entry first: the registration alone must teach hub 2.
    net.nodes[HUB2]
        .engine
        .remove_peer(now, a("10.1.1.177"))
        .unwrap();
    assert!(
        net.nodes[HUB2]
            .engine
            .cache()
            .get(&Prefix::host(a("10.1.1.177")))
            .is_none()
    );
    net.nodes[SPOKE2].engine.register(now);
    net.settle();
    // Hub 2 now holds a dynamic, authoritative entry learned from the registration.
    let show = net.nodes[HUB2].engine.show(net.now);
    assert!(show.contains("10.1.1.177/32 via 10.1.1.177"), "{show}");
    let e = net.nodes[HUB2]
        .engine
        .cache()
        .get(&Prefix::host(a("10.1.1.177")))
        .unwrap();
    assert_eq!(e.kind, nhrp::EntryType::Dynamic);
    assert!(e.flags.authoritative);
    let reply = net
        .wire
        .iter()
        .filter(|(_, from, _, _)| *from == "hub2")
        .filter_map(|(_, _, _, b)| Packet::parse(b).ok())
        .find(|p| matches!(&p.mandatory.body, Body::Message(m) if m.kind == MessageKind::RegistrationReply))
        .expect("registration reply");
    let Body::Message(m) = reply.mandatory.body else {
        unreachable!()
    };
    assert_eq!(m.cies[0].code, nhrp::wire::CieCode::SUCCESS);
}

#[test]
fn purge_from_a_third_party_is_ignored() {
    use nhrp::wire::{Address, Cie, FixedHeader, Mandatory, Message};
    let mut net = Net::scenario(Opts::default());
    establish(&mut net);
    let forged = Packet {
        header: FixedHeader::ipv4(16),
        mandatory: Mandatory {
            src_nbma: a("172.25.1.1").into(),
            src_nbma_sub: Address::empty(),
            src_proto: a("10.1.1.1").into(),
            dst_proto: a("10.1.1.111").into(),
            body: Body::Message(Message {
                kind: MessageKind::PurgeRequest,
                flags: 0,
                request_id: 1,
                cies: vec![Cie::new(24, 0, 0, None, Some(a("192.168.2.0")))],
            }),
        },
        extensions: None,
    };
    let now = net.now;
    net.nodes[SPOKE1]
        .engine
        .handle_nhrp(now, a("172.25.1.1"), &forged.emit().unwrap())
        .unwrap();
    net.drain();
    assert!(net.nodes[SPOKE1].engine.shortcut_for(a(H2)).is_some());
    assert_eq!(net.send_data(SPOKE1, a(H1), a(H2)), ["spoke1", "spoke2"]);
}

//! The scenario's hub configuration run in memory: hub 1 (this config), a spoke from the
//! listen range, and hub 2 as route-reflector client.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_lite::wire::attr::{AttrValue, PathAttr};
use bgp_lite::wire::{DecodeCtx, Ipv4Prefix, Message, Update};
use bgp_lite::{Event, IgpRoute, Speaker, State};
use common::{Net, cfg, epoch};

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn route(s: &str) -> IgpRoute {
    IgpRoute {
        prefix: p(s),
        metric: 0,
    }
}

const SPOKE1: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 100);

/// Builds hub1, hub2, spoke1 and runs until converged.
fn build() -> (Net, usize, usize, usize) {
    let t0 = epoch();
    let mut net = Net::new(t0);
    let mut hub1 = Speaker::new(cfg::hub1(), t0).unwrap();
    hub1.set_route_table(t0, [route("192.168.0.0/24"), route("10.1.1.0/24")]);
    let mut hub2 = Speaker::new(cfg::hub2(), t0).unwrap();
    hub2.set_route_table(t0, [route("10.2.0.0/16"), route("192.168.0.0/24")]);
    let mut spoke = Speaker::new(cfg::spoke(SPOKE1, "172.16.100.0/24"), t0).unwrap();
    spoke.set_route_table(t0, [route("172.16.100.0/24"), route("10.1.1.0/24")]);
    let h1 = net.add(
        "hub1",
        hub1,
        &[cfg::HUB1_LAN.into(), cfg::HUB1_OVERLAY.into()],
    );
    let h2 = net.add("hub2", hub2, &[cfg::HUB2_LAN.into()]);
    let s1 = net.add("spoke1", spoke, &[SPOKE1.into()]);
    net.run_for(Duration::from_secs(2));
    (net, h1, h2, s1)
}

#[test]
fn sessions_come_up_and_dynamic_neighbor_is_logged_ios_style() {
    let (net, h1, h2, s1) = build();
    assert_eq!(
        net.nodes[h1].sp.neighbor_state(SPOKE1.into()),
        Some(State::Established)
    );
    assert_eq!(
        net.nodes[h1].sp.neighbor_state(cfg::HUB2_LAN.into()),
        Some(State::Established)
    );
    assert_eq!(
        net.nodes[h2].sp.neighbor_state(cfg::HUB1_LAN.into()),
        Some(State::Established)
    );
    assert_eq!(
        net.nodes[s1].sp.neighbor_state(cfg::HUB1_OVERLAY.into()),
        Some(State::Established)
    );
    let log = net.syslog("hub1");
    assert!(
        log.contains(&"%BGP-5-ADJCHANGE: neighbor *10.1.1.100 Up".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"%BGP-5-ADJCHANGE: neighbor 192.168.0.2 Up".to_string()),
        "{log:?}"
    );
    let st = net.nodes[h1].sp.neighbors();
    assert!(
        st.iter()
            .any(|n| n.addr == IpAddr::from(SPOKE1) && n.dynamic)
    );
    // the aggregate is active and its discard route was requested
    assert!(net.log.iter().any(|(_, n, e)| *n == "hub1"
        && *e
            == Event::DiscardRoute {
                prefix: p("192.168.0.0/16"),
                installed: true
            }));
}

#[test]
fn spoke_receives_only_the_aggregate() {
    let (net, _h1, _h2, s1) = build();
    let rib = net.nodes[s1].sp.loc_rib();
    let agg = rib
        .best(&p("192.168.0.0/16"))
        .expect("aggregate at the spoke");
    assert!(agg.attrs.atomic_aggregate);
    assert_eq!(agg.attrs.aggregator, Some((65001, cfg::HUB1_LAN)));
    assert_eq!(agg.attrs.next_hop, cfg::HUB1_OVERLAY);
    assert!(
        rib.best(&p("192.168.0.0/24")).is_none(),
        "specific suppressed towards spokes"
    );
    // hub 2's own prefix is reflected (client route to a non-client), next hop unchanged
    let h2r = rib.best(&p("10.2.0.0/16")).expect("reflected hub2 route");
    assert_eq!(h2r.attrs.originator_id, Some(cfg::HUB2_LAN));
    assert_eq!(h2r.attrs.cluster_list, vec![cfg::HUB1_LAN]);
}

#[test]
fn other_hub_gets_specifics_with_next_hop_self_and_reflection_attrs() {
    let (net, _h1, h2, _s1) = build();
    let rib = net.nodes[h2].sp.loc_rib();
    let specific = rib
        .best(&p("192.168.0.0/24"))
        .expect("unsuppress-map lets the specific through");
    assert_eq!(specific.attrs.next_hop, cfg::HUB1_LAN);
    assert!(rib.best(&p("192.168.0.0/16")).is_some());
    let spoke = rib
        .best(&p("172.16.100.0/24"))
        .expect("spoke route reflected to hub2");
    assert_eq!(spoke.attrs.next_hop, cfg::HUB1_LAN, "next-hop-self all");
    assert_eq!(spoke.attrs.originator_id, Some(SPOKE1));
    assert_eq!(spoke.attrs.cluster_list, vec![cfg::HUB1_LAN]);
    // the FIB event at hub2 names the rewritten next hop
    assert!(net.log.iter().any(|(_, n, e)| *n == "hub2"
        && *e
            == Event::BestPath {
                prefix: p("172.16.100.0/24"),
                next_hop: Some(cfg::HUB1_LAN)
            }));
}

#[test]
fn withdrawal_and_session_drop_and_reconnect() {
    let (mut net, h1, h2, s1) = build();
    // the spoke's route goes away from its table: withdrawn everywhere
    let now = net.now;
    net.nodes[s1]
        .sp
        .set_route_table(now, [route("10.1.1.0/24")]);
    net.run_for(Duration::from_millis(100));
    assert!(
        net.nodes[h2]
            .sp
            .loc_rib()
            .best(&p("172.16.100.0/24"))
            .is_none()
    );
    assert!(
        net.nodes[h1]
            .sp
            .loc_rib()
            .best(&p("172.16.100.0/24"))
            .is_none()
    );
    // the hub1-hub2 transport drops: routes flushed, then the session comes back (retry 5 s)
    net.cut(h1, h2);
    assert!(
        net.nodes[h2]
            .sp
            .loc_rib()
            .best(&p("192.168.0.0/24"))
            .is_none()
    );
    assert!(net.syslog("hub1").contains(
        &"%BGP-5-ADJCHANGE: neighbor 192.168.0.2 Down Peer closed the session".to_string()
    ));
    net.run_for(Duration::from_secs(7));
    assert_eq!(
        net.nodes[h1].sp.neighbor_state(cfg::HUB2_LAN.into()),
        Some(State::Established)
    );
    assert!(
        net.nodes[h2]
            .sp
            .loc_rib()
            .best(&p("192.168.0.0/24"))
            .is_some()
    );
    // a dynamic neighbor that goes away is deleted
    net.cut(h1, s1);
    assert!(
        net.nodes[h1]
            .sp
            .neighbors()
            .iter()
            .all(|n| n.addr != IpAddr::from(SPOKE1) || n.state != State::Established)
    );
    assert!(net.syslog("hub1").contains(
        &"%BGP-5-ADJCHANGE: neighbor *10.1.1.100 Down Peer closed the session".to_string()
    ));
    // the aggregate stays (192.168.0.0/24 is still a contributor)
    assert!(
        net.nodes[h1]
            .sp
            .loc_rib()
            .best(&p("192.168.0.0/16"))
            .is_some()
    );
    // the spoke reconnects by itself
    net.run_for(Duration::from_secs(7));
    assert_eq!(
        net.nodes[h1].sp.neighbor_state(SPOKE1.into()),
        Some(State::Established)
    );
}

#[test]
fn hold_timer_expiry_sends_notification() {
    let (mut net, h1, h2, _s1) = build();
    net.blackhole.push((h1, h2));
    net.run_for(Duration::from_secs(31));
    let log = net.syslog("hub1");
    assert!(
        log.iter().any(|l| l
            == "%BGP-3-NOTIFICATION: sent to neighbor 192.168.0.2 4/0 (hold time expired) 0 bytes"),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l == "%BGP-5-ADJCHANGE: neighbor 192.168.0.2 Down BGP Notification sent"),
        "{log:?}"
    );
}

#[test]
fn malformed_update_is_treat_as_withdraw_and_session_survives() {
    let (mut net, h1, h2, s1) = build();
    let c = DecodeCtx::default();
    // announce 172.16.200.0/24 from the spoke with a bad ORIGIN value (RFC 7606 §7.1)
    let mut u = Update {
        nlri: vec![p("172.16.200.0/24")],
        ..Default::default()
    };
    u.attrs.push(PathAttr {
        flags: 0x40,
        value: AttrValue::Unknown {
            code: 1,
            value: vec![9],
        },
    });
    u.attrs
        .push(PathAttr::new(AttrValue::AsPath(Default::default())));
    u.attrs.push(PathAttr::new(AttrValue::NextHop(SPOKE1)));
    let bytes = Message::Update(u).to_bytes(&c).unwrap();
    net.inject(s1, h1, &bytes);
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.nodes[h1].sp.stats().treat_as_withdraw, 1);
    assert!(
        net.nodes[h1]
            .sp
            .loc_rib()
            .best(&p("172.16.200.0/24"))
            .is_none()
    );
    assert_eq!(
        net.nodes[h1].sp.neighbor_state(SPOKE1.into()),
        Some(State::Established)
    );
    assert!(
        net.nodes[h2]
            .sp
            .loc_rib()
            .best(&p("172.16.100.0/24"))
            .is_some(),
        "earlier routes kept"
    );
    // an unrecognized well-known attribute resets the session with 3/2
    let mut u = Update {
        nlri: vec![p("172.16.201.0/24")],
        ..Default::default()
    };
    u.attrs.push(PathAttr {
        flags: 0x40,
        value: AttrValue::Unknown {
            code: 200,
            value: vec![],
        },
    });
    let bytes = Message::Update(u).to_bytes(&c).unwrap();
    net.inject(s1, h1, &bytes);
    assert!(
        net.syslog("hub1")
            .iter()
            .any(|l| l.starts_with("%BGP-3-NOTIFICATION: sent to neighbor *10.1.1.100 3/2"))
    );
}

#[test]
fn route_refresh_resends_the_table() {
    let (mut net, _h1, h2, _s1) = build();
    let before = net.nodes[h2].sp.stats().updates_in;
    let now = net.now;
    net.nodes[h2]
        .sp
        .request_route_refresh(now, cfg::HUB1_LAN.into())
        .unwrap();
    net.run_for(Duration::from_millis(100));
    assert!(net.nodes[h2].sp.stats().updates_in > before);
    assert!(
        net.nodes[h2]
            .sp
            .loc_rib()
            .best(&p("192.168.0.0/24"))
            .is_some()
    );
}

#[test]
fn dynamic_neighbor_limit() {
    let t0 = epoch();
    let mut net = Net::new(t0);
    let mut c = cfg::hub1();
    c.listen_limit = 1;
    net.add(
        "hub1",
        Speaker::new(c, t0).unwrap(),
        &[cfg::HUB1_OVERLAY.into()],
    );
    net.add(
        "s1",
        Speaker::new(cfg::spoke(SPOKE1, "172.16.1.0/24"), t0).unwrap(),
        &[SPOKE1.into()],
    );
    net.add(
        "s2",
        Speaker::new(
            cfg::spoke(Ipv4Addr::new(10, 1, 1, 101), "172.16.2.0/24"),
            t0,
        )
        .unwrap(),
        &[Ipv4Addr::new(10, 1, 1, 101).into()],
    );
    net.run_for(Duration::from_secs(1));
    let n = net.nodes[0].sp.neighbors();
    assert_eq!(n.iter().filter(|n| n.dynamic).count(), 1);
    assert!(net.nodes[0].sp.stats().refused >= 1);
}

#[test]
fn collision_leaves_one_session() {
    let t0 = epoch();
    let mut net = Net::new(t0);
    let a = Ipv4Addr::new(192, 168, 0, 1);
    let b = Ipv4Addr::new(192, 168, 0, 2);
    let mk = |me: Ipv4Addr, peer: Ipv4Addr| {
        let mut c = bgp_lite::SpeakerConfig::new(65001, me);
        c.neighbors
            .insert(peer.into(), bgp_lite::config::NeighborSettings::ibgp(65001));
        Speaker::new(c, t0).unwrap()
    };
    net.add("a", mk(a, b), &[a.into()]);
    net.add("b", mk(b, a), &[b.into()]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.nodes[0].sp.neighbor_state(b.into()),
        Some(State::Established)
    );
    assert_eq!(
        net.nodes[1].sp.neighbor_state(a.into()),
        Some(State::Established)
    );
    // both connected at once: one connection was closed with Cease/7 and exactly one survives
    let ups = net
        .log
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::NeighborUp { .. }))
        .count();
    assert_eq!(ups, 2);
    assert!(
        net.log
            .iter()
            .filter(|(_, _, e)| matches!(e, Event::Close { .. }))
            .count()
            >= 2
    );
}

#[test]
fn same_inputs_same_transcript() {
    let run = || {
        let (mut net, h1, h2, _) = build();
        net.cut(h1, h2);
        net.run_for(Duration::from_secs(8));
        net.log
            .iter()
            .map(|(t, n, e)| format!("{t:?} {n} {e:?}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn unknown_optional_transitive_is_reflected_with_partial_bit() {
    let (mut net, h1, h2, s1) = build();
    let c = DecodeCtx::default();
    let mut u = Update {
        nlri: vec![p("172.16.222.0/24")],
        ..Default::default()
    };
    u.attrs.push(PathAttr::new(AttrValue::Origin(
        bgp_lite::wire::Origin::Igp,
    )));
    u.attrs
        .push(PathAttr::new(AttrValue::AsPath(Default::default())));
    u.attrs.push(PathAttr::new(AttrValue::NextHop(SPOKE1)));
    u.attrs.push(PathAttr::new(AttrValue::LocalPref(100)));
    // optional transitive, unknown to everyone, partial bit clear as sent by its originator
    u.attrs.push(PathAttr {
        flags: 0xc0,
        value: AttrValue::Unknown {
            code: 240,
            value: vec![1, 2, 3],
        },
    });
    net.inject(s1, h1, &Message::Update(u).to_bytes(&c).unwrap());
    net.run_for(Duration::from_millis(50));
    let r = net.nodes[h2]
        .sp
        .loc_rib()
        .best(&p("172.16.222.0/24"))
        .expect("reflected");
    assert_eq!(
        r.attrs.unknown,
        vec![(0xe0, 240, vec![1, 2, 3])],
        "passed on with the partial bit"
    );
}

//! Interop with FRR bgpd 8.4 (private instance on 127.0.x.y, no zebra).
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

mod interop_util;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_lite::config::{AccessList, AggregateConfig, NeighborSettings, NextHopSelf, RouteMap};
use bgp_lite::wire::attr::{AttrValue, PathAttr};
use bgp_lite::wire::{DecodeCtx, Ipv4Prefix, Message, Update};
use bgp_lite::{IgpRoute, Speaker, SpeakerConfig, State};
use interop_util::{Driver, frr, vtysh};

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn frr_state(d: &interop_util::Daemon, peer: &str) -> String {
    let j = vtysh(d, "show bgp summary json");
    let i = j
        .find(&format!("\"{peer}\""))
        .map(|i| &j[i..])
        .unwrap_or("");
    i.find("\"state\":\"")
        .map(|k| i[k + 9..].split('"').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn our_neighbor(asn: u32, port: u16, local: IpAddr, passive: bool) -> NeighborSettings {
    let mut n = NeighborSettings::ibgp(asn);
    n.port = port;
    n.local_addr = Some(local);
    n.passive = passive;
    n.hold_time = 9;
    n.connect_retry = Duration::from_secs(2);
    n
}

#[test]
#[ignore = "needs root + frr"]
fn frr_established_we_connect() {
    let (frr_ip, our_ip) = (ip(127, 0, 10, 1), ip(127, 0, 10, 2));
    let d = frr(
        "router bgp 65001\n bgp router-id 127.0.10.1\n neighbor 127.0.10.2 remote-as 65001\n neighbor 127.0.10.2 port 1792\n neighbor 127.0.10.2 passive\n",
        frr_ip,
        1791,
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(127, 0, 10, 2));
    c.neighbors
        .insert(frr_ip, our_neighbor(65001, 1791, our_ip, false));
    let mut drv = Driver::new(Speaker::new(c, now()).unwrap(), &[our_ip], 1792);
    assert!(
        drv.run_until(Duration::from_secs(15), |d| d.sp.neighbor_state(frr_ip)
            == Some(State::Established)),
        "no session; events {:?}",
        drv.events
    );
    assert!(
        drv.run_until(Duration::from_secs(5), |_| frr_state(&d, "127.0.10.2")
            == "Established")
    );
    assert!(
        drv.syslog()
            .contains(&"%BGP-5-ADJCHANGE: neighbor 127.0.10.1 Up".to_string())
    );
    // keepalives keep it up past the 9 s hold time
    drv.run_for(Duration::from_secs(10));
    assert_eq!(drv.sp.neighbor_state(frr_ip), Some(State::Established));
    assert!(drv.tshark_check(&d.dir.0) >= 3);
}

#[test]
#[ignore = "needs root + frr"]
fn frr_established_frr_connects() {
    let (frr_ip, our_ip) = (ip(127, 0, 20, 1), ip(127, 0, 20, 2));
    let d = frr(
        "router bgp 65001\n bgp router-id 127.0.20.1\n neighbor 127.0.20.2 remote-as 65001\n neighbor 127.0.20.2 port 1892\n neighbor 127.0.20.2 timers connect 1\n neighbor 127.0.20.2 update-source 127.0.20.1\n",
        frr_ip,
        1891,
    );
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(127, 0, 20, 2));
    c.neighbors
        .insert(frr_ip, our_neighbor(65001, 1891, our_ip, true));
    let mut drv = Driver::new(Speaker::new(c, now()).unwrap(), &[our_ip], 1892);
    assert!(
        drv.run_until(Duration::from_secs(20), |d| d.sp.neighbor_state(frr_ip)
            == Some(State::Established)),
        "no session; events {:?}",
        drv.events
    );
    assert!(
        drv.run_until(Duration::from_secs(5), |_| frr_state(&d, "127.0.20.2")
            == "Established")
    );
    drv.tshark_check(&d.dir.0);
}

/// Our speaker as hub 1 with FRR as the route-reflector client (hub 2): FRR gets the specific
/// with the next hop rewritten and the aggregate; then route refresh, a malformed UPDATE,
/// withdrawal, session drop and reconnect.
#[test]
#[ignore = "needs root + frr"]
fn frr_as_rr_client_of_our_hub() {
    let (frr_ip, our_ip) = (ip(127, 0, 30, 1), ip(127, 0, 30, 2));
    let d = frr(
        "router bgp 65001\n bgp router-id 192.168.0.2\n no bgp network import-check\n neighbor 127.0.30.2 remote-as 65001\n neighbor 127.0.30.2 port 1992\n neighbor 127.0.30.2 passive\n neighbor 127.0.30.2 timers 3 9\n address-family ipv4 unicast\n  network 10.2.0.0/16\n exit-address-family\n",
        frr_ip,
        1991,
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
    c.networks.push(p("192.168.0.0/24"));
    c.aggregates.push(AggregateConfig {
        prefix: p("192.168.0.0/16"),
        summary_only: true,
        as_set: false,
    });
    let mut n = our_neighbor(65001, 1991, our_ip, false);
    n.route_reflector_client = true;
    n.next_hop_self = NextHopSelf::All;
    n.next_hop_self_addr = Some(Ipv4Addr::new(192, 168, 0, 1));
    n.unsuppress_map = Some("ALL".into());
    c.neighbors.insert(frr_ip, n);
    c.policy
        .access_lists
        .insert("1".into(), AccessList::permit_any());
    c.policy
        .route_maps
        .insert("ALL".into(), RouteMap::permit_matching_acl(10, "1"));
    let mut sp = Speaker::new(c, now()).unwrap();
    sp.set_route_table(
        now(),
        [IgpRoute {
            prefix: p("192.168.0.0/24"),
            metric: 0,
        }],
    );
    let mut drv = Driver::new(sp, &[our_ip], 1992);
    assert!(
        drv.run_until(Duration::from_secs(15), |d| d.sp.neighbor_state(frr_ip)
            == Some(State::Established)),
        "{:?}",
        drv.events
    );
    let rib = |d: &interop_util::Daemon| vtysh(d, "show bgp ipv4 unicast json");
    assert!(
        drv.run_until(Duration::from_secs(5), |_| rib(&d)
            .contains("192.168.0.0/16")),
        "{}",
        rib(&d)
    );
    let j = vtysh(&d, "show bgp ipv4 unicast 192.168.0.0/24 json");
    assert!(
        j.contains("\"ip\":\"192.168.0.1\""),
        "next hop rewritten: {j}"
    );
    let j = vtysh(&d, "show bgp ipv4 unicast 192.168.0.0/16 json");
    assert!(j.contains("\"atomicAggregate\":true"), "{j}");
    assert!(j.contains("\"aggregatorAs\":65001"), "{j}");
    // FRR's own prefix reached us
    assert!(drv.run_until(Duration::from_secs(5), |d| {
        d.sp.loc_rib().best(&p("10.2.0.0/16")).is_some()
    }));

    // route refresh from FRR: we resend, the session stays
    let before = drv.sp.stats().updates_out;
    vtysh(&d, "clear bgp ipv4 unicast 127.0.30.2 soft out");
    vtysh(&d, "clear bgp ipv4 unicast 127.0.30.2 soft in");
    assert!(
        drv.run_until(Duration::from_secs(5), |d| d.sp.stats().updates_out
            > before),
        "no resend after route refresh"
    );
    // our route refresh to FRR
    drv.sp.request_route_refresh(now(), frr_ip).unwrap();
    drv.run_for(Duration::from_millis(500));

    // malformed UPDATE injected on FRR's connection: RFC 7606 treat-as-withdraw, no reset
    let mut u = Update {
        nlri: vec![p("10.3.0.0/16")],
        ..Default::default()
    };
    u.attrs.push(PathAttr {
        flags: 0x40,
        value: AttrValue::Unknown {
            code: 1,
            value: vec![7],
        },
    });
    u.attrs
        .push(PathAttr::new(AttrValue::AsPath(Default::default())));
    u.attrs.push(PathAttr::new(AttrValue::NextHop(Ipv4Addr::new(
        192, 168, 0, 2,
    ))));
    drv.inject(
        frr_ip,
        &Message::Update(u).to_bytes(&DecodeCtx::default()).unwrap(),
    );
    assert_eq!(drv.sp.stats().treat_as_withdraw, 1);
    drv.run_for(Duration::from_secs(2));
    assert_eq!(drv.sp.neighbor_state(frr_ip), Some(State::Established));
    assert_eq!(frr_state(&d, "127.0.30.2"), "Established");

    // withdrawal: the network goes away, so do the specific and the aggregate
    drv.sp.set_route_table(now(), []);
    assert!(
        drv.run_until(Duration::from_secs(5), |_| !rib(&d).contains("192.168.0.0")),
        "{}",
        rib(&d)
    );

    // session drop and reconnect
    vtysh(&d, "clear bgp 127.0.30.2");
    assert!(
        drv.run_until(Duration::from_secs(5), |d| d.sp.neighbor_state(frr_ip)
            != Some(State::Established))
    );
    assert!(
        drv.run_until(Duration::from_secs(15), |d| d.sp.neighbor_state(frr_ip)
            == Some(State::Established)),
        "{:?}",
        drv.events
    );
    assert!(
        drv.syslog()
            .iter()
            .any(|l| l.starts_with("%BGP-5-ADJCHANGE: neighbor 127.0.30.1 Down")),
        "{:?}",
        drv.syslog()
    );
    let n = drv.tshark_check(&d.dir.0);
    assert!(n >= 6, "tshark saw {n} messages");
}

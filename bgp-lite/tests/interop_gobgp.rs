//! Interop with GoBGP 3 (private instance, own gRPC port), and the scenario's hub with a
//! BIRD spoke and a GoBGP route-reflector client together.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

mod interop_util;

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_lite::config::{
    AccessList, AggregateConfig, ListenRange, NeighborSettings, NextHopSelf, RouteMap,
};
use bgp_lite::wire::Ipv4Prefix;
use bgp_lite::{IgpRoute, Speaker, SpeakerConfig, State};
use interop_util::{Driver, bird, birdc, gobgp, gobgp_cli};

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn gobgp_conf(rid: &str, me: &str, port: u16, peer: &str, peer_port: u16, passive: bool) -> String {
    format!(
        r#"[global.config]
  as = 65001
  router-id = "{rid}"
  port = {port}
  local-address-list = ["{me}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{peer}"
    peer-as = 65001
  [neighbors.transport.config]
    remote-port = {peer_port}
    local-address = "{me}"
    passive-mode = {passive}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
"#
    )
}

fn gobgp_established(api: u16) -> bool {
    gobgp_cli(api, "-j neighbor").contains("\"session_state\":6")
}

/// The JSON entry of one prefix in `gobgp -j global rib`.
fn gobgp_route(api: u16, prefix: &str) -> Option<String> {
    let j = gobgp_cli(api, "-j global rib -a ipv4");
    let i = j.find(&format!("\"{prefix}\":["))?;
    Some(j[i..].split("]}]").next().unwrap_or("").to_string())
}

#[test]
#[ignore = "needs root + gobgpd"]
fn gobgp_established_both_directions() {
    // we connect, GoBGP passive
    let (our, gb) = (Ipv4Addr::new(127, 0, 14, 1), Ipv4Addr::new(127, 0, 14, 2));
    let api = 50_100 + u16::try_from(std::process::id() % 100).unwrap();
    let _d = gobgp(
        &gobgp_conf("127.0.14.2", "127.0.14.2", 1801, "127.0.14.1", 1802, true),
        api,
    );
    std::thread::sleep(Duration::from_millis(800));
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
    let mut n = NeighborSettings::ibgp(65001);
    n.port = 1801;
    n.local_addr = Some(our.into());
    n.hold_time = 9;
    n.connect_retry = Duration::from_secs(2);
    c.neighbors.insert(gb.into(), n);
    let mut drv = Driver::new(Speaker::new(c, now()).unwrap(), &[our.into()], 1802);
    assert!(
        drv.run_until(Duration::from_secs(15), |d| d.sp.neighbor_state(gb.into())
            == Some(State::Established)),
        "{:?}",
        drv.events
    );
    assert!(drv.run_until(Duration::from_secs(5), |_| gobgp_established(api)));
    drv.tshark_check(&_d.dir.0);

    // GoBGP connects, we are passive (GoBGP waits 5-10 s before its first connection)
    let (our2, gb2) = (Ipv4Addr::new(127, 0, 15, 1), Ipv4Addr::new(127, 0, 15, 2));
    let api2 = api + 100;
    let _d2 = gobgp(
        &gobgp_conf("127.0.15.2", "127.0.15.2", 1803, "127.0.15.1", 1804, false),
        api2,
    );
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
    let mut n = NeighborSettings::ibgp(65001);
    n.passive = true;
    n.hold_time = 9;
    c.neighbors.insert(gb2.into(), n);
    let mut drv2 = Driver::new(Speaker::new(c, now()).unwrap(), &[our2.into()], 1804);
    assert!(
        drv2.run_until(Duration::from_secs(25), |d| d.sp.neighbor_state(gb2.into())
            == Some(State::Established)),
        "{:?}",
        drv2.events
    );
    assert!(drv2.run_until(Duration::from_secs(5), |_| gobgp_established(api2)));
}

/// The scenario: our hub 1 with the hub configuration; a BIRD spoke connecting from inside
/// the listen range; GoBGP as hub 2, route-reflector client with next-hop-self all and
/// unsuppress-map ALL.
#[test]
#[ignore = "needs root + gobgpd + bird"]
fn scenario_hub_with_bird_spoke_and_gobgp_rr_client() {
    let hub_spoke_side = Ipv4Addr::new(127, 0, 16, 1);
    let spoke = Ipv4Addr::new(127, 0, 16, 100);
    let hub_lan_side = Ipv4Addr::new(127, 0, 17, 1);
    let hub2 = Ipv4Addr::new(127, 0, 17, 2);
    let api = 50_300 + u16::try_from(std::process::id() % 100).unwrap();

    // hub configuration (SCENARIO.md), on loopback addresses
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
    let mut g = NeighborSettings::ibgp(65001);
    g.hold_time = 9;
    c.peer_groups.insert("Spokes".into(), g);
    c.listen_ranges.push(ListenRange {
        prefix: p("127.0.16.0/24"),
        peer_group: "Spokes".into(),
    });
    c.networks.push(p("192.168.0.0/24"));
    c.aggregates.push(AggregateConfig {
        prefix: p("192.168.0.0/16"),
        summary_only: true,
        as_set: false,
    });
    let mut n = NeighborSettings::ibgp(65001);
    n.port = 1805;
    n.local_addr = Some(hub_lan_side.into());
    n.hold_time = 9;
    n.connect_retry = Duration::from_secs(2);
    n.route_reflector_client = true;
    n.next_hop_self = NextHopSelf::All;
    n.next_hop_self_addr = Some(Ipv4Addr::new(192, 168, 0, 1));
    n.unsuppress_map = Some("ALL".into());
    c.neighbors.insert(hub2.into(), n);
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

    let g = gobgp(
        &gobgp_conf("192.168.0.2", "127.0.17.2", 1805, "127.0.17.1", 1806, true),
        api,
    );
    let b = bird(&crate_spoke_conf("127.0.16.100", "127.0.16.1", 1807, 1808));
    std::thread::sleep(Duration::from_millis(800));
    let mut drv = Driver::new(sp, &[hub_spoke_side.into(), hub_lan_side.into()], 1807);
    // our listener for hub 2's side uses the same port on the other address
    assert!(
        drv.run_until(Duration::from_secs(20), |d| {
            d.sp.neighbor_state(hub2.into()) == Some(State::Established)
                && d.sp.neighbor_state(spoke.into()) == Some(State::Established)
        }),
        "{:?}",
        drv.events
    );
    assert!(
        drv.syslog()
            .contains(&"%BGP-5-ADJCHANGE: neighbor *127.0.16.100 Up".to_string())
    );
    gobgp_cli(
        api,
        "global rib add 10.2.0.0/16 nexthop 192.168.0.2 -a ipv4",
    );

    // hub 2 (GoBGP) receives the specific with next hop rewritten, the aggregate, and the
    // spoke's route reflected with ORIGINATOR_ID and CLUSTER_LIST
    assert!(
        drv.run_until(Duration::from_secs(10), |_| gobgp_route(
            api,
            "172.16.100.0/24"
        )
        .is_some()),
        "{}",
        gobgp_cli(api, "-j global rib -a ipv4")
    );
    let r = gobgp_route(api, "192.168.0.0/24").expect("specific at hub 2");
    assert!(r.contains("\"nexthop\":\"192.168.0.1\""), "{r}");
    let r = gobgp_route(api, "192.168.0.0/16").expect("aggregate at hub 2");
    assert!(r.contains("{\"type\":6}"), "atomic aggregate: {r}");
    let r = gobgp_route(api, "172.16.100.0/24").unwrap();
    assert!(r.contains("\"nexthop\":\"192.168.0.1\""), "{r}");
    assert!(
        r.contains("{\"type\":9,\"value\":\"127.0.16.100\"}"),
        "ORIGINATOR_ID: {r}"
    );
    assert!(
        r.contains("{\"type\":10,\"value\":[\"192.168.0.1\""),
        "CLUSTER_LIST: {r}"
    );

    // the spoke (BIRD) receives only the aggregate, plus hub 2's route reflected to it
    let show = |d: &interop_util::Daemon| birdc(d, "show route all table master4");
    assert!(
        drv.run_until(Duration::from_secs(10), |_| show(&b)
            .contains("10.2.0.0/16")),
        "{}",
        show(&b)
    );
    let out = show(&b);
    assert!(out.contains("192.168.0.0/16"), "{out}");
    assert!(!out.contains("192.168.0.0/24"), "{out}");
    let h2 = out.split("10.2.0.0/16").nth(1).unwrap_or("");
    assert!(h2.contains("BGP.originator_id: 192.168.0.2"), "{out}");
    assert!(h2.contains("BGP.cluster_list: 192.168.0.1"), "{out}");

    // withdrawal at hub 2 reaches the spoke
    gobgp_cli(api, "global rib del 10.2.0.0/16 -a ipv4");
    assert!(
        drv.run_until(Duration::from_secs(10), |_| !show(&b)
            .contains("10.2.0.0/16")),
        "{}",
        show(&b)
    );
    drv.tshark_check(&g.dir.0);
}

fn crate_spoke_conf(local: &str, hub: &str, hub_port: u16, own_port: u16) -> String {
    format!(
        r#"router id {local};
protocol device {{ }}
ipv4 table igptab;
protocol static s_igp {{ ipv4 {{ table igptab; }}; route 0.0.0.0/0 via "lo"; }}
protocol static s_lan {{ ipv4; route 172.16.100.0/24 blackhole; }}
protocol bgp hub {{
  local {local} port {own_port} as 65001;
  strict bind yes;
  neighbor {hub} port {hub_port} as 65001;
  hold time 9;
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 5;
  ipv4 {{ import all; export all; igp table igptab; }};
}}
"#
    )
}

//! Interop with BIRD 2.0 (private instance on 127.0.x.y): a spoke from the listen range
//! becomes a dynamic neighbor and receives only the aggregate; BIRD as a configured neighbor
//! that we connect to.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

mod interop_util;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_lite::config::{AggregateConfig, ListenRange, NeighborSettings};
use bgp_lite::wire::Ipv4Prefix;
use bgp_lite::{IgpRoute, Speaker, SpeakerConfig, State};
use interop_util::{Driver, bird, birdc};

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// A BIRD spoke: iBGP to `hub` from `local`, announcing 172.16.100.0/24, with an igp table
/// holding a default route so recursive next hops resolve.
pub fn spoke_conf(local: &str, hub: &str, hub_port: u16, own_port: u16, passive: bool) -> String {
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
  {passive}
  ipv4 {{ import all; export all; igp table igptab; }};
}}
"#,
        passive = if passive { "passive on;" } else { "" }
    )
}

#[test]
#[ignore = "needs root + bird"]
fn bird_spoke_is_dynamic_neighbor_and_gets_only_the_aggregate() {
    let (hub_ip, spoke_ip) = (Ipv4Addr::new(127, 0, 11, 1), Ipv4Addr::new(127, 0, 11, 100));
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
    let mut g = NeighborSettings::ibgp(65001);
    g.hold_time = 9;
    c.peer_groups.insert("Spokes".into(), g);
    c.listen_ranges.push(ListenRange {
        prefix: p("127.0.11.0/24"),
        peer_group: "Spokes".into(),
    });
    c.networks.push(p("192.168.0.0/24"));
    c.aggregates.push(AggregateConfig {
        prefix: p("192.168.0.0/16"),
        summary_only: true,
        as_set: false,
    });
    let mut sp = Speaker::new(c, now()).unwrap();
    sp.set_route_table(
        now(),
        [IgpRoute {
            prefix: p("192.168.0.0/24"),
            metric: 0,
        }],
    );
    let mut drv = Driver::new(sp, &[IpAddr::V4(hub_ip)], 1793);
    let d = bird(&spoke_conf("127.0.11.100", "127.0.11.1", 1793, 1794, false));
    let spoke: IpAddr = spoke_ip.into();
    assert!(
        drv.run_until(Duration::from_secs(15), |d| d.sp.neighbor_state(spoke)
            == Some(State::Established)),
        "{:?}",
        drv.events
    );
    assert!(
        drv.syslog()
            .contains(&"%BGP-5-ADJCHANGE: neighbor *127.0.11.100 Up".to_string()),
        "{:?}",
        drv.syslog()
    );
    assert!(
        drv.sp
            .neighbors()
            .iter()
            .any(|n| n.addr == spoke && n.dynamic)
    );
    // BIRD's route reaches us
    assert!(drv.run_until(Duration::from_secs(5), |d| {
        d.sp.loc_rib().best(&p("172.16.100.0/24")).is_some()
    }));
    // BIRD has the aggregate and not the specific
    let show = |d: &interop_util::Daemon| birdc(d, "show route all table master4");
    assert!(
        drv.run_until(Duration::from_secs(5), |_| show(&d)
            .contains("192.168.0.0/16")),
        "{}",
        show(&d)
    );
    let out = show(&d);
    assert!(
        !out.contains("192.168.0.0/24"),
        "specific leaked to the spoke:\n{out}"
    );
    let agg = out.split("192.168.0.0/16").nth(1).unwrap_or("");
    assert!(agg.contains("BGP.atomic_aggr"), "{out}");
    assert!(agg.contains("BGP.aggregator: 192.168.0.1 AS65001"), "{out}");
    assert!(agg.contains("BGP.next_hop: 127.0.11.1"), "{out}");
    // withdraw at BIRD: the route leaves our RIB
    birdc(&d, "disable s_lan");
    assert!(drv.run_until(Duration::from_secs(5), |d| {
        d.sp.loc_rib().best(&p("172.16.100.0/24")).is_none()
    }));
    // BIRD restarts the session: the dynamic neighbor goes and comes back
    birdc(&d, "restart hub");
    assert!(
        drv.run_until(Duration::from_secs(5), |d| d.syslog().iter().any(
            |l| l.starts_with("%BGP-5-ADJCHANGE: neighbor *127.0.11.100 Down")
        )),
        "{:?}",
        drv.syslog()
    );
    assert!(
        drv.run_until(Duration::from_secs(15), |d| d.sp.neighbor_state(spoke)
            == Some(State::Established))
    );
    assert!(drv.tshark_check(&d.dir.0) >= 4);
}

#[test]
#[ignore = "needs root + bird"]
fn bird_passive_we_connect() {
    let (our_ip, bird_ip) = (Ipv4Addr::new(127, 0, 13, 1), Ipv4Addr::new(127, 0, 13, 2));
    let d = bird(&spoke_conf("127.0.13.2", "127.0.13.1", 1797, 1798, true));
    std::thread::sleep(Duration::from_millis(500));
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
    let mut n = NeighborSettings::ibgp(65001);
    n.port = 1798;
    n.local_addr = Some(our_ip.into());
    n.hold_time = 9;
    n.connect_retry = Duration::from_secs(2);
    c.neighbors.insert(bird_ip.into(), n);
    c.networks.push(p("192.168.0.0/24"));
    let mut sp = Speaker::new(c, now()).unwrap();
    sp.set_route_table(
        now(),
        [IgpRoute {
            prefix: p("192.168.0.0/24"),
            metric: 0,
        }],
    );
    let mut drv = Driver::new(sp, &[our_ip.into()], 1797);
    assert!(
        drv.run_until(Duration::from_secs(15), |d| d
            .sp
            .neighbor_state(bird_ip.into())
            == Some(State::Established)),
        "{:?}",
        drv.events
    );
    let show = |d: &interop_util::Daemon| birdc(d, "show route all table master4");
    assert!(
        drv.run_until(Duration::from_secs(5), |_| show(&d)
            .contains("192.168.0.0/24")),
        "{}",
        show(&d)
    );
    // route refresh from BIRD
    let before = drv.sp.stats().updates_out;
    birdc(&d, "reload in hub");
    drv.sp.request_route_refresh(now(), bird_ip.into()).unwrap();
    assert!(drv.run_until(Duration::from_secs(5), |d| d.sp.stats().updates_in >= 2));
    let _ = before;
    assert_eq!(
        drv.sp.neighbor_state(bird_ip.into()),
        Some(State::Established)
    );
    drv.tshark_check(&d.dir.0);
}

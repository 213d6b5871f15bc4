//! Differential against FRR: the same topology run twice, once with FRR bgpd running the
//! scenario's hub configuration (almost verbatim) as hub 1 and once with this speaker as hub 1.
//! A BIRD spoke connects from inside the listen range and a GoBGP hub 2 is the
//! route-reflector client; what they receive is compared prefix by prefix and attribute by
//! attribute. Hub 2 is a second BIRD (GoBGP and FRR refuse the 127/8 next hops FRR's
//! `next-hop-self force` writes on loopback; BIRD accepts them). Both BIRDs set a non-127
//! next hop on what they export, because FRR refuses 127/8 next hops (NOTIFICATION 3/8).
//!
//! Documented tolerances:
//! - MED (type 4) is ignored: FRR adds MED 0 to its `network` route on iBGP, IOS copies the
//!   IGP metric; we copy the route table's metric.
//! - Routes hub 2 receives whose ORIGINATOR_ID is hub 2 itself are ignored (FRR reflects a
//!   client's route back to the same client; we do not).
//! - FRR's config adds what bgpd needs on loopback (`no bgp network import-check`, ports,
//!   `update-source`, short timers, `next-hop-self force` for IOS `next-hop-self all`).
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

mod interop_util;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_lite::config::{
    AccessList, AggregateConfig, ListenRange, NeighborSettings, NextHopSelf, RouteMap,
};
use bgp_lite::wire::Ipv4Prefix;
use bgp_lite::{IgpRoute, Speaker, SpeakerConfig};
use interop_util::{Driver, bird, birdc, frr};

const HUB: &str = "127.0.18.1";
const HUB_PORT: u16 = 1809;
const SPOKE: &str = "127.0.18.100";
const HUB2: &str = "127.0.19.2";
const HUB2_PORT: u16 = 1811;

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn frr_hub_conf() -> String {
    format!(
        "router bgp 65001
 bgp router-id 192.168.0.1
 bgp log-neighbor-changes
 no bgp network import-check
 neighbor Spokes peer-group
 neighbor Spokes remote-as 65001
 neighbor Spokes timers 3 9
 bgp listen range 127.0.18.0/24 peer-group Spokes
 neighbor {HUB2} remote-as 65001
 neighbor {HUB2} port {HUB2_PORT}
 neighbor {HUB2} update-source {HUB}
 neighbor {HUB2} timers 3 9
 neighbor {HUB2} timers connect 1
 address-family ipv4 unicast
  network 192.168.0.0/24
  aggregate-address 192.168.0.0/16 summary-only
  neighbor {HUB2} route-reflector-client
  neighbor {HUB2} next-hop-self force
  neighbor {HUB2} unsuppress-map ALL
 exit-address-family
access-list 1 permit any
route-map ALL permit 10
 match ip address 1
"
    )
}

fn our_hub() -> Speaker {
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
    let mut g = NeighborSettings::ibgp(65001);
    g.hold_time = 9;
    c.peer_groups.insert("Spokes".into(), g);
    c.listen_ranges.push(ListenRange {
        prefix: p("127.0.18.0/24"),
        peer_group: "Spokes".into(),
    });
    c.networks.push(p("192.168.0.0/24"));
    c.aggregates.push(AggregateConfig {
        prefix: p("192.168.0.0/16"),
        summary_only: true,
        as_set: false,
    });
    let mut n = NeighborSettings::ibgp(65001);
    n.port = HUB2_PORT;
    n.local_addr = Some(HUB.parse().unwrap());
    n.hold_time = 9;
    n.connect_retry = Duration::from_secs(1);
    n.route_reflector_client = true;
    n.next_hop_self = NextHopSelf::All;
    n.unsuppress_map = Some("ALL".into());
    c.neighbors.insert(HUB2.parse().unwrap(), n);
    c.policy
        .access_lists
        .insert("1".into(), AccessList::permit_any());
    c.policy
        .route_maps
        .insert("ALL".into(), RouteMap::permit_matching_acl(10, "1"));
    let mut sp = Speaker::new(c, Instant::now()).unwrap();
    sp.set_route_table(
        Instant::now(),
        [IgpRoute {
            prefix: p("192.168.0.0/24"),
            metric: 0,
        }],
    );
    sp
}

fn bird_spoke_conf() -> String {
    format!(
        r#"router id {SPOKE};
protocol device {{ }}
ipv4 table igptab;
protocol static s_igp {{ ipv4 {{ table igptab; }}; route 0.0.0.0/0 via "lo"; }}
protocol static s_lan {{ ipv4; route 172.16.100.0/24 blackhole; }}
protocol bgp hub {{
  local {SPOKE} port 1810 as 65001;
  strict bind yes;
  neighbor {HUB} port {HUB_PORT} as 65001;
  hold time 9;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 5;
  ipv4 {{ import all; export all; igp table igptab; next hop address 10.1.1.100; }};
}}
"#
    )
}

fn bird_hub2_conf() -> String {
    format!(
        r#"router id 192.168.0.2;
protocol device {{ }}
ipv4 table igptab;
protocol static s_igp {{ ipv4 {{ table igptab; }}; route 0.0.0.0/0 via "lo"; }}
protocol static s_lan {{ ipv4; route 10.2.0.0/16 blackhole; }}
protocol bgp hub {{
  local {HUB2} port {HUB2_PORT} as 65001;
  strict bind yes;
  neighbor {HUB} port 1812 as 65001;
  passive on;
  hold time 9;
  ipv4 {{ import all; export all; igp table igptab; next hop address 192.168.0.2; }};
}}
"#
    )
}

/// BIRD's BGP routes: prefix -> sorted `BGP.*` attribute lines.
fn bird_routes(out: &str) -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    let mut cur: Option<(String, Vec<String>, bool)> = None;
    let flush = |c: Option<(String, Vec<String>, bool)>, m: &mut BTreeMap<String, Vec<String>>| {
        if let Some((p, mut a, true)) = c {
            a.sort();
            m.insert(p, a);
        }
    };
    for line in out.lines() {
        if !line.starts_with(char::is_whitespace) && line.contains('/') {
            flush(cur.take(), &mut m);
            cur = Some((
                line.split_whitespace().next().unwrap_or("").to_string(),
                Vec::new(),
                false,
            ));
        } else if let Some((_, a, bgp)) = cur.as_mut() {
            let t = line.trim();
            if t.starts_with("Type: BGP") {
                *bgp = true;
            }
            if t.starts_with("BGP.") && !t.starts_with("BGP.med") {
                a.push(t.to_string());
            }
        }
    }
    flush(cur, &mut m);
    m
}

struct Outcome {
    spoke: BTreeMap<String, Vec<String>>,
    hub2: BTreeMap<String, Vec<String>>,
}

fn run(hub_is_frr: bool) -> Outcome {
    let g = bird(&bird_hub2_conf());
    std::thread::sleep(Duration::from_millis(500));
    let (frr_d, mut drv) = if hub_is_frr {
        (
            Some(frr(&frr_hub_conf(), HUB.parse().unwrap(), HUB_PORT)),
            None,
        )
    } else {
        (
            None,
            Some(Driver::new(our_hub(), &[HUB.parse().unwrap()], HUB_PORT)),
        )
    };
    let b = bird(&bird_spoke_conf());
    let want = |s: &Outcome| {
        s.spoke.contains_key("192.168.0.0/16")
            && s.spoke.contains_key("10.2.0.0/16")
            && s.hub2.contains_key("172.16.100.0/24")
            && s.hub2.contains_key("192.168.0.0/24")
    };
    let snapshot = || {
        let mut hub2 = bird_routes(&birdc(&g, "show route all table master4 protocol hub"));
        hub2.retain(|_, a| !a.iter().any(|l| l == "BGP.originator_id: 192.168.0.2"));
        Outcome {
            spoke: bird_routes(&birdc(&b, "show route all table master4 protocol hub")),
            hub2,
        }
    };
    let end = Instant::now() + Duration::from_secs(45);
    let mut s = snapshot();
    while Instant::now() < end && !want(&s) {
        match drv.as_mut() {
            Some(d) => d.run_for(Duration::from_millis(300)),
            None => std::thread::sleep(Duration::from_millis(300)),
        }
        s = snapshot();
    }
    // settle: let any late update arrive
    match drv.as_mut() {
        Some(d) => d.run_for(Duration::from_secs(2)),
        None => std::thread::sleep(Duration::from_secs(2)),
    }
    s = snapshot();
    assert!(
        want(&s),
        "hub_is_frr={hub_is_frr}: incomplete\nspoke {:#?}\nhub2 {:#?}\nfrr: {}",
        s.spoke,
        s.hub2,
        frr_d
            .as_ref()
            .map(|d| interop_util::vtysh(d, "show bgp summary"))
            .unwrap_or_default()
    );
    drop(drv);
    drop(frr_d);
    drop(b);
    drop(g);
    std::thread::sleep(Duration::from_millis(500));
    s
}

#[test]
#[ignore = "needs root + frr + bird"]
fn differential_hub_frr_vs_ours() {
    let frr = run(true);
    let ours = run(false);
    eprintln!("FRR hub: spoke {:#?}\nhub2 {:#?}", frr.spoke, frr.hub2);
    assert_eq!(
        frr.spoke.keys().collect::<Vec<_>>(),
        ours.spoke.keys().collect::<Vec<_>>(),
        "spoke prefixes differ"
    );
    assert_eq!(
        frr.hub2.keys().collect::<Vec<_>>(),
        ours.hub2.keys().collect::<Vec<_>>(),
        "hub 2 prefixes differ"
    );
    for (k, v) in &frr.spoke {
        assert_eq!(Some(v), ours.spoke.get(k), "spoke attributes of {k}");
    }
    for (k, v) in &frr.hub2 {
        assert_eq!(Some(v), ours.hub2.get(k), "hub 2 attributes of {k}");
    }
    assert!(!ours.spoke.contains_key("192.168.0.0/24"), "summary-only");
}

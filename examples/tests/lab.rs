//! The lab, run as a library: asserts on the facts it establishes.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: the simulator's epoch is read once"
)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use flexvpn_router::lab::{self, LabOptions, Phase};

fn run(seed: u64, until: Phase) -> lab::LabReport {
    let opts = LabOptions {
        seed,
        until,
        ..LabOptions::default()
    };
    lab::run(Instant::now(), &opts).unwrap()
}

#[test]
fn same_seed_gives_byte_identical_output() {
    let a = run(7, Phase::Return);
    let b = run(7, Phase::Return);
    assert_eq!(a.output, b.output);
    assert_eq!(a, b);
}

#[test]
fn different_seeds_still_pass() {
    for seed in [1, 2, 99] {
        let r = run(seed, Phase::Up);
        assert!(
            r.underlay_pings.iter().all(|(_, _, ok)| *ok),
            "seed {seed}: {:?}",
            r.underlay_pings
        );
        assert!(r.gre_ping, "seed {seed}");
        assert!(r.phase1.iter().all(|f| f.state == "ACTIVE"), "seed {seed}");
    }
}

#[test]
fn underlay_and_hub_gre_tunnel_carry_real_packets() {
    let r = run(1, Phase::Up);
    assert_eq!(r.underlay_pings.len(), 6);
    assert!(
        r.underlay_pings.iter().all(|(_, _, ok)| *ok),
        "{:?}",
        r.underlay_pings
    );
    assert!(r.gre_ping);
    // Both hubs bring their GRE tunnel up at start, with the IOS line.
    let lines: Vec<_> = r
        .log
        .iter()
        .filter(|(at, _, _)| *at == Duration::ZERO)
        .collect();
    for hub in ["Hub1", "Hub2"] {
        assert!(
            lines.iter().any(|(_, n, t)| n == hub
                && t == "%LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel0, changed state to up"),
            "{lines:?}"
        );
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn in_pool(a: Option<Ipv4Addr>, first: &str, last: &str) -> bool {
    a.is_some_and(|a| a >= ip(first) && a <= ip(last))
}

#[test]
fn phase1_spokes_come_up_over_real_ikev2_with_pool_addresses() {
    let r = run(1, Phase::Up);
    let f: Vec<_> = r.phase1.iter().collect();
    assert_eq!(f.len(), 3);
    for (i, fact) in f.iter().enumerate() {
        assert_eq!(fact.state, "ACTIVE", "spoke{}", i + 1);
    }
    assert_eq!(f[0].peer, Some(ip("172.25.1.1")));
    assert_eq!(f[1].peer, Some(ip("172.25.1.1")));
    assert_eq!(f[2].peer, Some(ip("172.25.2.1")));
    // Spokes 1 and 2 get 10.1.1.100 and .101 from hub 1's pool (in arrival order), spoke 3
    // gets hub 2's first address.
    let mut a12 = vec![f[0].assigned.unwrap(), f[1].assigned.unwrap()];
    a12.sort();
    assert_eq!(a12, vec![ip("10.1.1.100"), ip("10.1.1.101")]);
    assert_eq!(f[2].assigned, Some(ip("10.1.1.176")));
    // Traffic really crosses the tunnels: GRE over ESP transport over UDP 4500.
    assert!(
        r.overlay_pings.iter().all(|(_, _, ok)| *ok),
        "{:?}",
        r.overlay_pings
    );
    // The first connect of each block goes to its peer 1.
    for (node, p1) in [
        ("spoke1", "172.25.1.1"),
        ("spoke2", "172.25.1.1"),
        ("spoke3", "172.25.2.1"),
    ] {
        let first = r.connects.iter().find(|(_, n, _)| n == node).unwrap();
        assert_eq!((first.0, first.2), (Duration::ZERO, ip(p1)), "{node}");
    }
    assert!(
        r.output
            .contains("Spoke2# show crypto ikev2 client flexvpn")
    );
    assert!(
        r.output.contains(
            "    Current state:ACTIVE\n    Peer : 172.25.1.1\n    Source : Ethernet0/0\n"
        )
    );
    assert!(r.output.contains("    Tunnel interface : Tunnel1\n"));
    // Each hub clones one virtual-access interface per spoke.
    let va = |hub: &str| {
        r.log
            .iter()
            .filter(|(_, n, t)| n == hub && t.contains("Virtual-Access") && t.ends_with("to up"))
            .count()
    };
    assert_eq!((va("Hub1"), va("Hub2")), (2, 1), "{:?}", r.log);
}

#[test]
fn phase3_failover_logs_the_scenario_sequence_and_uses_hub2_pool() {
    let r = run(1, Phase::Failover);
    let kill = r.kill_at.unwrap();
    for (name, fact, outage) in &r.failover[..2] {
        assert_eq!(fact.state, "ACTIVE", "{name}");
        assert_eq!(fact.peer, Some(ip("172.25.2.1")), "{name}");
        assert!(
            in_pool(fact.assigned, "10.1.1.177", "10.1.1.254"),
            "{name}: {:?}",
            fact.assigned
        );
        // On-demand DPD cannot notice before 30 s of silence; it must notice within the
        // interval plus the retransmissions of the ikev2 engine.
        let o = outage.unwrap();
        assert!(
            o > Duration::from_secs(30) && o < Duration::from_secs(100),
            "{name}: {o:?}"
        );
    }
    // Spoke 3 never left hub 2.
    assert_eq!(r.failover[2].1.peer, Some(ip("172.25.2.1")));
    assert_eq!(r.failover[2].2, None);
    // The exact IOS sequence of SCENARIO.md, for spoke 2.
    let lines: Vec<&str> = r
        .log
        .iter()
        .filter(|(at, n, t)| *at > kill && n == "Spoke2" && !t.starts_with("%BGP"))
        .map(|(_, _, t)| t.as_str())
        .collect();
    let assigned = r.failover[1].1.assigned.unwrap();
    let expected = [
        "%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is DOWN.  Peer 172.25.1.1:500 Id: 172.25.1.1".to_owned(),
        "%FLEXVPN-6-FLEXVPN_CONNECTION_DOWN: FlexVPN(Flex_Client) Client_public_addr = 172.16.2.2 Server_public_addr = 172.25.1.1".to_owned(),
        "%LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel1, changed state to down".to_owned(),
        "%LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel1, changed state to up".to_owned(),
        "%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is UP.  Peer 172.25.2.1:500 Id: 172.25.2.1".to_owned(),
        format!(
            "%FLEXVPN-6-FLEXVPN_CONNECTION_UP: FlexVPN(Flex_Client) Client_public_addr = 172.16.2.2 \
             Server_public_addr = 172.25.2.1 Assigned_Tunnel_v4_addr = {assigned}"
        ),
    ];
    assert_eq!(lines, expected);
    // Traffic to the hubs' overlay address resumes through hub 2.
    assert!(
        r.overlay_pings_after.iter().all(|(_, _, ok)| *ok),
        "{:?}",
        r.overlay_pings_after
    );
    // The flows from spokes 1 and 2 to the server on the hubs' LAN lost packets only during the
    // outage: the longest gap in arrivals is the IKE failover plus the BGP re-connection (the
    // aggregate comes back from hub 2; connect retry 10 s), and everything outside it arrived.
    for (flow, (_, _, outage)) in ["spoke1-lan#10", "spoke2-lan#11"].iter().zip(&r.failover) {
        let f = r.flows[*flow];
        let o = outage.unwrap();
        assert!(f.max_gap >= o, "{flow}: {f:?} vs {o:?}");
        assert!(
            f.max_gap <= o + Duration::from_secs(12),
            "{flow}: {f:?} vs {o:?}"
        );
        let lost = f.sent - f.received;
        let outage_packets = (f.max_gap.as_millis() / 100) as u64;
        assert!(
            lost <= outage_packets + 1,
            "{flow}: lost {lost}, outage {outage_packets} packets"
        );
        assert!(
            lost + 1 >= outage_packets,
            "{flow}: lost {lost}, outage {outage_packets} packets"
        );
    }
    let f3 = r.flows["spoke3-lan#12"];
    // Spoke 3 lost nothing (one probe may still be in flight when the phase ends).
    assert!(f3.sent - f3.received <= 1, "{f3:?}");
}

#[test]
fn phase4_peer_reactivate_moves_spoke1_back() {
    let r = run(1, Phase::Return);
    let p4: Vec<_> = r.phase4.iter().map(|f| f.peer).collect();
    // Spoke 1 has `peer reactivate`: back on hub 1. Spoke 2 does not: it stays on hub 2.
    assert_eq!(
        p4,
        vec![
            Some(ip("172.25.1.1")),
            Some(ip("172.25.2.1")),
            Some(ip("172.25.2.1"))
        ]
    );
    assert!(in_pool(r.phase4[0].assigned, "10.1.1.100", "10.1.1.175"));
    // The rebooted hub 1 re-establishes iBGP with hub 2 and its spoke session.
    let back = |node: &str, text: &str| {
        r.log
            .iter()
            .any(|(at, n, t)| *at > Duration::from_secs(142) && n == node && t == text)
    };
    assert!(back("Hub1", "%BGP-5-ADJCHANGE: neighbor 192.168.0.2 Up"));
    assert!(back("Hub1", "%BGP-5-ADJCHANGE: neighbor *10.1.1.100 Up"));
}

#[test]
fn phase1_bgp_converges_spokes_see_only_the_aggregate() {
    let r = run(1, Phase::Shortcut);
    let p = |s: &str, l| flexvpn_router::prefix::Prefix::new(ip(s), l).unwrap();
    // Spokes: exactly the 192.168.0.0/16 aggregate, one session (to 10.1.1.1).
    for spoke in ["spoke1", "spoke2", "spoke3"] {
        assert_eq!(
            r.bgp_routes[spoke],
            vec![(p("192.168.0.0", 16), false)],
            "{spoke}"
        );
        assert_eq!(r.bgp_peers[spoke], vec![(ip("10.1.1.1"), false)], "{spoke}");
    }
    // Hubs: the aggregate's discard route, and every LAN (their own, the other hub's through
    // the reflected iBGP session, every spoke's).
    for hub in ["hub1", "hub2"] {
        let routes = &r.bgp_routes[hub];
        assert!(
            routes.contains(&(p("192.168.0.0", 16), true)),
            "{hub}: {routes:?}"
        );
        for lan in ["192.168.11.0", "192.168.12.0", "192.168.13.0"] {
            assert!(
                routes.contains(&(p(lan, 24), false)),
                "{hub} lacks {lan}: {routes:?}"
            );
        }
    }
    assert!(r.bgp_routes["hub1"].contains(&(p("192.168.2.0", 24), false)));
    assert!(r.bgp_routes["hub2"].contains(&(p("192.168.1.0", 24), false)));
    // Dynamic neighbors from the listen range on the hubs, plus the other hub.
    let mut h1 = r.bgp_peers["hub1"].clone();
    h1.sort();
    let mut expect = vec![
        (ip("10.1.1.100"), true),
        (ip("10.1.1.101"), true),
        (ip("192.168.0.2"), false),
    ];
    expect.sort();
    assert_eq!(h1, expect);
    assert!(
        r.output
            .contains("%BGP-5-ADJCHANGE: neighbor *10.1.1.176 Up")
    );
    // Spoke-to-spoke traffic flows (through the hubs first, then on the shortcuts).
    for name in ["spoke1-lan#1", "spoke1-lan#2"] {
        let f = r.flows[name];
        assert_eq!(f.sent, f.received, "{name}: {f:?}");
    }
    // spoke1 -> spoke3 crossed both hubs until its shortcut came up.
    assert!(r.hub_forwarded.1 >= 1, "{:?}", r.hub_forwarded);
}

#[test]
fn phase2_redirect_builds_spoke_to_spoke_shortcuts_and_traffic_moves_onto_them() {
    let r = run(1, Phase::Shortcut);
    let p = |s: &str, l| flexvpn_router::prefix::Prefix::new(ip(s), l).unwrap();
    // Same hub (spoke 2) and across the hubs (spoke 3: hub 1 forwards the resolution request
    // to hub 2 over the hubs' GRE tunnel).
    let (shortcuts, direct) = &r.shortcuts["spoke1"];
    assert_eq!(
        shortcuts,
        &vec![
            (p("192.168.12.0", 24), "Virtual-Access1".to_owned()),
            (p("192.168.13.0", 24), "Virtual-Access2".to_owned())
        ]
    );
    // The first packets went through the hubs (which redirected), the rest on the direct
    // tunnels; nothing was lost.
    let f1 = r.flows["spoke1-lan#1"];
    let f2 = r.flows["spoke1-lan#2"];
    assert_eq!((f1.received, f2.received), (f1.sent, f2.sent));
    assert!(
        *direct >= 80,
        "only {direct} of {} packets took the shortcuts",
        f1.sent + f2.sent
    );
    assert!(
        r.hub_forwarded.0 < 50,
        "hub 1 still forwarded {:?}",
        r.hub_forwarded
    );
    assert!(
        r.hub_forwarded.1 < 50,
        "hub 2 still forwarded {:?}",
        r.hub_forwarded
    );
    // Each pair of spokes built its tunnel with IKEv2 and logged it.
    for (node, peer) in [
        ("Spoke1", "172.16.2.2"),
        ("Spoke2", "172.16.1.2"),
        ("Spoke1", "172.16.3.2"),
        ("Spoke3", "172.16.1.2"),
    ] {
        let line = format!(
            "%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is UP.  Peer {peer}:500 Id: {peer}"
        );
        assert!(
            r.log.iter().any(|(_, n, t)| n == node && *t == line),
            "{node} {peer}"
        );
    }
    assert!(r.output.contains("Spoke1# show ip nhrp"));
}

#[test]
fn nothing_is_reported_missing_when_every_phase_works() {
    let r = run(1, Phase::Return);
    assert_eq!(r.last_phase, Some(Phase::Return));
    assert!(r.missing.is_empty(), "{:?}", r.missing);
    assert!(!r.output.contains("not working"));
}

#[test]
fn until_stops_early_and_quiet_prints_only_the_summary() {
    let opts = LabOptions {
        until: Phase::Up,
        quiet: true,
        ..LabOptions::default()
    };
    let r = lab::run(Instant::now(), &opts).unwrap();
    assert_eq!(r.last_phase, Some(Phase::Up));
    assert!(
        r.output.starts_with("Summary (1 phases run)"),
        "{}",
        r.output
    );
    assert!(r.flows.is_empty());
}

#[test]
fn config_dir_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("flexvpn-router-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in lab::DEFAULT_CONFIGS {
        std::fs::write(dir.join(format!("{name}.cfg")), text).unwrap();
    }
    std::fs::write(dir.join("spoke2.cfg"), "hostname S2\nbogus line\n").unwrap();
    let opts = LabOptions {
        config_dir: Some(dir.clone()),
        ..LabOptions::default()
    };
    let e = lab::run(Instant::now(), &opts).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let msg = e.to_string();
    assert!(
        msg.starts_with("spoke2.cfg: line 2: unknown command `bogus line`"),
        "{msg}"
    );
}

/// A temporary configuration directory, removed on drop (even when the test fails).
struct ConfDir(std::path::PathBuf);

impl Drop for ConfDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shipped configurations with the keyrings rewritten: the spokes sign with
/// `spoke_local` and check `spoke_remote`, the hubs sign with `hub_local` and check `hub_remote`.
fn psk_lab(
    tag: &str,
    (spoke_local, spoke_remote): (&str, &str),
    (hub_local, hub_remote): (&str, &str),
) -> (lab::Lab, ConfDir) {
    let dir = ConfDir(
        std::env::temp_dir().join(format!("flexvpn-router-psk-{tag}-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let shipped = "  pre-shared-key local cisco\n  pre-shared-key remote cisco\n";
    for (name, text) in lab::DEFAULT_CONFIGS {
        assert!(text.contains(shipped), "{name}");
        let (l, r) = if name.starts_with("hub") {
            (hub_local, hub_remote)
        } else {
            (spoke_local, spoke_remote)
        };
        let text = text.replace(
            shipped,
            &format!("  pre-shared-key local {l}\n  pre-shared-key remote {r}\n"),
        );
        std::fs::write(dir.0.join(format!("{name}.cfg")), text).unwrap();
    }
    let opts = LabOptions {
        config_dir: Some(dir.0.clone()),
        quiet: true,
        ..LabOptions::default()
    };
    let mut l = lab::Lab::build(Instant::now(), &opts).unwrap();
    l.sim.run_for(Duration::from_secs(20));
    (l, dir)
}

fn auth_failed_lines(l: &lab::Lab, router: &str) -> Vec<String> {
    l.router(router)
        .unwrap()
        .log()
        .iter()
        .filter(|x| x.text.starts_with("%IKEV2-5-AUTH_FAILED"))
        .map(|x| x.text.clone())
        .collect()
}

#[test]
fn asymmetric_psks_that_match_crosswise_bring_the_spokes_up() {
    let (l, _dir) = psk_lab(
        "cross",
        ("spoke-to-hub", "hub-to-spoke"),
        ("hub-to-spoke", "spoke-to-hub"),
    );
    for s in ["spoke1", "spoke2", "spoke3"] {
        let c = l.router(s).unwrap().flex_client().unwrap();
        assert_eq!(c.state().to_string(), "ACTIVE", "{s}");
        assert!(c.assigned_address().is_some(), "{s}");
        assert!(auth_failed_lines(&l, s).is_empty(), "{s}");
    }
    for h in ["hub1", "hub2"] {
        assert!(auth_failed_lines(&l, h).is_empty(), "{h}");
    }
}

#[test]
fn asymmetric_psks_that_do_not_match_fail_with_the_auth_failed_log() {
    // The hubs check the spokes' AUTH with a key the spokes do not sign with.
    let (l, _dir) = psk_lab(
        "wrong",
        ("spoke-to-hub", "hub-to-spoke"),
        ("hub-to-spoke", "wrong"),
    );
    for s in ["spoke1", "spoke2", "spoke3"] {
        let c = l.router(s).unwrap().flex_client().unwrap();
        assert_ne!(c.state().to_string(), "ACTIVE", "{s}");
        assert!(c.assigned_address().is_none(), "{s}");
        let lines = auth_failed_lines(&l, s);
        assert!(
            lines.iter().any(|t| t.contains("peer 172.25.")),
            "{s}: {:?}",
            l.router(s).unwrap().log()
        );
    }
    // No virtual-access was cloned on either hub.
    for h in ["hub1", "hub2"] {
        let n = l.router(h).unwrap();
        assert!(
            !n.log().iter().any(|x| x.text.contains("Virtual-Access")),
            "{h}: {:?}",
            n.log()
        );
    }
}

#[test]
fn phase2_spokes_ping_each_others_tunnel_address_over_the_shortcut() {
    let r = run(1, Phase::Shortcut);
    let addr = |s: &str| {
        r.phase1[usize::from(s.as_bytes()[5] - b'1')]
            .assigned
            .unwrap()
    };
    let (a1, a2, a3) = (addr("spoke1"), addr("spoke2"), addr("spoke3"));
    // Spoke 1 resolved both shortcuts; the other ends answered them: each side holds a host
    // route to the other's tunnel address on its virtual-access.
    assert_eq!(
        r.shortcut_hosts["spoke1"],
        vec![
            (a2, "Virtual-Access1".to_owned()),
            (a3, "Virtual-Access2".to_owned())
        ]
    );
    for s in ["spoke2", "spoke3"] {
        let h = &r.shortcut_hosts[s];
        assert_eq!(h.len(), 1, "{s}: {h:?}");
        assert_eq!(h[0].0, a1, "{s}: {h:?}");
        assert!(h[0].1.starts_with("Virtual-Access"), "{s}: {h:?}");
    }
    // The echo request left on the spoke-to-spoke tunnel and was answered.
    assert_eq!(r.shortcut_tunnel_pings, vec![(a2, true, 1), (a3, true, 1)]);
    assert!(r.output.contains(&format!(
        "H     {a2}/32 is directly connected, Virtual-Access1"
    )));
}

#[test]
fn phase4_hub2_drops_the_departed_spokes_routes_by_next_hop_check_not_session_reset() {
    let r = run(1, Phase::Return);
    // Spoke 1's address on hub 2 during the failover.
    let old = r.failover[0].1.assigned.unwrap();
    assert!(in_pool(Some(old), "10.1.1.176", "10.1.1.254"));
    let (peers, bgp) = &r.phase4_hub2_bgp;
    // Spoke 1 left hub 2 for hub 1: hub 2 did not reset the BGP session with the old address
    // (it is up until its hold timer), yet no path of hub 2 uses it as next hop: its
    // virtual-access and the host route to it are gone, so the next hop no longer resolves.
    assert!(peers.contains(&(old, true)), "{peers:?}");
    assert!(!bgp.contains(&old.to_string()), "{bgp}");
    // Spoke 1's LAN is reached through hub 1 (next-hop-self on the hubs' iBGP).
    let lan = bgp
        .lines()
        .find(|l| l.contains("192.168.11.0/24"))
        .unwrap_or_else(|| panic!("{bgp}"));
    assert!(lan.contains("192.168.0.1"), "{bgp}");
}

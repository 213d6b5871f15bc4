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
    assert!(r.hub_tcp, "smoltcp TCP between the hubs");
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

#[test]
fn client_blocks_try_their_peers_in_order() {
    let r = run(1, Phase::Up);
    let hub1 = Ipv4Addr::new(172, 25, 1, 1);
    let hub2 = Ipv4Addr::new(172, 25, 2, 1);
    let first = |node: &str| {
        r.connects
            .iter()
            .filter(|(_, n, _)| n == node)
            .map(|(at, _, p)| (*at, *p))
            .collect::<Vec<_>>()
    };
    // Spokes 1 and 2: peer 1 is hub 1; spoke 3: peer 1 is hub 2. Without an IKE layer each
    // attempt times out after flexclient's 30 s connect timeout and the next peer is tried.
    for (node, p1, p2) in [
        ("spoke1", hub1, hub2),
        ("spoke2", hub1, hub2),
        ("spoke3", hub2, hub1),
    ] {
        let c = first(node);
        assert_eq!(c[0], (Duration::ZERO, p1), "{node}");
        assert_eq!(c[1], (Duration::from_secs(30), p2), "{node}");
    }
    assert!(
        r.output
            .contains("Spoke2# show crypto ikev2 client flexvpn")
    );
    assert!(r.output.contains("Tunnel interface : Tunnel1"));
}

#[test]
fn missing_parts_are_reported_not_faked() {
    let r = run(1, Phase::Return);
    assert_eq!(r.last_phase, Some(Phase::Return));
    assert!(!r.missing.is_empty());
    assert!(r.output.contains("not composed yet"));
    // Spoke-to-spoke flows find no route yet: nothing arrives.
    for (name, f) in &r.flows {
        assert!(f.sent > 0, "{name}");
        assert_eq!(f.received, 0, "{name}");
    }
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

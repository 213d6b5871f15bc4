//! `flexvpn-router lab --netns` end to end: four router processes in namespaces, traffic between
//! the spokes' LANs, hub 1 killed, failover to hub 2 measured, hub 1 restarted; and nothing left
//! behind afterwards.
//!
//! Run as root: `cargo test -p flexvpn-router --test netns_lab -- --include-ignored --nocapture`.
#![allow(clippy::disallowed_methods, reason = "test driver: real processes")]

use std::process::Command;

#[test]
#[ignore = "needs root + iproute2 + iperf3"]
fn lab_netns_runs_all_phases_and_cleans_up() {
    let ours = || {
        let o = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("fxl"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let before = ours();
    let out = Command::new(env!("CARGO_BIN_EXE_flexvpn-router"))
        .args([
            "lab",
            "--netns",
            "--dpd",
            "10 2 on-demand",
            "--iperf-secs",
            "2",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    let summary = stdout.lines().find(|l| l.starts_with("summary:")).unwrap();
    // An address from hub 2's pool (10.1.1.176-254): spoke 2 may have taken .176 first.
    let addr: std::net::Ipv4Addr = summary
        .split("spoke1 on hub2 with Some(\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no failover address: {summary}"));
    assert!(
        addr.octets()[..3] == [10, 1, 1] && addr.octets()[3] >= 176,
        "{summary}"
    );
    assert!(summary.contains("failover outage Some("), "{summary}");
    assert!(stdout.contains("20/20 replies"), "{stdout}");
    assert!(stdout.contains("FLEXVPN_CONNECTION_DOWN"), "{stdout}");
    // The NHRP shortcut: spoke 1 sent the flow on its spoke-to-spoke Virtual-Access tunnel.
    let direct: u64 = stdout
        .lines()
        .filter(|l| l.contains("Spoke1 counters: Virtual-Access"))
        .filter_map(|l| {
            l.split("out_packets: ")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        direct > 100,
        "no traffic on a spoke-to-spoke tunnel: {stdout}"
    );
    // Tunnel address to tunnel address over the shortcut: all answered, and the requests left
    // on spoke 1's spoke-to-spoke Virtual-Access (not by the default route, not via a hub).
    let (replies, on_va): (usize, u64) = summary
        .split("tunnel-to-tunnel ping over the shortcut Some((")
        .nth(1)
        .and_then(|s| s.split("))").next())
        .and_then(|s| {
            let (a, b) = s.split_once(", ")?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or_else(|| panic!("no tunnel-to-tunnel ping: {summary}"));
    assert_eq!(replies, 10, "{summary}");
    assert!(on_va >= 10, "{summary}");
    // The hubs' iBGP over the GRE Tunnel0 between them.
    assert!(summary.contains("hubs iBGP: true"), "{summary}");
    // Hub 1 back: spoke 1 (`peer reactivate`) returns to it, spoke 2 (as in SCENARIO.md, no
    // `peer reactivate`) stays on hub 2, and the two LANs reach each other across the hubs.
    assert!(summary.contains("hub1 back: true"), "{summary}");
    assert!(summary.contains("spoke1 returned after Some("), "{summary}");
    assert!(summary.contains("spoke2 stayed on hub2: true"), "{summary}");
    assert!(summary.contains("cross-hub ping: true"), "{summary}");
    assert_eq!(before, ours(), "lab namespaces left behind");
}

//! TCP throughput (iperf3) through one tunnel, side by side in one run:
//! - this router: hub 1 and spoke 1 as `flexvpn-router run` processes in namespaces (GRE over
//!   ESP transport, AES-256-GCM, ESP-in-UDP on 4500), LAN host to LAN host;
//! - two strongSwan instances: a spoke charon initiating to a hub charon (tunnel mode,
//!   user-space ESP through `kernel-libipsec`, AES-256-GCM, forced ESP-in-UDP), from the
//!   spoke's virtual IP to a LAN host on the hub's `lo`.
//!
//! The router runs as a release build, made once by the test (`cargo build --release -p
//! flexvpn-router --bin flexvpn-router`, before anything is timed); strongSwan is the optimized
//! Debian package. Both paths are measured alternately, [`ROUNDS`] times each, in one run.
//!
//! Run as root: `cargo test -p flexvpn-router --test strongswan_iperf -- --include-ignored --nocapture`.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real processes and clock"
)]

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use flexvpn_router::linux::charon::{Charon, hub_swanctl_conf};
use flexvpn_router::linux::netns::{Netns, exec, veth};
use flexvpn_router::linux::unique_name;
use support::{RemoveDir, Router, release_router};

const SECS: &str = "3";
/// Alternating measurements of each path.
const ROUNDS: usize = 3;

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// iperf3 client in `client_ns` from `src` to a one-shot server on `dst` in `server_ns`;
/// the receiver's bit/s.
fn iperf(server_ns: &str, client_ns: &str, src: &str, dst: &str) -> f64 {
    let mut srv = Command::new("ip")
        .args(["netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", dst])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 (apt-get install iperf3)");
    std::thread::sleep(Duration::from_millis(300));
    let o = exec(
        client_ns,
        "iperf3",
        &["-c", dst, "-B", src, "-t", SECS, "-J"],
    )
    .unwrap();
    let _ = srv.kill();
    let _ = srv.wait();
    let j = String::from_utf8_lossy(&o.stdout);
    j.split("\"sum_received\"")
        .nth(1)
        .and_then(|s| s.split("\"bits_per_second\":").nth(1))
        .and_then(|s| s.split([',', '\n', '}']).next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("iperf3 {src} -> {dst} failed: {j}"))
}

fn spoke_conf() -> String {
    "connections {
  spoke {
    version = 2
    local_addrs = 172.25.1.2
    remote_addrs = 172.25.1.1
    vips = 0.0.0.0
    proposals = aes256gcm16-prfsha256-curve25519
    mobike = no
    local {
      auth = psk
      id = spoke1
    }
    remote {
      auth = psk
      id = hub.example
    }
    children {
      tun {
        mode = tunnel
        remote_ts = 192.168.0.0/24
        esp_proposals = aes256gcm16
      }
    }
  }
}
secrets {
  ike-1 {
    secret = cisco
  }
}
"
    .to_owned()
}

#[test]
#[ignore = "needs root + strongswan + iperf3"]
fn iperf3_router_tunnel_vs_strongswan_pair() {
    let bin = release_router();
    // This router: underlay namespace, hub 1 and spoke 1 processes.
    let dir = std::env::temp_dir().join(unique_name("flexvpn-iperf-"));
    std::fs::create_dir_all(&dir).unwrap();
    let _dir_guard = RemoveDir(dir.clone());
    let under = Netns::new(&unique_name("fxriu")).expect("netns (root?)");
    let hub = Netns::new(&unique_name("fxrih")).unwrap();
    let spoke = Netns::new(&unique_name("fxris")).unwrap();
    under.forwarding().unwrap();
    for (ns, ours, theirs) in [
        (&hub, "172.25.1.254", "172.25.1.1"),
        (&spoke, "172.16.1.1", "172.16.1.2"),
    ] {
        veth(
            &under,
            &unique_name("fxiv"),
            ip4(ours),
            ns,
            "eth0",
            ip4(theirs),
            24,
        )
        .unwrap();
        ns.ip(&["route", "add", "default", "via", ours]).unwrap();
    }
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let dpd = "30 5 on-demand";
    let r_hub = Router::start_bin(
        &bin,
        hub.name(),
        "hub1",
        &configs.join("hub1.cfg"),
        &dir,
        dpd,
    );
    let r_spoke = Router::start_bin(
        &bin,
        spoke.name(),
        "spoke1",
        &configs.join("spoke1.cfg"),
        &dir,
        dpd,
    );
    let tun_of = |r: &Router| {
        r.output()
            .lines()
            .find_map(|l| l.strip_prefix("Ethernet0/1: TUN "))
            .and_then(|r| r.split(',').next())
            .unwrap()
            .to_owned()
    };
    spoke
        .ip(&[
            "route",
            "add",
            "192.168.0.0/16",
            "dev",
            &tun_of(&r_spoke),
            "src",
            "192.168.11.254",
        ])
        .unwrap();
    hub.ip(&[
        "route",
        "add",
        "192.168.11.0/24",
        "dev",
        &tun_of(&r_hub),
        "src",
        "192.168.0.254",
    ])
    .unwrap();
    r_spoke.wait_log(
        "%BGP-5-ADJCHANGE: neighbor 10.1.1.1 Up",
        Duration::from_secs(20),
    );
    let mut ok = false;
    for _ in 0..50 {
        let o = exec(
            spoke.name(),
            "ping",
            &[
                "-c",
                "1",
                "-W",
                "1",
                "-I",
                "192.168.11.254",
                "192.168.0.254",
            ],
        )
        .unwrap();
        if o.status.success() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ok, "no ping through the router tunnel");

    // Two strongSwan instances, hub and spoke, on a direct veth.
    let ss_hub = Netns::new(&unique_name("fxrih")).unwrap();
    let ss_spoke = Netns::new(&unique_name("fxris")).unwrap();
    veth(
        &ss_hub,
        &unique_name("fxih"),
        ip4("172.25.1.1"),
        &ss_spoke,
        &unique_name("fxis"),
        ip4("172.25.1.2"),
        24,
    )
    .unwrap();
    ss_hub
        .ip(&["addr", "add", "192.168.0.1/32", "dev", "lo"])
        .unwrap();
    let c_hub = Charon::start(
        ss_hub.name(),
        &dir.join("ss-hub"),
        &hub_swanctl_conf("172.25.1.1", "10.1.1.100-10.1.1.175", 30),
    )
    .unwrap();
    let c_spoke = Charon::start(ss_spoke.name(), &dir.join("ss-spoke"), &spoke_conf()).unwrap();
    c_spoke
        .swanctl(&["--initiate", "--child", "tun", "--timeout", "10"])
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", c_spoke.log(), c_hub.log()));
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 1..=ROUNDS {
        let o = iperf(hub.name(), spoke.name(), "192.168.11.254", "192.168.0.254");
        let t = iperf(ss_hub.name(), ss_spoke.name(), "10.1.1.100", "192.168.0.1");
        println!(
            "round {round}: flexvpn-router {:.1} Mbit/s, strongSwan {:.1} Mbit/s, ratio {:.2}",
            o / 1e6,
            t / 1e6,
            o / t
        );
        ours.push(o);
        theirs.push(t);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (o, t) = (median(&mut ours), median(&mut theirs));
    println!(
        "iperf3 TCP, {SECS} s x {ROUNDS} alternating, AES-256-GCM ESP-in-UDP, one tunnel, \
         medians: flexvpn-router (release build, GRE over ESP transport) {:.1} Mbit/s; \
         strongSwan 5.9.8 pair (kernel-libipsec, tunnel mode) {:.1} Mbit/s; ratio {:.2}",
        o / 1e6,
        t / 1e6,
        o / t
    );
    assert!(o > 0.0 && t > 0.0);
    drop(c_spoke);
    drop(c_hub);
    drop(r_spoke);
    drop(r_hub);
}

//! `flexvpn-router run` on real Linux networking: the scenario's hub 1, hub 2 and spoke 1 as
//! three router processes in network namespaces of their own, joined by an underlay namespace
//! that routes between 172.25.1.0/24, 172.25.2.0/24 and 172.16.1.0/24. Each LAN is a TUN device
//! whose kernel side (the last host of the subnet) is the LAN host.
//!
//! The spoke comes up on hub 1 (address from pool 1), its LAN host pings hub 1's LAN host and
//! runs iperf3 through the tunnel; then hub 1's process is killed by PID (SIGKILL), the spoke
//! detects it by DPD, fails over to hub 2 with an address from pool 2, and the pings resume.
//! The outage is measured from the ping stream.
//!
//! Run as root: `cargo test -p flexvpn-router --test netns_run -- --include-ignored --nocapture`.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use flexvpn_router::linux::netns::{Netns, exec, veth};
use flexvpn_router::linux::unique_name;
use support::{RemoveDir, Router};

const DPD: &str = "10 2 on-demand";

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The TUN device the router made for `iface` (from its startup lines).
fn tun_of(r: &Router, iface: &str) -> String {
    let out = r.output();
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{iface}: TUN ")))
        .unwrap_or_else(|| panic!("no TUN for {iface}:\n{out}"));
    line.split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(',')
        .to_owned()
}

/// Parses `ping -D` output: the epoch times of the replies.
fn reply_times(out: &str) -> Vec<f64> {
    out.lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

/// The TUN device the router made for tunnel interface `iface` with address `addr`.
fn tun_of_tunnel(r: &Router, iface: &str, addr: Ipv4Addr) -> String {
    let out = r.output();
    let prefix = format!("{iface}: TUN ");
    out.lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(&format!("address {addr}/32")))
        .find_map(|l| l.split_whitespace().nth(2))
        .map(|t| t.trim_end_matches(',').to_owned())
        .unwrap_or_else(|| panic!("no TUN for {iface} {addr}:\n{out}"))
}

/// `ss -tn` lines of established TCP connections with port 179 on either side.
fn established_179(ns: &str) -> String {
    let o = exec(ns, "ss", &["-tn", "state", "established"]).unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(":179"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The kernel's count of ICMP echo replies sent (`Icmp: OutEchoReps` of /proc/net/snmp).
fn echo_replies_sent(ns: &str) -> u64 {
    let o = exec(ns, "cat", &["/proc/net/snmp"]).unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut icmp = text.lines().filter(|l| l.starts_with("Icmp:"));
    let (Some(names), Some(values)) = (icmp.next(), icmp.next()) else {
        panic!("no Icmp lines in /proc/net/snmp:\n{text}");
    };
    let i = names
        .split_whitespace()
        .position(|n| n == "OutEchoReps")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

fn log_count(r: &Router, what: &str) -> usize {
    r.output().matches(what).count()
}

fn show(node: &str, cmd: &str, dir: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_flexvpn-router"))
        .args(["show", cmd, "--node", node, "--control-dir"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
#[ignore = "needs root + iproute2 + iperf3"]
fn hub1_killed_spoke_fails_over_to_hub2() {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let dir = std::env::temp_dir().join(unique_name("flexvpn-netns-"));
    std::fs::create_dir_all(&dir).unwrap();
    let _dir_guard = RemoveDir(dir.clone());
    let under = Netns::new(&unique_name("fxrnu")).expect("netns (root?)");
    let hub1 = Netns::new(&unique_name("fxrnh")).unwrap();
    let hub2 = Netns::new(&unique_name("fxrnh")).unwrap();
    let spoke = Netns::new(&unique_name("fxrns")).unwrap();
    under.forwarding().unwrap();
    for (ns, ours, theirs, net) in [
        (&hub1, "172.25.1.254", "172.25.1.1", "h1"),
        (&hub2, "172.25.2.254", "172.25.2.1", "h2"),
        (&spoke, "172.16.1.1", "172.16.1.2", "s1"),
    ] {
        let a = unique_name(&format!("u{net}"));
        veth(&under, &a, ip4(ours), ns, "eth0", ip4(theirs), 24).unwrap();
        ns.ip(&["route", "add", "default", "via", ours]).unwrap();
    }
    let mut r_hub1 = Router::start(hub1.name(), "hub1", &configs.join("hub1.cfg"), &dir, DPD);
    let r_hub2 = Router::start(hub2.name(), "hub2", &configs.join("hub2.cfg"), &dir, DPD);
    let r_spoke = Router::start(
        spoke.name(),
        "spoke1",
        &configs.join("spoke1.cfg"),
        &dir,
        DPD,
    );
    // The kernels' LAN hosts route the other LANs through their router's TUN.
    let s_tun = tun_of(&r_spoke, "Ethernet0/1");
    spoke
        .ip(&[
            "route",
            "add",
            "192.168.0.0/16",
            "dev",
            &s_tun,
            "src",
            "192.168.11.254",
        ])
        .unwrap();
    for (ns, r) in [(&hub1, &r_hub1), (&hub2, &r_hub2)] {
        let t = tun_of(r, "Ethernet0/1");
        ns.ip(&[
            "route",
            "add",
            "192.168.11.0/24",
            "dev",
            &t,
            "src",
            "192.168.0.254",
        ])
        .unwrap();
    }
    let up = r_spoke.wait_log(
        "Server_public_addr = 172.25.1.1 Assigned_Tunnel_v4_addr = 10.1.1.1",
        Duration::from_secs(15),
    );
    r_spoke.wait_log(
        "%BGP-5-ADJCHANGE: neighbor 10.1.1.1 Up",
        Duration::from_secs(15),
    );
    println!("spoke up on hub 1 after {up:?}");

    // BGP runs over the kernels' TCP through the tunnel: the spoke's TUN has the negotiated
    // address, its kernel connected from it to the hub's tunnel address, the hub's kernel
    // accepted on 10.1.1.1:179.
    let spoke_addr = r_spoke
        .output()
        .lines()
        .find_map(|l| l.split("Assigned_Tunnel_v4_addr = ").nth(1))
        .and_then(|a| a.trim().parse::<Ipv4Addr>().ok())
        .unwrap();
    let s_tunnel_tun = tun_of_tunnel(&r_spoke, "Tunnel1", spoke_addr);
    let addrs = exec(
        spoke.name(),
        "ip",
        &["-4", "addr", "show", "dev", &s_tunnel_tun],
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&addrs.stdout).contains(&format!("inet {spoke_addr}/32")),
        "{}",
        String::from_utf8_lossy(&addrs.stdout)
    );
    let ss_spoke = established_179(spoke.name());
    let ss_hub = established_179(hub1.name());
    println!("spoke ss -tn:\n{ss_spoke}hub 1 ss -tn:\n{ss_hub}");
    assert!(
        ss_spoke.contains(&format!("{spoke_addr}:")) && ss_spoke.contains("10.1.1.1:179"),
        "spoke: kernel TCP to 10.1.1.1:179 from {spoke_addr}:\n{ss_spoke}"
    );
    assert!(
        ss_hub.contains("10.1.1.1:179") && ss_hub.contains(&format!("{spoke_addr}:")),
        "hub 1: kernel TCP on 10.1.1.1:179 from {spoke_addr}:\n{ss_hub}"
    );
    assert!(
        r_spoke.output().contains("BGP: kernel TCP"),
        "{}",
        r_spoke.output()
    );
    assert!(
        r_hub1.output().contains(&format!("accepted {spoke_addr}:")),
        "{}",
        r_hub1.output()
    );
    // A ping from the spoke's tunnel address to the hub's, answered by hub 1's kernel.
    let replies_before = echo_replies_sent(hub1.name());
    let o = exec(
        spoke.name(),
        "ping",
        &[
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "-I",
            &spoke_addr.to_string(),
            "10.1.1.1",
        ],
    )
    .unwrap();
    let replies_after = echo_replies_sent(hub1.name());
    println!(
        "ping {spoke_addr} -> 10.1.1.1: {}; hub 1 kernel Icmp OutEchoReps {replies_before} -> {replies_after}",
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or_default()
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(
        replies_after >= replies_before + 3,
        "hub 1's kernel answered: {replies_before} -> {replies_after}"
    );

    // Ping and TCP through hub 1, with BGP routes given a moment to arrive.
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
    assert!(
        ok,
        "no ping through hub 1:\n{}\n{}",
        r_spoke.output(),
        r_hub1.output()
    );
    let ping = exec(
        spoke.name(),
        "ping",
        &[
            "-c",
            "10",
            "-i",
            "0.05",
            "-q",
            "-I",
            "192.168.11.254",
            "192.168.0.254",
        ],
    )
    .unwrap();
    let ping = String::from_utf8_lossy(&ping.stdout).into_owned();
    println!(
        "ping through hub 1: {}",
        ping.lines().last().unwrap_or_default()
    );
    assert!(ping.contains(" 0% packet loss"), "{ping}");

    let iperf_server = Command::new("ip")
        .args([
            "netns",
            "exec",
            hub1.name(),
            "iperf3",
            "-s",
            "-1",
            "-B",
            "192.168.0.254",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut srv) = iperf_server {
        std::thread::sleep(Duration::from_millis(300));
        let o = exec(
            spoke.name(),
            "iperf3",
            &[
                "-c",
                "192.168.0.254",
                "-B",
                "192.168.11.254",
                "-t",
                "3",
                "-J",
            ],
        )
        .unwrap();
        let _ = srv.kill();
        let _ = srv.wait();
        let j = String::from_utf8_lossy(&o.stdout);
        let bps = j
            .split("\"sum_received\"")
            .nth(1)
            .and_then(|s| s.split("\"bits_per_second\":").nth(1))
            .and_then(|s| s.split([',', '\n', '}']).next())
            .and_then(|s| s.trim().parse::<f64>().ok());
        println!("iperf3 TCP through one tunnel (spoke1 -> hub1): {bps:?} bit/s");
        assert!(bps.is_some_and(|b| b > 0.0), "iperf3 failed: {j}");
    }

    // A steady ping stream, then hub 1 dies.
    let stream = Command::new("ip")
        .args([
            "netns",
            "exec",
            spoke.name(),
            "ping",
            "-D",
            "-i",
            "0.05",
            "-W",
            "1",
            "-w",
            "40",
        ])
        .args(["-I", "192.168.11.254", "192.168.0.254"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    println!("killing hub 1 (pid {})", r_hub1.pid());
    r_hub1.kill();
    let t = r_spoke.wait_log(
        "Server_public_addr = 172.25.2.1 Assigned_Tunnel_v4_addr = 10.1.1.",
        Duration::from_secs(30),
    );
    println!("spoke up on hub 2 {t:?} after the kill");
    // Pings resume once BGP over the new tunnel has brought the LAN routes back.
    let bgp_up = log_count(&r_spoke, "%BGP-5-ADJCHANGE: neighbor 10.1.1.1 Up");
    let t0 = std::time::Instant::now();
    while log_count(&r_spoke, "%BGP-5-ADJCHANGE: neighbor 10.1.1.1 Up") < 2
        && t0.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "BGP up lines before {bgp_up}, after {:?}: {}",
        t0.elapsed(),
        log_count(&r_spoke, "%BGP-5-ADJCHANGE: neighbor 10.1.1.1 Up")
    );
    std::thread::sleep(Duration::from_secs(3));
    let route = show("Spoke1", "ip route", &dir);
    println!("{route}");
    assert!(route.contains("L     10.1.1.17"), "{route}");
    assert!(
        route.contains("B     192.168.0.0/16 [200/0] via 10.1.1.1"),
        "{route}"
    );
    let sa = show("Spoke1", "crypto ikev2 sa", &dir);
    assert!(sa.contains("172.25.2.1"), "{sa}");
    println!("{}", show("Spoke1", "ip bgp summary", &dir));
    let _ = Command::new("kill")
        .args(["-INT", &stream.id().to_string()])
        .status();
    let out = stream.wait_with_output().unwrap();
    let times = reply_times(&String::from_utf8_lossy(&out.stdout));
    let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0f64, f64::max);
    let log = r_spoke.output();
    let failover: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("172.25.1.1") || l.contains("172.25.2.1") || l.contains("Tunnel1"))
        .collect();
    println!("spoke log:\n{}", failover.join("\n"));
    println!(
        "outage seen by the ping stream (DPD {DPD}): {gap:.2} s; {} replies",
        times.len()
    );
    assert!(
        log.contains("Crypto tunnel v2 is DOWN.  Peer 172.25.1.1:500"),
        "{log}"
    );
    assert!(log.contains("FLEXVPN_CONNECTION_DOWN"), "{log}");
    let assigned = log
        .lines()
        .rev()
        .find_map(|l| l.split("Assigned_Tunnel_v4_addr = ").nth(1))
        .and_then(|a| a.trim().parse::<Ipv4Addr>().ok())
        .unwrap();
    assert!(
        (ip4("10.1.1.176")..=ip4("10.1.1.254")).contains(&assigned),
        "address from hub 2's pool: {assigned}"
    );
    // BGP with hub 2 runs over kernel TCP from the new address too.
    assert!(
        r_hub2.output().contains(&format!("accepted {assigned}:")),
        "{}",
        r_hub2.output()
    );
    assert!(
        established_179(spoke.name()).contains(&format!("{assigned}:")),
        "{}",
        established_179(spoke.name())
    );
    let last = *times.last().unwrap();
    assert!(
        times.iter().any(|&x| x > last - 2.0) && gap > 1.0 && gap < 60.0,
        "pings resumed after a measurable outage: gap {gap}"
    );
    // SIGTERM: a clean exit, the TUN devices (LAN and tunnel) and the control socket gone.
    let t_tun = tun_of_tunnel(&r_spoke, "Tunnel1", assigned);
    let links = exec(spoke.name(), "ip", &["link"]).unwrap();
    assert!(String::from_utf8_lossy(&links.stdout).contains(&format!("{t_tun}:")));
    let mut r_spoke = r_spoke;
    assert!(r_spoke.terminate(), "clean exit on SIGTERM");
    assert!(r_spoke.output().contains("Spoke1: shutting down"));
    let links = exec(spoke.name(), "ip", &["link"]).unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&format!("{s_tun}:")),
        "TUN removed"
    );
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&format!("{t_tun}:")),
        "tunnel TUN removed"
    );
    assert!(!dir.join("Spoke1.sock").exists(), "control socket removed");
    drop(r_hub2);
}

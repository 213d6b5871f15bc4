//! `flexvpn-router lab --netns`: the scenario's topology in network namespaces with one
//! `flexvpn-router run` process per node, driven through the phases with real time.
//!
//! Topology: an underlay namespace routes between 172.25.1.0/24 (hub 1), 172.25.2.0/24
//! (hub 2), 172.16.1.0/24 (spoke 1) and 172.16.2.0/24 (spoke 2); every node's LAN is a TUN
//! device whose kernel side (the last host of the subnet, e.g. 192.168.11.254) is the LAN host.
//! Phases: both spokes up on hub 1; ping and a TCP flow (iperf3) between the spokes' LANs,
//! per-tunnel counters; hub 1's process killed by PID and the failover outage measured from a
//! ping stream; hub 1 restarted. Everything is removed at the end, on error and on Ctrl-C.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::netns::{Netns, exec, veth};
use super::run::{STOP, install_signal_handlers, show_remote};
use super::unique_name;

/// How long the return phase waits for spoke 1 to move back to the restarted hub 1.
const RETURN_WAIT: Duration = Duration::from_secs(150);

/// Options of `lab --netns`.
#[derive(Debug, Clone)]
pub struct NetnsLabOptions {
    /// The directory holding hub1.cfg, hub2.cfg, spoke1.cfg, spoke2.cfg.
    pub config_dir: PathBuf,
    /// `crypto ikev2 dpd` arguments for every node (short timers for the lab).
    pub dpd: String,
    /// Seconds of iperf3 (0: skip the TCP flow).
    pub iperf_secs: u32,
}

impl Default for NetnsLabOptions {
    fn default() -> Self {
        Self {
            config_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")),
            dpd: "10 2 on-demand".to_owned(),
            iperf_secs: 3,
        }
    }
}

/// What the lab measured.
#[derive(Debug, Clone, Default)]
pub struct NetnsLabReport {
    /// Median RTT of spoke 1 LAN -> spoke 2 LAN pings, in ms.
    pub spoke_to_spoke_rtt_ms: Option<f64>,
    /// iperf3 TCP throughput spoke 1 LAN -> spoke 2 LAN, in bit/s.
    pub tcp_bps: Option<f64>,
    /// Spoke 1's tunnel address pinging spoke 2's over their shortcut: (replies out of 10,
    /// packets spoke 1 sent out of its virtual-access interfaces meanwhile).
    pub tunnel_ping: Option<(usize, u64)>,
    /// Failover outage seen by a 20 Hz ping stream, in seconds.
    pub outage_s: Option<f64>,
    /// The address spoke 1 got from hub 2.
    pub failover_address: Option<String>,
    /// Whether hub 1, restarted, accepted a spoke again.
    pub hub1_back: bool,
    /// Whether the hubs' iBGP session (192.168.0.1 - 192.168.0.2, carried by the static GRE
    /// `Tunnel0` between the hubs) came up.
    pub hubs_ibgp: bool,
    /// Seconds from hub 1's restart until spoke 1 (`peer reactivate`) was back on it.
    pub spoke1_return_s: Option<f64>,
    /// Whether spoke 2 (the scenario's client block, no `peer reactivate`) stayed on hub 2.
    pub spoke2_stayed_on_hub2: bool,
    /// Whether spoke 1 LAN (on hub 1) reached spoke 2 LAN (on hub 2) afterwards.
    pub cross_hub_ping: bool,
    /// The timeline (one line per event).
    pub timeline: String,
}

struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn wait_for(&self, what: &str, limit: Duration) -> io::Result<Duration> {
        let t0 = Instant::now();
        loop {
            if self.output().contains(what) {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > limit || STOP.load(Ordering::SeqCst) {
                return Err(io::Error::other(format!(
                    "{}: no {what:?} within {limit:?}:\n{}",
                    self.name,
                    self.output()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(ns: &Netns, name: &str, cfg: &Path, dir: &Path, dpd: &str) -> io::Result<Proc> {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log)?;
    let err = out.try_clone()?;
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(std::env::current_exe()?)
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .arg("--control-dir")
        .arg(dir)
        .args(["--dpd", dpd])
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()?;
    let p = Proc {
        name: name.to_owned(),
        child: Some(child),
        log,
    };
    p.wait_for("control socket", Duration::from_secs(10))?;
    Ok(p)
}

fn tun_of(p: &Proc, iface: &str) -> io::Result<String> {
    p.output()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{iface}: TUN ")))
        .and_then(|r| r.split(',').next())
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other(format!("{}: no TUN for {iface}", p.name)))
}

fn ping_ok(ns: &Netns, src: &str, dst: &str, count: &str) -> io::Result<String> {
    let o = exec(
        ns.name(),
        "ping",
        &["-c", count, "-i", "0.05", "-W", "1", "-I", src, dst],
    )?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Runs the lab and returns what it measured; prints the timeline as it goes.
///
/// # Errors
/// Not root, a namespace or process could not be set up, or a phase did not complete.
pub fn run_netns_lab(opts: &NetnsLabOptions) -> io::Result<NetnsLabReport> {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    if unsafe { libc::geteuid() } != 0 {
        return Err(io::Error::other(
            "lab --netns needs root (network namespaces, veth pairs, TUN devices)",
        ));
    }
    install_signal_handlers();
    let t0 = Instant::now();
    let mut rep = NetnsLabReport::default();
    let say = |s: String, rep: &mut NetnsLabReport| {
        let line = format!("{:>8.3}s {s}", t0.elapsed().as_secs_f64());
        println!("{line}");
        let _ = writeln!(rep.timeline, "{line}");
    };
    let dir = std::env::temp_dir().join(unique_name("flexvpn-lab-"));
    std::fs::create_dir_all(&dir)?;
    let _dir = RemoveDir(dir.clone());
    let under = Netns::new(&unique_name("fxlu"))?;
    under.forwarding()?;
    let mut nodes = Vec::new();
    for (name, ours, theirs) in [
        ("hub1", "172.25.1.254", "172.25.1.1"),
        ("hub2", "172.25.2.254", "172.25.2.1"),
        ("spoke1", "172.16.1.1", "172.16.1.2"),
        ("spoke2", "172.16.2.1", "172.16.2.2"),
    ] {
        let ns = Netns::new(&unique_name("fxl"))?;
        let a = unique_name("fxlv");
        veth(&under, &a, parse(ours)?, &ns, "eth0", parse(theirs)?, 24)?;
        ns.ip(&["route", "add", "default", "via", ours])?;
        nodes.push((name, ns));
    }
    let cfg = |n: &str| opts.config_dir.join(format!("{n}.cfg"));
    let mut procs = Vec::new();
    for (name, ns) in &nodes {
        procs.push(start(ns, name, &cfg(name), &dir, &opts.dpd)?);
    }
    say(
        format!("4 router processes started (dpd {})", opts.dpd),
        &mut rep,
    );
    // LAN hosts: routes to the other LANs through the node's TUN.
    for (i, (name, ns)) in nodes.iter().enumerate() {
        let tun = tun_of(&procs[i], "Ethernet0/1")?;
        let (src, nets): (&str, &[&str]) = match *name {
            "spoke1" => ("192.168.11.254", &["192.168.0.0/16"]),
            "spoke2" => ("192.168.12.254", &["192.168.0.0/16"]),
            _ => ("192.168.0.254", &["192.168.11.0/24", "192.168.12.0/24"]),
        };
        for n in nets {
            ns.ip(&["route", "add", n, "dev", &tun, "src", src])?;
        }
    }
    // Phase 1: up.
    for p in &procs[2..] {
        p.wait_for(
            "Server_public_addr = 172.25.1.1 Assigned_Tunnel_v4_addr",
            Duration::from_secs(20),
        )?;
        p.wait_for(
            "%BGP-5-ADJCHANGE: neighbor 10.1.1.1 Up",
            Duration::from_secs(30),
        )?;
    }
    // The hubs' iBGP runs between their LAN addresses through the GRE Tunnel0 (raw GRE on
    // the underlay; `ip route 192.168.0.2 255.255.255.255 10.255.0.2`).
    rep.hubs_ibgp = procs[0]
        .wait_for(
            "%BGP-5-ADJCHANGE: neighbor 192.168.0.2 Up",
            Duration::from_secs(30),
        )
        .is_ok()
        && procs[1]
            .wait_for(
                "%BGP-5-ADJCHANGE: neighbor 192.168.0.1 Up",
                Duration::from_secs(5),
            )
            .is_ok();
    say(
        format!(
            "phase up: both spokes on hub 1, BGP up; hub1-hub2 iBGP over GRE Tunnel0 up: {}",
            rep.hubs_ibgp
        ),
        &mut rep,
    );
    // Phase 2: traffic between the spokes' LANs.
    let (s1, s2) = (&nodes[2].1, &nodes[3].1);
    let mut ok = false;
    for _ in 0..100 {
        if ping_ok(s1, "192.168.11.254", "192.168.12.254", "1")?.contains("bytes from") {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !ok {
        return Err(io::Error::other(
            "no ping spoke 1 LAN -> spoke 2 LAN within 20 s",
        ));
    }
    let out = ping_ok(s1, "192.168.11.254", "192.168.12.254", "20")?;
    let mut rtts: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split("time=").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    rtts.sort_by(f64::total_cmp);
    rep.spoke_to_spoke_rtt_ms = rtts.get(rtts.len() / 2).copied();
    say(
        format!(
            "phase traffic: ping spoke1 LAN -> spoke2 LAN {}/20 replies, median RTT {:?} ms",
            rtts.len(),
            rep.spoke_to_spoke_rtt_ms
        ),
        &mut rep,
    );
    if opts.iperf_secs > 0 {
        let mut srv = Command::new("ip")
            .args([
                "netns",
                "exec",
                s2.name(),
                "iperf3",
                "-s",
                "-1",
                "-B",
                "192.168.12.254",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(300));
        let secs = opts.iperf_secs.to_string();
        let o = exec(
            s1.name(),
            "iperf3",
            &[
                "-c",
                "192.168.12.254",
                "-B",
                "192.168.11.254",
                "-t",
                &secs,
                "-J",
            ],
        )?;
        let _ = srv.kill();
        let _ = srv.wait();
        let j = String::from_utf8_lossy(&o.stdout);
        rep.tcp_bps = j
            .split("\"sum_received\"")
            .nth(1)
            .and_then(|s| s.split("\"bits_per_second\":").nth(1))
            .and_then(|s| s.split([',', '\n', '}']).next())
            .and_then(|s| s.trim().parse().ok());
        say(
            format!(
                "phase traffic: iperf3 TCP spoke1 LAN -> spoke2 LAN {:?} bit/s",
                rep.tcp_bps
            ),
            &mut rep,
        );
    }
    for n in ["Spoke1", "Spoke2"] {
        let c = show_remote(&dir, n, "counters").unwrap_or_default();
        for l in c
            .lines()
            .filter(|l| l.starts_with("Tunnel") || l.starts_with("Virtual"))
        {
            say(format!("{n} counters: {l}"), &mut rep);
        }
    }
    // Tunnel address to tunnel address over the shortcut: spoke 1's virtual-access TUN has a
    // host route to spoke 2's tunnel address (and spoke 2's one back).
    let assigned = |p: &Proc| {
        p.output()
            .lines()
            .rev()
            .filter_map(|l| l.split("Assigned_Tunnel_v4_addr = ").nth(1))
            .find_map(|s| s.split_whitespace().next().map(str::to_owned))
    };
    let va_out = || -> u64 {
        show_remote(&dir, "Spoke1", "counters")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("Virtual-Access"))
            .filter_map(|l| {
                l.split("out_packets: ")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    if let (Some(a1), Some(a2)) = (assigned(&procs[2]), assigned(&procs[3])) {
        let before = va_out();
        let out = ping_ok(s1, &a1, &a2, "10")?;
        let replies = out.lines().filter(|l| l.contains("bytes from")).count();
        let sent = va_out().saturating_sub(before);
        rep.tunnel_ping = Some((replies, sent));
        say(
            format!(
                "phase traffic: ping spoke1 tunnel {a1} -> spoke2 tunnel {a2} {replies}/10 \
                 replies, {sent} packets out of spoke1's Virtual-Access interfaces"
            ),
            &mut rep,
        );
    }
    let nhrp = show_remote(&dir, "Spoke1", "ip nhrp").unwrap_or_default();
    for l in nhrp.lines().filter(|l| !l.trim().is_empty()) {
        say(format!("Spoke1# show ip nhrp: {l}"), &mut rep);
    }
    // Phase 3: hub 1 dies; spoke 1 fails over to hub 2.
    let mut stream = Command::new("ip")
        .args([
            "netns",
            "exec",
            s1.name(),
            "ping",
            "-D",
            "-i",
            "0.05",
            "-W",
            "1",
            "-w",
            "90",
        ])
        .args(["-I", "192.168.11.254", "192.168.0.254"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(1));
    let pid = procs[0].child.as_ref().map_or(0, Child::id);
    say(
        format!("phase failover: killing hub1 (pid {pid})"),
        &mut rep,
    );
    procs[0].kill();
    let d = procs[2].wait_for(
        "Server_public_addr = 172.25.2.1 Assigned_Tunnel_v4_addr",
        Duration::from_secs(90),
    );
    let d = match d {
        Ok(d) => d,
        Err(e) => {
            let _ = stream.kill();
            let _ = stream.wait();
            return Err(e);
        }
    };
    let log = procs[2].output();
    rep.failover_address = log
        .lines()
        .rev()
        .find_map(|l| l.split("Assigned_Tunnel_v4_addr = ").nth(1))
        .map(|s| s.trim().to_owned());
    say(
        format!(
            "phase failover: spoke1 up on hub2 {d:.1?} after the kill, address {:?}",
            rep.failover_address
        ),
        &mut rep,
    );
    // Wait for the pings to resume (BGP over the new tunnel), up to 40 s.
    let t_resume = Instant::now();
    let _ = ping_ok(s1, "192.168.11.254", "192.168.0.254", "1");
    while t_resume.elapsed() < Duration::from_secs(40)
        && !ping_ok(s1, "192.168.11.254", "192.168.0.254", "1")?.contains("bytes from")
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("kill")
        .args(["-INT", &stream.id().to_string()])
        .status();
    let out = stream.wait_with_output()?;
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    rep.outage_s = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))));
    say(
        format!(
            "phase failover: outage seen by the ping stream {:?} s",
            rep.outage_s
        ),
        &mut rep,
    );
    for l in log.lines().filter(|l| {
        l.contains("IKEV2_SESSION_STATUS")
            || l.contains("FLEXVPN_CONNECTION")
            || l.contains("Tunnel1")
    }) {
        say(format!("spoke1 log: {}", l.trim()), &mut rep);
    }
    // Phase 4: hub 1 back. Spoke 1 has `peer reactivate`: its client block probes the more
    // preferred peer 1 once its hold-down has passed (30 s, doubled per recent failure of
    // that peer) and moves back make-before-break. Spoke 2 has the scenario's block as given
    // (no `peer reactivate`): it stays on hub 2.
    procs[0] = start(&nodes[0].1, "hub1-back", &cfg("hub1"), &dir, &opts.dpd)?;
    let restarted = Instant::now();
    say("phase return: hub1 restarted".to_owned(), &mut rep);
    let on_hub1 = "Server_public_addr = 172.25.1.1 Assigned_Tunnel_v4_addr";
    while restarted.elapsed() < RETURN_WAIT && !STOP.load(Ordering::SeqCst) {
        if procs[2].output().matches(on_hub1).count() >= 2 {
            rep.spoke1_return_s = Some(restarted.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    rep.hub1_back = procs[0].output().contains("Crypto tunnel v2 is UP");
    let s2 = show_remote(&dir, "Spoke2", "crypto ikev2 client flexvpn").unwrap_or_default();
    rep.spoke2_stayed_on_hub2 = s2.contains("Peer : 172.25.2.1");
    say(
        format!(
            "phase return: spoke1 (peer reactivate) back on hub1 after {:?} s; spoke2 (no peer \
             reactivate) still on hub2: {}",
            rep.spoke1_return_s, rep.spoke2_stayed_on_hub2
        ),
        &mut rep,
    );
    for l in procs[2]
        .output()
        .lines()
        .filter(|l| l.contains("IKEV2_SESSION_STATUS") || l.contains("FLEXVPN_CONNECTION"))
    {
        say(format!("spoke1 log: {}", l.trim()), &mut rep);
    }
    // Spoke 1 (hub 1) to spoke 2 (hub 2): through both hubs, the hubs' GRE tunnel and iBGP.
    let t_cross = Instant::now();
    while t_cross.elapsed() < Duration::from_secs(30) && !STOP.load(Ordering::SeqCst) {
        if ping_ok(s1, "192.168.11.254", "192.168.12.254", "1")?.contains("bytes from") {
            rep.cross_hub_ping = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !rep.cross_hub_ping {
        for n in ["Spoke1", "Hub1", "Hub2", "Spoke2"] {
            for cmd in ["ip route", "ip bgp summary", "ip nhrp", "counters"] {
                let out = show_remote(&dir, n, cmd).unwrap_or_default();
                for l in out.lines().filter(|l| !l.trim().is_empty()) {
                    say(format!("{n}# show {cmd}: {l}"), &mut rep);
                }
            }
        }
    }
    say(
        format!(
            "phase return: ping spoke1 LAN (hub1) -> spoke2 LAN (hub2): {} after {:.1?}",
            rep.cross_hub_ping,
            t_cross.elapsed()
        ),
        &mut rep,
    );
    drop(procs);
    Ok(rep)
}

fn parse(s: &str) -> io::Result<std::net::Ipv4Addr> {
    s.parse().map_err(|e| io::Error::other(format!("{s}: {e}")))
}

/// `flexvpn-router lab --netns [--dpd 'I R on-demand'] [--config-dir DIR] [--iperf-secs N]`.
pub fn main(args: &[String]) -> u8 {
    let mut opts = NetnsLabOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--netns" => {}
            "--dpd" => opts.dpd = value(),
            "--config-dir" => opts.config_dir = value().into(),
            "--iperf-secs" => opts.iperf_secs = value().parse().unwrap_or(3),
            other => {
                eprintln!("flexvpn-router lab --netns: unknown option {other}");
                return 2;
            }
        }
    }
    match run_netns_lab(&opts) {
        Ok(r) => {
            println!(
                "summary: spoke-to-spoke RTT {:?} ms, TCP {:?} bit/s, tunnel-to-tunnel ping over \
                 the shortcut {:?}, failover outage {:?} s \
                 (dpd {}), spoke1 on hub2 with {:?}, hub1 back: {}, hubs iBGP: {}, spoke1 \
                 returned after {:?} s, spoke2 stayed on hub2: {}, cross-hub ping: {}",
                r.spoke_to_spoke_rtt_ms,
                r.tcp_bps,
                r.tunnel_ping,
                r.outage_s,
                opts.dpd,
                r.failover_address,
                r.hub1_back,
                r.hubs_ibgp,
                r.spoke1_return_s,
                r.spoke2_stayed_on_hub2,
                r.cross_hub_ping
            );
            0
        }
        Err(e) => {
            eprintln!("flexvpn-router lab --netns: {e}");
            1
        }
    }
}

//! The scenario lab: the topology of `SCENARIO.md` (two hubs, three spokes, a LAN with a host
//! behind each node, the hubs' shared LAN, the Internet) in the deterministic simulator, driven
//! through the four phases of the issue, with a readable timeline and a summary.
//!
//! Segments: 0 is the Internet (every node's `Ethernet0/0`), 1 is the hubs' LAN
//! 192.168.0.0/24 (`Ethernet0/1` of both hubs and a server 192.168.0.10), and each node's own
//! LAN (spokes' `Ethernet0/1`, hubs' `Ethernet0/2`) is a segment of its own with one host `.10`.
//!
//! What a phase needs that the composed crates do not provide yet is printed as such in the
//! timeline (`not composed yet: ...`) and reported in [`LabReport::missing`]; nothing is faked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError};
use crate::ipv4::{self, Ipv4Header, proto};
use crate::node::{Node, NodeError};
use crate::sim::{LinkParams, NodeId, Sim, SimNode, Transmit};

/// The shipped configurations, used when no `--config-dir` is given.
pub const DEFAULT_CONFIGS: [(&str, &str); 5] = [
    ("hub1", include_str!("../configs/hub1.cfg")),
    ("hub2", include_str!("../configs/hub2.cfg")),
    ("spoke1", include_str!("../configs/spoke1.cfg")),
    ("spoke2", include_str!("../configs/spoke2.cfg")),
    ("spoke3", include_str!("../configs/spoke3.cfg")),
];

/// The phases of the lab, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Spokes come up; BGP converges.
    Up = 1,
    /// Spoke-to-spoke traffic, redirect, shortcut.
    Shortcut = 2,
    /// Hub 1 dies; failover to hub 2.
    Failover = 3,
    /// Hub 1 returns.
    Return = 4,
}

impl Phase {
    /// Parse `1`-`4` or a name (`up`, `shortcut`, `failover`, `return`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "1" | "up" => Some(Self::Up),
            "2" | "shortcut" => Some(Self::Shortcut),
            "3" | "failover" => Some(Self::Failover),
            "4" | "return" => Some(Self::Return),
            _ => None,
        }
    }
}

/// Lab options (the command line).
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Seed of every random choice (link jitter, loss, engines' RNGs).
    pub seed: u64,
    /// Directory with `hub1.cfg` ... `spoke3.cfg`; the shipped files when `None`.
    pub config_dir: Option<PathBuf>,
    /// Stop after this phase.
    pub until: Phase,
    /// Print only the summary.
    pub quiet: bool,
    /// Write every packet to this pcap file (and the keys next to it).
    pub pcap: Option<PathBuf>,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            config_dir: None,
            until: Phase::Return,
            quiet: false,
            pcap: None,
        }
    }
}

/// Why the lab could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A configuration file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A configuration file has an error.
    #[error("{file}: {source}")]
    Config {
        /// The file.
        file: String,
        /// The error.
        source: ConfigError,
    },
    /// A configuration cannot run as a node.
    #[error("{file}: {source}")]
    Node {
        /// The file.
        file: String,
        /// The error.
        source: NodeError,
    },
}

/// What a run established, for the tests and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabReport {
    /// The printed output (timeline unless quiet, then the summary).
    pub output: String,
    /// Every IOS log line of every node, in time order.
    pub log: Vec<(Duration, String, String)>,
    /// Per flow: packets sent, received, and the longest gap between arrivals.
    pub flows: BTreeMap<String, FlowStats>,
    /// Underlay ping results: (from, to, answered).
    pub underlay_pings: Vec<(String, Ipv4Addr, bool)>,
    /// Each spoke's client block after phase 1.
    pub phase1: Vec<SpokeFact>,
    /// Pings from each spoke to the hubs' overlay address through the tunnel after phase 1.
    pub overlay_pings: Vec<(String, Ipv4Addr, bool)>,
    /// When hub 1 died (virtual time).
    pub kill_at: Option<Duration>,
    /// Each spoke after phase 3, with the time from hub 1's death to its FLEXVPN_CONNECTION_UP.
    pub failover: Vec<(String, SpokeFact, Option<Duration>)>,
    /// Pings to the hubs' overlay address after the failover.
    pub overlay_pings_after: Vec<(String, Ipv4Addr, bool)>,
    /// Each spoke after phase 4.
    pub phase4: Vec<SpokeFact>,
    /// Hub 2 after phase 4: its established BGP neighbors (address, dynamic) and
    /// `show ip bgp`.
    pub phase4_hub2_bgp: (Vec<(Ipv4Addr, bool)>, String),
    /// Whether hub 1 reached hub 2's Tunnel0 address through the GRE tunnel.
    pub gre_ping: bool,
    /// BGP routes in each node's FIB after phase 1: (prefix, discard).
    pub bgp_routes: BTreeMap<String, Vec<(crate::prefix::Prefix, bool)>>,
    /// Established BGP neighbors of each node after phase 1: (address, dynamic).
    pub bgp_peers: BTreeMap<String, Vec<(Ipv4Addr, bool)>>,
    /// Per spoke after phase 2: NHRP shortcut routes (prefix, interface) and packets sent on
    /// spoke-to-spoke tunnels.
    pub shortcuts: BTreeMap<String, (Vec<(crate::prefix::Prefix, String)>, u64)>,
    /// Phase 2: pings from spoke 1's tunnel address to the other spokes' tunnel addresses:
    /// (to, answered, packets spoke 1 sent on its spoke-to-spoke tunnels meanwhile).
    pub shortcut_tunnel_pings: Vec<(Ipv4Addr, bool, u64)>,
    /// Each spoke's host routes to the other spokes' tunnel addresses after phase 2:
    /// (address, interface).
    pub shortcut_hosts: BTreeMap<String, Vec<(Ipv4Addr, String)>>,
    /// Packets hub 1 and hub 2 sent out of virtual-access interfaces during phase 2.
    pub hub_forwarded: (u64, u64),
    /// Connect requests each spoke's client block made: (time, node, peer).
    pub connects: Vec<(Duration, String, Ipv4Addr)>,
    /// What the phases needed that is not composed yet.
    pub missing: Vec<String>,
    /// The last phase run.
    pub last_phase: Option<Phase>,
}

/// A spoke's client block at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokeFact {
    /// The block's state (`ACTIVE`, ...).
    pub state: String,
    /// The active peer.
    pub peer: Option<Ipv4Addr>,
    /// The assigned tunnel address.
    pub assigned: Option<Ipv4Addr>,
}

/// Statistics of one traffic flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets sent.
    pub sent: u64,
    /// Packets received.
    pub received: u64,
    /// Longest time between two consecutive arrivals (or from start to the first).
    pub max_gap: Duration,
}

/// A host on a LAN: sends numbered UDP probes of its flows, answers ICMP echo, records arrivals.
#[derive(Debug)]
pub struct Host {
    name: String,
    addr: Ipv4Addr,
    gateway: Ipv4Addr,
    epoch: Instant,
    flows: Vec<HostFlow>,
    out: Vec<Transmit>,
    /// (flow id, seq, arrival) of every probe received.
    pub received: Vec<(u16, u32, Duration)>,
    /// ICMP echo replies received: (from, seq, arrival).
    pub echo_replies: Vec<(Ipv4Addr, u16, Duration)>,
    ident: u16,
}

#[derive(Debug)]
struct HostFlow {
    id: u16,
    dst: Ipv4Addr,
    every: Duration,
    next: Option<Instant>,
    stop: Instant,
    seq: u32,
}

/// UDP port of the lab's probe flows (echo, so dissectors show them as such).
pub const PROBE_PORT: u16 = 7;

impl Host {
    /// A host `addr` on a LAN whose router is `gateway`.
    pub fn new(name: &str, addr: Ipv4Addr, gateway: Ipv4Addr, epoch: Instant) -> Self {
        Self {
            name: name.to_owned(),
            addr,
            gateway,
            epoch,
            flows: Vec::new(),
            out: Vec::new(),
            received: Vec::new(),
            echo_replies: Vec::new(),
            ident: 0,
        }
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Start a flow of probes to `dst`, one every `every`, from `start` until `stop`.
    pub fn start_flow(
        &mut self,
        id: u16,
        dst: Ipv4Addr,
        every: Duration,
        start: Instant,
        stop: Instant,
    ) {
        self.flows.push(HostFlow {
            id,
            dst,
            every,
            next: Some(start),
            stop,
            seq: 0,
        });
    }

    /// The ids of the flows this host sends.
    pub fn flow_ids(&self) -> Vec<u16> {
        self.flows.iter().map(|f| f.id).collect()
    }

    /// Probes sent on flow `id`.
    pub fn sent(&self, id: u16) -> u64 {
        self.flows
            .iter()
            .filter(|f| f.id == id)
            .map(|f| u64::from(f.seq))
            .sum()
    }

    /// Send one ICMP echo request to `dst` now.
    pub fn ping(&mut self, dst: Ipv4Addr, seq: u16) {
        let icmp = ipv4::build_icmp_echo(true, 0x4c42, seq, b"flexvpn-lab");
        self.ident = self.ident.wrapping_add(1);
        if let Ok(p) = ipv4::build(self.addr, dst, proto::ICMP, 64, self.ident, &icmp) {
            self.out.push(Transmit {
                iface: 0,
                next_hop: self.gateway,
                packet: p,
            });
        }
    }
}

impl SimNode for Host {
    fn handle_packet(&mut self, now: Instant, _iface: usize, packet: Vec<u8>) {
        let Ok(h) = Ipv4Header::parse(&packet) else {
            return;
        };
        let body = packet.get(h.header_len..h.total_len).unwrap_or_default();
        let at = now.saturating_duration_since(self.epoch);
        match h.protocol {
            proto::UDP => {
                if let Ok(u) = ipv4::parse_udp(body)
                    && u.dport == PROBE_PORT
                    && u.payload.len() >= 6
                {
                    let id = u16::from_be_bytes([u.payload[0], u.payload[1]]);
                    let seq = u32::from_be_bytes([
                        u.payload[2],
                        u.payload[3],
                        u.payload[4],
                        u.payload[5],
                    ]);
                    self.received.push((id, seq, at));
                }
            }
            proto::ICMP => match body.first() {
                Some(8) => {
                    let mut reply = body.to_vec();
                    reply[0] = 0;
                    reply[2] = 0;
                    reply[3] = 0;
                    let c = ipv4::checksum(&reply);
                    reply[2..4].copy_from_slice(&c.to_be_bytes());
                    self.ident = self.ident.wrapping_add(1);
                    if let Ok(p) =
                        ipv4::build(self.addr, h.src, proto::ICMP, 64, self.ident, &reply)
                    {
                        self.out.push(Transmit {
                            iface: 0,
                            next_hop: self.gateway,
                            packet: p,
                        });
                    }
                }
                Some(0) if body.len() >= 8 => {
                    self.echo_replies
                        .push((h.src, u16::from_be_bytes([body[6], body[7]]), at));
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for f in &mut self.flows {
            while let Some(t) = f.next.filter(|t| *t <= now) {
                let mut payload = f.id.to_be_bytes().to_vec();
                payload.extend_from_slice(&f.seq.to_be_bytes());
                payload.resize(64, 0);
                f.seq += 1;
                self.ident = self.ident.wrapping_add(1);
                if let Ok(udp) =
                    ipv4::build_udp(self.addr, 40000 + f.id, f.dst, PROBE_PORT, &payload)
                    && let Ok(p) = ipv4::build(self.addr, f.dst, proto::UDP, 64, self.ident, &udp)
                {
                    self.out.push(Transmit {
                        iface: 0,
                        next_hop: self.gateway,
                        packet: p,
                    });
                }
                let n = t + f.every;
                f.next = (n < f.stop).then_some(n);
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flows.iter().filter_map(|f| f.next).min()
    }
}

/// A node of the lab: a router or a LAN host.
#[allow(clippy::large_enum_variant, reason = "a handful of nodes")]
pub enum LabNode {
    /// A router.
    Router(Box<Node>),
    /// A host.
    Host(Host),
}

impl LabNode {
    /// The router, if this is one.
    pub fn router(&self) -> Option<&Node> {
        match self {
            Self::Router(n) => Some(n),
            Self::Host(_) => None,
        }
    }

    /// The host, if this is one.
    pub fn host(&self) -> Option<&Host> {
        match self {
            Self::Host(h) => Some(h),
            Self::Router(_) => None,
        }
    }

    fn host_mut(&mut self) -> Option<&mut Host> {
        match self {
            Self::Host(h) => Some(h),
            Self::Router(_) => None,
        }
    }
}

impl SimNode for LabNode {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: Vec<u8>) {
        match self {
            Self::Router(n) => n.handle_packet(now, iface, packet),
            Self::Host(h) => h.handle_packet(now, iface, packet),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Self::Router(n) => n.handle_timeout(now),
            Self::Host(h) => h.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Self::Router(n) => n.poll_transmit(),
            Self::Host(h) => h.poll_transmit(),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::Router(n) => n.poll_timeout(),
            Self::Host(h) => h.poll_timeout(),
        }
    }
}

/// The built topology.
pub struct Lab {
    /// The simulator.
    pub sim: Sim<LabNode>,
    /// Router ids by file name (`hub1`, ... `spoke3`).
    pub routers: BTreeMap<String, NodeId>,
    /// Host ids by name (`hub1-lan`, `hubs-lan`, `spoke1-lan`, ...).
    pub hosts: BTreeMap<String, NodeId>,
    configs: BTreeMap<String, Config>,
    /// (time, order of insertion, text): sorted by time when printed.
    timeline: Vec<(Duration, usize, String)>,
    /// Logs of nodes that were powered off and replaced.
    dead_logs: Vec<(Duration, String, String)>,
    /// Probe arrivals at nodes that were replaced: (flow, time).
    dead_arrivals: Vec<(u16, Duration)>,
    /// Key-file lines (ESP, IKE) of nodes that were replaced.
    dead_keys: (Vec<String>, Vec<String>),
    quiet: bool,
}

const INTERNET: usize = 0;
const HUB_LAN: usize = 1;

fn load_configs(dir: Option<&Path>) -> Result<BTreeMap<String, Config>, LabError> {
    let mut out = BTreeMap::new();
    for (name, shipped) in DEFAULT_CONFIGS {
        let file = format!("{name}.cfg");
        let text = match dir {
            Some(d) => {
                let path = d.join(&file);
                std::fs::read_to_string(&path).map_err(|source| LabError::Io {
                    path: path.display().to_string(),
                    source,
                })?
            }
            None => shipped.to_owned(),
        };
        let cfg = Config::parse(&text).map_err(|source| LabError::Config {
            file: file.clone(),
            source,
        })?;
        out.insert(name.to_owned(), cfg);
    }
    Ok(out)
}

impl Lab {
    /// Build the topology from the configurations.
    ///
    /// # Errors
    /// [`LabError`] for an unreadable or invalid configuration.
    pub fn build(epoch: Instant, opts: &LabOptions) -> Result<Self, LabError> {
        let configs = load_configs(opts.config_dir.as_deref())?;
        let mut sim = Sim::new(epoch, opts.seed);
        let mut routers = BTreeMap::new();
        let mut hosts = BTreeMap::new();
        let mut next_segment = 2;
        for (name, cfg) in &configs {
            let seed = opts
                .seed
                .wrapping_mul(1000)
                .wrapping_add(routers.len() as u64);
            let node = Node::with_seed(cfg, epoch, seed).map_err(|source| LabError::Node {
                file: format!("{name}.cfg"),
                source,
            })?;
            let ethers: Vec<_> = node
                .ethers()
                .map(|(n, a, p)| (n.to_owned(), a, p))
                .collect();
            let id = sim.add_node(LabNode::Router(Box::new(node)));
            routers.insert(name.clone(), id);
            let is_hub = name.starts_with("hub");
            for (idx, (ifname, addr, net)) in ethers.iter().enumerate() {
                let wan = LinkParams {
                    delay: Duration::from_millis(10),
                    jitter: Duration::from_micros(500),
                    ..LinkParams::default()
                };
                let lan = LinkParams {
                    delay: Duration::from_micros(100),
                    ..LinkParams::default()
                };
                if ifname == "Ethernet0/0" {
                    sim.attach(id, idx, INTERNET, *addr, wan);
                } else if is_hub && ifname == "Ethernet0/1" {
                    sim.attach(id, idx, HUB_LAN, *addr, lan);
                } else {
                    // A LAN of its own with one host, .10.
                    let seg = next_segment;
                    next_segment += 1;
                    sim.attach(id, idx, seg, *addr, lan);
                    let host_addr = Ipv4Addr::from(u32::from(net.addr()) + 10);
                    let hname = format!("{name}-lan");
                    let hid =
                        sim.add_node(LabNode::Host(Host::new(&hname, host_addr, *addr, epoch)));
                    sim.attach(hid, 0, seg, host_addr, lan);
                    hosts.insert(hname, hid);
                }
            }
        }
        // The server on the hubs' LAN, behind hub 1 (its gateway; hub 2 reaches it on-link).
        let server = Ipv4Addr::new(192, 168, 0, 10);
        let hid = sim.add_node(LabNode::Host(Host::new(
            "hubs-lan",
            server,
            Ipv4Addr::new(192, 168, 0, 1),
            epoch,
        )));
        sim.attach(
            hid,
            0,
            HUB_LAN,
            server,
            LinkParams {
                delay: Duration::from_micros(100),
                ..LinkParams::default()
            },
        );
        hosts.insert("hubs-lan".to_owned(), hid);
        if let Some(path) = &opts.pcap {
            let io = |source| LabError::Io {
                path: path.display().to_string(),
                source,
            };
            let f = std::fs::File::create(path).map_err(io)?;
            sim.set_pcap(Box::new(std::io::BufWriter::new(f)))
                .map_err(io)?;
        }
        Ok(Self {
            sim,
            routers,
            hosts,
            configs,
            timeline: Vec::new(),
            dead_logs: Vec::new(),
            dead_arrivals: Vec::new(),
            dead_keys: (Vec::new(), Vec::new()),
            quiet: opts.quiet,
        })
    }

    /// The router `name` (`hub1` ... `spoke3`).
    pub fn router(&self, name: &str) -> Option<&Node> {
        self.sim.node(*self.routers.get(name)?).router()
    }

    /// The host `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.sim.node(*self.hosts.get(name)?).host()
    }

    /// The parsed configuration of `name`.
    pub fn config(&self, name: &str) -> Option<&Config> {
        self.configs.get(name)
    }

    fn say(&mut self, text: &str) {
        let t = self.sim.elapsed();
        self.say_at(t, text.to_owned());
    }

    fn say_at(&mut self, at: Duration, text: String) {
        let n = self.timeline.len();
        self.timeline
            .push((at, n, format!("[{:>9.3}s] {text}", at.as_secs_f64())));
    }

    fn block(&mut self, title: &str, body: &str) {
        let mut text = format!("{title}\n");
        for l in body.lines() {
            let _ = writeln!(text, "    {l}");
        }
        let at = self.sim.elapsed();
        let n = self.timeline.len();
        self.timeline.push((at, n, text.trim_end().to_owned()));
    }

    fn host_mut(&mut self, name: &str) -> Option<&mut Host> {
        let id = *self.hosts.get(name)?;
        self.sim.node_mut(id).host_mut()
    }

    /// The client block facts of a spoke.
    fn spoke_fact(&self, name: &str) -> SpokeFact {
        let c = self.router(name).and_then(Node::flex_client);
        SpokeFact {
            state: c.map_or_else(|| "-".to_owned(), |c| c.state().to_string()),
            peer: c.and_then(flexclient::Client::active_peer),
            assigned: c.and_then(flexclient::Client::assigned_address),
        }
    }

    fn kick_host(&mut self, name: &str) {
        if let Some(id) = self.hosts.get(name).copied() {
            self.sim.kick(id);
        }
    }

    /// Ping `dst` from the router `from` and wait `wait` for the reply.
    fn ping_from_router(&mut self, from: &str, dst: Ipv4Addr, seq: u16, wait: Duration) -> bool {
        let Some(id) = self.routers.get(from).copied() else {
            return false;
        };
        if let LabNode::Router(n) = self.sim.node_mut(id) {
            n.ping(dst, seq);
        }
        self.sim.kick(id);
        self.sim.run_for(wait);
        self.router(from)
            .is_some_and(|n| n.got_echo_reply(dst, seq))
    }
}

/// Run the lab and return its report (the caller prints `output`).
///
/// # Errors
/// [`LabError`] when the configurations cannot be loaded.
pub fn run(epoch: Instant, opts: &LabOptions) -> Result<LabReport, LabError> {
    let mut lab = Lab::build(epoch, opts)?;
    let mut report = LabReport::default();
    let hub1 = Ipv4Addr::new(172, 25, 1, 1);
    let hub2 = Ipv4Addr::new(172, 25, 2, 1);
    let hub_overlay = Ipv4Addr::new(10, 1, 1, 1);

    // ---- phase 1: the spokes come up --------------------------------------------------
    lab.say("phase 1: spokes 1 and 2 connect to hub 1 (172.25.1.1), spoke 3 to hub 2 (172.25.2.1)");
    for r in lab.routers.clone().values() {
        lab.sim.kick(*r);
    }
    lab.sim.run_until(Duration::from_secs(1));
    let mut seq = 0;
    for spoke in SPOKES {
        for hub in [hub1, hub2] {
            seq += 1;
            let ok = lab.ping_from_router(spoke, hub, seq, Duration::from_millis(100));
            lab.say(&format!(
                "{spoke}: ping {hub} over the underlay: {}",
                bang(ok)
            ));
            report.underlay_pings.push((spoke.to_owned(), hub, ok));
        }
    }
    let ok = lab.ping_from_router(
        "hub1",
        Ipv4Addr::new(10, 255, 0, 2),
        100,
        Duration::from_millis(100),
    );
    lab.say(&format!(
        "hub1: ping 10.255.0.2 through Tunnel0 (GRE to hub 2): {}",
        bang(ok)
    ));
    report.gre_ping = ok;
    lab.sim.run_until(Duration::from_secs(10));
    for spoke in SPOKES {
        let fact = lab.spoke_fact(spoke);
        lab.say(&format!(
            "{spoke}: client block {}, peer {}, assigned {}",
            fact.state,
            fact.peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            fact.assigned
                .map_or_else(|| "-".to_owned(), |p| p.to_string())
        ));
        report.phase1.push(fact);
    }
    for spoke in SPOKES {
        seq += 1;
        let ok = lab.ping_from_router(spoke, hub_overlay, seq, Duration::from_millis(200));
        lab.say(&format!(
            "{spoke}: ping {hub_overlay} through Tunnel1 (GRE over ESP transport over UDP 4500): {}",
            bang(ok)
        ));
        report
            .overlay_pings
            .push((spoke.to_owned(), hub_overlay, ok));
    }
    for name in ["spoke1", "spoke2", "spoke3"] {
        if let Some(n) = lab.router(name) {
            for (at, peer) in n.ike_requests() {
                report.connects.push((*at, name.to_owned(), *peer));
            }
        }
    }
    if let Some(show) = lab
        .router("spoke2")
        .map(Node::show_crypto_ikev2_client_flexvpn)
    {
        lab.block("Spoke2# show crypto ikev2 client flexvpn", &show);
    }
    if let Some(show) = lab.router("spoke2").map(Node::show_crypto_ikev2_sa) {
        lab.block("Spoke2# show crypto ikev2 sa", &show);
    }
    if let Some(show) = lab.router("spoke2").map(Node::show_ip_route) {
        lab.block("Spoke2# show ip route", &show);
    }
    for name in ["hub1", "hub2", "spoke1", "spoke2", "spoke3"] {
        let Some(n) = lab.router(name) else { continue };
        let routes = n.bgp_routes();
        let peers = n.bgp_established();
        let text = routes
            .iter()
            .map(|(p, discard)| {
                if *discard {
                    format!("{p} (Null0)")
                } else {
                    p.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let line = format!(
            "{name}: {} BGP sessions established; BGP routes: {text}",
            peers.len()
        );
        lab.say(&line);
        report.bgp_routes.insert(name.to_owned(), routes);
        report.bgp_peers.insert(name.to_owned(), peers);
    }
    if let Some(show) = lab.router("spoke2").map(Node::show_ip_bgp) {
        lab.block("Spoke2# show ip bgp", &show);
    }
    if let Some(show) = lab.router("hub1").map(Node::show_ip_bgp_summary) {
        lab.block("Hub1# show ip bgp summary", &show);
    }
    if let Some(show) = lab.router("hub1").map(Node::show_ip_route) {
        lab.block("Hub1# show ip route", &show);
    }
    report.last_phase = Some(Phase::Up);

    // ---- phase 2: spoke-to-spoke traffic, redirect, shortcut ---------------------------
    if opts.until >= Phase::Shortcut {
        lab.say("phase 2: traffic between the spokes' LANs (spoke1 <-> spoke2, spoke1 <-> spoke3)");
        let now = lab.sim.now();
        let stop = now + Duration::from_secs(5);
        for (id, dst) in [
            (1u16, Ipv4Addr::new(192, 168, 12, 10)),
            (2, Ipv4Addr::new(192, 168, 13, 10)),
        ] {
            if let Some(host) = lab.host_mut("spoke1-lan") {
                host.start_flow(id, dst, Duration::from_millis(100), now, stop);
            }
        }
        lab.kick_host("spoke1-lan");
        lab.sim.run_for(Duration::from_secs(6));
        let via_hubs = |lab: &Lab, hub: &str| {
            lab.router(hub).map_or(0, |n| {
                n.tunnels()
                    .values()
                    .filter(|t| t.name.starts_with("Virtual-Access"))
                    .map(|t| t.counters.out_packets)
                    .sum::<u64>()
            })
        };
        report.hub_forwarded = (via_hubs(&lab, "hub1"), via_hubs(&lab, "hub2"));
        lab.say(&format!(
            "spoke LAN traffic went through the hubs: hub1 sent {} and hub2 {} packets out of their \
             virtual-access interfaces",
            report.hub_forwarded.0, report.hub_forwarded.1
        ));
        if let Some(show) = lab.router("spoke1").map(Node::show_crypto_ipsec_sa) {
            lab.block("Spoke1# show crypto ipsec sa", &show);
        }
        for spoke in SPOKES {
            let Some(n) = lab.router(spoke) else { continue };
            let shortcuts = n.nhrp_routes();
            let direct: u64 = n
                .tunnels()
                .values()
                .filter(|t| t.name.starts_with("Virtual-Access"))
                .map(|t| t.counters.out_packets)
                .sum();
            let text = shortcuts
                .iter()
                .map(|(p, i)| format!("{p} via {i}"))
                .collect::<Vec<_>>()
                .join(", ");
            lab.say(&format!(
                "{spoke}: NHRP shortcuts: [{text}]; {direct} packets sent on spoke-to-spoke tunnels"
            ));
            report
                .shortcuts
                .insert(spoke.to_owned(), (shortcuts, direct));
        }
        // Tunnel address to tunnel address over the shortcuts (a host route to the other
        // spoke's tunnel address on each spoke-to-spoke virtual-access).
        let direct = |lab: &Lab| {
            lab.router("spoke1").map_or(0, |n| {
                n.tunnels()
                    .values()
                    .filter(|t| t.name.starts_with("Virtual-Access"))
                    .map(|t| t.counters.out_packets)
                    .sum::<u64>()
            })
        };
        for spoke in SPOKES {
            if let Some(n) = lab.router(spoke) {
                report
                    .shortcut_hosts
                    .insert(spoke.to_owned(), n.shortcut_host_routes());
            }
        }
        for (seq, other) in [(1u16, "spoke2"), (2, "spoke3")] {
            let Some(dst) = lab.spoke_fact(other).assigned else {
                continue;
            };
            let before = direct(&lab);
            let ok = lab.ping_from_router("spoke1", dst, 0x5100 + seq, Duration::from_secs(1));
            let sent = direct(&lab) - before;
            lab.say(&format!(
                "spoke1 -> {other} tunnel address {dst}: {}, {sent} packets on spoke-to-spoke tunnels",
                if ok { "echo reply" } else { "no reply" }
            ));
            report.shortcut_tunnel_pings.push((dst, ok, sent));
        }
        if let Some(show) = lab.router("spoke1").map(Node::show_ip_nhrp) {
            lab.block("Spoke1# show ip nhrp", &show);
        }
        if let Some(show) = lab.router("spoke1").map(Node::show_ip_route) {
            lab.block("Spoke1# show ip route", &show);
        }
        if let Some(show) = lab
            .router("spoke1")
            .and_then(|n| n.show_interfaces("Virtual-Access1"))
        {
            lab.block("Spoke1# show interfaces Virtual-Access1", &show);
        }

        report.last_phase = Some(Phase::Shortcut);
    }

    // ---- phase 3: hub 1 dies --------------------------------------------------------------
    if opts.until >= Phase::Failover {
        // Traffic from every spoke LAN to the server on the hubs' LAN (through the aggregate):
        // on-demand DPD probes only when traffic goes out and nothing comes back.
        let start = lab.sim.now();
        let stop = start + Duration::from_secs(150);
        for (i, spoke) in SPOKES.iter().enumerate() {
            let h = format!("{spoke}-lan");
            if let Some(host) = lab.host_mut(&h) {
                host.start_flow(
                    10 + i as u16,
                    HUB_LAN_SERVER,
                    Duration::from_millis(100),
                    start,
                    stop,
                );
            }
            lab.kick_host(&h);
        }
        lab.sim.run_for(Duration::from_secs(5));
        let kill_at = lab.sim.elapsed();
        lab.say(
            "phase 3: hub 1 dies (powered off); each spoke LAN keeps sending to 192.168.0.10 every 100 ms",
        );
        if let Some(id) = lab.routers.get("hub1").copied() {
            lab.sim.set_node_up(id, false);
        }
        lab.sim.run_for(Duration::from_secs(120));
        for spoke in SPOKES {
            let fact = lab.spoke_fact(spoke);
            let up_lines: Vec<Duration> = lab
                .router(spoke)
                .map(|n| {
                    n.log()
                        .iter()
                        .filter(|l| {
                            l.at > kill_at && l.text.starts_with("%FLEXVPN-6-FLEXVPN_CONNECTION_UP")
                        })
                        .map(|l| l.at)
                        .collect()
                })
                .unwrap_or_default();
            let outage = up_lines.first().map(|t| *t - kill_at);
            lab.say(&format!(
                "{spoke}: now {} on {} with {}; failover {}",
                fact.state,
                fact.peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                fact.assigned
                    .map_or_else(|| "-".to_owned(), |p| p.to_string()),
                outage.map_or_else(
                    || "none".to_owned(),
                    |d| format!("{:.3} s after hub 1 died", d.as_secs_f64())
                )
            ));
            report.failover.push((spoke.to_owned(), fact, outage));
        }
        report.kill_at = Some(kill_at);
        for spoke in SPOKES {
            seq += 1;
            let ok = lab.ping_from_router(spoke, hub_overlay, seq, Duration::from_millis(200));
            lab.say(&format!(
                "{spoke}: ping {hub_overlay} through Tunnel1 after failover: {}",
                bang(ok)
            ));
            report
                .overlay_pings_after
                .push((spoke.to_owned(), hub_overlay, ok));
        }
        if let Some(show) = lab
            .router("spoke2")
            .map(Node::show_crypto_ikev2_client_flexvpn)
        {
            lab.block("Spoke2# show crypto ikev2 client flexvpn", &show);
        }
        if let Some(show) = lab.router("hub2").map(Node::show_ip_route) {
            lab.block("Hub2# show ip route", &show);
        }
        report.last_phase = Some(Phase::Failover);
    }

    // ---- phase 4: hub 1 returns -------------------------------------------------------------
    if opts.until >= Phase::Return {
        lab.say("phase 4: hub 1 returns (rebooted, empty state)");
        if let Some(id) = lab.routers.get("hub1").copied() {
            // Keep what the old hub 1 logged and received before it is replaced.
            if let Some(n) = lab.sim.node(id).router() {
                lab.dead_keys.0.extend(n.keys.esp.iter().cloned());
                lab.dead_keys.1.extend(n.ike_key_lines());
                lab.dead_logs.extend(
                    n.log()
                        .iter()
                        .map(|l| (l.at, l.node.clone(), l.text.clone())),
                );
                for d in n.delivered() {
                    if let Some(f) = probe_flow(&d.packet) {
                        lab.dead_arrivals.push((f, d.at));
                    }
                }
            }
            if let Some(cfg) = lab.configs.get("hub1").cloned()
                && let Ok(fresh) =
                    Node::with_seed(&cfg, lab.sim.epoch(), opts.seed.wrapping_mul(1000) + 999)
            {
                lab.sim.replace_node(id, LabNode::Router(Box::new(fresh)));
            }
            lab.sim.set_node_up(id, true);
            lab.sim.kick(id);
        }
        lab.sim.run_for(Duration::from_secs(120));
        for spoke in SPOKES {
            let fact = lab.spoke_fact(spoke);
            lab.say(&format!(
                "{spoke}: {} on {} with {}",
                fact.state,
                fact.peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                fact.assigned
                    .map_or_else(|| "-".to_owned(), |p| p.to_string())
            ));
            report.phase4.push(fact);
        }
        if let Some(n) = lab.router("hub2") {
            report.phase4_hub2_bgp = (n.bgp_established(), n.show_ip_bgp());
        }
        if let Some(show) = lab.router("hub2").map(Node::show_ip_bgp) {
            lab.block("Hub2# show ip bgp", &show);
        }
        report.last_phase = Some(Phase::Return);
    }

    // ---- collect ---------------------------------------------------------------------------
    let mut log: Vec<(Duration, String, String)> = lab.dead_logs.clone();
    for id in lab.routers.values() {
        if let Some(n) = lab.sim.node(*id).router() {
            log.extend(
                n.log()
                    .iter()
                    .map(|l| (l.at, l.node.clone(), l.text.clone())),
            );
        }
    }
    // By time only: lines of one node at one instant keep the order the node logged them.
    log.sort_by_key(|(at, _, _)| *at);
    report.log = log;
    let mut arrivals: BTreeMap<u16, Vec<Duration>> = BTreeMap::new();
    for (f, at) in &lab.dead_arrivals {
        arrivals.entry(*f).or_default().push(*at);
    }
    for other in lab.hosts.values() {
        if let Some(o) = lab.sim.node(*other).host() {
            for (f, _, at) in &o.received {
                arrivals.entry(*f).or_default().push(*at);
            }
        }
    }
    for id in lab.routers.values() {
        if let Some(n) = lab.sim.node(*id).router() {
            for d in n.delivered() {
                if let Some(f) = probe_flow(&d.packet) {
                    arrivals.entry(f).or_default().push(d.at);
                }
            }
        }
    }
    for (hname, id) in &lab.hosts {
        if let Some(h) = lab.sim.node(*id).host() {
            for fid in h.flow_ids() {
                let mut got = arrivals.get(&fid).cloned().unwrap_or_default();
                got.sort();
                let max_gap = got
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .max()
                    .unwrap_or_default();
                report.flows.insert(
                    format!("{hname}#{fid}"),
                    FlowStats {
                        sent: h.sent(fid),
                        received: got.len() as u64,
                        max_gap,
                    },
                );
            }
        }
    }
    if let Some(path) = &opts.pcap {
        let mut keys = crate::pcap::WiresharkKeys::default();
        for id in lab.routers.values() {
            if let Some(n) = lab.sim.node(*id).router() {
                keys.esp.extend(n.keys.esp.iter().cloned());
                keys.ikev2.extend(n.ike_key_lines());
            }
        }
        keys.esp.extend(lab.dead_keys.0.iter().cloned());
        keys.ikev2.extend(lab.dead_keys.1.iter().cloned());
        keys.esp.sort();
        keys.esp.dedup();
        keys.ikev2.sort();
        keys.ikev2.dedup();
        // Wireshark's UAT files: copy them into a profile directory, or pass each line with
        // `tshark -o uat:esp_sa:LINE -o uat:ikev2_decryption_table:LINE`.
        let _ = std::fs::write(path.with_extension("esp_sa"), keys.esp_file());
        let _ = std::fs::write(
            path.with_extension("ikev2_decryption_table"),
            keys.ikev2_file(),
        );
    }
    let _ = lab.sim.finish_pcap();

    let mut out = String::new();
    if !lab.quiet {
        lab.timeline.sort();
        for (_, _, line) in &lab.timeline {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("\nIOS log:\n");
        for (at, node, text) in &report.log {
            let _ = writeln!(out, "[{:>9.3}s] {node}: {text}", at.as_secs_f64());
        }
        out.push('\n');
    }
    out.push_str(&summary(&lab, &report));
    report.output = out;
    Ok(report)
}

const SPOKES: [&str; 3] = ["spoke1", "spoke2", "spoke3"];

/// The server on the hubs' LAN.
const HUB_LAN_SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 10);

fn bang(ok: bool) -> &'static str {
    if ok { "!" } else { "." }
}

/// The flow id of a lab probe packet (UDP to [`PROBE_PORT`]).
fn probe_flow(packet: &[u8]) -> Option<u16> {
    let h = Ipv4Header::parse(packet).ok()?;
    if h.protocol != proto::UDP {
        return None;
    }
    let u = ipv4::parse_udp(packet.get(h.header_len..h.total_len)?).ok()?;
    (u.dport == PROBE_PORT && u.payload.len() >= 2)
        .then(|| u16::from_be_bytes([u.payload[0], u.payload[1]]))
}

fn summary(lab: &Lab, report: &LabReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Summary ({} phases run)",
        report.last_phase.map_or(0, |p| p as u8)
    );
    let _ = writeln!(
        s,
        "{:<8} {:<10} {:<12} {:<16} {:>7}",
        "node", "client", "peer", "assigned", "routes"
    );
    for name in ["hub1", "hub2", "spoke1", "spoke2", "spoke3"] {
        let Some(n) = lab.router(name) else { continue };
        let (state, peer, assigned) = match n.flex_client() {
            Some(c) => (
                c.state().to_string(),
                c.active_peer()
                    .map_or_else(|| "-".to_owned(), |p| p.to_string()),
                c.assigned_address()
                    .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            ),
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            s,
            "{name:<8} {state:<10} {peer:<12} {assigned:<16} {:>7}",
            n.fib().len()
        );
    }
    for (name, f) in &report.flows {
        let _ = writeln!(
            s,
            "flow {name}: sent {} received {} lost {} longest gap {:.1} s",
            f.sent,
            f.received,
            f.sent.saturating_sub(f.received),
            f.max_gap.as_secs_f64()
        );
    }
    let st = lab.sim.stats();
    let _ = writeln!(
        s,
        "underlay: {} packets sent, {} delivered, {} lost, {} cut, {} unroutable",
        st.sent, st.delivered, st.lost, st.cut, st.unroutable
    );
    if st.stalls > 0 {
        let _ = writeln!(
            s,
            "simulator: {} stalls (an engine kept asking for a timer in the past)",
            st.stalls
        );
    }
    for m in &report.missing {
        let _ = writeln!(s, "not working: {m}");
    }
    s
}

/// Write the report's output to `w`.
///
/// # Errors
/// The writer's I/O error.
pub fn print(report: &LabReport, mut w: impl Write) -> std::io::Result<()> {
    w.write_all(report.output.as_bytes())
}

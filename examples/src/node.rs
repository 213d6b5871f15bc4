//! One router: interfaces from the configuration, the FIB, IPv4 forwarding between LANs,
//! the underlay and tunnel interfaces (GRE, RFC 2784), TCP MSS clamping, path-MTU handling,
//! the FlexVPN client block driving the tunnel interface, the IOS log and the `show` commands.
//!
//! ```text
//!   LAN (Ethernet0/1..) --IPv4--> forward() --FIB LPM--> Ethernet: next hop on the segment
//!                                     |                   Null0: discard
//!                                     +--> Tunnel/Virtual-Access: clamp MSS, check MTU,
//!                                          GRE (0x0800) --> [ESP transport, UDP 4500]* --> underlay
//!   underlay (Ethernet0/0) --> GRE (proto 47) --> inner IPv4 --> forward()
//!                          --> UDP 500/4500 --> IKE layer*  (* when the crates provide it)
//! ```
//!
//! The node is a sans-IO engine like the crates it composes: [`Node::handle_packet`] and
//! [`Node::handle_timeout`] in, [`Node::poll_transmit`] and [`Node::poll_timeout`] out; it
//! implements [`SimNode`] so the simulator drives it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::config::{
    Config, InterfaceAddress, InterfaceKind, PeerTarget, RouteTarget, TunnelDestination,
    TunnelSource,
};
use crate::fib::{Fib, Route, Source, Target};
use crate::gre::{Gre, PROTO_IPV4};
use crate::ipv4::{self, Ipv4Header, proto};
use crate::prefix::Prefix;
use crate::sim::{SimNode, Transmit};
use crate::tcp::{ConnId, ConnState, TcpError, TcpStack};

/// Default IP MTU of a tunnel interface without `ip mtu` (IOS: 1476 for GRE over 1500).
const DEFAULT_TUNNEL_MTU: u16 = 1476;
/// TTL of packets the router originates.
const TTL: u8 = 255;

/// Why a node could not be built from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration has no usable underlay interface (an Ethernet with an address).
    #[error("no Ethernet interface with an address for the underlay")]
    NoUnderlay,
    /// The FlexVPN client block could not be built.
    #[error("client block {name}: {reason}")]
    ClientBlock {
        /// The block's name.
        name: String,
        /// What the flexclient crate said.
        reason: String,
    },
}

/// One timestamped IOS log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Virtual time since the simulation's epoch.
    pub at: Duration,
    /// The node's hostname.
    pub node: String,
    /// The line, e.g. `%LINEPROTO-5-UPDOWN: ...`.
    pub text: String,
}

/// Packet and byte counters of an interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets received.
    pub in_packets: u64,
    /// Bytes received.
    pub in_bytes: u64,
    /// Packets sent.
    pub out_packets: u64,
    /// Bytes sent.
    pub out_bytes: u64,
    /// Packets dropped on output (line down, MTU exceeded with DF).
    pub out_drops: u64,
}

/// Why the node dropped a packet (counted in [`DropStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Malformed IPv4 (or GRE) packets.
    pub malformed: u64,
    /// TTL expired.
    pub ttl: u64,
    /// No route to the destination.
    pub no_route: u64,
    /// Matched a discard (Null0) route.
    pub discard: u64,
    /// Routed to a tunnel whose line protocol is down.
    pub tunnel_down: u64,
    /// Too big for the tunnel MTU with DF set (an ICMP "fragmentation needed" went back).
    pub too_big: u64,
    /// GRE from a source no tunnel is configured for.
    pub unknown_tunnel: u64,
    /// Underlay packets of a kind the node does not handle yet (IKE/ESP before the crates land).
    pub unhandled: u64,
}

/// An Ethernet interface (attached to a simulator segment).
#[derive(Debug, Clone)]
struct Ether {
    name: String,
    addr: Ipv4Addr,
    net: Prefix,
    counters: Counters,
}

/// What kind of tunnel interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// A point-to-point GRE tunnel with a fixed destination (`tunnel mode gre ip`, no protection).
    StaticGre,
    /// The FlexVPN client tunnel (`tunnel destination dynamic`): destination from the client block.
    FlexClient,
}

/// A tunnel interface's state.
#[derive(Debug, Clone)]
pub struct Tunnel {
    /// The interface name.
    pub name: String,
    /// Its kind.
    pub kind: TunnelKind,
    /// The underlay source address.
    pub source: Ipv4Addr,
    /// The underlay destination, if known.
    pub destination: Option<Ipv4Addr>,
    /// The overlay address (static, or negotiated).
    pub address: Option<Ipv4Addr>,
    /// Line protocol up.
    pub line_up: bool,
    /// `ip mtu`.
    pub mtu: u16,
    /// `ip tcp adjust-mss`.
    pub mss: Option<u16>,
    /// `ip nhrp network-id`.
    pub nhrp_network_id: Option<u32>,
    /// `tunnel protection ipsec profile`.
    pub protected: bool,
    /// Counters.
    pub counters: Counters,
}

/// A packet this router received for one of its own addresses (kept for the lab to inspect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// When.
    pub at: Duration,
    /// The interface it came in on.
    pub iface: String,
    /// The packet.
    pub packet: Vec<u8>,
}

/// The router.
pub struct Node {
    hostname: String,
    epoch: Instant,
    ethers: Vec<Ether>,
    tunnels: BTreeMap<String, Tunnel>,
    fib: Fib,
    flex: Option<flexclient::Client>,
    /// Connect requests of the client block not yet handed to an IKE layer.
    ike_requests: Vec<(Duration, Ipv4Addr)>,
    out: VecDeque<Transmit>,
    log: Vec<LogLine>,
    delivered: Vec<Delivered>,
    drops: DropStats,
    ident: u16,
    crypto_logging: bool,
    /// The time of the last input, for packets the node originates.
    now: Instant,
    /// Connected subnets of tunnels with a static `ip address A M`.
    tunnel_nets: BTreeMap<String, Prefix>,
    /// The router's own TCP/IP endpoint (smoltcp), BGP's transport.
    tcp: TcpStack,
    /// When the TCP stack next needs to run.
    tcp_deadline: Option<Instant>,
}

impl Node {
    /// Build a router from its configuration. Ethernet interfaces become simulator interfaces
    /// 0, 1, ... in name order (`Ethernet0/0` is 0: the underlay).
    ///
    /// # Errors
    /// [`NodeError`] when the configuration cannot run (no underlay, a client block the
    /// flexclient crate refuses).
    pub fn new(cfg: &Config, epoch: Instant) -> Result<Self, NodeError> {
        Self::with_seed(cfg, epoch, 0)
    }

    /// As [`Node::new`], with `seed` for the node's random choices (TCP initial sequence
    /// numbers and ports, later the engines' RNGs).
    ///
    /// # Errors
    /// As [`Node::new`].
    pub fn with_seed(cfg: &Config, epoch: Instant, seed: u64) -> Result<Self, NodeError> {
        let hostname = cfg.hostname.clone().unwrap_or_else(|| "Router".to_owned());
        let mut fib = Fib::new();
        let mut ethers = Vec::new();
        let mut loopbacks = BTreeMap::new();
        for (name, i) in &cfg.interfaces {
            let Some((addr, net)) = i.static_address() else {
                continue;
            };
            match i.kind {
                InterfaceKind::Ethernet => {
                    ethers.push(Ether {
                        name: name.clone(),
                        addr,
                        net,
                        counters: Counters::default(),
                    });
                    if !i.shutdown {
                        fib.insert(Route::new(net, Source::Connected, Target::connected(name)));
                        fib.insert(Route::new(
                            Prefix::host(addr),
                            Source::Local,
                            Target::Receive(name.clone()),
                        ));
                    }
                }
                InterfaceKind::Loopback(_) => {
                    loopbacks.insert(name.clone(), addr);
                    fib.insert(Route::new(
                        net,
                        Source::Connected,
                        Target::Receive(name.clone()),
                    ));
                }
                _ => {}
            }
        }
        if ethers.is_empty() {
            return Err(NodeError::NoUnderlay);
        }
        let ether_addr = |n: &str| ethers.iter().find(|e| e.name == n).map(|e| e.addr);
        let mut tunnels = BTreeMap::new();
        for (name, i) in &cfg.interfaces {
            let InterfaceKind::Tunnel(_) = i.kind else {
                continue;
            };
            let source = match &i.tunnel_source {
                Some(TunnelSource::Address(a)) => Some(*a),
                Some(TunnelSource::Interface(n)) => ether_addr(n),
                None => None,
            };
            let Some(source) = source else { continue };
            let (kind, destination) = match i.tunnel_destination {
                Some(TunnelDestination::Address(d)) => (TunnelKind::StaticGre, Some(d)),
                Some(TunnelDestination::Dynamic) => (TunnelKind::FlexClient, None),
                None => continue,
            };
            let address = match &i.address {
                InterfaceAddress::Static { addr, .. } => Some(*addr),
                InterfaceAddress::Unnumbered(n) => {
                    loopbacks.get(n).copied().or_else(|| ether_addr(n))
                }
                _ => None,
            };
            let t = Tunnel {
                name: name.clone(),
                kind,
                source,
                destination,
                address,
                line_up: false,
                mtu: i.ip_mtu.unwrap_or(DEFAULT_TUNNEL_MTU),
                mss: i.tcp_adjust_mss,
                nhrp_network_id: i.nhrp.network_id,
                protected: i.tunnel_protection.is_some(),
                counters: Counters::default(),
            };
            tunnels.insert(name.clone(), t);
        }
        for r in &cfg.static_routes {
            let target = match &r.target {
                RouteTarget::NextHop(nh) => Target::NextHop(*nh),
                RouteTarget::Interface(n) => Target::connected(n),
                RouteTarget::Null0 => Target::Discard,
            };
            let mut route = Route::new(r.prefix, Source::Static, target);
            route.distance = r.distance;
            fib.insert(route);
        }
        let flex = match cfg.flex_clients.iter().next() {
            Some((name, block)) => Some(build_client(name, block, epoch)?),
            None => None,
        };
        let tunnel_nets = cfg
            .interfaces
            .iter()
            .filter(|(n, _)| tunnels.contains_key(*n))
            .filter_map(|(n, i)| i.static_address().map(|(_, net)| (n.clone(), net)))
            .collect();
        let mut node = Self {
            hostname,
            epoch,
            ethers,
            tunnels,
            fib,
            flex,
            ike_requests: Vec::new(),
            out: VecDeque::new(),
            log: Vec::new(),
            delivered: Vec::new(),
            drops: DropStats::default(),
            ident: 0,
            crypto_logging: cfg.crypto_logging_session,
            now: epoch,
            tunnel_nets,
            tcp: TcpStack::new(epoch, seed),
            tcp_deadline: None,
        };
        // TCP listens on the addresses BGP uses: loopbacks, and the LAN address facing a
        // configured neighbor (smoltcp holds two addresses; the negotiated tunnel address is
        // added when the tunnel comes up).
        let mut tcp_addrs: Vec<Ipv4Addr> = loopbacks.values().copied().collect();
        if let Some(bgp) = &cfg.bgp {
            for n in bgp.neighbors.keys() {
                if let Some(e) = node.ethers.iter().skip(1).find(|e| e.net.contains(*n)) {
                    tcp_addrs.push(e.addr);
                }
            }
        }
        for a in tcp_addrs {
            let _ = node.tcp.add_address(a);
        }
        // Static GRE tunnels are up as soon as their destination is routable (IOS keepalives
        // are off by default).
        let static_up: Vec<String> = node
            .tunnels
            .values()
            .filter(|t| t.kind == TunnelKind::StaticGre && !t.protected)
            .filter(|t| t.destination.is_some_and(|d| node.fib.resolve(d).is_some()))
            .map(|t| t.name.clone())
            .collect();
        for name in static_up {
            node.set_line(Duration::ZERO, &name, true);
        }
        Ok(node)
    }

    /// The hostname.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The FIB.
    pub fn fib(&self) -> &Fib {
        &self.fib
    }

    /// The FIB, to install routes from outside (e.g. the lab's BGP stand-in is NOT used; this is
    /// for tests).
    pub fn fib_mut(&mut self) -> &mut Fib {
        &mut self.fib
    }

    /// The tunnel interfaces.
    pub fn tunnels(&self) -> &BTreeMap<String, Tunnel> {
        &self.tunnels
    }

    /// The FlexVPN client block, if configured.
    pub fn flex_client(&self) -> Option<&flexclient::Client> {
        self.flex.as_ref()
    }

    /// The IOS log so far.
    pub fn log(&self) -> &[LogLine] {
        &self.log
    }

    /// Packets delivered to this router's own addresses.
    pub fn delivered(&self) -> &[Delivered] {
        &self.delivered
    }

    /// Drop counters.
    pub fn drops(&self) -> DropStats {
        self.drops
    }

    /// Connect requests of the client block that wait for an IKE layer, with their time.
    pub fn ike_requests(&self) -> &[(Duration, Ipv4Addr)] {
        &self.ike_requests
    }

    /// The address of Ethernet interface `iface` (simulator numbering).
    pub fn ether_addr(&self, iface: usize) -> Option<Ipv4Addr> {
        self.ethers.get(iface).map(|e| e.addr)
    }

    /// Names and addresses of the Ethernet interfaces, in simulator order.
    pub fn ethers(&self) -> impl Iterator<Item = (&str, Ipv4Addr, Prefix)> {
        self.ethers.iter().map(|e| (e.name.as_str(), e.addr, e.net))
    }

    fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.epoch)
    }

    fn syslog(&mut self, at: Duration, text: String) {
        self.log.push(LogLine {
            at,
            node: self.hostname.clone(),
            text,
        });
    }

    fn set_line(&mut self, at: Duration, name: &str, up: bool) {
        let Some(t) = self.tunnels.get_mut(name) else {
            return;
        };
        if t.line_up == up {
            return;
        }
        t.line_up = up;
        self.syslog(at, flexclient::syslog::lineproto_updown(name, up));
        self.refresh_tunnel_routes(name);
    }

    /// Install or remove the connected route of a tunnel after a line or address change.
    fn refresh_tunnel_routes(&mut self, name: &str) {
        let Some(t) = self.tunnels.get(name) else {
            return;
        };
        let name = name.to_owned();
        self.fib.remove_where(|r| {
            matches!(&r.target, Target::Interface { ifname, .. } | Target::Receive(ifname) if *ifname == name)
                && matches!(r.source, Source::Connected | Source::Local)
        });
        if !t.line_up {
            return;
        }
        if let Some(a) = t.address {
            self.fib.insert(Route::new(
                Prefix::host(a),
                Source::Local,
                Target::Receive(name.clone()),
            ));
        }
        if let Some(net) = self.tunnel_nets.get(&name) {
            self.fib.insert(Route::new(
                *net,
                Source::Connected,
                Target::connected(&name),
            ));
        }
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    fn is_local(&self, dst: Ipv4Addr) -> bool {
        matches!(
            self.fib.lookup(dst),
            Some(Route {
                target: Target::Receive(_),
                ..
            })
        )
    }

    /// Route an IPv4 packet that arrived on `in_if` (or was originated, `None`).
    fn forward(&mut self, now: Instant, mut packet: Vec<u8>, in_if: Option<String>) {
        let at = self.elapsed(now);
        let Ok(h) = Ipv4Header::parse(&packet) else {
            self.drops.malformed += 1;
            return;
        };
        packet.truncate(h.total_len);
        if self.is_local(h.dst) {
            self.local_receive(now, h, packet, in_if.unwrap_or_default());
            return;
        }
        if in_if.is_some() {
            match ipv4::decrement_ttl(&mut packet) {
                Ok(true) => {}
                Ok(false) => {
                    self.drops.ttl += 1;
                    return;
                }
                Err(_) => {
                    self.drops.malformed += 1;
                    return;
                }
            }
        }
        let route = match self.fib.lookup(h.dst) {
            Some(r) => r.target.clone(),
            None => {
                self.drops.no_route += 1;
                return;
            }
        };
        let (ifname, via) = match route {
            Target::Discard => {
                self.drops.discard += 1;
                return;
            }
            Target::Receive(_) => return,
            Target::Interface { ifname, via } => (ifname, via.unwrap_or(h.dst)),
            Target::NextHop(nh) => match self.fib.resolve(nh) {
                Some(x) => x,
                None => {
                    self.drops.no_route += 1;
                    return;
                }
            },
        };
        if let Some(idx) = self.ethers.iter().position(|e| e.name == ifname) {
            let c = &mut self.ethers[idx].counters;
            c.out_packets += 1;
            c.out_bytes += packet.len() as u64;
            // Interface 0 faces the Internet, a routed cloud: packets go to their destination.
            let next_hop = if idx == 0 { h.dst } else { via };
            self.out.push_back(Transmit {
                iface: idx,
                next_hop,
                packet,
            });
        } else if self.tunnels.contains_key(&ifname) {
            self.tunnel_output(at, &ifname, packet, h);
        } else {
            self.drops.no_route += 1;
        }
    }

    fn tunnel_output(&mut self, _at: Duration, name: &str, mut packet: Vec<u8>, h: Ipv4Header) {
        let Some(t) = self.tunnels.get_mut(name) else {
            return;
        };
        if !t.line_up {
            t.counters.out_drops += 1;
            self.drops.tunnel_down += 1;
            return;
        }
        if packet.len() > usize::from(t.mtu) {
            t.counters.out_drops += 1;
            self.drops.too_big += 1;
            if h.dont_fragment {
                // RFC 1191: tell the sender the MTU of the tunnel.
                let icmp = ipv4::build_icmp_frag_needed(t.mtu, &packet);
                let src = t.address.unwrap_or(t.source);
                let ident = self.next_ident();
                if let Ok(reply) = ipv4::build(src, h.src, proto::ICMP, TTL, ident, &icmp) {
                    self.out_local(reply);
                }
            }
            return;
        }
        if let Some(mss) = t.mss {
            let _ = ipv4::clamp_tcp_mss(&mut packet, mss);
        }
        let Some(dst) = t.destination else {
            t.counters.out_drops += 1;
            self.drops.tunnel_down += 1;
            return;
        };
        t.counters.out_packets += 1;
        t.counters.out_bytes += packet.len() as u64;
        let src = t.source;
        let protected = t.protected;
        let gre = Gre {
            protocol: PROTO_IPV4,
            checksum: false,
        }
        .encapsulate(&packet);
        if protected {
            // ESP transport mode needs the esp crate's SAs (not wired yet).
            self.drops.unhandled += 1;
            return;
        }
        let ident = self.next_ident();
        if let Ok(outer) = ipv4::build(src, dst, proto::GRE, TTL, ident, &gre) {
            self.underlay_send(outer);
        }
    }

    /// Send a packet this router originated (routed through the FIB like any other).
    fn out_local(&mut self, packet: Vec<u8>) {
        let now = self.now;
        self.forward(now, packet, None);
    }

    /// Send an underlay packet out of the interface its destination resolves to.
    fn underlay_send(&mut self, packet: Vec<u8>) {
        let Ok(h) = Ipv4Header::parse(&packet) else {
            return;
        };
        let Some((ifname, nh)) = self.fib.resolve(h.dst) else {
            self.drops.no_route += 1;
            return;
        };
        let Some(idx) = self.ethers.iter().position(|e| e.name == ifname) else {
            self.drops.no_route += 1;
            return;
        };
        let c = &mut self.ethers[idx].counters;
        c.out_packets += 1;
        c.out_bytes += packet.len() as u64;
        // The underlay is a routed cloud: the packet goes to its destination directly.
        let _ = nh;
        self.out.push_back(Transmit {
            iface: idx,
            next_hop: h.dst,
            packet,
        });
    }

    fn local_receive(&mut self, now: Instant, h: Ipv4Header, packet: Vec<u8>, in_if: String) {
        match h.protocol {
            proto::GRE => self.gre_input(now, h, &packet),
            proto::ICMP => {
                let body = packet.get(h.header_len..).unwrap_or_default();
                if body.first() == Some(&8) && ipv4::checksum(body) == 0 {
                    let ident = u16::from_be_bytes([
                        body.get(4).copied().unwrap_or(0),
                        body.get(5).copied().unwrap_or(0),
                    ]);
                    let seq = u16::from_be_bytes([
                        body.get(6).copied().unwrap_or(0),
                        body.get(7).copied().unwrap_or(0),
                    ]);
                    let reply =
                        ipv4::build_icmp_echo(false, ident, seq, body.get(8..).unwrap_or_default());
                    let id = self.next_ident();
                    if let Ok(p) = ipv4::build(h.dst, h.src, proto::ICMP, TTL, id, &reply) {
                        self.forward(now, p, None);
                    }
                }
                self.delivered.push(Delivered {
                    at: self.elapsed(now),
                    iface: in_if,
                    packet,
                });
            }
            proto::TCP if self.tcp.has_address(h.dst) => {
                self.tcp.handle_packet(packet);
                self.run_tcp(now);
            }
            proto::UDP if self.ethers.iter().any(|e| e.addr == h.dst) => {
                // IKE (500, 4500) and ESP-in-UDP (4500): handled once the IKE and ESP layers
                // are composed in.
                self.drops.unhandled += 1;
            }
            _ => self.delivered.push(Delivered {
                at: self.elapsed(now),
                iface: in_if,
                packet,
            }),
        }
    }

    fn gre_input(&mut self, now: Instant, outer: Ipv4Header, packet: &[u8]) {
        let Some(body) = packet.get(outer.header_len..) else {
            return;
        };
        let Ok((gre, inner)) = Gre::decapsulate(body) else {
            self.drops.malformed += 1;
            return;
        };
        let Some(t) = self
            .tunnels
            .values_mut()
            .find(|t| t.destination == Some(outer.src) && t.source == outer.dst && !t.protected)
        else {
            self.drops.unknown_tunnel += 1;
            return;
        };
        if !t.line_up {
            self.drops.tunnel_down += 1;
            return;
        }
        t.counters.in_packets += 1;
        t.counters.in_bytes += inner.len() as u64;
        let name = t.name.clone();
        if gre.protocol == PROTO_IPV4 {
            self.forward(now, inner.to_vec(), Some(name));
        } else {
            // NHRP (0x2001) goes to the nhrp engine once it is composed in.
            self.drops.unhandled += 1;
        }
    }

    fn drive_client(&mut self, now: Instant) {
        let at = self.elapsed(now);
        let Some(flex) = self.flex.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        while let Some(e) = flex.poll_event() {
            events.push(e);
        }
        let tunnel = flex.config().tunnel().to_owned();
        for e in events {
            match e {
                flexclient::Event::Syslog(line) => {
                    if self.crypto_logging || !line.starts_with("%CRYPTO") {
                        self.syslog(at, line);
                    }
                }
                flexclient::Event::Action(flexclient::Action::Connect { peer, .. }) => {
                    if let Some(t) = self.tunnels.get_mut(&tunnel) {
                        t.destination = Some(peer);
                    }
                    self.ike_requests.push((at, peer));
                }
                flexclient::Event::Action(flexclient::Action::Disconnect { .. }) => {}
                flexclient::Event::Action(flexclient::Action::LineUp) => {
                    self.set_line(at, &tunnel, true)
                }
                flexclient::Event::Action(flexclient::Action::LineDown) => {
                    self.set_line(at, &tunnel, false)
                }
                flexclient::Event::Action(_) | _ => {}
            }
        }
    }

    /// Originate an ICMP echo request to `dst` (`ping`), from the address of the interface the
    /// route to `dst` leaves by. Replies show up in [`Node::delivered`]. Returns whether a route
    /// existed.
    pub fn ping(&mut self, dst: Ipv4Addr, seq: u16) -> bool {
        let Some((ifname, _)) = self.fib.resolve(dst) else {
            return false;
        };
        let src = self
            .ethers
            .iter()
            .find(|e| e.name == ifname)
            .map(|e| e.addr)
            .or_else(|| self.tunnels.get(&ifname).and_then(|t| t.address));
        let Some(src) = src else { return false };
        let icmp = ipv4::build_icmp_echo(true, 0x1f0e, seq, b"ping");
        let ident = self.next_ident();
        match ipv4::build(src, dst, proto::ICMP, TTL, ident, &icmp) {
            Ok(p) => {
                self.out_local(p);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether an ICMP echo reply from `from` with sequence `seq` was received.
    pub fn got_echo_reply(&self, from: Ipv4Addr, seq: u16) -> bool {
        self.delivered.iter().any(|d| {
            Ipv4Header::parse(&d.packet).is_ok_and(|h| {
                let b = d.packet.get(h.header_len..).unwrap_or_default();
                h.src == from
                    && b.first() == Some(&0)
                    && b.get(6..8) == Some(&seq.to_be_bytes()[..])
            })
        })
    }

    fn run_tcp(&mut self, now: Instant) {
        for p in self.tcp.poll(now) {
            self.forward(now, p, None);
        }
        self.tcp_deadline = self.tcp.poll_at(now);
    }

    /// Give the TCP stack another local address.
    ///
    /// # Errors
    /// [`TcpError::TooManyAddresses`] beyond smoltcp's limit.
    pub fn tcp_add_address(&mut self, addr: Ipv4Addr) -> Result<(), TcpError> {
        self.tcp.add_address(addr)
    }

    /// Listen for one TCP connection on `port`.
    ///
    /// # Errors
    /// [`TcpError`] if smoltcp refuses.
    pub fn tcp_listen(&mut self, port: u16) -> Result<ConnId, TcpError> {
        self.tcp.listen(port)
    }

    /// Open a TCP connection; the SYN leaves at the next [`SimNode::handle_timeout`] (kick the
    /// node in the simulator).
    ///
    /// # Errors
    /// [`TcpError`] if smoltcp refuses.
    pub fn tcp_connect(
        &mut self,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        port: u16,
    ) -> Result<ConnId, TcpError> {
        let now = self.now;
        let id = self.tcp.connect(now, local, remote, port)?;
        self.tcp_deadline = Some(now);
        Ok(id)
    }

    /// Queue bytes on a connection; returns how many were accepted.
    pub fn tcp_send(&mut self, id: ConnId, data: &[u8]) -> usize {
        let n = self.tcp.send(id, data);
        self.tcp_deadline = Some(self.now);
        n
    }

    /// Take the bytes received on a connection.
    pub fn tcp_recv(&mut self, id: ConnId) -> Vec<u8> {
        self.tcp.recv(id)
    }

    /// A connection's state.
    pub fn tcp_state(&self, id: ConnId) -> Option<ConnState> {
        self.tcp.state(id)
    }

    /// `show ip route`.
    pub fn show_ip_route(&self) -> String {
        self.fib.show()
    }

    /// `show crypto ikev2 client flexvpn`.
    pub fn show_crypto_ikev2_client_flexvpn(&self) -> String {
        self.flex
            .as_ref()
            .map_or_else(String::new, flexclient::Client::show)
    }

    /// `show interfaces TunnelN` (the lines IOS prints that this router knows).
    pub fn show_interfaces(&self, name: &str) -> Option<String> {
        let t = self.tunnels.get(name)?;
        let mut s = String::new();
        let state = if t.line_up { "up" } else { "down" };
        let _ = writeln!(s, "{name} is up, line protocol is {state}");
        let _ = writeln!(s, "  Hardware is Tunnel");
        match t.address {
            Some(a) => {
                let _ = writeln!(s, "  Internet address is {a}/32");
            }
            None => {
                let _ = writeln!(s, "  Internet address will be negotiated using IKEv2");
            }
        }
        let _ = writeln!(s, "  MTU 17916 bytes, BW 100 Kbit/sec, DLY 20000 usec,");
        let _ = writeln!(s, "  Encapsulation TUNNEL, loopback not set");
        let dst = t
            .destination
            .map_or_else(|| "dynamic".to_owned(), |d| d.to_string());
        let _ = writeln!(s, "  Tunnel source {}, destination {dst}", t.source);
        let _ = writeln!(s, "  Tunnel protocol/transport GRE/IP");
        if t.protected {
            let _ = writeln!(s, "  Tunnel protection via IPSec (profile \"default\")");
        }
        let _ = writeln!(s, "  Tunnel transport MTU {} bytes", t.mtu);
        let c = t.counters;
        let _ = writeln!(
            s,
            "     {} packets input, {} bytes",
            c.in_packets, c.in_bytes
        );
        let _ = writeln!(
            s,
            "     {} packets output, {} bytes",
            c.out_packets, c.out_bytes
        );
        let _ = writeln!(s, "     {} output drops", c.out_drops);
        Some(s)
    }
}

/// Build the flexclient block from its configuration.
fn build_client(
    name: &str,
    block: &crate::config::FlexClientBlock,
    epoch: Instant,
) -> Result<flexclient::Client, NodeError> {
    let err = |e: flexclient::ConfigError| NodeError::ClientBlock {
        name: name.to_owned(),
        reason: e.to_string(),
    };
    let mut b = flexclient::ClientConfig::builder(name);
    for (seq, p) in &block.peers {
        let seq = u8::try_from(*seq).unwrap_or(u8::MAX);
        let mut pc = match &p.target {
            PeerTarget::Address(a) => flexclient::PeerConfig::address(seq, *a).map_err(err)?,
            PeerTarget::Fqdn { name, dynamic } => {
                flexclient::PeerConfig::fqdn(seq, name, *dynamic).map_err(err)?
            }
        };
        if let Some(t) = p.track {
            pc = pc.track(
                u16::try_from(t).unwrap_or(u16::MAX),
                flexclient::TrackWant::Up,
            );
        }
        b = b.peer(pc);
    }
    if let Some(t) = &block.connect_interface {
        b = b.client_connect(t);
    }
    for i in &block.inside {
        b = b.client_inside(i);
    }
    b = b.peer_reactivate(block.peer_reactivate);
    if let Some(g) = block.backup_group {
        b = b.backup_group(u8::try_from(g).unwrap_or(u8::MAX));
    }
    for (seq, s) in &block.sources {
        let src = flexclient::SourceConfig::new(
            u8::try_from(*seq).unwrap_or(u8::MAX),
            &s.interface,
            u16::try_from(s.track).unwrap_or(u16::MAX),
        )
        .map_err(err)?;
        b = b.source(src);
    }
    if block.sources.is_empty() {
        b = b.tunnel_source("Ethernet0/0");
    }
    let cfg = b.build().map_err(err)?;
    Ok(flexclient::Client::new(epoch, cfg))
}

impl SimNode for Node {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: Vec<u8>) {
        self.now = now;
        let Some(e) = self.ethers.get_mut(iface) else {
            return;
        };
        e.counters.in_packets += 1;
        e.counters.in_bytes += packet.len() as u64;
        let name = e.name.clone();
        self.forward(now, packet, Some(name));
        self.drive_client(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if let Some(f) = self.flex.as_mut() {
            f.handle_timeout(now);
        }
        self.drive_client(now);
        if self.tcp_deadline.is_some_and(|t| t <= now) {
            self.run_tcp(now);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flex
            .as_ref()
            .and_then(flexclient::Client::poll_timeout)
    }
}

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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::config::{
    Config, DpdMode, InterfaceAddress, InterfaceKind, PeerTarget, RouteTarget, TunnelDestination,
    TunnelMode, TunnelSource,
};
use crate::fib::{Fib, Route, Source, Target};
use crate::gre::{Gre, PROTO_IPV4, PROTO_NHRP};
use crate::ipv4::{self, Ipv4Header, proto};
use crate::prefix::Prefix;
use crate::sim::{SimNode, Transmit};
use crate::tcp::{ConnId, ConnState, TcpError, TcpStack};

/// Default IP MTU of a tunnel interface without `ip mtu` (IOS: 1476 for GRE over 1500).
const DEFAULT_TUNNEL_MTU: u16 = 1476;
/// Spare TCP sockets listening on port 179.
const BGP_LISTENERS: usize = 4;
/// Listening sockets of a node with `bgp listen range` (a hub): hundreds of spokes may open
/// their sessions within one round trip.
const BGP_LISTENERS_HUB: usize = 32;
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
    /// A virtual-access interface cloned from a virtual template for one IKEv2 session.
    VirtualAccess,
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
    /// `tunnel mode ipsec ipv4`: a VTI, the inner IPv4 packet in ESP tunnel mode, no GRE.
    pub vti: bool,
    /// Counters.
    pub counters: Counters,
    /// The IKE SA protecting the tunnel.
    pub ike_sa: Option<ikev2::SaHandle>,
}

/// What the driver of a node in kernel mode ([`Node::set_kernel_mode`]) does with the kernel
/// TCP sockets that carry BGP through the tunnels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelBgp {
    /// Open a TCP connection from `local` (a tunnel address) to `remote:port`, then report it
    /// with [`Node::kernel_bgp_connected`] or [`Node::kernel_bgp_closed`].
    Connect {
        /// The speaker's connection id.
        conn: bgp_lite::ConnId,
        /// The source address (the tunnel's address).
        local: Ipv4Addr,
        /// The neighbor.
        remote: Ipv4Addr,
        /// The port (179).
        port: u16,
    },
    /// Write these bytes to the connection.
    Send {
        /// The connection.
        conn: bgp_lite::ConnId,
        /// The bytes of the BGP stream.
        bytes: Vec<u8>,
    },
    /// Close the connection.
    Close {
        /// The connection.
        conn: bgp_lite::ConnId,
    },
}

/// A tunnel interface that gets a kernel TUN device in kernel mode: it is up and has an
/// address (negotiated on a spoke, unnumbered/configured on a hub's virtual-access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelTunnel {
    /// The tunnel interface (`Tunnel1`, `Virtual-Access3`).
    pub name: String,
    /// Its overlay address.
    pub address: Ipv4Addr,
    /// Its IP MTU.
    pub mtu: u16,
    /// Overlay addresses reached through it (host routes for the kernel): the hub's tunnel
    /// address on a spoke's client tunnel, the spoke's assigned address on a hub's
    /// virtual-access.
    pub peers: Vec<Ipv4Addr>,
}

/// The IPsec state of one IKE session (what `show crypto ipsec sa` prints).
pub struct Session {
    /// The peer's public address.
    pub peer: Ipv4Addr,
    /// Whether we initiated.
    pub initiator: bool,
    /// The tunnel interface it protects.
    pub iface: String,
    /// The inner address assigned (to us when initiator, to the peer when responder).
    pub assigned: Option<Ipv4Addr>,
    /// Whether the IKE SA is established.
    pub established: bool,
    /// Outbound ESP SA.
    out_sa: Option<esp::OutboundSa>,
    /// Inbound SPI.
    pub spi_in: Option<u32>,
    /// Outbound SPI.
    pub spi_out: Option<u32>,
    /// Packets encapsulated.
    pub encaps: u64,
    /// Packets decapsulated.
    pub decaps: u64,
    /// When it came up (virtual time).
    pub up_at: Duration,
    traffic_sent: bool,
    traffic_received: bool,
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
    /// The IKEv2 endpoint (ports 500 and 4500 of the underlay address).
    ike: ikev2::Endpoint<ChaCha20Rng>,
    /// The public (underlay) address.
    public: Ipv4Addr,
    /// IKE sessions by handle.
    sessions: BTreeMap<ikev2::SaHandle, Session>,
    /// Inbound ESP SAs by SPI.
    inbound: BTreeMap<u32, (esp::InboundSa, ikev2::SaHandle)>,
    /// The pre-shared key and IKE policy for sessions we initiate.
    ike_peer: Option<(ikev2::Psk, ikev2::SaPolicy)>,
    /// Next virtual-access interface number.
    next_va: u32,
    /// IKE SAs we started and that are not up yet, with their peer.
    pending: BTreeMap<ikev2::SaHandle, Ipv4Addr>,
    /// The virtual template cloned for responder sessions.
    vt: Option<VirtualTemplate>,
    /// BGP neighbors reached through the client tunnel (`update-source TunnelN`).
    tunnel_neighbors: Vec<Ipv4Addr>,
    /// Keys of every ESP SA, for the pcap key file.
    pub keys: crate::pcap::WiresharkKeys,
    /// Keys of every IKE SA (the ikev2 crate's key log), for the pcap key file.
    ike_keys: std::sync::Arc<ikev2::config::WiresharkKeyLog>,
    /// The BGP speaker (bgp-lite), if `router bgp` is configured.
    bgp: Option<bgp_lite::Speaker>,
    /// The speaker checks next hops against the route table (hubs; see `build_bgp`).
    bgp_next_hop_check: bool,
    /// BGP connections: the speaker's id -> the TCP connection carrying it.
    bgp_conns: BTreeMap<bgp_lite::ConnId, BgpConn>,
    /// Connections the speaker asked for that wait for a usable source address.
    bgp_pending: Vec<(bgp_lite::ConnId, Ipv4Addr, u16, Option<Ipv4Addr>)>,
    /// TCP sockets listening on port 179 for the next inbound BGP connections.
    bgp_listeners: Vec<ConnId>,
    bgp_backlog: usize,
    /// Next inbound connection id for the speaker (top bit clear).
    bgp_next_inbound: u64,
    /// The NHRP engine of the overlay, once it can run: at start on a hub, when the client
    /// tunnel has its address on a spoke.
    nhrp: Option<nhrp::Engine>,
    /// RNG seeding NHRP request ids.
    nhrp_rng: ChaCha20Rng,
    /// NHRP packets waiting for a tunnel to their NBMA address.
    nhrp_wait: Vec<(Ipv4Addr, Vec<u8>)>,
    /// Shortcuts the engine asked for: (prefix, next hop, NBMA).
    nhrp_shortcuts: Vec<(Prefix, Ipv4Addr, Ipv4Addr)>,
    /// IKE SAs opened for spoke-to-spoke tunnels, with the other end's NBMA address.
    shortcut_ike: BTreeMap<ikev2::SaHandle, Ipv4Addr>,
    /// Host routes to the other spoke's tunnel address over an up spoke-to-spoke
    /// virtual-access: (address, interface). In the FIB as NHRP routes, and in the kernel's
    /// table (through [`Node::kernel_tunnels`]) in kernel mode.
    shortcut_hosts: BTreeSet<(Ipv4Addr, String)>,
    /// NHRP settings from the configuration.
    nhrp_setup: Option<NhrpSetup>,
    /// BGP changed routes since the hub's NHRP engine last learned them.
    nhrp_routes_dirty: bool,
    /// `router bgp ASN` (0 without BGP).
    bgp_asn: u32,
    /// Kernel mode (`flexvpn-router run`): traffic for the tunnels' own addresses goes to
    /// the kernel through TUN devices, and BGP through tunnels uses kernel TCP sockets.
    kernel: bool,
    /// Packets for a tunnel's own address, for the TUN of that tunnel.
    kernel_out: VecDeque<(String, Vec<u8>)>,
    /// Commands for the kernel TCP sockets carrying BGP.
    kernel_bgp: VecDeque<KernelBgp>,
    /// BGP connections carried by kernel sockets, with their local and remote addresses.
    kernel_conns: BTreeMap<bgp_lite::ConnId, (Ipv4Addr, Ipv4Addr)>,
    /// The BGP router identifier.
    bgp_router_id: Ipv4Addr,
}

/// What the configuration says about NHRP.
#[derive(Debug, Clone)]
struct NhrpSetup {
    network_id: u32,
    hub: bool,
    redirect: bool,
    lans: Vec<Prefix>,
    /// `ip nhrp map PROTO NBMA` of unprotected GRE tunnels (the hub-to-hub tunnel).
    static_peers: Vec<(Ipv4Addr, Ipv4Addr)>,
}

/// One BGP transport connection.
#[derive(Debug)]
struct BgpConn {
    tcp: ConnId,
    /// Whether the speaker was told it is connected.
    reported: bool,
    /// Bytes the TCP send buffer did not take yet.
    backlog: Vec<u8>,
}

/// What a virtual-access interface inherits from its template.
#[derive(Debug, Clone)]
struct VirtualTemplate {
    address: Option<Ipv4Addr>,
    mtu: u16,
    mss: Option<u16>,
    nhrp_network_id: Option<u32>,
    vti: bool,
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
                vti: i.tunnel_mode == TunnelMode::IpsecIpv4,
                counters: Counters::default(),
                ike_sa: None,
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
        let public = ethers
            .first()
            .map(|e| e.addr)
            .ok_or(NodeError::NoUnderlay)?;
        let ike_keys = std::sync::Arc::new(ikev2::config::WiresharkKeyLog::default());
        let (ike, ike_peer) = build_ike(cfg, public, epoch, seed, ike_keys.clone());
        let vt = cfg
            .interfaces
            .values()
            .find(|i| matches!(i.kind, InterfaceKind::VirtualTemplate(_)))
            .map(|i| VirtualTemplate {
                address: match &i.address {
                    InterfaceAddress::Unnumbered(n) => loopbacks.get(n).copied(),
                    InterfaceAddress::Static { addr, .. } => Some(*addr),
                    _ => None,
                },
                mtu: i.ip_mtu.unwrap_or(DEFAULT_TUNNEL_MTU),
                mss: i.tcp_adjust_mss,
                nhrp_network_id: i.nhrp.network_id,
                vti: i.tunnel_mode == TunnelMode::IpsecIpv4,
            });
        let tunnel_neighbors = cfg
            .bgp
            .iter()
            .flat_map(|b| b.neighbors.iter())
            .filter(|(_, n)| {
                n.settings.update_source.as_ref().is_some_and(|u| {
                    tunnels
                        .get(u)
                        .is_some_and(|t| t.kind == TunnelKind::FlexClient)
                })
            })
            .map(|(a, _)| *a)
            .collect();
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
            ike,
            public,
            sessions: BTreeMap::new(),
            inbound: BTreeMap::new(),
            ike_peer,
            next_va: 1,
            pending: BTreeMap::new(),
            vt,
            tunnel_neighbors,
            keys: crate::pcap::WiresharkKeys::default(),
            ike_keys,
            bgp: build_bgp(cfg, &loopbacks, epoch),
            bgp_next_hop_check: cfg.bgp.is_some()
                && cfg
                    .authorization_policies
                    .values()
                    .any(|a| a.pool.is_some()),
            bgp_conns: BTreeMap::new(),
            bgp_pending: Vec::new(),
            bgp_listeners: Vec::new(),
            bgp_backlog: if cfg.bgp.iter().any(|b| !b.listen_ranges.is_empty()) {
                BGP_LISTENERS_HUB
            } else {
                BGP_LISTENERS
            },
            bgp_next_inbound: 1,
            nhrp: None,
            nhrp_rng: ChaCha20Rng::seed_from_u64(seed ^ 0x2001),
            nhrp_wait: Vec::new(),
            nhrp_shortcuts: Vec::new(),
            shortcut_ike: BTreeMap::new(),
            shortcut_hosts: BTreeSet::new(),
            nhrp_setup: None,
            nhrp_routes_dirty: false,
            bgp_asn: cfg.bgp.as_ref().map_or(0, |b| b.asn),
            kernel: false,
            kernel_out: VecDeque::new(),
            kernel_bgp: VecDeque::new(),
            kernel_conns: BTreeMap::new(),
            bgp_router_id: cfg
                .bgp
                .as_ref()
                .and_then(|b| b.router_id)
                .or_else(|| loopbacks.values().max().copied())
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
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
        if node.bgp.is_some() {
            node.sync_bgp_table(epoch);
            node.tcp_deadline = Some(epoch);
        }
        let network_id = cfg.interfaces.values().find_map(|i| i.nhrp.network_id);
        if let Some(network_id) = network_id {
            node.nhrp_setup = Some(NhrpSetup {
                network_id,
                hub: !cfg.pools.is_empty(),
                redirect: cfg.interfaces.values().any(|i| i.nhrp.redirect),
                lans: node.ethers.iter().skip(1).map(|e| e.net).collect(),
                static_peers: cfg
                    .interfaces
                    .values()
                    .flat_map(|i| i.nhrp.maps.iter().copied())
                    .collect(),
            });
            // Both hubs share the virtual-template address (10.1.1.1), so a hub's NHRP identity
            // is its address on the hub-to-hub GRE tunnel when it has one: a request forwarded
            // from one hub to the other must not carry an address the other hub owns too.
            let hub_proto = node
                .tunnels
                .values()
                .find(|t| t.kind == TunnelKind::StaticGre && t.nhrp_network_id == Some(network_id))
                .and_then(|t| t.address)
                .or_else(|| node.vt.as_ref().and_then(|v| v.address));
            if node.nhrp_setup.as_ref().is_some_and(|n| n.hub)
                && let Some(proto) = hub_proto
            {
                node.start_nhrp(epoch, proto, Vec::new());
            }
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
        // The client block logs its tunnel's line changes itself.
        if t.kind != TunnelKind::FlexClient {
            self.syslog(at, flexclient::syslog::lineproto_updown(name, up));
        }
        self.refresh_tunnel_routes(name);
    }

    /// Install or remove the connected route of a tunnel after a line or address change.
    fn refresh_tunnel_routes(&mut self, name: &str) {
        self.refresh_tunnel_routes_inner(name);
        let now = self.now;
        self.sync_bgp_table(now);
        self.tcp_deadline = Some(now);
    }

    fn refresh_tunnel_routes_inner(&mut self, name: &str) {
        let Some(t) = self.tunnels.get(name) else {
            return;
        };
        let name = name.to_owned();
        self.fib.remove_where(|r| {
            matches!(&r.target, Target::Interface { ifname, .. } | Target::Receive(ifname) if *ifname == name)
                && matches!(r.source, Source::Connected | Source::Local | Source::Static)
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
        // The route the hub's authorization block pushes (`route set interface`): its tunnel
        // address, which is the BGP neighbor configured with `update-source` on this tunnel.
        if t.kind == TunnelKind::FlexClient && t.address.is_some() {
            for n in &self.tunnel_neighbors {
                self.fib.insert(Route::new(
                    Prefix::host(*n),
                    Source::Static,
                    Target::connected(&name),
                ));
            }
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
            self.nhrp_forwarded(now, in_if.as_deref(), &ifname, &packet);
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
        if t.vti {
            // A VTI: the inner packet itself goes into ESP tunnel mode (next header 4).
            let ike_sa = t.ike_sa;
            self.esp_output(ike_sa, src, dst, packet, proto::IPIP);
            return;
        }
        let gre = Gre {
            protocol: PROTO_IPV4,
            checksum: false,
        }
        .encapsulate(&packet);
        if protected {
            let ike_sa = t.ike_sa;
            self.esp_output(ike_sa, src, dst, gre, proto::GRE);
            return;
        }
        let ident = self.next_ident();
        if let Ok(outer) = ipv4::build(src, dst, proto::GRE, TTL, ident, &gre) {
            self.underlay_send(outer);
        }
    }

    /// `payload` (GRE in transport mode, an IPv4 packet in tunnel mode, as `next_header`
    /// says) in ESP over UDP 4500 to `dst`.
    fn esp_output(
        &mut self,
        ike_sa: Option<ikev2::SaHandle>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: Vec<u8>,
        next_header: u8,
    ) {
        let Some(sess) = ike_sa.and_then(|h| self.sessions.get_mut(&h)) else {
            self.drops.tunnel_down += 1;
            return;
        };
        let Some(out) = sess.out_sa.as_mut() else {
            self.drops.tunnel_down += 1;
            return;
        };
        // The session's peer, whatever the tunnel's configured destination says.
        let dst = if sess.peer == dst { dst } else { sess.peer };
        let mut buf = BytesMut::with_capacity(payload.len() + 64);
        buf.extend_from_slice(&payload);
        if out.seal(&mut buf, next_header).is_err() {
            self.drops.unhandled += 1;
            return;
        }
        sess.encaps += 1;
        sess.traffic_sent = true;
        let Ok(udp) = ipv4::build_udp(src, 4500, dst, 4500, &buf) else {
            return;
        };
        let ident = self.next_ident();
        if let Ok(outer) = ipv4::build(src, dst, proto::UDP, TTL, ident, &udp) {
            self.underlay_send(outer);
        }
    }

    /// A UDP datagram for our public address: IKE on 500, IKE (with the non-ESP marker) or ESP
    /// on 4500.
    fn udp_input(&mut self, now: Instant, h: Ipv4Header, packet: &[u8]) {
        let Some(body) = packet.get(h.header_len..h.total_len) else {
            return;
        };
        let Ok(u) = ipv4::parse_udp(body) else {
            self.drops.malformed += 1;
            return;
        };
        let local = SocketAddr::V4(SocketAddrV4::new(h.dst, u.dport));
        let remote = SocketAddr::V4(SocketAddrV4::new(h.src, u.sport));
        let is_esp =
            u.dport == 4500 && u.payload.len() >= 4 && u.payload.get(..4) != Some(&[0u8; 4][..]);
        if u.dport == 500 || (u.dport == 4500 && !is_esp) {
            if u.payload != [0xff] {
                let _ = self.ike.handle_datagram(now, local, remote, u.payload);
            }
            self.drive_ike(now);
            return;
        }
        if !is_esp {
            self.drops.unhandled += 1;
            return;
        }
        let spi = u32::from_be_bytes([u.payload[0], u.payload[1], u.payload[2], u.payload[3]]);
        let Some((sa, handle)) = self.inbound.get_mut(&spi) else {
            self.drops.unhandled += 1;
            return;
        };
        let handle = *handle;
        let mut buf = BytesMut::from(u.payload);
        let Ok(opened) = sa.open(&mut buf) else {
            self.drops.malformed += 1;
            return;
        };
        let Some(sess) = self.sessions.get_mut(&handle) else {
            return;
        };
        sess.decaps += 1;
        sess.traffic_received = true;
        let iface = sess.iface.clone();
        if opened.next_header == proto::IPIP {
            // ESP tunnel mode (a VTI): route the inner packet by its own header.
            let inner = buf.to_vec();
            let Some(t) = self.tunnels.get_mut(&iface) else {
                return;
            };
            if !t.vti {
                self.drops.unhandled += 1;
                return;
            }
            t.counters.in_packets += 1;
            t.counters.in_bytes += inner.len() as u64;
            self.forward(now, inner, Some(iface));
            return;
        }
        if opened.next_header != proto::GRE {
            self.drops.unhandled += 1;
            return;
        }
        let Ok((gre, inner)) = Gre::decapsulate(&buf) else {
            self.drops.malformed += 1;
            return;
        };
        let inner = inner.to_vec();
        let Some(t) = self.tunnels.get_mut(&iface) else {
            return;
        };
        t.counters.in_packets += 1;
        t.counters.in_bytes += inner.len() as u64;
        if gre.protocol == PROTO_IPV4 {
            self.forward(now, inner, Some(iface));
        } else if gre.protocol == PROTO_NHRP {
            self.nhrp_input(now, &iface, &inner);
        } else {
            self.drops.unhandled += 1;
        }
    }

    /// Drain the IKE endpoint: transmits onto the underlay, events into sessions, the ESP SAs,
    /// the tunnel interfaces and the client block.
    fn drive_ike(&mut self, now: Instant) {
        // On-demand DPD needs to know about ESP traffic since the last report.
        let traffic: Vec<_> = self
            .sessions
            .iter_mut()
            .filter(|(_, s)| s.established && (s.traffic_sent || s.traffic_received))
            .map(|(h, s)| {
                let r = (*h, s.traffic_sent, s.traffic_received);
                s.traffic_sent = false;
                s.traffic_received = false;
                r
            })
            .collect();
        for (h, sent, received) in traffic {
            let _ = self.ike.handle_traffic(now, h, sent, received);
        }
        loop {
            let mut progressed = false;
            while let Some(t) = self.ike.poll_transmit() {
                progressed = true;
                let (SocketAddr::V4(l), SocketAddr::V4(r)) = (t.local, t.remote) else {
                    continue;
                };
                if let Ok(udp) = ipv4::build_udp(*l.ip(), l.port(), *r.ip(), r.port(), &t.payload) {
                    let ident = self.next_ident();
                    if let Ok(p) = ipv4::build(*l.ip(), *r.ip(), proto::UDP, TTL, ident, &udp) {
                        self.underlay_send(p);
                    }
                }
            }
            while let Some(e) = self.ike.poll_event() {
                progressed = true;
                self.ike_event(now, e);
            }
            self.drive_client(now);
            if !progressed {
                break;
            }
        }
    }

    fn ike_event(&mut self, now: Instant, e: ikev2::Event) {
        let at = self.elapsed(now);

        match e {
            ikev2::Event::IkeSaEstablished {
                sa,
                initiator,
                remote,
                assigned_address,
                ..
            } => {
                let peer = match remote {
                    SocketAddr::V4(r) => *r.ip(),
                    SocketAddr::V6(_) => return,
                };
                if initiator && self.shortcut_ike.contains_key(&sa) {
                    self.shortcut_ike.remove(&sa);
                    let name = self.clone_virtual_access(peer, sa, at);
                    self.sessions
                        .insert(sa, Session::new(peer, true, &name, None, at));
                } else if initiator {
                    let tunnel = self
                        .flex
                        .as_ref()
                        .map(|f| f.config().tunnel().to_owned())
                        .unwrap_or_default();
                    self.sessions
                        .insert(sa, Session::new(peer, true, &tunnel, assigned_address, at));
                    if let Some(t) = self.tunnels.get_mut(&tunnel) {
                        t.address = assigned_address;
                        t.destination = Some(peer);
                        t.ike_sa = Some(sa);
                    }
                    if let Some(a) = assigned_address {
                        let _ = self.tcp.add_address(a);
                    }
                    let local = self.public;
                    if let Some(f) = self.flex.as_mut() {
                        f.handle_session(
                            now,
                            peer,
                            flexclient::SessionEvent::Up {
                                local,
                                peer_port: 500,
                                peer_id: peer.to_string(),
                                assigned_v4: assigned_address,
                            },
                        );
                    }
                    self.refresh_tunnel_routes(&tunnel);
                    let vti = self.tunnels.get(&tunnel).is_some_and(|t| t.vti);
                    if let Some(a) = assigned_address.filter(|_| !vti) {
                        let hub_proto = self
                            .tunnel_neighbors
                            .first()
                            .copied()
                            .unwrap_or(Ipv4Addr::new(10, 1, 1, 1));
                        self.start_nhrp(now, a, vec![nhrp::Peer::new(hub_proto, peer)]);
                    }
                } else {
                    // A spoke (or, on a spoke, another spoke's shortcut): a virtual-access
                    // interface cloned from the template.
                    let name = self.clone_virtual_access(peer, sa, at);
                    self.sessions
                        .insert(sa, Session::new(peer, false, &name, assigned_address, at));
                    let vti = self.tunnels.get(&name).is_some_and(|t| t.vti);
                    if let (Some(a), Some(e), false) = (assigned_address, self.nhrp.as_mut(), vti) {
                        let _ = e.add_peer(now, nhrp::Peer::new(a, peer));
                    }
                    // The authorization block's route to the spoke's assigned address.
                    if let Some(a) = assigned_address {
                        // A BGP session still up with this address belongs to an earlier tunnel
                        // (the next-hop check keeps sessions whose tunnel went away): the spoke
                        // behind the new tunnel opens its own.
                        if self.bgp_next_hop_check {
                            self.bgp_remote_gone(now, a);
                        }
                        let mut r =
                            Route::new(Prefix::host(a), Source::Static, Target::connected(&name));
                        r.distance = 1;
                        self.fib.insert(r);
                        // The spoke's next hop resolves from now on (next-hop check).
                        if self.bgp_next_hop_check {
                            self.sync_bgp_table(now);
                        }
                    }
                }
            }
            ikev2::Event::ChildSaInstalled {
                sa,
                spi_in,
                spi_out,
                keys,
                ..
            } => {
                let Some(sess) = self.sessions.get_mut(&sa) else {
                    return;
                };
                let mode = if self.tunnels.get(&sess.iface).is_some_and(|t| t.vti) {
                    esp::Mode::Tunnel
                } else {
                    esp::Mode::Transport
                };
                let params_out = esp::SaParams::from_keymat(spi_out, keys.encr_out.as_bytes())
                    .map(|p| p.with_mode(mode));
                let params_in = esp::SaParams::from_keymat(spi_in, keys.encr_in.as_bytes())
                    .map(|p| p.with_mode(mode));
                if let (Ok(po), Ok(pi)) = (params_out, params_in)
                    && let (Ok(o), Ok(i)) = (esp::OutboundSa::new(po), esp::InboundSa::new(pi))
                {
                    use crate::pcap::KeyLog as _;
                    self.keys
                        .esp_sa(self.public, sess.peer, spi_out, keys.encr_out.as_bytes());
                    self.keys
                        .esp_sa(sess.peer, self.public, spi_in, keys.encr_in.as_bytes());
                    if let Some(old) = sess.spi_in.replace(spi_in) {
                        self.inbound.remove(&old);
                    }
                    sess.spi_out = Some(spi_out);
                    sess.out_sa = Some(o);
                    sess.established = true;
                    self.inbound.insert(spi_in, (i, sa));
                }
            }
            ikev2::Event::ChildSaDeleted { spi_in, .. } => {
                self.inbound.remove(&spi_in);
            }
            ikev2::Event::IkeSaDeleted { sa, .. } => {
                self.session_gone(now, sa, flexclient::DownReason::DeleteReceived)
            }
            ikev2::Event::PeerDead { sa } => {
                self.session_gone(now, sa, flexclient::DownReason::Dpd)
            }
            ikev2::Event::IkeSaFailed { sa, reason } => {
                if reason == ikev2::Error::AuthenticationFailed {
                    let peer = self
                        .pending
                        .get(&sa)
                        .map(|p| std::net::IpAddr::V4(*p))
                        .or_else(|| self.ike.sa_info(sa).map(|i| i.remote.ip()))
                        .map_or_else(|| "peer".to_owned(), |p| format!("peer {p}"));
                    self.syslog(
                        at,
                        format!("%IKEV2-5-AUTH_FAILED: IKEv2 authentication failed with {peer}"),
                    );
                }
                if self.sessions.contains_key(&sa) {
                    self.session_gone(now, sa, flexclient::DownReason::Other);
                } else if let Some(peer) = self.pending.remove(&sa)
                    && let Some(f) = self.flex.as_mut()
                {
                    f.handle_session(now, peer, flexclient::SessionEvent::ConnectFailed);
                }
            }
            _ => {}
        }
    }

    /// Clone a virtual-access interface for a session with `peer`.
    fn clone_virtual_access(
        &mut self,
        peer: Ipv4Addr,
        sa: ikev2::SaHandle,
        at: Duration,
    ) -> String {
        let name = format!("Virtual-Access{}", self.next_va);
        self.next_va += 1;
        let vt = self.vt.clone();
        let address = vt.as_ref().and_then(|v| v.address).or_else(|| {
            self.tunnels
                .values()
                .find(|t| t.kind == TunnelKind::FlexClient)
                .and_then(|t| t.address)
        });
        let t = Tunnel {
            name: name.clone(),
            kind: TunnelKind::VirtualAccess,
            source: self.public,
            destination: Some(peer),
            address,
            line_up: false,
            mtu: vt.as_ref().map_or(DEFAULT_TUNNEL_MTU, |v| v.mtu),
            mss: vt.as_ref().and_then(|v| v.mss),
            nhrp_network_id: vt.as_ref().and_then(|v| v.nhrp_network_id),
            protected: true,
            vti: vt.as_ref().is_some_and(|v| v.vti),
            counters: Counters::default(),
            ike_sa: Some(sa),
        };
        self.tunnels.insert(name.clone(), t);
        if self.crypto_logging {
            self.syslog(
                at,
                flexclient::syslog::ikev2_session_status(true, peer, 500, &peer.to_string()),
            );
        }
        self.set_line(at, &name, true);
        name
    }

    fn session_gone(&mut self, now: Instant, sa: ikev2::SaHandle, reason: flexclient::DownReason) {
        let at = self.elapsed(now);
        self.pending.remove(&sa);
        self.shortcut_ike.remove(&sa);
        let Some(sess) = self.sessions.remove(&sa) else {
            return;
        };
        if let Some(e) = self.nhrp.as_mut() {
            e.handle_tunnel_down(now, sess.peer);
            if !sess.initiator
                && let Some(a) = sess.assigned
            {
                let _ = e.remove_peer(now, a);
            }
        }
        if let Some(spi) = sess.spi_in {
            self.inbound.remove(&spi);
        }
        if sess.initiator {
            if let Some(a) = sess.assigned {
                self.bgp_source_gone(now, a);
                self.tcp.remove_address(a);
            }
            // After a make-before-break switch (`peer reactivate`) the tunnel already belongs
            // to the new session: leave it alone.
            if let Some(t) = self.tunnels.get_mut(&sess.iface)
                && t.ike_sa == Some(sa)
            {
                t.ike_sa = None;
                t.address = None;
                self.refresh_tunnel_routes(&sess.iface);
            }
            if let Some(f) = self.flex.as_mut() {
                f.handle_session(now, sess.peer, flexclient::SessionEvent::Down { reason });
            }
        } else {
            if self.crypto_logging {
                self.syslog(
                    at,
                    flexclient::syslog::ikev2_session_status(
                        false,
                        sess.peer,
                        500,
                        &sess.peer.to_string(),
                    ),
                );
            }
            self.set_line(at, &sess.iface, false);
            self.tunnels.remove(&sess.iface);
            let name = sess.iface.clone();
            self.fib.remove_where(
                |r| matches!(&r.target, Target::Interface { ifname, .. } if *ifname == name),
            );
            // The route to the spoke's address went with its interface: with the next-hop
            // check (hubs), the new table takes the spoke's routes out of the decision.
            // Without it, the session with the spoke is reset now rather than at hold-timer
            // expiry: its routes must not keep pointing at a tunnel that is gone.
            if let Some(a) = sess.assigned
                && !self.bgp_next_hop_check
            {
                self.bgp_remote_gone(now, a);
            }
            self.sync_bgp_table(now);
            self.tcp_deadline = Some(now);
        }
    }

    /// Start (or restart) the NHRP engine with overlay address `proto`.
    fn start_nhrp(&mut self, now: Instant, proto: Ipv4Addr, servers: Vec<nhrp::Peer>) {
        let Some(setup) = self.nhrp_setup.clone() else {
            return;
        };
        let mut c = nhrp::Config::new(setup.network_id, proto, self.public);
        c.server = setup.hub;
        c.redirect = setup.redirect;
        c.shortcut = !setup.hub;
        c.servers = servers.clone();
        c.local_prefixes = setup
            .lans
            .iter()
            .filter_map(|p| nhrp::Prefix::new(p.addr(), p.prefix_len()).ok())
            .collect();
        let Ok(mut e) = nhrp::Engine::new(c, &mut self.nhrp_rng, now) else {
            return;
        };
        for (p, n) in &setup.static_peers {
            let _ = e.add_peer(now, nhrp::Peer::new(*p, *n));
        }
        if let (Some(hub), Ok(default)) =
            (servers.first(), nhrp::Prefix::new(Ipv4Addr::UNSPECIFIED, 0))
        {
            e.set_route(default, *hub);
        }
        // The hub learns every spoke session already up.
        for sess in self.sessions.values().filter(|s| !s.initiator) {
            if let Some(a) = sess.assigned {
                let _ = e.add_peer(now, nhrp::Peer::new(a, sess.peer));
            }
        }
        self.nhrp = Some(e);
        self.nhrp_shortcuts.clear();
        self.fib.remove_where(|r| r.source == Source::Nhrp);
        self.sync_nhrp_routes();
    }

    /// The NHRP peer at the far end of tunnel `name`.
    fn nhrp_peer_of(&self, name: &str) -> Option<nhrp::Peer> {
        let t = self.tunnels.get(name)?;
        let nbma = t.destination?;
        let proto = match t.kind {
            TunnelKind::FlexClient => self.tunnel_neighbors.first().copied()?,
            TunnelKind::VirtualAccess => self
                .sessions
                .values()
                .find(|s| s.iface == name)
                .and_then(|s| s.assigned)
                .or_else(|| {
                    self.nhrp_shortcuts
                        .iter()
                        .find(|(_, _, n)| *n == nbma)
                        .map(|(_, nh, _)| *nh)
                })?,
            TunnelKind::StaticGre => self
                .nhrp_setup
                .as_ref()?
                .static_peers
                .iter()
                .find(|(_, n)| *n == nbma)
                .map(|(p, _)| *p)?,
        };
        Some(nhrp::Peer::new(proto, nbma))
    }

    /// A data packet leaves on an NHRP tunnel: the hub may redirect, the spoke refreshes.
    fn nhrp_forwarded(&mut self, now: Instant, in_if: Option<&str>, out_if: &str, packet: &[u8]) {
        if self.nhrp.is_none() {
            return;
        }
        let Some(egress) = self.nhrp_peer_of(out_if) else {
            return;
        };
        let ingress = in_if.and_then(|i| self.nhrp_peer_of(i));
        if let Some(e) = self.nhrp.as_mut() {
            e.handle_forwarded(
                now,
                nhrp::Forwarded {
                    ingress,
                    egress,
                    packet,
                },
            );
        }
        self.drive_nhrp(now);
    }

    fn nhrp_input(&mut self, now: Instant, iface: &str, payload: &[u8]) {
        let Some(from) = self.tunnels.get(iface).and_then(|t| t.destination) else {
            return;
        };
        if let Some(e) = self.nhrp.as_mut() {
            let _ = e.handle_nhrp(now, from, payload);
        } else {
            self.drops.unhandled += 1;
        }
        self.drive_nhrp(now);
    }

    /// Tell the hub's engine where each BGP prefix lives (a spoke, or the other hub).
    fn sync_nhrp_routes(&mut self) {
        let Some(setup) = self.nhrp_setup.clone() else {
            return;
        };
        if !setup.hub {
            return;
        }
        let routes: Vec<(Prefix, Ipv4Addr)> = self
            .fib
            .best_routes()
            .filter(|r| r.source == Source::Bgp)
            .filter_map(|r| match r.target {
                Target::NextHop(nh) => Some((r.prefix, nh)),
                _ => None,
            })
            .collect();
        let mut resolved = Vec::new();
        for (p, nh) in routes {
            // A spoke's LAN: the spoke's session. The other hub's routes: the GRE peer.
            let peer = self
                .sessions
                .values()
                .find(|s| !s.initiator && s.assigned == Some(nh))
                .map(|s| nhrp::Peer::new(nh, s.peer))
                .or_else(|| {
                    setup
                        .static_peers
                        .first()
                        .map(|(proto, nbma)| nhrp::Peer::new(*proto, *nbma))
                });
            if let (Some(peer), Ok(np)) = (peer, nhrp::Prefix::new(p.addr(), p.prefix_len())) {
                resolved.push((np, peer));
            }
        }
        if let Some(e) = self.nhrp.as_mut() {
            for (np, peer) in resolved {
                e.set_route(np, peer);
            }
        }
    }

    /// Drain the NHRP engine: packets into tunnels, events into tunnels and routes.
    fn drive_nhrp(&mut self, now: Instant) {
        let Some(e) = self.nhrp.as_mut() else { return };
        let mut tx = Vec::new();
        while let Some(t) = e.poll_transmit() {
            tx.push((t.nbma, t.payload));
        }
        let mut events = Vec::new();
        while let Some(ev) = e.poll_event() {
            events.push(ev);
        }
        self.nhrp_wait.extend(tx);
        for ev in events {
            match ev {
                nhrp::Event::OpenTunnel { nbma } => self.open_shortcut_tunnel(now, nbma),
                nhrp::Event::InstallShortcut {
                    prefix,
                    next_hop,
                    nbma,
                } => {
                    if let Some(p) = Prefix::new(prefix.addr(), prefix.len()) {
                        self.nhrp_shortcuts.retain(|(q, _, _)| *q != p);
                        self.nhrp_shortcuts.push((p, next_hop, nbma));
                        if self.tunnel_to(nbma).is_none() {
                            self.open_shortcut_tunnel(now, nbma);
                        }
                    }
                }
                nhrp::Event::WithdrawShortcut { prefix, .. } => {
                    if let Some(p) = Prefix::new(prefix.addr(), prefix.len()) {
                        self.nhrp_shortcuts.retain(|(q, _, _)| *q != p);
                        self.fib.remove(p, Source::Nhrp);
                    }
                }
                _ => {}
            }
        }
        self.flush_nhrp();
    }

    /// The line-up tunnel whose far end is `nbma`.
    fn tunnel_to(&self, nbma: Ipv4Addr) -> Option<String> {
        self.tunnels
            .values()
            .find(|t| {
                t.destination == Some(nbma)
                    && t.line_up
                    && (!t.protected
                        || t.ike_sa
                            .and_then(|h| self.sessions.get(&h))
                            .is_some_and(|s| s.established))
            })
            .map(|t| t.name.clone())
    }

    /// Send waiting NHRP packets whose tunnel exists, and install the shortcut routes.
    fn flush_nhrp(&mut self) {
        let wait = std::mem::take(&mut self.nhrp_wait);
        for (nbma, payload) in wait {
            match self.tunnel_to(nbma) {
                Some(name) => self.tunnel_send_raw(&name, PROTO_NHRP, &payload),
                None => self.nhrp_wait.push((nbma, payload)),
            }
        }
        self.nhrp_wait.truncate(64);
        for (p, nh, nbma) in self.nhrp_shortcuts.clone() {
            if let Some(name) = self.tunnel_to(nbma) {
                self.fib
                    .insert(Route::new(p, Source::Nhrp, Target::via(nh, &name)));
            }
        }
        self.sync_shortcut_hosts();
    }

    /// Keep a host route to the other spoke's tunnel address on each up spoke-to-spoke
    /// virtual-access (IOS shows it as `H 10.1.1.101/32 is directly connected,
    /// Virtual-Access1`): without it, traffic between the two spokes' tunnel addresses would
    /// leave by the default route. The address comes from the shortcuts this spoke resolved
    /// (their next hop) and from the NHRP cache's /32 entries for the tunnel's NBMA address
    /// (the side that answered the resolution).
    fn sync_shortcut_hosts(&mut self) {
        let mut want = BTreeSet::new();
        for t in self.tunnels.values() {
            let (TunnelKind::VirtualAccess, Some(nbma), Some(own)) =
                (t.kind, t.destination, t.address)
            else {
                continue;
            };
            // A hub's virtual-access to a spoke has the spoke's assigned address already.
            if self
                .sessions
                .values()
                .any(|s| s.iface == t.name && s.assigned.is_some())
                || self.tunnel_to(nbma).as_deref() != Some(t.name.as_str())
            {
                continue;
            }
            let resolved = self
                .nhrp_shortcuts
                .iter()
                .filter(|(_, _, n)| *n == nbma)
                .map(|(_, nh, _)| *nh);
            let cached = self.nhrp.iter().flat_map(|e| {
                e.cache()
                    .iter()
                    .filter(|c| c.nbma == Some(nbma) && c.prefix.len() == 32)
                    .map(|c| c.prefix.addr())
            });
            for a in resolved.chain(cached).filter(|a| *a != own) {
                want.insert((a, t.name.clone()));
            }
        }
        if want == self.shortcut_hosts {
            return;
        }
        for (a, name) in self.shortcut_hosts.difference(&want) {
            let (p, target) = (Prefix::host(*a), Target::connected(name));
            self.fib
                .remove_where(|r| r.prefix == p && r.source == Source::Nhrp && r.target == target);
        }
        for (a, name) in &want {
            self.fib.insert(Route::new(
                Prefix::host(*a),
                Source::Nhrp,
                Target::connected(name),
            ));
        }
        self.shortcut_hosts = want;
    }

    /// Start IKE to another spoke for a shortcut (unless a tunnel or an attempt exists).
    fn open_shortcut_tunnel(&mut self, now: Instant, nbma: Ipv4Addr) {
        if nbma == self.public
            || self.tunnels.values().any(|t| t.destination == Some(nbma))
            || self.shortcut_ike.values().any(|n| *n == nbma)
        {
            return;
        }
        let Some((psk, policy)) = self.ike_peer.clone() else {
            return;
        };
        let pc = ikev2::PeerConfig {
            remote: SocketAddr::V4(SocketAddrV4::new(nbma, 500)),
            local: SocketAddr::V4(SocketAddrV4::new(self.public, 500)),
            psk,
            remote_id: None,
            request_address: false,
            initial_contact: false,
            policy,
        };
        if let Ok(h) = self.ike.connect(now, pc) {
            self.shortcut_ike.insert(h, nbma);
        }
    }

    /// GRE-encapsulate `payload` (protocol `proto_type`) into tunnel `name`, protected or not.
    fn tunnel_send_raw(&mut self, name: &str, proto_type: u16, payload: &[u8]) {
        let Some(t) = self.tunnels.get_mut(name) else {
            return;
        };
        let Some(dst) = t.destination else { return };
        if t.vti {
            // No GRE, hence no NHRP, on a VTI.
            return;
        }
        t.counters.out_packets += 1;
        t.counters.out_bytes += payload.len() as u64;
        let (src, protected, ike_sa) = (t.source, t.protected, t.ike_sa);
        let gre = Gre {
            protocol: proto_type,
            checksum: false,
        }
        .encapsulate(payload);
        if protected {
            self.esp_output(ike_sa, src, dst, gre, proto::GRE);
        } else {
            let ident = self.next_ident();
            if let Ok(outer) = ipv4::build(src, dst, proto::GRE, TTL, ident, &gre) {
                self.underlay_send(outer);
            }
        }
    }

    /// Feed the hub's engine new routes, then drain it (sends what waited for a tunnel).
    fn nhrp_housekeeping(&mut self, now: Instant) {
        if self.nhrp_routes_dirty {
            self.nhrp_routes_dirty = false;
            self.sync_nhrp_routes();
        }
        self.drive_nhrp(now);
    }

    /// The `ikev2_decryption_table` lines of every IKE SA this node set up (Wireshark).
    pub fn ike_key_lines(&self) -> Vec<String> {
        self.ike_keys
            .ike
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// `show ip nhrp`.
    pub fn show_ip_nhrp(&self) -> String {
        self.nhrp
            .as_ref()
            .map_or_else(String::new, |e| e.show(self.now))
    }

    /// The NHRP shortcut routes installed in the FIB (a prefix via the other spoke's tunnel
    /// address): (prefix, interface).
    pub fn nhrp_routes(&self) -> Vec<(Prefix, String)> {
        self.fib
            .best_routes()
            .filter(|r| r.source == Source::Nhrp)
            .filter_map(|r| match &r.target {
                Target::Interface {
                    ifname,
                    via: Some(_),
                } => Some((r.prefix, ifname.clone())),
                _ => None,
            })
            .collect()
    }

    /// The host routes to other spokes' tunnel addresses over up spoke-to-spoke
    /// virtual-access interfaces: (address, interface).
    pub fn shortcut_host_routes(&self) -> Vec<(Ipv4Addr, String)> {
        self.shortcut_hosts.iter().cloned().collect()
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
        // Kernel mode: what came through a tunnel for a tunnel's own address is the kernel's
        // (its TCP carries BGP, it answers pings), except the tunnels' own GRE.
        if self.kernel
            && h.protocol != proto::GRE
            && !(h.protocol == proto::UDP && h.dst == self.public)
            && self.tunnels.contains_key(&in_if)
            && let Some(name) = self.kernel_tunnel_for(h.dst, &in_if)
        {
            self.kernel_out.push_back((name, packet));
            return;
        }
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
            proto::UDP if h.dst == self.public => self.udp_input(now, h, &packet),
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
        } else if gre.protocol == PROTO_NHRP {
            let inner = inner.to_vec();
            self.nhrp_input(now, &name, &inner);
        } else {
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
                    // A make-before-break probe (`peer reactivate`) leaves the tunnel on its
                    // current session until the new one is up.
                    if let Some(t) = self.tunnels.get_mut(&tunnel)
                        && t.ike_sa.is_none()
                    {
                        t.destination = Some(peer);
                    }
                    self.ike_requests.push((at, peer));
                    if let Some((psk, policy)) = self.ike_peer.clone() {
                        let pc = ikev2::PeerConfig {
                            remote: SocketAddr::V4(SocketAddrV4::new(peer, 500)),
                            local: SocketAddr::V4(SocketAddrV4::new(self.public, 500)),
                            psk,
                            remote_id: None,
                            request_address: true,
                            initial_contact: true,
                            policy,
                        };
                        if let Ok(h) = self.ike.connect(now, pc) {
                            self.pending.insert(h, peer);
                        }
                    }
                }
                flexclient::Event::Action(flexclient::Action::Disconnect { peer }) => {
                    let hs: Vec<_> = self
                        .sessions
                        .iter()
                        .filter(|(_, s)| s.peer == peer && s.initiator)
                        .map(|(h, _)| *h)
                        .chain(
                            self.pending
                                .iter()
                                .filter(|(_, p)| **p == peer)
                                .map(|(h, _)| *h),
                        )
                        .collect();
                    for h in hs {
                        let _ = self.ike.close(now, h);
                    }
                }
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
        for _ in 0..16 {
            let out = self.tcp.poll(now);
            let sent = !out.is_empty();
            for p in out {
                self.forward(now, p, None);
            }
            let moved = self.bgp_glue(now);
            if !sent && !moved {
                break;
            }
        }
        self.tcp_deadline = self.tcp.poll_at(now);
    }

    /// Move BGP between the speaker and the TCP stack; returns whether anything happened.
    fn bgp_glue(&mut self, now: Instant) -> bool {
        let Some(mut bgp) = self.bgp.take() else {
            return false;
        };
        let mut progressed = false;
        // A listener that accepted a connection becomes an inbound BGP connection.
        let listeners = std::mem::take(&mut self.bgp_listeners);
        for l in listeners {
            match self.tcp.state(l) {
                Some(ConnState::Established) => {
                    let id = bgp_lite::ConnId(self.bgp_next_inbound);
                    self.bgp_next_inbound += 1;
                    self.bgp_conns.insert(
                        id,
                        BgpConn {
                            tcp: l,
                            reported: false,
                            backlog: Vec::new(),
                        },
                    );
                    progressed = true;
                }
                Some(ConnState::Connecting) => self.bgp_listeners.push(l),
                _ => self.tcp.abort(l),
            }
        }
        // Keep a few sockets listening so that SYNs arriving together are all accepted.
        while self.bgp_listeners.len() < self.bgp_backlog {
            match self.tcp.listen(179) {
                Ok(l) => self.bgp_listeners.push(l),
                Err(_) => break,
            }
        }
        // Connection state changes and received bytes.
        let ids: Vec<_> = self.bgp_conns.keys().copied().collect();
        for id in ids {
            let Some(c) = self.bgp_conns.get_mut(&id) else {
                continue;
            };
            match self.tcp.state(c.tcp) {
                Some(ConnState::Established) => {
                    if !c.reported {
                        c.reported = true;
                        progressed = true;
                        let (Some(local), Some(remote)) =
                            (self.tcp.local(c.tcp), self.tcp.remote(c.tcp))
                        else {
                            continue;
                        };
                        let local = SocketAddr::V4(SocketAddrV4::new(local.0, local.1));
                        let remote = SocketAddr::V4(SocketAddrV4::new(remote.0, remote.1));
                        if bgp.handle_connected(now, id, local, remote).is_err() {
                            self.tcp.abort(c.tcp);
                            self.bgp_conns.remove(&id);
                            continue;
                        }
                    }
                    let data = self.tcp.recv(c.tcp);
                    if !data.is_empty() {
                        progressed = true;
                        let _ = bgp.handle_stream_data(now, id, &data);
                    }
                    if !c.backlog.is_empty() {
                        let n = self.tcp.send(c.tcp, &c.backlog);
                        c.backlog.drain(..n);
                        progressed |= n > 0;
                    }
                }
                Some(ConnState::Connecting) => {}
                _ => {
                    progressed = true;
                    let tcp = c.tcp;
                    self.bgp_conns.remove(&id);
                    self.tcp.abort(tcp);
                    bgp.handle_closed(now, id);
                }
            }
        }
        // Pending outbound connections whose source address now exists.
        let pending = std::mem::take(&mut self.bgp_pending);
        for (id, remote, port, local) in pending {
            let src = local.or_else(|| self.source_for(remote));
            match src {
                Some(src) if self.is_kernel_address(src) => {
                    progressed = true;
                    self.kernel_conns.insert(id, (src, remote));
                    self.kernel_bgp.push_back(KernelBgp::Connect {
                        conn: id,
                        local: src,
                        remote,
                        port,
                    });
                }
                Some(src) if self.tcp.has_address(src) => {
                    if let Ok(t) = self.tcp.connect(now, src, remote, port) {
                        progressed = true;
                        self.bgp_conns.insert(
                            id,
                            BgpConn {
                                tcp: t,
                                reported: false,
                                backlog: Vec::new(),
                            },
                        );
                    } else {
                        bgp.handle_closed(now, id);
                    }
                }
                _ => self.bgp_pending.push((id, remote, port, local)),
            }
        }
        // The speaker's output.
        while let Some(t) = bgp.poll_transmit() {
            progressed = true;
            if self.kernel_conns.contains_key(&t.conn) {
                self.kernel_bgp.push_back(KernelBgp::Send {
                    conn: t.conn,
                    bytes: t.bytes.to_vec(),
                });
            } else if let Some(c) = self.bgp_conns.get_mut(&t.conn) {
                if c.backlog.is_empty() {
                    let n = self.tcp.send(c.tcp, &t.bytes);
                    c.backlog
                        .extend_from_slice(t.bytes.get(n..).unwrap_or_default());
                } else {
                    c.backlog.extend_from_slice(&t.bytes);
                }
            }
        }
        let mut events = Vec::new();
        while let Some(e) = bgp.poll_event() {
            events.push(e);
        }
        self.bgp = Some(bgp);
        for e in events {
            progressed = true;
            self.bgp_event(now, e);
        }
        progressed
    }

    fn bgp_event(&mut self, now: Instant, e: bgp_lite::Event) {
        let at = self.elapsed(now);
        match e {
            bgp_lite::Event::Connect {
                conn,
                remote,
                local,
            } => {
                let (std::net::IpAddr::V4(r), port) = (remote.ip(), remote.port()) else {
                    return;
                };
                let local = match local {
                    Some(std::net::IpAddr::V4(l)) => Some(l),
                    _ => None,
                };
                self.bgp_pending.push((conn, r, port, local));
            }
            bgp_lite::Event::Close { conn } => {
                if let Some(c) = self.bgp_conns.remove(&conn) {
                    self.tcp.abort(c.tcp);
                }
                if self.kernel_conns.remove(&conn).is_some() {
                    self.kernel_bgp.push_back(KernelBgp::Close { conn });
                }
                self.bgp_pending.retain(|p| p.0 != conn);
            }
            bgp_lite::Event::Syslog(line) => self.syslog(at, line),
            bgp_lite::Event::BestPath { prefix, next_hop } => {
                self.nhrp_routes_dirty = true;
                let Some(p) = Prefix::new(prefix.addr(), prefix.prefix_len()) else {
                    return;
                };
                match next_hop {
                    Some(nh) => self
                        .fib
                        .insert(Route::new(p, Source::Bgp, Target::NextHop(nh))),
                    None => {
                        self.fib.remove(p, Source::Bgp);
                    }
                }
            }
            bgp_lite::Event::DiscardRoute { prefix, installed } => {
                let Some(p) = Prefix::new(prefix.addr(), prefix.prefix_len()) else {
                    return;
                };
                if installed {
                    self.fib.insert(Route::new(p, Source::Bgp, Target::Discard));
                } else {
                    self.fib.remove(p, Source::Bgp);
                }
            }
            _ => {}
        }
    }

    /// The local address a connection to `remote` would use: the address of the interface the
    /// route to it leaves by.
    fn source_for(&self, remote: Ipv4Addr) -> Option<Ipv4Addr> {
        let (ifname, _) = self.fib.resolve(remote)?;
        self.ethers
            .iter()
            .find(|e| e.name == ifname)
            .map(|e| e.addr)
            .or_else(|| self.tunnels.get(&ifname).and_then(|t| t.address))
    }

    /// Tell the speaker the non-BGP routes (for `network` and next-hop resolution).
    fn sync_bgp_table(&mut self, now: Instant) {
        let Some(bgp) = self.bgp.as_mut() else { return };
        // With the next-hop check, the default route resolves no next hop (it would resolve
        // every one, through the underlay).
        let check = self.bgp_next_hop_check;
        let routes: Vec<bgp_lite::IgpRoute> = self
            .fib
            .best_routes()
            .filter(|r| r.source != Source::Bgp && r.source != Source::Nhrp)
            .filter(|r| !(check && r.prefix.prefix_len() == 0))
            .filter_map(|r| {
                Some(bgp_lite::IgpRoute {
                    prefix: bgp_lite::wire::Ipv4Prefix::new(
                        r.prefix.addr(),
                        r.prefix.prefix_len(),
                    )?,
                    metric: 0,
                })
            })
            .collect();
        bgp.set_route_table(now, routes);
    }

    /// BGP sessions whose local address went away are reset (IOS tears down a session when its
    /// update-source goes down).
    fn bgp_source_gone(&mut self, now: Instant, addr: Ipv4Addr) {
        self.bgp_close_matching(now, |local, _| local == Some(addr));
    }

    /// BGP sessions with `remote` (a spoke whose virtual-access went away) are closed.
    fn bgp_remote_gone(&mut self, now: Instant, remote: Ipv4Addr) {
        self.bgp_close_matching(now, |_, r| r == Some(remote));
    }

    /// Closes every BGP connection, on the user-space TCP stack or a kernel socket, whose
    /// (local, remote) addresses `hit` accepts, and tells the speaker.
    fn bgp_close_matching(
        &mut self,
        now: Instant,
        hit: impl Fn(Option<Ipv4Addr>, Option<Ipv4Addr>) -> bool,
    ) {
        let user: Vec<_> = self
            .bgp_conns
            .iter()
            .filter(|(_, c)| {
                let local = self.tcp.local(c.tcp).map(|(a, _)| a);
                let remote = self.tcp.remote(c.tcp).map(|(a, _)| a);
                hit(local, remote)
            })
            .map(|(id, c)| (*id, Some(c.tcp)))
            .collect();
        let kernel: Vec<_> = self
            .kernel_conns
            .iter()
            .filter(|(_, (local, remote))| hit(Some(*local), Some(*remote)))
            .map(|(id, _)| (*id, None))
            .collect();
        for (id, tcp) in user.into_iter().chain(kernel) {
            match tcp {
                Some(tcp) => {
                    self.tcp.abort(tcp);
                    self.bgp_conns.remove(&id);
                }
                None => {
                    self.kernel_conns.remove(&id);
                    self.kernel_bgp.push_back(KernelBgp::Close { conn: id });
                }
            }
            if let Some(b) = self.bgp.as_mut() {
                b.handle_closed(now, id);
            }
        }
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
        let data = self.tcp.recv(id);
        if !data.is_empty() {
            // The freed receive window is announced at the next poll.
            self.tcp_deadline = Some(self.now);
        }
        data
    }

    /// A connection's state.
    pub fn tcp_state(&self, id: ConnId) -> Option<ConnState> {
        self.tcp.state(id)
    }

    /// The IKEv2 endpoint's counters (cookies sent, half-open refusals, ...).
    pub fn ike_stats(&self) -> &ikev2::Stats {
        self.ike.stats()
    }

    /// Closes every IKE SA with a Delete notify (RFC 7296 1.4.1), as a router does when it
    /// shuts down, so that peers tear their side down at once instead of waiting for DPD.
    /// The Delete requests are queued for [`SimNode::poll_transmit`]; drain them before
    /// exiting.
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        let handles: Vec<_> = self.sessions.keys().copied().collect();
        for h in handles {
            // An SA that is already gone has nothing to delete.
            let _ = self.ike.close(now, h);
        }
        self.drive_ike(now);
    }

    /// Switches kernel mode on (`flexvpn-router run`; the simulator leaves it off): packets
    /// that arrive through a tunnel for a tunnel's own address are handed out by
    /// [`Node::poll_kernel_packet`] (for that tunnel's TUN device, the kernel answers them),
    /// packets the kernel sends into a TUN come in by [`Node::handle_kernel_packet`], and BGP
    /// sessions whose source is a tunnel address run over kernel TCP sockets driven through
    /// [`Node::poll_kernel_bgp`] and the `kernel_bgp_*` methods instead of the node's own
    /// TCP stack.
    pub fn set_kernel_mode(&mut self, on: bool) {
        self.kernel = on;
    }

    fn kernel_eligible(t: &Tunnel) -> bool {
        t.line_up && t.address.is_some() && t.kind != TunnelKind::StaticGre
    }

    /// Whether `a` is the address of a tunnel that has a TUN device in kernel mode.
    fn is_kernel_address(&self, a: Ipv4Addr) -> bool {
        self.kernel
            && self
                .tunnels
                .values()
                .any(|t| Self::kernel_eligible(t) && t.address == Some(a))
    }

    /// The tunnel whose TUN gets a packet for `dst` that came in on `in_if`.
    fn kernel_tunnel_for(&self, dst: Ipv4Addr, in_if: &str) -> Option<String> {
        if self
            .tunnels
            .get(in_if)
            .is_some_and(|t| Self::kernel_eligible(t) && t.address == Some(dst))
        {
            return Some(in_if.to_owned());
        }
        self.tunnels
            .values()
            .find(|t| Self::kernel_eligible(t) && t.address == Some(dst))
            .map(|t| t.name.clone())
    }

    /// The tunnel interfaces that have a TUN device in kernel mode, with their addresses and
    /// the overlay hosts reached through them.
    pub fn kernel_tunnels(&self) -> Vec<KernelTunnel> {
        self.tunnels
            .values()
            .filter(|t| Self::kernel_eligible(t))
            .filter_map(|t| {
                let peers = match t.kind {
                    TunnelKind::FlexClient => self.tunnel_neighbors.clone(),
                    _ => self
                        .sessions
                        .values()
                        .filter(|s| s.iface == t.name && !s.initiator)
                        .filter_map(|s| s.assigned)
                        .chain(
                            self.shortcut_hosts
                                .iter()
                                .filter(|(_, n)| *n == t.name)
                                .map(|(a, _)| *a),
                        )
                        .collect(),
                };
                Some(KernelTunnel {
                    name: t.name.clone(),
                    address: t.address?,
                    mtu: t.mtu,
                    peers,
                })
            })
            .collect()
    }

    /// The next packet for the TUN device of tunnel `.0` (kernel mode).
    pub fn poll_kernel_packet(&mut self) -> Option<(String, Vec<u8>)> {
        self.kernel_out.pop_front()
    }

    /// A packet the kernel sent into a tunnel's TUN device: routed as if the router had
    /// originated it (into the tunnel, GRE + ESP).
    pub fn handle_kernel_packet(&mut self, now: Instant, packet: Vec<u8>) {
        self.now = now;
        self.forward(now, packet, None);
        self.drive_ike(now);
        self.nhrp_housekeeping(now);
    }

    /// The next command for the kernel TCP sockets carrying BGP (kernel mode).
    pub fn poll_kernel_bgp(&mut self) -> Option<KernelBgp> {
        self.kernel_bgp.pop_front()
    }

    /// The connection of a [`KernelBgp::Connect`] is established.
    pub fn kernel_bgp_connected(
        &mut self,
        now: Instant,
        conn: bgp_lite::ConnId,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) {
        self.now = now;
        if !self.kernel_conns.contains_key(&conn) {
            self.kernel_bgp.push_back(KernelBgp::Close { conn });
            return;
        }
        let ok = self.bgp.as_mut().is_some_and(|b| {
            b.handle_connected(now, conn, SocketAddr::V4(local), SocketAddr::V4(remote))
                .is_ok()
        });
        if !ok {
            self.kernel_conns.remove(&conn);
            self.kernel_bgp.push_back(KernelBgp::Close { conn });
        }
        self.run_tcp(now);
    }

    /// A kernel listener on a tunnel address accepted a connection. Returns its id when the
    /// speaker takes it (a configured neighbor or one in a `bgp listen range`); otherwise the
    /// driver closes it.
    pub fn kernel_bgp_accepted(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Option<bgp_lite::ConnId> {
        self.now = now;
        let id = bgp_lite::ConnId(self.bgp_next_inbound);
        let ok = self.bgp.as_mut().is_some_and(|b| {
            b.handle_connected(now, id, SocketAddr::V4(local), SocketAddr::V4(remote))
                .is_ok()
        });
        if !ok {
            return None;
        }
        self.bgp_next_inbound += 1;
        self.kernel_conns.insert(id, (*local.ip(), *remote.ip()));
        self.run_tcp(now);
        Some(id)
    }

    /// Bytes read from a kernel BGP connection.
    pub fn kernel_bgp_data(&mut self, now: Instant, conn: bgp_lite::ConnId, data: &[u8]) {
        self.now = now;
        if let Some(b) = self.bgp.as_mut() {
            let _ = b.handle_stream_data(now, conn, data);
        }
        self.run_tcp(now);
    }

    /// A kernel BGP connection closed (EOF, error, or the connect failed).
    pub fn kernel_bgp_closed(&mut self, now: Instant, conn: bgp_lite::ConnId) {
        self.now = now;
        if self.kernel_conns.remove(&conn).is_some()
            && let Some(b) = self.bgp.as_mut()
        {
            b.handle_closed(now, conn);
        }
        self.run_tcp(now);
    }

    /// Sessions whose Child SA is installed (ESP keys in place).
    pub fn established_sessions(&self) -> usize {
        self.sessions.values().filter(|s| s.established).count()
    }

    /// `show crypto ikev2 sa`.
    pub fn show_crypto_ikev2_sa(&self) -> String {
        let mut s = String::from(" IPv4 Crypto IKEv2  SA \n\n");
        let _ = writeln!(
            s,
            "Tunnel-id Local                 Remote                fvrf/ivrf            Status "
        );
        for (i, h) in self.ike.handles().into_iter().enumerate() {
            let Some(info) = self.ike.sa_info(h) else {
                continue;
            };
            let status = if info.state == "Established" {
                "READY"
            } else {
                "IN-NEG"
            };
            let local = info.local.to_string().replace(':', "/");
            let remote = info.remote.to_string().replace(':', "/");
            let _ = writeln!(
                s,
                "{:<9} {local:<21} {remote:<21} none/none            {status:<7}",
                i + 1
            );
            let _ = writeln!(
                s,
                "      Encr: AES-GCM, keysize: 256, PRF: SHA256, Hash: None, DH Grp:31, Auth sign: PSK, Auth verify: PSK"
            );
        }
        s
    }

    /// `show crypto ipsec sa` with the packet counters.
    pub fn show_crypto_ipsec_sa(&self) -> String {
        let mut s = String::new();
        for sess in self.sessions.values() {
            let local = self.public;
            let _ = writeln!(s, "\ninterface: {}", sess.iface);
            let _ = writeln!(
                s,
                "    Crypto map tag: {}-head-0, local addr {local}\n",
                sess.iface
            );
            let _ = writeln!(s, "   protected vrf: (none)");
            let vti = self.tunnels.get(&sess.iface).is_some_and(|t| t.vti);
            let (lid, rid) = if vti {
                (
                    "0.0.0.0/0.0.0.0/0/0".to_owned(),
                    "0.0.0.0/0.0.0.0/0/0".to_owned(),
                )
            } else {
                (
                    format!("{local}/255.255.255.255/47/0"),
                    format!("{}/255.255.255.255/47/0", sess.peer),
                )
            };
            let mode = if vti { "Tunnel" } else { "Transport" };
            let _ = writeln!(s, "   local  ident (addr/mask/prot/port): ({lid})");
            let _ = writeln!(s, "   remote ident (addr/mask/prot/port): ({rid})");
            let _ = writeln!(s, "   current_peer {} port 4500", sess.peer);
            let _ = writeln!(s, "     PERMIT, flags={{origin_is_acl,}}");
            let (e, d) = (sess.encaps, sess.decaps);
            let _ = writeln!(
                s,
                "    #pkts encaps: {e}, #pkts encrypt: {e}, #pkts digest: {e}"
            );
            let _ = writeln!(
                s,
                "    #pkts decaps: {d}, #pkts decrypt: {d}, #pkts verify: {d}\n"
            );
            let _ = writeln!(
                s,
                "     local crypto endpt.: {local}, remote crypto endpt.: {}",
                sess.peer
            );
            let _ = writeln!(s, "     inbound esp sas:");
            if let Some(spi) = sess.spi_in {
                let _ = writeln!(s, "      spi: {spi:#010X}({spi})");
                let _ = writeln!(s, "        transform: esp-gcm 256 ,");
                let _ = writeln!(s, "        in use settings ={{{mode}, }}");
            }
            let _ = writeln!(s, "     outbound esp sas:");
            if let Some(spi) = sess.spi_out {
                let _ = writeln!(s, "      spi: {spi:#010X}({spi})");
                let _ = writeln!(s, "        transform: esp-gcm 256 ,");
                let _ = writeln!(s, "        in use settings ={{{mode}, }}");
            }
        }
        s
    }

    /// `show ip bgp`: the Loc-RIB, every path, `>` on the best.
    pub fn show_ip_bgp(&self) -> String {
        let Some(b) = self.bgp.as_ref() else {
            return "% BGP not active\n".to_owned();
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "BGP table version is 1, local router ID is {}",
            self.bgp_router_id
        );
        s.push_str(
            "Status codes: s suppressed, d damped, h history, * valid, > best, i - internal\n",
        );
        s.push_str("Origin codes: i - IGP, e - EGP, ? - incomplete\n\n");
        s.push_str("     Network          Next Hop            Metric LocPrf Weight Path\n");
        for (prefix, dest) in b.loc_rib().iter() {
            for (i, path) in dest.paths.iter().enumerate() {
                // The Loc-RIB keeps the best path first.
                let best = i == 0;
                let a = &path.attrs;
                let internal = if path.is_local() { " " } else { "i" };
                let net = if i == 0 {
                    prefix.to_string()
                } else {
                    String::new()
                };
                let weight = if path.is_local() { 32768 } else { 0 };
                let med = a.med.map_or_else(String::new, |m| m.to_string());
                let lp = a.local_pref.map_or_else(String::new, |l| l.to_string());
                let origin = match a.origin {
                    bgp_lite::wire::attr::Origin::Igp => "i",
                    bgp_lite::wire::attr::Origin::Egp => "e",
                    _ => "?",
                };
                let _ = writeln!(
                    s,
                    " *{}{internal} {net:<16} {:<19} {med:>6} {lp:>6} {weight:>6} {origin}",
                    if best { ">" } else { " " },
                    a.next_hop.to_string(),
                );
            }
        }
        s
    }

    /// `show ip bgp summary`.
    pub fn show_ip_bgp_summary(&self) -> String {
        let Some(b) = self.bgp.as_ref() else {
            return "% BGP not active\n".to_owned();
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "BGP router identifier {}, local AS number {}",
            self.bgp_router_id, self.bgp_asn
        );
        let _ = writeln!(s, "{} network entries\n", b.loc_rib().len());
        s.push_str("Neighbor        V           AS MsgRcvd MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd\n");
        for n in b.neighbors() {
            let name = format!("{}{}", if n.dynamic { "*" } else { "" }, n.addr);
            let state = if n.state == bgp_lite::State::Established {
                n.prefixes_received.to_string()
            } else {
                format!("{:?}", n.state)
            };
            let _ = writeln!(
                s,
                "{name:<15} 4 {:>12}       -       -        1    0    0 -        {state}",
                self.bgp_asn
            );
        }
        s
    }

    /// The established BGP neighbors (address, dynamic).
    pub fn bgp_established(&self) -> Vec<(Ipv4Addr, bool)> {
        self.bgp
            .as_ref()
            .map(|b| {
                b.neighbors()
                    .into_iter()
                    .filter(|n| n.state == bgp_lite::State::Established)
                    .filter_map(|n| match n.addr {
                        std::net::IpAddr::V4(a) => Some((a, n.dynamic)),
                        std::net::IpAddr::V6(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The BGP routes installed in the FIB (prefix, discard or not).
    pub fn bgp_routes(&self) -> Vec<(Prefix, bool)> {
        self.fib
            .best_routes()
            .filter(|r| r.source == Source::Bgp)
            .map(|r| (r.prefix, r.target == Target::Discard))
            .collect()
    }

    /// The IKE sessions.
    pub fn sessions(&self) -> &BTreeMap<ikev2::SaHandle, Session> {
        &self.sessions
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
        let proto = if t.vti { "IPSEC/IP" } else { "GRE/IP" };
        let _ = writeln!(s, "  Tunnel protocol/transport {proto}");
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

/// Build the BGP speaker from `router bgp`, the access lists and the route-maps.
fn build_bgp(
    cfg: &Config,
    loopbacks: &BTreeMap<String, Ipv4Addr>,
    epoch: Instant,
) -> Option<bgp_lite::Speaker> {
    use bgp_lite::config as bc;
    let b = cfg.bgp.as_ref()?;
    let router_id = b
        .router_id
        .or_else(|| loopbacks.values().max().copied())
        .or_else(|| {
            cfg.interfaces
                .values()
                .filter_map(|i| i.static_address().map(|a| a.0))
                .max()
        })?;
    let mut sc = bc::SpeakerConfig::new(b.asn, router_id);
    sc.log_neighbor_changes = b.log_neighbor_changes;
    // A hub (a FlexVPN server: its authorization policy hands out addresses) checks that the
    // NEXT_HOP of each learned route resolves in its route table (RFC 4271 9.1.2.1, as IOS's
    // next-hop tracking does): a spoke's routes leave the best-path decision as soon as the
    // host route to the spoke's address goes with its virtual-access.
    sc.next_hop_check = cfg
        .authorization_policies
        .values()
        .any(|a| a.pool.is_some());
    let pfx = |p: &Prefix| bgp_lite::wire::Ipv4Prefix::new(p.addr(), p.prefix_len());
    let settings = |s: &crate::config::NeighborSettings, base: Option<&bc::NeighborSettings>| {
        let mut n = base
            .cloned()
            .unwrap_or_else(|| bc::NeighborSettings::ibgp(s.remote_as.unwrap_or(b.asn)));
        if let Some(a) = s.remote_as {
            n.remote_as = a;
        }
        n.route_reflector_client |= s.route_reflector_client;
        match s.next_hop_self {
            Some(true) => n.next_hop_self = bc::NextHopSelf::All,
            Some(false) => n.next_hop_self = bc::NextHopSelf::On,
            None => {}
        }
        if s.unsuppress_map.is_some() {
            n.unsuppress_map.clone_from(&s.unsuppress_map);
        }
        if s.route_map_in.is_some() {
            n.route_map_in.clone_from(&s.route_map_in);
        }
        if s.route_map_out.is_some() {
            n.route_map_out.clone_from(&s.route_map_out);
        }
        if let Some((_, hold)) = s.timers {
            n.hold_time = hold;
        }
        if let Some(a) = s
            .update_source
            .as_ref()
            .and_then(|i| cfg.interfaces.get(i))
            .and_then(crate::config::Interface::static_address)
        {
            n.local_addr = Some(a.0.into());
        }
        // The lab's sessions run over tunnels that come and go: retry soon, as IOS does when the
        // route to the neighbor (re)appears. A retry while the tunnel is down waits (no packet)
        // until the tunnel has its address, so a short timer costs nothing; with 10 s the
        // failover outage was DPD + up to 10 s.
        n.connect_retry = Duration::from_secs(2);
        n
    };
    for (name, g) in &b.peer_groups {
        sc.peer_groups.insert(name.clone(), settings(g, None));
    }
    for (addr, n) in &b.neighbors {
        let base = n
            .peer_group
            .as_ref()
            .and_then(|g| sc.peer_groups.get(g))
            .cloned();
        sc.neighbors
            .insert((*addr).into(), settings(&n.settings, base.as_ref()));
    }
    for (p, g) in &b.listen_ranges {
        if let Some(prefix) = pfx(p) {
            sc.listen_ranges.push(bc::ListenRange {
                prefix,
                peer_group: g.clone(),
            });
        }
    }
    if let Some(l) = b.listen_limit {
        sc.listen_limit = usize::try_from(l).unwrap_or(usize::MAX);
    }
    sc.networks = b.networks.iter().filter_map(pfx).collect();
    sc.aggregates = b
        .aggregates
        .iter()
        .filter_map(|a| {
            Some(bc::AggregateConfig {
                prefix: pfx(&a.prefix)?,
                summary_only: a.summary_only,
                as_set: a.as_set,
            })
        })
        .collect();
    for (n, entries) in &cfg.access_lists {
        let acl = bc::AccessList {
            entries: entries
                .iter()
                .map(|e| {
                    let (addr, wildcard) = match e.source {
                        crate::config::AclMatch::Any => {
                            (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
                        }
                        crate::config::AclMatch::Host(h) => (h, Ipv4Addr::UNSPECIFIED),
                        crate::config::AclMatch::Wildcard(a, w) => (a, w),
                    };
                    bc::AclEntry {
                        permit: e.action == crate::config::Action::Permit,
                        addr,
                        wildcard,
                    }
                })
                .collect(),
        };
        sc.policy.access_lists.insert(n.to_string(), acl);
    }
    for (name, entries) in &cfg.route_maps {
        let rm = bc::RouteMap {
            entries: entries
                .iter()
                .map(|(seq, e)| bc::RouteMapEntry {
                    seq: *seq,
                    permit: e.action == crate::config::Action::Permit,
                    matches: e
                        .match_acls
                        .iter()
                        .map(|a| bc::Match::IpAddress(a.to_string()))
                        .collect(),
                    sets: e
                        .sets
                        .iter()
                        .filter_map(|s| match s {
                            crate::config::RouteMapSet::LocalPreference(v) => {
                                Some(bc::SetAction::LocalPref(*v))
                            }
                            crate::config::RouteMapSet::Metric(v) => Some(bc::SetAction::Med(*v)),
                            crate::config::RouteMapSet::NextHop(a) => {
                                Some(bc::SetAction::NextHop(*a))
                            }
                            _ => None,
                        })
                        .collect(),
                })
                .collect(),
        };
        sc.policy.route_maps.insert(name.clone(), rm);
    }
    bgp_lite::Speaker::new(sc, epoch).ok()
}

/// Build the IKEv2 endpoint: a responder with the authorization policy's pool when the node
/// has one, and the PSK/policy for the sessions the client block starts.
fn build_ike(
    cfg: &Config,
    public: Ipv4Addr,
    epoch: Instant,
    seed: u64,
    key_log: std::sync::Arc<ikev2::config::WiresharkKeyLog>,
) -> (
    ikev2::Endpoint<ChaCha20Rng>,
    Option<(ikev2::Psk, ikev2::SaPolicy)>,
) {
    let profile = cfg.ikev2_profiles.values().next();
    let psk = profile
        .and_then(|p| p.keyring.as_ref())
        .and_then(|k| cfg.keyrings.get(k))
        .and_then(|k| k.peers.first())
        .and_then(|p| {
            // `pre-shared-key local X` signs our AUTH, `pre-shared-key remote Y` checks the
            // peer's; one alone (or plain `pre-shared-key X`, which sets both) serves both ways.
            let local = p.psk_local.as_ref().or(p.psk_remote.as_ref())?;
            let remote = p.psk_remote.as_ref().unwrap_or(local);
            Some(ikev2::Psk::pair(local.expose(), remote.expose()))
        });
    let mut policy = ikev2::SaPolicy::new(ikev2::wire::Identification::ipv4(public));
    let transport = cfg
        .transform_sets
        .values()
        .any(|t| t.mode == crate::config::IpsecMode::Transport);
    // A VTI (`tunnel mode ipsec ipv4` on a tunnel or the virtual-template) needs tunnel mode,
    // whatever the transform set says; its selectors stay 0.0.0.0/0 both ways (a responder
    // with a pool narrows the peer's side to the address it assigns).
    let vti = cfg.interfaces.values().any(|i| {
        matches!(
            i.kind,
            InterfaceKind::Tunnel(_) | InterfaceKind::VirtualTemplate(_)
        ) && i.tunnel_mode == TunnelMode::IpsecIpv4
    });
    policy.mode = if transport && !vti {
        ikev2::Mode::Transport
    } else {
        ikev2::Mode::Tunnel
    };
    if let Some(d) = cfg.dpd.or_else(|| profile.and_then(|p| p.dpd)) {
        policy.dpd = Some(ikev2::DpdConfig {
            interval: Duration::from_secs(u64::from(d.interval)),
            retry: Duration::from_secs(u64::from(d.retry)),
            on_demand: d.mode == DpdMode::OnDemand,
        });
        // IOS retries DPD every `retry` seconds, five times, before declaring the peer dead.
        policy.retransmit = ikev2::RetransmitConfig {
            initial: Duration::from_secs(u64::from(d.retry)),
            max_timeout: Duration::from_secs(u64::from(d.retry)),
            tries: 5,
        };
    }
    let mut ec = ikev2::EndpointConfig::new();
    ec.key_log = key_log;
    if let Some(n) = cfg.ikev2_cookie_challenge {
        ec.cookie_threshold = n as usize;
    }
    if let Some(n) = cfg.ikev2_max_in_negotiation {
        ec.half_open_limit = n as usize;
    }
    let pool = cfg
        .authorization_policies
        .values()
        .find_map(|a| a.pool.as_ref())
        .and_then(|p| cfg.pools.get(p))
        .and_then(|p| ikev2::AddressPool::new(p.first, p.last).ok());
    if let Some(k) = &psk {
        ec.responder = Some(ikev2::ResponderConfig {
            psks: vec![(None, k.clone())],
            pool,
            policy: policy.clone(),
        });
    }
    let ike = ikev2::Endpoint::new(ec, ChaCha20Rng::seed_from_u64(seed ^ 0x1ce), epoch);
    (ike, psk.map(|k| (k, policy)))
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

impl Session {
    fn new(
        peer: Ipv4Addr,
        initiator: bool,
        iface: &str,
        assigned: Option<Ipv4Addr>,
        up_at: Duration,
    ) -> Self {
        Self {
            peer,
            initiator,
            iface: iface.to_owned(),
            assigned,
            established: false,
            out_sa: None,
            spi_in: None,
            spi_out: None,
            encaps: 0,
            decaps: 0,
            up_at,
            traffic_sent: false,
            traffic_received: false,
        }
    }
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
        self.drive_ike(now);
        self.nhrp_housekeeping(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if let Some(f) = self.flex.as_mut() {
            f.handle_timeout(now);
        }
        self.drive_client(now);
        if self.ike.poll_timeout().is_some_and(|t| t <= now) {
            self.ike.handle_timeout(now);
        }
        self.drive_ike(now);
        if let Some(b) = self.bgp.as_mut()
            && b.poll_timeout().is_some_and(|t| t <= now)
        {
            b.handle_timeout(now);
            self.tcp_deadline = Some(now);
        }
        if self.tcp_deadline.is_some_and(|t| t <= now) {
            self.run_tcp(now);
        }
        if let Some(e) = self.nhrp.as_mut()
            && e.poll_timeout().is_some_and(|t| t <= now)
        {
            e.handle_timeout(now);
        }
        self.nhrp_housekeeping(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.flex
                .as_ref()
                .and_then(flexclient::Client::poll_timeout),
            self.tcp_deadline,
            self.ike.poll_timeout(),
            self.bgp.as_ref().and_then(bgp_lite::Speaker::poll_timeout),
            self.nhrp.as_ref().and_then(nhrp::Engine::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

//! The BGP speaker: many neighbors (configured and dynamic), their sessions, the RIBs and the
//! update generation. Sans-IO and stream-oriented (STYLE §4.3 rule 8).
//!
//! ```text
//!   caller (TCP)                       Speaker
//!   accept/connect ─handle_connected──> Session (OPEN) ─┐
//!   recv bytes ─────handle_stream_data─> Framer ─> FSM ─┼─> UPDATE ─> policy in ─> Loc-RIB
//!   timer ──────────handle_timeout─────> Hold/KA/Retry ─┘                 │ best path
//!   send bytes <────poll_transmit──────── UPDATE packer <── Adj-RIB-Out <─┘ (split horizon,
//!   connect/close <─poll_event (Connect/Close)                              reflection,
//!   syslog, FIB <───poll_event (Syslog, BestPath, DiscardRoute)            aggregation, policy out)
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aggregate;
use crate::config::{AggregateConfig, NeighborSettings, NextHopSelf, SpeakerConfig};
use crate::error::{ApiError, AttrError, ConfigError, Error, InputError};
use crate::reflect;
use crate::rib::best_path::BestCtx;
use crate::rib::{
    AdjRibOut, AttrCache, BestChange, LocRib, PeerInfo, RouteAttrs, SRC_AGGREGATE, SRC_FIRST_PEER,
    SRC_NETWORK,
};
use crate::session::{ConnId, Session, SessionOut, SessionParams, State};
use crate::wire::attr::AttrValue;
use crate::wire::attr::MpNlri;
use crate::wire::{
    Afi, DecodeCtx, ErrCode, Ipv4Prefix, Message, Notification, RouteRefresh, Safi, Update,
};

/// Maximum queued events; more are dropped and counted.
const EVENT_CAP: usize = 1 << 16;

/// Prefixes turned into UPDATEs per `poll_transmit` call (bounds one transmit to ~100 KiB
/// even with one attribute set per prefix).
const TX_BATCH: usize = 1024;

/// Bytes to send on a connection.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTransmit {
    /// The connection.
    pub conn: ConnId,
    /// Bytes, in order.
    pub bytes: Vec<u8>,
}

/// A route of the caller's routing table (connected, static, IGP): what `network` originates
/// from and what the IGP-cost step of best-path selection looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IgpRoute {
    /// Prefix.
    pub prefix: Ipv4Prefix,
    /// Metric (copied to MED for `network` routes, as IOS does).
    pub metric: u32,
}

/// What the speaker tells the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Open a TCP connection to `remote` (from `local` if set) and report it with
    /// `handle_connected(conn, ..)` or `handle_closed(conn)`.
    Connect {
        /// Id to use for this connection.
        conn: ConnId,
        /// Peer address and port.
        remote: SocketAddr,
        /// Source address (`update-source`).
        local: Option<IpAddr>,
    },
    /// Close the connection (after sending what `poll_transmit` gave for it).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// An IOS syslog line (`%BGP-5-ADJCHANGE: neighbor 10.1.1.100 Up`).
    Syslog(String),
    /// A neighbor reached Established.
    NeighborUp {
        /// Neighbor address.
        peer: IpAddr,
        /// Whether it is a dynamic neighbor.
        dynamic: bool,
    },
    /// A neighbor left Established.
    NeighborDown {
        /// Neighbor address.
        peer: IpAddr,
        /// Why.
        reason: Error,
    },
    /// The BGP route for the caller's FIB changed: `next_hop` `None` means remove it (withdrawn,
    /// or the best path is now a local one the caller already has).
    BestPath {
        /// Prefix.
        prefix: Ipv4Prefix,
        /// Next hop of the new best path learned from a neighbor.
        next_hop: Option<Ipv4Addr>,
    },
    /// Install (or remove) a discard route (Null0) for an active aggregate.
    DiscardRoute {
        /// The aggregate prefix.
        prefix: Ipv4Prefix,
        /// Install (true) or remove (false).
        installed: bool,
    },
    /// An inbound connection was refused (not a neighbor, or the dynamic limit is reached).
    ConnectionRefused {
        /// The remote address.
        remote: SocketAddr,
    },
}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// UPDATEs received.
    pub updates_in: u64,
    /// UPDATEs sent.
    pub updates_out: u64,
    /// UPDATEs handled as treat-as-withdraw (RFC 7606).
    pub treat_as_withdraw: u64,
    /// Attributes discarded (RFC 7606).
    pub attr_discarded: u64,
    /// Routes dropped by the RFC 4456 loop checks.
    pub reflection_loops: u64,
    /// NOTIFICATIONs sent.
    pub notifications_sent: u64,
    /// Inbound connections refused.
    pub refused: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Non-IPv4-unicast NLRI ignored.
    pub other_afi_ignored: u64,
}

/// A neighbor's public view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborStatus {
    /// Address.
    pub addr: IpAddr,
    /// State of the best connection.
    pub state: State,
    /// Created from a listen range.
    pub dynamic: bool,
    /// Prefixes received and accepted.
    pub prefixes_received: usize,
    /// Prefixes advertised.
    pub prefixes_sent: usize,
}

#[derive(Debug)]
struct Neighbor {
    addr: IpAddr,
    settings: NeighborSettings,
    dynamic: bool,
    src: u32,
    /// Transport-level state when no session exists: Idle, Connect or Active.
    idle_state: State,
    sessions: BTreeMap<ConnId, Session>,
    established: Option<ConnId>,
    pending_connect: Option<ConnId>,
    retry_at: Option<Instant>,
    adj_out: AdjRibOut,
    full_sync: bool,
    /// Prefixes whose advertisement to this neighbor may have to change; turned into UPDATEs
    /// lazily, when the caller polls for bytes to send (flow control: a peer that is not
    /// drained costs at most one entry per prefix here, never a growing byte queue).
    pending: BTreeSet<Ipv4Prefix>,
}

impl Neighbor {
    fn state(&self) -> State {
        self.sessions
            .values()
            .map(|s| s.state)
            .max()
            .filter(|s| *s > State::Active)
            .unwrap_or(self.idle_state)
    }
    fn star(&self) -> &'static str {
        if self.dynamic { "*" } else { "" }
    }
    fn self_addr(&self, router_id: Ipv4Addr) -> Ipv4Addr {
        if let Some(a) = self.settings.next_hop_self_addr {
            return a;
        }
        match self
            .established
            .and_then(|c| self.sessions.get(&c))
            .map(|s| s.local.ip())
        {
            Some(IpAddr::V4(a)) => a,
            _ => router_id,
        }
    }
}

struct Ctx<'a> {
    peers: &'a BTreeMap<u32, PeerInfo>,
    table: &'a BTreeMap<Ipv4Prefix, IgpRoute>,
}

impl BestCtx for Ctx<'_> {
    fn peer(&self, src: u32) -> Option<PeerInfo> {
        self.peers.get(&src).copied()
    }
    fn igp_cost(&self, nh: Ipv4Addr) -> u32 {
        lookup(self.table, nh).map_or(u32::MAX, |r| r.metric)
    }
}

/// Longest-prefix match of `nh` in the caller's route table.
fn lookup(table: &BTreeMap<Ipv4Prefix, IgpRoute>, nh: Ipv4Addr) -> Option<&IgpRoute> {
    (0..=32u8)
        .rev()
        .find_map(|l| Ipv4Prefix::new(nh, l).and_then(|p| table.get(&p)))
}

/// The BGP speaker. See the crate docs for the run loop.
#[derive(Debug)]
pub struct Speaker {
    cfg: SpeakerConfig,
    neighbors: BTreeMap<IpAddr, Neighbor>,
    conns: BTreeMap<ConnId, IpAddr>,
    rib: LocRib,
    cache: AttrCache,
    peers: BTreeMap<u32, PeerInfo>,
    table: BTreeMap<Ipv4Prefix, IgpRoute>,
    aggregates: Vec<(AggregateConfig, Option<Arc<RouteAttrs>>)>,
    /// Prefixes whose best path changed since the last flush, with the source of the new best
    /// path, in change order (may repeat; sorted and deduplicated, latest kept, by
    /// [`normalize_dirty`]).
    dirty: Vec<(Ipv4Prefix, Option<u32>)>,
    next_src: u32,
    next_conn: u64,
    transmits: VecDeque<StreamTransmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// Routes from neighbors whose NEXT_HOP does not resolve (RFC 4271 §9.1.2.1, with
    /// `next_hop_check`): (prefix, source) to attributes, out of the Loc-RIB until a route
    /// table resolves them.
    unresolved: BTreeMap<(Ipv4Prefix, u32), Arc<RouteAttrs>>,
    /// The latest `now` given by the caller (keepalive timers of UPDATEs built in
    /// `poll_transmit`).
    last_now: Instant,
    /// Neighbor after which the next lazy UPDATE batch is looked for (round robin).
    rr_after: Option<IpAddr>,
}

impl Speaker {
    /// A speaker; configured active neighbors are connected to at once (`Event::Connect`).
    ///
    /// # Errors
    /// [`ConfigError`] from [`SpeakerConfig::validate`].
    pub fn new(cfg: SpeakerConfig, now: Instant) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let mut aggregates: Vec<_> = cfg.aggregates.iter().map(|a| (a.clone(), None)).collect();
        aggregates.sort_by_key(|(a, _)| core::cmp::Reverse(a.prefix.prefix_len()));
        let rib = LocRib::new();
        let mut s = Self {
            neighbors: BTreeMap::new(),
            conns: BTreeMap::new(),
            rib,
            cache: AttrCache::default(),
            peers: BTreeMap::new(),
            table: BTreeMap::new(),
            aggregates,
            dirty: Vec::new(),
            next_src: SRC_FIRST_PEER,
            next_conn: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            last_now: now,
            rr_after: None,
            unresolved: BTreeMap::new(),
            cfg,
        };
        let configured: Vec<_> = s
            .cfg
            .neighbors
            .iter()
            .map(|(a, n)| (*a, n.clone()))
            .collect();
        for (addr, settings) in configured {
            s.add_neighbor(now, addr, settings, false);
        }
        Ok(s)
    }

    fn add_neighbor(
        &mut self,
        now: Instant,
        addr: IpAddr,
        settings: NeighborSettings,
        dynamic: bool,
    ) {
        let src = self.next_src;
        self.next_src += 1;
        let passive = settings.passive || dynamic;
        let mut n = Neighbor {
            addr,
            settings,
            dynamic,
            src,
            idle_state: if passive { State::Active } else { State::Idle },
            sessions: BTreeMap::new(),
            established: None,
            pending_connect: None,
            retry_at: None,
            adj_out: AdjRibOut::default(),
            full_sync: false,
            pending: BTreeSet::new(),
        };
        if !passive {
            n.retry_at = Some(now);
        }
        self.neighbors.insert(addr, n);
    }

    // ---- (B) input ------------------------------------------------------------------------

    /// A transport connection is up: an outbound one the speaker asked for (`Event::Connect`),
    /// or an inbound one accepted by the caller (ids with the top bit clear).
    ///
    /// # Errors
    /// [`InputError`] when the connection is refused (an `Event::Close` is queued too).
    pub fn handle_connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), InputError> {
        if self.conns.contains_key(&conn) {
            return Err(ApiError::ConnectionInUse(conn.0).into());
        }
        let addr = if conn.is_outbound() {
            let Some(n) = self
                .neighbors
                .values_mut()
                .find(|n| n.pending_connect == Some(conn))
            else {
                return Err(ApiError::UnknownConnection(conn.0).into());
            };
            n.pending_connect = None;
            n.addr
        } else {
            let ip = remote.ip();
            if !self.neighbors.contains_key(&ip) {
                let range = match ip {
                    IpAddr::V4(v4) => self
                        .cfg
                        .listen_ranges
                        .iter()
                        .find(|r| r.prefix.contains_addr(v4))
                        .cloned(),
                    IpAddr::V6(_) => None,
                };
                let Some(range) = range else {
                    return Err(self.refuse(conn, remote, InputError::UnknownPeer(ip)));
                };
                let count = self.neighbors.values().filter(|n| n.dynamic).count();
                if count >= self.cfg.listen_limit {
                    return Err(self.refuse(conn, remote, InputError::DynamicLimit));
                }
                let settings = self
                    .cfg
                    .peer_groups
                    .get(&range.peer_group)
                    .cloned()
                    .unwrap_or_else(|| NeighborSettings::ibgp(self.cfg.asn));
                self.add_neighbor(now, ip, settings, true);
            }
            ip
        };
        let params = self.params(&addr);
        let Some(n) = self.neighbors.get_mut(&addr) else {
            return Ok(());
        };
        n.sessions
            .insert(conn, Session::new(now, conn, local, params));
        self.conns.insert(conn, addr);
        self.drain_tx();
        Ok(())
    }

    fn refuse(&mut self, conn: ConnId, remote: SocketAddr, e: InputError) -> InputError {
        self.stats.refused += 1;
        self.push_event(Event::ConnectionRefused { remote });
        self.push_event(Event::Close { conn });
        e
    }

    fn params(&self, addr: &IpAddr) -> SessionParams {
        let s = self.neighbors.get(addr).map(|n| &n.settings);
        SessionParams {
            local_as: self.cfg.asn,
            router_id: self.cfg.router_id,
            remote_as: s.map_or(self.cfg.asn, |s| s.remote_as),
            hold_time: s.map_or(180, |s| s.hold_time),
        }
    }

    /// Bytes received on a connection.
    ///
    /// # Errors
    /// [`InputError::Api`] for an unknown connection. Malformed data is answered with a
    /// NOTIFICATION and the connection closed, and also reported as [`InputError::Session`].
    pub fn handle_stream_data(
        &mut self,
        now: Instant,
        conn: ConnId,
        data: &[u8],
    ) -> Result<(), InputError> {
        let addr = *self
            .conns
            .get(&conn)
            .ok_or(ApiError::UnknownConnection(conn.0))?;
        if let Some(s) = self.session_mut(addr, conn) {
            s.push_data(data);
        }
        // One message at a time, each handled as soon as it is parsed (its bytes and the parsed
        // UPDATE are still in cache; nothing is queued per message).
        let mut r = Ok(());
        let mut outs = Vec::new();
        while let Some(s) = self.session_mut(addr, conn) {
            if !s.next_message(now, &mut outs) {
                break;
            }
            for o in outs.drain(..) {
                let x = self.process_one(now, addr, conn, o);
                if r.is_ok() {
                    r = x;
                }
            }
        }
        // what the FSM queued while stopping (e.g. a NOTIFICATION)
        for o in outs.drain(..) {
            let x = self.process_one(now, addr, conn, o);
            if r.is_ok() {
                r = x;
            }
        }
        self.drain_tx();
        self.flush(now);
        r
    }

    fn session_mut(&mut self, addr: IpAddr, conn: ConnId) -> Option<&mut Session> {
        self.neighbors
            .get_mut(&addr)
            .and_then(|n| n.sessions.get_mut(&conn))
    }

    /// The transport connection closed (or an outbound connect failed).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        if let Some(n) = self
            .neighbors
            .values_mut()
            .find(|n| n.pending_connect == Some(conn))
        {
            n.pending_connect = None;
            n.idle_state = State::Active;
            return;
        }
        let Some(&addr) = self.conns.get(&conn) else {
            return;
        };
        let mut outs = Vec::new();
        if let Some(s) = self
            .neighbors
            .get_mut(&addr)
            .and_then(|n| n.sessions.get_mut(&conn))
        {
            s.step(now, crate::session::FsmEvent::TcpConnectionFails, &mut outs);
        }
        let _ = self.process(now, addr, conn, outs);
        // The transport is gone: no Close event needed, but drop what it still had to send.
        self.transmits.retain(|t| t.conn != conn);
        self.events.retain(|e| *e != Event::Close { conn });
        self.flush(now);
    }

    /// Timers: ConnectRetry, Hold, Keepalive. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        let addrs: Vec<IpAddr> = self.neighbors.keys().copied().collect();
        for addr in addrs {
            let mut connect = None;
            if let Some(n) = self.neighbors.get_mut(&addr)
                && n.retry_at.is_some_and(|t| t <= now)
            {
                {
                    let busy = n.sessions.values().any(|s| s.state > State::Active);
                    if let Some(old) = n.pending_connect.take() {
                        self.events.push_back(Event::Close { conn: old });
                    }
                    n.retry_at = Some(now + n.settings.connect_retry);
                    if !busy && !n.settings.passive && !n.dynamic {
                        self.next_conn += 1;
                        let conn = ConnId((1 << 63) | self.next_conn);
                        n.pending_connect = Some(conn);
                        n.idle_state = State::Connect;
                        connect = Some((
                            conn,
                            SocketAddr::new(addr, n.settings.port),
                            n.settings.local_addr,
                        ));
                    }
                }
            }
            if let Some((conn, remote, local)) = connect {
                self.push_event(Event::Connect {
                    conn,
                    remote,
                    local,
                });
            }
            let conns: Vec<ConnId> = self
                .neighbors
                .get(&addr)
                .map(|n| n.sessions.keys().copied().collect())
                .unwrap_or_default();
            for c in conns {
                let mut outs = Vec::new();
                if let Some(s) = self
                    .neighbors
                    .get_mut(&addr)
                    .and_then(|n| n.sessions.get_mut(&c))
                {
                    s.handle_timeout(now, &mut outs);
                }
                let _ = self.process(now, addr, c, outs);
            }
        }
        self.flush(now);
    }

    // ---- (C) commands ---------------------------------------------------------------------

    /// Replaces the caller's routing table: `network` statements are originated for prefixes
    /// present exactly, and IGP costs to next hops come from it.
    pub fn set_route_table(&mut self, now: Instant, routes: impl IntoIterator<Item = IgpRoute>) {
        self.table = routes.into_iter().map(|r| (r.prefix, r)).collect();
        for p in self.cfg.networks.clone() {
            let attrs = self.table.get(&p).map(|r| RouteAttrs {
                med: Some(r.metric),
                ..RouteAttrs::default()
            });
            let attrs = attrs.map(|a| self.cache.intern(a));
            self.rib_update(p, SRC_NETWORK, attrs);
        }
        if self.cfg.next_hop_check {
            // RFC 4271 §9.1.2.1: paths whose next hop no longer resolves leave the decision,
            // held paths whose next hop now resolves come back.
            let lost: Vec<(Ipv4Prefix, u32, Arc<RouteAttrs>)> = self
                .rib
                .iter()
                .flat_map(|(p, d)| d.paths().iter().map(move |x| (p, x)))
                .filter(|(_, x)| !x.is_local() && !self.resolvable(x.attrs.next_hop))
                .map(|(p, x)| (p, x.src, Arc::clone(&x.attrs)))
                .collect();
            let back: Vec<((Ipv4Prefix, u32), Arc<RouteAttrs>)> = self
                .unresolved
                .iter()
                .filter(|(_, a)| self.resolvable(a.next_hop))
                .map(|(k, a)| (*k, Arc::clone(a)))
                .collect();
            for (p, src, a) in lost {
                self.rib_update(p, src, None);
                self.unresolved.insert((p, src), a);
            }
            for (k, a) in back {
                self.unresolved.remove(&k);
                self.rib_update(k.0, k.1, Some(a));
            }
        }
        let all: Vec<Ipv4Prefix> = self.rib.iter().map(|(p, _)| p).collect();
        for p in all {
            let ctx = Ctx {
                peers: &self.peers,
                table: &self.table,
            };
            if let Some(ch) = self.rib.reselect(p, &ctx) {
                self.best_changed(ch);
            }
        }
        self.flush(now);
    }

    /// Sends a ROUTE-REFRESH to an established neighbor that supports it (`clear ip bgp X in`).
    ///
    /// # Errors
    /// [`ApiError::UnknownNeighbor`] when not established or without the capability.
    pub fn request_route_refresh(&mut self, now: Instant, peer: IpAddr) -> Result<(), ApiError> {
        let s = self
            .neighbors
            .get_mut(&peer)
            .and_then(|n| n.established.and_then(|c| n.sessions.get_mut(&c)))
            .filter(|s| s.route_refresh)
            .ok_or(ApiError::UnknownNeighbor(peer))?;
        s.send(&Message::RouteRefresh(RouteRefresh::IPV4_UNICAST));
        let _ = now;
        self.drain_tx();
        Ok(())
    }

    /// Resets a neighbor's session with Cease/Administrative Reset (`clear ip bgp X`).
    ///
    /// # Errors
    /// [`ApiError::UnknownNeighbor`].
    pub fn clear_neighbor(&mut self, now: Instant, peer: IpAddr) -> Result<(), ApiError> {
        let n = self
            .neighbors
            .get_mut(&peer)
            .ok_or(ApiError::UnknownNeighbor(peer))?;
        let conns: Vec<ConnId> = n.sessions.keys().copied().collect();
        for c in conns {
            let mut outs = Vec::new();
            if let Some(s) = self
                .neighbors
                .get_mut(&peer)
                .and_then(|n| n.sessions.get_mut(&c))
            {
                s.shutdown(
                    Notification::new(ErrCode::CEASE, 4),
                    Error::AdminShutdown,
                    &mut outs,
                );
            }
            let _ = self.process(now, peer, c, outs);
        }
        self.flush(now);
        Ok(())
    }

    // ---- (D) output -----------------------------------------------------------------------

    /// Next bytes to send. UPDATEs are built here, a batch of at most 1,024 prefixes
    /// per call, from what changed since they were last sent: a caller that cannot write to a
    /// slow peer just stops polling, and the speaker then holds no more than one pending
    /// entry per prefix for that peer (see [`Speaker::queued_bytes`]).
    pub fn poll_transmit(&mut self) -> Option<StreamTransmit> {
        if let Some(t) = self.transmits.pop_front() {
            return Some(t);
        }
        self.generate_updates()
    }

    /// Bytes already encoded and waiting for `poll_transmit` (OPEN, KEEPALIVE, NOTIFICATION,
    /// and no more than one batch of UPDATEs).
    pub fn queued_bytes(&self) -> usize {
        self.transmits.iter().map(|t| t.bytes.len()).sum::<usize>()
            + self
                .neighbors
                .values()
                .flat_map(|n| n.sessions.values())
                .map(|s| s.tx.len())
                .sum::<usize>()
    }

    /// Prefixes waiting to be (re)considered for a neighbor's next UPDATEs.
    pub fn pending_prefixes(&self, peer: IpAddr) -> usize {
        self.neighbors.get(&peer).map_or(0, |n| n.pending.len())
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call `handle_timeout` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.neighbors
            .values()
            .flat_map(|n| {
                n.retry_at
                    .into_iter()
                    .chain(n.sessions.values().filter_map(Session::poll_timeout))
            })
            .min()
    }

    // ---- (A) getters ----------------------------------------------------------------------

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The Loc-RIB.
    pub fn loc_rib(&self) -> &LocRib {
        &self.rib
    }

    /// Neighbors in address order.
    pub fn neighbors(&self) -> Vec<NeighborStatus> {
        self.neighbors
            .values()
            .map(|n| NeighborStatus {
                addr: n.addr,
                state: n.state(),
                dynamic: n.dynamic,
                prefixes_received: self.rib.iter().filter(|(_, d)| d.has(n.src)).count(),
                prefixes_sent: n.adj_out.routes.len(),
            })
            .collect()
    }

    /// One neighbor's state.
    pub fn neighbor_state(&self, peer: IpAddr) -> Option<State> {
        self.neighbors.get(&peer).map(Neighbor::state)
    }

    /// What was advertised to a neighbor.
    pub fn adj_rib_out(&self, peer: IpAddr) -> Option<&BTreeMap<Ipv4Prefix, Arc<RouteAttrs>>> {
        self.neighbors.get(&peer).map(|n| &n.adj_out.routes)
    }

    // ---- internals ------------------------------------------------------------------------

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= EVENT_CAP {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    fn syslog(&mut self, s: String) {
        if self.cfg.log_neighbor_changes {
            self.push_event(Event::Syslog(s));
        }
    }

    fn process(
        &mut self,
        now: Instant,
        addr: IpAddr,
        conn: ConnId,
        outs: Vec<SessionOut>,
    ) -> Result<(), InputError> {
        let mut result = Ok(());
        for o in outs {
            let r = self.process_one(now, addr, conn, o);
            if result.is_ok() {
                result = r;
            }
        }
        self.drain_tx();
        result
    }

    /// Handles one output of a session (the transmit queue is drained by the caller).
    fn process_one(
        &mut self,
        now: Instant,
        addr: IpAddr,
        conn: ConnId,
        o: SessionOut,
    ) -> Result<(), InputError> {
        let mut result = Ok(());
        {
            match o {
                SessionOut::OpenReceived => self.collision(now, addr, conn),
                SessionOut::Established => self.established(addr, conn),
                SessionOut::Update(u) => self.update_in(addr, conn, u),
                SessionOut::RouteRefresh(r) => {
                    if r.afi == Afi::IPV4
                        && r.safi == Safi::UNICAST
                        && let Some(n) = self.neighbors.get_mut(&addr)
                    {
                        {
                            n.adj_out.routes.clear();
                            n.full_sync = true;
                        }
                    }
                }
                SessionOut::Down { reason, sent } => {
                    if let Some(n) = &sent {
                        self.stats.notifications_sent += 1;
                        let star = self.neighbors.get(&addr).map_or("", Neighbor::star);
                        let l = format!(
                            "%BGP-3-NOTIFICATION: sent to neighbor {star}{addr} {}/{} ({}) {} bytes",
                            n.code.0,
                            n.subcode,
                            notif_name(n),
                            n.data.len()
                        );
                        if !matches!(reason, Error::Collision) {
                            self.syslog(l);
                        }
                        if matches!(reason, Error::Wire(_)) {
                            result = Err(InputError::Session(reason.clone()));
                        }
                    }
                    if let Error::NotificationReceived { code, subcode } = reason {
                        let star = self.neighbors.get(&addr).map_or("", Neighbor::star);
                        let n = Notification::new(ErrCode(code), subcode);
                        self.syslog(format!("%BGP-3-NOTIFICATION: received from neighbor {star}{addr} {code}/{subcode} ({}) 0 bytes", notif_name(&n)));
                    }
                    self.conn_down(now, addr, conn, reason, sent.is_some());
                }
            }
        }
        result
    }

    /// RFC 4271 §6.8 collision detection, run when a connection reaches OpenConfirm.
    fn collision(&mut self, now: Instant, addr: IpAddr, conn: ConnId) {
        let Some(n) = self.neighbors.get(&addr) else {
            return;
        };
        let Some(remote_id) = n.sessions.get(&conn).and_then(Session::peer_id) else {
            return;
        };
        let Some((&other, os)) = n
            .sessions
            .iter()
            .find(|(c, s)| **c != conn && s.state >= State::OpenConfirm)
        else {
            return;
        };
        let loser = if os.state == State::Established {
            conn
        } else if u32::from(self.cfg.router_id) < u32::from(remote_id) {
            // keep the connection the peer initiated
            if conn.is_outbound() { conn } else { other }
        } else if conn.is_outbound() {
            other
        } else {
            conn
        };
        let mut outs = Vec::new();
        if let Some(s) = self
            .neighbors
            .get_mut(&addr)
            .and_then(|n| n.sessions.get_mut(&loser))
        {
            s.shutdown(
                Notification::new(ErrCode::CEASE, 7),
                Error::Collision,
                &mut outs,
            );
        }
        let _ = self.process(now, addr, loser, outs);
    }

    fn established(&mut self, addr: IpAddr, conn: ConnId) {
        let Some(n) = self.neighbors.get_mut(&addr) else {
            return;
        };
        n.established = Some(conn);
        n.full_sync = true;
        n.retry_at = None;
        let id = n
            .sessions
            .get(&conn)
            .and_then(Session::peer_id)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        self.peers.insert(
            n.src,
            PeerInfo {
                addr,
                bgp_id: id,
                rr_client: n.settings.route_reflector_client,
            },
        );
        let (star, dynamic) = (n.star(), n.dynamic);
        self.syslog(format!("%BGP-5-ADJCHANGE: neighbor {star}{addr} Up"));
        self.push_event(Event::NeighborUp {
            peer: addr,
            dynamic,
        });
    }

    fn conn_down(&mut self, now: Instant, addr: IpAddr, conn: ConnId, reason: Error, sent: bool) {
        // RFC 4271 6: a NOTIFICATION goes out before the connection closes. The session's
        // transmit buffer holds it; hand it out ahead of the `Close` event.
        if let Some(s) = self
            .neighbors
            .get_mut(&addr)
            .and_then(|n| n.sessions.get_mut(&conn))
            && !s.tx.is_empty()
        {
            self.transmits.push_back(StreamTransmit {
                conn,
                bytes: s.take_tx(),
            });
        }
        self.conns.remove(&conn);
        self.push_event(Event::Close { conn });
        let Some(n) = self.neighbors.get_mut(&addr) else {
            return;
        };
        n.sessions.remove(&conn);
        let was_established = n.established == Some(conn);
        if was_established {
            n.established = None;
            n.adj_out.routes.clear();
            n.pending.clear();
            n.full_sync = false;
            let star = n.star();
            let why = match &reason {
                Error::PeerClosed => "Peer closed the session",
                Error::NotificationReceived { .. } => "BGP Notification received",
                Error::AdminShutdown => "User reset",
                _ if sent => "BGP Notification sent",
                _ => "Interface flap",
            };
            let src = n.src;
            self.syslog(format!(
                "%BGP-5-ADJCHANGE: neighbor {star}{addr} Down {why}"
            ));
            self.push_event(Event::NeighborDown { peer: addr, reason });
            for p in self.rib.prefixes_from(src) {
                self.rib_update(p, src, None);
            }
            self.unresolved.retain(|(_, s), _| *s != src);
            self.peers.remove(&src);
        }
        let Some(n) = self.neighbors.get_mut(&addr) else {
            return;
        };
        if n.sessions.is_empty() && n.established.is_none() {
            if n.dynamic {
                self.neighbors.remove(&addr);
                return;
            }
            if n.settings.passive {
                n.idle_state = State::Active;
            } else {
                n.idle_state = State::Idle;
                if n.pending_connect.is_none() {
                    n.retry_at = Some(now + n.settings.connect_retry);
                }
            }
        }
    }

    fn update_in(&mut self, addr: IpAddr, conn: ConnId, mut u: Update) {
        self.stats.updates_in += 1;
        let Some(n) = self.neighbors.get(&addr) else {
            return;
        };
        let src = n.src;
        let four = n.sessions.get(&conn).is_none_or(|s| s.ctx.four_octet_as);
        let rm_in = n.settings.route_map_in.clone();
        for e in &u.attr_errors {
            if matches!(e, AttrError::Discard { .. }) {
                self.stats.attr_discarded += 1;
            }
        }
        let mut attrs = None;
        if u.treat_as_withdraw() {
            self.stats.treat_as_withdraw += 1;
        } else {
            let mut a = RouteAttrs::take_from_update(&mut u, four);
            if a.reflection_loop(self.cfg.router_id, self.cfg.cluster_id()) {
                self.stats.reflection_loops += 1;
            } else {
                if a.local_pref.is_none() {
                    a.local_pref = Some(crate::rib::DEFAULT_LOCAL_PREF);
                }
                attrs = Some(a);
            }
        }
        let mut mp_withdrawn: &[Ipv4Prefix] = &[];
        let mut mp_announced: &[Ipv4Prefix] = &[];
        for pa in &u.attrs {
            match &pa.value {
                AttrValue::MpReach(m) => match &m.nlri {
                    MpNlri::V4(l) if m.safi == Safi::UNICAST => {
                        if let (Some(a), [b0, b1, b2, b3]) = (attrs.as_mut(), m.next_hop.as_slice())
                            && u.nlri.is_empty()
                        {
                            {
                                a.next_hop = Ipv4Addr::new(*b0, *b1, *b2, *b3);
                            }
                        }
                        mp_announced = l.as_slice();
                    }
                    _ => self.stats.other_afi_ignored += 1,
                },
                AttrValue::MpUnreach(m) => match &m.withdrawn {
                    MpNlri::V4(l) if m.safi == Safi::UNICAST => mp_withdrawn = l.as_slice(),
                    _ => self.stats.other_afi_ignored += 1,
                },
                _ => {}
            }
        }
        for &p in u.withdrawn.iter().chain(mp_withdrawn) {
            self.learned(p, src, None);
        }
        let shared = attrs.map(|a| self.cache.intern(a));
        self.rib.warm(&u.nlri);
        // next-hop check once per attribute set, not per prefix
        let shared_ok = shared.as_ref().is_none_or(|a| self.resolvable(a.next_hop));
        for &p in u.nlri.iter().chain(mp_announced) {
            let a = match (&shared, &rm_in) {
                (None, _) => None,
                (Some(a), None) => Some(Arc::clone(a)),
                (Some(a), Some(rm)) => self
                    .cfg
                    .policy
                    .apply(rm, &p, a)
                    .map(|x| self.cache.intern(x)),
            };
            match a {
                Some(a)
                    if !(if shared.as_ref().is_some_and(|s| Arc::ptr_eq(s, &a)) {
                        shared_ok
                    } else {
                        self.resolvable(a.next_hop)
                    }) =>
                {
                    // RFC 4271 §9.1.2.1: held out of the decision process
                    self.rib_update(p, src, None);
                    self.unresolved.insert((p, src), a);
                }
                a => self.learned(p, src, a),
            }
        }
    }

    /// Whether a learned route's next hop may be used (RFC 4271 §9.1.2.1).
    fn resolvable(&self, nh: Ipv4Addr) -> bool {
        !self.cfg.next_hop_check || lookup(&self.table, nh).is_some()
    }

    /// A route (or withdrawal) from a neighbor with a usable next hop.
    fn learned(&mut self, p: Ipv4Prefix, src: u32, attrs: Option<Arc<RouteAttrs>>) {
        if !self.unresolved.is_empty() {
            self.unresolved.remove(&(p, src));
        }
        self.rib_update(p, src, attrs);
    }

    fn rib_update(&mut self, p: Ipv4Prefix, src: u32, attrs: Option<Arc<RouteAttrs>>) {
        let ctx = Ctx {
            peers: &self.peers,
            table: &self.table,
        };
        if let Some(ch) = self.rib.update(p, src, attrs, &ctx) {
            self.best_changed(ch);
        }
    }

    fn best_changed(&mut self, ch: BestChange) {
        self.dirty.push((ch.prefix, ch.new.map(|b| b.src)));
        let fib = |b: Option<crate::rib::BestSummary>| {
            b.filter(|b| b.src >= SRC_FIRST_PEER).map(|b| b.next_hop)
        };
        let (old, new) = (fib(ch.old), fib(ch.new));
        if old != new {
            self.push_event(Event::BestPath {
                prefix: ch.prefix,
                next_hop: new,
            });
        }
    }

    fn suppressed(&self, p: &Ipv4Prefix) -> bool {
        self.aggregates
            .iter()
            .any(|(a, st)| a.summary_only && st.is_some() && a.prefix.contains(p) && a.prefix != *p)
    }

    fn run_aggregates(&mut self) {
        for i in 0..self.aggregates.len() {
            let Some((agg, old)) = self.aggregates.get(i).cloned() else {
                continue;
            };
            let hi = Ipv4Prefix::new(agg.prefix.last(), 32).unwrap_or(agg.prefix);
            let from = self.dirty.partition_point(|(p, _)| *p < agg.prefix);
            let touched = self
                .dirty
                .get(from..)
                .unwrap_or(&[])
                .iter()
                .take_while(|(p, _)| *p <= hi)
                .any(|(p, _)| agg.prefix.contains(p) && *p != agg.prefix);
            if !touched {
                continue;
            }
            let contributors = self
                .rib
                .within(agg.prefix)
                .filter(|(p, _)| *p != agg.prefix)
                .filter_map(|(_, d)| d.best())
                .map(|p| &*p.attrs);
            let new =
                aggregate::compute(contributors, agg.as_set, self.cfg.asn, self.cfg.router_id)
                    .map(|a| self.cache.intern(a));
            if new == old {
                continue;
            }
            if let Some(e) = self.aggregates.get_mut(i) {
                e.1.clone_from(&new);
            }
            if old.is_some() != new.is_some() {
                self.push_event(Event::DiscardRoute {
                    prefix: agg.prefix,
                    installed: new.is_some(),
                });
                if agg.summary_only {
                    let inner: Vec<(Ipv4Prefix, Option<u32>)> = self
                        .rib
                        .within(agg.prefix)
                        .filter(|(p, _)| *p != agg.prefix)
                        .map(|(p, d)| (p, d.best().map(|b| b.src)))
                        .collect();
                    self.dirty.extend(inner);
                    normalize_dirty(&mut self.dirty);
                }
            }
            self.rib_update(agg.prefix, SRC_AGGREGATE, new);
        }
    }

    /// What to advertise to neighbor `n` for prefix `p`, or `None` (withdraw / do not send).
    fn export(&self, n: &Neighbor, p: &Ipv4Prefix) -> Option<RouteAttrs> {
        let best = self.rib.best(p)?;
        if best.src == n.src {
            return None;
        }
        let from = if best.is_local() {
            reflect::From::Local
        } else {
            reflect::From::Ibgp {
                client: self.peers.get(&best.src).is_some_and(|i| i.rr_client),
            }
        };
        if !reflect::may_advertise(from, n.settings.route_reflector_client) {
            return None;
        }
        if self.suppressed(p)
            && !n
                .settings
                .unsuppress_map
                .as_deref()
                .is_some_and(|m| self.cfg.policy.permits(m, p))
        {
            return None;
        }
        let mut a = (*best.attrs).clone();
        if let reflect::From::Ibgp { .. } = from {
            let orig = self
                .peers
                .get(&best.src)
                .map_or(Ipv4Addr::UNSPECIFIED, |i| i.bgp_id);
            // RFC 4456 §8: do not send a route back to its originator.
            if n.established
                .and_then(|c| n.sessions.get(&c))
                .and_then(Session::peer_id)
                == Some(a.originator_id.unwrap_or(orig))
            {
                return None;
            }
            reflect::reflect(&mut a, orig, self.cfg.cluster_id());
        }
        if a.local_pref.is_none() {
            a.local_pref = Some(crate::rib::DEFAULT_LOCAL_PREF);
        }
        let nh_self = match from {
            reflect::From::Local => true,
            reflect::From::Ibgp { .. } => n.settings.next_hop_self == NextHopSelf::All,
        };
        if nh_self || a.next_hop.is_unspecified() {
            a.next_hop = n.self_addr(self.cfg.router_id);
        }
        if let Some(rm) = &n.settings.route_map_out {
            a = self.cfg.policy.apply(rm, p, &a)?;
        }
        Some(a)
    }

    fn flush(&mut self, now: Instant) {
        self.last_now = now;
        if !self.dirty.is_empty() {
            normalize_dirty(&mut self.dirty);
            self.run_aggregates();
            // aggregate changes pushed more
            normalize_dirty(&mut self.dirty);
        }
        let dirty = std::mem::take(&mut self.dirty);
        let rib = &self.rib;
        for n in self.neighbors.values_mut() {
            if n.established.is_none() {
                continue;
            }
            if n.full_sync {
                n.full_sync = false;
                n.pending.extend(rib.iter().map(|(p, _)| p));
                n.pending.extend(n.adj_out.routes.keys().copied());
                continue;
            }
            for &(p, best_src) in &dirty {
                // the best path's source is known: nothing can be sent back to where it came
                // from, so only a withdrawal of what was sent before is possible then
                if best_src.is_some_and(|s| s != n.src) || n.adj_out.routes.contains_key(&p) {
                    n.pending.insert(p);
                }
            }
        }
        self.drain_tx();
    }

    /// Builds the next batch of UPDATEs for one neighbor with pending prefixes (round robin).
    fn generate_updates(&mut self) -> Option<StreamTransmit> {
        let mut addrs: Vec<IpAddr> = self
            .neighbors
            .iter()
            .filter(|(_, n)| n.established.is_some() && !n.pending.is_empty())
            .map(|(a, _)| *a)
            .collect();
        if let Some(last) = self.rr_after {
            let k = addrs.partition_point(|a| *a <= last);
            addrs.rotate_left(k);
        }
        for addr in addrs {
            while self
                .neighbors
                .get(&addr)
                .is_some_and(|n| !n.pending.is_empty())
            {
                if let Some(t) = self.build_batch(addr) {
                    self.rr_after = Some(addr);
                    return Some(t);
                }
            }
        }
        None
    }

    /// Turns up to [`TX_BATCH`] pending prefixes of a neighbor into UPDATEs (none when nothing
    /// is to change for them).
    fn build_batch(&mut self, addr: IpAddr) -> Option<StreamTransmit> {
        let n = self.neighbors.get_mut(&addr)?;
        let mut batch = Vec::with_capacity(TX_BATCH.min(n.pending.len()));
        while batch.len() < TX_BATCH {
            let Some(p) = n.pending.pop_first() else {
                break;
            };
            batch.push(p);
        }
        let n = self.neighbors.get(&addr)?;
        let mut withdraw = Vec::new();
        let mut announce: BTreeMap<Arc<RouteAttrs>, Vec<Ipv4Prefix>> = BTreeMap::new();
        let mut changes: Vec<(Ipv4Prefix, Option<Arc<RouteAttrs>>)> = Vec::new();
        for p in batch {
            let want = self.export(n, &p);
            let have = n.adj_out.routes.get(&p);
            match (want, have) {
                (None, None) => {}
                (None, Some(_)) => {
                    withdraw.push(p);
                    changes.push((p, None));
                }
                (Some(w), h) => {
                    if h.is_some_and(|h| **h == w) {
                        continue;
                    }
                    let w = self.cache.intern(w);
                    announce.entry(Arc::clone(&w)).or_default().push(p);
                    changes.push((p, Some(w)));
                }
            }
        }
        let now = self.last_now;
        let n = self.neighbors.get_mut(&addr)?;
        for (p, a) in changes {
            match a {
                Some(a) => n.adj_out.routes.insert(p, a),
                None => n.adj_out.routes.remove(&p),
            };
        }
        let s = n.established.and_then(|c| n.sessions.get_mut(&c))?;
        let four = s.ctx.four_octet_as;
        let mut out = Vec::new();
        let mut count = 0u64;
        pack_withdrawals(&withdraw, &mut out, &mut count);
        for (a, ps) in &announce {
            pack_announcements(&a.to_path_attrs(four), four, ps, &mut out, &mut count);
        }
        self.stats.updates_out += count;
        if out.is_empty() {
            return None;
        }
        s.send_raw(now, &out);
        Some(StreamTransmit {
            conn: s.conn,
            bytes: s.take_tx(),
        })
    }

    fn drain_tx(&mut self) {
        for n in self.neighbors.values_mut() {
            for s in n.sessions.values_mut() {
                if !s.tx.is_empty() {
                    self.transmits.push_back(StreamTransmit {
                        conn: s.conn,
                        bytes: s.take_tx(),
                    });
                }
            }
        }
    }
}

/// Sorts the dirty list by prefix and keeps, per prefix, the latest entry (the one pushed last).
fn normalize_dirty(d: &mut Vec<(Ipv4Prefix, Option<u32>)>) {
    d.reverse();
    d.sort_by_key(|(p, _)| *p); // stable: the latest entry of each prefix comes first
    d.dedup_by_key(|(p, _)| *p);
}

fn notif_name(n: &Notification) -> &'static str {
    match (n.code.0, n.subcode) {
        (1, _) => "message header error",
        (2, 2) => "peer in wrong AS",
        (2, _) => "OPEN message error",
        (3, _) => "update malformed",
        (4, _) => "hold time expired",
        (5, _) => "finite state machine error",
        (6, 4) => "administrative reset",
        (6, 7) => "connection collision resolution",
        (6, _) => "cease",
        _ => "unknown",
    }
}

const MAX: usize = crate::wire::MAX_MESSAGE_LEN;

fn header(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0xff; 16]);
    let at = out.len();
    out.extend_from_slice(&[0, 0, 2]);
    at
}

fn finish(out: &mut [u8], start: usize, at: usize) {
    let len = u16::try_from(out.len() - start).unwrap_or(0);
    if let Some(b) = out.get_mut(at..at + 2) {
        b.copy_from_slice(&len.to_be_bytes());
    }
}

/// Packs withdrawals into as few UPDATEs as fit in 4096 bytes each.
fn pack_withdrawals(ps: &[Ipv4Prefix], out: &mut Vec<u8>, count: &mut u64) {
    let mut i = 0;
    while i < ps.len() {
        let start = out.len();
        let at = header(out);
        let wl_at = out.len();
        out.extend_from_slice(&[0, 0]);
        while let Some(p) = ps.get(i) {
            if out.len() - start + p.wire_len() + 2 > MAX {
                break;
            }
            p.emit(out);
            i += 1;
        }
        let wl = u16::try_from(out.len() - wl_at - 2).unwrap_or(0);
        if let Some(b) = out.get_mut(wl_at..wl_at + 2) {
            b.copy_from_slice(&wl.to_be_bytes());
        }
        out.extend_from_slice(&[0, 0]);
        finish(out, start, at);
        *count += 1;
    }
}

/// Packs announcements sharing one attribute set into as few UPDATEs as fit.
fn pack_announcements(
    attrs: &[crate::wire::PathAttr],
    four: bool,
    ps: &[Ipv4Prefix],
    out: &mut Vec<u8>,
    count: &mut u64,
) {
    let ctx = DecodeCtx {
        four_octet_as: four,
    };
    let mut ab = Vec::new();
    for a in attrs {
        if a.emit(&ctx, &mut ab).is_err() {
            return;
        }
    }
    let Ok(al) = u16::try_from(ab.len()) else {
        return;
    };
    if 23 + ab.len() + 5 > MAX {
        return;
    }
    let mut i = 0;
    while i < ps.len() {
        let start = out.len();
        let at = header(out);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&al.to_be_bytes());
        out.extend_from_slice(&ab);
        while let Some(p) = ps.get(i) {
            if out.len() - start + p.wire_len() > MAX {
                break;
            }
            p.emit(out);
            i += 1;
        }
        finish(out, start, at);
        *count += 1;
    }
}

/// Hold time default, exported for tests of timers.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(180);

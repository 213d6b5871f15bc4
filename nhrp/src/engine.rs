//! The sans-IO NHRP engine of one tunnel interface: shared plumbing (input dispatch, queues,
//! timers, packet builders). The hub (next hop server) behaviour is in [`crate::hub`], the
//! spoke (next hop client) behaviour in [`crate::spoke`].
//!
//! ```text
//!   router                         Engine                               router
//!   ------                         ------                               ------
//!   GRE 0x2001 from NBMA X --> handle_nhrp(now, X, bytes) --+--> poll_transmit(): Transmit{nbma, payload}
//!   data packet forwarded  --> handle_forwarded(now, fwd) --+--> poll_event(): OpenTunnel / InstallShortcut /
//!   FlexVPN session up/down -> add_peer / handle_tunnel_down |                  WithdrawShortcut / TunnelUnused ...
//!   routes from BGP        --> set_route / remove_route      |
//!   timers                 --> handle_timeout(now) ---------+--> poll_timeout(): next deadline
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, RngCore};

use crate::cache::{Cache, CacheEntry, EntryFlags, EntryType};
use crate::config::{Config, Peer, Prefix};
use crate::error::{ApiError, ConfigError, InputError, WireError};
use crate::ratelimit::{RateLimiter, SourceLimiter};
use crate::wire::extension::ExtensionType;
use crate::wire::{
    Address, Body, Cie, ErrorCode, ErrorIndication, ExtValue, Extension, FixedHeader,
    FixedHeaderView, Mandatory, Message, MessageKind, Packet, PacketType,
};

/// Most queued transmits and events; past this, outputs are dropped and counted.
pub const MAX_QUEUE: usize = 4096;
/// Most bytes of an erroneous packet quoted in an Error Indication.
pub const MAX_ERROR_QUOTE: usize = 512;
/// Most outstanding resolution requests; past this, new resolutions are refused and counted.
pub const MAX_PENDING: usize = 1024;
/// Most requesters remembered per local prefix (for purges).
pub const MAX_ANSWERED: usize = 1024;

/// An NHRP packet to send in GRE (protocol 0x2001) to an NBMA address.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination NBMA address (the GRE/IPsec peer).
    pub nbma: Ipv4Addr,
    /// The NHRP packet.
    pub payload: Vec<u8>,
}

/// What the engine asks the router to do, or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Bring up a direct tunnel to this NBMA address (spoke-to-spoke, through the virtual
    /// template).
    OpenTunnel {
        /// The other end's NBMA address.
        nbma: Ipv4Addr,
    },
    /// Install route `prefix` via overlay next hop `next_hop` (reached at `nbma`), preferred
    /// over the route through the hub.
    InstallShortcut {
        /// Destination prefix.
        prefix: Prefix,
        /// Overlay next hop (the other spoke's tunnel address).
        next_hop: Ipv4Addr,
        /// The other spoke's NBMA address.
        nbma: Ipv4Addr,
    },
    /// Remove a shortcut route: traffic goes back through the hub.
    WithdrawShortcut {
        /// Destination prefix.
        prefix: Prefix,
        /// Overlay next hop it used.
        next_hop: Ipv4Addr,
        /// NBMA address it used.
        nbma: Ipv4Addr,
    },
    /// No shortcut uses the tunnel to this NBMA address any more; the router may close it.
    TunnelUnused {
        /// The NBMA address.
        nbma: Ipv4Addr,
    },
    /// A resolution for `dst` failed (negative reply, error indication or timeout); a negative
    /// cache entry now stops new requests until it expires.
    ResolutionFailed {
        /// The destination asked for.
        dst: Ipv4Addr,
    },
    /// An Error Indication arrived.
    ErrorIndicationReceived {
        /// Its source protocol address.
        from: Option<Ipv4Addr>,
        /// Its code.
        code: ErrorCode,
    },
}

/// A data packet the router forwarded out of the NHRP interface.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded<'a> {
    /// The overlay peer it came from, when it came in on the same NHRP network (`None` when it
    /// came from a LAN or was originated locally).
    pub ingress: Option<Peer>,
    /// The overlay peer it goes to.
    pub egress: Peer,
    /// The IPv4 packet (at least its header).
    pub packet: &'a [u8],
}

/// Counters. Every dropped input and output is counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// NHRP packets received.
    pub rx_packets: u64,
    /// Received packets that did not parse.
    pub rx_malformed: u64,
    /// Received packets that parsed but were dropped.
    pub rx_dropped: u64,
    /// NHRP packets queued for sending.
    pub tx_packets: u64,
    /// Transmits dropped because the queue was full.
    pub tx_queue_full: u64,
    /// Events dropped because the queue was full.
    pub event_queue_full: u64,
    /// Error Indications sent.
    pub error_indications_sent: u64,
    /// Traffic Indications sent.
    pub traffic_indications_sent: u64,
    /// Traffic Indications suppressed by the rate limit.
    pub traffic_indications_limited: u64,
    /// Resolution requests answered here.
    pub resolutions_answered: u64,
    /// Resolution requests forwarded to another server or the owner.
    pub resolutions_forwarded: u64,
    /// Replies relayed towards the requester.
    pub replies_relayed: u64,
    /// Cache entries evicted to stay within the bound.
    pub cache_evictions: u64,
    /// Cache entries not stored: the cache was full of entries they may not evict, or (an
    /// implicit entry) a registered, static or resolved entry has the same prefix.
    pub cache_refused: u64,
    /// Resolution requests dropped by the per-source limit (`Config::resolution_limit`).
    pub resolutions_limited: u64,
    /// Resolution requests sent (new, retried or refresh).
    pub resolutions_sent: u64,
    /// Resolutions refused because `MAX_PENDING` requests were outstanding.
    pub resolutions_refused: u64,
}

/// A shortcut installed from a resolution reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortcut {
    /// The other end.
    pub peer: Peer,
    /// When it was installed.
    pub installed: Instant,
    /// When it expires unless refreshed.
    pub expires: Instant,
    /// When to refresh it if it was used.
    pub refresh_at: Instant,
    /// Request ID of an outstanding refresh.
    pub refreshing: Option<u32>,
}

/// An outstanding resolution request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) dst: Ipv4Addr,
    pub(crate) to: Peer,
    pub(crate) retry_at: Instant,
    pub(crate) interval: Duration,
    pub(crate) deadline: Instant,
    pub(crate) refresh_of: Option<Prefix>,
}

/// The NHRP engine of one tunnel interface (one network-id).
///
/// See the crate documentation for the run loop.
#[derive(Debug)]
pub struct Engine {
    pub(crate) cfg: Config,
    pub(crate) cache: Cache,
    pub(crate) routes: BTreeMap<Prefix, Peer>,
    pub(crate) shortcuts: BTreeMap<Prefix, Shortcut>,
    pub(crate) pending: BTreeMap<u32, Pending>,
    pub(crate) answered: BTreeMap<Prefix, BTreeSet<Peer>>,
    pub(crate) limiter: RateLimiter,
    pub(crate) resolution_limiter: SourceLimiter,
    next_id: u32,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    pub(crate) stats: Stats,
}

impl Engine {
    /// A new engine. The RNG only seeds the request-ID counter.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new<R: RngCore + CryptoRng>(
        config: Config,
        rng: &mut R,
        _now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            cache: Cache::new(config.cache_limit),
            limiter: RateLimiter::new(config.rate_limit),
            resolution_limiter: SourceLimiter::new(config.resolution_limit),
            cfg: config,
            routes: BTreeMap::new(),
            shortcuts: BTreeMap::new(),
            pending: BTreeMap::new(),
            answered: BTreeMap::new(),
            next_id: rng.next_u32() | 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    // ---- (A) getters -------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }
    /// Installed shortcuts.
    pub fn shortcuts(&self) -> impl Iterator<Item = (&Prefix, &Shortcut)> {
        self.shortcuts.iter()
    }
    /// The shortcut covering `dst`, longest first.
    pub fn shortcut_for(&self, dst: Ipv4Addr) -> Option<(Prefix, Shortcut)> {
        self.shortcuts
            .iter()
            .filter(|(p, _)| p.contains(dst))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, s)| (*p, *s))
    }
    /// Number of outstanding resolution requests.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }
    /// `show ip nhrp`.
    pub fn show(&self, now: Instant) -> String {
        self.cache.render(now, &self.cfg.interface)
    }

    // ---- (C) commands ------------------------------------------------------------------

    /// Sets the overlay route for `prefix` (fed from the router's RIB: BGP, static), used to
    /// send resolution requests towards the owner of a destination.
    pub fn set_route(&mut self, prefix: Prefix, via: Peer) {
        self.routes.insert(prefix, via);
    }

    /// Removes an overlay route.
    pub fn remove_route(&mut self, prefix: &Prefix) {
        self.routes.remove(prefix);
    }

    /// Records a client known from the tunnel layer (a FlexVPN session with this overlay
    /// address and NBMA address): a static, authoritative cache entry. A server answers
    /// resolution requests for it.
    ///
    /// # Errors
    /// [`ApiError::CacheFull`] when the cache is full of static entries.
    pub fn add_peer(&mut self, now: Instant, peer: Peer) -> Result<(), ApiError> {
        let e = CacheEntry {
            prefix: Prefix::host(peer.proto),
            kind: EntryType::Static,
            next_hop: Some(peer.proto),
            nbma: Some(peer.nbma),
            created: now,
            expires: None,
            flags: EntryFlags {
                authoritative: true,
                router: true,
                ..EntryFlags::default()
            },
        };
        self.cache_insert(e)
    }

    /// Forgets a client added with [`Engine::add_peer`] or registered.
    ///
    /// # Errors
    /// [`ApiError::NoSuchEntry`].
    pub fn remove_peer(&mut self, _now: Instant, proto: Ipv4Addr) -> Result<(), ApiError> {
        self.cache
            .remove(&Prefix::host(proto))
            .map(|_| ())
            .ok_or(ApiError::NoSuchEntry)
    }

    // ---- (B) input ---------------------------------------------------------------------

    /// An NHRP packet arrived in GRE from NBMA address `from`.
    ///
    /// # Errors
    /// The packet was dropped or answered with an Error Indication; the engine is unchanged
    /// apart from counters.
    pub fn handle_nhrp(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        bytes: &[u8],
    ) -> Result<(), InputError> {
        self.stats.rx_packets += 1;
        let pkt = match Packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.stats.rx_malformed += 1;
                self.answer_malformed(from, bytes, &e);
                return Err(e.into());
            }
        };
        let r = self.dispatch(now, from, pkt);
        if r.is_err() {
            self.stats.rx_dropped += 1;
        }
        r
    }

    fn dispatch(&mut self, now: Instant, from: Ipv4Addr, pkt: Packet) -> Result<(), InputError> {
        let kind = match &pkt.mandatory.body {
            Body::Message(m) => m.kind,
            Body::ErrorIndication(e) => {
                let code = e.code;
                // An Error Indication goes to the source of the erroneous packet: a server
                // relays one addressed to someone else.
                if let Some(target) = pkt.mandatory.dst_proto.ipv4()
                    && target != self.cfg.proto
                {
                    return self.relay_toward(from, pkt, target, false);
                }
                self.on_error_indication(now, &pkt, code);
                return Ok(());
            }
            Body::TrafficIndication(_) => return self.on_traffic_indication(now, from, &pkt),
        };
        match kind {
            MessageKind::ResolutionRequest => self.on_resolution_request(now, from, pkt),
            MessageKind::ResolutionReply => self.on_resolution_reply(now, from, pkt),
            MessageKind::RegistrationRequest => self.on_registration_request(now, from, pkt),
            MessageKind::PurgeRequest => self.on_purge_request(now, from, &pkt),
            // Registration and purge replies only confirm; nothing waits for them.
            MessageKind::RegistrationReply | MessageKind::PurgeReply => Ok(()),
        }
    }

    /// The router forwarded a data packet out of this NHRP interface. On a server with
    /// `redirect`, a packet that came in from a client on the same network and goes back out
    /// to it triggers a Traffic Indication to the client (rate-limited per source and
    /// destination). On a spoke it marks the shortcut in use, so it is refreshed before it
    /// expires.
    ///
    /// Returns true if a Traffic Indication was queued.
    pub fn handle_forwarded(&mut self, now: Instant, fwd: Forwarded<'_>) -> bool {
        let Some((src, dst)) = crate::wire::traffic_indication::ipv4_src_dst(fwd.packet) else {
            return false;
        };
        if let Some((_, s)) = self.shortcut_for(dst)
            && s.peer.nbma == fwd.egress.nbma
        {
            self.cache.mark_used(dst);
        }
        self.maybe_redirect(now, fwd, src, dst)
    }

    /// The tunnel to `nbma` went down: every shortcut through it is withdrawn at once and
    /// traffic falls back to the hub.
    pub fn handle_tunnel_down(&mut self, _now: Instant, nbma: Ipv4Addr) {
        let gone: Vec<Prefix> = self
            .shortcuts
            .iter()
            .filter(|(_, s)| s.peer.nbma == nbma)
            .map(|(p, _)| *p)
            .collect();
        for p in gone {
            self.withdraw(&p, false);
        }
        self.cache.remove_via(nbma);
    }

    /// Timers: expiry of cache entries and shortcuts, retries of resolution requests,
    /// refreshes of used shortcuts. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        for e in self.cache.expire(now) {
            if self.shortcuts.contains_key(&e.prefix) {
                self.withdraw(&e.prefix, true);
            }
        }
        let expired: Vec<Prefix> = self
            .shortcuts
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in expired {
            self.withdraw(&p, true);
        }
        self.spoke_timers(now);
    }

    // ---- (D) output --------------------------------------------------------------------

    /// The next NHRP packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Engine::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.cache.next_expiry();
        let mut min = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        for s in self.shortcuts.values() {
            min(s.expires);
            if s.refreshing.is_none() {
                min(s.refresh_at);
            }
        }
        for p in self.pending.values() {
            min(p.retry_at.min(p.deadline));
        }
        t
    }

    // ---- shared helpers ----------------------------------------------------------------

    pub(crate) fn next_request_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    pub(crate) fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_QUEUE {
            self.stats.event_queue_full += 1;
        } else {
            self.events.push_back(e);
        }
    }

    pub(crate) fn send(&mut self, nbma: Ipv4Addr, pkt: &Packet) {
        match pkt.emit() {
            Ok(payload) => self.send_bytes(nbma, payload),
            Err(_) => self.stats.rx_dropped += 1,
        }
    }

    fn send_bytes(&mut self, nbma: Ipv4Addr, payload: Vec<u8>) {
        if self.transmits.len() >= MAX_QUEUE {
            self.stats.tx_queue_full += 1;
        } else {
            self.stats.tx_packets += 1;
            self.transmits.push_back(Transmit { nbma, payload });
        }
    }

    pub(crate) fn cache_insert(&mut self, e: CacheEntry) -> Result<(), ApiError> {
        let r = self.cache.insert(e);
        if r.is_err() {
            self.stats.cache_refused += 1;
        }
        if let Some(ev) = r? {
            self.stats.cache_evictions += 1;
            if self.shortcuts.contains_key(&ev.prefix) {
                self.withdraw(&ev.prefix, true);
            }
        }
        Ok(())
    }

    /// The overlay route for `dst` (longest prefix).
    pub(crate) fn route(&self, dst: Ipv4Addr) -> Option<Peer> {
        self.routes
            .iter()
            .filter(|(p, _)| p.contains(dst))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, v)| *v)
    }

    /// True if `peer` (by overlay or NBMA address) is a configured server.
    pub(crate) fn is_server(&self, proto: Ipv4Addr, nbma: Ipv4Addr) -> bool {
        self.cfg
            .servers
            .iter()
            .any(|s| s.proto == proto || s.nbma == nbma)
    }

    /// A CIE describing this node, for transit records and the responder address.
    pub(crate) fn self_cie(&self, prefix_len: u8) -> Cie {
        Cie::new(
            prefix_len,
            self.cfg.mtu,
            self.cfg.holding_secs(),
            Some(self.cfg.nbma),
            Some(self.cfg.proto),
        )
    }

    /// The header of a packet this node originates.
    pub(crate) fn own_header(&self) -> FixedHeader {
        FixedHeader::ipv4(self.cfg.hop_count)
    }

    /// The standard request extensions, as FRR nhrpd and Cisco send them: Responder Address,
    /// Forward and Reverse Transit NHS Record (compulsory, empty), Cisco NAT Address, End.
    pub fn standard_request_extensions() -> Vec<Extension> {
        vec![
            Extension::compulsory(ExtValue::ResponderAddress(Vec::new())),
            Extension::compulsory(ExtValue::ForwardTransitNhs(Vec::new())),
            Extension::compulsory(ExtValue::ReverseTransitNhs(Vec::new())),
            Extension::optional(ExtValue::NatAddress(Vec::new())),
            Extension::compulsory(ExtValue::End),
        ]
    }

    /// Removes a shortcut (and its cache entry) and tells the router.
    pub(crate) fn withdraw(&mut self, prefix: &Prefix, drop_cache: bool) {
        let Some(s) = self.shortcuts.remove(prefix) else {
            return;
        };
        if drop_cache {
            self.cache.remove(prefix);
        }
        self.pending.retain(|_, p| p.refresh_of != Some(*prefix));
        self.push_event(Event::WithdrawShortcut {
            prefix: *prefix,
            next_hop: s.peer.proto,
            nbma: s.peer.nbma,
        });
        if !self.shortcuts.values().any(|o| o.peer.nbma == s.peer.nbma) {
            self.push_event(Event::TunnelUnused { nbma: s.peer.nbma });
        }
    }

    /// Sends an Error Indication about `offending` (RFC 2332 §5.2.7) to `to`.
    pub(crate) fn send_error(
        &mut self,
        to: Ipv4Addr,
        dst_proto: Address,
        code: ErrorCode,
        offset: u16,
        offending: &[u8],
    ) {
        let n = offending.len().min(MAX_ERROR_QUOTE);
        let pkt = Packet {
            header: self.own_header(),
            mandatory: Mandatory {
                src_nbma: self.cfg.nbma.into(),
                src_nbma_sub: Address::empty(),
                src_proto: self.cfg.proto.into(),
                dst_proto,
                body: Body::ErrorIndication(ErrorIndication {
                    unused: 0,
                    code,
                    offset,
                    contents: offending.get(..n).unwrap_or_default().to_vec(),
                }),
            },
            extensions: None,
        };
        self.stats.error_indications_sent += 1;
        self.send(to, &pkt);
    }

    fn answer_malformed(&mut self, from: Ipv4Addr, bytes: &[u8], e: &WireError) {
        let Some(code) = e.error_code() else {
            return;
        };
        // Never answer an Error Indication with one (RFC 2332 §5.2.7).
        let view = FixedHeaderView::new_unchecked(bytes);
        if view.packet_type() == PacketType::ERROR_INDICATION.0 {
            return;
        }
        let dst = peek_src_proto(bytes);
        self.send_error(from, dst, code, e.offset(), bytes);
    }

    pub(crate) fn error_about(&mut self, from: Ipv4Addr, pkt: &Packet, code: ErrorCode) {
        let bytes = pkt.emit().unwrap_or_default();
        self.send_error(from, pkt.mandatory.src_proto.clone(), code, 0, &bytes);
    }

    fn on_error_indication(&mut self, now: Instant, pkt: &Packet, code: ErrorCode) {
        self.push_event(Event::ErrorIndicationReceived {
            from: pkt.mandatory.src_proto.ipv4(),
            code,
        });
        // If it is about one of our requests, that resolution failed.
        if let Body::ErrorIndication(ei) = &pkt.mandatory.body
            && let Ok(orig) = Packet::parse(&ei.contents)
            && let Body::Message(m) = &orig.mandatory.body
            && m.kind == MessageKind::ResolutionRequest
        {
            self.fail_pending(now, m.request_id);
        }
    }

    /// A message of `kind` copying the addresses of `req`.
    pub(crate) fn reply_to(
        &self,
        req: &Packet,
        msg: &Message,
        kind: MessageKind,
        flags: u16,
        cies: Vec<Cie>,
    ) -> Packet {
        Packet {
            header: FixedHeader {
                hop_count: self.cfg.hop_count,
                ..req.header
            },
            mandatory: Mandatory {
                src_nbma: req.mandatory.src_nbma.clone(),
                src_nbma_sub: req.mandatory.src_nbma_sub.clone(),
                src_proto: req.mandatory.src_proto.clone(),
                dst_proto: req.mandatory.dst_proto.clone(),
                body: Body::Message(Message {
                    kind,
                    flags,
                    request_id: msg.request_id,
                    cies,
                }),
            },
            extensions: req.extensions.clone(),
        }
    }

    /// Appends this node to the transit record `ty` of `pkt`, if the packet has one.
    pub(crate) fn append_transit(&self, pkt: &mut Packet, ty: ExtensionType) {
        let cie = self.self_cie(32);
        if let Some(c) = pkt.extension_mut(ty).and_then(|e| e.value.cies_mut()) {
            c.push(cie);
        }
    }

    /// True if this node is already in the Forward Transit NHS Record.
    pub(crate) fn in_forward_record(&self, pkt: &Packet) -> bool {
        let me = Address::from(self.cfg.proto);
        pkt.extension(ExtensionType::FORWARD_TRANSIT_NHS)
            .and_then(|e| e.value.cies())
            .is_some_and(|c| c.iter().any(|x| x.proto == me))
    }
}

/// Best effort: the source protocol address of a packet that did not parse.
fn peek_src_proto(bytes: &[u8]) -> Address {
    let v = FixedHeaderView::new_unchecked(bytes);
    let Some(&len) = bytes.get(crate::wire::fixed::LEN) else {
        return Address::empty();
    };
    let start = crate::wire::fixed::LEN + 8 + v.shtl_len() + v.sstl_len();
    bytes
        .get(start..start + usize::from(len))
        .map(|s| Address(s.to_vec()))
        .unwrap_or_default()
}

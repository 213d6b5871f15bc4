//! Many IKE SAs behind one UDP port pair (500 and the NAT-T port): SPI demultiplexing,
//! stateless answers (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN), the half-open
//! limit, cookie secret rotation and the responder's address pool.

use core::net::{Ipv4Addr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use crate::config::{AddressPool, EndpointConfig, PeerConfig, ResponderConfig};
use crate::crypto::{CookieSecret, DhGroup};
use crate::error::{ApiError, InputError};
use crate::event::{DeleteReason, Event, SaHandle, Transmit};
use crate::sa::fsm::{Ctx, Req};
use crate::sa::{Sa, SaState, proposal};

/// The engine context an SA handler needs, built from the endpoint's fields (a macro rather
/// than a method, so that an SA borrowed from `self.sas` can be handled at the same time).
macro_rules! ctx {
    ($ep:expr) => {
        Ctx {
            rng: &mut $ep.rng,
            out: &mut $ep.out,
            key_log: &*$ep.config.key_log,
            pool: &mut $ep.pool,
            nat_port: $ep.config.nat_port,
        }
    };
}
use crate::wire::{
    self, Datagram4500, ExchangeType, Flags, Header, Identification, Message, Notify, NotifyType,
    Payload,
};

/// Counters. Every dropped or statelessly answered datagram increments one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams given to `handle_datagram`.
    pub datagrams_in: u64,
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Messages for no known SA.
    pub unknown_sa: u64,
    /// SK payloads that failed their integrity check.
    pub integrity_failures: u64,
    /// Messages outside the message-ID window.
    pub out_of_window: u64,
    /// NAT-keepalives and ESP packets seen on the NAT-T port.
    pub not_ike: u64,
    /// COOKIE challenges sent.
    pub cookies_sent: u64,
    /// INVALID_KE_PAYLOAD answers sent.
    pub invalid_ke_sent: u64,
    /// NO_PROPOSAL_CHOSEN answers to IKE_SA_INIT sent.
    pub no_proposal_sent: u64,
    /// IKE_SA_INIT requests dropped at the half-open limit.
    pub half_open_refused: u64,
    /// IKE_SA_INIT requests redirected (RFC 5685).
    pub redirects_sent: u64,
    /// Retransmitted IKE_SA_INIT requests answered from the half-open SA.
    pub init_replays: u64,
    /// IKE_SA_INIT requests dropped because they belong to an SA already past
    /// IKE_SA_INIT: its SPIs, or a late copy of the request that created it (also counted
    /// in `out_of_window`).
    pub init_for_established: u64,
    /// Exchanges that failed.
    pub exchange_failures: u64,
    /// Transmits dropped because the queue was full.
    pub transmits_dropped: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
}

/// Bounded output queues.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    limit: usize,
    transmits_dropped: u64,
    events_dropped: u64,
}

impl Outbox {
    pub(crate) fn transmit(&mut self, t: Transmit) {
        if self.transmits.len() >= self.limit {
            self.transmits_dropped += 1;
        } else {
            self.transmits.push_back(t);
        }
    }
    pub(crate) fn event(&mut self, e: Event) {
        if self.events.len() >= self.limit {
            self.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }
}

/// The responder's address pool state.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    range: Option<AddressPool>,
    used: BTreeMap<Ipv4Addr, SaHandle>,
    by_sa: BTreeMap<SaHandle, Ipv4Addr>,
    used6: BTreeMap<core::net::Ipv6Addr, SaHandle>,
    by_sa6: BTreeMap<SaHandle, core::net::Ipv6Addr>,
    /// How many addresses from the start of the range were ever handed out: every
    /// address below `first + issued` is either in `used` or in `returned`.
    issued: u64,
    /// Addresses handed out and given back, below `first + issued`.
    returned: BTreeSet<Ipv4Addr>,
}

impl Pool {
    pub(crate) fn configured(&self) -> bool {
        self.range.is_some()
    }

    /// The lowest free address.
    pub(crate) fn allocate(&mut self, sa: SaHandle, _peer: &Identification) -> Option<Ipv4Addr> {
        if let Some(a) = self.by_sa.get(&sa) {
            return Some(*a);
        }
        let r = self.range.as_ref()?;
        // The lowest free address is the lowest returned one, else the next never
        // issued: O(log n), where a scan of the range made a hub's handshake cost grow
        // with the number of SAs it holds.
        let a = match self.returned.pop_first() {
            Some(a) => a,
            None => {
                let (first, last) = (
                    u64::from(u32::from(r.first())),
                    u64::from(u32::from(r.last())),
                );
                let next = first + self.issued;
                if next > last {
                    return None;
                }
                self.issued += 1;
                Ipv4Addr::from(u32::try_from(next).ok()?)
            }
        };
        self.used.insert(a, sa);
        self.by_sa.insert(sa, a);
        Some(a)
    }

    /// The lowest free address of `range` (IPv6 pools are large: only as many addresses
    /// as are in use, plus one, are looked at).
    pub(crate) fn allocate6(
        &mut self,
        sa: SaHandle,
        range: &crate::config::AddressPool6,
    ) -> Option<core::net::Ipv6Addr> {
        if let Some(a) = self.by_sa6.get(&sa) {
            return Some(*a);
        }
        let (first, last) = (u128::from(range.first()), u128::from(range.last()));
        let span = u128::try_from(self.used6.len()).ok()?.saturating_add(1);
        let a = (first..=last.min(first.saturating_add(span)))
            .map(core::net::Ipv6Addr::from)
            .find(|a| !self.used6.contains_key(a))?;
        self.used6.insert(a, sa);
        self.by_sa6.insert(sa, a);
        Some(a)
    }

    pub(crate) fn release(&mut self, sa: SaHandle) {
        if let Some(a) = self.by_sa.remove(&sa) {
            self.used.remove(&a);
            self.returned.insert(a);
        }
        if let Some(a) = self.by_sa6.remove(&sa) {
            self.used6.remove(&a);
        }
    }

    fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// A snapshot of one IKE SA for `show` commands and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaInfo {
    /// `InitSent`, `AuthSent`, `InitReplied` (half-open) or `Established`.
    pub state: &'static str,
    /// Initiator SPI.
    pub spi_i: u64,
    /// Responder SPI.
    pub spi_r: u64,
    /// True when we are the original initiator of the current IKE SA.
    pub initiator: bool,
    /// Our IKE address.
    pub local: SocketAddr,
    /// The peer's IKE address.
    pub remote: SocketAddr,
    /// The authenticated peer identity.
    pub peer_id: Option<Identification>,
    /// The assigned address.
    pub assigned_address: Option<Ipv4Addr>,
    /// (spi_in, spi_out) of each Child SA.
    pub children: Vec<(u32, u32)>,
}

/// Many IKE SAs behind one port pair. See the crate docs for the run loop.
pub struct Endpoint<R> {
    /// The configuration, its `responder` moved to [`Endpoint::responder`].
    config: EndpointConfig,
    /// `config.responder`, shared with every SA it accepts (no copy per SA).
    responder: Option<Arc<ResponderConfig>>,
    rng: R,
    sas: BTreeMap<SaHandle, Sa>,
    by_spi: BTreeMap<u64, SaHandle>,
    spis_of: BTreeMap<SaHandle, Vec<u64>>,
    half_open: BTreeMap<(SocketAddr, u64), SaHandle>,
    half_open_of: BTreeMap<SaHandle, (SocketAddr, u64)>,
    /// (peer address, SPIi) of the IKE_SA_INIT request that created each responder SA,
    /// kept while the SA lives so that late copies of it create nothing.
    init_key_of: BTreeMap<SaHandle, (SocketAddr, u64)>,
    init_keys: BTreeMap<(SocketAddr, u64), SaHandle>,
    timers: BTreeSet<(Instant, SaHandle)>,
    timer_of: BTreeMap<SaHandle, Instant>,
    pool: Pool,
    cookie: CookieSecret,
    cookie_prev: Option<CookieSecret>,
    cookie_rotate_at: Instant,
    out: Outbox,
    stats: Stats,
    next_handle: u64,
}

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// A new endpoint.
    pub fn new(mut config: EndpointConfig, mut rng: R, now: Instant) -> Self {
        let cookie = CookieSecret::generate(1, &mut rng);
        let responder = config.responder.take().map(Arc::new);
        let pool = Pool {
            range: responder.as_ref().and_then(|r| r.pool.clone()),
            ..Pool::default()
        };
        let limit = config.queue_limit;
        Self {
            cookie_rotate_at: now + config.cookie_rotation,
            config,
            responder,
            rng,
            sas: BTreeMap::new(),
            by_spi: BTreeMap::new(),
            spis_of: BTreeMap::new(),
            half_open: BTreeMap::new(),
            half_open_of: BTreeMap::new(),
            init_key_of: BTreeMap::new(),
            init_keys: BTreeMap::new(),
            timers: BTreeSet::new(),
            timer_of: BTreeMap::new(),
            pool,
            cookie,
            cookie_prev: None,
            out: Outbox {
                limit,
                ..Outbox::default()
            },
            stats: Stats::default(),
            next_handle: 1,
        }
    }

    /// Handles one received UDP datagram. `local` is the address it arrived on; on the
    /// NAT-T port the non-ESP marker is expected (ESP and keepalives give
    /// [`InputError::NotIke`]).
    ///
    /// # Errors
    /// An [`InputError`] says why the datagram was dropped or answered statelessly. The
    /// endpoint and its established SAs are unchanged by an error.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Result<(), InputError> {
        self.stats.datagrams_in += 1;
        let r = self.datagram(now, local, remote, data);
        if let Err(e) = &r {
            match e {
                InputError::Wire(_) => self.stats.malformed += 1,
                InputError::UnknownSa => self.stats.unknown_sa += 1,
                InputError::OutOfWindow => self.stats.out_of_window += 1,
                InputError::Integrity => self.stats.integrity_failures += 1,
                InputError::NotIke => self.stats.not_ike += 1,
                InputError::Exchange(_) => self.stats.exchange_failures += 1,
                InputError::HalfOpenLimit => self.stats.half_open_refused += 1,
                InputError::Answered => {}
            }
        }
        self.sync_stats();
        r
    }

    fn datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Result<(), InputError> {
        let ike = if local.port() == self.config.nat_port {
            match wire::classify_4500(data) {
                Datagram4500::Ike(m) => m,
                _ => return Err(InputError::NotIke),
            }
        } else {
            data
        };
        let msg = match Message::parse(ike) {
            Ok(m) => m,
            Err(e) => {
                self.answer_unparsable(local, remote, ike, e);
                return Err(e.into());
            }
        };
        let h = msg.header;
        if h.exchange == ExchangeType::IKE_SA_INIT
            && !h.is_response()
            && h.spi_r == 0
            && h.flags.initiator()
        {
            return self.init_request(now, local, remote, ike, &msg);
        }
        let ours = if h.flags.initiator() {
            h.spi_r
        } else {
            h.spi_i
        };
        let handle = *self.by_spi.get(&ours).ok_or(InputError::UnknownSa)?;
        let sa = self.sas.get_mut(&handle).ok_or(InputError::UnknownSa)?;
        if h.exchange == ExchangeType::IKE_SA_INIT && !sa.is_pre_auth_initiator() {
            // IKE_SA_INIT has message ID 0 and is over once the SA has keys: a copy
            // carrying its SPIs is stale or forged (RFC 7296 section 2.2).
            self.stats.init_for_established += 1;
            return Err(InputError::OutOfWindow);
        }
        let mut ctx = ctx!(self);
        let r = sa.handle(now, &mut ctx, ike, &msg, local, remote);
        let redirect = sa
            .gateway_redirect
            .take()
            .and_then(|(from, to)| sa.redirect_config(to).map(|pc| (from, to, pc)));
        self.settle(handle);
        if let Some((from, to, pc)) = redirect {
            self.follow_gateway_redirect(now, handle, from, to, pc);
        }
        r
    }

    /// RFC 5685 section 5: the gateway of `old` sent us to `to`; connect there.
    fn follow_gateway_redirect(
        &mut self,
        now: Instant,
        old: SaHandle,
        from: core::net::IpAddr,
        to: core::net::IpAddr,
        pc: PeerConfig,
    ) {
        let handle = self.new_handle();
        let mut ctx = ctx!(self);
        match Sa::connect(handle, pc, now, &mut ctx, Some(from)) {
            Ok(sa) => {
                self.sas.insert(handle, sa);
                self.out.event(Event::GatewayRedirect {
                    sa: old,
                    new_sa: handle,
                    from,
                    to,
                });
                self.settle(handle);
            }
            Err(e) => self.out.event(Event::IkeSaFailed {
                sa: handle,
                reason: e,
            }),
        }
    }

    /// RFC 7296 section 2.5: an IKE_SA_INIT request with an unknown critical payload or a
    /// newer major version is answered statelessly with the notify of the error.
    fn answer_unparsable(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        ike: &[u8],
        e: crate::WireError,
    ) {
        if !matches!(
            e,
            crate::WireError::UnsupportedCritical(_) | crate::WireError::InvalidMajorVersion(_)
        ) || self.responder.is_none()
        {
            return;
        }
        // The header fields, read without the version check.
        let mut r = wire::Reader::new(ike);
        let (Ok(spi_i), Ok(_), Ok(_), Ok(_), Ok(exchange), Ok(flags)) = (
            r.u64("hdr"),
            r.u64("hdr"),
            r.u8("hdr"),
            r.u8("hdr"),
            r.u8("hdr"),
            r.u8("hdr"),
        ) else {
            return;
        };
        if ExchangeType(exchange) == ExchangeType::IKE_SA_INIT && flags & Flags::RESPONSE == 0 {
            self.stateless(
                local,
                remote,
                spi_i,
                Notify::new(e.notify(), e.notify_data()),
            );
        }
    }

    fn stateless(&mut self, local: SocketAddr, remote: SocketAddr, spi_i: u64, n: Notify) {
        let msg = Message {
            header: Header {
                spi_i,
                spi_r: 0,
                minor_version: 0,
                exchange: ExchangeType::IKE_SA_INIT,
                flags: Flags::new(false, true),
                message_id: 0,
            },
            payloads: vec![Payload::Notify(n)],
        };
        if let Ok(bytes) = msg.emit() {
            let payload = if local.port() == self.config.nat_port {
                wire::prepend_non_esp_marker(&bytes)
            } else {
                bytes
            };
            self.out.transmit(Transmit {
                local,
                remote,
                payload,
            });
        }
    }

    fn init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        raw: &[u8],
        msg: &Message,
    ) -> Result<(), InputError> {
        let Some(rcfg) = self.responder.clone() else {
            return Err(InputError::UnknownSa);
        };
        let spi_i = msg.header.spi_i;
        // RFC 7296 section 2.1: a retransmitted request gets the same response.
        if let Some(h) = self.half_open.get(&(remote, spi_i))
            && let Some(resp) = self.sas.get(h).and_then(Sa::init_response)
        {
            let payload = if local.port() == self.config.nat_port {
                wire::prepend_non_esp_marker(resp)
            } else {
                resp.to_vec()
            };
            self.out.transmit(Transmit {
                local,
                remote,
                payload,
            });
            self.stats.init_replays += 1;
            return Ok(());
        }
        if self.init_keys.contains_key(&(remote, spi_i)) {
            // A late copy of the request of an SA that is past IKE_SA_INIT.
            self.stats.init_for_established += 1;
            return Err(InputError::OutOfWindow);
        }
        if self.half_open.len() >= self.config.half_open_limit {
            return Err(InputError::HalfOpenLimit);
        }
        let (mut sa_p, mut ke, mut ni) = (None, None, None);
        for p in &msg.payloads {
            match p {
                Payload::Sa(s) => sa_p = sa_p.or(Some(s)),
                Payload::Ke(k) => ke = ke.or(Some(k)),
                Payload::Nonce(n) => ni = ni.or(Some(n)),
                _ => {}
            }
        }
        let (Some(sa_p), Some(ke), Some(ni)) = (sa_p, ke, ni) else {
            return Err(InputError::Exchange(crate::Error::Protocol(
                "IKE_SA_INIT without SA, KE or Ni",
            )));
        };
        // RFC 5685 section 4.2: redirect at IKE_SA_INIT, statelessly.
        if let Some(gw) = self.config.redirect_to
            && msg
                .payloads
                .iter()
                .any(|p| matches!(p, Payload::Notify(n) if n.ty == NotifyType::REDIRECT_SUPPORTED))
        {
            let mut data = crate::sa::fsm::gw_ident(gw);
            data.extend_from_slice(ni);
            self.stateless(
                local,
                remote,
                spi_i,
                Notify::new(NotifyType::REDIRECT, data),
            );
            self.stats.redirects_sent += 1;
            return Err(InputError::Answered);
        }
        // Cookies (RFC 7296 section 2.6), with a rotating secret.
        if now >= self.cookie_rotate_at {
            let v = self.cookie.version().wrapping_add(1);
            let next = CookieSecret::generate(v, &mut self.rng);
            self.cookie_prev = Some(core::mem::replace(&mut self.cookie, next));
            self.cookie_rotate_at = now + self.config.cookie_rotation;
        }
        if self.half_open.len() >= self.config.cookie_threshold {
            let got = match msg.payloads.first() {
                Some(Payload::Notify(n)) if n.ty == NotifyType::COOKIE => Some(&n.data),
                _ => None,
            };
            let ok = got.is_some_and(|c| {
                self.cookie.verify(c, ni, remote.ip(), spi_i)
                    || self
                        .cookie_prev
                        .as_ref()
                        .is_some_and(|p| p.verify(c, ni, remote.ip(), spi_i))
            });
            if !ok {
                let c = self.cookie.cookie(ni, remote.ip(), spi_i);
                self.stateless(local, remote, spi_i, Notify::new(NotifyType::COOKIE, c));
                self.stats.cookies_sent += 1;
                return Err(InputError::Answered);
            }
        }
        let Some(choice) = proposal::choose_ike(sa_p, &rcfg.policy.ike_proposals, Some(ke.group.0))
        else {
            self.stateless(
                local,
                remote,
                spi_i,
                Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
            self.stats.no_proposal_sent += 1;
            return Err(InputError::Answered);
        };
        if choice.1.dh.transform_id() != ke.group.0
            || DhGroup::from_transform_id(ke.group.0).is_none()
        {
            // RFC 7296 section 1.2: tell the initiator which group to use.
            self.stateless(
                local,
                remote,
                spi_i,
                Notify::new(
                    NotifyType::INVALID_KE_PAYLOAD,
                    choice.1.dh.transform_id().to_be_bytes().to_vec(),
                ),
            );
            self.stats.invalid_ke_sent += 1;
            return Err(InputError::Answered);
        }
        let handle = self.new_handle();
        let mut ctx = ctx!(self);
        let sa = Sa::accept(
            handle,
            raw,
            msg,
            choice,
            local,
            remote,
            &rcfg,
            self.config.half_open_timeout,
            now,
            &mut ctx,
        )
        .map_err(InputError::Exchange)?;
        self.sas.insert(handle, sa);
        self.half_open.insert((remote, spi_i), handle);
        self.half_open_of.insert(handle, (remote, spi_i));
        self.init_keys.insert((remote, spi_i), handle);
        self.init_key_of.insert(handle, (remote, spi_i));
        self.settle(handle);
        Ok(())
    }

    fn new_handle(&mut self) -> SaHandle {
        let h = SaHandle(self.next_handle);
        self.next_handle += 1;
        h
    }

    /// Brings the indexes in line with the SA after it ran.
    fn settle(&mut self, handle: SaHandle) {
        if let Some(at) = self.timer_of.remove(&handle) {
            self.timers.remove(&(at, handle));
        }
        let Some(sa) = self.sas.get_mut(&handle) else {
            return;
        };
        let closed = sa.is_closed();
        let half_open = sa.is_half_open();
        let initial_contact = core::mem::take(&mut sa.got_initial_contact);
        // The identity is only needed (and cloned) when INITIAL_CONTACT came in.
        let peer = if initial_contact {
            sa.established().map(|e| e.peer_id.clone())
        } else {
            None
        };
        let spis = if closed { Vec::new() } else { sa.our_spis() };
        let next = sa.next_timeout();
        if !half_open && let Some(k) = self.half_open_of.remove(&handle) {
            self.half_open.remove(&k);
        }
        for old in self.spis_of.remove(&handle).unwrap_or_default() {
            if self.by_spi.get(&old) == Some(&handle) {
                self.by_spi.remove(&old);
            }
        }
        for s in &spis {
            self.by_spi.insert(*s, handle);
        }
        if closed {
            if let Some(k) = self.init_key_of.remove(&handle) {
                self.init_keys.remove(&k);
            }
            self.sas.remove(&handle);
            self.pool.release(handle);
            return;
        }
        self.spis_of.insert(handle, spis);
        if let Some(at) = next {
            self.timers.insert((at, handle));
            self.timer_of.insert(handle, at);
        }
        // RFC 7296 section 2.4: INITIAL_CONTACT deletes the other SAs of this identity.
        if initial_contact && let Some(peer) = peer {
            let others: Vec<SaHandle> = self
                .sas
                .iter()
                .filter(|(h, s)| {
                    **h != handle && s.established().is_some_and(|e| e.peer_id == peer)
                })
                .map(|(h, _)| *h)
                .collect();
            for h in others {
                if let Some(sa) = self.sas.get_mut(&h) {
                    let mut ctx = ctx!(self);
                    sa.abort(&mut ctx, DeleteReason::InitialContact);
                }
                self.settle(h);
            }
        }
    }

    /// Runs every timer that is due. Idempotent: an early or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, handle)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, handle));
            self.timer_of.remove(&handle);
            if let Some(sa) = self.sas.get_mut(&handle) {
                let mut ctx = ctx!(self);
                sa.handle_timeout(now, &mut ctx);
            }
            self.settle(handle);
        }
        self.sync_stats();
    }

    /// Starts an IKE SA as initiator (sends IKE_SA_INIT).
    ///
    /// # Errors
    /// [`ApiError::Config`] when the policy is invalid.
    pub fn connect(&mut self, now: Instant, peer: PeerConfig) -> Result<SaHandle, ApiError> {
        peer.policy.validate()?;
        let handle = self.new_handle();
        let mut ctx = ctx!(self);
        let sa = Sa::connect(handle, peer, now, &mut ctx, None)
            .map_err(|_| ApiError::Config("cannot build IKE_SA_INIT"))?;
        self.sas.insert(handle, sa);
        self.settle(handle);
        Ok(handle)
    }

    fn command(&mut self, now: Instant, handle: SaHandle, req: Req) -> Result<(), ApiError> {
        let sa = self.sas.get_mut(&handle).ok_or(ApiError::UnknownHandle)?;
        let mut ctx = ctx!(self);
        let ok = sa.queue(now, &mut ctx, req);
        self.settle(handle);
        if ok {
            Ok(())
        } else {
            Err(ApiError::WrongState)
        }
    }

    /// Deletes the IKE SA (an INFORMATIONAL Delete when established, at once otherwise).
    ///
    /// # Errors
    /// [`ApiError::UnknownHandle`].
    pub fn close(&mut self, now: Instant, handle: SaHandle) -> Result<(), ApiError> {
        let sa = self.sas.get_mut(&handle).ok_or(ApiError::UnknownHandle)?;
        if sa.established().is_some() {
            return self.command(now, handle, Req::DeleteIke);
        }
        let mut ctx = ctx!(self);
        sa.abort(&mut ctx, DeleteReason::Local);
        self.settle(handle);
        Ok(())
    }

    /// Sends a liveness check now (on-demand DPD).
    ///
    /// # Errors
    /// [`ApiError::UnknownHandle`], [`ApiError::WrongState`] before establishment.
    pub fn dpd(&mut self, now: Instant, handle: SaHandle) -> Result<(), ApiError> {
        self.command(now, handle, Req::Dpd)
    }

    /// Rekeys the Child SA whose inbound SPI is `spi_in` (CREATE_CHILD_SA).
    ///
    /// # Errors
    /// As [`Self::dpd`].
    pub fn rekey_child(
        &mut self,
        now: Instant,
        handle: SaHandle,
        spi_in: u32,
    ) -> Result<(), ApiError> {
        self.command(now, handle, Req::RekeyChild(spi_in))
    }

    /// Gateway: asks the peer of an established SA we responded to, which announced
    /// redirect support, to move to the gateway `to` (RFC 5685 section 5: an INFORMATIONAL
    /// with REDIRECT). The peer then deletes this SA.
    ///
    /// # Errors
    /// [`ApiError::UnknownHandle`]; [`ApiError::WrongState`] when the SA is not established,
    /// was initiated by us, or the peer did not announce redirect support.
    pub fn redirect(
        &mut self,
        now: Instant,
        handle: SaHandle,
        to: core::net::IpAddr,
    ) -> Result<(), ApiError> {
        let sa = self.sas.get(&handle).ok_or(ApiError::UnknownHandle)?;
        if sa.connected_by_us || !sa.peer_redirect || sa.established().is_none() {
            return Err(ApiError::WrongState);
        }
        self.command(now, handle, Req::Redirect(to))
    }

    /// Rekeys the IKE SA (CREATE_CHILD_SA with a new KE).
    ///
    /// # Errors
    /// As [`Self::dpd`].
    pub fn rekey_ike(&mut self, now: Instant, handle: SaHandle) -> Result<(), ApiError> {
        self.command(now, handle, Req::RekeyIke)
    }

    /// Deletes one Child SA.
    ///
    /// # Errors
    /// As [`Self::dpd`].
    pub fn delete_child(
        &mut self,
        now: Instant,
        handle: SaHandle,
        spi_in: u32,
    ) -> Result<(), ApiError> {
        self.command(now, handle, Req::DeleteChild(spi_in))
    }

    /// Reports ESP traffic of the SA's Child SAs (for on-demand DPD): `sent` when packets
    /// went out, `received` when packets came in, since the last call.
    ///
    /// # Errors
    /// [`ApiError::UnknownHandle`].
    pub fn handle_traffic(
        &mut self,
        now: Instant,
        handle: SaHandle,
        sent: bool,
        received: bool,
    ) -> Result<(), ApiError> {
        let sa = self.sas.get_mut(&handle).ok_or(ApiError::UnknownHandle)?;
        sa.traffic(now, sent, received);
        self.settle(handle);
        Ok(())
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn sync_stats(&mut self) {
        self.stats.transmits_dropped = self.out.transmits_dropped;
        self.stats.events_dropped = self.out.events_dropped;
    }

    /// A snapshot of one SA.
    pub fn sa_info(&self, handle: SaHandle) -> Option<SaInfo> {
        let sa = self.sas.get(&handle)?;
        let state = match &sa.state {
            SaState::InitSent(_) => "InitSent",
            SaState::AuthSent(_) => "AuthSent",
            SaState::InitReplied(_) => "InitReplied",
            SaState::Established(_) => "Established",
            SaState::Closed => "Closed",
        };
        let est = sa.established();
        Some(SaInfo {
            state,
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            initiator: sa.initiator,
            local: sa.local,
            remote: sa.remote,
            peer_id: est.map(|e| e.peer_id.clone()),
            assigned_address: est.and_then(|e| e.assigned),
            children: est
                .map(|e| e.children.iter().map(|c| (c.spi_in, c.spi_out)).collect())
                .unwrap_or_default(),
        })
    }

    /// For the fuzzing harness and unit tests.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn sa_mut(&mut self, h: SaHandle) -> Option<&mut Sa> {
        self.sas.get_mut(&h)
    }

    /// Handles of all SAs.
    pub fn handles(&self) -> Vec<SaHandle> {
        self.sas.keys().copied().collect()
    }

    /// Number of half-open responder SAs.
    pub fn half_open(&self) -> usize {
        self.half_open.len()
    }

    /// Addresses of the pool in use.
    pub fn pool_in_use(&self) -> usize {
        self.pool.in_use()
    }
}

impl<R> core::fmt::Debug for Endpoint<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("sas", &self.sas.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    #[test]
    fn pool_hands_out_the_lowest_free_address_and_stops_at_the_end() {
        let first = Ipv4Addr::new(10, 1, 1, 100);
        let mut p = Pool {
            range: Some(AddressPool::new(first, Ipv4Addr::new(10, 1, 1, 103)).unwrap()),
            ..Pool::default()
        };
        let id = Identification::fqdn("spoke");
        let a: Vec<_> = (0..4).map(|i| p.allocate(SaHandle(i), &id)).collect();
        let want: Vec<_> = (100..104)
            .map(|o| Some(Ipv4Addr::new(10, 1, 1, o)))
            .collect();
        assert_eq!(a, want);
        assert_eq!(p.allocate(SaHandle(9), &id), None, "exhausted");
        // The same SA asking again keeps its address.
        assert_eq!(p.allocate(SaHandle(2), &id), want[2]);
        // Released addresses come back lowest first.
        p.release(SaHandle(2));
        p.release(SaHandle(0));
        assert_eq!(p.in_use(), 2);
        assert_eq!(p.allocate(SaHandle(10), &id), want[0]);
        assert_eq!(p.allocate(SaHandle(11), &id), want[2]);
        assert_eq!(p.allocate(SaHandle(12), &id), None);
        // Releasing an SA without an address changes nothing.
        p.release(SaHandle(99));
        assert_eq!(p.in_use(), 4);
    }

    #[test]
    fn pool_up_to_the_last_ipv4_address() {
        let mut p = Pool {
            range: Some(
                AddressPool::new(
                    Ipv4Addr::new(255, 255, 255, 254),
                    Ipv4Addr::new(255, 255, 255, 255),
                )
                .unwrap(),
            ),
            ..Pool::default()
        };
        let id = Identification::fqdn("spoke");
        assert_eq!(
            p.allocate(SaHandle(1), &id),
            Some(Ipv4Addr::new(255, 255, 255, 254))
        );
        assert_eq!(p.allocate(SaHandle(2), &id), Some(Ipv4Addr::BROADCAST));
        assert_eq!(p.allocate(SaHandle(3), &id), None);
    }
}

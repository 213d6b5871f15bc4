//! The sans-IO engine of one client block.
//!
//! ```text
//!   caller (router)                         Client                         caller (router)
//!   IKE layer: handle_session(Up/Down/..) --> fsm(state, event) --> poll_event: Action::Connect
//!   tracking:  handle_track(id, up)        -->   peers, sources,  -->            Action::Disconnect
//!   interfaces: handle_interface(if, up)   -->   timers           -->            Action::LineUp/Down
//!   resolver:  handle_resolved(name, a)    -->                    -->            Action::Resolve
//!   exec:      connect()/disconnect()      -->                    -->  Syslog(IOS log line)
//!   clock:     handle_timeout(now)         <-- poll_timeout()
//! ```
//!
//! Failover: the block holds at most one established session. When it is lost (session down,
//! peer track down, source down) the block tries the next possible peer in the list, wrapping
//! from the last to the first. Each peer that fails is held for a retry time that doubles on each
//! consecutive failure of that peer (capped at `retry_max`), so a dead hub is retried at growing
//! intervals and never hammered. With `peer reactivate`, a more preferred peer that has been
//! possible for its hold-down is probed make-before-break: the old session is disconnected only
//! once the new one is up.

use std::collections::{BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{ClientConfig, ConnectMode, PeerAddress};
use crate::error::ApiError;
use crate::fsm::{self, State};
use crate::group::BackupGroups;
use crate::syslog;
use crate::track::TrackTable;

/// Most events queued per block before further ones are dropped and counted
/// ([`Stats::event_overflow`]). One failover produces about ten.
pub const EVENT_QUEUE_CAP: usize = 64;

/// What the caller's IKE layer reports about a session with a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SessionEvent {
    /// The IKE SA and its Child SA are established.
    Up {
        /// Our public address used for the session (`Client_public_addr`).
        local: Ipv4Addr,
        /// The peer's IKE port (500, or 4500 after NAT traversal).
        peer_port: u16,
        /// The peer's IKE identity as IOS prints it (`Id:`).
        peer_id: String,
        /// The inner address the server assigned through the configuration payload.
        assigned_v4: Option<Ipv4Addr>,
    },
    /// An established session is gone.
    Down {
        /// Why.
        reason: DownReason,
    },
    /// A connection attempt failed (no answer, authentication failure, no proposal chosen...).
    ConnectFailed,
}

/// Why a session went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DownReason {
    /// DPD declared the peer dead.
    Dpd,
    /// A request was retransmitted until the budget ran out.
    RetransmitExhausted,
    /// The peer deleted the IKE SA.
    DeleteReceived,
    /// Anything else.
    Other,
}

/// What the block asks the caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start IKE with `peer` from interface `source` (the tunnel's dynamic destination).
    Connect {
        /// The peer's address.
        peer: Ipv4Addr,
        /// The outgoing interface.
        source: String,
    },
    /// Tear down the session or attempt with `peer`.
    Disconnect {
        /// The peer's address.
        peer: Ipv4Addr,
    },
    /// Bring the tunnel interface's line protocol up.
    LineUp,
    /// Bring the tunnel interface's line protocol down.
    LineDown,
    /// Resolve a `peer N fqdn` name and report with [`Client::handle_resolved`].
    Resolve {
        /// The name.
        name: String,
    },
}

/// Output of the block, drained with [`Client::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Something the caller must do.
    Action(Action),
    /// An IOS log line (without timestamp).
    Syslog(String),
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connection attempts started (including reactivation probes).
    pub connects: u64,
    /// Sessions established.
    pub established: u64,
    /// Established sessions lost, for any reason.
    pub sessions_lost: u64,
    /// Make-before-break switches back to a more preferred peer.
    pub reactivations: u64,
    /// Inputs that did not apply to the state and were ignored.
    pub ignored: u64,
    /// `Up` reports for sessions the block did not ask for (answered with a disconnect).
    pub stray_sessions: u64,
    /// Events dropped because the queue was full.
    pub event_overflow: u64,
}

/// What the block keeps about an established session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionInfo {
    pub(crate) local: Ipv4Addr,
    pub(crate) port: u16,
    pub(crate) id: String,
    pub(crate) assigned: Option<Ipv4Addr>,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) peer: usize,
    pub(crate) addr: Ipv4Addr,
    pub(crate) source: Option<usize>,
    pub(crate) info: SessionInfo,
    pub(crate) since: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) peer: usize,
    /// `None` while the name is being resolved.
    pub(crate) addr: Option<Ipv4Addr>,
    pub(crate) source: Option<usize>,
    /// A `peer reactivate` probe made while a session is held.
    pub(crate) mbb: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct PeerRt {
    pub(crate) resolved: Option<Ipv4Addr>,
    pub(crate) fails: u32,
    pub(crate) hold_until: Option<Instant>,
    pub(crate) possible: bool,
    /// When the peer last became possible or last failed: the start of its reactivation hold-down.
    pub(crate) last_change: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Timer {
    Start = 0,
    Retry = 1,
    ConnectTimeout = 2,
    Reactivate = 3,
}
const TIMERS: [Timer; 4] = [
    Timer::Start,
    Timer::Retry,
    Timer::ConnectTimeout,
    Timer::Reactivate,
];

/// One `crypto ikev2 client flexvpn NAME` block: a sans-IO engine.
///
/// Drive it with the `handle_*` methods and commands, then drain [`poll_event`](Self::poll_event)
/// until `None` and read [`poll_timeout`](Self::poll_timeout). See the crate documentation for
/// the run loop.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) cfg: Arc<ClientConfig>,
    pub(crate) owner: u32,
    pub(crate) state: State,
    pub(crate) manual_on: bool,
    pub(crate) peers: Box<[PeerRt]>,
    pub(crate) tracks: TrackTable,
    pub(crate) down_ifaces: BTreeSet<String>,
    pub(crate) session: Option<Session>,
    pub(crate) attempt: Option<Attempt>,
    pub(crate) cursor: usize,
    pub(crate) timers: [Option<Instant>; 4],
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
    pub(crate) own_groups: BackupGroups,
}

impl Client {
    /// Creates the block. It starts [`Inactive`](State::Inactive) and asks for a
    /// [`handle_timeout`](Self::handle_timeout) at `now`, where `connect auto` starts connecting.
    pub fn new(now: Instant, config: impl Into<Arc<ClientConfig>>) -> Self {
        Self::with_owner(now, config.into(), 0)
    }

    pub(crate) fn with_owner(now: Instant, cfg: Arc<ClientConfig>, owner: u32) -> Self {
        let peers = cfg
            .peers
            .iter()
            .map(|p| PeerRt {
                resolved: None,
                fails: 0,
                hold_until: None,
                possible: p.track_ref().is_none(),
                last_change: now,
            })
            .collect();
        Self {
            cfg,
            owner,
            state: State::Inactive,
            manual_on: false,
            peers,
            tracks: TrackTable::default(),
            down_ifaces: BTreeSet::new(),
            session: None,
            attempt: None,
            cursor: 0,
            timers: [Some(now), None, None, None],
            events: VecDeque::new(),
            stats: Stats::default(),
            own_groups: BackupGroups::default(),
        }
    }

    // ------------------------------------------------------------------ inputs

    /// The IKE layer reports on the session (or attempt) with `peer`.
    pub fn handle_session(&mut self, now: Instant, peer: Ipv4Addr, ev: SessionEvent) {
        self.with_own_groups(|c, g| c.session_in(now, peer, ev, g));
    }

    /// A track object changed state.
    pub fn handle_track(&mut self, now: Instant, id: u16, up: bool) {
        self.with_own_groups(|c, g| c.track_in(now, id, up, g));
    }

    /// An interface changed state. Interfaces never reported are taken as up.
    pub fn handle_interface(&mut self, now: Instant, name: &str, up: bool) {
        self.with_own_groups(|c, g| c.interface_in(now, name, up, g));
    }

    /// The answer to an [`Action::Resolve`]; `None` means the resolution failed.
    pub fn handle_resolved(&mut self, now: Instant, name: &str, addr: Option<Ipv4Addr>) {
        self.with_own_groups(|c, g| c.resolved_in(now, name, addr, g));
    }

    /// Fires the timers due at `now`. Idempotent: an early or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.with_own_groups(|c, g| c.timeout_in(now, g));
    }

    /// `crypto ikev2 client connect NAME` for a `connect manual` block.
    ///
    /// # Errors
    /// [`ApiError::NotManual`] when the block is not `connect manual`.
    pub fn connect(&mut self, now: Instant) -> Result<(), ApiError> {
        self.with_own_groups(|c, g| c.manual_in(now, true, g))
    }

    /// `crypto ikev2 client disconnect NAME` for a `connect manual` block.
    ///
    /// # Errors
    /// [`ApiError::NotManual`] when the block is not `connect manual`.
    pub fn disconnect(&mut self, now: Instant) -> Result<(), ApiError> {
        self.with_own_groups(|c, g| c.manual_in(now, false, g))
    }

    /// Runs `f` with the block's private backup-group registry (a block used alone).
    fn with_own_groups<R>(&mut self, f: impl FnOnce(&mut Self, &mut BackupGroups) -> R) -> R {
        let mut g = std::mem::take(&mut self.own_groups);
        let r = f(self, &mut g);
        g.clear_released();
        self.own_groups = g;
        r
    }

    // ------------------------------------------------------------------ outputs

    /// The next event, `None` when drained.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    // ------------------------------------------------------------------ getters

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The peer of the established session, if any.
    pub fn active_peer(&self) -> Option<Ipv4Addr> {
        self.session_addr()
    }

    /// The sequence number (`peer N`) of the established session's peer, if any.
    pub fn active_peer_seq(&self) -> Option<u8> {
        self.session
            .as_ref()
            .and_then(|s| self.cfg.peers.get(s.peer))
            .map(|p| p.seq())
    }

    /// The peer of the attempt in progress (also a reactivation probe), if its address is known.
    pub fn pending_peer(&self) -> Option<Ipv4Addr> {
        self.attempt_addr()
    }

    /// The inner address assigned by the current server.
    pub fn assigned_address(&self) -> Option<Ipv4Addr> {
        self.session.as_ref().and_then(|s| s.info.assigned)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Renders `show crypto ikev2 client flexvpn` for this block.
    pub fn show(&self) -> String {
        crate::show::render(self)
    }

    /// Heap bytes owned by this block, not counting the (shareable) configuration.
    pub fn heap_bytes(&self) -> usize {
        let events: usize = self.events.capacity() * size_of::<Event>()
            + self
                .events
                .iter()
                .map(|e| match e {
                    Event::Syslog(s) => s.capacity(),
                    Event::Action(Action::Connect { source, .. }) => source.capacity(),
                    Event::Action(Action::Resolve { name }) => name.capacity(),
                    Event::Action(_) => 0,
                })
                .sum::<usize>();
        let ifaces = self
            .down_ifaces
            .iter()
            .map(|s| s.capacity() + 40)
            .sum::<usize>();
        self.peers.len() * size_of::<PeerRt>()
            + self.tracks.heap_bytes()
            + ifaces
            + self.session.as_ref().map_or(0, |s| s.info.id.capacity())
            + events
    }

    // ------------------------------------------------------------------ crate-internal inputs

    pub(crate) fn session_in(
        &mut self,
        now: Instant,
        peer: Ipv4Addr,
        ev: SessionEvent,
        groups: &mut BackupGroups,
    ) {
        let ev = match ev {
            SessionEvent::Up {
                local,
                peer_port,
                peer_id,
                assigned_v4,
            } => fsm::Event::SessionUp(
                peer,
                SessionInfo {
                    local,
                    port: peer_port,
                    id: peer_id,
                    assigned: assigned_v4,
                },
            ),
            SessionEvent::Down { .. } => fsm::Event::SessionDown(peer),
            SessionEvent::ConnectFailed => fsm::Event::ConnectFailed(peer),
        };
        self.fsm(now, ev, groups);
    }

    pub(crate) fn track_in(&mut self, now: Instant, id: u16, up: bool, groups: &mut BackupGroups) {
        if self.tracks.set(id, up) {
            self.reevaluate(now, groups);
        }
    }

    pub(crate) fn interface_in(
        &mut self,
        now: Instant,
        name: &str,
        up: bool,
        groups: &mut BackupGroups,
    ) {
        let changed = if up {
            self.down_ifaces.remove(name)
        } else {
            self.down_ifaces.insert(name.to_owned())
        };
        if changed {
            self.reevaluate(now, groups);
        }
    }

    pub(crate) fn resolved_in(
        &mut self,
        now: Instant,
        name: &str,
        addr: Option<Ipv4Addr>,
        groups: &mut BackupGroups,
    ) {
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
        self.fsm(now, fsm::Event::Resolved(name, addr), groups);
    }

    pub(crate) fn manual_in(
        &mut self,
        now: Instant,
        on: bool,
        groups: &mut BackupGroups,
    ) -> Result<(), ApiError> {
        if self.cfg.connect != ConnectMode::Manual {
            return Err(ApiError::NotManual);
        }
        self.manual_on = on;
        self.reevaluate(now, groups);
        Ok(())
    }

    pub(crate) fn timeout_in(&mut self, now: Instant, groups: &mut BackupGroups) {
        for t in TIMERS {
            let slot = &mut self.timers[t as usize];
            if slot.is_some_and(|d| d <= now) {
                *slot = None;
                match t {
                    Timer::Start => self.reevaluate(now, groups),
                    Timer::Retry => self.fsm(now, fsm::Event::RetryTimer, groups),
                    Timer::ConnectTimeout => self.fsm(now, fsm::Event::ConnectTimeout, groups),
                    Timer::Reactivate => self.fsm(now, fsm::Event::ReactivateTimer, groups),
                }
            }
        }
    }

    /// Whether the block is still waiting for its start timer.
    fn starting(&self) -> bool {
        self.timers[Timer::Start as usize].is_some()
    }

    /// Re-reads tracks and interfaces and turns what changed into FSM events.
    pub(crate) fn reevaluate(&mut self, now: Instant, groups: &mut BackupGroups) {
        if self.starting() {
            return;
        }
        // Possible peers.
        let mut lost = Vec::new();
        for (i, p) in self.cfg.peers.iter().enumerate() {
            let possible = p.track_ref().is_none_or(|t| t.satisfied(&self.tracks));
            if let Some(rt) = self.peers.get_mut(i)
                && rt.possible != possible
            {
                rt.possible = possible;
                if possible {
                    rt.last_change = rt.last_change.max(now);
                } else {
                    lost.push(i);
                }
            }
        }
        // Connect mode.
        let allowed = self.allowed();
        if !allowed {
            if self.state != State::Inactive {
                self.fsm(now, fsm::Event::Disable, groups);
            }
            return;
        }
        if self.state == State::Inactive {
            self.fsm(now, fsm::Event::Enable, groups);
            return;
        }
        for i in lost {
            self.fsm(now, fsm::Event::PeerLost(i), groups);
        }
        // Source in use.
        let in_use = match (&self.session, &self.attempt) {
            (Some(s), _) => Some(s.source),
            (None, Some(a)) => Some(a.source),
            (None, None) => None,
        };
        if let Some(src) = in_use
            && !self.source_usable(src)
        {
            self.fsm(now, fsm::Event::SourceLost, groups);
        }
        self.fsm(now, fsm::Event::Kick, groups);
    }

    fn allowed(&self) -> bool {
        match self.cfg.connect {
            ConnectMode::Auto => true,
            ConnectMode::Manual => self.manual_on,
            ConnectMode::Track(t) => t.satisfied(&self.tracks),
        }
    }

    // ------------------------------------------------------------------ helpers used by fsm

    pub(crate) fn session_addr(&self) -> Option<Ipv4Addr> {
        self.session.as_ref().map(|s| s.addr)
    }

    pub(crate) fn attempt_addr(&self) -> Option<Ipv4Addr> {
        self.attempt.as_ref().and_then(|a| a.addr)
    }

    pub(crate) fn attempt_resolving(&self, name: &str) -> bool {
        self.attempt.as_ref().is_some_and(|a| {
            a.addr.is_none()
                && matches!(self.cfg.peers.get(a.peer).map(|p| p.peer_address()),
                    Some(PeerAddress::Fqdn { name: n, .. }) if n == name)
        })
    }

    fn source_usable(&self, src: Option<usize>) -> bool {
        match src {
            None => self
                .cfg
                .tunnel_source
                .as_deref()
                .is_some_and(|i| !self.down_ifaces.contains(i)),
            Some(i) => self.cfg.sources.get(i).is_some_and(|s| {
                self.tracks.is_up(s.track()) && !self.down_ifaces.contains(s.interface())
            }),
        }
    }

    /// The source to use: the first `source N` line whose track is up and interface is not
    /// down; without `source` lines, the tunnel source.
    pub(crate) fn pick_source(&self) -> Option<Option<usize>> {
        if self.cfg.sources.is_empty() {
            return self.source_usable(None).then_some(None);
        }
        (0..self.cfg.sources.len())
            .find(|&i| self.source_usable(Some(i)))
            .map(Some)
    }

    pub(crate) fn source_name(&self, src: Option<usize>) -> &str {
        match src {
            None => self.cfg.tunnel_source.as_deref().unwrap_or(""),
            Some(i) => self.cfg.sources.get(i).map_or("", |s| s.interface()),
        }
    }

    pub(crate) fn push(&mut self, ev: Event) {
        if self.events.len() >= EVENT_QUEUE_CAP {
            self.stats.event_overflow += 1;
        } else {
            self.events.push_back(ev);
        }
    }

    fn backoff(&self, fails: u32) -> Duration {
        let t = &self.cfg.timers;
        let shift = fails.saturating_sub(1).min(20);
        t.retry_initial
            .checked_mul(1u32 << shift)
            .map_or(t.retry_max, |d| d.min(t.retry_max))
    }

    fn reactivate_holddown(&self, fails: u32) -> Duration {
        let t = &self.cfg.timers;
        let cap = t.retry_max.max(t.reactivate_holddown);
        t.reactivate_holddown
            .checked_mul(1u32 << fails.min(20))
            .map_or(cap, |d| d.min(cap))
    }

    /// Records a failure of peer `idx` and holds it for its back-off time.
    fn penalize(&mut self, now: Instant, idx: usize) {
        let fails = self.peers.get(idx).map_or(0, |p| p.fails.saturating_add(1));
        let hold = self.backoff(fails);
        if let Some(p) = self.peers.get_mut(idx) {
            p.fails = fails;
            p.hold_until = Some(now + hold);
            p.last_change = now;
        }
    }

    fn group(&self) -> Option<u8> {
        self.cfg.backup_group
    }

    /// The address of peer `idx` without asking the resolver, if known.
    fn known_addr(&self, idx: usize) -> Option<Ipv4Addr> {
        match self.cfg.peers.get(idx)?.peer_address() {
            PeerAddress::Ip(a) => Some(*a),
            PeerAddress::Fqdn { dynamic: false, .. } => self.peers.get(idx)?.resolved,
            PeerAddress::Fqdn { dynamic: true, .. } => None,
        }
    }

    /// Starts a connection (or resolution) for peer `idx` from `source`. Returns false when the
    /// peer's address is in use by another block of the backup group.
    fn start_attempt(
        &mut self,
        now: Instant,
        groups: &mut BackupGroups,
        idx: usize,
        source: Option<usize>,
        mbb: bool,
    ) -> bool {
        let Some(pc) = self.cfg.peers.get(idx) else {
            return false;
        };
        let addr = self.known_addr(idx);
        match addr {
            Some(a) => {
                if let Some(g) = self.group()
                    && !groups.try_reserve(g, a, self.owner)
                {
                    return false;
                }
                let source_name = self.source_name(source).to_owned();
                self.push(Event::Action(Action::Connect {
                    peer: a,
                    source: source_name,
                }));
                self.stats.connects += 1;
            }
            None => {
                let name = match pc.peer_address() {
                    PeerAddress::Fqdn { name, .. } => name.clone(),
                    PeerAddress::Ip(_) => String::new(),
                };
                self.push(Event::Action(Action::Resolve { name }));
            }
        }
        self.attempt = Some(Attempt {
            peer: idx,
            addr,
            source,
            mbb,
        });
        self.timers[Timer::ConnectTimeout as usize] = Some(now + self.cfg.timers.connect_timeout);
        true
    }

    /// Picks the next possible peer from the cursor and starts an attempt, or waits.
    pub(crate) fn select(&mut self, now: Instant, groups: &mut BackupGroups) {
        self.timers[Timer::Retry as usize] = None;
        let Some(source) = self.pick_source() else {
            self.state = State::Waiting;
            return;
        };
        let n = self.peers.len();
        let mut earliest: Option<Instant> = None;
        for k in 0..n {
            let idx = (self.cursor + k) % n;
            let Some(p) = self.peers.get(idx) else {
                continue;
            };
            if !p.possible {
                continue;
            }
            if let Some(h) = p.hold_until
                && h > now
            {
                earliest = Some(earliest.map_or(h, |e| e.min(h)));
                continue;
            }
            if self.start_attempt(now, groups, idx, source, false) {
                self.cursor = idx;
                self.state = State::Activating;
                return;
            }
        }
        self.state = State::Waiting;
        self.timers[Timer::Retry as usize] = earliest;
    }

    pub(crate) fn go_inactive(&mut self) {
        self.timers[Timer::Retry as usize] = None;
        self.timers[Timer::ConnectTimeout as usize] = None;
        self.timers[Timer::Reactivate as usize] = None;
        self.state = State::Inactive;
    }

    /// An `Up` nobody asked for: disconnect it.
    pub(crate) fn stray_session(&mut self, peer: Ipv4Addr) {
        self.stats.stray_sessions += 1;
        self.push(Event::Action(Action::Disconnect { peer }));
    }

    fn release(&self, groups: &mut BackupGroups, addr: Ipv4Addr) {
        if let Some(g) = self.group() {
            groups.release(g, addr, self.owner);
        }
    }

    /// Ends the attempt without counting it against the peer.
    pub(crate) fn abort_attempt(&mut self, groups: &mut BackupGroups) {
        self.timers[Timer::ConnectTimeout as usize] = None;
        if let Some(a) = self.attempt.take()
            && let Some(addr) = a.addr
        {
            self.push(Event::Action(Action::Disconnect { peer: addr }));
            self.release(groups, addr);
        }
    }

    /// Ends the attempt as a failure of its peer.
    pub(crate) fn attempt_failed(
        &mut self,
        now: Instant,
        groups: &mut BackupGroups,
        send_disconnect: bool,
    ) {
        self.timers[Timer::ConnectTimeout as usize] = None;
        let Some(a) = self.attempt.take() else {
            return;
        };
        if let Some(addr) = a.addr {
            if send_disconnect {
                self.push(Event::Action(Action::Disconnect { peer: addr }));
            }
            self.release(groups, addr);
        }
        self.penalize(now, a.peer);
        if !a.mbb {
            self.cursor = (a.peer + 1) % self.peers.len().max(1);
        }
    }

    pub(crate) fn resolved(
        &mut self,
        now: Instant,
        groups: &mut BackupGroups,
        addr: Option<Ipv4Addr>,
    ) {
        let Some(a) = self.attempt.as_ref() else {
            return;
        };
        let (idx, mbb, source) = (a.peer, a.mbb, a.source);
        match addr {
            None => {
                self.attempt_failed(now, groups, false);
                if !mbb {
                    self.select(now, groups);
                }
            }
            Some(ip) => {
                if let Some(p) = self.peers.get_mut(idx) {
                    p.resolved = Some(ip);
                }
                if mbb && self.session_addr() == Some(ip) {
                    // The better peer's name points at the peer we are on: nothing to switch
                    // to. Counted as a failed probe so the next one waits longer.
                    self.attempt_failed(now, groups, false);
                    return;
                }
                if let Some(g) = self.group()
                    && !groups.try_reserve(g, ip, self.owner)
                {
                    // In use by another block of the group: skip this peer for now.
                    self.timers[Timer::ConnectTimeout as usize] = None;
                    self.attempt = None;
                    if !mbb {
                        self.cursor = (idx + 1) % self.peers.len().max(1);
                        self.select(now, groups);
                    }
                    return;
                }
                let source_name = self.source_name(source).to_owned();
                self.push(Event::Action(Action::Connect {
                    peer: ip,
                    source: source_name,
                }));
                self.stats.connects += 1;
                if let Some(a) = self.attempt.as_mut() {
                    a.addr = Some(ip);
                }
            }
        }
    }

    /// The attempt came up: the block is ACTIVE.
    pub(crate) fn established(&mut self, now: Instant, peer: Ipv4Addr, info: SessionInfo) {
        self.timers[Timer::ConnectTimeout as usize] = None;
        let Some(a) = self.attempt.take() else {
            return;
        };
        self.cursor = a.peer;
        self.stats.established += 1;
        self.push(Event::Action(Action::LineUp));
        let tunnel = self.cfg.tunnel.clone();
        self.push(Event::Syslog(syslog::lineproto_updown(&tunnel, true)));
        self.log_up(peer, &info);
        self.session = Some(Session {
            peer: a.peer,
            addr: peer,
            source: a.source,
            info,
            since: now,
        });
        self.state = State::Active;
        self.timers[Timer::Retry as usize] = None;
        let mut g = BackupGroups::default();
        // Reactivation never needs the registry before a timer or kick; plan the timer only.
        self.plan_reactivate(now, &mut g, false);
    }

    fn log_up(&mut self, peer: Ipv4Addr, info: &SessionInfo) {
        let line = syslog::ikev2_session_status(true, peer, info.port, &info.id);
        self.push(Event::Syslog(line));
        let line = syslog::flexvpn_connection_up(&self.cfg.name, info.local, peer, info.assigned);
        self.push(Event::Syslog(line));
    }

    fn log_down(&mut self, s: &Session) {
        let line = syslog::ikev2_session_status(false, s.addr, s.info.port, &s.info.id);
        self.push(Event::Syslog(line));
        let line = syslog::flexvpn_connection_down(&self.cfg.name, s.info.local, s.addr);
        self.push(Event::Syslog(line));
    }

    /// The established session is gone. `disconnect`: we end it (track or source down, disable);
    /// `penalize`: count it against the peer.
    pub(crate) fn session_lost(
        &mut self,
        now: Instant,
        groups: &mut BackupGroups,
        disconnect: bool,
        penalize: bool,
    ) {
        let Some(s) = self.session.take() else {
            return;
        };
        self.stats.sessions_lost += 1;
        self.timers[Timer::Reactivate as usize] = None;
        if disconnect {
            self.push(Event::Action(Action::Disconnect { peer: s.addr }));
        }
        self.release(groups, s.addr);
        self.log_down(&s);
        self.push(Event::Action(Action::LineDown));
        let tunnel = self.cfg.tunnel.clone();
        self.push(Event::Syslog(syslog::lineproto_updown(&tunnel, false)));
        if penalize {
            // A session that stayed up for retry_max has earned its peer a clean slate.
            if now.saturating_duration_since(s.since) >= self.cfg.timers.retry_max
                && let Some(p) = self.peers.get_mut(s.peer)
            {
                p.fails = 0;
            }
            self.penalize(now, s.peer);
            self.cursor = (s.peer + 1) % self.peers.len().max(1);
        } else {
            // Not the peer's fault (source lost, disabled): it stays first in line.
            self.cursor = s.peer;
        }
        self.state = State::Waiting;
    }

    /// After losing the session: a reactivation probe in flight becomes the attempt, otherwise
    /// select the next peer.
    pub(crate) fn after_session_lost(&mut self, now: Instant, groups: &mut BackupGroups) {
        if let Some(a) = self.attempt.as_mut() {
            a.mbb = false;
            self.state = State::Activating;
        } else {
            self.select(now, groups);
        }
    }

    /// The reactivation probe came up: switch to it and drop the old session.
    pub(crate) fn switch_over(
        &mut self,
        now: Instant,
        groups: &mut BackupGroups,
        peer: Ipv4Addr,
        info: SessionInfo,
    ) {
        self.timers[Timer::ConnectTimeout as usize] = None;
        let Some(a) = self.attempt.take() else {
            return;
        };
        let Some(old) = self.session.take() else {
            return;
        };
        self.stats.established += 1;
        self.stats.reactivations += 1;
        self.log_up(peer, &info);
        self.push(Event::Action(Action::Disconnect { peer: old.addr }));
        self.release(groups, old.addr);
        self.log_down(&old);
        self.cursor = a.peer;
        self.session = Some(Session {
            peer: a.peer,
            addr: peer,
            source: a.source,
            info,
            since: now,
        });
        self.schedule_reactivate(now, groups);
    }

    /// `peer reactivate`: probe a more preferred possible peer whose hold-down has passed, or
    /// arm the timer for the earliest one.
    pub(crate) fn schedule_reactivate(&mut self, now: Instant, groups: &mut BackupGroups) {
        self.plan_reactivate(now, groups, true);
    }

    fn plan_reactivate(&mut self, now: Instant, groups: &mut BackupGroups, may_start: bool) {
        self.timers[Timer::Reactivate as usize] = None;
        if !self.cfg.peer_reactivate || self.attempt.is_some() {
            return;
        }
        let Some(cur) = self.session.as_ref().map(|s| s.peer) else {
            return;
        };
        let Some(source) = self.session.as_ref().map(|s| s.source) else {
            return;
        };
        let cur_addr = self.session_addr();
        let mut earliest: Option<Instant> = None;
        for i in 0..cur {
            let Some(p) = self.peers.get(i) else {
                continue;
            };
            if !p.possible || self.known_addr(i).is_some_and(|a| Some(a) == cur_addr) {
                // Not possible, or the same address as the session we hold.
                continue;
            }
            let ready = (p.last_change + self.reactivate_holddown(p.fails))
                .max(p.hold_until.unwrap_or(p.last_change));
            if ready > now || !may_start {
                earliest = Some(earliest.map_or(ready, |e| e.min(ready)));
                continue;
            }
            if self.start_attempt(now, groups, i, source, true) {
                return;
            }
        }
        self.timers[Timer::Reactivate as usize] = earliest.map(|e| e.max(now));
    }
}

//! Test driver: a virtual clock, a pretend IKE layer with hubs that live and die, an on-demand
//! DPD simulator, and a resolver, all around a [`ClientSet`].
#![allow(
    dead_code,
    reason = "each test file uses a different part of the driver"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use flexclient::{Action, ClientId, ClientSet, DownReason, Event, SessionEvent, State};

/// The one clock read of the test suite.
#[allow(clippy::disallowed_methods, reason = "the one clock read")]
pub(crate) fn epoch() -> Instant {
    Instant::now()
}

pub(crate) const SPOKE: Ipv4Addr = Ipv4Addr::new(172, 16, 2, 2);
pub(crate) const HUB1: Ipv4Addr = Ipv4Addr::new(172, 25, 1, 1);
pub(crate) const HUB2: Ipv4Addr = Ipv4Addr::new(172, 25, 2, 1);
pub(crate) const HUB3: Ipv4Addr = Ipv4Addr::new(172, 25, 3, 1);

/// `crypto ikev2 dpd INTERVAL RETRY on-demand` as IOS runs it: a probe (R-U-THERE, an empty
/// INFORMATIONAL) when traffic is sent and nothing was received for `interval`; then up to
/// `retransmits` retransmissions every `retry`; the peer is declared dead `retry` after the
/// last unanswered retransmission. IOS retransmits five times and the count cannot be set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DpdConfig {
    pub(crate) interval: Duration,
    pub(crate) retry: Duration,
    pub(crate) retransmits: u32,
    /// The spoke sends data through the tunnel this often (on-demand DPD needs traffic).
    pub(crate) traffic_period: Duration,
}

impl DpdConfig {
    /// `dpd 30 5 on-demand`, traffic every second.
    pub(crate) fn scenario() -> Self {
        Self {
            interval: Duration::from_secs(30),
            retry: Duration::from_secs(5),
            retransmits: 5,
            traffic_period: Duration::from_secs(1),
        }
    }

    /// Latest time from the hub's death to the IKE layer declaring it dead:
    /// the last reply arrived at most one traffic period before the death; the first probe goes
    /// out with the first packet sent `interval` after that reply; then `retransmits`
    /// retransmissions `retry` apart and one more `retry` of waiting:
    /// `traffic_period + interval + (retransmits + 1) * retry` = 1 + 30 + 6 * 5 = 61 s.
    pub(crate) fn detection_bound(&self) -> Duration {
        self.traffic_period + self.interval + self.retry * (self.retransmits + 1)
    }

    /// Earliest such time: `interval + (retransmits + 1) * retry - traffic_period` = 59 s.
    pub(crate) fn detection_floor(&self) -> Duration {
        (self.interval + self.retry * (self.retransmits + 1)).saturating_sub(self.traffic_period)
    }
}

#[derive(Debug, Clone)]
struct Dpd {
    last_rx: Instant,
    next_send: Instant,
    /// (retransmissions so far, next deadline)
    probe: Option<(u32, Instant)>,
}

/// A hub as the pretend IKE layer sees it.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    pub(crate) alive: bool,
    /// When dead: answer attempts with an immediate failure (true) or stay silent (false).
    pub(crate) refuse: bool,
    pub(crate) next_assign: Ipv4Addr,
}

pub(crate) struct Net {
    pub(crate) set: ClientSet,
    pub(crate) epoch: Instant,
    pub(crate) now: Instant,
    pub(crate) hubs: BTreeMap<Ipv4Addr, Hub>,
    pub(crate) ike_delay: Duration,
    pub(crate) dpd: Option<DpdConfig>,
    pub(crate) resolver: BTreeMap<String, Ipv4Addr>,
    pending: Vec<(Instant, ClientId, Ipv4Addr)>,
    pending_dns: Vec<(Instant, String)>,
    dpd_state: BTreeMap<(ClientId, Ipv4Addr), Dpd>,
    /// Sessions the IKE layer holds, per block.
    pub(crate) sessions: BTreeSet<(ClientId, Ipv4Addr)>,
    /// Largest number of sessions one block held at any instant.
    pub(crate) max_sessions: usize,
    pub(crate) log: Vec<(Duration, ClientId, String)>,
    pub(crate) actions: Vec<(Duration, ClientId, Action)>,
    pub(crate) line_up: BTreeMap<ClientId, bool>,
}

impl Net {
    pub(crate) fn new() -> Self {
        let epoch = epoch();
        let mut hubs = BTreeMap::new();
        for (h, a) in [
            (HUB1, Ipv4Addr::new(10, 1, 1, 100)),
            (HUB2, Ipv4Addr::new(10, 1, 1, 176)),
            (HUB3, Ipv4Addr::new(10, 1, 2, 1)),
        ] {
            hubs.insert(
                h,
                Hub {
                    alive: true,
                    refuse: false,
                    next_assign: a,
                },
            );
        }
        Self {
            set: ClientSet::new(),
            epoch,
            now: epoch,
            hubs,
            ike_delay: Duration::from_millis(100),
            dpd: None,
            resolver: BTreeMap::new(),
            pending: Vec::new(),
            pending_dns: Vec::new(),
            dpd_state: BTreeMap::new(),
            sessions: BTreeSet::new(),
            max_sessions: 0,
            log: Vec::new(),
            actions: Vec::new(),
            line_up: BTreeMap::new(),
        }
    }

    pub(crate) fn at(&self, secs: f64) -> Instant {
        self.epoch + Duration::from_secs_f64(secs)
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    pub(crate) fn hub(&mut self, h: Ipv4Addr) -> &mut Hub {
        self.hubs.get_mut(&h).expect("known hub")
    }

    pub(crate) fn state(&self, id: ClientId) -> State {
        self.set.client(id).expect("client").state()
    }

    pub(crate) fn active(&self, id: ClientId) -> Option<Ipv4Addr> {
        self.set.client(id).expect("client").active_peer()
    }

    pub(crate) fn sessions_of(&self, id: ClientId) -> Vec<Ipv4Addr> {
        self.sessions
            .iter()
            .filter(|(c, _)| *c == id)
            .map(|&(_, p)| p)
            .collect()
    }

    /// Syslog lines of one block since `from`.
    pub(crate) fn log_since(&self, id: ClientId, from: Duration) -> Vec<String> {
        self.log
            .iter()
            .filter(|(t, c, _)| *c == id && *t >= from)
            .map(|(_, _, l)| l.clone())
            .collect()
    }

    /// Times of `Connect` actions to `peer` by block `id`.
    pub(crate) fn connects_to(&self, id: ClientId, peer: Ipv4Addr) -> Vec<Duration> {
        self.actions
            .iter()
            .filter(|(_, c, a)| {
                *c == id && matches!(a, Action::Connect { peer: p, .. } if *p == peer)
            })
            .map(|(t, _, _)| *t)
            .collect()
    }

    fn count(&self, id: ClientId) -> usize {
        self.sessions.iter().filter(|(c, _)| *c == id).count()
    }

    /// Drains every event and applies the actions; checks that no block ends the drain with
    /// more than one session.
    pub(crate) fn drain(&mut self) {
        let t = self.elapsed();
        while let Some((id, ev)) = self.set.poll_event() {
            match ev {
                Event::Syslog(line) => self.log.push((t, id, line)),
                Event::Action(a) => {
                    match &a {
                        Action::Connect { peer, .. } => {
                            self.pending.push((self.now + self.ike_delay, id, *peer));
                        }
                        Action::Disconnect { peer } => {
                            self.sessions.remove(&(id, *peer));
                            self.dpd_state.remove(&(id, *peer));
                            self.pending.retain(|&(_, c, p)| !(c == id && p == *peer));
                        }
                        Action::LineUp => {
                            self.line_up.insert(id, true);
                        }
                        Action::LineDown => {
                            self.line_up.insert(id, false);
                        }
                        Action::Resolve { name } => {
                            self.pending_dns
                                .push((self.now + Duration::from_millis(10), name.clone()));
                        }
                    }
                    self.actions.push((t, id, a));
                }
                _ => {}
            }
        }
        let ids: BTreeSet<ClientId> = self.sessions.iter().map(|&(c, _)| c).collect();
        for id in ids {
            assert!(
                self.count(id) <= 1,
                "block {id:?} holds {:?} after a drain at {t:?}",
                self.sessions_of(id)
            );
        }
    }

    fn up_event(&mut self, peer: Ipv4Addr) -> SessionEvent {
        let hub = self.hubs.get_mut(&peer).expect("hub");
        let assigned = hub.next_assign;
        hub.next_assign = Ipv4Addr::from(u32::from(assigned) + 1);
        SessionEvent::Up {
            local: SPOKE,
            peer_port: 500,
            peer_id: peer.to_string(),
            assigned_v4: Some(assigned),
        }
    }

    fn deliver_due(&mut self) {
        let now = self.now;
        let due: Vec<_> = self.pending.extract_if(.., |p| p.0 <= now).collect();
        for (_, id, peer) in due {
            let (alive, refuse) = self
                .hubs
                .get(&peer)
                .map_or((false, true), |h| (h.alive, h.refuse));
            if alive {
                let ev = self.up_event(peer);
                self.sessions.insert((id, peer));
                self.max_sessions = self.max_sessions.max(self.count(id));
                assert!(self.count(id) <= 2, "more than two sessions for {id:?}");
                if let Some(d) = self.dpd {
                    self.dpd_state.insert(
                        (id, peer),
                        Dpd {
                            last_rx: now,
                            next_send: now + d.traffic_period,
                            probe: None,
                        },
                    );
                }
                self.set.handle_session(now, id, peer, ev).expect("id");
            } else if refuse {
                self.set
                    .handle_session(now, id, peer, SessionEvent::ConnectFailed)
                    .expect("id");
            }
            self.drain();
        }
        let dns: Vec<_> = self.pending_dns.extract_if(.., |p| p.0 <= now).collect();
        for (_, name) in dns {
            let addr = self.resolver.get(&name).copied();
            self.set.handle_resolved(now, &name, addr);
            self.drain();
        }
    }

    fn dpd_next(&self) -> Option<Instant> {
        self.dpd_state
            .values()
            .map(|d| d.probe.map_or(d.next_send, |(_, p)| p.min(d.next_send)))
            .min()
    }

    fn dpd_step(&mut self) {
        let Some(cfg) = self.dpd else { return };
        let now = self.now;
        let keys: Vec<_> = self.dpd_state.keys().copied().collect();
        for key in keys {
            let alive = self.hubs.get(&key.1).is_some_and(|h| h.alive);
            let Some(d) = self.dpd_state.get_mut(&key) else {
                continue;
            };
            let mut dead = false;
            if d.next_send <= now {
                d.next_send += cfg.traffic_period;
                if alive {
                    d.last_rx = now; // the hub answers the traffic
                } else if d.probe.is_none() && now - d.last_rx >= cfg.interval {
                    d.probe = Some((0, now + cfg.retry)); // R-U-THERE
                }
            }
            if let Some((n, deadline)) = d.probe
                && deadline <= now
            {
                if alive {
                    d.probe = None;
                    d.last_rx = now;
                } else if n < cfg.retransmits {
                    d.probe = Some((n + 1, deadline + cfg.retry));
                } else {
                    dead = true;
                }
            }
            if dead {
                self.dpd_state.remove(&key);
                self.sessions.remove(&key);
                self.set
                    .handle_session(
                        now,
                        key.0,
                        key.1,
                        SessionEvent::Down {
                            reason: DownReason::Dpd,
                        },
                    )
                    .expect("id");
                self.drain();
            }
        }
    }

    /// Runs the world until `t` (virtual time).
    pub(crate) fn run_until(&mut self, t: Instant) {
        self.drain();
        let mut guard = 0u32;
        loop {
            guard += 1;
            assert!(guard < 2_000_000, "simulation never goes idle");
            let mut next = t;
            if let Some(x) = self.set.poll_timeout() {
                next = next.min(x);
            }
            if let Some(x) = self.pending.iter().map(|p| p.0).min() {
                next = next.min(x);
            }
            if let Some(x) = self.pending_dns.iter().map(|p| p.0).min() {
                next = next.min(x);
            }
            if let Some(x) = self.dpd_next() {
                next = next.min(x);
            }
            self.now = self.now.max(next);
            self.deliver_due();
            self.dpd_step();
            if self.set.poll_timeout().is_some_and(|x| x <= self.now) {
                self.set.handle_timeout(self.now);
                self.drain();
            }
            let busy = self.set.poll_timeout().is_some_and(|x| x <= self.now)
                || self.pending.iter().any(|p| p.0 <= self.now)
                || self.pending_dns.iter().any(|p| p.0 <= self.now);
            if self.now >= t && !busy {
                break;
            }
        }
    }

    pub(crate) fn run_for(&mut self, secs: f64) {
        let t = self.now + Duration::from_secs_f64(secs);
        self.run_until(t);
    }

    /// The IKE layer reports every session to `hub` dead right now (no DPD wait).
    pub(crate) fn hub_dies_now(&mut self, hub: Ipv4Addr) {
        self.hub(hub).alive = false;
        let keys: Vec<_> = self
            .sessions
            .iter()
            .filter(|k| k.1 == hub)
            .copied()
            .collect();
        for key in keys {
            self.sessions.remove(&key);
            self.dpd_state.remove(&key);
            self.set
                .handle_session(
                    self.now,
                    key.0,
                    key.1,
                    SessionEvent::Down {
                        reason: DownReason::Dpd,
                    },
                )
                .expect("id");
            self.drain();
        }
    }

    pub(crate) fn track(&mut self, id: u16, up: bool) {
        self.set.handle_track(self.now, id, up);
        self.drain();
    }

    pub(crate) fn interface(&mut self, name: &str, up: bool) {
        self.set.handle_interface(self.now, name, up);
        self.drain();
    }
}

/// The scenario's block: peers hub 1 and hub 2, Tunnel1 sourced from Ethernet0/0.
pub(crate) fn two_hubs(name: &str) -> flexclient::ClientConfigBuilder {
    flexclient::ClientConfig::builder(name)
        .peer(flexclient::PeerConfig::address(1, HUB1).expect("peer"))
        .peer(flexclient::PeerConfig::address(2, HUB2).expect("peer"))
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
}

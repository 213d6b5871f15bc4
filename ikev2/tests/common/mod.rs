//! Two-party driver: two endpoints, a virtual clock, a seeded lossy link with latency,
//! a cut switch and an optional NAT in front of endpoint `a`.
#![allow(dead_code, reason = "each test file uses a part of the driver")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ikev2::wire::{Identification, TrafficSelector};
use ikev2::{
    AddressPool, Endpoint, EndpointConfig, Event, PeerConfig, Psk, ResponderConfig, SaPolicy,
    Transmit,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The one clock read of the test suite.
#[allow(clippy::disallowed_methods, reason = "the one clock read")]
pub(crate) fn epoch() -> Instant {
    Instant::now()
}

pub(crate) const A_PRIVATE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
pub(crate) const A_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub(crate) const B_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

pub(crate) fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

pub(crate) struct Pair {
    pub(crate) a: Endpoint<ChaCha20Rng>,
    pub(crate) b: Endpoint<ChaCha20Rng>,
    pub(crate) epoch: Instant,
    pub(crate) now: Instant,
    pub(crate) latency: Duration,
    /// Probability in 1/1000 that a datagram is lost.
    pub(crate) loss_permille: u32,
    pub(crate) cut: bool,
    pub(crate) nat: bool,
    link_rng: ChaCha20Rng,
    in_flight: Vec<(Instant, bool, Transmit)>,
    pub(crate) events_a: Vec<(Duration, Event)>,
    pub(crate) events_b: Vec<(Duration, Event)>,
    /// Every datagram put on the wire: (time, from a, bytes).
    pub(crate) transcript: Vec<(Duration, bool, Vec<u8>)>,
    pub(crate) delivered_to_b: usize,
    pub(crate) delivered_to_a: usize,
}

pub(crate) fn responder_config(policy: SaPolicy) -> EndpointConfig {
    let mut c = EndpointConfig::new();
    c.responder = Some(ResponderConfig {
        psks: vec![(None, Psk::new(b"cisco"))],
        pool: Some(
            AddressPool::new(Ipv4Addr::new(10, 1, 1, 100), Ipv4Addr::new(10, 1, 1, 175)).unwrap(),
        ),
        policy,
    });
    c
}

pub(crate) fn hub_policy() -> SaPolicy {
    let mut p = SaPolicy::new(Identification::fqdn("hub.example"));
    p.ts_local = vec![TrafficSelector::any_v4()];
    p.ts_remote = vec![TrafficSelector::any_v4()];
    p
}

pub(crate) fn spoke_policy() -> SaPolicy {
    SaPolicy::new(Identification::key_id(b"spoke1"))
}

impl Pair {
    pub(crate) fn new(seed: u64, b_config: EndpointConfig) -> Self {
        let epoch = epoch();
        Self {
            a: Endpoint::new(
                EndpointConfig::new(),
                ChaCha20Rng::seed_from_u64(seed),
                epoch,
            ),
            b: Endpoint::new(b_config, ChaCha20Rng::seed_from_u64(seed + 1), epoch),
            epoch,
            now: epoch,
            latency: Duration::from_millis(5),
            loss_permille: 0,
            cut: false,
            nat: false,
            link_rng: ChaCha20Rng::seed_from_u64(seed + 2),
            in_flight: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            transcript: Vec::new(),
            delivered_to_b: 0,
            delivered_to_a: 0,
        }
    }

    /// a's own address (private when behind the NAT).
    pub(crate) fn a_ip(&self) -> Ipv4Addr {
        if self.nat { A_PRIVATE } else { A_PUBLIC }
    }

    pub(crate) fn peer_config(&self, policy: SaPolicy) -> PeerConfig {
        PeerConfig {
            remote: sock(B_ADDR, 500),
            local: sock(self.a_ip(), 500),
            psk: Psk::new(b"cisco"),
            remote_id: None,
            request_address: true,
            initial_contact: true,
            policy,
        }
    }

    fn nat_out(&self, s: SocketAddr) -> SocketAddr {
        if self.nat && s.ip() == IpAddr::V4(A_PRIVATE) {
            sock(A_PUBLIC, 40000 + s.port())
        } else {
            s
        }
    }

    fn nat_in(&self, d: SocketAddr) -> SocketAddr {
        if self.nat && d.ip() == IpAddr::V4(A_PUBLIC) {
            sock(A_PRIVATE, d.port() - 40000)
        } else {
            d
        }
    }

    fn collect(&mut self) {
        let now = self.now;
        while let Some(mut t) = self.a.poll_transmit() {
            self.transcript
                .push((now - self.epoch, true, t.payload.clone()));
            t.local = self.nat_out(t.local);
            self.send(t, true);
        }
        while let Some(t) = self.b.poll_transmit() {
            self.transcript
                .push((now - self.epoch, false, t.payload.clone()));
            self.send(t, false);
        }
        while let Some(e) = self.a.poll_event() {
            self.events_a.push((now - self.epoch, e));
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push((now - self.epoch, e));
        }
    }

    fn send(&mut self, t: Transmit, to_b: bool) {
        if self.cut {
            return;
        }
        if self.loss_permille > 0 && self.link_rng.next_u32() % 1000 < self.loss_permille {
            return;
        }
        self.in_flight.push((self.now + self.latency, to_b, t));
    }

    /// Delivers everything due, then advances the clock to the next deadline (at most
    /// `limit`). Returns false when nothing is left to do before `limit`.
    fn step_until(&mut self, limit: Instant) -> bool {
        self.collect();
        let now = self.now;
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 <= now {
                due.push(self.in_flight.remove(i));
            } else {
                i += 1;
            }
        }
        for (_, to_b, t) in due {
            if to_b {
                self.delivered_to_b += 1;
                let r = self.b.handle_datagram(now, t.remote, t.local, &t.payload);
                if std::env::var_os("PAIR_DEBUG").is_some() {
                    eprintln!("b <- {} bytes: {r:?}", t.payload.len());
                }
            } else {
                self.delivered_to_a += 1;
                let dst = self.nat_in(t.remote);
                let _ = self.a.handle_datagram(now, dst, t.local, &t.payload);
            }
            self.collect();
        }
        let next = [
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.in_flight.iter().map(|x| x.0).min(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                self.collect();
                true
            }
            _ => {
                self.now = self.now.max(limit);
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                self.collect();
                false
            }
        }
    }

    /// One step, with no limit on how far the clock moves.
    pub(crate) fn step(&mut self) -> bool {
        let far = self.now + Duration::from_secs(86_400);
        self.step_until(far)
    }

    /// Runs for `d` of virtual time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..1_000_000 {
            if !self.step_until(end) && self.now >= end {
                return;
            }
        }
        panic!("run_for did not finish");
    }

    /// Steps until nothing is in flight and no event is pending for `d`.
    pub(crate) fn settle(&mut self) {
        self.run_for(Duration::from_secs(2));
    }

    pub(crate) fn a_has<F: Fn(&Event) -> bool>(&self, f: F) -> bool {
        self.events_a.iter().any(|(_, e)| f(e))
    }
    pub(crate) fn b_has<F: Fn(&Event) -> bool>(&self, f: F) -> bool {
        self.events_b.iter().any(|(_, e)| f(e))
    }
}

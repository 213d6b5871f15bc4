//! Shared set-up of the ikev2 fuzz targets: a hub (responder) endpoint as in the scenario, a
//! spoke (initiator), a key log that hands the IKE SA keys to the target, and a pump that
//! carries datagrams between the two until both go quiet.
#![allow(dead_code, reason = "each target uses a part of this module")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ikev2::crypto::{EncrAlg, IkeKeys, IntegAlg};
use ikev2::wire::Identification;
use ikev2::{
    AddressPool, Endpoint, EndpointConfig, Event, KeyLog, PeerConfig, Psk, ResponderConfig,
    SaHandle, SaPolicy, Transmit,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

pub type Ep = Endpoint<ChaCha20Rng>;

pub const HUB: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(172, 25, 1, 1)), 500);
pub const HUB_NAT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(172, 25, 1, 1)), 4500);
pub const SPOKE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(172, 16, 2, 2)), 500);

/// The fuzz target's one clock read.
#[allow(
    clippy::disallowed_methods,
    reason = "the fuzz target's one clock read"
)]
pub fn epoch() -> Instant {
    Instant::now()
}

/// The IKE SA keys of one SA, copied out of the endpoint through the [`KeyLog`] hook.
#[derive(Clone)]
pub struct SaKeys {
    pub spi_i: u64,
    pub spi_r: u64,
    pub encr: EncrAlg,
    pub integ: IntegAlg,
    pub sk_ei: Vec<u8>,
    pub sk_ai: Vec<u8>,
    pub sk_er: Vec<u8>,
    pub sk_ar: Vec<u8>,
}

/// Collects every IKE SA's keys.
#[derive(Default)]
pub struct Capture(pub Mutex<Vec<SaKeys>>);

impl KeyLog for Capture {
    fn dangerous_log_ike_keys(&self, spi_i: u64, spi_r: u64, k: &IkeKeys) {
        if let Ok(mut v) = self.0.lock() {
            v.push(SaKeys {
                spi_i,
                spi_r,
                encr: k.encr,
                integ: k.integ,
                sk_ei: k.sk_ei.as_bytes().to_vec(),
                sk_ai: k.sk_ai.as_bytes().to_vec(),
                sk_er: k.sk_er.as_bytes().to_vec(),
                sk_ar: k.sk_ar.as_bytes().to_vec(),
            });
        }
    }
}

/// The hub of the scenario (PSK `cisco`, pool 10.1.1.100-175), with small half-open limits so
/// that the cookie and limit paths are reached by short inputs.
pub fn hub(now: Instant, seed: u64, key_log: Arc<dyn KeyLog>) -> Ep {
    let mut c = EndpointConfig::new();
    c.responder = Some(ResponderConfig {
        psks: vec![(None, Psk::new(b"cisco"))],
        pool: AddressPool::new(Ipv4Addr::new(10, 1, 1, 100), Ipv4Addr::new(10, 1, 1, 175)).ok(),
        policy: SaPolicy::new(Identification::fqdn("hub")),
    });
    c.half_open_limit = 8;
    c.cookie_threshold = 3;
    c.half_open_timeout = Duration::from_secs(5);
    c.queue_limit = 64;
    c.key_log = key_log;
    Endpoint::new(c, ChaCha20Rng::seed_from_u64(seed), now)
}

/// A spoke that connects to the hub.
pub fn spoke(now: Instant, seed: u64) -> (Ep, Option<SaHandle>) {
    let mut c = EndpointConfig::new();
    c.queue_limit = 64;
    let mut e = Endpoint::new(c, ChaCha20Rng::seed_from_u64(seed), now);
    let h = e
        .connect(
            now,
            PeerConfig {
                remote: HUB,
                local: SPOKE,
                psk: Psk::new(b"cisco"),
                remote_id: None,
                request_address: true,
                initial_contact: true,
                policy: SaPolicy::new(Identification::key_id(b"spoke1")),
            },
        )
        .ok();
    (e, h)
}

/// Drains both endpoints into each other until neither has anything to send. Every datagram
/// is also handed to `seen` (from the spoke: true). Returns how many datagrams moved.
pub fn pump(now: Instant, a: &mut Ep, b: &mut Ep, mut seen: impl FnMut(bool, &Transmit)) -> usize {
    let mut moved = 0;
    for _ in 0..16 {
        let mut progress = false;
        while let Some(t) = a.poll_transmit() {
            seen(true, &t);
            let _ = b.handle_datagram(now, t.remote, t.local, &t.payload);
            progress = true;
            moved += 1;
        }
        while let Some(t) = b.poll_transmit() {
            seen(false, &t);
            let _ = a.handle_datagram(now, t.remote, t.local, &t.payload);
            progress = true;
            moved += 1;
        }
        drain_events(a);
        drain_events(b);
        if !progress {
            break;
        }
    }
    moved
}

/// Drains the event queue, checking it is bounded.
pub fn drain_events(e: &mut Ep) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(ev) = e.poll_event() {
        v.push(ev);
        assert!(v.len() <= 4096, "unbounded event queue");
    }
    v
}

/// Whether the SA behind `h` is established.
pub fn established(e: &Ep, h: SaHandle) -> bool {
    e.sa_info(h).is_some_and(|i| i.state == "Established")
}

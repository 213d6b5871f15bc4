//! Entry points for the fuzz targets; compiled only with `--cfg fuzzing`.
//!
//! Nothing here switches a check off: [`SkHarness`] gets past the SK payload by sealing the
//! fuzzer's bytes with the real key of an IKE SA it established itself, so the responder's
//! real ICV check passes and its payload handling sees arbitrary decrypted content.

use core::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use crate::config::{AddressPool, EndpointConfig, PeerConfig, Psk, ResponderConfig, SaPolicy};
use crate::endpoint::Endpoint;
use crate::error::InputError;
use crate::event::{Event, SaHandle};
use crate::wire::{ExchangeType, Identification, PayloadType};

/// A deterministic xorshift RNG. NOT cryptographic: fuzzing only.
#[derive(Debug, Clone)]
pub struct FuzzRng(u64);

impl FuzzRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
}

impl RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 56) as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for FuzzRng {}

/// The hub's address in the harnesses.
pub const HUB: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500);

/// A responder endpoint with a pool and PSK `cisco`.
pub fn responder(seed: u64, now: Instant) -> Endpoint<FuzzRng> {
    let mut c = EndpointConfig::new();
    c.cookie_threshold = 4;
    c.half_open_limit = 16;
    c.queue_limit = 64;
    c.responder = Some(ResponderConfig {
        psks: vec![(None, Psk::new(b"cisco"))],
        pool: AddressPool::new(Ipv4Addr::new(10, 1, 1, 100), Ipv4Addr::new(10, 1, 1, 103)).ok(),
        policy: SaPolicy::new(Identification::fqdn("hub")),
    });
    Endpoint::new(c, FuzzRng::new(seed), now)
}

/// An initiator configuration towards [`HUB`] from `local`.
pub fn initiator_config(local: SocketAddr) -> PeerConfig {
    PeerConfig {
        remote: HUB,
        local,
        psk: Psk::new(b"cisco"),
        remote_id: None,
        request_address: true,
        initial_contact: false,
        policy: SaPolicy::new(Identification::key_id(b"spoke")),
    }
}

/// Moves every datagram between two endpoints until both are quiet (bounded).
pub fn shuttle(a: &mut Endpoint<FuzzRng>, b: &mut Endpoint<FuzzRng>, now: Instant) {
    for _ in 0..8 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            moved = true;
            let _ = b.handle_datagram(now, t.remote, t.local, &t.payload);
        }
        while let Some(t) = b.poll_transmit() {
            moved = true;
            let _ = a.handle_datagram(now, t.remote, t.local, &t.payload);
        }
        if !moved {
            break;
        }
    }
}

/// An established IKE SA between a spoke and a hub, for feeding the hub arbitrary
/// decrypted payload chains.
pub struct SkHarness {
    /// The responder under test.
    pub hub: Endpoint<FuzzRng>,
    spoke: Endpoint<FuzzRng>,
    spoke_sa: SaHandle,
    rng: FuzzRng,
    now: Instant,
    spoke_addr: SocketAddr,
}

impl SkHarness {
    /// Runs a handshake; `None` if it did not complete (it always does).
    pub fn new(now: Instant) -> Option<Self> {
        let mut hub = responder(1, now);
        let mut spoke = Endpoint::new(EndpointConfig::new(), FuzzRng::new(2), now);
        let spoke_addr = SocketAddr::from(([192, 0, 2, 1], 500));
        let spoke_sa = spoke.connect(now, initiator_config(spoke_addr)).ok()?;
        shuttle(&mut spoke, &mut hub, now);
        while spoke.poll_event().is_some() {}
        while hub.poll_event().is_some() {}
        (hub.handles().len() == 1).then_some(Self {
            hub,
            spoke,
            spoke_sa,
            rng: FuzzRng::new(3),
            now,
            spoke_addr,
        })
    }

    /// Seals `plain` as the inner chain (first payload `first`) of a request of `exchange`
    /// with the spoke's real keys and gives it to the hub. Drains the hub's output and
    /// returns the number of events it produced.
    ///
    /// # Errors
    /// What the hub's `handle_datagram` returns.
    pub fn inject(&mut self, exchange: u8, first: u8, plain: &[u8]) -> Result<usize, InputError> {
        let sa = self
            .spoke
            .sa_mut(self.spoke_sa)
            .ok_or(InputError::UnknownSa)?;
        let bytes = sa
            .forge_request(
                &mut self.rng,
                ExchangeType(exchange),
                PayloadType(first),
                plain,
            )
            .ok_or(InputError::UnknownSa)?;
        let r = self
            .hub
            .handle_datagram(self.now, HUB, self.spoke_addr, &bytes);
        while self.hub.poll_transmit().is_some() {}
        let mut n = 0;
        while let Some(e) = self.hub.poll_event() {
            n += 1;
            if let Event::IkeSaDeleted { .. } = e {
                // Legitimate: the chain held a Delete of the IKE SA.
            }
        }
        r.map(|()| n)
    }

    /// True while the hub still has the IKE SA.
    pub fn hub_has_sa(&self) -> bool {
        !self.hub.handles().is_empty()
    }
}

/// How an initiator reads a CP(CFG_REPLY) into the event's [`crate::InternalConfig`].
pub fn read_cp_reply(c: &crate::wire::Configuration) -> crate::InternalConfig {
    crate::sa::fsm::read_cp_reply(c)
}

//! The two ends of the benched handshake: a hub (responder with a PSK and an
//! address pool) and spokes (initiators asking for an address), one suite
//! (AES-GCM-16-256, PRF-HMAC-SHA2-256) with the DH group under test.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use ikev2::crypto::{DhGroup, EncrAlg, PrfAlg};
use ikev2::wire::Identification;
use ikev2::{
    AddressPool, Endpoint, EndpointConfig, Event, IkeSuite, PeerConfig, Psk, ResponderConfig,
    SaPolicy,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
pub(crate) fn epoch() -> Instant {
    Instant::now()
}

pub(crate) fn hub(group: DhGroup, seed: u64, now: Instant) -> Endpoint<ChaCha20Rng> {
    let mut c = EndpointConfig::new();
    let mut p = SaPolicy::new(Identification::fqdn("hub"));
    p.ike_proposals = vec![IkeSuite::gcm(
        EncrAlg::AesGcm16_256,
        PrfAlg::HmacSha256,
        group,
    )];
    c.responder = Some(ResponderConfig {
        psks: vec![(None, Psk::new(b"cisco"))],
        pool: Some(
            AddressPool::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 255, 255, 254))
                .unwrap_or_else(|_| unreachable!()),
        ),
        policy: p,
    });
    c.half_open_limit = usize::MAX;
    c.cookie_threshold = usize::MAX;
    Endpoint::new(c, ChaCha20Rng::seed_from_u64(seed), now)
}

pub(crate) fn peer(group: DhGroup, i: u32) -> PeerConfig {
    let mut p = SaPolicy::new(Identification::key_id(&i.to_be_bytes()));
    p.ike_proposals = vec![IkeSuite::gcm(
        EncrAlg::AesGcm16_256,
        PrfAlg::HmacSha256,
        group,
    )];
    PeerConfig {
        remote: SocketAddr::from(([198, 51, 100, 1], 500)),
        local: SocketAddr::from((Ipv4Addr::from(0xc000_0000 | i), 500)),
        psk: Psk::new(b"cisco"),
        remote_id: None,
        request_address: true,
        initial_contact: false,
        policy: p,
    }
}

/// One full handshake; returns the number of Child SAs the spoke installed (1).
pub(crate) fn handshake(
    hub: &mut Endpoint<ChaCha20Rng>,
    spoke: &mut Endpoint<ChaCha20Rng>,
    group: DhGroup,
    i: u32,
    now: Instant,
) -> usize {
    let _ = spoke.connect(now, peer(group, i));
    let mut installed = 0;
    for _ in 0..4 {
        while let Some(t) = spoke.poll_transmit() {
            let _ = hub.handle_datagram(now, t.remote, t.local, &t.payload);
        }
        while let Some(t) = hub.poll_transmit() {
            let _ = spoke.handle_datagram(now, t.remote, t.local, &t.payload);
        }
        while let Some(e) = spoke.poll_event() {
            installed += usize::from(matches!(e, Event::ChildSaInstalled { .. }));
        }
        while hub.poll_event().is_some() {}
    }
    installed
}

pub(crate) const GROUPS: [(&str, DhGroup); 3] = [
    ("curve25519", DhGroup::Curve25519),
    ("p256", DhGroup::Ecp256),
    ("modp2048", DhGroup::Modp2048),
];

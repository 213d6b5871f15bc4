//! Full handshakes (IKE_SA_INIT + IKE_AUTH with one Child SA, PSK), both ends in this
//! process, per Diffie-Hellman group side by side; and the memory one established IKE SA
//! (with its Child SA) holds in a responder.
//!
//! `cargo bench -p ikev2 --bench handshake -- --warm-up-time 1 --measurement-time 3`
//! The OpenSSL reference figures: `ikev2/benches/openssl_speed.sh`.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ikev2::crypto::{DhGroup, EncrAlg, PrfAlg};
use ikev2::wire::Identification;
use ikev2::{
    AddressPool, Endpoint, EndpointConfig, Event, IkeSuite, PeerConfig, Psk, ResponderConfig,
    SaPolicy,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fn hub(group: DhGroup, seed: u64, now: Instant) -> Endpoint<ChaCha20Rng> {
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

fn peer(group: DhGroup, i: u32) -> PeerConfig {
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
fn handshake(
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

const GROUPS: [(&str, DhGroup); 3] = [
    ("curve25519", DhGroup::Curve25519),
    ("p256", DhGroup::Ecp256),
    ("modp2048", DhGroup::Modp2048),
];

fn bench_handshakes(c: &mut Criterion) {
    let now = epoch();
    let mut g = c.benchmark_group("full_handshake");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, group) in GROUPS {
        g.bench_function(name, |b| {
            let mut i = 0u32;
            b.iter_batched(
                || {
                    i += 1;
                    (
                        i,
                        hub(group, u64::from(i), now),
                        Endpoint::new(
                            EndpointConfig::new(),
                            ChaCha20Rng::seed_from_u64(u64::from(i) << 32),
                            now,
                        ),
                    )
                },
                |(k, mut h, mut s)| {
                    let n = handshake(&mut h, &mut s, group, k, now);
                    assert_eq!(n, 1);
                    black_box((h, s))
                },
                criterion::BatchSize::SmallInput,
            );
        });
    }
    g.finish();
    // The floor: the Diffie-Hellman work of one handshake alone (two key pairs, two shared
    // secrets), on the same inputs, so the ratio survives a loaded machine.
    let mut g = c.benchmark_group("dh_work_of_one_handshake");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, group) in GROUPS {
        g.bench_function(name, |b| {
            let mut rng = ChaCha20Rng::seed_from_u64(9);
            b.iter(|| {
                let (x, xp) = ikev2::crypto::DhSecret::generate(group, &mut rng);
                let (y, yp) = ikev2::crypto::DhSecret::generate(group, &mut rng);
                let s1 = x.shared(&yp).unwrap_or_else(|_| unreachable!());
                let s2 = y.shared(&xp).unwrap_or_else(|_| unreachable!());
                black_box((s1, s2))
            });
        });
    }
    g.finish();
}

fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Memory per established SA in the responder: RSS growth over 5,000 SAs.
fn memory_per_sa(_c: &mut Criterion) {
    const N: u32 = 5_000;
    let now = epoch();
    let mut h = hub(DhGroup::Curve25519, 7, now);
    let mut spoke = Endpoint::new(EndpointConfig::new(), ChaCha20Rng::seed_from_u64(8), now);
    // Warm up allocator pools.
    for i in 0..200 {
        handshake(&mut h, &mut spoke, DhGroup::Curve25519, i, now);
    }
    let before = rss_bytes().unwrap_or(0);
    let mut hubs = h;
    let mut total = 0;
    for i in 200..200 + N {
        // A fresh spoke each time, dropped afterwards: only the hub's state grows.
        let mut s = Endpoint::new(
            EndpointConfig::new(),
            ChaCha20Rng::seed_from_u64(u64::from(i)),
            now,
        );
        total += handshake(&mut hubs, &mut s, DhGroup::Curve25519, i, now);
    }
    let after = rss_bytes().unwrap_or(0);
    assert_eq!(total, N as usize);
    println!(
        "memory_per_established_sa (responder, 1 Child SA): {} bytes ({} SAs, RSS {} -> {} KiB)",
        after.saturating_sub(before) / N as usize,
        hubs.handles().len(),
        before / 1024,
        after / 1024
    );
    black_box(hubs);
}

criterion_group!(benches, bench_handshakes, memory_per_sa);
criterion_main!(benches);

//! Diffie-Hellman cost per group, side by side: key generation alone, and one
//! side's whole share of a handshake (key generation + shared secret), for
//! Curve25519 (group 31), P-256 (group 19) and MODP-2048 (group 14), with
//! ring's X25519 and P-256 ECDH beside them as the reference in the same run
//! (`ring/*`). ring only takes its own system RNG, so the reference side uses
//! `ring::rand::SystemRandom`; ours uses a seeded ChaCha20.
//!
//! `cargo bench -p ikev2 --bench dh -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, reason = "criterion_group! generates an undocumented fn")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ikev2::crypto::{DhGroup, DhSecret};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn dh(c: &mut Criterion) {
    let groups = [
        ("x25519", DhGroup::Curve25519),
        ("p256", DhGroup::Ecp256),
        ("modp2048", DhGroup::Modp2048),
    ];
    let mut rng = ChaCha20Rng::seed_from_u64(42);

    let mut keygen = c.benchmark_group("dh_keygen");
    keygen.throughput(Throughput::Elements(1));
    for (name, group) in groups {
        keygen.bench_function(name, |b| {
            b.iter(|| DhSecret::generate(black_box(group), &mut rng));
        });
    }
    keygen.finish();

    let mut full = c.benchmark_group("dh_keygen_plus_shared");
    full.throughput(Throughput::Elements(1));
    for (name, group) in groups {
        let (_, peer_public) = DhSecret::generate(group, &mut rng);
        full.bench_function(name, |b| {
            b.iter(|| {
                let (secret, public) = DhSecret::generate(black_box(group), &mut rng);
                black_box(public);
                secret.shared(black_box(&peer_public))
            });
        });
    }
    for (name, alg) in [
        ("ring/x25519", &ring::agreement::X25519),
        ("ring/p256", &ring::agreement::ECDH_P256),
    ] {
        let sys = ring::rand::SystemRandom::new();
        let peer = ring::agreement::EphemeralPrivateKey::generate(alg, &sys).unwrap();
        let peer_public = peer.compute_public_key().unwrap();
        let peer_public =
            ring::agreement::UnparsedPublicKey::new(alg, peer_public.as_ref().to_vec());
        full.bench_function(name, |b| {
            b.iter(|| {
                let k = ring::agreement::EphemeralPrivateKey::generate(alg, &sys).unwrap();
                black_box(k.compute_public_key().unwrap());
                ring::agreement::agree_ephemeral(k, black_box(&peer_public), |s| s[0])
            });
        });
    }
    full.finish();
}

criterion_group!(benches, dh);
criterion_main!(benches);

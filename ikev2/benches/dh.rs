//! Diffie-Hellman cost per group, side by side: key generation alone, and one
//! side's whole share of a handshake (key generation + shared secret), for
//! Curve25519 (group 31), P-256 (group 19) and MODP-2048 (group 14), with
//! ring's X25519 and P-256 ECDH beside them as the reference in the same run
//! (`ring/*`). ring only takes its own system RNG, so the reference side uses
//! `ring::rand::SystemRandom`; ours uses a seeded ChaCha20.
//!
//! A last group times the rest of a handshake's crypto (key derivation, one
//! SK payload, AUTH) for the per-handshake budget.
//!
//! `cargo bench -p ikev2 --bench dh -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, reason = "criterion_group! generates an undocumented fn")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ikev2::crypto::{
    ChildKeys, DhGroup, DhSecret, Direction, EncrAlg, IntegAlg, PrfAlg, derive_ike_keys, psk_auth,
    signed_octets, verify_psk_auth,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[path = "common/cpu_time.rs"]
mod cpu_time;
use cpu_time::CpuTime;

fn dh(c: &mut Criterion<CpuTime>) {
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

/// The rest of a handshake's crypto, for the budget beside DH: key
/// derivation (prf+ for SK_*), Child SA KEYMAT, one IKE_AUTH-sized SK payload
/// sealed and opened, and AUTH computed and verified.
fn handshake_rest(c: &mut Criterion<CpuTime>) {
    let mut rng = ChaCha20Rng::seed_from_u64(43);
    let (ni, nr, g_ir) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let (prf, encr, integ) = (PrfAlg::HmacSha256, EncrAlg::AesGcm16_256, IntegAlg::None);
    let keys = derive_ike_keys(prf, encr, integ, &ni, &nr, &g_ir, 1, 2).unwrap();
    let sk = keys.cipher(Direction::InitiatorToResponder).unwrap();
    let inner = vec![0x55u8; 300];
    let prefix = [0u8; 32];
    let octets = signed_octets(
        prf,
        &[7u8; 400],
        &nr,
        keys.sk_pi.as_bytes(),
        &[1, 0, 0, 0, 10, 0, 0, 1],
    );

    let mut g = c.benchmark_group("handshake_crypto_sha256_gcm256");
    g.throughput(Throughput::Elements(1));
    g.bench_function("derive_ike_keys", |b| {
        b.iter(|| derive_ike_keys(prf, encr, integ, &ni, &nr, black_box(&g_ir), 1, 2));
    });
    g.bench_function("child_keys", |b| {
        b.iter(|| {
            ChildKeys::derive(
                prf,
                black_box(keys.sk_d.as_bytes()),
                None,
                &ni,
                &nr,
                encr,
                integ,
            )
        });
    });
    g.bench_function("sk_cipher_new+seal+open_300B", |b| {
        b.iter(|| {
            let c = keys.cipher(Direction::InitiatorToResponder).unwrap();
            let body = c.seal(&prefix, black_box(&inner), &mut rng).unwrap();
            sk.open(&prefix, &body)
        });
    });
    g.bench_function("psk_auth+verify", |b| {
        b.iter(|| {
            let a = psk_auth(prf, b"cisco", black_box(&octets));
            verify_psk_auth(prf, b"cisco", &octets, &a)
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime::new());
    targets = dh, handshake_rest
}
criterion_main!(benches);

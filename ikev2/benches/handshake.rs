//! Full handshakes (IKE_SA_INIT + IKE_AUTH with one Child SA, PSK), both ends in this
//! process, per Diffie-Hellman group side by side, beside the Diffie-Hellman work of one
//! handshake alone. Times are the bench thread's CPU time (`common/cpu_time.rs`), so the
//! figures are per core even on a loaded machine.
//!
//! `cargo bench -p ikev2 --bench handshake -- --warm-up-time 1 --measurement-time 3`
//! Memory per SA: `cargo bench -p ikev2 --bench memory`. The OpenSSL reference figures:
//! `ikev2/benches/openssl_speed.sh`.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;
use std::time::Duration;

use cpu_time::CpuTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ikev2::Endpoint;
use ikev2::EndpointConfig;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use setup::{GROUPS, epoch, handshake, hub};

#[path = "common/cpu_time.rs"]
mod cpu_time;
#[path = "common/setup.rs"]
mod setup;

fn bench_handshakes(c: &mut Criterion<CpuTime>) {
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
    // The X25519 of the previous version, x25519-dalek 2 (key pairs from the same
    // Edwards basepoint table, shared secrets by the Montgomery ladder), for the
    // before/after ratio in one run.
    g.bench_function("curve25519_before_x25519_dalek_ladder", |b| {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        b.iter(|| {
            let x = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
            let y = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
            let (xp, yp) = (
                x25519_dalek::PublicKey::from(&x),
                x25519_dalek::PublicKey::from(&y),
            );
            let s1 = x.diffie_hellman(&yp);
            let s2 = y.diffie_hellman(&xp);
            black_box((s1.was_contributory(), s2.was_contributory(), s1, s2))
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime::new());
    targets = bench_handshakes
}
criterion_main!(benches);

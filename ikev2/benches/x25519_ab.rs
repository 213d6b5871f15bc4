//! X25519 before/after, paired: the Diffie-Hellman work of one handshake (two
//! key pairs, two shared secrets) with this crate's `DhSecret` (Edwards-form
//! shared secret) and with x25519-dalek 2 (Montgomery ladder, the previous
//! implementation), timed in alternating short rounds of thread CPU time. On a
//! shared machine the load changes from second to second; the median of the
//! per-round ratios is steadier than two separate criterion runs.
//!
//! `cargo bench -p ikev2 --bench x25519_ab`
#![allow(missing_docs, reason = "bench binary")]

use std::hint::black_box;
use std::time::Duration;

use ikev2::crypto::{DhGroup, DhSecret};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[path = "common/cpu_time.rs"]
#[allow(dead_code, reason = "only the clock is used here")]
mod cpu_time;

const ROUNDS: usize = 400;
const PER_ROUND: u32 = 10;

fn now_side(rng: &mut ChaCha20Rng) {
    let (x, xp) = DhSecret::generate(DhGroup::Curve25519, rng);
    let (y, yp) = DhSecret::generate(DhGroup::Curve25519, rng);
    let s = (x.shared(&yp), y.shared(&xp));
    assert!(s.0.is_ok() && s.0 == s.1);
    let _ = black_box(s);
}

fn before_side(rng: &mut ChaCha20Rng) {
    let x = x25519_dalek::StaticSecret::random_from_rng(&mut *rng);
    let y = x25519_dalek::StaticSecret::random_from_rng(&mut *rng);
    let (xp, yp) = (
        x25519_dalek::PublicKey::from(&x),
        x25519_dalek::PublicKey::from(&y),
    );
    let (s1, s2) = (x.diffie_hellman(&yp), y.diffie_hellman(&xp));
    assert!(s1.was_contributory() && s1.as_bytes() == s2.as_bytes());
    black_box((s1, s2));
}

fn time(f: fn(&mut ChaCha20Rng), rng: &mut ChaCha20Rng) -> Duration {
    let t0 = cpu_time::thread_cpu_time();
    for _ in 0..PER_ROUND {
        f(rng);
    }
    (cpu_time::thread_cpu_time() - t0) / PER_ROUND
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut now, mut before, mut ratio) = (vec![], vec![], vec![]);
    for r in 0..ROUNDS {
        // Alternate which goes first, so neither always follows the other.
        let (a, b) = if r % 2 == 0 {
            let a = time(now_side, &mut rng);
            (a, time(before_side, &mut rng))
        } else {
            let b = time(before_side, &mut rng);
            (time(now_side, &mut rng), b)
        };
        now.push(a.as_secs_f64() * 1e6);
        before.push(b.as_secs_f64() * 1e6);
        ratio.push(a.as_secs_f64() / b.as_secs_f64());
    }
    println!(
        "x25519 DH work of one handshake, median of {ROUNDS} paired rounds (thread CPU time): \
         now {:.1} us, before (x25519-dalek ladder) {:.1} us, now/before {:.3}",
        median(&mut now),
        median(&mut before),
        median(&mut ratio)
    );
}

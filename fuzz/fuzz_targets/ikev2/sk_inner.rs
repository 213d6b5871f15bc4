//! ikev2_sk_inner (*_engine, after SK decryption): arbitrary inner payload chains, sealed
//! with the real key of an established IKE SA, fed to the responder in INFORMATIONAL and
//! CREATE_CHILD_SA requests. Invariants: no panic; only a Delete of the IKE SA removes it.
#![no_main]

use std::time::Instant;

use ikev2::fuzzing::SkHarness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods, reason = "fuzz driver: one clock read")]
    let now = Instant::now();
    let Some(mut h) = SkHarness::new(now) else {
        return;
    };
    // Split the input into messages: [exchange selector, first payload, len, bytes...].
    let mut rest = data;
    while let [sel, first, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chain, next) = tail.split_at(n);
        let exchange = if sel & 1 == 0 { 37 } else { 36 };
        let had = h.hub_has_sa();
        let _ = h.inject(exchange, *first, chain);
        if had && !h.hub_has_sa() {
            // Only a Delete payload (type 42) can take the IKE SA down.
            assert!(chain.contains(&42) || *first == 42);
        }
        rest = next;
    }
});

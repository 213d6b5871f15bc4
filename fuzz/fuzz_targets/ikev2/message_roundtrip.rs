//! `ikev2_message_roundtrip` (kind: roundtrip, structure-aware): an arbitrary `Message` value.
//! Invariants (the `ikev2::wire` contract): emitting never panics; what emits parses back to
//! the same value, and emitting that again gives the same bytes. The only values allowed not to
//! come back are the ones the contract excludes (non-zero reserved flag bits, unknown payloads
//! that parse refuses as critical) and two gaps this target found and that are reported, not
//! fixed (see `known_gap`).
#![no_main]

use ikev2::wire::{Flags, Message, Payload};
use libfuzzer_sys::fuzz_target;

/// Values `emit` accepts although they cannot round-trip (found by this target, reported to
/// the ikev2 owner): a minor version above 15 (a 4-bit field, silently truncated) and an SA
/// payload without proposals (emitted as an empty SA payload, which `parse` refuses).
fn known_gap(m: &Message) -> bool {
    m.header.minor_version > 15
        || m.payloads
            .iter()
            .any(|p| matches!(p, Payload::Sa(sa) if sa.proposals.is_empty()))
}

fuzz_target!(|m: Message| {
    let _ = m.to_string();
    if known_gap(&m) {
        let _ = m.emit();
        return;
    }
    let Ok(bytes) = m.emit() else { return };
    let parsed = match Message::parse(&bytes) {
        Ok(p) => p,
        Err(e) => {
            // An unknown payload marked critical is refused on receipt (RFC 7296 2.5); a value
            // with such a payload (or a known type dressed as unknown) cannot come back.
            let odd = m
                .payloads
                .iter()
                .any(|p| matches!(p, Payload::Unknown { .. }));
            assert!(odd, "emit gave bytes that do not parse: {e} ({m:?})");
            return;
        }
    };
    assert_eq!(
        parsed.emit().expect("emits twice"),
        bytes,
        "emit not stable"
    );
    let reserved = m.header.flags.0 & !(Flags::INITIATOR | Flags::RESPONSE | Flags::VERSION) != 0;
    let odd = m
        .payloads
        .iter()
        .any(|p| matches!(p, Payload::Unknown { .. }));
    if !reserved && !odd && parsed != m {
        // Report what differs first, which is what a bug report needs.
        assert_eq!(parsed.header, m.header, "header does not round-trip");
        let at = m
            .payloads
            .iter()
            .zip(&parsed.payloads)
            .position(|(a, b)| a != b);
        panic!("parse(emit(m)) != m at payload {at:?}:\n{m:?}\n{parsed:?}");
    }
});

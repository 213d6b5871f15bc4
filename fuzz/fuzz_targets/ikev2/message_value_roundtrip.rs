//! `ikev2_message_value_roundtrip` (kind: roundtrip, structure-aware): an arbitrary `Message` value.
//! Invariants (the `ikev2::wire` contract): emitting never panics; what emits parses back to
//! the same value, and emitting that again gives the same bytes. The only values allowed not to
//! come back are the ones the contract excludes (non-zero reserved flag bits, unknown payloads
//! that parse refuses as critical) and two gaps this target found and that are reported, not
//! fixed (see `known_gap`).
#![no_main]

use ikev2::wire::{Flags, MAX_FRAGMENTS, Message, Payload};
use libfuzzer_sys::fuzz_target;

/// Values `emit` accepts although they cannot round-trip (found by this target, reported to
/// the ikev2 owner, not fixed here): a minor version above 15 (a 4-bit field, truncated); an
/// SA payload without proposals (parse refuses an empty SA payload); an SKF payload whose
/// number is 0 or above its total, or whose total is above `MAX_FRAGMENTS` (parse refuses
/// them); a CP attribute type above 0x7fff (the top bit is the reserved bit on the wire and
/// is dropped on parse).
fn known_gap(m: &Message) -> bool {
    m.header.minor_version > 15
        || m.payloads.iter().any(|p| match p {
            Payload::Sa(sa) => sa.proposals.is_empty(),
            Payload::Skf(f) => f.number == 0 || f.number > f.total || f.total > MAX_FRAGMENTS,
            Payload::Cp(c) => c.attributes.iter().any(|a| a.ty.0 > 0x7fff),
            _ => false,
        })
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

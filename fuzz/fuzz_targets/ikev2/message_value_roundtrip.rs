//! `ikev2_message_value_roundtrip` (kind: roundtrip, structure-aware): an arbitrary `Message` value.
//! Invariants (the `ikev2::wire` contract): emitting never panics; what emits parses back to
//! the same value, and emitting that again gives the same bytes. Values allowed not to come back:
//! non-zero reserved flag bits (the contract excludes them), unknown payloads, values `parse`
//! refuses, and two gaps this target found (see `known_gap`).
#![no_main]

use ikev2::wire::{Attribute, Flags, Message, Payload};
use libfuzzer_sys::fuzz_target;

/// Values that emit and parse back different (found by this target, reported to the ikev2
/// owner, not fixed here): a minor version above 15 (a 4-bit field, truncated on emit) and a
/// CP or transform attribute type above 0x7fff (the top bit is the reserved / AF bit on the
/// wire, dropped or reinterpreted on parse).
fn known_gap(m: &Message) -> bool {
    m.header.minor_version > 15
        || m.payloads.iter().any(|p| match p {
            Payload::Cp(c) => c.attributes.iter().any(|a| a.ty.0 > 0x7fff),
            Payload::Sa(sa) => sa.proposals.iter().any(|p| {
                p.transforms.iter().any(|t| {
                    t.attributes.iter().any(|a| match a {
                        Attribute::Tv { ty, .. } | Attribute::Tlv { ty, .. } => *ty > 0x7fff,
                    })
                })
            }),
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
    // `emit` does not validate values: it also writes what `parse` refuses (an SA payload
    // without proposals, an SKF numbered 0 or above its total, an IPv4 identification of one
    // byte, ...). That is reported; here such a value simply does not come back.
    let Ok(parsed) = Message::parse(&bytes) else {
        return;
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

//! `ikev2_message_parse` (kind: parse + roundtrip): arbitrary bytes as an IKE datagram, as a
//! datagram on the NAT-T port (non-ESP marker), and as a bare payload chain.
//! Invariants: no panic; whatever parses emits, the emitted bytes parse to the same value and
//! emit again to the same bytes; the emitted length equals the input length (lengths are
//! recomputed, never taken from the input).
#![no_main]

use ikev2::wire::{self, Datagram4500, Message, PayloadType};
use libfuzzer_sys::fuzz_target;

fn roundtrip(data: &[u8]) {
    let Ok(m) = Message::parse(data) else { return };
    let _ = m.to_string();
    let _ = m.sk();
    let out = m.emit().expect("a parsed message emits");
    assert_eq!(out.len(), data.len(), "length not conserved for {m}");
    let again = Message::parse(&out).expect("emitted bytes parse");
    assert_eq!(again, m, "parse(emit(m)) != m");
    assert_eq!(again.emit().expect("emits twice"), out, "emit not stable");
}

fuzz_target!(|data: &[u8]| {
    roundtrip(data);
    if let Datagram4500::Ike(ike) = wire::classify_4500(data) {
        roundtrip(ike);
    }
    // A chain as found inside an SK payload: first byte = first payload type.
    if let Some((&first, rest)) = data.split_first()
        && let Ok(chain) = wire::parse_chain(PayloadType(first), rest)
    {
        let (ty, bytes) = wire::emit_chain(&chain).expect("a parsed chain emits");
        if !chain.is_empty() {
            assert_eq!(ty, PayloadType(first));
        }
        assert_eq!(bytes.len(), rest.len(), "chain length not conserved");
        let again = wire::parse_chain(ty, &bytes).expect("emitted chain parses");
        assert_eq!(again, chain);
    }
});

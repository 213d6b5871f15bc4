//! `bgp-lite` round trip (kind: roundtrip): if a message parses without RFC 7606 attribute
//! errors, `parse(emit(r)) == r`, and emitting again gives the same bytes. For input without
//! host bits set past a prefix length, the bytes equal the input.
#![no_main]

use bgp_lite::wire::{DecodeCtx, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let ctx = DecodeCtx {
        four_octet_as: b & 1 == 1,
    };
    let Ok(m) = Message::parse(rest, &ctx) else {
        return;
    };
    if let Message::Update(u) = &m
        && !u.attr_errors.is_empty()
    {
        return;
    }
    let bytes = m.to_bytes(&ctx).expect("a parsed message re-encodes");
    let again = Message::parse(&bytes, &ctx).expect("re-encoded message parses");
    assert_eq!(again, m);
    assert_eq!(again.to_bytes(&ctx).expect("emit"), bytes);
    assert_eq!(bytes.len(), rest.len(), "length conserved");
});

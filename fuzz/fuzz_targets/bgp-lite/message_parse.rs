//! `bgp-lite` message parser: must not panic on any input (kind: parse). The first byte picks
//! the decode context; the Display summary is formatted too.
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
    if let Ok(m) = Message::parse(rest, &ctx) {
        let _ = m.to_string();
    }
});

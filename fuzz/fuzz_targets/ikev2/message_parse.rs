//! ikev2_message_parse (*_parse): no input may panic the message parser, the inner-chain
//! parser or the Display summaries.
#![no_main]

use ikev2::wire::{Message, PayloadType, parse_chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let _ = m.to_string();
    }
    if let Some((first, rest)) = data.split_first()
        && let Ok(chain) = parse_chain(PayloadType(*first), rest)
    {
        for p in &chain {
            let _ = p.summary();
        }
    }
    let _ = ikev2::wire::classify_4500(data);
});

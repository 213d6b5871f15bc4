//! `bgp-lite` stream framer (kind: parse): arbitrary chunking gives the same messages as
//! one push, and the buffer stays bounded.
#![no_main]

use bgp_lite::Framer;
use bgp_lite::wire::{DecodeCtx, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let all = |f: &mut Framer| {
        let mut v = Vec::new();
        loop {
            match f.next() {
                Ok(Some(m)) => v.push(Ok(m)),
                Ok(None) => break,
                Err(e) => {
                    v.push(Err(e));
                    break;
                }
            }
        }
        v
    };
    let mut one = Framer::new(DecodeCtx::default());
    one.push(rest);
    let a = all(&mut one);
    let mut many = Framer::new(DecodeCtx::default());
    let mut b = Vec::new();
    for c in rest.chunks(chunk) {
        many.push(c);
        assert!(many.buffered() <= MAX_MESSAGE_LEN + chunk);
        b.extend(all(&mut many));
        if b.last().is_some_and(Result::is_err) {
            break;
        }
    }
    assert_eq!(a, b);
});

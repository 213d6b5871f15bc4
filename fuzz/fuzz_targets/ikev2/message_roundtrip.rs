//! ikev2_message_roundtrip (*_roundtrip): parse(emit(r)) == r for parsed and for arbitrary
//! messages; emit(parse(x)) == x when x's reserved fields are zero (the canonical form:
//! checked by emitting twice).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use ikev2::wire::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let bytes = m.emit().expect("a parsed message emits");
        let again = Message::parse(&bytes).expect("emitted bytes parse");
        assert_eq!(again, m);
        assert_eq!(
            again.emit().expect("emit"),
            bytes,
            "canonical form is stable"
        );
    }
    let mut u = Unstructured::new(data);
    if let Ok(m) = Message::arbitrary(&mut u)
        && let Ok(bytes) = m.emit()
        // Some arbitrary Reprs are not representable (an unknown payload flagged critical,
        // counts the wire cannot carry); those must fail to parse, not panic.
        && let Ok(back) = Message::parse(&bytes)
    {
        assert_eq!(back.emit().expect("emit"), bytes);
    }
});

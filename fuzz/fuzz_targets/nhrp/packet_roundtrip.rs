//! nhrp_packet_roundtrip (`*_roundtrip` kind): whatever parses re-encodes to the same bytes,
//! and any `Packet` that encodes parses back to a packet that encodes to the same bytes (the
//! canonical form: type bits outside their masks are dropped by `emit`).
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = nhrp::Packet::parse(data) {
        let b = p.emit().expect("a parsed packet encodes");
        assert_eq!(b, data, "emit(parse(x)) != x");
        assert_eq!(nhrp::Packet::parse(&b).expect("parses again"), p);
    }
    let mut u = Unstructured::new(data);
    if let Ok(p) = nhrp::Packet::arbitrary(&mut u)
        && let Ok(b) = p.emit()
        && let Ok(q) = nhrp::Packet::parse(&b)
    {
        assert_eq!(q.emit().expect("re-encodes"), b);
        assert_eq!(q.packet_type(), p.packet_type());
    }
});

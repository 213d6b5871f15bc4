//! nhrp_packet_parse (`*_parse` kind): any bytes give `Ok` or a typed error, never a panic;
//! the error's Error Indication mapping and the Display summary must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match nhrp::Packet::parse(data) {
        Ok(p) => {
            let _ = p.to_string();
        }
        Err(e) => {
            let _ = (e.error_code(), e.offset(), e.to_string());
        }
    }
});

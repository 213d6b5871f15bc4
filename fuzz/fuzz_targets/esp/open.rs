//! esp_open (kind `*_parse` plus invariants): arbitrary bytes given to a fixed inbound SA.
//!
//! Must not panic; when open fails, the replay window and the packet counter must not move.
//! Byte 0 selects what the rest is: odd, a raw packet (mostly refused before or at the ICV);
//! even, a payload that a matching outbound SA seals first, then byte 1 (if non-zero) flips
//! one bit of the sealed packet, so that the trailer, replay and TFC paths behind the ICV are
//! reached too. An untouched sealed packet must open to the same payload.
#![no_main]

use esp::wire::{HEADROOM, sealed_len};
use esp::{InboundSa, Mode, OpenError, OutboundSa, SaParams};
use libfuzzer_sys::fuzz_target;

const KEYMAT: [u8; 36] = [0x24; 36];
const SPI: u32 = 0x0000_0fee;

fn params(esn: bool, mode: Mode) -> SaParams {
    SaParams::from_keymat(SPI, &KEYMAT)
        .expect("keymat")
        .with_esn(esn)
        .with_mode(mode)
        .with_replay_window(64)
        .with_initial_seq(1000)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let esn = sel & 2 != 0;
    let mode = if sel & 4 != 0 {
        Mode::Tunnel
    } else {
        Mode::Transport
    };
    let mut rx = InboundSa::new(params(esn, mode)).expect("inbound");
    let (mut buf, expect) = if sel & 1 == 1 {
        (rest.to_vec(), None)
    } else {
        let Some((&flip, payload)) = rest.split_first() else {
            return;
        };
        let mut tx = OutboundSa::new(params(esn, mode)).expect("outbound");
        let mut buf = vec![0u8; sealed_len(payload.len())];
        buf[HEADROOM..HEADROOM + payload.len()].copy_from_slice(payload);
        if tx.seal_with_headroom(&mut buf, payload.len(), 47).is_err() {
            return;
        }
        if flip != 0 {
            let bit = usize::from(flip) * 7 % (buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            (buf, None)
        } else {
            (buf, Some(payload.to_vec()))
        }
    };
    let top = rx.highest_seq();
    match rx.open_in_place(&mut buf) {
        Ok((o, range)) => {
            assert!(o.seq > 0);
            assert_eq!(rx.highest_seq(), top.max(o.seq));
            let got = &buf[range];
            if let Some(p) = expect {
                assert!(p.starts_with(got), "opened payload differs");
                if mode == Mode::Transport {
                    assert_eq!(got, &p[..]);
                }
            }
        }
        Err(e) => {
            assert!(expect.is_none(), "untouched packet refused: {e}");
            // Only an authentic packet with a bad trailer may move the window (RFC 4303
            // 3.4.3 ties the update to the ICV check); nothing here can forge one.
            if !matches!(e, OpenError::BadPadding | OpenError::BadPadLength(_)) {
                assert_eq!(rx.highest_seq(), top, "window moved on {e}");
            }
        }
    }
});

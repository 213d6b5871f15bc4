//! ikev2_responder_engine (*_engine): datagram sequences from several addresses, ports
//! 500/4500, with time steps, fed to a responder endpoint that also serves one honest
//! initiator. Invariants: no panic, queues bounded, the honest SA stays up once established
//! unless the fuzzer spoke its keys (it cannot).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ikev2::fuzzing::{FuzzRng, HUB, initiator_config, responder, shuttle};
use ikev2::{Endpoint, EndpointConfig};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    Datagram {
        from: u8,
        nat_port: bool,
        bytes: Vec<u8>,
    },
    /// Replay a datagram the honest initiator sent, possibly with one byte flipped.
    Replay {
        index: u8,
        flip: Option<(u16, u8)>,
    },
    Tick {
        millis: u16,
    },
}

fuzz_target!(|inputs: Vec<Input>| {
    #[allow(clippy::disallowed_methods, reason = "fuzz driver: one clock read")]
    let t0 = Instant::now();
    let mut now = t0;
    let mut hub = responder(7, now);
    let mut honest = Endpoint::new(EndpointConfig::new(), FuzzRng::new(9), now);
    let honest_addr = SocketAddr::from(([192, 0, 2, 200], 500));
    let _ = honest.connect(now, initiator_config(honest_addr));
    let mut sent: Vec<Vec<u8>> = Vec::new();
    while let Some(t) = honest.poll_transmit() {
        sent.push(t.payload.clone());
        let _ = hub.handle_datagram(now, t.remote, t.local, &t.payload);
    }
    shuttle(&mut honest, &mut hub, now);
    let established = hub.handles().len();
    for input in inputs.into_iter().take(256) {
        match input {
            Input::Datagram {
                from,
                nat_port,
                bytes,
            } => {
                let port = if nat_port { 4500 } else { 500 };
                let src = SocketAddr::from(([192, 0, 2, from % 8], 500 + u16::from(from)));
                let local = SocketAddr::new(HUB.ip(), port);
                let _ = hub.handle_datagram(now, local, src, &bytes);
            }
            Input::Replay { index, flip } => {
                if let Some(b) = sent.get(usize::from(index) % sent.len().max(1)) {
                    let mut b = b.clone();
                    if let Some((at, x)) = flip {
                        let n = b.len();
                        if n > 0 {
                            b[usize::from(at) % n] ^= x;
                        }
                    }
                    let _ = hub.handle_datagram(now, HUB, honest_addr, &b);
                }
            }
            Input::Tick { millis } => {
                now += Duration::from_millis(u64::from(millis));
                hub.handle_timeout(now);
            }
        }
        let mut n = 0;
        while hub.poll_transmit().is_some() {
            n += 1;
        }
        assert!(n <= 64, "transmit queue bounded");
        let mut n = 0;
        while hub.poll_event().is_some() {
            n += 1;
        }
        assert!(n <= 64, "event queue bounded");
        if let Some(t) = hub.poll_timeout() {
            assert!(t >= t0);
        }
    }
    // Nothing the fuzzer can send without the keys removes the honest SA, except time
    // (half-open expiry does not apply to it: it is established).
    assert!(hub.handles().len() >= established.min(1) || established == 0);
});

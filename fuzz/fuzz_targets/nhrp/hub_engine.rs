//! nhrp_hub_engine (`*_engine` kind): a hub engine of the scenario driven by arbitrary
//! inputs (raw bytes, well-formed packets, forwarded data, timers, peers, tunnel events).
//! Invariants: no panic; the cache never exceeds its bound; every transmitted packet parses;
//! the queues are drained and bounded.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use nhrp::{Forwarded, Peer};

#[derive(Debug, Arbitrary)]
enum Input {
    Bytes {
        from: u8,
        bytes: Vec<u8>,
    },
    Packet {
        from: u8,
        packet: nhrp::Packet,
    },
    Forwarded {
        ingress: Option<u8>,
        egress: u8,
        src: u8,
        dst: u8,
    },
    Timeout,
    AddPeer(u8),
    TunnelDown(u8),
    Resolve(u8),
}

fn peer(i: u8) -> Peer {
    Peer::new(Ipv4Addr::new(10, 1, 1, i), Ipv4Addr::new(172, 16, i % 8, 1))
}

const LIMIT: usize = 32;

fuzz_target!(|steps: Vec<(u16, Input)>| {
    #[allow(clippy::disallowed_methods, reason = "fuzz driver: one clock read")]
    let mut now = std::time::Instant::now();
    let mut e = nhrp::fuzzing::scenario_hub(now, LIMIT);
    for (dt, input) in steps.into_iter().take(256) {
        now += Duration::from_millis(u64::from(dt));
        match input {
            Input::Bytes { from, bytes } => {
                let _ = e.handle_nhrp(now, peer(from).nbma, &bytes);
            }
            Input::Packet { from, packet } => {
                if let Ok(b) = packet.emit() {
                    let _ = e.handle_nhrp(now, peer(from).nbma, &b);
                }
            }
            Input::Forwarded {
                ingress,
                egress,
                src,
                dst,
            } => {
                let mut ip = vec![
                    0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, src, 192, 168, 2, dst,
                ];
                ip.extend_from_slice(&[0; 8]);
                let _ = e.handle_forwarded(
                    now,
                    Forwarded {
                        ingress: ingress.map(peer),
                        egress: peer(egress),
                        packet: &ip,
                    },
                );
            }
            Input::Timeout => {
                if e.poll_timeout().is_some_and(|t| t <= now) {
                    e.handle_timeout(now);
                }
            }
            Input::AddPeer(i) => {
                let _ = e.add_peer(now, peer(i));
            }
            Input::TunnelDown(i) => e.handle_tunnel_down(now, peer(i).nbma),
            Input::Resolve(i) => {
                let _ = e.resolve(now, Ipv4Addr::new(192, 168, 2, i));
            }
        }
        assert!(e.cache().len() <= LIMIT);
        let mut n = 0;
        while let Some(t) = e.poll_transmit() {
            nhrp::Packet::parse(&t.payload).expect("the engine emits well-formed packets");
            n += 1;
        }
        assert!(n <= nhrp::engine::MAX_QUEUE);
        while e.poll_event().is_some() {}
    }
});

//! `ikev2_responder_endpoint` (kind: engine): the hub's endpoint (responder, small half-open
//! limit and cookie threshold) fed an arbitrary sequence of time steps and datagrams from many
//! addresses, on port 500 and on the NAT-T port, while a legitimate spoke connects through
//! the same endpoint. Attacker datagrams are arbitrary bytes, or the spoke's real datagrams
//! replayed, mutated or re-sent from another address.
//! Invariants: no panic; half-open SAs never exceed the limit; transmit and event queues stay
//! bounded; `handle_timeout` settles at a fixed `now`; once the spoke's SA is established on
//! both sides it stays established (nothing an attacker sends without the keys removes it).
#![no_main]

#[path = "common.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use ikev2::NoKeyLog;
use libfuzzer_sys::fuzz_target;

use common::{HUB, HUB_NAT, SPOKE};

#[derive(Debug, Arbitrary)]
enum Step {
    /// Arbitrary bytes from attacker address `from`.
    Raw { from: u8, nat: bool, bytes: Vec<u8> },
    /// Replay datagram `idx` the spoke sent, from `from` (0 = the spoke's own address).
    Replay { idx: u8, from: u8, nat: bool },
    /// Datagram `idx` the spoke sent, with byte `at` xored with `x`.
    Mutate { idx: u8, at: u16, x: u8, from: u8 },
    /// Datagram `idx` the spoke sent, truncated or extended.
    Resize { idx: u8, len: u16 },
    /// Let time pass.
    Wait(u16),
    /// Let the spoke and the hub talk (otherwise they talk only after each step).
    Pump,
}

fn attacker(from: u8) -> SocketAddr {
    if from == 0 {
        return SPOKE;
    }
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(198, 18, from >> 4, from & 0x0f)),
        if from & 1 == 0 {
            500
        } else {
            4500 + u16::from(from)
        },
    )
}

fuzz_target!(|input: (bool, Vec<Step>)| {
    let (quiet_spoke, steps) = input;
    let mut now = common::epoch();
    let mut hub = common::hub(now, 1, Arc::new(NoKeyLog));
    let (mut spoke, handle) = common::spoke(now, 2);
    let Some(handle) = handle else { return };
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut hub_handle = None;
    let mut up = false;
    for step in steps.into_iter().take(64) {
        let dst = |nat: bool| if nat { HUB_NAT } else { HUB };
        match step {
            Step::Raw { from, nat, bytes } => {
                let _ = hub.handle_datagram(now, dst(nat), attacker(from), &bytes);
            }
            Step::Replay { idx, from, nat } => {
                if let Some(d) = pick(&sent, idx) {
                    let d = d.clone();
                    let _ = hub.handle_datagram(now, dst(nat), attacker(from), &d);
                }
            }
            Step::Mutate { idx, at, x, from } => {
                if let Some(d) = pick(&sent, idx) {
                    let mut d = d.clone();
                    if !d.is_empty() {
                        let at = usize::from(at) % d.len();
                        d[at] ^= x.max(1);
                    }
                    let _ = hub.handle_datagram(now, HUB, attacker(from), &d);
                }
            }
            Step::Resize { idx, len } => {
                if let Some(d) = pick(&sent, idx) {
                    let mut d = d.clone();
                    d.resize(usize::from(len) % 2048, 0x41);
                    let _ = hub.handle_datagram(now, HUB, SPOKE, &d);
                }
            }
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms) * 8);
                for _ in 0..4 {
                    hub.handle_timeout(now);
                    spoke.handle_timeout(now);
                }
                assert!(
                    hub.poll_timeout().is_none_or(|t| t > now),
                    "hub timers never settle"
                );
            }
            Step::Pump => {}
        }
        // The hub's answers to attackers go nowhere; its answers to the spoke are delivered.
        let mut n = 0;
        while let Some(t) = hub.poll_transmit() {
            n += 1;
            assert!(n <= 4096, "unbounded transmit queue");
            if t.remote == SPOKE && !quiet_spoke {
                let _ = spoke.handle_datagram(now, t.local, t.remote, &t.payload);
            }
        }
        common::drain_events(&mut hub);
        if !quiet_spoke {
            common::pump(now, &mut spoke, &mut hub, |from_spoke, t| {
                if from_spoke && sent.len() < 32 {
                    sent.push(t.payload.clone());
                }
            });
        }
        assert!(
            hub.half_open() <= 8,
            "half-open {} above the limit",
            hub.half_open()
        );
        if hub_handle.is_none() {
            hub_handle = hub.handles().into_iter().find(|h| {
                hub.sa_info(*h)
                    .is_some_and(|i| i.remote.ip() == SPOKE.ip() && i.state == "Established")
            });
        }
        let both = common::established(&spoke, handle)
            && hub_handle.is_some_and(|h| common::established(&hub, h));
        if up {
            assert!(both, "the spoke's established SA was lost");
        }
        up |= both;
    }
});

fn pick(sent: &[Vec<u8>], idx: u8) -> Option<&Vec<u8>> {
    if sent.is_empty() {
        None
    } else {
        sent.get(usize::from(idx) % sent.len())
    }
}

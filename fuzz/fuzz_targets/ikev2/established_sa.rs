//! `ikev2_established_sa` (kind: engine): a spoke and the hub complete IKE_SA_INIT and
//! IKE_AUTH; the fuzz input then sends arbitrary requests, sealed with the SA's real keys
//! (taken through the `KeyLog` hook), to either side: arbitrary exchange type, message ID near
//! the expected one, flags, and an inner payload chain that is either an arbitrary `Payload`
//! list or arbitrary bytes. Some are sent with a corrupted ICV, some from another address.
//! Invariants: no panic; queues stay bounded; a message whose ICV does not verify changes
//! nothing (state, Child SAs, handle set) and is counted in `stats().integrity_failures`;
//! `handle_timeout` settles at a fixed `now`.
#![no_main]

#[path = "common.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use ikev2::crypto::SkCipher;
use ikev2::wire::{self, Encrypted, ExchangeType, Flags, Header, Message, Payload, PayloadType};
use ikev2::{InputError, SaHandle};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use common::{Capture, Ep, HUB, SPOKE, SaKeys};

#[derive(Debug, Arbitrary)]
enum Inner {
    Payloads(Vec<Payload>),
    Bytes(u8, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Request {
    /// To the spoke (sealed as the hub) instead of to the hub (sealed as the spoke).
    to_spoke: bool,
    exchange: u8,
    /// None: the next expected message ID; Some: this one.
    message_id: Option<u32>,
    response: bool,
    inner: Inner,
    corrupt_icv: Option<u8>,
    from_elsewhere: bool,
    wait_ms: u16,
}

/// Every SA: handle, state, Child SA SPI pairs.
type Snapshot = Vec<(SaHandle, &'static str, Vec<(u32, u32)>)>;

fn snapshot(e: &Ep) -> Snapshot {
    e.handles()
        .into_iter()
        .filter_map(|h| e.sa_info(h).map(|i| (h, i.state, i.children)))
        .collect()
}

fn seal(k: &SaKeys, to_spoke: bool, header: Header, first: PayloadType, pt: &[u8]) -> Vec<u8> {
    let (ek, ak) = if to_spoke {
        (&k.sk_er, &k.sk_ar)
    } else {
        (&k.sk_ei, &k.sk_ai)
    };
    let c = SkCipher::new(k.encr, k.integ, ek, ak).expect("negotiated keys fit");
    let skel = Message {
        header,
        payloads: vec![Payload::Sk(Encrypted {
            first_inner: first,
            body: vec![0; c.sealed_len(pt.len())],
        })],
    };
    let mut d = skel.emit().expect("a lone SK payload emits");
    let n = wire::HEADER_LEN + 4;
    let mut rng = ChaCha20Rng::seed_from_u64(header.message_id.into());
    let body = c.seal(&d[..n], pt, &mut rng).expect("seal");
    d.truncate(n);
    d.extend_from_slice(&body);
    d
}

fuzz_target!(|reqs: Vec<Request>| {
    let mut now = common::epoch();
    let cap = Arc::new(Capture::default());
    let mut hub = common::hub(now, 1, cap.clone());
    let (mut spoke, Some(sh)) = common::spoke(now, 2) else {
        return;
    };
    common::pump(now, &mut spoke, &mut hub, |_, _| {});
    assert!(common::established(&spoke, sh), "handshake failed");
    let Some(keys) = cap.0.lock().ok().and_then(|v| v.first().cloned()) else {
        panic!("no keys logged")
    };
    // Message IDs: the spoke used 0 and 1; the hub has sent no request yet.
    let mut next = [2u32, 0u32];
    let elsewhere = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9)), 500);
    for r in reqs.into_iter().take(32) {
        let to_spoke = r.to_spoke;
        let (first, pt) = match &r.inner {
            Inner::Payloads(p) => match wire::emit_chain(p) {
                Ok(x) => x,
                Err(_) => continue,
            },
            Inner::Bytes(t, b) => (PayloadType(*t), b.clone()),
        };
        let mid = r.message_id.unwrap_or(next[usize::from(to_spoke)]);
        let header = Header {
            spi_i: keys.spi_i,
            spi_r: keys.spi_r,
            minor_version: 0,
            exchange: ExchangeType(34 + r.exchange % 5),
            flags: Flags::new(!to_spoke, r.response),
            message_id: mid,
        };
        let mut d = seal(&keys, to_spoke, header, first, &pt);
        if let Some(x) = r.corrupt_icv {
            let last = d.len() - 1 - usize::from(x % 8);
            d[last] ^= 1 << (x % 8);
        }
        let from = if r.from_elsewhere {
            elsewhere
        } else if to_spoke {
            HUB
        } else {
            SPOKE
        };
        let (target, local) = if to_spoke {
            (&mut spoke, SPOKE)
        } else {
            (&mut hub, HUB)
        };
        let before = snapshot(target);
        let fails = target.stats().integrity_failures;
        let res = target.handle_datagram(now, local, from, &d);
        if r.corrupt_icv.is_some() {
            // Found by this target (reported, fixed): an IKE_SA_INIT request carrying the
            // SA's SPIs was dropped with `Ok(())` and not counted; it is now an error.
            assert!(
                res.is_err() || r.message_id.is_some(),
                "a corrupted ICV was accepted: {res:?}"
            );
            let init = header.exchange == ExchangeType::IKE_SA_INIT;
            if init {
                assert!(
                    matches!(res, Err(InputError::OutOfWindow | InputError::UnknownSa)),
                    "IKE_SA_INIT in an SA: {res:?}"
                );
            } else if r.message_id.is_none() && !r.response && !r.from_elsewhere {
                // In the window, so the ICV is what rejects it.
                let got = target.stats().integrity_failures;
                assert_eq!(got, fails + 1, "bad ICV not counted: {res:?}");
            }
            assert_eq!(snapshot(target), before, "a bad ICV changed the SA");
        }
        let mut answered = false;
        let mut n = 0;
        while let Some(t) = target.poll_transmit() {
            n += 1;
            assert!(n <= 4096, "unbounded transmit queue");
            answered |= t.remote == from;
        }
        common::drain_events(target);
        if r.message_id.is_none() && !r.response && answered && res.is_ok() {
            next[usize::from(to_spoke)] = mid.wrapping_add(1);
        }
        now += Duration::from_millis(u64::from(r.wait_ms));
        for e in [&mut hub, &mut spoke] {
            e.handle_timeout(now);
            assert!(
                e.poll_timeout().is_none_or(|t| t > now),
                "timers never settle"
            );
            while e.poll_transmit().is_some() {}
            common::drain_events(e);
        }
    }
});

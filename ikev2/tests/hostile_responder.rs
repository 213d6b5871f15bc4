//! Hostile input against the responder (the hub's UDP 500/4500 is open to anyone): floods,
//! malformed and oversized messages, bad key-exchange values, fragment floods, retransmission
//! storms and forged INFORMATIONAL messages. Each must be answered or dropped as RFC 7296 says,
//! with bounded state, and must never cost an established SA. Public API only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ikev2::wire::{
    self, DhGroup, Encrypted, EncryptedFragment, ExchangeType, Flags, Header, Identification,
    KeyExchange, Message, Notify, NotifyType, Payload, PayloadType,
};
use ikev2::{
    AddressPool, Endpoint, EndpointConfig, InputError, PeerConfig, Psk, ResponderConfig, SaHandle,
    SaPolicy,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

type Ep = Endpoint<ChaCha20Rng>;

const HUB: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(172, 25, 1, 1)), 500);
const SPOKE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(172, 16, 2, 2)), 500);

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

/// A spoofed source: 10.x.y.z:port, distinct for every `i` below 2^24.
fn spoofed(i: u32) -> SocketAddr {
    let [_, a, b, c] = i.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, c)), 500)
}

fn hub_with(now: Instant, half_open_limit: usize, cookie_threshold: usize) -> Ep {
    let mut c = EndpointConfig::new();
    c.responder = Some(ResponderConfig {
        psks: vec![(None, Psk::new(b"cisco"))],
        pool: Some(
            AddressPool::new(Ipv4Addr::new(10, 1, 1, 100), Ipv4Addr::new(10, 1, 1, 175)).unwrap(),
        ),
        policy: SaPolicy::new(Identification::fqdn("hub")),
    });
    c.half_open_limit = half_open_limit;
    c.cookie_threshold = cookie_threshold;
    c.half_open_timeout = Duration::from_secs(30);
    Endpoint::new(c, ChaCha20Rng::seed_from_u64(1), now)
}

fn spoke(now: Instant, seed: u64, local: SocketAddr) -> (Ep, SaHandle) {
    let mut e = Endpoint::new(EndpointConfig::new(), ChaCha20Rng::seed_from_u64(seed), now);
    let h = e
        .connect(
            now,
            PeerConfig {
                remote: HUB,
                local,
                psk: Psk::new(b"cisco"),
                remote_id: None,
                request_address: true,
                initial_contact: true,
                policy: SaPolicy::new(Identification::key_id(b"spoke")),
            },
        )
        .unwrap();
    (e, h)
}

/// Carries datagrams both ways until quiet; returns every datagram the spoke sent.
fn pump(now: Instant, spoke: &mut Ep, hub: &mut Ep) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    for _ in 0..32 {
        let mut progress = false;
        while let Some(t) = spoke.poll_transmit() {
            sent.push(t.payload.clone());
            let _ = hub.handle_datagram(now, t.remote, t.local, &t.payload);
            progress = true;
        }
        while let Some(t) = hub.poll_transmit() {
            // Only the spoke under test is driven through `pump`: every answer is its.
            let _ = spoke.handle_datagram(now, t.remote, t.local, &t.payload);
            progress = true;
        }
        while spoke.poll_event().is_some() {}
        while hub.poll_event().is_some() {}
        if !progress {
            break;
        }
    }
    sent
}

fn established(e: &Ep, h: SaHandle) -> bool {
    e.sa_info(h).is_some_and(|i| i.state == "Established")
}

fn established_count(e: &Ep) -> usize {
    e.handles()
        .into_iter()
        .filter(|h| established(e, *h))
        .count()
}

/// The first IKE_SA_INIT request a fresh spoke sends (a real, well-formed one).
fn real_init(now: Instant) -> Vec<u8> {
    let (mut s, _) = spoke(now, 99, SPOKE);
    s.poll_transmit().expect("IKE_SA_INIT").payload
}

/// `init` with a new initiator SPI (the only change a flooder needs to look like a new peer).
fn with_spi(init: &[u8], spi: u64) -> Vec<u8> {
    let mut d = init.to_vec();
    d[..8].copy_from_slice(&spi.to_be_bytes());
    d
}

/// Drains the hub's transmits; returns the notify types of the answers.
fn answers(hub: &mut Ep) -> Vec<NotifyType> {
    let mut v = Vec::new();
    while let Some(t) = hub.poll_transmit() {
        let m = Message::parse(&t.payload).expect("the hub sends well-formed messages");
        for p in &m.payloads {
            if let Payload::Notify(n) = p {
                v.push(n.ty);
            }
        }
    }
    while hub.poll_event().is_some() {}
    v
}

#[test]
fn init_flood_engages_cookies_and_bounds_half_open_state() {
    let now = epoch();
    let (limit, threshold) = (64, 16);
    let mut hub = hub_with(now, limit, threshold);
    let init = real_init(now);
    let flood = 5_000u32;
    let mut notes = Vec::new();
    for i in 0..flood {
        let d = with_spi(&init, 0x1000 + u64::from(i));
        let _ = hub.handle_datagram(now, HUB, spoofed(i + 1), &d);
        // The caller drains after every input (the queue itself is bounded: see below).
        notes.extend(answers(&mut hub));
    }
    let s = hub.stats().clone();
    // Below the threshold every request gets state; past it, a stateless COOKIE answer.
    assert_eq!(
        hub.half_open(),
        threshold,
        "half-open must stop at the cookie threshold"
    );
    assert_eq!(s.cookies_sent, u64::from(flood) - threshold as u64);
    assert_eq!(
        notes.iter().filter(|n| **n == NotifyType::COOKIE).count(),
        (flood as usize) - threshold
    );
    // A legitimate spoke gets a cookie, returns it and connects while the flood's state sits.
    let (mut sp, h) = spoke(now, 7, SPOKE);
    pump(now, &mut sp, &mut hub);
    assert!(
        established(&sp, h),
        "a legitimate initiator must still connect"
    );
    assert_eq!(established_count(&hub), 1);
    assert_eq!(hub.stats().transmits_dropped, 0);
    assert_eq!(
        hub.stats().cookies_sent,
        s.cookies_sent + 1,
        "the spoke was asked for a cookie"
    );
    // The spoofed half-open SAs expire; the established one stays.
    let later = now + Duration::from_secs(31);
    hub.handle_timeout(later);
    let _ = answers(&mut hub);
    assert_eq!(hub.half_open(), 0, "half-open SAs must time out");
    assert!(established(&sp, h));
    assert_eq!(established_count(&hub), 1);
}

#[test]
fn init_flood_past_the_half_open_limit_is_refused_without_state() {
    let now = epoch();
    // Cookies disabled (threshold above the limit): the hard limit must hold on its own.
    let mut hub = hub_with(now, 32, usize::MAX);
    let init = real_init(now);
    for i in 0..1_000u32 {
        let d = with_spi(&init, 0x5000 + u64::from(i));
        let _ = hub.handle_datagram(now, HUB, spoofed(i + 1), &d);
    }
    let _ = answers(&mut hub);
    assert_eq!(hub.half_open(), 32);
    assert_eq!(
        hub.stats().transmits_dropped,
        0,
        "refusals past the limit are silent"
    );
    assert_eq!(hub.stats().half_open_refused, 1_000 - 32);
    assert_eq!(hub.handles().len(), 32, "no state beyond the limit");
    // Once the flood's half-open SAs time out, a legitimate spoke connects.
    let later = now + Duration::from_secs(31);
    hub.handle_timeout(later);
    let _ = answers(&mut hub);
    assert_eq!(hub.half_open(), 0);
    let (mut sp, h) = spoke(later, 8, SPOKE);
    pump(later, &mut sp, &mut hub);
    assert!(established(&sp, h));
}

#[test]
fn a_cookie_for_one_address_or_spi_does_not_open_a_slot_for_another() {
    let now = epoch();
    let mut hub = hub_with(now, 64, 0); // cookies always
    let init = real_init(now);
    let _ = hub.handle_datagram(now, HUB, spoofed(1), &init);
    let t = hub.poll_transmit().expect("cookie answer");
    let m = Message::parse(&t.payload).unwrap();
    let Some(Payload::Notify(cookie)) = m.payloads.first().cloned() else {
        panic!("no COOKIE in {m}")
    };
    assert_eq!(cookie.ty, NotifyType::COOKIE);
    // The same cookie, put first in the request, from another address and with another SPI.
    let mut req = Message::parse(&init).unwrap();
    req.payloads.insert(0, Payload::Notify(cookie));
    let with_cookie = req.emit().unwrap();
    let _ = hub.handle_datagram(now, HUB, spoofed(2), &with_cookie);
    let _ = hub.handle_datagram(now, HUB, spoofed(1), &with_spi(&with_cookie, 77));
    assert_eq!(hub.half_open(), 0, "a cookie is bound to address and SPI");
    // From the right address with the right SPI it is accepted.
    let _ = hub.handle_datagram(now, HUB, spoofed(1), &with_cookie);
    assert_eq!(hub.half_open(), 1);
}

#[test]
fn oversized_and_deeply_nested_messages_are_dropped_without_state() {
    let now = epoch();
    let mut hub = hub_with(now, 64, 16);
    let init = Message::parse(&real_init(now)).unwrap();
    let mut bad: Vec<(&str, Vec<u8>)> = Vec::new();

    // 65 payloads (one more than MAX_PAYLOADS). `emit` refuses to build this, so emit 64
    // (the last a 4-byte vendor ID) and append the 65th by hand.
    let mut m = init.clone();
    let fill = wire::MAX_PAYLOADS - m.payloads.len();
    m.payloads
        .extend((0..fill).map(|i| Payload::Vendor(vec![i as u8; 4])));
    let mut d = m.emit().unwrap();
    assert_eq!(
        Message::parse(&d).unwrap().payloads.len(),
        wire::MAX_PAYLOADS
    );
    let last = d.len() - 8;
    d[last] = PayloadType::VENDOR.0;
    d.extend_from_slice(&[0, 0, 0, 8, 9, 9, 9, 9]);
    let len = u32::try_from(d.len()).unwrap();
    d[24..28].copy_from_slice(&len.to_be_bytes());
    assert!(matches!(
        Message::parse(&d),
        Err(ikev2::WireError::TooMany {
            what: "payloads",
            ..
        })
    ));
    bad.push(("too many payloads", d));

    // A 64 KiB IKE_SA_INIT of vendor IDs (within the payload count) is well-formed: RFC 7296
    // sets no size limit, so it may be accepted, but the answer must not amplify it.
    let mut m = init.clone();
    m.payloads
        .extend((0..8).map(|_| Payload::Vendor(vec![0x5a; 8000])));
    let big = m.emit().unwrap();
    assert!(big.len() > 60_000);
    let _ = hub.handle_datagram(now, HUB, spoofed(8), &big);
    while let Some(t) = hub.poll_transmit() {
        assert!(
            t.payload.len() < 1500,
            "a 64 KiB request got a {} byte answer",
            t.payload.len()
        );
    }
    while hub.poll_event().is_some() {}
    let base_half_open = hub.half_open();
    let base_handles = hub.handles().len();
    assert!(base_half_open <= 1);

    // Header length larger than the datagram, and smaller.
    let mut d = init.emit().unwrap();
    d[24..28].copy_from_slice(&(u32::MAX).to_be_bytes());
    bad.push(("length 2^32-1", d.clone()));
    d[24..28].copy_from_slice(&28u32.to_be_bytes());
    bad.push(("length 28", d));

    // SK inside SK: an SK payload whose plaintext claims to start with SK.
    let mut m = init.clone();
    m.header.exchange = ExchangeType::IKE_AUTH;
    m.header.message_id = 1;
    m.payloads = vec![Payload::Sk(Encrypted {
        first_inner: PayloadType(46),
        body: vec![0; 64],
    })];
    bad.push(("SK for an unknown SA", m.emit().unwrap()));

    // Payload lengths that nest wrongly: a payload claiming more than the message.
    let mut d = init.emit().unwrap();
    d[30..32].copy_from_slice(&0xffffu16.to_be_bytes());
    bad.push(("payload length past the end", d.clone()));
    d[30..32].copy_from_slice(&3u16.to_be_bytes());
    bad.push(("payload length 3", d));

    // An SA payload with 1000 proposals (counts are capped).
    let mut m = init;
    if let Some(Payload::Sa(sa)) = m.payloads.iter_mut().find(|p| matches!(p, Payload::Sa(_))) {
        let p = sa.proposals[0].clone();
        sa.proposals = (0..300).map(|_| p.clone()).collect();
    }
    if let Ok(d) = m.emit() {
        bad.push(("300 proposals", d));
    }

    for (what, d) in &bad {
        let before = hub.stats().clone();
        let r = hub.handle_datagram(now, HUB, spoofed(9), d);
        assert!(r.is_err(), "{what}: accepted");
        assert_eq!(hub.half_open(), base_half_open, "{what}: created state");
        assert_eq!(hub.handles().len(), base_handles, "{what}: created an SA");
        assert!(
            hub.stats().malformed + hub.stats().unknown_sa + hub.stats().exchange_failures
                > before.malformed + before.unknown_sa + before.exchange_failures,
            "{what}: drop not counted ({r:?})"
        );
        let notes = answers(&mut hub);
        assert!(
            notes.iter().all(|n| *n != NotifyType::COOKIE),
            "{what}: a malformed request must not cost a cookie computation answer: {notes:?}"
        );
    }
    // A real spoke still connects afterwards.
    let (mut sp, h) = spoke(now, 5, SPOKE);
    pump(now, &mut sp, &mut hub);
    assert!(established(&sp, h));
}

#[test]
fn ke_values_out_of_range_are_refused_without_an_sa() {
    let now = epoch();
    let mut hub = hub_with(now, 64, 16);
    let init = Message::parse(&real_init(now)).unwrap();
    let group = init
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Ke(k) => Some(k.group),
            _ => None,
        })
        .unwrap();
    let p256_not_on_curve = {
        let mut v = vec![0u8; 64];
        v[63] = 1;
        v
    };
    let modp_one = {
        let mut v = vec![0u8; 256];
        v[255] = 1;
        v
    };
    let cases: Vec<(&str, KeyExchange)> = vec![
        (
            "empty",
            KeyExchange {
                group,
                data: vec![],
            },
        ),
        (
            "one byte",
            KeyExchange {
                group,
                data: vec![9],
            },
        ),
        (
            "4000 bytes",
            KeyExchange {
                group,
                data: vec![0xff; 4000],
            },
        ),
        (
            "P-256 point (0,1)",
            KeyExchange {
                group: DhGroup::ECP_256,
                data: p256_not_on_curve,
            },
        ),
        (
            "P-256 all ones",
            KeyExchange {
                group: DhGroup::ECP_256,
                data: vec![0xff; 64],
            },
        ),
        (
            "X25519 zero (low order)",
            KeyExchange {
                group: DhGroup::CURVE25519,
                data: vec![0; 32],
            },
        ),
        (
            "MODP-2048 value 1",
            KeyExchange {
                group: DhGroup::MODP_2048,
                data: modp_one,
            },
        ),
        (
            "MODP-2048 value 0",
            KeyExchange {
                group: DhGroup::MODP_2048,
                data: vec![0; 256],
            },
        ),
        (
            "MODP-2048 p or above",
            KeyExchange {
                group: DhGroup::MODP_2048,
                data: vec![0xff; 256],
            },
        ),
    ];
    for (i, (what, ke)) in cases.into_iter().enumerate() {
        let mut m = init.clone();
        m.header.spi_i = 0x7700 + i as u64;
        for p in &mut m.payloads {
            if let Payload::Ke(k) = p {
                *k = ke.clone();
            }
        }
        let d = m.emit().unwrap();
        let r = hub.handle_datagram(now, HUB, spoofed(100 + i as u32), &d);
        let notes = answers(&mut hub);
        assert!(r.is_err(), "{what}: accepted ({notes:?})");
        // RFC 7296 1.2 / 2.21.1: INVALID_KE_PAYLOAD (group not the chosen one) or INVALID_SYNTAX,
        // or a silent drop; never an SA.
        assert!(
            notes.iter().all(|n| [
                NotifyType::INVALID_KE_PAYLOAD,
                NotifyType::INVALID_SYNTAX,
                NotifyType::NO_PROPOSAL_CHOSEN
            ]
            .contains(n)),
            "{what}: answered {notes:?}"
        );
        assert_eq!(
            hub.half_open(),
            0,
            "{what}: created half-open state ({r:?})"
        );
    }
}

/// A hub and a spoke with an established SA; returns the spoke's datagrams of the handshake.
fn established_pair(now: Instant) -> (Ep, Ep, SaHandle, Vec<Vec<u8>>) {
    let mut hub = hub_with(now, 64, 16);
    let (mut sp, h) = spoke(now, 3, SPOKE);
    let sent = pump(now, &mut sp, &mut hub);
    assert!(established(&sp, h));
    assert_eq!(established_count(&hub), 1);
    (hub, sp, h, sent)
}

#[test]
fn fragment_flood_on_an_established_sa_is_dropped_and_the_sa_survives() {
    let now = epoch();
    let (mut hub, mut sp, h, sent) = established_pair(now);
    let auth = Message::parse(&sent[sent.len() - 1]).unwrap();
    let (spi_i, spi_r) = (auth.header.spi_i, auth.header.spi_r);
    let mut n = 0u32;
    // Most in the window (message ID 2, the spoke's next), some beyond it.
    for round in 0..40u32 {
        let mid = if round % 4 == 3 { 2 + round } else { 2 };
        for total in [1u16, 2, 16, wire::MAX_FRAGMENTS] {
            for number in 1..=total.min(8) {
                let m = Message {
                    header: Header {
                        spi_i,
                        spi_r,
                        minor_version: 0,
                        exchange: ExchangeType::INFORMATIONAL,
                        flags: Flags::new(true, false),
                        message_id: mid,
                    },
                    payloads: vec![Payload::Skf(EncryptedFragment {
                        number,
                        total,
                        first_inner: if number == 1 {
                            PayloadType(41)
                        } else {
                            PayloadType::NONE
                        },
                        body: vec![(round as u8) ^ (number as u8); 48 + usize::from(number) * 16],
                    })],
                };
                let _ = hub.handle_datagram(now, HUB, SPOKE, &m.emit().unwrap());
                n += 1;
            }
        }
    }
    assert!(n > 700);
    let _ = answers(&mut hub);
    assert!(
        established_count(&hub) == 1,
        "fragments without a valid ICV killed the SA"
    );
    let st = hub.stats();
    assert!(
        st.integrity_failures + st.malformed + st.out_of_window + st.exchange_failures
            >= u64::from(n),
        "every forged fragment must be counted as dropped: {:?}",
        hub.stats()
    );
    // The SA still works: a DPD from the spoke is answered.
    sp.dpd(now, h).unwrap();
    pump(now, &mut sp, &mut hub);
    assert!(established(&sp, h));
    assert_eq!(established_count(&hub), 1);
}

#[test]
fn retransmission_storm_gets_cached_answers_and_creates_nothing() {
    let now = epoch();
    let (mut hub, _sp, _h, sent) = established_pair(now);
    let (init, auth) = (&sent[0], &sent[sent.len() - 1]);
    // The IKE_AUTH response that the spoke accepted.
    let _ = hub.handle_datagram(now, HUB, SPOKE, auth);
    let first = hub
        .poll_transmit()
        .expect("a retransmitted request gets the response")
        .payload;
    while hub.poll_transmit().is_some() {}
    let handles = hub.handles();
    let pool = hub.pool_in_use();
    let replays = hub.stats().init_replays;
    for _ in 0..2_000 {
        let _ = hub.handle_datagram(now, HUB, SPOKE, auth);
        let t = hub.poll_transmit().expect("answered");
        assert_eq!(t.payload, first, "the same response, not a new one");
        assert!(hub.poll_transmit().is_none());
        let _ = hub.handle_datagram(now, HUB, SPOKE, init);
        while hub.poll_transmit().is_some() {}
    }
    while hub.poll_event().is_some() {}
    // The replayed IKE_SA_INIT of an SA that is already established creates nothing: each
    // copy is counted and dropped. Nothing else is created and no pool address is taken.
    assert_eq!(hub.handles(), handles);
    assert_eq!(hub.half_open(), 0);
    assert_eq!(hub.stats().init_for_established, 2_000);
    assert_eq!(hub.stats().init_replays, replays);
    assert_eq!(
        hub.pool_in_use(),
        pool,
        "a retransmission took another pool address"
    );
    assert_eq!(established_count(&hub), 1);
    assert!(handles.iter().all(|h| established(&hub, *h)));
}

#[test]
fn informational_with_a_bad_icv_is_dropped_and_the_sa_survives() {
    let now = epoch();
    let (mut hub, mut sp, h, _) = established_pair(now);
    // A real INFORMATIONAL (DPD) and a real Delete from the spoke, captured, then forged.
    sp.dpd(now, h).unwrap();
    let dpd = sp.poll_transmit().unwrap().payload;
    let hub_sa = hub.handles()[0];
    let before = hub.sa_info(hub_sa);
    for i in 0..dpd.len() {
        // Flip one bit anywhere after the header's SPIs: the parse or the ICV must fail.
        if i < 16 {
            continue;
        }
        let mut d = dpd.clone();
        d[i] ^= 0x01;
        let r = hub.handle_datagram(now, HUB, SPOKE, &d);
        assert!(r.is_err(), "byte {i} flipped: accepted");
        assert!(
            hub.poll_transmit().is_none(),
            "byte {i} flipped: a forged INFORMATIONAL was answered ({r:?})"
        );
    }
    assert!(hub.stats().integrity_failures > 0);
    assert_eq!(
        hub.sa_info(hub_sa),
        before,
        "a forged INFORMATIONAL changed the SA"
    );
    // The window did not move: the real DPD is still answered.
    let _ = hub.handle_datagram(now, HUB, SPOKE, &dpd);
    let resp = hub.poll_transmit().expect("the genuine DPD is answered");
    let _ = sp.handle_datagram(now, resp.local, resp.remote, &resp.payload);
    assert!(established(&sp, h));

    // A forged Delete (bad ICV) does not delete; the genuine one does.
    sp.close(now, h).unwrap();
    let del = sp.poll_transmit().unwrap().payload;
    let mut forged = del.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    let r = hub.handle_datagram(now, HUB, SPOKE, &forged);
    assert!(matches!(r, Err(InputError::Integrity)), "{r:?}");
    assert_eq!(established_count(&hub), 1, "a forged Delete deleted the SA");
    let _ = hub.handle_datagram(now, HUB, SPOKE, &del);
    let _ = answers(&mut hub);
    assert_eq!(established_count(&hub), 0, "the genuine Delete is honoured");
}

#[test]
fn garbage_on_both_ports_from_many_addresses_is_counted_and_creates_nothing() {
    let now = epoch();
    let (mut hub, mut sp, h, _) = established_pair(now);
    let nat = SocketAddr::new(HUB.ip(), 4500);
    let mut x = 0x1234_5678u32;
    for i in 0..20_000u32 {
        // xorshift: varied lengths and contents, deterministic.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let len = (x % 300) as usize;
        let mut d: Vec<u8> = (0..len).map(|j| (x >> (j % 24)) as u8).collect();
        if i % 3 == 0 && d.len() >= 28 {
            // A plausible header: version 2.0, a known exchange, the length right.
            d[17] = 0x20;
            d[18] = 34 + (x % 4) as u8;
            let l = d.len() as u32;
            d[24..28].copy_from_slice(&l.to_be_bytes());
        }
        let local = if i % 2 == 0 { HUB } else { nat };
        let _ = hub.handle_datagram(now, local, spoofed(i), &d);
        while hub.poll_transmit().is_some() {}
    }
    while hub.poll_event().is_some() {}
    // The handshake's two requests, then the garbage: every datagram counted.
    assert_eq!(hub.stats().datagrams_in, 2 + 20_000);
    assert!(hub.half_open() <= 16);
    assert_eq!(established_count(&hub), 1);
    sp.dpd(now, h).unwrap();
    pump(now, &mut sp, &mut hub);
    assert!(established(&sp, h));
}

#[test]
fn notify_only_init_and_unknown_exchanges_are_harmless() {
    let now = epoch();
    let mut hub = hub_with(now, 64, 16);
    let hdr = |exchange: ExchangeType, flags: Flags| Header {
        spi_i: 0xabcdef,
        spi_r: 0,
        minor_version: 0,
        exchange,
        flags,
        message_id: 0,
    };
    let msgs = [
        Message {
            header: hdr(ExchangeType::IKE_SA_INIT, Flags::new(true, false)),
            payloads: vec![Payload::Notify(Notify::new(
                NotifyType::COOKIE,
                vec![1; 64],
            ))],
        },
        Message {
            header: hdr(ExchangeType::IKE_SA_INIT, Flags::new(true, true)),
            payloads: vec![],
        },
        Message {
            header: hdr(ExchangeType(200), Flags::new(true, false)),
            payloads: vec![Payload::Vendor(b"x".to_vec())],
        },
        Message {
            header: hdr(ExchangeType::INFORMATIONAL, Flags::new(true, false)),
            payloads: vec![Payload::Notify(Notify::new(
                NotifyType::INVALID_SYNTAX,
                vec![],
            ))],
        },
    ];
    for m in &msgs {
        let r = hub.handle_datagram(now, HUB, spoofed(3), &m.emit().unwrap());
        assert!(r.is_err(), "{m}: accepted");
        assert!(hub.handles().is_empty(), "{m}: created an SA");
    }
    let _ = answers(&mut hub);
}

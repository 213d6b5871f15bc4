//! Property tests: the parser is total and exact, round trips hold, the cache stays bounded
//! under a flood of resolution requests, and redirects respect the rate limit.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use nhrp::wire::{
    Address, AuthData, Body, Cie, CieCode, ErrorCode, ErrorIndication, ExtValue, Extension,
    FixedHeader, Mandatory, Message, MessageKind, TrafficIndication, checksum,
};
use nhrp::{Config, Engine, Forwarded, Packet, Peer, RateLimit};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fn addr() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address::empty()),
        any::<[u8; 4]>().prop_map(|a| Address(a.to_vec())),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Address),
    ]
}

fn cie() -> impl Strategy<Value = Cie> {
    (
        (
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
        ),
        (0u8..4, 0u8..4, any::<u8>()),
        (addr(), addr(), addr()),
    )
        .prop_map(
            |(
                (code, prefix_len, unused, mtu, holding_time),
                (nt, st, preference),
                (nbma, nbma_sub, proto),
            )| Cie {
                code: CieCode(code),
                prefix_len,
                unused,
                mtu,
                holding_time,
                nbma_type: nt << 6,
                nbma_sub_type: st << 6,
                preference,
                nbma,
                nbma_sub,
                proto,
            },
        )
}

fn cies() -> impl Strategy<Value = Vec<Cie>> {
    proptest::collection::vec(cie(), 0..4)
}

fn ext_value() -> impl Strategy<Value = ExtValue> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..24);
    prop_oneof![
        cies().prop_map(ExtValue::ResponderAddress),
        cies().prop_map(ExtValue::ForwardTransitNhs),
        cies().prop_map(ExtValue::ReverseTransitNhs),
        cies().prop_map(ExtValue::NatAddress),
        bytes().prop_map(|b| ExtValue::Authentication(AuthData(b))),
        (any::<[u8; 3]>(), bytes()).prop_map(|(oui, data)| ExtValue::VendorPrivate { oui, data }),
        (10u16..0x3fff, bytes()).prop_map(|(ty, data)| ExtValue::Unknown { ty, data }),
    ]
}

fn extensions() -> impl Strategy<Value = Option<Vec<Extension>>> {
    let ext = (ext_value(), any::<bool>(), any::<bool>()).prop_map(|(value, c, u)| {
        // Unknown extensions must be optional to parse.
        let compulsory = c && !matches!(value, ExtValue::Unknown { .. });
        Extension {
            compulsory,
            u_bit: u,
            value,
        }
    });
    prop_oneof![
        Just(None),
        (
            proptest::collection::vec(ext, 0..5),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(mut v, end, c)| {
                if end {
                    v.push(Extension {
                        compulsory: c,
                        u_bit: false,
                        value: ExtValue::End,
                    });
                }
                Some(v)
            }),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let kind = prop_oneof![
        Just(MessageKind::ResolutionRequest),
        Just(MessageKind::ResolutionReply),
        Just(MessageKind::RegistrationRequest),
        Just(MessageKind::RegistrationReply),
        Just(MessageKind::PurgeRequest),
        Just(MessageKind::PurgeReply),
    ];
    let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (kind, any::<u16>(), any::<u32>(), cies()).prop_map(|(kind, flags, request_id, cies)| {
            Body::Message(Message {
                kind,
                flags,
                request_id,
                cies,
            })
        }),
        (any::<u16>(), any::<u16>(), any::<u16>(), bytes()).prop_map(
            |(unused, code, offset, contents)| Body::ErrorIndication(ErrorIndication {
                unused,
                code: ErrorCode(code),
                offset,
                contents
            })
        ),
        (any::<u16>(), any::<u16>(), any::<u16>(), bytes()).prop_map(
            |(unused, traffic_code, unused2, quoted)| Body::TrafficIndication(TrafficIndication {
                unused,
                traffic_code,
                unused2,
                quoted
            })
        ),
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    (
        (
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 5]>(),
            any::<u8>(),
            0u8..4,
            0u8..4,
        ),
        (addr(), addr(), addr(), addr()),
        body(),
        extensions(),
    )
        .prop_map(
            |(
                (afn, protocol_type, snap, hop_count, st, sst),
                (src_nbma, src_nbma_sub, src_proto, dst_proto),
                body,
                extensions,
            )| Packet {
                header: FixedHeader {
                    afn,
                    protocol_type,
                    snap,
                    hop_count,
                    shtl_type: st << 6,
                    sstl_type: sst << 6,
                },
                mandatory: Mandatory {
                    src_nbma,
                    src_nbma_sub,
                    src_proto,
                    dst_proto,
                    body,
                },
                extensions,
            },
        )
}

/// Random bytes shaped into a plausible packet: right length, version, type, checksum.
fn shaped(mut b: Vec<u8>, ty: u8, extoff: Option<u16>) -> Vec<u8> {
    let len = u16::try_from(b.len()).unwrap();
    b[10..12].copy_from_slice(&len.to_be_bytes());
    b[16] = 1;
    b[17] = ty;
    let off = extoff.map_or(0, |o| 20 + o % (len - 19));
    b[14..16].copy_from_slice(&off.to_be_bytes());
    b[12] = 0;
    b[13] = 0;
    let c = checksum(&b);
    b[12..14].copy_from_slice(&c.to_be_bytes());
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Packet::parse(&b);
    }

    #[test]
    fn shaped_bytes_parse_exactly_or_fail(
        b in proptest::collection::vec(any::<u8>(), 20..300),
        ty in 1u8..=8,
        extoff in proptest::option::of(any::<u16>()),
    ) {
        let b = shaped(b, ty, extoff);
        if let Ok(p) = Packet::parse(&b) {
            prop_assert_eq!(p.emit().unwrap(), b);
        }
    }

    #[test]
    fn repr_round_trips(p in packet()) {
        if let Ok(b) = p.emit() {
            let q = Packet::parse(&b).unwrap();
            prop_assert_eq!(&q, &p);
            prop_assert_eq!(q.emit().unwrap(), b);
        }
    }
}

fn hub(limit: usize, rl: RateLimit) -> Engine {
    let mut cfg = Config::new(2, Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(172, 25, 1, 1));
    cfg.server = true;
    cfg.cache_limit = limit;
    cfg.rate_limit = rl;
    let mut e = Engine::new(cfg, &mut ChaCha20Rng::seed_from_u64(3), epoch()).unwrap();
    e.set_route(
        "0.0.0.0/0".parse().unwrap(),
        Peer::new(Ipv4Addr::new(10, 1, 1, 2), Ipv4Addr::new(192, 168, 0, 2)),
    );
    e
}

fn request(src: Ipv4Addr, nbma: Ipv4Addr, dst: Ipv4Addr, id: u32) -> Vec<u8> {
    Packet {
        header: FixedHeader::ipv4(16),
        mandatory: Mandatory {
            src_nbma: nbma.into(),
            src_nbma_sub: Address::empty(),
            src_proto: src.into(),
            dst_proto: dst.into(),
            body: Body::Message(Message {
                kind: MessageKind::ResolutionRequest,
                flags: 0xc802,
                request_id: id,
                cies: vec![Cie::new(0xff, 1400, 7200, None, None)],
            }),
        },
        extensions: None,
    }
    .emit()
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn cache_stays_bounded_under_a_resolution_request_flood(
        seeds in proptest::collection::vec((any::<u32>(), any::<u32>(), any::<u32>()), 500..1500),
        limit in 1usize..200,
    ) {
        let t0 = epoch();
        let mut e = hub(limit, RateLimit::default());
        let mut now = t0;
        for (i, (s, n, d)) in seeds.iter().enumerate() {
            now += Duration::from_millis(1);
            let b = request(Ipv4Addr::from(*s), Ipv4Addr::from(*n), Ipv4Addr::from(*d), u32::try_from(i).unwrap());
            let _ = e.handle_nhrp(now, Ipv4Addr::from(*n), &b);
            prop_assert!(e.cache().len() <= limit);
            while e.poll_transmit().is_some() {}
            while e.poll_event().is_some() {}
        }
        prop_assert!(e.stats().cache_evictions > 0 || seeds.len() <= limit);
    }

    #[test]
    fn redirects_respect_the_rate_limit(
        flows in proptest::collection::vec((0u8..4, 0u8..4, 0u64..3000), 1..300),
    ) {
        let rl = RateLimit { interval: Duration::from_secs(8), burst: 5, window: Duration::from_secs(10), max_flows: 16 };
        let t0 = epoch();
        let mut e = hub(100, rl);
        let spoke = Peer::new(Ipv4Addr::new(10, 1, 1, 111), Ipv4Addr::new(172, 16, 1, 1));
        let other = Peer::new(Ipv4Addr::new(10, 1, 1, 177), Ipv4Addr::new(172, 16, 2, 2));
        let mut now = t0;
        let mut sent: Vec<(Instant, (u8, u8))> = Vec::new();
        for (s, d, dt) in flows {
            now += Duration::from_millis(dt);
            let mut ip = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, s, 192, 168, 2, d];
            ip.extend_from_slice(&[0; 8]);
            if e.handle_forwarded(now, Forwarded { ingress: Some(spoke), egress: other, packet: &ip }) {
                sent.push((now, (s, d)));
                let t = e.poll_transmit().unwrap();
                prop_assert_eq!(t.nbma, spoke.nbma);
            }
        }
        let mut last: BTreeMap<(u8, u8), Instant> = BTreeMap::new();
        for (t, f) in &sent {
            if let Some(p) = last.insert(*f, *t) {
                prop_assert!(*t - p >= rl.interval);
            }
        }
        // Never more than `burst` in any window-long span.
        for (i, (t, _)) in sent.iter().enumerate() {
            let n = sent[i..].iter().take_while(|(u, _)| *u - *t < rl.window).count();
            prop_assert!(n <= 2 * rl.burst as usize, "{n}");
        }
    }
}

#[test]
fn traffic_indication_flood_keeps_pending_requests_bounded() {
    let t0 = epoch();
    let mut cfg = Config::new(
        2,
        Ipv4Addr::new(10, 1, 1, 111),
        Ipv4Addr::new(172, 16, 1, 1),
    );
    let hub = Peer::new(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(172, 25, 1, 1));
    cfg.servers = vec![hub];
    cfg.cache_limit = 500;
    let mut e = Engine::new(cfg, &mut ChaCha20Rng::seed_from_u64(9), t0).unwrap();
    for i in 0..5000u32 {
        let dst = Ipv4Addr::from(0xc0a8_0000 + i);
        let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, 5];
        ip.extend_from_slice(&dst.octets());
        ip.extend_from_slice(&[0; 8]);
        let ti = Packet {
            header: FixedHeader::ipv4(1),
            mandatory: Mandatory {
                src_nbma: hub.nbma.into(),
                src_nbma_sub: Address::empty(),
                src_proto: hub.proto.into(),
                dst_proto: Ipv4Addr::new(192, 168, 1, 5).into(),
                body: Body::TrafficIndication(TrafficIndication::redirect(&ip)),
            },
            extensions: None,
        };
        e.handle_nhrp(t0, hub.nbma, &ti.emit().unwrap()).unwrap();
        while e.poll_transmit().is_some() {}
        assert!(e.pending_requests() <= nhrp::engine::MAX_PENDING);
        assert!(e.cache().len() <= 500);
    }
    assert!(e.stats().resolutions_refused > 0);
}

//! UPDATE parsing and Loc-RIB insertion for 1,000,000 IPv4 prefixes with realistic attribute
//! sharing (100,000 distinct attribute sets, 10 prefixes per UPDATE), side by side with
//! parsing alone; prints the resident memory per prefix.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use bgp_lite::config::NeighborSettings;
use bgp_lite::wire::attr::{AsSegment, AttrValue, PathAttr, seg};
use bgp_lite::wire::{AsPath, DecodeCtx, Ipv4Prefix, Message, Open, Origin, Update};
use bgp_lite::{ConnId, Framer, Speaker, SpeakerConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const PREFIXES: u32 = 1_000_000;
const PER_UPDATE: u32 = 10;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

/// A stream of UPDATEs: prefix i is 1.0.0.0 + i*256 /24; UPDATE k carries 10 of them with an
/// AS path of length 2..6 built from k.
fn updates() -> Vec<u8> {
    let c = DecodeCtx::default();
    let mut out = Vec::new();
    for k in 0..PREFIXES / PER_UPDATE {
        let len = 2 + (k % 5);
        let asns = (0..len)
            .map(|j| 64512 + ((k * 7 + j * 13) % 60000))
            .collect();
        let attrs = vec![
            PathAttr::new(AttrValue::Origin(Origin::Igp)),
            PathAttr::new(AttrValue::AsPath(AsPath {
                segments: vec![AsSegment {
                    ty: seg::SEQUENCE,
                    asns,
                }],
            })),
            PathAttr::new(AttrValue::NextHop(Ipv4Addr::new(10, 0, 0, 2))),
            PathAttr::new(AttrValue::Med(k % 100)),
            PathAttr::new(AttrValue::LocalPref(100)),
            PathAttr::new(AttrValue::Communities(vec![0xfde9_0000 | (k % 50)])),
        ];
        let nlri = (0..PER_UPDATE)
            .map(|j| {
                Ipv4Prefix::new(Ipv4Addr::from(0x0100_0000 + (k * PER_UPDATE + j) * 256), 24)
                    .unwrap()
            })
            .collect();
        Message::Update(Update {
            attrs,
            nlri,
            ..Default::default()
        })
        .emit(&c, &mut out)
        .unwrap();
    }
    out
}

fn established(now: Instant) -> Speaker {
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1));
    let mut n = NeighborSettings::ibgp(65001);
    n.passive = true;
    c.neighbors
        .insert(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), n);
    let mut sp = Speaker::new(c, now).unwrap();
    let conn = ConnId(1);
    sp.handle_connected(
        now,
        conn,
        "10.0.0.1:179".parse::<SocketAddr>().unwrap(),
        "10.0.0.2:50000".parse().unwrap(),
    )
    .unwrap();
    let mut hs = Message::Open(Open::new(65001, 180, Ipv4Addr::new(10, 0, 0, 2)))
        .to_bytes(&DecodeCtx::default())
        .unwrap();
    Message::Keepalive
        .emit(&DecodeCtx::default(), &mut hs)
        .unwrap();
    sp.handle_stream_data(now, conn, &hs).unwrap();
    while sp.poll_transmit().is_some() {}
    while sp.poll_event().is_some() {}
    sp
}

fn feed(sp: &mut Speaker, now: Instant, stream: &[u8]) {
    for chunk in stream.chunks(65536) {
        sp.handle_stream_data(now, ConnId(1), chunk).unwrap();
    }
    while sp.poll_event().is_some() {}
}

fn rss_kb() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4)
}

fn bench(c: &mut Criterion) {
    let now = epoch();
    let stream = updates();
    // memory per prefix: RSS growth while holding the RIB
    {
        let before = rss_kb();
        let mut sp = established(now);
        feed(&mut sp, now, &stream);
        let after = rss_kb();
        assert_eq!(sp.loc_rib().len(), PREFIXES as usize);
        eprintln!(
            "memory: {} prefixes, RSS +{} KiB = {:.1} bytes/prefix (attributes shared: 1 set per {PER_UPDATE} prefixes)",
            sp.loc_rib().len(),
            after.saturating_sub(before),
            (after.saturating_sub(before) * 1024) as f64 / f64::from(PREFIXES)
        );
    }
    let mut g = c.benchmark_group("update_1m_ipv4");
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(PREFIXES)));
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            let mut f = Framer::new(DecodeCtx::default());
            let mut n = 0usize;
            for chunk in stream.chunks(65536) {
                f.push(chunk);
                while let Some(Message::Update(u)) = f.next().unwrap() {
                    n += u.nlri.len();
                }
            }
            black_box(n)
        });
    });
    g.bench_function("parse_and_loc_rib_insert", |b| {
        b.iter_batched(
            || established(now),
            |mut sp| {
                feed(&mut sp, now, &stream);
                black_box(sp.loc_rib().len());
                sp // dropped by criterion outside the timed section
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

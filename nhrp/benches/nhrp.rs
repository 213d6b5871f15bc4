//! Benchmarks: resolution requests per second through a hub (answered authoritatively, and
//! forwarded to another hub), packet decode/encode, and cache lookups with 100 000 entries.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nhrp::cache::{Cache, CacheEntry, EntryFlags, EntryType};
use nhrp::wire::{Address, Body, Cie, FixedHeader, Mandatory, Message, MessageKind};
use nhrp::{Config, Engine, Packet, Peer, Prefix};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fn request(src: Ipv4Addr, dst: Ipv4Addr, id: u32) -> Vec<u8> {
    Packet {
        header: FixedHeader::ipv4(16),
        mandatory: Mandatory {
            src_nbma: Ipv4Addr::new(172, 16, 1, 1).into(),
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
        extensions: Some(Engine::standard_request_extensions()),
    }
    .emit()
    .unwrap()
}

fn hub(now: Instant, spokes: u32) -> Engine {
    let mut cfg = Config::new(2, Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(172, 25, 1, 1));
    cfg.server = true;
    cfg.cache_limit = 200_000;
    let hub2 = Peer::new(Ipv4Addr::new(10, 1, 1, 2), Ipv4Addr::new(192, 168, 0, 2));
    cfg.servers = vec![hub2];
    let mut e = Engine::new(cfg, &mut ChaCha20Rng::seed_from_u64(1), now).unwrap();
    for i in 0..spokes {
        let proto = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 2, 0, 0)) + i);
        let nbma = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + i);
        e.add_peer(now, Peer::new(proto, nbma)).unwrap();
    }
    e.set_route("192.168.0.0/16".parse().unwrap(), hub2);
    e
}

fn resolution(c: &mut Criterion) {
    let t0 = epoch();
    let mut g = c.benchmark_group("hub_resolution_request");
    g.throughput(Throughput::Elements(1));
    let requester = Ipv4Addr::new(10, 1, 1, 111);
    for (name, dst) in [
        ("answer_known_spoke", Ipv4Addr::new(10, 2, 0, 77)),
        ("forward_to_other_hub", Ipv4Addr::new(192, 168, 2, 7)),
    ] {
        let mut e = hub(t0, 1000);
        let bytes = request(requester, dst, 7);
        g.bench_function(name, |b| {
            b.iter(|| {
                e.handle_nhrp(t0, Ipv4Addr::new(172, 16, 1, 1), black_box(&bytes))
                    .unwrap();
                let _ = black_box(e.poll_transmit().unwrap());
            })
        });
    }
    let bytes = request(requester, Ipv4Addr::new(192, 168, 2, 7), 7);
    g.bench_function("parse_only", |b| {
        b.iter(|| black_box(Packet::parse(black_box(&bytes)).unwrap()))
    });
    let p = Packet::parse(&bytes).unwrap();
    g.bench_function("emit_only", |b| {
        b.iter(|| black_box(black_box(&p).emit().unwrap()))
    });
    g.finish();
}

fn cache_lookup(c: &mut Criterion) {
    let t0 = epoch();
    let mut g = c.benchmark_group("cache_lookup");
    g.throughput(Throughput::Elements(1));
    for n in [1_000u32, 100_000] {
        let mut cache = Cache::new(200_000);
        for i in 0..n {
            // A mix of /32 hosts and /24 prefixes, as shortcuts and spokes produce.
            let a = Ipv4Addr::from(0x0a00_0000 + i * 256);
            let len = if i % 2 == 0 { 32 } else { 24 };
            cache
                .insert(CacheEntry {
                    prefix: Prefix::masked(a, len),
                    kind: EntryType::Dynamic,
                    next_hop: Some(a),
                    nbma: Some(a),
                    created: t0,
                    expires: Some(t0 + Duration::from_secs(7200 + u64::from(i))),
                    flags: EntryFlags::default(),
                })
                .unwrap();
        }
        let probes: Vec<Ipv4Addr> = (0..1024u32)
            .map(|k| Ipv4Addr::from(0x0a00_0000 + ((k * 7919) % n) * 256 + 5))
            .collect();
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("longest_prefix", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) & 1023;
                black_box(cache.lookup(black_box(probes[i])))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, resolution, cache_lookup);
criterion_main!(benches);

//! UPDATE parsing and Loc-RIB insertion for 1,000,000 IPv4 prefixes with realistic attribute
//! sharing (100,000 UPDATEs of 10 prefixes; 60,000 distinct attribute sets, UPDATEs k and
//! k + 60,000 carrying equal ones), side by side with parsing alone; prints the heap (counting
//! allocator) and resident memory per prefix.
//!
//! The measured path is the speaker's real receive path: the stream is fed in 64 KiB chunks to
//! an established session (`handle_stream_data`: framing, UPDATE parse, attribute interning,
//! Loc-RIB insert with best path, Adj-RIB-Out pass), and after each chunk the caller drains
//! `poll_transmit` and `poll_event` (the FIB events) as a real run loop does.
//! Two feeds: prefixes in ascending order (a table dump) and in a shuffled order (each UPDATE
//! carries 10 prefixes from anywhere in the table).
#![allow(missing_docs)]
#![allow(unsafe_code, reason = "the counting global allocator")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use bgp_lite::config::NeighborSettings;
use bgp_lite::wire::attr::{AsSegment, AttrValue, PathAttr, seg};
use bgp_lite::wire::{AsPath, DecodeCtx, Ipv4Prefix, Message, Open, Origin, Update};
use bgp_lite::{ConnId, Framer, Speaker, SpeakerConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const PREFIXES: u32 = 1_000_000;
const PER_UPDATE: u32 = 10;

/// Counts live heap bytes.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counter
// is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A fixed-seed xorshift generator for the shuffled feed (no global RNG).
struct Gen(u64);
impl Gen {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

/// A stream of UPDATEs: prefix i is 1.0.0.0 + i*256 /24; UPDATE k carries 10 of them with an
/// AS path of length 2..6 built from k: prefixes 10k..10k+9 (in order), or 10 positions of a
/// fixed random permutation (shuffled).
fn updates(shuffled: bool) -> Vec<u8> {
    let c = DecodeCtx::default();
    let mut order: Vec<u32> = (0..PREFIXES).collect();
    if shuffled {
        let mut g = Gen(0x2545_f491_4f6c_dd1d);
        for i in (1..order.len()).rev() {
            let j = g.below(i as u32 + 1) as usize;
            order.swap(i, j);
        }
    }
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
                let i = order[(k * PER_UPDATE + j) as usize];
                Ipv4Prefix::new(Ipv4Addr::from(0x0100_0000 + i * 256), 24).unwrap()
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

/// The caller's run loop: one chunk in, then everything out. Returns the FIB events seen.
fn feed(sp: &mut Speaker, now: Instant, stream: &[u8]) -> usize {
    let mut events = 0;
    for chunk in stream.chunks(65536) {
        sp.handle_stream_data(now, ConnId(1), chunk).unwrap();
        while sp.poll_transmit().is_some() {}
        while let Some(e) = sp.poll_event() {
            events += usize::from(matches!(e, bgp_lite::Event::BestPath { .. }));
        }
    }
    events
}

fn rss_kb() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4)
}

fn bench(c: &mut Criterion) {
    let now = epoch();
    let stream = updates(false);
    let shuffled = updates(true);
    // memory per prefix: live heap bytes (counting allocator) and RSS growth holding the RIB
    for (name, s) in [("in order", &stream), ("shuffled", &shuffled)] {
        let (h0, r0) = (live(), rss_kb());
        let mut sp = established(now);
        let ev = feed(&mut sp, now, s);
        let (h1, r1) = (live(), rss_kb());
        assert_eq!(sp.loc_rib().len(), PREFIXES as usize);
        assert_eq!(ev, PREFIXES as usize, "one FIB event per prefix");
        eprintln!(
            "memory ({name}): {} prefixes, heap +{} B = {:.1} bytes/prefix, RSS +{} KiB = {:.1} bytes/prefix (attributes shared: 1 set per {PER_UPDATE} prefixes)",
            sp.loc_rib().len(),
            h1 - h0,
            (h1 - h0) as f64 / f64::from(PREFIXES),
            r1.saturating_sub(r0),
            (r1.saturating_sub(r0) * 1024) as f64 / f64::from(PREFIXES)
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
    for (name, s) in [
        ("parse_and_loc_rib_insert", &stream),
        ("parse_and_loc_rib_insert_shuffled", &shuffled),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || established(now),
                |mut sp| {
                    black_box(feed(&mut sp, now, s));
                    black_box(sp.loc_rib().len());
                    sp // dropped by criterion outside the timed section
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

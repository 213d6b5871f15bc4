//! Hostile input against the hub's NHRP engine: one spoke flooding Resolution Requests (with
//! spoofed source addresses and long holding times), and a flood of forwarded packets that
//! would trigger redirects. The cache, the queues and the redirects must stay bounded, and
//! what legitimate spokes registered must survive. Public API only.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use nhrp::wire::Packet;
use nhrp::{Config, Engine, Forwarded, Peer, Prefix, RateLimit};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const HUB: Peer = Peer::new(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(172, 25, 1, 1));
const HUB2: Peer = Peer::new(Ipv4Addr::new(10, 1, 1, 2), Ipv4Addr::new(192, 168, 0, 2));
const SPOKE1: Peer = Peer::new(Ipv4Addr::new(10, 1, 1, 111), Ipv4Addr::new(172, 16, 1, 1));
const SPOKE2: Peer = Peer::new(Ipv4Addr::new(10, 1, 1, 112), Ipv4Addr::new(172, 16, 2, 2));
const CACHE_LIMIT: usize = 256;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fn hub(now: Instant) -> Engine {
    let mut c = Config::new(2, HUB.proto, HUB.nbma);
    c.server = true;
    c.servers = vec![HUB2];
    c.cache_limit = CACHE_LIMIT;
    c.rate_limit = RateLimit {
        interval: Duration::from_secs(8),
        burst: 50,
        window: Duration::from_secs(10),
        max_flows: 128,
    };
    let mut e = Engine::new(c, &mut ChaCha20Rng::seed_from_u64(1), now).unwrap();
    e.set_route(Prefix::masked(Ipv4Addr::new(192, 168, 1, 0), 24), SPOKE1);
    e.set_route(Prefix::masked(Ipv4Addr::new(192, 168, 2, 0), 24), SPOKE2);
    e
}

fn spoke(now: Instant, me: Peer, lan: u8) -> Engine {
    let mut c = Config::new(2, me.proto, me.nbma);
    c.servers = vec![HUB];
    c.local_prefixes = vec![Prefix::masked(Ipv4Addr::new(192, 168, lan, 0), 24)];
    Engine::new(c, &mut ChaCha20Rng::seed_from_u64(u64::from(lan)), now).unwrap()
}

/// Delivers everything `from` sends to the hub; returns how many packets.
fn deliver(now: Instant, from: &mut Engine, nbma: Ipv4Addr, hub: &mut Engine) -> usize {
    let mut n = 0;
    while let Some(t) = from.poll_transmit() {
        assert_eq!(t.nbma, HUB.nbma);
        let _ = hub.handle_nhrp(now, nbma, &t.payload);
        n += 1;
    }
    n
}

/// Drains the hub; returns how many packets it sent.
fn drain(hub: &mut Engine) -> usize {
    let mut n = 0;
    while hub.poll_transmit().is_some() {
        n += 1;
    }
    while hub.poll_event().is_some() {}
    n
}

/// A real Resolution Request from spoke 1 (for 192.168.2.1), parsed, as a template.
fn template(now: Instant) -> Packet {
    let mut s = spoke(now, SPOKE1, 1);
    assert!(s.resolve(now, Ipv4Addr::new(192, 168, 2, 1)));
    let t = s.poll_transmit().expect("a resolution request");
    Packet::parse(&t.payload).unwrap()
}

/// Where the requests of a flood come from (the outer NBMA source, which IPsec authenticates).
#[derive(Clone, Copy)]
enum From {
    /// All from spoke 1's NBMA address.
    OneSpoke,
    /// Each from its own NBMA address (many compromised spokes).
    Many,
}

/// The flood: `n` requests, each claiming another overlay source address (spoofed) and asking
/// for another destination. Each claims the NBMA address it comes from, so the hub learns its
/// source as an implicit entry (first hand).
fn flood(now: Instant, hub: &mut Engine, n: u32, from: From) -> (usize, usize) {
    let t = template(now);
    let mut sent = 0;
    let mut max_queue = 0;
    for i in 0..n {
        let mut p = t.clone();
        let [_, a, b, c] = i.to_be_bytes();
        let nbma = match from {
            From::OneSpoke => SPOKE1.nbma,
            From::Many => Ipv4Addr::new(198, 18 + (a & 1), b, c),
        };
        p.mandatory.src_proto = Ipv4Addr::new(10, 200 + (a & 0x1f), b, c).into();
        p.mandatory.src_nbma = nbma.into();
        p.mandatory.dst_proto = Ipv4Addr::new(10, 99, b, c).into();
        let _ = hub.handle_nhrp(now, nbma, &p.emit().unwrap());
        assert!(hub.cache().len() <= CACHE_LIMIT, "cache above its bound");
        if i % 64 == 63 {
            let q = drain(hub);
            max_queue = max_queue.max(q);
            sent += q;
        }
    }
    sent += drain(hub);
    (sent, max_queue)
}

#[test]
fn resolution_flood_keeps_the_cache_and_queues_bounded() {
    let now = epoch();
    let mut h = hub(now);
    let n = 20_000;
    let (_sent, max_queue) = flood(now, &mut h, n, From::Many);
    assert!(h.cache().len() <= CACHE_LIMIT);
    assert!(
        h.stats().cache_evictions > 0,
        "the flood must have hit the bound"
    );
    assert!(
        max_queue <= 64 * 4,
        "a request makes at most a few packets: {max_queue}"
    );
    assert_eq!(h.stats().rx_packets, u64::from(n));
    // The hub still answers a legitimate resolution: spoke 2 registers, spoke 1 resolves it.
    let mut s2 = spoke(now, SPOKE2, 2);
    s2.register(now);
    deliver(now, &mut s2, SPOKE2.nbma, &mut h);
    drain(&mut h);
    let answered = h.stats().resolutions_answered + h.stats().resolutions_forwarded;
    let mut s1 = spoke(now, SPOKE1, 1);
    assert!(s1.resolve(now, Ipv4Addr::new(192, 168, 2, 1)));
    deliver(now, &mut s1, SPOKE1.nbma, &mut h);
    assert!(
        h.stats().resolutions_answered + h.stats().resolutions_forwarded > answered,
        "the hub no longer serves resolutions after the flood"
    );
}

/// RFC 2332 5.2.3: the implicit entries an unauthenticated requester makes the hub learn
/// (here from 5 000 sources, far more than the cache holds) must not push out what a client
/// registered, nor what the tunnel layer added. Before the fix the earliest-expiring entry was
/// evicted, and a registration made before the flood always expires first.
#[test]
fn resolution_flood_does_not_evict_registered_spokes() {
    let now = epoch();
    let mut h = hub(now);
    let mut s2 = spoke(now, SPOKE2, 2);
    s2.register(now);
    deliver(now, &mut s2, SPOKE2.nbma, &mut h);
    drain(&mut h);
    let reg = Prefix::host(SPOKE2.proto);
    assert!(h.cache().get(&reg).is_some(), "spoke 2 registered");
    let session = Peer::new(Ipv4Addr::new(10, 1, 1, 113), Ipv4Addr::new(172, 16, 3, 3));
    h.add_peer(now, session).unwrap();
    flood(now + Duration::from_secs(1), &mut h, 5_000, From::Many);
    assert!(
        h.stats().cache_evictions > 0,
        "the flood must have filled the cache"
    );
    assert!(
        h.cache().get(&reg).is_some_and(|e| e.flags.authoritative),
        "spoke 2's registration was evicted by the flood"
    );
    assert!(
        h.cache().get(&Prefix::host(session.proto)).is_some(),
        "the static entry was evicted by the flood"
    );
    // A request claiming spoke 2's overlay address does not replace its registration.
    let mut p = template(now);
    p.mandatory.src_proto = SPOKE2.proto.into();
    p.mandatory.src_nbma = SPOKE1.nbma.into();
    let refused = h.stats().cache_refused;
    let _ = h.handle_nhrp(now, SPOKE1.nbma, &p.emit().unwrap());
    assert_eq!(h.stats().cache_refused, refused + 1);
    assert_eq!(h.cache().get(&reg).and_then(|e| e.nbma), Some(SPOKE2.nbma));
}

/// A cache full of protected entries (here static ones, from the tunnel layer) refuses to
/// learn implicit ones, and counts them.
#[test]
fn implicit_entries_are_refused_when_the_cache_is_full_of_protected_entries() {
    let now = epoch();
    let mut h = hub(now);
    for i in 0..CACHE_LIMIT {
        let [_, _, b, c] = u32::try_from(i).unwrap().to_be_bytes();
        let p = Peer::new(Ipv4Addr::new(10, 2, b, c), Ipv4Addr::new(172, 17, b, c));
        h.add_peer(now, p).unwrap();
    }
    flood(now, &mut h, 300, From::Many);
    assert_eq!(h.cache().len(), CACHE_LIMIT);
    assert_eq!(h.stats().cache_evictions, 0);
    assert_eq!(h.stats().cache_refused, 300);
    assert!(h.cache().iter().all(|e| !e.flags.implicit));
}

/// One spoke sending 5 000 Resolution Requests at one instant: without a limit the hub sends
/// a packet for each (an answer, a forward or an Error Indication). The per-source token bucket
/// (here the default: burst 50 per 10 s) serves the first 50 and drops the rest, counted; a
/// window later the spoke is served again.
#[test]
fn resolution_flood_from_one_spoke_is_rate_limited() {
    let now = epoch();
    let mut h = hub(now);
    let (sent, _) = flood(now, &mut h, 5_000, From::OneSpoke);
    assert!(
        sent <= 100,
        "{sent} packets sent for 5000 requests from one spoke in 0 s"
    );
    assert_eq!(h.stats().resolutions_limited, 5_000 - 50);
    // Another spoke is not affected, nor is spoke 1 a window later.
    let (sent, _) = flood(now, &mut h, 10, From::Many);
    assert_eq!(sent, 10);
    let (sent, _) = flood(now + Duration::from_secs(10), &mut h, 5_000, From::OneSpoke);
    assert!((1..=100).contains(&sent), "{sent}");
    assert_eq!(h.stats().resolutions_limited, 2 * (5_000 - 50));
}

/// An IPv4 header (20 bytes) from `src` to `dst`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p
}

#[test]
fn redirect_flood_is_rate_limited_per_flow_and_in_total() {
    let now = epoch();
    let mut h = hub(now);
    let mut sent = 0;
    // 10 000 packets from spoke 1's LAN to spoke 2's LAN through the hub, over 1 s, on 500
    // flows: one Traffic Indication per flow per interval, 50 in total per window.
    for i in 0..10_000u32 {
        let t = now + Duration::from_micros(u64::from(i) * 100);
        let src = Ipv4Addr::new(192, 168, 1, (i % 250) as u8 + 1);
        let dst = Ipv4Addr::new(192, 168, 2, (i % 2) as u8 + 1);
        let pkt = ipv4(src, dst);
        if h.handle_forwarded(
            t,
            Forwarded {
                ingress: Some(SPOKE1),
                egress: SPOKE2,
                packet: &pkt,
            },
        ) {
            sent += 1;
        }
        drain(&mut h);
    }
    assert!(sent >= 1, "redirect is on: at least one Traffic Indication");
    assert!(
        sent <= 50,
        "{sent} Traffic Indications in 1 s (burst is 50)"
    );
    assert_eq!(u64::from(sent as u32), h.stats().traffic_indications_sent);
    assert_eq!(h.stats().traffic_indications_limited, 10_000 - sent as u64);
}

#[test]
fn garbage_from_many_addresses_is_counted_and_changes_nothing() {
    let now = epoch();
    let mut h = hub(now);
    let template = template(now).emit().unwrap();
    let mut x = 0x2545_f491u32;
    for i in 0..30_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let mut g = template.clone();
        // Mutate a few bytes of a real packet (the checksum then fails or the parse does).
        for k in 0..(1 + x % 4) {
            let at = (x.rotate_left(k * 7) as usize) % g.len();
            g[at] ^= (x >> (k * 8)) as u8 | 1;
        }
        if i % 5 == 0 {
            g.truncate((x as usize) % g.len());
        }
        let from = Ipv4Addr::new(203, 0, (i >> 8) as u8, i as u8);
        let _ = h.handle_nhrp(now, from, &g);
        drain(&mut h);
    }
    let s = h.stats();
    assert_eq!(s.rx_packets, 30_000);
    assert!(s.rx_malformed > 20_000, "{s:?}");
    assert!(h.cache().len() <= CACHE_LIMIT);
    assert_eq!(h.pending_requests(), 0);
}

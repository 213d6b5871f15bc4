#![allow(missing_docs, reason = "criterion generates undocumented items")]
//! A hub-failure event storm: 100,000 client blocks (one per simulated spoke), all on hub 1;
//! hub 1 dies, every block gets `Down`, fails over, and gets `Up` from hub 2. Two ways of
//! holding the blocks side by side: standalone `Client`s and one `ClientSet`. Throughput is in
//! input events (two per block). Memory per block is printed once (size_of + heap).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flexclient::{
    Client, ClientConfig, ClientSet, DownReason, Event, PeerConfig, SessionEvent, State,
};

const BLOCKS: usize = 100_000;
const HUB1: Ipv4Addr = Ipv4Addr::new(172, 25, 1, 1);
const HUB2: Ipv4Addr = Ipv4Addr::new(172, 25, 2, 1);

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fn config() -> Arc<ClientConfig> {
    ClientConfig::builder("Flex_Client")
        .peer(PeerConfig::address(1, HUB1).unwrap())
        .peer(PeerConfig::address(2, HUB2).unwrap())
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .build_shared()
        .unwrap()
}

fn up(i: usize) -> SessionEvent {
    let i = u32::try_from(i).unwrap();
    SessionEvent::Up {
        local: Ipv4Addr::from(0xAC10_0000 + i),
        peer_port: 500,
        peer_id: String::new(),
        assigned_v4: Some(Ipv4Addr::from(0x0A01_0000 + i)),
    }
}

fn drain(c: &mut Client) -> usize {
    let mut n = 0;
    while let Some(ev) = c.poll_event() {
        black_box(&ev);
        n += 1;
    }
    n
}

fn active_clients(now: Instant, cfg: &Arc<ClientConfig>) -> Vec<Client> {
    (0..BLOCKS)
        .map(|i| {
            let mut c = Client::new(now, Arc::clone(cfg));
            c.handle_timeout(now);
            drain(&mut c);
            c.handle_session(now, HUB1, up(i));
            drain(&mut c);
            c
        })
        .collect()
}

fn active_set(now: Instant, cfg: &Arc<ClientConfig>) -> ClientSet {
    let mut set = ClientSet::new();
    let ids: Vec<_> = (0..BLOCKS).map(|_| set.add(now, Arc::clone(cfg))).collect();
    set.handle_timeout(now);
    while set.poll_event().is_some() {}
    for (i, id) in ids.into_iter().enumerate() {
        set.handle_session(now, id, HUB1, up(i)).unwrap();
    }
    while set.poll_event().is_some() {}
    set
}

fn storm(c: &mut Criterion) {
    let t0 = epoch();
    let cfg = config();
    let down = SessionEvent::Down {
        reason: DownReason::Dpd,
    };

    // Memory per block, after a storm (queues drained but keeping their capacity).
    let mut sample = active_clients(t0, &cfg);
    let t1 = t0 + Duration::from_secs(60);
    for (i, cl) in sample.iter_mut().enumerate() {
        cl.handle_session(t1, HUB1, down.clone());
        drain(cl);
        cl.handle_session(t1, HUB2, up(i));
        drain(cl);
        assert_eq!(cl.state(), State::Active);
    }
    let heap: usize = sample.iter().map(Client::heap_bytes).sum();
    eprintln!(
        "flexclient storm: size_of::<Client>() = {} B, heap per block = {} B (avg), shared config = {} B once",
        size_of::<Client>(),
        heap / BLOCKS,
        size_of::<ClientConfig>() + cfg.heap_bytes()
    );
    drop(sample);

    let mut g = c.benchmark_group("hub_failure_storm");
    g.throughput(Throughput::Elements(2 * BLOCKS as u64));
    g.sample_size(10);
    g.bench_function("clients_100k", |b| {
        b.iter_batched(
            || active_clients(t0, &cfg),
            |mut clients| {
                let mut events = 0;
                for (i, cl) in clients.iter_mut().enumerate() {
                    cl.handle_session(t1, HUB1, down.clone());
                    events += drain(cl);
                    cl.handle_session(t1, HUB2, up(i));
                    events += drain(cl);
                }
                black_box(events);
                clients
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("client_set_100k", |b| {
        b.iter_batched(
            || active_set(t0, &cfg),
            |mut set| {
                let ids: Vec<_> = set.clients().map(|(id, _)| id).collect();
                let mut events = 0;
                for (i, id) in ids.into_iter().enumerate() {
                    set.handle_session(t1, id, HUB1, down.clone()).unwrap();
                    while let Some(ev) = set.poll_event() {
                        black_box(&ev);
                        events += 1;
                    }
                    set.handle_session(t1, id, HUB2, up(i)).unwrap();
                    while let Some((_, ev)) = set.poll_event() {
                        if let Event::Syslog(s) = ev {
                            black_box(s);
                        }
                        events += 1;
                    }
                }
                black_box(events);
                set
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, storm);
criterion_main!(benches);

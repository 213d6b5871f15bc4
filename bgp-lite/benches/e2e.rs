//! End to end: GoBGP sends 100,000 IPv4 prefixes to this speaker versus the same load sent to
//! BIRD 2, on the same machine, side by side. Needs root, `gobgpd` and `bird`; runs only with
//! `BGPLITE_E2E=1` (otherwise it prints why and exits), so `cargo bench` stays usable without
//! the daemons. Timed: from the session reaching Established to the receiver holding all
//! prefixes (BIRD is polled with `birdc show route count` every 10 ms).
#![allow(missing_docs)]
#![allow(
    clippy::disallowed_methods,
    reason = "bench driver: real sockets and clock"
)]

#[path = "../tests/interop_util/mod.rs"]
mod interop_util;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_lite::config::NeighborSettings;
use bgp_lite::{Speaker, SpeakerConfig, State};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use interop_util::{Driver, TempDir, bird, birdc, gobgp, gobgp_cli};

const N: u32 = 100_000;
const GOBGP: &str = "127.0.21.2";
const US: &str = "127.0.21.1";
const BIRD: &str = "127.0.21.3";
const PORT: u16 = 1821;

/// An MRT TABLE_DUMP_V2 file (RFC 6396) with N /24 prefixes, 10 per attribute set.
fn mrt() -> Vec<u8> {
    fn rec(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&13u16.to_be_bytes());
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
    }
    let mut out = Vec::new();
    // PEER_INDEX_TABLE: collector id, empty view name, one peer (IPv4, AS4)
    let mut b = vec![192, 0, 2, 1, 0, 0, 0, 1, 0x02, 192, 0, 2, 1, 192, 0, 2, 1];
    b.extend_from_slice(&65001u32.to_be_bytes());
    rec(&mut out, 1, &b);
    for i in 0..N {
        let k = i / 10;
        let a = 0x0b00_0000 + i * 256;
        let mut b = Vec::new();
        b.extend_from_slice(&i.to_be_bytes());
        b.push(24);
        b.extend_from_slice(&a.to_be_bytes()[..3]);
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        let asn = 64512 + (k % 1000);
        let attrs = [
            vec![0x40, 1, 1, 0],
            vec![0x40, 2, 6, 2, 1],
            asn.to_be_bytes().to_vec(),
            vec![0x40, 3, 4, 192, 0, 2, 1],
            vec![0x80, 4, 4],
            k.to_be_bytes().to_vec(),
        ]
        .concat();
        b.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
        b.extend_from_slice(&attrs);
        rec(&mut out, 2, &b);
    }
    out
}

fn gobgp_conf() -> String {
    let nb = |addr: &str| {
        format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = 65001\n  [neighbors.transport.config]\n    local-address = \"{GOBGP}\"\n    passive-mode = true\n  [neighbors.timers.config]\n    hold-time = 30\n    keepalive-interval = 10\n    idle-hold-time-after-reset = 1\n"
        )
    };
    format!(
        "[global.config]\n  as = 65001\n  router-id = \"{GOBGP}\"\n  port = {PORT}\n  local-address-list = [\"{GOBGP}\"]\n{}{}",
        nb(US),
        nb(BIRD)
    )
}

fn bird_conf() -> String {
    format!(
        r#"router id {BIRD};
protocol device {{ }}
ipv4 table igptab;
protocol static s_igp {{ ipv4 {{ table igptab; }}; route 0.0.0.0/0 via "lo"; }}
protocol bgp gobgp {{
  local {BIRD} port 1822 as 65001;
  strict bind yes;
  neighbor {GOBGP} port {PORT} as 65001;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 2;
  ipv4 {{ import all; export none; igp table igptab; }};
}}
"#
    )
}

fn bird_count(d: &interop_util::Daemon) -> u32 {
    // "100000 of 100000 routes for 100000 networks in table master4"
    birdc(d, "show route count table master4")
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    if std::env::var_os("BGPLITE_E2E").is_none() {
        eprintln!(
            "e2e: set BGPLITE_E2E=1 (needs root, gobgpd, bird) to run the GoBGP -> us vs GoBGP -> BIRD comparison"
        );
        return;
    }
    let api = 50_900;
    let g = gobgp(&gobgp_conf(), api);
    std::thread::sleep(Duration::from_millis(800));
    let dir = TempDir::new("mrt");
    std::fs::write(dir.path("table.mrt"), mrt()).unwrap();
    let out = interop_util::sh(&format!(
        "gobgp -p {api} mrt inject global {} 2>&1",
        dir.path("table.mrt").display()
    ));
    // wait until the injected count is stable; GoBGP 3.10 keeps about 99.3 % of them
    let count = || -> u32 {
        let s = gobgp_cli(api, "global rib summary -a ipv4");
        s.split("Destination: ")
            .nth(1)
            .and_then(|x| x.split(',').next())
            .and_then(|x| x.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let n = count();
        if n == last && n > N / 2 {
            break;
        }
        last = n;
    }
    let held = last * 99 / 100; // both receivers are timed to the same 99 % mark
    eprintln!("e2e: GoBGP holds {last} prefixes, receivers timed to {held} ({out})");
    let b = bird(&bird_conf());

    let mut grp = c.benchmark_group("e2e_gobgp_100k");
    grp.sample_size(10);
    grp.sampling_mode(SamplingMode::Flat);
    grp.throughput(Throughput::Elements(u64::from(held)));
    grp.bench_function("to_bgp_lite", |bch| {
        bch.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut cfg = SpeakerConfig::new(65001, US.parse().unwrap());
                let mut n = NeighborSettings::ibgp(65001);
                n.port = PORT;
                n.local_addr = Some(US.parse().unwrap());
                n.connect_retry = Duration::from_secs(1);
                cfg.neighbors.insert(GOBGP.parse().unwrap(), n);
                let mut drv = Driver::new(Speaker::new(cfg, Instant::now()).unwrap(), &[], 0);
                let peer = GOBGP.parse::<Ipv4Addr>().unwrap().into();
                assert!(
                    drv.run_until(Duration::from_secs(30), |d| d.sp.neighbor_state(peer)
                        == Some(State::Established))
                );
                let t = Instant::now();
                loop {
                    drv.step();
                    if drv.sp.loc_rib().len() >= held as usize {
                        break;
                    }
                    assert!(
                        t.elapsed() < Duration::from_secs(60),
                        "timeout: {}",
                        drv.sp.loc_rib().len()
                    );
                }
                total += t.elapsed();
                if std::env::var_os("BGPLITE_VERBOSE").is_some() {
                    eprintln!(
                        "e2e: {:?}, {} UPDATEs for {} prefixes",
                        t.elapsed(),
                        drv.sp.stats().updates_in,
                        drv.sp.loc_rib().len()
                    );
                }
            }
            total
        });
    });
    grp.bench_function("to_bird", |bch| {
        bch.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                birdc(&b, "restart gobgp");
                let t0 = Instant::now();
                while !birdc(&b, "show protocols gobgp").contains("Established") {
                    assert!(
                        t0.elapsed() < Duration::from_secs(30),
                        "BIRD session not up"
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
                let t = Instant::now();
                while bird_count(&b) < held {
                    assert!(
                        t.elapsed() < Duration::from_secs(60),
                        "BIRD has {} of {held}: {}",
                        bird_count(&b),
                        birdc(&b, "show route count table master4")
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                total += t.elapsed();
            }
            total
        });
    });
    grp.finish();
    drop(b);
    drop(g);
}

criterion_group!(benches, bench);
criterion_main!(benches);

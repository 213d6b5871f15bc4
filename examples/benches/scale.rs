//! The scale run: one hub, N spokes connecting at once in the simulator (IKEv2 cookies from 50
//! half-open SAs, at most 200 half-open), until every IKE/Child SA is up and BGP has converged
//! (the hub holds every spoke's LAN, every spoke holds the hub's LAN). Reports the wall time,
//! the virtual time, the cookies and refusals, and the hub's heap per spoke, measured with a
//! counting global allocator that tags each allocation with the node being run.
//!
//! `cargo bench -p flexvpn-router --bench scale` (`SCALE_SPOKES=100,1000` to choose N).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "bench driver: wall clock and the simulator's epoch"
)]
#![allow(
    unsafe_code,
    reason = "a counting global allocator is unsafe by nature; it only wraps `System`"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use flexvpn_router::config::Config;
use flexvpn_router::node::Node;
use flexvpn_router::prefix::Prefix;
use flexvpn_router::sim::{LinkParams, Sim, SimNode, Transmit};

/// Who allocates: 0 the driver, 1 the hub, 2 a spoke.
const OWNERS: usize = 3;
static LIVE: [AtomicIsize; OWNERS] = [
    AtomicIsize::new(0),
    AtomicIsize::new(0),
    AtomicIsize::new(0),
];

thread_local! {
    static OWNER: Cell<u8> = const { Cell::new(0) };
}

/// A global allocator that stores the owner of each block in a header in front of it, so that
/// a block allocated by the hub and freed by anyone else still leaves the hub's count.
struct Tagging;

const HEADER: usize = 16;

fn offset(layout: Layout) -> usize {
    layout.align().max(HEADER)
}

// SAFETY: every block is obtained from `System` with room for the header in front of the
// pointer handed out, and freed with the very same layout.
unsafe impl GlobalAlloc for Tagging {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let off = offset(layout);
        let Ok(outer) = Layout::from_size_align(layout.size() + off, layout.align().max(HEADER))
        else {
            return std::ptr::null_mut();
        };
        // SAFETY: `outer` has a non-zero size.
        let base = unsafe { System.alloc(outer) };
        if base.is_null() {
            return base;
        }
        let owner = OWNER.try_with(Cell::get).unwrap_or(0);
        // SAFETY: `off >= 16` bytes are ours in front of the user pointer.
        unsafe {
            let user = base.add(off);
            user.sub(1).write(owner);
            LIVE[usize::from(owner)].fetch_add(layout.size() as isize, Ordering::Relaxed);
            user
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let off = offset(layout);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe {
            let owner = ptr.sub(1).read();
            LIVE[usize::from(owner) % OWNERS].fetch_sub(layout.size() as isize, Ordering::Relaxed);
            let outer =
                Layout::from_size_align_unchecked(layout.size() + off, layout.align().max(HEADER));
            System.dealloc(ptr.sub(off), outer);
        }
    }
}

#[global_allocator]
static GLOBAL: Tagging = Tagging;

fn live(owner: usize) -> isize {
    LIVE[owner].load(Ordering::Relaxed)
}

/// A router that marks the allocations it makes as its own.
struct Tagged {
    owner: u8,
    node: Box<Node>,
}

impl Tagged {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let prev = OWNER.with(|o| o.replace(self.owner));
        let r = f();
        OWNER.with(|o| o.set(prev));
        r
    }
}

impl SimNode for Tagged {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: Vec<u8>) {
        let prev = OWNER.with(|o| o.replace(self.owner));
        self.node.handle_packet(now, iface, packet);
        OWNER.with(|o| o.set(prev));
    }
    fn handle_timeout(&mut self, now: Instant) {
        let prev = OWNER.with(|o| o.replace(self.owner));
        self.node.handle_timeout(now);
        OWNER.with(|o| o.set(prev));
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        let prev = OWNER.with(|o| o.replace(self.owner));
        let t = self.node.poll_transmit();
        OWNER.with(|o| o.set(prev));
        t
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.run(|| self.node.poll_timeout())
    }
}

const HUB: &str = "hostname Hub1
aaa new-model
aaa authorization network default local
crypto ikev2 authorization policy default
 pool FlexSpokes
 route set interface
crypto ikev2 keyring Flex_key
 peer Spokes
  address 0.0.0.0 0.0.0.0
  pre-shared-key local cisco
  pre-shared-key remote cisco
crypto ikev2 profile Flex_IKEv2
 match identity remote address 0.0.0.0
 authentication remote pre-share
 authentication local pre-share
 keyring local Flex_key
 aaa authorization group psk list default default
 virtual-template 1
crypto ikev2 dpd 30 5 on-demand
crypto ikev2 cookie-challenge 50
crypto ikev2 limit max-in-negotiation-sa 200
crypto ipsec transform-set IKEv2 esp-gcm
 mode transport
crypto ipsec profile default
 set transform-set IKEv2
 set ikev2-profile Flex_IKEv2
interface Loopback0
 ip address 10.1.1.1 255.255.255.255
interface Ethernet0/0
 ip address 172.25.1.1 255.255.255.0
interface Ethernet0/1
 ip address 192.168.0.1 255.255.255.0
interface Virtual-Template1 type tunnel
 ip unnumbered Loopback0
 ip mtu 1400
 ip nhrp network-id 2
 ip nhrp redirect
 ip tcp adjust-mss 1360
 tunnel protection ipsec profile default
ip local pool FlexSpokes 10.1.2.1 10.1.9.254
router bgp 65001
 bgp router-id 192.168.0.1
 bgp listen range 10.1.0.0/16 peer-group Spokes
 bgp listen limit 2000
 network 192.168.0.0
 neighbor Spokes peer-group
 neighbor Spokes remote-as 65001
ip route 0.0.0.0 0.0.0.0 172.25.1.254
";

fn spoke_public(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(172, 16, (i / 250) as u8, (i % 250 + 2) as u8)
}

fn spoke_lan(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, (128 + i / 256) as u8, (i % 256) as u8, 0)
}

fn spoke(i: u32) -> String {
    let p = spoke_public(i).octets();
    let l = spoke_lan(i).octets();
    format!(
        "hostname Spoke{i}
crypto ikev2 keyring Flex_key
 peer Spokes
  address 0.0.0.0 0.0.0.0
  pre-shared-key local cisco
  pre-shared-key remote cisco
crypto ikev2 profile Flex_IKEv2
 match identity remote address 0.0.0.0
 authentication remote pre-share
 authentication local pre-share
 keyring local Flex_key
 aaa authorization group psk list default default
crypto ikev2 dpd 30 5 on-demand
crypto ikev2 client flexvpn Flex_Client
 peer 1 172.25.1.1
 client connect Tunnel1
crypto ipsec transform-set IKEv2 esp-gcm
 mode transport
crypto ipsec profile default
 set ikev2-profile Flex_IKEv2
interface Ethernet0/0
 ip address {}.{}.{}.{} 255.255.255.0
interface Ethernet0/1
 ip address {}.{}.{}.1 255.255.255.0
interface Tunnel1
 ip address negotiated
 ip mtu 1400
 ip nhrp network-id 2
 ip tcp adjust-mss 1360
 tunnel source Ethernet0/0
 tunnel destination dynamic
 tunnel protection ipsec profile default
router bgp 65001
 bgp router-id {}.{}.{}.1
 network {}.{}.{}.0 mask 255.255.255.0
 neighbor 10.1.1.1 remote-as 65001
 neighbor 10.1.1.1 update-source Tunnel1
ip route 0.0.0.0 0.0.0.0 {}.{}.{}.1
",
        p[0],
        p[1],
        p[2],
        p[3],
        l[0],
        l[1],
        l[2],
        l[0],
        l[1],
        l[2],
        l[0],
        l[1],
        l[2],
        p[0],
        p[1],
        p[2]
    )
}

/// What one run measured.
#[derive(Debug)]
struct Report {
    spokes: u32,
    wall: Duration,
    /// Virtual time until every Child SA was up.
    sas_up: Option<Duration>,
    /// Virtual time until BGP had converged.
    converged: Option<Duration>,
    cookies_sent: u64,
    half_open_refused: u64,
    hub_heap_idle: isize,
    hub_heap_up: isize,
}

fn run(n: u32, limit: Duration) -> Report {
    let start = Instant::now();
    let epoch = Instant::now();
    let mut sim: Sim<Tagged> = Sim::new(epoch, 1);
    let wan = LinkParams {
        delay: Duration::from_millis(10),
        ..LinkParams::default()
    };
    let hub_cfg = Config::parse(HUB).unwrap();
    OWNER.with(|o| o.set(1));
    let hub = Tagged {
        owner: 1,
        node: Box::new(Node::with_seed(&hub_cfg, epoch, 1).unwrap()),
    };
    OWNER.with(|o| o.set(0));
    let hub = sim.add_node(hub);
    sim.attach(hub, 0, 0, Ipv4Addr::new(172, 25, 1, 1), wan);
    sim.attach(
        hub,
        1,
        1,
        Ipv4Addr::new(192, 168, 0, 1),
        LinkParams::default(),
    );
    sim.kick(hub);
    let hub_heap_idle = live(1);
    let mut spokes = Vec::new();
    for i in 0..n {
        let cfg = Config::parse(&spoke(i)).unwrap();
        OWNER.with(|o| o.set(2));
        let node = Box::new(Node::with_seed(&cfg, epoch, 10 + u64::from(i)).unwrap());
        OWNER.with(|o| o.set(0));
        let id = sim.add_node(Tagged { owner: 2, node });
        sim.attach(id, 0, 0, spoke_public(i), wan);
        spokes.push(id);
    }
    // Everyone at once.
    for &id in &spokes {
        sim.kick(id);
    }
    let hub_lan = Prefix::new(Ipv4Addr::new(192, 168, 0, 0), 24).unwrap();
    let (mut sas_up, mut converged) = (None, None);
    while sim.elapsed() < limit {
        sim.run_for(Duration::from_millis(500));
        let h = &sim.node(hub).node;
        if sas_up.is_none() && h.established_sessions() == n as usize {
            sas_up = Some(sim.elapsed());
        }
        if sas_up.is_some() {
            let lans = h
                .bgp_routes()
                .iter()
                .filter(|(p, _)| p.addr().octets()[0] == 10 && p.addr().octets()[1] >= 128)
                .count();
            if lans == n as usize
                && spokes.iter().all(|&s| {
                    sim.node(s)
                        .node
                        .bgp_routes()
                        .iter()
                        .any(|(p, _)| *p == hub_lan)
                })
            {
                converged = Some(sim.elapsed());
                break;
            }
        }
    }
    let h = &sim.node(hub).node;
    if converged.is_none() {
        let s = &sim.node(spokes[0]).node;
        eprintln!(
            "hub:\n{}\n{}\nspoke 0:\n{}\n{}",
            h.show_ip_bgp_summary(),
            h.show_ip_route(),
            s.show_ip_bgp_summary(),
            s.show_ip_route()
        );
    }
    let stats = h.ike_stats();
    Report {
        spokes: n,
        wall: start.elapsed(),
        sas_up,
        converged,
        cookies_sent: stats.cookies_sent,
        half_open_refused: stats.half_open_refused,
        hub_heap_idle,
        hub_heap_up: live(1),
    }
}

fn counts() -> Vec<u32> {
    std::env::var("SCALE_SPOKES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000])
}

fn bench(c: &mut Criterion) {
    let limit = Duration::from_secs(1800);
    let mut g = c.benchmark_group("scale");
    g.sample_size(10);
    for n in counts() {
        let r = run(n, limit);
        let per_spoke = (r.hub_heap_up - r.hub_heap_idle) / isize::try_from(n).unwrap_or(1);
        eprintln!(
            "scale: {} spokes: all Child SAs up at {:?} (virtual), BGP converged at {:?} (virtual), \
             wall {:.1?}; cookies sent {}, half-open refused {}; hub heap {} B idle, {} B up, \
             {} B per spoke",
            r.spokes,
            r.sas_up,
            r.converged,
            r.wall,
            r.cookies_sent,
            r.half_open_refused,
            r.hub_heap_idle,
            r.hub_heap_up,
            per_spoke
        );
        assert!(r.converged.is_some(), "{n} spokes did not converge: {r:?}");
        g.bench_function(format!("{n}_spokes_up_and_converged"), |b| {
            b.iter(|| run(n, limit).converged)
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

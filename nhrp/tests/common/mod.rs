//! A deterministic network of NHRP engines with a virtual clock: two hubs sharing network-id 2
//! over a hub-to-hub link, spoke 1 on hub 1 and spoke 2 on hub 2. Each node has a tiny FIB;
//! data packets are walked hop by hop and every forwarding decision is fed to the engine.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use nhrp::{Config, Engine, Event, Forwarded, Peer, Prefix};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// The one clock read of the integration tests.
#[allow(clippy::disallowed_methods, reason = "the one clock read")]
pub fn epoch() -> Instant {
    Instant::now()
}

pub const HUB1: usize = 0;
pub const HUB2: usize = 1;
pub const SPOKE1: usize = 2;
pub const SPOKE2: usize = 3;
pub const LINK_DELAY: Duration = Duration::from_millis(5);

pub fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}
pub fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    Local,
    Via(Peer),
    Shortcut(Peer),
}

pub struct Node {
    pub name: &'static str,
    pub engine: Engine,
    pub fib: Vec<(Prefix, Hop)>,
    pub nbmas: Vec<Ipv4Addr>,
}

impl Node {
    fn lookup(&self, dst: Ipv4Addr) -> Option<Hop> {
        // Longest prefix; a shortcut beats any other route of the same length.
        self.fib
            .iter()
            .filter(|(p, _)| p.contains(dst))
            .max_by_key(|(p, h)| (p.len(), matches!(h, Hop::Shortcut(_))))
            .map(|(_, h)| *h)
    }
}

pub struct Net {
    pub nodes: Vec<Node>,
    pub epoch: Instant,
    pub now: Instant,
    in_flight: Vec<(Instant, usize, Ipv4Addr, Vec<u8>)>,
    /// (time since epoch, node name, event)
    pub log: Vec<(Duration, &'static str, Event)>,
    /// Every NHRP packet sent: (time, from node, to NBMA, bytes).
    pub wire: Vec<(Duration, &'static str, Ipv4Addr, Vec<u8>)>,
    pub tunnels: BTreeSet<(usize, Ipv4Addr)>,
}

pub fn hub1_peer() -> Peer {
    Peer::new(a("10.1.1.1"), a("172.25.1.1"))
}
pub fn hub2_peer() -> Peer {
    Peer::new(a("10.1.1.2"), a("172.25.2.1"))
}
/// Hub 1 as hub 2 sees it on the hub-to-hub link, and the reverse.
pub fn hub1_link() -> Peer {
    Peer::new(a("10.1.1.1"), a("192.168.0.1"))
}
pub fn hub2_link() -> Peer {
    Peer::new(a("10.1.1.2"), a("192.168.0.2"))
}
pub fn spoke1_peer() -> Peer {
    Peer::new(a("10.1.1.111"), a("172.16.1.1"))
}
pub fn spoke2_peer() -> Peer {
    Peer::new(a("10.1.1.177"), a("172.16.2.2"))
}

/// Knobs for the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    pub seed: u64,
    pub spoke_holding: Duration,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            seed: 42,
            spoke_holding: Duration::from_secs(60),
        }
    }
}

impl Net {
    pub fn scenario(o: Opts) -> Self {
        let epoch = epoch();
        let mut rng = ChaCha20Rng::seed_from_u64(o.seed);
        let hub = |me: Peer,
                   other_link: Peer,
                   spoke: Peer,
                   lan: &str,
                   far_lan: &str,
                   far_spoke: Peer,
                   rng: &mut ChaCha20Rng| {
            let mut cfg = Config::new(2, me.proto, me.nbma);
            cfg.server = true;
            cfg.servers = vec![other_link];
            let mut e = Engine::new(cfg, rng, epoch).unwrap();
            e.add_peer(epoch, spoke).unwrap();
            e.set_route(p(lan), spoke);
            e.set_route(p(far_lan), other_link);
            e.set_route(Prefix::host(far_spoke.proto), other_link);
            let fib = vec![
                (p(lan), Hop::Via(spoke)),
                (Prefix::host(spoke.proto), Hop::Via(spoke)),
                (p(far_lan), Hop::Via(other_link)),
                (Prefix::host(far_spoke.proto), Hop::Via(other_link)),
            ];
            (e, fib)
        };
        let spoke = |me: Peer, hub: Peer, lan: &str, rng: &mut ChaCha20Rng| {
            let mut cfg = Config::new(2, me.proto, me.nbma);
            cfg.servers = vec![hub];
            cfg.local_prefixes = vec![p(lan)];
            cfg.holding_time = o.spoke_holding;
            let mut e = Engine::new(cfg, rng, epoch).unwrap();
            e.set_route(p("0.0.0.0/0"), hub);
            let fib = vec![
                (p(lan), Hop::Local),
                (Prefix::host(me.proto), Hop::Local),
                (p("192.168.0.0/16"), Hop::Via(hub)),
                (p("10.1.1.0/24"), Hop::Via(hub)),
            ];
            (e, fib)
        };
        let (h1, mut f1) = hub(
            hub1_peer(),
            hub2_link(),
            spoke1_peer(),
            "192.168.1.0/24",
            "192.168.2.0/24",
            spoke2_peer(),
            &mut rng,
        );
        f1.push((Prefix::host(hub1_peer().proto), Hop::Local));
        let (h2, mut f2) = hub(
            hub2_peer(),
            hub1_link(),
            spoke2_peer(),
            "192.168.2.0/24",
            "192.168.1.0/24",
            spoke1_peer(),
            &mut rng,
        );
        f2.push((Prefix::host(hub2_peer().proto), Hop::Local));
        let (s1, fs1) = spoke(spoke1_peer(), hub1_peer(), "192.168.1.0/24", &mut rng);
        let (s2, fs2) = spoke(spoke2_peer(), hub2_peer(), "192.168.2.0/24", &mut rng);
        Self {
            nodes: vec![
                Node {
                    name: "hub1",
                    engine: h1,
                    fib: f1,
                    nbmas: vec![a("172.25.1.1"), a("192.168.0.1")],
                },
                Node {
                    name: "hub2",
                    engine: h2,
                    fib: f2,
                    nbmas: vec![a("172.25.2.1"), a("192.168.0.2")],
                },
                Node {
                    name: "spoke1",
                    engine: s1,
                    fib: fs1,
                    nbmas: vec![a("172.16.1.1")],
                },
                Node {
                    name: "spoke2",
                    engine: s2,
                    fib: fs2,
                    nbmas: vec![a("172.16.2.2")],
                },
            ],
            epoch,
            now: epoch,
            in_flight: Vec::new(),
            log: Vec::new(),
            wire: Vec::new(),
            tunnels: BTreeSet::new(),
        }
    }

    pub fn since(&self) -> Duration {
        self.now - self.epoch
    }

    fn node_of_nbma(&self, nbma: Ipv4Addr) -> Option<usize> {
        self.nodes.iter().position(|n| n.nbmas.contains(&nbma))
    }

    /// Drains every engine: transmits go in flight, events are applied to the FIBs.
    pub fn drain(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(t) = self.nodes[i].engine.poll_transmit() {
                let name = self.nodes[i].name;
                self.wire
                    .push((self.since(), name, t.nbma, t.payload.clone()));
                let Some(dst) = self.node_of_nbma(t.nbma) else {
                    continue;
                };
                // The source NBMA address on the link the packet takes.
                let same_net = |x: &Ipv4Addr| x.octets()[..2] == t.nbma.octets()[..2];
                let from = self.nodes[i]
                    .nbmas
                    .iter()
                    .copied()
                    .find(same_net)
                    .unwrap_or(self.nodes[i].nbmas[0]);
                self.in_flight
                    .push((self.now + LINK_DELAY, dst, from, t.payload));
            }
            while let Some(ev) = self.nodes[i].engine.poll_event() {
                let node = &mut self.nodes[i];
                match &ev {
                    Event::InstallShortcut {
                        prefix,
                        next_hop,
                        nbma,
                    } => {
                        node.fib
                            .push((*prefix, Hop::Shortcut(Peer::new(*next_hop, *nbma))));
                    }
                    Event::WithdrawShortcut { prefix, .. } => {
                        node.fib
                            .retain(|(p, h)| !(p == prefix && matches!(h, Hop::Shortcut(_))));
                    }
                    Event::OpenTunnel { nbma } => {
                        self.tunnels.insert((i, *nbma));
                    }
                    Event::TunnelUnused { nbma } => {
                        self.tunnels.remove(&(i, *nbma));
                    }
                    _ => {}
                }
                self.log
                    .push((self.now - self.epoch, self.nodes[i].name, ev));
            }
        }
    }

    /// Delivers what is due, then advances the clock to the next arrival or timer, at most
    /// to `limit`. Returns false when nothing is left to do before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.drain();
        let next_arrival = self.in_flight.iter().map(|f| f.0).min();
        let next_timer = self
            .nodes
            .iter()
            .filter_map(|n| n.engine.poll_timeout())
            .min();
        let next = match (next_arrival, next_timer) {
            (Some(x), Some(y)) => x.min(y),
            (x, y) => match x.or(y) {
                Some(t) => t,
                None => {
                    self.now = self.now.max(limit);
                    return false;
                }
            },
        };
        if next > limit {
            self.now = self.now.max(limit);
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|f| f.0 <= now);
        self.in_flight = rest;
        for (_, dst, from, bytes) in due {
            let _ = self.nodes[dst].engine.handle_nhrp(now, from, &bytes);
        }
        for n in &mut self.nodes {
            if n.engine.poll_timeout().is_some_and(|t| t <= now) {
                n.engine.handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    /// Runs until `d` from now has passed.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        let mut n = 0;
        while self.step(limit) {
            n += 1;
            assert!(n < 100_000, "simulation never went idle");
        }
    }

    /// Runs until no NHRP packet is in flight (bounded).
    pub fn settle(&mut self) {
        for _ in 0..1000 {
            self.drain();
            if self.in_flight.is_empty() {
                return;
            }
            let limit = self.now + LINK_DELAY;
            self.step(limit);
        }
        panic!("network did not settle");
    }

    /// Sends one data packet from `from` (originated there) and returns the node path.
    pub fn send_data(&mut self, from: usize, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<&'static str> {
        let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        ip.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        let mut path = vec![self.nodes[from].name];
        let mut cur = from;
        let mut ingress: Option<Peer> = None;
        for _ in 0..8 {
            let Some(hop) = self.nodes[cur].lookup(dst) else {
                panic!("{} has no route to {dst}", self.nodes[cur].name)
            };
            let egress = match hop {
                Hop::Local => return path,
                Hop::Via(p) | Hop::Shortcut(p) => p,
            };
            let now = self.now;
            self.nodes[cur].engine.handle_forwarded(
                now,
                Forwarded {
                    ingress,
                    egress,
                    packet: &ip,
                },
            );
            self.drain();
            let next = self.node_of_nbma(egress.nbma).expect("next hop exists");
            let me = self.nodes[cur].engine.config();
            ingress = Some(Peer::new(me.proto, me.nbma));
            cur = next;
            path.push(self.nodes[cur].name);
        }
        panic!("forwarding loop: {path:?}");
    }

    pub fn events_of(&self, node: &str) -> Vec<&Event> {
        self.log
            .iter()
            .filter(|(_, n, _)| *n == node)
            .map(|(_, _, e)| e)
            .collect()
    }
}

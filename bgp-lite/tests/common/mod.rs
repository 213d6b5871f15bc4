//! In-memory network for speakers: reliable byte pipes standing in for TCP, a virtual clock.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_lite::{ConnId, Event, Speaker};

/// The one clock read of the test suite.
#[allow(clippy::disallowed_methods, reason = "the one clock read")]
pub fn epoch() -> Instant {
    Instant::now()
}

pub struct Node {
    pub name: &'static str,
    pub sp: Speaker,
    pub addrs: Vec<IpAddr>,
}

#[derive(Debug, Clone)]
struct Delivery {
    at: Instant,
    node: usize,
    conn: ConnId,
    bytes: Vec<u8>,
}

pub struct Net {
    pub nodes: Vec<Node>,
    pub epoch: Instant,
    pub now: Instant,
    /// (node, conn) -> (peer node, peer conn)
    pipes: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    inflight: VecDeque<Delivery>,
    next_inbound: u64,
    pub latency: Duration,
    /// Pairs of nodes whose traffic is silently dropped (a black hole).
    pub blackhole: Vec<(usize, usize)>,
    /// Recorded events: (time since epoch, node name, event).
    pub log: Vec<(Duration, &'static str, Event)>,
}

impl Net {
    pub fn new(epoch: Instant) -> Self {
        Self {
            nodes: Vec::new(),
            epoch,
            now: epoch,
            pipes: BTreeMap::new(),
            inflight: VecDeque::new(),
            next_inbound: 1,
            latency: Duration::from_millis(1),
            blackhole: Vec::new(),
            log: Vec::new(),
        }
    }

    pub fn add(&mut self, name: &'static str, sp: Speaker, addrs: &[IpAddr]) -> usize {
        self.nodes.push(Node {
            name,
            sp,
            addrs: addrs.to_vec(),
        });
        self.nodes.len() - 1
    }

    fn find(&self, ip: IpAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addrs.contains(&ip))
    }

    /// Drains every node until quiet at the current time.
    pub fn drain(&mut self) {
        loop {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].sp.poll_transmit() {
                    progress = true;
                    if let Some(&(pn, pc)) = self.pipes.get(&(i, t.conn)) {
                        if self.blackhole.contains(&(i, pn)) || self.blackhole.contains(&(pn, i)) {
                            continue;
                        }
                        self.inflight.push_back(Delivery {
                            at: self.now + self.latency,
                            node: pn,
                            conn: pc,
                            bytes: t.bytes,
                        });
                    }
                }
                while let Some(e) = self.nodes[i].sp.poll_event() {
                    progress = true;
                    self.log
                        .push((self.now - self.epoch, self.nodes[i].name, e.clone()));
                    match e {
                        Event::Connect { conn, remote, .. } => self.connect(i, conn, remote),
                        Event::Close { conn } => {
                            if let Some((pn, pc)) = self.pipes.remove(&(i, conn)) {
                                self.pipes.remove(&(pn, pc));
                                // deliver what is in flight first, then the close
                                self.inflight.push_back(Delivery {
                                    at: self.now + self.latency,
                                    node: pn,
                                    conn: pc,
                                    bytes: Vec::new(),
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn connect(&mut self, i: usize, conn: ConnId, remote: SocketAddr) {
        let now = self.now;
        let Some(j) = self.find(remote.ip()) else {
            self.nodes[i].sp.handle_closed(now, conn);
            return;
        };
        if self.blackhole.contains(&(i, j)) || self.blackhole.contains(&(j, i)) {
            self.nodes[i].sp.handle_closed(now, conn);
            return;
        }
        // the source address: the node's address in the same family/subnet as the target
        let src_ip = *self.nodes[i]
            .addrs
            .iter()
            .find(|a| same_net(**a, remote.ip()))
            .unwrap_or(&self.nodes[i].addrs[0]);
        let src = SocketAddr::new(src_ip, 40000 + u16::try_from(conn.0 & 0xfff).unwrap());
        let inbound = ConnId(self.next_inbound);
        self.next_inbound += 1;
        if self.nodes[j]
            .sp
            .handle_connected(now, inbound, remote, src)
            .is_err()
        {
            self.nodes[i].sp.handle_closed(now, conn);
            return;
        }
        self.pipes.insert((i, conn), (j, inbound));
        self.pipes.insert((j, inbound), (i, conn));
        self.nodes[i]
            .sp
            .handle_connected(now, conn, src, remote)
            .unwrap();
    }

    /// Injects raw bytes into node `to` as if sent by `from` on their pipe.
    pub fn inject(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let (&(_, c), _) = self
            .pipes
            .iter()
            .find(|((n, _), (pn, _))| *n == to && *pn == from)
            .expect("no pipe");
        let now = self.now;
        let _ = self.nodes[to].sp.handle_stream_data(now, c, bytes);
        self.drain();
    }

    /// Closes every pipe between two nodes (both sides see the transport close).
    pub fn cut(&mut self, a: usize, b: usize) {
        let now = self.now;
        let pairs: Vec<_> = self
            .pipes
            .iter()
            .filter(|((n, _), (pn, _))| *n == a && *pn == b)
            .map(|(k, v)| (*k, *v))
            .collect();
        for ((n, c), (pn, pc)) in pairs {
            self.pipes.remove(&(n, c));
            self.pipes.remove(&(pn, pc));
            self.nodes[n].sp.handle_closed(now, c);
            self.nodes[pn].sp.handle_closed(now, pc);
        }
        self.drain();
    }

    /// Runs until `until` (since epoch); returns false if it did not go idle in time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.drain();
        loop {
            let next_delivery = self.inflight.iter().map(|d| d.at).min();
            let next_timer = self.nodes.iter().filter_map(|n| n.sp.poll_timeout()).min();
            let next = [next_delivery, next_timer].into_iter().flatten().min();
            let Some(t) = next.filter(|t| *t <= end) else {
                self.now = end;
                break;
            };
            self.now = self.now.max(t);
            let now = self.now;
            // deliveries due, in order
            while let Some(pos) = self.inflight.iter().position(|d| d.at <= now) {
                let d = self.inflight.remove(pos).unwrap();
                if d.bytes.is_empty() {
                    self.nodes[d.node].sp.handle_closed(now, d.conn);
                } else {
                    let _ = self.nodes[d.node]
                        .sp
                        .handle_stream_data(now, d.conn, &d.bytes);
                }
                self.drain();
            }
            for n in &mut self.nodes {
                n.sp.handle_timeout(now);
            }
            self.drain();
        }
    }

    pub fn syslog(&self, node: &str) -> Vec<String> {
        self.log
            .iter()
            .filter(|(_, n, _)| *n == node)
            .filter_map(|(_, _, e)| match e {
                Event::Syslog(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

fn same_net(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        _ => false,
    }
}

pub mod cfg {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use bgp_lite::config::*;

    pub const HUB1_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    pub const HUB1_OVERLAY: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 1);
    pub const HUB2_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);

    /// The scenario's hub configuration (hub 1), word for word where the API allows.
    pub fn hub1() -> SpeakerConfig {
        let mut c = SpeakerConfig::new(65001, HUB1_LAN);
        let mut spokes = NeighborSettings::ibgp(65001);
        spokes.hold_time = 30;
        c.peer_groups.insert("Spokes".into(), spokes);
        c.listen_ranges.push(ListenRange {
            prefix: "10.1.1.0/24".parse().unwrap(),
            peer_group: "Spokes".into(),
        });
        c.networks.push("192.168.0.0/24".parse().unwrap());
        c.aggregates.push(AggregateConfig {
            prefix: "192.168.0.0/16".parse().unwrap(),
            summary_only: true,
            as_set: false,
        });
        let mut n = NeighborSettings::ibgp(65001);
        n.route_reflector_client = true;
        n.next_hop_self = NextHopSelf::All;
        n.unsuppress_map = Some("ALL".into());
        n.hold_time = 30;
        n.connect_retry = Duration::from_secs(5);
        c.neighbors.insert(HUB2_LAN.into(), n);
        c.policy
            .access_lists
            .insert("1".into(), AccessList::permit_any());
        c.policy
            .route_maps
            .insert("ALL".into(), RouteMap::permit_matching_acl(10, "1"));
        c
    }

    /// A spoke: iBGP to the hub's overlay address, announcing its LAN.
    pub fn spoke(addr: Ipv4Addr, lan: &str) -> SpeakerConfig {
        let mut c = SpeakerConfig::new(65001, addr);
        let mut n = NeighborSettings::ibgp(65001);
        n.hold_time = 30;
        n.connect_retry = Duration::from_secs(5);
        c.neighbors.insert(HUB1_OVERLAY.into(), n);
        c.networks.push(lan.parse().unwrap());
        c
    }

    /// The other hub: iBGP to hub 1 over the LAN, announcing a prefix of its own.
    pub fn hub2() -> SpeakerConfig {
        let mut c = SpeakerConfig::new(65001, HUB2_LAN);
        let mut n = NeighborSettings::ibgp(65001);
        n.hold_time = 30;
        n.passive = true;
        c.neighbors.insert(HUB1_LAN.into(), n);
        c.networks.push("10.2.0.0/16".parse().unwrap());
        c
    }
}

//! The deterministic network simulator: many nodes in one process, a virtual clock, links with
//! delay, jitter, loss and cuts, an event queue, and an optional pcap tap.
//!
//! The clock is an epoch `Instant` read once by the caller plus a `Duration` that only the
//! simulator advances, so days of DPD timers run in milliseconds, and the same seed and inputs
//! give the same output byte for byte: loss and jitter come from one seeded ChaCha20 RNG, events
//! at the same time run in the order they were scheduled, and nodes are visited in index order.
//!
//! Topology: each node interface is *attached* to a numbered segment with an address. A packet a
//! node transmits on an interface towards a next hop reaches the attachment on the same segment
//! that owns that address (a segment is an L2 LAN, or a routed cloud such as the Internet, where
//! the next hop is the destination itself). The path takes the sum of both attachments' delays
//! (plus jitter), is lost with each attachment's loss probability, and is dropped if either
//! attachment is cut or either node is down.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::{Duration, Instant};
//! use flexvpn_router::sim::{LinkParams, Sim, SimNode, Transmit};
//!
//! /// Sends one packet to `peer` at start, counts what it receives.
//! struct Echo { peer: Ipv4Addr, start: bool, got: usize, out: Vec<Transmit> }
//! impl SimNode for Echo {
//!     fn handle_packet(&mut self, _now: Instant, _iface: usize, _p: Vec<u8>) { self.got += 1; }
//!     fn handle_timeout(&mut self, _now: Instant) {
//!         if self.start {
//!             self.start = false;
//!             self.out.push(Transmit { iface: 0, next_hop: self.peer, packet: vec![1, 2, 3] });
//!         }
//!     }
//!     fn poll_transmit(&mut self) -> Option<Transmit> { self.out.pop() }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//!
//! let epoch = Instant::now();
//! let mut sim = Sim::new(epoch, 42);
//! let a = sim.add_node(Echo { peer: [10, 0, 0, 2].into(), start: true, got: 0, out: vec![] });
//! let b = sim.add_node(Echo { peer: [10, 0, 0, 1].into(), start: false, got: 0, out: vec![] });
//! let link = LinkParams { delay: Duration::from_millis(5), ..LinkParams::default() };
//! sim.attach(a, 0, 0, [10, 0, 0, 1].into(), link);
//! sim.attach(b, 0, 0, [10, 0, 0, 2].into(), link);
//! sim.kick(a);
//! sim.run_until(Duration::from_secs(1));
//! assert_eq!(sim.node(b).got, 1);
//! assert_eq!(sim.stats().delivered, 1);
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::pcap::PcapWriter;

/// How many steps may run at one virtual instant before a run is declared stalled.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// A node of the simulation: a sans-IO engine seen from outside.
pub trait SimNode {
    /// A packet arrived on interface `iface`.
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: Vec<u8>);
    /// A timer may have expired (called at or after `poll_timeout`, and after [`Sim::kick`]).
    fn handle_timeout(&mut self, now: Instant);
    /// A packet to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// When `handle_timeout` should next be called.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// A packet a node sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The interface it leaves on.
    pub iface: usize,
    /// The address of the attachment on the same segment that should receive it.
    pub next_hop: Ipv4Addr,
    /// The IPv4 packet.
    pub packet: Vec<u8>,
}

/// The behaviour of one attachment (one side of every path through it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkParams {
    /// One-way delay contributed by this attachment.
    pub delay: Duration,
    /// Extra random delay, uniform in `[0, jitter)`.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a packet through this attachment is lost.
    pub loss: f64,
    /// Whether the attachment carries packets at all (`false`: cut).
    pub up: bool,
}

impl Default for LinkParams {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            up: true,
        }
    }
}

/// Identifies a node.
pub type NodeId = usize;

/// Counters of what happened to transmitted packets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Packets nodes transmitted.
    pub sent: u64,
    /// Packets delivered to a node.
    pub delivered: u64,
    /// Lost to random loss.
    pub lost: u64,
    /// Dropped because an attachment was cut or a node was down.
    pub cut: u64,
    /// Dropped because no attachment on the segment owns the next hop.
    pub unroutable: u64,
    /// Times a run stopped early because nodes kept asking for a timer at the same instant
    /// (a livelock in some engine; counted so the lab can report it instead of hanging).
    pub stalls: u64,
}

#[derive(Debug, Clone)]
struct Attachment {
    node: NodeId,
    iface: usize,
    segment: usize,
    addr: Ipv4Addr,
    params: LinkParams,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: Duration,
    seq: u64,
    to: NodeId,
    iface: usize,
    packet: Vec<u8>,
}

/// The simulator.
pub struct Sim<N> {
    epoch: Instant,
    elapsed: Duration,
    nodes: Vec<N>,
    up: Vec<bool>,
    attachments: Vec<Attachment>,
    queue: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    rng: ChaCha20Rng,
    stats: SimStats,
    pcap: Option<PcapWriter<Box<dyn Write>>>,
    pcap_error: Option<std::io::Error>,
}

impl<N: SimNode> Sim<N> {
    /// A simulator whose time 0 is `epoch`, with loss and jitter drawn from `seed`.
    pub fn new(epoch: Instant, seed: u64) -> Self {
        Self {
            epoch,
            elapsed: Duration::ZERO,
            nodes: Vec::new(),
            up: Vec::new(),
            attachments: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            rng: ChaCha20Rng::seed_from_u64(seed),
            stats: SimStats::default(),
            pcap: None,
            pcap_error: None,
        }
    }

    /// Write every transmitted packet (at the time it leaves its sender) to `w`.
    ///
    /// # Errors
    /// The writer's I/O error for the pcap header.
    pub fn set_pcap(&mut self, w: Box<dyn Write>) -> std::io::Result<()> {
        self.pcap = Some(PcapWriter::new(w)?);
        Ok(())
    }

    /// Flush the pcap writer and report the first write error met, if any.
    ///
    /// # Errors
    /// The first I/O error of the pcap writer.
    pub fn finish_pcap(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.pcap_error.take() {
            return Err(e);
        }
        match self.pcap.as_mut() {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }

    /// Add a node; it is up.
    pub fn add_node(&mut self, node: N) -> NodeId {
        self.nodes.push(node);
        self.up.push(true);
        self.nodes.len() - 1
    }

    /// Attach interface `iface` of `node` to `segment` with address `addr`.
    pub fn attach(
        &mut self,
        node: NodeId,
        iface: usize,
        segment: usize,
        addr: Ipv4Addr,
        params: LinkParams,
    ) {
        self.attachments.push(Attachment {
            node,
            iface,
            segment,
            addr,
            params,
        });
    }

    /// Change the parameters of every attachment of `node`'s interface `iface`.
    pub fn set_link(&mut self, node: NodeId, iface: usize, params: LinkParams) {
        for a in self
            .attachments
            .iter_mut()
            .filter(|a| a.node == node && a.iface == iface)
        {
            a.params = params;
        }
    }

    /// Power a node off (it neither receives nor runs timers) or on.
    pub fn set_node_up(&mut self, node: NodeId, up: bool) {
        if let Some(u) = self.up.get_mut(node) {
            *u = up;
        }
    }

    /// Whether a node is powered on.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.up.get(node).copied().unwrap_or(false)
    }

    /// Replace a node (a reboot with a fresh state); packets in flight to it still arrive.
    pub fn replace_node(&mut self, node: NodeId, fresh: N) {
        if let Some(n) = self.nodes.get_mut(node) {
            *n = fresh;
        }
    }

    /// The node.
    ///
    /// # Panics
    /// Never for an id returned by [`Sim::add_node`]; other ids panic (a bug of the caller).
    pub fn node(&self, id: NodeId) -> &N {
        &self.nodes[id]
    }

    /// The node, mutably. Call [`Sim::kick`] after changing it so its output is drained.
    ///
    /// # Panics
    /// As [`Sim::node`].
    pub fn node_mut(&mut self, id: NodeId) -> &mut N {
        &mut self.nodes[id]
    }

    /// All nodes.
    pub fn nodes(&self) -> &[N] {
        &self.nodes
    }

    /// The virtual now.
    pub fn now(&self) -> Instant {
        self.epoch + self.elapsed
    }

    /// Virtual time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The epoch.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Packet counters.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Let `node` run its timers now and send what it has (after a command from outside).
    pub fn kick(&mut self, node: NodeId) {
        let now = self.now();
        if let Some(n) = self
            .nodes
            .get_mut(node)
            .filter(|_| self.up.get(node) == Some(&true))
        {
            n.handle_timeout(now);
        }
        self.drain(node);
    }

    /// Hand `packet` to `node` as if it arrived on `iface` now.
    pub fn inject(&mut self, node: NodeId, iface: usize, packet: Vec<u8>) {
        let now = self.now();
        if self.is_up(node) {
            if let Some(n) = self.nodes.get_mut(node) {
                n.handle_packet(now, iface, packet);
            }
            self.drain(node);
        }
    }

    /// The time (since the epoch) of the next event, if any.
    pub fn next_event(&self) -> Option<Duration> {
        let q = self.queue.peek().map(|Reverse(p)| p.at);
        let t = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| self.is_up(*i))
            .filter_map(|(_, n)| n.poll_timeout())
            .map(|t| t.saturating_duration_since(self.epoch).max(self.elapsed))
            .min();
        match (q, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run every event up to and including virtual time `until`, then set the clock to `until`.
    /// Returns the number of events processed.
    pub fn run_until(&mut self, until: Duration) -> u64 {
        let mut n = 0;
        let mut same_instant = 0u32;
        while let Some(t) = self.next_event() {
            if t > until {
                break;
            }
            if t == self.elapsed {
                same_instant += 1;
                if same_instant > MAX_STEPS_PER_INSTANT {
                    self.stats.stalls += 1;
                    break;
                }
            } else {
                same_instant = 0;
            }
            self.elapsed = t;
            self.step_at_now();
            n += 1;
        }
        if until > self.elapsed {
            self.elapsed = until;
        }
        n
    }

    /// Run for `d` more virtual time.
    pub fn run_for(&mut self, d: Duration) -> u64 {
        self.run_until(self.elapsed + d)
    }

    /// Process everything due at the current time: arrivals first, then timers.
    fn step_at_now(&mut self) {
        let now = self.now();
        while let Some(Reverse(p)) = self.queue.peek() {
            if p.at > self.elapsed {
                break;
            }
            let Some(Reverse(p)) = self.queue.pop() else {
                break;
            };
            if self.is_up(p.to) {
                self.stats.delivered += 1;
                if let Some(n) = self.nodes.get_mut(p.to) {
                    n.handle_packet(now, p.iface, p.packet);
                }
                self.drain(p.to);
            } else {
                self.stats.cut += 1;
            }
        }
        for i in 0..self.nodes.len() {
            if !self.is_up(i) {
                continue;
            }
            let due = self.nodes[i].poll_timeout().is_some_and(|t| t <= now);
            if due {
                self.nodes[i].handle_timeout(now);
                self.drain(i);
            }
        }
    }

    fn drain(&mut self, node: NodeId) {
        if !self.is_up(node) {
            return;
        }
        while let Some(tx) = self.nodes.get_mut(node).and_then(SimNode::poll_transmit) {
            self.send(node, tx);
        }
    }

    fn send(&mut self, node: NodeId, tx: Transmit) {
        self.stats.sent += 1;
        let Some(src) = self
            .attachments
            .iter()
            .find(|a| a.node == node && a.iface == tx.iface)
            .cloned()
        else {
            self.stats.unroutable += 1;
            return;
        };
        if !src.params.up {
            self.stats.cut += 1;
            return;
        }
        if let Some(Err(e)) = self
            .pcap
            .as_mut()
            .map(|p| p.write_packet(self.elapsed, &tx.packet))
        {
            self.pcap_error.get_or_insert(e);
        }
        let Some(dst) = self
            .attachments
            .iter()
            .find(|a| a.segment == src.segment && a.addr == tx.next_hop && a.node != node)
            .cloned()
        else {
            self.stats.unroutable += 1;
            return;
        };
        if !dst.params.up {
            self.stats.cut += 1;
            return;
        }
        if self.draw_loss(src.params.loss) || self.draw_loss(dst.params.loss) {
            self.stats.lost += 1;
            return;
        }
        let mut delay = src.params.delay + dst.params.delay;
        for j in [src.params.jitter, dst.params.jitter] {
            let nanos = u64::try_from(j.as_nanos()).unwrap_or(u64::MAX);
            if nanos > 0 {
                delay += Duration::from_nanos(self.rng.next_u64() % nanos);
            }
        }
        self.seq += 1;
        self.queue.push(Reverse(Pending {
            at: self.elapsed + delay,
            seq: self.seq,
            to: dst.node,
            iface: dst.iface,
            packet: tx.packet,
        }));
    }

    fn draw_loss(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        #[allow(
            clippy::cast_precision_loss,
            reason = "a probability draw needs no more than 53 bits"
        )]
        let x = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `count` numbered packets to `peer`, one every `every`, and records arrivals.
    struct Pinger {
        peer: Ipv4Addr,
        every: Duration,
        count: u32,
        next: Option<Instant>,
        sent: u32,
        got: Vec<(Duration, Vec<u8>)>,
        epoch: Instant,
        out: Vec<Transmit>,
        echo: bool,
    }

    impl Pinger {
        fn new(epoch: Instant, peer: [u8; 4], count: u32, echo: bool) -> Self {
            Self {
                peer: peer.into(),
                every: Duration::from_millis(10),
                count,
                next: (count > 0).then_some(epoch),
                sent: 0,
                got: Vec::new(),
                epoch,
                out: Vec::new(),
                echo,
            }
        }
    }

    impl SimNode for Pinger {
        fn handle_packet(&mut self, now: Instant, iface: usize, packet: Vec<u8>) {
            if self.echo {
                self.out.push(Transmit {
                    iface,
                    next_hop: self.peer,
                    packet: packet.clone(),
                });
            }
            self.got.push((now - self.epoch, packet));
        }
        fn handle_timeout(&mut self, now: Instant) {
            while let Some(t) = self.next.filter(|t| *t <= now) {
                self.out.push(Transmit {
                    iface: 0,
                    next_hop: self.peer,
                    packet: self.sent.to_be_bytes().to_vec(),
                });
                self.sent += 1;
                self.next = (self.sent < self.count).then_some(t + self.every);
            }
        }
        fn poll_transmit(&mut self) -> Option<Transmit> {
            (!self.out.is_empty()).then(|| self.out.remove(0))
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.next
        }
    }

    fn pair(seed: u64, loss: f64, jitter: Duration) -> Sim<Pinger> {
        let epoch = Instant::now();
        let mut sim = Sim::new(epoch, seed);
        let a = sim.add_node(Pinger::new(epoch, [10, 0, 0, 2], 100, false));
        let b = sim.add_node(Pinger::new(epoch, [10, 0, 0, 1], 0, true));
        let p = LinkParams {
            delay: Duration::from_millis(7),
            jitter,
            loss,
            up: true,
        };
        sim.attach(a, 0, 0, [10, 0, 0, 1].into(), p);
        sim.attach(b, 0, 0, [10, 0, 0, 2].into(), p);
        sim
    }

    #[test]
    fn delay_is_the_sum_of_both_attachments() {
        let mut sim = pair(1, 0.0, Duration::ZERO);
        sim.run_until(Duration::from_secs(5));
        let b = sim.node(1);
        assert_eq!(b.got.len(), 100);
        assert_eq!(b.got[0].0, Duration::from_millis(14));
        assert_eq!(b.got[99].0, Duration::from_millis(14 + 990));
        // Echoed back: 28 ms round trip.
        assert_eq!(sim.node(0).got[0].0, Duration::from_millis(28));
        assert_eq!(sim.stats().delivered, 200);
    }

    #[test]
    fn same_seed_same_run_and_different_seed_differs() {
        let run = |seed| {
            let mut sim = pair(seed, 0.2, Duration::from_millis(3));
            sim.run_until(Duration::from_secs(5));
            (sim.node(0).got.clone(), sim.stats())
        };
        let (a1, s1) = run(7);
        let (a2, s2) = run(7);
        assert_eq!(a1, a2);
        assert_eq!(s1, s2);
        assert!(s1.lost > 10 && s1.lost < 100, "{s1:?}");
        let (b, _) = run(8);
        assert_ne!(a1, b);
    }

    #[test]
    fn cut_and_node_down_drop_packets() {
        let mut sim = pair(1, 0.0, Duration::ZERO);
        sim.run_until(Duration::from_millis(495));
        sim.set_link(
            1,
            0,
            LinkParams {
                up: false,
                ..LinkParams::default()
            },
        );
        sim.run_until(Duration::from_millis(995));
        let got_during_cut = sim.node(1).got.len();
        sim.set_link(
            1,
            0,
            LinkParams {
                delay: Duration::from_millis(7),
                ..LinkParams::default()
            },
        );
        sim.set_node_up(1, false);
        sim.run_until(Duration::from_secs(5));
        assert_eq!(sim.node(1).got.len(), got_during_cut);
        // Every packet not received was cut, plus the echo of the one packet that was in
        // flight when the cut began (it arrived, but its echo could not leave).
        assert_eq!(got_during_cut, 50);
        assert_eq!(sim.stats().cut, 100 - got_during_cut as u64 + 1);
    }

    #[test]
    fn unknown_next_hop_is_unroutable() {
        let epoch = Instant::now();
        let mut sim = Sim::new(epoch, 1);
        let a = sim.add_node(Pinger::new(epoch, [10, 9, 9, 9], 3, false));
        sim.attach(a, 0, 0, [10, 0, 0, 1].into(), LinkParams::default());
        sim.run_until(Duration::from_secs(1));
        assert_eq!(sim.stats().unroutable, 3);
    }

    #[test]
    fn pcap_records_every_sent_packet() {
        #[derive(Clone, Default)]
        struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Shared::default();
        let mut sim = pair(1, 0.0, Duration::ZERO);
        sim.set_pcap(Box::new(buf.clone())).unwrap();
        sim.run_until(Duration::from_secs(5));
        sim.finish_pcap().unwrap();
        // 24-byte header, then 200 records of 16 + 4 bytes.
        assert_eq!(buf.0.borrow().len(), 24 + 200 * 20);
    }
}

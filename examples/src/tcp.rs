//! The router's own TCP/IP endpoint: a `smoltcp` interface (medium IP) whose "device" is a pair
//! of packet queues the node fills and drains, so TCP (BGP's transport) runs over the node's
//! real forwarding path: through the FIB, the tunnels and the simulated underlay.
//!
//! Time is the simulator's: smoltcp sees microseconds since the node's epoch. Its random seed
//! (initial sequence numbers, ephemeral ports) comes from the caller, so runs are repeatable.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::{Duration, Instant};
//! use flexvpn_router::tcp::{ConnState, TcpStack};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let epoch = Instant::now();
//! let a_ip = Ipv4Addr::new(192, 168, 0, 1);
//! let b_ip = Ipv4Addr::new(192, 168, 0, 2);
//! let mut a = TcpStack::new(epoch, 1);
//! let mut b = TcpStack::new(epoch, 2);
//! a.add_address(a_ip);
//! b.add_address(b_ip);
//! let server = b.listen(179).unwrap();
//! let client = a.connect(epoch, a_ip, b_ip, 179).unwrap();
//! // Shuttle packets between the two stacks until both are idle.
//! let mut now = epoch;
//! for _ in 0..20 {
//!     for p in a.poll(now) { b.handle_packet(p); }
//!     for p in b.poll(now) { a.handle_packet(p); }
//!     now += Duration::from_millis(1);
//! }
//! assert_eq!(a.state(client), Some(ConnState::Established));
//! a.send(client, b"OPEN");
//! for p in a.poll(now) { b.handle_packet(p); }
//! b.poll(now);
//! assert_eq!(b.recv(server), b"OPEN");
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};

/// The MTU smoltcp may use: the tunnel's `ip mtu`.
pub const TCP_IP_MTU: usize = 1400;
/// Socket buffer size per direction.
const BUFFER: usize = 64 * 1024;

/// Identifies a TCP connection (or listener) of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u32);

/// A connection's state, reduced to what the router cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Listening or handshaking.
    Connecting,
    /// Established: data flows.
    Established,
    /// Closing or closed.
    Closed,
}

/// Why a TCP operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// The stack already has as many addresses as smoltcp allows.
    #[error("too many addresses on the TCP/IP stack")]
    TooManyAddresses,
    /// smoltcp refused to listen or connect (port in use, unaddressable).
    #[error("smoltcp refused the socket operation")]
    Refused,
}

#[derive(Debug, Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _t: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _t: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = TCP_IP_MTU;
        c
    }
}

/// One node's TCP/IP endpoint.
pub struct TcpStack {
    epoch: Instant,
    iface: Interface,
    sockets: SocketSet<'static>,
    queues: Queues,
    conns: BTreeMap<ConnId, SocketHandle>,
    next_id: u32,
    next_port: u16,
}

impl TcpStack {
    /// A stack without addresses; `seed` feeds smoltcp's ISN and port choices.
    pub fn new(epoch: Instant, seed: u64) -> Self {
        let mut queues = Queues::default();
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut queues, SmolInstant::from_micros(0));
        // Medium IP needs no neighbour resolution; every non-local destination is handed to
        // the node, which routes it through its FIB. The gateway below is never contacted.
        let _ = iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Address::new(0, 0, 0, 1));
        Self {
            epoch,
            iface,
            sockets: SocketSet::new(Vec::new()),
            queues,
            conns: BTreeMap::new(),
            next_id: 1,
            next_port: 49152 + u16::try_from(seed % 1000).unwrap_or(0),
        }
    }

    fn smol_now(&self, now: Instant) -> SmolInstant {
        let us = now.saturating_duration_since(self.epoch).as_micros();
        SmolInstant::from_micros(i64::try_from(us).unwrap_or(i64::MAX))
    }

    /// Add a local address (a /32: routing is the node's business).
    ///
    /// # Errors
    /// [`TcpError::TooManyAddresses`] beyond smoltcp's compile-time limit.
    pub fn add_address(&mut self, addr: Ipv4Addr) -> Result<(), TcpError> {
        let mut r = Ok(());
        self.iface.update_ip_addrs(|a| {
            let cidr = IpCidr::new(IpAddress::Ipv4(addr), 32);
            if !a.contains(&cidr) && a.push(cidr).is_err() {
                r = Err(TcpError::TooManyAddresses);
            }
        });
        r
    }

    /// Remove a local address (e.g. the negotiated tunnel address after the session went down).
    pub fn remove_address(&mut self, addr: Ipv4Addr) {
        self.iface
            .update_ip_addrs(|a| a.retain(|c| c.address() != IpAddress::Ipv4(addr)));
    }

    /// Whether `addr` is one of the stack's addresses.
    pub fn has_address(&self, addr: Ipv4Addr) -> bool {
        self.iface.has_ip_addr(IpAddress::Ipv4(addr))
    }

    fn new_socket(&mut self) -> (ConnId, SocketHandle) {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; BUFFER]),
            tcp::SocketBuffer::new(vec![0; BUFFER]),
        );
        s.set_nagle_enabled(false);
        let h = self.sockets.add(s);
        let id = ConnId(self.next_id);
        self.next_id += 1;
        self.conns.insert(id, h);
        (id, h)
    }

    /// Accept one connection on `port` (any local address).
    ///
    /// # Errors
    /// [`TcpError::Refused`] if smoltcp refuses.
    pub fn listen(&mut self, port: u16) -> Result<ConnId, TcpError> {
        let (id, h) = self.new_socket();
        self.sockets
            .get_mut::<tcp::Socket<'_>>(h)
            .listen(port)
            .map_err(|_| TcpError::Refused)?;
        Ok(id)
    }

    /// Open a connection from `local` to `remote:port`.
    ///
    /// # Errors
    /// [`TcpError::Refused`] if smoltcp refuses.
    pub fn connect(
        &mut self,
        now: Instant,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        port: u16,
    ) -> Result<ConnId, TcpError> {
        let (id, h) = self.new_socket();
        let lport = self.next_port;
        self.next_port = if self.next_port >= 65000 {
            49152
        } else {
            self.next_port + 1
        };
        // smoltcp stamps the SYN with the time of the last poll; poll first so it is `now`.
        self.poll_inner(now);
        let ctx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket<'_>>(h)
            .connect(
                ctx,
                (IpAddress::Ipv4(remote), port),
                (IpAddress::Ipv4(local), lport),
            )
            .map_err(|_| TcpError::Refused)?;
        Ok(id)
    }

    /// Abort and forget a connection.
    pub fn abort(&mut self, id: ConnId) {
        if let Some(h) = self.conns.remove(&id) {
            self.sockets.get_mut::<tcp::Socket<'_>>(h).abort();
        }
    }

    /// The state of a connection.
    pub fn state(&self, id: ConnId) -> Option<ConnState> {
        let h = self.conns.get(&id)?;
        Some(match self.sockets.get::<tcp::Socket<'_>>(*h).state() {
            tcp::State::Established => ConnState::Established,
            tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived => {
                ConnState::Connecting
            }
            _ => ConnState::Closed,
        })
    }

    /// The remote endpoint of a connection, once known.
    pub fn remote(&self, id: ConnId) -> Option<(Ipv4Addr, u16)> {
        let h = self.conns.get(&id)?;
        let ep = self.sockets.get::<tcp::Socket<'_>>(*h).remote_endpoint()?;
        match ep.addr {
            IpAddress::Ipv4(a) => Some((a, ep.port)),
        }
    }

    /// The local endpoint of a connection, once known.
    pub fn local(&self, id: ConnId) -> Option<(Ipv4Addr, u16)> {
        let h = self.conns.get(&id)?;
        let ep = self.sockets.get::<tcp::Socket<'_>>(*h).local_endpoint()?;
        match ep.addr {
            IpAddress::Ipv4(a) => Some((a, ep.port)),
        }
    }

    /// Queue bytes for sending; returns how many fitted in the send buffer.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> usize {
        let Some(h) = self.conns.get(&id) else {
            return 0;
        };
        let s = self.sockets.get_mut::<tcp::Socket<'_>>(*h);
        if !s.may_send() {
            return 0;
        }
        s.send_slice(data).unwrap_or(0)
    }

    /// Take every byte received so far.
    pub fn recv(&mut self, id: ConnId) -> Vec<u8> {
        let Some(h) = self.conns.get(&id) else {
            return Vec::new();
        };
        let s = self.sockets.get_mut::<tcp::Socket<'_>>(*h);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while s.can_recv() {
            match s.recv_slice(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
        out
    }

    /// Hand an IPv4 packet addressed to the stack.
    pub fn handle_packet(&mut self, packet: Vec<u8>) {
        self.queues.rx.push_back(packet);
    }

    /// Run the stack at `now`; returns the IPv4 packets it wants to send.
    pub fn poll(&mut self, now: Instant) -> Vec<Vec<u8>> {
        self.poll_inner(now);
        self.queues.tx.drain(..).collect()
    }

    fn poll_inner(&mut self, now: Instant) {
        let t = self.smol_now(now);
        // A bounded number of rounds: each processes every queued input.
        for _ in 0..4 {
            let _ = self.iface.poll(t, &mut self.queues, &mut self.sockets);
            if self.queues.rx.is_empty() {
                break;
            }
        }
    }

    /// When the stack next needs [`TcpStack::poll`] (retransmissions, delayed ACKs).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let t = self.smol_now(now);
        let at = self.iface.poll_at(t, &self.sockets)?;
        let us = u64::try_from(at.total_micros()).unwrap_or(0);
        Some(self.epoch + Duration::from_micros(us))
    }
}

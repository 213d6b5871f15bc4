//! `flexvpn-router run`: one [`Node`] as a real process.
//!
//! - Underlay: the node's Ethernet interface that some tunnel uses as `tunnel source` is the
//!   underlay. Its IKE and ESP-in-UDP traffic goes through real UDP sockets bound to that
//!   address (node port 500 <-> `--ike-port`, 4500 <-> `--natt-port`): an IPv4/UDP packet the
//!   node transmits becomes a datagram, a datagram received becomes an IPv4/UDP packet handed to
//!   the node. Other underlay packets are dropped (counted in `show counters`).
//! - Every other Ethernet interface (a LAN) becomes a TUN device `<prefix><index>`; the kernel
//!   side gets the last host address of the interface's subnet, so the namespace's own kernel is
//!   a host on that LAN (ping, TCP, iperf3 from it go through the node).
//! - Real time: `poll(2)` on every descriptor with the node's `poll_timeout` (capped at 100 ms).
//! - `show` commands over a unix socket `<control dir>/<hostname>.sock`.
//! - SIGINT/SIGTERM end the loop; every IKE SA is closed with a Delete notify (`Node::shutdown`),
//!   then the TUN devices and the control socket are removed.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::ipv4::{self, Ipv4Header};
use crate::node::{KernelBgp, KernelTunnel, Node, TunnelKind};
use crate::sim::SimNode;

use super::tun::Tun;

/// The default directory of the control sockets.
pub const DEFAULT_CONTROL_DIR: &str = "/tmp/flexvpn-router";

/// Options of `flexvpn-router run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The IOS-style configuration file.
    pub config: PathBuf,
    /// Real UDP port for the node's IKE port 500.
    pub ike_port: u16,
    /// Real UDP port for the node's NAT-T port 4500.
    pub natt_port: u16,
    /// Directory of the control socket.
    pub control_dir: PathBuf,
    /// Prefix of the TUN device names.
    pub tun_prefix: String,
    /// Replaces the configuration's `crypto ikev2 dpd` arguments (e.g. `2 1 on-demand`), for
    /// labs with short timers.
    pub dpd: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            config: PathBuf::new(),
            ike_port: 500,
            natt_port: 4500,
            control_dir: PathBuf::from(DEFAULT_CONTROL_DIR),
            tun_prefix: "fx".to_owned(),
            dpd: None,
        }
    }
}

pub(crate) static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub(crate) fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        #[allow(unsafe_code)]
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

enum Port {
    Underlay {
        addr: Ipv4Addr,
        ike: UdpSocket,
        natt: UdpSocket,
        /// A raw IPv4 socket for protocol 47, when the node has a static GRE tunnel (the
        /// hub-to-hub `Tunnel0`).
        gre: Option<OwnedFd>,
    },
    Lan(Tun),
    None,
}

/// Drop counters of the driver.
#[derive(Debug, Default, Clone, Copy)]
struct DriverStats {
    underlay_in: u64,
    underlay_out: u64,
    underlay_not_udp: u64,
    gre_in: u64,
    gre_out: u64,
    tun_in: u64,
    tun_out: u64,
    send_errors: u64,
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom")
        && io::Read::read_exact(&mut f, &mut b).is_ok()
    {
        return u64::from_le_bytes(b);
    }
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (t as u64) ^ u64::from(std::process::id())
}

fn ip_cmd(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs the node of `opts.config` until SIGINT/SIGTERM.
///
/// # Errors
/// The configuration does not load, a socket cannot be bound (the underlay address must exist
/// in this namespace), a TUN device cannot be made, or the control socket cannot be created.
pub fn run(opts: &RunOptions) -> io::Result<()> {
    let mut text = std::fs::read_to_string(&opts.config)?;
    if let Some(dpd) = &opts.dpd {
        text = text
            .lines()
            .map(|l| {
                if l.starts_with("crypto ikev2 dpd ") {
                    format!("crypto ikev2 dpd {dpd}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
    }
    let cfg = Config::parse(&text).map_err(|e| io::Error::other(format!("config: {e}")))?;
    let epoch = Instant::now();
    let mut node = Node::with_seed(&cfg, epoch, random_seed())
        .map_err(|e| io::Error::other(format!("node: {e}")))?;
    node.set_kernel_mode(true);
    let hostname = node.hostname().to_owned();
    let underlay: Vec<Ipv4Addr> = node.tunnels().values().map(|t| t.source).collect();
    let ethers: Vec<(String, Ipv4Addr, u8)> = node
        .ethers()
        .map(|(n, a, p)| (n.to_owned(), a, p.prefix_len()))
        .collect();
    let mut ports = Vec::new();
    for (i, (name, addr, len)) in ethers.iter().enumerate() {
        if underlay.contains(addr) {
            let bind = |port: u16| -> io::Result<UdpSocket> {
                let s = UdpSocket::bind((*addr, port))
                    .map_err(|e| io::Error::other(format!("bind {addr}:{port} for {name}: {e}")))?;
                s.set_nonblocking(true)?;
                Ok(s)
            };
            println!(
                "{name}: underlay {addr}, UDP {} and {}",
                opts.ike_port, opts.natt_port
            );
            let gre = if node
                .tunnels()
                .values()
                .any(|t| t.kind == TunnelKind::StaticGre && t.source == *addr)
            {
                let g = raw_gre(*addr)?;
                println!("{name}: raw GRE (IP protocol 47) on {addr}");
                Some(g)
            } else {
                None
            };
            ports.push(Port::Underlay {
                addr: *addr,
                ike: bind(opts.ike_port)?,
                natt: bind(opts.natt_port)?,
                gre,
            });
        } else if *len <= 30 {
            let tun_name = format!("{}{i}", opts.tun_prefix);
            let tun = Tun::open(&tun_name)?;
            let mask = u32::MAX << (32 - u32::from(*len));
            let host = Ipv4Addr::from((u32::from(*addr) & mask) | (!mask - 1));
            ip_cmd(&["addr", "add", &format!("{host}/{len}"), "dev", &tun_name])?;
            ip_cmd(&["link", "set", &tun_name, "mtu", "1500", "up"])?;
            println!("{name}: TUN {tun_name}, kernel side {host}/{len}");
            ports.push(Port::Lan(tun));
        } else {
            ports.push(Port::None);
        }
    }
    std::fs::create_dir_all(&opts.control_dir)?;
    let sock_path = opts.control_dir.join(format!("{hostname}.sock"));
    let _ = std::fs::remove_file(&sock_path);
    let control = UnixListener::bind(&sock_path)?;
    control.set_nonblocking(true)?;
    println!("{hostname}: control socket {}", sock_path.display());
    install_signal_handlers();
    let r = event_loop(&mut node, &mut ports, &control, opts);
    let _ = std::fs::remove_file(&sock_path);
    println!("{hostname}: shutting down");
    let _ = io::stdout().flush();
    drop(ports);
    r
}

/// Sends everything the node has queued: underlay packets as UDP datagrams, LAN packets to
/// their TUN device.
fn send_all(node: &mut Node, ports: &mut [Port], stats: &mut DriverStats) {
    while let Some(t) = node.poll_transmit() {
        match ports.get_mut(t.iface) {
            Some(Port::Underlay { ike, natt, gre, .. }) => {
                let Ok(h) = Ipv4Header::parse(&t.packet) else {
                    continue;
                };
                if h.protocol == 47
                    && let Some(g) = gre
                {
                    let body = t.packet.get(h.header_len..h.total_len).unwrap_or_default();
                    match send_raw(g, body, h.dst) {
                        Ok(()) => stats.gre_out += 1,
                        Err(_) => stats.send_errors += 1,
                    }
                    continue;
                }
                let udp = t
                    .packet
                    .get(h.header_len..h.total_len)
                    .filter(|_| h.protocol == 17)
                    .and_then(|d| ipv4::parse_udp(d).ok());
                let Some(udp) = udp else {
                    stats.underlay_not_udp += 1;
                    continue;
                };
                let s = if udp.sport == 4500 { &*natt } else { &*ike };
                match s.send_to(udp.payload, SocketAddr::from((h.dst, udp.dport))) {
                    Ok(_) => stats.underlay_out += 1,
                    Err(_) => stats.send_errors += 1,
                }
            }
            Some(Port::Lan(tun)) => match tun.send(&t.packet) {
                Ok(_) => stats.tun_out += 1,
                Err(_) => stats.send_errors += 1,
            },
            _ => {}
        }
    }
}

fn event_loop(
    node: &mut Node,
    ports: &mut [Port],
    control: &UnixListener,
    opts: &RunOptions,
) -> io::Result<()> {
    let mut stats = DriverStats::default();
    let mut kernel = KernelSide::default();
    let mut logged = 0;
    let mut buf = vec![0u8; 65536];
    let mut ident = 0u16;
    node.handle_timeout(Instant::now());
    while !STOP.load(Ordering::SeqCst) {
        // Out: everything the node wants to send.
        send_all(node, ports, &mut stats);
        kernel.output(node, opts, &mut stats);
        for l in node.log().get(logged..).unwrap_or_default() {
            println!("{:>10.3} {}: {}", l.at.as_secs_f64(), l.node, l.text);
        }
        logged = node.log().len();
        let _ = io::stdout().flush();

        // Wait for input or the node's next timer.
        let now = Instant::now();
        let wait = node
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(now)
            })
            .min(Duration::from_millis(100));
        let mut fds: Vec<libc::pollfd> = vec![libc::pollfd {
            fd: control.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        for p in ports.iter() {
            match p {
                Port::Underlay { ike, natt, gre, .. } => {
                    if let Some(g) = gre {
                        fds.push(libc::pollfd {
                            fd: g.as_raw_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        });
                    }
                    for fd in [ike.as_raw_fd(), natt.as_raw_fd()] {
                        fds.push(libc::pollfd {
                            fd,
                            events: libc::POLLIN,
                            revents: 0,
                        });
                    }
                }
                Port::Lan(t) => fds.push(libc::pollfd {
                    fd: t.raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }),
                Port::None => {}
            }
        }
        kernel.pollfds(&mut fds);
        let ms = libc::c_int::try_from(wait.as_millis()).unwrap_or(100);
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };

        // In: everything ready, without blocking.
        for (i, p) in ports.iter_mut().enumerate() {
            match p {
                Port::Underlay {
                    addr,
                    ike,
                    natt,
                    gre,
                } => {
                    if let Some(g) = gre {
                        while let Some(n) = recv_raw(g, &mut buf) {
                            let pkt = buf.get(..n).unwrap_or_default();
                            // Raw sockets see every GRE packet of the namespace: only ours.
                            if Ipv4Header::parse(pkt).is_ok_and(|h| h.dst == *addr) {
                                stats.gre_in += 1;
                                node.handle_packet(Instant::now(), i, pkt.to_vec());
                            }
                        }
                    }
                    for (s, node_port) in [(&*ike, 500u16), (&*natt, 4500u16)] {
                        while let Ok((n, from)) = s.recv_from(&mut buf) {
                            let SocketAddr::V4(from) = from else { continue };
                            let payload = buf.get(..n).unwrap_or_default();
                            let Ok(udp) =
                                ipv4::build_udp(*from.ip(), from.port(), *addr, node_port, payload)
                            else {
                                continue;
                            };
                            ident = ident.wrapping_add(1);
                            let Ok(pkt) = ipv4::build(*from.ip(), *addr, 17, 64, ident, &udp)
                            else {
                                continue;
                            };
                            stats.underlay_in += 1;
                            node.handle_packet(Instant::now(), i, pkt);
                        }
                    }
                }
                Port::Lan(tun) => {
                    while let Ok(n) = tun.recv(&mut buf) {
                        stats.tun_in += 1;
                        node.handle_packet(
                            Instant::now(),
                            i,
                            buf.get(..n).unwrap_or_default().to_vec(),
                        );
                    }
                }
                Port::None => {}
            }
        }
        kernel.input(node, &mut buf, &mut stats);
        while let Ok((stream, _)) = control.accept() {
            let _ = answer(node, &stats, stream, opts);
        }
        let now = Instant::now();
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
    }
    // Shutting down: a Delete notify for every IKE SA, so peers need not wait for DPD.
    node.shutdown(Instant::now());
    send_all(node, ports, &mut stats);
    drop(kernel);
    Ok(())
}

/// The TUN device of one tunnel interface.
struct TunnelTun {
    tun: Tun,
    address: Ipv4Addr,
    peers: Vec<Ipv4Addr>,
}

/// One kernel TCP connection carrying a BGP session.
struct KernelConn {
    stream: TcpStream,
    connecting: bool,
    local: Ipv4Addr,
    backlog: Vec<u8>,
}

/// The kernel side of the tunnels: a TUN device per tunnel interface that is up and has an
/// address, listeners on port 179 of those addresses, and the TCP connections carrying BGP.
#[derive(Default)]
struct KernelSide {
    tuns: BTreeMap<String, TunnelTun>,
    next_tun: u32,
    listeners: BTreeMap<Ipv4Addr, TcpListener>,
    conns: BTreeMap<bgp_lite::ConnId, KernelConn>,
}

impl KernelSide {
    /// Makes the TUN devices, routes and listeners match the node's tunnels.
    fn sync(&mut self, node: &Node, opts: &RunOptions) {
        let want: Vec<KernelTunnel> = node.kernel_tunnels();
        self.tuns.retain(|name, t| {
            let keep = want
                .iter()
                .any(|w| w.name == *name && w.address == t.address);
            if !keep {
                println!("{name}: TUN {} removed", t.tun.name());
            }
            keep
        });
        for w in &want {
            if let Some(t) = self.tuns.get_mut(&w.name) {
                if t.peers != w.peers {
                    for p in t.peers.iter().filter(|p| !w.peers.contains(p)) {
                        let _ = ip_cmd(&["route", "del", &format!("{p}/32"), "dev", t.tun.name()]);
                    }
                    for p in w.peers.iter().filter(|p| !t.peers.contains(p)) {
                        let _ = peer_route(t.tun.name(), *p, w.address);
                    }
                    t.peers.clone_from(&w.peers);
                }
                continue;
            }
            let dev = format!("{}t{}", opts.tun_prefix, self.next_tun);
            self.next_tun += 1;
            let made = Tun::open(&dev).and_then(|tun| {
                ip_cmd(&["addr", "add", &format!("{}/32", w.address), "dev", &dev])?;
                ip_cmd(&["link", "set", &dev, "mtu", &w.mtu.to_string(), "up"])?;
                Ok(tun)
            });
            match made {
                Ok(tun) => {
                    for p in &w.peers {
                        let _ = peer_route(&dev, *p, w.address);
                    }
                    println!(
                        "{}: TUN {dev}, address {}/32, peers {:?}",
                        w.name, w.address, w.peers
                    );
                    self.tuns.insert(
                        w.name.clone(),
                        TunnelTun {
                            tun,
                            address: w.address,
                            peers: w.peers.clone(),
                        },
                    );
                }
                Err(e) => println!("{}: no TUN {dev}: {e}", w.name),
            }
        }
        // BGP listens on every tunnel address (the speaker refuses peers it does not know).
        self.listeners
            .retain(|a, _| self.tuns.values().any(|t| t.address == *a));
        let addrs: Vec<Ipv4Addr> = self.tuns.values().map(|t| t.address).collect();
        for a in addrs {
            if self.listeners.contains_key(&a) {
                continue;
            }
            if let Ok(l) = TcpListener::bind((a, 179)) {
                let _ = l.set_nonblocking(true);
                println!("BGP: kernel TCP listening on {a}:179");
                self.listeners.insert(a, l);
            }
        }
    }

    /// Everything the node wants from the kernel: TUN devices in sync, packets for the
    /// tunnels' TUNs, BGP socket commands.
    fn output(&mut self, node: &mut Node, opts: &RunOptions, stats: &mut DriverStats) {
        self.sync(node, opts);
        while let Some((name, packet)) = node.poll_kernel_packet() {
            let Ok(h) = Ipv4Header::parse(&packet) else {
                continue;
            };
            let tun = match self.tuns.get_mut(&name) {
                Some(t) => Some(t),
                None => self.tuns.values_mut().find(|t| t.address == h.dst),
            };
            match tun.map(|t| t.tun.send(&packet)) {
                Some(Ok(_)) => stats.tun_out += 1,
                _ => stats.send_errors += 1,
            }
        }
        while let Some(cmd) = node.poll_kernel_bgp() {
            match cmd {
                KernelBgp::Connect {
                    conn,
                    local,
                    remote,
                    port,
                } => match connect_from(local, remote, port) {
                    Ok(stream) => {
                        self.conns.insert(
                            conn,
                            KernelConn {
                                stream,
                                connecting: true,
                                local,
                                backlog: Vec::new(),
                            },
                        );
                    }
                    Err(e) => {
                        println!("BGP: kernel connect {local} -> {remote}:{port}: {e}");
                        node.kernel_bgp_closed(Instant::now(), conn);
                    }
                },
                KernelBgp::Send { conn, bytes } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.backlog.extend_from_slice(&bytes);
                        if !c.connecting {
                            flush(c);
                        }
                    }
                }
                KernelBgp::Close { conn } => {
                    if let Some(c) = self.conns.remove(&conn) {
                        flush(&mut { c });
                    }
                }
            }
        }
    }

    fn pollfds(&self, fds: &mut Vec<libc::pollfd>) {
        for t in self.tuns.values() {
            fds.push(libc::pollfd {
                fd: t.tun.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for l in self.listeners.values() {
            fds.push(libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for c in self.conns.values() {
            let mut events = libc::POLLIN;
            if c.connecting || !c.backlog.is_empty() {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events,
                revents: 0,
            });
        }
    }

    /// Reads what the kernel has: packets from the TUNs, new connections, BGP bytes.
    fn input(&mut self, node: &mut Node, buf: &mut [u8], stats: &mut DriverStats) {
        for t in self.tuns.values_mut() {
            while let Ok(n) = t.tun.recv(buf) {
                stats.tun_in += 1;
                node.handle_kernel_packet(
                    Instant::now(),
                    buf.get(..n).unwrap_or_default().to_vec(),
                );
            }
        }
        for l in self.listeners.values() {
            while let Ok((stream, remote)) = l.accept() {
                let (Ok(SocketAddr::V4(local)), SocketAddr::V4(remote)) =
                    (stream.local_addr(), remote)
                else {
                    continue;
                };
                let _ = stream.set_nonblocking(true);
                let _ = stream.set_nodelay(true);
                if let Some(conn) = node.kernel_bgp_accepted(Instant::now(), local, remote) {
                    println!("BGP: kernel TCP {local} accepted {remote}");
                    self.conns.insert(
                        conn,
                        KernelConn {
                            stream,
                            connecting: false,
                            local: *local.ip(),
                            backlog: Vec::new(),
                        },
                    );
                }
            }
        }
        let ids: Vec<bgp_lite::ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            if c.connecting {
                match writable(&c.stream) {
                    None => continue,
                    Some(Err(e)) => {
                        println!("BGP: kernel connect from {}: {e}", c.local);
                        self.conns.remove(&id);
                        node.kernel_bgp_closed(Instant::now(), id);
                        continue;
                    }
                    Some(Ok(())) => {
                        let (Ok(SocketAddr::V4(local)), Ok(SocketAddr::V4(remote))) =
                            (c.stream.local_addr(), c.stream.peer_addr())
                        else {
                            self.conns.remove(&id);
                            node.kernel_bgp_closed(Instant::now(), id);
                            continue;
                        };
                        c.connecting = false;
                        let _ = c.stream.set_nodelay(true);
                        println!("BGP: kernel TCP {local} connected to {remote}");
                        flush(c);
                        node.kernel_bgp_connected(Instant::now(), id, local, remote);
                        continue;
                    }
                }
            }
            let mut closed = false;
            let mut data = Vec::new();
            loop {
                match io::Read::read(&mut c.stream, buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => data.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            flush(c);
            if !data.is_empty() {
                node.kernel_bgp_data(Instant::now(), id, &data);
            }
            if closed {
                self.conns.remove(&id);
                node.kernel_bgp_closed(Instant::now(), id);
            }
        }
    }
}

/// Writes as much of the connection's backlog as the socket takes.
fn flush(c: &mut KernelConn) {
    while !c.backlog.is_empty() {
        match c.stream.write(&c.backlog) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                c.backlog.drain(..n);
            }
        }
    }
}

fn peer_route(dev: &str, peer: Ipv4Addr, src: Ipv4Addr) -> io::Result<()> {
    ip_cmd(&[
        "route",
        "replace",
        &format!("{peer}/32"),
        "dev",
        dev,
        "src",
        &src.to_string(),
    ])
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A non-blocking TCP connect from `local` (any port) to `remote:port`; completes later
/// (poll for writable, then [`writable`]).
fn connect_from(local: Ipv4Addr, remote: Ipv4Addr, port: u16) -> io::Result<TcpStream> {
    // SAFETY: plain socket(2); the descriptor is checked and owned by the TcpStream at once.
    #[allow(unsafe_code)]
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket descriptor nobody else owns.
    #[allow(unsafe_code)]
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let src = sockaddr(SocketAddrV4::new(local, 0));
    // SAFETY: `src` is a valid sockaddr_in of `len` bytes for the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::bind(fd, (&raw const src).cast::<libc::sockaddr>(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let dst = sockaddr(SocketAddrV4::new(remote, port));
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::connect(fd, (&raw const dst).cast::<libc::sockaddr>(), len) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(stream)
}

/// A raw IPv4 socket for GRE (protocol 47) bound to `addr`, non-blocking.
fn raw_gre(addr: Ipv4Addr) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is checked and owned at once.
    #[allow(unsafe_code)]
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_GRE,
        )
    };
    if fd < 0 {
        return Err(io::Error::other(format!(
            "raw GRE socket: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    #[allow(unsafe_code)]
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = sockaddr(SocketAddrV4::new(addr, 0));
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa` is a valid sockaddr_in of `len` bytes for the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::bind(fd, (&raw const sa).cast::<libc::sockaddr>(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

/// Sends a GRE packet (GRE header and payload) to `dst`; the kernel adds the IPv4 header.
fn send_raw(fd: &OwnedFd, body: &[u8], dst: Ipv4Addr) -> io::Result<()> {
    let sa = sockaddr(SocketAddrV4::new(dst, 0));
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `body` and `sa` are valid for the call, with their lengths.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            body.as_ptr().cast(),
            body.len(),
            0,
            (&raw const sa).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Receives one packet (with its IPv4 header) from a raw socket; `None` when there is none.
fn recv_raw(fd: &OwnedFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
    #[allow(unsafe_code)]
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    usize::try_from(n).ok().filter(|n| *n > 0)
}

/// Whether a connecting socket finished: `None` still connecting, `Some(Err)` failed.
fn writable(s: &TcpStream) -> Option<io::Result<()>> {
    let mut p = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call; timeout 0.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(&raw mut p, 1, 0) };
    if n <= 0 {
        return None;
    }
    match s.take_error() {
        Ok(None) => Some(Ok(())),
        Ok(Some(e)) | Err(e) => Some(Err(e)),
    }
}

fn answer(
    node: &Node,
    stats: &DriverStats,
    stream: UnixStream,
    _opts: &RunOptions,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let text = show(node, stats, &words);
    let mut w = &stream;
    w.write_all(text.as_bytes())?;
    w.flush()
}

fn show(node: &Node, stats: &DriverStats, words: &[&str]) -> String {
    match words {
        ["crypto", "ikev2", "sa", ..] => node.show_crypto_ikev2_sa(),
        ["crypto", "ipsec", "sa", ..] => node.show_crypto_ipsec_sa(),
        ["crypto", "ikev2", "client", "flexvpn", ..] => node.show_crypto_ikev2_client_flexvpn(),
        ["ip", "route", ..] => node.show_ip_route(),
        ["ip", "nhrp", ..] => node.show_ip_nhrp(),
        ["ip", "bgp", "summary"] => node.show_ip_bgp_summary(),
        ["ip", "bgp", ..] => node.show_ip_bgp(),
        ["interfaces", name] => node
            .show_interfaces(name)
            .unwrap_or_else(|| format!("% no interface {name}\n")),
        ["log"] => node
            .log()
            .iter()
            .map(|l| format!("{:>10.3} {}: {}\n", l.at.as_secs_f64(), l.node, l.text))
            .collect(),
        ["counters"] => {
            let mut s = format!("{stats:?}\n{:?}\n", node.drops());
            for t in node.tunnels().values() {
                s.push_str(&format!("{} {:?}\n", t.name, t.counters));
            }
            s
        }
        _ => "% commands: crypto ikev2 sa | crypto ipsec sa | crypto ikev2 client flexvpn | ip \
              route | ip nhrp | ip bgp [summary] | interfaces NAME | log | counters\n"
            .to_owned(),
    }
}

/// Sends `command` to the running node `node` and returns its answer.
///
/// # Errors
/// No such node (no control socket), or the socket failed.
pub fn show_remote(control_dir: &Path, node: &str, command: &str) -> io::Result<String> {
    let path = control_dir.join(format!("{node}.sock"));
    let mut s = UnixStream::connect(&path)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(command.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    io::Read::read_to_string(&mut s, &mut out)?;
    Ok(out)
}

/// `flexvpn-router run ...` and `flexvpn-router show ...`: parses `args` (after the
/// subcommand) and runs it; returns the process exit code.
pub fn main(sub: &str, args: &[String]) -> u8 {
    let mut opts = RunOptions::default();
    let mut node = None;
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--config" => opts.config = value().into(),
            "--ike-port" => opts.ike_port = value().parse().unwrap_or(0),
            "--natt-port" => opts.natt_port = value().parse().unwrap_or(0),
            "--control-dir" => opts.control_dir = value().into(),
            "--tun-prefix" => opts.tun_prefix = value(),
            "--dpd" => opts.dpd = Some(value()),
            "--node" => node = Some(value()),
            w => words.push(w.to_owned()),
        }
    }
    let r = if sub == "run" {
        if opts.config.as_os_str().is_empty() || opts.ike_port == 0 || opts.natt_port == 0 {
            eprintln!(
                "usage: flexvpn-router run --config FILE [--ike-port N] [--natt-port N] \
                 [--control-dir DIR] [--tun-prefix P] [--dpd 'INTERVAL RETRY on-demand']"
            );
            return 2;
        }
        run(&opts)
    } else {
        let Some(node) = node else {
            eprintln!("usage: flexvpn-router show WORDS... --node NAME [--control-dir DIR]");
            return 2;
        };
        show_remote(&opts.control_dir, &node, &words.join(" ")).map(|s| print!("{s}"))
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("flexvpn-router {sub}: {e}");
            1
        }
    }
}

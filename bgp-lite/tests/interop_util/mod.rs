//! Real-socket driver for the speaker and private daemon instances (FRR bgpd, BIRD, GoBGP).
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bgp_lite::{ConnId, Event, Speaker};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique temp dir per test: /tmp/bgplite-<pid>-<n>-<tag>, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = PathBuf::from(format!("/tmp/bgplite-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        // bgpd drops privileges to the frr user; let it write here
        let _ = Command::new("chmod").arg("777").arg(&p).status();
        Self(p)
    }
    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("BGPLITE_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Fails loudly when a binary is missing.
pub fn require(bin: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "required peer binary `{bin}` not found: install it (see ../shared/PEERS.md)"
    );
}

/// A daemon started by a test, killed by PID on drop.
pub struct Daemon {
    pub name: &'static str,
    pub child: Child,
    pub dir: TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("BGPLITE_VERBOSE").is_some()
            && let Ok(s) = std::fs::read_to_string(self.dir.path("out.log"))
        {
            eprintln!(
                "---- {} log ----
{s}",
                self.name
            );
        }
    }
}

pub fn spawn(name: &'static str, dir: TempDir, cmd: &mut Command) -> Daemon {
    let log = std::fs::File::create(dir.path("out.log")).unwrap();
    let child = cmd
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Daemon { name, child, dir }
}

pub fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// FRR bgpd, foreground, no zebra, its own vty socket dir.
pub fn frr(conf: &str, listen: IpAddr, port: u16) -> Daemon {
    require("/usr/lib/frr/bgpd");
    require("vtysh");
    let dir = TempDir::new("frr");
    std::fs::write(dir.path("bgpd.conf"), conf).unwrap();
    let _ = Command::new("chmod")
        .arg("666")
        .arg(dir.path("bgpd.conf"))
        .status();
    let mut c = Command::new("/usr/lib/frr/bgpd");
    c.args([
        "-S",
        "-Z",
        "-P",
        "0",
        "-p",
        &port.to_string(),
        "-l",
        &listen.to_string(),
    ])
    .arg("-f")
    .arg(dir.path("bgpd.conf"))
    .arg("-i")
    .arg(dir.path("bgpd.pid"))
    .arg("--vty_socket")
    .arg(&dir.0);
    spawn("frr", dir, &mut c)
}

pub fn vtysh(d: &Daemon, cmd: &str) -> String {
    sh(&format!(
        "vtysh --vty_socket {} -d bgpd -c '{cmd}'",
        d.dir.0.display()
    ))
}

/// BIRD 2, foreground, its own control socket.
pub fn bird(conf: &str) -> Daemon {
    require("bird");
    require("birdc");
    let dir = TempDir::new("bird");
    std::fs::write(dir.path("bird.conf"), conf).unwrap();
    let mut c = Command::new("bird");
    c.arg("-f")
        .arg("-c")
        .arg(dir.path("bird.conf"))
        .arg("-s")
        .arg(dir.path("bird.ctl"))
        .arg("-P")
        .arg(dir.path("bird.pid"));
    spawn("bird", dir, &mut c)
}

pub fn birdc(d: &Daemon, cmd: &str) -> String {
    sh(&format!(
        "birdc -s {} {cmd}",
        d.dir.path("bird.ctl").display()
    ))
}

/// GoBGP, foreground, with its own gRPC port.
pub fn gobgp(conf: &str, api_port: u16) -> Daemon {
    require("gobgpd");
    require("gobgp");
    let dir = TempDir::new("gobgp");
    std::fs::write(dir.path("gobgpd.toml"), conf).unwrap();
    let mut c = Command::new("gobgpd");
    c.arg("-f")
        .arg(dir.path("gobgpd.toml"))
        .arg("--api-hosts")
        .arg(format!("127.0.0.1:{api_port}"))
        .arg("-l")
        .arg("info");
    spawn("gobgp", dir, &mut c)
}

pub fn gobgp_cli(api_port: u16, cmd: &str) -> String {
    sh(&format!("gobgp -p {api_port} {cmd}"))
}

/// Drives a speaker over real TCP sockets.
pub struct Driver {
    pub sp: Speaker,
    pub epoch: Instant,
    listeners: Vec<TcpListener>,
    conns: BTreeMap<ConnId, (TcpStream, SocketAddr, SocketAddr)>,
    next_in: u64,
    pub events: Vec<(Duration, Event)>,
    /// Every byte chunk we sent: (local, remote, bytes), for tshark.
    pub sent: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Port our listeners use.
    pub port: u16,
    /// Receive buffer, allocated once (not zeroed per step).
    buf: Vec<u8>,
}

impl Driver {
    pub fn new(sp: Speaker, listen: &[IpAddr], port: u16) -> Self {
        let listeners = listen
            .iter()
            .map(|a| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                s.set_reuse_address(true).unwrap();
                s.bind(&SocketAddr::new(*a, port).into())
                    .unwrap_or_else(|e| panic!("bind {a}:{port}: {e}"));
                s.listen(16).unwrap();
                let l: TcpListener = s.into();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        Self {
            sp,
            epoch: Instant::now(),
            listeners,
            conns: BTreeMap::new(),
            next_in: 1,
            events: Vec::new(),
            sent: Vec::new(),
            port,
            buf: vec![0; 1 << 18],
        }
    }

    /// Waits until the connection is readable (with one connection and no listener: a
    /// blocking `peek` with a read timeout), the speaker's next timer is due, or `max` passes
    /// (otherwise a 2 ms nap); then runs one [`Driver::step`]. The way to wait: a bare `step`
    /// loop spins and takes the CPU from the peer that is sending to us.
    pub fn wait_step(&mut self, max: Duration) {
        let now = Instant::now();
        let wait = self
            .sp
            .poll_timeout()
            .map_or(max, |t| t.saturating_duration_since(now).min(max));
        if !wait.is_zero() {
            match self.conns.values().next() {
                Some((s, _, _)) if self.conns.len() == 1 && self.listeners.is_empty() => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(wait));
                    let _ = s.peek(&mut [0u8; 1]);
                    let _ = s.set_read_timeout(None);
                    let _ = s.set_nonblocking(true);
                }
                _ => std::thread::sleep(wait.min(Duration::from_millis(2))),
            }
        }
        self.step();
    }

    /// Accept, read, fire timers and drain once.
    pub fn step(&mut self) {
        let now = Instant::now();
        for l in &self.listeners {
            while let Ok((s, remote)) = l.accept() {
                s.set_nonblocking(true).unwrap();
                s.set_nodelay(true).unwrap();
                let local = s.local_addr().unwrap();
                let id = ConnId(self.next_in);
                self.next_in += 1;
                if self.sp.handle_connected(now, id, local, remote).is_ok() {
                    self.conns.insert(id, (s, local, remote));
                }
            }
        }
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        let mut buf = std::mem::take(&mut self.buf);
        for id in ids {
            while let Some((s, _, _)) = self.conns.get_mut(&id) {
                match s.read(&mut buf) {
                    Ok(0) => {
                        self.conns.remove(&id);
                        self.sp.handle_closed(now, id);
                        break;
                    }
                    Ok(n) => {
                        let _ = self.sp.handle_stream_data(now, id, &buf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        self.conns.remove(&id);
                        self.sp.handle_closed(now, id);
                        break;
                    }
                }
                self.drain(now);
            }
        }
        self.buf = buf;
        self.sp.handle_timeout(now);
        self.drain(now);
    }

    /// Delivers raw bytes to the speaker as if received on the connection to `peer`.
    pub fn inject(&mut self, peer: IpAddr, bytes: &[u8]) {
        let now = Instant::now();
        let id = *self
            .conns
            .iter()
            .find(|(_, (_, _, r))| r.ip() == peer)
            .expect("no connection to peer")
            .0;
        let _ = self.sp.handle_stream_data(now, id, bytes);
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(t) = self.sp.poll_transmit() {
                progress = true;
                if let Some((s, l, r)) = self.conns.get_mut(&t.conn) {
                    self.sent.push((*l, *r, t.bytes.clone()));
                    s.set_nonblocking(false).unwrap();
                    let _ = s.write_all(&t.bytes);
                    s.set_nonblocking(true).unwrap();
                }
            }
            while let Some(e) = self.sp.poll_event() {
                progress = true;
                if std::env::var_os("BGPLITE_VERBOSE").is_some() {
                    eprintln!("{:?} {e:?}", now - self.epoch);
                }
                self.events.push((now - self.epoch, e.clone()));
                match e {
                    Event::Connect {
                        conn,
                        remote,
                        local,
                    } => {
                        let sock = socket2::Socket::new(
                            socket2::Domain::IPV4,
                            socket2::Type::STREAM,
                            None,
                        )
                        .unwrap();
                        if let Some(l) = local {
                            sock.bind(&SocketAddr::new(l, 0).into()).unwrap();
                        }
                        match sock.connect_timeout(&remote.into(), Duration::from_millis(500)) {
                            Ok(()) => {
                                let s: TcpStream = sock.into();
                                s.set_nonblocking(true).unwrap();
                                s.set_nodelay(true).unwrap();
                                let la = s.local_addr().unwrap();
                                self.conns.insert(conn, (s, la, remote));
                                if self.sp.handle_connected(now, conn, la, remote).is_err() {
                                    self.conns.remove(&conn);
                                }
                            }
                            Err(_) => self.sp.handle_closed(now, conn),
                        }
                    }
                    Event::Close { conn } => {
                        if let Some((s, _, _)) = self.conns.remove(&conn) {
                            let _ = s.shutdown(std::net::Shutdown::Both);
                        }
                    }
                    _ => {}
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Runs until `cond` holds or `timeout` passes; returns whether it held.
    pub fn run_until(
        &mut self,
        timeout: Duration,
        mut cond: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            self.wait_step((end - now).min(Duration::from_millis(20)));
            if cond(self) {
                return true;
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let _ = self.run_until(d, |_| false);
    }

    pub fn syslog(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Syslog(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// Runs every message we sent through tshark: each must dissect as BGP with no malformed
    /// or error-level expert item. Returns the number of BGP messages seen.
    pub fn tshark_check(&self, dir: &Path) -> usize {
        require("tshark");
        require("text2pcap");
        let mut ports = std::collections::BTreeSet::new();
        for (l, r, _) in &self.sent {
            ports.insert((l.port(), r.port()));
        }
        // text2pcap takes one -T for all packets: write one pcap per port pair
        let mut total = 0;
        for (i, (lp, rp)) in ports.iter().enumerate() {
            let mut body = String::new();
            for (l, r, b) in &self.sent {
                if (l.port(), r.port()) != (*lp, *rp) {
                    continue;
                }
                let mut rest = b.as_slice();
                while rest.len() >= 19 {
                    let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
                    let (m, tail) = rest.split_at(len.min(rest.len()));
                    body.push_str(&format!(
                        "0000 {}\n",
                        m.iter()
                            .map(|x| format!("{x:02x}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ));
                    rest = tail;
                }
            }
            let t = dir.join(format!("sent{i}.txt"));
            let pcap = dir.join(format!("sent{i}.pcap"));
            std::fs::write(&t, body).unwrap();
            let ok = Command::new("text2pcap")
                .args(["-q", "-4", "10.0.0.1,10.0.0.2", "-T", &format!("{lp},{rp}")])
                .arg(&t)
                .arg(&pcap)
                .status()
                .unwrap()
                .success();
            assert!(ok, "text2pcap failed");
            let d = format!("tcp.port=={rp},bgp");
            let bad = Command::new("tshark")
                .args(["-r"])
                .arg(&pcap)
                .args([
                    "-d",
                    &d,
                    "-Y",
                    "_ws.malformed || _ws.expert.severity >= error",
                ])
                .output()
                .unwrap();
            let bad = String::from_utf8_lossy(&bad.stdout).into_owned();
            assert!(bad.trim().is_empty(), "tshark flags errors:\n{bad}");
            let frames = Command::new("tshark")
                .args(["-r"])
                .arg(&pcap)
                .args(["-d", &d, "-T", "fields", "-e", "bgp.type"])
                .output()
                .unwrap();
            let frames = String::from_utf8_lossy(&frames.stdout).into_owned();
            for line in frames.lines() {
                assert!(
                    !line.trim().is_empty(),
                    "a frame without bgp.type:\n{frames}"
                );
                total += line.split(',').count();
            }
        }
        total
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        for (_, (s, _, _)) in std::mem::take(&mut self.conns) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

//! Interop with strongSwan 5.9 (charon with kernel-libipsec) in a network namespace of its
//! own, reached over a veth pair from a UDP driver of this crate on the host side.
//! Recipe and traps: ../shared/PEERS.md. Run as root with `--include-ignored`.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ikev2::config::WiresharkKeyLog;
use ikev2::crypto::{DhGroup, EncrAlg, IntegAlg, PrfAlg};
use ikev2::wire::{Identification, TrafficSelector};
use ikev2::{
    AddressPool, DpdConfig, Endpoint, EndpointConfig, Error, EspSuite, Event, IkeSuite, Mode,
    PeerConfig, Psk, ResponderConfig, RetransmitConfig, SaHandle, SaPolicy,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const CHARON: &str = "/usr/lib/ipsec/charon";
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A private charon in its own namespace. Everything is undone in Drop.
struct StrongSwan {
    ns: String,
    veth: String,
    dir: PathBuf,
    charon: Option<Child>,
    host_ip: Ipv4Addr,
    ns_ip: Ipv4Addr,
}

impl StrongSwan {
    /// Builds the namespace and veth pair and starts charon with `swanctl_conf` (in which
    /// `@NSIP@` and `@HOSTIP@` are replaced).
    fn start(swanctl_conf: &str) -> Self {
        assert!(
            std::path::Path::new(CHARON).exists(),
            "strongSwan is not installed ({CHARON} missing): apt-get install strongswan-charon \
             strongswan-swanctl libstrongswan-extra-plugins libcharon-extra-plugins"
        );
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let ns = format!("ikev2ss{pid}-{n}");
        let veth = format!("ik{}x{n}", pid % 100_000);
        let peer_if = format!("{veth}p");
        // One /29 per test inside 10.250.0.0/16: the third octet from the process, the fourth
        // from the test (at most 32 tests per process; the old /24-per-test formula ran out
        // of third octets for some process IDs once there were more than 10 tests).
        let third = u8::try_from(pid % 256).unwrap_or(0);
        let base = u8::try_from(n % 32).unwrap_or(0) * 8;
        let host_ip = Ipv4Addr::new(10, 250, third, base + 2);
        let ns_ip = Ipv4Addr::new(10, 250, third, base + 1);
        let dir = std::env::temp_dir().join(format!("ikev2-ss-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut me = Self {
            ns: ns.clone(),
            veth: veth.clone(),
            dir: dir.clone(),
            charon: None,
            host_ip,
            ns_ip,
        };
        run_ok(Command::new("ip").args(["netns", "add", &ns]));
        run_ok(Command::new("ip").args([
            "link", "add", &veth, "type", "veth", "peer", "name", &peer_if,
        ]));
        run_ok(Command::new("ip").args(["link", "set", &peer_if, "netns", &ns]));
        run_ok(Command::new("ip").args(["addr", "add", &format!("{host_ip}/29"), "dev", &veth]));
        run_ok(Command::new("ip").args(["link", "set", &veth, "up"]));
        for args in [
            vec!["addr", "add", &format!("{ns_ip}/29"), "dev", &peer_if],
            vec!["link", "set", &peer_if, "up"],
            vec!["link", "set", "lo", "up"],
        ] {
            run_ok(
                Command::new("ip")
                    .args(["netns", "exec", &ns, "ip"])
                    .args(&args),
            );
        }
        let d = dir.display();
        let extra: String = swanctl_conf
            .lines()
            .filter_map(|l| l.strip_prefix("# charon: "))
            .map(|l| format!("{l}\n"))
            .collect();
        let conf = format!(
            "charon {{\n\
             load = random nonce aes sha1 sha2 hmac gcm openssl curve25519 kdf pem pkcs1 x509 pubkey revocation constraints kernel-libipsec kernel-netlink socket-default vici\n\
             retransmit_tries = 3\n\
             retransmit_timeout = 1.0\n\
             retransmit_base = 1.4\n\
             install_routes = no\n\
             {extra}\
             plugins {{\n vici {{\n socket = unix://{d}/charon.vici\n }}\n }}\n\
             filelog {{\n main {{\n path = {d}/charon.log\n default = 1\n ike = 4\n chd = 4\n cfg = 2\n knl = 2\n net = 2\n enc = 2\n flush_line = yes\n }}\n }}\n\
             }}\n"
        );
        std::fs::write(dir.join("strongswan.conf"), conf).unwrap();
        let sw = swanctl_conf
            .replace("@NSIP@", &ns_ip.to_string())
            .replace("@HOSTIP@", &host_ip.to_string());
        std::fs::write(dir.join("swanctl.conf"), sw).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns, "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs none /run && exec env STRONGSWAN_CONF={d}/strongswan.conf {CHARON}"
            ))
            .stdout(Stdio::null())
            // glibc's abort messages land here (see strongswan_client_redirected_in_ike_auth).
            .stderr(std::fs::File::create(dir.join("charon.stderr")).unwrap())
            .spawn()
            .unwrap();
        me.charon = Some(child);
        let sock = dir.join("charon.vici");
        let t0 = Instant::now();
        while !sock.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "charon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        me.swanctl(&[
            "--load-all",
            "--noprompt",
            "--file",
            &format!("{d}/swanctl.conf"),
        ]);
        me
    }

    #[track_caller]
    fn swanctl(&self, args: &[&str]) -> String {
        let uri = format!("unix://{}/charon.vici", self.dir.display());
        let out = run_ok(Command::new("swanctl").args(args).args(["--uri", &uri]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs swanctl in a thread, for commands that wait for the peer (us) to answer.
    fn swanctl_bg(&self, args: &[&str]) -> std::thread::JoinHandle<Output> {
        let uri = format!("unix://{}/charon.vici", self.dir.display());
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        std::thread::spawn(move || run(Command::new("swanctl").args(&args).args(["--uri", &uri])))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.charon.take() {
            let _ = Command::new("kill")
                .args(["-9", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    fn remote(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.ns_ip), 500)
    }
}

impl Drop for StrongSwan {
    fn drop(&mut self) {
        if let Some(mut c) = self.charon.take() {
            let _ = Command::new("kill").args([&c.id().to_string()]).status();
            let t0 = Instant::now();
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(3) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        if std::env::var_os("IKEV2_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Our side: an Endpoint on real UDP sockets (ports 500 and 4500 of the host veth end).
struct Driver {
    ep: Endpoint<ChaCha20Rng>,
    s500: UdpSocket,
    s4500: UdpSocket,
    ip: Ipv4Addr,
    events: Vec<(Duration, Event)>,
    start: Instant,
    sent: usize,
    received: usize,
}

impl Driver {
    fn new(
        ip: Ipv4Addr,
        mut config: EndpointConfig,
        key_log: Arc<WiresharkKeyLog>,
        seed: u64,
    ) -> Self {
        config.key_log = key_log;
        let s500 = UdpSocket::bind((ip, 500)).unwrap();
        let s4500 = UdpSocket::bind((ip, 4500)).unwrap();
        s500.set_nonblocking(true).unwrap();
        s4500.set_nonblocking(true).unwrap();
        let start = Instant::now();
        Self {
            ep: Endpoint::new(config, ChaCha20Rng::seed_from_u64(seed), start),
            s500,
            s4500,
            ip,
            events: Vec::new(),
            start,
            sent: 0,
            received: 0,
        }
    }

    /// Runs the loop until `pred` holds for a new event or `limit` passes.
    fn run_until(&mut self, limit: Duration, mut pred: impl FnMut(&Event) -> bool) -> bool {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 65536];
        let mut hit = false;
        loop {
            let now = Instant::now();
            while let Some(t) = self.ep.poll_transmit() {
                let s = if t.local.port() == 4500 {
                    &self.s4500
                } else {
                    &self.s500
                };
                s.send_to(&t.payload, t.remote).unwrap();
                self.sent += 1;
            }
            while let Some(e) = self.ep.poll_event() {
                if pred(&e) {
                    hit = true;
                }
                self.events.push((now - self.start, e));
            }
            if hit || now >= end {
                return hit;
            }
            let mut got = false;
            for (s, port) in [(&self.s500, 500), (&self.s4500, 4500)] {
                while let Ok((n, from)) = s.recv_from(&mut buf) {
                    got = true;
                    self.received += 1;
                    let local = SocketAddr::new(IpAddr::V4(self.ip), port);
                    let _ = self
                        .ep
                        .handle_datagram(Instant::now(), local, from, &buf[..n]);
                }
            }
            self.ep.handle_timeout(Instant::now());
            if !got {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    fn has(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }
}

const HUB_CONF: &str = "connections {
  hub {
    version = 2
    local_addrs = @NSIP@
    proposals = aes256gcm16-prfsha256-modp2048, aes256gcm16-prfsha256-ecp256, aes256gcm16-prfsha256-curve25519
    pools = spokes
    mobike = no
    dpd_delay = 2s
    local {
      auth = psk
      id = hub.example
    }
    remote {
      auth = psk
    }
    children {
      tun {
        mode = tunnel
        local_ts = 0.0.0.0/0
        remote_ts = dynamic
        esp_proposals = aes256gcm16
      }
    }
  }
}
pools {
  spokes {
    addrs = 10.1.1.100-10.1.1.175
  }
}
secrets {
  ike-1 {
    secret = cisco
  }
}
";

fn spoke_policy() -> SaPolicy {
    let mut p = SaPolicy::new(Identification::key_id(b"spoke1"));
    p.ike_proposals = vec![IkeSuite::gcm(
        EncrAlg::AesGcm16_256,
        PrfAlg::HmacSha256,
        DhGroup::Modp2048,
    )];
    p.retransmit = RetransmitConfig {
        initial: Duration::from_millis(500),
        max_timeout: Duration::from_secs(2),
        tries: 3,
    };
    p
}

fn peer(ss: &StrongSwan, policy: SaPolicy) -> PeerConfig {
    PeerConfig {
        remote: ss.remote(),
        local: SocketAddr::new(IpAddr::V4(ss.host_ip), 500),
        psk: Psk::new(b"cisco"),
        remote_id: Some(Identification::fqdn("hub.example")),
        request_address: true,
        initial_contact: true,
        policy,
    }
}

/// Reads `<name> => N bytes @ 0x...` followed by hex dump lines from the charon log; returns
/// every occurrence, in order.
fn logged_secrets(log: &str, name: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let lines: Vec<&str> = log.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(pos) = l.find(&format!("{name} => ")) {
            let rest = &l[pos + name.len() + 4..];
            let n: usize = rest
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            let mut bytes = Vec::new();
            let mut j = i + 1;
            while bytes.len() < n && j < lines.len() {
                // "   0: 8E 2F ... 16 bytes  ascii"
                if let Some((_, hexpart)) = lines[j].split_once(": ") {
                    for tok in hexpart.split_whitespace().take(16) {
                        if tok.len() == 2
                            && let Ok(b) = u8::from_str_radix(tok, 16)
                        {
                            bytes.push(b);
                        } else {
                            break;
                        }
                    }
                }
                j += 1;
            }
            bytes.truncate(n);
            out.push(bytes);
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn established(d: &Driver) -> Option<(SaHandle, Option<Ipv4Addr>, bool)> {
    d.events.iter().find_map(|(_, e)| match e {
        Event::IkeSaEstablished {
            sa,
            assigned_address,
            nat_detected,
            ..
        } => Some((*sa, *assigned_address, *nat_detected)),
        _ => None,
    })
}

#[test]
#[ignore = "needs root + strongswan"]
fn initiator_to_strongswan_keys_match() {
    let ss = StrongSwan::start(HUB_CONF);
    let kl = Arc::new(WiresharkKeyLog::default());
    let mut d = Driver::new(ss.host_ip, EndpointConfig::new(), kl.clone(), 1);
    d.ep.connect(Instant::now(), peer(&ss, spoke_policy()))
        .unwrap();
    assert!(
        d.run_until(Duration::from_secs(10), |e| matches!(
            e,
            Event::ChildSaInstalled { .. }
        ) || matches!(
            e,
            Event::IkeSaFailed { .. }
        )),
        "no child SA: {:?}\n{}",
        d.events,
        ss.log()
    );
    let (_, addr, nat) = established(&d).expect("IKE SA");
    assert_eq!(addr, Some(Ipv4Addr::new(10, 1, 1, 100)));
    assert!(nat, "kernel-libipsec fakes NAT detection");
    let Some((
        _,
        Event::ChildSaInstalled {
            spi_in,
            spi_out,
            mode,
            keys,
            udp_encap,
            ts_local,
            ..
        },
    )) = d
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::ChildSaInstalled { .. }))
    else {
        panic!()
    };
    assert_eq!(*mode, Mode::Tunnel);
    assert_eq!(
        udp_encap.map(|(l, r)| (l.port(), r.port())),
        Some((4500, 4500))
    );
    assert_eq!(
        ts_local,
        &vec![TrafficSelector::host_v4(Ipv4Addr::new(10, 1, 1, 100))]
    );
    let log = ss.log();
    // IKE keys: compare the table line we logged with strongSwan's secrets.
    let ike_line = kl.ike.lock().unwrap()[0].clone();
    let cols: Vec<&str> = ike_line.split(',').collect();
    let sk_ei = logged_secrets(&log, "Sk_ei secret");
    let sk_er = logged_secrets(&log, "Sk_er secret");
    assert!(!sk_ei.is_empty(), "strongSwan did not log Sk_ei:\n{log}");
    assert_eq!(cols[2], hex::encode(&sk_ei[0]));
    assert_eq!(cols[3], hex::encode(&sk_er[0]));
    // Child keys: strongSwan's "initiator" is the IKE initiator, us.
    let ei = logged_secrets(&log, "encryption initiator key");
    let er = logged_secrets(&log, "encryption responder key");
    assert!(!ei.is_empty(), "strongSwan did not log child keys:\n{log}");
    assert_eq!(hex::encode(&ei[0]), hex::encode(keys.encr_out.as_bytes()));
    assert_eq!(hex::encode(&er[0]), hex::encode(keys.encr_in.as_bytes()));
    // strongSwan agrees on SPIs and state.
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert!(sas.contains("state=ESTABLISHED"), "{sas}");
    assert!(sas.contains("state=INSTALLED"), "{sas}");
    assert!(sas.contains(&format!("spi-in={spi_out:08x}")), "{sas}");
    assert!(sas.contains(&format!("spi-out={spi_in:08x}")), "{sas}");
}

/// Brings an SA up from our side; returns its handle and the inbound SPI of its child.
fn up(d: &mut Driver, ss: &StrongSwan, policy: SaPolicy) -> (SaHandle, u32) {
    let h = d.ep.connect(Instant::now(), peer(ss, policy)).unwrap();
    assert!(
        d.run_until(Duration::from_secs(15), |e| matches!(
            e,
            Event::ChildSaInstalled { .. }
        ) || matches!(
            e,
            Event::IkeSaFailed { .. } | Event::ChildSaFailed { .. }
        )),
        "no child SA: {:?}\n{}",
        d.events,
        ss.log()
    );
    let spi = d
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            Event::ChildSaInstalled { sa, spi_in, .. } if *sa == h => Some(*spi_in),
            _ => None,
        })
        .unwrap_or_else(|| panic!("child failed: {:?}\n{}", d.events, ss.log()));
    (h, spi)
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

const SPOKE_CONF: &str = "connections {
  spoke {
    version = 2
    local_addrs = @NSIP@
    remote_addrs = @HOSTIP@
    proposals = aes256gcm16-prfsha256-curve25519
    vips = 0.0.0.0
    mobike = no
    local {
      auth = psk
      id = spoke-ss.example
    }
    remote {
      auth = psk
      id = hub.example
    }
    children {
      tun {
        mode = tunnel
        local_ts = dynamic
        remote_ts = 0.0.0.0/0
        esp_proposals = aes256gcm16
      }
    }
  }
}
secrets {
  ike-1 {
    secret = @PSK@
  }
}
";

fn our_hub(psk: &[u8]) -> EndpointConfig {
    let mut c = EndpointConfig::new();
    let mut p = SaPolicy::new(Identification::fqdn("hub.example"));
    p.ts_local = vec![TrafficSelector::any_v4()];
    p.ts_remote = vec![TrafficSelector::any_v4()];
    c.responder = Some(ResponderConfig {
        psks: vec![(None, Psk::new(psk))],
        pool: Some(
            AddressPool::new(Ipv4Addr::new(10, 1, 1, 100), Ipv4Addr::new(10, 1, 1, 175)).unwrap(),
        ),
        policy: p,
    });
    c
}

fn initiate_in_background(ss: &StrongSwan) -> std::thread::JoinHandle<Output> {
    let uri = format!("unix://{}/charon.vici", ss.dir.display());
    std::thread::spawn(move || {
        run(Command::new("swanctl").args([
            "--initiate",
            "--child",
            "tun",
            "--timeout",
            "10",
            "--uri",
            &uri,
        ]))
    })
}

#[test]
#[ignore = "needs root + strongswan"]
fn strongswan_initiator_to_our_responder() {
    let ss = StrongSwan::start(&SPOKE_CONF.replace("@PSK@", "cisco"));
    let kl = Arc::new(WiresharkKeyLog::default());
    let mut d = Driver::new(ss.host_ip, our_hub(b"cisco"), kl, 2);
    let job = initiate_in_background(&ss);
    let ok = d.run_until(Duration::from_secs(12), |e| {
        matches!(e, Event::ChildSaInstalled { .. })
    });
    let out = job.join().unwrap();
    assert!(ok, "{:?}\n{}", d.events, ss.log());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (_, addr, nat) = established(&d).unwrap();
    assert_eq!(addr, Some(Ipv4Addr::new(10, 1, 1, 100)));
    assert!(nat);
    assert!(d.has(
        |e| matches!(e, Event::IkeSaEstablished { initiator: false, peer_id, .. }
        if *peer_id == Identification::fqdn("spoke-ss.example"))
    ));
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert!(sas.contains("local-vips=[10.1.1.100]"), "{sas}");
    assert!(sas.contains("state=INSTALLED"), "{sas}");
    assert_eq!(d.ep.pool_in_use(), 1);
    // strongSwan (the IKE initiator) rekeys the Child SA and the IKE SA of our responder.
    ss.swanctl(&["--rekey", "--child", "tun"]);
    assert!(
        d.run_until(Duration::from_secs(5), |e| matches!(
            e,
            Event::ChildSaDeleted { .. }
        )),
        "{:?}\n{}",
        d.events,
        ss.log()
    );
    assert!(d.has(|e| matches!(
        e,
        Event::ChildSaInstalled {
            rekey_of: Some(_),
            ..
        }
    )));
    ss.swanctl(&["--rekey", "--ike", "spoke"]);
    assert!(d.run_until(Duration::from_secs(5), |e| matches!(
        e,
        Event::IkeSaRekeyed { .. }
    )));
    d.run_until(Duration::from_millis(500), |_| false);
    let h = d.ep.handles()[0];
    let info = d.ep.sa_info(h).unwrap();
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert_eq!(sas.matches("state=ESTABLISHED").count(), 1, "{sas}");
    assert!(
        sas.contains(&format!("responder-spi={:016x}", info.spi_r)),
        "{sas}\n{info:?}"
    );
    let before = count(&ss.log(), "generating INFORMATIONAL response");
    d.ep.dpd(Instant::now(), h).unwrap();
    d.run_until(Duration::from_millis(800), |_| false);
    assert!(count(&ss.log(), "generating INFORMATIONAL response") > before);
    // strongSwan deletes: the pool address comes back.
    let job = ss.swanctl_bg(&["--terminate", "--ike", "spoke"]);
    assert!(d.run_until(Duration::from_secs(5), |e| matches!(
        e,
        Event::IkeSaDeleted { .. }
    )));
    d.run_until(Duration::from_millis(300), |_| false);
    assert!(job.join().unwrap().status.success());
    assert_eq!(d.ep.pool_in_use(), 0);
}

#[test]
#[ignore = "needs root + strongswan"]
fn wrong_psk_fails_cleanly_both_ways() {
    // Our initiator with a wrong key.
    let ss = StrongSwan::start(HUB_CONF);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        3,
    );
    let mut p = peer(&ss, spoke_policy());
    p.psk = Psk::new(b"wrong");
    d.ep.connect(Instant::now(), p).unwrap();
    assert!(d.run_until(Duration::from_secs(10), |e| matches!(
        e,
        Event::IkeSaFailed { .. }
    )));
    assert!(
        d.has(|e| matches!(
            e,
            Event::IkeSaFailed {
                reason: Error::AuthenticationFailed,
                ..
            }
        )),
        "{:?}",
        d.events
    );
    assert!(!d.has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    assert!(d.ep.handles().is_empty());
    drop(d);
    drop(ss);
    // strongSwan initiator with a wrong key against our responder.
    let ss = StrongSwan::start(&SPOKE_CONF.replace("@PSK@", "wrong"));
    let mut d = Driver::new(
        ss.host_ip,
        our_hub(b"cisco"),
        Arc::new(WiresharkKeyLog::default()),
        4,
    );
    let job = initiate_in_background(&ss);
    assert!(d.run_until(Duration::from_secs(12), |e| matches!(
        e,
        Event::IkeSaFailed { .. }
    )));
    let out = job.join().unwrap();
    assert!(!out.status.success());
    assert!(d.has(|e| matches!(
        e,
        Event::IkeSaFailed {
            reason: Error::AuthenticationFailed,
            ..
        }
    )));
    assert!(ss.log().contains("AUTHENTICATION_FAILED"), "{}", ss.log());
    assert_eq!(d.ep.pool_in_use(), 0);
}

const TRANSPORT_PROXY_CONF: &str = "connections {
  hub {
    version = 2
    local_addrs = @NSIP@
    proposals = aes256gcm16-prfsha256-modp2048
    pools = spokes
    mobike = no
    local {
      auth = psk
      id = hub.example
    }
    remote {
      auth = psk
    }
    children {
      gre {
        mode = transport_proxy
        local_ts = dynamic[gre]
        remote_ts = 0.0.0.0/0[gre]
        esp_proposals = aes256gcm16
      }
    }
  }
}
pools {
  spokes {
    addrs = 10.1.1.100-10.1.1.175
  }
}
secrets {
  ike-1 {
    secret = cisco
  }
}
";

#[test]
#[ignore = "needs root + strongswan"]
fn transport_proxy_no_proposal_chosen_keeps_ike_sa() {
    let ss = StrongSwan::start(TRANSPORT_PROXY_CONF);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        5,
    );
    let mut pol = spoke_policy();
    pol.mode = Mode::Transport;
    let gre_any = TrafficSelector {
        ip_proto: 47,
        ..TrafficSelector::any_v4()
    };
    pol.ts_remote = vec![gre_any];
    let h = d.ep.connect(Instant::now(), peer(&ss, pol)).unwrap();
    assert!(
        d.run_until(Duration::from_secs(10), |e| matches!(
            e,
            Event::ChildSaFailed { .. }
                | Event::ChildSaInstalled { .. }
                | Event::IkeSaFailed { .. }
        )),
        "{:?}",
        d.events
    );
    assert!(
        d.has(|e| matches!(
            e,
            Event::ChildSaFailed {
                reason: Error::NoProposalChosen,
                ..
            }
        )),
        "{:?}\n{}",
        d.events,
        ss.log()
    );
    let (_, addr, _) = established(&d).unwrap();
    assert_eq!(addr, Some(Ipv4Addr::new(10, 1, 1, 100)), "CP reply handled");
    assert_eq!(d.ep.sa_info(h).unwrap().state, "Established");
    // The IKE SA is really kept: a DPD is answered.
    let before = count(&ss.log(), "generating INFORMATIONAL response");
    d.ep.dpd(Instant::now(), h).unwrap();
    d.run_until(Duration::from_millis(1500), |_| false);
    assert!(count(&ss.log(), "generating INFORMATIONAL response") > before);
    assert!(
        ss.swanctl(&["--list-sas", "--raw"])
            .contains("state=ESTABLISHED")
    );
}

#[test]
#[ignore = "needs root + strongswan"]
fn dpd_both_ways_and_delete_from_us() {
    let ss = StrongSwan::start(HUB_CONF);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        6,
    );
    let (h, _) = up(&mut d, &ss, spoke_policy());
    // strongSwan's dpd_delay is 2 s: it checks us while we are idle, and we answer.
    d.run_until(Duration::from_secs(5), |_| false);
    let log = ss.log();
    assert!(count(&log, "sending DPD request") >= 1, "{log}");
    assert!(log.contains("parsed INFORMATIONAL response"), "{log}");
    assert!(!d.has(|e| matches!(e, Event::PeerDead { .. } | Event::IkeSaDeleted { .. })));
    // Our on-demand DPD is answered by strongSwan.
    let before = count(&ss.log(), "generating INFORMATIONAL response");
    let sent = d.sent;
    d.ep.dpd(Instant::now(), h).unwrap();
    d.run_until(Duration::from_millis(1000), |_| false);
    assert!(count(&ss.log(), "generating INFORMATIONAL response") > before);
    assert_eq!(d.sent, sent + 1, "no retransmission needed");
    // We delete.
    d.ep.close(Instant::now(), h).unwrap();
    assert!(d.run_until(Duration::from_secs(5), |e| matches!(
        e,
        Event::IkeSaDeleted { .. }
    )));
    assert!(d.has(|e| matches!(e, Event::ChildSaDeleted { .. })));
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert!(!sas.contains("ESTABLISHED"), "{sas}");
}

#[test]
#[ignore = "needs root + strongswan"]
fn periodic_dpd_from_us() {
    let ss = StrongSwan::start(&HUB_CONF.replace("dpd_delay = 2s", "dpd_delay = 0s"));
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        7,
    );
    let mut pol = spoke_policy();
    pol.dpd = Some(DpdConfig {
        interval: Duration::from_secs(1),
        retry: Duration::from_millis(500),
        on_demand: false,
    });
    up(&mut d, &ss, pol);
    let before = count(&ss.log(), "generating INFORMATIONAL response");
    d.run_until(Duration::from_millis(3500), |_| false);
    let n = count(&ss.log(), "generating INFORMATIONAL response") - before;
    assert!((2..=4).contains(&n), "{n} DPD answers in 3.5 s");
    assert!(!d.has(|e| matches!(e, Event::PeerDead { .. })));
}

#[test]
#[ignore = "needs root + strongswan"]
fn delete_from_strongswan() {
    let ss = StrongSwan::start(HUB_CONF);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        8,
    );
    let (_, spi) = up(&mut d, &ss, spoke_policy());
    let job = ss.swanctl_bg(&["--terminate", "--child", "tun"]);
    assert!(d.run_until(Duration::from_secs(5), |e| matches!(
        e,
        Event::ChildSaDeleted { .. }
    )));
    d.run_until(Duration::from_millis(300), |_| false);
    assert!(job.join().unwrap().status.success());
    assert!(d.has(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == spi)));
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert!(
        sas.contains("state=ESTABLISHED") && !sas.contains("INSTALLED"),
        "{sas}"
    );
    let job = ss.swanctl_bg(&["--terminate", "--ike", "hub"]);
    assert!(d.run_until(Duration::from_secs(5), |e| matches!(
        e,
        Event::IkeSaDeleted { .. }
    )));
    d.run_until(Duration::from_millis(300), |_| false);
    assert!(job.join().unwrap().status.success());
    assert!(d.ep.handles().is_empty());
    assert!(!ss.swanctl(&["--list-sas", "--raw"]).contains("ESTABLISHED"));
}

#[test]
#[ignore = "needs root + strongswan"]
fn charon_killed_gives_peer_dead() {
    let mut ss = StrongSwan::start(HUB_CONF);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        9,
    );
    let (h, _) = up(&mut d, &ss, spoke_policy());
    ss.kill();
    let t0 = Instant::now();
    d.ep.dpd(Instant::now(), h).unwrap();
    assert!(d.run_until(Duration::from_secs(15), |e| matches!(
        e,
        Event::PeerDead { .. }
    )));
    // 0.5 + 1 + 2 + 2 s of backoff with 3 retransmissions.
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(5000) && took < Duration::from_secs(9),
        "{took:?}"
    );
    assert!(d.has(|e| matches!(e, Event::ChildSaDeleted { .. })));
}

#[test]
#[ignore = "needs root + strongswan"]
fn rekeys_started_by_either_side() {
    let ss = StrongSwan::start(HUB_CONF);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        10,
    );
    let (h, spi) = up(&mut d, &ss, spoke_policy());
    let installed = |d: &Driver| {
        d.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::ChildSaInstalled { .. }))
            .count()
    };
    // strongSwan rekeys the Child SA.
    ss.swanctl(&["--rekey", "--child", "tun"]);
    assert!(
        d.run_until(Duration::from_secs(5), |e| matches!(
            e,
            Event::ChildSaDeleted { .. }
        )),
        "{:?}\n{}",
        d.events,
        ss.log()
    );
    assert!(d.has(|e| matches!(e, Event::ChildSaInstalled { rekey_of: Some(o), .. } if *o == spi)));
    assert_eq!(d.ep.sa_info(h).unwrap().children.len(), 1);
    // We rekey the Child SA.
    let spi2 = d.ep.sa_info(h).unwrap().children[0].0;
    d.ep.rekey_child(Instant::now(), h, spi2).unwrap();
    assert!(
        d.run_until(
            Duration::from_secs(5),
            |e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == spi2)
        ),
        "{:?}\n{}",
        d.events,
        ss.log()
    );
    assert_eq!(installed(&d), 3);
    let (spi3, out3) = d.ep.sa_info(h).unwrap().children[0];
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert!(
        sas.contains(&format!("spi-in={out3:08x}")) && sas.contains(&format!("spi-out={spi3:08x}")),
        "{sas}"
    );
    // strongSwan rekeys the IKE SA.
    ss.swanctl(&["--rekey", "--ike", "hub"]);
    assert!(
        d.run_until(Duration::from_secs(5), |e| matches!(
            e,
            Event::IkeSaRekeyed { .. }
        )),
        "{:?}\n{}",
        d.events,
        ss.log()
    );
    d.run_until(Duration::from_millis(500), |_| false);
    // We rekey the IKE SA.
    d.ep.rekey_ike(Instant::now(), h).unwrap();
    let n = d.events.len();
    assert!(
        d.run_until(Duration::from_secs(5), |e| matches!(
            e,
            Event::IkeSaRekeyed { .. }
        )),
        "{:?}\n{}",
        &d.events[n..],
        ss.log()
    );
    d.run_until(Duration::from_millis(500), |_| false);
    let info = d.ep.sa_info(h).unwrap();
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert_eq!(
        sas.matches("state=ESTABLISHED").count(),
        1,
        "old IKE SAs deleted: {sas}"
    );
    assert!(
        sas.contains(&format!("initiator-spi={:016x}", info.spi_i)),
        "{sas}\n{info:?}"
    );
    // The newest keys work: a DPD is answered and a Child rekey still succeeds.
    let before = count(&ss.log(), "generating INFORMATIONAL response");
    d.ep.dpd(Instant::now(), h).unwrap();
    d.run_until(Duration::from_millis(800), |_| false);
    assert!(count(&ss.log(), "generating INFORMATIONAL response") > before);
    assert!(!d.has(|e| matches!(
        e,
        Event::PeerDead { .. } | Event::IkeSaDeleted { .. } | Event::ChildSaFailed { .. }
    )));
}

#[test]
#[ignore = "needs root + strongswan"]
fn proposal_matrix() {
    let mut ike = Vec::new();
    for e in ["aes128gcm16", "aes256gcm16"] {
        for p in ["prfsha256", "prfsha384", "prfsha512"] {
            for g in ["modp2048", "ecp256", "curve25519"] {
                ike.push(format!("{e}-{p}-{g}"));
            }
        }
    }
    ike.push("aes256-sha256-modp2048".into());
    let conf = HUB_CONF
        .replace(
            "proposals = aes256gcm16-prfsha256-modp2048, aes256gcm16-prfsha256-ecp256, aes256gcm16-prfsha256-curve25519",
            &format!("proposals = {}", ike.join(", ")),
        )
        .replace("esp_proposals = aes256gcm16", "esp_proposals = aes128gcm16, aes256gcm16, aes256-sha256");
    let ss = StrongSwan::start(&conf);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        11,
    );
    let mut suites = Vec::new();
    for encr in [EncrAlg::AesGcm16_128, EncrAlg::AesGcm16_256] {
        for prf in PrfAlg::ALL {
            for dh in [DhGroup::Modp2048, DhGroup::Ecp256, DhGroup::Curve25519] {
                suites.push((
                    IkeSuite::gcm(encr, prf, dh),
                    EspSuite {
                        encr,
                        integ: IntegAlg::None,
                        esn: false,
                        pfs: None,
                    },
                ));
            }
        }
    }
    let cbc = IkeSuite {
        encr: EncrAlg::AesCbc256,
        integ: IntegAlg::HmacSha256_128,
        prf: PrfAlg::HmacSha256,
        dh: DhGroup::Modp2048,
    };
    suites.push((
        cbc,
        EspSuite {
            encr: EncrAlg::AesCbc256,
            integ: IntegAlg::HmacSha256_128,
            esn: false,
            pfs: None,
        },
    ));
    for (ike, esp) in suites {
        let mut pol = spoke_policy();
        pol.ike_proposals = vec![ike];
        pol.esp_proposals = vec![esp];
        let n = d.events.len();
        let (h, _) = up(&mut d, &ss, pol);
        assert!(
            d.events[n..].iter().any(
                |(_, e)| matches!(e, Event::ChildSaInstalled { keys, .. } if keys.encr == esp.encr)
            ),
            "{ike:?}: {:?}",
            &d.events[n..]
        );
        let before = count(&ss.log(), "generating INFORMATIONAL response");
        d.ep.close(Instant::now(), h).unwrap();
        assert!(
            d.run_until(Duration::from_secs(5), |e| matches!(
                e,
                Event::IkeSaDeleted { .. }
            )),
            "{ike:?}"
        );
        assert!(
            count(&ss.log(), "generating INFORMATIONAL response") > before,
            "{ike:?}: delete answered"
        );
    }
}

#[test]
#[ignore = "needs root + strongswan + tshark"]
fn tshark_decrypts_captured_exchange() {
    assert!(
        std::path::Path::new("/usr/bin/tshark").exists(),
        "tshark missing"
    );
    let ss = StrongSwan::start(HUB_CONF);
    let cap = ss.dir.join("cap.pcap");
    let mut tcpdump = Command::new("tcpdump")
        .args(["--immediate-mode", "-U", "-i", &ss.veth, "-w"])
        .arg(&cap)
        .arg("udp")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    std::thread::sleep(Duration::from_millis(500));
    let kl = Arc::new(WiresharkKeyLog::default());
    let mut d = Driver::new(ss.host_ip, EndpointConfig::new(), kl.clone(), 12);
    let (h, _) = up(&mut d, &ss, spoke_policy());
    d.ep.dpd(Instant::now(), h).unwrap();
    d.run_until(Duration::from_millis(500), |_| false);
    d.ep.close(Instant::now(), h).unwrap();
    d.run_until(Duration::from_secs(3), |e| {
        matches!(e, Event::IkeSaDeleted { .. })
    });
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").arg(tcpdump.id().to_string()).status();
    let _ = tcpdump.wait();
    let wsdir = ss.dir.join("wireshark");
    std::fs::create_dir_all(&wsdir).unwrap();
    std::fs::write(
        wsdir.join("ikev2_decryption_table"),
        kl.ike.lock().unwrap().join("\n") + "\n",
    )
    .unwrap();
    let out = run_ok(
        Command::new("tshark")
            .env("WIRESHARK_CONFIG_DIR", &wsdir)
            .arg("-r")
            .arg(&cap)
            .arg("-V"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let frames = text.matches("\nFrame ").count() + usize::from(text.starts_with("Frame "));
    let exch = text.matches("Exchange type: ").count();
    assert!(frames >= 7, "{frames} frames");
    assert_eq!(exch, frames, "every frame is IKE");
    let icv_ok = text.matches("[correct]").count();
    let encrypted = text
        .matches("    Payload: Encrypted and Authenticated (46)")
        .count();
    assert!(encrypted >= 5, "{text}");
    assert_eq!(icv_ok, encrypted, "{text}");
    assert!(
        !text.contains("incorrect") && !text.contains("Malformed"),
        "{text}"
    );
    assert!(text.contains("Decrypted Data"), "{text}");
    let check = run_ok(
        Command::new("tshark")
            .env("WIRESHARK_CONFIG_DIR", &wsdir)
            .arg("-r")
            .arg(&cap)
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= error"]),
    );
    assert!(
        check.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
#[ignore = "needs root + strongswan"]
fn fragmented_ike_auth_with_strongswan() {
    // strongSwan fragments above 200 bytes, so do we: IKE_AUTH is fragmented both ways.
    let conf = format!("# charon: fragment_size = 200\n{HUB_CONF}");
    let ss = StrongSwan::start(&conf);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        13,
    );
    let mut pol = spoke_policy();
    pol.fragment_size = Some(200);
    let (h, _) = up(&mut d, &ss, pol);
    let log = ss.log();
    assert!(log.contains("received fragment #"), "{log}");
    assert!(log.contains("splitting IKE message"), "{log}");
    assert!(d.has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    let before = count(&log, "generating INFORMATIONAL response");
    d.ep.dpd(Instant::now(), h).unwrap();
    d.run_until(Duration::from_millis(800), |_| false);
    assert!(count(&ss.log(), "generating INFORMATIONAL response") > before);
}

#[test]
#[ignore = "needs root + strongswan"]
fn cp_netmask_dns_and_subnets_from_a_strongswan_pool() {
    let conf = HUB_CONF.replace(
        "    addrs = 10.1.1.100-10.1.1.175\n",
        "    addrs = 10.1.1.100-10.1.1.175\n    dns = 10.1.1.53, 10.1.2.53\n    netmask = 255.255.255.0\n    subnet = 10.0.0.0/8, 172.16.0.0/12\n",
    );
    let ss = StrongSwan::start(&conf);
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        20,
    );
    up(&mut d, &ss, spoke_policy());
    let internal = d
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::IkeSaEstablished { internal, .. } => Some(internal.clone()),
            _ => None,
        })
        .expect("established");
    assert_eq!(
        internal.address,
        Some(Ipv4Addr::new(10, 1, 1, 100)),
        "{internal:?}\n{}",
        ss.log()
    );
    assert_eq!(
        internal.dns,
        vec![Ipv4Addr::new(10, 1, 1, 53), Ipv4Addr::new(10, 1, 2, 53)],
        "{internal:?}\n{}",
        ss.log()
    );
    assert_eq!(
        internal.netmask,
        Some(Ipv4Addr::new(255, 255, 255, 0)),
        "{internal:?}"
    );
    assert_eq!(
        internal.subnets,
        vec![
            (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 0, 0, 0)),
            (Ipv4Addr::new(172, 16, 0, 0), Ipv4Addr::new(255, 240, 0, 0)),
        ],
        "{internal:?}"
    );
}

/// RFC 5685 section 5: `swanctl --redirect` moves our established initiator to another
/// address of the same charon; we acknowledge, delete the old SA and come up there with
/// REDIRECTED_FROM.
#[test]
#[ignore = "needs root + strongswan"]
fn strongswan_gateway_redirect_of_our_established_sa() {
    let ss = StrongSwan::start(&HUB_CONF.replace("local_addrs = @NSIP@", "local_addrs = %any"));
    let ip2 = Ipv4Addr::from(u32::from(ss.ns_ip) + 2);
    run_ok(Command::new("ip").args([
        "netns",
        "exec",
        &ss.ns,
        "ip",
        "addr",
        "add",
        &format!("{ip2}/29"),
        "dev",
        &format!("{}p", ss.veth),
    ]));
    let mut d = Driver::new(
        ss.host_ip,
        EndpointConfig::new(),
        Arc::new(WiresharkKeyLog::default()),
        21,
    );
    let (h, _) = up(&mut d, &ss, spoke_policy());
    let out = ss.swanctl(&["--redirect", "--ike", "hub", "--gateway", &ip2.to_string()]);
    let new_sa = {
        let mut found = None;
        d.run_until(Duration::from_secs(10), |e| {
            if let Event::GatewayRedirect { sa, new_sa, to, .. } = e
                && *sa == h
                && *to == IpAddr::V4(ip2)
            {
                found = Some(*new_sa);
                true
            } else {
                false
            }
        });
        found.unwrap_or_else(|| panic!("no redirect ({out}): {:?}\n{}", d.events, ss.log()))
    };
    assert!(
        d.run_until(Duration::from_secs(15), |e| matches!(
            e,
            Event::ChildSaInstalled { sa, .. } if *sa == new_sa
        )),
        "not up at the new gateway: {:?}\n{}",
        d.events,
        ss.log()
    );
    let remote = d.events.iter().find_map(|(_, e)| match e {
        Event::IkeSaEstablished { sa, remote, .. } if *sa == new_sa => Some(remote.ip()),
        _ => None,
    });
    assert_eq!(remote, Some(IpAddr::V4(ip2)));
    d.run_until(Duration::from_secs(2), |_| false);
    assert!(
        d.has(|e| matches!(e, Event::IkeSaDeleted { sa, .. } if *sa == h)),
        "old SA not deleted: {:?}",
        d.events
    );
    // charon holds one IKE SA, the new one, at the second address.
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert_eq!(count(&sas, "state=ESTABLISHED"), 1, "{sas}");
    assert!(sas.contains(&format!("local-host={ip2}")), "{sas}");
    let log = ss.log();
    assert!(
        log.contains("N(REDIR_FROM)")
            && log.contains(&format!("client got redirected from {}", ss.ns_ip)),
        "no REDIRECTED_FROM seen:\n{log}"
    );
}

/// charon's version from the first line of its log ("strongSwan 5.9.8"), as (major, minor, patch).
fn charon_version(log: &str) -> (u32, u32, u32) {
    let v = log
        .split("(strongSwan ")
        .nth(1)
        .and_then(|r| r.split([',', ')']).next())
        .unwrap_or_else(|| panic!("no version in charon's log:\n{log}"));
    let mut it = v.split('.').map(|n| n.trim().parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// strongSwan as the client, our responder redirects it in the IKE_AUTH response (RFC 5685
/// section 6) to our second gateway on another host address.
///
/// charon before 5.9.12 cannot follow this: since 5.9.8 (commit 5ce1c91b58a2) the IKE SA is
/// still CONNECTING after IKE_AUTH, so `ike_sa.c` `handle_redirect()` takes the IKE_SA_INIT
/// path `redirect_connecting()`, whose `reset()` empties the task manager while the
/// `ike-auth` task that called it returns SUCCESS and is freed; charon then dies while it
/// builds the new IKE_SA_INIT (SIGABRT here). Fixed upstream in 5.9.12 by commit
/// 595fa077b6 ("ike-sa: Fix handling of redirects during IKE_AUTH"), not in Debian's
/// 5.9.8-5+deb12u6. The test asserts that crash on such versions (our REDIRECT was
/// accepted: AUTH verified, gateway parsed) and the full move to the second gateway on
/// fixed ones, so it fails loudly once the installed charon changes.
#[test]
#[ignore = "needs root + strongswan"]
fn strongswan_client_redirected_in_ike_auth() {
    let mut ss = StrongSwan::start(&SPOKE_CONF.replace("@PSK@", "cisco"));
    let ip2 = Ipv4Addr::from(u32::from(ss.host_ip) + 2);
    run_ok(Command::new("ip").args(["addr", "add", &format!("{ip2}/29"), "dev", &ss.veth]));
    let mut hub1 = our_hub(b"cisco");
    if let Some(r) = hub1.responder.as_mut() {
        r.policy.auth_redirect = Some(ikev2::AuthRedirect::by_identity(vec![(
            Identification::fqdn("spoke-ss.example"),
            IpAddr::V4(ip2),
        )]));
    }
    let mut d1 = Driver::new(ss.host_ip, hub1, Arc::new(WiresharkKeyLog::default()), 31);
    let mut d2 = Driver::new(
        ip2,
        our_hub(b"cisco"),
        Arc::new(WiresharkKeyLog::default()),
        32,
    );
    let job = initiate_in_background(&ss);
    let sent = d1.run_until(
        Duration::from_secs(10),
        |e| matches!(e, Event::RedirectSent { to, .. } if *to == IpAddr::V4(ip2)),
    );
    assert!(sent, "no RedirectSent: {:?}\n{}", d1.events, ss.log());
    // The first gateway kept nothing: no Child SA, no pool address.
    assert!(!d1.has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    assert_eq!(d1.ep.pool_in_use(), 0);
    let up = d2.run_until(Duration::from_secs(12), |e| {
        matches!(e, Event::ChildSaInstalled { .. })
    });
    let out = job.join().unwrap();
    let log = ss.log();
    // charon accepted our IKE_AUTH response: AUTH verified, REDIRECT parsed to ip2.
    assert!(
        log.contains("parsed IKE_AUTH response 1 [ IDr AUTH N(REDIR) ]")
            && log.contains("authentication of 'hub.example' with pre-shared key successful")
            && log.contains(&format!("redirected to {ip2}")),
        "{log}"
    );
    if charon_version(&log) < (5, 9, 12) {
        // Taken so that Drop does not signal a process that is gone.
        let status = ss
            .charon
            .take()
            .map(|mut c| c.wait().unwrap())
            .expect("charon was started");
        let stderr = std::fs::read_to_string(ss.dir.join("charon.stderr")).unwrap_or_default();
        assert!(
            !up && !status.success(),
            "charon < 5.9.12 was expected to die after an IKE_AUTH redirect (upstream bug fixed \
             by 595fa077b6); up={up} status={status:?}: update this test and README.md\n{log}"
        );
        eprintln!(
            "charon {:?} died as known ({status:?}, stderr: {}); last log line: {}",
            charon_version(&log),
            stderr.trim(),
            log.lines().last().unwrap_or_default()
        );
        // It did start the new IKE_SA_INIT towards the second gateway before it died.
        assert!(
            log.contains(&format!("initiating IKE_SA spoke[1] to {ip2}")),
            "{log}"
        );
        return;
    }
    assert!(
        up,
        "not up at the second gateway: {:?}\n{:?}\n{log}",
        d2.events, d1.events
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (_, addr, _) = established(&d2).unwrap();
    assert_eq!(addr, Some(Ipv4Addr::new(10, 1, 1, 100)));
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert_eq!(count(&sas, "state=ESTABLISHED"), 1, "{sas}");
    assert!(sas.contains(&format!("remote-host={ip2}")), "{sas}");
    assert!(sas.contains("local-vips=[10.1.1.100]"), "{sas}");
    assert!(sas.contains("state=INSTALLED"), "{sas}");
}

/// A second host-side address on the test's veth, for our second gateway.
fn second_host_address(ss: &StrongSwan) -> Ipv4Addr {
    let ip2 = Ipv4Addr::from(u32::from(ss.host_ip) + 2);
    run_ok(Command::new("ip").args(["addr", "add", &format!("{ip2}/29"), "dev", &ss.veth]));
    ip2
}

/// Asserts charon (the client) holds one IKE SA, with our second gateway `ip2`, an address
/// from its pool and an installed Child SA, and that it told `ip2` where it came from.
fn assert_charon_moved_to(ss: &StrongSwan, d2: &Driver, ip2: Ipv4Addr) {
    let (_, addr, _) = established(d2).unwrap();
    assert_eq!(addr, Some(Ipv4Addr::new(10, 1, 1, 100)));
    let sas = ss.swanctl(&["--list-sas", "--raw"]);
    assert_eq!(count(&sas, "state=ESTABLISHED"), 1, "{sas}");
    assert!(sas.contains(&format!("remote-host={ip2}")), "{sas}");
    assert!(sas.contains("local-vips=[10.1.1.100]"), "{sas}");
    assert!(sas.contains("state=INSTALLED"), "{sas}");
    let log = ss.log();
    assert!(
        log.contains(&format!("redirected to {ip2}")) && log.contains("N(REDIR_FROM)"),
        "{log}"
    );
}

/// strongSwan as the client, our endpoint redirects it at IKE_SA_INIT (RFC 5685 section
/// 4.2, `EndpointConfig::redirect_to`, REDIRECT with charon's nonce): charon checks the
/// nonce and connects to our second gateway.
#[test]
#[ignore = "needs root + strongswan"]
fn strongswan_client_redirected_at_ike_sa_init() {
    let ss = StrongSwan::start(&SPOKE_CONF.replace("@PSK@", "cisco"));
    let ip2 = second_host_address(&ss);
    let mut hub1 = our_hub(b"cisco");
    hub1.redirect_to = Some(IpAddr::V4(ip2));
    let mut d1 = Driver::new(ss.host_ip, hub1, Arc::new(WiresharkKeyLog::default()), 41);
    let mut d2 = Driver::new(
        ip2,
        our_hub(b"cisco"),
        Arc::new(WiresharkKeyLog::default()),
        42,
    );
    let job = initiate_in_background(&ss);
    let t0 = Instant::now();
    while d1.ep.stats().redirects_sent == 0 && t0.elapsed() < Duration::from_secs(10) {
        d1.run_until(Duration::from_millis(50), |_| false);
    }
    assert_eq!(d1.ep.stats().redirects_sent, 1, "{}", ss.log());
    let up = d2.run_until(Duration::from_secs(12), |e| {
        matches!(e, Event::ChildSaInstalled { .. })
    });
    let out = job.join().unwrap();
    assert!(
        up,
        "not up at the second gateway: {:?}\n{}",
        d2.events,
        ss.log()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(d1.ep.handles().is_empty(), "the first gateway kept state");
    assert_charon_moved_to(&ss, &d2, ip2);
}

/// strongSwan as the client, our responder redirects its established SA by INFORMATIONAL
/// (`Endpoint::redirect`): charon acknowledges, connects to our second gateway and deletes
/// the old SA; the first gateway gets its pool address back. With charon 5.9.8 this, not
/// the IKE_AUTH redirect (see `strongswan_client_redirected_in_ike_auth`), is how our
/// responder moves an authenticated strongSwan client.
#[test]
#[ignore = "needs root + strongswan"]
fn our_gateway_redirect_of_strongswan_client() {
    // Not a full tunnel: kernel-libipsec routes 0.0.0.0/0 (table 220, all but the old
    // gateway) into ipsec0, which would swallow charon's IKE_SA_INIT to the new gateway.
    let ss = StrongSwan::start(
        &SPOKE_CONF
            .replace("@PSK@", "cisco")
            .replace("remote_ts = 0.0.0.0/0", "remote_ts = 10.9.0.0/16"),
    );
    let ip2 = second_host_address(&ss);
    let mut d1 = Driver::new(
        ss.host_ip,
        our_hub(b"cisco"),
        Arc::new(WiresharkKeyLog::default()),
        43,
    );
    let mut d2 = Driver::new(
        ip2,
        our_hub(b"cisco"),
        Arc::new(WiresharkKeyLog::default()),
        44,
    );
    let job = initiate_in_background(&ss);
    assert!(
        d1.run_until(Duration::from_secs(12), |e| matches!(
            e,
            Event::ChildSaInstalled { .. }
        )),
        "{:?}\n{}",
        d1.events,
        ss.log()
    );
    assert!(job.join().unwrap().status.success());
    assert_eq!(d1.ep.pool_in_use(), 1);
    let h = d1.ep.handles()[0];
    d1.ep.redirect(Instant::now(), h, IpAddr::V4(ip2)).unwrap();
    // Our INFORMATIONAL goes out and is answered; then charon sets up with d2 and deletes
    // the old SA at d1. Poll both until d1's SA is gone and d2 has a Child SA.
    let t0 = Instant::now();
    let (mut up, mut gone) = (false, false);
    while !(up && gone) && t0.elapsed() < Duration::from_secs(15) {
        gone |= d1.run_until(
            Duration::from_millis(20),
            |e| matches!(e, Event::IkeSaDeleted { sa, .. } if *sa == h),
        );
        up |= d2.run_until(Duration::from_millis(20), |e| {
            matches!(e, Event::ChildSaInstalled { .. })
        });
    }
    assert!(
        up,
        "not up at the second gateway: {:?}\n{}",
        d2.events,
        ss.log()
    );
    assert!(gone, "old SA not deleted: {:?}\n{}", d1.events, ss.log());
    d1.run_until(Duration::from_millis(300), |_| false);
    assert_eq!(d1.ep.pool_in_use(), 0);
    assert_charon_moved_to(&ss, &d2, ip2);
}

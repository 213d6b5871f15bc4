//! strongSwan as the scenario's two hubs, the spoke in tunnel mode with the FlexVPN client
//! block, and failover.
//!
//! Two private charons (user-space ESP, ESP-in-UDP, tunnel mode), each in a namespace of its own
//! with the scenario's public address (172.25.1.1 with pool 10.1.1.100-175, 172.25.2.1 with pool
//! 10.1.1.176-254) and a LAN host 192.168.0.1 on its `lo`; an underlay namespace routes between
//! them and the spoke's namespace (172.16.1.2). The spoke is composed here from the crates:
//! the `flexclient` block (peer 1 hub 1, peer 2 hub 2) decides where to connect, an
//! `ikev2::Endpoint` on real UDP sockets negotiates (on-demand DPD 10 s, retry 2 s), and the
//! `esp` crate seals and opens tunnel-mode ICMP echoes from the assigned address to the LAN
//! host. Hub 1's charon is killed by PID; DPD declares it dead, the block fails over to hub 2,
//! which assigns an address from its pool, and the echoes resume. The outage is measured from
//! the echo stream, and the block's log shows the scenario's failover lines.
//!
//! (The router node of `node.rs` does GRE over ESP transport mode only, which strongSwan cannot
//! install on this kernel, so `flexvpn-router run` cannot be the spoke here yet.)
//!
//! Run as root: `cargo test -p flexvpn-router --test strongswan_hubs -- --include-ignored --nocapture`.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use esp::udp_encap::{Classified, classify};
use esp::{InboundSa, OutboundSa, SaParams};
use flexclient::{Action, Client, ClientConfig, DownReason, SessionEvent};
use flexvpn_router::ipv4::{self, Ipv4Header};
use flexvpn_router::linux::charon::{Charon, hub_swanctl_conf};
use flexvpn_router::linux::netns::{Netns, in_netns, veth};
use flexvpn_router::linux::unique_name;
use ikev2::wire::Identification;
use ikev2::{
    DpdConfig, Endpoint, EndpointConfig, Event, PeerConfig, Psk, RetransmitConfig, SaHandle,
    SaPolicy,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const HUB1: Ipv4Addr = Ipv4Addr::new(172, 25, 1, 1);
const HUB2: Ipv4Addr = Ipv4Addr::new(172, 25, 2, 1);
const SPOKE: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 2);
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

struct Esp {
    sa: SaHandle,
    tx: OutboundSa,
    rx: InboundSa,
    to: SocketAddr,
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
#[ignore = "needs root + strongswan"]
fn spoke_fails_over_from_strongswan_hub1_to_hub2() {
    let under = Netns::new(&unique_name("fxrhu")).expect("netns (root?)");
    let h1 = Netns::new(&unique_name("fxrh1")).unwrap();
    let h2 = Netns::new(&unique_name("fxrh2")).unwrap();
    let sp = Netns::new(&unique_name("fxrhs")).unwrap();
    under.forwarding().unwrap();
    for (ns, ours, theirs) in [
        (&h1, "172.25.1.254", HUB1),
        (&h2, "172.25.2.254", HUB2),
        (&sp, "172.16.1.1", SPOKE),
    ] {
        veth(
            &under,
            &unique_name("fxu"),
            ip4(ours),
            ns,
            "eth0",
            theirs,
            24,
        )
        .unwrap();
        ns.ip(&["route", "add", "default", "via", ours]).unwrap();
    }
    for ns in [&h1, &h2] {
        ns.ip(&["addr", "add", &format!("{LAN_HOST}/32"), "dev", "lo"])
            .unwrap();
    }
    let tmp = std::env::temp_dir();
    let mut charon1 = Charon::start(
        h1.name(),
        &tmp.join(unique_name("flexvpn-hub1-")),
        &hub_swanctl_conf(&HUB1.to_string(), "10.1.1.100-10.1.1.175", 30),
    )
    .expect("charon hub 1");
    let charon2 = Charon::start(
        h2.name(),
        &tmp.join(unique_name("flexvpn-hub2-")),
        &hub_swanctl_conf(&HUB2.to_string(), "10.1.1.176-10.1.1.254", 30),
    )
    .expect("charon hub 2");

    let (s500, s4500) = in_netns(sp.name(), || {
        (
            UdpSocket::bind((SPOKE, 500)).expect("bind 500"),
            UdpSocket::bind((SPOKE, 4500)).expect("bind 4500"),
        )
    })
    .unwrap();
    s500.set_nonblocking(true).unwrap();
    s4500.set_nonblocking(true).unwrap();

    let start = Instant::now();
    let cfg = ClientConfig::builder("Flex_Client")
        .peer(flexclient::PeerConfig::address(1, HUB1).unwrap())
        .peer(flexclient::PeerConfig::address(2, HUB2).unwrap())
        .client_connect("Tunnel1")
        .tunnel_source("Ethernet0/0")
        .build()
        .unwrap();
    let mut client = Client::new(start, cfg);
    let mut ep = Endpoint::new(EndpointConfig::new(), ChaCha20Rng::seed_from_u64(11), start);
    let mut policy = SaPolicy::new(Identification::ipv4(SPOKE));
    policy.dpd = Some(DpdConfig {
        interval: Duration::from_secs(10),
        retry: Duration::from_secs(2),
        on_demand: true,
    });
    policy.retransmit = RetransmitConfig {
        initial: Duration::from_secs(2),
        max_timeout: Duration::from_secs(2),
        tries: 2,
    };

    let mut log: Vec<(Duration, String)> = Vec::new();
    let mut peers: BTreeMap<SaHandle, Ipv4Addr> = BTreeMap::new();
    let mut up: BTreeMap<SaHandle, bool> = BTreeMap::new();
    let mut esp_sa: Option<Esp> = None;
    let mut assigned: Option<Ipv4Addr> = None;
    let mut seq = 0u16;
    let mut sent_at: BTreeMap<u16, Instant> = BTreeMap::new();
    let mut replies: Vec<(Instant, Ipv4Addr)> = Vec::new();
    let mut last_ping = start;
    let mut killed_at: Option<Instant> = None;
    let mut buf = [0u8; 65536];
    let ident = u16::try_from(std::process::id() & 0xffff).unwrap();
    let deadline = start + Duration::from_secs(60);

    client.handle_timeout(start);
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no failover within 60 s; log: {log:#?}");
        // The client block's actions and log lines.
        while let Some(ev) = client.poll_event() {
            match ev {
                flexclient::Event::Syslog(l) => {
                    println!("{:>8.3} {l}", (now - start).as_secs_f64());
                    log.push((now - start, l));
                }
                flexclient::Event::Action(Action::Connect { peer, .. }) => {
                    let h = ep
                        .connect(
                            now,
                            PeerConfig {
                                remote: SocketAddr::new(IpAddr::V4(peer), 500),
                                local: SocketAddr::new(IpAddr::V4(SPOKE), 500),
                                psk: Psk::new(b"cisco"),
                                remote_id: None,
                                request_address: true,
                                initial_contact: true,
                                policy: policy.clone(),
                            },
                        )
                        .unwrap();
                    peers.insert(h, peer);
                }
                flexclient::Event::Action(Action::Disconnect { peer }) => {
                    for (h, p) in &peers {
                        if *p == peer {
                            let _ = ep.close(now, *h);
                        }
                    }
                }
                flexclient::Event::Action(_) => {}
                _ => {}
            }
        }
        while let Some(t) = ep.poll_transmit() {
            let s = if t.local.port() == 4500 {
                &s4500
            } else {
                &s500
            };
            let _ = s.send_to(&t.payload, t.remote);
        }
        while let Some(e) = ep.poll_event() {
            match e {
                Event::IkeSaEstablished {
                    sa,
                    assigned_address,
                    remote,
                    peer_id,
                    ..
                } => {
                    up.insert(sa, true);
                    assigned = assigned_address;
                    let peer = peers[&sa];
                    client.handle_session(
                        now,
                        peer,
                        SessionEvent::Up {
                            local: SPOKE,
                            peer_port: remote.port(),
                            peer_id: peer_id.to_string(),
                            assigned_v4: assigned_address,
                        },
                    );
                }
                Event::ChildSaInstalled {
                    sa,
                    spi_in,
                    spi_out,
                    keys,
                    udp_encap,
                    ..
                } => {
                    esp_sa = Some(Esp {
                        sa,
                        tx: OutboundSa::new(
                            SaParams::from_keymat(spi_out, keys.encr_out.as_bytes()).unwrap(),
                        )
                        .unwrap(),
                        rx: InboundSa::new(
                            SaParams::from_keymat(spi_in, keys.encr_in.as_bytes()).unwrap(),
                        )
                        .unwrap(),
                        to: udp_encap.expect("ESP-in-UDP").1,
                    });
                }
                Event::PeerDead { sa } | Event::IkeSaDeleted { sa, .. } => {
                    if esp_sa.as_ref().is_some_and(|e| e.sa == sa) {
                        esp_sa = None;
                    }
                    let reason = if matches!(e, Event::PeerDead { .. }) {
                        DownReason::Dpd
                    } else {
                        DownReason::DeleteReceived
                    };
                    if let Some(peer) = peers.get(&sa)
                        && up.remove(&sa).is_some()
                    {
                        client.handle_session(now, *peer, SessionEvent::Down { reason });
                    }
                }
                Event::IkeSaFailed { sa, .. } => {
                    if let Some(peer) = peers.get(&sa) {
                        client.handle_session(now, *peer, SessionEvent::ConnectFailed);
                    }
                }
                _ => {}
            }
        }
        // An echo every 50 ms through the current Child SA.
        if let (Some(src), Some(e)) = (assigned, esp_sa.as_mut())
            && last_ping.elapsed() >= Duration::from_millis(50)
        {
            seq = seq.wrapping_add(1);
            let icmp = ipv4::build_icmp_echo(true, ident, seq, b"failover");
            let inner = ipv4::build(src, LAN_HOST, 1, 64, seq, &icmp).unwrap();
            let mut b = BytesMut::with_capacity(inner.len() + 64);
            b.extend_from_slice(&inner);
            e.tx.seal(&mut b, esp::wire::NEXT_HEADER_IPV4).unwrap();
            let _ = s4500.send_to(&b, e.to);
            let _ = ep.handle_traffic(now, e.sa, true, false);
            last_ping = now;
            sent_at.insert(seq, now);
        }
        for (s, port) in [(&s500, 500), (&s4500, 4500)] {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                let now = Instant::now();
                let data = &buf[..n];
                if port == 4500
                    && let Ok(Classified::Esp(pkt)) = classify(data)
                {
                    let Some(e) = esp_sa.as_mut() else { continue };
                    let mut b = BytesMut::from(pkt);
                    if e.rx.open(&mut b).is_err() {
                        continue;
                    }
                    let _ = ep.handle_traffic(now, e.sa, false, true);
                    let h = Ipv4Header::parse(&b).unwrap();
                    let icmp = &b[h.header_len..h.total_len];
                    assert_eq!(
                        (h.src, icmp[0]),
                        (LAN_HOST, 0),
                        "echo reply from the LAN host"
                    );
                    let s = u16::from_be_bytes([icmp[6], icmp[7]]);
                    assert!(sent_at.contains_key(&s));
                    replies.push((now, h.dst));
                    continue;
                }
                let local = SocketAddr::new(IpAddr::V4(SPOKE), port);
                let _ = ep.handle_datagram(now, local, from, data);
            }
        }
        let now = Instant::now();
        ep.handle_timeout(now);
        client.handle_timeout(now);
        // Two seconds of echoes through hub 1, then hub 1 dies.
        if killed_at.is_none()
            && replies
                .first()
                .is_some_and(|(t, _)| now - *t > Duration::from_secs(2))
        {
            println!("killing hub 1's charon (pid {:?})", charon1.pid());
            charon1.kill();
            killed_at = Some(now);
        }
        if let Some(k) = killed_at
            && replies.iter().filter(|(t, _)| *t > k).count() >= 20
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let k = killed_at.unwrap();
    let before: Vec<_> = replies.iter().filter(|(t, _)| *t <= k).collect();
    let after: Vec<_> = replies.iter().filter(|(t, _)| *t > k).collect();
    let outage = after[0].0 - before.last().unwrap().0;
    let (a1, a2) = (before[0].1, after[0].1);
    println!(
        "replies via hub 1 (to {a1}): {}, via hub 2 (to {a2}): {}; outage {outage:?} \
         (on-demand DPD 10 s, retry 2 s, 2 tries)",
        before.len(),
        after.len()
    );
    assert!(
        (ip4("10.1.1.100")..=ip4("10.1.1.175")).contains(&a1),
        "{a1}"
    );
    assert!(
        (ip4("10.1.1.176")..=ip4("10.1.1.254")).contains(&a2),
        "{a2}"
    );
    let lines: Vec<&str> = log.iter().map(|(_, l)| l.as_str()).collect();
    let find = |s: &str| {
        lines
            .iter()
            .position(|l| l.contains(s))
            .unwrap_or_else(|| panic!("no log line with {s:?}: {lines:#?}"))
    };
    let down = find(
        "FLEXVPN_CONNECTION_DOWN: FlexVPN(Flex_Client) Client_public_addr = 172.16.1.2 Server_public_addr = 172.25.1.1",
    );
    let up2 = find("Server_public_addr = 172.25.2.1 Assigned_Tunnel_v4_addr = 10.1.1.176");
    assert!(down < up2);
    let sas = charon2.swanctl(&["--list-sas", "--raw"]).unwrap();
    assert!(
        sas.contains("state=INSTALLED") && sas.contains("10.1.1.176"),
        "{sas}"
    );
}

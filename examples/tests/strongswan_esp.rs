//! IKEv2 + ESP against strongSwan, end to end: our `ikev2::Endpoint` initiator on real UDP
//! sockets in a namespace of its own negotiates a tunnel-mode Child SA with a private charon
//! (user-space ESP, `kernel-libipsec`) in another namespace, gets 10.1.1.100 from its pool, and
//! pings a LAN host behind strongSwan (192.168.0.1 on charon's `lo`) with ICMP echo requests
//! sealed by the `esp` crate, ESP-in-UDP to port 4500. strongSwan decrypts, its kernel answers,
//! strongSwan encrypts the reply, and the `esp` crate opens it.
//!
//! Run as root: `cargo test -p flexvpn-router --test strongswan_esp -- --include-ignored --nocapture`.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use esp::udp_encap::{Classified, classify};
use esp::{InboundSa, OutboundSa, SaParams};
use flexvpn_router::ipv4::{self, Ipv4Header};
use flexvpn_router::linux::charon::{Charon, hub_swanctl_conf};
use flexvpn_router::linux::netns::{Netns, in_netns, veth};
use flexvpn_router::linux::unique_name;
use ikev2::wire::Identification;
use ikev2::{Endpoint, EndpointConfig, Event, Mode, PeerConfig, Psk, SaPolicy};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const HUB: Ipv4Addr = Ipv4Addr::new(172, 25, 1, 1);
const SPOKE: Ipv4Addr = Ipv4Addr::new(172, 25, 1, 2);
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const PINGS: u16 = 20;

struct Esp {
    tx: OutboundSa,
    rx: InboundSa,
    to: SocketAddr,
}

#[test]
#[ignore = "needs root + strongswan"]
fn esp_in_udp_echo_through_strongswan_tunnel() {
    let hub_ns = Netns::new(&unique_name("fxrssh")).expect("hub netns (root?)");
    let spoke_ns = Netns::new(&unique_name("fxrsss")).expect("spoke netns");
    let (hub_if, spoke_if) = (unique_name("fxh"), unique_name("fxs"));
    veth(&hub_ns, &hub_if, HUB, &spoke_ns, &spoke_if, SPOKE, 24).expect("veth");
    hub_ns
        .ip(&["addr", "add", &format!("{LAN_HOST}/32"), "dev", "lo"])
        .expect("LAN host address");
    let dir = std::env::temp_dir().join(unique_name("flexvpn-ssesp-"));
    let charon = Charon::start(
        hub_ns.name(),
        &dir,
        &hub_swanctl_conf(&HUB.to_string(), "10.1.1.100-10.1.1.175", 30),
    )
    .expect("charon");

    let (s500, s4500) = in_netns(spoke_ns.name(), || {
        let a = UdpSocket::bind((SPOKE, 500)).expect("bind 500");
        let b = UdpSocket::bind((SPOKE, 4500)).expect("bind 4500");
        (a, b)
    })
    .expect("sockets in the spoke namespace");
    s500.set_nonblocking(true).unwrap();
    s4500.set_nonblocking(true).unwrap();

    let start = Instant::now();
    let mut ep = Endpoint::new(EndpointConfig::new(), ChaCha20Rng::seed_from_u64(7), start);
    ep.connect(
        start,
        PeerConfig {
            remote: SocketAddr::new(IpAddr::V4(HUB), 500),
            local: SocketAddr::new(IpAddr::V4(SPOKE), 500),
            psk: Psk::new(b"cisco"),
            remote_id: Some(Identification::fqdn("hub.example")),
            request_address: true,
            initial_contact: true,
            policy: SaPolicy::new(Identification::key_id(b"spoke1")),
        },
    )
    .unwrap();

    let mut assigned = None;
    let mut esp_sa: Option<Esp> = None;
    let mut setup_time = None;
    let mut sent_at: Vec<Option<Instant>> = vec![None; usize::from(PINGS)];
    let mut rtts: Vec<Option<Duration>> = vec![None; usize::from(PINGS)];
    let mut next_ping = 0u16;
    let mut last_ping = start;
    let mut buf = [0u8; 65536];
    let ident = u16::try_from(std::process::id() & 0xffff).unwrap();
    let deadline = start + Duration::from_secs(30);

    while Instant::now() < deadline && rtts.iter().any(Option::is_none) {
        while let Some(t) = ep.poll_transmit() {
            let s = if t.local.port() == 4500 {
                &s4500
            } else {
                &s500
            };
            s.send_to(&t.payload, t.remote).unwrap();
        }
        while let Some(e) = ep.poll_event() {
            match e {
                Event::IkeSaEstablished {
                    assigned_address,
                    nat_detected,
                    ..
                } => {
                    assert!(nat_detected, "kernel-libipsec fakes NAT detection");
                    assigned = assigned_address;
                }
                Event::ChildSaInstalled {
                    spi_in,
                    spi_out,
                    mode,
                    keys,
                    udp_encap,
                    ..
                } => {
                    assert_eq!(mode, Mode::Tunnel);
                    let (_, to) = udp_encap.expect("ESP-in-UDP with kernel-libipsec");
                    assert_eq!(to.port(), 4500);
                    esp_sa = Some(Esp {
                        tx: OutboundSa::new(
                            SaParams::from_keymat(spi_out, keys.encr_out.as_bytes()).unwrap(),
                        )
                        .unwrap(),
                        rx: InboundSa::new(
                            SaParams::from_keymat(spi_in, keys.encr_in.as_bytes()).unwrap(),
                        )
                        .unwrap(),
                        to,
                    });
                    setup_time = Some(start.elapsed());
                }
                Event::IkeSaFailed { reason, .. } | Event::ChildSaFailed { reason, .. } => {
                    panic!(
                        "negotiation failed: {reason}\ncharon log:\n{}",
                        charon.log()
                    )
                }
                _ => {}
            }
        }
        // One echo request every 50 ms once the Child SA is up.
        if let (Some(src), Some(sa)) = (assigned, esp_sa.as_mut())
            && next_ping < PINGS
            && last_ping.elapsed() >= Duration::from_millis(50)
        {
            let icmp = ipv4::build_icmp_echo(true, ident, next_ping, b"flexvpn esp interop");
            let inner = ipv4::build(src, LAN_HOST, 1, 64, next_ping, &icmp).unwrap();
            let mut b = BytesMut::with_capacity(inner.len() + 64);
            b.extend_from_slice(&inner);
            sa.tx.seal(&mut b, esp::wire::NEXT_HEADER_IPV4).unwrap();
            last_ping = Instant::now();
            s4500.send_to(&b, sa.to).unwrap();
            sent_at[usize::from(next_ping)] = Some(last_ping);
            next_ping += 1;
        }
        let mut got = false;
        for (s, port) in [(&s500, 500), (&s4500, 4500)] {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                got = true;
                let now = Instant::now();
                let local = SocketAddr::new(IpAddr::V4(SPOKE), port);
                let data = &buf[..n];
                if port == 4500
                    && let Ok(Classified::Esp(pkt)) = classify(data)
                {
                    let sa = esp_sa.as_mut().expect("ESP before the Child SA");
                    let mut b = BytesMut::from(pkt);
                    let opened = sa.rx.open(&mut b).expect("strongSwan's ESP opens");
                    assert_eq!(opened.next_header, esp::wire::NEXT_HEADER_IPV4);
                    let h = Ipv4Header::parse(&b).expect("inner IPv4");
                    assert_eq!((h.src, Some(h.dst), h.protocol), (LAN_HOST, assigned, 1));
                    let icmp = &b[h.header_len..h.total_len];
                    assert_eq!(icmp[0], 0, "echo reply");
                    assert_eq!(u16::from_be_bytes([icmp[4], icmp[5]]), ident);
                    assert_eq!(&icmp[8..], b"flexvpn esp interop");
                    let seq = usize::from(u16::from_be_bytes([icmp[6], icmp[7]]));
                    let sent = sent_at[seq].expect("reply to a request we sent");
                    rtts[seq] = Some(now - sent);
                    continue;
                }
                let _ = ep.handle_datagram(now, local, from, data);
            }
        }
        ep.handle_timeout(Instant::now());
        if !got {
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    assert_eq!(
        assigned,
        Some(Ipv4Addr::new(10, 1, 1, 100)),
        "address from the pool; charon log:\n{}",
        charon.log()
    );
    let rtts: Vec<Duration> = rtts.into_iter().flatten().collect();
    assert_eq!(
        rtts.len(),
        usize::from(PINGS),
        "every echo answered; charon log:\n{}",
        charon.log()
    );
    let sas = charon.swanctl(&["--list-sas", "--raw"]).unwrap();
    assert!(sas.contains("state=INSTALLED"), "{sas}");
    assert!(sas.contains("10.1.1.100"), "{sas}");
    let sa = esp_sa.unwrap();
    assert_eq!(sa.tx.stats().packets, u64::from(PINGS));
    assert_eq!(sa.rx.stats().packets, u64::from(PINGS));
    let min = rtts.iter().min().unwrap();
    let max = rtts.iter().max().unwrap();
    let avg = rtts.iter().sum::<Duration>() / u32::from(PINGS);
    println!(
        "IKE_SA_INIT + IKE_AUTH + Child SA: {:?}; {PINGS} echoes through strongSwan's \
         user-space ESP: RTT min {min:?} avg {avg:?} max {max:?}",
        setup_time.unwrap()
    );
    drop(charon);
}

//! The node's data plane in the simulator: LAN to LAN through a GRE tunnel over the underlay.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: the simulator's epoch is read once"
)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use flexvpn_router::config::Config;
use flexvpn_router::ipv4::{self, Ipv4Header, proto};
use flexvpn_router::lab::{Host, LabNode};
use flexvpn_router::node::Node;
use flexvpn_router::sim::{LinkParams, Sim, SimNode};

fn router(n: u8, mss: bool) -> String {
    let o = 3 - n;
    format!(
        "hostname R{n}\n\
         interface Ethernet0/0\n ip address 172.25.{n}.1 255.255.255.0\n\
         interface Ethernet0/1\n ip address 192.168.{n}.1 255.255.255.0\n\
         interface Tunnel0\n ip address 10.255.0.{n} 255.255.255.252\n ip mtu 1400\n{} tunnel source Ethernet0/0\n tunnel destination 172.25.{o}.1\n\
         ip route 0.0.0.0 0.0.0.0 172.25.{n}.254\n\
         ip route 192.168.{o}.0 255.255.255.0 10.255.0.{o}\n",
        if mss { " ip tcp adjust-mss 1360\n" } else { "" }
    )
}

/// Two routers joined by a GRE tunnel over the Internet segment, a host on each LAN.
fn build(mss: bool) -> (Sim<LabNode>, [usize; 4]) {
    let epoch = Instant::now();
    let mut sim = Sim::new(epoch, 3);
    let mut ids = [0; 4];
    for n in 1..=2u8 {
        let cfg = Config::parse(&router(n, mss)).unwrap();
        let r = sim.add_node(LabNode::Router(Box::new(Node::new(&cfg, epoch).unwrap())));
        sim.attach(r, 0, 0, Ipv4Addr::new(172, 25, n, 1), LinkParams::default());
        sim.attach(
            r,
            1,
            usize::from(n),
            Ipv4Addr::new(192, 168, n, 1),
            LinkParams::default(),
        );
        let h = sim.add_node(LabNode::Host(Host::new(
            "h",
            Ipv4Addr::new(192, 168, n, 10),
            Ipv4Addr::new(192, 168, n, 1),
            epoch,
        )));
        sim.attach(
            h,
            0,
            usize::from(n),
            Ipv4Addr::new(192, 168, n, 10),
            LinkParams::default(),
        );
        ids[usize::from(n - 1) * 2] = r;
        ids[usize::from(n - 1) * 2 + 1] = h;
    }
    (sim, ids)
}

#[test]
fn lan_to_lan_flow_crosses_the_gre_tunnel() {
    let (mut sim, [r1, h1, r2, h2]) = build(false);
    let now = sim.now();
    if let LabNode::Host(h) = sim.node_mut(h1) {
        h.start_flow(
            1,
            Ipv4Addr::new(192, 168, 2, 10),
            Duration::from_millis(10),
            now,
            now + Duration::from_secs(1),
        );
    }
    sim.kick(h1);
    sim.run_until(Duration::from_secs(2));
    let got = &sim.node(h2).host().unwrap().received;
    assert_eq!(got.len(), 100);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (f, s, _))| *f == 1 && *s == i as u32)
    );
    let t1 = &sim.node(r1).router().unwrap().tunnels()["Tunnel0"];
    let t2 = &sim.node(r2).router().unwrap().tunnels()["Tunnel0"];
    assert_eq!(t1.counters.out_packets, 100);
    assert_eq!(t2.counters.in_packets, 100);
    // Each packet crossed the underlay once, as GRE.
    assert!(sim.stats().delivered >= 300);
}

fn tcp_syn(src: Ipv4Addr, dst: Ipv4Addr, mss: u16, len: usize) -> Vec<u8> {
    let mut t = vec![
        0x30, 0x39, 0x00, 0xb3, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4,
    ];
    t.extend_from_slice(&mss.to_be_bytes());
    t.resize(len, 0);
    ipv4::build(src, dst, proto::TCP, 64, 1, &t).unwrap()
}

#[test]
fn mss_is_clamped_ttl_decremented_and_too_big_packets_answered() {
    let epoch = Instant::now();
    let cfg = Config::parse(&router(1, true)).unwrap();
    let mut node = Node::new(&cfg, epoch).unwrap();
    let src = Ipv4Addr::new(192, 168, 1, 10);
    let dst = Ipv4Addr::new(192, 168, 2, 10);
    node.handle_packet(epoch, 1, tcp_syn(src, dst, 1460, 24));
    let tx = node.poll_transmit().unwrap();
    assert_eq!(tx.next_hop, Ipv4Addr::new(172, 25, 2, 1));
    let outer = Ipv4Header::parse(&tx.packet).unwrap();
    assert_eq!(outer.protocol, proto::GRE);
    let inner = &tx.packet[outer.header_len + 4..];
    let ih = Ipv4Header::parse(inner).unwrap();
    assert_eq!(ih.ttl, 63);
    assert!(ipv4::header_checksum_ok(inner));
    assert_eq!(u16::from_be_bytes([inner[42], inner[43]]), 1360);

    // 1500 bytes with DF over a 1400-byte tunnel: dropped, ICMP type 3 code 4 back to the LAN.
    node.handle_packet(epoch, 1, tcp_syn(src, dst, 1200, 1480));
    let tx = node.poll_transmit().unwrap();
    assert_eq!(tx.iface, 1);
    let h = Ipv4Header::parse(&tx.packet).unwrap();
    assert_eq!((h.protocol, h.dst), (proto::ICMP, src));
    let icmp = &tx.packet[h.header_len..];
    assert_eq!((icmp[0], icmp[1]), (3, 4));
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1400);
    assert_eq!(node.drops().too_big, 1);
    assert!(node.poll_transmit().is_none());
}

#[test]
fn show_commands_render() {
    let (sim, [r1, ..]) = build(false);
    let n = sim.node(r1).router().unwrap();
    let route = n.show_ip_route();
    assert!(
        route.contains("Gateway of last resort is 172.25.1.254 to network 0.0.0.0"),
        "{route}"
    );
    assert!(
        route.contains("S     192.168.2.0/24 [1/0] via 10.255.0.2\n"),
        "{route}"
    );
    assert!(
        route.contains("C     10.255.0.0/30 is directly connected, Tunnel0\n"),
        "{route}"
    );
    let t = n.show_interfaces("Tunnel0").unwrap();
    assert!(t.starts_with("Tunnel0 is up, line protocol is up\n"), "{t}");
    assert!(
        t.contains("Tunnel source 172.25.1.1, destination 172.25.2.1"),
        "{t}"
    );
    assert!(n.show_interfaces("Tunnel9").is_none());
}

#[test]
fn malformed_and_unknown_packets_are_counted_not_fatal() {
    let epoch = Instant::now();
    let cfg = Config::parse(&router(1, false)).unwrap();
    let mut node = Node::new(&cfg, epoch).unwrap();
    node.handle_packet(epoch, 1, vec![0x45, 0, 0]);
    node.handle_packet(epoch, 0, vec![0xff; 40]);
    // GRE from an address no tunnel points at.
    let gre = flexvpn_router::gre::Gre {
        protocol: 0x0800,
        checksum: false,
    }
    .encapsulate(&[0x45; 20]);
    let p = ipv4::build(
        Ipv4Addr::new(9, 9, 9, 9),
        Ipv4Addr::new(172, 25, 1, 1),
        proto::GRE,
        64,
        1,
        &gre,
    )
    .unwrap();
    node.handle_packet(epoch, 0, p);
    let d = node.drops();
    assert_eq!(d.malformed, 2);
    assert_eq!(d.unknown_tunnel, 1);
    // No route: the default route points at the Internet, so a packet to an unknown private
    // address leaves on the underlay instead; a /32 to Null0 would discard. The node still works:
    let (mut sim, [_, h1, _, h2]) = build(false);
    let now = sim.now();
    if let LabNode::Host(h) = sim.node_mut(h1) {
        h.start_flow(
            1,
            Ipv4Addr::new(192, 168, 2, 10),
            Duration::from_millis(10),
            now,
            now + Duration::from_millis(100),
        );
    }
    sim.kick(h1);
    sim.run_until(Duration::from_secs(1));
    assert_eq!(sim.node(h2).host().unwrap().received.len(), 10);
}

#[test]
fn tcp_over_smoltcp_crosses_the_gre_tunnel() {
    let (mut sim, [r1, _, r2, _]) = build(false);
    let a = Ipv4Addr::new(192, 168, 1, 1);
    let b = Ipv4Addr::new(192, 168, 2, 1);
    let LabNode::Router(n2) = sim.node_mut(r2) else {
        unreachable!()
    };
    n2.tcp_add_address(b).unwrap();
    let server = n2.tcp_listen(179).unwrap();
    let LabNode::Router(n1) = sim.node_mut(r1) else {
        unreachable!()
    };
    n1.tcp_add_address(a).unwrap();
    let client = n1.tcp_connect(a, b, 179).unwrap();
    sim.kick(r1);
    sim.run_until(Duration::from_millis(100));
    let state = |sim: &Sim<LabNode>, r, c| sim.node(r).router().unwrap().tcp_state(c);
    assert_eq!(
        state(&sim, r1, client),
        Some(flexvpn_router::tcp::ConnState::Established)
    );
    assert_eq!(
        state(&sim, r2, server),
        Some(flexvpn_router::tcp::ConnState::Established)
    );
    // 100 kB through the tunnel (MSS 1360 under the 1400 MTU), in order, intact.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut off = 0;
    let mut got = Vec::new();
    for _ in 0..200 {
        if let LabNode::Router(n1) = sim.node_mut(r1) {
            off += n1.tcp_send(client, &data[off..]);
        }
        sim.kick(r1);
        sim.run_for(Duration::from_millis(20));
        if let LabNode::Router(n2) = sim.node_mut(r2) {
            got.extend(n2.tcp_recv(server));
        }
        sim.kick(r2);
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    let t = &sim.node(r1).router().unwrap().tunnels()["Tunnel0"];
    assert!(t.counters.out_packets > 70, "{:?}", t.counters);
}

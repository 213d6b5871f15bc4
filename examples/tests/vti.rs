//! A VTI (`tunnel mode ipsec ipv4`): the spoke's Child SA in IPsec tunnel mode against hubs
//! whose virtual-template is a VTI too; LAN to LAN through the tunnel, then failover.
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
use flexvpn_router::sim::{LinkParams, Sim};

const SPOKE: &str = include_str!("../configs/spoke-vti.cfg");

/// A hub whose virtual-template is a VTI; hub `n` hands out 10.1.1.100-175 (1) or
/// 10.1.1.176-254 (2) and has the LAN 192.168.n.0/24.
fn hub(n: u8) -> String {
    let (first, last) = if n == 1 { (100, 175) } else { (176, 254) };
    format!(
        "hostname Hub{n}\n\
         aaa new-model\n\
         aaa authorization network default local\n\
         crypto logging session\n\
         crypto ikev2 authorization policy default\n pool FlexSpokes\n route set interface\n\
         crypto ikev2 keyring Flex_key\n peer Spokes\n  address 0.0.0.0 0.0.0.0\n  pre-shared-key local cisco\n  pre-shared-key remote cisco\n\
         crypto ikev2 profile Flex_IKEv2\n match identity remote address 0.0.0.0\n authentication remote pre-share\n authentication local pre-share\n keyring local Flex_key\n aaa authorization group psk list default default\n virtual-template 1\n\
         crypto ikev2 dpd 30 5 on-demand\n\
         crypto ipsec transform-set IKEv2 esp-gcm\n mode tunnel\n\
         crypto ipsec profile default\n set transform-set IKEv2\n set ikev2-profile Flex_IKEv2\n\
         interface Loopback0\n ip address 10.1.1.1 255.255.255.255\n\
         interface Ethernet0/0\n ip address 172.25.{n}.1 255.255.255.0\n\
         interface Ethernet0/1\n ip address 192.168.{n}.1 255.255.255.0\n\
         interface Virtual-Template1 type tunnel\n ip unnumbered Loopback0\n ip mtu 1400\n ip tcp adjust-mss 1360\n tunnel mode ipsec ipv4\n tunnel protection ipsec profile default\n\
         ip local pool FlexSpokes 10.1.1.{first} 10.1.1.{last}\n\
         router bgp 65001\n bgp log-neighbor-changes\n bgp router-id 192.168.{n}.1\n bgp listen range 10.1.1.0/24 peer-group Spokes\n network 192.168.{n}.0\n neighbor Spokes peer-group\n neighbor Spokes remote-as 65001\n\
         ip route 0.0.0.0 0.0.0.0 172.25.{n}.254\n"
    )
}

struct Topo {
    sim: Sim<LabNode>,
    hubs: [usize; 2],
    hub_hosts: [usize; 2],
    spoke: usize,
    spoke_host: usize,
}

fn add_router(sim: &mut Sim<LabNode>, cfg: &str, seed: u64, lan_seg: usize) -> (usize, usize) {
    let epoch = sim.epoch();
    let cfg = Config::parse(cfg).unwrap();
    let node = Node::with_seed(&cfg, epoch, seed).unwrap();
    let ethers: Vec<_> = node.ethers().map(|(_, a, p)| (a, p)).collect();
    let r = sim.add_node(LabNode::Router(Box::new(node)));
    let wan = LinkParams {
        delay: Duration::from_millis(10),
        ..LinkParams::default()
    };
    sim.attach(r, 0, 0, ethers[0].0, wan);
    let (lan_addr, lan_net) = ethers[1];
    sim.attach(r, 1, lan_seg, lan_addr, LinkParams::default());
    let host_addr = Ipv4Addr::from(u32::from(lan_net.addr()) + 10);
    let h = sim.add_node(LabNode::Host(Host::new("h", host_addr, lan_addr, epoch)));
    sim.attach(h, 0, lan_seg, host_addr, LinkParams::default());
    (r, h)
}

fn build() -> Topo {
    let mut sim = Sim::new(Instant::now(), 7);
    let (h1, hh1) = add_router(&mut sim, &hub(1), 1, 1);
    let (h2, hh2) = add_router(&mut sim, &hub(2), 2, 2);
    let (s, sh) = add_router(&mut sim, SPOKE, 3, 3);
    for id in [h1, h2, s] {
        sim.kick(id);
    }
    Topo {
        sim,
        hubs: [h1, h2],
        hub_hosts: [hh1, hh2],
        spoke: s,
        spoke_host: sh,
    }
}

fn router(t: &Topo, id: usize) -> &Node {
    t.sim.node(id).router().unwrap()
}

/// Ping `dst` from the spoke's LAN host with `seq`, run a second, say whether the reply came.
fn ping(t: &mut Topo, dst: Ipv4Addr, seq: u16) -> bool {
    if let LabNode::Host(h) = t.sim.node_mut(t.spoke_host) {
        h.ping(dst, seq);
    }
    t.sim.kick(t.spoke_host);
    t.sim.run_for(Duration::from_secs(1));
    t.sim
        .node(t.spoke_host)
        .host()
        .unwrap()
        .echo_replies
        .iter()
        .any(|(from, s, _)| *from == dst && *s == seq)
}

#[test]
fn vti_spoke_reaches_the_hub_lan_in_tunnel_mode_and_fails_over() {
    let mut t = build();
    t.sim.run_until(Duration::from_secs(30));
    let spoke = router(&t, t.spoke);
    let tun = &spoke.tunnels()["Tunnel1"];
    assert!(tun.vti && tun.line_up, "{tun:?}");
    // The CP address from hub 1's pool is on the interface.
    assert_eq!(tun.address, Some(Ipv4Addr::new(10, 1, 1, 100)));
    assert!(
        spoke
            .show_interfaces("Tunnel1")
            .unwrap()
            .contains("Internet address is 10.1.1.100/32")
    );
    assert!(
        spoke
            .show_interfaces("Tunnel1")
            .unwrap()
            .contains("IPSEC/IP"),
        "VTI shown as IPsec"
    );
    let ipsec = spoke.show_crypto_ipsec_sa();
    assert!(ipsec.contains("in use settings ={Tunnel, }"), "{ipsec}");
    assert!(!ipsec.contains("Transport"), "{ipsec}");
    // No NHRP on a VTI.
    assert!(spoke.nhrp_routes().is_empty());
    // BGP converged through the VTI: each side has the other's LAN.
    let lan = |n: u8| flexvpn_router::prefix::Prefix::new(Ipv4Addr::new(192, 168, n, 0), 24);
    assert!(
        spoke.bgp_routes().iter().any(|(p, _)| Some(*p) == lan(1)),
        "{}",
        spoke.show_ip_bgp()
    );
    let h1 = router(&t, t.hubs[0]);
    assert!(
        h1.bgp_routes().iter().any(|(p, _)| Some(*p) == lan(11)),
        "{}",
        h1.show_ip_bgp()
    );
    assert!(h1.tunnels().values().any(|x| x.vti && x.line_up));

    // LAN to LAN through the tunnel.
    let hub1_host = t.sim.node(t.hub_hosts[0]).host().unwrap().addr();
    let before = router(&t, t.spoke).tunnels()["Tunnel1"].counters;
    assert!(ping(&mut t, hub1_host, 1));
    let after = router(&t, t.spoke).tunnels()["Tunnel1"].counters;
    assert_eq!(after.out_packets - before.out_packets, 1);
    assert_eq!(after.in_packets - before.in_packets, 1);
    let va = router(&t, t.hubs[0])
        .tunnels()
        .values()
        .find(|x| x.vti)
        .unwrap()
        .counters;
    assert!(va.in_packets >= 1 && va.out_packets >= 1);

    // Hub 1 dies; the pings trigger on-demand DPD; the spoke moves to hub 2.
    t.sim.set_node_up(t.hubs[0], false);
    let hub2_host = t.sim.node(t.hub_hosts[1]).host().unwrap().addr();
    let mut seq = 100;
    let mut up_again = None;
    for _ in 0..150 {
        seq += 1;
        if ping(&mut t, hub2_host, seq) {
            up_again = Some(t.sim.elapsed());
            break;
        }
    }
    assert!(up_again.is_some(), "{:#?}", router(&t, t.spoke).log());
    let spoke = router(&t, t.spoke);
    let tun = &spoke.tunnels()["Tunnel1"];
    let a = tun.address.unwrap();
    assert!((176..=254).contains(&a.octets()[3]), "{a}");
    let log: Vec<_> = spoke.log().iter().map(|l| l.text.as_str()).collect();
    assert!(
        log.iter()
            .any(|l| l.contains("Peer 172.25.2.1:500") && l.contains("is UP")),
        "{log:#?}"
    );
    let h2 = router(&t, t.hubs[1]);
    assert!(h2.sessions().values().any(|s| s.assigned == Some(a)));
}

/// On a VTI the underlay carries ESP-in-UDP on 4500 and never GRE (the node opens a VTI's
/// packets only when the ESP next header is 4, which the counters of the first test show).
#[test]
fn vti_underlay_carries_only_esp_in_udp() {
    let mut t = build();
    let pcap = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    struct W(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    t.sim.set_pcap(Box::new(W(pcap.clone()))).unwrap();
    t.sim.run_until(Duration::from_secs(30));
    let hub1_host = t.sim.node(t.hub_hosts[0]).host().unwrap().addr();
    assert!(ping(&mut t, hub1_host, 1));
    t.sim.finish_pcap().unwrap();
    let data = pcap.borrow();
    // pcap: 24-byte file header, then 16-byte record headers (link type RAW: IPv4 packets).
    let mut off = 24;
    let (mut esp, mut gre) = (0, 0);
    while off + 16 <= data.len() {
        let len = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        let p = &data[off + 16..off + 16 + len];
        off += 16 + len;
        let h = Ipv4Header::parse(p).unwrap();
        if h.protocol == proto::GRE {
            gre += 1;
        }
        if h.protocol == proto::UDP {
            let u = ipv4::parse_udp(&p[h.header_len..]).unwrap();
            if u.dport == 4500 && u.payload.len() > 8 && u.payload[..4] != [0; 4] {
                esp += 1;
            }
        }
    }
    assert_eq!(gre, 0);
    assert!(esp >= 2, "ESP-in-UDP packets: {esp}");
}

/// A router that shuts down deletes its IKE SAs (RFC 7296 1.4.1): the hub tears the session
/// down at once, long before DPD (30 s) could notice.
#[test]
fn shutdown_deletes_the_sa_on_the_hub_at_once() {
    let mut t = build();
    t.sim.run_until(Duration::from_secs(30));
    let h1 = router(&t, t.hubs[0]);
    assert_eq!(
        h1.established_sessions(),
        1,
        "{}",
        h1.show_crypto_ikev2_sa()
    );
    let now = t.sim.now();
    if let LabNode::Router(r) = t.sim.node_mut(t.spoke) {
        r.shutdown(now);
    }
    t.sim.kick(t.spoke);
    t.sim.run_for(Duration::from_secs(1));
    let h1 = router(&t, t.hubs[0]);
    assert_eq!(
        h1.established_sessions(),
        0,
        "{}",
        h1.show_crypto_ikev2_sa()
    );
    let log: Vec<_> = h1.log().iter().map(|l| l.text.as_str()).collect();
    assert!(
        log.iter()
            .any(|l| l.contains("Crypto tunnel v2 is DOWN") && l.contains("172.16.")),
        "{log:#?}"
    );
}

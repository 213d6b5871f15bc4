use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::prefix::Prefix;

const HUB1: &str = include_str!("../../configs/hub1.cfg");
const HUB2: &str = include_str!("../../configs/hub2.cfg");
const SPOKE1: &str = include_str!("../../configs/spoke1.cfg");
const SPOKE2: &str = include_str!("../../configs/spoke2.cfg");
const SPOKE3: &str = include_str!("../../configs/spoke3.cfg");
const ALL: [&str; 5] = [HUB1, HUB2, SPOKE1, SPOKE2, SPOKE3];

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[track_caller]
fn err(text: &str) -> ConfigError {
    match Config::parse(text) {
        Ok(c) => panic!("expected an error, parsed {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_shipped_file_parses() {
    for text in ALL {
        let cfg = Config::parse(text).unwrap();
        assert!(cfg.hostname.is_some());
        assert!(cfg.crypto_logging_session);
        assert_eq!(
            cfg.dpd,
            Some(Dpd {
                interval: 30,
                retry: 5,
                mode: DpdMode::OnDemand
            })
        );
        let p = &cfg.ikev2_profiles["Flex_IKEv2"];
        assert_eq!(p.keyring.as_deref(), Some("Flex_key"));
        assert_eq!(p.auth_local, Some(AuthMethod::PreShare));
        assert_eq!(p.auth_remote, Some(AuthMethod::PreShare));
        assert_eq!(p.virtual_template, Some(1));
        assert_eq!(
            p.match_remote,
            vec![IdentityMatch::Address(
                Prefix::new(Ipv4Addr::UNSPECIFIED, 0).unwrap()
            )]
        );
        assert_eq!(p.aaa_group_psk, Some(("default".into(), "default".into())));
        let peer = &cfg.keyrings["Flex_key"].peers[0];
        assert_eq!(peer.name, "Spokes");
        assert_eq!(peer.psk_local.as_ref().unwrap().expose(), b"cisco");
        assert_eq!(peer.psk_remote.as_ref().unwrap().expose(), b"cisco");
        assert_eq!(
            cfg.transform_sets["IKEv2"],
            TransformSet {
                cipher: EspCipher::Gcm { bits: 128 },
                mode: IpsecMode::Transport
            }
        );
        assert_eq!(
            cfg.ipsec_profiles["default"].ikev2_profile.as_deref(),
            Some("Flex_IKEv2")
        );
        assert_eq!(cfg.bgp.as_ref().unwrap().asn, 65001);
    }
}

#[test]
fn spoke_file_facts() {
    let cfg = Config::parse(SPOKE2).unwrap();
    assert_eq!(cfg.hostname.as_deref(), Some("Spoke2"));
    let c = &cfg.flex_clients["Flex_Client"];
    assert_eq!(c.peers[&1].target, PeerTarget::Address(ip("172.25.1.1")));
    assert_eq!(c.peers[&2].target, PeerTarget::Address(ip("172.25.2.1")));
    assert_eq!(c.connect_interface.as_deref(), Some("Tunnel1"));
    assert_eq!(c.connect, ConnectMode::Auto);
    assert!(!c.peer_reactivate);
    let t = &cfg.interfaces["Tunnel1"];
    assert_eq!(t.kind, InterfaceKind::Tunnel(1));
    assert_eq!(t.description.as_deref(), Some("FlexVPN tunnel"));
    assert_eq!(t.address, InterfaceAddress::Negotiated);
    assert_eq!(t.ip_mtu, Some(1400));
    assert_eq!(t.tcp_adjust_mss, Some(1360));
    assert_eq!(t.delay, Some(2000));
    assert_eq!(t.nhrp.network_id, Some(2));
    assert_eq!(t.nhrp.shortcut, Some(Some(1)));
    assert!(t.nhrp.redirect);
    assert_eq!(
        t.tunnel_source,
        Some(TunnelSource::Interface("Ethernet0/0".into()))
    );
    assert_eq!(t.tunnel_destination, Some(TunnelDestination::Dynamic));
    assert!(t.tunnel_pmtud);
    assert_eq!(t.tunnel_protection.as_deref(), Some("default"));
    assert_eq!(t.tunnel_mode, TunnelMode::Gre);
    assert_eq!(
        cfg.interfaces["Ethernet0/0"].static_address(),
        Some((ip("172.16.2.2"), Prefix::new(ip("172.16.2.0"), 24).unwrap()))
    );
    assert_eq!(
        cfg.static_routes,
        vec![StaticRoute {
            prefix: Prefix::new(Ipv4Addr::UNSPECIFIED, 0).unwrap(),
            target: RouteTarget::NextHop(ip("172.16.2.1")),
            distance: 1
        }]
    );
    let s1 = Config::parse(SPOKE1).unwrap();
    assert!(s1.flex_clients["Flex_Client"].peer_reactivate);
    let s3 = Config::parse(SPOKE3).unwrap();
    assert_eq!(
        s3.flex_clients["Flex_Client"].peers[&1].target,
        PeerTarget::Address(ip("172.25.2.1"))
    );
}

#[test]
fn hub_file_facts() {
    let h1 = Config::parse(HUB1).unwrap();
    let h2 = Config::parse(HUB2).unwrap();
    assert_eq!(
        h1.pools["FlexSpokes"],
        Pool {
            first: ip("10.1.1.100"),
            last: ip("10.1.1.175")
        }
    );
    assert_eq!(
        h2.pools["FlexSpokes"],
        Pool {
            first: ip("10.1.1.176"),
            last: ip("10.1.1.254")
        }
    );
    assert_eq!(
        h1.authorization_policies["default"].pool.as_deref(),
        Some("FlexSpokes")
    );
    let b = h1.bgp.as_ref().unwrap();
    assert!(b.log_neighbor_changes);
    assert_eq!(
        b.listen_ranges,
        vec![(
            Prefix::new(ip("10.1.1.0"), 24).unwrap(),
            "Spokes".to_string()
        )]
    );
    assert_eq!(
        b.networks,
        vec![
            Prefix::new(ip("192.168.0.0"), 24).unwrap(),
            Prefix::new(ip("192.168.1.0"), 24).unwrap()
        ]
    );
    assert_eq!(
        b.aggregates,
        vec![Aggregate {
            prefix: Prefix::new(ip("192.168.0.0"), 16).unwrap(),
            summary_only: true,
            as_set: false
        }]
    );
    assert_eq!(b.peer_groups["Spokes"].remote_as, Some(65001));
    let n = &b.neighbors[&ip("192.168.0.2")].settings;
    assert_eq!(n.remote_as, Some(65001));
    assert!(n.route_reflector_client);
    assert_eq!(n.next_hop_self, Some(true));
    assert_eq!(n.unsuppress_map.as_deref(), Some("ALL"));
    assert_eq!(
        h1.access_lists[&1],
        vec![AclEntry {
            action: Action::Permit,
            source: AclMatch::Any
        }]
    );
    let rm = &h1.route_maps["ALL"][&10];
    assert_eq!(rm.action, Action::Permit);
    assert_eq!(rm.match_acls, vec![1]);
    let vt = &h1.interfaces["Virtual-Template1"];
    assert_eq!(vt.kind, InterfaceKind::VirtualTemplate(1));
    assert_eq!(vt.address, InterfaceAddress::Unnumbered("Loopback0".into()));
    let t0 = &h1.interfaces["Tunnel0"];
    assert_eq!(
        t0.tunnel_destination,
        Some(TunnelDestination::Address(ip("172.25.2.1")))
    );
    assert_eq!(t0.nhrp.maps, vec![(ip("10.255.0.2"), ip("172.25.2.1"))]);
    assert_eq!(t0.tunnel_protection, None);
    assert!(h1.aaa_new_model);
}

/// The spoke configuration exactly as SCENARIO.md prints it refers to a virtual template
/// and an interface it never defines: both are reported.
#[test]
fn scenario_spoke_block_verbatim_reports_missing_interfaces() {
    let verbatim: String = SPOKE2
        .lines()
        .skip_while(|l| !l.starts_with("crypto logging"))
        .take_while(|l| !l.starts_with("!"))
        .chain(
            SPOKE2
                .lines()
                .skip_while(|l| !l.starts_with("interface Tunnel1"))
                .take_while(|l| !l.starts_with("!")),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let e = err(&verbatim);
    assert_eq!(
        e,
        ConfigError::Undefined {
            line: 13,
            kind: "interface",
            name: "Virtual-Template1".into()
        }
    );
    let with_vt = format!("{verbatim}\ninterface Virtual-Template1 type tunnel\n");
    match err(&with_vt) {
        ConfigError::Undefined { kind, name, .. } => {
            assert_eq!((kind, name.as_str()), ("interface", "Ethernet0/0"));
        }
        e => panic!("{e}"),
    }
    let complete =
        format!("{with_vt}interface Ethernet0/0\n ip address 172.16.2.2 255.255.255.0\n");
    Config::parse(&complete).unwrap();
}

#[test]
fn unknown_command_names_line_and_expectation() {
    let e = err("hostname A\n!\nfrobnicate now\n");
    assert_eq!(e.line(), 3);
    assert!(matches!(e, ConfigError::UnknownCommand { ref text, .. } if text == "frobnicate now"));
    assert!(e.to_string().contains("line 3"));
    assert!(e.to_string().contains("expected"));
    let e = err("interface Tunnel1\n frobnicate\n");
    assert!(
        matches!(e, ConfigError::UnknownCommand { line: 2, expected, .. } if expected.contains("tunnel source"))
    );
    let e = err("router bgp 1\n address-family ipv4\n");
    assert!(matches!(e, ConfigError::UnknownCommand { line: 2, .. }));
}

#[test]
fn missing_argument() {
    let e = err("crypto ikev2 dpd 30 5\n");
    assert_eq!(
        e,
        ConfigError::MissingArgument {
            line: 1,
            command: "crypto ikev2 dpd 30 5".into(),
            expected: "on-demand or periodic"
        }
    );
    assert!(matches!(
        err("hostname\n"),
        ConfigError::MissingArgument { line: 1, .. }
    ));
    assert!(matches!(
        err("interface Tunnel1\n ip address 10.0.0.1\n"),
        ConfigError::MissingArgument { line: 2, .. }
    ));
}

#[test]
fn invalid_values() {
    let cases = [
        (
            "interface Tunnel1\n ip address 10.0.0.300 255.0.0.0\n",
            "interface address",
        ),
        (
            "interface Tunnel1\n ip address 10.0.0.1 255.0.255.0\n",
            "interface mask",
        ),
        ("interface Tunnel1\n ip mtu 20\n", "ip mtu"),
        ("crypto ikev2 dpd 30 5 sometimes\n", "dpd mode"),
        ("crypto ipsec transform-set T esp-3des\n", "transform"),
        ("crypto ipsec transform-set T esp-gcm 512\n", "key size"),
        ("interface Bogus0\n", "interface"),
        ("ip local pool P 10.0.0.9 10.0.0.1\n", "last address"),
        ("interface Ethernet0/0\n tunnel mode gre ip\n", "command"),
        ("interface Tunnel1\n tunnel mode mpls\n", "tunnel mode"),
        ("access-list 1 allow any\n", "action"),
        ("router bgp 0\n", "AS number"),
    ];
    for (text, what_expected) in cases {
        match err(text) {
            ConfigError::InvalidValue { what, .. } => assert_eq!(what, what_expected, "{text}"),
            e => panic!("{text}: {e}"),
        }
    }
}

#[test]
fn trailing_words() {
    assert_eq!(
        err("crypto logging session now\n"),
        ConfigError::TrailingWords {
            line: 1,
            extra: "now".into()
        }
    );
    assert!(matches!(
        err("interface Tunnel1\n tunnel path-mtu-discovery please\n"),
        ConfigError::TrailingWords { line: 2, .. }
    ));
}

#[test]
fn sub_command_without_mode() {
    assert!(matches!(
        err(" ip mtu 1400\n"),
        ConfigError::NoMode { line: 1, .. }
    ));
    assert!(matches!(
        err("hostname X\n ip mtu 1400\n"),
        ConfigError::NoMode { line: 2, .. }
    ));
    assert!(matches!(
        err("crypto ikev2 keyring K\n  pre-shared-key cisco\n"),
        ConfigError::NoMode {
            line: 2,
            mode: "keyring peer block",
            ..
        }
    ));
}

#[test]
fn duplicates() {
    assert!(matches!(
        err("crypto ikev2 client flexvpn C\n peer 1 1.1.1.1\n peer 1 2.2.2.2\n"),
        ConfigError::Duplicate {
            line: 3,
            what: "client peer",
            ..
        }
    ));
    assert!(matches!(
        err("router bgp 1\nrouter bgp 2\n"),
        ConfigError::Duplicate { line: 2, .. }
    ));
    assert!(matches!(
        err("ip local pool P 10.0.0.1\nip local pool P 10.0.0.2\n"),
        ConfigError::Duplicate { line: 2, .. }
    ));
}

#[test]
fn undefined_references_of_every_kind() {
    let cases = [
        ("crypto ikev2 profile P\n keyring local K\n", "keyring", "K"),
        (
            "crypto ipsec profile X\n set ikev2-profile P\n",
            "ikev2 profile",
            "P",
        ),
        (
            "crypto ipsec profile X\n set transform-set T\n",
            "transform-set",
            "T",
        ),
        (
            "interface Tunnel1\n tunnel protection ipsec profile default\n",
            "ipsec profile",
            "default",
        ),
        (
            "interface Tunnel1\n tunnel source Ethernet0/0\n",
            "interface",
            "Ethernet0/0",
        ),
        (
            "crypto ikev2 authorization policy A\n pool FlexSpokes\n",
            "ip local pool",
            "FlexSpokes",
        ),
        (
            "router bgp 1\n neighbor 1.1.1.1 unsuppress-map ALL\n",
            "route-map",
            "ALL",
        ),
        (
            "route-map M permit 10\n match ip address 1\n",
            "access-list",
            "1",
        ),
        (
            "crypto ikev2 client flexvpn C\n peer 1 1.1.1.1 track 5\n",
            "track object",
            "5",
        ),
        (
            "router bgp 1\n bgp listen range 10.0.0.0/8 peer-group G\n",
            "peer-group",
            "G",
        ),
        (
            "crypto ikev2 client flexvpn C\n client connect Tunnel9\n",
            "interface",
            "Tunnel9",
        ),
        (
            "ip route 10.0.0.0 255.0.0.0 Tunnel3\n",
            "interface",
            "Tunnel3",
        ),
    ];
    for (text, k, n) in cases {
        assert_eq!(
            err(text),
            ConfigError::Undefined {
                line: 2.min(text.lines().count()),
                kind: k,
                name: n.into()
            },
            "{text}"
        );
    }
    // Defining the object later in the file is fine (IOS allows forward references).
    Config::parse("router bgp 1\n neighbor 1.1.1.1 unsuppress-map ALL\nroute-map ALL permit 10\n")
        .unwrap();
}

#[test]
fn interface_names_and_variants() {
    let cfg = Config::parse(
        "interface tunnel 7\n tunnel mode ipsec ipv4\n tunnel destination 1.2.3.4\n tunnel source 5.6.7.8\n shutdown\n\
         interface GigabitEthernet0/1.10\n no shutdown\n\
         ip route 10.0.0.0 255.0.0.0 Null0 250\n\
         track 3 interface GigabitEthernet0/1.10 line-protocol\n\
         track 4 ip sla 9 reachability\n\
         crypto ikev2 client flexvpn C\n peer 1 fqdn hub.example dynamic track 3\n connect track\n backup group 2\n source 1 GigabitEthernet0/1.10 track 4\n client inside Tunnel7\n",
    )
    .unwrap();
    let t = &cfg.interfaces["Tunnel7"];
    assert_eq!(t.tunnel_mode, TunnelMode::IpsecIpv4);
    assert!(t.shutdown);
    assert_eq!(t.tunnel_source, Some(TunnelSource::Address(ip("5.6.7.8"))));
    assert_eq!(cfg.static_routes[0].target, RouteTarget::Null0);
    assert_eq!(cfg.static_routes[0].distance, 250);
    let c = &cfg.flex_clients["C"];
    assert_eq!(
        c.peers[&1],
        FlexPeer {
            target: PeerTarget::Fqdn {
                name: "hub.example".into(),
                dynamic: true
            },
            track: Some(3)
        }
    );
    assert_eq!(c.connect, ConnectMode::Track);
    assert_eq!(c.backup_group, Some(2));
    assert_eq!(c.sources[&1].track, 4);
    assert_eq!(cfg.tracks[&4], Track::IpSla(9));
}

#[test]
fn psk_debug_is_redacted() {
    let cfg = Config::parse(SPOKE1).unwrap();
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("cisco"), "{dbg}");
    assert!(dbg.contains("redacted"));
}

#[test]
fn every_truncation_of_every_file_is_handled() {
    for text in ALL {
        for (i, _) in text.char_indices() {
            let _ = Config::parse(&text[..i]);
        }
    }
}

#[test]
fn dropping_any_single_line_never_panics_and_mostly_still_parses() {
    // Removing a defining line must turn into an Undefined error, never a panic.
    let lines: Vec<&str> = HUB1.lines().collect();
    let mut undefined = 0;
    for skip in 0..lines.len() {
        let text: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        if let Err(ConfigError::Undefined { .. }) = Config::parse(&text) {
            undefined += 1;
        }
    }
    assert!(
        undefined >= 5,
        "only {undefined} removals broke a reference"
    );
}

proptest! {
    #[test]
    fn mutated_configs_never_panic(
        file in 0usize..5,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = ALL[file].as_bytes().to_vec();
        for (pos, b) in edits {
            let n = bytes.len();
            match b % 4 {
                0 => bytes[pos % n] = b' ',
                1 => { bytes.remove(pos % n); }
                2 => bytes.insert(pos % n, b),
                _ => bytes[pos % n] = b,
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let r = Config::parse(&text);
        if let Err(e) = r {
            prop_assert!(e.line() >= 1 && e.line() <= text.lines().count().max(1));
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ a-zA-Z0-9./!\n-]{0,200}") {
        let _ = Config::parse(&text);
    }
}

#[test]
fn ikev2_cookie_challenge_and_half_open_limit() {
    let c = Config::parse(
        "crypto ikev2 cookie-challenge 50\ncrypto ikev2 limit max-in-negotiation-sa 200\n",
    )
    .unwrap();
    assert_eq!(c.ikev2_cookie_challenge, Some(50));
    assert_eq!(c.ikev2_max_in_negotiation, Some(200));
    assert!(Config::parse("crypto ikev2 cookie-challenge 0\n").is_err());
    assert!(Config::parse("crypto ikev2 limit 5\n").is_err());
}

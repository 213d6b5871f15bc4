//! The scenario of SCENARIO.md replayed: a spoke with peers 172.25.1.1 and 172.25.2.1 and
//! `crypto ikev2 dpd 30 5 on-demand`; hub 1 dies; the failover completes within the bound the
//! DPD timers allow, and the log and `show` output equal the scenario's text.

mod common;

use std::net::Ipv4Addr;

use common::{DpdConfig, HUB1, HUB2, Net};
use flexclient::{ClientConfig, State};

const SHOW_BEFORE: &str = "\
Profile : Flex_Client
Current state:ACTIVE
Peer : 172.25.1.1
Source : Ethernet0/0
ivrf : IP DEFAULT
fvrf : IP DEFAULT
Backup group: Default
Tunnel interface : Tunnel1
Assigned IP address: 10.1.1.111
";

const FAILOVER_LOG: &str = "\
%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is DOWN.  Peer 172.25.1.1:500 Id: 172.25.1.1
%FLEXVPN-6-FLEXVPN_CONNECTION_DOWN: FlexVPN(Flex_Client) Client_public_addr = 172.16.2.2 Server_public_addr = 172.25.1.1
%LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel1, changed state to down
%LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel1, changed state to up
%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is UP.  Peer 172.25.2.1:500 Id: 172.25.2.1
%FLEXVPN-6-FLEXVPN_CONNECTION_UP: FlexVPN(Flex_Client) Client_public_addr = 172.16.2.2 Server_public_addr = 172.25.2.1 Assigned_Tunnel_v4_addr = 10.1.1.177";

/// The client block of SCENARIO.md, verbatim, plus `tunnel source Ethernet0/0` of Tunnel1.
fn spoke_config() -> ClientConfig {
    let block = "
 peer 1 172.25.1.1
 peer 2 172.25.2.1
 client connect Tunnel1
";
    let cfg = flexclient::config::parse_block("Flex_Client", block)
        .unwrap()
        .tunnel_source("Ethernet0/0")
        .build()
        .unwrap();
    let peers: Vec<_> = cfg
        .peers()
        .iter()
        .map(|p| p.peer_address().clone())
        .collect();
    assert_eq!(
        peers,
        [
            flexclient::PeerAddress::Ip(HUB1),
            flexclient::PeerAddress::Ip(HUB2)
        ]
    );
    cfg
}

fn run_scenario() -> (Net, flexclient::ClientId, std::time::Duration) {
    let mut net = Net::new();
    let dpd = DpdConfig::scenario();
    net.dpd = Some(dpd);
    net.hub(HUB1).next_assign = Ipv4Addr::new(10, 1, 1, 111);
    net.hub(HUB2).next_assign = Ipv4Addr::new(10, 1, 1, 177);
    let id = net.set.add(net.now, spoke_config());
    net.run_for(1.0);
    assert_eq!(net.state(id), State::Active);
    assert_eq!(net.set.client(id).unwrap().show(), SHOW_BEFORE);

    // Steady state with traffic and DPD running, then hub 1 dies silently.
    net.run_for(100.25);
    assert_eq!(net.active(id), Some(HUB1));
    let death = net.elapsed();
    net.hub(HUB1).alive = false;
    net.run_for(150.0);
    (net, id, death)
}

#[test]
fn failover_log_matches_the_scenario_byte_for_byte() {
    let (net, id, death) = run_scenario();
    let log = net.log_since(id, death).join("\n");
    assert_eq!(log, FAILOVER_LOG);
    let show = net.set.client(id).unwrap().show();
    let expected = SHOW_BEFORE
        .replace("172.25.1.1", "172.25.2.1")
        .replace("10.1.1.111", "10.1.1.177");
    assert_eq!(show, expected);
    assert_eq!(net.sessions_of(id), [HUB2]);
    assert_eq!(net.max_sessions, 1, "failover design: never two sessions");
}

#[test]
fn failover_completes_within_the_dpd_bound() {
    let (net, id, death) = run_scenario();
    let dpd = DpdConfig::scenario();
    let time_of = |prefix: &str| {
        net.log
            .iter()
            .find(|(t, c, l)| *c == id && *t >= death && l.starts_with(prefix))
            .map(|(t, _, _)| *t - death)
            .expect(prefix)
    };
    let detected = time_of("%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is DOWN.");
    let completed = time_of("%FLEXVPN-6-FLEXVPN_CONNECTION_UP");
    // dpd 30 5 on-demand: detection between 59 s and 61 s after the death (see
    // DpdConfig::detection_bound); the failover adds only the IKE exchange with hub 2.
    assert!(
        detected >= dpd.detection_floor() && detected <= dpd.detection_bound(),
        "detected after {detected:?}"
    );
    assert!(
        completed <= dpd.detection_bound() + net.ike_delay,
        "failover took {completed:?}"
    );
    assert_eq!(
        completed - detected,
        net.ike_delay,
        "connect to hub 2 at once"
    );
}

#[test]
fn replay_is_deterministic() {
    let (a, id_a, _) = run_scenario();
    let (b, id_b, _) = run_scenario();
    assert_eq!(id_a, id_b);
    assert_eq!(a.log, b.log);
    assert_eq!(a.actions, b.actions);
}

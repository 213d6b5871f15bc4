//! The configuration payload beyond the address (netmask, DNS, subnets, an IPv6 address
//! from a pool) and distinct local/remote pre-shared keys.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use ikev2::wire::Identification;
use ikev2::{AddressPool6, CpConfig, Error, Event, InternalConfig, Psk};

fn internal(ev: &[(std::time::Duration, Event)]) -> Vec<InternalConfig> {
    ev.iter()
        .filter_map(|(_, e)| match e {
            Event::IkeSaEstablished { internal, .. } => Some(internal.clone()),
            _ => None,
        })
        .collect()
}

fn hub_cp() -> CpConfig {
    CpConfig {
        netmask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        dns: vec![Ipv4Addr::new(10, 1, 1, 53), Ipv4Addr::new(10, 1, 2, 53)],
        subnets: vec![
            (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 0, 0, 0)),
            (Ipv4Addr::new(172, 16, 0, 0), Ipv4Addr::new(255, 240, 0, 0)),
        ],
        pool6: Some(
            AddressPool6::new(
                "2001:db8::100".parse().unwrap(),
                "2001:db8::1ff".parse().unwrap(),
                64,
            )
            .unwrap(),
        ),
    }
}

#[test]
fn cp_reply_carries_netmask_dns_subnets_and_an_ipv6_address() {
    let mut hub = hub_policy();
    hub.cp = hub_cp();
    let mut p = Pair::new(100, responder_config(hub));
    let mut spoke = spoke_policy();
    spoke.cp_request.ipv6 = true;
    let h1 = p.a.connect(p.now, p.peer_config(spoke.clone())).unwrap();
    p.settle();
    let got = internal(&p.events_a);
    assert_eq!(got.len(), 1, "{:?}", p.events_a);
    let want = &got[0];
    assert_eq!(want.address, Some(Ipv4Addr::new(10, 1, 1, 100)));
    assert_eq!(want.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(
        want.dns,
        vec![Ipv4Addr::new(10, 1, 1, 53), Ipv4Addr::new(10, 1, 2, 53)]
    );
    assert_eq!(want.subnets, hub_cp().subnets);
    assert_eq!(
        want.address6,
        Some(("2001:db8::100".parse::<Ipv6Addr>().unwrap(), 64))
    );
    // The responder reports what it sent, the same thing.
    assert_eq!(&internal(&p.events_b)[0], want);
    // A second spoke gets the next addresses of both pools; the first one's come back when
    // it goes and are handed out again.
    spoke.local_id = Identification::key_id(b"spoke2");
    let mut c2 = p.peer_config(spoke.clone());
    c2.initial_contact = false;
    p.a.connect(p.now, c2).unwrap();
    p.settle();
    let second = &internal(&p.events_a)[1];
    assert_eq!(second.address, Some(Ipv4Addr::new(10, 1, 1, 101)));
    assert_eq!(
        second.address6.map(|a| a.0),
        Some("2001:db8::101".parse().unwrap())
    );
    p.a.close(p.now, h1).unwrap();
    p.settle();
    spoke.local_id = Identification::key_id(b"spoke3");
    let mut c3 = p.peer_config(spoke);
    c3.initial_contact = false;
    p.a.connect(p.now, c3).unwrap();
    p.settle();
    let third = &internal(&p.events_a)[2];
    assert_eq!(third.address, Some(Ipv4Addr::new(10, 1, 1, 100)));
    assert_eq!(
        third.address6.map(|a| a.0),
        Some("2001:db8::100".parse().unwrap())
    );
}

#[test]
fn only_what_is_asked_for_is_given() {
    let mut hub = hub_policy();
    hub.cp = hub_cp();
    let mut p = Pair::new(101, responder_config(hub));
    let mut spoke = spoke_policy();
    spoke.cp_request.dns = false;
    spoke.cp_request.subnet = false;
    p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    let got = &internal(&p.events_a)[0];
    assert_eq!(got.address, Some(Ipv4Addr::new(10, 1, 1, 100)));
    assert_eq!(got.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert!(got.dns.is_empty() && got.subnets.is_empty() && got.address6.is_none());
}

#[test]
fn a_hub_without_cp_settings_gives_the_address_only() {
    let mut p = Pair::new(102, responder_config(hub_policy()));
    let mut spoke = spoke_policy();
    spoke.cp_request.ipv6 = true;
    p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    let got = &internal(&p.events_a)[0];
    assert_eq!(got.address, Some(Ipv4Addr::new(10, 1, 1, 100)));
    assert!(got.netmask.is_none() && got.dns.is_empty() && got.address6.is_none());
}

fn with_keys(seed: u64, spoke: Psk, hub: Psk) -> Pair {
    let mut cfg = responder_config(hub_policy());
    if let Some(r) = cfg.responder.as_mut() {
        r.psks = vec![(None, hub)];
    }
    let mut p = Pair::new(seed, cfg);
    let mut c = p.peer_config(spoke_policy());
    c.psk = spoke;
    p.a.connect(p.now, c).unwrap();
    p.settle();
    p
}

#[test]
fn distinct_local_and_remote_keys() {
    // Each side signs with its local key and checks with its remote key.
    let p = with_keys(
        103,
        Psk::pair(b"spoke-key", b"hub-key"),
        Psk::pair(b"hub-key", b"spoke-key"),
    );
    assert!(p.a_has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    assert!(p.b_has(|e| matches!(e, Event::IkeSaEstablished { .. })));
    // The hub checks the spoke with the wrong key: the hub refuses.
    let p = with_keys(
        104,
        Psk::pair(b"spoke-key", b"hub-key"),
        Psk::pair(b"hub-key", b"hub-key"),
    );
    assert!(p.b_has(|e| matches!(
        e,
        Event::IkeSaFailed {
            reason: Error::AuthenticationFailed,
            ..
        }
    )));
    assert!(!p.a_has(|e| matches!(e, Event::IkeSaEstablished { .. })));
    // The hub accepts the spoke but signs with a key the spoke does not expect: the spoke
    // refuses the hub.
    let p = with_keys(
        105,
        Psk::pair(b"spoke-key", b"hub-key"),
        Psk::pair(b"other", b"spoke-key"),
    );
    assert!(p.b_has(|e| matches!(e, Event::IkeSaEstablished { .. })));
    assert!(p.a_has(|e| matches!(
        e,
        Event::IkeSaFailed {
            reason: Error::AuthenticationFailed,
            ..
        }
    )));
    // `Psk::new` sets both directions.
    let k = Psk::new(b"cisco");
    assert_eq!((k.local(), k.remote()), (&b"cisco"[..], &b"cisco"[..]));
    assert!(!format!("{k:?}").contains("cisco"));
}

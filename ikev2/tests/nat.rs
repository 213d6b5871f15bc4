//! NAT traversal: detection, float to port 4500, keepalives, UDP encapsulation reported.

mod common;

use std::time::Duration;

use common::*;
use ikev2::Event;

#[test]
fn initiator_behind_nat_floats_and_sends_keepalives() {
    let mut p = Pair::new(40, responder_config(hub_policy()));
    p.nat = true;
    let h = p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(
        e,
        Event::IkeSaEstablished {
            nat_detected: true,
            ..
        }
    )));
    assert!(p.b_has(
        |e| matches!(e, Event::IkeSaEstablished { nat_detected: true, remote, .. }
        if remote.port() == 44500)
    ));
    let Some((
        _,
        Event::ChildSaInstalled {
            udp_encap: Some((l, r)),
            ..
        },
    )) = p
        .events_a
        .iter()
        .find(|(_, e)| matches!(e, Event::ChildSaInstalled { .. }))
    else {
        panic!("{:?}", p.events_a)
    };
    assert_eq!((l.port(), r.port()), (4500, 4500));
    let info = p.a.sa_info(h).unwrap();
    assert_eq!(info.local.port(), 4500);
    // IKE_AUTH and later go with the non-ESP marker.
    assert_eq!(&p.transcript[2].2[..4], &[0, 0, 0, 0]);
    // Keepalives every 20 s from the side behind the NAT.
    let t0 = p.now - p.epoch;
    p.run_for(Duration::from_secs(61));
    let ka = p
        .transcript
        .iter()
        .filter(|(t, a, b)| *a && *t > t0 && b == &vec![0xff])
        .count();
    assert_eq!(ka, 3);
    assert_eq!(p.b.stats().not_ike, 3);
    // The responder uses the NAT mapping for its requests.
    let hb = p.b.handles()[0];
    p.b.dpd(p.now, hb).unwrap();
    p.settle();
    assert!(!p.b_has(|e| matches!(e, Event::PeerDead { .. })));
}

#[test]
fn no_nat_stays_on_500() {
    let mut p = Pair::new(41, responder_config(hub_policy()));
    let h = p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.settle();
    assert_eq!(p.a.sa_info(h).unwrap().local.port(), 500);
    assert!(p.a_has(|e| matches!(
        e,
        Event::IkeSaEstablished {
            nat_detected: false,
            ..
        }
    )));
}

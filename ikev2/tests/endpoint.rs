//! The Endpoint: cookies under load, half-open limit, cookie rotation, INITIAL_CONTACT.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use ikev2::wire::{ExchangeType, Message, NotifyType, Payload};
use ikev2::{DeleteReason, Endpoint, EndpointConfig, Event, PeerConfig, Psk};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn initiator(seed: u64) -> Endpoint<ChaCha20Rng> {
    Endpoint::new(
        EndpointConfig::new(),
        ChaCha20Rng::seed_from_u64(seed),
        epoch(),
    )
}

fn peer_from(ip: Ipv4Addr) -> PeerConfig {
    PeerConfig {
        remote: sock(B_ADDR, 500),
        local: SocketAddr::new(IpAddr::V4(ip), 500),
        psk: Psk::new(b"cisco"),
        remote_id: None,
        request_address: true,
        initial_contact: false,
        policy: spoke_policy(),
    }
}

#[test]
fn cookie_challenge_above_threshold_and_half_open_limit() {
    let mut cfg = responder_config(hub_policy());
    cfg.cookie_threshold = 2;
    cfg.half_open_limit = 3;
    let now = epoch();
    let mut hub = Endpoint::new(cfg, ChaCha20Rng::seed_from_u64(1), now);
    // Three initiators that never finish (their IKE_AUTH is not delivered).
    let mut answers = Vec::new();
    for i in 0..3u8 {
        let mut ini = initiator(10 + u64::from(i));
        let ip = Ipv4Addr::new(192, 0, 2, 10 + i);
        ini.connect(now, peer_from(ip)).unwrap();
        let t = ini.poll_transmit().unwrap();
        let r = hub.handle_datagram(now, t.remote, t.local, &t.payload);
        let out = hub.poll_transmit().unwrap();
        let m = Message::parse(&out.payload).unwrap();
        answers.push((r, m));
        if i == 2 {
            // The third got a cookie; it retries with it and is admitted.
            let _ = ini.handle_datagram(now, out.remote, out.local, &out.payload);
            let t2 = ini.poll_transmit().unwrap();
            let m2 = Message::parse(&t2.payload).unwrap();
            assert!(matches!(&m2.payloads[0], Payload::Notify(n) if n.ty == NotifyType::COOKIE));
            hub.handle_datagram(now, t2.remote, t2.local, &t2.payload)
                .unwrap();
            let resp = Message::parse(&hub.poll_transmit().unwrap().payload).unwrap();
            assert!(matches!(resp.payloads[0], Payload::Sa(_)));
        }
    }
    assert!(answers[0].0.is_ok() && answers[1].0.is_ok());
    assert!(
        matches!(&answers[2].1.payloads[..], [Payload::Notify(n)] if n.ty == NotifyType::COOKIE)
    );
    assert_eq!(hub.stats().cookies_sent, 1);
    assert_eq!(hub.half_open(), 3);
    // The limit: a fourth is refused without an answer.
    let mut ini = initiator(20);
    ini.connect(now, peer_from(Ipv4Addr::new(192, 0, 2, 50)))
        .unwrap();
    let t = ini.poll_transmit().unwrap();
    assert!(
        hub.handle_datagram(now, t.remote, t.local, &t.payload)
            .is_err()
    );
    assert!(hub.poll_transmit().is_none());
    assert_eq!(hub.stats().half_open_refused, 1);
    // Half-open SAs expire.
    let later = now + Duration::from_secs(31);
    hub.handle_timeout(later);
    assert_eq!(hub.half_open(), 0);
    assert!(hub.handles().is_empty());
}

#[test]
fn cookie_from_previous_secret_still_accepted_after_rotation() {
    let mut cfg = responder_config(hub_policy());
    cfg.cookie_threshold = 0;
    cfg.cookie_rotation = Duration::from_secs(60);
    let now = epoch();
    let mut hub = Endpoint::new(cfg, ChaCha20Rng::seed_from_u64(2), now);
    let mut ini = initiator(3);
    ini.connect(now, peer_from(Ipv4Addr::new(192, 0, 2, 1)))
        .unwrap();
    let t = ini.poll_transmit().unwrap();
    assert!(
        hub.handle_datagram(now, t.remote, t.local, &t.payload)
            .is_err()
    );
    let c = hub.poll_transmit().unwrap();
    ini.handle_datagram(now, c.remote, c.local, &c.payload)
        .unwrap();
    let t2 = ini.poll_transmit().unwrap();
    // The secret rotates before the retry arrives: the old cookie is still good.
    let later = now + Duration::from_secs(61);
    hub.handle_datagram(later, t2.remote, t2.local, &t2.payload)
        .unwrap();
    assert_eq!(hub.half_open(), 1);
}

#[test]
fn retransmitted_init_request_is_replayed_not_duplicated() {
    let now = epoch();
    let mut hub = Endpoint::new(
        responder_config(hub_policy()),
        ChaCha20Rng::seed_from_u64(4),
        now,
    );
    let mut ini = initiator(5);
    ini.connect(now, peer_from(Ipv4Addr::new(192, 0, 2, 1)))
        .unwrap();
    let t = ini.poll_transmit().unwrap();
    hub.handle_datagram(now, t.remote, t.local, &t.payload)
        .unwrap();
    let r1 = hub.poll_transmit().unwrap();
    hub.handle_datagram(now, t.remote, t.local, &t.payload)
        .unwrap();
    let r2 = hub.poll_transmit().unwrap();
    assert_eq!(r1, r2);
    assert_eq!(hub.half_open(), 1);
    assert_eq!(hub.stats().init_replays, 1);
    let m = Message::parse(&r1.payload).unwrap();
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
}

#[test]
fn initial_contact_removes_old_sas_of_same_identity() {
    let mut p = Pair::new(50, responder_config(hub_policy()));
    let mut c = p.peer_config(spoke_policy());
    c.initial_contact = false;
    p.a.connect(p.now, c.clone()).unwrap();
    p.settle();
    assert_eq!(p.b.handles().len(), 1);
    let old = p.b.handles()[0];
    c.initial_contact = true;
    p.a.connect(p.now, c).unwrap();
    p.settle();
    assert_eq!(p.b.handles().len(), 1);
    assert_ne!(p.b.handles()[0], old);
    assert!(p.b_has(|e| matches!(e, Event::IkeSaDeleted { sa, reason: DeleteReason::InitialContact } if *sa == old)));
    assert_eq!(p.b.pool_in_use(), 1);
}

#[test]
fn redirect_at_ike_sa_init_to_another_gateway() {
    let now = epoch();
    let hub2_ip = Ipv4Addr::new(198, 51, 100, 2);
    let mut cfg1 = responder_config(hub_policy());
    cfg1.redirect_to = Some(IpAddr::V4(hub2_ip));
    let mut hub1 = Endpoint::new(cfg1, ChaCha20Rng::seed_from_u64(60), now);
    let mut hub2 = Endpoint::new(
        responder_config(hub_policy()),
        ChaCha20Rng::seed_from_u64(61),
        now,
    );
    let mut spoke = initiator(62);
    let h = spoke
        .connect(now, peer_from(Ipv4Addr::new(192, 0, 2, 1)))
        .unwrap();
    for _ in 0..10 {
        while let Some(t) = spoke.poll_transmit() {
            let hub = if t.remote.ip() == IpAddr::V4(hub2_ip) {
                &mut hub2
            } else {
                &mut hub1
            };
            let _ = hub.handle_datagram(now, t.remote, t.local, &t.payload);
        }
        for hub in [&mut hub1, &mut hub2] {
            while let Some(t) = hub.poll_transmit() {
                let _ = spoke.handle_datagram(now, t.remote, t.local, &t.payload);
            }
        }
    }
    let mut evs = Vec::new();
    while let Some(e) = spoke.poll_event() {
        evs.push(e);
    }
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Redirected { to, .. } if *to == IpAddr::V4(hub2_ip))),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::ChildSaInstalled { .. })),
        "{evs:?}"
    );
    assert_eq!(
        spoke.sa_info(h).unwrap().remote,
        SocketAddr::new(IpAddr::V4(hub2_ip), 500)
    );
    assert_eq!(hub1.stats().redirects_sent, 1);
    assert!(hub1.handles().is_empty());
    assert_eq!(hub2.handles().len(), 1);
}

#[test]
fn init_request_with_unknown_critical_payload_is_answered() {
    let now = epoch();
    let mut hub = Endpoint::new(
        responder_config(hub_policy()),
        ChaCha20Rng::seed_from_u64(70),
        now,
    );
    let mut ini = initiator(71);
    ini.connect(now, peer_from(Ipv4Addr::new(192, 0, 2, 1)))
        .unwrap();
    let t = ini.poll_transmit().unwrap();
    let mut m = Message::parse(&t.payload).unwrap();
    m.payloads.push(Payload::Unknown {
        ty: ikev2::wire::PayloadType(201),
        critical: true,
        body: vec![1],
    });
    let bytes = m.emit().unwrap();
    assert!(hub.handle_datagram(now, t.remote, t.local, &bytes).is_err());
    let ans = Message::parse(&hub.poll_transmit().unwrap().payload).unwrap();
    assert!(matches!(&ans.payloads[..], [Payload::Notify(n)]
        if n.ty == NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD && n.data == [201]));
    assert!(hub.handles().is_empty());
    assert_eq!(hub.stats().malformed, 1);
}

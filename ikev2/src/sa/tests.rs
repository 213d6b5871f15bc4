//! State tests that need the SA's internals: requests forged with the real keys of an
//! established SA, checked at the Repr level.

use core::net::{Ipv4Addr, SocketAddr};
use std::collections::BTreeMap;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use super::*;
use crate::config::{AddressPool, EndpointConfig, PeerConfig, Psk, ResponderConfig, SaPolicy};
use crate::endpoint::Endpoint;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

const HUB: SocketAddr = SocketAddr::new(core::net::IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500);
const SPOKE: SocketAddr = SocketAddr::new(core::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);

struct Two {
    hub: Endpoint<ChaCha20Rng>,
    spoke: Endpoint<ChaCha20Rng>,
    h: SaHandle,
    rng: ChaCha20Rng,
    now: Instant,
}

fn established() -> Two {
    established_w(1)
}

/// An established pair whose hub accepts `window` requests at once.
fn established_w(window: u32) -> Two {
    let now = epoch();
    let mut hub_policy = SaPolicy::new(Identification::fqdn("hub"));
    hub_policy.window_size = window;
    let mut c = EndpointConfig::new();
    c.responder = Some(ResponderConfig {
        psks: vec![(None, Psk::new(b"cisco"))],
        pool: AddressPool::new(Ipv4Addr::new(10, 1, 1, 100), Ipv4Addr::new(10, 1, 1, 101)).ok(),
        policy: hub_policy,
    });
    let mut hub = Endpoint::new(c, ChaCha20Rng::seed_from_u64(1), now);
    let mut spoke = Endpoint::new(EndpointConfig::new(), ChaCha20Rng::seed_from_u64(2), now);
    let h = spoke
        .connect(
            now,
            PeerConfig {
                remote: HUB,
                local: SPOKE,
                psk: Psk::new(b"cisco"),
                remote_id: None,
                request_address: true,
                initial_contact: false,
                policy: SaPolicy::new(Identification::key_id(b"s")),
            },
        )
        .unwrap();
    for _ in 0..3 {
        while let Some(t) = spoke.poll_transmit() {
            let _ = hub.handle_datagram(now, t.remote, t.local, &t.payload);
        }
        while let Some(t) = hub.poll_transmit() {
            let _ = spoke.handle_datagram(now, t.remote, t.local, &t.payload);
        }
    }
    while spoke.poll_event().is_some() {}
    while hub.poll_event().is_some() {}
    assert_eq!(spoke.sa_info(h).unwrap().state, "Established");
    Two {
        hub,
        spoke,
        h,
        rng: ChaCha20Rng::seed_from_u64(3),
        now,
    }
}

impl Two {
    /// Sends `inner` (encoded by hand) as a request and returns the decrypted answer.
    fn ask(&mut self, exchange: ExchangeType, first: PayloadType, plain: &[u8]) -> Vec<Payload> {
        let sa = self.spoke.sa_mut(self.h).unwrap();
        let req = sa
            .forge_request(&mut self.rng, exchange, first, plain)
            .unwrap();
        let _ = self.hub.handle_datagram(self.now, HUB, SPOKE, &req);
        let t = self.hub.poll_transmit().expect("an answer");
        let msg = Message::parse(&t.payload).unwrap();
        assert!(msg.header.is_response());
        let SaState::Established(e) = &self.spoke.sa_mut(self.h).unwrap().state else {
            panic!()
        };
        e.core.open(&t.payload, &msg).unwrap()
    }
}

#[test]
fn unknown_critical_payload_in_sk_is_answered() {
    let mut t = established();
    // An unknown payload type 200 with the critical bit, then nothing.
    let inner = [0u8, 0x80, 0, 6, 0xaa, 0xbb];
    let ans = t.ask(ExchangeType::INFORMATIONAL, PayloadType(200), &inner);
    assert_eq!(
        ans,
        vec![Payload::Notify(Notify::new(
            NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            vec![200]
        ))]
    );
    // The same unknown payload without the critical bit is skipped: an empty answer.
    let inner = [0u8, 0x00, 0, 6, 0xaa, 0xbb];
    assert!(
        t.ask(ExchangeType::INFORMATIONAL, PayloadType(200), &inner)
            .is_empty()
    );
    // The SA is still there and answers a DPD.
    assert!(
        t.ask(ExchangeType::INFORMATIONAL, PayloadType::NONE, &[])
            .is_empty()
    );
    assert_eq!(t.hub.handles().len(), 1);
}

#[test]
fn create_child_sa_with_unknown_rekey_spi_is_refused() {
    let mut t = established();
    let inner = vec![
        Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            spi: vec![1, 2, 3, 4],
            ty: NotifyType::REKEY_SA,
            data: vec![],
        }),
        Payload::Sa(proposal::esp_sa_payload(
            &[EspSuite::AES256GCM16],
            0x1234_5678,
            false,
        )),
        Payload::Nonce(vec![7; 32]),
        Payload::TsI(vec![TrafficSelector::any_v4()]),
        Payload::TsR(vec![TrafficSelector::any_v4()]),
    ];
    let (first, plain) = emit_chain(&inner).unwrap();
    let ans = t.ask(ExchangeType::CREATE_CHILD_SA, first, &plain);
    assert!(matches!(&ans[..], [Payload::Notify(n)] if n.ty == NotifyType::CHILD_SA_NOT_FOUND));
    // Without REKEY_SA it is a new Child SA, narrowed to the assigned address.
    let (first, plain) = emit_chain(&inner[1..]).unwrap();
    let ans = t.ask(ExchangeType::CREATE_CHILD_SA, first, &plain);
    let p = parts(&ans, false);
    assert_eq!(
        p.tsi.unwrap(),
        &[TrafficSelector::host_v4(Ipv4Addr::new(10, 1, 1, 100))]
    );
    assert_eq!(t.hub.sa_info(t.hub.handles()[0]).unwrap().children.len(), 2);
}

#[test]
fn child_sa_count_is_bounded() {
    let mut t = established();
    let mut refused = false;
    for i in 0..20u32 {
        let inner = vec![
            Payload::Sa(proposal::esp_sa_payload(
                &[EspSuite::AES256GCM16],
                0x1000 + i,
                false,
            )),
            Payload::Nonce(vec![7; 32]),
            Payload::TsI(vec![TrafficSelector::any_v4()]),
            Payload::TsR(vec![TrafficSelector::any_v4()]),
        ];
        let (first, plain) = emit_chain(&inner).unwrap();
        let ans = t.ask(ExchangeType::CREATE_CHILD_SA, first, &plain);
        if matches!(&ans[..], [Payload::Notify(n)] if n.ty == NotifyType::NO_ADDITIONAL_SAS) {
            refused = true;
        }
    }
    assert!(refused);
    let h = t.hub.handles()[0];
    assert_eq!(t.hub.sa_info(h).unwrap().children.len(), MAX_CHILDREN);
}

/// Found by `ikev2_established_sa`: a request whose message ID is just below the window
/// (0xffffffff while the spoke has seen no request yet) was taken as a retransmission with no
/// stored response and returned `Ok` uncounted. It is out of window.
#[test]
fn request_below_the_window_without_a_stored_response_is_out_of_window() {
    let mut t = established();
    let hh = t.hub.handles()[0];
    let sa = t.hub.sa_mut(hh).unwrap();
    let mut req = sa
        .forge_request(
            &mut t.rng,
            ExchangeType::INFORMATIONAL,
            PayloadType::NONE,
            &[],
        )
        .unwrap();
    req[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
    let before = t.spoke.stats().out_of_window;
    assert_eq!(
        t.spoke.handle_datagram(t.now, SPOKE, HUB, &req),
        Err(InputError::OutOfWindow)
    );
    assert_eq!(t.spoke.stats().out_of_window, before + 1);
    assert!(t.spoke.poll_transmit().is_none());
    assert_eq!(t.spoke.sa_info(t.h).unwrap().state, "Established");
}

/// Found by `ikev2_established_sa`: an IKE_SA_INIT request carrying the SPIs of an
/// established SA was dropped with `Ok(())` and not counted. It is counted and refused,
/// whether its ICV is good or not, and changes nothing.
#[test]
fn ike_sa_init_with_the_spis_of_an_established_sa_is_counted_and_dropped() {
    for corrupt in [false, true] {
        let mut t = established();
        let sa = t.spoke.sa_mut(t.h).unwrap();
        let mut req = sa
            .forge_request(
                &mut t.rng,
                ExchangeType::IKE_SA_INIT,
                PayloadType::NONE,
                &[],
            )
            .unwrap();
        if corrupt {
            let last = req.len() - 1;
            req[last] ^= 1;
        }
        let hh = t.hub.handles()[0];
        let before = t.hub.sa_info(hh);
        let stats = t.hub.stats().clone();
        let r = t.hub.handle_datagram(t.now, HUB, SPOKE, &req);
        assert_eq!(r, Err(InputError::OutOfWindow), "corrupt {corrupt}");
        assert_eq!(
            t.hub.stats().init_for_established,
            stats.init_for_established + 1
        );
        assert_eq!(t.hub.stats().out_of_window, stats.out_of_window + 1);
        assert!(t.hub.poll_transmit().is_none(), "answered");
        assert_eq!(t.hub.sa_info(hh), before);
        assert_eq!(t.hub.handles().len(), 1);
    }
}

/// RFC 7296 section 2.3: with a window of 3 the hub takes requests out of order within
/// `[low, low + 3)`, refuses the one beyond, answers retransmissions of the last 3 from
/// its store, and forgets older ones.
#[test]
fn hub_window_accepts_out_of_order_and_replays_within_the_window() {
    let mut t = established_w(3);
    let sa = t.spoke.sa_mut(t.h).unwrap();
    // Message IDs 2..=7: empty INFORMATIONALs (DPD).
    let reqs: Vec<Vec<u8>> = (0..6)
        .map(|_| {
            sa.forge_request(
                &mut t.rng,
                ExchangeType::INFORMATIONAL,
                PayloadType::NONE,
                &[],
            )
            .unwrap()
        })
        .collect();
    let send = |t: &mut Two, i: usize| {
        let r = t.hub.handle_datagram(t.now, HUB, SPOKE, &reqs[i]);
        let out: Vec<Vec<u8>> = std::iter::from_fn(|| t.hub.poll_transmit())
            .map(|x| x.payload)
            .collect();
        (r, out)
    };
    // 5 (mid 7) is beyond [2, 5): dropped.
    assert_eq!(send(&mut t, 5).0, Err(InputError::OutOfWindow));
    // 2, 1 (mids 4, 3) out of order, then 0 (mid 2): all answered, each with its own mid.
    let mut answers = BTreeMap::new();
    for i in [2usize, 1, 0] {
        let (r, out) = send(&mut t, i);
        assert_eq!(r, Ok(()), "request {i}");
        assert_eq!(out.len(), 1);
        let m = Message::parse(&out[0]).unwrap();
        assert!(m.header.is_response());
        assert_eq!(m.header.message_id, 2 + i as u32);
        answers.insert(i, out[0].clone());
    }
    // Now the window is [5, 8): 5 (mid 7) is accepted; a retransmitted 1 (mid 3) gets the
    // very same response from the store, not a new one.
    assert_eq!(send(&mut t, 5).0, Ok(()));
    let (r, out) = send(&mut t, 1);
    assert_eq!(r, Ok(()));
    assert_eq!(out, vec![answers[&1].clone()]);
    // Mid 2 fell out of the 3 kept responses once the window moved past 5: dropped.
    assert_eq!(send(&mut t, 3).0, Ok(()));
    assert_eq!(send(&mut t, 4).0, Ok(()));
    let before = t.hub.stats().out_of_window;
    let (r, out) = send(&mut t, 0);
    assert_eq!(r, Err(InputError::OutOfWindow));
    assert!(out.is_empty());
    assert_eq!(t.hub.stats().out_of_window, before + 1);
    assert_eq!(
        t.hub.sa_info(t.hub.handles()[0]).unwrap().state,
        "Established"
    );
}

/// Delivers every datagram `from` has queued to `to`; returns how many.
fn deliver(
    now: Instant,
    from: &mut Endpoint<ChaCha20Rng>,
    to: &mut Endpoint<ChaCha20Rng>,
) -> usize {
    let mut n = 0;
    while let Some(t) = from.poll_transmit() {
        let _ = to.handle_datagram(now, t.remote, t.local, &t.payload);
        n += 1;
    }
    n
}

fn peer_rekey_min(e: &mut Endpoint<ChaCha20Rng>, h: SaHandle) -> Vec<u8> {
    let SaState::Established(est) = &e.sa_mut(h).unwrap().state else {
        panic!("not established")
    };
    est.peer_rekey
        .as_ref()
        .expect("collision seen")
        .min_nonce
        .clone()
}

/// RFC 7296 section 2.8.2, checked on the nonces themselves: the new IKE SA that survives
/// is the one whose exchange did NOT carry the lowest of the four nonces.
#[test]
fn simultaneous_ike_rekey_keeps_the_sa_without_the_lowest_nonce() {
    let mut seen = [false, false];
    for seed in 0..16u64 {
        let mut t = established();
        let hh = t.hub.handles()[0];
        // Different randomness per round for both ends.
        for _ in 0..seed {
            t.spoke.dpd(t.now, t.h).unwrap();
            deliver(t.now, &mut t.spoke, &mut t.hub);
            deliver(t.now, &mut t.hub, &mut t.spoke);
        }
        t.spoke.rekey_ike(t.now, t.h).unwrap();
        t.hub.rekey_ike(t.now, hh).unwrap();
        // Both requests cross: each end answers the other's while its own is out.
        let (a, b) = (
            t.spoke.poll_transmit().unwrap(),
            t.hub.poll_transmit().unwrap(),
        );
        let _ = t.hub.handle_datagram(t.now, a.remote, a.local, &a.payload);
        let _ = t
            .spoke
            .handle_datagram(t.now, b.remote, b.local, &b.payload);
        // min(Ni, Nr) of the hub's exchange, as the spoke stored it, and of the spoke's.
        let hub_exchange = peer_rekey_min(&mut t.spoke, t.h);
        let spoke_exchange = peer_rekey_min(&mut t.hub, hh);
        for _ in 0..4 {
            deliver(t.now, &mut t.spoke, &mut t.hub);
            deliver(t.now, &mut t.hub, &mut t.spoke);
        }
        let (s, h) = (t.spoke.sa_info(t.h).unwrap(), t.hub.sa_info(hh).unwrap());
        assert_eq!((s.spi_i, s.spi_r), (h.spi_i, h.spi_r), "seed {seed}");
        // The survivor was created by the exchange with the higher minimum.
        let spoke_created_survivor = spoke_exchange > hub_exchange;
        assert_eq!(s.initiator, spoke_created_survivor, "seed {seed}");
        assert_eq!(h.initiator, !spoke_created_survivor, "seed {seed}");
        seen[usize::from(spoke_created_survivor)] = true;
        // Nothing is left of the old or the redundant SA on either end.
        for (e, hd) in [(&mut t.spoke, t.h), (&mut t.hub, hh)] {
            assert_eq!(e.sa_mut(hd).unwrap().our_spis().len(), 1, "seed {seed}");
        }
    }
    assert_eq!(seen, [true, true], "both outcomes occur over the seeds");
}

/// The hub's rekey request is lost: only the hub sees the collision. The spoke finishes its
/// own rekey and deletes the old SA; the hub takes that Delete as the end of the contest,
/// adopts the spoke's SA and abandons its own request.
#[test]
fn ike_rekey_collision_seen_by_one_end_only() {
    let mut t = established();
    let hh = t.hub.handles()[0];
    t.spoke.rekey_ike(t.now, t.h).unwrap();
    t.hub.rekey_ike(t.now, hh).unwrap();
    let a = t.spoke.poll_transmit().unwrap();
    let _lost = t.hub.poll_transmit().unwrap();
    let _ = t.hub.handle_datagram(t.now, a.remote, a.local, &a.payload);
    for _ in 0..4 {
        deliver(t.now, &mut t.hub, &mut t.spoke);
        deliver(t.now, &mut t.spoke, &mut t.hub);
    }
    let (s, h) = (t.spoke.sa_info(t.h).unwrap(), t.hub.sa_info(hh).unwrap());
    assert_eq!((s.spi_i, s.spi_r), (h.spi_i, h.spi_r));
    assert!(s.initiator && !h.initiator);
    assert_eq!(h.state, "Established");
    // The hub's abandoned request is not retransmitted: after a long wait nothing is sent
    // and both ends still agree (a DPD over the new SA is answered).
    let later = t.now + Duration::from_secs(120);
    t.hub.handle_timeout(later);
    assert!(t.hub.poll_transmit().is_none());
    t.spoke.dpd(later, t.h).unwrap();
    assert_eq!(deliver(later, &mut t.spoke, &mut t.hub), 1);
    assert_eq!(deliver(later, &mut t.hub, &mut t.spoke), 1);
    assert_eq!(
        t.spoke.stats().integrity_failures + t.hub.stats().integrity_failures,
        0
    );
    assert_eq!(t.spoke.sa_info(t.h).unwrap().state, "Established");
}

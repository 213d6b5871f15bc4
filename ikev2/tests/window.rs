//! Message-ID windows above one (RFC 7296 section 2.3): SET_WINDOW_SIZE announced in
//! IKE_AUTH, several requests outstanding, answered and taken back out of order.

mod common;

use common::*;
use ikev2::wire::Message;
use ikev2::{Event, SaHandle, Transmit};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn up(p: &mut Pair, hub_window: u32, spoke_window: u32) -> (SaHandle, SaHandle) {
    let mut spoke = spoke_policy();
    spoke.window_size = spoke_window;
    let mut hub = hub_policy();
    hub.window_size = hub_window;
    p.b = ikev2::Endpoint::new(responder_config(hub), ChaCha20Rng::seed_from_u64(7), p.now);
    let h = p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    (h, p.b.handles()[0])
}

fn drain(e: &mut ikev2::Endpoint<ChaCha20Rng>) -> Vec<Transmit> {
    std::iter::from_fn(|| e.poll_transmit()).collect()
}

fn mid(t: &Transmit) -> u32 {
    Message::parse(&t.payload).unwrap().header.message_id
}

#[test]
fn requests_go_out_together_under_the_peer_window_and_complete_out_of_order() {
    let mut p = Pair::new(90, responder_config(hub_policy()));
    let (ha, _) = up(&mut p, 4, 4);
    let child = p.a.sa_info(ha).unwrap().children[0].0;
    // Two requests at once: a DPD and a Child rekey.
    p.a.dpd(p.now, ha).unwrap();
    p.a.rekey_child(p.now, ha, child).unwrap();
    let reqs = drain(&mut p.a);
    assert_eq!(reqs.len(), 2, "both went out without waiting");
    assert_eq!((mid(&reqs[0]), mid(&reqs[1])), (2, 3));
    // The hub gets them in reverse order and answers both.
    for t in reqs.iter().rev() {
        p.b.handle_datagram(p.now, t.remote, t.local, &t.payload)
            .unwrap();
    }
    let resps = drain(&mut p.b);
    assert_eq!(resps.len(), 2);
    assert_eq!((mid(&resps[0]), mid(&resps[1])), (3, 2));
    // A retransmission of the first request gets its stored response again.
    p.b.handle_datagram(p.now, reqs[0].remote, reqs[0].local, &reqs[0].payload)
        .unwrap();
    let again = drain(&mut p.b);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, resps[1].payload);
    // The spoke takes the responses in the order they came (3 before 2).
    for t in &resps {
        p.a.handle_datagram(p.now, t.remote, t.local, &t.payload)
            .unwrap();
    }
    // The duplicate response is out of window now.
    assert!(
        p.a.handle_datagram(p.now, again[0].remote, again[0].local, &again[0].payload)
            .is_err()
    );
    while let Some(e) = p.a.poll_event() {
        p.events_a.push((p.now - p.epoch, e));
    }
    while let Some(e) = p.b.poll_event() {
        p.events_b.push((p.now - p.epoch, e));
    }
    assert!(
        p.a_has(|e| matches!(e, Event::ChildSaInstalled { rekey_of: Some(o), .. } if *o == child))
    );
    p.settle();
    let ca = p.a.sa_info(ha).unwrap().children;
    assert_eq!(ca.len(), 1);
    assert_ne!(ca[0].0, child);
    assert_eq!(p.a.stats().out_of_window, 1);
    assert!(!p.a_has(|e| matches!(e, Event::PeerDead { .. } | Event::ChildSaFailed { .. })));
}

#[test]
fn a_peer_without_set_window_size_gets_one_request_at_a_time() {
    let mut p = Pair::new(91, responder_config(hub_policy()));
    // We accept 4, the hub announces nothing (window 1).
    let (ha, _) = up(&mut p, 1, 4);
    let child = p.a.sa_info(ha).unwrap().children[0].0;
    p.a.dpd(p.now, ha).unwrap();
    p.a.rekey_child(p.now, ha, child).unwrap();
    let first = drain(&mut p.a);
    assert_eq!(
        first.len(),
        1,
        "the second request waits for the first answer"
    );
    p.b.handle_datagram(p.now, first[0].remote, first[0].local, &first[0].payload)
        .unwrap();
    let resp = drain(&mut p.b);
    p.a.handle_datagram(p.now, resp[0].remote, resp[0].local, &resp[0].payload)
        .unwrap();
    let second = drain(&mut p.a);
    assert_eq!(second.len(), 1, "sent once the first was answered");
    assert_eq!(mid(&second[0]), mid(&first[0]) + 1);
}

#[test]
fn lossy_link_with_windows_converges() {
    // Requests and responses lost at random: each outstanding request retransmits on its
    // own schedule and every exchange completes.
    let mut p = Pair::new(92, responder_config(hub_policy()));
    let (ha, hb) = up(&mut p, 4, 4);
    p.loss_permille = 200;
    for _ in 0..5 {
        let ca = p.a.sa_info(ha).unwrap().children[0].0;
        p.a.dpd(p.now, ha).unwrap();
        p.a.rekey_child(p.now, ha, ca).unwrap();
        p.b.dpd(p.now, hb).unwrap();
        p.run_for(std::time::Duration::from_secs(20));
    }
    p.loss_permille = 0;
    p.run_for(std::time::Duration::from_secs(20));
    assert!(!p.a_has(|e| matches!(e, Event::PeerDead { .. } | Event::IkeSaDeleted { .. })));
    let ca = p.a.sa_info(ha).unwrap().children;
    let cb = p.b.sa_info(hb).unwrap().children;
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(cb, vec![(ca[0].1, ca[0].0)]);
    let rekeys = p
        .events_a
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::ChildSaInstalled {
                    rekey_of: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(rekeys, 5);
}

//! INFORMATIONAL: DPD (periodic, on-demand, peer dead), deletes, response replay.

mod common;

use std::time::Duration;

use common::*;
use ikev2::{DeleteReason, DpdConfig, Event, RetransmitConfig};

fn dpd(interval: u64, retry: u64, on_demand: bool) -> DpdConfig {
    DpdConfig {
        interval: Duration::from_secs(interval),
        retry: Duration::from_secs(retry),
        on_demand,
    }
}

fn up(p: &mut Pair, spoke: ikev2::SaPolicy) -> ikev2::SaHandle {
    let h = p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    h
}

fn a_sent_after(p: &Pair, from: Duration) -> usize {
    p.transcript
        .iter()
        .filter(|(t, a, _)| *a && *t >= from)
        .count()
}

#[test]
fn periodic_dpd_every_interval_while_idle() {
    let mut p = Pair::new(20, responder_config(hub_policy()));
    let mut spoke = spoke_policy();
    spoke.dpd = Some(dpd(30, 5, false));
    up(&mut p, spoke);
    let t0 = p.now - p.epoch;
    p.run_for(Duration::from_secs(95));
    // 3 DPD requests (30, 60, 90 s), each answered once.
    assert_eq!(a_sent_after(&p, t0), 3);
    assert_eq!(
        p.transcript
            .iter()
            .filter(|(t, a, _)| !*a && *t >= t0)
            .count(),
        3
    );
    assert!(!p.a_has(|e| matches!(e, Event::PeerDead { .. })));
}

#[test]
fn on_demand_dpd_only_with_outbound_traffic_and_no_inbound() {
    let mut p = Pair::new(21, responder_config(hub_policy()));
    let mut spoke = spoke_policy();
    spoke.dpd = Some(dpd(30, 5, true));
    let h = up(&mut p, spoke);
    let t0 = p.now - p.epoch;
    p.run_for(Duration::from_secs(100));
    assert_eq!(
        a_sent_after(&p, t0),
        0,
        "idle and no traffic: no DPD on demand"
    );
    // Traffic both ways: still nothing.
    p.a.handle_traffic(p.now, h, true, true).unwrap();
    p.run_for(Duration::from_secs(10));
    assert_eq!(a_sent_after(&p, t0), 0);
    // Outbound only: a DPD 30 s after the last inbound.
    p.a.handle_traffic(p.now, h, true, false).unwrap();
    p.run_for(Duration::from_secs(25));
    assert_eq!(a_sent_after(&p, t0), 1);
}

#[test]
fn peer_dead_after_retry_budget() {
    let mut p = Pair::new(22, responder_config(hub_policy()));
    let mut spoke = spoke_policy();
    spoke.dpd = Some(dpd(30, 5, false));
    spoke.retransmit = RetransmitConfig {
        tries: 5,
        ..RetransmitConfig::default()
    };
    up(&mut p, spoke);
    let t0 = p
        .events_a
        .iter()
        .find(|(_, e)| matches!(e, Event::IkeSaEstablished { .. }))
        .unwrap()
        .0;
    p.cut = true;
    p.run_for(Duration::from_secs(120));
    let (at, _) = p
        .events_a
        .iter()
        .find(|(_, e)| matches!(e, Event::PeerDead { .. }))
        .expect("peer dead");
    // DPD at 30 s, 5 retries every 5 s, declared dead 5 s after the last: 60 s.
    let dead = *at - t0;
    assert!(
        dead >= Duration::from_secs(59) && dead <= Duration::from_secs(61),
        "{dead:?}"
    );
    assert!(p.a_has(|e| matches!(e, Event::ChildSaDeleted { .. })));
    assert!(p.a.handles().is_empty());
}

#[test]
fn on_demand_dpd_command_and_replay_of_responses() {
    let mut p = Pair::new(23, responder_config(hub_policy()));
    let h = up(&mut p, spoke_policy());
    // Drop the first answer: the retransmitted request gets the stored response.
    p.a.dpd(p.now, h).unwrap();
    p.step(); // request in flight
    p.cut = true;
    p.run_for(Duration::from_millis(100)); // response lost
    p.cut = false;
    p.run_for(Duration::from_secs(3));
    let b_out: Vec<_> = p
        .transcript
        .iter()
        .filter(|(_, a, _)| !*a)
        .map(|(_, _, b)| b.clone())
        .collect();
    let n = b_out.len();
    assert_eq!(
        b_out[n - 1],
        b_out[n - 2],
        "same response replayed byte for byte"
    );
    assert!(!p.a_has(|e| matches!(e, Event::PeerDead { .. })));
}

#[test]
fn delete_child_then_ike_from_responder_side() {
    let mut p = Pair::new(24, responder_config(hub_policy()));
    up(&mut p, spoke_policy());
    let hb = p.b.handles()[0];
    let (spi_b, spi_a) = p.b.sa_info(hb).unwrap().children[0];
    p.b.delete_child(p.now, hb, spi_b).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == spi_a)));
    assert!(p.b_has(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == spi_b)));
    p.b.close(p.now, hb).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(
        e,
        Event::IkeSaDeleted {
            reason: DeleteReason::Remote,
            ..
        }
    )));
    assert!(p.b_has(|e| matches!(
        e,
        Event::IkeSaDeleted {
            reason: DeleteReason::Local,
            ..
        }
    )));
    assert_eq!(p.b.pool_in_use(), 0);
}

#[test]
fn garbage_and_forged_messages_change_nothing() {
    let mut p = Pair::new(25, responder_config(hub_policy()));
    let h = up(&mut p, spoke_policy());
    let before = p.a.sa_info(h).unwrap();
    let (_, _, last) = p.transcript.iter().rfind(|(_, a, _)| !*a).unwrap().clone();
    let local = sock(p.a_ip(), 500);
    let remote = sock(B_ADDR, 500);
    // Flip a bit in a copy of the last real response: ICV fails.
    let mut forged = last.clone();
    let i = forged.len() - 3;
    forged[i] ^= 1;
    assert!(p.a.handle_datagram(p.now, local, remote, &forged).is_err());
    for n in 0..last.len() {
        let _ = p.a.handle_datagram(p.now, local, remote, &last[..n]);
    }
    assert!(
        p.a.handle_datagram(p.now, local, remote, &[0u8; 3])
            .is_err()
    );
    assert_eq!(p.a.sa_info(h).unwrap(), before);
    assert!(p.a.stats().malformed > 0);
    assert!(p.a.poll_transmit().is_none());
}

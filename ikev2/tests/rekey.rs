//! CREATE_CHILD_SA: Child SA and IKE SA rekeys, started by either side, with and without PFS.

mod common;

use std::time::Duration;

use common::*;
use ikev2::crypto::DhGroup;
use ikev2::{EspSuite, Event, SaHandle};

fn up(p: &mut Pair, spoke: ikev2::SaPolicy) -> (SaHandle, SaHandle) {
    let h = p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    (h, p.b.handles()[0])
}

/// (spi_in, spi_out, encr_in, encr_out, rekey_of) of each installed Child SA.
type Installed = (u32, u32, Vec<u8>, Vec<u8>, Option<u32>);

fn installed(ev: &[(Duration, Event)]) -> Vec<Installed> {
    ev.iter()
        .filter_map(|(_, e)| match e {
            Event::ChildSaInstalled {
                spi_in,
                spi_out,
                keys,
                rekey_of,
                ..
            } => Some((
                *spi_in,
                *spi_out,
                keys.encr_in.as_bytes().to_vec(),
                keys.encr_out.as_bytes().to_vec(),
                *rekey_of,
            )),
            _ => None,
        })
        .collect()
}

#[track_caller]
fn check_pairs(p: &Pair) {
    let a = installed(&p.events_a);
    let b = installed(&p.events_b);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.0, x.1), (y.1, y.0));
        assert_eq!(x.2, y.3);
        assert_eq!(x.3, y.2);
    }
    let (ha, hb) = (p.a.handles()[0], p.b.handles()[0]);
    let ca = p.a.sa_info(ha).unwrap().children;
    let cb = p.b.sa_info(hb).unwrap().children;
    assert_eq!(ca.len(), 1);
    assert_eq!(ca.iter().map(|c| (c.1, c.0)).collect::<Vec<_>>(), cb);
}

#[test]
fn child_rekey_by_initiator_then_responder() {
    let mut p = Pair::new(30, responder_config(hub_policy()));
    let (ha, hb) = up(&mut p, spoke_policy());
    let old = p.a.sa_info(ha).unwrap().children[0].0;
    p.a.rekey_child(p.now, ha, old).unwrap();
    p.settle();
    assert!(
        p.a_has(|e| matches!(e, Event::ChildSaInstalled { rekey_of: Some(o), .. } if *o == old))
    );
    assert!(p.a_has(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == old)));
    check_pairs(&p);
    let old_b = p.b.sa_info(hb).unwrap().children[0].0;
    p.b.rekey_child(p.now, hb, old_b).unwrap();
    p.settle();
    assert!(p.b_has(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == old_b)));
    check_pairs(&p);
    let keys: Vec<_> = installed(&p.events_a).into_iter().map(|k| k.3).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[0] != keys[1] && keys[1] != keys[2]);
}

#[test]
fn child_rekey_with_pfs() {
    let pfs = EspSuite {
        pfs: Some(DhGroup::Curve25519),
        ..EspSuite::AES256GCM16
    };
    let mut hub = hub_policy();
    hub.esp_proposals = vec![pfs];
    let mut spoke = spoke_policy();
    spoke.esp_proposals = vec![pfs];
    let mut p = Pair::new(31, responder_config(hub));
    let (ha, _) = up(&mut p, spoke);
    let old = p.a.sa_info(ha).unwrap().children[0].0;
    p.a.rekey_child(p.now, ha, old).unwrap();
    p.settle();
    check_pairs(&p);
    assert_eq!(installed(&p.events_a).len(), 2);
    assert!(!p.a_has(|e| matches!(e, Event::ChildSaFailed { .. })));
    // The rekey request carried a KE payload (8 + 32 bytes) and a DH transform (8 bytes):
    // compare with the same exchange without PFS.
    let mut q = Pair::new(31, responder_config(hub_policy()));
    let (hq, _) = up(&mut q, spoke_policy());
    let old = q.a.sa_info(hq).unwrap().children[0].0;
    q.a.rekey_child(q.now, hq, old).unwrap();
    q.settle();
    let with = &p.transcript[4];
    let without = &q.transcript[4];
    assert!(with.1 && without.1);
    assert_eq!(with.2.len(), without.2.len() + 48);
}

#[test]
fn ike_rekey_by_either_side_keeps_children_and_handle() {
    let mut p = Pair::new(32, responder_config(hub_policy()));
    let (ha, hb) = up(&mut p, spoke_policy());
    let before = p.a.sa_info(ha).unwrap();
    p.a.rekey_ike(p.now, ha).unwrap();
    p.settle();
    let after = p.a.sa_info(ha).unwrap();
    assert_ne!((before.spi_i, before.spi_r), (after.spi_i, after.spi_r));
    assert_eq!(before.children, after.children);
    assert!(p.a_has(|e| matches!(e, Event::IkeSaRekeyed { .. })));
    assert!(p.b_has(|e| matches!(e, Event::IkeSaRekeyed { .. })));
    let bi = p.b.sa_info(hb).unwrap();
    assert_eq!((bi.spi_i, bi.spi_r), (after.spi_i, after.spi_r));
    // Now the responder rekeys; roles of the new IKE SA follow the rekey initiator.
    p.b.rekey_ike(p.now, hb).unwrap();
    p.settle();
    let a2 = p.a.sa_info(ha).unwrap();
    let b2 = p.b.sa_info(hb).unwrap();
    assert_eq!((a2.spi_i, a2.spi_r), (b2.spi_i, b2.spi_r));
    assert!(b2.initiator && !a2.initiator);
    // The new IKE SA works: a child rekey and a DPD over it.
    let old = a2.children[0].0;
    p.a.rekey_child(p.now, ha, old).unwrap();
    p.settle();
    check_pairs(&p);
    p.a.dpd(p.now, ha).unwrap();
    p.settle();
    assert!(!p.a_has(|e| matches!(e, Event::PeerDead { .. } | Event::IkeSaDeleted { .. })));
    assert_eq!(
        p.a.stats().integrity_failures + p.b.stats().integrity_failures,
        0
    );
}

#[test]
fn lifetimes_drive_rekeys() {
    let mut spoke = spoke_policy();
    spoke.child_rekey = Some(Duration::from_secs(6));
    spoke.ike_rekey = Some(Duration::from_secs(15));
    let mut p = Pair::new(33, responder_config(hub_policy()));
    up(&mut p, spoke);
    p.run_for(Duration::from_secs(31));
    let child_rekeys = installed(&p.events_a)
        .iter()
        .filter(|k| k.4.is_some())
        .count();
    assert!((4..=6).contains(&child_rekeys), "{child_rekeys}");
    let ike_rekeys = p
        .events_a
        .iter()
        .filter(|(_, e)| matches!(e, Event::IkeSaRekeyed { .. }))
        .count();
    assert_eq!(ike_rekeys, 2);
    check_pairs(&p);
}

#[test]
fn simultaneous_child_rekey_leaves_one_child() {
    for seed in 34..40 {
        let mut p = Pair::new(seed, responder_config(hub_policy()));
        let (ha, hb) = up(&mut p, spoke_policy());
        let (a_in, b_in) = (
            p.a.sa_info(ha).unwrap().children[0].0,
            p.b.sa_info(hb).unwrap().children[0].0,
        );
        p.a.rekey_child(p.now, ha, a_in).unwrap();
        p.b.rekey_child(p.now, hb, b_in).unwrap();
        p.settle();
        // Both exchanges created a Child SA; the redundant one and the old one are gone.
        assert_eq!(installed(&p.events_a).len(), 3, "seed {seed}");
        let ca = p.a.sa_info(ha).unwrap().children;
        let cb = p.b.sa_info(hb).unwrap().children;
        assert_eq!(ca.len(), 1, "seed {seed}: {ca:?}");
        assert_eq!(cb, vec![(ca[0].1, ca[0].0)], "seed {seed}");
        assert!(ca[0].0 != a_in, "seed {seed}");
        let ka = installed(&p.events_a)
            .into_iter()
            .find(|k| k.0 == ca[0].0)
            .unwrap();
        let kb = installed(&p.events_b)
            .into_iter()
            .find(|k| k.1 == ca[0].0)
            .unwrap();
        assert_eq!((ka.2, ka.3), (kb.3, kb.2));
    }
}

/// Requests of `exchange` in the transcript since datagram `from` (header byte 18 is the
/// exchange type, byte 19 the flags with 0x20 for a response).
fn requests(p: &Pair, from: usize, exchange: u8) -> usize {
    p.transcript[from..]
        .iter()
        .filter(|(_, _, b)| b[18] == exchange && b[19] & 0x20 == 0)
        .count()
}

#[test]
fn simultaneous_ike_rekey_is_settled_by_nonces() {
    let mut a_won = 0;
    let mut b_won = 0;
    for seed in 41..53 {
        let mut p = Pair::new(seed, responder_config(hub_policy()));
        let (ha, hb) = up(&mut p, spoke_policy());
        let before = p.a.sa_info(ha).unwrap();
        let children = before.children.clone();
        let start = p.transcript.len();
        p.a.rekey_ike(p.now, ha).unwrap();
        p.b.rekey_ike(p.now, hb).unwrap();
        p.settle();
        let (ia, ib) = (p.a.sa_info(ha).unwrap(), p.b.sa_info(hb).unwrap());
        // One new IKE SA on both ends, with the same SPIs, replacing the old one.
        assert_eq!((ia.spi_i, ia.spi_r), (ib.spi_i, ib.spi_r), "seed {seed}");
        assert_ne!((ia.spi_i, ia.spi_r), (before.spi_i, before.spi_r));
        assert_ne!(ia.initiator, ib.initiator, "seed {seed}");
        if ia.initiator {
            a_won += 1;
        } else {
            b_won += 1;
        }
        for ev in [&p.events_a, &p.events_b] {
            let n = ev
                .iter()
                .filter(|(_, e)| matches!(e, Event::IkeSaRekeyed { .. }))
                .count();
            assert_eq!(n, 1, "seed {seed}: one switch per end");
            assert!(!ev.iter().any(|(_, e)| matches!(
                e,
                Event::PeerDead { .. } | Event::IkeSaDeleted { .. } | Event::ChildSaDeleted { .. }
            )));
        }
        // No refusal and retry: two CREATE_CHILD_SA requests (one per end), and two
        // Deletes (the redundant new SA, by its creator; the old SA, by the survivor's).
        assert_eq!(requests(&p, start, 36), 2, "seed {seed}");
        assert_eq!(requests(&p, start, 37), 2, "seed {seed}");
        assert_eq!(p.a.sa_info(ha).unwrap().children, children);
        // The survivor carries traffic: a DPD and a Child rekey over it, both ways.
        p.a.dpd(p.now, ha).unwrap();
        p.b.dpd(p.now, hb).unwrap();
        p.settle();
        let old = p.a.sa_info(ha).unwrap().children[0].0;
        p.a.rekey_child(p.now, ha, old).unwrap();
        p.settle();
        check_pairs(&p);
        assert_eq!(
            p.a.stats().integrity_failures + p.b.stats().integrity_failures,
            0,
            "seed {seed}"
        );
        assert!(!p.a_has(|e| matches!(e, Event::PeerDead { .. } | Event::IkeSaDeleted { .. })));
        assert_eq!(p.a.stats().unknown_sa + p.b.stats().unknown_sa, 0);
        // The old and the redundant IKE SA are gone on both ends: after the lifetime of
        // any retransmission nothing more is sent.
        let n = p.transcript.len();
        p.run_for(Duration::from_secs(60));
        assert_eq!(p.transcript.len(), n, "seed {seed}: traffic after settling");
    }
    // The winner is chosen by the nonces, not by role: both ends win sometimes.
    assert!(a_won > 0 && b_won > 0, "a won {a_won}, b won {b_won}");
}

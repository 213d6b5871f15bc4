//! Anti-replay through whole SAs: replayed and too old packets refused, reordered packets in
//! the window accepted, window movement only for authentic packets, ESN across the 2^32 edge.

mod common;

use bytes::{Bytes, BytesMut};
use esp::{InboundSa, OpenError, OutboundSa};
use proptest::prelude::*;

const KEYMAT: [u8; 36] = [0x3c; 36];

fn seal_n(tx: &mut OutboundSa, n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            let mut b = BytesMut::from(&(i as u32).to_be_bytes()[..]);
            tx.seal(&mut b, 47).unwrap();
            b.freeze()
        })
        .collect()
}

fn open(rx: &mut InboundSa, p: &Bytes) -> Result<u64, OpenError> {
    rx.open(&mut BytesMut::from(&p[..])).map(|o| o.seq)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Packets delivered in a random order, some twice: each is accepted exactly once if it
    /// is inside the window when it arrives, and refused as replayed or too old otherwise.
    #[test]
    fn reordered_and_replayed(
        order in prop::collection::vec(0usize..300, 1..600),
        esn in any::<bool>(),
        window in prop_oneof![Just(64u32), Just(128), Just(4096)],
    ) {
        let (mut tx, mut rx) = common::pair(0x42, &KEYMAT, |p| p.with_esn(esn).with_replay_window(window));
        let packets = seal_n(&mut tx, 300);
        let mut seen = std::collections::BTreeSet::new();
        let mut top = 0u64;
        for i in order {
            let seq = i as u64 + 1;
            let r = open(&mut rx, &packets[i]);
            let too_old = top >= u64::from(window) && seq <= top - u64::from(window);
            if too_old && esn {
                // RFC 4303 A2.2: with ESN a low half left of the window is taken to belong to
                // the next 2^32 block, so the AAD differs and authentication fails.
                prop_assert_eq!(r, Err(OpenError::AuthenticationFailed));
            } else if too_old {
                prop_assert_eq!(r, Err(OpenError::OutsideWindow(seq)));
            } else if seen.contains(&seq) {
                prop_assert_eq!(r, Err(OpenError::Replayed(seq)));
            } else {
                prop_assert_eq!(r, Ok(seq));
                seen.insert(seq);
                top = top.max(seq);
            }
            prop_assert_eq!(rx.highest_seq(), top);
        }
    }
}

#[test]
fn reordered_inside_window_accepted() {
    let (mut tx, mut rx) = common::pair(0x43, &KEYMAT, |p| p);
    let packets = seal_n(&mut tx, 5000);
    // The newest first, then everything still inside the 4096 window, backwards.
    assert_eq!(open(&mut rx, &packets[4999]), Ok(5000));
    for i in (904..4999).rev() {
        assert_eq!(open(&mut rx, &packets[i]), Ok(i as u64 + 1));
    }
    assert_eq!(
        open(&mut rx, &packets[903]),
        Err(OpenError::OutsideWindow(904))
    );
    assert_eq!(open(&mut rx, &packets[0]), Err(OpenError::OutsideWindow(1)));
    assert_eq!(
        open(&mut rx, &packets[4000]),
        Err(OpenError::Replayed(4001))
    );
    assert_eq!(rx.stats().replay_drops, 3);
}

#[test]
fn larger_window_configurable() {
    let (mut tx, mut rx) = common::pair(0x44, &KEYMAT, |p| p.with_replay_window(65536));
    let packets = seal_n(&mut tx, 70_000);
    assert_eq!(open(&mut rx, &packets[69_999]), Ok(70_000));
    assert_eq!(
        open(&mut rx, &packets[70_000 - 65_536]),
        Ok(70_000 - 65_535)
    );
    assert_eq!(
        open(&mut rx, &packets[70_000 - 65_537]),
        Err(OpenError::OutsideWindow(70_000 - 65_536))
    );
}

#[test]
fn forged_packet_ahead_does_not_move_window() {
    let (mut tx, mut rx) = common::pair(0x45, &KEYMAT, |p| p);
    let packets = seal_n(&mut tx, 10);
    assert_eq!(open(&mut rx, &packets[0]), Ok(1));
    // A forgery claiming seq 1_000_000 (valid header, garbage ICV).
    let mut forged = BytesMut::from(&packets[1][..]);
    forged[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
    assert_eq!(rx.open(&mut forged), Err(OpenError::AuthenticationFailed));
    assert_eq!(rx.highest_seq(), 1);
    // Had the window moved, packets 2..10 would now be too old.
    for (i, p) in packets.iter().enumerate().skip(1) {
        assert_eq!(open(&mut rx, p), Ok(i as u64 + 1));
    }
    assert_eq!(rx.stats().auth_drops, 1);
}

#[test]
fn esn_crosses_the_32_bit_edge() {
    let start = (3u64 << 32) | 0xffff_ff00;
    let (mut tx, mut rx) =
        common::pair(0x46, &KEYMAT, |p| p.with_esn(true).with_initial_seq(start));
    let packets = seal_n(&mut tx, 512);
    // Deliver with a little reordering across the edge: pairs swapped.
    for pair in packets.chunks(2) {
        for p in pair.iter().rev() {
            let seq = open(&mut rx, p).unwrap();
            assert!(seq > start && seq <= start + 512);
        }
    }
    assert_eq!(rx.highest_seq(), start + 512);
    assert_eq!(rx.highest_seq() >> 32, 4);
    // A late packet from before the edge (low half near 2^32) still maps to high half 3.
    assert_eq!(
        open(&mut rx, &packets[200]),
        Err(OpenError::Replayed(start + 201))
    );
}

#[test]
fn non_esn_sender_stops_at_2_pow_32() {
    let (mut tx, mut rx) = common::pair(0x47, &KEYMAT, |p| {
        p.with_initial_seq(u64::from(u32::MAX) - 2)
    });
    let packets = seal_n(&mut tx, 2);
    let mut b = BytesMut::from(&b"x"[..]);
    assert_eq!(tx.seal(&mut b, 47), Err(esp::SealError::SequenceExhausted));
    // The receiver window starts at 0: these are far ahead and fine.
    assert_eq!(open(&mut rx, &packets[1]), Ok(u64::from(u32::MAX)));
    assert_eq!(open(&mut rx, &packets[0]), Ok(u64::from(u32::MAX) - 1));
}

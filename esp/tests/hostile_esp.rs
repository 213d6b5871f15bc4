//! Hostile input against the inbound data path at volume: replays, packets left of the
//! window, truncated packets, forged ICVs and garbage for unknown SPIs. Each drop must be
//! counted in the SA's stats, and the anti-replay window must never move on a packet that did
//! not authenticate (RFC 4303 3.4.3): afterwards the genuine packets still open.

use bytes::{Bytes, BytesMut};
use esp::{InboundSa, OpenError, OutboundSa, SaParams, SaStats, Sad};

const SPI: u32 = 0x0102_0304;
const KEYMAT: [u8; 36] = [0x42; 36];

fn pair(esn: bool, window: u32) -> (OutboundSa, InboundSa) {
    let p = || {
        SaParams::from_keymat(SPI, &KEYMAT)
            .unwrap()
            .with_esn(esn)
            .with_replay_window(window)
    };
    (OutboundSa::new(p()).unwrap(), InboundSa::new(p()).unwrap())
}

fn seal(tx: &mut OutboundSa, len: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(len + 64);
    b.extend((0..len).map(|i| i as u8));
    tx.seal(&mut b, 47).unwrap();
    b.freeze()
}

fn open(rx: &mut InboundSa, p: &[u8]) -> Result<u64, OpenError> {
    let mut b = BytesMut::from(p);
    rx.open(&mut b).map(|o| o.seq)
}

/// The counters that may change on a drop, and the window edge.
fn state(rx: &InboundSa) -> (u64, SaStats) {
    (rx.highest_seq(), *rx.stats())
}

#[test]
fn replays_at_volume_are_counted_and_change_nothing() {
    let (mut tx, mut rx) = pair(false, 1024);
    let pkts: Vec<Bytes> = (0..2_000).map(|_| seal(&mut tx, 64)).collect();
    for p in &pkts {
        open(&mut rx, p).unwrap();
    }
    let (top, st) = state(&rx);
    assert_eq!(top, 2_000);
    // Every packet inside the window, ten times over.
    let mut replays = 0;
    for _ in 0..10 {
        for p in &pkts[2_000 - 1_024..] {
            assert!(matches!(open(&mut rx, p), Err(OpenError::Replayed(_))));
            replays += 1;
        }
    }
    let (top2, st2) = state(&rx);
    assert_eq!(top2, top);
    assert_eq!(st2.replay_drops, st.replay_drops + replays);
    assert_eq!(
        (st2.packets, st2.bytes, st2.auth_drops),
        (st.packets, st.bytes, st.auth_drops)
    );
}

#[test]
fn packets_left_of_the_window_are_dropped_before_decryption() {
    let (mut tx, mut rx) = pair(false, 64);
    let pkts: Vec<Bytes> = (0..1_000).map(|_| seal(&mut tx, 32)).collect();
    open(&mut rx, &pkts[999]).unwrap();
    let (_, st) = state(&rx);
    // seq 1 ..= 1000 - 64 lie left of the window; 937 ..= 999 are inside and fresh.
    let mut old = 0;
    for (i, p) in pkts[..999].iter().enumerate() {
        let seq = i as u64 + 1;
        match open(&mut rx, p) {
            Err(OpenError::OutsideWindow(s)) => {
                assert_eq!(s, seq);
                assert!(seq <= 1_000 - 64, "seq {seq} is inside the window");
                old += 1;
            }
            Ok(s) => assert!(s > 1_000 - 64, "seq {s} left of the window opened"),
            Err(e) => panic!("seq {seq}: {e}"),
        }
    }
    assert_eq!(old, 1_000 - 64);
    let (top, st2) = state(&rx);
    assert_eq!(top, 1_000);
    assert_eq!(st2.replay_drops, st.replay_drops + old);
    assert_eq!(st2.auth_drops, 0);
}

#[test]
fn truncated_packets_are_counted_and_do_not_consume_the_sequence_number() {
    let (mut tx, mut rx) = pair(true, 128);
    let p = seal(&mut tx, 100);
    for n in 0..p.len() {
        let before = state(&rx);
        assert!(
            open(&mut rx, &p[..n]).is_err(),
            "prefix of {n} bytes opened"
        );
        let after = state(&rx);
        assert_eq!(after.0, before.0, "window moved on a {n}-byte prefix");
        let dropped = |s: &SaStats| s.other_drops + s.auth_drops;
        assert_eq!(
            dropped(&after.1),
            dropped(&before.1) + 1,
            "prefix {n} not counted"
        );
    }
    // One extra byte (a trailing garbage byte shifts the ICV): dropped too.
    let mut longer = p.to_vec();
    longer.push(0);
    assert!(open(&mut rx, &longer).is_err());
    assert_eq!(open(&mut rx, &p), Ok(1), "the genuine packet still opens");
}

#[test]
fn forged_icvs_at_volume_never_move_the_window() {
    for esn in [false, true] {
        let (mut tx, mut rx) = pair(esn, 4096);
        let genuine: Vec<Bytes> = (0..100).map(|_| seal(&mut tx, 200)).collect();
        for p in &genuine[..50] {
            open(&mut rx, p).unwrap();
        }
        let (top, st) = state(&rx);
        let n = 20_000u32;
        for i in 0..n {
            let mut f = genuine[50 + (i as usize % 50)].to_vec();
            match i % 4 {
                // A flipped ICV bit.
                0 => {
                    let last = f.len() - 1 - (i as usize % 16);
                    f[last] ^= 1 << (i % 8);
                }
                // A sequence number far ahead (would slide the window past everything).
                1 => f[4..8].copy_from_slice(&(0x7fff_0000u32 + i).to_be_bytes()),
                // A flipped ciphertext bit.
                2 => f[20 + (i as usize % 100)] ^= 0x10,
                // A flipped IV bit.
                _ => f[8 + (i as usize % 8)] ^= 0x01,
            }
            let r = open(&mut rx, &f);
            assert_eq!(
                r,
                Err(OpenError::AuthenticationFailed),
                "esn {esn} forgery {i}"
            );
        }
        let (top2, st2) = state(&rx);
        assert_eq!(top2, top, "esn {esn}: the window moved on forgeries");
        assert_eq!(st2.auth_drops, st.auth_drops + u64::from(n));
        assert_eq!((st2.packets, st2.bytes), (st.packets, st.bytes));
        // The genuine packets 51..=100 all still open (none was marked seen by a forgery).
        for (i, p) in genuine[50..].iter().enumerate() {
            assert_eq!(open(&mut rx, p), Ok(51 + i as u64), "esn {esn}");
        }
    }
}

#[test]
fn garbage_and_unknown_spis_through_the_sad_create_nothing() {
    let (mut tx, rx) = pair(false, 64);
    let mut sad = Sad::new();
    sad.insert_inbound(rx).unwrap();
    let good = seal(&mut tx, 40);
    let mut x = 0x9e37_79b9u32;
    let mut unknown = 0;
    for i in 0..50_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let len = (x % 120) as usize;
        let mut g: Vec<u8> = (0..len).map(|j| (x.rotate_left(j as u32)) as u8).collect();
        if i % 2 == 0 {
            // Our SPI, garbage after it, long enough to reach the SA (shorter ones are
            // refused by the SAD's SPI lookup, before any SA, and counted nowhere).
            g.resize(40 + len, 0xa5);
            g[..4].copy_from_slice(&SPI.to_be_bytes());
        }
        let mut b = BytesMut::from(&g[..]);
        match sad.open(&mut b) {
            Ok(o) => panic!("garbage {i} opened: {o:?}"),
            Err(OpenError::UnknownSpi(_)) => unknown += 1,
            Err(_) => {}
        }
    }
    assert!(unknown > 10_000, "{unknown}");
    assert_eq!(sad.len(), (1, 0), "the SAD grew");
    let rx = sad.inbound(SPI).unwrap();
    assert_eq!(rx.highest_seq(), 0);
    assert_eq!(rx.stats().packets, 0);
    let st = rx.stats();
    assert_eq!(
        st.auth_drops + st.other_drops + st.replay_drops,
        25_000,
        "{st:?}"
    );
    let mut b = BytesMut::from(&good[..]);
    assert_eq!(sad.open(&mut b).map(|o| o.seq), Ok(1));
    assert!(sad.poll_event().is_none());
}

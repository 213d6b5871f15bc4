//! Lifetimes and the SAD: soft and hard limits in bytes and packets, sequence-number
//! exhaustion, SPI demultiplexing, events through `Sad::poll_event`.

mod common;

use bytes::BytesMut;
use esp::sa::{SEQ_REKEY_MARGIN_32, SEQ_REKEY_MARGIN_64};
use esp::{
    Direction, Event, InboundSa, Lifetime, LimitKind, OpenError, OutboundSa, SaParams, Sad,
    SadError, SealError,
};

const KM: [u8; 20] = [0x61; 20];

fn params(spi: u32) -> SaParams {
    SaParams::from_keymat(spi, &KM).unwrap()
}

fn drain(sad: &mut Sad) -> Vec<Event> {
    std::iter::from_fn(|| sad.poll_event()).collect()
}

#[test]
fn packet_limits_outbound_and_inbound() {
    let life = Lifetime {
        soft_packets: Some(3),
        hard_packets: Some(5),
        ..Default::default()
    };
    let mut sad = Sad::new();
    sad.insert_outbound(OutboundSa::new(params(0x500).with_lifetime(life)).unwrap())
        .unwrap();
    sad.insert_inbound(InboundSa::new(params(0x500).with_lifetime(life)).unwrap())
        .unwrap();
    let mut events = Vec::new();
    for i in 1..=5 {
        let mut b = BytesMut::from(&b"data"[..]);
        sad.seal(0x500, &mut b, 47).unwrap();
        sad.open(&mut b).unwrap();
        let ev = drain(&mut sad);
        if i != 3 && i != 5 {
            assert!(ev.is_empty(), "packet {i}: {ev:?}");
        }
        events.extend(ev);
    }
    use Direction::*;
    let rk = |direction| Event::RekeyNeeded {
        spi: 0x500,
        direction,
        reason: LimitKind::Packets,
    };
    let ex = |direction| Event::Expired {
        spi: 0x500,
        direction,
        reason: LimitKind::Packets,
    };
    assert_eq!(
        events,
        vec![rk(Outbound), rk(Inbound), ex(Outbound), ex(Inbound)]
    );
    let mut b = BytesMut::from(&b"data"[..]);
    assert_eq!(sad.seal(0x500, &mut b, 47), Err(SealError::Expired));
    assert!(sad.outbound(0x500).unwrap().is_expired());
    assert!(sad.inbound(0x500).unwrap().is_expired());
    assert!(drain(&mut sad).is_empty(), "events are raised once");
}

#[test]
fn byte_limits() {
    let life = Lifetime {
        soft_bytes: Some(1000),
        hard_bytes: Some(2000),
        ..Default::default()
    };
    let mut tx = OutboundSa::new(params(0x501).with_lifetime(life)).unwrap();
    let mut rx = InboundSa::new(params(0x501).with_lifetime(life)).unwrap();
    let mut sealed = 0;
    loop {
        let mut b = BytesMut::from(&[0u8; 300][..]);
        match tx.seal(&mut b, 47) {
            Ok(_) => sealed += 1,
            Err(e) => {
                assert_eq!(e, SealError::Expired);
                break;
            }
        }
        rx.open(&mut b).unwrap();
    }
    assert_eq!(sealed, 7); // 7 * 300 = 2100 >= 2000 after the 7th
    let rk = Event::RekeyNeeded {
        spi: 0x501,
        direction: Direction::Outbound,
        reason: LimitKind::Bytes,
    };
    assert_eq!(tx.poll_event(), Some(rk));
    assert!(matches!(
        tx.poll_event(),
        Some(Event::Expired {
            reason: LimitKind::Bytes,
            ..
        })
    ));
    assert!(matches!(
        rx.poll_event(),
        Some(Event::RekeyNeeded {
            direction: Direction::Inbound,
            ..
        })
    ));
    assert!(matches!(rx.poll_event(), Some(Event::Expired { .. })));
    let mut b = BytesMut::from(&[0u8; 300][..]);
    let (mut tx2, _) = common::pair(0x501, &KM, |p| p.with_initial_seq(20));
    tx2.seal(&mut b, 47).unwrap();
    assert_eq!(rx.open(&mut b), Err(OpenError::Expired));
}

#[test]
fn sequence_exhaustion_warned_well_before_wrap() {
    let max = u64::from(u32::MAX);
    // One packet before the soft point: nothing. At it: rekey needed.
    let mut tx =
        OutboundSa::new(params(0x502).with_initial_seq(max - SEQ_REKEY_MARGIN_32 - 2)).unwrap();
    let mut b = BytesMut::from(&b"x"[..]);
    tx.seal(&mut b, 47).unwrap();
    assert_eq!(tx.poll_event(), None);
    let mut b = BytesMut::from(&b"x"[..]);
    tx.seal(&mut b, 47).unwrap();
    assert_eq!(
        tx.poll_event(),
        Some(Event::RekeyNeeded {
            spi: 0x502,
            direction: Direction::Outbound,
            reason: LimitKind::SequenceNumber
        })
    );
    const { assert!(SEQ_REKEY_MARGIN_32 >= 1 << 24, "well before the wrap") };
    // The last number: expired; then no more packets, never a wrap to 0.
    let mut tx = OutboundSa::new(params(0x502).with_initial_seq(max - 1)).unwrap();
    let mut b = BytesMut::from(&b"x"[..]);
    assert_eq!(tx.seal(&mut b, 47).unwrap().seq, max);
    assert!(matches!(tx.poll_event(), Some(Event::RekeyNeeded { .. })));
    assert!(matches!(
        tx.poll_event(),
        Some(Event::Expired {
            reason: LimitKind::SequenceNumber,
            ..
        })
    ));
    let mut b = BytesMut::from(&b"x"[..]);
    assert_eq!(tx.seal(&mut b, 47), Err(SealError::SequenceExhausted));
    assert_eq!(&b[..], b"x", "buffer untouched on error");
    // ESN: the same at 2^64.
    let mut tx = OutboundSa::new(
        params(0x503)
            .with_esn(true)
            .with_initial_seq(u64::MAX - SEQ_REKEY_MARGIN_64 - 1),
    )
    .unwrap();
    let mut b = BytesMut::from(&b"x"[..]);
    tx.seal(&mut b, 47).unwrap();
    assert!(matches!(
        tx.poll_event(),
        Some(Event::RekeyNeeded {
            reason: LimitKind::SequenceNumber,
            ..
        })
    ));
    let mut tx =
        OutboundSa::new(params(0x503).with_esn(true).with_initial_seq(u64::MAX - 1)).unwrap();
    let mut b = BytesMut::from(&b"x"[..]);
    assert_eq!(tx.seal(&mut b, 47).unwrap().seq, u64::MAX);
    let mut b = BytesMut::from(&b"x"[..]);
    assert_eq!(tx.seal(&mut b, 47), Err(SealError::SequenceExhausted));
}

#[test]
fn sad_demultiplexes_by_spi() {
    let mut sad = Sad::new();
    for spi in [0x10, 0x20, 0x30] {
        let km = [spi as u8; 36];
        sad.insert_inbound(InboundSa::new(SaParams::from_keymat(spi, &km).unwrap()).unwrap())
            .unwrap();
    }
    assert_eq!(
        sad.insert_inbound(InboundSa::new(SaParams::from_keymat(0x20, &[0; 36]).unwrap()).unwrap()),
        Err(SadError::DuplicateSpi(0x20))
    );
    assert_eq!(sad.len(), (3, 0));
    for spi in [0x30, 0x10, 0x20] {
        let (mut tx, _) = common::pair(spi, &[spi as u8; 36], |p| p);
        let mut b = BytesMut::from(&spi.to_be_bytes()[..]);
        tx.seal(&mut b, 4).unwrap();
        let o = sad.open(&mut b).unwrap();
        assert_eq!((o.spi, &b[..]), (spi, &spi.to_be_bytes()[..]));
    }
    let (mut tx, _) = common::pair(0x40, &[0x40; 36], |p| p);
    let mut b = BytesMut::from(&b"?"[..]);
    tx.seal(&mut b, 4).unwrap();
    assert_eq!(sad.open(&mut b), Err(OpenError::UnknownSpi(0x40)));
    let mut b = BytesMut::from(&b"?"[..]);
    assert_eq!(sad.seal(0x40, &mut b, 4), Err(SealError::UnknownSpi(0x40)));
    assert!(sad.remove_inbound(0x10).is_some());
    assert!(sad.remove_inbound(0x10).is_none());
    // The slice variants demultiplex the same way.
    let mut sad_out = Sad::new();
    let (tx, _) = common::pair(0x30, &[0x30; 36], |p| p.with_initial_seq(5));
    sad_out.insert_outbound(tx).unwrap();
    let mut frame = [0u8; 64];
    frame[16..19].copy_from_slice(b"abc");
    let sealed = sad_out.seal_with_headroom(0x30, &mut frame, 3, 47).unwrap();
    let (o, range) = sad.open_in_place(&mut frame[..sealed.len]).unwrap();
    assert_eq!((o.spi, &frame[range]), (0x30, &b"abc"[..]));
    assert_eq!(
        sad_out.seal_with_headroom(0x31, &mut frame, 3, 47),
        Err(SealError::UnknownSpi(0x31))
    );
    let mut short = BytesMut::from(&[1u8; 10][..]);
    assert!(matches!(sad.open(&mut short), Err(OpenError::Wire(_))));
}

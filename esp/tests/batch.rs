//! The batch API: many packets per call, same results as one at a time.

mod common;

use bytes::BytesMut;
use esp::{BatchSealError, InboundSa, OpenError, OutboundSa, SaParams, Sad, SealError};

#[test]
fn batch_equals_one_by_one() {
    let km = [0x11; 36];
    let (mut tx_a, mut rx_a) = common::pair(0x900, &km, |p| p.with_esn(true));
    let (mut tx_b, _) = common::pair(0x900, &km, |p| p.with_esn(true));
    let payloads: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; i * 23]).collect();
    let mut batch: Vec<BytesMut> = payloads.iter().map(|p| BytesMut::from(&p[..])).collect();
    tx_a.seal_batch(&mut batch, 4).unwrap();
    for (p, b) in payloads.iter().zip(&batch) {
        let mut one = BytesMut::from(&p[..]);
        tx_b.seal(&mut one, 4).unwrap();
        assert_eq!(one, b);
    }
    // Corrupt one, replay another: the rest still open.
    batch[10][30] ^= 1;
    let dup = batch[5].clone();
    batch.push(dup);
    let mut results = Vec::new();
    rx_a.open_batch(&mut batch, &mut results);
    assert_eq!(results.len(), 65);
    for (i, r) in results.iter().enumerate() {
        match i {
            10 => assert_eq!(*r, Err(OpenError::AuthenticationFailed)),
            64 => assert_eq!(*r, Err(OpenError::Replayed(6))),
            _ => {
                assert_eq!(r.as_ref().unwrap().seq, i as u64 + 1);
                assert_eq!(&batch[i][..], &payloads[i][..]);
            }
        }
    }
}

#[test]
fn sad_batches_across_spis_and_stops_seal_at_exhaustion() {
    let mut sad = Sad::new();
    let mut txs = Vec::new();
    for spi in [0x1, 0x2] {
        sad.insert_inbound(
            InboundSa::new(SaParams::from_keymat(spi, &[spi as u8; 20]).unwrap()).unwrap(),
        )
        .unwrap();
        txs.push(common::pair(spi, &[spi as u8; 20], |p| p).0);
    }
    let mut bufs: Vec<BytesMut> = (0..10u8)
        .map(|i| {
            let mut b = BytesMut::from(&[i; 40][..]);
            txs[usize::from(i % 3 == 0)].seal(&mut b, 47).unwrap();
            b
        })
        .collect();
    bufs.push(BytesMut::from(&[0u8; 3][..]));
    let mut results = Vec::with_capacity(11);
    sad.open_batch(&mut bufs, &mut results);
    assert!(results[..10].iter().all(|r| r.is_ok()), "{results:?}");
    assert!(matches!(results[10], Err(OpenError::Wire(_))));
    assert_eq!(&bufs[9][..], &[9; 40]);

    let mut tx = OutboundSa::new(
        SaParams::from_keymat(0x3, &[3; 20])
            .unwrap()
            .with_initial_seq(u64::from(u32::MAX) - 2),
    )
    .unwrap();
    let mut bufs: Vec<BytesMut> = (0..4).map(|_| BytesMut::from(&b"abc"[..])).collect();
    assert_eq!(
        tx.seal_batch(&mut bufs, 47),
        Err(BatchSealError {
            index: 2,
            error: SealError::SequenceExhausted
        })
    );
    assert_eq!(&bufs[2][..], b"abc");
    assert_eq!(
        sad.seal_batch(0x99, &mut bufs, 47),
        Err(BatchSealError {
            index: 0,
            error: SealError::UnknownSpi(0x99)
        })
    );
}

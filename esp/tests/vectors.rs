//! Known-answer tests from outside this crate: the GCM specification's AES-GCM vectors through
//! `Gcm`, and the whole ESP packets of draft-mcgrew-gcm-test-01 through `Gcm` and `InboundSa`.
//! (Our seal is compared to the same ESP packets byte for byte in `src/sa.rs` unit tests,
//! where the vectors' non-sequence-number IVs can be injected.)

mod common;

use bytes::BytesMut;
use esp::{Backend, Gcm, GcmKeyError, InboundSa, OpenError, SaKey, SaParams};

const GCM_SPEC: &str = include_str!("data/gcm_spec.txt");
const MCGREW: &str = include_str!("data/mcgrew_gcm_test_01.txt");

#[test]
fn gcm_spec_vectors_every_backend() {
    let cases = common::cases(GCM_SPEC);
    assert_eq!(cases.len(), 8);
    for backend in common::backends() {
        for c in &cases {
            let gcm = Gcm::new(c.get("key"), backend).unwrap();
            let nonce: [u8; 12] = c.get("iv").try_into().unwrap();
            let mut buf = c.get("plaintext").to_vec();
            let tag = gcm.seal_in_place(&nonce, c.get("aad"), &mut buf);
            assert_eq!(
                hex::encode(&buf),
                hex::encode(c.get("ciphertext")),
                "{backend:?} case {}",
                c.name
            );
            assert_eq!(
                hex::encode(tag),
                hex::encode(c.get("tag")),
                "{backend:?} case {}",
                c.name
            );
            gcm.open_in_place(&nonce, c.get("aad"), &mut buf, &tag)
                .unwrap();
            assert_eq!(buf, c.get("plaintext"));
            // A wrong tag is refused.
            let mut bad_tag = tag;
            bad_tag[15] ^= 0x80;
            let mut ct = c.get("ciphertext").to_vec();
            assert!(
                gcm.open_in_place(&nonce, c.get("aad"), &mut ct, &bad_tag)
                    .is_err()
            );
        }
    }
}

#[test]
fn mcgrew_vectors_through_gcm() {
    let cases = common::cases(MCGREW);
    assert_eq!(cases.len(), 14);
    for c in &cases {
        let key = c.get("key");
        let gcm = match Gcm::new(key, Backend::best()) {
            Ok(g) => g,
            Err(e) => {
                assert_eq!(key.len(), 24, "case {}", c.name);
                assert_eq!(e, GcmKeyError::BadKeyLength(24));
                continue;
            }
        };
        let nonce: [u8; 12] = c.get("nonce").try_into().unwrap();
        let mut buf = c.get("plaintext").to_vec();
        let tag = gcm.seal_in_place(&nonce, c.get("aad"), &mut buf);
        assert_eq!(
            hex::encode(&buf),
            hex::encode(c.get("ciphertext")),
            "case {}",
            c.name
        );
        assert_eq!(
            hex::encode(tag),
            hex::encode(c.get("tag")),
            "case {}",
            c.name
        );
    }
}

/// The wire packet of a draft-mcgrew case: SPI || seq_lo || IV || ciphertext || ICV, and the
/// full sequence number it carries.
fn esp_packet(c: &common::Case) -> (u32, u64, bool, Vec<u8>) {
    let aad = c.get("aad");
    let spi = u32::from_be_bytes(aad[..4].try_into().unwrap());
    let esn = aad.len() == 12;
    let seq = if esn {
        u64::from_be_bytes(aad[4..].try_into().unwrap())
    } else {
        u64::from(u32::from_be_bytes(aad[4..].try_into().unwrap()))
    };
    let mut p = aad[..4].to_vec();
    p.extend_from_slice(&aad[aad.len() - 4..]);
    p.extend_from_slice(&c.get("nonce")[4..]);
    p.extend_from_slice(c.get("ciphertext"));
    p.extend_from_slice(c.get("tag"));
    (spi, seq, esn, p)
}

#[test]
fn mcgrew_esp_packets_open() {
    let mut opened = 0;
    for c in common::cases(MCGREW) {
        let key = c.get("key");
        let (spi, seq, esn, packet) = esp_packet(&c);
        if spi == 0 || key.len() == 24 {
            continue; // case 4 uses the reserved SPI 0, case 7 a 192-bit key
        }
        let nonce = c.get("nonce");
        for backend in common::backends() {
            // The window's right edge just below the packet, so that ESN reconstruction
            // (RFC 4303 A2.2) has to find the vector's high half on its own.
            let params = SaParams::new(
                spi,
                SaKey::new(key, nonce[..4].try_into().unwrap()).unwrap(),
            )
            .with_esn(esn)
            .with_backend(backend)
            .with_initial_seq(seq - 1);
            let mut sa = InboundSa::new(params).unwrap();
            let mut buf = BytesMut::from(&packet[..]);
            let o = sa
                .open(&mut buf)
                .unwrap_or_else(|e| panic!("case {}: {e}", c.name));
            let pt = c.get("plaintext");
            let pad = usize::from(pt[pt.len() - 2]);
            assert_eq!(
                hex::encode(&buf),
                hex::encode(&pt[..pt.len() - 2 - pad]),
                "case {}",
                c.name
            );
            assert_eq!((o.spi, o.seq, o.next_header), (spi, seq, pt[pt.len() - 1]));
            assert_eq!(sa.highest_seq(), seq);
            // The same packet again is a replay.
            let mut again = BytesMut::from(&packet[..]);
            assert_eq!(sa.open(&mut again), Err(OpenError::Replayed(seq)));
            // With the wrong salt, authentication fails and the window stays where it was.
            let params = SaParams::new(spi, SaKey::new(key, [0xee; 4]).unwrap())
                .with_esn(esn)
                .with_initial_seq(seq - 1);
            let mut wrong = InboundSa::new(params).unwrap();
            let mut buf = BytesMut::from(&packet[..]);
            assert_eq!(wrong.open(&mut buf), Err(OpenError::AuthenticationFailed));
            assert_eq!(wrong.highest_seq(), seq - 1);
            opened += 1;
        }
    }
    assert!(opened >= 12);
}

#[test]
fn esn_vector_needs_the_high_half() {
    // Case 1 carries seq_hi 0x87654321 only in the AAD. An SA that believes the high half
    // is 0 computes another AAD and must refuse the packet.
    let c = &common::cases(MCGREW)[0];
    let (spi, seq, esn, packet) = esp_packet(c);
    assert!(esn && seq >> 32 == 0x8765_4321);
    let nonce = c.get("nonce");
    let key = SaKey::new(c.get("key"), nonce[..4].try_into().unwrap()).unwrap();
    let mut sa = InboundSa::new(
        SaParams::new(spi, key)
            .with_esn(true)
            .with_initial_seq(1 << 20),
    )
    .unwrap();
    let mut buf = BytesMut::from(&packet[..]);
    assert!(sa.open(&mut buf).is_err());
    assert_eq!(sa.highest_seq(), 1 << 20);
}

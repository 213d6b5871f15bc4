//! SK payload protection: round trips for every suite, rejection of every
//! single-bit change, malformed bodies, and the AES-GCM output checked with
//! an independent implementation (ring).

use ikev2::crypto::{CryptoError, EncrAlg, IntegAlg, SkCipher};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const SUITES: [(EncrAlg, IntegAlg); 6] = [
    (EncrAlg::AesGcm16_128, IntegAlg::None),
    (EncrAlg::AesGcm16_256, IntegAlg::None),
    (EncrAlg::AesCbc128, IntegAlg::HmacSha256_128),
    (EncrAlg::AesCbc256, IntegAlg::HmacSha256_128),
    (EncrAlg::AesCbc256, IntegAlg::HmacSha384_192),
    (EncrAlg::AesCbc256, IntegAlg::HmacSha512_256),
];

fn cipher(encr: EncrAlg, integ: IntegAlg, rng: &mut ChaCha20Rng) -> (SkCipher, Vec<u8>, Vec<u8>) {
    let mut e = vec![0; encr.key_len()];
    let mut a = vec![0; integ.key_len()];
    rng.fill_bytes(&mut e);
    rng.fill_bytes(&mut a);
    (SkCipher::new(encr, integ, &e, &a).unwrap(), e, a)
}

#[test]
fn round_trip_every_suite_and_length() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (encr, integ) in SUITES {
        let (c, ..) = cipher(encr, integ, &mut rng);
        for len in [0, 1, 15, 16, 17, 31, 32, 100, 1000] {
            let mut pt = vec![0; len];
            rng.fill_bytes(&mut pt);
            let prefix = [0x5a; 32];
            let body = c.seal(&prefix, &pt, &mut rng).unwrap();
            assert_eq!(body.len(), c.sealed_len(len), "{encr:?} {len}");
            let ct_len = body.len() - encr.iv_len() - c.icv_len();
            assert_eq!(ct_len % encr.block_len(), 0);
            assert!(ct_len > len, "room for the pad length byte");
            assert_eq!(
                &c.open(&prefix, &body).unwrap()[..],
                &pt[..],
                "{encr:?} {len}"
            );
        }
    }
}

#[test]
fn seal_into_appends_exactly_what_seal_returns() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for (encr, integ) in SUITES {
        let (c, ..) = cipher(encr, integ, &mut rng);
        for len in [0, 1, 16, 33, 500] {
            let mut pt = vec![0; len];
            rng.fill_bytes(&mut pt);
            let prefix: Vec<u8> = (0..28u8).collect();
            let seed = rng.next_u64();
            let body = c
                .seal(&prefix, &pt, &mut ChaCha20Rng::seed_from_u64(seed))
                .unwrap();
            let mut msg = prefix.clone();
            c.seal_into(&mut msg, &pt, &mut ChaCha20Rng::seed_from_u64(seed))
                .unwrap();
            assert_eq!(
                msg.len(),
                prefix.len() + c.sealed_len(len),
                "{encr:?} {len}"
            );
            assert_eq!(msg[..prefix.len()], prefix[..], "prefix untouched");
            assert_eq!(msg[prefix.len()..], body[..], "{encr:?} {len}");
            let (p, b) = msg.split_at(prefix.len());
            assert_eq!(&c.open(p, b).unwrap()[..], &pt[..]);
        }
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for (encr, integ) in SUITES {
        let (c, ..) = cipher(encr, integ, &mut rng);
        let prefix: Vec<u8> = (0..32).collect();
        let body = c.seal(&prefix, b"inner payload chain", &mut rng).unwrap();
        for i in 0..body.len() * 8 {
            let mut b = body.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                c.open(&prefix, &b),
                Err(CryptoError::IntegrityCheckFailed),
                "{encr:?} body bit {i}"
            );
        }
        for i in 0..prefix.len() * 8 {
            let mut p = prefix.clone();
            p[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                c.open(&p, &body),
                Err(CryptoError::IntegrityCheckFailed),
                "{encr:?} prefix bit {i}"
            );
        }
    }
}

#[test]
fn other_key_or_direction_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    for (encr, integ) in SUITES {
        let (a, ..) = cipher(encr, integ, &mut rng);
        let (b, ..) = cipher(encr, integ, &mut rng);
        let body = a.seal(b"hdr", b"x", &mut rng).unwrap();
        assert_eq!(
            b.open(b"hdr", &body),
            Err(CryptoError::IntegrityCheckFailed)
        );
    }
}

#[test]
fn truncated_and_misaligned_bodies_are_malformed_not_panics() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    for (encr, integ) in SUITES {
        let (c, ..) = cipher(encr, integ, &mut rng);
        let body = c.seal(b"hdr", &[7; 40], &mut rng).unwrap();
        for n in 0..body.len() {
            let r = c.open(b"hdr", &body[..n]);
            assert!(
                matches!(
                    r,
                    Err(CryptoError::MalformedSkPayload | CryptoError::IntegrityCheckFailed)
                ),
                "{encr:?} prefix of {n}: {r:?}"
            );
        }
        // Too short to hold IV + one byte + ICV is always malformed.
        let min = encr.iv_len() + c.icv_len();
        assert_eq!(
            c.open(b"hdr", &body[..min]),
            Err(CryptoError::MalformedSkPayload)
        );
    }
}

#[test]
fn gcm_output_matches_ring() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for (encr, alg) in [
        (EncrAlg::AesGcm16_128, &ring::aead::AES_128_GCM),
        (EncrAlg::AesGcm16_256, &ring::aead::AES_256_GCM),
    ] {
        let (c, sk_e, _) = cipher(encr, IntegAlg::None, &mut rng);
        let prefix = [0x21u8; 32];
        let pt = b"IDi AUTH SA TSi TSr";
        let body = c.seal(&prefix, pt, &mut rng).unwrap();
        let (key, salt) = sk_e.split_at(sk_e.len() - 4);
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(salt);
        nonce[4..].copy_from_slice(&body[..8]);
        let key = ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(alg, key).unwrap());
        let mut in_out = body[8..].to_vec();
        let plain = key
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(&prefix),
                &mut in_out,
            )
            .unwrap();
        // inner payloads, then (no padding) a zero pad length byte
        assert_eq!(&plain[..pt.len()], pt);
        assert_eq!(&plain[pt.len()..], &[0]);
    }
}

#[test]
fn cbc_icv_is_truncated_hmac_over_prefix_iv_ciphertext() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    for (encr, integ, alg) in [
        (
            EncrAlg::AesCbc128,
            IntegAlg::HmacSha256_128,
            ring::hmac::HMAC_SHA256,
        ),
        (
            EncrAlg::AesCbc256,
            IntegAlg::HmacSha384_192,
            ring::hmac::HMAC_SHA384,
        ),
        (
            EncrAlg::AesCbc256,
            IntegAlg::HmacSha512_256,
            ring::hmac::HMAC_SHA512,
        ),
    ] {
        let (c, _, sk_a) = cipher(encr, integ, &mut rng);
        let prefix = [0x33u8; 32];
        let body = c.seal(&prefix, b"payloads", &mut rng).unwrap();
        let (authed, icv) = body.split_at(body.len() - integ.icv_len());
        let key = ring::hmac::Key::new(alg, &sk_a);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(&prefix);
        ctx.update(authed);
        assert_eq!(&ctx.sign().as_ref()[..integ.icv_len()], icv);
        assert_eq!(authed.len(), 16 + 16, "IV + one block");
    }
}

#[test]
fn suite_and_key_checks() {
    assert_eq!(
        SkCipher::new(
            EncrAlg::AesGcm16_128,
            IntegAlg::HmacSha256_128,
            &[0; 20],
            &[0; 32]
        )
        .unwrap_err(),
        CryptoError::IncompatibleSuite
    );
    assert_eq!(
        SkCipher::new(EncrAlg::AesCbc128, IntegAlg::None, &[0; 16], &[]).unwrap_err(),
        CryptoError::IncompatibleSuite
    );
    assert!(matches!(
        SkCipher::new(EncrAlg::AesGcm16_256, IntegAlg::None, &[0; 32], &[]),
        Err(CryptoError::BadKeyLength { need: 36, .. })
    ));
    assert!(matches!(
        SkCipher::new(
            EncrAlg::AesCbc256,
            IntegAlg::HmacSha512_256,
            &[0; 32],
            &[0; 32]
        ),
        Err(CryptoError::BadKeyLength { need: 64, .. })
    ));
}

#[test]
fn transform_ids() {
    for e in EncrAlg::ALL {
        assert_eq!(
            EncrAlg::from_transform(e.transform_id(), e.key_bits()),
            Some(e)
        );
    }
    assert_eq!(EncrAlg::from_transform(20, 192), None);
    for i in IntegAlg::ALL {
        assert_eq!(IntegAlg::from_transform_id(i.transform_id()), Some(i));
    }
    assert_eq!(EncrAlg::AesGcm16_256.transform_id(), 20);
    assert_eq!(EncrAlg::AesCbc128.transform_id(), 12);
    assert_eq!(IntegAlg::HmacSha256_128.transform_id(), 12);
}

#[test]
fn debug_does_not_print_keys() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for (encr, integ) in SUITES {
        let (c, e, a) = cipher(encr, integ, &mut rng);
        let s = format!("{c:?}");
        assert!(s.contains("redacted"));
        assert!(!s.contains(&hex::encode(&e[..4])) && !s.contains(&format!("{:?}", &e[..4])));
        if !a.is_empty() {
            assert!(!s.contains(&hex::encode(&a[..4])));
        }
    }
}

#[test]
fn random_bodies_never_open_and_never_panic() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    for (encr, integ) in SUITES {
        let (c, ..) = cipher(encr, integ, &mut rng);
        for _ in 0..2000 {
            let len = (rng.next_u32() % 200) as usize;
            let mut body = vec![0; len];
            rng.fill_bytes(&mut body);
            assert!(c.open(b"hdr", &body).is_err(), "{encr:?} {len}");
        }
    }
}

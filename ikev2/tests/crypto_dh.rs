//! Diffie-Hellman: both sides agree for every group, and invalid peer values
//! are rejected (MODP 1 < y < p-1, P-256 on the curve, X25519 low order).

use ikev2::crypto::{CryptoError, DhGroup, DhSecret};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[test]
fn both_sides_agree_in_every_group() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for group in DhGroup::ALL {
        let (a, a_pub) = DhSecret::generate(group, &mut rng);
        let (b, b_pub) = DhSecret::generate(group, &mut rng);
        assert_eq!(a.group(), group);
        assert_eq!(a.public(), a_pub);
        assert_eq!(a_pub.len(), group.public_len());
        assert_ne!(a_pub, b_pub);
        let (ka, kb) = (a.shared(&b_pub).unwrap(), b.shared(&a_pub).unwrap());
        assert_eq!(ka.len(), group.shared_len());
        assert_eq!(&ka[..], &kb[..], "{group:?}");
        assert!(ka.iter().any(|&x| x != 0));
    }
}

#[test]
fn same_seed_same_keys() {
    for group in DhGroup::ALL {
        let (_, p1) = DhSecret::generate(group, &mut ChaCha20Rng::seed_from_u64(5));
        let (_, p2) = DhSecret::generate(group, &mut ChaCha20Rng::seed_from_u64(5));
        assert_eq!(p1, p2);
    }
}

/// The RFC 3526 2048-bit prime, as written by `tests/data/gen_vectors.py` (from OpenSSL).
fn modp2048_prime() -> Vec<u8> {
    hex::decode(include_str!("data/modp2048_prime.hex").trim()).unwrap()
}

#[test]
fn modp_rejects_out_of_range_and_wrong_length() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let group = DhGroup::Modp2048;
    let len = group.public_len();
    let p = modp2048_prime();
    assert_eq!(p.len(), len);
    let mut p_minus_1 = p.clone();
    *p_minus_1.last_mut().unwrap() -= 1; // p ends in ...FF
    let mut p_minus_2 = p.clone();
    *p_minus_2.last_mut().unwrap() -= 2;
    let mut one = vec![0; len];
    one[len - 1] = 1;
    let mut two = vec![0; len];
    two[len - 1] = 2;
    for (what, bad) in [
        ("0", vec![0; len]),
        ("1", one),
        ("p-1", p_minus_1),
        ("p", p),
        ("all ones", vec![0xff; len]),
        ("short", vec![2; len - 1]),
        ("long", vec![0; len + 1]),
        ("empty", vec![]),
    ] {
        let (s, _) = DhSecret::generate(group, &mut rng);
        assert_eq!(
            s.shared(&bad),
            Err(CryptoError::InvalidPublicValue),
            "{what}"
        );
    }
    // The boundaries just inside the range are accepted.
    for good in [two, p_minus_2] {
        let (s, _) = DhSecret::generate(group, &mut rng);
        assert!(s.shared(&good).is_ok());
    }
}

#[test]
fn modp_exponent_sizes_follow_rfc3526() {
    assert_eq!(DhGroup::Modp2048.modp_exponent_bits(), Some(320));
    assert_eq!(DhGroup::Modp3072.modp_exponent_bits(), Some(420));
    assert_eq!(DhGroup::Modp4096.modp_exponent_bits(), Some(480));
    assert_eq!(DhGroup::Curve25519.modp_exponent_bits(), None);
}

#[test]
fn p256_rejects_points_off_the_curve() {
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let (_, good) = DhSecret::generate(DhGroup::Ecp256, &mut rng);
    let mut off = good.clone();
    off[63] ^= 1; // change y: (x, y') is not on the curve
    for (what, bad) in [
        ("off curve", off),
        ("zero (identity has no affine form)", vec![0; 64]),
        ("x beyond p", vec![0xff; 64]),
        ("compressed length", good[..33].to_vec()),
        ("sec1 tagged", [&[4u8][..], &good].concat()),
    ] {
        let (s, _) = DhSecret::generate(DhGroup::Ecp256, &mut rng);
        assert_eq!(
            s.shared(&bad),
            Err(CryptoError::InvalidPublicValue),
            "{what}"
        );
    }
}

#[test]
fn x25519_rejects_low_order_points() {
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let mut one = [0u8; 32];
    one[0] = 1;
    // u = 0 and u = 1 have small order; so does 2^255 - 19 (= 0 mod p) and
    // 0xe0eb7a7c... (order 8), from the list of RFC 7748 low-order points.
    let order8 =
        hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800").unwrap();
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    for (what, bad) in [
        ("0", vec![0; 32]),
        ("1", one.to_vec()),
        ("order 8", order8),
        ("p", p.to_vec()),
        ("short", vec![9; 31]),
    ] {
        let (s, _) = DhSecret::generate(DhGroup::Curve25519, &mut rng);
        assert_eq!(
            s.shared(&bad),
            Err(CryptoError::InvalidPublicValue),
            "{what}"
        );
    }
}

#[test]
fn private_value_checks() {
    assert_eq!(
        DhSecret::from_private_bytes(DhGroup::Ecp256, &[0; 32]).unwrap_err(),
        CryptoError::InvalidPrivateValue
    );
    assert_eq!(
        DhSecret::from_private_bytes(DhGroup::Curve25519, &[1; 31]).unwrap_err(),
        CryptoError::InvalidPrivateValue
    );
    assert_eq!(
        DhSecret::from_private_bytes(DhGroup::Modp2048, &[1]).unwrap_err(),
        CryptoError::InvalidPrivateValue
    );
}

#[test]
fn transform_ids_and_debug() {
    for g in DhGroup::ALL {
        assert_eq!(DhGroup::from_transform_id(g.transform_id()), Some(g));
    }
    assert_eq!(DhGroup::from_transform_id(2), None);
    let (s, _) = DhSecret::from_private_bytes(DhGroup::Curve25519, &[0x42; 32]).unwrap();
    let d = format!("{s:?}");
    assert!(d.contains("redacted") && !d.contains("42") && !d.contains("66"));
}

#[test]
fn random_peer_values_never_panic() {
    use rand_chacha::rand_core::RngCore;
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    for group in DhGroup::ALL {
        let rounds = if group.modp_exponent_bits().is_some() {
            5
        } else {
            200
        };
        for _ in 0..rounds {
            let mut peer = vec![0; group.public_len()];
            rng.fill_bytes(&mut peer);
            let (s, _) = DhSecret::generate(group, &mut rng);
            // Random bytes may or may not be a valid value; either way no panic,
            // and a success has the group's shared-secret length.
            if let Ok(k) = s.shared(&peer) {
                assert_eq!(k.len(), group.shared_len());
            }
        }
    }
}

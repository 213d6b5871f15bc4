//! Key derivation end to end, IKE SA rekey, Child SA keys, PSK AUTH, cookies,
//! NAT detection, and the redaction of every key-bearing type.

use std::net::IpAddr;

use ikev2::crypto::{
    ChildKeys, CookieSecret, CryptoError, DhGroup, DhSecret, Direction, EncrAlg, IkeKeys, IntegAlg,
    KeyMaterial, PrfAlg, child_keymat, derive_ike_keys, derive_rekeyed_ike_keys, ike_keymat,
    nat_detection_hash, prf_plus, rekey_skeyseed,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// prf+ written against ring's HMAC, as an independent reference.
fn ring_prf_plus(alg: PrfAlg, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let r = match alg {
        PrfAlg::HmacSha256 => ring::hmac::HMAC_SHA256,
        PrfAlg::HmacSha384 => ring::hmac::HMAC_SHA384,
        PrfAlg::HmacSha512 => ring::hmac::HMAC_SHA512,
    };
    let key = ring::hmac::Key::new(r, key);
    let (mut out, mut t, mut n) = (Vec::new(), Vec::new(), 1u8);
    while out.len() < len {
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(&t);
        ctx.update(seed);
        ctx.update(&[n]);
        t = ctx.sign().as_ref().to_vec();
        out.extend_from_slice(&t);
        n = n.wrapping_add(1);
    }
    out.truncate(len);
    out
}

#[test]
fn prf_plus_matches_ring_reference_for_every_prf() {
    for alg in PrfAlg::ALL {
        for len in [1, 31, 32, 48, 64, 65, 500, alg.prf_plus_max()] {
            let ours = prf_plus(alg, b"some key", b"Ni | Nr | SPIi | SPIr", len).unwrap();
            assert_eq!(
                &ours[..],
                &ring_prf_plus(alg, b"some key", b"Ni | Nr | SPIi | SPIr", len)[..]
            );
        }
    }
}

struct Handshake {
    i: IkeKeys,
    r: IkeKeys,
}

fn handshake(
    rng: &mut ChaCha20Rng,
    group: DhGroup,
    prf: PrfAlg,
    encr: EncrAlg,
    integ: IntegAlg,
) -> Handshake {
    let (a, a_pub) = DhSecret::generate(group, rng);
    let (b, b_pub) = DhSecret::generate(group, rng);
    let (mut ni, mut nr) = ([0u8; 32], [0u8; 48]);
    rng.fill_bytes(&mut ni);
    rng.fill_bytes(&mut nr);
    let (spi_i, spi_r) = (rng.next_u64(), rng.next_u64());
    let gi = a.shared(&b_pub).unwrap();
    let gr = b.shared(&a_pub).unwrap();
    Handshake {
        i: derive_ike_keys(prf, encr, integ, &ni, &nr, &gi, spi_i, spi_r).unwrap(),
        r: derive_ike_keys(prf, encr, integ, &ni, &nr, &gr, spi_i, spi_r).unwrap(),
    }
}

#[test]
fn both_ends_derive_the_same_keys_and_talk_both_ways() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    for (encr, integ) in [
        (EncrAlg::AesGcm16_128, IntegAlg::None),
        (EncrAlg::AesGcm16_256, IntegAlg::None),
        (EncrAlg::AesCbc256, IntegAlg::HmacSha256_128),
    ] {
        for prf in PrfAlg::ALL {
            let hs = handshake(&mut rng, DhGroup::Curve25519, prf, encr, integ);
            for (a, b) in [
                (&hs.i.sk_d, &hs.r.sk_d),
                (&hs.i.sk_ai, &hs.r.sk_ai),
                (&hs.i.sk_ar, &hs.r.sk_ar),
                (&hs.i.sk_ei, &hs.r.sk_ei),
                (&hs.i.sk_er, &hs.r.sk_er),
                (&hs.i.sk_pi, &hs.r.sk_pi),
                (&hs.i.sk_pr, &hs.r.sk_pr),
            ] {
                assert_eq!(a.as_bytes(), b.as_bytes());
            }
            assert_eq!(hs.i.sk_d.len(), prf.output_len());
            assert_eq!(hs.i.sk_ei.len(), encr.key_len());
            assert_eq!(hs.i.sk_ai.len(), integ.key_len());
            assert_ne!(hs.i.sk_ei.as_bytes(), hs.i.sk_er.as_bytes());

            let body = hs.i.cipher(Direction::InitiatorToResponder).unwrap();
            let body = body.seal(b"hdr", b"request", &mut rng).unwrap();
            let opened =
                hs.r.cipher(Direction::InitiatorToResponder)
                    .unwrap()
                    .open(b"hdr", &body);
            assert_eq!(&opened.unwrap()[..], b"request");
            // Keys of the other direction do not open it.
            let wrong =
                hs.r.cipher(Direction::ResponderToInitiator)
                    .unwrap()
                    .open(b"hdr", &body);
            assert_eq!(wrong, Err(CryptoError::IntegrityCheckFailed));

            let back = hs.r.cipher(Direction::ResponderToInitiator).unwrap();
            let back = back.seal(b"hdr2", b"response", &mut rng).unwrap();
            let opened =
                hs.i.cipher(Direction::ResponderToInitiator)
                    .unwrap()
                    .open(b"hdr2", &back);
            assert_eq!(&opened.unwrap()[..], b"response");
            assert_eq!(
                hs.i.sk_p(Direction::InitiatorToResponder).as_bytes(),
                hs.i.sk_pi.as_bytes()
            );
        }
    }
}

#[test]
fn ike_rekey_uses_old_prf_for_skeyseed_and_new_prf_for_prf_plus() {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    // Old SA with PRF-SHA512, new SA with PRF-SHA256 and another cipher.
    let old = handshake(
        &mut rng,
        DhGroup::Ecp256,
        PrfAlg::HmacSha512,
        EncrAlg::AesGcm16_256,
        IntegAlg::None,
    );
    let (ni, nr, g) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let (spi_i, spi_r) = (0x0102_0304_0506_0708, 0x1112_1314_1516_1718);
    let (prf, encr, integ) = (
        PrfAlg::HmacSha256,
        EncrAlg::AesCbc128,
        IntegAlg::HmacSha256_128,
    );
    let new_i =
        derive_rekeyed_ike_keys(&old.i, prf, encr, integ, &ni, &nr, &g, spi_i, spi_r).unwrap();
    let new_r =
        derive_rekeyed_ike_keys(&old.r, prf, encr, integ, &ni, &nr, &g, spi_i, spi_r).unwrap();
    assert_eq!(new_i.sk_d.as_bytes(), new_r.sk_d.as_bytes());
    assert_eq!(new_i.sk_pr.as_bytes(), new_r.sk_pr.as_bytes());

    // SKEYSEED = prf_old(SK_d(old), g^ir | Ni | Nr): 64 bytes with SHA-512.
    let seed = rekey_skeyseed(PrfAlg::HmacSha512, old.i.sk_d.as_bytes(), &g, &ni, &nr);
    assert_eq!(seed.len(), 64);
    let km = ike_keymat(
        prf,
        &seed,
        &ni,
        &nr,
        spi_i,
        spi_r,
        IkeKeys::keymat_len(prf, encr, integ),
    )
    .unwrap();
    let seed_bytes = [
        ni.as_slice(),
        &nr,
        &spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
    ]
    .concat();
    assert_eq!(
        &km[..],
        &ring_prf_plus(prf, &seed, &seed_bytes, km.len())[..]
    );
    assert_eq!(new_i.sk_d.as_bytes(), &km[..32]);
    // A different old SK_d gives different keys.
    let other = handshake(
        &mut rng,
        DhGroup::Ecp256,
        PrfAlg::HmacSha512,
        EncrAlg::AesGcm16_256,
        IntegAlg::None,
    );
    let new_o =
        derive_rekeyed_ike_keys(&other.i, prf, encr, integ, &ni, &nr, &g, spi_i, spi_r).unwrap();
    assert_ne!(new_o.sk_d.as_bytes(), new_i.sk_d.as_bytes());
}

#[test]
fn child_keys_with_and_without_pfs() {
    let sk_d = [9u8; 48];
    let (ni, nr) = ([4u8; 32], [5u8; 32]);
    for g in [None, Some(&[6u8; 256][..])] {
        for (encr, integ) in [
            (EncrAlg::AesGcm16_128, IntegAlg::None),
            (EncrAlg::AesGcm16_256, IntegAlg::None),
            (EncrAlg::AesCbc256, IntegAlg::HmacSha512_256),
        ] {
            let k = ChildKeys::derive(PrfAlg::HmacSha384, &sk_d, g, &ni, &nr, encr, integ).unwrap();
            let (e, a) = (encr.key_len(), integ.key_len());
            let seed = [g.unwrap_or_default(), &ni, &nr].concat();
            let km = ring_prf_plus(PrfAlg::HmacSha384, &sk_d, &seed, 2 * (e + a));
            assert_eq!(k.encr_i.as_bytes(), &km[..e]);
            assert_eq!(k.integ_i.as_bytes(), &km[e..e + a]);
            assert_eq!(k.encr_r.as_bytes(), &km[e + a..2 * e + a]);
            assert_eq!(k.integ_r.as_bytes(), &km[2 * e + a..]);
            let direct = child_keymat(PrfAlg::HmacSha384, &sk_d, g, &ni, &nr, km.len()).unwrap();
            assert_eq!(&direct[..], &km[..]);
        }
    }
}

#[test]
fn cookies() {
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let s1 = CookieSecret::generate(1, &mut rng);
    let s2 = CookieSecret::generate(2, &mut rng);
    let ip: IpAddr = "172.16.2.2".parse().unwrap();
    let ip6: IpAddr = "2001:db8::2".parse().unwrap();
    let c = s1.cookie(b"nonce-i", ip, 0xdead_beef);
    assert_eq!(c.len(), CookieSecret::COOKIE_LEN);
    assert_eq!(CookieSecret::version_of(&c), Some(1));
    assert_eq!(CookieSecret::version_of(&c[1..]), None);
    assert!(s1.verify(&c, b"nonce-i", ip, 0xdead_beef));
    assert!(!s1.verify(&c, b"nonce-j", ip, 0xdead_beef));
    assert!(!s1.verify(&c, b"nonce-i", ip6, 0xdead_beef));
    assert!(!s1.verify(&c, b"nonce-i", ip, 0xdead_beee));
    assert!(!s1.verify(&c[..32], b"nonce-i", ip, 0xdead_beef));
    assert!(!s2.verify(&c, b"nonce-i", ip, 0xdead_beef));
    // Same version, other secret: rejected.
    let s1b = CookieSecret::generate(1, &mut rng);
    assert!(!s1b.verify(&c, b"nonce-i", ip, 0xdead_beef));
}

#[test]
fn nat_detection_hash_is_sha1_of_spis_ip_port() {
    for (spi_i, spi_r, ip, port) in [
        (0x0102_0304_0506_0708u64, 0u64, "192.0.2.1", 500u16),
        (
            0xfffe_fdfc_fbfa_f9f8,
            0x1122_3344_5566_7788,
            "2001:db8::1",
            4500,
        ),
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        let ip_bytes = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let data = [
            &spi_i.to_be_bytes()[..],
            &spi_r.to_be_bytes(),
            &ip_bytes,
            &port.to_be_bytes(),
        ]
        .concat();
        let want = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &data);
        assert_eq!(
            &nat_detection_hash(spi_i, spi_r, ip, port)[..],
            want.as_ref()
        );
    }
}

#[test]
fn no_key_bytes_in_debug_output() {
    let mut rng = ChaCha20Rng::seed_from_u64(24);
    let hs = handshake(
        &mut rng,
        DhGroup::Curve25519,
        PrfAlg::HmacSha256,
        EncrAlg::AesCbc128,
        IntegAlg::HmacSha256_128,
    );
    let dbg = format!("{:?}", hs.i);
    for k in [
        &hs.i.sk_d,
        &hs.i.sk_ai,
        &hs.i.sk_ar,
        &hs.i.sk_ei,
        &hs.i.sk_er,
        &hs.i.sk_pi,
        &hs.i.sk_pr,
    ] {
        let b = k.as_bytes();
        assert!(!dbg.contains(&hex::encode(b)));
        assert!(!dbg.contains(&format!("{:?}", &b[..4])));
    }
    assert!(dbg.contains("redacted"));

    let km = KeyMaterial::from_slice(&[0xab; 16]);
    assert_eq!(format!("{km:?}"), "KeyMaterial(16 bytes, redacted)");

    let ck = ChildKeys::split(&[0xcd; 72], 20, 16).unwrap();
    let d = format!("{ck:?}");
    assert!(!d.contains("cd") && !d.contains("205"), "{d}");

    let cs = CookieSecret::from_bytes(3, [0xef; 32]);
    let d = format!("{cs:?}");
    assert!(!d.contains("ef") && !d.contains("239"), "{d}");
}

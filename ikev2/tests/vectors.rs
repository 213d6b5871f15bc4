//! Known-answer tests for the crypto suite, from sources outside this crate:
//! - NIST's SP 800-135 IKEv2 KDF test case for SHA2-256 (CAVP/ACVP, as embedded
//!   in usnistgov/ACVP-Server `crypto/test/NIST.CVP.Crypto.IKEv2.Tests/IKEv2Tests.cs`);
//! - RFC 4231 HMAC-SHA2 test cases 1, 2, 5 and 6;
//! - RFC 7748 X25519 (5.2 and 6.1) and RFC 5903 8.1 (group 19 IKE test data);
//! - `tests/data/*.txt`, produced by `tests/data/gen_vectors.py` with Python's
//!   hmac/hashlib, int `pow` and the `cryptography` package (OpenSSL): MODP
//!   groups 14/15/16, SK payloads for every suite, and PSK AUTH values.

use ikev2::crypto::{
    CryptoError, DhGroup, DhSecret, EncrAlg, IkeKeys, IntegAlg, PrfAlg, SkCipher, auth_with_key,
    child_keymat, derive_ike_keys, ike_keymat, prf, prf_plus, psk_auth, psk_auth_key,
    rekey_skeyseed, signed_octets, skeyseed, verify_auth_with_key, verify_psk_auth,
};

fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

#[track_caller]
fn assert_hex(got: &[u8], want: &[u8]) {
    assert_eq!(hex::encode(got), hex::encode(want));
}

/// Parses a `tests/data/*.txt` file: blocks separated by blank lines, one
/// `name = hex` (or `name = text` for `suite`, `integ`, `group`, `prf`) per line.
fn blocks(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            b.lines()
                .map(|l| {
                    let (k, v) = l
                        .split_once(" = ")
                        .unwrap_or_else(|| (l.trim_end_matches(" ="), ""));
                    (k.trim().to_owned(), v.trim().to_owned())
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// NIST SP 800-135 IKEv2 KDF, SHA2-256, DKM length 3072 bits.

const CAVP_NI: &str = "0a58fea9c1d4fee2e74e1aad6fb02dd5f318eb127465a112be8dc3c04d5dba62eae708f9dc1b2362afd6ba4bda3cf5000f4979fbcbadbcfda9291593829c4e905c21db0c2ee15175ce77a8a0dadf25c7f175bc53fd91b636a9b3c50b203de9b9d6dc463dcb4048f101e26498ceaed3afbcd931394a7e099392dfff82e5d6fa85c2e8a8ab90ad363a66795dc32798847e405acd87988140f973058917273a6b0bafb962c75e2b1a21e79c08beeb82168bf8b4b57f3dce867bf7862a7b8acbc21be838021913daf64340c055ed17aaf7b6e1d0ca33ae890ddbdb83f4e615aad5e3bff58c3db70bac81a0dfbabe5391fc62bca4659e22a0741e01d8d06e67d9bb41";
const CAVP_NR: &str = "e4fdfa68df6171d9eaff8b7b5ad31e7c6098d259f3397c9854cbefe7449b0864c1df16ddece8b26567560f8d59182a44c19149c2d0d72606a160021ade3d23c7c6936c91a4b6bec37adf38cfc84b851c68dcee06f81306f63abbefc07e231e3058c49437a557df617eac01663593d2a3e594699284c0a35eae6931492ccb2a43db72a600a3899205d681d2b76b1280e456339bb10e0c584aecfdae31c77a4c40dbcb345f782ac32835d4c220c1e97254ded6a40075dd717b00b69c86a49e801773026536ae02d58a649827f1ba67610ee936dffd11c9d5a9156631916a0a0046ec0ba42f56f2a18de83d5d71a985b0cc9eec2c06b3d907ca58454419f374069d";
const CAVP_GIR: &str = "9d469de41b4739c7dd01f19aa94f17e48150ae9dbede94832142db19";
const CAVP_GIR_NEW: &str = "c2987b0767006c3b9aea491bfed1646a3d7194639492b8d45b23b383";
const CAVP_SPII: &str = "c8de93111750e409";
const CAVP_SPIR: &str = "32d51b33508997fa";
const CAVP_SKEYSEED: &str = "eec13ac67c2e072abb684ab4e7b6ce3e7f400af8b96bed48e113497ed337f8d4";
const CAVP_DKM: &str = "bc83518f63b762874ac57947cdfae33a8d9724df0b83ee4b6df38c23fc2ad829f4d70b5a68dd1f5a52416f09758638aedf919c09a17c5298cdb703bb75b1005cba0109739aaa4efd2fe7534c95ad05e546e4419931270eddcab68ac1589d7fde47f5b9e8d5b614cb24ec3caf515497a9e99ee6f1b318ff153b539ef071dcaff9b41945dcb780700d69e5dc888a91de195c52825badfd0ab4c33cec71ab5c2b4badefe5455455ce5d8ae91721a2091bcccc1514e69482c9c8da1d9f0f187eedda916393570a8c0a8dfabc26d8ed31e8ea47662515972a22d11d692bc1fac6395aecd82a01ab78daafcd6f3070b1201f158a19331b5d21ceee66fccd2ea37bc07648b9539a52dbf797af53e31a0e8706dd86cf5081ebabd095f281d23c222dd3bc5abf06869017ca8f751cafcc85abea6ba88c139d1f32a12f7f486cf57eae5d85551b97f3963616d8f597c70efa98c1e1fa369fb77a80b1ec5fe533890672c4551172eab1b7fd68ad08c4d4c69f2a867302065ca730aa6915bc2cfb6d93820977";
const CAVP_DKM_CHILD: &str = "c725012285d56e53244a9baaaf95abfca543708d333a3f3a86ba660e00edd4d489bcd631819fda0413382edd9f53d1ed718e056c2ad91d38de90f06cd434de70141d051c021e7ddd6e4137946b4770dca59a4decabdd866852eb557fdd995646613ff2923f5f23aa58c8fbd5ad52cf2eac9bda97faad5596695f4a747a0f1cc6a1f78b2181138fb19ac24574d2e6b3a40d6e688abb919a27d793b76568ec66bd099f6f476b705c1472d774a1516a11311b887688f36649e24227640ea8d8666b9f452217e7103b6f0a92b6adb8fbda650ba58d6ac13ac6f6b6361a5d1c44f1e9f22196c96295115c5d01a120e7265962d20353a049286908da776c2165f706a16f43d85fcd319f89c4386340bcb8ed10df38345cb68af719abaf997e9789a5f19a392dcecd78168ba282f0b30555c7a47031a3156d12d7158aa41b863b8394d30fec63120e89cbc5750eed7786f7d5961b1f2e6faca641ed776d2211bee757b68b77f94056172553715da9fbd1c9a8728f28a2f3c9714a4917490132562484cd";
const CAVP_DKM_CHILD_DH: &str = "140a1f2a3c94318ece6edfa8c63f37d8d45982de8b6cbfe34011150db0253e34de3796d4aa579954a0bbf234794eb6e7ece2a8f91100f5507df4ee8e66c7813d4c0ff64d484a3494c54b0d9c605ea24234a49a010ce5c352feb9e1060c8c787229466296cdc9d11bb9d221ed2bb39544572464254ec02a0fbe777b07402c775eb6d3e53cd16214c707f851942cc7da92a811b6c5c82f29d9fc3751b0ebff9898fb14372402a6989ffb9cc32dfe7e2cea32fd882e09804d7fea34ce3b5eb6f303e095c48a452b0a3eccada81af22195ebbaad289aeabdab074c94e751496bde39d868ebf1d693f36d1c3c672bbb59c9f77aeb68de57d77da231b7f13d6d277f600c3d3086c4de7b3a59127f4cb9c118935574f30e1b7c88b52c8c3531fdbd38ee3d14c69e81803ced6e7501fa0180f6d110b648272002dc1ad5bf09dc83188011da1d48632e0d2453c8abdd8e9fd32a576aeb9ddfb0a024f674441c20a950d9bd8cd7b30933cc0d8e87b55e8aa9d913579b410417b3acc13c14bf73c457327873";
const CAVP_SKEYSEED_REKEY: &str =
    "05f796c8df322a7e33283ae5fa2f376d8d5efa0ac3745fc548e430031424c121";

fn spi(s: &str) -> u64 {
    u64::from_be_bytes(h(s).try_into().unwrap())
}

#[test]
fn cavp_ikev2_kdf_sha256() {
    let prf_alg = PrfAlg::HmacSha256;
    let (ni, nr) = (h(CAVP_NI), h(CAVP_NR));
    let (gir, gir_new) = (h(CAVP_GIR), h(CAVP_GIR_NEW));
    let (spi_i, spi_r) = (spi(CAVP_SPII), spi(CAVP_SPIR));
    let dkm_len = 3072 / 8;

    // SKEYSEED = prf(Ni | Nr, g^ir)
    let seed = skeyseed(prf_alg, &ni, &nr, &gir);
    assert_hex(&seed, &h(CAVP_SKEYSEED));

    // DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
    let dkm = ike_keymat(prf_alg, &seed, &ni, &nr, spi_i, spi_r, dkm_len).unwrap();
    assert_hex(&dkm, &h(CAVP_DKM));

    // SK_d is the first PRF-output-length bytes of DKM.
    let sk_d = &dkm[..prf_alg.output_len()];
    // DKM(Child SA) = prf+(SK_d, Ni | Nr)
    let child = child_keymat(prf_alg, sk_d, None, &ni, &nr, dkm_len).unwrap();
    assert_hex(&child, &h(CAVP_DKM_CHILD));
    // DKM(Child SA D-H) = prf+(SK_d, g^ir (new) | Ni | Nr)
    let child_dh = child_keymat(prf_alg, sk_d, Some(&gir_new), &ni, &nr, dkm_len).unwrap();
    assert_hex(&child_dh, &h(CAVP_DKM_CHILD_DH));
    // SKEYSEED(Rekey) = prf(SK_d (old), g^ir (new) | Ni | Nr)
    let rekey = rekey_skeyseed(prf_alg, sk_d, &gir_new, &ni, &nr);
    assert_hex(&rekey, &h(CAVP_SKEYSEED_REKEY));
}

#[test]
fn cavp_vector_through_derive_ike_keys() {
    // The high-level API must split the same DKM in RFC 7296 2.14 order.
    let (ni, nr, gir) = (h(CAVP_NI), h(CAVP_NR), h(CAVP_GIR));
    let (spi_i, spi_r) = (spi(CAVP_SPII), spi(CAVP_SPIR));
    let dkm = h(CAVP_DKM);
    for (encr, integ) in [
        (EncrAlg::AesGcm16_256, IntegAlg::None),
        (EncrAlg::AesCbc128, IntegAlg::HmacSha256_128),
    ] {
        let k = derive_ike_keys(
            PrfAlg::HmacSha256,
            encr,
            integ,
            &ni,
            &nr,
            &gir,
            spi_i,
            spi_r,
        )
        .unwrap();
        let (p, a, e) = (32, integ.key_len(), encr.key_len());
        let mut off = 0;
        for (key, len) in [
            (&k.sk_d, p),
            (&k.sk_ai, a),
            (&k.sk_ar, a),
            (&k.sk_ei, e),
            (&k.sk_er, e),
            (&k.sk_pi, p),
            (&k.sk_pr, p),
        ] {
            assert_hex(key.as_bytes(), &dkm[off..off + len]);
            off += len;
        }
        assert_eq!(off, IkeKeys::keymat_len(PrfAlg::HmacSha256, encr, integ));
    }
}

// ---------------------------------------------------------------------------
// RFC 4231: HMAC-SHA-256/384/512 (our PRFs and, truncated, our ICVs).

#[test]
fn rfc4231_hmac_sha2() {
    let long_key = vec![0xaa; 131];
    let cases: [(&[u8], &[u8], [&str; 3]); 3] = [
        (
            &[0x0b; 20],
            b"Hi There",
            [
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
            ],
        ),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            [
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ],
        ),
        (
            &long_key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            [
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
            ],
        ),
    ];
    for (key, data, want) in cases {
        for (alg, w) in PrfAlg::ALL.into_iter().zip(want) {
            assert_hex(&prf(alg, key, data), &h(w));
        }
    }
    // Test case 5: output truncated to 128 bits.
    let t5 = [
        "a3b6167473100ee06e0c796c2955552b",
        "3abf34c3503b2a23a46efc619baef897",
        "415fad6271580a531d4179bc891d87a6",
    ];
    for (alg, w) in PrfAlg::ALL.into_iter().zip(t5) {
        assert_hex(&prf(alg, &[0x0c; 20], b"Test With Truncation")[..16], &h(w));
    }
}

// ---------------------------------------------------------------------------
// Diffie-Hellman.

#[test]
fn rfc7748_x25519_scalar_mult() {
    // Section 5.2: scalar, input u, output u.
    for (k, u, out) in [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ] {
        let (s, _) = DhSecret::from_private_bytes(DhGroup::Curve25519, &h(k)).unwrap();
        assert_hex(&s.shared(&h(u)).unwrap(), &h(out));
    }
}

#[test]
fn rfc7748_x25519_diffie_hellman() {
    // Section 6.1.
    let (a, a_pub) = DhSecret::from_private_bytes(
        DhGroup::Curve25519,
        &h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    let (b, b_pub) = DhSecret::from_private_bytes(
        DhGroup::Curve25519,
        &h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    assert_hex(
        &a_pub,
        &h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    );
    assert_hex(
        &b_pub,
        &h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
    );
    let k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_hex(&a.shared(&b_pub).unwrap(), &h(k));
    assert_hex(&b.shared(&a_pub).unwrap(), &h(k));
}

#[test]
fn rfc5903_group19_ike_test_data() {
    // Section 8.1: the KE payloads carry x | y; g^ir is the x coordinate only.
    let (i, gi) = DhSecret::from_private_bytes(
        DhGroup::Ecp256,
        &h("C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433"),
    )
    .unwrap();
    let (r, gr) = DhSecret::from_private_bytes(
        DhGroup::Ecp256,
        &h("C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53"),
    )
    .unwrap();
    assert_hex(
        &gi,
        &h(
            "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180
            5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
        ),
    );
    assert_hex(
        &gr,
        &h(
            "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63
            56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
        ),
    );
    let gir = h("D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE");
    assert_hex(&i.shared(&gr).unwrap(), &gir);
    assert_hex(&r.shared(&gi).unwrap(), &gir);
}

#[test]
fn modp_groups_against_python() {
    let data = blocks(include_str!("data/modp.txt"));
    assert_eq!(data.len(), 3);
    for b in data {
        let group = DhGroup::from_transform_id(b["group"].parse().unwrap()).unwrap();
        let (x, gx) = DhSecret::from_private_bytes(group, &h(&b["x"])).unwrap();
        let (y, gy) = DhSecret::from_private_bytes(group, &h(&b["y"])).unwrap();
        assert_hex(&gx, &h(&b["gx"]));
        assert_hex(&gy, &h(&b["gy"]));
        let gxy = h(&b["gxy"]);
        // The generator chose y so that g^xy starts with a zero byte: padding matters.
        assert_eq!(gxy[0], 0, "vector should exercise left padding");
        assert_eq!(gxy.len(), group.shared_len());
        assert_hex(&x.shared(&gy).unwrap(), &gxy);
        assert_hex(&y.shared(&gx).unwrap(), &gxy);
    }
}

// ---------------------------------------------------------------------------
// SK payloads sealed by OpenSSL (through Python) and opened here.

fn suite(name: &str, integ: &str) -> (EncrAlg, IntegAlg) {
    let e = match name {
        "aes128gcm16" => EncrAlg::AesGcm16_128,
        "aes256gcm16" => EncrAlg::AesGcm16_256,
        "aes128cbc" => EncrAlg::AesCbc128,
        "aes256cbc" => EncrAlg::AesCbc256,
        other => panic!("unknown suite {other}"),
    };
    let i = match integ {
        "none" => IntegAlg::None,
        "sha256_128" => IntegAlg::HmacSha256_128,
        "sha384_192" => IntegAlg::HmacSha384_192,
        "sha512_256" => IntegAlg::HmacSha512_256,
        other => panic!("unknown integ {other}"),
    };
    (e, i)
}

#[test]
fn sk_payloads_sealed_by_openssl_open_here() {
    let data = blocks(include_str!("data/sk.txt"));
    assert_eq!(data.len(), 5);
    for b in data {
        let (encr, integ) = suite(&b["suite"], &b["integ"]);
        let c = SkCipher::new(encr, integ, &h(&b["sk_e"]), &h(&b["sk_a"])).unwrap();
        let (prefix, body) = (h(&b["prefix"]), h(&b["body"]));
        let inner = c.open(&prefix, &body).unwrap();
        assert_hex(&inner, &h(&b["inner"]));
        // The AAD / MAC really covers the prefix.
        let mut bad = prefix.clone();
        bad[0] ^= 1;
        assert_eq!(c.open(&bad, &body), Err(CryptoError::IntegrityCheckFailed));
    }
}

// ---------------------------------------------------------------------------
// PSK AUTH (RFC 7296 2.15), values from Python's hmac.

#[test]
fn psk_auth_against_python() {
    let data = blocks(include_str!("data/psk_auth.txt"));
    assert_eq!(data.len(), 3);
    for b in data {
        let prf_alg = match b["prf"].as_str() {
            "sha256" => PrfAlg::HmacSha256,
            "sha384" => PrfAlg::HmacSha384,
            _ => PrfAlg::HmacSha512,
        };
        let octets = signed_octets(
            prf_alg,
            &h(&b["message"]),
            &h(&b["peer_nonce"]),
            &h(&b["sk_p"]),
            &h(&b["id_body"]),
        );
        let psk = h(&b["psk"]);
        let want = h(&b["auth"]);
        assert_hex(&psk_auth(prf_alg, &psk, &octets), &want);
        assert!(verify_psk_auth(prf_alg, &psk, &octets, &want).is_ok());
        assert_eq!(
            verify_psk_auth(prf_alg, b"cisco2", &octets, &want),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_eq!(
            verify_psk_auth(prf_alg, &psk, &octets, &want[..want.len() - 1]),
            Err(CryptoError::AuthenticationFailed)
        );
        // The split form (the AUTH key computed once, as `Psk` caches it) gives the same.
        let key = psk_auth_key(prf_alg, &psk);
        assert_eq!(key.len(), prf_alg.output_len());
        assert_hex(&auth_with_key(prf_alg, &key, &octets), &want);
        assert!(verify_auth_with_key(prf_alg, &key, &octets, &want).is_ok());
        assert_eq!(
            verify_auth_with_key(prf_alg, &psk_auth_key(prf_alg, b"cisco2"), &octets, &want),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_eq!(
            verify_auth_with_key(prf_alg, &key, &octets, &want[1..]),
            Err(CryptoError::AuthenticationFailed)
        );
    }
}

#[test]
fn prf_plus_first_block_matches_prf() {
    // prf+ = T1 | T2 ..., T1 = prf(K, S | 0x01): checked against the PRF KAT path.
    for alg in PrfAlg::ALL {
        let out = prf_plus(alg, b"key", b"seed", alg.output_len() + 1).unwrap();
        assert_hex(&out[..alg.output_len()], &prf(alg, b"key", b"seed\x01"));
    }
}

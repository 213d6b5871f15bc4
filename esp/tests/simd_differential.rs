//! Every AES-GCM backend against the known-answer vectors and against the portable reference.
//!
//! Each test runs on every backend this CPU can run and prints which ones it ran on and which
//! it could NOT run (those are not counted as passed). Set `ESP_SIMD_REQUIRE=Vaes512,Vaes256`
//! (backend names as in `Backend`'s Debug) to make the tests fail when a listed backend is
//! not available, e.g. on a CI machine that is expected to have AVX-512.

use esp::{Backend, Gcm, GcmAuthError, GcmKeyError};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The backends this CPU can run; prints the others as not run, and fails if a backend
/// named in `ESP_SIMD_REQUIRE` is among them.
fn runnable(test: &str) -> Vec<Backend> {
    let (run, not_run): (Vec<Backend>, Vec<Backend>) =
        Backend::ALL.into_iter().partition(|b| b.is_available());
    println!("{test}: running on {run:?}; NOT RUN (this CPU lacks the instructions): {not_run:?}");
    if let Ok(req) = std::env::var("ESP_SIMD_REQUIRE") {
        for name in req.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            assert!(
                run.iter().any(|b| format!("{b:?}") == name),
                "{test}: ESP_SIMD_REQUIRE lists {name}, which this CPU cannot run"
            );
        }
    }
    assert!(run.contains(&Backend::Portable));
    run
}

fn simd_backends(test: &str) -> Vec<Backend> {
    runnable(test)
        .into_iter()
        .filter(|b| *b != Backend::Portable)
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("test vector hex")
}

struct Kat {
    name: &'static str,
    key: &'static str,
    nonce: &'static str,
    aad: &'static str,
    pt: &'static str,
    ct: &'static str,
    tag: &'static str,
}

const P60: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                   1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const P64: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                   1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const K128: &str = "feffe9928665731c6d6a8f9467308308";
const K256: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const IV: &str = "cafebabefacedbaddecaf888";
const AAD20: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const Z16: &str = "00000000000000000000000000000000";
const Z12: &str = "000000000000000000000000";

/// McGrew & Viega, "The Galois/Counter Mode of Operation", appendix B: the test cases with a
/// 96-bit IV and a 128- or 256-bit key (1-4 and 13-16; 5, 6, 17, 18 use other IV lengths and
/// 7-12 AES-192, which ESP's `Gcm` does not take), plus nettle's 128-byte extension of case 3
/// (eight full blocks: one whole chunk of the 128-bit path).
const KATS: &[Kat] = &[
    Kat {
        name: "TC1",
        key: Z16,
        nonce: Z12,
        aad: "",
        pt: "",
        ct: "",
        tag: "58e2fccefa7e3061367f1d57a4e7455a",
    },
    Kat {
        name: "TC2",
        key: Z16,
        nonce: Z12,
        aad: "",
        pt: Z16,
        ct: "0388dace60b6a392f328c2b971b2fe78",
        tag: "ab6e47d42cec13bdf53a67b21257bddf",
    },
    Kat {
        name: "TC3",
        key: K128,
        nonce: IV,
        aad: "",
        pt: P64,
        ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        tag: "4d5c2af327cd64a62cf35abd2ba6fab4",
    },
    Kat {
        name: "TC4",
        key: K128,
        nonce: IV,
        aad: AAD20,
        pt: P60,
        ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        tag: "5bc94fbc3221a5db94fae95ae7121a47",
    },
    Kat {
        name: "TC3-128B",
        key: K128,
        nonce: IV,
        aad: "",
        pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255\
             5ae376bc5e9f6a1b08e34db7a6ee07369ba662ea12f6f197e6bc3ed69d2480f3\
             ea5691347f2ba69113eb37910ebc18c80f697234582016fa956ca8f63ae6b473",
        ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985\
             874b1178906ddbeab04ab2fe6cce8c578d7e961bd13fd6a8c56b66ca5e576492\
             1a48cd8bda04e66343e73055118b69b9ced486813846958a11e602c03cfc232b",
        tag: "796836f1246c9d735c5e1be0a715ccc3",
    },
    Kat {
        name: "TC13",
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        nonce: Z12,
        aad: "",
        pt: "",
        ct: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    Kat {
        name: "TC14",
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        nonce: Z12,
        aad: "",
        pt: Z16,
        ct: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    Kat {
        name: "TC15",
        key: K256,
        nonce: IV,
        aad: "",
        pt: P64,
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    Kat {
        name: "TC16",
        key: K256,
        nonce: IV,
        aad: AAD20,
        pt: P60,
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
];

#[test]
fn known_answer_vectors_on_every_backend() {
    for backend in runnable("known_answer_vectors") {
        for v in KATS {
            let gcm = Gcm::new(&hex(v.key), backend).expect("key");
            let nonce: [u8; 12] = hex(v.nonce).try_into().expect("nonce");
            let aad = hex(v.aad);
            let mut buf = hex(v.pt);
            let tag = gcm.seal_in_place(&nonce, &aad, &mut buf);
            assert_eq!(
                hex::encode(&buf),
                v.ct.replace(' ', ""),
                "{backend:?} {} ct",
                v.name
            );
            assert_eq!(hex::encode(tag), v.tag, "{backend:?} {} tag", v.name);
            gcm.open_in_place(&nonce, &aad, &mut buf, &tag)
                .unwrap_or_else(|_| panic!("{backend:?} {} open", v.name));
            assert_eq!(buf, hex(v.pt), "{backend:?} {} pt", v.name);
            // The batch path on the same vector, twice in one group.
            let mut b1 = hex(v.pt);
            let mut b2 = hex(v.pt);
            let mut tags = [[0u8; 16]; 2];
            let aads = [&aad[..], &aad[..]];
            gcm.seal_many(
                &[nonce, nonce],
                &aads,
                &mut [&mut b1[..], &mut b2[..]],
                &mut tags,
            );
            assert_eq!(hex::encode(&b1), v.ct, "{backend:?} {} batch ct", v.name);
            assert_eq!(b1, b2);
            assert_eq!(
                hex::encode(tags[0]),
                v.tag,
                "{backend:?} {} batch tag",
                v.name
            );
            assert_eq!(tags[0], tags[1]);
        }
        println!(
            "known_answer_vectors: {backend:?} passed {} vectors",
            KATS.len()
        );
    }
}

/// A random case: key of 16 or 32 bytes, nonce, AAD (mostly ESP's 8 or 12 bytes).
fn random_case(rng: &mut ChaCha20Rng, len: usize) -> (Vec<u8>, [u8; 12], Vec<u8>, Vec<u8>) {
    let key_len = if rng.next_u32().is_multiple_of(2) {
        16
    } else {
        32
    };
    let mut key = vec![0u8; key_len];
    rng.fill_bytes(&mut key);
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let aad_len = match rng.next_u32() % 6 {
        0 => 0,
        1 | 2 => 8,
        3 | 4 => 12,
        _ => (rng.next_u32() % 300) as usize,
    };
    let mut aad = vec![0u8; aad_len];
    rng.fill_bytes(&mut aad);
    let mut pt = vec![0u8; len];
    rng.fill_bytes(&mut pt);
    (key, nonce, aad, pt)
}

fn lengths(rng: &mut ChaCha20Rng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..=300).collect();
    v.extend([
        511, 512, 513, 1023, 1024, 1025, 1400, 1500, 4096, 8999, 9000,
    ]);
    // Around the tail boundaries after whole chunks (128 bytes for AesNi, 256 for the VAES
    // paths): the tail runs AES on half a chunk of counters up to half a chunk of data, on a
    // whole chunk above; open hashes the tail with the AES rounds when tail + length block
    // fit one chunk (tail <= chunk - 16), else separately.
    for base in [128, 256, 384, 512, 1280, 8960] {
        for t in [
            1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 112, 113, 127, 128, 129, 143, 144, 145,
        ] {
            v.push(base + t);
        }
        for t in [191, 192, 193, 224, 225, 239, 240, 241, 242, 254, 255] {
            v.push(base + t);
        }
    }
    v.extend((0..60).map(|_| (rng.next_u32() % 9001) as usize));
    v
}

#[test]
fn differential_against_portable() {
    let backends = simd_backends("differential_against_portable");
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_0e5b);
    let lens = lengths(&mut rng);
    for backend in &backends {
        for &len in &lens {
            let (key, nonce, aad, pt) = random_case(&mut rng, len);
            let reference = Gcm::new(&key, Backend::Portable).expect("portable key");
            let simd = Gcm::new(&key, *backend).expect("simd key");
            assert_eq!(simd.backend(), *backend);
            let mut a = pt.clone();
            let mut b = pt.clone();
            let ta = reference.seal_in_place(&nonce, &aad, &mut a);
            let tb = simd.seal_in_place(&nonce, &aad, &mut b);
            let ctx = format!("{backend:?} key {} len {len} aad {}", key.len(), aad.len());
            assert_eq!(a, b, "{ctx}: ciphertext differs");
            assert_eq!(ta, tb, "{ctx}: tag differs");
            // SIMD open inverts portable seal, portable open inverts SIMD seal.
            simd.open_in_place(&nonce, &aad, &mut a, &ta).expect(&ctx);
            assert_eq!(a, pt, "{ctx}: simd open");
            reference
                .open_in_place(&nonce, &aad, &mut b, &tb)
                .expect(&ctx);
            assert_eq!(b, pt, "{ctx}: portable open");
        }
        println!(
            "differential_against_portable: {backend:?} passed {} lengths",
            lens.len()
        );
    }
}

#[test]
fn tampering_is_rejected() {
    let backends = runnable("tampering_is_rejected");
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for backend in &backends {
        for len in [0usize, 1, 15, 16, 17, 64, 255, 256, 257, 1400, 9000] {
            let (key, nonce, aad, pt) = random_case(&mut rng, len);
            let gcm = Gcm::new(&key, *backend).expect("key");
            let mut ct = pt.clone();
            let tag = gcm.seal_in_place(&nonce, &aad, &mut ct);
            let ctx = format!("{backend:?} len {len} aad {}", aad.len());
            // A flipped ciphertext bit, tag bit, AAD bit, nonce bit, or a truncation.
            if len > 0 {
                let mut c = ct.clone();
                let i = (rng.next_u32() as usize) % len;
                c[i] ^= 1 << (rng.next_u32() % 8);
                assert_eq!(
                    gcm.open_in_place(&nonce, &aad, &mut c, &tag),
                    Err(GcmAuthError),
                    "{ctx}: ct"
                );
                if *backend != Backend::Portable {
                    assert!(
                        c.iter().all(|&x| x == 0),
                        "{ctx}: failed open leaves plaintext"
                    );
                }
                let mut c = ct[..len - 1].to_vec();
                assert!(
                    gcm.open_in_place(&nonce, &aad, &mut c, &tag).is_err(),
                    "{ctx}: truncated"
                );
            }
            for bit in [0usize, 7, 64, 127] {
                let mut t = tag;
                t[bit / 8] ^= 1 << (bit % 8);
                let mut c = ct.clone();
                assert!(
                    gcm.open_in_place(&nonce, &aad, &mut c, &t).is_err(),
                    "{ctx}: tag bit {bit}"
                );
            }
            let mut bad_aad = aad.clone();
            bad_aad.push(0);
            let mut c = ct.clone();
            assert!(
                gcm.open_in_place(&nonce, &bad_aad, &mut c, &tag).is_err(),
                "{ctx}: aad"
            );
            let mut n2 = nonce;
            n2[11] ^= 0x80;
            let mut c = ct.clone();
            assert!(
                gcm.open_in_place(&n2, &aad, &mut c, &tag).is_err(),
                "{ctx}: nonce"
            );
            let mut c = ct.clone();
            gcm.open_in_place(&nonce, &aad, &mut c, &tag).expect(&ctx);
            assert_eq!(c, pt);
        }
        println!("tampering_is_rejected: {backend:?} passed");
    }
}

#[test]
fn batch_matches_single_packets() {
    let backends = runnable("batch_matches_single_packets");
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    for backend in &backends {
        for round in 0..40 {
            let key_len = if round % 2 == 0 { 32 } else { 16 };
            let mut key = vec![0u8; key_len];
            rng.fill_bytes(&mut key);
            let gcm = Gcm::new(&key, *backend).expect("key");
            let reference = Gcm::new(&key, Backend::Portable).expect("key");
            let count = 1 + (rng.next_u32() % 20) as usize;
            let mut nonces = vec![[0u8; 12]; count];
            let mut aads = Vec::new();
            let mut pts = Vec::new();
            for n in nonces.iter_mut() {
                rng.fill_bytes(n);
                let len = match rng.next_u32() % 5 {
                    0 => 64,
                    1 => (rng.next_u32() % 100) as usize,
                    2 => (rng.next_u32() % 600) as usize,
                    3 => (rng.next_u32() % 2000) as usize,
                    _ => 1400,
                };
                let mut p = vec![0u8; len];
                rng.fill_bytes(&mut p);
                pts.push(p);
                let mut a = vec![0u8; [8, 12, 0, 70][(rng.next_u32() % 4) as usize]];
                rng.fill_bytes(&mut a);
                aads.push(a);
            }
            let aad_refs: Vec<&[u8]> = aads.iter().map(Vec::as_slice).collect();
            let mut bufs = pts.clone();
            let mut tags = vec![[0u8; 16]; count];
            {
                let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(Vec::as_mut_slice).collect();
                assert_eq!(
                    gcm.seal_many(&nonces, &aad_refs, &mut refs, &mut tags),
                    count
                );
            }
            for i in 0..count {
                let mut expect = pts[i].clone();
                let t = reference.seal_in_place(&nonces[i], &aads[i], &mut expect);
                assert_eq!(bufs[i], expect, "{backend:?} round {round} packet {i} ct");
                assert_eq!(tags[i], t, "{backend:?} round {round} packet {i} tag");
            }
            // Open them all back, with every third tag corrupted.
            let mut given = tags.clone();
            for t in given.iter_mut().step_by(3) {
                t[5] ^= 0x10;
            }
            let mut results = vec![Ok(()); count];
            {
                let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(Vec::as_mut_slice).collect();
                gcm.open_many(&nonces, &aad_refs, &mut refs, &given, &mut results);
            }
            for i in 0..count {
                if i % 3 == 0 {
                    assert_eq!(results[i], Err(GcmAuthError), "{backend:?} packet {i}");
                    assert!(
                        bufs[i].iter().all(|&x| x == 0),
                        "{backend:?} packet {i} zeroed"
                    );
                } else {
                    assert_eq!(results[i], Ok(()), "{backend:?} packet {i}");
                    assert_eq!(bufs[i], pts[i], "{backend:?} packet {i} pt");
                }
            }
        }
        println!("batch_matches_single_packets: {backend:?} passed");
    }
}

#[test]
fn batch_slices_of_unequal_length_process_the_shortest() {
    let gcm = Gcm::new(&[1u8; 32], Backend::best()).expect("key");
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    let mut tags = [[0u8; 16]; 1];
    let n = gcm.seal_many(
        &[[0; 12], [1; 12]],
        &[b"", b""],
        &mut [&mut a, &mut b],
        &mut tags,
    );
    assert_eq!(n, 1);
    assert_ne!(a, [0u8; 32]);
    assert_eq!(b, [0u8; 32]);
}

#[test]
fn unavailable_backends_are_refused_and_best_is_available() {
    for backend in Backend::ALL {
        match Gcm::new(&[0u8; 16], backend) {
            Ok(g) => {
                assert!(backend.is_available());
                assert_eq!(g.backend(), backend);
            }
            Err(e) => {
                assert!(!backend.is_available());
                assert_eq!(e, GcmKeyError::Unavailable(backend));
            }
        }
        if backend.is_available() {
            assert_eq!(
                Gcm::new(&[0u8; 24], backend).err(),
                Some(GcmKeyError::BadKeyLength(24))
            );
        }
    }
    assert!(Backend::best().is_available());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("aes")
        && std::arch::is_x86_feature_detected!("pclmulqdq")
    {
        assert_ne!(Backend::best(), Backend::Portable);
    }
}

#[test]
fn debug_does_not_print_key() {
    for backend in runnable("debug_does_not_print_key") {
        let gcm = Gcm::new(&[0xabu8; 32], backend).expect("key");
        let s = format!("{gcm:?}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab, "),
            "{s}"
        );
    }
}

//! Every SIMD AES-GCM backend this CPU runs must agree with the portable one on arbitrary
//! key, nonce, AAD and plaintext; open must invert seal; a flipped tag bit must be rejected;
//! and the batch path must agree with the single-packet path.
#![no_main]

use arbitrary::Arbitrary;
use esp::{Backend, Gcm};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    key256: bool,
    key: [u8; 32],
    nonce: [u8; 12],
    aad: Vec<u8>,
    pt: Vec<u8>,
    /// Extra plaintext length (0..=9000 in total with `pt`), filled with a pattern.
    extra: u16,
    flip: u8,
}

fuzz_target!(|inp: Input| {
    let key = if inp.key256 {
        &inp.key[..]
    } else {
        &inp.key[..16]
    };
    let mut pt = inp.pt;
    let extra = usize::from(inp.extra) % 9001;
    pt.extend((0..extra.saturating_sub(pt.len())).map(|i| i as u8));
    let Ok(reference) = Gcm::new(key, Backend::Portable) else {
        return;
    };
    let mut expect = pt.clone();
    let tag = reference.seal_in_place(&inp.nonce, &inp.aad, &mut expect);
    for backend in Backend::ALL
        .into_iter()
        .filter(|b| *b != Backend::Portable && b.is_available())
    {
        let Ok(gcm) = Gcm::new(key, backend) else {
            panic!("{backend:?} available but refused")
        };
        let mut buf = pt.clone();
        let t = gcm.seal_in_place(&inp.nonce, &inp.aad, &mut buf);
        assert_eq!(buf, expect, "{backend:?} ciphertext");
        assert_eq!(t, tag, "{backend:?} tag");
        gcm.open_in_place(&inp.nonce, &inp.aad, &mut buf, &t)
            .expect("open inverts seal");
        assert_eq!(buf, pt, "{backend:?} open");
        let mut bad = t;
        bad[usize::from(inp.flip) % 16] ^= 1 << (inp.flip % 8);
        let mut c = expect.clone();
        assert!(
            gcm.open_in_place(&inp.nonce, &inp.aad, &mut c, &bad)
                .is_err(),
            "{backend:?} forged"
        );
        let mut b1 = pt.clone();
        let mut b2 = pt.clone();
        let mut tags = [[0u8; 16]; 2];
        gcm.seal_many(
            &[inp.nonce; 2],
            &[&inp.aad, &inp.aad],
            &mut [&mut b1, &mut b2],
            &mut tags,
        );
        assert_eq!((&b1, tags[0]), (&expect, tag), "{backend:?} batch");
        assert_eq!((&b2, tags[1]), (&expect, tag), "{backend:?} batch");
    }
});

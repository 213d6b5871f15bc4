//! `ikev2_sk_seal_open` (kind: codec roundtrip, after SK decryption): arbitrary inner bytes are
//! sealed with a known key into an SK payload of an IKE message, then the receive path runs:
//! parse the datagram, open the SK payload (ICV checked, never switched off), parse the inner
//! payload chain. This reaches the inner payload parser with arbitrary plaintext.
//! Invariants: the sealed message parses; opening gives back exactly the sealed plaintext; a
//! flipped bit anywhere in the datagram fails the parse or the open (never authenticates);
//! whatever inner chain parses emits and parses back to itself.
#![no_main]

use arbitrary::Arbitrary;
use ikev2::crypto::{EncrAlg, IntegAlg, SkCipher};
use ikev2::wire::{self, Encrypted, ExchangeType, Flags, Header, Message, Payload, PayloadType};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[derive(Debug, Arbitrary)]
struct Input {
    suite: u8,
    exchange: u8,
    flags: u8,
    message_id: u32,
    first_inner: u8,
    inner: Vec<u8>,
    flip: Option<(u16, u8)>,
}

fn cipher(suite: u8) -> SkCipher {
    let (encr, integ) = match suite % 4 {
        0 => (EncrAlg::AesGcm16_256, IntegAlg::None),
        1 => (EncrAlg::AesGcm16_128, IntegAlg::None),
        2 => (EncrAlg::AesCbc128, IntegAlg::HmacSha256_128),
        _ => (EncrAlg::AesCbc256, IntegAlg::HmacSha512_256),
    };
    let ek: Vec<u8> = (0..encr.key_len()).map(|i| i as u8).collect();
    let ak: Vec<u8> = (0..integ.key_len()).map(|i| 0x80 | i as u8).collect();
    SkCipher::new(encr, integ, &ek, &ak).expect("fixed keys fit")
}

fuzz_target!(|inp: Input| {
    let c = cipher(inp.suite);
    let header = Header {
        spi_i: 0x0102_0304_0506_0708,
        spi_r: 0x1112_1314_1516_1718,
        minor_version: 0,
        exchange: ExchangeType(34 + inp.exchange % 4),
        flags: Flags(inp.flags & (Flags::INITIATOR | Flags::RESPONSE)),
        message_id: inp.message_id,
    };
    let first_inner = PayloadType(inp.first_inner);
    // Lay the message out with a zero body of the sealed length, so that the header and SK
    // lengths (part of the authenticated prefix) are final, then seal into it.
    let skel = Message {
        header,
        payloads: vec![Payload::Sk(Encrypted {
            first_inner,
            body: vec![0; c.sealed_len(inp.inner.len())],
        })],
    };
    let Ok(mut dgram) = skel.emit() else { return };
    let prefix_len = wire::HEADER_LEN + 4;
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(inp.message_id));
    let body = c
        .seal(&dgram[..prefix_len], &inp.inner, &mut rng)
        .expect("seal");
    dgram.truncate(prefix_len);
    dgram.extend_from_slice(&body);

    if let Some((at, bit)) = inp.flip {
        let at = usize::from(at) % dgram.len();
        dgram[at] ^= 1 << (bit % 8);
    }

    // The receive path.
    let m = match Message::parse(&dgram) {
        Ok(m) => m,
        Err(e) => {
            assert!(inp.flip.is_some(), "a sealed message does not parse: {e}");
            return;
        }
    };
    let Some(sk) = m.sk() else {
        assert!(inp.flip.is_some(), "SK payload lost");
        return;
    };
    let opened = match c.open(&dgram[..prefix_len], &sk.body) {
        Ok(p) => p,
        Err(e) => {
            assert!(inp.flip.is_some(), "open of a sealed body failed: {e}");
            return;
        }
    };
    assert_eq!(&opened[..], &inp.inner[..], "open(seal(x)) != x");
    // Every byte before the ICV is authenticated (the prefix as received, IV, ciphertext)
    // and the ICV itself is checked: no flipped datagram may open.
    assert!(
        inp.flip.is_none(),
        "a datagram with a flipped bit authenticated"
    );
    if let Ok(chain) = wire::parse_chain(sk.first_inner, &opened) {
        let (ty, bytes) = wire::emit_chain(&chain).expect("a parsed chain emits");
        if !chain.is_empty() {
            assert_eq!(ty, sk.first_inner);
        }
        assert_eq!(bytes.len(), opened.len(), "inner length not conserved");
        assert_eq!(wire::parse_chain(ty, &bytes).expect("re-parse"), chain);
    }
});

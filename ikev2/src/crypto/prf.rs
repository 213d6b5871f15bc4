//! The pseudorandom functions (IANA transform type 2) and prf+ (RFC 7296 2.13).

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::CryptoError;

/// A negotiated PRF (IKEv2 transform type 2). Only the HMAC-SHA2 family
/// (RFC 4868) is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PrfAlg {
    /// PRF_HMAC_SHA2_256, transform ID 5.
    HmacSha256,
    /// PRF_HMAC_SHA2_384, transform ID 6.
    HmacSha384,
    /// PRF_HMAC_SHA2_512, transform ID 7.
    HmacSha512,
}

impl PrfAlg {
    /// Every supported PRF, strongest last.
    pub const ALL: [Self; 3] = [Self::HmacSha256, Self::HmacSha384, Self::HmacSha512];

    /// The IANA transform ID (transform type 2).
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::HmacSha256 => 5,
            Self::HmacSha384 => 6,
            Self::HmacSha512 => 7,
        }
    }

    /// The PRF for an IANA transform ID, if supported.
    pub const fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            5 => Some(Self::HmacSha256),
            6 => Some(Self::HmacSha384),
            7 => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// Output length in bytes (32, 48 or 64). This is also the preferred key
    /// length, hence the length of `SK_d`, `SK_pi` and `SK_pr` (RFC 4868 2.6).
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    /// The largest output prf+ can produce with this PRF (255 blocks).
    pub const fn prf_plus_max(self) -> usize {
        255 * self.output_len()
    }
}

/// `prf(key, data)`: HMAC with the PRF's hash. Any key length is accepted
/// (HMAC hashes keys longer than a block).
///
/// ```
/// use ikev2::crypto::{prf, PrfAlg};
/// // RFC 4231 test case 2
/// let out = prf(PrfAlg::HmacSha256, b"Jefe", b"what do ya want for nothing?");
/// assert_eq!(out[..4], [0x5b, 0xdc, 0xc1, 0x46]);
/// ```
pub fn prf(alg: PrfAlg, key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(prf_parts(alg, key, &[data]).to_vec())
}

/// One PRF output (at most 64 bytes) held on the stack, zeroized on drop: the
/// internal form of [`prf`], which saves an allocation per call.
pub(crate) struct PrfBlock {
    buf: Zeroizing<[u8; 64]>,
    len: usize,
}

impl PrfBlock {
    /// An empty output (no integrity algorithm).
    pub(crate) fn empty() -> Self {
        Self {
            buf: Zeroizing::new([0; 64]),
            len: 0,
        }
    }
}

impl core::ops::Deref for PrfBlock {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// `prf(key, parts[0] | parts[1] | ...)` without building the concatenation.
pub(crate) fn prf_parts(alg: PrfAlg, key: &[u8], parts: &[&[u8]]) -> PrfBlock {
    #[allow(
        clippy::expect_used,
        reason = "HMAC accepts keys of every length: new_from_slice never fails"
    )]
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> PrfBlock {
        let mut mac = <M as Mac>::new_from_slice(key).expect("hmac takes any key length");
        for p in parts {
            mac.update(p);
        }
        let out = mac.finalize().into_bytes();
        let mut block = PrfBlock::empty();
        let len = out.len().min(64);
        block.buf[..len].copy_from_slice(&out[..len]);
        block.len = len;
        block
    }
    match alg {
        PrfAlg::HmacSha256 => run::<Hmac<Sha256>>(key, parts),
        PrfAlg::HmacSha384 => run::<Hmac<Sha384>>(key, parts),
        PrfAlg::HmacSha512 => run::<Hmac<Sha512>>(key, parts),
    }
}

/// prf+ (RFC 7296 2.13): `T1 | T2 | ...` truncated to `len` bytes, where
/// `T1 = prf(K, S | 0x01)` and `Tn = prf(K, Tn-1 | S | n)`.
///
/// # Errors
/// [`CryptoError::PrfPlusTooLong`] when `len` needs more than 255 blocks.
///
/// ```
/// use ikev2::crypto::{prf_plus, PrfAlg};
/// let km = prf_plus(PrfAlg::HmacSha256, b"key", b"seed", 100)?;
/// assert_eq!(km.len(), 100);
/// assert!(prf_plus(PrfAlg::HmacSha256, b"key", b"seed", 255 * 32 + 1).is_err());
/// # Ok::<(), ikev2::crypto::CryptoError>(())
/// ```
pub fn prf_plus(
    alg: PrfAlg,
    key: &[u8],
    seed: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let max = alg.prf_plus_max();
    if len > max {
        return Err(CryptoError::PrfPlusTooLong {
            requested: len,
            max,
        });
    }
    let block = alg.output_len();
    // Exact capacity up front: a growing Vec would leave copies behind.
    let mut out = Zeroizing::new(Vec::with_capacity(len.div_ceil(block) * block));
    match alg {
        PrfAlg::HmacSha256 => prf_plus_with::<Hmac<Sha256>>(key, seed, len, &mut out),
        PrfAlg::HmacSha384 => prf_plus_with::<Hmac<Sha384>>(key, seed, len, &mut out),
        PrfAlg::HmacSha512 => prf_plus_with::<Hmac<Sha512>>(key, seed, len, &mut out),
    }
    out.truncate(len);
    Ok(out)
}

/// The prf+ loop for one HMAC. The key is set up once (the inner and outer
/// padded key blocks hashed, two compressions) and the keyed state cloned for
/// each block, instead of keying HMAC again per block. Each `T(n)` is read
/// back from `out`, so no other copy of the keying material is made; the
/// cloned states hold only the hashed padded key, like the original, and
/// `hmac`'s states are dropped without zeroizing, as with [`prf`].
fn prf_plus_with<M: Mac + hmac::digest::KeyInit + Clone>(
    key: &[u8],
    seed: &[u8],
    len: usize,
    out: &mut Vec<u8>,
) {
    #[allow(
        clippy::expect_used,
        reason = "HMAC accepts keys of every length: new_from_slice never fails"
    )]
    let keyed = <M as Mac>::new_from_slice(key).expect("hmac takes any key length");
    let mut counter: u8 = 1;
    // Where T(n-1) starts in `out`; T(0) is empty.
    let mut prev = out.len();
    while out.len() < len {
        let mut mac = keyed.clone();
        mac.update(out.get(prev..).unwrap_or_default());
        prev = out.len();
        mac.update(seed);
        mac.update(&[counter]);
        out.extend_from_slice(&mac.finalize().into_bytes());
        counter = counter.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_ids_round_trip() {
        for a in PrfAlg::ALL {
            assert_eq!(PrfAlg::from_transform_id(a.transform_id()), Some(a));
        }
        assert_eq!(PrfAlg::from_transform_id(2), None);
    }

    #[test]
    fn prf_plus_blocks_chain() {
        let alg = PrfAlg::HmacSha256;
        let out = prf_plus(alg, b"k", b"s", 70).unwrap();
        let t1 = prf(alg, b"k", b"s\x01");
        let t2 = prf_parts(alg, b"k", &[&t1, b"s", &[2]]);
        let t3 = prf_parts(alg, b"k", &[&t2, b"s", &[3]]);
        assert_eq!(&out[..32], &t1[..]);
        assert_eq!(&out[32..64], &t2[..]);
        assert_eq!(&out[64..], &t3[..6]);
    }

    #[test]
    fn prf_plus_limit_is_255_blocks() {
        for a in PrfAlg::ALL {
            let max = 255 * a.output_len();
            assert_eq!(prf_plus(a, b"k", b"s", max).unwrap().len(), max);
            assert!(matches!(
                prf_plus(a, b"k", b"s", max + 1),
                Err(CryptoError::PrfPlusTooLong { .. })
            ));
        }
    }
}

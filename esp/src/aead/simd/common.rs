//! 128-bit helpers shared by every SIMD path: loads and stores, byte reversal, the GHASH
//! field arithmetic (POLYVAL form, Montgomery reduction), AES-NI key expansion and
//! single-block encryption.
//!
//! GHASH is computed in the byte-reflected POLYVAL domain (RFC 8452, appendix A):
//! `GHASH(H, X) = rev(POLYVAL(mulX(rev(H)), rev(X_1), ..))`, so a block is loaded, its bytes
//! reversed, and the products need no bit reflection; `dot(a, b) = a * b * x^-128` reduces
//! modulo `x^128 + x^127 + x^126 + x^121 + 1` with two carry-less multiplications by
//! `x^63 + x^62 + x^57` (the constant `0xc2 << 56`).

use core::arch::x86_64::*;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Number of precomputed powers of H (the widest path aggregates 16 blocks).
pub(super) const HP: usize = 32;

/// Expanded key material of one SA, shared by all SIMD paths. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct KeyData {
    /// AES round keys 0..=14 (AES-128 uses 0..=10), 16 bytes each.
    pub(super) rk: [u8; 240],
    /// The same round keys, each repeated in four 16-byte lanes (64 bytes per round), so that
    /// every vector width loads its broadcast round key straight from here: no per-call copy
    /// of the key schedule on the stack.
    pub(super) rkb: [u8; 15 * 64],
    /// Powers of H in the POLYVAL domain, highest first: block `t` holds `H^(HP - t)`.
    pub(super) htab: [u8; 16 * HP],
    /// For Karatsuba: block `t` holds `lo ^ hi` of `H^(HP - t)` in both 64-bit halves.
    pub(super) hkar: [u8; 16 * HP],
    /// 14 rounds (AES-256) rather than 10 (AES-128).
    pub(super) aes256: bool,
}

/// Loads 16 bytes.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn load16(b: &[u8; 16]) -> __m128i {
    // SAFETY: `b` is a reference to 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// Stores 16 bytes.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn store16(b: &mut [u8; 16], v: __m128i) {
    // SAFETY: `b` is an exclusive reference to 16 writable bytes; `storeu` is unaligned.
    unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), v) }
}

/// The `pshufb` mask that reverses the 16 bytes of a lane.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn bswap_mask() -> __m128i {
    _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}

/// Reverses the 16 bytes of `v`.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn bswap(v: __m128i) -> __m128i {
    _mm_shuffle_epi8(v, bswap_mask())
}

/// Montgomery reduction of the 256-bit carry-less product `hi:lo` to `hi:lo * x^-128`.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn reduce(lo: __m128i, hi: __m128i) -> __m128i {
    let c = _mm_set_epi64x(0, 0xc200_0000_0000_0000_u64 as i64);
    // Cancel the lowest 64 bits: add lo[0] * P, i.e. lo[0]*(x^57+x^62+x^63) at x^64 and
    // lo[0] at x^128; the swap moves lo[0] to the x^128 position.
    let t = _mm_clmulepi64_si128::<0x00>(lo, c);
    let x = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    // The same for the next 64 bits.
    let u = _mm_clmulepi64_si128::<0x00>(x, c);
    let y = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(x), u);
    _mm_xor_si128(hi, y)
}

/// Reduces a product kept as three parts (`lo + mid * x^64 + hi * x^128`).
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn reduce_parts(lo: __m128i, mid: __m128i, hi: __m128i) -> __m128i {
    let lo = _mm_xor_si128(lo, _mm_slli_si128::<8>(mid));
    let hi = _mm_xor_si128(hi, _mm_srli_si128::<8>(mid));
    reduce(lo, hi)
}

/// `dot(a, b) = a * b * x^-128` in the POLYVAL field.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn dot(a: __m128i, b: __m128i) -> __m128i {
    let lo = _mm_clmulepi64_si128::<0x00>(a, b);
    let hi = _mm_clmulepi64_si128::<0x11>(a, b);
    let mid = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x01>(a, b),
        _mm_clmulepi64_si128::<0x10>(a, b),
    );
    reduce_parts(lo, mid, hi)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn spread(k: __m128i) -> __m128i {
    // k ^ (k << 32) ^ (k << 64) ^ (k << 96): each word absorbs all the words before it.
    let t1 = _mm_slli_si128::<4>(k);
    let t2 = _mm_slli_si128::<4>(t1);
    let t3 = _mm_slli_si128::<4>(t2);
    _mm_xor_si128(_mm_xor_si128(k, t1), _mm_xor_si128(t2, t3))
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn next128<const RCON: i32>(k: __m128i) -> __m128i {
    let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<RCON>(k));
    _mm_xor_si128(spread(k), t)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn next256a<const RCON: i32>(k0: __m128i, k1: __m128i) -> __m128i {
    let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<RCON>(k1));
    _mm_xor_si128(spread(k0), t)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn next256b(k0: __m128i, k1: __m128i) -> __m128i {
    let t = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(k0));
    _mm_xor_si128(spread(k1), t)
}

/// AES key expansion (FIPS 197) with `aeskeygenassist`; `key` is 16 or 32 bytes.
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn expand(key: &[u8]) -> [__m128i; 15] {
    let mut rk = [_mm_setzero_si128(); 15];
    let (blocks, _) = key.as_chunks::<16>();
    match blocks {
        [k] => {
            let k0 = load16(k);
            let k1 = next128::<0x01>(k0);
            let k2 = next128::<0x02>(k1);
            let k3 = next128::<0x04>(k2);
            let k4 = next128::<0x08>(k3);
            let k5 = next128::<0x10>(k4);
            let k6 = next128::<0x20>(k5);
            let k7 = next128::<0x40>(k6);
            let k8 = next128::<0x80>(k7);
            let k9 = next128::<0x1b>(k8);
            let k10 = next128::<0x36>(k9);
            let ks = [k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10];
            for (d, s) in rk.iter_mut().zip(ks) {
                *d = s;
            }
        }
        [a, b] => {
            let k0 = load16(a);
            let k1 = load16(b);
            let k2 = next256a::<0x01>(k0, k1);
            let k3 = next256b(k2, k1);
            let k4 = next256a::<0x02>(k2, k3);
            let k5 = next256b(k4, k3);
            let k6 = next256a::<0x04>(k4, k5);
            let k7 = next256b(k6, k5);
            let k8 = next256a::<0x08>(k6, k7);
            let k9 = next256b(k8, k7);
            let k10 = next256a::<0x10>(k8, k9);
            let k11 = next256b(k10, k9);
            let k12 = next256a::<0x20>(k10, k11);
            let k13 = next256b(k12, k11);
            let k14 = next256a::<0x40>(k12, k13);
            rk = [
                k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14,
            ];
        }
        // `Simd::new` only passes 16- or 32-byte keys.
        _ => {}
    }
    rk
}

/// Encrypts one block with `NR` rounds, round keys read from `rk` (as in [`KeyData::rk`]).
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn encrypt1<const NR: usize>(rk: &[u8; 240], b: __m128i) -> __m128i {
    let (keys, _) = rk.as_chunks::<16>();
    let mut s = b;
    for (r, k) in keys.iter().enumerate().take(NR + 1) {
        let k = load16(k);
        s = match r {
            0 => _mm_xor_si128(s, k),
            r if r == NR => _mm_aesenclast_si128(s, k),
            _ => _mm_aesenc_si128(s, k),
        };
    }
    s
}

/// `J0 = nonce || 0x00000001` for a 96-bit nonce, as loaded bytes.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn j0(nonce: &[u8; 12]) -> __m128i {
    let mut b = [0u8; 16];
    b[..12].copy_from_slice(nonce);
    b[15] = 1;
    load16(&b)
}

/// The counter of the first data block (`inc32(J0)`), byte-reversed so that the 32-bit
/// counter sits in the low dword where `paddd` increments it modulo 2^32.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn first_ctr(j0: __m128i) -> __m128i {
    _mm_add_epi32(bswap(j0), _mm_set_epi32(0, 0, 0, 1))
}

/// The GHASH length block `[len(A)]_64 || [len(C)]_64` (bit lengths, big-endian).
pub(super) fn len_block(aad_len: usize, ct_len: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&((aad_len as u64).wrapping_mul(8)).to_be_bytes());
    b[8..].copy_from_slice(&((ct_len as u64).wrapping_mul(8)).to_be_bytes());
    b
}

/// The tag: `E(K, J0) ^ GHASH`, from the POLYVAL-domain accumulator.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn tag(acc: __m128i, ej0: __m128i) -> [u8; 16] {
    let mut t = [0u8; 16];
    store16(&mut t, _mm_xor_si128(bswap(acc), ej0));
    t
}

/// Constant-time tag comparison: one `ptest` over the XOR of the two tags, no early exit.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn tag_eq(computed: &[u8; 16], given: &[u8; 16]) -> bool {
    let d = _mm_xor_si128(load16(computed), load16(given));
    _mm_testz_si128(d, d) == 1
}

/// `mulX_POLYVAL`: multiply by x modulo the POLYVAL polynomial (key setup only).
fn mulx(h: u128) -> u128 {
    let carry = h >> 127;
    (h << 1) ^ (carry * 0xc200_0000_0000_0000_0000_0000_0000_0001)
}

/// Expands `key` (16 or 32 bytes) and precomputes the powers of H.
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
pub(super) fn setup(key: &[u8]) -> KeyData {
    let mut rk = expand(key);
    let aes256 = key.len() == 32;
    let mut kd = KeyData {
        rk: [0; 240],
        rkb: [0; 15 * 64],
        htab: [0; 16 * HP],
        hkar: [0; 16 * HP],
        aes256,
    };
    for (d, s) in kd.rk.as_chunks_mut::<16>().0.iter_mut().zip(rk.iter()) {
        store16(d, *s);
    }
    let lanes = kd.rkb.as_chunks_mut::<16>().0.iter_mut();
    for (i, d) in lanes.enumerate() {
        if let Some(s) = rk.get(i / 4) {
            store16(d, *s);
        }
    }
    let mut hb = [0u8; 16];
    let h = if aes256 {
        encrypt1::<14>(&kd.rk, _mm_setzero_si128())
    } else {
        encrypt1::<10>(&kd.rk, _mm_setzero_si128())
    };
    store16(&mut hb, bswap(h));
    let mut hx = mulx(u128::from_le_bytes(hb)).to_le_bytes();
    let h1 = load16(&hx);
    let mut p = h1;
    // htab block HP-1 is H^1, block HP-2 is H^2, ...
    let powers = kd.htab.as_chunks_mut::<16>().0.iter_mut().rev();
    for (d, dk) in powers.zip(kd.hkar.as_chunks_mut::<16>().0.iter_mut().rev()) {
        store16(d, p);
        let folded = _mm_xor_si128(p, _mm_shuffle_epi32::<0x4e>(p));
        store16(dk, _mm_unpacklo_epi64(folded, folded));
        p = dot(p, h1);
    }
    hb.zeroize();
    hx.zeroize();
    rk = [_mm_setzero_si128(); 15];
    let _ = core::hint::black_box(&rk);
    kd
}

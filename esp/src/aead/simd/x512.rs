//! VAES + VPCLMULQDQ on 512-bit vectors (AVX-512F/BW): four blocks per vector, 4 vectors
//! (16 blocks) in flight.

use core::arch::x86_64::*;

use super::Tags;
use super::common::{self, HP, KeyData};

type V = __m512i;
/// Blocks per vector.
const W: usize = 4;
/// Bytes per vector.
const VB: usize = 16 * W;
/// Vectors in flight.
const B: usize = 4;

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vzero() -> V {
    _mm512_setzero_si512()
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vload(b: &[u8; VB]) -> V {
    // SAFETY: `b` is a reference to 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vstore(b: &mut [u8; VB], v: V) {
    // SAFETY: `b` is an exclusive reference to 64 writable bytes; `storeu` is unaligned.
    unsafe { _mm512_storeu_si512(b.as_mut_ptr().cast(), v) }
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vxor(a: V, b: V) -> V {
    _mm512_xor_si512(a, b)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vadd32(a: V, b: V) -> V {
    _mm512_add_epi32(a, b)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn venc(a: V, k: V) -> V {
    _mm512_aesenc_epi128(a, k)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn venclast(a: V, k: V) -> V {
    _mm512_aesenclast_epi128(a, k)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vclmul_lo(a: V, b: V) -> V {
    _mm512_clmulepi64_epi128::<0x00>(a, b)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vswap64(a: V) -> V {
    _mm512_shuffle_epi32::<0x4e>(a)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vclmul_hi(a: V, b: V) -> V {
    _mm512_clmulepi64_epi128::<0x11>(a, b)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vbswap(a: V) -> V {
    _mm512_shuffle_epi8(a, _mm512_broadcast_i32x4(common::bswap_mask()))
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vbcast(a: __m128i) -> V {
    _mm512_broadcast_i32x4(a)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vfold(a: V) -> __m128i {
    let x01 = _mm_xor_si128(
        _mm512_extracti32x4_epi32::<0>(a),
        _mm512_extracti32x4_epi32::<1>(a),
    );
    let x23 = _mm_xor_si128(
        _mm512_extracti32x4_epi32::<2>(a),
        _mm512_extracti32x4_epi32::<3>(a),
    );
    _mm_xor_si128(x01, x23)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vctr(k: i32) -> V {
    _mm512_set_epi32(0, 0, 0, k + 3, 0, 0, 0, k + 2, 0, 0, 0, k + 1, 0, 0, 0, k)
}

#[inline]
#[target_feature(
    enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq"
)]
fn vlane(x: __m128i, lane: usize) -> V {
    let z = _mm512_setzero_si512();
    match lane {
        0 => _mm512_inserti32x4::<0>(z, x),
        1 => _mm512_inserti32x4::<1>(z, x),
        2 => _mm512_inserti32x4::<2>(z, x),
        _ => _mm512_inserti32x4::<3>(z, x),
    }
}

gcm_engine!("sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,avx512f,avx512bw,vaes,vpclmulqdq");

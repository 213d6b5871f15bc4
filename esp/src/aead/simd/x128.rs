//! AES-NI + PCLMULQDQ on 128-bit vectors: one block per vector, 8 blocks in flight.

use core::arch::x86_64::*;

use super::Tags;
use super::common::{self, HP, KeyData};

type V = __m128i;
/// Blocks per vector.
const W: usize = 1;
/// Bytes per vector.
const VB: usize = 16 * W;
/// Vectors in flight.
const B: usize = 8;

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vzero() -> V {
    _mm_setzero_si128()
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vload(b: &[u8; VB]) -> V {
    common::load16(b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vstore(b: &mut [u8; VB], v: V) {
    common::store16(b, v)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vxor(a: V, b: V) -> V {
    _mm_xor_si128(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vadd32(a: V, b: V) -> V {
    _mm_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn venc(a: V, k: V) -> V {
    _mm_aesenc_si128(a, k)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn venclast(a: V, k: V) -> V {
    _mm_aesenclast_si128(a, k)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vclmul_lo(a: V, b: V) -> V {
    _mm_clmulepi64_si128::<0x00>(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vswap64(a: V) -> V {
    _mm_shuffle_epi32::<0x4e>(a)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vclmul_hi(a: V, b: V) -> V {
    _mm_clmulepi64_si128::<0x11>(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vbswap(a: V) -> V {
    common::bswap(a)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vbcast(a: __m128i) -> V {
    a
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vfold(a: V) -> __m128i {
    a
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vctr(k: i32) -> V {
    _mm_set_epi32(0, 0, 0, k)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq")]
fn vlane(x: __m128i, _lane: usize) -> V {
    x
}

gcm_engine!("sse2,ssse3,sse4.1,aes,pclmulqdq");

//! VAES + VPCLMULQDQ on 256-bit vectors (AVX2): two blocks per vector, 8 vectors (16 blocks)
//! in flight.

use core::arch::x86_64::*;

use super::Tags;
use super::common::{self, HP, KeyData};

type V = __m256i;
/// Blocks per vector.
const W: usize = 2;
/// Bytes per vector.
const VB: usize = 16 * W;
/// Vectors in flight.
const B: usize = 8;

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vzero() -> V {
    _mm256_setzero_si256()
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vload(b: &[u8; VB]) -> V {
    // SAFETY: `b` is a reference to 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vstore(b: &mut [u8; VB], v: V) {
    // SAFETY: `b` is an exclusive reference to 32 writable bytes; `storeu` is unaligned.
    unsafe { _mm256_storeu_si256(b.as_mut_ptr().cast(), v) }
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vxor(a: V, b: V) -> V {
    _mm256_xor_si256(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vadd32(a: V, b: V) -> V {
    _mm256_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn venc(a: V, k: V) -> V {
    _mm256_aesenc_epi128(a, k)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn venclast(a: V, k: V) -> V {
    _mm256_aesenclast_epi128(a, k)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vclmul_lo(a: V, b: V) -> V {
    _mm256_clmulepi64_epi128::<0x00>(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vswap64(a: V) -> V {
    _mm256_shuffle_epi32::<0x4e>(a)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vclmul_hi(a: V, b: V) -> V {
    _mm256_clmulepi64_epi128::<0x11>(a, b)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vbswap(a: V) -> V {
    _mm256_shuffle_epi8(a, _mm256_broadcastsi128_si256(common::bswap_mask()))
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vbcast(a: __m128i) -> V {
    _mm256_broadcastsi128_si256(a)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vfold(a: V) -> __m128i {
    _mm_xor_si128(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a))
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vctr(k: i32) -> V {
    _mm256_set_epi32(0, 0, 0, k + 1, 0, 0, 0, k)
}

#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq")]
fn vlane(x: __m128i, lane: usize) -> V {
    match lane {
        0 => _mm256_zextsi128_si256(x),
        _ => _mm256_inserti128_si256::<1>(_mm256_setzero_si256(), x),
    }
}

gcm_engine!("sse2,ssse3,sse4.1,aes,pclmulqdq,avx,avx2,vaes,vpclmulqdq");

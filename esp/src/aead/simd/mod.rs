//! SIMD AES-GCM backends: AES-NI/PCLMULQDQ on 128-bit vectors, VAES/VPCLMULQDQ on 256-bit
//! (AVX2) and 512-bit (AVX-512) vectors. The only module of the workspace allowed `unsafe`:
//! unaligned loads and stores through references of the right size, and calls of
//! `#[target_feature]` entry points after [`is_available`] has checked the CPU.
//!
//! The algorithm is written once (`engine.rs`) and expanded per vector width; the 128-bit
//! helpers (key expansion, GHASH reduction) are in `common.rs`. On other architectures no
//! SIMD backend is available.

use super::{Backend, GcmAuthError, GcmKeyError};

#[cfg(target_arch = "x86_64")]
mod common;
#[cfg(target_arch = "x86_64")]
#[macro_use]
mod engine;
#[cfg(target_arch = "x86_64")]
mod x128;
#[cfg(target_arch = "x86_64")]
mod x256;
#[cfg(target_arch = "x86_64")]
mod x512;

/// Output tags of `seal_many`, or given tags and verdicts of `open_many`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) enum Tags<'a> {
    /// Tags written by seal.
    Seal(&'a mut [[u8; 16]]),
    /// Tags to verify, and where to write whether each verified.
    Open(&'a [[u8; 16]], &'a mut [bool]),
}

impl Tags<'_> {
    /// How many packets this can describe.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn len(&self) -> usize {
        match self {
            Self::Seal(t) => t.len(),
            Self::Open(t, o) => t.len().min(o.len()),
        }
    }

    /// The packets `i..j`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn sub(&mut self, i: usize, j: usize) -> Option<Tags<'_>> {
        match self {
            Self::Seal(t) => t.get_mut(i..j).map(Tags::Seal),
            Self::Open(t, o) => Some(Tags::Open(t.get(i..j)?, o.get_mut(i..j)?)),
        }
    }
}

/// Whether `backend` is implemented and this CPU can run it.
#[cfg(target_arch = "x86_64")]
pub(super) fn is_available(backend: Backend) -> bool {
    use std::arch::is_x86_feature_detected as has;
    let aesni = has!("sse2") && has!("ssse3") && has!("sse4.1") && has!("aes") && has!("pclmulqdq");
    match backend {
        Backend::Portable => true,
        Backend::AesNi => aesni,
        Backend::Vaes256 => {
            aesni && has!("avx") && has!("avx2") && has!("vaes") && has!("vpclmulqdq")
        }
        Backend::Vaes512 => {
            aesni
                && has!("avx")
                && has!("avx2")
                && has!("avx512f")
                && has!("avx512bw")
                && has!("vaes")
                && has!("vpclmulqdq")
        }
    }
}

/// Whether `backend` is implemented and this CPU can run it: never, off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) fn is_available(_backend: Backend) -> bool {
    false
}

/// An expanded key for one SIMD backend (round keys and powers of H zeroize on drop).
#[cfg(target_arch = "x86_64")]
pub(super) struct Simd {
    backend: Backend,
    key: Box<common::KeyData>,
}

#[cfg(target_arch = "x86_64")]
impl Simd {
    pub(super) fn new(key: &[u8], backend: Backend) -> Result<Self, GcmKeyError> {
        if backend == Backend::Portable || !is_available(backend) {
            return Err(GcmKeyError::Unavailable(backend));
        }
        if key.len() != 16 && key.len() != 32 {
            return Err(GcmKeyError::BadKeyLength(key.len()));
        }
        // SAFETY: `is_available` confirmed sse2, ssse3, sse4.1, aes and pclmulqdq, the
        // features `setup` is compiled for; every SIMD backend requires them.
        let key = Box::new(unsafe { common::setup(key) });
        Ok(Self { backend, key })
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    pub(super) fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let k = &self.key;
        let tag = match self.backend {
            // SAFETY: `new` built this key only after `is_available(AesNi)` confirmed the
            // features of `x128`.
            Backend::AesNi => unsafe { x128::seal(k, nonce, aad, buf) },
            // SAFETY: as above, `is_available(Vaes256)` confirmed the features of `x256`.
            Backend::Vaes256 => unsafe { x256::seal(k, nonce, aad, buf) },
            // SAFETY: as above, `is_available(Vaes512)` confirmed the features of `x512`.
            Backend::Vaes512 => unsafe { x512::seal(k, nonce, aad, buf) },
            // `new` refuses the portable backend.
            Backend::Portable => [0; 16],
        };
        burn_stack();
        tag
    }

    pub(super) fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), GcmAuthError> {
        let k = &self.key;
        let ok = match self.backend {
            // SAFETY: `new` checked `is_available(AesNi)`.
            Backend::AesNi => unsafe { x128::open(k, nonce, aad, buf, tag) },
            // SAFETY: `new` checked `is_available(Vaes256)`.
            Backend::Vaes256 => unsafe { x256::open(k, nonce, aad, buf, tag) },
            // SAFETY: `new` checked `is_available(Vaes512)`.
            Backend::Vaes512 => unsafe { x512::open(k, nonce, aad, buf, tag) },
            Backend::Portable => false,
        };
        burn_stack();
        if ok { Ok(()) } else { Err(GcmAuthError) }
    }

    pub(super) fn many(
        &self,
        nonces: &[[u8; 12]],
        aads: &[&[u8]],
        bufs: &mut [&mut [u8]],
        tags: Tags<'_>,
    ) {
        let k = &self.key;
        match self.backend {
            // SAFETY: `new` checked `is_available(AesNi)`.
            Backend::AesNi => unsafe { x128::many(k, nonces, aads, bufs, tags) },
            // SAFETY: `new` checked `is_available(Vaes256)`.
            Backend::Vaes256 => unsafe { x256::many(k, nonces, aads, bufs, tags) },
            // SAFETY: `new` checked `is_available(Vaes512)`.
            Backend::Vaes512 => unsafe { x512::many(k, nonces, aads, bufs, tags) },
            Backend::Portable => {}
        }
        burn_stack();
    }
}

/// Bytes of stack overwritten after each SIMD call with the `burn-stack` feature: more than
/// the deepest frame chain of a seal or open in the release build (`seal_impl` 0x340 bytes +
/// `ghash_final` 0x1a8 + `ghash_bytes` 0x308 with their saved registers, about 1.9 KiB).
#[cfg(all(target_arch = "x86_64", feature = "burn-stack"))]
const BURN: usize = 2048;

/// SECURITY: what a SIMD call leaves on the stack.
///
/// The explicit stack buffers that hold keystream or plaintext (the partial-block buffer of
/// `xor_partial`, the counter blocks of the batch path) are scrubbed by the engine itself.
/// What remains are the compiler's spill slots: under AVX2's 16 vector registers, LLVM spills
/// some AES states, output blocks (the plaintext, in open's chunk loop) and data blocks to
/// the frame (seen in the disassembly of the bench binary), and Rust code cannot name those
/// slots. (The round keys are not among them: the chunk loop reads them through an opaque
/// pointer, so LLVM does not hoist them into registers and spill them.)
///
/// With the `burn-stack` feature, this function zeroes [`BURN`] bytes below the caller after
/// every call: its own frame overlays the frames the SIMD function just left, and
/// `black_box` keeps the stores alive. Measured cost on the Zen 3 of esp/BENCH-SIMD.md:
/// about 25-40 ns per call, 8% at 1400 bytes and 3% at 9000 bytes, enough to fall behind
/// `ring` at 9000 bytes. So it is off by default, which is where `ring` and BoringSSL stand
/// (their assembly keeps the keystream in registers, their C and Rust callers scrub no
/// stack): the spill slots are overwritten by the next call, and an attacker who can read
/// this process's stale stack can read the live key schedule and powers of H in the SA's
/// heap-allocated `KeyData` just as well, and the plaintext in the caller's buffers.
#[cfg(target_arch = "x86_64")]
#[cfg_attr(feature = "burn-stack", inline(never))]
#[cfg_attr(not(feature = "burn-stack"), inline(always))]
fn burn_stack() {
    #[cfg(feature = "burn-stack")]
    {
        let mut b = [0u8; BURN];
        core::hint::black_box(&mut b);
    }
}

/// Never constructed off x86-64: `new` always refuses.
#[cfg(not(target_arch = "x86_64"))]
pub(super) struct Simd {
    backend: Backend,
}

#[cfg(not(target_arch = "x86_64"))]
impl Simd {
    pub(super) fn new(_key: &[u8], backend: Backend) -> Result<Self, GcmKeyError> {
        Err(GcmKeyError::Unavailable(backend))
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    pub(super) fn seal(&self, _nonce: &[u8; 12], _aad: &[u8], _buf: &mut [u8]) -> [u8; 16] {
        [0; 16]
    }

    pub(super) fn open(
        &self,
        _nonce: &[u8; 12],
        _aad: &[u8],
        _buf: &mut [u8],
        _tag: &[u8; 16],
    ) -> Result<(), GcmAuthError> {
        Err(GcmAuthError)
    }

    pub(super) fn many(
        &self,
        _nonces: &[[u8; 12]],
        _aads: &[&[u8]],
        _bufs: &mut [&mut [u8]],
        _tags: Tags<'_>,
    ) {
    }
}

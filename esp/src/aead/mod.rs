//! AES-GCM for ESP (RFC 4106) behind one type, [`Gcm`], with a choice of backend.
//!
//! The portable backend is the `aes-gcm` crate and is the reference. The SIMD backends
//! (`simd.rs`, the only file of the workspace allowed `unsafe`) use AES-NI/VAES and
//! PCLMULQDQ/VPCLMULQDQ when the CPU has them; they are chosen once, when the key is set up.

mod portable;
mod simd;

/// An AES-GCM implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The `aes-gcm` crate: portable, constant-time, the reference for every other path.
    Portable,
    /// 128-bit AES-NI and PCLMULQDQ.
    AesNi,
    /// VAES and VPCLMULQDQ on 256-bit vectors (AVX2).
    Vaes256,
    /// VAES and VPCLMULQDQ on 512-bit vectors (AVX-512).
    Vaes512,
}

impl Backend {
    /// Every backend, slowest first.
    pub const ALL: [Self; 4] = [Self::Portable, Self::AesNi, Self::Vaes256, Self::Vaes512];

    /// Whether this backend is implemented and this CPU can run it.
    ///
    /// ```
    /// assert!(esp::Backend::Portable.is_available());
    /// ```
    pub fn is_available(self) -> bool {
        match self {
            Self::Portable => true,
            other => simd::is_available(other),
        }
    }

    /// The fastest backend this CPU can run.
    ///
    /// ```
    /// assert!(esp::Backend::best().is_available());
    /// ```
    pub fn best() -> Self {
        Self::ALL
            .into_iter()
            .rev()
            .find(|b| b.is_available())
            .unwrap_or(Self::Portable)
    }
}

/// The key given to [`Gcm::new`] is not 16 or 32 bytes long, or the backend cannot run here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GcmKeyError {
    /// AES-GCM keys are 16 or 32 bytes (the salt is not part of the key here).
    #[error("aes-gcm key of {0} bytes: expected 16 or 32")]
    BadKeyLength(usize),
    /// The backend is not implemented or this CPU lacks the instructions it needs.
    #[error("aes-gcm backend {0:?} is not available on this cpu")]
    Unavailable(Backend),
}

/// The ICV did not verify; the buffer content is unspecified (the caller drops it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("aes-gcm authentication failed")]
pub struct GcmAuthError;

/// An expanded AES-GCM key bound to one backend. Key schedules zeroize on drop.
pub struct Gcm {
    inner: Inner,
}

enum Inner {
    Portable(portable::Portable),
    Simd(simd::Simd),
}

impl Gcm {
    /// Expands `key` (16 or 32 bytes) for `backend`.
    ///
    /// # Errors
    /// [`GcmKeyError`] for a bad key length or a backend this CPU cannot run.
    ///
    /// # Examples
    /// ```
    /// use esp::{Backend, Gcm};
    /// let gcm = Gcm::new(&[7u8; 32], Backend::Portable)?;
    /// let mut buf = *b"hello";
    /// let tag = gcm.seal_in_place(&[0u8; 12], b"aad", &mut buf);
    /// gcm.open_in_place(&[0u8; 12], b"aad", &mut buf, &tag)?;
    /// assert_eq!(&buf, b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(key: &[u8], backend: Backend) -> Result<Self, GcmKeyError> {
        if key.len() != 16 && key.len() != 32 {
            return Err(GcmKeyError::BadKeyLength(key.len()));
        }
        let inner = match backend {
            Backend::Portable => Inner::Portable(portable::Portable::new(key)?),
            other => Inner::Simd(simd::Simd::new(key, other)?),
        };
        Ok(Self { inner })
    }

    /// The backend this key runs on.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            Inner::Portable(_) => Backend::Portable,
            Inner::Simd(s) => s.backend(),
        }
    }

    /// Encrypts `buf` in place and returns the 16-byte tag over `aad` and the ciphertext.
    pub fn seal_in_place(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        match &self.inner {
            Inner::Portable(p) => p.seal(nonce, aad, buf),
            Inner::Simd(s) => s.seal(nonce, aad, buf),
        }
    }

    /// Verifies `tag` (constant time) and decrypts `buf` in place.
    ///
    /// # Errors
    /// [`GcmAuthError`] when the tag does not match; `buf` must then be discarded.
    pub fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), GcmAuthError> {
        match &self.inner {
            Inner::Portable(p) => p.open(nonce, aad, buf, tag),
            Inner::Simd(s) => s.open(nonce, aad, buf, tag),
        }
    }
}

impl core::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Gcm({:?}, key redacted)", self.backend())
    }
}

//! AES-GCM for ESP (RFC 4106) behind one type, [`Gcm`], with a choice of backend.
//!
//! The portable backend is the `aes-gcm` crate and is the reference. The SIMD backends
//! (`simd/`, the only module of the workspace allowed `unsafe`) use AES-NI/VAES and
//! PCLMULQDQ/VPCLMULQDQ when the CPU has them; they are chosen once, when the key is set up.

mod portable;
#[allow(unsafe_code)]
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

    /// Seals many packets at once: packet `i` is `nonces[i]`, `aads[i]`, `bufs[i]` (encrypted
    /// in place) and its tag goes to `tags[i]`. Returns how many packets were sealed, the
    /// length of the shortest of the four slices.
    ///
    /// On the SIMD backends, runs of small packets (up to 512 bytes, AAD up to 64 bytes) are
    /// processed together: their counter blocks go through AES in one pass with many blocks
    /// in flight, which hides the per-packet latency that dominates at ESP's small sizes.
    /// The result is the same as calling [`Gcm::seal_in_place`] on each packet.
    ///
    /// # Examples
    /// ```
    /// use esp::{Backend, Gcm};
    /// let gcm = Gcm::new(&[7u8; 32], Backend::best())?;
    /// let (mut a, mut b) = ([1u8; 64], [2u8; 40]);
    /// let nonces = [[0u8; 12], [1u8; 12]];
    /// let aads: [&[u8]; 2] = [b"spi+seq1", b"spi+seq2"];
    /// let mut tags = [[0u8; 16]; 2];
    /// let n = gcm.seal_many(&nonces, &aads, &mut [&mut a[..], &mut b[..]], &mut tags);
    /// assert_eq!(n, 2);
    /// gcm.open_in_place(&nonces[1], aads[1], &mut b, &tags[1])?;
    /// assert_eq!(b, [2u8; 40]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal_many(
        &self,
        nonces: &[[u8; 12]],
        aads: &[&[u8]],
        bufs: &mut [&mut [u8]],
        tags: &mut [[u8; 16]],
    ) -> usize {
        let n = nonces.len().min(aads.len()).min(bufs.len()).min(tags.len());
        match &self.inner {
            Inner::Portable(p) => {
                for (((nonce, aad), buf), tag) in nonces.iter().zip(aads).zip(bufs).zip(tags) {
                    *tag = p.seal(nonce, aad, buf);
                }
            }
            Inner::Simd(s) => s.many(nonces, aads, bufs, simd::Tags::Seal(tags)),
        }
        n
    }

    /// Opens many packets at once (see [`Gcm::seal_many`]): `results[i]` tells whether
    /// packet `i` verified against `tags[i]`; a packet that did not is zeroed (the caller
    /// drops it). Returns how many packets were processed, the length of the shortest slice.
    ///
    /// # Examples
    /// ```
    /// use esp::{Backend, Gcm, GcmAuthError};
    /// let gcm = Gcm::new(&[7u8; 16], Backend::best())?;
    /// let mut a = *b"first packet";
    /// let mut b = *b"second packet";
    /// let nonces = [[3u8; 12], [4u8; 12]];
    /// let tags = [
    ///     gcm.seal_in_place(&nonces[0], b"", &mut a),
    ///     [0u8; 16], // wrong tag
    /// ];
    /// let mut results = [Ok(()); 2];
    /// gcm.open_many(&nonces, &[b"", b""], &mut [&mut a[..], &mut b[..]], &tags, &mut results);
    /// assert_eq!(results, [Ok(()), Err(GcmAuthError)]);
    /// assert_eq!(&a, b"first packet");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_many(
        &self,
        nonces: &[[u8; 12]],
        aads: &[&[u8]],
        bufs: &mut [&mut [u8]],
        tags: &[[u8; 16]],
        results: &mut [Result<(), GcmAuthError>],
    ) -> usize {
        let n = nonces
            .len()
            .min(aads.len())
            .min(bufs.len())
            .min(tags.len())
            .min(results.len());
        match &self.inner {
            Inner::Portable(p) => {
                let it = nonces
                    .iter()
                    .zip(aads)
                    .zip(bufs)
                    .zip(tags)
                    .zip(results.iter_mut());
                for ((((nonce, aad), buf), tag), r) in it {
                    *r = p.open(nonce, aad, buf, tag);
                    if r.is_err() {
                        buf.fill(0);
                    }
                }
            }
            Inner::Simd(s) => {
                let mut oks = [false; 64];
                let mut done = 0;
                while done < n {
                    let m = (n - done).min(oks.len());
                    let (Some(nn), Some(aa), Some(bb), Some(tt), Some(rr), Some(oo)) = (
                        nonces.get(done..done + m),
                        aads.get(done..done + m),
                        bufs.get_mut(done..done + m),
                        tags.get(done..done + m),
                        results.get_mut(done..done + m),
                        oks.get_mut(..m),
                    ) else {
                        break;
                    };
                    oo.fill(false);
                    s.many(nn, aa, bb, simd::Tags::Open(tt, oo));
                    for (r, ok) in rr.iter_mut().zip(oo.iter()) {
                        *r = if *ok { Ok(()) } else { Err(GcmAuthError) };
                    }
                    done += m;
                }
            }
        }
        n
    }
}

impl core::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Gcm({:?}, key redacted)", self.backend())
    }
}

//! SIMD AES-GCM backends (AES-NI/PCLMULQDQ, VAES/VPCLMULQDQ on 256- and 512-bit vectors).
//!
//! Not implemented yet: no SIMD backend reports itself available, so [`super::Gcm::new`]
//! refuses them with `GcmKeyError::Unavailable` and `Backend::best()` picks the portable path.

use super::{Backend, GcmAuthError, GcmKeyError};

/// Whether `backend` is implemented and this CPU can run it.
pub(super) fn is_available(_backend: Backend) -> bool {
    false
}

/// An expanded key for one SIMD backend.
pub(super) struct Simd {
    backend: Backend,
}

impl Simd {
    pub(super) fn new(_key: &[u8], backend: Backend) -> Result<Self, GcmKeyError> {
        Err(GcmKeyError::Unavailable(backend))
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    pub(super) fn seal(&self, _nonce: &[u8; 12], _aad: &[u8], _buf: &mut [u8]) -> [u8; 16] {
        unreachable!("Simd is never constructed while no backend is available")
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
}

//! The reference backend: the `aes-gcm` crate.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};

use super::{GcmAuthError, GcmKeyError};

pub(super) enum Portable {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl Portable {
    pub(super) fn new(key: &[u8]) -> Result<Self, GcmKeyError> {
        match key.len() {
            16 => Aes128Gcm::new_from_slice(key).map(|k| Self::Aes128(Box::new(k))),
            32 => Aes256Gcm::new_from_slice(key).map(|k| Self::Aes256(Box::new(k))),
            _ => return Err(GcmKeyError::BadKeyLength(key.len())),
        }
        .map_err(|_| GcmKeyError::BadKeyLength(key.len()))
    }

    pub(super) fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let nonce = Nonce::from_slice(nonce);
        // `encrypt_in_place_detached` fails only past the GCM length limit (2^36 bytes),
        // which no ESP packet reaches.
        let tag = match self {
            Self::Aes128(k) => k.encrypt_in_place_detached(nonce, aad, buf),
            Self::Aes256(k) => k.encrypt_in_place_detached(nonce, aad, buf),
        };
        tag.map(Into::into).unwrap_or([0; 16])
    }

    pub(super) fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), GcmAuthError> {
        let nonce = Nonce::from_slice(nonce);
        let tag = Tag::from_slice(tag);
        match self {
            Self::Aes128(k) => k.decrypt_in_place_detached(nonce, aad, buf, tag),
            Self::Aes256(k) => k.decrypt_in_place_detached(nonce, aad, buf, tag),
        }
        .map_err(|_| GcmAuthError)
    }
}

//! ESP (RFC 4303) data plane: AES-GCM (RFC 4106), anti-replay, SAD, UDP encapsulation.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod aead;

pub use aead::{Backend, Gcm, GcmAuthError, GcmKeyError};

//! IKEv2 (RFC 7296): message codec, crypto suite and IKE/Child SA state machines, sans-IO.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod crypto;
pub mod error;
pub mod wire;

pub use error::{ApiError, Error, InputError, WireError};

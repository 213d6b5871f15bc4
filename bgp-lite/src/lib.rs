//! Minimal iBGP: codec, session FSM, RIB, route reflection, aggregation, dynamic neighbors, sans-IO.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod error;
pub mod framer;
pub mod wire;

pub use error::{ApiError, AttrError, ConfigError, Error, InputError, WireError};
pub use framer::Framer;

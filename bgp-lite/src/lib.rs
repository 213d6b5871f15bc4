//! Minimal iBGP: codec, session FSM, RIB, route reflection, aggregation, dynamic neighbors, sans-IO.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod aggregate;
pub mod config;
pub mod error;
pub mod framer;
pub mod policy;
pub mod reflect;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod wire;

pub use config::SpeakerConfig;
pub use error::{ApiError, AttrError, ConfigError, Error, InputError, WireError};
pub use framer::Framer;
pub use session::{ConnId, State};
pub use speaker::{Event, IgpRoute, Speaker, Stats, StreamTransmit};

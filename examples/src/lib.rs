//! The example FlexVPN router `flexvpn-router`: it composes the protocol crates of the workspace
//! into one router and runs the scenario of `SCENARIO.md` in a deterministic simulator.
//!
//! - [`config`]: the IOS-style configuration parser (every line of the scenario's configurations);
//! - [`prefix`]: IPv4 prefixes and masks.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod prefix;

//! The router on real Linux networking: network namespaces, veth pairs, private strongSwan
//! instances, TUN devices and the process driver.
//!
//! Everything here needs root. The helpers create only what they are asked to create, name it
//! uniquely ([`unique_name`]) and undo it in `Drop`, so a failing test leaves nothing behind.
//!
//! - [`netns`]: namespaces ([`netns::Netns`]), veth pairs, running a closure inside a
//!   namespace ([`netns::in_netns`]) so that the sockets it opens live there;
//! - [`charon`]: a private strongSwan charon in a namespace of its own ([`charon::Charon`]).
//! - [`lab`]: `flexvpn-router lab --netns`;
//! - [`tun`]: TUN devices; [`run`]: `flexvpn-router run` (one node on real sockets and TUN
//!   devices, `show` over a unix control socket) and `flexvpn-router show`.
#![allow(
    clippy::disallowed_methods,
    reason = "the Linux driver opens sockets, reads the clock and runs processes"
)]

pub mod charon;
pub mod lab;
pub mod netns;
pub mod run;
pub mod tun;

use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique in this process and between processes: `prefix`, the process id and a
/// counter. Kept short because Linux interface names have at most 15 bytes.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

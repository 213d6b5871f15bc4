//! NHRP (RFC 2332) for DMVPN-style spoke-to-spoke shortcuts: codec, cache, redirect (Traffic
//! Indication) and shortcut resolution, sans-IO.
//!
//! - [`wire`]: the packet codec (fixed header, mandatory part, CIEs, extensions, Traffic
//!   Indication), total and exact: `emit(parse(x)) == x`.
//! - [`Engine`]: one NHRP interface (one network-id). A hub (`Config::server`) redirects
//!   traffic that hairpins through it, answers for the clients it knows, forwards other
//!   resolution requests towards the owner (also to another hub on the same network-id) and
//!   relays replies. A spoke resolves on redirect, answers for its own prefixes, and asks the
//!   router to open a tunnel and install a shortcut route; shortcuts are refreshed while used,
//!   expire otherwise, and go at once on a purge or when their tunnel dies.
//!
//! # The sans-IO contract
//! 1. `now` goes into every `handle_*` and command; it never goes backwards.
//! 2. After every input or command, drain [`Engine::poll_transmit`] until `None`, then
//!    [`Engine::poll_event`] until `None`, then read [`Engine::poll_timeout`].
//! 3. [`Engine::handle_timeout`] is idempotent: early or repeated calls do nothing.
//! 4. An `Err` from [`Engine::handle_nhrp`] means the packet was dropped (or answered with an
//!    Error Indication); the engine's state is unchanged apart from counters.
//!
//! ```text
//!  GRE 0x2001 in --> handle_nhrp ----+                +--> poll_transmit -> GRE 0x2001 out
//!  forwarded data -> handle_forwarded+--> Engine -----+--> poll_event    -> tunnels, routes
//!  routes, peers --> set_route/add_peer               +--> poll_timeout  -> handle_timeout
//! ```
//!
//! # Example: a spoke and its hub, in memory, with a virtual clock
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::{Duration, Instant};
//! use nhrp::{Config, Engine, Event, Forwarded, Peer, Prefix};
//! # use rand_chacha::rand_core::SeedableRng;
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let t0 = Instant::now();
//! let hub_p = Peer::new(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(172, 25, 1, 1));
//! let s1 = Peer::new(Ipv4Addr::new(10, 1, 1, 111), Ipv4Addr::new(172, 16, 1, 1));
//! let s2 = Peer::new(Ipv4Addr::new(10, 1, 1, 112), Ipv4Addr::new(172, 16, 2, 2));
//!
//! let mut cfg = Config::new(2, hub_p.proto, hub_p.nbma);
//! cfg.server = true;
//! let mut hub = Engine::new(cfg, &mut rng, t0).unwrap();
//! hub.add_peer(t0, s1).unwrap();
//! hub.set_route("192.168.2.0/24".parse().unwrap(), s2);
//!
//! let mut cfg = Config::new(2, s2.proto, s2.nbma);
//! cfg.local_prefixes = vec!["192.168.2.0/24".parse().unwrap()];
//! let mut spoke2 = Engine::new(cfg, &mut rng, t0).unwrap();
//!
//! let mut cfg = Config::new(2, s1.proto, s1.nbma);
//! cfg.servers = vec![hub_p];
//! let mut spoke1 = Engine::new(cfg, &mut rng, t0).unwrap();
//! spoke1.set_route("0.0.0.0/0".parse().unwrap(), hub_p);
//!
//! // A packet 192.168.1.5 -> 192.168.2.7 hairpins through the hub: redirect.
//! let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, 5, 192, 168, 2, 7];
//! ip.extend_from_slice(&[0; 8]);
//! assert!(hub.handle_forwarded(t0, Forwarded { ingress: Some(s1), egress: s2, packet: &ip }));
//!
//! // Deliver every transmit to the engine that owns the NBMA address, until quiet.
//! let mut now = t0;
//! let mut events = Vec::new();
//! for _ in 0..10 {
//!     now += Duration::from_millis(10);
//!     let mut out = Vec::new();
//!     for (e, from) in [(&mut hub, hub_p.nbma), (&mut spoke1, s1.nbma), (&mut spoke2, s2.nbma)] {
//!         while let Some(t) = e.poll_transmit() { out.push((from, t)); }
//!         while let Some(ev) = e.poll_event() { events.push(ev); }
//!     }
//!     for (from, t) in out {
//!         let dst = if t.nbma == hub_p.nbma { &mut hub }
//!             else if t.nbma == s1.nbma { &mut spoke1 } else { &mut spoke2 };
//!         let _ = dst.handle_nhrp(now, from, &t.payload);
//!     }
//! }
//! assert!(events.contains(&Event::InstallShortcut {
//!     prefix: "192.168.2.0/24".parse::<Prefix>().unwrap(),
//!     next_hop: s2.proto,
//!     nbma: s2.nbma,
//! }));
//! assert!(spoke1.show(now).contains("192.168.2.0/24 via 10.1.1.112"));
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cache;
pub mod config;
pub mod engine;
pub mod error;
pub mod hub;
pub mod ratelimit;
pub mod spoke;
pub mod wire;

#[cfg(fuzzing)]
pub mod fuzzing;

pub use cache::{Cache, CacheEntry, EntryType};
pub use config::{Config, Peer, Prefix, RateLimit, ResolutionLimit};
pub use engine::{Engine, Event, Forwarded, Shortcut, Stats, Transmit};
pub use error::{ApiError, ConfigError, InputError, WireError};
pub use wire::Packet;

/// The one clock read of the unit tests.
#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "the one clock read")]
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}

//! IKEv2 (RFC 7296): message codec, crypto suite and IKE/Child SA state machines, sans-IO.
//!
//! The crate opens no socket, reads no clock and draws from no global RNG. An [`Endpoint`]
//! holds many IKE SAs behind one UDP port pair (500 and the NAT-T port 4500) and is driven
//! from outside:
//!
//! - in: [`Endpoint::handle_datagram`] for received UDP payloads, [`Endpoint::handle_timeout`],
//!   and commands ([`Endpoint::connect`], [`Endpoint::close`], [`Endpoint::rekey_child`], ...);
//! - out: [`Endpoint::poll_transmit`] (datagrams to send), [`Endpoint::poll_event`]
//!   ([`Event::ChildSaInstalled`] carries the ESP keys), [`Endpoint::poll_timeout`].
//!
//! Rules: `now` goes into every call and never goes backwards; after every input or command
//! drain `poll_transmit` until `None`, then `poll_event` until `None`, then read
//! `poll_timeout`; `handle_timeout` is idempotent; an `Err` from `handle_datagram` is
//! informational (the datagram was dropped or answered statelessly, nothing else changed).
//!
//! ```text
//!  UDP 500/4500 --> handle_datagram --> wire::Message --> SPI demux --> sa (SaState)
//!                                                                      |  crypto (SK, keys)
//!  UDP 500/4500 <-- poll_transmit  <------------------------------------+
//!  ESP layer    <-- poll_event (ChildSaInstalled { spi_in, spi_out, keys, .. })
//! ```
//!
//! # Example: two endpoints in memory with a virtual clock
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use ikev2::wire::Identification;
//! use ikev2::{AddressPool, Endpoint, EndpointConfig, Event, PeerConfig, Psk, ResponderConfig, SaPolicy};
//! use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let mut now = Instant::now(); // the caller's clock; the crate never reads one
//! let (spoke_addr, hub_addr): (SocketAddr, SocketAddr) =
//!     ("192.0.2.1:500".parse()?, "198.51.100.1:500".parse()?);
//! let mut hub_cfg = EndpointConfig::new();
//! hub_cfg.responder = Some(ResponderConfig {
//!     psks: vec![(None, Psk::new(b"cisco"))],
//!     pool: Some(AddressPool::new("10.1.1.100".parse()?, "10.1.1.175".parse()?)?),
//!     policy: SaPolicy::new(Identification::fqdn("hub")),
//! });
//! let mut hub = Endpoint::new(hub_cfg, ChaCha20Rng::seed_from_u64(1), now);
//! let mut spoke = Endpoint::new(EndpointConfig::new(), ChaCha20Rng::seed_from_u64(2), now);
//! spoke.connect(now, PeerConfig {
//!     remote: hub_addr,
//!     local: spoke_addr,
//!     psk: Psk::new(b"cisco"),
//!     remote_id: None,
//!     request_address: true,
//!     initial_contact: true,
//!     policy: SaPolicy::new(Identification::key_id(b"spoke1")),
//! })?;
//! let mut installed = 0;
//! for _ in 0..10 {
//!     // The drain invariant: transmits, then events, then the timeout.
//!     while let Some(t) = spoke.poll_transmit() {
//!         let _ = hub.handle_datagram(now, t.remote, t.local, &t.payload);
//!     }
//!     while let Some(t) = hub.poll_transmit() {
//!         let _ = spoke.handle_datagram(now, t.remote, t.local, &t.payload);
//!     }
//!     while let Some(e) = spoke.poll_event() {
//!         if let Event::ChildSaInstalled { spi_in, spi_out, keys, .. } = e {
//!             assert_ne!(spi_in, spi_out);
//!             assert_eq!(keys.encr_out.len(), 36); // AES-256-GCM key + salt
//!             installed += 1;
//!         }
//!     }
//!     while hub.poll_event().is_some() {}
//!     now += Duration::from_millis(10);
//!     spoke.handle_timeout(now);
//!     hub.handle_timeout(now);
//! }
//! assert_eq!(installed, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(fuzzing, allow(missing_docs, clippy::cast_possible_truncation))]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod event;
#[cfg(fuzzing)]
pub mod fuzzing;
mod sa;
pub mod wire;

pub use config::{
    AddressPool, AddressPool6, AuthRedirect, CpConfig, CpRequest, DpdConfig, EndpointConfig,
    EspSuite, IkeSuite, KeyLog, Mode, NoKeyLog, PeerConfig, Psk, ResponderConfig, RetransmitConfig,
    SaPolicy,
};
pub use endpoint::{Endpoint, SaInfo, Stats};
pub use error::{ApiError, Error, InputError, WireError};
pub use event::{ChildSaKeys, DeleteReason, Event, InternalConfig, SaHandle, Transmit};

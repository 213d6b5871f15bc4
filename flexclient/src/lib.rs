//! The FlexVPN client block of Cisco IOS (`crypto ikev2 client flexvpn NAME`), sans-IO: an
//! ordered list of peers, failover from one to the next, object tracking of peers, sources and
//! the connection itself, `peer reactivate`, backup groups, the IOS log lines and
//! `show crypto ikev2 client flexvpn`.
//!
//! The block speaks in events and actions, not IKE messages. The caller's IKE layer reports
//! sessions ([`Client::handle_session`]), the tracking process reports track objects
//! ([`Client::handle_track`]), the interface layer reports interfaces
//! ([`Client::handle_interface`]), the resolver answers names ([`Client::handle_resolved`]). The
//! block answers with [`Event::Action`]s (connect to peer X from source S, disconnect, line
//! protocol up/down, resolve a name) and [`Event::Syslog`] lines.
//!
//! # The sans-IO contract
//! 1. `now` goes into every `handle_*` call and command; it never goes backwards.
//! 2. After every call, drain [`Client::poll_event`] until `None`, then read
//!    [`Client::poll_timeout`] and call [`Client::handle_timeout`] when it is due.
//! 3. `handle_timeout` is idempotent: an early or repeated call does nothing.
//! 4. No input is an error: reports that do not fit the state are ignored and counted in
//!    [`Stats`]; an `Up` for a session the block did not ask for is answered with a
//!    [`Action::Disconnect`]. Only caller misuse returns an [`ApiError`].
//!
//! ```text
//!  IKE layer --SessionEvent--> +--------+ --Action::Connect/Disconnect--> IKE layer
//!  tracking  --track up/down-> | Client | --Action::LineUp/LineDown-----> tunnel interface
//!  resolver  --name -> addr--> |  fsm   | --Action::Resolve------------> resolver
//!  clock     --handle_timeout> +--------+ --Syslog(String)-------------> logger
//! ```
//!
//! # Example: the run loop, with a pretend IKE layer and a virtual clock
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::{Duration, Instant};
//! use flexclient::{Action, Client, ClientConfig, DownReason, Event, PeerConfig, SessionEvent, State};
//!
//! let hub1 = Ipv4Addr::new(172, 25, 1, 1);
//! let hub2 = Ipv4Addr::new(172, 25, 2, 1);
//! let cfg = ClientConfig::builder("Flex_Client")
//!     .peer(PeerConfig::address(1, hub1)?)
//!     .peer(PeerConfig::address(2, hub2)?)
//!     .client_connect("Tunnel1")
//!     .tunnel_source("Ethernet0/0")
//!     .build()?;
//! # #[allow(clippy::disallowed_methods)]
//! let mut now = Instant::now(); // the caller's clock; the block never reads one
//! let mut client = Client::new(now, cfg);
//! let mut log = Vec::new();
//! let mut step = |client: &mut Client, log: &mut Vec<String>| {
//!     let mut connects = Vec::new();
//!     while let Some(ev) = client.poll_event() {
//!         match ev {
//!             Event::Action(Action::Connect { peer, .. }) => connects.push(peer),
//!             Event::Syslog(line) => log.push(line),
//!             _ => {}
//!         }
//!     }
//!     connects
//! };
//! let up = |assigned| SessionEvent::Up {
//!     local: Ipv4Addr::new(172, 16, 2, 2),
//!     peer_port: 500,
//!     peer_id: String::new(),
//!     assigned_v4: Some(assigned),
//! };
//!
//! client.handle_timeout(now); // connect auto starts here
//! assert_eq!(step(&mut client, &mut log), [hub1]);
//! client.handle_session(now, hub1, up(Ipv4Addr::new(10, 1, 1, 111)));
//! step(&mut client, &mut log);
//! assert_eq!(client.state(), State::Active);
//!
//! now += Duration::from_secs(60); // DPD declares hub 1 dead
//! client.handle_session(now, hub1, SessionEvent::Down { reason: DownReason::Dpd });
//! assert_eq!(step(&mut client, &mut log), [hub2]); // failover to the next peer
//! client.handle_session(now, hub2, up(Ipv4Addr::new(10, 1, 1, 177)));
//! step(&mut client, &mut log);
//! assert_eq!(client.active_peer(), Some(hub2));
//! assert!(log.iter().any(|l| l.starts_with("%FLEXVPN-6-FLEXVPN_CONNECTION_DOWN")));
//! # Ok::<(), flexclient::ConfigError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod client;
pub mod config;
mod error;
mod fsm;
mod group;
mod show;
pub mod syslog;
pub mod track;

pub use client::{Action, Client, DownReason, EVENT_QUEUE_CAP, Event, SessionEvent, Stats};
pub use config::{
    ClientConfig, ClientConfigBuilder, ConnectMode, PeerAddress, PeerConfig, SourceConfig, Timers,
};
pub use error::{ApiError, ConfigError};
pub use fsm::State;
pub use group::{BackupGroups, ClientId, ClientSet};
pub use track::{TrackRef, TrackWant};

//! `bgp-lite`: iBGP for IPv4 unicast, done fully: the BGP-4 codec (RFC 4271, 4760, 6793,
//! 5492, 2918, 4456, 1997) with RFC 7606 error handling, the session FSM with its timers and
//! collision detection, a RIB with best-path selection, route reflection, dynamic neighbors
//! from listen ranges, `network`, `aggregate-address ... summary-only [as-set]` with a discard
//! route, `unsuppress-map`, `next-hop-self [all]` and route-maps. Sans-IO and stream-oriented:
//! a [`Speaker`] takes bytes from and gives bytes to whatever reliable stream carries BGP.
//!
//! # The contract (sans-IO)
//! 1. `now` goes into every `handle_*` call and command; it never goes backwards.
//! 2. After every `handle_*` or command, drain [`Speaker::poll_transmit`] until `None`, then
//!    [`Speaker::poll_event`] until `None` (that order: a NOTIFICATION is queued before the
//!    `Close` event of its connection), then read [`Speaker::poll_timeout`].
//! 3. [`Speaker::handle_timeout`] is idempotent: an early or repeated call does nothing.
//! 4. Bad input never poisons the speaker: a malformed message is answered (NOTIFICATION and
//!    `Event::Close` for that connection, or RFC 7606 treat-as-withdraw / attribute discard
//!    without a reset) and counted in [`Speaker::stats`]; other sessions are unaffected.
//!
//! Connections: the speaker asks for outbound ones with [`Event::Connect`] (ids with the top
//! bit set); the caller reports them with `handle_connected` or `handle_closed`. The caller
//! numbers the inbound connections it accepts (top bit clear); a connection from an address
//! that is neither a neighbor nor inside a listen range is refused.
//!
//! ```text
//!  TCP bytes ──> Framer ──> Session FSM ──> UPDATE ──> route-map in ──> Loc-RIB (best path)
//!                               │                                          │
//!  TCP bytes <── UPDATE packer <┴─ Adj-RIB-Out <── split horizon / RR / aggregation / policy out
//!  events: Connect, Close, Syslog(%BGP-5-ADJCHANGE), BestPath (FIB), DiscardRoute (Null0)
//! ```
//!
//! # Example: two speakers in memory on a virtual clock
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//! use std::time::{Duration, Instant};
//! use bgp_lite::config::NeighborSettings;
//! use bgp_lite::{ConnId, Event, IgpRoute, Speaker, SpeakerConfig, State};
//!
//! let (ip_a, ip_b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let (sock_a, sock_b) = (SocketAddr::from((ip_a, 40000)), SocketAddr::from((ip_b, 179)));
//! let t0 = Instant::now(); // the caller's clock; the crate never reads one
//! let mut ca = SpeakerConfig::new(65001, ip_a);
//! ca.neighbors.insert(ip_b.into(), NeighborSettings::ibgp(65001));
//! ca.networks.push("192.168.0.0/24".parse()?);
//! let mut cb = SpeakerConfig::new(65001, ip_b);
//! let mut passive = NeighborSettings::ibgp(65001);
//! passive.passive = true;
//! cb.neighbors.insert(ip_a.into(), passive);
//! let mut a = Speaker::new(ca, t0)?;
//! let mut b = Speaker::new(cb, t0)?;
//! a.set_route_table(t0, [IgpRoute { prefix: "192.168.0.0/24".parse()?, metric: 0 }]);
//!
//! let (mut now, mut conn_a, conn_b) = (t0, None, ConnId(1));
//! for _ in 0..20 {
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//!     loop {
//!         let mut busy = false;
//!         while let Some(t) = a.poll_transmit() { busy = true; b.handle_stream_data(now, conn_b, &t.bytes)?; }
//!         while let Some(t) = b.poll_transmit() {
//!             busy = true;
//!             if let Some(c) = conn_a { a.handle_stream_data(now, c, &t.bytes)?; }
//!         }
//!         while let Some(e) = a.poll_event() {
//!             busy = true;
//!             if let Event::Connect { conn, .. } = e {
//!                 // the caller opens a TCP connection here; in memory it just succeeds
//!                 b.handle_connected(now, conn_b, sock_b, sock_a)?;
//!                 a.handle_connected(now, conn, sock_a, sock_b)?;
//!                 conn_a = Some(conn);
//!             }
//!         }
//!         while b.poll_event().is_some() { busy = true; }
//!         if !busy { break; }
//!     }
//!     now += Duration::from_millis(100);
//! }
//! assert_eq!(a.neighbor_state(ip_b.into()), Some(State::Established));
//! let route = b.loc_rib().best(&"192.168.0.0/24".parse()?).expect("learned");
//! assert_eq!(route.attrs.next_hop, ip_a);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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

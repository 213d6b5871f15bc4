//! ESP (RFC 4303) data plane: AES-GCM (RFC 4106), anti-replay (RFC 6479), SAD, UDP
//! encapsulation (RFC 3948).
//!
//! The crate seals and opens ESP packets in place, in buffers the caller owns; it opens no
//! socket and reads no clock. An IKEv2 implementation negotiates the SAs and hands out their
//! KEYMAT (`key || salt`); [`SaParams::from_keymat`] turns that into an [`OutboundSa`] or an
//! [`InboundSa`].
//!
//! # The contract
//!
//! - [`OutboundSa::seal`] turns the payload in a `BytesMut` into an ESP packet (SPI to ICV) in
//!   the same buffer. The sequence number increases by one per packet and is also the 8-byte
//!   explicit IV, so no IV repeats under one key; the SA refuses to seal rather than wrap it.
//!   No allocation happens when the buffer has ~36 bytes of spare capacity.
//! - [`InboundSa::open`] turns an ESP packet into its payload in the same buffer, after the
//!   replay check, the ICV check and the trailer check. A packet that fails any check changes
//!   nothing but a drop counter: the replay window moves only for authentic packets.
//! - No input makes either function panic; every refusal is a typed error
//!   ([`SealError`], [`OpenError`]).
//! - Lifetimes (bytes, packets, sequence-number exhaustion) raise [`Event`]s: one
//!   [`Event::RekeyNeeded`] at the soft limit and one [`Event::Expired`] at the hard limit.
//!   The [`Sad`] collects them; drain [`Sad::poll_event`] after each call.
//! - Keys zeroize on drop and never appear in `Debug` output.
//!
//! ```text
//!   IKEv2 KEYMAT ──► SaParams ──► OutboundSa ── seal ──► ESP ──► (udp_encap) ──► socket
//!                           └───► InboundSa  ◄─ open ◄── ESP ◄── (udp_encap) ◄── socket
//!                                      └── lifetime ──► Sad::poll_event()
//! ```
//!
//! # Example: seal, then open
//!
//! ```
//! use bytes::BytesMut;
//! use esp::{InboundSa, OpenError, OutboundSa, SaParams};
//!
//! // 36 bytes of KEYMAT from the Child SA: AES-256 key and salt.
//! let keymat = [0x5au8; 36];
//! let mut tx = OutboundSa::new(SaParams::from_keymat(0xc0ffee, &keymat)?.with_esn(true))?;
//! let mut rx = InboundSa::new(SaParams::from_keymat(0xc0ffee, &keymat)?.with_esn(true))?;
//!
//! let mut buf = BytesMut::with_capacity(2048);
//! buf.extend_from_slice(b"\x45 an inner IPv4 packet");
//! tx.seal(&mut buf, esp::wire::NEXT_HEADER_IPV4)?;
//! let copy = buf.clone();
//!
//! let opened = rx.open(&mut buf)?;
//! assert_eq!(opened.next_header, 4);
//! assert_eq!(&buf[..], b"\x45 an inner IPv4 packet");
//!
//! // The same packet again is a replay, and the window did not move for it.
//! let mut again = copy.clone();
//! assert_eq!(rx.open(&mut again), Err(OpenError::Replayed(1)));
//! // A flipped bit fails authentication, and does not move the window either.
//! let mut next = BytesMut::from(&b"\x45 a second packet"[..]);
//! tx.seal(&mut next, 4)?;
//! let mut bad = next.clone();
//! bad[20] ^= 1;
//! assert_eq!(rx.open(&mut bad), Err(OpenError::AuthenticationFailed));
//! assert_eq!(rx.highest_seq(), 1);
//! assert_eq!(rx.open(&mut next)?.seq, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod aead;
pub mod batch;
pub mod error;
pub mod keys;
pub mod replay;
pub mod sa;
pub mod sad;
pub mod udp_encap;
pub mod wire;

pub use aead::{Backend, Gcm, GcmAuthError, GcmKeyError};
pub use batch::BatchSealError;
pub use error::{ConfigError, OpenError, SadError, SealError, WireError};
pub use keys::SaKey;
pub use sa::{InboundSa, Lifetime, Mode, Opened, OutboundSa, SaParams, SaStats, Sealed};
pub use sad::{Direction, Event, LimitKind, Sad};

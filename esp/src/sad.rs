//! The security association database: SAs keyed by SPI, and their lifetime events.
//!
//! ```text
//!  caller ── seal(spi, buf, nh) ──► OutboundSa ─┐
//!  caller ── open(buf) ── SPI ───► InboundSa  ─┤ lifetime counters
//!  caller ◄── poll_event() ◄── RekeyNeeded / Expired (drained after every call)
//! ```
//!
//! Lookup is a `BTreeMap` by SPI: deterministic, and no `HashMap` seeded at random. The event
//! queue holds at most two events per SA ever installed (one "rekey needed", one "expired").

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use bytes::BytesMut;

use crate::error::{OpenError, SadError, SealError};
use crate::sa::{InboundSa, Opened, OutboundSa, Sealed};
use crate::wire;

/// Which half of an SA an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// An [`InboundSa`].
    Inbound,
    /// An [`OutboundSa`].
    Outbound,
}

/// Which limit raised an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LimitKind {
    /// A byte lifetime.
    Bytes,
    /// A packet lifetime.
    Packets,
    /// The sequence number nears (soft) or reached (hard) its last value: 2^32 - 1, or
    /// 2^64 - 1 with ESN. The soft event comes [`crate::sa::SEQ_REKEY_MARGIN_32`] (or
    /// `_64`) packets early.
    SequenceNumber,
}

/// A lifetime event. Each SA raises at most one of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A soft limit was reached: negotiate a replacement SA (IKEv2 CREATE_CHILD_SA).
    RekeyNeeded {
        /// The SA's SPI.
        spi: u32,
        /// Its direction.
        direction: Direction,
        /// The limit reached first.
        reason: LimitKind,
    },
    /// A hard limit was reached: the SA refuses every further packet; delete it.
    Expired {
        /// The SA's SPI.
        spi: u32,
        /// Its direction.
        direction: Direction,
        /// The limit reached.
        reason: LimitKind,
    },
}

/// Inbound and outbound SAs by SPI, with their lifetime events.
///
/// ```
/// use bytes::BytesMut;
/// use esp::{Event, InboundSa, LimitKind, Lifetime, OutboundSa, Sad, SaParams};
/// let keymat = [9u8; 36];
/// let life = Lifetime { soft_packets: Some(2), hard_packets: Some(3), ..Lifetime::default() };
/// let mut sad = Sad::new();
/// sad.insert_outbound(OutboundSa::new(SaParams::from_keymat(0x200, &keymat)?.with_lifetime(life))?)?;
/// sad.insert_inbound(InboundSa::new(SaParams::from_keymat(0x200, &keymat)?)?)?;
/// for _ in 0..3 {
///     let mut buf = BytesMut::from(&b"payload"[..]);
///     sad.seal(0x200, &mut buf, 47)?;
///     assert_eq!(sad.open(&mut buf)?.next_header, 47);
/// }
/// assert!(matches!(sad.poll_event(), Some(Event::RekeyNeeded { reason: LimitKind::Packets, .. })));
/// assert!(matches!(sad.poll_event(), Some(Event::Expired { spi: 0x200, .. })));
/// assert_eq!(sad.poll_event(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Sad {
    pub(crate) inbound: BTreeMap<u32, InboundSa>,
    pub(crate) outbound: BTreeMap<u32, OutboundSa>,
    pub(crate) events: VecDeque<Event>,
}

impl Sad {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs an inbound SA under its SPI.
    ///
    /// # Errors
    /// [`SadError::DuplicateSpi`] when one is installed already (the new SA is dropped).
    pub fn insert_inbound(&mut self, sa: InboundSa) -> Result<(), SadError> {
        let spi = sa.spi();
        if self.inbound.contains_key(&spi) {
            return Err(SadError::DuplicateSpi(spi));
        }
        self.inbound.insert(spi, sa);
        Ok(())
    }

    /// Installs an outbound SA under its SPI.
    ///
    /// # Errors
    /// [`SadError::DuplicateSpi`] when one is installed already (the new SA is dropped).
    pub fn insert_outbound(&mut self, sa: OutboundSa) -> Result<(), SadError> {
        let spi = sa.spi();
        if self.outbound.contains_key(&spi) {
            return Err(SadError::DuplicateSpi(spi));
        }
        self.outbound.insert(spi, sa);
        Ok(())
    }

    /// Removes and returns an inbound SA (its keys zeroize when it is dropped).
    pub fn remove_inbound(&mut self, spi: u32) -> Option<InboundSa> {
        self.inbound.remove(&spi)
    }

    /// Removes and returns an outbound SA.
    pub fn remove_outbound(&mut self, spi: u32) -> Option<OutboundSa> {
        self.outbound.remove(&spi)
    }

    /// The inbound SA with this SPI.
    pub fn inbound(&self, spi: u32) -> Option<&InboundSa> {
        self.inbound.get(&spi)
    }

    /// The outbound SA with this SPI.
    pub fn outbound(&self, spi: u32) -> Option<&OutboundSa> {
        self.outbound.get(&spi)
    }

    /// Number of inbound and outbound SAs.
    pub fn len(&self) -> (usize, usize) {
        (self.inbound.len(), self.outbound.len())
    }

    /// Whether no SA is installed.
    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty() && self.outbound.is_empty()
    }

    /// Seals `buf` with the outbound SA `spi`; see [`OutboundSa::seal`].
    ///
    /// # Errors
    /// [`SealError::UnknownSpi`], or the SA's own error.
    pub fn seal(
        &mut self,
        spi: u32,
        buf: &mut BytesMut,
        next_header: u8,
    ) -> Result<Sealed, SealError> {
        let sa = self
            .outbound
            .get_mut(&spi)
            .ok_or(SealError::UnknownSpi(spi))?;
        let r = sa.seal(buf, next_header);
        while let Some(e) = sa.poll_event() {
            self.events.push_back(e);
        }
        r
    }

    /// Opens `buf` with the inbound SA named by its SPI; see [`InboundSa::open`].
    ///
    /// # Errors
    /// [`OpenError::UnknownSpi`], a truncated packet, or the SA's own error.
    pub fn open(&mut self, buf: &mut BytesMut) -> Result<Opened, OpenError> {
        let spi = wire::spi_of(buf)?;
        let sa = self
            .inbound
            .get_mut(&spi)
            .ok_or(OpenError::UnknownSpi(spi))?;
        let r = sa.open(buf);
        while let Some(e) = sa.poll_event() {
            self.events.push_back(e);
        }
        r
    }

    /// Seals with the outbound SA `spi` without moving the payload; see
    /// [`OutboundSa::seal_with_headroom`].
    ///
    /// # Errors
    /// [`SealError::UnknownSpi`], or the SA's own error.
    pub fn seal_with_headroom(
        &mut self,
        spi: u32,
        buf: &mut [u8],
        payload_len: usize,
        next_header: u8,
    ) -> Result<Sealed, SealError> {
        let sa = self
            .outbound
            .get_mut(&spi)
            .ok_or(SealError::UnknownSpi(spi))?;
        let r = sa.seal_with_headroom(buf, payload_len, next_header);
        while let Some(e) = sa.poll_event() {
            self.events.push_back(e);
        }
        r
    }

    /// Opens a packet in a plain slice with the inbound SA its SPI names; see
    /// [`InboundSa::open_in_place`].
    ///
    /// # Errors
    /// As [`Sad::open`].
    pub fn open_in_place(&mut self, buf: &mut [u8]) -> Result<(Opened, Range<usize>), OpenError> {
        let spi = wire::spi_of(buf)?;
        let sa = self
            .inbound
            .get_mut(&spi)
            .ok_or(OpenError::UnknownSpi(spi))?;
        let r = sa.open_in_place(buf);
        while let Some(e) = sa.poll_event() {
            self.events.push_back(e);
        }
        r
    }

    /// The next lifetime event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

//! Outbound and inbound ESP SAs with AES-GCM (RFC 4303, RFC 4106): in-place seal and open.
//!
//! ```text
//!   seal (OutboundSa)                              open (InboundSa)
//!   payload ──► [hdr|iv] payload tfc pad pl nh      [hdr|iv|ct|icv]
//!               seq = last + 1 (never reused)         │ spi check, ESN high half (RFC 4303 A2.2)
//!               IV  = seq (64 bits, RFC 4106 §3.1)    │ replay check   (window unchanged)
//!               AAD = SPI || [seq_hi] || seq_lo       │ GCM open        (ICV, constant time)
//!               GCM seal in place, ICV appended       │ window update   (only now)
//!               lifetime counters ──► events          ▼ trailer, TFC strip ──► payload in place
//! ```

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{Buf, BytesMut};

use crate::aead::{Backend, Gcm};
use crate::error::{ConfigError, OpenError, SealError};
use crate::keys::{SALT_LEN, SaKey, Salt};
use crate::replay::{ReplayVerdict, ReplayWindow};
use crate::sad::{Direction, Event, LimitKind};
use crate::wire::{
    EspPacket, HEADROOM, ICV_LEN, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, pad_len, sealed_len,
};

/// The default anti-replay window, in packets.
pub const DEFAULT_REPLAY_WINDOW: u32 = 4096;
/// With 32-bit sequence numbers, "rekey needed" is signalled this many packets before the
/// sequence number space runs out (at 2^32 - 1 - 2^28).
pub const SEQ_REKEY_MARGIN_32: u64 = 1 << 28;
/// With ESN, "rekey needed" is signalled this many packets before 2^64 - 1.
pub const SEQ_REKEY_MARGIN_64: u64 = 1 << 32;
/// The largest sealed packet: an ESP packet must fit in an IP datagram.
pub const MAX_SEALED_LEN: usize = u16::MAX as usize;

/// ESP mode (RFC 4303 §3.1). The crate does not build IP headers; the mode decides whether
/// TFC padding is allowed and whether the receiver strips it using the inner IP length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Mode {
    /// The payload is the upper-layer protocol of the outer packet (e.g. GRE, next header 47).
    #[default]
    Transport,
    /// The payload is a whole inner IP packet (next header 4 or 41).
    Tunnel,
}

/// Soft and hard byte and packet limits of one SA. `None` is "no limit". Bytes are payload
/// bytes (what the caller gave to seal, or what open handed back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Lifetime {
    /// Bytes after which [`Event::RekeyNeeded`] is raised.
    pub soft_bytes: Option<u64>,
    /// Bytes after which [`Event::Expired`] is raised and the SA refuses packets.
    pub hard_bytes: Option<u64>,
    /// Packets after which [`Event::RekeyNeeded`] is raised.
    pub soft_packets: Option<u64>,
    /// Packets after which [`Event::Expired`] is raised and the SA refuses packets.
    pub hard_packets: Option<u64>,
}

/// Everything needed to build one SA, in either direction.
///
/// ```
/// use esp::{Mode, SaParams};
/// // KEYMAT from the IKEv2 Child SA (key || salt), 36 bytes for AES-256-GCM.
/// let params = SaParams::from_keymat(0x1234_5678, &[0x42; 36])?
///     .with_esn(true)
///     .with_mode(Mode::Tunnel)
///     .with_replay_window(8192);
/// assert_eq!(params.replay_window, 8192);
/// # Ok::<(), esp::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct SaParams {
    /// The SPI (the receiver's choice; 0 is refused).
    pub spi: u32,
    /// AES-GCM key and salt.
    pub key: SaKey,
    /// Extended (64-bit) sequence numbers (RFC 4303 §2.2.1).
    pub esn: bool,
    /// Transport or tunnel mode.
    pub mode: Mode,
    /// Anti-replay window size in packets (inbound only), default 4096.
    pub replay_window: u32,
    /// Soft and hard lifetimes.
    pub lifetime: Lifetime,
    /// TFC padding (outbound, tunnel mode only): pad every payload with zeros to at least
    /// this many bytes (RFC 4303 §2.7).
    pub tfc_pad_to: Option<u16>,
    /// AES-GCM implementation, default [`Backend::best`].
    pub backend: Backend,
    /// Outbound: the last sequence number already used (the first packet gets this + 1).
    /// Inbound: the highest sequence number already seen (the window's right edge).
    /// 0 for a fresh SA; other values serve SA restore and tests.
    pub initial_seq: u64,
}

impl SaParams {
    /// Defaults: no ESN, transport mode, window 4096, no lifetimes, no TFC, best backend.
    pub fn new(spi: u32, key: SaKey) -> Self {
        Self {
            spi,
            key,
            esn: false,
            mode: Mode::Transport,
            replay_window: DEFAULT_REPLAY_WINDOW,
            lifetime: Lifetime::default(),
            tfc_pad_to: None,
            backend: Backend::best(),
            initial_seq: 0,
        }
    }

    /// [`SaParams::new`] with the key split from IKEv2 KEYMAT (`key || salt`, 20 or 36 bytes).
    ///
    /// # Errors
    /// [`ConfigError::BadKeyLength`] for any other length.
    pub fn from_keymat(spi: u32, keymat: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self::new(spi, SaKey::from_keymat(keymat)?))
    }

    /// Sets [`SaParams::esn`].
    #[must_use]
    pub fn with_esn(mut self, esn: bool) -> Self {
        self.esn = esn;
        self
    }

    /// Sets [`SaParams::mode`].
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`SaParams::replay_window`].
    #[must_use]
    pub fn with_replay_window(mut self, packets: u32) -> Self {
        self.replay_window = packets;
        self
    }

    /// Sets [`SaParams::lifetime`].
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Lifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Sets [`SaParams::tfc_pad_to`].
    #[must_use]
    pub fn with_tfc_pad_to(mut self, bytes: u16) -> Self {
        self.tfc_pad_to = Some(bytes);
        self
    }

    /// Sets [`SaParams::backend`].
    #[must_use]
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets [`SaParams::initial_seq`].
    #[must_use]
    pub fn with_initial_seq(mut self, seq: u64) -> Self {
        self.initial_seq = seq;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.spi == 0 {
            return Err(ConfigError::ReservedSpi);
        }
        let l = &self.lifetime;
        for (soft, hard) in [
            (l.soft_bytes, l.hard_bytes),
            (l.soft_packets, l.hard_packets),
        ] {
            if let (Some(s), Some(h)) = (soft, hard)
                && s > h
            {
                return Err(ConfigError::SoftAboveHard);
            }
        }
        if self.tfc_pad_to.is_some() && self.mode != Mode::Tunnel {
            return Err(ConfigError::TfcNeedsTunnel);
        }
        if self.initial_seq > max_seq(self.esn) {
            return Err(ConfigError::BadInitialSeq(self.initial_seq));
        }
        Ok(())
    }
}

/// The result of a successful seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sealed {
    /// The full (64-bit) sequence number the packet carries; also its explicit IV.
    pub seq: u64,
    /// The length of the ESP packet (from SPI to ICV).
    pub len: usize,
}

/// The result of a successful open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The SPI of the SA that opened the packet.
    pub spi: u32,
    /// The full sequence number (ESN high half reconstructed).
    pub seq: u64,
    /// The next header from the ESP trailer: 4 (IPv4) or 41 (IPv6) in tunnel mode, the
    /// transport protocol (e.g. 47, GRE) in transport mode, 59 for a dummy packet to drop.
    pub next_header: u8,
}

/// Counters of one SA. Every dropped packet is counted here, never reported as an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SaStats {
    /// Packets sealed or opened.
    pub packets: u64,
    /// Payload bytes sealed or opened.
    pub bytes: u64,
    /// Inbound: drops for a replayed or too old sequence number.
    pub replay_drops: u64,
    /// Inbound: drops for a failed ICV check.
    pub auth_drops: u64,
    /// Inbound: other drops (truncated, wrong SPI, bad trailer, expired).
    pub other_drops: u64,
}

/// The sending half of an ESP SA.
///
/// ```
/// use bytes::BytesMut;
/// use esp::{InboundSa, OutboundSa, SaParams};
/// let keymat = [7u8; 20];
/// let mut tx = OutboundSa::new(SaParams::from_keymat(0x100, &keymat)?)?;
/// let mut rx = InboundSa::new(SaParams::from_keymat(0x100, &keymat)?)?;
/// let mut buf = BytesMut::with_capacity(1500);
/// buf.extend_from_slice(b"a GRE packet");
/// let sealed = tx.seal(&mut buf, 47)?;
/// assert_eq!((sealed.seq, sealed.len, buf.len()), (1, 48, 48));
/// let opened = rx.open(&mut buf)?;
/// assert_eq!((opened.seq, opened.next_header, &buf[..]), (1, 47, &b"a GRE packet"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OutboundSa {
    core: Core,
    /// The last sequence number used (0 before the first packet).
    last_seq: u64,
    tfc_pad_to: usize,
}

/// The receiving half of an ESP SA.
///
/// See [`OutboundSa`] for an example.
pub struct InboundSa {
    core: Core,
    window: ReplayWindow,
}

/// What both directions share.
struct Core {
    spi: u32,
    gcm: Gcm,
    salt: Salt,
    esn: bool,
    mode: Mode,
    life: Life,
    stats: SaStats,
}

impl Core {
    fn new(params: &SaParams, direction: Direction) -> Result<Self, ConfigError> {
        params.validate()?;
        let gcm = Gcm::new(params.key.key(), params.backend)?;
        Ok(Self {
            spi: params.spi,
            gcm,
            salt: Salt(params.key.salt()),
            esn: params.esn,
            mode: params.mode,
            life: Life::new(params.spi, direction, params.lifetime),
            stats: SaStats::default(),
        })
    }

    fn nonce(&self, iv: [u8; 8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        let (salt, rest) = n.split_at_mut(SALT_LEN);
        salt.copy_from_slice(&self.salt.0);
        rest.copy_from_slice(&iv);
        n
    }

    /// The AAD of RFC 4106 §5: SPI || seq (8 bytes), or SPI || seq_hi || seq_lo with ESN.
    fn aad(&self, seq: u64) -> ([u8; 12], usize) {
        let mut a = [0u8; 12];
        let spi = self.spi.to_be_bytes();
        let hi = ((seq >> 32) as u32).to_be_bytes();
        let lo = (seq as u32).to_be_bytes();
        let parts: [&[u8; 4]; 3] = if self.esn {
            [&spi, &hi, &lo]
        } else {
            [&spi, &lo, &[0; 4]]
        };
        for (dst, src) in a.chunks_exact_mut(4).zip(parts) {
            dst.copy_from_slice(src);
        }
        (a, if self.esn { 12 } else { 8 })
    }
}

impl OutboundSa {
    /// Builds the SA; the key schedule is expanded once here.
    ///
    /// # Errors
    /// [`ConfigError`] for SPI 0, a bad lifetime or TFC setting, or an unavailable backend.
    pub fn new(params: SaParams) -> Result<Self, ConfigError> {
        let core = Core::new(&params, Direction::Outbound)?;
        Ok(Self {
            core,
            last_seq: params.initial_seq,
            tfc_pad_to: params.tfc_pad_to.map_or(0, usize::from),
        })
    }

    /// Seals `buf` in place: on entry it holds the payload (an inner IP packet in tunnel
    /// mode, the upper-layer packet in transport mode), on success the whole ESP packet, from
    /// SPI to ICV. `next_header` goes into the trailer (4, 41, 47, ...).
    ///
    /// Grows `buf` by [`crate::wire::sealed_len`]` - len` bytes: no allocation when its capacity
    /// already covers that (about 36 bytes of tail room plus TFC padding). The payload moves
    /// 16 bytes to the right inside the buffer (one `memmove`); [`OutboundSa::seal_with_headroom`]
    /// avoids even that.
    ///
    /// # Errors
    /// [`SealError::SequenceExhausted`], [`SealError::Expired`] or
    /// [`SealError::PayloadTooLarge`]; `buf` and the SA are then unchanged.
    pub fn seal(&mut self, buf: &mut BytesMut, next_header: u8) -> Result<Sealed, SealError> {
        let len = buf.len();
        let (seq, inner, total) = self.plan(len)?;
        buf.resize(total, 0);
        buf.copy_within(0..len, HEADROOM);
        self.finish(buf, len, inner, seq, seq.to_be_bytes(), next_header)
    }

    /// Seals without moving the payload. On entry `buf[HEADROOM..HEADROOM + payload_len]`
    /// holds the payload and `buf` extends past it far enough for padding, trailer and ICV
    /// ([`crate::wire::sealed_len`]`(payload_len)` bytes in all). On success
    /// `buf[..sealed.len]` is the ESP packet.
    ///
    /// # Errors
    /// As [`OutboundSa::seal`], plus [`SealError::BufferTooSmall`].
    pub fn seal_with_headroom(
        &mut self,
        buf: &mut [u8],
        payload_len: usize,
        next_header: u8,
    ) -> Result<Sealed, SealError> {
        let (seq, inner, total) = self.plan(payload_len)?;
        let have = buf.len();
        let Some(pkt) = buf.get_mut(..total) else {
            return Err(SealError::BufferTooSmall { need: total, have });
        };
        self.finish(pkt, payload_len, inner, seq, seq.to_be_bytes(), next_header)
    }

    /// [`OutboundSa::seal`] with a chosen IV, to reproduce published vectors whose IV is not
    /// the sequence number. Test builds only: a chosen IV could repeat.
    #[cfg(test)]
    pub(crate) fn seal_with_iv(
        &mut self,
        buf: &mut BytesMut,
        next_header: u8,
        iv: [u8; 8],
    ) -> Result<Sealed, SealError> {
        let len = buf.len();
        let (seq, inner, total) = self.plan(len)?;
        buf.resize(total, 0);
        buf.copy_within(0..len, HEADROOM);
        self.finish(buf, len, inner, seq, iv, next_header)
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.core.spi
    }

    /// The last sequence number used (0 before the first packet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The AES-GCM backend in use.
    pub fn backend(&self) -> Backend {
        self.core.gcm.backend()
    }

    /// Counters.
    pub fn stats(&self) -> &SaStats {
        &self.core.stats
    }

    /// Whether a hard limit was reached; an expired SA seals nothing.
    pub fn is_expired(&self) -> bool {
        self.core.life.expired
    }

    /// The next lifetime event of this SA ([`crate::Sad`] drains it for the SAs it holds).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.life.events.pop_front()
    }

    /// Checks that one more packet may be sealed and computes its sizes:
    /// (sequence number, payload length with TFC padding, sealed length).
    fn plan(&self, len: usize) -> Result<(u64, usize, usize), SealError> {
        let seq = self
            .last_seq
            .checked_add(1)
            .filter(|s| *s <= max_seq(self.core.esn))
            .ok_or(SealError::SequenceExhausted)?;
        if self.core.life.expired {
            return Err(SealError::Expired);
        }
        let inner = len.max(self.tfc_pad_to);
        if inner > MAX_SEALED_LEN {
            return Err(SealError::PayloadTooLarge(len));
        }
        let total = sealed_len(inner);
        if total > MAX_SEALED_LEN {
            return Err(SealError::PayloadTooLarge(len));
        }
        Ok((seq, inner, total))
    }

    /// Writes header, TFC padding, padding and trailer around the payload at
    /// `pkt[HEADROOM..HEADROOM + len]`, encrypts, appends the ICV. `pkt` is exactly the
    /// sealed length long.
    fn finish(
        &mut self,
        pkt: &mut [u8],
        len: usize,
        inner: usize,
        seq: u64,
        iv: [u8; 8],
        next_header: u8,
    ) -> Result<Sealed, SealError> {
        let total = pkt.len();
        let pad = pad_len(inner);
        let (head, rest) = pkt.split_at_mut(HEADROOM);
        let (body, icv) = rest.split_at_mut(total - HEADROOM - ICV_LEN);
        let mut esp = EspPacket::new_unchecked_header(head);
        esp.set_spi(self.core.spi);
        esp.set_seq(seq as u32);
        // RFC 4106 §3.1: the IV is the 64-bit sequence number (the callers pass
        // `seq.to_be_bytes()`), unique per key since the sequence number never repeats
        // (RFC 4303 §3.3.3).
        esp.set_iv(iv);
        // TFC padding (zeros), then padding 1, 2, 3, ... (RFC 4303 §2.4), then the trailer.
        let tail = body.get_mut(len..).ok_or(SealError::BufferTooSmall {
            need: total,
            have: total,
        })?;
        let (tfc, tail) = tail.split_at_mut(inner - len);
        tfc.fill(0);
        for (i, b) in tail.iter_mut().enumerate().take(pad) {
            *b = (i + 1) as u8;
        }
        if let [.., pl, nh] = tail {
            *pl = pad as u8;
            *nh = next_header;
        }
        let nonce = self.core.nonce(iv);
        let (aad, aad_len) = self.core.aad(seq);
        let tag = self
            .core
            .gcm
            .seal_in_place(&nonce, aad.get(..aad_len).unwrap_or(&[]), body);
        icv.copy_from_slice(&tag);
        self.last_seq = seq;
        self.core.stats.packets += 1;
        self.core.stats.bytes = self.core.stats.bytes.saturating_add(len as u64);
        self.core.life.count(1, len as u64);
        let max = max_seq(self.core.esn);
        let margin = if self.core.esn {
            SEQ_REKEY_MARGIN_64
        } else {
            SEQ_REKEY_MARGIN_32
        };
        if seq >= max - margin {
            self.core.life.soft(LimitKind::SequenceNumber);
        }
        if seq == max {
            self.core.life.hard(LimitKind::SequenceNumber);
        }
        Ok(Sealed { seq, len: total })
    }
}

impl InboundSa {
    /// Builds the SA; the key schedule and the replay bitmap are allocated once here.
    ///
    /// # Errors
    /// [`ConfigError`] for SPI 0, a window outside 64..=2^24, a bad lifetime or TFC setting,
    /// or an unavailable backend.
    pub fn new(params: SaParams) -> Result<Self, ConfigError> {
        let core = Core::new(&params, Direction::Inbound)?;
        let window = ReplayWindow::new(params.replay_window, params.initial_seq)
            .ok_or(ConfigError::BadReplayWindow(params.replay_window))?;
        Ok(Self { core, window })
    }

    /// Opens the ESP packet in `buf` (SPI to ICV) in place. On success `buf` holds the
    /// payload only (the header is skipped with `advance`, padding and ICV cut with
    /// `truncate`; nothing is copied), with TFC padding removed in tunnel mode.
    ///
    /// The replay check runs before decryption and the window moves only after the ICV
    /// verified (RFC 4303 §3.4.3); a packet that fails changes nothing but [`InboundSa::stats`].
    ///
    /// # Errors
    /// [`OpenError`]; `buf` content is then unspecified, the caller drops it.
    pub fn open(&mut self, buf: &mut BytesMut) -> Result<Opened, OpenError> {
        let (opened, range) = self.open_in_place(buf)?;
        buf.truncate(range.end);
        buf.advance(range.start);
        Ok(opened)
    }

    /// [`InboundSa::open`] on a plain slice: returns where the payload now lies in `buf`.
    ///
    /// # Errors
    /// As [`InboundSa::open`].
    pub fn open_in_place(&mut self, buf: &mut [u8]) -> Result<(Opened, Range<usize>), OpenError> {
        let r = self.open_inner(buf);
        if let Err(e) = &r {
            let s = &mut self.core.stats;
            match e {
                OpenError::Replayed(_) | OpenError::OutsideWindow(_) => s.replay_drops += 1,
                OpenError::AuthenticationFailed => s.auth_drops += 1,
                _ => s.other_drops += 1,
            }
        }
        r
    }

    fn open_inner(&mut self, buf: &mut [u8]) -> Result<(Opened, Range<usize>), OpenError> {
        let esp = EspPacket::new_checked(&*buf)?;
        let spi = esp.spi();
        if spi != self.core.spi {
            return Err(OpenError::WrongSpi {
                expected: self.core.spi,
                got: spi,
            });
        }
        if self.core.life.expired {
            return Err(OpenError::Expired);
        }
        let seq_lo = esp.seq();
        let seq = if self.core.esn {
            reconstruct_esn(self.window.top(), self.window.size(), seq_lo)
                .ok_or_else(|| OpenError::OutsideWindow(u64::from(seq_lo)))?
        } else {
            u64::from(seq_lo)
        };
        match self.window.check(seq) {
            ReplayVerdict::Fresh => {}
            ReplayVerdict::Replayed => return Err(OpenError::Replayed(seq)),
            ReplayVerdict::TooOld => return Err(OpenError::OutsideWindow(seq)),
        }
        let nonce = self.core.nonce(esp.iv());
        let icv = esp.icv();
        let (aad, aad_len) = self.core.aad(seq);
        let ct_len = buf.len() - HEADROOM - ICV_LEN;
        let body = buf
            .get_mut(HEADROOM..HEADROOM + ct_len)
            .ok_or(OpenError::AuthenticationFailed)?;
        self.core
            .gcm
            .open_in_place(&nonce, aad.get(..aad_len).unwrap_or(&[]), body, &icv)
            .map_err(|_| OpenError::AuthenticationFailed)?;
        // Authentic: only now does the window move (RFC 4303 §3.4.3).
        self.window.update(seq);
        self.core.stats.packets += 1;
        let (payload_len, next_header) = match parse_trailer(body) {
            Ok(x) => x,
            Err(e) => {
                self.core.life.count(1, 0);
                return Err(e);
            }
        };
        let payload_len = if self.core.mode == Mode::Tunnel {
            strip_tfc(next_header, body.get(..payload_len).unwrap_or(&[]))
        } else {
            payload_len
        };
        self.core.stats.bytes = self.core.stats.bytes.saturating_add(payload_len as u64);
        self.core.life.count(1, payload_len as u64);
        Ok((
            Opened {
                spi,
                seq,
                next_header,
            },
            HEADROOM..HEADROOM + payload_len,
        ))
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.core.spi
    }

    /// The highest authenticated sequence number (the right edge of the replay window).
    pub fn highest_seq(&self) -> u64 {
        self.window.top()
    }

    /// The replay window size in packets.
    pub fn replay_window(&self) -> u64 {
        self.window.size()
    }

    /// The AES-GCM backend in use.
    pub fn backend(&self) -> Backend {
        self.core.gcm.backend()
    }

    /// Counters, drops included.
    pub fn stats(&self) -> &SaStats {
        &self.core.stats
    }

    /// Whether a hard limit was reached; an expired SA opens nothing.
    pub fn is_expired(&self) -> bool {
        self.core.life.expired
    }

    /// The next lifetime event of this SA ([`crate::Sad`] drains it for the SAs it holds).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.life.events.pop_front()
    }
}

impl core::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.core.spi))
            .field("esn", &self.core.esn)
            .field("mode", &self.core.mode)
            .field("last_seq", &self.last_seq)
            .field("gcm", &self.core.gcm)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &format_args!("{:#010x}", self.core.spi))
            .field("esn", &self.core.esn)
            .field("mode", &self.core.mode)
            .field("highest_seq", &self.window.top())
            .field("window", &self.window.size())
            .field("gcm", &self.core.gcm)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

/// The largest sequence number of an SA.
fn max_seq(esn: bool) -> u64 {
    if esn { u64::MAX } else { u64::from(u32::MAX) }
}

/// RFC 4303 Appendix A2.2: the high half of a 64-bit sequence number from its low half,
/// given the window's right edge `top` and size `w`. `None` when the result would be below
/// 0 or above 2^64 - 1.
pub(crate) fn reconstruct_esn(top: u64, w: u64, seq_lo: u32) -> Option<u64> {
    let th = (top >> 32) as u32;
    let tl = top as u32;
    let w1 = u32::try_from(w.saturating_sub(1)).unwrap_or(u32::MAX);
    let seq_hi = if tl >= w1 {
        // Case A: the window lies within one subspace.
        if seq_lo >= tl - w1 {
            Some(th)
        } else {
            th.checked_add(1)
        }
    } else if seq_lo >= tl.wrapping_sub(w1) {
        // Case B: the window spans two subspaces; seq_lo is in the lower one's top.
        th.checked_sub(1)
    } else {
        Some(th)
    };
    seq_hi.map(|h| (u64::from(h) << 32) | u64::from(seq_lo))
}

/// Reads the trailer at the end of the decrypted `body`: (payload length with TFC padding,
/// next header). Checks the pad length and the 1, 2, 3, ... padding (RFC 4303 §2.4).
fn parse_trailer(body: &[u8]) -> Result<(usize, u8), OpenError> {
    let [rest @ .., pl, nh] = body else {
        return Err(OpenError::BadPadLength(0));
    };
    let pad = usize::from(*pl);
    let Some(payload_len) = rest.len().checked_sub(pad) else {
        return Err(OpenError::BadPadLength(*pl));
    };
    let padding = rest.get(payload_len..).unwrap_or(&[]);
    if padding
        .iter()
        .enumerate()
        .any(|(i, b)| usize::from(*b) != i + 1)
    {
        return Err(OpenError::BadPadding);
    }
    Ok((payload_len, *nh))
}

/// Tunnel mode: the inner IP header says how long the packet is; anything after it is TFC
/// padding (RFC 4303 §2.7) and is cut. A payload that is not a plausible IP packet is kept.
fn strip_tfc(next_header: u8, payload: &[u8]) -> usize {
    let len = payload.len();
    let claimed = match (next_header, payload) {
        (NEXT_HEADER_IPV4, [0x40..=0x4f, _, hi, lo, ..]) => {
            usize::from(u16::from_be_bytes([*hi, *lo]))
        }
        (NEXT_HEADER_IPV6, [0x60..=0x6f, _, _, _, hi, lo, ..]) => {
            40 + usize::from(u16::from_be_bytes([*hi, *lo]))
        }
        _ => len,
    };
    if claimed > 0 && claimed <= len {
        claimed
    } else {
        len
    }
}

/// Lifetime accounting and the events it raises (at most one "rekey needed" and one
/// "expired" per SA, so the queue never grows past two).
struct Life {
    spi: u32,
    direction: Direction,
    limits: Lifetime,
    bytes: u64,
    packets: u64,
    soft_done: bool,
    expired: bool,
    events: VecDeque<Event>,
}

impl Life {
    fn new(spi: u32, direction: Direction, limits: Lifetime) -> Self {
        Self {
            spi,
            direction,
            limits,
            bytes: 0,
            packets: 0,
            soft_done: false,
            expired: false,
            events: VecDeque::with_capacity(2),
        }
    }

    fn count(&mut self, packets: u64, bytes: u64) {
        self.packets = self.packets.saturating_add(packets);
        self.bytes = self.bytes.saturating_add(bytes);
        let reached = |limit: Option<u64>, v: u64| limit.is_some_and(|l| v >= l);
        if reached(self.limits.soft_bytes, self.bytes) {
            self.soft(LimitKind::Bytes);
        }
        if reached(self.limits.soft_packets, self.packets) {
            self.soft(LimitKind::Packets);
        }
        if reached(self.limits.hard_bytes, self.bytes) {
            self.hard(LimitKind::Bytes);
        }
        if reached(self.limits.hard_packets, self.packets) {
            self.hard(LimitKind::Packets);
        }
    }

    fn soft(&mut self, reason: LimitKind) {
        if !self.soft_done && !self.expired {
            self.soft_done = true;
            self.events.push_back(Event::RekeyNeeded {
                spi: self.spi,
                direction: self.direction,
                reason,
            });
        }
    }

    fn hard(&mut self, reason: LimitKind) {
        if !self.expired {
            self.expired = true;
            self.events.push_back(Event::Expired {
                spi: self.spi,
                direction: self.direction,
                reason,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SaKey;

    /// draft-mcgrew-gcm-test-01: our seal, given the vector's IV, produces the vector's whole
    /// ESP packet byte for byte (header, padding 1, 2, ..., trailer, ciphertext, ICV).
    #[test]
    fn seal_reproduces_mcgrew_esp_packets() {
        let text = include_str!("../tests/data/mcgrew_gcm_test_01.txt");
        let mut compared = 0;
        for case in text.split("\ncase ").skip(1) {
            let field = |name: &str| {
                case.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
                    .map(|h| hex::decode(h.trim()).unwrap())
                    .unwrap()
            };
            let (key, nonce, aad) = (field("key"), field("nonce"), field("aad"));
            let (pt, ct, tag) = (field("plaintext"), field("ciphertext"), field("tag"));
            let spi = u32::from_be_bytes(aad[..4].try_into().unwrap());
            if !(key.len() == 16 || key.len() == 32) || spi == 0 {
                continue;
            }
            let esn = aad.len() == 12;
            let seq = if esn {
                u64::from_be_bytes(aad[4..12].try_into().unwrap())
            } else {
                u64::from(u32::from_be_bytes(aad[4..8].try_into().unwrap()))
            };
            let pad = usize::from(pt[pt.len() - 2]);
            let payload = &pt[..pt.len() - 2 - pad];
            if pad_len(payload.len()) != pad {
                continue; // the vector pads more than the minimum; opened in tests/vectors.rs
            }
            let params = SaParams::new(
                spi,
                SaKey::new(&key, nonce[..4].try_into().unwrap()).unwrap(),
            )
            .with_esn(esn)
            .with_backend(Backend::Portable)
            .with_initial_seq(seq - 1);
            let mut sa = OutboundSa::new(params).unwrap();
            let mut buf = BytesMut::from(payload);
            let iv: [u8; 8] = nonce[4..].try_into().unwrap();
            let sealed = sa.seal_with_iv(&mut buf, pt[pt.len() - 1], iv).unwrap();
            let mut expect = aad[..4].to_vec();
            expect.extend_from_slice(&aad[aad.len() - 4..]);
            expect.extend_from_slice(&iv);
            expect.extend_from_slice(&ct);
            expect.extend_from_slice(&tag);
            assert_eq!(
                hex::encode(&buf),
                hex::encode(&expect),
                "case {}",
                &case[..3]
            );
            assert_eq!((sealed.seq, sealed.len), (seq, expect.len()));
            compared += 1;
        }
        assert!(compared >= 10, "only {compared} vectors compared");
    }

    #[test]
    fn esn_reconstruction_cases() {
        let w = 64;
        // Case A, same subspace and next one.
        let top = (5u64 << 32) | 1000;
        assert_eq!(reconstruct_esn(top, w, 1000), Some(top));
        assert_eq!(reconstruct_esn(top, w, 937), Some((5 << 32) | 937));
        assert_eq!(reconstruct_esn(top, w, 936), Some((6 << 32) | 936));
        assert_eq!(reconstruct_esn(top, w, 5000), Some((5 << 32) | 5000));
        // Case B: top just after a wrap of the low half.
        let top = (7u64 << 32) | 10;
        assert_eq!(reconstruct_esn(top, w, 5), Some((7 << 32) | 5));
        assert_eq!(
            reconstruct_esn(top, w, u32::MAX),
            Some((6 << 32) | 0xffff_ffff)
        );
        assert_eq!(
            reconstruct_esn(top, w, u32::MAX - 52),
            Some((6 << 32) | (u32::MAX - 52) as u64)
        );
        assert_eq!(reconstruct_esn(top, w, 100_000), Some((7 << 32) | 100_000));
        // Edges of the 64-bit space.
        assert_eq!(reconstruct_esn(10, w, u32::MAX), None);
        assert_eq!(reconstruct_esn(u64::MAX, w, 1), None);
        assert_eq!(reconstruct_esn(0, w, 1), Some(1));
    }

    #[test]
    fn trailer() {
        assert_eq!(parse_trailer(&[9, 9, 1, 2, 2, 4]), Ok((2, 4)));
        assert_eq!(parse_trailer(&[0, 47]), Ok((0, 47)));
        assert_eq!(parse_trailer(&[0, 3, 1, 47]), Err(OpenError::BadPadding));
        assert_eq!(parse_trailer(&[2, 1, 2, 47]), Err(OpenError::BadPadding));
        assert_eq!(
            parse_trailer(&[1, 2, 3, 47]),
            Err(OpenError::BadPadLength(3))
        );
        assert_eq!(parse_trailer(&[47]), Err(OpenError::BadPadLength(0)));
    }

    #[test]
    fn tfc_strip() {
        let mut v4 = vec![0x45, 0, 0, 24];
        v4.resize(40, 0);
        assert_eq!(strip_tfc(4, &v4), 24);
        assert_eq!(strip_tfc(47, &v4), 40);
        v4[3] = 200;
        assert_eq!(strip_tfc(4, &v4), 40);
        let mut v6 = vec![0x60, 0, 0, 0, 0, 8];
        v6.resize(100, 0);
        assert_eq!(strip_tfc(41, &v6), 48);
    }
}

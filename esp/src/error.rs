//! The error types of the crate, one enum per boundary (STYLE 4.6).
//!
//! Every error is `Copy` and cheap to build, so a flood of bad packets costs nothing to report.
//! None of them carries key material, and an authentication failure carries no detail that
//! could act as an oracle.

use crate::aead::{Backend, GcmKeyError};

/// A received ESP packet is malformed before any cryptography runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than the smallest valid structure of its kind.
    #[error("{what}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// The minimum length required.
        need: usize,
        /// The length available.
        have: usize,
    },
    /// A field holds a value the RFC forbids (e.g. SPI 0 on the wire, RFC 4303 §2.1).
    #[error("{what}: invalid value {value:#x}")]
    BadValue {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
}

/// [`crate::OutboundSa::seal`] (or a sibling) refused to seal a packet. The SA is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The next sequence number would pass 2^32 - 1 (or 2^64 - 1 with ESN); RFC 4303 §3.3.3
    /// forbids cycling it. The SA must be replaced.
    #[error("sequence number space exhausted")]
    SequenceExhausted,
    /// A hard byte or packet lifetime was reached; the SA must be replaced.
    #[error("sa expired (hard lifetime reached)")]
    Expired,
    /// The caller's slice has too little head or tail room for the ESP header, IV, trailer and ICV.
    #[error("buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The payload does not fit in an IP packet (more than 65 535 bytes of ESP).
    #[error("payload of {0} bytes is too large")]
    PayloadTooLarge(usize),
    /// [`crate::Sad::seal`] was given an SPI it has no outbound SA for.
    #[error("no outbound sa with spi {0:#010x}")]
    UnknownSpi(u32),
}

/// [`crate::InboundSa::open`] (or a sibling) dropped a packet. The SA state (anti-replay
/// window, lifetime counters) is unchanged unless the packet authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The packet is too short or otherwise malformed before decryption.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The packet's SPI is not the SPI of this SA.
    #[error("spi {got:#010x} does not belong to this sa ({expected:#010x})")]
    WrongSpi {
        /// The SPI of the SA.
        expected: u32,
        /// The SPI in the packet.
        got: u32,
    },
    /// [`crate::Sad::open`] has no inbound SA for this SPI.
    #[error("no inbound sa with spi {0:#010x}")]
    UnknownSpi(u32),
    /// The sequence number was already received (RFC 4303 §3.4.3).
    #[error("replayed sequence number {0}")]
    Replayed(u64),
    /// The sequence number lies to the left of the anti-replay window, or is 0, or (ESN) its
    /// reconstructed high half does not exist. With ESN, a low half far left of the window is
    /// read as belonging to the next 2^32 block (RFC 4303 A2.2), so such a packet fails
    /// authentication instead.
    #[error("sequence number {0} outside the replay window")]
    OutsideWindow(u64),
    /// The ICV did not verify. No detail is given on purpose.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The pad length byte points before the start of the payload.
    #[error("pad length {0} exceeds the payload")]
    BadPadLength(u8),
    /// The padding bytes are not 1, 2, 3, ... (RFC 4303 §2.4).
    #[error("padding bytes are not 1, 2, 3, ...")]
    BadPadding,
    /// A hard byte or packet lifetime was reached; the SA must be replaced.
    #[error("sa expired (hard lifetime reached)")]
    Expired,
}

/// SA parameters that cannot form a working SA (caller misuse, never caused by the network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not 16 or 32 bytes, or the KEYMAT not 20 or 36 bytes.
    #[error("key material of {0} bytes: expected 16/32 (key) or 20/36 (key || salt)")]
    BadKeyLength(usize),
    /// The chosen AES-GCM backend cannot run on this CPU.
    #[error("aes-gcm backend {0:?} is not available")]
    BackendUnavailable(Backend),
    /// SPI 0 is reserved (RFC 4303 §2.1) and never sent.
    #[error("spi 0 is reserved")]
    ReservedSpi,
    /// The replay window must hold between 64 and 2^24 packets.
    #[error("replay window of {0} packets: expected 64..=16777216")]
    BadReplayWindow(u32),
    /// A soft limit is above its hard limit.
    #[error("soft lifetime above hard lifetime")]
    SoftAboveHard,
    /// TFC padding is only removable by the receiver in tunnel mode.
    #[error("tfc padding needs tunnel mode")]
    TfcNeedsTunnel,
    /// A 32-bit sequence number SA cannot start above 2^32 - 1.
    #[error("initial sequence number {0} does not fit the sequence number space")]
    BadInitialSeq(u64),
}

impl From<GcmKeyError> for ConfigError {
    fn from(e: GcmKeyError) -> Self {
        match e {
            GcmKeyError::BadKeyLength(n) => Self::BadKeyLength(n),
            GcmKeyError::Unavailable(b) => Self::BackendUnavailable(b),
        }
    }
}

/// A [`crate::Sad`] operation that misuses the database (caller error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SadError {
    /// An SA with this SPI and direction is already installed.
    #[error("spi {0:#010x} already installed")]
    DuplicateSpi(u32),
}

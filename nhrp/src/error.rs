//! Errors: [`WireError`] from the codec, [`InputError`] from the engine's inputs,
//! [`ApiError`] for caller misuse, [`ConfigError`] from configuration constructors.

use crate::wire::ErrorCode;

/// A received packet is malformed. Cheap to build: `Copy`, no allocation.
///
/// Offsets (`at`) count from the first octet of the NHRP packet, as the Error Indication's
/// offset field does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A field or section extends past the end of its enclosing section.
    #[error("{what}: truncated at offset {at}, need {need} bytes, have {have}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
        /// Offset of the read.
        at: usize,
    },
    /// A length or offset field is out of range.
    #[error("{what}: length {len} out of range at offset {at}")]
    BadLength {
        /// The field.
        what: &'static str,
        /// Its value.
        len: usize,
        /// Offset of the field.
        at: usize,
    },
    /// Bytes follow where the packet or the extension list must end.
    #[error("{what}: {extra} trailing bytes at offset {at}")]
    TrailingData {
        /// Where.
        what: &'static str,
        /// How many bytes.
        extra: usize,
        /// Offset of the first one.
        at: usize,
    },
    /// The checksum does not match the packet (RFC 2332 §5.2.0.1).
    #[error("bad checksum: computed {expected:#06x}, packet has {found:#06x}")]
    BadChecksum {
        /// The checksum the packet should carry.
        expected: u16,
        /// The checksum it carries.
        found: u16,
    },
    /// `ar$op.version` is not 1.
    #[error("unsupported nhrp version {0}")]
    UnsupportedVersion(u8),
    /// `ar$op.type` is not one of 1 to 8.
    #[error("unknown packet type {0}")]
    UnknownPacketType(u8),
    /// A compulsory extension of an unknown type (RFC 2332 §5.3).
    #[error("unrecognized compulsory extension {ty:#x} at offset {at}")]
    UnrecognizedCompulsoryExtension {
        /// The extension type.
        ty: u16,
        /// Offset of the extension header.
        at: usize,
    },
    /// A known extension whose value is malformed, or an End extension that is not last.
    #[error("invalid extension ({what}) at offset {at}")]
    InvalidExtension {
        /// What is wrong.
        what: &'static str,
        /// Offset of the extension header.
        at: usize,
    },
    /// More items than this crate accepts in one packet.
    #[error("too many {what} at offset {at}")]
    TooMany {
        /// Which items.
        what: &'static str,
        /// Offset where the limit was hit.
        at: usize,
    },
    /// While emitting: a value does not fit its length field.
    #[error("{what}: {len} does not fit its length field")]
    TooLong {
        /// The value.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

impl WireError {
    /// The Error Indication code RFC 2332 §5.2.7 prescribes for this error, or `None` when the
    /// packet must be dropped silently (a bad checksum: the sender cannot be trusted to be the
    /// one in the packet; a locally built packet that does not fit).
    ///
    /// This is the one place the mapping lives.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::BadChecksum { .. } | Self::TooLong { .. } => None,
            Self::UnrecognizedCompulsoryExtension { .. } => Some(ErrorCode::UNRECOGNIZED_EXTENSION),
            Self::InvalidExtension { .. } => Some(ErrorCode::INVALID_EXTENSION),
            Self::Truncated { .. }
            | Self::BadLength { .. }
            | Self::TrailingData { .. }
            | Self::UnsupportedVersion(_)
            | Self::UnknownPacketType(_)
            | Self::TooMany { .. } => Some(ErrorCode::PROTOCOL_ERROR),
        }
    }

    /// The error offset for the Error Indication (0 when the error has no position).
    pub fn offset(&self) -> u16 {
        let at = match self {
            Self::Truncated { at, .. }
            | Self::BadLength { at, .. }
            | Self::TrailingData { at, .. }
            | Self::UnrecognizedCompulsoryExtension { at, .. }
            | Self::InvalidExtension { at, .. }
            | Self::TooMany { at, .. } => *at,
            Self::UnsupportedVersion(_) => 16,
            Self::UnknownPacketType(_) => 17,
            Self::BadChecksum { .. } | Self::TooLong { .. } => 0,
        };
        u16::try_from(at).unwrap_or(u16::MAX)
    }
}

/// Why the engine dropped (or answered with an Error Indication) an input packet. The engine
/// is unchanged apart from counters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The packet did not parse.
    #[error("malformed nhrp packet: {0}")]
    Wire(#[from] WireError),
    /// The packet parsed but is not acceptable here.
    #[error("protocol: {0}")]
    Protocol(&'static str),
    /// The hop count reached zero (answered with Hop Count Exceeded).
    #[error("hop count exceeded")]
    HopCountExceeded,
    /// This node's address is already in the Forward Transit NHS Record (answered with Loop
    /// Detected).
    #[error("forwarding loop detected")]
    Loop,
    /// No route towards the destination (answered with Protocol Address Unreachable).
    #[error("no route to {0}")]
    NoRoute(std::net::Ipv4Addr),
    /// Dropped by a rate limit.
    #[error("rate limited")]
    RateLimited,
    /// A reply that matches no outstanding request.
    #[error("unexpected reply (request id {0})")]
    UnexpectedReply(u32),
}

/// The caller misused the API (never caused by a peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The cache is full of entries the new one may not evict (static ones; for an implicit,
    /// negative or incomplete entry, also registered and resolved ones).
    #[error("nhrp cache full")]
    CacheFull,
    /// An implicit entry (learned from the source of a request) may not replace a static,
    /// registered or resolved entry for the same prefix.
    #[error("nhrp cache entry is protected")]
    Protected,
    /// No shortcut or entry for this prefix.
    #[error("no such entry")]
    NoSuchEntry,
    /// A packet built from the arguments does not fit the wire format.
    #[error("cannot encode: {0}")]
    Encode(WireError),
}

/// A configuration value is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A prefix length above 32.
    #[error("prefix length {0} above 32")]
    PrefixLength(u8),
    /// A zero duration or size where a positive one is needed.
    #[error("{0} must be positive")]
    Zero(&'static str),
    /// A holding time above 65535 seconds.
    #[error("holding time above 65535 s")]
    HoldingTime,
}

//! The crate's error types: [`WireError`] from the codec, [`Error`] from the engine,
//! [`ApiError`] for caller misuse and [`InputError`] from `handle_datagram`.

use crate::wire::{NotifyType, PayloadType};

/// A received message is malformed. Cheap to build: no allocation, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before a field of `need` bytes could be read.
    #[error("{what}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A length field is smaller than its header or larger than its container.
    #[error("{what}: length field {len} out of range")]
    BadLength {
        /// The structure whose length is wrong.
        what: &'static str,
        /// The offending length.
        len: usize,
    },
    /// Bytes remain after a structure that must fill its container.
    #[error("{what}: {extra} trailing bytes")]
    TrailingData {
        /// The structure being read.
        what: &'static str,
        /// Number of unread bytes.
        extra: usize,
    },
    /// An unknown payload had its critical bit set (RFC 7296 section 2.5).
    #[error("unsupported critical payload {0:?}")]
    UnsupportedCritical(PayloadType),
    /// The major version is not 2 (RFC 7296 section 2.5).
    #[error("invalid major version {0}")]
    InvalidMajorVersion(u8),
    /// A field holds a value that the RFC forbids.
    #[error("{what}: invalid value {value}")]
    InvalidValue {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// More payloads, proposals, transforms or attributes than the codec accepts.
    #[error("{what}: more than {limit} items")]
    TooMany {
        /// The list that overflowed.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// An SK or SKF payload inside an encrypted payload, or SK not last.
    #[error("{0}: bad nesting")]
    BadNesting(&'static str),
    /// On emit: a body does not fit in its length field.
    #[error("{what}: {len} bytes do not fit the length field")]
    TooLong {
        /// The structure.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

impl WireError {
    /// The Notify that RFC 7296 prescribes as the answer to this error.
    ///
    /// This is the single place where codec errors map to on-wire answers.
    pub fn notify(&self) -> NotifyType {
        match self {
            Self::UnsupportedCritical(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            Self::InvalidMajorVersion(_) => NotifyType::INVALID_MAJOR_VERSION,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }

    /// The data field of the answering Notify: for UNSUPPORTED_CRITICAL_PAYLOAD the one
    /// octet payload type (RFC 7296 section 3.10.1), for INVALID_MAJOR_VERSION the
    /// version we speak (0x20); empty otherwise.
    pub fn notify_data(&self) -> Vec<u8> {
        match self {
            Self::UnsupportedCritical(t) => vec![t.0],
            Self::InvalidMajorVersion(_) => vec![0x20],
            _ => Vec::new(),
        }
    }
}

/// A cryptographic check failed. Carries no detail that could serve as an oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoFailure {
    /// The ICV of an SK payload did not verify, or its padding was wrong.
    #[error("integrity check failed")]
    Integrity,
    /// The peer's AUTH payload did not verify.
    #[error("authentication failed")]
    Auth,
    /// The peer's key exchange value was invalid.
    #[error("invalid key exchange value")]
    KeyExchange,
}

/// Why an IKE SA or an exchange failed. Reaches the caller in events and in [`InputError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message was malformed.
    #[error("malformed message: {0}")]
    Wire(#[from] WireError),
    /// A cryptographic check failed.
    #[error("crypto: {0}")]
    Crypto(CryptoFailure),
    /// No proposal was acceptable (ours or the peer's answer).
    #[error("no proposal chosen")]
    NoProposalChosen,
    /// Authentication failed (ours or the peer's).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// Traffic selectors were unacceptable.
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    /// The address pool was exhausted or the peer refused to give an address.
    #[error("internal address failure")]
    InternalAddressFailure,
    /// The peer answered with an error notify that we did not expect.
    #[error("peer sent error notify {0:?}")]
    PeerError(NotifyType),
    /// The peer broke the protocol (diagnostic text only).
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The retransmission budget was spent without an answer.
    #[error("peer did not answer")]
    Timeout,
}

/// The caller misused the API. Never caused by untrusted data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The handle does not name a live SA.
    #[error("unknown SA handle")]
    UnknownHandle,
    /// The SA is not in a state where this command applies.
    #[error("wrong state for this command")]
    WrongState,
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// Why `handle_datagram` dropped (or statelessly answered) a datagram. Informational:
/// the engine and every established SA are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The datagram did not parse.
    #[error("malformed: {0}")]
    Wire(#[from] WireError),
    /// No SA matches the SPIs.
    #[error("no SA for these SPIs")]
    UnknownSa,
    /// The message ID is outside the window or a response matches no request.
    #[error("message id out of window")]
    OutOfWindow,
    /// An SK payload failed its integrity check.
    #[error("integrity check failed")]
    Integrity,
    /// The datagram was answered statelessly (cookie, INVALID_KE, NO_PROPOSAL_CHOSEN).
    #[error("answered statelessly")]
    Answered,
    /// The half-open limit was reached.
    #[error("half-open limit reached")]
    HalfOpenLimit,
    /// The exchange failed; the SA concerned got an event.
    #[error("exchange failed: {0}")]
    Exchange(Error),
    /// A keepalive or a non-IKE datagram on the IKE port.
    #[error("not an IKE message")]
    NotIke,
}

//! Error types: [`WireError`] from the codec, [`AttrError`] per path attribute (RFC 7606),
//! [`Error`] for the engine, [`ApiError`] for caller misuse and [`ConfigError`] for bad config.

use crate::wire::notification::ErrCode;

/// Up to 16 bytes copied from the offending part of a message, for the NOTIFICATION data field.
///
/// Kept inline so [`WireError`] stays `Copy` and cheap to build under a flood.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrData {
    len: u8,
    buf: [u8; 16],
}

impl ErrData {
    /// Copies the first 16 bytes of `data`.
    pub fn new(data: &[u8]) -> Self {
        let mut buf = [0u8; 16];
        let n = data.len().min(16);
        buf[..n].copy_from_slice(&data[..n]);
        Self { len: n as u8, buf }
    }
    /// The bytes held.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for ErrData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A received message is malformed. Cheap to build: no allocation, `Copy`.
///
/// Every variant maps to one NOTIFICATION through `From<&WireError> for Notification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends before a field does.
    #[error("{what}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A length field is out of range for its field.
    #[error("{what}: length field {len} out of range")]
    BadLength {
        /// The field.
        what: &'static str,
        /// The length read.
        len: usize,
    },
    /// Bytes are left over after a structure that must fill its space.
    #[error("{what}: {extra} trailing bytes")]
    TrailingData {
        /// The structure.
        what: &'static str,
        /// How many bytes remain.
        extra: usize,
    },
    /// The 16-octet marker is not all ones (RFC 4271 §6.1, 1/1).
    #[error("connection not synchronized: bad marker")]
    BadMarker,
    /// The header length field is out of range (RFC 4271 §6.1, 1/2).
    #[error("bad message length {0}")]
    BadMessageLength(u16),
    /// Unknown message type (RFC 4271 §6.1, 1/3).
    #[error("bad message type {0}")]
    BadMessageType(u8),
    /// OPEN version is not 4 (2/1).
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    /// OPEN My AS is not what the neighbor config expects (2/2).
    #[error("bad peer AS {0}")]
    BadPeerAs(u32),
    /// OPEN BGP identifier is invalid (2/3).
    #[error("bad BGP identifier")]
    BadBgpId,
    /// Unacceptable hold time 1 or 2 (2/6).
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    /// Optional parameters malformed (2/0 unspecific).
    #[error("malformed optional parameter")]
    BadOptionalParameter,
    /// Withdrawn/attribute lengths inconsistent with the message (3/1).
    #[error("malformed attribute list")]
    MalformedAttributeList,
    /// An unrecognized well-known attribute (3/2); data is the attribute.
    #[error("unrecognized well-known attribute {code}")]
    UnrecognizedWellKnown {
        /// Attribute type code.
        code: u8,
        /// The attribute (first bytes).
        data: ErrData,
    },
    /// A path attribute whose error handling is "session reset" (3/1 per RFC 7606 §5/§7.11).
    #[error("malformed attribute {code}: {reason}")]
    MalformedAttribute {
        /// Attribute type code.
        code: u8,
        /// Why.
        reason: &'static str,
        /// The attribute (first bytes).
        data: ErrData,
    },
    /// A malformed NLRI or withdrawn routes field (3/10).
    #[error("invalid network field")]
    InvalidNetworkField,
    /// An UPDATE is too large to emit in one message.
    #[error("{what}: does not fit in a message")]
    TooLong {
        /// What did not fit.
        what: &'static str,
    },
    /// ROUTE-REFRESH malformed length (RFC 7313 §5: 7/1).
    #[error("malformed route-refresh")]
    BadRouteRefresh,
}

impl WireError {
    /// The NOTIFICATION code and subcode this error maps to.
    pub fn code(&self) -> (ErrCode, u8) {
        match self {
            Self::BadMarker => (ErrCode::HEADER, 1),
            Self::BadMessageLength(_) => (ErrCode::HEADER, 2),
            Self::BadMessageType(_) => (ErrCode::HEADER, 3),
            Self::UnsupportedVersion(_) => (ErrCode::OPEN, 1),
            Self::BadPeerAs(_) => (ErrCode::OPEN, 2),
            Self::BadBgpId => (ErrCode::OPEN, 3),
            Self::UnacceptableHoldTime(_) => (ErrCode::OPEN, 6),
            Self::BadOptionalParameter => (ErrCode::OPEN, 0),
            Self::MalformedAttributeList => (ErrCode::UPDATE, 1),
            Self::UnrecognizedWellKnown { .. } => (ErrCode::UPDATE, 2),
            Self::MalformedAttribute { .. } => (ErrCode::UPDATE, 1),
            Self::InvalidNetworkField => (ErrCode::UPDATE, 10),
            Self::BadRouteRefresh => (ErrCode::ROUTE_REFRESH, 1),
            Self::Truncated { .. }
            | Self::BadLength { .. }
            | Self::TrailingData { .. }
            | Self::TooLong { .. } => (ErrCode::HEADER, 2),
        }
    }
}

/// The outcome of one malformed path attribute (RFC 7606 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttrError {
    /// The attribute is dropped, the rest of the UPDATE is used ("attribute discard").
    #[error("attribute {code} discarded: {reason}")]
    Discard {
        /// Attribute type code.
        code: u8,
        /// Why.
        reason: &'static str,
    },
    /// Every NLRI of the UPDATE is treated as withdrawn ("treat-as-withdraw").
    #[error("attribute {code} malformed, treat-as-withdraw: {reason}")]
    TreatAsWithdraw {
        /// Attribute type code (0 for a missing mandatory attribute).
        code: u8,
        /// Why.
        reason: &'static str,
    },
    /// The session must be reset with a NOTIFICATION.
    #[error("session reset: {0}")]
    SessionReset(WireError),
}

/// An error of the session engine; reaches the caller in events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer sent something malformed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The peer sent us a NOTIFICATION.
    #[error("notification received {code}/{subcode}")]
    NotificationReceived {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
    /// The hold timer expired (4/0).
    #[error("hold timer expired")]
    HoldTimerExpired,
    /// An FSM error: a message that is not allowed in the current state (5/x).
    #[error("finite state machine error in {0}")]
    Fsm(&'static str),
    /// Collision resolution closed this connection (6/7).
    #[error("connection collision resolution")]
    Collision,
    /// The transport closed.
    #[error("peer closed the session")]
    PeerClosed,
    /// Administratively shut down.
    #[error("administrative shutdown")]
    AdminShutdown,
}

/// The caller used the API wrongly; never caused by untrusted data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The connection id is not known.
    #[error("unknown connection {0}")]
    UnknownConnection(u64),
    /// The connection id is already in use.
    #[error("connection {0} already in use")]
    ConnectionInUse(u64),
    /// The neighbor is not configured.
    #[error("unknown neighbor {0}")]
    UnknownNeighbor(std::net::IpAddr),
}

/// Why an inbound connection or chunk of data was dropped (never fatal to the speaker).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Remote address is neither a neighbor nor inside a listen range.
    #[error("connection from unknown peer {0}")]
    UnknownPeer(std::net::IpAddr),
    /// The dynamic neighbor limit is reached.
    #[error("dynamic neighbor limit reached")]
    DynamicLimit,
    /// Misuse of a connection id.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The data was malformed; a NOTIFICATION was queued and the connection closed.
    #[error(transparent)]
    Session(#[from] Error),
}

/// A configuration value is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A peer group name was referenced but not defined.
    #[error("unknown peer group {0}")]
    UnknownPeerGroup(String),
    /// A route map name was referenced but not defined.
    #[error("unknown route-map {0}")]
    UnknownRouteMap(String),
    /// A prefix is not a valid network.
    #[error("invalid prefix {0}")]
    InvalidPrefix(String),
    /// Only iBGP neighbors are supported.
    #[error("neighbor {0}: only iBGP (remote-as equal to local AS) is supported")]
    NotIbgp(std::net::IpAddr),
    /// Hold time 1 or 2.
    #[error("hold time {0} is invalid")]
    HoldTime(u16),
}

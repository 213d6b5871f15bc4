//! Errors of the client block: configuration ([`ConfigError`]) and caller misuse ([`ApiError`]).
//!
//! The block parses no bytes, so there is no `WireError`: everything it consumes is already a
//! typed event from the caller's IKE layer, tracking process or resolver. Events that do not fit
//! the current state (a late `Down` for a session already torn down, an `Up` nobody asked for)
//! are never errors: the engine answers them (ignore, or disconnect the stray session) and counts
//! them in [`Stats`](crate::Stats).

/// A configuration value is invalid. Returned by the constructors in [`config`](crate::config).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The block name (`crypto ikev2 client flexvpn NAME`) is empty or contains white space.
    #[error("invalid client block name {0:?}")]
    BadName(String),
    /// The block has no `peer` line: it could never connect.
    #[error("no peer configured")]
    NoPeers,
    /// A `peer N` sequence number is 0 (IOS numbers peers from 1).
    #[error("peer sequence number must be 1 or more")]
    PeerSeqZero,
    /// Two `peer N` lines use the same N.
    #[error("peer {0} configured twice")]
    DuplicatePeer(u8),
    /// A `peer N fqdn NAME` name is not a valid DNS name.
    #[error("invalid fqdn {0:?}")]
    BadFqdn(String),
    /// `client connect` names something that is not a tunnel interface (`TunnelN`).
    #[error("client connect needs a TunnelN interface, got {0:?}")]
    BadTunnel(String),
    /// An interface name (source, inside, tunnel source) is empty or contains white space.
    #[error("invalid interface name {0:?}")]
    BadInterface(String),
    /// A `source N` sequence number is 0.
    #[error("source sequence number must be 1 or more")]
    SourceSeqZero,
    /// Two `source N` lines use the same N.
    #[error("source {0} configured twice")]
    DuplicateSource(u8),
    /// A timer is zero, which would make the engine spin.
    #[error("timer {0} must be greater than zero")]
    ZeroTimer(&'static str),
    /// The first retry delay is larger than the cap.
    #[error("retry_initial {initial_ms} ms is above retry_max {max_ms} ms")]
    BackoffOrder {
        /// `retry_initial` in milliseconds.
        initial_ms: u128,
        /// `retry_max` in milliseconds.
        max_ms: u128,
    },
    /// A line of the block could not be parsed ([`parse_block`](crate::config::parse_block)).
    #[error("line {line}: {reason}: {text:?}")]
    BadLine {
        /// 1-based line number inside the block.
        line: usize,
        /// The offending line.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Neither `tunnel source` nor any `source N` line gives an outgoing interface.
    #[error("no source interface: set the tunnel source or a source line")]
    NoSource,
}

/// The caller used the API wrongly. Never caused by a peer or by network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// `connect()` / `disconnect()` on a block that is not `connect manual`.
    #[error("block is not in connect manual mode")]
    NotManual,
    /// A [`ClientId`](crate::ClientId) that the [`ClientSet`](crate::ClientSet) never handed out.
    #[error("unknown client id {0}")]
    UnknownClient(u32),
}

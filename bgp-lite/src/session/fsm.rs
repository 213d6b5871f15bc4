//! The BGP FSM states and events (RFC 4271 §8).

use crate::error::WireError;
use crate::wire::{Notification, Open, RouteRefresh, Update};

/// Session state (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Idle: no connection; waiting for ConnectRetry (or removed).
    Idle,
    /// Connect: an outbound TCP connection was requested.
    Connect,
    /// Active: waiting for the peer to connect.
    Active,
    /// OpenSent: our OPEN is sent, waiting for the peer's.
    OpenSent,
    /// OpenConfirm: OPENs exchanged, waiting for KEEPALIVE.
    OpenConfirm,
    /// Established.
    Established,
}

impl State {
    /// The IOS-style name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Connect => "Connect",
            Self::Active => "Active",
            Self::OpenSent => "OpenSent",
            Self::OpenConfirm => "OpenConfirm",
            Self::Established => "Established",
        }
    }
}

/// Input to one connection's FSM.
#[derive(Debug, Clone)]
pub enum FsmEvent {
    /// Event 19, BGPOpen: a valid OPEN.
    Open(Open),
    /// Event 26, KeepAliveMsg.
    Keepalive,
    /// Event 27, UpdateMsg.
    Update(Update),
    /// Events 24/25, NotifMsg / NotifMsgVerErr.
    Notification(Notification),
    /// RFC 2918 ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
    /// Events 21, 22, 28: BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr.
    MsgError(WireError),
    /// Event 10, HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11, KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Event 18, TcpConnectionFails (closed by the peer or the transport).
    TcpConnectionFails,
}

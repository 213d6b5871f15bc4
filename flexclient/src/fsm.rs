//! The block's state machine: the [`State`] enum and one transition function,
//! `match (state, event)`, in the style of holo's `neighbor.rs`.
//!
//! Every [`Event`] variant names the IOS event it stands for. Every state has an explicit arm for
//! the events that do not apply to it, saying what is done with them (ignored and counted in
//! [`Stats::ignored`](crate::Stats::ignored), or a stray session disconnected).
//!
//! ```text
//!              Enable                 attempt started            SessionUp
//!  INACTIVE ----------> (select) ------------------> ACTIVATING ----------> ACTIVE
//!     ^                    |  no possible peer /         |  ConnectFailed /    |  SessionDown /
//!     |                    v  all peers held             |  ConnectTimeout /   |  PeerLost /
//!     |                 WAITING <------------------------+  PeerLost /         |  SourceLost
//!     |                    |  Kick / RetryTimer -> select   SourceLost -> select|  -> select
//!     +---- Disable -------+---------------------------------------------------+
//!  ACTIVE + peer reactivate: ReactivateTimer / Kick starts a make-before-break probe of a
//!  more preferred peer; its SessionUp switches over and disconnects the old peer.
//! ```

use std::net::Ipv4Addr;
use std::time::Instant;

use crate::client::{Client, SessionInfo};
use crate::group::BackupGroups;

/// The state of a client block, as `show crypto ikev2 client flexvpn` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum State {
    /// Not allowed to connect: `connect manual` without a connect command, or the
    /// `connect track` object is not in the wanted state.
    Inactive,
    /// Allowed to connect but nothing to try now: no possible peer, no usable source, a
    /// backup-group peer used by another block, or every possible peer in its retry hold time.
    Waiting,
    /// A connection attempt is under way (name resolution or IKE exchanges).
    Activating,
    /// A session is established and the tunnel's line protocol is up.
    Active,
}

impl State {
    /// The name IOS shows in `Current state:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "INACTIVE",
            Self::Waiting => "WAITING",
            Self::Activating => "ACTIVATING",
            Self::Active => "ACTIVE",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Inputs of the transition function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// IOS: `connect auto` taking effect, the `crypto ikev2 client connect` exec command
    /// (`connect manual`), or the `connect track` object reaching the wanted state.
    Enable,
    /// IOS: `crypto ikev2 client disconnect` (`connect manual`) or the `connect track` object
    /// leaving the wanted state: the tunnel is brought down.
    Disable,
    /// IOS: the IKEv2 SA with the peer is established (`IKEV2_SESSION_STATUS ... UP`).
    SessionUp(Ipv4Addr, SessionInfo),
    /// IOS: the active peer stops responding to liveness checks (DPD or retransmission budget
    /// exhausted) or deletes the SA (`IKEV2_SESSION_STATUS ... DOWN`).
    SessionDown(Ipv4Addr),
    /// IOS: the IKE negotiation with the peer fails.
    ConnectFailed(Ipv4Addr),
    /// IOS: the DNS answer for a `peer N fqdn` name; `None` is "the DNS resolution of the peer
    /// name fails".
    Resolved(String, Option<Ipv4Addr>),
    /// IOS: the IKE negotiation does not complete in time (the connect attempt timer).
    ConnectTimeout,
    /// IOS: a peer is no longer a "possible peer" (its track object left the wanted state).
    PeerLost(usize),
    /// IOS: the source interface in use went down, or its `source N IF track T` object did.
    SourceLost,
    /// A track object, an interface or a backup-group reservation changed in a way that may let
    /// the block make progress (a peer became possible, a source came up, a peer was released).
    Kick,
    /// The per-peer retry hold time of the next possible peer ran out.
    RetryTimer,
    /// IOS `peer reactivate`: the hold-down of a more preferred peer ran out.
    ReactivateTimer,
}

impl Client {
    /// The transition function: one `match (state, event)`.
    pub(crate) fn fsm(&mut self, now: Instant, ev: Event, groups: &mut BackupGroups) {
        use Event as E;
        use State as S;
        match (self.state, ev) {
            // ---------------------------------------------------------------- INACTIVE
            (S::Inactive, E::Enable) => self.select(now, groups),
            (S::Inactive, E::SessionUp(peer, _)) => self.stray_session(peer),
            (
                S::Inactive,
                E::Disable
                | E::SessionDown(_)
                | E::ConnectFailed(_)
                | E::Resolved(..)
                | E::ConnectTimeout
                | E::PeerLost(_)
                | E::SourceLost
                | E::Kick
                | E::RetryTimer
                | E::ReactivateTimer,
            ) => {
                // Nothing is connected or pending: late reports and wake-ups are ignored.
                self.stats.ignored += 1;
            }

            // ---------------------------------------------------------------- WAITING
            (S::Waiting, E::Kick | E::RetryTimer) => self.select(now, groups),
            (S::Waiting, E::Disable) => self.go_inactive(),
            (S::Waiting, E::SessionUp(peer, _)) => self.stray_session(peer),
            (
                S::Waiting,
                E::Enable
                | E::SessionDown(_)
                | E::ConnectFailed(_)
                | E::Resolved(..)
                | E::ConnectTimeout
                | E::PeerLost(_)
                | E::SourceLost
                | E::ReactivateTimer,
            ) => {
                // Already enabled, nothing pending: ignored.
                self.stats.ignored += 1;
            }

            // ---------------------------------------------------------------- ACTIVATING
            (S::Activating, E::SessionUp(peer, info)) => {
                if self.attempt_addr() == Some(peer) {
                    self.established(now, peer, info);
                } else {
                    self.stray_session(peer);
                }
            }
            (S::Activating, E::ConnectFailed(peer) | E::SessionDown(peer)) => {
                if self.attempt_addr() == Some(peer) {
                    self.attempt_failed(now, groups, false);
                    self.select(now, groups);
                } else {
                    self.stats.ignored += 1;
                }
            }
            (S::Activating, E::ConnectTimeout) => {
                self.attempt_failed(now, groups, true);
                self.select(now, groups);
            }
            (S::Activating, E::Resolved(name, addr)) => {
                if self.attempt_resolving(&name) {
                    self.resolved(now, groups, addr);
                } else {
                    self.stats.ignored += 1;
                }
            }
            (S::Activating, E::PeerLost(idx)) => {
                if self.attempt.as_ref().is_some_and(|a| a.peer == idx) {
                    self.abort_attempt(groups);
                    self.select(now, groups);
                } else {
                    self.stats.ignored += 1;
                }
            }
            (S::Activating, E::SourceLost) => {
                self.abort_attempt(groups);
                self.select(now, groups);
            }
            (S::Activating, E::Disable) => {
                self.abort_attempt(groups);
                self.go_inactive();
            }
            (S::Activating, E::Enable | E::Kick | E::RetryTimer | E::ReactivateTimer) => {
                // One attempt at a time: wait for its outcome.
                self.stats.ignored += 1;
            }

            // ---------------------------------------------------------------- ACTIVE
            (S::Active, E::SessionUp(peer, info)) => {
                if self.attempt_addr() == Some(peer) {
                    self.switch_over(now, groups, peer, info);
                } else if self.session_addr() == Some(peer) {
                    // A repeated report for the session we hold.
                    self.stats.ignored += 1;
                } else {
                    self.stray_session(peer);
                }
            }
            (S::Active, E::SessionDown(peer)) => {
                if self.session_addr() == Some(peer) {
                    self.session_lost(now, groups, false, true);
                    self.after_session_lost(now, groups);
                } else if self.attempt_addr() == Some(peer) {
                    self.attempt_failed(now, groups, false);
                    self.schedule_reactivate(now, groups);
                } else {
                    self.stats.ignored += 1;
                }
            }
            (S::Active, E::ConnectFailed(peer)) => {
                if self.attempt_addr() == Some(peer) {
                    self.attempt_failed(now, groups, false);
                    self.schedule_reactivate(now, groups);
                } else {
                    self.stats.ignored += 1;
                }
            }
            (S::Active, E::ConnectTimeout) => {
                if self.attempt.is_some() {
                    self.attempt_failed(now, groups, true);
                }
                self.schedule_reactivate(now, groups);
            }
            (S::Active, E::Resolved(name, addr)) => {
                if self.attempt_resolving(&name) {
                    self.resolved(now, groups, addr);
                    if self.attempt.is_none() {
                        self.schedule_reactivate(now, groups);
                    }
                } else {
                    self.stats.ignored += 1;
                }
            }
            (S::Active, E::PeerLost(idx)) => {
                if self.session.as_ref().is_some_and(|s| s.peer == idx) {
                    self.session_lost(now, groups, true, true);
                    self.after_session_lost(now, groups);
                } else if self.attempt.as_ref().is_some_and(|a| a.peer == idx) {
                    self.abort_attempt(groups);
                    self.schedule_reactivate(now, groups);
                } else {
                    self.stats.ignored += 1;
                }
            }
            (S::Active, E::SourceLost) => {
                self.abort_attempt(groups);
                self.session_lost(now, groups, true, false);
                self.select(now, groups);
            }
            (S::Active, E::Disable) => {
                self.abort_attempt(groups);
                self.session_lost(now, groups, true, false);
                self.go_inactive();
            }
            (S::Active, E::Kick | E::ReactivateTimer) => self.schedule_reactivate(now, groups),
            (S::Active, E::Enable | E::RetryTimer) => {
                // Already connected: ignored.
                self.stats.ignored += 1;
            }
        }
    }
}

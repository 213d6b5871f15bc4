//! Per-SA timers (quinn `timer.rs` style): a small table indexed by [`Timer`].

use std::time::Instant;

/// The timers of one IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Resend the outstanding request (RFC 7296 section 2.1).
    Retransmit = 0,
    /// Liveness check (RFC 7296 section 2.4).
    Dpd = 1,
    /// Rekey the IKE SA (section 2.18).
    RekeyIke = 2,
    /// Rekey the oldest Child SA (section 2.8).
    RekeyChild = 3,
    /// A half-open responder SA gives up waiting for IKE_AUTH.
    HalfOpenExpire = 4,
    /// NAT-T keepalive (RFC 3948 section 4).
    Keepalive = 5,
}

const N: usize = 6;

/// Deadlines by timer.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; N],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }
    pub(crate) fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }
    /// True (and the timer is cleared) when `t` is due at `now`.
    pub(crate) fn expired(&mut self, t: Timer, now: Instant) -> bool {
        match self.at[t as usize] {
            Some(at) if at <= now => {
                self.at[t as usize] = None;
                true
            }
            _ => false,
        }
    }
    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
    pub(crate) fn clear(&mut self) {
        self.at = [None; N];
    }
}

//! A small timer table indexed by an enum (as quinn's `TimerTable`).

use std::time::Instant;

/// Session timers (RFC 4271 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// HoldTimer.
    Hold = 0,
    /// KeepaliveTimer.
    Keepalive = 1,
}

/// Deadlines per [`Timer`].
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    at: [Option<Instant>; 2],
}

impl TimerTable {
    /// Arms `t` for `when`.
    pub fn set(&mut self, t: Timer, when: Instant) {
        self.at[t as usize] = Some(when);
    }
    /// Disarms `t`.
    pub fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }
    /// The deadline of `t`.
    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }
    /// Whether `t` is due at `now`.
    pub fn expired(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|d| d <= now)
    }
    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

//! Message-ID windows (RFC 7296 section 2.3).
//!
//! Each end announces with SET_WINDOW_SIZE (in IKE_AUTH) how many requests it can have
//! outstanding from the peer; without it the window is one. As requester we keep at most
//! the peer's window of requests in flight (the rest wait in the queue), each with its own
//! retransmission schedule; an IKE rekey or Delete goes out alone. As responder we accept
//! any request in `[low, low + window)`, in any order, and keep the responses of the last
//! `window` message IDs to answer retransmissions.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Ctx, Error, Established, Event, Pending, Req, Retx, Sa, Timer};

/// Largest window we announce or honour (bounds the responses and requests kept per SA).
pub(crate) const MAX_WINDOW: u32 = 32;

/// The peer's requests: which message IDs are accepted and the responses kept.
#[derive(Debug, Default)]
pub(super) struct InWindow {
    /// The lowest message ID not yet answered.
    low: u32,
    /// Our window size.
    size: u32,
    /// Responses by message ID: the last `size` below `low` and any answered above it.
    responses: BTreeMap<u32, Vec<Vec<u8>>>,
}

/// What a request's message ID means for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InClass {
    /// Not answered yet and inside the window: process it.
    Fresh,
    /// Answered, response kept: send it again.
    Replay,
    /// Anything else: drop it.
    Out,
}

impl InWindow {
    /// A window starting at message ID `low`.
    pub(super) fn new(low: u32, size: u32) -> Self {
        Self {
            low,
            size: size.clamp(1, MAX_WINDOW),
            responses: BTreeMap::new(),
        }
    }

    /// Classifies a request's message ID.
    pub(super) fn classify(&self, mid: u32) -> InClass {
        if self.responses.contains_key(&mid) {
            InClass::Replay
        } else if mid >= self.low && mid - self.low < self.size {
            InClass::Fresh
        } else {
            InClass::Out
        }
    }

    /// The response kept for `mid`.
    pub(super) fn response(&self, mid: u32) -> Option<&Vec<Vec<u8>>> {
        self.responses.get(&mid)
    }

    /// Records the response to `mid` and slides the window.
    pub(super) fn record(&mut self, mid: u32, bytes: Vec<Vec<u8>>) {
        self.responses.insert(mid, bytes);
        while self.responses.contains_key(&self.low) {
            self.low = self.low.saturating_add(1);
            if self.low == u32::MAX {
                break;
            }
        }
        let keep_from = self.low.saturating_sub(self.size);
        self.responses = self.responses.split_off(&keep_from);
    }
}

/// The value of a SET_WINDOW_SIZE notify, bounded to `1..=MAX_WINDOW`.
pub(super) fn window_value(data: &[u8]) -> Option<u32> {
    let v = u32::from_be_bytes(<[u8; 4]>::try_from(data).ok()?);
    Some(v.clamp(1, MAX_WINDOW))
}

/// Requests that must go out alone (nothing else outstanding, nothing sent meanwhile).
fn exclusive_req(r: &Req) -> bool {
    matches!(r, Req::RekeyIke | Req::DeleteIke)
}

fn exclusive_pending(p: &Pending) -> bool {
    matches!(p, Pending::RekeyIke { .. } | Pending::DeleteIke)
}

impl Established {
    /// True when `req` may be sent now under the peer's window.
    pub(super) fn can_send(&self, req: &Req) -> bool {
        let Some((&oldest, _)) = self.pending.first_key_value() else {
            return true;
        };
        if exclusive_req(req) || self.pending.values().any(exclusive_pending) {
            return false;
        }
        self.mid_out < oldest.saturating_add(self.peer_window)
    }
}

impl Sa {
    /// Sends a request and starts its retransmission schedule.
    pub(super) fn send_request<R>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        mid: u32,
        bytes: Vec<Vec<u8>>,
        dpd: bool,
    ) {
        self.transmit_all(ctx, &bytes);
        let (timeout, fixed) = match (dpd, self.policy.dpd) {
            (true, Some(d)) => (d.retry, true),
            _ => (self.policy.retransmit.initial, false),
        };
        self.retx.insert(
            mid,
            Retx {
                bytes,
                tries: 0,
                timeout,
                fixed,
                at: now + timeout,
            },
        );
        self.arm_retx();
    }

    /// The request `mid` was answered.
    pub(super) fn retx_done(&mut self, mid: u32) {
        self.retx.remove(&mid);
        self.arm_retx();
    }

    /// Forgets every outstanding request (new state, new SA).
    pub(super) fn retx_clear(&mut self) {
        self.retx.clear();
        self.timers.stop(Timer::Retransmit);
    }

    fn arm_retx(&mut self) {
        match self.retx.values().map(|r| r.at).min() {
            Some(at) => self.timers.set(Timer::Retransmit, at),
            None => self.timers.stop(Timer::Retransmit),
        }
    }

    /// Retransmits every request that is due. Returns the closing event when one of them
    /// spent its budget.
    pub(super) fn retransmit_due<R>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
    ) -> Option<Event> {
        let budget = self.policy.retransmit.tries;
        let max = self.policy.retransmit.max_timeout;
        let mut due = Vec::new();
        for r in self.retx.values_mut().filter(|r| r.at <= now) {
            if r.tries >= budget {
                let ev = if self.state_is_established() {
                    Event::PeerDead { sa: self.handle }
                } else {
                    Event::IkeSaFailed {
                        sa: self.handle,
                        reason: Error::Timeout,
                    }
                };
                return Some(ev);
            }
            r.tries += 1;
            if !r.fixed {
                r.timeout = (r.timeout * 2).min(max);
            }
            r.at = now + r.timeout;
            due.push(r.bytes.clone());
        }
        for bytes in &due {
            self.transmit_all(ctx, bytes);
        }
        self.arm_retx();
        None
    }

    fn state_is_established(&self) -> bool {
        self.established().is_some()
    }
}

//! One BGP connection: framing, the OPEN exchange, timers and the per-connection FSM.
//!
//! ```text
//!  handle_connected ──> OpenSent ──OPEN──> OpenConfirm ──KEEPALIVE──> Established
//!        (send OPEN)      │  (send KEEPALIVE)   │                        │ UPDATE / RR / KA
//!                         └── error / hold / NOTIFICATION / close ──> Idle (connection closed)
//! ```
//! The [`crate::Speaker`] owns the sessions, resolves collisions (RFC 4271 §6.8) and feeds
//! UPDATEs to the RIB.

pub mod fsm;
pub mod timer;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

pub use fsm::{FsmEvent, State};
use timer::{Timer, TimerTable};

use crate::error::{Error, WireError};
use crate::framer::Framer;
use crate::wire::{
    Capability, DecodeCtx, ErrCode, Message, Notification, Open, RouteRefresh, Update,
};

/// Large hold time used while waiting for the peer's OPEN (RFC 4271 §8.2.2, 4 minutes).
const OPEN_HOLD: Duration = Duration::from_secs(240);

/// Identifies a transport connection. Ids the speaker allocates for outbound connections have
/// the top bit set; callers number inbound connections with the top bit clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl ConnId {
    /// Whether the speaker allocated it (outbound).
    pub fn is_outbound(&self) -> bool {
        self.0 >> 63 == 1
    }
}

/// What one connection reports to the speaker.
#[derive(Debug)]
pub(crate) enum SessionOut {
    /// A valid OPEN arrived; now in OpenConfirm.
    OpenReceived,
    /// The session reached Established.
    Established,
    /// An UPDATE (RFC 7606 outcomes inside).
    Update(Update),
    /// A ROUTE-REFRESH request.
    RouteRefresh(RouteRefresh),
    /// The connection is finished; `sent` says whether we sent a NOTIFICATION.
    Down {
        reason: Error,
        sent: Option<Notification>,
    },
}

/// Parameters from the neighbor configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionParams {
    pub(crate) local_as: u32,
    pub(crate) router_id: Ipv4Addr,
    pub(crate) remote_as: u32,
    pub(crate) hold_time: u16,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: ConnId,
    pub(crate) local: SocketAddr,
    pub(crate) state: State,
    pub(crate) peer_open: Option<Open>,
    pub(crate) hold: u16,
    pub(crate) ctx: DecodeCtx,
    pub(crate) tx: Vec<u8>,
    pub(crate) route_refresh: bool,
    framer: Framer,
    timers: TimerTable,
    params: SessionParams,
}

impl Session {
    /// A connection just established: sends our OPEN and enters OpenSent.
    pub(crate) fn new(
        now: Instant,
        conn: ConnId,
        local: SocketAddr,
        params: SessionParams,
    ) -> Self {
        let mut s = Self {
            conn,
            local,
            state: State::OpenSent,
            peer_open: None,
            hold: params.hold_time,
            ctx: DecodeCtx {
                four_octet_as: true,
            },
            tx: Vec::new(),
            route_refresh: false,
            framer: Framer::new(DecodeCtx {
                four_octet_as: true,
            }),
            timers: TimerTable::default(),
            params,
        };
        s.send(&Message::Open(Open::new(
            params.local_as,
            params.hold_time,
            params.router_id,
        )));
        s.timers.set(Timer::Hold, now + OPEN_HOLD);
        s
    }

    /// Next deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Queues a message.
    pub(crate) fn send(&mut self, m: &Message) {
        // Messages we build always fit; an error here would be a bug in the UPDATE packer,
        // so the message is dropped rather than sent malformed.
        let _ = m.emit(&self.ctx, &mut self.tx);
    }

    /// Queues pre-encoded bytes (UPDATEs packed by the speaker) and restarts the keepalive timer.
    pub(crate) fn send_raw(&mut self, now: Instant, b: &[u8]) {
        self.tx.extend_from_slice(b);
        self.restart_keepalive(now);
    }

    fn restart_keepalive(&mut self, now: Instant) {
        if self.hold > 0 && matches!(self.state, State::OpenConfirm | State::Established) {
            self.timers.set(
                Timer::Keepalive,
                now + Duration::from_secs(u64::from(self.hold / 3).max(1)),
            );
        }
    }

    fn restart_hold(&mut self, now: Instant) {
        if self.hold > 0 {
            self.timers
                .set(Timer::Hold, now + Duration::from_secs(u64::from(self.hold)));
        } else {
            self.timers.stop(Timer::Hold);
        }
    }

    /// Feeds received bytes and handles every whole message in them.
    #[cfg(test)]
    pub(crate) fn handle_data(&mut self, now: Instant, data: &[u8], out: &mut Vec<SessionOut>) {
        self.push_data(data);
        while self.next_message(now, out) {}
    }

    /// Buffers received bytes (ignored once Idle).
    pub(crate) fn push_data(&mut self, data: &[u8]) {
        if self.state != State::Idle {
            self.framer.push(data);
        }
    }

    /// Handles the next whole buffered message, if any; `false` when there is none (or the
    /// session is Idle).
    pub(crate) fn next_message(&mut self, now: Instant, out: &mut Vec<SessionOut>) -> bool {
        if self.state == State::Idle {
            return false;
        }
        let ctx = self.ctx;
        let ev = match self.framer.next_raw() {
            Ok(None) => return false,
            Ok(Some(raw)) => match Message::parse(raw, &ctx) {
                Ok(Message::Open(o)) => FsmEvent::Open(o),
                Ok(Message::Update(u)) => FsmEvent::Update(u),
                Ok(Message::Keepalive) => FsmEvent::Keepalive,
                Ok(Message::Notification(n)) => FsmEvent::Notification(n),
                Ok(Message::RouteRefresh(r)) => FsmEvent::RouteRefresh(r),
                Err(e) => FsmEvent::MsgError(e),
            },
            Err(e) => FsmEvent::MsgError(e),
        };
        self.step(now, ev, out);
        true
    }

    /// Fires due timers.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<SessionOut>) {
        if self.timers.expired(Timer::Hold, now) {
            self.step(now, FsmEvent::HoldTimerExpires, out);
        } else if self.timers.expired(Timer::Keepalive, now) {
            self.step(now, FsmEvent::KeepaliveTimerExpires, out);
        }
    }

    /// Sends a NOTIFICATION and goes Idle.
    pub(crate) fn shutdown(&mut self, n: Notification, reason: Error, out: &mut Vec<SessionOut>) {
        self.send(&Message::Notification(n.clone()));
        self.go_idle(reason, Some(n), out);
    }

    fn go_idle(&mut self, reason: Error, sent: Option<Notification>, out: &mut Vec<SessionOut>) {
        self.state = State::Idle;
        self.timers = TimerTable::default();
        out.push(SessionOut::Down { reason, sent });
    }

    fn fsm_error(&mut self, out: &mut Vec<SessionOut>) {
        // RFC 6608 subcodes: 1 OpenSent, 2 OpenConfirm, 3 Established.
        let sub = match self.state {
            State::OpenSent => 1,
            State::OpenConfirm => 2,
            _ => 3,
        };
        self.shutdown(
            Notification::new(ErrCode::FSM, sub),
            Error::Fsm(self.state.name()),
            out,
        );
    }

    /// The transition function (RFC 4271 §8.2.2), one arm per state.
    pub(crate) fn step(&mut self, now: Instant, ev: FsmEvent, out: &mut Vec<SessionOut>) {
        match self.state {
            State::Idle | State::Connect | State::Active => {
                // No connection-level FSM input is meaningful once Idle: ignored.
            }
            State::OpenSent => match ev {
                FsmEvent::Open(o) => self.open_received(now, o, out),
                FsmEvent::Keepalive | FsmEvent::Update(_) | FsmEvent::RouteRefresh(_) => {
                    self.fsm_error(out)
                }
                FsmEvent::Notification(n) => self.notif_received(n, out),
                FsmEvent::MsgError(e) => self.msg_error(e, out),
                FsmEvent::HoldTimerExpires => self.hold_expired(out),
                FsmEvent::KeepaliveTimerExpires => {
                    // not armed in OpenSent: ignore
                }
                FsmEvent::TcpConnectionFails => self.go_idle(Error::PeerClosed, None, out),
            },
            State::OpenConfirm => match ev {
                FsmEvent::Keepalive => {
                    self.state = State::Established;
                    self.restart_hold(now);
                    out.push(SessionOut::Established);
                }
                FsmEvent::Open(_) | FsmEvent::Update(_) | FsmEvent::RouteRefresh(_) => {
                    self.fsm_error(out)
                }
                FsmEvent::Notification(n) => self.notif_received(n, out),
                FsmEvent::MsgError(e) => self.msg_error(e, out),
                FsmEvent::HoldTimerExpires => self.hold_expired(out),
                FsmEvent::KeepaliveTimerExpires => self.keepalive(now),
                FsmEvent::TcpConnectionFails => self.go_idle(Error::PeerClosed, None, out),
            },
            State::Established => match ev {
                FsmEvent::Keepalive => self.restart_hold(now),
                FsmEvent::Update(u) => {
                    self.restart_hold(now);
                    out.push(SessionOut::Update(u));
                }
                FsmEvent::RouteRefresh(r) => {
                    self.restart_hold(now);
                    out.push(SessionOut::RouteRefresh(r));
                }
                FsmEvent::Open(_) => self.fsm_error(out),
                FsmEvent::Notification(n) => self.notif_received(n, out),
                FsmEvent::MsgError(e) => self.msg_error(e, out),
                FsmEvent::HoldTimerExpires => self.hold_expired(out),
                FsmEvent::KeepaliveTimerExpires => self.keepalive(now),
                FsmEvent::TcpConnectionFails => self.go_idle(Error::PeerClosed, None, out),
            },
        }
    }

    fn keepalive(&mut self, now: Instant) {
        self.send(&Message::Keepalive);
        self.restart_keepalive(now);
    }

    fn hold_expired(&mut self, out: &mut Vec<SessionOut>) {
        self.shutdown(
            Notification::new(ErrCode::HOLD_TIMER, 0),
            Error::HoldTimerExpired,
            out,
        );
    }

    fn notif_received(&mut self, n: Notification, out: &mut Vec<SessionOut>) {
        self.go_idle(
            Error::NotificationReceived {
                code: n.code.0,
                subcode: n.subcode,
            },
            None,
            out,
        );
    }

    fn msg_error(&mut self, e: WireError, out: &mut Vec<SessionOut>) {
        self.shutdown(Notification::from(&e), Error::Wire(e), out);
    }

    fn open_received(&mut self, now: Instant, o: Open, out: &mut Vec<SessionOut>) {
        // RFC 4271 §6.2: peer AS must match the configuration (2/2); identifier must differ
        // from ours for iBGP (2/3).
        if o.asn() != self.params.remote_as {
            return self.msg_error(WireError::BadPeerAs(o.asn()), out);
        }
        if o.bgp_id == self.params.router_id {
            return self.msg_error(WireError::BadBgpId, out);
        }
        self.hold = self.params.hold_time.min(o.hold_time);
        let four = o.four_octet_as().is_some();
        self.ctx = DecodeCtx {
            four_octet_as: four,
        };
        self.framer.set_ctx(self.ctx);
        self.route_refresh = o.route_refresh();
        let _mp = o.capabilities().any(|c| *c == Capability::MP_IPV4_UNICAST);
        self.peer_open = Some(o);
        self.state = State::OpenConfirm;
        self.send(&Message::Keepalive);
        self.restart_hold(now);
        self.restart_keepalive(now);
        out.push(SessionOut::OpenReceived);
    }

    /// Takes the pending bytes.
    pub(crate) fn take_tx(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tx)
    }

    /// The peer's BGP identifier, once known.
    pub(crate) fn peer_id(&self) -> Option<Ipv4Addr> {
        self.peer_open.as_ref().map(|o| o.bgp_id)
    }
}

#[cfg(test)]
mod tests;

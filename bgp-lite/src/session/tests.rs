//! FSM tests driven with `Repr` values.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::wire::{Notification, Open};

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fn params() -> SessionParams {
    SessionParams {
        local_as: 65001,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        remote_as: 65001,
        hold_time: 90,
    }
}

fn bytes(m: &Message) -> Vec<u8> {
    m.to_bytes(&DecodeCtx::default()).unwrap()
}

/// The messages in the session's transmit buffer.
#[track_caller]
fn sent(s: &mut Session) -> Vec<Message> {
    let tx = s.take_tx();
    let mut f = Framer::new(DecodeCtx::default());
    f.push(&tx);
    let mut v = Vec::new();
    while let Some(m) = f.next().unwrap() {
        v.push(m);
    }
    v
}

fn new_session(t0: Instant) -> Session {
    let local: SocketAddr = "10.0.0.1:179".parse().unwrap();
    Session::new(t0, ConnId(1), local, params())
}

fn peer_open() -> Open {
    Open::new(65001, 30, Ipv4Addr::new(10, 0, 0, 2))
}

#[test]
fn open_exchange_to_established() {
    let t0 = epoch();
    let mut s = new_session(t0);
    assert!(
        matches!(sent(&mut s).as_slice(), [Message::Open(o)] if o.asn() == 65001 && o.hold_time == 90)
    );
    assert_eq!(s.state, State::OpenSent);
    let mut out = Vec::new();
    s.handle_data(t0, &bytes(&Message::Open(peer_open())), &mut out);
    assert_eq!(s.state, State::OpenConfirm);
    assert_eq!(s.hold, 30, "negotiated: the smaller hold time");
    assert_eq!(sent(&mut s), vec![Message::Keepalive]);
    assert!(matches!(out.as_slice(), [SessionOut::OpenReceived]));
    out.clear();
    s.handle_data(t0, &bytes(&Message::Keepalive), &mut out);
    assert_eq!(s.state, State::Established);
    assert!(matches!(out.as_slice(), [SessionOut::Established]));
    // keepalive every hold/3 = 10 s, hold expiry after 30 s of silence
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    out.clear();
    s.handle_timeout(t0 + Duration::from_secs(10), &mut out);
    assert_eq!(sent(&mut s), vec![Message::Keepalive]);
    s.handle_timeout(t0 + Duration::from_secs(10), &mut out);
    assert!(sent(&mut s).is_empty(), "handle_timeout is idempotent");
    s.handle_timeout(t0 + Duration::from_secs(30), &mut out);
    assert_eq!(s.state, State::Idle);
    assert_eq!(
        sent(&mut s),
        vec![Message::Notification(Notification::new(
            ErrCode::HOLD_TIMER,
            0
        ))]
    );
}

#[test]
fn wrong_as_and_fsm_errors() {
    let t0 = epoch();
    let mut s = new_session(t0);
    sent(&mut s);
    let mut out = Vec::new();
    s.handle_data(
        t0,
        &bytes(&Message::Open(Open::new(
            65002,
            90,
            Ipv4Addr::new(10, 0, 0, 2),
        ))),
        &mut out,
    );
    assert_eq!(s.state, State::Idle);
    let n = Notification {
        code: ErrCode::OPEN,
        subcode: 2,
        data: vec![0xfd, 0xea],
    };
    assert_eq!(sent(&mut s), vec![Message::Notification(n)]);

    let mut s = new_session(t0);
    sent(&mut s);
    s.handle_data(t0, &bytes(&Message::Keepalive), &mut out);
    assert_eq!(
        sent(&mut s),
        vec![Message::Notification(Notification::new(ErrCode::FSM, 1))]
    );

    let mut s = new_session(t0);
    s.handle_data(t0, &bytes(&Message::Open(peer_open())), &mut out);
    s.handle_data(t0, &bytes(&Message::Keepalive), &mut out);
    sent(&mut s);
    s.handle_data(t0, &bytes(&Message::Open(peer_open())), &mut out);
    assert_eq!(
        sent(&mut s),
        vec![Message::Notification(Notification::new(ErrCode::FSM, 3))]
    );
    assert_eq!(s.state, State::Idle);
}

#[test]
fn own_identifier_and_bad_marker() {
    let t0 = epoch();
    let mut s = new_session(t0);
    sent(&mut s);
    let mut out = Vec::new();
    s.handle_data(
        t0,
        &bytes(&Message::Open(Open::new(
            65001,
            90,
            Ipv4Addr::new(10, 0, 0, 1),
        ))),
        &mut out,
    );
    assert_eq!(
        sent(&mut s),
        vec![Message::Notification(Notification::new(ErrCode::OPEN, 3))]
    );
    let mut s = new_session(t0);
    sent(&mut s);
    let mut b = bytes(&Message::Keepalive);
    b[0] = 0;
    // fed one byte at a time: the header error is found once 19 bytes are in
    for x in &b {
        s.handle_data(t0, std::slice::from_ref(x), &mut out);
    }
    assert_eq!(
        sent(&mut s),
        vec![Message::Notification(Notification::new(ErrCode::HEADER, 1))]
    );
    assert_eq!(s.state, State::Idle);
}

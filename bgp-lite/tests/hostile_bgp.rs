//! Hostile peers against the hub's speaker: garbage, a too-long message, UPDATEs with
//! malformed attributes (RFC 7606), OPENs with an unsupported version or a bad hold time, and
//! a flood of connections from the listen range. Each must get the right NOTIFICATION (and the
//! connection closed) or be handled as treat-as-withdraw / attribute-discard, the other
//! sessions must not notice, and the dynamic-neighbor slots stay bounded. Public API only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_lite::config::{ListenRange, NeighborSettings};
use bgp_lite::wire::{DecodeCtx, Ipv4Prefix, Message, Open};
use bgp_lite::{ConnId, Event, InputError, Speaker, SpeakerConfig, State};

const HUB_ID: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const HUB_OVERLAY: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 179);
const LIMIT: usize = 6;

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fn spoke_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 1, 100 + n)
}

fn hub(now: Instant) -> Speaker {
    let mut c = SpeakerConfig::new(65001, HUB_ID);
    let mut spokes = NeighborSettings::ibgp(65001);
    spokes.hold_time = 30;
    c.peer_groups.insert("Spokes".into(), spokes);
    c.listen_ranges.push(ListenRange {
        prefix: "10.1.1.0/24".parse().unwrap(),
        peer_group: "Spokes".into(),
    });
    c.listen_limit = LIMIT;
    c.networks.push("192.168.0.0/24".parse().unwrap());
    Speaker::new(c, now).unwrap()
}

/// A NOTIFICATION as sent: code, subcode, data.
type Notif = (u8, u8, Vec<u8>);

/// What the hub sent on each connection and the events it raised.
#[derive(Default)]
struct Out {
    bytes: Vec<(ConnId, Vec<u8>)>,
    events: Vec<Event>,
}

impl Out {
    fn drain(sp: &mut Speaker) -> Self {
        let mut o = Self::default();
        while let Some(t) = sp.poll_transmit() {
            o.bytes.push((t.conn, t.bytes));
        }
        while let Some(e) = sp.poll_event() {
            o.events.push(e);
        }
        o
    }

    /// The messages sent on `conn`, parsed.
    fn messages(&self, conn: ConnId) -> Vec<Message> {
        let mut all = Vec::new();
        for (_, b) in self.bytes.iter().filter(|(c, _)| *c == conn) {
            all.extend_from_slice(b);
        }
        let mut v = Vec::new();
        let mut rest = &all[..];
        while rest.len() >= 19 {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            v.push(Message::parse(&rest[..len], &DecodeCtx::default()).unwrap());
            rest = &rest[len..];
        }
        v
    }

    fn notification(&self, conn: ConnId) -> Option<Notif> {
        self.messages(conn).into_iter().find_map(|m| match m {
            Message::Notification(n) => Some((n.code.0, n.subcode, n.data)),
            _ => None,
        })
    }

    /// The NOTIFICATION the speaker says it sent (its syslog line `... sent to neighbor A c/s`).
    fn notification_logged(&self) -> Option<(u8, u8)> {
        self.events.iter().find_map(|e| match e {
            Event::Syslog(l) if l.starts_with("%BGP-3-NOTIFICATION: sent") => {
                let cs = l.split_whitespace().nth(5)?;
                let (c, s) = cs.split_once('/')?;
                Some((c.parse().ok()?, s.parse().ok()?))
            }
            _ => None,
        })
    }

    fn closed(&self, conn: ConnId) -> bool {
        self.events.contains(&Event::Close { conn })
    }
}

fn msg(m: &Message) -> Vec<u8> {
    m.to_bytes(&DecodeCtx::default()).unwrap()
}

fn keepalive() -> Vec<u8> {
    msg(&Message::Keepalive)
}

/// A raw message: marker, length, type, body.
fn raw(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    v.push(ty);
    v.extend_from_slice(body);
    v
}

/// Connects spoke `n` (inbound to the hub) and brings it to Established.
fn establish(sp: &mut Speaker, now: Instant, n: u8) -> ConnId {
    let conn = ConnId(u64::from(n) + 1);
    let remote = SocketAddr::new(IpAddr::V4(spoke_ip(n)), 40_000 + u16::from(n));
    sp.handle_connected(now, conn, HUB_OVERLAY, remote).unwrap();
    let _ = Out::drain(sp);
    let open = msg(&Message::Open(Open::new(65001, 30, spoke_ip(n))));
    sp.handle_stream_data(now, conn, &open).unwrap();
    sp.handle_stream_data(now, conn, &keepalive()).unwrap();
    let _ = Out::drain(sp);
    assert_eq!(
        sp.neighbor_state(spoke_ip(n).into()),
        Some(State::Established)
    );
    conn
}

/// A well-formed UPDATE body announcing `nlri` with the given path attributes (raw).
fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH_EMPTY: [u8; 3] = [0x40, 2, 0];
const LOCAL_PREF_100: [u8; 7] = [0x40, 5, 4, 0, 0, 0, 100];
/// 172.16.1.0/24 as NLRI.
const NLRI: [u8; 4] = [24, 172, 16, 1];

fn next_hop(ip: Ipv4Addr) -> Vec<u8> {
    let mut v = vec![0x40, 3, 4];
    v.extend_from_slice(&ip.octets());
    v
}

fn good_attrs(n: u8) -> Vec<u8> {
    [
        &ORIGIN_IGP[..],
        &AS_PATH_EMPTY,
        &next_hop(spoke_ip(n)),
        &LOCAL_PREF_100,
    ]
    .concat()
}

fn prefix() -> Ipv4Prefix {
    "172.16.1.0/24".parse().unwrap()
}

fn in_rib(sp: &Speaker) -> bool {
    sp.loc_rib().best(&prefix()).is_some()
}

/// Spokes 1 and 2 up; the route announced by spoke 1. Returns (hub, conn 1, conn 2).
fn two_spokes(now: Instant) -> (Speaker, ConnId, ConnId) {
    let mut sp = hub(now);
    let c1 = establish(&mut sp, now, 1);
    let c2 = establish(&mut sp, now, 2);
    sp.handle_stream_data(now, c1, &raw(2, &update_body(&[], &good_attrs(1), &NLRI)))
        .unwrap();
    let _ = Out::drain(&mut sp);
    assert!(in_rib(&sp));
    (sp, c1, c2)
}

fn spoke2_untouched(sp: &mut Speaker, now: Instant, c2: ConnId) {
    assert_eq!(
        sp.neighbor_state(spoke_ip(2).into()),
        Some(State::Established)
    );
    sp.handle_stream_data(now, c2, &keepalive()).unwrap();
    let o = Out::drain(sp);
    assert!(!o.closed(c2) && o.notification(c2).is_none());
}

/// Sends `bytes` on spoke 1's connection and expects a NOTIFICATION `code/subcode` (as the
/// speaker logs it) and a close. Returns the NOTIFICATION transmitted on the connection, if
/// any (see `notification_bytes_are_sent_before_the_close`).
fn expect_notification(bytes: &[u8], code: u8, subcode: u8) -> Option<Notif> {
    let now = epoch();
    let (mut sp, c1, c2) = two_spokes(now);
    let r = sp.handle_stream_data(now, c1, bytes);
    assert!(matches!(r, Err(InputError::Session(_))), "{r:?}");
    let o = Out::drain(&mut sp);
    assert_eq!(
        o.notification_logged(),
        Some((code, subcode)),
        "{:?}",
        o.events
    );
    assert!(o.closed(c1), "connection not closed after {code}/{subcode}");
    assert_ne!(
        sp.neighbor_state(spoke_ip(1).into()),
        Some(State::Established)
    );
    assert!(!in_rib(&sp), "routes of the reset session must go");
    spoke2_untouched(&mut sp, now, c2);
    o.notification(c1)
}

#[test]
fn garbage_gets_connection_not_synchronized() {
    let mut g = vec![0x17; 64];
    g[16] = 0;
    g[17] = 64;
    expect_notification(&g, 1, 1);
}

#[test]
fn too_long_message_gets_bad_message_length_with_the_length() {
    let mut m = raw(2, &[0; 10]);
    m[16..18].copy_from_slice(&4097u16.to_be_bytes());
    expect_notification(&m, 1, 2);
    // Too short as well (length 18) and a KEEPALIVE with a body.
    let mut m = raw(4, &[]);
    m[16..18].copy_from_slice(&18u16.to_be_bytes());
    expect_notification(&m, 1, 2);
    expect_notification(&raw(4, &[0]), 1, 2);
}

#[test]
fn unknown_message_type_gets_bad_message_type() {
    expect_notification(&raw(9, &[1, 2, 3]), 1, 3);
}

#[test]
fn malformed_nlri_resets_the_session() {
    // Prefix length 33 (RFC 7606 5.3: the session is reset, 3/10).
    let body = update_body(&[], &good_attrs(1), &[33, 1, 2, 3, 4, 5]);
    expect_notification(&raw(2, &body), 3, 10);
    // Withdrawn routes length overrunning the message (3/1).
    let mut body = update_body(&[], &good_attrs(1), &NLRI);
    body[0..2].copy_from_slice(&500u16.to_be_bytes());
    expect_notification(&raw(2, &body), 3, 1);
}

#[test]
fn malformed_attributes_are_treat_as_withdraw_and_the_session_survives() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "ORIGIN value 7",
            [&[0x40, 1, 1, 7][..], &AS_PATH_EMPTY, &next_hop(spoke_ip(1))].concat(),
        ),
        (
            "ORIGIN length 2",
            [
                &[0x40, 1, 2, 0, 0][..],
                &AS_PATH_EMPTY,
                &next_hop(spoke_ip(1)),
            ]
            .concat(),
        ),
        (
            "NEXT_HOP length 3",
            [&ORIGIN_IGP[..], &AS_PATH_EMPTY, &[0x40, 3, 3, 10, 1, 1]].concat(),
        ),
        (
            "MED length 3",
            [&good_attrs(1)[..], &[0x80, 4, 3, 0, 0, 1]].concat(),
        ),
        (
            "LOCAL_PREF length 2",
            [
                &ORIGIN_IGP[..],
                &AS_PATH_EMPTY,
                &next_hop(spoke_ip(1)),
                &[0x40, 5, 2, 0, 1],
            ]
            .concat(),
        ),
        (
            "COMMUNITIES length 5",
            [&good_attrs(1)[..], &[0xc0, 8, 5, 0, 0, 0, 1, 2]].concat(),
        ),
        (
            "ORIGINATOR_ID length 3",
            [&good_attrs(1)[..], &[0x80, 9, 3, 1, 2, 3]].concat(),
        ),
        (
            "CLUSTER_LIST length 6",
            [&good_attrs(1)[..], &[0x80, 10, 6, 1, 2, 3, 4, 5, 6]].concat(),
        ),
        (
            "AS_PATH segment overrun",
            [
                &ORIGIN_IGP[..],
                &[0x40, 2, 4, 2, 5, 0, 1],
                &next_hop(spoke_ip(1)),
            ]
            .concat(),
        ),
        (
            "missing NEXT_HOP",
            [&ORIGIN_IGP[..], &AS_PATH_EMPTY].concat(),
        ),
        (
            "missing ORIGIN",
            [&AS_PATH_EMPTY[..], &next_hop(spoke_ip(1))].concat(),
        ),
    ];
    for (what, attrs) in cases {
        let now = epoch();
        let (mut sp, c1, c2) = two_spokes(now);
        let before = sp.stats().treat_as_withdraw;
        let r = sp.handle_stream_data(now, c1, &raw(2, &update_body(&[], &attrs, &NLRI)));
        let o = Out::drain(&mut sp);
        assert!(r.is_ok(), "{what}: {r:?}");
        assert!(
            o.notification(c1).is_none(),
            "{what}: session reset instead of treat-as-withdraw"
        );
        assert!(!o.closed(c1), "{what}: closed");
        assert_eq!(
            sp.neighbor_state(spoke_ip(1).into()),
            Some(State::Established),
            "{what}"
        );
        assert!(
            !in_rib(&sp),
            "{what}: the route must be withdrawn (RFC 7606 2)"
        );
        assert_eq!(
            sp.stats().treat_as_withdraw,
            before + 1,
            "{what}: not counted"
        );
        spoke2_untouched(&mut sp, now, c2);
        // The session still works: the route comes back with a good UPDATE.
        sp.handle_stream_data(now, c1, &raw(2, &update_body(&[], &good_attrs(1), &NLRI)))
            .unwrap();
        let _ = Out::drain(&mut sp);
        assert!(in_rib(&sp), "{what}: the session no longer takes UPDATEs");
    }
}

#[test]
fn malformed_optional_attributes_are_discarded_and_the_route_kept() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "ATOMIC_AGGREGATE length 1",
            [&good_attrs(1)[..], &[0x40, 6, 1, 0]].concat(),
        ),
        (
            "AGGREGATOR length 5",
            [&good_attrs(1)[..], &[0xc0, 7, 5, 0, 0, 0, 1, 2]].concat(),
        ),
    ];
    for (what, attrs) in cases {
        let now = epoch();
        let (mut sp, c1, _c2) = two_spokes(now);
        let before = sp.stats().attr_discarded;
        let r = sp.handle_stream_data(now, c1, &raw(2, &update_body(&[], &attrs, &NLRI)));
        let o = Out::drain(&mut sp);
        assert!(r.is_ok() && o.notification(c1).is_none(), "{what}: {r:?}");
        assert!(
            in_rib(&sp),
            "{what}: RFC 7606 7.6/7.7 discard the attribute, keep the route"
        );
        assert_eq!(sp.stats().attr_discarded, before + 1, "{what}");
    }
}

#[test]
fn duplicate_mp_reach_resets_and_other_duplicates_are_dropped() {
    // RFC 7606 3(g): a repeated attribute other than MP_REACH/MP_UNREACH: keep the first.
    let attrs = [&good_attrs(1)[..], &LOCAL_PREF_100].concat();
    let now = epoch();
    let (mut sp, c1, _) = two_spokes(now);
    let r = sp.handle_stream_data(now, c1, &raw(2, &update_body(&[], &attrs, &NLRI)));
    let o = Out::drain(&mut sp);
    assert!(r.is_ok() && o.notification(c1).is_none(), "{r:?}");
    assert!(in_rib(&sp));
    // Repeated MP_UNREACH_NLRI (IPv4 unicast, empty): Malformed Attribute List (3/1).
    let mp = [0x80, 15, 3, 0, 1, 1];
    let attrs = [&good_attrs(1)[..], &mp, &mp].concat();
    expect_notification(&raw(2, &update_body(&[], &attrs, &NLRI)), 3, 1);
}

fn open_with(f: impl FnOnce(&mut Open)) -> Vec<u8> {
    let mut o = Open::new(65001, 30, spoke_ip(1));
    f(&mut o);
    msg(&Message::Open(o))
}

/// Connects spoke 1 (spoke 2 already up) and sends `open` as its first message; returns the
/// NOTIFICATION as logged and as transmitted (if it was).
fn bad_open(open: &[u8]) -> ((u8, u8), Option<Notif>) {
    let now = epoch();
    let mut sp = hub(now);
    let c2 = establish(&mut sp, now, 2);
    let c1 = ConnId(77);
    let remote = SocketAddr::new(IpAddr::V4(spoke_ip(1)), 40_001);
    sp.handle_connected(now, c1, HUB_OVERLAY, remote).unwrap();
    let _ = Out::drain(&mut sp);
    let r = sp.handle_stream_data(now, c1, open);
    assert!(r.is_err(), "a bad OPEN was accepted: {open:02x?}");
    let o = Out::drain(&mut sp);
    assert!(o.closed(c1));
    assert_ne!(
        sp.neighbor_state(spoke_ip(1).into()),
        Some(State::Established)
    );
    spoke2_untouched(&mut sp, now, c2);
    let logged = o
        .notification_logged()
        .expect("a NOTIFICATION for a bad OPEN");
    (logged, o.notification(c1))
}

#[test]
fn open_with_an_unsupported_version_gets_2_1_with_our_version() {
    for v in [3u8, 5, 255] {
        let (logged, _) = bad_open(&open_with(|o| o.version = v));
        assert_eq!(logged, (2, 1), "version {v}");
    }
}

#[test]
fn open_with_a_bad_hold_time_gets_2_6() {
    for h in [1u16, 2] {
        let (logged, _) = bad_open(&open_with(|o| o.hold_time = h));
        assert_eq!(logged, (2, 6), "hold time {h}");
    }
}

#[test]
fn open_with_a_bad_identifier_or_peer_as_is_refused() {
    let (logged, _) = bad_open(&open_with(|o| o.bgp_id = Ipv4Addr::UNSPECIFIED));
    assert_eq!(logged, (2, 3), "BGP identifier 0.0.0.0");
    let (logged, _) = bad_open(&msg(&Message::Open(Open::new(65002, 30, spoke_ip(1)))));
    assert_eq!(logged, (2, 2), "peer AS 65002 on an iBGP peer group");
    // Truncated OPEN body: a header-level or OPEN-level error, never accepted.
    let ((c, _), _) = bad_open(&raw(1, &[4, 0xfd]));
    assert!(c == 1 || c == 2, "code {c}");
}

#[test]
fn dynamic_neighbor_slots_are_bounded() {
    let now = epoch();
    let mut sp = hub(now);
    let mut accepted = 0;
    let mut refused = 0;
    for n in 0..40u8 {
        let conn = ConnId(1000 + u64::from(n));
        let remote = SocketAddr::new(IpAddr::V4(spoke_ip(n)), 50_000);
        match sp.handle_connected(now, conn, HUB_OVERLAY, remote) {
            Ok(()) => accepted += 1,
            Err(InputError::DynamicLimit) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(accepted, LIMIT);
    assert_eq!(refused, 40 - LIMIT);
    assert_eq!(sp.stats().refused, (40 - LIMIT) as u64);
    assert_eq!(sp.neighbors().iter().filter(|n| n.dynamic).count(), LIMIT);
    let o = Out::drain(&mut sp);
    let refusals = o
        .events
        .iter()
        .filter(|e| matches!(e, Event::ConnectionRefused { .. }));
    assert_eq!(refusals.count(), 40 - LIMIT);
    // Outside the listen range: refused as unknown, no slot used.
    let r = sp.handle_connected(
        now,
        ConnId(5000),
        HUB_OVERLAY,
        "10.9.9.9:179".parse().unwrap(),
    );
    assert!(matches!(r, Err(InputError::UnknownPeer(_))), "{r:?}");
    // Connections that never send an OPEN give their slot back (OpenSent hold timer).
    let mut t = now;
    for _ in 0..600 {
        t += Duration::from_secs(1);
        sp.handle_timeout(t);
        let _ = Out::drain(&mut sp);
    }
    let left = sp
        .neighbors()
        .iter()
        .filter(|n| n.dynamic && n.state != State::Idle)
        .count();
    assert_eq!(
        left, 0,
        "silent connections still hold slots after 10 minutes"
    );
    let conn = ConnId(9000);
    let remote = SocketAddr::new(IpAddr::V4(spoke_ip(99)), 50_000);
    sp.handle_connected(t, conn, HUB_OVERLAY, remote)
        .expect("a slot is free again");
}

#[test]
fn byte_by_byte_and_huge_chunks_are_the_same_stream() {
    // The framer must not care how the stream is cut: one UPDATE fed a byte at a time, and
    // 200 UPDATEs in one chunk.
    let now = epoch();
    let (mut sp, c1, c2) = two_spokes(now);
    let wd = raw(2, &update_body(&NLRI, &[], &[]));
    for b in &wd {
        sp.handle_stream_data(now, c1, std::slice::from_ref(b))
            .unwrap();
    }
    let _ = Out::drain(&mut sp);
    assert!(!in_rib(&sp));
    let ann = raw(2, &update_body(&[], &good_attrs(1), &NLRI));
    let big: Vec<u8> = (0..200).flat_map(|_| ann.iter().copied()).collect();
    sp.handle_stream_data(now, c1, &big).unwrap();
    let _ = Out::drain(&mut sp);
    assert!(in_rib(&sp));
    spoke2_untouched(&mut sp, now, c2);
}

/// RFC 4271 6: the NOTIFICATION goes out on the connection, then the connection closes.
/// (This found a bug, since fixed in bgp-lite: `Speaker::conn_down` removed the session, and
/// the NOTIFICATION queued in its transmit buffer, before `process` called `drain_tx`.)
#[test]
fn notification_bytes_are_sent_before_the_close() {
    let mut m = raw(2, &[0; 10]);
    m[16..18].copy_from_slice(&4097u16.to_be_bytes());
    let n = expect_notification(&m, 1, 2).expect("NOTIFICATION 1/2 transmitted");
    assert_eq!(
        n,
        (1, 2, 4097u16.to_be_bytes().to_vec()),
        "RFC 4271 6.1: data = the length"
    );
    let n = expect_notification(&raw(9, &[1, 2, 3]), 1, 3).expect("NOTIFICATION 1/3 transmitted");
    assert_eq!(n, (1, 3, vec![9]), "RFC 4271 6.1: data = the type");
    for v in [3u8, 5] {
        let (_, n) = bad_open(&open_with(|o| o.version = v));
        // RFC 4271 6.2: the largest version we support (4) as a 2-octet number.
        assert_eq!(n, Some((2, 1, vec![0, 4])), "version {v}");
    }
    let (_, n) = bad_open(&open_with(|o| o.hold_time = 1));
    assert_eq!(n.map(|n| (n.0, n.1)), Some((2, 6)));
}

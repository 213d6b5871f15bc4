//! flexclient_engine (kind: `*_engine`): an arbitrary configuration and an arbitrary sequence of
//! (time step, input) fed to one client block, with a full drain after each input.
//! Invariants: no panic; after the caller has applied the block's actions it holds at most one
//! session; an ACTIVE block's peer is a session the IKE layer holds; the event queue stays
//! bounded; `handle_timeout` settles at a fixed `now`.
#![no_main]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use flexclient::{
    Action, Client, ClientConfig, ConnectMode, DownReason, EVENT_QUEUE_CAP, Event, PeerConfig,
    SessionEvent, SourceConfig, State, TrackRef, TrackWant,
};
use libfuzzer_sys::fuzz_target;

const HUBS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(172, 25, 1, 1),
    Ipv4Addr::new(172, 25, 2, 1),
    Ipv4Addr::new(172, 25, 3, 1),
];
const IFACES: [&str; 2] = ["Ethernet0/0", "Cellular0/0"];

#[derive(Debug, Arbitrary)]
struct Shape {
    peers: Vec<(u8, Option<(u8, bool)>)>,
    fqdn_dynamic: Option<bool>,
    mode: ConnectMode,
    reactivate: bool,
    group: Option<u8>,
    sources: bool,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Up(u8, Option<u8>),
    Down(u8, DownReason),
    ConnectFailed(u8),
    Track(u8, bool),
    Interface(bool, bool),
    Resolved(Option<u8>),
    Connect,
    Disconnect,
    Timeout,
}

#[derive(Debug, Arbitrary)]
struct Case {
    shape: Shape,
    steps: Vec<(u16, Input)>,
}

fn build(s: &Shape) -> Option<ClientConfig> {
    let mut b = ClientConfig::builder("F")
        .client_connect("Tunnel1")
        .tunnel_source(IFACES[0])
        .connect(s.mode)
        .peer_reactivate(s.reactivate);
    for (i, (hub, track)) in s.peers.iter().take(4).enumerate() {
        let seq = u8::try_from(i + 1).ok()?;
        let mut p = PeerConfig::address(seq, HUBS[usize::from(*hub) % 3]).ok()?;
        if let Some((t, up)) = track {
            let want = if *up { TrackWant::Up } else { TrackWant::Down };
            p = p.track(u16::from(*t % 4), want);
        }
        b = b.peer(p);
    }
    if let Some(dynamic) = s.fqdn_dynamic {
        b = b.peer(PeerConfig::fqdn(9, "hub.example.net", dynamic).ok()?);
    }
    if let Some(g) = s.group {
        b = b.backup_group(g);
    }
    if s.sources {
        b = b
            .source(SourceConfig::new(1, IFACES[0], 0).ok()?)
            .source(SourceConfig::new(2, IFACES[1], 1).ok()?);
    }
    if let ConnectMode::Track(TrackRef { id, want }) = s.mode {
        b = b.connect(ConnectMode::Track(TrackRef { id: id % 4, want }));
    }
    b.build().ok()
}

fn drain(c: &mut Client, sessions: &mut BTreeSet<Ipv4Addr>) {
    let mut n = 0;
    while let Some(ev) = c.poll_event() {
        n += 1;
        assert!(n <= EVENT_QUEUE_CAP, "unbounded event queue");
        if let Event::Action(Action::Disconnect { peer }) = ev {
            sessions.remove(&peer);
        }
    }
    assert!(
        sessions.len() <= 1,
        "two sessions after the drain: {sessions:?}"
    );
    if c.state() == State::Active {
        let p = c.active_peer().expect("active peer");
        assert!(sessions.contains(&p), "active on {p} without a session");
    }
}

fuzz_target!(|case: Case| {
    let Some(cfg) = build(&case.shape) else {
        return;
    };
    #[allow(clippy::disallowed_methods, reason = "the one clock read")]
    let mut now = Instant::now();
    let mut c = Client::new(now, cfg);
    let mut sessions = BTreeSet::new();
    for (dt, input) in case.steps.into_iter().take(256) {
        now += Duration::from_millis(u64::from(dt) * 16);
        for _ in 0..8 {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
                drain(&mut c, &mut sessions);
            }
        }
        assert!(
            c.poll_timeout().is_none_or(|t| t > now),
            "timers never settle"
        );
        let hub = |h: u8| HUBS[usize::from(h) % 3];
        match input {
            Input::Up(h, assigned) => {
                let peer = hub(h);
                sessions.insert(peer);
                let ev = SessionEvent::Up {
                    local: Ipv4Addr::new(172, 16, 2, 2),
                    peer_port: 500,
                    peer_id: peer.to_string(),
                    assigned_v4: assigned.map(|a| Ipv4Addr::new(10, 1, 1, a)),
                };
                c.handle_session(now, peer, ev);
            }
            Input::Down(h, reason) => {
                sessions.remove(&hub(h));
                c.handle_session(now, hub(h), SessionEvent::Down { reason });
            }
            Input::ConnectFailed(h) => c.handle_session(now, hub(h), SessionEvent::ConnectFailed),
            Input::Track(t, up) => c.handle_track(now, u16::from(t % 4), up),
            Input::Interface(second, up) => {
                c.handle_interface(now, IFACES[usize::from(second)], up);
            }
            Input::Resolved(a) => c.handle_resolved(now, "hub.example.net", a.map(hub)),
            Input::Connect => {
                let _ = c.connect(now);
            }
            Input::Disconnect => {
                let _ = c.disconnect(now);
            }
            Input::Timeout => c.handle_timeout(now),
        }
        drain(&mut c, &mut sessions);
        let _ = c.show();
    }
});

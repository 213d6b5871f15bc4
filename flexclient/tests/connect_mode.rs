//! `connect auto | manual | track T [up|down]`.

mod common;

use common::{HUB1, HUB2, Net, two_hubs};
use flexclient::{Action, ApiError, ConnectMode, State, TrackRef, TrackWant};

#[test]
fn manual_never_connects_by_itself() {
    let mut net = Net::new();
    let id = net.set.add(
        net.now,
        two_hubs("M").connect(ConnectMode::Manual).build().unwrap(),
    );
    // An hour of everything that could tempt it: tracks and interfaces flapping, time passing.
    for i in 0..360 {
        net.track((i % 4) as u16, i % 2 == 0);
        net.interface("Ethernet0/0", i % 3 != 0);
        net.run_for(10.0);
    }
    net.interface("Ethernet0/0", true);
    assert!(
        !net.actions
            .iter()
            .any(|(_, _, a)| matches!(a, Action::Connect { .. })),
        "manual block connected on its own"
    );
    assert_eq!(net.state(id), State::Inactive);
    assert!(
        net.set
            .client(id)
            .unwrap()
            .show()
            .contains("Current state:INACTIVE\n")
    );

    net.set.connect(net.now, id).unwrap();
    net.run_for(1.0);
    assert_eq!(net.active(id), Some(HUB1));
    net.set.disconnect(net.now, id).unwrap();
    net.drain();
    assert_eq!(net.state(id), State::Inactive);
    assert!(net.sessions_of(id).is_empty());
    assert_eq!(net.line_up.get(&id), Some(&false));
    net.run_for(600.0);
    assert_eq!(net.connects_to(id, HUB1).len(), 1);
    assert!(net.connects_to(id, HUB2).is_empty());
}

#[test]
fn connect_commands_need_manual_mode() {
    let mut net = Net::new();
    let id = net.set.add(net.now, two_hubs("A").build().unwrap());
    assert_eq!(net.set.connect(net.now, id), Err(ApiError::NotManual));
    assert_eq!(
        net.set.disconnect(net.now, flexclient::ClientId(7)),
        Err(ApiError::UnknownClient(7))
    );
}

#[test]
fn connect_track_follows_the_track_object() {
    for want in [TrackWant::Up, TrackWant::Down] {
        let mut net = Net::new();
        let mode = ConnectMode::Track(TrackRef { id: 5, want });
        let id = net
            .set
            .add(net.now, two_hubs("T").connect(mode).build().unwrap());
        // Track 5 starts unknown (= down).
        net.run_for(60.0);
        let connected_when_down = want == TrackWant::Down;
        assert_eq!(
            net.state(id) == State::Active,
            connected_when_down,
            "{want:?}"
        );
        net.track(5, true);
        net.run_for(1.0);
        assert_eq!(
            net.state(id) == State::Active,
            !connected_when_down,
            "{want:?}"
        );
        net.track(5, false);
        net.run_for(1.0);
        assert_eq!(
            net.state(id) == State::Active,
            connected_when_down,
            "{want:?}"
        );
        if !connected_when_down {
            assert_eq!(net.state(id), State::Inactive);
            assert!(net.sessions_of(id).is_empty());
        }
    }
}

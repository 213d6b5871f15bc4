//! Secrets never show in Debug output.

mod common;

use common::*;
use ikev2::{Event, Psk};

#[test]
fn debug_of_keys_and_psk_is_redacted() {
    let psk = Psk::new(b"cisco-secret-123");
    assert!(!format!("{psk:?}").contains("cisco"));
    let mut p = Pair::new(60, responder_config(hub_policy()));
    p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.settle();
    let (_, ev) = p
        .events_a
        .iter()
        .find(|(_, e)| matches!(e, Event::ChildSaInstalled { .. }))
        .unwrap();
    let Event::ChildSaInstalled { keys, .. } = ev else {
        unreachable!()
    };
    let dbg = format!("{ev:?}");
    for k in [&keys.encr_in, &keys.encr_out] {
        let hex: String = k.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dbg.to_lowercase().contains(&hex[..16]), "{dbg}");
        assert!(!dbg.contains(&format!("{:?}", &k.as_bytes()[..4])), "{dbg}");
    }
    assert!(dbg.contains("redacted"));
    let cfg = format!("{:?}", p.peer_config(spoke_policy()));
    assert!(!cfg.contains("99, 105, 115, 99, 111") && cfg.contains("redacted"));
}

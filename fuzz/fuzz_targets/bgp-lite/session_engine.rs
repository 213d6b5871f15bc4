//! `bgp-lite` speaker (kind: engine): an Established iBGP session fed arbitrary byte chunks at
//! arbitrary times; nothing panics, outputs drain, queues stay bounded, and the speaker keeps
//! answering for the neighbor.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bgp_lite::config::NeighborSettings;
use bgp_lite::wire::{DecodeCtx, Message, Open};
use bgp_lite::{ConnId, IgpRoute, Speaker, SpeakerConfig};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Input {
    Data(Vec<u8>),
    Wait(u16),
    Close,
    Reconnect,
}

#[allow(clippy::disallowed_methods, reason = "the one clock read")]
fn epoch() -> Instant {
    Instant::now()
}

fuzz_target!(|inputs: Vec<(u8, Input)>| {
    let t0 = epoch();
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1));
    let mut n = NeighborSettings::ibgp(65001);
    n.passive = true;
    c.neighbors.insert(peer, n);
    c.networks.push("192.168.0.0/24".parse().unwrap());
    let mut sp = Speaker::new(c, t0).unwrap();
    sp.set_route_table(
        t0,
        [IgpRoute {
            prefix: "192.168.0.0/24".parse().unwrap(),
            metric: 0,
        }],
    );
    let local: SocketAddr = "10.0.0.1:179".parse().unwrap();
    let remote: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let mut conn = ConnId(1);
    let mut hs = Message::Open(Open::new(65001, 90, Ipv4Addr::new(10, 0, 0, 2)))
        .to_bytes(&DecodeCtx::default())
        .unwrap();
    Message::Keepalive
        .emit(&DecodeCtx::default(), &mut hs)
        .unwrap();
    sp.handle_connected(t0, conn, local, remote).unwrap();
    sp.handle_stream_data(t0, conn, &hs).unwrap();
    let mut now = t0;
    for (dt, input) in inputs.into_iter().take(200) {
        now += Duration::from_millis(u64::from(dt) * 10);
        match input {
            Input::Data(d) => {
                let _ = sp.handle_stream_data(now, conn, &d);
            }
            Input::Wait(s) => {
                now += Duration::from_secs(u64::from(s % 600));
                sp.handle_timeout(now);
            }
            Input::Close => sp.handle_closed(now, conn),
            Input::Reconnect => {
                conn = ConnId(conn.0 + 1);
                if sp.handle_connected(now, conn, local, remote).is_ok() {
                    let _ = sp.handle_stream_data(now, conn, &hs);
                }
            }
        }
        let mut tx = 0;
        while sp.poll_transmit().is_some() {
            tx += 1;
            assert!(tx < 100_000);
        }
        let mut ev = 0;
        while sp.poll_event().is_some() {
            ev += 1;
            assert!(ev <= 1 << 16);
        }
        if let Some(t) = sp.poll_timeout() {
            assert!(t + Duration::from_secs(1) >= now - Duration::from_secs(1) || t <= now);
        }
        assert!(
            sp.neighbor_state(peer).is_some(),
            "configured neighbor never disappears"
        );
        assert!(sp.loc_rib().len() <= 100_000);
    }
});

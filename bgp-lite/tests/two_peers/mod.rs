//! One speaker with two established iBGP neighbors, driven through the public API: A (conn 1,
//! an ordinary peer) and B (conn 2, a route-reflector client), and the UPDATE streams the
//! tests feed it. Shared by `fib_events`, `flow_control` and `next_hop`.
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use bgp_lite::config::NeighborSettings;
use bgp_lite::wire::attr::{AsSegment, AttrValue, PathAttr, seg};
use bgp_lite::wire::{AsPath, DecodeCtx, Ipv4Prefix, Message, Open, Origin, Update};
use bgp_lite::{ConnId, IgpRoute, Speaker, SpeakerConfig};

/// Neighbor A, connection 1.
pub const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Neighbor B (route-reflector client), connection 2.
pub const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

/// The one clock read of these tests.
#[allow(clippy::disallowed_methods, reason = "the one clock read")]
pub fn epoch() -> Instant {
    Instant::now()
}

pub fn bytes(m: &Message) -> Vec<u8> {
    m.to_bytes(&DecodeCtx::default()).unwrap()
}

/// Prefix `i`: /24s from 10.0.0.0 up.
pub fn prefix(i: u32) -> Ipv4Prefix {
    Ipv4Prefix::new(Ipv4Addr::from(0x0a00_0000 + i * 256), 24).unwrap()
}

/// A route of the caller's table, metric 10.
pub fn route(p: &str) -> IgpRoute {
    IgpRoute {
        prefix: p.parse().unwrap(),
        metric: 10,
    }
}

/// The speaker with A and B established and everything drained. With `table`, next-hop
/// checking is on and the table is installed before the sessions come up.
pub fn setup(now: Instant, table: Option<Vec<IgpRoute>>) -> Speaker {
    let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1));
    c.next_hop_check = table.is_some();
    let mut a = NeighborSettings::ibgp(65001);
    a.passive = true;
    let mut b = a.clone();
    b.route_reflector_client = true;
    c.neighbors.insert(IpAddr::V4(A), a);
    c.neighbors.insert(IpAddr::V4(B), b);
    let mut sp = Speaker::new(c, now).unwrap();
    if let Some(t) = table {
        sp.set_route_table(now, t);
    }
    for (conn, ip) in [(ConnId(1), A), (ConnId(2), B)] {
        sp.handle_connected(
            now,
            conn,
            "10.0.0.1:179".parse().unwrap(),
            SocketAddr::new(IpAddr::V4(ip), 50000),
        )
        .unwrap();
        let mut hs = bytes(&Message::Open(Open::new(65001, 180, ip)));
        hs.extend(bytes(&Message::Keepalive));
        sp.handle_stream_data(now, conn, &hs).unwrap();
    }
    while sp.poll_transmit().is_some() {}
    while sp.poll_event().is_some() {}
    sp
}

/// What an UPDATE stream carries: withdrawals, or announcements with a next hop and an
/// optional LOCAL_PREF (ORIGIN IGP, AS_PATH 65010).
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Withdraw,
    Announce {
        next_hop: Ipv4Addr,
        local_pref: Option<u32>,
    },
}

/// UPDATEs carrying `change` for prefixes `ids`, `per_update` prefixes per UPDATE.
pub fn updates(ids: impl IntoIterator<Item = u32>, change: Change, per_update: usize) -> Vec<u8> {
    let all: Vec<Ipv4Prefix> = ids.into_iter().map(prefix).collect();
    let mut out = Vec::new();
    for ps in all.chunks(per_update.max(1)) {
        let u = match change {
            Change::Withdraw => Update {
                withdrawn: ps.to_vec(),
                ..Default::default()
            },
            Change::Announce {
                next_hop,
                local_pref,
            } => {
                let mut attrs = vec![
                    PathAttr::new(AttrValue::Origin(Origin::Igp)),
                    PathAttr::new(AttrValue::AsPath(AsPath {
                        segments: vec![AsSegment {
                            ty: seg::SEQUENCE,
                            asns: vec![65010],
                        }],
                    })),
                    PathAttr::new(AttrValue::NextHop(next_hop)),
                ];
                attrs.extend(local_pref.map(|lp| PathAttr::new(AttrValue::LocalPref(lp))));
                Update {
                    attrs,
                    nlri: ps.to_vec(),
                    ..Default::default()
                }
            }
        };
        Message::Update(u)
            .emit(&DecodeCtx::default(), &mut out)
            .unwrap();
    }
    out
}

//! Hand-built vectors (see tests/data/README.md): parse to the expected values and re-encode
//! byte for byte.

use std::net::Ipv4Addr;

use nhrp::Packet;
use nhrp::wire::{Body, ErrorCode, ExtValue, MessageKind, PacketType};

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn roundtrip(name: &str) -> Packet {
    let b = load(name);
    let p = Packet::parse(&b).unwrap();
    assert_eq!(p.emit().unwrap(), b, "{name}");
    p
}

#[test]
fn resolution_request() {
    let p = roundtrip("resolution_request.bin");
    assert_eq!(
        p.mandatory.dst_proto.ipv4(),
        Some(Ipv4Addr::new(192, 168, 2, 7))
    );
    let Body::Message(m) = &p.mandatory.body else {
        panic!()
    };
    assert_eq!(
        (m.kind, m.flags, m.request_id),
        (MessageKind::ResolutionRequest, 0xc802, 42)
    );
    assert_eq!(
        (m.cies[0].prefix_len, m.cies[0].mtu, m.cies[0].holding_time),
        (0xff, 1400, 7200)
    );
    let exts = p.extensions.unwrap();
    assert_eq!(exts.len(), 5);
    assert!(exts[0].compulsory && !exts[3].compulsory);
    assert_eq!(exts[3].value, ExtValue::NatAddress(vec![]));
}

#[test]
fn resolution_reply() {
    let p = roundtrip("resolution_reply.bin");
    let Body::Message(m) = &p.mandatory.body else {
        panic!()
    };
    assert_eq!(m.cies[0].prefix_len, 24);
    assert_eq!(m.cies[0].nbma.ipv4(), Some(Ipv4Addr::new(172, 16, 2, 2)));
    assert_eq!(m.cies[0].proto.ipv4(), Some(Ipv4Addr::new(10, 1, 1, 177)));
}

#[test]
fn traffic_indication() {
    let p = roundtrip("traffic_indication.bin");
    assert_eq!(p.packet_type(), PacketType::TRAFFIC_INDICATION);
    let Body::TrafficIndication(t) = &p.mandatory.body else {
        panic!()
    };
    assert_eq!(
        t.quoted_ipv4(),
        Some((Ipv4Addr::new(192, 168, 1, 5), Ipv4Addr::new(192, 168, 2, 7)))
    );
}

#[test]
fn error_indication() {
    let p = roundtrip("error_indication.bin");
    let Body::ErrorIndication(e) = &p.mandatory.body else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::LOOP_DETECTED);
    assert_eq!(e.contents, load("resolution_request.bin"));
}

#[test]
fn every_truncation_fails() {
    for name in [
        "resolution_request.bin",
        "resolution_reply.bin",
        "traffic_indication.bin",
        "error_indication.bin",
    ] {
        let b = load(name);
        for n in 0..b.len() {
            assert!(Packet::parse(&b[..n]).is_err(), "{name} {n}");
        }
    }
}

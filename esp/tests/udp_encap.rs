//! ESP-in-UDP (RFC 3948): a sealed packet inside a UDP datagram to port 4500, sorted from IKE
//! and keepalives on receipt, opened.

mod common;

use bytes::BytesMut;
use esp::udp_encap::{self, Classified, ESP_IN_UDP_PORT, NAT_KEEPALIVE, UdpHeader};

#[test]
fn esp_in_udp_roundtrip() {
    let (mut tx, mut rx) = common::pair(0x4500, &[0x45; 36], |p| p);
    let mut esp = BytesMut::from(&b"inner"[..]);
    tx.seal(&mut esp, 47).unwrap();
    let mut dgram = BytesMut::new();
    udp_encap::encode_udp(ESP_IN_UDP_PORT, ESP_IN_UDP_PORT, &esp, &mut dgram).unwrap();
    let (hdr, payload) = UdpHeader::parse(&dgram).unwrap();
    assert_eq!((hdr.dst_port, hdr.checksum), (4500, 0));
    let Ok(Classified::Esp(packet)) = udp_encap::classify(payload) else {
        panic!("not classified as esp")
    };
    let mut buf = BytesMut::from(packet);
    rx.open(&mut buf).unwrap();
    assert_eq!(&buf[..], b"inner");

    // IKE with the marker, and a keepalive, on the same port.
    let mut ike = BytesMut::new();
    udp_encap::encode_ike(&[0x21; 28], &mut ike);
    assert_eq!(
        udp_encap::classify(&ike),
        Ok(Classified::Ike(&[0x21; 28][..]))
    );
    assert_eq!(
        udp_encap::classify(&NAT_KEEPALIVE),
        Ok(Classified::NatKeepalive)
    );
}

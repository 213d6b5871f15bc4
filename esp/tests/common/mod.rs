//! Helpers shared by the integration tests: vector files, SA pairs.
#![allow(dead_code, unreachable_pub)]

use esp::{Backend, InboundSa, OutboundSa, SaKey, SaParams};

/// One `case N` block of a vector file in `tests/data/`: `name hex` lines, "-" for empty.
pub struct Case {
    pub name: String,
    fields: Vec<(String, Vec<u8>)>,
}

impl Case {
    pub fn get(&self, name: &str) -> &[u8] {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_else(|| panic!("case {}: no field {name}", self.name))
    }
}

pub fn cases(text: &str) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(' ').expect("name value");
        if name == "case" {
            out.push(Case {
                name: value.to_string(),
                fields: Vec::new(),
            });
        } else {
            let bytes = if value == "-" {
                Vec::new()
            } else {
                hex::decode(value).expect("hex")
            };
            out.last_mut()
                .expect("case first")
                .fields
                .push((name.to_string(), bytes));
        }
    }
    out
}

/// Every backend this CPU can run.
pub fn backends() -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
}

/// A matching outbound/inbound pair from one KEYMAT, after `f` adjusts the parameters.
pub fn pair(spi: u32, keymat: &[u8], f: impl Fn(SaParams) -> SaParams) -> (OutboundSa, InboundSa) {
    let p = |k| f(SaParams::new(spi, k));
    let tx = OutboundSa::new(p(SaKey::from_keymat(keymat).unwrap())).unwrap();
    let rx = InboundSa::new(p(SaKey::from_keymat(keymat).unwrap())).unwrap();
    (tx, rx)
}

/// An IPv4 header (20 bytes, no options, checksum computed) followed by `payload`.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("fits an IPv4 packet");
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let sum = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// A UDP datagram (checksum 0) with `payload`.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    esp::udp_encap::encode_udp(sport, dport, payload, &mut out).expect("udp fits");
    out.to_vec()
}

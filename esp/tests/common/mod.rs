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

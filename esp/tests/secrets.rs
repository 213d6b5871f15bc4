//! Key material never shows in `Debug` output (STYLE 4.7).

use esp::{Gcm, InboundSa, OutboundSa, SaKey, SaParams, Sad};

#[test]
fn debug_never_prints_keys() {
    let keymat: Vec<u8> = (0..36u8).map(|i| 0xa0 ^ i.wrapping_mul(7)).collect();
    let (key, salt) = keymat.split_at(32);
    let needles = [
        hex::encode(key),
        hex::encode(salt),
        hex::encode(&key[..8]),
        hex::encode_upper(&key[..8]),
        format!("{:?}", &key[..4])
            .trim_matches(['[', ']'])
            .to_string(),
        format!("{:?}", salt).trim_matches(['[', ']']).to_string(),
        format!("{:x?}", &key[..4])
            .trim_matches(['[', ']'])
            .to_string(),
    ];
    let params = || SaParams::from_keymat(0x1234, &keymat).unwrap();
    let mut sad = Sad::new();
    sad.insert_inbound(InboundSa::new(params()).unwrap())
        .unwrap();
    sad.insert_outbound(OutboundSa::new(params()).unwrap())
        .unwrap();
    let outputs = [
        format!("{:?}", SaKey::from_keymat(&keymat).unwrap()),
        format!("{:#?}", params()),
        format!("{:?}", OutboundSa::new(params()).unwrap()),
        format!("{:?}", InboundSa::new(params()).unwrap()),
        format!("{:#?}", sad),
        format!("{:?}", Gcm::new(key, esp::Backend::best()).unwrap()),
    ];
    for out in &outputs {
        assert!(out.contains("redacted") || out.contains("Sad"), "{out}");
        for n in &needles {
            assert!(
                !out.to_lowercase().contains(&n.to_lowercase()),
                "{n} in {out}"
            );
        }
    }
}

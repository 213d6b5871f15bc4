//! Inputs found by the fuzz targets, kept as tests (fuzz/README.md). Each names what it broke.

use ikev2::wire::{
    CfgType, ConfigAttribute, ConfigAttributeType, Configuration, ExchangeType, Flags, Header,
    IdType, Identification, Message, Payload, SaPayload,
};

fn header(minor_version: u8) -> Header {
    Header {
        spi_i: 0x15e9_0c6c_7a0a_2301,
        spi_r: 46,
        minor_version,
        exchange: ExchangeType::INFORMATIONAL,
        flags: Flags::new(true, false),
        message_id: 2,
    }
}

/// Whether `m` round-trips, or `emit` refuses it: what the `ikev2::wire` contract promises.
fn roundtrips_or_refused(m: &Message) -> bool {
    match m.emit() {
        Err(_) => true,
        Ok(b) => Message::parse(&b).is_ok_and(|p| p == *m),
    }
}

/// ikev2_message_value_roundtrip: the minor version is a 4-bit field; 247 was emitted as 7.
#[test]
fn minor_version_above_15_does_not_round_trip() {
    let m = Message {
        header: header(247),
        payloads: vec![],
    };
    assert!(roundtrips_or_refused(&m));
}

/// ikev2_message_value_roundtrip: a CP attribute type is 15 bits; 0x8fb7 came back as 0x0fb7
/// (the top bit is the reserved bit on the wire).
#[test]
fn cp_attribute_type_above_0x7fff_does_not_round_trip() {
    let m = Message {
        header: header(0),
        payloads: vec![Payload::Cp(Configuration {
            cfg_type: CfgType(0x23),
            attributes: vec![ConfigAttribute {
                ty: ConfigAttributeType(0x8fb7),
                value: vec![],
            }],
        })],
    };
    assert!(roundtrips_or_refused(&m));
}

/// ikev2_message_value_roundtrip: `emit` writes values `parse` refuses (an SA payload without
/// proposals; an IPv4 identification of one byte).
#[test]
fn emit_accepts_values_parse_refuses() {
    let empty_sa = Message {
        header: header(0),
        payloads: vec![Payload::Sa(SaPayload { proposals: vec![] })],
    };
    assert!(roundtrips_or_refused(&empty_sa));
    let short_id = Message {
        header: header(0),
        payloads: vec![Payload::IdR(Identification {
            ty: IdType::IPV4_ADDR,
            data: vec![0],
        })],
    };
    assert!(roundtrips_or_refused(&short_id));
}

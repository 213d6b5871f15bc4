//! ikev2_cp_reply (*_parse): a CP payload body parsed and read as an initiator reads a
//! CFG_REPLY never panics; every value it reports is there in the payload byte for byte,
//! and nothing is reported from a payload that is not a reply.
#![no_main]

use ikev2::wire::{CfgType, ConfigAttributeType as T, Configuration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = Configuration::parse(data) else {
        return;
    };
    let r = ikev2::fuzzing::read_cp_reply(&c);
    let has = |ty: T, v: &[u8]| c.attributes.iter().any(|a| a.ty == ty && a.value == v);
    if c.cfg_type != CfgType::CFG_REPLY {
        assert_eq!(
            r,
            ikev2::InternalConfig::default(),
            "read from {:?}",
            c.cfg_type
        );
        return;
    }
    if let Some(a) = r.address {
        assert!(has(T::INTERNAL_IP4_ADDRESS, &a.octets()));
    }
    if let Some(m) = r.netmask {
        assert!(has(T::INTERNAL_IP4_NETMASK, &m.octets()));
    }
    let dns = c
        .attributes
        .iter()
        .filter(|a| a.ty == T::INTERNAL_IP4_DNS && a.value.len() == 4)
        .count();
    assert_eq!(r.dns.len(), dns);
    for d in &r.dns {
        assert!(has(T::INTERNAL_IP4_DNS, &d.octets()));
    }
    for (x, m) in &r.subnets {
        assert!(has(
            T::INTERNAL_IP4_SUBNET,
            &[x.octets(), m.octets()].concat()
        ));
    }
    if let Some((a, p)) = r.address6 {
        assert!(p <= 128);
        let mut v = a.octets().to_vec();
        v.push(p);
        assert!(has(T::INTERNAL_IP6_ADDRESS, &v));
    }
});

//! Building and choosing SA proposals, and traffic selector narrowing (RFC 7296
//! sections 2.7 and 2.9).

use crate::config::{EspSuite, IkeSuite};
use crate::crypto::{DhGroup, EncrAlg, IntegAlg, PrfAlg};
use crate::wire::{
    self, EsnId, Proposal, ProtocolId, SaPayload, TrafficSelector, Transform, TransformType,
};

fn encr_transform(e: EncrAlg) -> Transform {
    Transform::encr(wire::EncrId(e.transform_id()), e.key_bits())
}

/// One IKE proposal per suite, numbered from 1.
pub(crate) fn ike_sa_payload(suites: &[IkeSuite], spi: &[u8]) -> SaPayload {
    let proposals = suites
        .iter()
        .zip(1u8..)
        .map(|(s, num)| {
            let mut transforms = vec![encr_transform(s.encr)];
            if s.integ != IntegAlg::None {
                transforms.push(Transform::new(TransformType::INTEG, s.integ.transform_id()));
            }
            transforms.push(Transform::new(TransformType::PRF, s.prf.transform_id()));
            transforms.push(Transform::new(TransformType::DH, s.dh.transform_id()));
            Proposal {
                num,
                protocol: ProtocolId::IKE,
                spi: spi.to_vec(),
                transforms,
            }
        })
        .collect();
    SaPayload { proposals }
}

/// One ESP proposal per suite, numbered from 1; `pfs` adds the suite's DH group.
pub(crate) fn esp_sa_payload(suites: &[EspSuite], spi: u32, pfs: bool) -> SaPayload {
    let proposals = suites
        .iter()
        .zip(1u8..)
        .map(|(s, num)| esp_proposal(s, num, spi, pfs))
        .collect();
    SaPayload { proposals }
}

pub(crate) fn esp_proposal(s: &EspSuite, num: u8, spi: u32, pfs: bool) -> Proposal {
    let mut transforms = vec![encr_transform(s.encr)];
    if s.integ != IntegAlg::None {
        transforms.push(Transform::new(TransformType::INTEG, s.integ.transform_id()));
    }
    if pfs && let Some(g) = s.pfs {
        transforms.push(Transform::new(TransformType::DH, g.transform_id()));
    }
    let esn = if s.esn { EsnId::ESN } else { EsnId::NO_ESN };
    transforms.push(Transform::new(TransformType::ESN, esn.0));
    Proposal {
        num,
        protocol: ProtocolId::ESP,
        spi: spi.to_be_bytes().to_vec(),
        transforms,
    }
}

fn has(p: &Proposal, ty: TransformType, id: u16, key_bits: Option<u16>) -> bool {
    p.of_type(ty)
        .any(|t| t.id == id && (key_bits.is_none() || t.key_length() == key_bits))
}

fn integ_ok(p: &Proposal, integ: IntegAlg) -> bool {
    if integ == IntegAlg::None {
        // An AEAD proposal carries no INTEG transform, or INTEG NONE.
        p.of_type(TransformType::INTEG).all(|t| t.id == 0)
    } else {
        has(p, TransformType::INTEG, integ.transform_id(), None)
    }
}

/// Does IKE proposal `p` allow `s`?
pub(crate) fn ike_matches(p: &Proposal, s: &IkeSuite) -> bool {
    p.protocol == ProtocolId::IKE
        && has(
            p,
            TransformType::ENCR,
            s.encr.transform_id(),
            Some(s.encr.key_bits()),
        )
        && integ_ok(p, s.integ)
        && has(p, TransformType::PRF, s.prf.transform_id(), None)
        && has(p, TransformType::DH, s.dh.transform_id(), None)
}

/// Responder choice for IKE: the first of the peer's proposals (its order) that one of our
/// suites allows, preferring one whose group is `ke_group`. Returns the proposal number and
/// the suite.
pub(crate) fn choose_ike(
    peer: &SaPayload,
    ours: &[IkeSuite],
    ke_group: Option<u16>,
) -> Option<(u8, IkeSuite)> {
    let all = || {
        peer.proposals.iter().flat_map(|p| {
            ours.iter()
                .filter(|s| ike_matches(p, s))
                .map(|s| (p.num, *s))
        })
    };
    all()
        .find(|(_, s)| Some(s.dh.transform_id()) == ke_group)
        .or_else(|| all().next())
}

/// The single-transform proposal that answers with `s`.
pub(crate) fn ike_answer(num: u8, s: &IkeSuite, spi: &[u8]) -> SaPayload {
    let mut p = ike_sa_payload(core::slice::from_ref(s), spi);
    if let Some(x) = p.proposals.first_mut() {
        x.num = num;
    }
    p
}

/// Reads the suite out of a single-proposal IKE SA payload (an answer).
pub(crate) fn ike_suite_of(p: &Proposal) -> Option<IkeSuite> {
    let e = p.first(TransformType::ENCR)?;
    let encr = EncrAlg::from_transform(e.id, e.key_length()?)?;
    let integ = match p.first(TransformType::INTEG) {
        Some(t) => IntegAlg::from_transform_id(t.id)?,
        None => IntegAlg::None,
    };
    let prf = PrfAlg::from_transform_id(p.first(TransformType::PRF)?.id)?;
    let dh = DhGroup::from_transform_id(p.first(TransformType::DH)?.id)?;
    Some(IkeSuite {
        encr,
        integ,
        prf,
        dh,
    })
}

/// Does ESP proposal `p` allow `s` (with PFS group `pfs` required when Some)?
pub(crate) fn esp_matches(p: &Proposal, s: &EspSuite, pfs: Option<DhGroup>) -> bool {
    let esn = if s.esn { EsnId::ESN } else { EsnId::NO_ESN };
    let esn_ok = if p.first(TransformType::ESN).is_some() {
        has(p, TransformType::ESN, esn.0, None)
    } else {
        !s.esn
    };
    let dh_ok = match pfs {
        Some(g) => has(p, TransformType::DH, g.transform_id(), None),
        None => p.of_type(TransformType::DH).all(|t| t.id == 0),
    };
    p.protocol == ProtocolId::ESP
        && p.spi.len() == 4
        && has(
            p,
            TransformType::ENCR,
            s.encr.transform_id(),
            Some(s.encr.key_bits()),
        )
        && integ_ok(p, s.integ)
        && esn_ok
        && dh_ok
}

/// Responder choice for ESP: the first peer proposal one of our suites allows. `ke_group`
/// is the group of a KE payload in CREATE_CHILD_SA (PFS), if any.
pub(crate) fn choose_esp(
    peer: &SaPayload,
    ours: &[EspSuite],
    ke_group: Option<DhGroup>,
) -> Option<(Proposal, EspSuite)> {
    peer.proposals.iter().find_map(|p| {
        ours.iter()
            .find(|s| esp_matches(p, s, ke_group))
            .map(|s| (p.clone(), *s))
    })
}

/// Reads the ESP suite out of an answer proposal; returns it with the peer's SPI.
pub(crate) fn esp_suite_of(p: &Proposal) -> Option<(EspSuite, u32, Option<DhGroup>)> {
    let e = p.first(TransformType::ENCR)?;
    let encr = EncrAlg::from_transform(e.id, e.key_length()?)?;
    let integ = match p.first(TransformType::INTEG) {
        Some(t) => IntegAlg::from_transform_id(t.id)?,
        None => IntegAlg::None,
    };
    let esn = p.first(TransformType::ESN).is_some_and(|t| t.id == 1);
    let dh = match p.first(TransformType::DH) {
        Some(t) if t.id != 0 => Some(DhGroup::from_transform_id(t.id)?),
        _ => None,
    };
    let spi = u32::from_be_bytes(p.spi.as_slice().try_into().ok()?);
    if p.protocol != ProtocolId::ESP {
        return None;
    }
    Some((
        EspSuite {
            encr,
            integ,
            esn,
            pfs: dh,
        },
        spi,
        dh,
    ))
}

/// Narrows the peer's selectors to what `allowed` permits (RFC 7296 section 2.9).
pub(crate) fn narrow(
    peer: &[TrafficSelector],
    allowed: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for p in peer {
        for a in allowed {
            if let Some(x) = p.intersect(a)
                && !out.contains(&x)
            {
                out.push(x);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SaPolicy;
    use crate::wire::Identification;

    #[test]
    fn choose_prefers_ke_group() {
        let ours = SaPolicy::new(Identification::fqdn("a")).ike_proposals;
        let offer = ike_sa_payload(&ours, &[]);
        let (num, s) = choose_ike(&offer, &ours, Some(19)).unwrap();
        assert_eq!((num, s.dh), (2, DhGroup::Ecp256));
        let (num, s) = choose_ike(&offer, &ours[2..], Some(19)).unwrap();
        assert_eq!((num, s.dh), (3, DhGroup::Modp2048));
        let ans = ike_answer(3, &s, &[]);
        assert_eq!(ike_suite_of(&ans.proposals[0]), Some(s));
    }

    #[test]
    fn esp_roundtrip() {
        let s = EspSuite::AES256GCM16;
        let offer = esp_sa_payload(&[s], 0x1234_5678, false);
        let (p, chosen) = choose_esp(&offer, &[s], None).unwrap();
        assert_eq!(chosen, s);
        assert_eq!(esp_suite_of(&p).unwrap().1, 0x1234_5678);
        let cbc = EspSuite {
            encr: EncrAlg::AesCbc256,
            integ: IntegAlg::HmacSha256_128,
            esn: false,
            pfs: None,
        };
        assert!(choose_esp(&offer, &[cbc], None).is_none());
    }
}

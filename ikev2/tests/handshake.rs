//! IKE_SA_INIT + IKE_AUTH between our initiator and our responder.

mod common;

use std::time::Duration;

use common::*;
use ikev2::crypto::{DhGroup, EncrAlg, IntegAlg, PrfAlg};
use ikev2::wire::{Identification, TrafficSelector};
use ikev2::{Error, Event, IkeSuite, Mode, Psk};

fn child_events(ev: &[(Duration, Event)]) -> Vec<&Event> {
    ev.iter()
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::ChildSaInstalled { .. }))
        .collect()
}

#[track_caller]
fn assert_children_match(p: &Pair) {
    let a = child_events(&p.events_a);
    let b = child_events(&p.events_b);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b.iter()) {
        let (
            Event::ChildSaInstalled {
                spi_in: ai,
                spi_out: ao,
                keys: ak,
                mode: am,
                ..
            },
            Event::ChildSaInstalled {
                spi_in: bi,
                spi_out: bo,
                keys: bk,
                mode: bm,
                ..
            },
        ) = (x, y)
        else {
            unreachable!()
        };
        assert_eq!(ai, bo);
        assert_eq!(ao, bi);
        assert_eq!(am, bm);
        assert_eq!(ak.encr_out.as_bytes(), bk.encr_in.as_bytes());
        assert_eq!(ak.encr_in.as_bytes(), bk.encr_out.as_bytes());
        assert_ne!(ak.encr_in.as_bytes(), ak.encr_out.as_bytes());
        assert_eq!(ak.encr_out.len(), 36);
    }
}

#[test]
fn psk_handshake_assigns_pool_address() {
    let mut p = Pair::new(1, responder_config(hub_policy()));
    let h = p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.settle();
    let Some((
        _,
        Event::IkeSaEstablished {
            assigned_address,
            peer_id,
            initiator,
            ..
        },
    )) = p
        .events_a
        .iter()
        .find(|(_, e)| matches!(e, Event::IkeSaEstablished { .. }))
    else {
        panic!("a not established: {:?}", p.events_a)
    };
    assert!(*initiator);
    assert_eq!(*assigned_address, Some("10.1.1.100".parse().unwrap()));
    assert_eq!(*peer_id, Identification::fqdn("hub.example"));
    assert!(p.b_has(|e| matches!(e, Event::IkeSaEstablished {
        assigned_address: Some(a), peer_id, ..
    } if a.octets() == [10, 1, 1, 100] && *peer_id == Identification::key_id(b"spoke1"))));
    assert_children_match(&p);
    let Event::ChildSaInstalled {
        ts_local,
        mode,
        udp_encap,
        ..
    } = child_events(&p.events_a)[0]
    else {
        unreachable!()
    };
    assert_eq!(
        ts_local,
        &vec![TrafficSelector::host_v4("10.1.1.100".parse().unwrap())]
    );
    assert_eq!(*mode, Mode::Tunnel);
    assert_eq!(*udp_encap, None, "no NAT on this link");
    let info = p.a.sa_info(h).unwrap();
    assert_eq!(info.state, "Established");
    assert_eq!(p.b.pool_in_use(), 1);
    assert_eq!(p.b.half_open(), 0);
    // 4 datagrams: no retransmission on a clean link.
    assert_eq!(p.transcript.len(), 4);
    // Seeds for the fuzz corpus: IKEV2_DUMP_SEEDS=<dir> cargo test -p ikev2 --test handshake
    if let Some(dir) = std::env::var_os("IKEV2_DUMP_SEEDS") {
        for (i, (_, _, b)) in p.transcript.iter().enumerate() {
            std::fs::write(std::path::Path::new(&dir).join(format!("msg{i}.bin")), b).unwrap();
        }
    }
}

#[test]
fn second_spoke_gets_next_address_and_release_on_delete() {
    let mut p = Pair::new(2, responder_config(hub_policy()));
    let mut c1 = p.peer_config(spoke_policy());
    c1.initial_contact = false;
    let h1 = p.a.connect(p.now, c1.clone()).unwrap();
    p.settle();
    let mut c2 = c1;
    c2.policy.local_id = Identification::key_id(b"spoke2");
    p.a.connect(p.now, c2).unwrap();
    p.settle();
    let addrs: Vec<_> = p
        .events_a
        .iter()
        .filter_map(|(_, e)| match e {
            Event::IkeSaEstablished {
                assigned_address, ..
            } => *assigned_address,
            _ => None,
        })
        .collect();
    assert_eq!(
        addrs,
        [
            "10.1.1.100".parse::<std::net::Ipv4Addr>().unwrap(),
            "10.1.1.101".parse().unwrap()
        ]
    );
    assert_eq!(p.b.pool_in_use(), 2);
    p.a.close(p.now, h1).unwrap();
    p.settle();
    assert_eq!(p.b.pool_in_use(), 1);
    assert!(p.a_has(|e| matches!(e, Event::IkeSaDeleted { .. })));
    assert!(p.b_has(|e| matches!(e, Event::IkeSaDeleted { .. })));
    assert!(p.b_has(|e| matches!(e, Event::ChildSaDeleted { .. })));
}

#[test]
fn wrong_psk_fails_cleanly_on_both_sides() {
    let mut p = Pair::new(3, responder_config(hub_policy()));
    let mut c = p.peer_config(spoke_policy());
    c.psk = Psk::new(b"not-cisco");
    p.a.connect(p.now, c).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(
        e,
        Event::IkeSaFailed {
            reason: Error::AuthenticationFailed,
            ..
        }
    )));
    assert!(p.b_has(|e| matches!(
        e,
        Event::IkeSaFailed {
            reason: Error::AuthenticationFailed,
            ..
        }
    )));
    assert!(!p.a_has(|e| matches!(e, Event::ChildSaInstalled { .. })));
    assert_eq!(p.b.pool_in_use(), 0);
    assert!(p.a.handles().is_empty() && p.b.handles().is_empty());
    // RFC 7296 section 2.21.2: the responder answered IKE_AUTH (with AUTHENTICATION_FAILED,
    // the only thing the initiator can turn into this reason), so the initiator failed at
    // once rather than after its retransmission budget: 4 datagrams, the failure within one
    // round trip of the IKE_AUTH request.
    assert_eq!(p.transcript.len(), 4, "no retransmission");
    assert!(
        !p.transcript[3].1,
        "the 4th datagram is the responder's answer"
    );
    let (t_fail, _) = p
        .events_a
        .iter()
        .find(|(_, e)| matches!(e, Event::IkeSaFailed { .. }))
        .unwrap();
    assert!(*t_fail < Duration::from_millis(100), "{t_fail:?}");
    assert_eq!(p.b.half_open(), 0, "the half-made SA is dropped");
}

#[test]
fn invalid_ke_retry_in_requested_group() {
    let mut hub = hub_policy();
    hub.ike_proposals = vec![IkeSuite::gcm(
        EncrAlg::AesGcm16_256,
        PrfAlg::HmacSha256,
        DhGroup::Ecp256,
    )];
    let mut p = Pair::new(4, responder_config(hub));
    p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.settle();
    assert_eq!(p.b.stats().invalid_ke_sent, 1);
    assert!(p.a_has(|e| matches!(e, Event::IkeSaEstablished { .. })));
    assert_children_match(&p);
}

#[test]
fn no_common_proposal_fails() {
    let mut hub = hub_policy();
    hub.ike_proposals = vec![IkeSuite {
        encr: EncrAlg::AesCbc256,
        integ: IntegAlg::HmacSha256_128,
        prf: PrfAlg::HmacSha384,
        dh: DhGroup::Modp2048,
    }];
    let mut p = Pair::new(5, responder_config(hub));
    p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.settle();
    assert_eq!(p.b.stats().no_proposal_sent, 1);
    assert!(p.a_has(|e| matches!(
        e,
        Event::IkeSaFailed {
            reason: Error::NoProposalChosen,
            ..
        }
    )));
}

#[test]
fn cbc_suites_and_every_prf_and_group() {
    for (i, prf) in [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512]
        .into_iter()
        .enumerate()
    {
        for (j, dh) in [DhGroup::Modp2048, DhGroup::Ecp256, DhGroup::Curve25519]
            .into_iter()
            .enumerate()
        {
            for encr in [EncrAlg::AesGcm16_128, EncrAlg::AesCbc256] {
                let integ = if encr.is_aead() {
                    IntegAlg::None
                } else {
                    IntegAlg::HmacSha256_128
                };
                let suite = IkeSuite {
                    encr,
                    integ,
                    prf,
                    dh,
                };
                let mut hub = hub_policy();
                hub.ike_proposals = vec![suite];
                hub.esp_proposals = vec![ikev2::EspSuite {
                    encr,
                    integ,
                    esn: false,
                    pfs: None,
                }];
                let mut spoke = spoke_policy();
                spoke.ike_proposals = vec![suite];
                spoke.esp_proposals = hub.esp_proposals.clone();
                let mut p = Pair::new(100 + (i * 10 + j) as u64, responder_config(hub));
                p.a.connect(p.now, p.peer_config(spoke)).unwrap();
                p.settle();
                assert!(
                    p.a_has(|e| matches!(e, Event::IkeSaEstablished { .. })),
                    "{suite:?}"
                );
                assert!(
                    p.a_has(|e| matches!(e, Event::ChildSaInstalled { .. })),
                    "{suite:?}"
                );
                assert!(
                    p.b_has(|e| matches!(e, Event::ChildSaInstalled { .. })),
                    "{suite:?}"
                );
            }
        }
    }
}

#[test]
fn transport_mode_end_to_end() {
    // The scenario's GRE over IPsec: transport mode, selectors = the underlay addresses,
    // protocol 47, and an inner address from the pool through CP at the same time.
    let gre = |a: &str| TrafficSelector {
        ip_proto: 47,
        ..TrafficSelector::host_v4(a.parse().unwrap())
    };
    let gre_any = TrafficSelector {
        ip_proto: 47,
        ..TrafficSelector::any_v4()
    };
    let mut hub = hub_policy();
    hub.mode = Mode::Transport;
    hub.ts_local = vec![gre("198.51.100.1")];
    hub.ts_remote = vec![gre_any];
    let mut spoke = spoke_policy();
    spoke.mode = Mode::Transport;
    spoke.ts_local = vec![gre("203.0.113.5")];
    spoke.ts_remote = vec![gre("198.51.100.1")];
    let mut p = Pair::new(6, responder_config(hub));
    p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    assert_children_match(&p);
    assert!(p.a_has(|e| matches!(
        e,
        Event::IkeSaEstablished {
            assigned_address: Some(_),
            ..
        }
    )));
    assert!(p.a_has(
        |e| matches!(e, Event::ChildSaInstalled { mode: Mode::Transport, ts_local, ts_remote, .. }
        if *ts_local == vec![gre("203.0.113.5")] && *ts_remote == vec![gre("198.51.100.1")])
    ));
    assert!(p.b_has(|e| matches!(
        e,
        Event::ChildSaInstalled {
            mode: Mode::Transport,
            ..
        }
    )));
    // A rekey keeps transport mode and the GRE selectors.
    let h = p.a.handles()[0];
    let spi = p.a.sa_info(h).unwrap().children[0].0;
    p.a.rekey_child(p.now, h, spi).unwrap();
    p.settle();
    assert!(p.b_has(|e| matches!(e, Event::ChildSaInstalled { mode: Mode::Transport, rekey_of: Some(_), ts_remote, .. }
        if *ts_remote == vec![gre("203.0.113.5")])));
}

#[test]
fn transport_refused_falls_back_to_tunnel() {
    let mut spoke = spoke_policy();
    spoke.mode = Mode::Transport;
    let mut p = Pair::new(7, responder_config(hub_policy()));
    p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(
        e,
        Event::ChildSaInstalled {
            mode: Mode::Tunnel,
            ..
        }
    )));
}

#[test]
fn ts_unacceptable_keeps_ike_sa() {
    let mut hub = hub_policy();
    hub.ts_local = vec![TrafficSelector::prefix_v4(
        "172.16.0.0".parse().unwrap(),
        16,
    )];
    let mut spoke = spoke_policy();
    spoke.ts_remote = vec![TrafficSelector::prefix_v4(
        "192.168.0.0".parse().unwrap(),
        16,
    )];
    let mut p = Pair::new(8, responder_config(hub));
    let h = p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    assert!(p.a_has(|e| matches!(e, Event::IkeSaEstablished { .. })));
    assert!(p.a_has(|e| matches!(
        e,
        Event::ChildSaFailed {
            reason: Error::TsUnacceptable,
            ..
        }
    )));
    assert!(p.b_has(|e| matches!(e, Event::ChildSaFailed { .. })));
    assert_eq!(p.a.sa_info(h).unwrap().state, "Established");
}

#[test]
fn narrowing_to_responder_subnet() {
    let mut hub = hub_policy();
    hub.ts_local = vec![TrafficSelector::prefix_v4(
        "172.16.0.0".parse().unwrap(),
        16,
    )];
    let mut p = Pair::new(9, responder_config(hub));
    p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.settle();
    assert!(
        p.a_has(|e| matches!(e, Event::ChildSaInstalled { ts_remote, .. }
        if *ts_remote == vec![TrafficSelector::prefix_v4("172.16.0.0".parse().unwrap(), 16)]))
    );
}

#[test]
fn lossy_link_retransmits_and_replays() {
    let mut p = Pair::new(10, responder_config(hub_policy()));
    p.loss_permille = 400;
    p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.run_for(Duration::from_secs(60));
    assert!(
        p.a_has(|e| matches!(e, Event::IkeSaEstablished { .. })),
        "{:?}",
        p.events_a
    );
    assert!(p.b_has(|e| matches!(e, Event::IkeSaEstablished { .. })));
    assert_children_match(&p);
    assert!(p.transcript.len() > 4);
}

#[test]
fn same_seed_same_transcript() {
    let run = || {
        let mut p = Pair::new(11, responder_config(hub_policy()));
        p.loss_permille = 200;
        p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
        p.run_for(Duration::from_secs(30));
        p.transcript
    };
    let (x, y) = (run(), run());
    assert!(!x.is_empty());
    assert_eq!(x, y);
}

#[test]
fn unreachable_responder_gives_up() {
    let mut p = Pair::new(12, responder_config(hub_policy()));
    p.cut = true;
    p.a.connect(p.now, p.peer_config(spoke_policy())).unwrap();
    p.run_for(Duration::from_secs(120));
    assert!(
        p.a_has(|e| matches!(
            e,
            Event::IkeSaFailed {
                reason: Error::Timeout,
                ..
            }
        )),
        "{:?} {}",
        p.events_a,
        p.transcript.len()
    );
    // 1 + 5 retransmissions.
    assert_eq!(p.transcript.len(), 6);
}

#[test]
fn fragmented_ike_auth_both_ways() {
    let mut hub = hub_policy();
    hub.fragment_size = Some(200);
    let mut spoke = spoke_policy();
    spoke.fragment_size = Some(200);
    let mut p = Pair::new(13, responder_config(hub));
    p.loss_permille = 0;
    let h = p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.settle();
    assert_children_match(&p);
    // IKE_AUTH went as several SKF messages each way, none above 200 bytes.
    let skf: Vec<_> = p
        .transcript
        .iter()
        .filter(|(_, _, b)| b.get(16) == Some(&53))
        .collect();
    assert!(
        skf.iter().filter(|(_, a, _)| *a).count() >= 2,
        "{}",
        p.transcript.len()
    );
    assert!(skf.iter().filter(|(_, a, _)| !*a).count() >= 2);
    assert!(skf.iter().all(|(_, _, b)| b.len() <= 200));
    // A fragmented request retransmitted after a lost response is answered once.
    p.a.dpd(p.now, h).unwrap();
    p.settle();
    assert!(!p.a_has(|e| matches!(e, Event::PeerDead { .. })));
}

#[test]
fn fragmented_with_loss() {
    let mut hub = hub_policy();
    hub.fragment_size = Some(150);
    let mut spoke = spoke_policy();
    spoke.fragment_size = Some(150);
    let mut p = Pair::new(14, responder_config(hub));
    p.loss_permille = 250;
    p.a.connect(p.now, p.peer_config(spoke)).unwrap();
    p.run_for(Duration::from_secs(60));
    assert_children_match(&p);
    assert!(
        p.a_has(|e| matches!(e, Event::ChildSaInstalled { .. })),
        "{:?}",
        p.events_a
    );
}

//! Redirect (RFC 5685) after IKE_SA_INIT: in the IKE_AUTH response (decided by identity)
//! and of an established SA by an INFORMATIONAL, between one spoke and two hubs.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use ikev2::wire::{Identification, Message, NotifyType, Payload};
use ikev2::{
    ApiError, AuthRedirect, DeleteReason, Endpoint, EndpointConfig, Event, PeerConfig, Psk,
    SaHandle,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const HUB1: Ipv4Addr = B_ADDR;
const HUB2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const SPOKE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

struct Net {
    now: Instant,
    spoke: Endpoint<ChaCha20Rng>,
    hubs: [Endpoint<ChaCha20Rng>; 2],
    ev_spoke: Vec<Event>,
    ev_hubs: [Vec<Event>; 2],
    /// Every IKE_SA_INIT request each hub received.
    inits: [Vec<Message>; 2],
}

fn hub_index(ip: IpAddr) -> usize {
    usize::from(ip == IpAddr::V4(HUB2))
}

impl Net {
    fn new(seed: u64, hub1: EndpointConfig) -> Self {
        let now = epoch();
        Self {
            now,
            spoke: Endpoint::new(EndpointConfig::new(), ChaCha20Rng::seed_from_u64(seed), now),
            hubs: [
                Endpoint::new(hub1, ChaCha20Rng::seed_from_u64(seed + 1), now),
                Endpoint::new(
                    responder_config(hub_policy()),
                    ChaCha20Rng::seed_from_u64(seed + 2),
                    now,
                ),
            ],
            ev_spoke: Vec::new(),
            ev_hubs: [Vec::new(), Vec::new()],
            inits: [Vec::new(), Vec::new()],
        }
    }

    fn peer(&self, id: &[u8]) -> PeerConfig {
        let mut policy = spoke_policy();
        policy.local_id = Identification::key_id(id);
        PeerConfig {
            remote: SocketAddr::new(IpAddr::V4(HUB1), 500),
            local: SocketAddr::new(IpAddr::V4(SPOKE), 500),
            psk: Psk::new(b"cisco"),
            remote_id: None,
            request_address: true,
            initial_contact: false,
            policy,
        }
    }

    /// Delivers datagrams until all three are quiet, 5 ms per round.
    fn settle(&mut self) {
        for _ in 0..50 {
            let mut moved = false;
            while let Some(t) = self.spoke.poll_transmit() {
                moved = true;
                let i = hub_index(t.remote.ip());
                if let Ok(m) = Message::parse(&t.payload)
                    && m.header.exchange == ikev2::wire::ExchangeType::IKE_SA_INIT
                {
                    self.inits[i].push(m);
                }
                let _ = self.hubs[i].handle_datagram(self.now, t.remote, t.local, &t.payload);
            }
            for hub in &mut self.hubs {
                while let Some(t) = hub.poll_transmit() {
                    moved = true;
                    let _ = self
                        .spoke
                        .handle_datagram(self.now, t.remote, t.local, &t.payload);
                }
            }
            while let Some(e) = self.spoke.poll_event() {
                self.ev_spoke.push(e);
            }
            for (hub, ev) in self.hubs.iter_mut().zip(&mut self.ev_hubs) {
                while let Some(e) = hub.poll_event() {
                    ev.push(e);
                }
            }
            self.now += Duration::from_millis(5);
            self.spoke.handle_timeout(self.now);
            for hub in &mut self.hubs {
                hub.handle_timeout(self.now);
            }
            if !moved {
                return;
            }
        }
    }

    fn established(&self, sa: SaHandle) -> Option<SocketAddr> {
        self.ev_spoke.iter().find_map(|e| match e {
            Event::IkeSaEstablished { sa: s, remote, .. } if *s == sa => Some(*remote),
            _ => None,
        })
    }
}

/// The REDIRECTED_FROM of an IKE_SA_INIT request: its GW identity (type 1, length 4).
fn redirected_from(m: &Message) -> Option<Vec<u8>> {
    m.payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty == NotifyType::REDIRECTED_FROM => Some(n.data.clone()),
        _ => None,
    })
}

fn hub1_with_auth_redirect() -> EndpointConfig {
    let mut policy = hub_policy();
    policy.auth_redirect = Some(AuthRedirect::by_identity(vec![(
        Identification::key_id(b"moved"),
        IpAddr::V4(HUB2),
    )]));
    responder_config(policy)
}

#[test]
fn ike_auth_redirect_by_identity_is_followed_to_the_new_gateway() {
    let mut n = Net::new(80, hub1_with_auth_redirect());
    let h = n.spoke.connect(n.now, n.peer(b"moved")).unwrap();
    n.settle();
    // The spoke followed the authenticated redirect and is up with hub 2, same handle.
    assert!(
        n.ev_spoke
            .iter()
            .any(|e| matches!(e, Event::Redirected { sa, from, to }
            if *sa == h && *from == IpAddr::V4(HUB1) && *to == IpAddr::V4(HUB2))),
        "{:?}",
        n.ev_spoke
    );
    assert_eq!(
        n.established(h),
        Some(SocketAddr::new(IpAddr::V4(HUB2), 500))
    );
    assert!(
        n.ev_spoke
            .iter()
            .any(|e| matches!(e, Event::ChildSaInstalled { sa, .. } if *sa == h))
    );
    assert_eq!(n.spoke.sa_info(h).unwrap().state, "Established");
    // Hub 1 authenticated it, redirected it and kept nothing: no SA, no Child SA, no address.
    assert!(
        n.ev_hubs[0]
            .iter()
            .any(|e| matches!(e, Event::RedirectSent { to, peer_id, .. }
        if *to == IpAddr::V4(HUB2) && *peer_id == Identification::key_id(b"moved")))
    );
    assert!(!n.ev_hubs[0].iter().any(|e| matches!(
        e,
        Event::IkeSaEstablished { .. } | Event::ChildSaInstalled { .. }
    )));
    assert!(n.hubs[0].handles().is_empty());
    assert_eq!(n.hubs[0].pool_in_use(), 0);
    assert_eq!(n.hubs[1].pool_in_use(), 1);
    // The new IKE_SA_INIT names the gateway we came from.
    assert_eq!(n.inits[1].len(), 1);
    assert_eq!(
        redirected_from(&n.inits[1][0]),
        Some([&[1u8, 4][..], &HUB1.octets()].concat())
    );
    assert_eq!(redirected_from(&n.inits[0][0]), None);
}

#[test]
fn ike_auth_redirect_spares_other_identities() {
    let mut n = Net::new(81, hub1_with_auth_redirect());
    let h = n.spoke.connect(n.now, n.peer(b"stays")).unwrap();
    n.settle();
    assert_eq!(
        n.established(h),
        Some(SocketAddr::new(IpAddr::V4(HUB1), 500))
    );
    assert!(
        !n.ev_spoke
            .iter()
            .any(|e| matches!(e, Event::Redirected { .. }))
    );
    assert!(n.inits[1].is_empty());
}

#[test]
fn ike_auth_redirect_needs_a_valid_auth() {
    // A hub with the wrong PSK: the spoke's AUTH fails there, so the hub answers
    // AUTHENTICATION_FAILED and never redirects.
    let mut cfg = hub1_with_auth_redirect();
    if let Some(r) = cfg.responder.as_mut() {
        r.psks = vec![(None, Psk::new(b"other"))];
    }
    let mut n = Net::new(82, cfg);
    let h = n.spoke.connect(n.now, n.peer(b"moved")).unwrap();
    n.settle();
    assert!(
        !n.ev_spoke
            .iter()
            .any(|e| matches!(e, Event::Redirected { .. }))
    );
    assert!(n.ev_spoke.iter().any(|e| matches!(e, Event::IkeSaFailed { sa, reason: ikev2::Error::AuthenticationFailed } if *sa == h)));
    assert!(n.inits[1].is_empty());
}

#[test]
fn gateway_redirect_of_an_established_sa() {
    let mut n = Net::new(83, responder_config(hub_policy()));
    let h = n.spoke.connect(n.now, n.peer(b"spoke1")).unwrap();
    n.settle();
    assert_eq!(
        n.established(h),
        Some(SocketAddr::new(IpAddr::V4(HUB1), 500))
    );
    let hub_sa = n.hubs[0].handles()[0];
    // Only the gateway side may redirect.
    assert_eq!(
        n.spoke.redirect(n.now, h, IpAddr::V4(HUB2)),
        Err(ApiError::WrongState)
    );
    n.hubs[0].redirect(n.now, hub_sa, IpAddr::V4(HUB2)).unwrap();
    n.settle();
    let new_sa = n
        .ev_spoke
        .iter()
        .find_map(|e| match e {
            Event::GatewayRedirect {
                sa,
                new_sa,
                from,
                to,
            } if *sa == h && *from == IpAddr::V4(HUB1) && *to == IpAddr::V4(HUB2) => Some(*new_sa),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no GatewayRedirect: {:?}", n.ev_spoke));
    assert_ne!(new_sa, h);
    // Up with hub 2 under the new handle, with a Child SA and an address from hub 2's pool.
    assert_eq!(
        n.established(new_sa),
        Some(SocketAddr::new(IpAddr::V4(HUB2), 500))
    );
    assert!(
        n.ev_spoke
            .iter()
            .any(|e| matches!(e, Event::ChildSaInstalled { sa, .. } if *sa == new_sa))
    );
    assert_eq!(n.inits[1].len(), 1);
    assert_eq!(
        redirected_from(&n.inits[1][0]),
        Some([&[1u8, 4][..], &HUB1.octets()].concat())
    );
    // The old SA is deleted by the spoke on both ends, its Child SA and address released.
    assert!(
        n.ev_spoke.iter().any(
            |e| matches!(e, Event::IkeSaDeleted { sa, reason: DeleteReason::Local } if *sa == h)
        )
    );
    assert!(
        n.ev_spoke
            .iter()
            .any(|e| matches!(e, Event::ChildSaDeleted { sa, .. } if *sa == h))
    );
    assert!(n.ev_hubs[0].iter().any(
        |e| matches!(e, Event::IkeSaDeleted { sa, reason: DeleteReason::Remote } if *sa == hub_sa)
    ));
    assert!(n.hubs[0].handles().is_empty());
    assert_eq!(n.hubs[0].pool_in_use(), 0);
    assert_eq!(n.spoke.handles(), vec![new_sa]);
}

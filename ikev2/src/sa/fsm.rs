//! The state of one IKE SA and its transitions.

use core::net::{Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::proposal::{self, narrow};
use super::timer::{Timer, TimerTable};
use crate::config::{EspSuite, IkeSuite, KeyLog, Mode, Psk, SaPolicy};
use crate::crypto::{
    ChildKeys, DhGroup, DhSecret, Direction, IkeKeys, SkCipher, auth_with_key, derive_ike_keys,
    derive_rekeyed_ike_keys, nat_detection_hash, psk_auth, signed_octets, verify_auth_with_key,
    verify_psk_auth,
};
use crate::endpoint::{Outbox, Pool};
use crate::error::{CryptoFailure, Error, InputError};
use crate::event::{ChildSaKeys, DeleteReason, Event, SaHandle};
use crate::wire::{
    self, AuthMethod, AuthPayload, CfgType, ConfigAttribute, ConfigAttributeType, Configuration,
    Delete, ExchangeType, Flags, Header, Identification, KeyExchange, Message, Notify, NotifyType,
    Payload, PayloadType, ProtocolId, SaPayload, TrafficSelector, emit_chain, parse_chain,
};

/// Nonce length we send (RFC 7296 section 2.10: at least half the PRF key size, >= 16).
pub(crate) const NONCE_LEN: usize = 32;
/// Most Child SAs one IKE SA may hold (more are refused with NO_ADDITIONAL_SAS).
pub(crate) const MAX_CHILDREN: usize = 16;
/// How often an initiator follows COOKIE or INVALID_KE_PAYLOAD before giving up.
const MAX_RESTARTS: u8 = 3;

/// Everything an SA needs from its endpoint while it runs.
pub(crate) struct Ctx<'a, R> {
    pub(crate) rng: &'a mut R,
    pub(crate) out: &'a mut Outbox,
    pub(crate) key_log: &'a dyn KeyLog,
    pub(crate) pool: &'a mut Pool,
    pub(crate) nat_port: u16,
}

/// The keys and ciphers of an IKE SA, from the point of view of one side.
pub(crate) struct IkeCore {
    pub(crate) keys: IkeKeys,
    c_out: SkCipher,
    c_in: SkCipher,
}

impl IkeCore {
    fn new(keys: IkeKeys, initiator: bool) -> Result<Self, Error> {
        let (o, i) = if initiator {
            (
                Direction::InitiatorToResponder,
                Direction::ResponderToInitiator,
            )
        } else {
            (
                Direction::ResponderToInitiator,
                Direction::InitiatorToResponder,
            )
        };
        let c_out = keys.cipher(o).map_err(|_| Error::NoProposalChosen)?;
        let c_in = keys.cipher(i).map_err(|_| Error::NoProposalChosen)?;
        Ok(Self { keys, c_out, c_in })
    }

    /// Builds an encrypted message: `header` and an SK payload holding `inner`.
    fn seal<R: RngCore + CryptoRng>(
        &self,
        header: &Header,
        inner: &[Payload],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let (first, plain) = emit_chain(inner)?;
        self.seal_raw(header, first, &plain, rng)
    }

    /// Builds an encrypted message around an already encoded inner payload chain.
    pub(crate) fn seal_raw<R: RngCore + CryptoRng>(
        &self,
        header: &Header,
        first: PayloadType,
        plain: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let body_len = self.c_out.sealed_len(plain.len());
        let sk_len = body_len + 4;
        let total = wire::HEADER_LEN + sk_len;
        let too_long = |len| Error::Wire(crate::WireError::TooLong { what: "SK", len });
        let sk_len16 = u16::try_from(sk_len).map_err(|_| too_long(sk_len))?;
        let total32 = u32::try_from(total).map_err(|_| too_long(total))?;
        let mut out = Vec::with_capacity(total);
        header.emit(PayloadType::SK, total32, &mut out)?;
        out.extend_from_slice(&[first.0, 0]);
        out.extend_from_slice(&sk_len16.to_be_bytes());
        self.c_out
            .seal_into(&mut out, plain, rng)
            .map_err(|_| Error::Crypto(CryptoFailure::Integrity))?;
        Ok(out)
    }

    /// Builds an encrypted message split into SKF fragments (RFC 7383 section 2.5) of at
    /// most `max` bytes each.
    fn seal_fragments<R: RngCore + CryptoRng>(
        &self,
        header: &Header,
        inner: &[Payload],
        rng: &mut R,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let (first, plain) = emit_chain(inner)?;
        let overhead = wire::HEADER_LEN + 8 + self.c_out.sealed_len(0) + 16;
        let chunk = max.saturating_sub(overhead).max(64);
        let chunks: Vec<&[u8]> = plain.chunks(chunk).collect();
        let too_long = |len| Error::Wire(crate::WireError::TooLong { what: "SKF", len });
        let total = u16::try_from(chunks.len())
            .ok()
            .filter(|t| *t <= wire::MAX_FRAGMENTS)
            .ok_or_else(|| too_long(plain.len()))?;
        let mut out = Vec::with_capacity(chunks.len());
        for (num, c) in (1u16..).zip(&chunks) {
            let skf_len = 8 + self.c_out.sealed_len(c.len());
            let len = wire::HEADER_LEN + skf_len;
            let skf16 = u16::try_from(skf_len).map_err(|_| too_long(skf_len))?;
            let len32 = u32::try_from(len).map_err(|_| too_long(len))?;
            let mut m = Vec::with_capacity(len);
            header.emit(PayloadType::SKF, len32, &mut m)?;
            m.push(if num == 1 { first.0 } else { 0 });
            m.push(0);
            m.extend_from_slice(&skf16.to_be_bytes());
            m.extend_from_slice(&num.to_be_bytes());
            m.extend_from_slice(&total.to_be_bytes());
            self.c_out
                .seal_into(&mut m, c, rng)
                .map_err(|_| Error::Crypto(CryptoFailure::Integrity))?;
            out.push(m);
        }
        Ok(out)
    }

    /// Decrypts the body of the SKF payload of `msg` (whose bytes are `raw`).
    fn open_fragment(
        &self,
        raw: &[u8],
        f: &wire::EncryptedFragment,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, InputError> {
        let cut = raw
            .len()
            .checked_sub(f.body.len())
            .ok_or(InputError::Integrity)?;
        let prefix = raw.get(..cut).ok_or(InputError::Integrity)?;
        self.c_in
            .open(prefix, &f.body)
            .map_err(|_| InputError::Integrity)
    }

    /// Authenticates an SK or SKF message without using its content.
    fn authenticate(&self, raw: &[u8], msg: &Message) -> Result<(), InputError> {
        match msg.payloads.last() {
            Some(Payload::Skf(f)) => self.open_fragment(raw, f).map(|_| ()),
            _ => self.open(raw, msg).map(|_| ()),
        }
    }

    /// Opens the SK payload of `msg` (whose bytes are `raw`).
    fn open(&self, raw: &[u8], msg: &Message) -> Result<Vec<Payload>, InputError> {
        let sk = msg
            .sk()
            .ok_or(InputError::Exchange(Error::Protocol("missing SK payload")))?;
        let cut = raw
            .len()
            .checked_sub(sk.body.len())
            .ok_or(InputError::Integrity)?;
        let prefix = raw.get(..cut).ok_or(InputError::Integrity)?;
        let plain = self
            .c_in
            .open(prefix, &sk.body)
            .map_err(|_| InputError::Integrity)?;
        Ok(parse_chain(sk.first_inner, &plain)?)
    }
}

/// A Child SA as the IKE SA remembers it (the keys went to the caller).
#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub(crate) spi_in: u32,
    pub(crate) spi_out: u32,
    pub(crate) mode: Mode,
    pub(crate) ts_local: Vec<TrafficSelector>,
    pub(crate) ts_remote: Vec<TrafficSelector>,
    pub(crate) created: Instant,
    pub(crate) rekeying: bool,
    /// Set when the peer rekeyed this SA while our own rekey of it was outstanding: the
    /// lowest nonce of the peer's exchange and the inbound SPI of the SA it created.
    peer_rekey: Option<(Vec<u8>, u32)>,
}

/// The outstanding request and its retransmission schedule (RFC 7296 section 2.1).
struct Retx {
    bytes: Vec<Vec<u8>>,
    tries: u32,
    timeout: Duration,
    /// DPD retransmits at a fixed interval (IOS `dpd <interval> <retry>`).
    fixed: bool,
    /// When to send it again.
    at: Instant,
}

/// The request we are waiting an answer for, in an established SA.
enum Pending {
    Dpd,
    DeleteIke,
    DeleteChild {
        spi_in: u32,
    },
    Child {
        rekey_of: Option<u32>,
        spi_in: u32,
        ni: Vec<u8>,
        dh: Option<DhSecret>,
    },
    RekeyIke {
        spi: u64,
        ni: Vec<u8>,
        dh: DhSecret,
        restarts: u8,
    },
    Redirect,
}

/// A request we want to send once the window is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Req {
    Dpd,
    DeleteIke,
    DeleteChild(u32),
    RekeyChild(u32),
    RekeyIke,
    /// Gateway: move the peer to another gateway (RFC 5685 section 5).
    Redirect(core::net::IpAddr),
}

/// Initiator: IKE_SA_INIT sent.
pub(crate) struct InitSent {
    redirected_from: Option<core::net::IpAddr>,
    ni: Vec<u8>,
    dh: DhSecret,
    ke_pub: Vec<u8>,
    cookie: Option<Vec<u8>>,
    msg1: Vec<u8>,
    restarts: u8,
}

/// Initiator: IKE_AUTH sent.
pub(crate) struct AuthSent {
    core: IkeCore,
    msg2: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    child_spi: u32,
}

/// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
pub(crate) struct InitReplied {
    core: IkeCore,
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

/// The IKE SA being replaced after an IKE rekey, kept until the peer deletes it.
struct OldIke {
    spi_i: u64,
    spi_r: u64,
    initiator: bool,
    core: IkeCore,
    mid_out: u32,
}

/// What to do after a response went out.
enum After {
    Nothing,
    Close(Event),
    IkeRekeyed {
        spi_i: u64,
        spi_r: u64,
        core: IkeCore,
    },
    /// The peer deleted the IKE SA after rekeying it while our rekey was outstanding.
    AdoptPeerRekey,
}

/// An established IKE SA.
pub(crate) struct Established {
    core: IkeCore,
    pub(crate) peer_id: Identification,
    pub(crate) children: Vec<Child>,
    mid_out: u32,
    /// The peer's requests: accepted message IDs and kept responses.
    inw: window::InWindow,
    /// Our outstanding requests by message ID.
    pending: std::collections::BTreeMap<u32, Pending>,
    /// How many requests the peer accepts outstanding (its SET_WINDOW_SIZE, else 1).
    peer_window: u32,
    queue: VecDeque<Req>,
    pub(crate) assigned: Option<Ipv4Addr>,
    last_rx: Instant,
    traffic_sent: Option<Instant>,
    traffic_rx: Option<Instant>,
    /// IKE SAs being replaced or found redundant after a rekey, kept until deleted.
    old: Vec<OldIke>,
    /// The IKE SA the peer created by rekeying while our own IKE rekey was outstanding
    /// (RFC 7296 section 2.8.2); settled when ours ends.
    peer_rekey: Option<rekey::PeerIkeRekey>,
    ike_created: Instant,
}

/// The exchange sequence of an IKE SA (STYLE 4.4).
pub(crate) enum SaState {
    InitSent(Box<InitSent>),
    AuthSent(Box<AuthSent>),
    InitReplied(Box<InitReplied>),
    Established(Box<Established>),
    Closed,
}

/// One IKE SA.
pub(crate) struct Sa {
    pub(crate) handle: SaHandle,
    /// True when we are the original initiator of the current IKE SA (the I flag).
    pub(crate) initiator: bool,
    /// True when we started the first exchange (stays across rekeys).
    pub(crate) connected_by_us: bool,
    pub(crate) spi_i: u64,
    pub(crate) spi_r: u64,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) policy: SaPolicy,
    psk: Option<Psk>,
    /// The responder's configuration (its PSKs), shared with the endpoint; `None` for an
    /// initiator.
    responder: Option<Arc<crate::config::ResponderConfig>>,
    remote_id: Option<Identification>,
    request_address: bool,
    initial_contact: bool,
    /// Set when the peer sent INITIAL_CONTACT; the endpoint acts on it.
    pub(crate) got_initial_contact: bool,
    pub(crate) state: SaState,
    /// Outstanding requests by message ID, for retransmission.
    retx: std::collections::BTreeMap<u32, Retx>,
    timers: TimerTable,
    pub(crate) nat_local: bool,
    pub(crate) nat_remote: bool,
    /// The peer announced IKEV2_FRAGMENTATION_SUPPORTED.
    frag_peer: bool,
    /// Fragments being reassembled.
    frags: Option<Frags>,
    /// A reassembled inner chain for the handler that runs next.
    reassembled: Option<Vec<Payload>>,
    /// Responder: the peer announced REDIRECT_SUPPORTED or REDIRECTED_FROM (RFC 5685).
    pub(crate) peer_redirect: bool,
    /// Initiator: redirects followed so far (bounded like the other restarts).
    redirects: u8,
    /// Initiator: our address and the peer's port at connect (a redirect starts over there).
    origin: (SocketAddr, u16),
    /// Initiator: the gateway of this established SA sent us to another one (from, to);
    /// the endpoint connects there.
    pub(crate) gateway_redirect: Option<(core::net::IpAddr, core::net::IpAddr)>,
}

/// SKF fragments of one message (RFC 7383 section 2.6).
struct Frags {
    mid: u32,
    response: bool,
    total: u16,
    first: PayloadType,
    parts: std::collections::BTreeMap<u16, zeroize::Zeroizing<Vec<u8>>>,
}

#[path = "cp.rs"]
mod cp;

/// For the fuzzing harness: how an initiator reads a CP payload.
#[cfg(fuzzing)]
pub(crate) fn read_cp_reply(c: &Configuration) -> crate::event::InternalConfig {
    cp::read_reply(Some(c))
}
#[path = "redirect.rs"]
mod redirect;
#[path = "rekey.rs"]
mod rekey;
#[path = "window.rs"]
mod window;

/// The peer's SET_WINDOW_SIZE in an IKE_AUTH message (RFC 7296 section 2.3), else 1.
fn peer_window_of(p: &[Payload]) -> u32 {
    find_notify(p, NotifyType::SET_WINDOW_SIZE)
        .and_then(|n| window::window_value(&n.data))
        .unwrap_or(1)
}

/// Our SET_WINDOW_SIZE, when we accept more than one request at a time.
fn window_notify(size: u32) -> Option<Payload> {
    (size > 1).then(|| {
        notify(
            NotifyType::SET_WINDOW_SIZE,
            size.min(window::MAX_WINDOW).to_be_bytes().to_vec(),
        )
    })
}

/// The Nonce of a payload chain (empty when there is none).
fn nr_of(p: &[Payload]) -> &[u8] {
    p.iter()
        .find_map(|x| match x {
            Payload::Nonce(n) => Some(n.as_slice()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Most bytes of plaintext kept while reassembling one message.
const MAX_REASSEMBLY: usize = 64 * 1024;

/// RFC 5685 section 4.1: GW Ident Type, GW Ident Len, identity (IPv4 or IPv6 here).
pub(crate) fn gw_ident(a: core::net::IpAddr) -> Vec<u8> {
    match a {
        core::net::IpAddr::V4(v) => [&[1u8, 4][..], &v.octets()].concat(),
        core::net::IpAddr::V6(v) => [&[2u8, 16][..], &v.octets()].concat(),
    }
}

/// The gateway and nonce of a REDIRECT notify (RFC 5685 section 4.1).
fn parse_redirect(d: &[u8]) -> Option<(core::net::IpAddr, &[u8])> {
    let (&ty, rest) = d.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let (id, nonce) = rest.split_at_checked(usize::from(len))?;
    let gw = match ty {
        1 => core::net::IpAddr::from(<[u8; 4]>::try_from(id).ok()?),
        2 => core::net::IpAddr::from(<[u8; 16]>::try_from(id).ok()?),
        _ => return None,
    };
    Some((gw, nonce))
}

fn notify(ty: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(ty, data))
}

fn find_notify(p: &[Payload], ty: NotifyType) -> Option<&Notify> {
    p.iter().find_map(|x| match x {
        Payload::Notify(n) if n.ty == ty => Some(n),
        _ => None,
    })
}

fn first_error(p: &[Payload]) -> Option<NotifyType> {
    p.iter().find_map(|x| match x {
        Payload::Notify(n) if n.ty.is_error() => Some(n.ty),
        _ => None,
    })
}

fn nonzero_u64<R: RngCore>(rng: &mut R) -> u64 {
    loop {
        let v = rng.next_u64();
        if v != 0 {
            return v;
        }
    }
}

/// A random ESP SPI outside the reserved range 1-255 (RFC 4303 section 2.1).
fn esp_spi<R: RngCore>(rng: &mut R) -> u32 {
    loop {
        let v = rng.next_u32();
        if v > 255 {
            return v;
        }
    }
}

fn nonce<R: RngCore>(rng: &mut R) -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

fn valid_nonce(n: &[u8]) -> bool {
    (16..=256).contains(&n.len())
}

fn child_error(ty: NotifyType) -> Error {
    match ty {
        NotifyType::NO_PROPOSAL_CHOSEN => Error::NoProposalChosen,
        NotifyType::TS_UNACCEPTABLE => Error::TsUnacceptable,
        NotifyType::INTERNAL_ADDRESS_FAILURE | NotifyType::FAILED_CP_REQUIRED => {
            Error::InternalAddressFailure
        }
        NotifyType::AUTHENTICATION_FAILED => Error::AuthenticationFailed,
        t => Error::PeerError(t),
    }
}

struct Parts<'a> {
    sa: Option<&'a SaPayload>,
    ke: Option<&'a KeyExchange>,
    nonce: Option<&'a [u8]>,
    id: Option<&'a Identification>,
    auth: Option<&'a AuthPayload>,
    tsi: Option<&'a [TrafficSelector]>,
    tsr: Option<&'a [TrafficSelector]>,
    cp: Option<&'a Configuration>,
}

fn parts(p: &[Payload], want_idi: bool) -> Parts<'_> {
    let mut r = Parts {
        sa: None,
        ke: None,
        nonce: None,
        id: None,
        auth: None,
        tsi: None,
        tsr: None,
        cp: None,
    };
    for x in p {
        match x {
            Payload::Sa(s) => r.sa = r.sa.or(Some(s)),
            Payload::Ke(k) => r.ke = r.ke.or(Some(k)),
            Payload::Nonce(n) => r.nonce = r.nonce.or(Some(n)),
            Payload::IdI(i) if want_idi => r.id = r.id.or(Some(i)),
            Payload::IdR(i) if !want_idi => r.id = r.id.or(Some(i)),
            Payload::Auth(a) => r.auth = r.auth.or(Some(a)),
            Payload::TsI(t) => r.tsi = r.tsi.or(Some(t)),
            Payload::TsR(t) => r.tsr = r.tsr.or(Some(t)),
            Payload::Cp(c) => r.cp = r.cp.or(Some(c)),
            _ => {}
        }
    }
    r
}

/// NAT detection (RFC 7296 section 2.23): did the hashes the peer sent match the
/// addresses we see? Returns (we are behind a NAT, the peer is behind a NAT).
fn nat_check(
    p: &[Payload],
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> (bool, bool) {
    let src: Vec<&Notify> = p
        .iter()
        .filter_map(|x| match x {
            Payload::Notify(n) if n.ty == NotifyType::NAT_DETECTION_SOURCE_IP => Some(n),
            _ => None,
        })
        .collect();
    let dst = find_notify(p, NotifyType::NAT_DETECTION_DESTINATION_IP);
    if src.is_empty() || dst.is_none() {
        return (false, false);
    }
    let want_src = nat_detection_hash(spi_i, spi_r, remote.ip(), remote.port());
    let want_dst = nat_detection_hash(spi_i, spi_r, local.ip(), local.port());
    let remote_nat = !src.iter().any(|n| n.data.as_slice() == want_src.as_slice());
    let local_nat = dst.is_none_or(|n| n.data.as_slice() != want_dst.as_slice());
    (local_nat, remote_nat)
}

impl Sa {
    /// Starts an initiator: draws SPI, nonce and key pair, sends IKE_SA_INIT.
    pub(crate) fn connect<R: RngCore + CryptoRng>(
        handle: SaHandle,
        peer: crate::config::PeerConfig,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        redirected_from: Option<core::net::IpAddr>,
    ) -> Result<Self, Error> {
        let group = peer
            .policy
            .ike_proposals
            .first()
            .map(|s| s.dh)
            .ok_or(Error::NoProposalChosen)?;
        let (dh, ke_pub) = DhSecret::generate(group, ctx.rng);
        let ni = nonce(ctx.rng);
        let mut sa = Self {
            handle,
            initiator: true,
            connected_by_us: true,
            spi_i: nonzero_u64(ctx.rng),
            spi_r: 0,
            local: peer.local,
            remote: peer.remote,
            psk: Some(peer.psk),
            responder: None,
            remote_id: peer.remote_id,
            request_address: peer.request_address,
            initial_contact: peer.initial_contact,
            got_initial_contact: false,
            policy: peer.policy,
            state: SaState::Closed,
            retx: std::collections::BTreeMap::new(),
            timers: TimerTable::default(),
            nat_local: false,
            nat_remote: false,
            frag_peer: false,
            frags: None,
            reassembled: None,
            peer_redirect: false,
            redirects: 0,
            origin: (peer.local, peer.remote.port()),
            gateway_redirect: None,
        };
        let st = InitSent {
            redirected_from,
            ni,
            dh,
            ke_pub,
            cookie: None,
            msg1: Vec::new(),
            restarts: 0,
        };
        sa.send_init(now, ctx, st)?;
        Ok(sa)
    }

    fn send_init<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        mut st: InitSent,
    ) -> Result<(), Error> {
        let mut payloads = Vec::new();
        if let Some(c) = &st.cookie {
            // RFC 7296 section 2.6: the COOKIE notify comes first.
            payloads.push(notify(NotifyType::COOKIE, c.clone()));
        }
        payloads.push(Payload::Sa(proposal::ike_sa_payload(
            &self.policy.ike_proposals,
            &[],
        )));
        payloads.push(Payload::Ke(KeyExchange {
            group: wire::DhGroup(st.dh.group().transform_id()),
            data: st.ke_pub.clone(),
        }));
        payloads.push(Payload::Nonce(st.ni.clone()));
        payloads.push(notify(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            nat_detection_hash(self.spi_i, 0, self.local.ip(), self.local.port()).to_vec(),
        ));
        payloads.push(notify(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_detection_hash(self.spi_i, 0, self.remote.ip(), self.remote.port()).to_vec(),
        ));
        // RFC 7383 section 2.3: we can reassemble.
        payloads.push(notify(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            Vec::new(),
        ));
        // RFC 5685 section 4: we follow redirects; say where we were sent from.
        match st.redirected_from {
            Some(from) => payloads.push(notify(NotifyType::REDIRECTED_FROM, gw_ident(from))),
            None => payloads.push(notify(NotifyType::REDIRECT_SUPPORTED, Vec::new())),
        }
        let msg = Message {
            header: self.header(ExchangeType::IKE_SA_INIT, false, 0),
            payloads,
        };
        let bytes = msg.emit()?;
        st.msg1 = bytes.clone();
        self.spi_r = 0;
        self.send_request(now, ctx, 0, vec![bytes], false);
        self.state = SaState::InitSent(Box::new(st));
        Ok(())
    }

    /// A responder SA from an IKE_SA_INIT request that passed the stateless checks.
    pub(crate) fn accept<R: RngCore + CryptoRng>(
        handle: SaHandle,
        raw: &[u8],
        msg: &Message,
        suite: (u8, IkeSuite),
        local: SocketAddr,
        remote: SocketAddr,
        rcfg: &Arc<crate::config::ResponderConfig>,
        half_open_timeout: Duration,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<Self, Error> {
        let p = parts(&msg.payloads, true);
        let (ke, ni) = match (p.ke, p.nonce) {
            (Some(k), Some(n)) if valid_nonce(n) => (k, n.to_vec()),
            _ => return Err(Error::Protocol("IKE_SA_INIT without KE or Ni")),
        };
        let (num, s) = suite;
        let spi_i = msg.header.spi_i;
        let spi_r = nonzero_u64(ctx.rng);
        let (dh, pubkey) = DhSecret::generate(s.dh, ctx.rng);
        let g_ir = dh
            .shared(&ke.data)
            .map_err(|_| Error::Crypto(CryptoFailure::KeyExchange))?;
        let nr = nonce(ctx.rng);
        let keys = derive_ike_keys(s.prf, s.encr, s.integ, &ni, &nr, &g_ir, spi_i, spi_r)
            .map_err(|_| Error::NoProposalChosen)?;
        ctx.key_log.dangerous_log_ike_keys(spi_i, spi_r, &keys);
        let core = IkeCore::new(keys, false)?;
        let (nat_local, nat_remote) = nat_check(&msg.payloads, spi_i, 0, local, remote);
        let mut sa = Self {
            handle,
            initiator: false,
            connected_by_us: false,
            spi_i,
            spi_r,
            local,
            remote,
            policy: rcfg.policy.clone(),
            psk: None,
            responder: Some(Arc::clone(rcfg)),
            remote_id: None,
            request_address: false,
            initial_contact: false,
            got_initial_contact: false,
            state: SaState::Closed,
            retx: std::collections::BTreeMap::new(),
            timers: TimerTable::default(),
            nat_local,
            nat_remote,
            frag_peer: find_notify(&msg.payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some(),
            frags: None,
            reassembled: None,
            peer_redirect: find_notify(&msg.payloads, NotifyType::REDIRECT_SUPPORTED).is_some()
                || find_notify(&msg.payloads, NotifyType::REDIRECTED_FROM).is_some(),
            redirects: 0,
            origin: (local, remote.port()),
            gateway_redirect: None,
        };
        let resp = Message {
            header: sa.header(ExchangeType::IKE_SA_INIT, true, 0),
            payloads: vec![
                Payload::Sa(proposal::ike_answer(num, &s, &[])),
                Payload::Ke(KeyExchange {
                    group: wire::DhGroup(s.dh.transform_id()),
                    data: pubkey,
                }),
                Payload::Nonce(nr.clone()),
                notify(
                    NotifyType::NAT_DETECTION_SOURCE_IP,
                    nat_detection_hash(spi_i, spi_r, local.ip(), local.port()).to_vec(),
                ),
                notify(
                    NotifyType::NAT_DETECTION_DESTINATION_IP,
                    nat_detection_hash(spi_i, spi_r, remote.ip(), remote.port()).to_vec(),
                ),
            ],
        };
        let mut resp = resp;
        if sa.frag_peer {
            resp.payloads.push(notify(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            ));
        }
        let bytes = resp.emit()?;
        sa.transmit(ctx, bytes.clone());
        sa.timers
            .set(Timer::HalfOpenExpire, now + half_open_timeout);
        sa.state = SaState::InitReplied(Box::new(InitReplied {
            core,
            msg1: raw.to_vec(),
            msg2: bytes,
            ni,
            nr,
        }));
        Ok(sa)
    }

    /// The IKE_SA_INIT response of a half-open responder SA, for replay.
    pub(crate) fn init_response(&self) -> Option<&[u8]> {
        match &self.state {
            SaState::InitReplied(s) => Some(&s.msg2),
            _ => None,
        }
    }

    /// Our SPIs (current, and the old IKE SA's during a rekey).
    pub(crate) fn our_spis(&self) -> Vec<u64> {
        let cur = if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        };
        let mut v = vec![cur];
        if let SaState::Established(e) = &self.state {
            for o in &e.old {
                v.push(if o.initiator { o.spi_i } else { o.spi_r });
            }
        }
        v
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, SaState::Closed)
    }

    /// True while the SA is an initiator waiting for its IKE_SA_INIT response.
    pub(crate) fn is_pre_auth_initiator(&self) -> bool {
        matches!(self.state, SaState::InitSent(_))
    }

    pub(crate) fn is_half_open(&self) -> bool {
        matches!(self.state, SaState::InitReplied(_))
    }

    pub(crate) fn established(&self) -> Option<&Established> {
        match &self.state {
            SaState::Established(e) => Some(e),
            _ => None,
        }
    }

    /// For the fuzzing harness: a request of `exchange` with the next message ID, sealed
    /// with this SA's real outbound key around `plain` (an encoded inner chain).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn forge_request<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        exchange: ExchangeType,
        first: PayloadType,
        plain: &[u8],
    ) -> Option<Vec<u8>> {
        let (spi_i, spi_r, initiator) = (self.spi_i, self.spi_r, self.initiator);
        let SaState::Established(e) = &mut self.state else {
            return None;
        };
        let mid = e.mid_out;
        e.mid_out = e.mid_out.wrapping_add(1);
        let h = Header {
            spi_i,
            spi_r,
            minor_version: 0,
            exchange,
            flags: Flags::new(initiator, false),
            message_id: mid,
        };
        e.core.seal_raw(&h, first, plain, rng).ok()
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn header(&self, exchange: ExchangeType, response: bool, mid: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            minor_version: 0,
            exchange,
            flags: Flags::new(self.initiator, response),
            message_id: mid,
        }
    }

    fn transmit<R>(&self, ctx: &mut Ctx<'_, R>, bytes: Vec<u8>) {
        let payload = if self.local.port() == ctx.nat_port {
            wire::prepend_non_esp_marker(&bytes)
        } else {
            bytes
        };
        ctx.out.transmit(crate::event::Transmit {
            local: self.local,
            remote: self.remote,
            payload,
        });
    }

    fn transmit_all<R>(&self, ctx: &mut Ctx<'_, R>, all: &[Vec<u8>]) {
        for b in all {
            self.transmit(ctx, b.clone());
        }
    }

    /// Seals `inner` as one SK message, or as SKF fragments when the peer can reassemble
    /// and the message is longer than `policy.fragment_size`.
    fn seal_msg<R: RngCore + CryptoRng>(
        &self,
        core: &IkeCore,
        header: &Header,
        inner: &[Payload],
        rng: &mut R,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let one = core.seal(header, inner, rng)?;
        match self.policy.fragment_size {
            Some(max) if self.frag_peer && one.len() > max => {
                core.seal_fragments(header, inner, rng, max)
            }
            _ => Ok(vec![one]),
        }
    }

    /// The decrypted inner chain: a reassembled one if fragments completed, else the SK
    /// payload of `msg`.
    fn open_with(
        &mut self,
        core: &IkeCore,
        raw: &[u8],
        msg: &Message,
    ) -> Result<Vec<Payload>, InputError> {
        match self.reassembled.take() {
            Some(p) => Ok(p),
            None => core.open(raw, msg),
        }
    }

    fn emit_event(ctx: &mut Ctx<'_, impl Sized>, e: Event) {
        ctx.out.event(e);
    }

    /// Closes the SA: child deletions, address release, then `last`.
    fn close<R>(&mut self, ctx: &mut Ctx<'_, R>, last: Event) {
        if let SaState::Established(e) = &self.state {
            for c in &e.children {
                ctx.out.event(Event::ChildSaDeleted {
                    sa: self.handle,
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                });
            }
        }
        ctx.pool.release(self.handle);
        ctx.out.event(last);
        self.state = SaState::Closed;
        self.retx.clear();
        self.timers.clear();
    }

    /// Handles a parsed message addressed to this SA.
    pub(crate) fn handle<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        raw: &[u8],
        msg: &Message,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), InputError> {
        self.reassembled = None;
        if let Some(Payload::Skf(f)) = msg.payloads.last() {
            match self.collect_fragment(raw, msg, f) {
                Ok(Some(p)) => self.reassembled = Some(p),
                Ok(None) => return Ok(()),
                Err(InputError::OutOfWindow) => {} // a retransmission: the handler decides
                Err(e) => return Err(e),
            }
        }
        let state = core::mem::replace(&mut self.state, SaState::Closed);
        match state {
            SaState::InitSent(st) => self.on_init_response(now, ctx, raw, msg, st),
            SaState::AuthSent(st) => self.on_auth_response(now, ctx, raw, msg, st),
            SaState::InitReplied(st) => self.on_auth_request(now, ctx, raw, msg, st, local, remote),
            SaState::Established(mut st) => {
                let r = self.on_established(now, ctx, raw, msg, &mut st, local, remote);
                self.state = SaState::Established(st);
                match r {
                    Ok(Some(ev)) => {
                        self.close(ctx, ev);
                        Ok(())
                    }
                    Ok(None) => {
                        self.pump(now, ctx);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            SaState::Closed => Err(InputError::UnknownSa),
        }
    }

    /// RFC 7383 section 2.6: authenticates and keeps one fragment; returns the inner chain
    /// once every fragment of the message is there.
    fn collect_fragment(
        &mut self,
        raw: &[u8],
        msg: &Message,
        f: &wire::EncryptedFragment,
    ) -> Result<Option<Vec<Payload>>, InputError> {
        let h = &msg.header;
        let core = match &self.state {
            SaState::AuthSent(s) => &s.core,
            SaState::InitReplied(s) => &s.core,
            SaState::Established(e) => {
                if (h.spi_i, h.spi_r) != (self.spi_i, self.spi_r) {
                    return Err(InputError::UnknownSa);
                }
                if !h.is_response() && e.inw.classify(h.message_id) != window::InClass::Fresh {
                    return Err(InputError::OutOfWindow);
                }
                &e.core
            }
            _ => return Err(InputError::UnknownSa),
        };
        let plain = core.open_fragment(raw, f)?;
        let fresh = self.frags.as_ref().is_none_or(|x| {
            (x.mid, x.response) != (h.message_id, h.is_response()) || x.total != f.total
        });
        if fresh {
            self.frags = Some(Frags {
                mid: h.message_id,
                response: h.is_response(),
                total: f.total,
                first: PayloadType::NONE,
                parts: std::collections::BTreeMap::new(),
            });
        }
        let Some(fr) = self.frags.as_mut() else {
            return Ok(None);
        };
        if f.number == 1 {
            fr.first = f.first_inner;
        }
        let held: usize = fr.parts.values().map(|p| p.len()).sum();
        if held + plain.len() > MAX_REASSEMBLY {
            self.frags = None;
            return Err(InputError::Wire(crate::WireError::TooLong {
                what: "reassembly",
                len: held + plain.len(),
            }));
        }
        fr.parts.insert(f.number, plain);
        if fr.parts.len() < usize::from(fr.total) {
            return Ok(None);
        }
        let Some(fr) = self.frags.take() else {
            return Ok(None);
        };
        let mut all = zeroize::Zeroizing::new(Vec::with_capacity(held));
        for p in fr.parts.values() {
            all.extend_from_slice(p);
        }
        Ok(Some(parse_chain(fr.first, &all)?))
    }

    // ---- initiator -------------------------------------------------------------------

    fn on_init_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        raw: &[u8],
        msg: &Message,
        mut st: Box<InitSent>,
    ) -> Result<(), InputError> {
        let h = &msg.header;
        if !h.is_response() || h.message_id != 0 || h.exchange != ExchangeType::IKE_SA_INIT {
            self.state = SaState::InitSent(st);
            return Err(InputError::OutOfWindow);
        }
        let p = &msg.payloads;
        // RFC 5685 section 4.2: go to the gateway the responder names.
        if let Some(n) = find_notify(p, NotifyType::REDIRECT) {
            match parse_redirect(&n.data) {
                Some((gw, nonce)) if nonce == st.ni && st.restarts < MAX_RESTARTS => {
                    let from = self.remote.ip();
                    st.restarts += 1;
                    st.redirected_from = Some(from);
                    st.cookie = None;
                    self.remote = SocketAddr::new(gw, self.remote.port());
                    self.spi_i = nonzero_u64(ctx.rng);
                    ctx.out.event(Event::Redirected {
                        sa: self.handle,
                        from,
                        to: gw,
                    });
                    self.send_init(now, ctx, *st)
                        .map_err(InputError::Exchange)?;
                }
                _ => self.close(
                    ctx,
                    Event::IkeSaFailed {
                        sa: self.handle,
                        reason: Error::Protocol("bad REDIRECT"),
                    },
                ),
            }
            return Ok(());
        }
        // RFC 7296 section 2.6: retry with the cookie.
        if let Some(c) = find_notify(p, NotifyType::COOKIE) {
            if st.restarts >= MAX_RESTARTS || c.data.is_empty() || c.data.len() > 64 {
                self.close(
                    ctx,
                    Event::IkeSaFailed {
                        sa: self.handle,
                        reason: Error::Protocol("cookie loop"),
                    },
                );
                return Ok(());
            }
            st.restarts += 1;
            st.cookie = Some(c.data.clone());
            self.send_init(now, ctx, *st)
                .map_err(InputError::Exchange)?;
            return Ok(());
        }
        // RFC 7296 section 1.2: retry in the group the responder asked for.
        if let Some(n) = find_notify(p, NotifyType::INVALID_KE_PAYLOAD) {
            let want = <[u8; 2]>::try_from(n.data.as_slice())
                .ok()
                .map(u16::from_be_bytes)
                .and_then(DhGroup::from_transform_id)
                .filter(|g| self.policy.ike_proposals.iter().any(|s| s.dh == *g));
            match want {
                Some(g) if st.restarts < MAX_RESTARTS && g != st.dh.group() => {
                    st.restarts += 1;
                    (st.dh, st.ke_pub) = DhSecret::generate(g, ctx.rng);
                    self.send_init(now, ctx, *st)
                        .map_err(InputError::Exchange)?;
                }
                _ => self.close(
                    ctx,
                    Event::IkeSaFailed {
                        sa: self.handle,
                        reason: Error::NoProposalChosen,
                    },
                ),
            }
            return Ok(());
        }
        if let Some(e) = first_error(p) {
            self.close(
                ctx,
                Event::IkeSaFailed {
                    sa: self.handle,
                    reason: child_error(e),
                },
            );
            return Ok(());
        }
        let parts = parts(p, false);
        let result = (|| {
            let sa = parts
                .sa
                .ok_or(Error::Protocol("no SA in IKE_SA_INIT response"))?;
            let ke = parts
                .ke
                .ok_or(Error::Protocol("no KE in IKE_SA_INIT response"))?;
            let nr = parts
                .nonce
                .filter(|n| valid_nonce(n))
                .ok_or(Error::Protocol("no valid Nr"))?;
            let chosen = match sa.proposals.as_slice() {
                [one] => proposal::ike_suite_of(one).ok_or(Error::NoProposalChosen)?,
                _ => return Err(Error::Protocol("responder chose not one proposal")),
            };
            if !self.policy.ike_proposals.contains(&chosen)
                || chosen.dh != st.dh.group()
                || ke.group.0 != chosen.dh.transform_id()
                || h.spi_r == 0
            {
                return Err(Error::NoProposalChosen);
            }
            Ok((chosen, ke.data.clone(), nr.to_vec()))
        })();
        let (chosen, peer_pub, nr) = match result {
            Ok(x) => x,
            Err(e) => {
                self.close(
                    ctx,
                    Event::IkeSaFailed {
                        sa: self.handle,
                        reason: e,
                    },
                );
                return Ok(());
            }
        };
        self.retx_clear();
        self.spi_r = h.spi_r;
        let st = *st;
        let keys = st
            .dh
            .shared(&peer_pub)
            .map_err(|_| Error::Crypto(CryptoFailure::KeyExchange))
            .and_then(|g| {
                derive_ike_keys(
                    chosen.prf,
                    chosen.encr,
                    chosen.integ,
                    &st.ni,
                    &nr,
                    &g,
                    self.spi_i,
                    self.spi_r,
                )
                .map_err(|_| Error::NoProposalChosen)
            })
            .and_then(|k| {
                ctx.key_log
                    .dangerous_log_ike_keys(self.spi_i, self.spi_r, &k);
                IkeCore::new(k, true)
            });
        let core = match keys {
            Ok(c) => c,
            Err(e) => {
                self.close(
                    ctx,
                    Event::IkeSaFailed {
                        sa: self.handle,
                        reason: e,
                    },
                );
                return Ok(());
            }
        };
        self.frag_peer = find_notify(p, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        let (nl, nrm) = nat_check(p, self.spi_i, self.spi_r, self.local, self.remote);
        self.nat_local = nl;
        self.nat_remote = nrm;
        if nl || nrm {
            // RFC 7296 section 2.23: float to the NAT-T port from IKE_AUTH on.
            self.local.set_port(ctx.nat_port);
            self.remote.set_port(ctx.nat_port);
        }
        // IKE_AUTH request.
        let idi = self.policy.local_id.clone();
        let octets = signed_octets(
            core.keys.prf,
            &st.msg1,
            &nr,
            core.keys.sk_pi.as_bytes(),
            &idi.auth_bytes(),
        );
        let auth = match &self.psk {
            Some(psk) => auth_with_key(core.keys.prf, psk.local_auth_key(core.keys.prf), &octets),
            None => psk_auth(core.keys.prf, &[], &octets),
        };
        let child_spi = esp_spi(ctx.rng);
        let mut inner = vec![Payload::IdI(idi)];
        if self.initial_contact {
            inner.push(notify(NotifyType::INITIAL_CONTACT, Vec::new()));
        }
        inner.extend(window_notify(self.policy.window_size));
        if let Some(r) = &self.remote_id {
            inner.push(Payload::IdR(r.clone()));
        }
        inner.push(Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth,
        }));
        if let Some(c) = cp::request(self) {
            inner.push(Payload::Cp(c));
        }
        // With an address request the default TSi (0.0.0.0/0) lets the responder narrow to
        // the address it assigns; in transport mode they are the IKE endpoints' selectors.
        let ts_local = self.policy.ts_local.clone();
        if self.policy.mode == Mode::Transport {
            inner.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        inner.push(Payload::Sa(proposal::esp_sa_payload(
            &self.policy.esp_proposals,
            child_spi,
            false,
        )));
        inner.push(Payload::TsI(ts_local));
        inner.push(Payload::TsR(self.policy.ts_remote.clone()));
        let header = self.header(ExchangeType::IKE_AUTH, false, 1);
        let bytes = self
            .seal_msg(&core, &header, &inner, ctx.rng)
            .map_err(InputError::Exchange)?;
        self.send_request(now, ctx, 1, bytes, false);
        self.state = SaState::AuthSent(Box::new(AuthSent {
            core,
            msg2: raw.to_vec(),
            ni: st.ni,
            nr,
            child_spi,
        }));
        Ok(())
    }

    fn on_auth_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        raw: &[u8],
        msg: &Message,
        st: Box<AuthSent>,
    ) -> Result<(), InputError> {
        let h = &msg.header;
        if !h.is_response() || h.message_id != 1 || h.exchange != ExchangeType::IKE_AUTH {
            self.state = SaState::AuthSent(st);
            return Err(InputError::OutOfWindow);
        }
        let inner = match self.open_with(&st.core, raw, msg) {
            Ok(i) => i,
            Err(e) => {
                self.state = SaState::AuthSent(st);
                return Err(e);
            }
        };
        self.retx_clear();
        let fail = |s: &mut Self, ctx: &mut Ctx<'_, R>, reason: Error| {
            s.close(
                ctx,
                Event::IkeSaFailed {
                    sa: s.handle,
                    reason: reason.clone(),
                },
            );
            Err(InputError::Exchange(reason))
        };
        if find_notify(&inner, NotifyType::AUTHENTICATION_FAILED).is_some() {
            return fail(self, ctx, Error::AuthenticationFailed);
        }
        let p = parts(&inner, false);
        let (Some(idr), Some(auth)) = (p.id, p.auth) else {
            let e = first_error(&inner).map_or(Error::Protocol("no IDr/AUTH"), child_error);
            return fail(self, ctx, e);
        };
        if self.remote_id.as_ref().is_some_and(|r| r != idr) {
            return fail(self, ctx, Error::AuthenticationFailed);
        }
        let k = &st.core.keys;
        let octets = signed_octets(
            k.prf,
            &st.msg2,
            &st.ni,
            k.sk_pr.as_bytes(),
            &idr.auth_bytes(),
        );
        let checked = match &self.psk {
            Some(psk) => {
                verify_auth_with_key(k.prf, psk.remote_auth_key(k.prf), &octets, &auth.data)
            }
            None => verify_psk_auth(k.prf, &[], &octets, &auth.data),
        };
        if auth.method != AuthMethod::SHARED_KEY_MIC || checked.is_err() {
            return fail(self, ctx, Error::AuthenticationFailed);
        }
        // RFC 5685 section 6: an authenticated REDIRECT instead of a Child SA.
        if let Some(n) = find_notify(&inner, NotifyType::REDIRECT) {
            let data = n.data.clone();
            return self.follow_auth_redirect(now, ctx, *st, &data);
        }
        let internal = cp::read_reply(p.cp);
        let assigned = internal.address;
        let st = *st;
        let mut est = Box::new(Established {
            core: st.core,
            peer_id: idr.clone(),
            children: Vec::new(),
            mid_out: 2,
            inw: window::InWindow::new(0, self.policy.window_size),
            pending: std::collections::BTreeMap::new(),
            peer_window: peer_window_of(&inner),
            queue: VecDeque::new(),
            assigned,
            last_rx: now,
            traffic_sent: None,
            traffic_rx: None,
            old: Vec::new(),
            peer_rekey: None,
            ike_created: now,
        });
        Self::emit_event(
            ctx,
            Event::IkeSaEstablished {
                sa: self.handle,
                initiator: true,
                peer_id: idr.clone(),
                local: self.local,
                remote: self.remote,
                assigned_address: assigned,
                nat_detected: self.nat_local || self.nat_remote,
                internal,
            },
        );
        // The Child SA of IKE_AUTH.
        let child = (|| {
            let sa = p.sa.ok_or(None)?;
            let (tsi, tsr) = (p.tsi.ok_or(None)?, p.tsr.ok_or(None)?);
            let [one] = sa.proposals.as_slice() else {
                return Err(Some(Error::Protocol("not one ESP proposal")));
            };
            let (suite, spi_out, _) =
                proposal::esp_suite_of(one).ok_or(Some(Error::NoProposalChosen))?;
            let offered = self
                .policy
                .esp_proposals
                .iter()
                .any(|s| (s.encr, s.integ, s.esn) == (suite.encr, suite.integ, suite.esn));
            if !offered || tsi.is_empty() || tsr.is_empty() {
                return Err(Some(Error::NoProposalChosen));
            }
            Ok((suite, spi_out, tsi.to_vec(), tsr.to_vec()))
        })();
        match child {
            Ok((suite, spi_out, tsi, tsr)) => {
                let mode = if find_notify(&inner, NotifyType::USE_TRANSPORT_MODE).is_some() {
                    Mode::Transport
                } else {
                    Mode::Tunnel
                };
                let (ni, nr) = (st.ni.clone(), st.nr.clone());
                self.install_child(
                    now,
                    ctx,
                    &mut est,
                    suite,
                    st.child_spi,
                    spi_out,
                    mode,
                    tsi,
                    tsr,
                    None,
                    &ni,
                    &nr,
                    None,
                    true,
                );
            }
            Err(e) => {
                // RFC 7296 section 2.21.2: a Child SA failure in IKE_AUTH keeps the IKE SA.
                let reason = e
                    .or_else(|| first_error(&inner).map(child_error))
                    .unwrap_or(Error::NoProposalChosen);
                Self::emit_event(
                    ctx,
                    Event::ChildSaFailed {
                        sa: self.handle,
                        reason,
                    },
                );
            }
        }
        self.state = SaState::Established(est);
        self.start_established_timers(now);
        Ok(())
    }

    // ---- responder -------------------------------------------------------------------

    fn on_auth_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        raw: &[u8],
        msg: &Message,
        st: Box<InitReplied>,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), InputError> {
        let h = &msg.header;
        if h.is_response() || h.message_id != 1 || h.exchange != ExchangeType::IKE_AUTH {
            self.state = SaState::InitReplied(st);
            return Err(InputError::OutOfWindow);
        }
        let inner = match self.open_with(&st.core, raw, msg) {
            Ok(i) => i,
            Err(e) => {
                self.state = SaState::InitReplied(st);
                return Err(e);
            }
        };
        // The peer may have floated to the NAT-T port (RFC 7296 section 2.23).
        self.local = local;
        self.remote = remote;
        self.timers.stop(Timer::HalfOpenExpire);
        let p = parts(&inner, true);
        let k = &st.core.keys;
        let verified = match (p.id, p.auth) {
            (Some(idi), Some(auth)) if auth.method == AuthMethod::SHARED_KEY_MIC => {
                let octets = signed_octets(
                    k.prf,
                    &st.msg1,
                    &st.nr,
                    k.sk_pi.as_bytes(),
                    &idi.auth_bytes(),
                );
                self.responder
                    .iter()
                    .flat_map(|r| r.psks.iter())
                    .filter(|(id, _)| id.as_ref().is_none_or(|x| x == idi))
                    .find(|(_, psk)| {
                        verify_auth_with_key(k.prf, psk.remote_auth_key(k.prf), &octets, &auth.data)
                            .is_ok()
                    })
                    .map(|(_, psk)| (idi.clone(), psk.clone()))
            }
            _ => None,
        };
        let Some((peer_id, psk)) = verified else {
            // RFC 7296 section 2.21.2: answer AUTHENTICATION_FAILED and drop the SA.
            let header = self.header(ExchangeType::IKE_AUTH, true, 1);
            let bytes = st
                .core
                .seal(
                    &header,
                    &[notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
                    ctx.rng,
                )
                .map_err(InputError::Exchange)?;
            self.transmit(ctx, bytes);
            self.close(
                ctx,
                Event::IkeSaFailed {
                    sa: self.handle,
                    reason: Error::AuthenticationFailed,
                },
            );
            return Err(InputError::Exchange(Error::AuthenticationFailed));
        };
        self.psk = Some(psk);
        self.got_initial_contact = find_notify(&inner, NotifyType::INITIAL_CONTACT).is_some();
        let idr = self.policy.local_id.clone();
        let octets = signed_octets(
            k.prf,
            &st.msg2,
            &st.ni,
            k.sk_pr.as_bytes(),
            &idr.auth_bytes(),
        );
        let auth = match &self.psk {
            Some(psk) => auth_with_key(k.prf, psk.local_auth_key(k.prf), &octets),
            None => psk_auth(k.prf, &[], &octets),
        };
        let mut out = vec![
            Payload::IdR(idr),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ];
        out.extend(window_notify(self.policy.window_size));
        if self.peer_redirect
            && let Some(gw) = self
                .policy
                .auth_redirect
                .as_ref()
                .and_then(|r| r.decide(&peer_id, self.remote))
        {
            return self.send_auth_redirect(ctx, &st.core, out, peer_id, gw);
        }
        // Configuration payload: an address from the pool and the configured attributes.
        let reply = self.cp_reply(ctx, p.cp, &peer_id);
        let assigned = reply.internal.address;
        let mut child_err = reply
            .exhausted
            .then_some(NotifyType::INTERNAL_ADDRESS_FAILURE);
        if let Some(c) = reply.config {
            out.push(Payload::Cp(c));
        }
        let internal = reply.internal;
        let mut est = Box::new(Established {
            core: st.core,
            peer_id: peer_id.clone(),
            children: Vec::new(),
            mid_out: 0,
            inw: window::InWindow::new(1, self.policy.window_size),
            pending: std::collections::BTreeMap::new(),
            peer_window: peer_window_of(&inner),
            queue: VecDeque::new(),
            assigned,
            last_rx: now,
            traffic_sent: None,
            traffic_rx: None,
            old: Vec::new(),
            peer_rekey: None,
            ike_created: now,
        });
        let wants_transport = find_notify(&inner, NotifyType::USE_TRANSPORT_MODE).is_some();
        let mut install = None;
        if child_err.is_none() {
            // Tunnel mode: the peer's side is the address it was given. Transport mode
            // (GRE over IPsec): the selectors are the policy's (the IKE endpoints).
            let allowed_remote = match assigned {
                Some(a) if !self.transport_granted(wants_transport) => {
                    vec![TrafficSelector::host_v4(a)]
                }
                _ => self.policy.ts_remote.clone(),
            };
            let allowed_local = self.policy.ts_local.clone();
            match self.select_child(&p, &allowed_remote, &allowed_local, wants_transport, None) {
                Ok((prop, suite, mode, tsi, tsr)) => {
                    let spi_in = esp_spi(ctx.rng);
                    let mut answer = prop.clone();
                    answer.spi = spi_in.to_be_bytes().to_vec();
                    if mode == Mode::Transport {
                        out.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
                    }
                    out.push(Payload::Sa(SaPayload {
                        proposals: vec![answer],
                    }));
                    out.push(Payload::TsI(tsi.clone()));
                    out.push(Payload::TsR(tsr.clone()));
                    let spi_out = proposal::esp_suite_of(&prop).map_or(0, |x| x.1);
                    install = Some((suite, spi_in, spi_out, mode, tsr, tsi));
                }
                Err(e) => child_err = Some(e),
            }
        }
        if let Some(e) = child_err {
            out.push(notify(e, Vec::new()));
        }
        let header = self.header(ExchangeType::IKE_AUTH, true, 1);
        let bytes = self
            .seal_msg(&est.core, &header, &out, ctx.rng)
            .map_err(InputError::Exchange)?;
        self.transmit_all(ctx, &bytes);
        est.inw.record(1, bytes);
        Self::emit_event(
            ctx,
            Event::IkeSaEstablished {
                sa: self.handle,
                initiator: false,
                peer_id,
                local: self.local,
                remote: self.remote,
                assigned_address: assigned,
                nat_detected: self.nat_local || self.nat_remote,
                internal,
            },
        );
        if let Some((suite, spi_in, spi_out, mode, ts_local, ts_remote)) = install {
            self.install_child(
                now, ctx, &mut est, suite, spi_in, spi_out, mode, ts_local, ts_remote, None,
                &st.ni, &st.nr, None, false,
            );
        } else if let Some(e) = child_err {
            Self::emit_event(
                ctx,
                Event::ChildSaFailed {
                    sa: self.handle,
                    reason: child_error(e),
                },
            );
        }
        self.state = SaState::Established(est);
        self.start_established_timers(now);
        Ok(())
    }

    /// Responder Child SA choice: proposal, suite, mode, narrowed TSi (peer side) and TSr
    /// (our side).
    #[allow(clippy::type_complexity, reason = "internal tuple of one call site")]
    fn select_child(
        &self,
        p: &Parts<'_>,
        allowed_remote: &[TrafficSelector],
        allowed_local: &[TrafficSelector],
        wants_transport: bool,
        ke_group: Option<DhGroup>,
    ) -> Result<
        (
            wire::Proposal,
            EspSuite,
            Mode,
            Vec<TrafficSelector>,
            Vec<TrafficSelector>,
        ),
        NotifyType,
    > {
        let sa = p.sa.ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let (Some(tsi), Some(tsr)) = (p.tsi, p.tsr) else {
            return Err(NotifyType::TS_UNACCEPTABLE);
        };
        let (prop, suite) = proposal::choose_esp(sa, &self.policy.esp_proposals, ke_group)
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let ntsi = narrow(tsi, allowed_remote);
        let ntsr = narrow(tsr, allowed_local);
        if ntsi.is_empty() || ntsr.is_empty() {
            return Err(NotifyType::TS_UNACCEPTABLE);
        }
        let mode = if self.transport_granted(wants_transport) {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        Ok((prop, suite, mode, ntsi, ntsr))
    }

    /// True when a request for transport mode is granted by our policy.
    fn transport_granted(&self, wants_transport: bool) -> bool {
        wants_transport && self.policy.mode == Mode::Transport
    }

    /// Derives the keys of a Child SA and tells the caller.
    fn install_child<R>(
        &self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        suite: EspSuite,
        spi_in: u32,
        spi_out: u32,
        mode: Mode,
        ts_local: Vec<TrafficSelector>,
        ts_remote: Vec<TrafficSelector>,
        g_ir: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        rekey_of: Option<u32>,
        exchange_initiator: bool,
    ) {
        let k = &est.core.keys;
        let Ok(ck) = ChildKeys::derive(
            k.prf,
            k.sk_d.as_bytes(),
            g_ir,
            ni,
            nr,
            suite.encr,
            suite.integ,
        ) else {
            ctx.out.event(Event::ChildSaFailed {
                sa: self.handle,
                reason: Error::NoProposalChosen,
            });
            return;
        };
        let ChildKeys {
            encr_i,
            integ_i,
            encr_r,
            integ_r,
        } = ck;
        let (encr_out, integ_out, encr_in, integ_in) = if exchange_initiator {
            (encr_i, integ_i, encr_r, integ_r)
        } else {
            (encr_r, integ_r, encr_i, integ_i)
        };
        ctx.key_log.dangerous_log_esp_key(
            self.remote.ip(),
            self.local.ip(),
            spi_in,
            suite.encr,
            &encr_in,
        );
        ctx.key_log.dangerous_log_esp_key(
            self.local.ip(),
            self.remote.ip(),
            spi_out,
            suite.encr,
            &encr_out,
        );
        est.children.push(Child {
            spi_in,
            spi_out,
            mode,
            ts_local: ts_local.clone(),
            ts_remote: ts_remote.clone(),
            created: now,
            rekeying: false,
            peer_rekey: None,
        });
        let nat = self.nat_local || self.nat_remote;
        ctx.out.event(Event::ChildSaInstalled {
            sa: self.handle,
            spi_in,
            spi_out,
            mode,
            keys: ChildSaKeys {
                encr: suite.encr,
                integ: suite.integ,
                encr_in,
                integ_in,
                encr_out,
                integ_out,
            },
            ts_local,
            ts_remote,
            udp_encap: nat.then_some((self.local, self.remote)),
            rekey_of,
        });
    }

    // ---- established -----------------------------------------------------------------

    /// Runs `f` on the established state (taken out of `self.state` meanwhile). `f` must
    /// not call [`Self::close`]; it returns what to do instead.
    fn with_est<T>(&mut self, f: impl FnOnce(&mut Self, &mut Established) -> T) -> Option<T> {
        let mut e = match core::mem::replace(&mut self.state, SaState::Closed) {
            SaState::Established(e) => e,
            other => {
                self.state = other;
                return None;
            }
        };
        let r = f(self, &mut e);
        self.state = SaState::Established(e);
        Some(r)
    }

    fn start_established_timers(&mut self, now: Instant) {
        if let Some(d) = self.policy.dpd {
            self.timers.set(Timer::Dpd, now + d.interval);
        }
        if let Some(r) = self.policy.ike_rekey {
            self.timers.set(Timer::RekeyIke, now + r);
        }
        if self.nat_local {
            self.timers
                .set(Timer::Keepalive, now + self.policy.nat_keepalive);
        }
        self.arm_child_rekey();
    }

    fn arm_child_rekey(&mut self) {
        let Some(r) = self.policy.child_rekey else {
            return;
        };
        let at = self.established().and_then(|e| {
            e.children
                .iter()
                .filter(|c| !c.rekeying)
                .map(|c| c.created + r)
                .min()
        });
        match at {
            Some(at) => self.timers.set(Timer::RekeyChild, at),
            None => self.timers.stop(Timer::RekeyChild),
        }
    }

    fn on_established<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        raw: &[u8],
        msg: &Message,
        est: &mut Established,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<Option<Event>, InputError> {
        let h = &msg.header;
        if (h.spi_i, h.spi_r) != (self.spi_i, self.spi_r) {
            return self.on_old_ike(ctx, raw, msg, est).map(|()| None);
        }
        if h.is_response() {
            if !est.pending.contains_key(&h.message_id) {
                return Err(InputError::OutOfWindow);
            }
            let inner = self.open_with(&est.core, raw, msg)?;
            self.note_rx(now, est, local, remote);
            self.retx_done(h.message_id);
            let Some(pending) = est.pending.remove(&h.message_id) else {
                return Err(InputError::OutOfWindow);
            };
            return Ok(self.on_response(now, ctx, est, &inner, pending));
        }
        match est.inw.classify(h.message_id) {
            window::InClass::Fresh => {}
            window::InClass::Replay => {
                // RFC 7296 section 2.2: a retransmitted request gets the same response
                // again. Authenticate before answering, so forged copies cost nothing;
                // answer a fragmented request once, on its first fragment.
                est.core.authenticate(raw, msg)?;
                let first = !matches!(msg.payloads.last(), Some(Payload::Skf(f)) if f.number != 1);
                if first && let Some(bytes) = est.inw.response(h.message_id) {
                    self.transmit_all(ctx, bytes);
                }
                return Ok(None);
            }
            // Below the window with no response kept (e.g. message ID 0xffffffff before the
            // peer's first request) or above it.
            window::InClass::Out => return Err(InputError::OutOfWindow),
        }
        let inner = match self.open_with(&est.core, raw, msg) {
            Ok(i) => i,
            Err(InputError::Wire(e)) => {
                // RFC 7296 section 2.5/3.10.1: an authenticated request we cannot parse
                // (an unknown critical payload, bad syntax) is answered with the notify.
                let header = self.header(h.exchange, true, h.message_id);
                let out = [notify(e.notify(), e.notify_data())];
                let bytes = self
                    .seal_msg(&est.core, &header, &out, ctx.rng)
                    .map_err(InputError::Exchange)?;
                self.transmit_all(ctx, &bytes);
                est.inw.record(h.message_id, bytes);
                return Err(InputError::Wire(e));
            }
            Err(e) => return Err(e),
        };
        self.note_rx(now, est, local, remote);
        let (out, after) = self.on_request(now, ctx, est, h.exchange, &inner);
        let header = self.header(h.exchange, true, h.message_id);
        let bytes = self
            .seal_msg(&est.core, &header, &out, ctx.rng)
            .map_err(InputError::Exchange)?;
        self.transmit_all(ctx, &bytes);
        est.inw.record(h.message_id, bytes);
        match after {
            After::Nothing => Ok(None),
            After::Close(e) => Ok(Some(e)),
            After::IkeRekeyed { spi_i, spi_r, core } => {
                self.switch_ike(ctx, est, spi_i, spi_r, false, core, now);
                Ok(None)
            }
            After::AdoptPeerRekey => {
                if let Some(theirs) = est.peer_rekey.take() {
                    self.adopt_peer_rekey(ctx, est, theirs, now);
                    // The replaced SA was just deleted by the peer.
                    est.old.pop();
                }
                Ok(None)
            }
        }
    }

    fn note_rx(
        &mut self,
        now: Instant,
        est: &mut Established,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        est.last_rx = now;
        if let Some(d) = self.policy.dpd {
            self.timers.set(Timer::Dpd, now + d.interval);
        }
        // NAT-T: follow the peer's new address (RFC 7296 section 2.23).
        if (self.nat_local || self.nat_remote) && (local, remote) != (self.local, self.remote) {
            self.local = local;
            self.remote = remote;
        }
    }

    /// Messages for the IKE SA being replaced: answer requests (typically its Delete) and
    /// forget it once it is deleted.
    fn on_old_ike<R: RngCore + CryptoRng>(
        &self,
        ctx: &mut Ctx<'_, R>,
        raw: &[u8],
        msg: &Message,
        est: &mut Established,
    ) -> Result<(), InputError> {
        let h = &msg.header;
        let Some(i) = est
            .old
            .iter()
            .position(|o| (h.spi_i, h.spi_r) == (o.spi_i, o.spi_r))
        else {
            return Err(InputError::UnknownSa);
        };
        let Some(old) = est.old.get(i) else {
            return Err(InputError::UnknownSa);
        };
        let inner = old.core.open(raw, msg)?;
        if h.is_response() {
            est.old.remove(i);
            return Ok(());
        }
        // No new exchange on an IKE SA that was replaced (RFC 7296 section 2.25.2): a rekey
        // the peer started on it before it learnt of the new one gets TEMPORARY_FAILURE.
        let answer = if h.exchange == ExchangeType::CREATE_CHILD_SA {
            vec![notify(NotifyType::TEMPORARY_FAILURE, Vec::new())]
        } else {
            Vec::new()
        };
        let header = Header {
            spi_i: old.spi_i,
            spi_r: old.spi_r,
            minor_version: 0,
            exchange: h.exchange,
            flags: Flags::new(old.initiator, true),
            message_id: h.message_id,
        };
        let bytes = old
            .core
            .seal(&header, &answer, ctx.rng)
            .map_err(InputError::Exchange)?;
        self.transmit(ctx, bytes);
        if inner
            .iter()
            .any(|p| matches!(p, Payload::Delete(d) if d.protocol == ProtocolId::IKE))
        {
            est.old.remove(i);
        }
        Ok(())
    }

    /// Switches to the keys of a rekeyed IKE SA; the old one is kept until deleted.
    fn switch_ike<R>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
        core: IkeCore,
        now: Instant,
    ) {
        let old_core = core::mem::replace(&mut est.core, core);
        est.old.push(OldIke {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            initiator: self.initiator,
            core: old_core,
            mid_out: est.mid_out,
        });
        self.spi_i = spi_i;
        self.spi_r = spi_r;
        self.initiator = initiator;
        est.inw = window::InWindow::new(0, self.policy.window_size);
        est.mid_out = 0;
        est.ike_created = now;
        if let Some(r) = self.policy.ike_rekey {
            self.timers.set(Timer::RekeyIke, now + r);
        }
        ctx.out.event(Event::IkeSaRekeyed {
            sa: self.handle,
            spi_i,
            spi_r,
        });
    }

    /// Answers a request of the peer. Returns the response payloads and what to do after
    /// sending them.
    fn on_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        exchange: ExchangeType,
        inner: &[Payload],
    ) -> (Vec<Payload>, After) {
        match exchange {
            ExchangeType::INFORMATIONAL => {
                if let Some(n) = find_notify(inner, NotifyType::REDIRECT) {
                    self.on_gateway_redirect(est, &n.data);
                    return (Vec::new(), After::Nothing);
                }
                let mut ours = Vec::new();
                for p in inner {
                    let Payload::Delete(d) = p else { continue };
                    if d.protocol == ProtocolId::IKE {
                        if est.peer_rekey.is_some() {
                            // The peer finished its rekey (RFC 7296 section 2.8.2) before
                            // ours ended: its SA replaces this one.
                            return (Vec::new(), After::AdoptPeerRekey);
                        }
                        // RFC 7296 section 1.4.1: answer with an empty INFORMATIONAL.
                        return (
                            Vec::new(),
                            After::Close(Event::IkeSaDeleted {
                                sa: self.handle,
                                reason: DeleteReason::Remote,
                            }),
                        );
                    }
                    if d.protocol == ProtocolId::ESP {
                        for spi in d.spis_u32() {
                            if let Some(i) = est.children.iter().position(|c| c.spi_out == spi) {
                                let c = est.children.remove(i);
                                ours.push(c.spi_in);
                                ctx.out.event(Event::ChildSaDeleted {
                                    sa: self.handle,
                                    spi_in: c.spi_in,
                                    spi_out: c.spi_out,
                                });
                            }
                        }
                    }
                }
                est.queue.retain(|q| match q {
                    Req::DeleteChild(s) | Req::RekeyChild(s) => !ours.contains(s),
                    _ => true,
                });
                self.arm_child_rekey_in(est);
                if ours.is_empty() {
                    (Vec::new(), After::Nothing)
                } else {
                    (vec![Payload::Delete(Delete::esp(&ours))], After::Nothing)
                }
            }
            ExchangeType::CREATE_CHILD_SA => {
                let p = parts(inner, true);
                let is_ike =
                    p.sa.is_some_and(|s| s.proposals.iter().any(|x| x.protocol == ProtocolId::IKE));
                if is_ike {
                    self.ike_rekey_request(ctx, est, &p)
                } else {
                    (self.child_request(now, ctx, est, &p, inner), After::Nothing)
                }
            }
            _ => (Vec::new(), After::Nothing),
        }
    }

    fn arm_child_rekey_in(&mut self, est: &Established) {
        let Some(r) = self.policy.child_rekey else {
            return;
        };
        match est
            .children
            .iter()
            .filter(|c| !c.rekeying)
            .map(|c| c.created + r)
            .min()
        {
            Some(at) => self.timers.set(Timer::RekeyChild, at),
            None => self.timers.stop(Timer::RekeyChild),
        }
    }

    fn ike_rekey_request<R: RngCore + CryptoRng>(
        &self,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        p: &Parts<'_>,
    ) -> (Vec<Payload>, After) {
        let err = |t: NotifyType, d: Vec<u8>| (vec![notify(t, d)], After::Nothing);
        // RFC 7296 section 2.25.2: one peer rekey at a time, none while we delete.
        if est.peer_rekey.is_some()
            || est
                .pending
                .values()
                .any(|p| matches!(p, Pending::DeleteIke))
            || est.queue.front() == Some(&Req::DeleteIke)
        {
            return err(NotifyType::TEMPORARY_FAILURE, Vec::new());
        }
        let (Some(sa), Some(ke), Some(ni)) = (p.sa, p.ke, p.nonce) else {
            return err(NotifyType::INVALID_SYNTAX, Vec::new());
        };
        if !valid_nonce(ni) {
            return err(NotifyType::INVALID_SYNTAX, Vec::new());
        }
        let Some((num, s)) = proposal::choose_ike(sa, &self.policy.ike_proposals, Some(ke.group.0))
        else {
            return err(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        if s.dh.transform_id() != ke.group.0 {
            return err(
                NotifyType::INVALID_KE_PAYLOAD,
                s.dh.transform_id().to_be_bytes().to_vec(),
            );
        }
        let peer_spi = sa
            .proposals
            .iter()
            .find(|x| x.num == num)
            .and_then(|x| <[u8; 8]>::try_from(x.spi.as_slice()).ok())
            .map(u64::from_be_bytes);
        let Some(peer_spi) = peer_spi.filter(|s| *s != 0) else {
            return err(NotifyType::INVALID_SYNTAX, Vec::new());
        };
        let our_spi = nonzero_u64(ctx.rng);
        let nr = nonce(ctx.rng);
        let (dh, pubkey) = DhSecret::generate(s.dh, ctx.rng);
        let Ok(g) = dh.shared(&ke.data) else {
            return err(NotifyType::INVALID_SYNTAX, Vec::new());
        };
        let Ok(keys) = derive_rekeyed_ike_keys(
            &est.core.keys,
            s.prf,
            s.encr,
            s.integ,
            ni,
            &nr,
            &g,
            peer_spi,
            our_spi,
        ) else {
            return err(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        ctx.key_log.dangerous_log_ike_keys(peer_spi, our_spi, &keys);
        let Ok(core) = IkeCore::new(keys, false) else {
            return err(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        let after = if est
            .pending
            .values()
            .any(|p| matches!(p, Pending::RekeyIke { .. }))
        {
            // RFC 7296 section 2.8.2: both ends rekey at once. Answer as usual and settle
            // which new SA survives when our own exchange ends (`rekey.rs`).
            est.peer_rekey = Some(rekey::PeerIkeRekey {
                spi_i: peer_spi,
                spi_r: our_spi,
                core,
                min_nonce: ni.min(&nr[..]).to_vec(),
            });
            After::Nothing
        } else {
            est.queue.retain(|q| *q != Req::RekeyIke);
            After::IkeRekeyed {
                spi_i: peer_spi,
                spi_r: our_spi,
                core,
            }
        };
        (
            vec![
                Payload::Sa(proposal::ike_answer(num, &s, &our_spi.to_be_bytes())),
                Payload::Nonce(nr),
                Payload::Ke(KeyExchange {
                    group: wire::DhGroup(s.dh.transform_id()),
                    data: pubkey,
                }),
            ],
            after,
        )
    }

    fn child_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        p: &Parts<'_>,
        inner: &[Payload],
    ) -> Vec<Payload> {
        let err = |t: NotifyType| vec![notify(t, Vec::new())];
        let Some(ni) = p.nonce.filter(|n| valid_nonce(n)) else {
            return err(NotifyType::INVALID_SYNTAX);
        };
        let rekey_of = find_notify(inner, NotifyType::REKEY_SA)
            .and_then(|n| <[u8; 4]>::try_from(n.spi.as_slice()).ok())
            .map(u32::from_be_bytes);
        let old = match rekey_of {
            Some(spi) => match est.children.iter().position(|c| c.spi_out == spi) {
                Some(i) => Some(i),
                None => return err(NotifyType::CHILD_SA_NOT_FOUND),
            },
            // A bound on the state one peer can make us hold.
            None if est.children.len() >= MAX_CHILDREN => {
                return err(NotifyType::NO_ADDITIONAL_SAS);
            }
            None => None,
        };
        let ke_group = match p.ke {
            Some(k) => match DhGroup::from_transform_id(k.group.0) {
                Some(g) => Some(g),
                None => return err(NotifyType::INVALID_KE_PAYLOAD),
            },
            None => None,
        };
        let wants_transport = find_notify(inner, NotifyType::USE_TRANSPORT_MODE).is_some();
        let (allowed_remote, allowed_local) = self.allowed_ts(est, wants_transport);
        let (prop, suite, mode, tsi, tsr) = match self.select_child(
            p,
            &allowed_remote,
            &allowed_local,
            wants_transport,
            ke_group,
        ) {
            Ok(x) => x,
            Err(e) => return err(e),
        };
        let nr = nonce(ctx.rng);
        let mut ker = None;
        let mut g_ir = None;
        if let (Some(g), Some(k)) = (ke_group, p.ke) {
            let (dh, pubkey) = DhSecret::generate(g, ctx.rng);
            match dh.shared(&k.data) {
                Ok(s) => g_ir = Some(s),
                Err(_) => return err(NotifyType::INVALID_SYNTAX),
            }
            ker = Some(KeyExchange {
                group: k.group,
                data: pubkey,
            });
        }
        let spi_in = esp_spi(ctx.rng);
        let spi_out = proposal::esp_suite_of(&prop).map_or(0, |x| x.1);
        let mut answer = prop;
        answer.spi = spi_in.to_be_bytes().to_vec();
        let mut out = vec![Payload::Sa(SaPayload {
            proposals: vec![answer],
        })];
        out.push(Payload::Nonce(nr.clone()));
        if let Some(k) = ker {
            out.push(Payload::Ke(k));
        }
        out.push(Payload::TsI(tsi.clone()));
        out.push(Payload::TsR(tsr.clone()));
        if mode == Mode::Transport {
            out.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        let old_in = old.and_then(|i| est.children.get(i)).map(|c| c.spi_in);
        let ours_pending = est
            .pending
            .values()
            .any(|p| matches!(p, Pending::Child { rekey_of: Some(o), .. } if Some(*o) == old_in));
        let old_spi_in = old.and_then(|i| {
            est.children.get_mut(i).map(|c| {
                if ours_pending {
                    // RFC 7296 section 2.8.1: a simultaneous rekey; decided when ours ends.
                    c.peer_rekey = Some((ni.min(&nr[..]).to_vec(), spi_in));
                }
                c.rekeying = true;
                c.spi_in
            })
        });
        self.install_child(
            now,
            ctx,
            est,
            suite,
            spi_in,
            spi_out,
            mode,
            tsr,
            tsi,
            g_ir.as_deref().map(|v| v.as_slice()),
            ni,
            &nr,
            old_spi_in,
            false,
        );
        self.arm_child_rekey_in(est);
        out
    }

    /// The selectors allowed on (the peer's side, our side).
    fn allowed_ts(
        &self,
        est: &Established,
        wants_transport: bool,
    ) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
        let assigned = est
            .assigned
            .filter(|_| !self.transport_granted(wants_transport));
        match (assigned, self.connected_by_us) {
            (Some(a), true) => (
                self.policy.ts_remote.clone(),
                vec![TrafficSelector::host_v4(a)],
            ),
            (Some(a), false) => (
                vec![TrafficSelector::host_v4(a)],
                self.policy.ts_local.clone(),
            ),
            (None, _) => (self.policy.ts_remote.clone(), self.policy.ts_local.clone()),
        }
    }

    /// Handles the answer to our request. Returns an event when the SA must close.
    fn on_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        inner: &[Payload],
        pending: Pending,
    ) -> Option<Event> {
        match pending {
            Pending::Dpd | Pending::Redirect => None,
            Pending::DeleteIke => Some(Event::IkeSaDeleted {
                sa: self.handle,
                reason: DeleteReason::Local,
            }),
            Pending::DeleteChild { spi_in } => {
                if let Some(i) = est.children.iter().position(|c| c.spi_in == spi_in) {
                    let c = est.children.remove(i);
                    ctx.out.event(Event::ChildSaDeleted {
                        sa: self.handle,
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                    });
                }
                self.arm_child_rekey_in(est);
                None
            }
            Pending::Child {
                rekey_of,
                spi_in,
                ni,
                dh,
            } => {
                let unmark = |est: &mut Established| {
                    if let Some(c) = est.children.iter_mut().find(|c| Some(c.spi_in) == rekey_of) {
                        c.rekeying = false;
                    }
                };
                let p = parts(inner, false);
                let res = (|| {
                    if let Some(e) = first_error(inner) {
                        return Err(child_error(e));
                    }
                    let sa = p.sa.ok_or(Error::NoProposalChosen)?;
                    let nr = p
                        .nonce
                        .filter(|n| valid_nonce(n))
                        .ok_or(Error::Protocol("no Nr"))?;
                    let [one] = sa.proposals.as_slice() else {
                        return Err(Error::Protocol("not one ESP proposal"));
                    };
                    let (suite, spi_out, _) =
                        proposal::esp_suite_of(one).ok_or(Error::NoProposalChosen)?;
                    let (tsi, tsr) = (
                        p.tsi.ok_or(Error::TsUnacceptable)?,
                        p.tsr.ok_or(Error::TsUnacceptable)?,
                    );
                    let g = match (dh, p.ke) {
                        (Some(dh), Some(k)) => Some(
                            dh.shared(&k.data)
                                .map_err(|_| Error::Crypto(CryptoFailure::KeyExchange))?,
                        ),
                        (None, None) => None,
                        _ => return Err(Error::Protocol("KE mismatch in CREATE_CHILD_SA")),
                    };
                    Ok((suite, spi_out, tsi.to_vec(), tsr.to_vec(), nr.to_vec(), g))
                })();
                match res {
                    Ok((suite, spi_out, tsi, tsr, nr, g)) => {
                        let mode = if find_notify(inner, NotifyType::USE_TRANSPORT_MODE).is_some() {
                            Mode::Transport
                        } else {
                            Mode::Tunnel
                        };
                        self.install_child(
                            now,
                            ctx,
                            est,
                            suite,
                            spi_in,
                            spi_out,
                            mode,
                            tsi,
                            tsr,
                            g.as_deref().map(|v| v.as_slice()),
                            &ni,
                            &nr,
                            rekey_of,
                            true,
                        );
                        if let Some(old) = rekey_of {
                            // RFC 7296 section 2.8.1: after a simultaneous rekey, the SA
                            // from the exchange with the lowest nonce is redundant and its
                            // creator deletes it; the old SA goes either way.
                            let peer = est
                                .children
                                .iter()
                                .find(|c| c.spi_in == old)
                                .and_then(|c| c.peer_rekey.clone());
                            if let Some((peer_min, _)) = peer {
                                let ours_min = ni.as_slice().min(nr.as_slice());
                                if ours_min < peer_min.as_slice() {
                                    est.queue.push_back(Req::DeleteChild(spi_in));
                                }
                            }
                            est.queue.push_back(Req::DeleteChild(old));
                        }
                    }
                    Err(reason) => {
                        unmark(est);
                        ctx.out.event(Event::ChildSaFailed {
                            sa: self.handle,
                            reason,
                        });
                    }
                }
                self.arm_child_rekey_in(est);
                None
            }
            Pending::RekeyIke {
                spi,
                ni,
                dh,
                restarts,
            } => {
                if let Some(n) = find_notify(inner, NotifyType::INVALID_KE_PAYLOAD) {
                    let g = <[u8; 2]>::try_from(n.data.as_slice())
                        .ok()
                        .map(u16::from_be_bytes)
                        .and_then(DhGroup::from_transform_id)
                        .filter(|g| self.policy.ike_proposals.iter().any(|s| s.dh == *g));
                    if let Some(g) = g
                        && restarts < MAX_RESTARTS
                    {
                        self.send_ike_rekey(now, ctx, est, g, restarts + 1);
                    }
                    return None;
                }
                let p = parts(inner, false);
                let res = (|| {
                    if first_error(inner).is_some() {
                        return None;
                    }
                    let sa = p.sa?;
                    let [one] = sa.proposals.as_slice() else {
                        return None;
                    };
                    let s = proposal::ike_suite_of(one)?;
                    let peer_spi = u64::from_be_bytes(one.spi.as_slice().try_into().ok()?);
                    let nr = p.nonce.filter(|n| valid_nonce(n))?;
                    let ke = p.ke.filter(|k| k.group.0 == s.dh.transform_id())?;
                    if s.dh != dh.group() || !self.policy.ike_proposals.contains(&s) {
                        return None;
                    }
                    let g = dh.shared(&ke.data).ok()?;
                    let keys = derive_rekeyed_ike_keys(
                        &est.core.keys,
                        s.prf,
                        s.encr,
                        s.integ,
                        &ni,
                        nr,
                        &g,
                        spi,
                        peer_spi,
                    )
                    .ok()?;
                    ctx.key_log.dangerous_log_ike_keys(spi, peer_spi, &keys);
                    Some((peer_spi, IkeCore::new(keys, true).ok()?))
                })();
                let Some((peer_spi, core)) = res else {
                    if let Some(theirs) = est.peer_rekey.take() {
                        // Ours was refused but theirs went through: theirs is the new SA.
                        self.adopt_peer_rekey(ctx, est, theirs, now);
                        return None;
                    }
                    // Refused (TEMPORARY_FAILURE from an older peer, or any error): retry
                    // after a random delay of 1-10 s (RFC 7296 section 2.25), so that two
                    // peers that collided do not collide again.
                    let jitter = Duration::from_millis(1000 + u64::from(ctx.rng.next_u32() % 9000));
                    self.timers.set(Timer::RekeyIke, now + jitter);
                    return None;
                };
                let ours = rekey::OwnIkeRekey {
                    spi_i: spi,
                    spi_r: peer_spi,
                    core,
                    min_nonce: ni.as_slice().min(nr_of(inner)).to_vec(),
                };
                self.finish_ike_rekey(ctx, est, ours, now);
                None
            }
        }
    }

    fn send_ike_rekey<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        group: DhGroup,
        restarts: u8,
    ) {
        let spi = nonzero_u64(ctx.rng);
        let ni = nonce(ctx.rng);
        let (dh, pubkey) = DhSecret::generate(group, ctx.rng);
        // Offer our suites, with the group of the KE first.
        let mut suites = self.policy.ike_proposals.clone();
        suites.sort_by_key(|s| s.dh != group);
        let inner = vec![
            Payload::Sa(proposal::ike_sa_payload(&suites, &spi.to_be_bytes())),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KeyExchange {
                group: wire::DhGroup(group.transform_id()),
                data: pubkey,
            }),
        ];
        self.send_est_request(
            now,
            ctx,
            est,
            ExchangeType::CREATE_CHILD_SA,
            &inner,
            Pending::RekeyIke {
                spi,
                ni,
                dh,
                restarts,
            },
        );
    }

    fn send_est_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        exchange: ExchangeType,
        inner: &[Payload],
        pending: Pending,
    ) {
        let mid = est.mid_out;
        let header = self.header(exchange, false, mid);
        let Ok(bytes) = self.seal_msg(&est.core, &header, inner, ctx.rng) else {
            return;
        };
        est.mid_out = est.mid_out.wrapping_add(1);
        let dpd = matches!(pending, Pending::Dpd);
        est.pending.insert(mid, pending);
        self.send_request(now, ctx, mid, bytes, dpd);
    }

    /// Sends the next queued request if the window is free.
    pub(crate) fn pump<R: RngCore + CryptoRng>(&mut self, now: Instant, ctx: &mut Ctx<'_, R>) {
        self.with_est(|sa, est| {
            while let Some(req) = est.queue.front() {
                if !est.can_send(req) {
                    break;
                }
                let Some(req) = est.queue.pop_front() else {
                    break;
                };
                match req {
                    Req::Dpd => sa.send_est_request(
                        now,
                        ctx,
                        est,
                        ExchangeType::INFORMATIONAL,
                        &[],
                        Pending::Dpd,
                    ),
                    Req::DeleteIke => sa.send_est_request(
                        now,
                        ctx,
                        est,
                        ExchangeType::INFORMATIONAL,
                        &[Payload::Delete(Delete::ike())],
                        Pending::DeleteIke,
                    ),
                    Req::DeleteChild(spi_in) => {
                        if est.children.iter().any(|c| c.spi_in == spi_in) {
                            sa.send_est_request(
                                now,
                                ctx,
                                est,
                                ExchangeType::INFORMATIONAL,
                                &[Payload::Delete(Delete::esp(&[spi_in]))],
                                Pending::DeleteChild { spi_in },
                            );
                        }
                    }
                    Req::RekeyChild(old) => sa.send_child_rekey(now, ctx, est, old),
                    Req::RekeyIke => {
                        if let Some(g) = sa.policy.ike_proposals.first().map(|s| s.dh) {
                            sa.send_ike_rekey(now, ctx, est, g, 0);
                        }
                    }
                    Req::Redirect(gw) => sa.send_est_request(
                        now,
                        ctx,
                        est,
                        ExchangeType::INFORMATIONAL,
                        &[notify(NotifyType::REDIRECT, gw_ident(gw))],
                        Pending::Redirect,
                    ),
                }
            }
        });
    }

    fn send_child_rekey<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        old: u32,
    ) {
        let Some(c) = est
            .children
            .iter_mut()
            .find(|c| c.spi_in == old && !c.rekeying)
        else {
            return;
        };
        c.rekeying = true;
        let (ts_local, ts_remote, mode) = (c.ts_local.clone(), c.ts_remote.clone(), c.mode);
        let spi_in = esp_spi(ctx.rng);
        let ni = nonce(ctx.rng);
        let pfs = self.policy.esp_proposals.first().and_then(|s| s.pfs);
        let mut inner = vec![Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            spi: old.to_be_bytes().to_vec(),
            ty: NotifyType::REKEY_SA,
            data: Vec::new(),
        })];
        if mode == Mode::Transport {
            inner.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        inner.push(Payload::Sa(proposal::esp_sa_payload(
            &self.policy.esp_proposals,
            spi_in,
            pfs.is_some(),
        )));
        inner.push(Payload::Nonce(ni.clone()));
        let mut dh = None;
        if let Some(g) = pfs {
            let (d, pubkey) = DhSecret::generate(g, ctx.rng);
            inner.push(Payload::Ke(KeyExchange {
                group: wire::DhGroup(g.transform_id()),
                data: pubkey,
            }));
            dh = Some(d);
        }
        inner.push(Payload::TsI(ts_local));
        inner.push(Payload::TsR(ts_remote));
        self.send_est_request(
            now,
            ctx,
            est,
            ExchangeType::CREATE_CHILD_SA,
            &inner,
            Pending::Child {
                rekey_of: Some(old),
                spi_in,
                ni,
                dh,
            },
        );
    }

    /// Timer processing. Idempotent: nothing happens before a deadline.
    pub(crate) fn handle_timeout<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
    ) {
        if self.timers.expired(Timer::HalfOpenExpire, now) {
            self.close(
                ctx,
                Event::IkeSaFailed {
                    sa: self.handle,
                    reason: Error::Timeout,
                },
            );
            return;
        }
        if self.timers.expired(Timer::Retransmit, now)
            && let Some(ev) = self.retransmit_due(now, ctx)
        {
            self.close(ctx, ev);
            return;
        }
        if self.timers.expired(Timer::Keepalive, now) {
            ctx.out.transmit(crate::event::Transmit {
                local: self.local,
                remote: self.remote,
                payload: vec![0xff],
            });
            self.timers
                .set(Timer::Keepalive, now + self.policy.nat_keepalive);
        }
        let dpd = self.policy.dpd;
        let child_rekey = self.policy.child_rekey;
        let fire_dpd = self.timers.expired(Timer::Dpd, now);
        let fire_ike = self.timers.expired(Timer::RekeyIke, now);
        let fire_child = self.timers.expired(Timer::RekeyChild, now);
        self.with_est(|sa, est| {
            if fire_dpd && let Some(d) = dpd {
                let last_in = est.last_rx.max(est.traffic_rx.unwrap_or(est.last_rx));
                let due = last_in + d.interval;
                if now < due {
                    sa.timers.set(Timer::Dpd, due);
                } else {
                    // Periodic: whenever idle. On demand: only when we sent traffic and
                    // heard nothing since (IOS `dpd <interval> <retry> on-demand`).
                    let wanted = !d.on_demand || est.traffic_sent.is_some_and(|s| s > last_in);
                    if wanted && !est.queue.contains(&Req::Dpd) && est.pending.is_empty() {
                        est.queue.push_back(Req::Dpd);
                    }
                    if !d.on_demand {
                        sa.timers.set(Timer::Dpd, now + d.interval);
                    }
                }
            }
            if fire_ike && !est.queue.contains(&Req::RekeyIke) {
                est.queue.push_back(Req::RekeyIke);
            }
            if fire_child && let Some(r) = child_rekey {
                for c in &est.children {
                    if !c.rekeying
                        && c.created + r <= now
                        && !est.queue.contains(&Req::RekeyChild(c.spi_in))
                    {
                        est.queue.push_back(Req::RekeyChild(c.spi_in));
                    }
                }
            }
        });
        self.pump(now, ctx);
    }

    /// Queues a request (a command from the caller).
    pub(crate) fn queue(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, impl RngCore + CryptoRng>,
        req: Req,
    ) -> bool {
        let ok = self
            .with_est(|_, est| {
                if req == Req::DeleteIke {
                    est.queue.clear();
                    est.queue.push_front(req);
                } else if !est.queue.contains(&req) {
                    est.queue.push_back(req);
                }
            })
            .is_some();
        if ok {
            self.pump(now, ctx);
        }
        ok
    }

    /// Closes at once, without telling the peer (for a half-open or failing SA).
    pub(crate) fn abort<R>(&mut self, ctx: &mut Ctx<'_, R>, reason: DeleteReason) {
        let ev = Event::IkeSaDeleted {
            sa: self.handle,
            reason,
        };
        self.close(ctx, ev);
    }

    /// Traffic seen by the ESP layer (for on-demand DPD).
    pub(crate) fn traffic(&mut self, now: Instant, sent: bool, received: bool) {
        let dpd = self.policy.dpd;
        self.with_est(|sa, est| {
            if received {
                est.traffic_rx = Some(now);
            }
            if sent {
                est.traffic_sent = Some(now);
                if let Some(d) = dpd
                    && d.on_demand
                    && sa.timers.get(Timer::Dpd).is_none()
                {
                    let last_in = est.last_rx.max(est.traffic_rx.unwrap_or(est.last_rx));
                    sa.timers.set(Timer::Dpd, (last_in + d.interval).max(now));
                }
            }
        });
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

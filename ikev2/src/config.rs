//! Configuration: plain data. Constructors validate ("parse, don't validate").

use core::fmt;
use core::net::{Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::sync::{Arc, OnceLock};

use zeroize::Zeroizing;

use crate::crypto::{DhGroup, EncrAlg, IkeKeys, IntegAlg, KeyMaterial, PrfAlg, psk_auth_key};
use crate::error::ApiError;
use crate::wire::{Identification, TrafficSelector};

/// A pre-shared key, possibly a different one per direction (IOS `pre-shared-key local X`
/// / `pre-shared-key remote Y`; plain `pre-shared-key X` sets both). Our AUTH is computed
/// with the local key, the peer's AUTH checked with the remote key. Zeroized on drop,
/// redacted in `Debug`.
///
/// Cloning is cheap (the keys are shared, not copied), and a `Psk` remembers, per PRF,
/// `prf(key, "Key Pad for IKEv2")` (RFC 7296 2.15) the first time an AUTH payload is
/// signed or checked with it, so later handshakes with the same `Psk` (or a clone of
/// it) skip that step. With [`Psk::new`] both directions share one key and one cache.
#[derive(Clone)]
pub struct Psk(Arc<PskKeys>);

/// The keys of a [`Psk`] and their cached AUTH keys (zeroized on drop).
struct PskKeys {
    local: Zeroizing<Vec<u8>>,
    /// `None` when the remote key is the local one.
    remote: Option<Zeroizing<Vec<u8>>>,
    /// `prf(local, KEY_PAD)` per PRF, in [`PrfAlg::ALL`] order.
    local_auth: [OnceLock<Zeroizing<Vec<u8>>>; 3],
    /// `prf(remote, KEY_PAD)` per PRF (unused when `remote` is `None`).
    remote_auth: [OnceLock<Zeroizing<Vec<u8>>>; 3],
}

impl Psk {
    /// One key for both directions (for example `b"cisco"`).
    pub fn new(key: &[u8]) -> Self {
        Self::build(key, None)
    }
    /// Distinct keys: `local` signs our AUTH, `remote` checks the peer's.
    pub fn pair(local: &[u8], remote: &[u8]) -> Self {
        Self::build(local, Some(remote))
    }
    fn build(local: &[u8], remote: Option<&[u8]>) -> Self {
        Self(Arc::new(PskKeys {
            local: Zeroizing::new(local.to_vec()),
            remote: remote.map(|r| Zeroizing::new(r.to_vec())),
            local_auth: Default::default(),
            remote_auth: Default::default(),
        }))
    }
    /// The local key (the one of [`Psk::new`]).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0.local
    }
    /// The key that signs our AUTH payload.
    pub fn local(&self) -> &[u8] {
        &self.0.local
    }
    /// The key that checks the peer's AUTH payload.
    pub fn remote(&self) -> &[u8] {
        self.0.remote.as_deref().unwrap_or(&self.0.local)
    }
    /// `prf(local key, "Key Pad for IKEv2")` for `prf`, computed once per PRF.
    pub(crate) fn local_auth_key(&self, prf: PrfAlg) -> &[u8] {
        cached_auth_key(&self.0.local_auth, prf, &self.0.local)
    }
    /// `prf(remote key, "Key Pad for IKEv2")` for `prf`, computed once per PRF.
    pub(crate) fn remote_auth_key(&self, prf: PrfAlg) -> &[u8] {
        match &self.0.remote {
            Some(r) => cached_auth_key(&self.0.remote_auth, prf, r),
            None => self.local_auth_key(prf),
        }
    }
}

fn cached_auth_key<'a>(
    cache: &'a [OnceLock<Zeroizing<Vec<u8>>>; 3],
    prf: PrfAlg,
    key: &[u8],
) -> &'a [u8] {
    let slot = match prf {
        PrfAlg::HmacSha256 => &cache[0],
        PrfAlg::HmacSha384 => &cache[1],
        PrfAlg::HmacSha512 => &cache[2],
    };
    slot.get_or_init(|| psk_auth_key(prf, key))
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Psk(local {} bytes, remote {} bytes, redacted)",
            self.local().len(),
            self.remote().len()
        )
    }
}

/// What an initiator asks for in its CP(CFG_REQUEST) besides the address
/// (`PeerConfig::request_address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpRequest {
    /// INTERNAL_IP4_NETMASK.
    pub netmask: bool,
    /// INTERNAL_IP4_DNS.
    pub dns: bool,
    /// INTERNAL_IP4_SUBNET (the networks behind the responder).
    pub subnet: bool,
    /// INTERNAL_IP6_ADDRESS.
    pub ipv6: bool,
}

impl Default for CpRequest {
    /// Netmask, DNS and subnets; no IPv6 address.
    fn default() -> Self {
        Self {
            netmask: true,
            dns: true,
            subnet: true,
            ipv6: false,
        }
    }
}

/// What a responder puts in its CP(CFG_REPLY) besides the pool address, for the
/// attributes the initiator asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpConfig {
    /// INTERNAL_IP4_NETMASK of the assigned address (sent with an address only).
    pub netmask: Option<Ipv4Addr>,
    /// INTERNAL_IP4_DNS servers (`dns` in an IOS authorization policy).
    pub dns: Vec<Ipv4Addr>,
    /// INTERNAL_IP4_SUBNET: networks reachable through us, as (address, netmask).
    pub subnets: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// INTERNAL_IP6_ADDRESS from this pool.
    pub pool6: Option<AddressPool6>,
}

/// An inclusive IPv6 address range handed out by a responder, with the prefix length
/// sent beside each address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPool6 {
    first: core::net::Ipv6Addr,
    last: core::net::Ipv6Addr,
    prefix_len: u8,
}

impl AddressPool6 {
    /// A pool from `first` to `last` inclusive.
    ///
    /// # Errors
    /// [`ApiError::Config`] when `last < first` or `prefix_len > 128`.
    pub fn new(
        first: core::net::Ipv6Addr,
        last: core::net::Ipv6Addr,
        prefix_len: u8,
    ) -> Result<Self, ApiError> {
        if last < first || prefix_len > 128 {
            return Err(ApiError::Config("bad IPv6 pool"));
        }
        Ok(Self {
            first,
            last,
            prefix_len,
        })
    }
    /// First address.
    pub fn first(&self) -> core::net::Ipv6Addr {
        self.first
    }
    /// Last address.
    pub fn last(&self) -> core::net::Ipv6Addr {
        self.last
    }
    /// Prefix length sent with each address.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }
}

/// One IKE SA proposal: encryption, integrity (None for AEAD), PRF and DH group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeSuite {
    /// Encryption.
    pub encr: EncrAlg,
    /// Integrity (None with AES-GCM).
    pub integ: IntegAlg,
    /// PRF.
    pub prf: PrfAlg,
    /// Key exchange group.
    pub dh: DhGroup,
}

impl IkeSuite {
    /// An AES-GCM-16 suite.
    pub const fn gcm(encr: EncrAlg, prf: PrfAlg, dh: DhGroup) -> Self {
        Self {
            encr,
            integ: IntegAlg::None,
            prf,
            dh,
        }
    }
}

/// One ESP proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspSuite {
    /// Encryption.
    pub encr: EncrAlg,
    /// Integrity (None with AES-GCM).
    pub integ: IntegAlg,
    /// Extended sequence numbers.
    pub esn: bool,
    /// The DH group for PFS in CREATE_CHILD_SA (None: no PFS).
    pub pfs: Option<DhGroup>,
}

impl EspSuite {
    /// AES-GCM-16 with a 256-bit key, no ESN, no PFS (strongSwan's `aes256gcm16`).
    pub const AES256GCM16: Self = Self {
        encr: EncrAlg::AesGcm16_256,
        integ: IntegAlg::None,
        esn: false,
        pfs: None,
    };
}

/// Child SA encapsulation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tunnel mode.
    Tunnel,
    /// Transport mode (USE_TRANSPORT_MODE, RFC 7296 section 1.3.1).
    Transport,
}

/// Dead peer detection, as `crypto ikev2 dpd <interval> <retry> [on-demand|periodic]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpdConfig {
    /// Idle time before a liveness check.
    pub interval: Duration,
    /// Retransmission interval of an unanswered DPD request.
    pub retry: Duration,
    /// On demand: check only when we sent traffic and received none for `interval`
    /// (the caller reports traffic with `Endpoint::handle_traffic`). Periodic otherwise.
    pub on_demand: bool,
}

/// Retransmission of requests (RFC 7296 section 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// First timeout.
    pub initial: Duration,
    /// Upper bound of one timeout (exponential backoff doubles up to this).
    pub max_timeout: Duration,
    /// Retransmissions after the first send; when spent, the peer is declared dead.
    pub tries: u32,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max_timeout: Duration::from_secs(8),
            tries: 5,
        }
    }
}

/// Settings shared by both roles.
#[derive(Debug, Clone)]
pub struct SaPolicy {
    /// Our identity.
    pub local_id: Identification,
    /// IKE proposals in order of preference.
    pub ike_proposals: Vec<IkeSuite>,
    /// ESP proposals in order of preference.
    pub esp_proposals: Vec<EspSuite>,
    /// Requested (initiator) or accepted (responder) Child SA mode.
    pub mode: Mode,
    /// Our side's traffic selectors (TSi for an initiator, TSr for a responder).
    pub ts_local: Vec<TrafficSelector>,
    /// The peer's side's traffic selectors. A responder with a pool narrows these to the
    /// address it assigns.
    pub ts_remote: Vec<TrafficSelector>,
    /// DPD (None: off).
    pub dpd: Option<DpdConfig>,
    /// Rekey the IKE SA after this long (None: never).
    pub ike_rekey: Option<Duration>,
    /// Rekey each Child SA after this long (None: never).
    pub child_rekey: Option<Duration>,
    /// Retransmission.
    pub retransmit: RetransmitConfig,
    /// NAT-T keepalive interval when we are behind a NAT (RFC 3948 section 4).
    pub nat_keepalive: Duration,
    /// Largest IKE message we send unfragmented once the peer announced
    /// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383); None: never fragment.
    pub fragment_size: Option<usize>,
    /// Responder: after authenticating a peer that supports redirects, this hook may name
    /// another gateway; the IKE_AUTH response then carries REDIRECT instead of a Child SA
    /// (RFC 5685 section 6). None: never.
    pub auth_redirect: Option<AuthRedirect>,
    /// How many requests of the peer we accept outstanding at once (RFC 7296 section 2.3;
    /// 1 to 32). Above 1 it is announced with SET_WINDOW_SIZE in IKE_AUTH and we keep that
    /// many responses for retransmissions.
    pub window_size: u32,
    /// Initiator: the CP attributes asked for besides the address.
    pub cp_request: CpRequest,
    /// Responder: the CP attributes handed out besides the pool address.
    pub cp: CpConfig,
}

/// The responder's redirect decision in IKE_AUTH (RFC 5685 section 6): given the
/// authenticated peer identity and its IKE address, the gateway to send it to, if any.
#[derive(Clone)]
pub struct AuthRedirect(Arc<RedirectFn>);

/// The closure behind an [`AuthRedirect`].
type RedirectFn = dyn Fn(&Identification, SocketAddr) -> Option<core::net::IpAddr> + Send + Sync;

impl AuthRedirect {
    /// A hook from a closure.
    pub fn new(
        f: impl Fn(&Identification, SocketAddr) -> Option<core::net::IpAddr> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }
    /// Redirects the peers whose identity is in `table` to the gateway beside it.
    pub fn by_identity(table: Vec<(Identification, core::net::IpAddr)>) -> Self {
        Self::new(move |id, _| table.iter().find(|(i, _)| i == id).map(|(_, gw)| *gw))
    }
    /// The decision for one peer.
    pub fn decide(&self, peer: &Identification, remote: SocketAddr) -> Option<core::net::IpAddr> {
        (self.0)(peer, remote)
    }
}

impl fmt::Debug for AuthRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthRedirect(..)")
    }
}

impl SaPolicy {
    /// A policy with strongSwan-compatible defaults: AES-256-GCM with SHA-256 over
    /// MODP-2048, P-256 and Curve25519; ESP AES-256-GCM; tunnel mode; any-to-any.
    pub fn new(local_id: Identification) -> Self {
        Self {
            local_id,
            ike_proposals: vec![
                IkeSuite::gcm(
                    EncrAlg::AesGcm16_256,
                    PrfAlg::HmacSha256,
                    DhGroup::Curve25519,
                ),
                IkeSuite::gcm(EncrAlg::AesGcm16_256, PrfAlg::HmacSha256, DhGroup::Ecp256),
                IkeSuite::gcm(EncrAlg::AesGcm16_256, PrfAlg::HmacSha256, DhGroup::Modp2048),
            ],
            esp_proposals: vec![EspSuite::AES256GCM16],
            mode: Mode::Tunnel,
            ts_local: vec![TrafficSelector::any_v4()],
            ts_remote: vec![TrafficSelector::any_v4()],
            dpd: None,
            ike_rekey: None,
            child_rekey: None,
            retransmit: RetransmitConfig::default(),
            nat_keepalive: Duration::from_secs(20),
            fragment_size: Some(1280),
            auth_redirect: None,
            window_size: 1,
            cp_request: CpRequest::default(),
            cp: CpConfig::default(),
        }
    }

    /// Checks the policy.
    ///
    /// # Errors
    /// [`ApiError::Config`] when a proposal list is empty or an AEAD suite has an
    /// integrity algorithm (or a CBC suite none).
    pub fn validate(&self) -> Result<(), ApiError> {
        if !(1..=32).contains(&self.window_size) {
            return Err(ApiError::Config("window size outside 1..=32"));
        }
        if self.ike_proposals.is_empty() {
            return Err(ApiError::Config("no IKE proposal"));
        }
        if self.esp_proposals.is_empty() {
            return Err(ApiError::Config("no ESP proposal"));
        }
        let ok = |e: EncrAlg, i: IntegAlg| e.is_aead() == (i == IntegAlg::None);
        if !self.ike_proposals.iter().all(|s| ok(s.encr, s.integ))
            || !self.esp_proposals.iter().all(|s| ok(s.encr, s.integ))
        {
            return Err(ApiError::Config("AEAD with integrity or CBC without"));
        }
        Ok(())
    }
}

/// What an initiator needs to connect to one peer.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The peer's IKE address (port 500 normally).
    pub remote: SocketAddr,
    /// Our IKE address to send from (must be one the endpoint serves).
    pub local: SocketAddr,
    /// The PSK.
    pub psk: Psk,
    /// The peer's expected identity (None: accept any).
    pub remote_id: Option<Identification>,
    /// Ask for an internal address with CP(CFG_REQUEST) ("ip address negotiated").
    pub request_address: bool,
    /// Send INITIAL_CONTACT in IKE_AUTH.
    pub initial_contact: bool,
    /// Everything else.
    pub policy: SaPolicy,
}

/// An inclusive IPv4 address range handed out by a responder (`ip local pool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPool {
    first: Ipv4Addr,
    last: Ipv4Addr,
}

impl AddressPool {
    /// A pool from `first` to `last` inclusive.
    ///
    /// # Errors
    /// [`ApiError::Config`] when `last < first`.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Result<Self, ApiError> {
        if last < first {
            return Err(ApiError::Config("pool end before start"));
        }
        Ok(Self { first, last })
    }
    /// First address.
    pub fn first(&self) -> Ipv4Addr {
        self.first
    }
    /// Last address.
    pub fn last(&self) -> Ipv4Addr {
        self.last
    }
}

/// How a responder accepts peers.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// PSKs by peer identity; `None` as identity matches any peer.
    pub psks: Vec<(Option<Identification>, Psk)>,
    /// Addresses to hand out through CP.
    pub pool: Option<AddressPool>,
    /// Everything else (`mode` is what we accept: transport is granted only when
    /// `Mode::Transport` and the peer asks).
    pub policy: SaPolicy,
}

/// Endpoint-wide settings.
#[derive(Clone)]
pub struct EndpointConfig {
    /// The port that carries IKE with the non-ESP marker (4500).
    pub nat_port: u16,
    /// Responder settings (None: refuse incoming IKE_SA_INIT).
    pub responder: Option<ResponderConfig>,
    /// Maximum half-open (responder, not yet authenticated) SAs.
    pub half_open_limit: usize,
    /// Half-open SAs from which on IKE_SA_INIT requests must carry a COOKIE.
    pub cookie_threshold: usize,
    /// How often the cookie secret changes (the previous one stays valid).
    pub cookie_rotation: Duration,
    /// How long a half-open SA may wait for IKE_AUTH.
    pub half_open_timeout: Duration,
    /// Maximum queued transmits and events (excess is counted in `Stats`).
    pub queue_limit: usize,
    /// Where keys go for tshark and tests (default: nowhere).
    pub key_log: Arc<dyn KeyLog>,
    /// Redirect every new IKE_SA_INIT of a peer that supports it to this gateway
    /// (RFC 5685 section 4.2), instead of serving it.
    pub redirect_to: Option<core::net::IpAddr>,
}

impl EndpointConfig {
    /// Defaults: port 4500, no responder, 1024 half-open, cookies from 64, rotation every
    /// 5 minutes, half-open timeout 30 s, queues of 4096.
    pub fn new() -> Self {
        Self {
            nat_port: 4500,
            responder: None,
            half_open_limit: 1024,
            cookie_threshold: 64,
            cookie_rotation: Duration::from_secs(300),
            half_open_timeout: Duration::from_secs(30),
            queue_limit: 4096,
            key_log: Arc::new(NoKeyLog),
            redirect_to: None,
        }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("nat_port", &self.nat_port)
            .field("responder", &self.responder)
            .field("half_open_limit", &self.half_open_limit)
            .field("cookie_threshold", &self.cookie_threshold)
            .finish_non_exhaustive()
    }
}

/// Receives secret keys for debugging and for tools such as tshark. Every method has
/// `dangerous` in its name: an implementation writes secrets somewhere.
pub trait KeyLog: Send + Sync {
    /// Called when an IKE SA gets keys (IKE_SA_INIT done, or an IKE rekey).
    fn dangerous_log_ike_keys(&self, spi_i: u64, spi_r: u64, keys: &IkeKeys) {
        let _ = (spi_i, spi_r, keys);
    }
    /// Called when an ESP SA is installed: one call per direction.
    fn dangerous_log_esp_key(
        &self,
        src: core::net::IpAddr,
        dst: core::net::IpAddr,
        spi: u32,
        encr: EncrAlg,
        key: &KeyMaterial,
    ) {
        let _ = (src, dst, spi, encr, key);
    }
}

/// The default [`KeyLog`]: logs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeyLog;

impl KeyLog for NoKeyLog {}

/// A [`KeyLog`] that collects lines in Wireshark's `ikev2_decryption_table` and `esp_sa`
/// formats (see [`ikev2_decryption_table_line`] and [`esp_sa_line`]).
#[derive(Debug, Default)]
pub struct WiresharkKeyLog {
    /// `ikev2_decryption_table` lines.
    pub ike: std::sync::Mutex<Vec<String>>,
    /// `esp_sa` lines.
    pub esp: std::sync::Mutex<Vec<String>>,
}

impl KeyLog for WiresharkKeyLog {
    fn dangerous_log_ike_keys(&self, spi_i: u64, spi_r: u64, keys: &IkeKeys) {
        if let Ok(mut v) = self.ike.lock() {
            v.push(ikev2_decryption_table_line(spi_i, spi_r, keys));
        }
    }
    fn dangerous_log_esp_key(
        &self,
        src: core::net::IpAddr,
        dst: core::net::IpAddr,
        spi: u32,
        encr: EncrAlg,
        key: &KeyMaterial,
    ) {
        if let Ok(mut v) = self.esp.lock() {
            v.push(esp_sa_line(src, dst, spi, encr, key));
        }
    }
}

fn hex(b: &[u8]) -> String {
    crate::wire::hex(b)
}

/// One line of Wireshark's `ikev2_decryption_table` UAT:
/// `SPIi,SPIr,SK_ei,SK_er,"<encr>",SK_ai,SK_ar,"<integ>"`.
pub fn ikev2_decryption_table_line(spi_i: u64, spi_r: u64, k: &IkeKeys) -> String {
    let encr = match k.encr {
        EncrAlg::AesGcm16_128 => "AES-GCM-128 with 16 octet ICV [RFC5282]",
        EncrAlg::AesGcm16_256 => "AES-GCM-256 with 16 octet ICV [RFC5282]",
        EncrAlg::AesCbc128 => "AES-CBC-128 [RFC3602]",
        EncrAlg::AesCbc256 => "AES-CBC-256 [RFC3602]",
    };
    let integ = match k.integ {
        IntegAlg::None => "NONE [RFC4306]",
        IntegAlg::HmacSha256_128 => "HMAC_SHA2_256_128 [RFC4868]",
        IntegAlg::HmacSha384_192 => "HMAC_SHA2_384_192 [RFC4868]",
        IntegAlg::HmacSha512_256 => "HMAC_SHA2_512_256 [RFC4868]",
    };
    format!(
        "{:016x},{:016x},{},{},\"{encr}\",{},{},\"{integ}\"",
        spi_i,
        spi_r,
        hex(k.sk_ei.as_bytes()),
        hex(k.sk_er.as_bytes()),
        hex(k.sk_ai.as_bytes()),
        hex(k.sk_ar.as_bytes()),
    )
}

/// One line of Wireshark's `esp_sa` UAT (8 columns), for AES-GCM-16 ESP SAs.
pub fn esp_sa_line(
    src: core::net::IpAddr,
    dst: core::net::IpAddr,
    spi: u32,
    encr: EncrAlg,
    key: &KeyMaterial,
) -> String {
    let fam = if src.is_ipv4() { "IPv4" } else { "IPv6" };
    let alg = if encr.is_aead() {
        "AES-GCM with 16 octet ICV [RFC4106]"
    } else {
        "AES-CBC [RFC3602]"
    };
    format!(
        "\"{fam}\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{alg}\",\"0x{}\",\"NULL\",\"\"",
        hex(key.as_bytes())
    )
}

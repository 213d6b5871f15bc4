//! The parsed configuration: plain data, one struct per IOS configuration mode.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use zeroize::Zeroizing;

use crate::prefix::Prefix;

/// A whole router configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `hostname NAME`.
    pub hostname: Option<String>,
    /// `crypto logging session`: log IKEv2 session up/down.
    pub crypto_logging_session: bool,
    /// `aaa new-model`.
    pub aaa_new_model: bool,
    /// `aaa authorization network LIST local`: the list names.
    pub aaa_authorization_lists: Vec<String>,
    /// `crypto ikev2 keyring NAME`.
    pub keyrings: BTreeMap<String, Keyring>,
    /// `crypto ikev2 profile NAME`.
    pub ikev2_profiles: BTreeMap<String, Ikev2Profile>,
    /// `crypto ikev2 authorization policy NAME`.
    pub authorization_policies: BTreeMap<String, AuthorizationPolicy>,
    /// `crypto ikev2 dpd INTERVAL RETRY on-demand|periodic`.
    pub dpd: Option<Dpd>,
    /// `crypto ikev2 cookie-challenge N`: half-open SAs from which IKE_SA_INIT needs a cookie.
    pub ikev2_cookie_challenge: Option<u32>,
    /// `crypto ikev2 limit max-in-negotiation-sa N`: the most half-open SAs at once.
    pub ikev2_max_in_negotiation: Option<u32>,
    /// `crypto ikev2 client flexvpn NAME`.
    pub flex_clients: BTreeMap<String, FlexClientBlock>,
    /// `crypto ipsec transform-set NAME ...`.
    pub transform_sets: BTreeMap<String, TransformSet>,
    /// `crypto ipsec profile NAME`.
    pub ipsec_profiles: BTreeMap<String, IpsecProfile>,
    /// `interface NAME`, keyed by the name as written (`Tunnel1`, `Ethernet0/0`).
    pub interfaces: BTreeMap<String, Interface>,
    /// `ip local pool NAME FIRST [LAST]`.
    pub pools: BTreeMap<String, Pool>,
    /// `router bgp ASN`.
    pub bgp: Option<Bgp>,
    /// `access-list N ...`, entries in order.
    pub access_lists: BTreeMap<u32, Vec<AclEntry>>,
    /// `route-map NAME permit|deny SEQ`, entries by sequence number.
    pub route_maps: BTreeMap<String, BTreeMap<u32, RouteMapEntry>>,
    /// `ip route PREFIX MASK NEXT-HOP|INTERFACE [DISTANCE]`, in order.
    pub static_routes: Vec<StaticRoute>,
    /// `track N ...`.
    pub tracks: BTreeMap<u32, Track>,
    /// Every reference to another object, checked after parsing.
    pub(crate) references: Vec<Reference>,
}

/// A reference from one line to a named object, checked once the whole file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) line: usize,
    pub(crate) kind: RefKind,
    pub(crate) name: String,
}

/// The kinds of object a line may refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefKind {
    Keyring,
    Ikev2Profile,
    TransformSet,
    IpsecProfile,
    Interface,
    Pool,
    RouteMap,
    AccessList,
    Track,
    PeerGroup,
}

impl RefKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Keyring => "keyring",
            Self::Ikev2Profile => "ikev2 profile",
            Self::TransformSet => "transform-set",
            Self::IpsecProfile => "ipsec profile",
            Self::Interface => "interface",
            Self::Pool => "ip local pool",
            Self::RouteMap => "route-map",
            Self::AccessList => "access-list",
            Self::Track => "track object",
            Self::PeerGroup => "peer-group",
        }
    }
}

/// A pre-shared key: zeroized on drop, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(Zeroizing<Vec<u8>>);

impl Psk {
    /// A key from its bytes.
    pub fn new(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// The key bytes, to hand to the IKEv2 engine.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// `crypto ikev2 keyring NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    /// The `peer NAME` blocks, in order.
    pub peers: Vec<KeyringPeer>,
}

/// ` peer NAME` inside a keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringPeer {
    /// The peer block's name.
    pub name: String,
    /// `address A [M]`: the peers this entry matches (`0.0.0.0 0.0.0.0` is any).
    pub address: Option<Prefix>,
    /// `identity address A` / `identity fqdn NAME`.
    pub identity: Option<Identity>,
    /// `pre-shared-key local K` (or `pre-shared-key K`, both directions).
    pub psk_local: Option<Psk>,
    /// `pre-shared-key remote K` (or `pre-shared-key K`).
    pub psk_remote: Option<Psk>,
}

/// An IKE identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `address A`.
    Address(Ipv4Addr),
    /// `fqdn NAME`.
    Fqdn(String),
}

/// `crypto ikev2 profile NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ikev2Profile {
    /// `match identity remote address A [M]` / `match identity remote fqdn NAME`.
    pub match_remote: Vec<IdentityMatch>,
    /// `identity local address A` / `identity local fqdn NAME`.
    pub identity_local: Option<Identity>,
    /// `authentication remote pre-share`.
    pub auth_remote: Option<AuthMethod>,
    /// `authentication local pre-share`.
    pub auth_local: Option<AuthMethod>,
    /// `keyring local NAME`.
    pub keyring: Option<String>,
    /// `aaa authorization group psk list LIST POLICY`: (list, policy).
    pub aaa_group_psk: Option<(String, String)>,
    /// `virtual-template N`.
    pub virtual_template: Option<u32>,
    /// `dpd INTERVAL RETRY on-demand|periodic` inside the profile.
    pub dpd: Option<Dpd>,
}

/// A `match identity remote` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMatch {
    /// `address A [M]` (without a mask: `0.0.0.0` matches any, otherwise one host).
    Address(Prefix),
    /// `fqdn NAME`.
    Fqdn(String),
}

/// An authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `pre-share`.
    PreShare,
}

/// `crypto ikev2 authorization policy NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    /// `pool NAME`: addresses handed to initiators.
    pub pool: Option<String>,
    /// `route set interface`: push the route to the tunnel interface's address.
    pub route_set_interface: bool,
    /// `route set access-list N`: push the prefixes of an access list.
    pub route_set_acl: Option<u32>,
}

/// `crypto ikev2 dpd INTERVAL RETRY on-demand|periodic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dpd {
    /// Seconds between liveness checks.
    pub interval: u32,
    /// Seconds between retries once a check went unanswered.
    pub retry: u32,
    /// On demand (only when traffic goes out and nothing comes in) or periodic.
    pub mode: DpdMode,
}

/// When DPD probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpdMode {
    /// `on-demand`.
    OnDemand,
    /// `periodic`.
    Periodic,
}

/// `crypto ikev2 client flexvpn NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexClientBlock {
    /// `peer N ADDR [track T]` / `peer N fqdn NAME [dynamic] [track T]`, by priority.
    pub peers: BTreeMap<u32, FlexPeer>,
    /// `client connect TunnelN`.
    pub connect_interface: Option<String>,
    /// `client inside IF`.
    pub inside: Vec<String>,
    /// `connect auto|manual|track` (default auto).
    pub connect: ConnectMode,
    /// `peer reactivate`.
    pub peer_reactivate: bool,
    /// `backup group N`.
    pub backup_group: Option<u32>,
    /// `source N IF track T`.
    pub sources: BTreeMap<u32, FlexSource>,
}

/// One `peer` line of a client block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexPeer {
    /// The peer's address or name.
    pub target: PeerTarget,
    /// `track T`.
    pub track: Option<u32>,
}

/// A client block peer's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerTarget {
    /// An IPv4 address.
    Address(Ipv4Addr),
    /// `fqdn NAME [dynamic]`; `dynamic` resolves at connect time.
    Fqdn {
        /// The name.
        name: String,
        /// `dynamic`.
        dynamic: bool,
    },
}

/// `connect auto|manual|track`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectMode {
    /// Connect as soon as the block is configured.
    #[default]
    Auto,
    /// Connect on a `crypto ikev2 client flexvpn connect` command.
    Manual,
    /// Connect when the tracked object is up.
    Track,
}

/// `source N IF track T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexSource {
    /// The source interface.
    pub interface: String,
    /// The track object.
    pub track: u32,
}

/// `crypto ipsec transform-set NAME esp-gcm [128|192|256]` with its `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformSet {
    /// The cipher.
    pub cipher: EspCipher,
    /// ` mode transport|tunnel` (default tunnel).
    pub mode: IpsecMode,
}

/// An ESP cipher of a transform set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EspCipher {
    /// `esp-gcm [bits]` (AES-GCM with a 16-byte ICV), key bits 128, 192 or 256.
    Gcm {
        /// Key length in bits.
        bits: u16,
    },
}

/// IPsec encapsulation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpsecMode {
    /// `mode tunnel` (the IOS default).
    #[default]
    Tunnel,
    /// `mode transport`.
    Transport,
}

/// `crypto ipsec profile NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpsecProfile {
    /// `set ikev2-profile NAME`.
    pub ikev2_profile: Option<String>,
    /// `set transform-set NAME...`.
    pub transform_sets: Vec<String>,
}

/// The kind of an interface, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InterfaceKind {
    /// `TunnelN`.
    Tunnel(u32),
    /// `Virtual-TemplateN [type tunnel]`.
    VirtualTemplate(u32),
    /// `LoopbackN`.
    Loopback(u32),
    /// `Ethernet…`, `FastEthernet…`, `GigabitEthernet…`.
    Ethernet,
}

/// `interface NAME` with its sub-commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// What kind of interface the name says it is.
    pub kind: InterfaceKind,
    /// `description TEXT`.
    pub description: Option<String>,
    /// `ip address A M` / `ip address negotiated` / `ip unnumbered IF`.
    pub address: InterfaceAddress,
    /// `ip mtu N`.
    pub ip_mtu: Option<u16>,
    /// `ip tcp adjust-mss N`.
    pub tcp_adjust_mss: Option<u16>,
    /// `delay N` (tens of microseconds).
    pub delay: Option<u32>,
    /// The `ip nhrp` sub-commands.
    pub nhrp: NhrpIf,
    /// `tunnel source IF|ADDR`.
    pub tunnel_source: Option<TunnelSource>,
    /// `tunnel destination dynamic|ADDR`.
    pub tunnel_destination: Option<TunnelDestination>,
    /// `tunnel path-mtu-discovery`.
    pub tunnel_pmtud: bool,
    /// `tunnel protection ipsec profile NAME`.
    pub tunnel_protection: Option<String>,
    /// `tunnel mode gre ip` (default for tunnels) / `tunnel mode ipsec ipv4`.
    pub tunnel_mode: TunnelMode,
    /// `shutdown` (administratively down).
    pub shutdown: bool,
}

impl Interface {
    /// A fresh interface of `kind` with IOS defaults.
    pub fn new(kind: InterfaceKind) -> Self {
        Self {
            kind,
            description: None,
            address: InterfaceAddress::None,
            ip_mtu: None,
            tcp_adjust_mss: None,
            delay: None,
            nhrp: NhrpIf::default(),
            tunnel_source: None,
            tunnel_destination: None,
            tunnel_pmtud: false,
            tunnel_protection: None,
            tunnel_mode: TunnelMode::Gre,
            shutdown: false,
        }
    }

    /// The configured address and mask, if the interface has a fixed one.
    pub fn static_address(&self) -> Option<(Ipv4Addr, Prefix)> {
        match self.address {
            InterfaceAddress::Static { addr, net } => Some((addr, net)),
            _ => None,
        }
    }
}

/// The IPv4 address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceAddress {
    /// No address configured.
    None,
    /// `ip address A M`: the address and the connected subnet.
    Static {
        /// The address.
        addr: Ipv4Addr,
        /// The connected prefix.
        net: Prefix,
    },
    /// `ip address negotiated`: from the IKEv2 configuration payload.
    Negotiated,
    /// `ip unnumbered IF`: borrow another interface's address.
    Unnumbered(String),
}

/// The `ip nhrp` sub-commands of an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NhrpIf {
    /// `ip nhrp network-id N`.
    pub network_id: Option<u32>,
    /// `ip nhrp shortcut [virtual-template N]`: shortcuts on, built through the template if given.
    pub shortcut: Option<Option<u32>>,
    /// `ip nhrp redirect`.
    pub redirect: bool,
    /// `ip nhrp map PROTO NBMA`: static mappings.
    pub maps: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// `ip nhrp nhs ADDR [nbma NBMA]`.
    pub nhs: Vec<(Ipv4Addr, Option<Ipv4Addr>)>,
    /// `ip nhrp holdtime N`.
    pub holdtime: Option<u32>,
}

/// `tunnel source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelSource {
    /// An interface, whose address is used.
    Interface(String),
    /// A fixed address.
    Address(Ipv4Addr),
}

/// `tunnel destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelDestination {
    /// `dynamic`: chosen by the FlexVPN client block.
    Dynamic,
    /// A fixed address.
    Address(Ipv4Addr),
}

/// `tunnel mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelMode {
    /// `gre ip` (the default): GRE, protected by IPsec transport mode if `tunnel protection` is set.
    #[default]
    Gre,
    /// `ipsec ipv4`: a VTI, IPsec tunnel mode without GRE.
    IpsecIpv4,
}

/// `ip local pool NAME FIRST [LAST]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// First address.
    pub first: Ipv4Addr,
    /// Last address (inclusive).
    pub last: Ipv4Addr,
}

/// `router bgp ASN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgp {
    /// The AS number.
    pub asn: u32,
    /// `bgp log-neighbor-changes`.
    pub log_neighbor_changes: bool,
    /// `bgp router-id A`.
    pub router_id: Option<Ipv4Addr>,
    /// `bgp listen range P peer-group G`.
    pub listen_ranges: Vec<(Prefix, String)>,
    /// `bgp listen limit N` (or `limit N` after a listen range).
    pub listen_limit: Option<u32>,
    /// `network A [mask M]`.
    pub networks: Vec<Prefix>,
    /// `aggregate-address A M [summary-only] [as-set]`.
    pub aggregates: Vec<Aggregate>,
    /// `neighbor NAME peer-group`: the peer groups with their settings.
    pub peer_groups: BTreeMap<String, NeighborSettings>,
    /// `neighbor A ...`: the neighbors by address.
    pub neighbors: BTreeMap<Ipv4Addr, Neighbor>,
}

/// `aggregate-address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aggregate {
    /// The aggregate prefix.
    pub prefix: Prefix,
    /// `summary-only`: suppress the more specific routes.
    pub summary_only: bool,
    /// `as-set`.
    pub as_set: bool,
}

/// A neighbor address with its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neighbor {
    /// `neighbor A peer-group G`.
    pub peer_group: Option<String>,
    /// The neighbor's own settings (taking precedence over the group's).
    pub settings: NeighborSettings,
}

/// The per-neighbor (or per-peer-group) settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighborSettings {
    /// `remote-as N`.
    pub remote_as: Option<u32>,
    /// `route-reflector-client`.
    pub route_reflector_client: bool,
    /// `next-hop-self [all]`: `Some(all)`.
    pub next_hop_self: Option<bool>,
    /// `unsuppress-map M`.
    pub unsuppress_map: Option<String>,
    /// `update-source IF`.
    pub update_source: Option<String>,
    /// `route-map M in`.
    pub route_map_in: Option<String>,
    /// `route-map M out`.
    pub route_map_out: Option<String>,
    /// `timers KEEPALIVE HOLD`.
    pub timers: Option<(u16, u16)>,
    /// `description TEXT`.
    pub description: Option<String>,
}

/// A permit or deny action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `permit`.
    Permit,
    /// `deny`.
    Deny,
}

/// One `access-list N permit|deny ...` line (standard ACL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclEntry {
    /// Permit or deny.
    pub action: Action,
    /// `any`, `host A`, or `A W` (address and wildcard).
    pub source: AclMatch,
}

/// What an ACL entry matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclMatch {
    /// `any`.
    Any,
    /// `host A` (or `A` alone).
    Host(Ipv4Addr),
    /// `A W`: address bits where the wildcard is 0 must match.
    Wildcard(Ipv4Addr, Ipv4Addr),
}

impl AclMatch {
    /// Whether `ip` matches.
    pub fn matches(&self, ip: Ipv4Addr) -> bool {
        match *self {
            Self::Any => true,
            Self::Host(h) => h == ip,
            Self::Wildcard(a, w) => {
                let care = !u32::from(w);
                u32::from(a) & care == u32::from(ip) & care
            }
        }
    }
}

/// `route-map NAME permit|deny SEQ` with its clauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMapEntry {
    /// Permit or deny.
    pub action: Action,
    /// `match ip address N...`: access lists, any of which may match.
    pub match_acls: Vec<u32>,
    /// The `set` clauses.
    pub sets: Vec<RouteMapSet>,
}

/// A `set` clause of a route-map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMapSet {
    /// `set local-preference N`.
    LocalPreference(u32),
    /// `set metric N`.
    Metric(u32),
    /// `set ip next-hop A`.
    NextHop(Ipv4Addr),
    /// `set weight N`.
    Weight(u32),
    /// `set origin igp|egp|incomplete` (0, 1, 2).
    Origin(u8),
}

/// `ip route PREFIX MASK TARGET [DISTANCE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// The destination.
    pub prefix: Prefix,
    /// Where it goes.
    pub target: RouteTarget,
    /// Administrative distance (default 1).
    pub distance: u8,
}

/// The target of a static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// A next-hop address.
    NextHop(Ipv4Addr),
    /// An interface.
    Interface(String),
    /// `Null0`: discard.
    Null0,
}

/// `track N ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Track {
    /// `track N interface IF line-protocol`.
    InterfaceLineProtocol(String),
    /// `track N ip sla M [reachability|state]`.
    IpSla(u32),
}

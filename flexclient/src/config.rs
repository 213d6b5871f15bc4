//! The configuration of one `crypto ikev2 client flexvpn NAME` block: plain data whose
//! constructors validate ("parse, don't validate").
//!
//! ```text
//! crypto ikev2 client flexvpn Flex_Client
//!  peer 1 172.25.1.1 [track 10 [up|down]]
//!  peer 2 fqdn hub2.example.net [dynamic] [track 11]
//!  source 1 Ethernet0/0 track 20
//!  source 2 Cellular0/0 track 21
//!  connect auto | manual | track 30 [up|down]
//!  peer reactivate
//!  backup group 1
//!  client connect Tunnel1
//!  client inside Ethernet1/0
//! ```
//!
//! Peers are ordered by their sequence number, lowest first (most preferred). A peer with a
//! `track` is a "possible peer" only while its track object is in the wanted state; a peer
//! without one always is. `peer N fqdn NAME` is resolved through the caller (an
//! [`Action::Resolve`](crate::Action::Resolve)); with `dynamic` it is resolved again on every
//! connection attempt, without it only the first time.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::track::{TrackRef, TrackWant};

/// Where a peer is: a fixed address or a DNS name that the caller resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PeerAddress {
    /// `peer N A.B.C.D`
    Ip(Ipv4Addr),
    /// `peer N fqdn NAME [dynamic]`
    Fqdn {
        /// The DNS name.
        name: String,
        /// `dynamic`: resolve again before every connection attempt.
        dynamic: bool,
    },
}

/// One `peer N ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    seq: u8,
    address: PeerAddress,
    track: Option<TrackRef>,
}

impl PeerConfig {
    /// `peer SEQ ADDRESS`.
    ///
    /// # Errors
    /// [`ConfigError::PeerSeqZero`] when `seq` is 0.
    pub fn address(seq: u8, addr: Ipv4Addr) -> Result<Self, ConfigError> {
        if seq == 0 {
            return Err(ConfigError::PeerSeqZero);
        }
        Ok(Self {
            seq,
            address: PeerAddress::Ip(addr),
            track: None,
        })
    }

    /// `peer SEQ fqdn NAME [dynamic]`.
    ///
    /// # Errors
    /// [`ConfigError::PeerSeqZero`], or [`ConfigError::BadFqdn`] when `name` is not a DNS name
    /// (labels of 1 to 63 letters, digits or hyphens, 253 characters at most).
    pub fn fqdn(seq: u8, name: &str, dynamic: bool) -> Result<Self, ConfigError> {
        if seq == 0 {
            return Err(ConfigError::PeerSeqZero);
        }
        if !valid_fqdn(name) {
            return Err(ConfigError::BadFqdn(name.to_owned()));
        }
        Ok(Self {
            seq,
            address: PeerAddress::Fqdn {
                name: name.to_ascii_lowercase(),
                dynamic,
            },
            track: None,
        })
    }

    /// `... track ID [up|down]`: the peer is a possible peer only while track `id` is in the
    /// `want` state.
    #[must_use]
    pub fn track(mut self, id: u16, want: TrackWant) -> Self {
        self.track = Some(TrackRef { id, want });
        self
    }

    /// The sequence number N (lower is preferred).
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// The address or name.
    pub fn peer_address(&self) -> &PeerAddress {
        &self.address
    }

    /// The track condition, if any.
    pub fn track_ref(&self) -> Option<TrackRef> {
        self.track
    }
}

/// When the block may bring the tunnel up at all (`connect ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ConnectMode {
    /// `connect auto` (the default): connect as soon as the block is configured.
    #[default]
    Auto,
    /// `connect manual`: connect only on the `crypto ikev2 client connect` command
    /// ([`Client::connect`](crate::Client::connect)).
    Manual,
    /// `connect track T [up|down]`: connected while the track object is in the wanted state,
    /// torn down otherwise (dial backup).
    Track(TrackRef),
}

/// One `source N INTERFACE track T` line: the outgoing interface, chosen by tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    seq: u8,
    interface: String,
    track: u16,
}

impl SourceConfig {
    /// `source SEQ INTERFACE track TRACK`.
    ///
    /// # Errors
    /// [`ConfigError::SourceSeqZero`] or [`ConfigError::BadInterface`].
    pub fn new(seq: u8, interface: &str, track: u16) -> Result<Self, ConfigError> {
        if seq == 0 {
            return Err(ConfigError::SourceSeqZero);
        }
        check_ifname(interface)?;
        Ok(Self {
            seq,
            interface: interface.to_owned(),
            track,
        })
    }

    /// The sequence number (lower is preferred).
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The track object that must be up for this source to be used.
    pub fn track(&self) -> u16 {
        self.track
    }
}

/// Timers of the block. The defaults suit the scenario; every value must be above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// How long one connection attempt (name resolution, then the IKE exchanges) may take before
    /// the block gives up on that peer and moves to the next. Default 30 s.
    pub connect_timeout: Duration,
    /// Hold time of a peer after its first failure; doubled on every further consecutive failure
    /// of the same peer. Default 10 s.
    pub retry_initial: Duration,
    /// Cap of the per-peer hold time, and the time a session must stay up before its peer's
    /// failure count is forgiven. Default 300 s.
    pub retry_max: Duration,
    /// `peer reactivate` hold-down: a more preferred peer must have been a possible peer for
    /// this long (doubled per recent failure of that peer, capped at `retry_max`) before the
    /// block moves back to it. Default 30 s.
    pub reactivate_holddown: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            retry_initial: Duration::from_secs(10),
            retry_max: Duration::from_secs(300),
            reactivate_holddown: Duration::from_secs(30),
        }
    }
}

/// A validated client block configuration. Build it with [`ClientConfig::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub(crate) name: String,
    pub(crate) peers: Vec<PeerConfig>,
    pub(crate) tunnel: String,
    pub(crate) tunnel_source: Option<String>,
    pub(crate) inside: Vec<String>,
    pub(crate) connect: ConnectMode,
    pub(crate) peer_reactivate: bool,
    pub(crate) backup_group: Option<u8>,
    pub(crate) sources: Vec<SourceConfig>,
    pub(crate) ivrf: Option<String>,
    pub(crate) fvrf: Option<String>,
    pub(crate) timers: Timers,
}

impl ClientConfig {
    /// Starts a block named `name` (`crypto ikev2 client flexvpn NAME`).
    pub fn builder(name: &str) -> ClientConfigBuilder {
        ClientConfigBuilder {
            name: name.to_owned(),
            peers: Vec::new(),
            tunnel: String::new(),
            tunnel_source: None,
            inside: Vec::new(),
            connect: ConnectMode::Auto,
            peer_reactivate: false,
            backup_group: None,
            sources: Vec::new(),
            ivrf: None,
            fvrf: None,
            timers: Timers::default(),
        }
    }

    /// The block name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The peers, most preferred first.
    pub fn peers(&self) -> &[PeerConfig] {
        &self.peers
    }

    /// The tunnel interface (`client connect TunnelN`).
    pub fn tunnel(&self) -> &str {
        &self.tunnel
    }

    /// The tunnel's own source interface (`tunnel source X` of the tunnel interface), used when
    /// no `source` line is configured.
    pub fn tunnel_source(&self) -> Option<&str> {
        self.tunnel_source.as_deref()
    }

    /// `client inside` interfaces.
    pub fn inside(&self) -> &[String] {
        &self.inside
    }

    /// The connect mode.
    pub fn connect_mode(&self) -> ConnectMode {
        self.connect
    }

    /// `peer reactivate` configured.
    pub fn peer_reactivate(&self) -> bool {
        self.peer_reactivate
    }

    /// `backup group G`.
    pub fn backup_group(&self) -> Option<u8> {
        self.backup_group
    }

    /// `source N IF track T` lines, most preferred first.
    pub fn sources(&self) -> &[SourceConfig] {
        &self.sources
    }

    /// Timers.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Heap bytes owned by this configuration (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        let peers = self.peers.capacity() * size_of::<PeerConfig>()
            + self
                .peers
                .iter()
                .map(|p| match &p.address {
                    PeerAddress::Fqdn { name, .. } => name.capacity(),
                    PeerAddress::Ip(_) => 0,
                })
                .sum::<usize>();
        let sources = self.sources.capacity() * size_of::<SourceConfig>()
            + self
                .sources
                .iter()
                .map(|s| s.interface.capacity())
                .sum::<usize>();
        let inside = self.inside.capacity() * size_of::<String>()
            + self.inside.iter().map(String::capacity).sum::<usize>();
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        self.name.capacity()
            + self.tunnel.capacity()
            + opt(&self.tunnel_source)
            + opt(&self.ivrf)
            + opt(&self.fvrf)
            + peers
            + sources
            + inside
    }
}

/// Builder for [`ClientConfig`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientConfigBuilder {
    name: String,
    peers: Vec<PeerConfig>,
    tunnel: String,
    tunnel_source: Option<String>,
    inside: Vec<String>,
    connect: ConnectMode,
    peer_reactivate: bool,
    backup_group: Option<u8>,
    sources: Vec<SourceConfig>,
    ivrf: Option<String>,
    fvrf: Option<String>,
    timers: Timers,
}

impl ClientConfigBuilder {
    /// Adds a `peer` line (any order; the block sorts by sequence number).
    pub fn peer(mut self, peer: PeerConfig) -> Self {
        self.peers.push(peer);
        self
    }

    /// `client connect TunnelN`.
    pub fn client_connect(mut self, tunnel: &str) -> Self {
        tunnel.clone_into(&mut self.tunnel);
        self
    }

    /// The `tunnel source` of the tunnel interface (the source when no `source` line is set).
    pub fn tunnel_source(mut self, interface: &str) -> Self {
        self.tunnel_source = Some(interface.to_owned());
        self
    }

    /// `client inside IF`.
    pub fn client_inside(mut self, interface: &str) -> Self {
        self.inside.push(interface.to_owned());
        self
    }

    /// `connect auto | manual | track T [up|down]`.
    pub fn connect(mut self, mode: ConnectMode) -> Self {
        self.connect = mode;
        self
    }

    /// `peer reactivate`.
    pub fn peer_reactivate(mut self, on: bool) -> Self {
        self.peer_reactivate = on;
        self
    }

    /// `backup group G`.
    pub fn backup_group(mut self, group: u8) -> Self {
        self.backup_group = Some(group);
        self
    }

    /// Adds a `source N IF track T` line.
    pub fn source(mut self, source: SourceConfig) -> Self {
        self.sources.push(source);
        self
    }

    /// The inside VRF shown as `ivrf` (default `IP DEFAULT`).
    pub fn ivrf(mut self, vrf: &str) -> Self {
        self.ivrf = Some(vrf.to_owned());
        self
    }

    /// The front-door VRF shown as `fvrf` (default `IP DEFAULT`).
    pub fn fvrf(mut self, vrf: &str) -> Self {
        self.fvrf = Some(vrf.to_owned());
        self
    }

    /// Replaces the timers.
    pub fn timers(mut self, timers: Timers) -> Self {
        self.timers = timers;
        self
    }

    /// Validates and freezes the configuration.
    ///
    /// # Errors
    /// Any [`ConfigError`]: bad names, no peers, duplicate sequence numbers, a non-tunnel
    /// `client connect`, zero timers, `retry_initial > retry_max`, no source interface.
    pub fn build(mut self) -> Result<ClientConfig, ConfigError> {
        if self.name.is_empty() || self.name.chars().any(char::is_whitespace) {
            return Err(ConfigError::BadName(self.name));
        }
        if self.peers.is_empty() {
            return Err(ConfigError::NoPeers);
        }
        self.peers.sort_by_key(|p| p.seq);
        for w in self.peers.windows(2) {
            if let [a, b] = w
                && a.seq == b.seq
            {
                return Err(ConfigError::DuplicatePeer(a.seq));
            }
        }
        let is_tunnel = self
            .tunnel
            .strip_prefix("Tunnel")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_tunnel {
            return Err(ConfigError::BadTunnel(self.tunnel));
        }
        if let Some(s) = &self.tunnel_source {
            check_ifname(s)?;
        }
        for i in &self.inside {
            check_ifname(i)?;
        }
        self.sources.sort_by_key(|s| s.seq);
        for w in self.sources.windows(2) {
            if let [a, b] = w
                && a.seq == b.seq
            {
                return Err(ConfigError::DuplicateSource(a.seq));
            }
        }
        if self.sources.is_empty() && self.tunnel_source.is_none() {
            return Err(ConfigError::NoSource);
        }
        let t = &self.timers;
        for (d, what) in [
            (t.connect_timeout, "connect_timeout"),
            (t.retry_initial, "retry_initial"),
            (t.retry_max, "retry_max"),
            (t.reactivate_holddown, "reactivate_holddown"),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroTimer(what));
            }
        }
        if t.retry_initial > t.retry_max {
            return Err(ConfigError::BackoffOrder {
                initial_ms: t.retry_initial.as_millis(),
                max_ms: t.retry_max.as_millis(),
            });
        }
        Ok(ClientConfig {
            name: self.name,
            peers: self.peers,
            tunnel: self.tunnel,
            tunnel_source: self.tunnel_source,
            inside: self.inside,
            connect: self.connect,
            peer_reactivate: self.peer_reactivate,
            backup_group: self.backup_group,
            sources: self.sources,
            ivrf: self.ivrf,
            fvrf: self.fvrf,
            timers: self.timers,
        })
    }

    /// [`build`](Self::build), wrapped in an `Arc` so many blocks can share one configuration.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_shared(self) -> Result<Arc<ClientConfig>, ConfigError> {
        self.build().map(Arc::new)
    }
}

/// Parses the body of a `crypto ikev2 client flexvpn NAME` block (the indented lines, one per
/// line; blank lines and `!` comments are skipped) into a builder. The caller adds what lives
/// outside the block (the tunnel interface's `tunnel source`) and calls
/// [`build`](ClientConfigBuilder::build).
///
/// Accepted lines: `peer N A.B.C.D [track T [up|down]]`, `peer N fqdn NAME [dynamic]
/// [track T [up|down]]`, `peer reactivate`, `client connect TunnelN`, `client inside IF`,
/// `connect auto|manual|track T [up|down]`, `backup group G`, `source N IF track T`.
///
/// ```
/// let cfg = flexclient::config::parse_block("Flex_Client", "
///  peer 1 172.25.1.1
///  peer 2 172.25.2.1
///  client connect Tunnel1
/// ")?
/// .tunnel_source("Ethernet0/0")
/// .build()?;
/// assert_eq!(cfg.peers().len(), 2);
/// # Ok::<(), flexclient::ConfigError>(())
/// ```
///
/// # Errors
/// [`ConfigError::BadLine`] with the line number, or the error of the value's constructor.
pub fn parse_block(name: &str, body: &str) -> Result<ClientConfigBuilder, ConfigError> {
    let mut b = ClientConfig::builder(name);
    for (i, raw) in body.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('!') {
            continue;
        }
        let bad = |reason: &'static str| ConfigError::BadLine {
            line: i + 1,
            text: line.to_owned(),
            reason,
        };
        let w: Vec<&str> = line.split_whitespace().collect();
        b = match w.as_slice() {
            ["peer", "reactivate"] => b.peer_reactivate(true),
            ["peer", seq, rest @ ..] => {
                let seq: u8 = seq.parse().map_err(|_| bad("peer number"))?;
                let (mut peer, rest) = match rest {
                    ["fqdn", fqdn, "dynamic", rest @ ..] => {
                        (PeerConfig::fqdn(seq, fqdn, true)?, rest)
                    }
                    ["fqdn", fqdn, rest @ ..] => (PeerConfig::fqdn(seq, fqdn, false)?, rest),
                    [addr, rest @ ..] => {
                        let a: Ipv4Addr = addr.parse().map_err(|_| bad("peer address"))?;
                        (PeerConfig::address(seq, a)?, rest)
                    }
                    [] => return Err(bad("peer needs an address")),
                };
                match rest {
                    [] => {}
                    ["track", t, want @ ..] => {
                        let t = parse_track(t, want).ok_or_else(|| bad("track"))?;
                        peer = peer.track(t.id, t.want);
                    }
                    _ => return Err(bad("unexpected words after the peer")),
                }
                b.peer(peer)
            }
            ["client", "connect", tunnel] => b.client_connect(tunnel),
            ["client", "inside", interface] => b.client_inside(interface),
            ["connect", "auto"] => b.connect(ConnectMode::Auto),
            ["connect", "manual"] => b.connect(ConnectMode::Manual),
            ["connect", "track", t, want @ ..] => {
                let t = parse_track(t, want).ok_or_else(|| bad("track"))?;
                b.connect(ConnectMode::Track(t))
            }
            ["backup", "group", g] => b.backup_group(g.parse().map_err(|_| bad("group number"))?),
            ["source", seq, interface, "track", t] => {
                let seq: u8 = seq.parse().map_err(|_| bad("source number"))?;
                let t: u16 = t.parse().map_err(|_| bad("track number"))?;
                b.source(SourceConfig::new(seq, interface, t)?)
            }
            _ => return Err(bad("unknown or incomplete command")),
        };
    }
    Ok(b)
}

fn parse_track(id: &str, want: &[&str]) -> Option<TrackRef> {
    let id: u16 = id.parse().ok()?;
    let want = match want {
        [] | ["up"] => TrackWant::Up,
        ["down"] => TrackWant::Down,
        _ => return None,
    };
    Some(TrackRef { id, want })
}

fn check_ifname(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_whitespace()) {
        return Err(ConfigError::BadInterface(name.to_owned()));
    }
    Ok(())
}

fn valid_fqdn(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ClientConfigBuilder {
        ClientConfig::builder("Flex_Client")
            .peer(PeerConfig::address(2, Ipv4Addr::new(172, 25, 2, 1)).unwrap())
            .peer(PeerConfig::address(1, Ipv4Addr::new(172, 25, 1, 1)).unwrap())
            .client_connect("Tunnel1")
            .tunnel_source("Ethernet0/0")
    }

    #[test]
    fn peers_are_sorted_by_sequence() {
        let c = base().build().unwrap();
        let seqs: Vec<u8> = c.peers().iter().map(PeerConfig::seq).collect();
        assert_eq!(seqs, [1, 2]);
    }

    #[test]
    fn parses_a_block() {
        let body = "
 peer 1 172.25.1.1 track 10
 peer 2 fqdn hub2.example.net dynamic track 11 down
 peer reactivate
 ! a comment
 source 1 Ethernet0/0 track 20
 connect track 30 down
 backup group 4
 client inside Ethernet1/0
 client connect Tunnel1
";
        let c = parse_block("Flex_Client", body).unwrap().build().unwrap();
        assert_eq!(c.peers().len(), 2);
        assert_eq!(
            c.peers()[0].track_ref(),
            Some(TrackRef {
                id: 10,
                want: TrackWant::Up
            })
        );
        assert_eq!(
            c.peers()[1].peer_address(),
            &PeerAddress::Fqdn {
                name: "hub2.example.net".into(),
                dynamic: true
            }
        );
        assert_eq!(
            c.peers()[1].track_ref().map(|t| t.want),
            Some(TrackWant::Down)
        );
        assert!(c.peer_reactivate());
        assert_eq!(c.backup_group(), Some(4));
        assert_eq!(c.sources()[0].interface(), "Ethernet0/0");
        assert_eq!(c.inside(), ["Ethernet1/0"]);
        assert_eq!(
            c.connect_mode(),
            ConnectMode::Track(TrackRef {
                id: 30,
                want: TrackWant::Down
            })
        );
        for (bad, line) in [
            ("peer x 1.2.3.4", 1),
            ("\n peer 1 1.2.3", 2),
            ("connect sometimes", 1),
            ("peer 1 1.2.3.4 track 1 sideways", 1),
            ("source 1 Ethernet0/0", 1),
        ] {
            match parse_block("F", bad) {
                Err(ConfigError::BadLine { line: l, .. }) => assert_eq!(l, line, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_bad_configs() {
        assert_eq!(
            PeerConfig::address(0, Ipv4Addr::LOCALHOST),
            Err(ConfigError::PeerSeqZero)
        );
        assert!(matches!(
            PeerConfig::fqdn(1, "bad_name.example", false),
            Err(ConfigError::BadFqdn(_))
        ));
        assert!(PeerConfig::fqdn(1, "hub-1.example.net", true).is_ok());
        let dup = base().peer(PeerConfig::address(1, Ipv4Addr::LOCALHOST).unwrap());
        assert_eq!(dup.build(), Err(ConfigError::DuplicatePeer(1)));
        assert!(matches!(
            base().client_connect("Ethernet0/0").build(),
            Err(ConfigError::BadTunnel(_))
        ));
        assert_eq!(
            ClientConfig::builder("x").client_connect("Tunnel1").build(),
            Err(ConfigError::NoPeers)
        );
        assert!(matches!(
            ClientConfig::builder("a b").build(),
            Err(ConfigError::BadName(_))
        ));
        let zero = Timers {
            connect_timeout: Duration::ZERO,
            ..Timers::default()
        };
        assert_eq!(
            base().timers(zero).build(),
            Err(ConfigError::ZeroTimer("connect_timeout"))
        );
        let order = Timers {
            retry_initial: Duration::from_secs(600),
            ..Timers::default()
        };
        assert!(matches!(
            base().timers(order).build(),
            Err(ConfigError::BackoffOrder { .. })
        ));
        let no_src = ClientConfig::builder("x")
            .peer(PeerConfig::address(1, Ipv4Addr::LOCALHOST).unwrap())
            .client_connect("Tunnel1");
        assert_eq!(no_src.build(), Err(ConfigError::NoSource));
        let dup_src = base()
            .source(SourceConfig::new(1, "Ethernet0/0", 1).unwrap())
            .source(SourceConfig::new(1, "Cellular0/0", 2).unwrap());
        assert_eq!(dup_src.build(), Err(ConfigError::DuplicateSource(1)));
        assert_eq!(
            SourceConfig::new(0, "Ethernet0/0", 1),
            Err(ConfigError::SourceSeqZero)
        );
    }
}

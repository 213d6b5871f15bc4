//! The line parser: one function per configuration mode.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::ConfigError;
use super::types::*;
use crate::prefix::{Prefix, mask_to_len};

const GLOBAL_EXPECTED: &str = "hostname, crypto, interface, ip local pool, ip route, router bgp, \
    access-list, route-map, track, aaa, end, or an indented sub-command";
const KEYRING_EXPECTED: &str = "peer, address, identity, pre-shared-key";
const PROFILE_EXPECTED: &str = "match identity remote, identity local, authentication remote|local, \
    keyring local, aaa authorization group psk list, virtual-template, dpd";
const AUTHZ_EXPECTED: &str = "pool, route set interface, route set access-list";
const CLIENT_EXPECTED: &str = "peer, client connect, client inside, connect, peer reactivate, \
    backup group, source";
const TS_EXPECTED: &str = "mode transport|tunnel";
const IPSEC_PROFILE_EXPECTED: &str = "set ikev2-profile, set transform-set";
const INTERFACE_EXPECTED: &str = "description, ip address, ip unnumbered, ip mtu, ip nhrp, \
    ip tcp adjust-mss, delay, tunnel source|destination|path-mtu-discovery|protection|mode, \
    shutdown, no shutdown";
const BGP_EXPECTED: &str = "bgp log-neighbor-changes|router-id|listen, network, aggregate-address, \
    neighbor";
const ROUTE_MAP_EXPECTED: &str =
    "match ip address, set local-preference|metric|ip next-hop|weight|origin";
const IFNAME_EXPECTED: &str =
    "an interface name (TunnelN, Virtual-TemplateN, LoopbackN, EthernetX/Y, GigabitEthernetX/Y)";

/// The configuration mode opened by the last unindented line.
enum Mode {
    Global,
    Keyring(String),
    Profile(String),
    Authz(String),
    Client(String),
    TransformSet(String),
    IpsecProfile(String),
    Interface(String),
    Bgp,
    RouteMap(String, u32),
    /// A mode with no sub-commands (e.g. after `track`): indented lines are errors.
    Closed,
}

type Result<T> = std::result::Result<T, ConfigError>;

pub(super) fn parse(text: &str) -> Result<Config> {
    let mut p = Parser {
        cfg: Config::default(),
        mode: Mode::Global,
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('!') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        let words = Words::new(line, trimmed);
        if indented {
            p.sub(words)?;
        } else {
            p.global(words)?;
        }
    }
    Ok(p.cfg)
}

/// A cursor over the words of one line.
struct Words<'a> {
    line: usize,
    text: &'a str,
    words: Vec<&'a str>,
    pos: usize,
}

impl<'a> Words<'a> {
    fn new(line: usize, text: &'a str) -> Self {
        Self {
            line,
            text,
            words: text.split_whitespace().collect(),
            pos: 0,
        }
    }

    fn so_far(&self) -> String {
        self.words.get(..self.pos).unwrap_or_default().join(" ")
    }

    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).copied()
    }

    fn opt(&mut self) -> Option<&'a str> {
        let w = self.peek()?;
        self.pos += 1;
        Some(w)
    }

    fn next(&mut self, expected: &'static str) -> Result<&'a str> {
        self.opt().ok_or_else(|| ConfigError::MissingArgument {
            line: self.line,
            command: self.so_far(),
            expected,
        })
    }

    /// Consume `kw` if it is the next word (case-insensitive).
    fn eat(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(w) if w.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// The next word must be `kw`.
    fn keyword(&mut self, kw: &'static str) -> Result<()> {
        let w = self.next(kw)?;
        if w.eq_ignore_ascii_case(kw) {
            Ok(())
        } else {
            Err(self.invalid("keyword", w, kw))
        }
    }

    fn invalid(&self, what: &'static str, value: &str, expected: &'static str) -> ConfigError {
        ConfigError::InvalidValue {
            line: self.line,
            what,
            value: value.to_owned(),
            expected,
        }
    }

    fn unknown(&self, expected: &'static str) -> ConfigError {
        ConfigError::UnknownCommand {
            line: self.line,
            text: self.text.to_owned(),
            expected,
        }
    }

    fn ip(&mut self, what: &'static str) -> Result<Ipv4Addr> {
        let w = self.next(what)?;
        w.parse()
            .map_err(|_| self.invalid(what, w, "a dotted IPv4 address"))
    }

    fn mask(&mut self, what: &'static str) -> Result<u8> {
        let w = self.next(what)?;
        w.parse::<Ipv4Addr>()
            .ok()
            .and_then(mask_to_len)
            .ok_or_else(|| self.invalid(what, w, "a contiguous dotted mask"))
    }

    fn num<T: std::str::FromStr + PartialOrd + Copy>(
        &mut self,
        what: &'static str,
        min: T,
        max: T,
        expected: &'static str,
    ) -> Result<T> {
        let w = self.next(what)?;
        match w.parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(self.invalid(what, w, expected)),
        }
    }

    fn name(&mut self, what: &'static str) -> Result<String> {
        Ok(self.next(what)?.to_owned())
    }

    /// The rest of the line, words joined by one space.
    fn rest(&mut self, what: &'static str) -> Result<String> {
        let rest = self.words.get(self.pos..).unwrap_or_default().join(" ");
        if rest.is_empty() {
            return Err(ConfigError::MissingArgument {
                line: self.line,
                command: self.so_far(),
                expected: what,
            });
        }
        self.pos = self.words.len();
        Ok(rest)
    }

    /// An interface name, `Tunnel1` or `Tunnel 1`.
    fn iface(&mut self) -> Result<(String, InterfaceKind)> {
        let w = self.next(IFNAME_EXPECTED)?;
        let mut name = w.to_owned();
        let alpha_only = w.chars().all(|c| c.is_ascii_alphabetic() || c == '-');
        if let Some(n) = self
            .peek()
            .filter(|n| alpha_only && n.starts_with(|c: char| c.is_ascii_digit()))
        {
            name.push_str(n);
            self.pos += 1;
        }
        let kind = interface_kind(&name)
            .ok_or_else(|| self.invalid("interface", &name, IFNAME_EXPECTED))?;
        Ok((canonical_ifname(&name), kind))
    }

    fn end(&self) -> Result<()> {
        match self.words.get(self.pos..) {
            Some(rest) if !rest.is_empty() => Err(ConfigError::TrailingWords {
                line: self.line,
                extra: rest.join(" "),
            }),
            _ => Ok(()),
        }
    }
}

/// The kind of an interface from its name; `None` if the name is not one we know.
fn interface_kind(name: &str) -> Option<InterfaceKind> {
    let lower = name.to_ascii_lowercase();
    let num = |prefix: &str| -> Option<u32> { lower.strip_prefix(prefix)?.parse().ok() };
    if let Some(n) = num("tunnel") {
        return Some(InterfaceKind::Tunnel(n));
    }
    if let Some(n) = num("virtual-template") {
        return Some(InterfaceKind::VirtualTemplate(n));
    }
    if let Some(n) = num("loopback") {
        return Some(InterfaceKind::Loopback(n));
    }
    for prefix in ["gigabitethernet", "fastethernet", "ethernet"] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let ok = !rest.is_empty()
                && rest.starts_with(|c: char| c.is_ascii_digit())
                && rest
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '/' || c == '.');
            return ok.then_some(InterfaceKind::Ethernet);
        }
    }
    None
}

/// The IOS spelling of an interface name (`tunnel1` -> `Tunnel1`).
fn canonical_ifname(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    for canon in [
        "GigabitEthernet",
        "FastEthernet",
        "Ethernet",
        "Tunnel",
        "Virtual-Template",
        "Loopback",
    ] {
        if let Some(rest) = lower.strip_prefix(&canon.to_ascii_lowercase()) {
            return format!("{canon}{rest}");
        }
    }
    name.to_owned()
}

struct Parser {
    cfg: Config,
    mode: Mode,
}

impl Parser {
    fn refer(&mut self, line: usize, kind: RefKind, name: &str) {
        self.cfg.references.push(Reference {
            line,
            kind,
            name: name.to_owned(),
        });
    }

    fn global(&mut self, mut w: Words<'_>) -> Result<()> {
        let first = w.next(GLOBAL_EXPECTED)?.to_ascii_lowercase();
        self.mode = Mode::Closed;
        match first.as_str() {
            "hostname" => {
                self.cfg.hostname = Some(w.name("a host name")?);
            }
            "end" => {}
            "aaa" => {
                let second = w.next("new-model or authorization network")?;
                if second.eq_ignore_ascii_case("new-model") {
                    self.cfg.aaa_new_model = true;
                } else if second.eq_ignore_ascii_case("authorization") {
                    w.keyword("network")?;
                    let list = w.name("a list name")?;
                    w.keyword("local")?;
                    self.cfg.aaa_authorization_lists.push(list);
                } else {
                    return Err(w.unknown(GLOBAL_EXPECTED));
                }
            }
            "crypto" => self.crypto(&mut w)?,
            "interface" => {
                let (name, kind) = w.iface()?;
                if w.eat("type") {
                    w.keyword("tunnel")?;
                    if !matches!(kind, InterfaceKind::VirtualTemplate(_)) {
                        return Err(w.invalid(
                            "interface",
                            &name,
                            "type tunnel only on a Virtual-Template",
                        ));
                    }
                }
                self.cfg
                    .interfaces
                    .entry(name.clone())
                    .or_insert_with(|| Interface::new(kind));
                self.mode = Mode::Interface(name);
            }
            "ip" => self.global_ip(&mut w)?,
            "router" => {
                w.keyword("bgp")?;
                let asn = w.num("AS number", 1u32, u32::MAX, "1-4294967295")?;
                match &self.cfg.bgp {
                    Some(b) if b.asn != asn => {
                        return Err(ConfigError::Duplicate {
                            line: w.line,
                            what: "router bgp",
                            name: asn.to_string(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        self.cfg.bgp = Some(Bgp {
                            asn,
                            log_neighbor_changes: false,
                            router_id: None,
                            listen_ranges: Vec::new(),
                            listen_limit: None,
                            networks: Vec::new(),
                            aggregates: Vec::new(),
                            peer_groups: BTreeMap::new(),
                            neighbors: BTreeMap::new(),
                        });
                    }
                }
                self.mode = Mode::Bgp;
            }
            "access-list" => {
                let n = w.num(
                    "access-list number",
                    1u32,
                    99,
                    "a standard list number 1-99",
                )?;
                let action = action(&mut w)?;
                let source = acl_match(&mut w)?;
                self.cfg
                    .access_lists
                    .entry(n)
                    .or_default()
                    .push(AclEntry { action, source });
            }
            "route-map" => {
                let name = w.name("a route-map name")?;
                let action = match w.peek() {
                    Some(_) => action(&mut w)?,
                    None => Action::Permit,
                };
                let seq = match w.peek() {
                    Some(_) => w.num("sequence number", 0u32, 65535, "0-65535")?,
                    None => 10,
                };
                let entry = self
                    .cfg
                    .route_maps
                    .entry(name.clone())
                    .or_default()
                    .entry(seq)
                    .or_insert(RouteMapEntry {
                        action,
                        match_acls: Vec::new(),
                        sets: Vec::new(),
                    });
                entry.action = action;
                self.mode = Mode::RouteMap(name, seq);
            }
            "track" => {
                let n = w.num("track number", 1u32, 1000, "1-1000")?;
                let kind = w.next("interface or ip sla")?;
                let track = if kind.eq_ignore_ascii_case("interface") {
                    let (ifname, _) = w.iface()?;
                    w.keyword("line-protocol")?;
                    self.refer(w.line, RefKind::Interface, &ifname);
                    Track::InterfaceLineProtocol(ifname)
                } else if kind.eq_ignore_ascii_case("ip") {
                    w.keyword("sla")?;
                    let sla = w.num("ip sla number", 1u32, u32::MAX, "a number")?;
                    if !w.eat("reachability") {
                        w.eat("state");
                    }
                    Track::IpSla(sla)
                } else {
                    return Err(w.invalid("track type", kind, "interface or ip sla"));
                };
                if self.cfg.tracks.insert(n, track).is_some() {
                    return Err(ConfigError::Duplicate {
                        line: w.line,
                        what: "track",
                        name: n.to_string(),
                    });
                }
            }
            _ => return Err(w.unknown(GLOBAL_EXPECTED)),
        }
        w.end()
    }

    fn crypto(&mut self, w: &mut Words<'_>) -> Result<()> {
        let second = w.next("logging, ikev2 or ipsec")?.to_ascii_lowercase();
        match second.as_str() {
            "logging" => {
                w.keyword("session")?;
                self.cfg.crypto_logging_session = true;
            }
            "ikev2" => {
                let third = w
                    .next("keyring, profile, authorization policy, dpd, cookie-challenge, limit or client flexvpn")?
                    .to_ascii_lowercase();
                match third.as_str() {
                    "keyring" => {
                        let name = w.name("a keyring name")?;
                        self.cfg.keyrings.entry(name.clone()).or_default();
                        self.mode = Mode::Keyring(name);
                    }
                    "profile" => {
                        let name = w.name("a profile name")?;
                        self.cfg.ikev2_profiles.entry(name.clone()).or_default();
                        self.mode = Mode::Profile(name);
                    }
                    "authorization" => {
                        w.keyword("policy")?;
                        let name = w.name("a policy name")?;
                        self.cfg
                            .authorization_policies
                            .entry(name.clone())
                            .or_default();
                        self.mode = Mode::Authz(name);
                    }
                    "dpd" => self.cfg.dpd = Some(dpd(w)?),
                    "cookie-challenge" => {
                        self.cfg.ikev2_cookie_challenge =
                            Some(w.num("cookie-challenge", 1u32, 1000, "1-1000")?);
                    }
                    "limit" => {
                        w.keyword("max-in-negotiation-sa")?;
                        self.cfg.ikev2_max_in_negotiation =
                            Some(w.num("max-in-negotiation-sa", 1u32, 99_999, "1-99999")?);
                    }
                    "client" => {
                        w.keyword("flexvpn")?;
                        let name = w.name("a client block name")?;
                        self.cfg
                            .flex_clients
                            .entry(name.clone())
                            .or_insert_with(|| FlexClientBlock {
                                peers: BTreeMap::new(),
                                connect_interface: None,
                                inside: Vec::new(),
                                connect: ConnectMode::Auto,
                                peer_reactivate: false,
                                backup_group: None,
                                sources: BTreeMap::new(),
                            });
                        self.mode = Mode::Client(name);
                    }
                    _ => {
                        return Err(w.invalid(
                            "crypto ikev2 command",
                            &third,
                            "keyring, profile, authorization policy, dpd, cookie-challenge, limit or client flexvpn",
                        ));
                    }
                }
            }
            "ipsec" => {
                let third = w.next("transform-set or profile")?.to_ascii_lowercase();
                match third.as_str() {
                    "transform-set" => {
                        let name = w.name("a transform-set name")?;
                        let cipher = w.next("esp-gcm")?;
                        if !cipher.eq_ignore_ascii_case("esp-gcm") {
                            return Err(w.invalid("transform", cipher, "esp-gcm [128|192|256]"));
                        }
                        let bits = match w.peek() {
                            Some(b) => match b {
                                "128" | "192" | "256" => {
                                    w.pos += 1;
                                    b.parse().unwrap_or(128)
                                }
                                _ => return Err(w.invalid("key size", b, "128, 192 or 256")),
                            },
                            None => 128,
                        };
                        self.cfg.transform_sets.insert(
                            name.clone(),
                            TransformSet {
                                cipher: EspCipher::Gcm { bits },
                                mode: IpsecMode::Tunnel,
                            },
                        );
                        self.mode = Mode::TransformSet(name);
                    }
                    "profile" => {
                        let name = w.name("a profile name")?;
                        self.cfg.ipsec_profiles.entry(name.clone()).or_default();
                        self.mode = Mode::IpsecProfile(name);
                    }
                    _ => {
                        return Err(w.invalid(
                            "crypto ipsec command",
                            &third,
                            "transform-set or profile",
                        ));
                    }
                }
            }
            _ => return Err(w.invalid("crypto command", &second, "logging, ikev2 or ipsec")),
        }
        Ok(())
    }

    fn global_ip(&mut self, w: &mut Words<'_>) -> Result<()> {
        let second = w.next("local pool or route")?.to_ascii_lowercase();
        match second.as_str() {
            "local" => {
                w.keyword("pool")?;
                let name = w.name("a pool name")?;
                let first = w.ip("first address")?;
                let last = match w.peek() {
                    Some(_) => w.ip("last address")?,
                    None => first,
                };
                if u32::from(last) < u32::from(first) {
                    return Err(w.invalid(
                        "last address",
                        &last.to_string(),
                        "an address not below the first",
                    ));
                }
                if self
                    .cfg
                    .pools
                    .insert(name.clone(), Pool { first, last })
                    .is_some()
                {
                    return Err(ConfigError::Duplicate {
                        line: w.line,
                        what: "ip local pool",
                        name,
                    });
                }
            }
            "route" => {
                let addr = w.ip("destination prefix")?;
                let len = w.mask("destination mask")?;
                let prefix = Prefix::new(addr, len).unwrap_or_else(|| Prefix::host(addr));
                let t = w.next("a next hop, an interface or Null0")?;
                let target = if t.eq_ignore_ascii_case("null0") {
                    RouteTarget::Null0
                } else if let Ok(nh) = t.parse::<Ipv4Addr>() {
                    RouteTarget::NextHop(nh)
                } else if interface_kind(t).is_some() {
                    let name = canonical_ifname(t);
                    self.refer(w.line, RefKind::Interface, &name);
                    RouteTarget::Interface(name)
                } else {
                    return Err(w.invalid("next hop", t, "an address, an interface or Null0"));
                };
                let distance = match w.peek() {
                    Some(_) => w.num("distance", 1u8, 255, "1-255")?,
                    None => 1,
                };
                self.cfg.static_routes.push(StaticRoute {
                    prefix,
                    target,
                    distance,
                });
            }
            _ => return Err(w.invalid("ip command", &second, "local pool or route")),
        }
        Ok(())
    }

    fn sub(&mut self, mut w: Words<'_>) -> Result<()> {
        let line = w.line;
        let mode = std::mem::replace(&mut self.mode, Mode::Global);
        let r = match &mode {
            Mode::Global | Mode::Closed => Err(ConfigError::NoMode {
                line,
                text: w.text.to_owned(),
                mode: "configuration mode",
            }),
            Mode::Keyring(k) => self.keyring(&mut w, k),
            Mode::Profile(p) => self.profile(&mut w, p),
            Mode::Authz(p) => self.authz(&mut w, p),
            Mode::Client(c) => self.client(&mut w, c),
            Mode::TransformSet(t) => self.transform_set(&mut w, t),
            Mode::IpsecProfile(p) => self.ipsec_profile(&mut w, p),
            Mode::Interface(i) => self.interface(&mut w, i),
            Mode::Bgp => self.bgp(&mut w),
            Mode::RouteMap(m, seq) => self.route_map(&mut w, m, *seq),
        };
        self.mode = mode;
        r?;
        w.end()
    }

    fn keyring(&mut self, w: &mut Words<'_>, name: &str) -> Result<()> {
        let line = w.line;
        let first = w.next(KEYRING_EXPECTED)?.to_ascii_lowercase();
        let Some(ring) = self.cfg.keyrings.get_mut(name) else {
            return Err(w.unknown(KEYRING_EXPECTED));
        };
        if first == "peer" {
            let peer = w.name("a peer name")?;
            if !ring.peers.iter().any(|p| p.name == peer) {
                ring.peers.push(KeyringPeer {
                    name: peer.clone(),
                    address: None,
                    identity: None,
                    psk_local: None,
                    psk_remote: None,
                });
            }
            // Re-entering a peer block moves it last, so its sub-commands apply to it.
            if let Some(pos) = ring.peers.iter().position(|p| p.name == peer) {
                let p = ring.peers.remove(pos);
                ring.peers.push(p);
            }
            return Ok(());
        }
        if !matches!(first.as_str(), "address" | "identity" | "pre-shared-key") {
            return Err(w.unknown(KEYRING_EXPECTED));
        }
        let Some(peer) = ring.peers.last_mut() else {
            return Err(ConfigError::NoMode {
                line,
                text: w.text.to_owned(),
                mode: "keyring peer block",
            });
        };
        match first.as_str() {
            "address" => {
                let a = w.ip("peer address")?;
                let len = match w.peek() {
                    Some(_) => w.mask("peer mask")?,
                    None => 32,
                };
                peer.address = Prefix::new(a, len);
            }
            "identity" => peer.identity = Some(identity(w)?),
            _ => {
                let dir = w.next("local KEY, remote KEY or KEY")?;
                if dir.eq_ignore_ascii_case("local") {
                    peer.psk_local = Some(Psk::new(w.next("a key")?.as_bytes()));
                } else if dir.eq_ignore_ascii_case("remote") {
                    peer.psk_remote = Some(Psk::new(w.next("a key")?.as_bytes()));
                } else {
                    peer.psk_local = Some(Psk::new(dir.as_bytes()));
                    peer.psk_remote = Some(Psk::new(dir.as_bytes()));
                }
            }
        }
        Ok(())
    }

    fn profile(&mut self, w: &mut Words<'_>, name: &str) -> Result<()> {
        let line = w.line;
        let first = w.next(PROFILE_EXPECTED)?.to_ascii_lowercase();
        let mut reference = None;
        {
            let Some(p) = self.cfg.ikev2_profiles.get_mut(name) else {
                return Err(w.unknown(PROFILE_EXPECTED));
            };
            match first.as_str() {
                "match" => {
                    w.keyword("identity")?;
                    w.keyword("remote")?;
                    let kind = w.next("address or fqdn")?;
                    if kind.eq_ignore_ascii_case("address") {
                        let a = w.ip("remote address")?;
                        let len = match w.peek() {
                            Some(_) => w.mask("remote mask")?,
                            None if a.is_unspecified() => 0,
                            None => 32,
                        };
                        p.match_remote.push(IdentityMatch::Address(
                            Prefix::new(a, len).unwrap_or_else(|| Prefix::host(a)),
                        ));
                    } else if kind.eq_ignore_ascii_case("fqdn") {
                        p.match_remote
                            .push(IdentityMatch::Fqdn(w.name("a domain name")?));
                    } else {
                        return Err(w.invalid("identity type", kind, "address or fqdn"));
                    }
                }
                "identity" => {
                    w.keyword("local")?;
                    p.identity_local = Some(identity(w)?);
                }
                "authentication" => {
                    let dir = w.next("remote or local")?;
                    w.keyword("pre-share")?;
                    if dir.eq_ignore_ascii_case("remote") {
                        p.auth_remote = Some(AuthMethod::PreShare);
                    } else if dir.eq_ignore_ascii_case("local") {
                        p.auth_local = Some(AuthMethod::PreShare);
                    } else {
                        return Err(w.invalid("authentication direction", dir, "remote or local"));
                    }
                }
                "keyring" => {
                    w.keyword("local")?;
                    let k = w.name("a keyring name")?;
                    reference = Some((RefKind::Keyring, k.clone()));
                    p.keyring = Some(k);
                }
                "aaa" => {
                    w.keyword("authorization")?;
                    w.keyword("group")?;
                    w.keyword("psk")?;
                    w.keyword("list")?;
                    let list = w.name("an AAA list name")?;
                    let policy = w.name("an authorization policy name")?;
                    p.aaa_group_psk = Some((list, policy));
                }
                "virtual-template" => {
                    let n = w.num("virtual-template number", 1u32, 1000, "1-1000")?;
                    reference = Some((RefKind::Interface, format!("Virtual-Template{n}")));
                    p.virtual_template = Some(n);
                }
                "dpd" => p.dpd = Some(dpd(w)?),
                _ => return Err(w.unknown(PROFILE_EXPECTED)),
            }
        }
        if let Some((kind, n)) = reference {
            self.refer(line, kind, &n);
        }
        Ok(())
    }

    fn authz(&mut self, w: &mut Words<'_>, name: &str) -> Result<()> {
        let line = w.line;
        let first = w.next(AUTHZ_EXPECTED)?.to_ascii_lowercase();
        let mut reference = None;
        {
            let Some(p) = self.cfg.authorization_policies.get_mut(name) else {
                return Err(w.unknown(AUTHZ_EXPECTED));
            };
            match first.as_str() {
                "pool" => {
                    let pool = w.name("a pool name")?;
                    reference = Some((RefKind::Pool, pool.clone()));
                    p.pool = Some(pool);
                }
                "route" => {
                    w.keyword("set")?;
                    let what = w.next("interface or access-list")?;
                    if what.eq_ignore_ascii_case("interface") {
                        p.route_set_interface = true;
                    } else if what.eq_ignore_ascii_case("access-list") {
                        let n = w.num("access-list number", 1u32, 99, "1-99")?;
                        reference = Some((RefKind::AccessList, n.to_string()));
                        p.route_set_acl = Some(n);
                    } else {
                        return Err(w.invalid("route set", what, "interface or access-list"));
                    }
                }
                _ => return Err(w.unknown(AUTHZ_EXPECTED)),
            }
        }
        if let Some((kind, n)) = reference {
            self.refer(line, kind, &n);
        }
        Ok(())
    }

    fn client(&mut self, w: &mut Words<'_>, name: &str) -> Result<()> {
        let line = w.line;
        let first = w.next(CLIENT_EXPECTED)?.to_ascii_lowercase();
        let mut refs: Vec<(RefKind, String)> = Vec::new();
        {
            let Some(c) = self.cfg.flex_clients.get_mut(name) else {
                return Err(w.unknown(CLIENT_EXPECTED));
            };
            match first.as_str() {
                "peer" => {
                    if w.eat("reactivate") {
                        c.peer_reactivate = true;
                    } else {
                        let n = w.num(
                            "peer priority",
                            1u32,
                            10,
                            "a peer number 1-10 or reactivate",
                        )?;
                        let target = if w.eat("fqdn") {
                            let name = w.name("a domain name")?;
                            let dynamic = w.eat("dynamic");
                            PeerTarget::Fqdn { name, dynamic }
                        } else {
                            PeerTarget::Address(w.ip("peer address")?)
                        };
                        let track = if w.eat("track") {
                            let t = w.num("track number", 1u32, 1000, "1-1000")?;
                            refs.push((RefKind::Track, t.to_string()));
                            Some(t)
                        } else {
                            None
                        };
                        if c.peers.insert(n, FlexPeer { target, track }).is_some() {
                            return Err(ConfigError::Duplicate {
                                line,
                                what: "client peer",
                                name: n.to_string(),
                            });
                        }
                    }
                }
                "client" => {
                    let what = w.next("connect or inside")?;
                    let (ifname, _) = w.iface()?;
                    refs.push((RefKind::Interface, ifname.clone()));
                    if what.eq_ignore_ascii_case("connect") {
                        c.connect_interface = Some(ifname);
                    } else if what.eq_ignore_ascii_case("inside") {
                        c.inside.push(ifname);
                    } else {
                        return Err(w.invalid("client command", what, "connect or inside"));
                    }
                }
                "connect" => {
                    let m = w.next("auto, manual or track")?;
                    c.connect = match m.to_ascii_lowercase().as_str() {
                        "auto" => ConnectMode::Auto,
                        "manual" => ConnectMode::Manual,
                        "track" => ConnectMode::Track,
                        _ => return Err(w.invalid("connect mode", m, "auto, manual or track")),
                    };
                }
                "backup" => {
                    w.keyword("group")?;
                    c.backup_group = Some(w.num("backup group", 1u32, 255, "1-255")?);
                }
                "source" => {
                    let n = w.num("source number", 1u32, 10, "1-10")?;
                    let (ifname, _) = w.iface()?;
                    w.keyword("track")?;
                    let t = w.num("track number", 1u32, 1000, "1-1000")?;
                    refs.push((RefKind::Interface, ifname.clone()));
                    refs.push((RefKind::Track, t.to_string()));
                    c.sources.insert(
                        n,
                        FlexSource {
                            interface: ifname,
                            track: t,
                        },
                    );
                }
                _ => return Err(w.unknown(CLIENT_EXPECTED)),
            }
        }
        for (kind, n) in refs {
            self.refer(line, kind, &n);
        }
        Ok(())
    }

    fn transform_set(&mut self, w: &mut Words<'_>, name: &str) -> Result<()> {
        let first = w.next(TS_EXPECTED)?;
        if !first.eq_ignore_ascii_case("mode") {
            return Err(w.unknown(TS_EXPECTED));
        }
        let m = w.next("transport or tunnel")?;
        let mode = if m.eq_ignore_ascii_case("transport") {
            IpsecMode::Transport
        } else if m.eq_ignore_ascii_case("tunnel") {
            IpsecMode::Tunnel
        } else {
            return Err(w.invalid("mode", m, "transport or tunnel"));
        };
        if let Some(ts) = self.cfg.transform_sets.get_mut(name) {
            ts.mode = mode;
        }
        Ok(())
    }

    fn ipsec_profile(&mut self, w: &mut Words<'_>, name: &str) -> Result<()> {
        let line = w.line;
        let first = w.next(IPSEC_PROFILE_EXPECTED)?;
        if !first.eq_ignore_ascii_case("set") {
            return Err(w.unknown(IPSEC_PROFILE_EXPECTED));
        }
        let what = w.next("ikev2-profile or transform-set")?;
        let mut refs = Vec::new();
        {
            let Some(p) = self.cfg.ipsec_profiles.get_mut(name) else {
                return Err(w.unknown(IPSEC_PROFILE_EXPECTED));
            };
            if what.eq_ignore_ascii_case("ikev2-profile") {
                let n = w.name("an IKEv2 profile name")?;
                refs.push((RefKind::Ikev2Profile, n.clone()));
                p.ikev2_profile = Some(n);
            } else if what.eq_ignore_ascii_case("transform-set") {
                let n = w.name("a transform-set name")?;
                refs.push((RefKind::TransformSet, n.clone()));
                p.transform_sets.push(n);
                while let Some(more) = w.opt() {
                    refs.push((RefKind::TransformSet, more.to_owned()));
                    p.transform_sets.push(more.to_owned());
                }
            } else {
                return Err(w.invalid("set", what, "ikev2-profile or transform-set"));
            }
        }
        for (kind, n) in refs {
            self.refer(line, kind, &n);
        }
        Ok(())
    }

    fn interface(&mut self, w: &mut Words<'_>, name: &str) -> Result<()> {
        let line = w.line;
        let first = w.next(INTERFACE_EXPECTED)?.to_ascii_lowercase();
        let mut refs: Vec<(RefKind, String)> = Vec::new();
        {
            let Some(i) = self.cfg.interfaces.get_mut(name) else {
                return Err(w.unknown(INTERFACE_EXPECTED));
            };
            let is_tunnel = matches!(
                i.kind,
                InterfaceKind::Tunnel(_) | InterfaceKind::VirtualTemplate(_)
            );
            match first.as_str() {
                "description" => i.description = Some(w.rest("a description")?),
                "shutdown" => i.shutdown = true,
                "no" => {
                    w.keyword("shutdown")?;
                    i.shutdown = false;
                }
                "delay" => i.delay = Some(w.num("delay", 1u32, 16_777_215, "1-16777215")?),
                "ip" => {
                    let second = w
                        .next("address, unnumbered, mtu, nhrp or tcp adjust-mss")?
                        .to_ascii_lowercase();
                    match second.as_str() {
                        "address" => {
                            if w.eat("negotiated") {
                                i.address = InterfaceAddress::Negotiated;
                            } else {
                                let addr = w.ip("interface address")?;
                                let len = w.mask("interface mask")?;
                                let net =
                                    Prefix::new(addr, len).unwrap_or_else(|| Prefix::host(addr));
                                i.address = InterfaceAddress::Static { addr, net };
                            }
                        }
                        "unnumbered" => {
                            let (other, _) = w.iface()?;
                            refs.push((RefKind::Interface, other.clone()));
                            i.address = InterfaceAddress::Unnumbered(other);
                        }
                        "mtu" => i.ip_mtu = Some(w.num("ip mtu", 68u16, 9216, "68-9216")?),
                        "tcp" => {
                            w.keyword("adjust-mss")?;
                            i.tcp_adjust_mss = Some(w.num("mss", 500u16, 1460, "500-1460")?);
                        }
                        "nhrp" => {
                            let third = w
                                .next("network-id, shortcut, redirect, map, nhs or holdtime")?
                                .to_ascii_lowercase();
                            match third.as_str() {
                                "network-id" => {
                                    i.nhrp.network_id = Some(w.num(
                                        "network-id",
                                        1u32,
                                        u32::MAX,
                                        "1-4294967295",
                                    )?);
                                }
                                "shortcut" => {
                                    if w.eat("virtual-template") {
                                        let n =
                                            w.num("virtual-template number", 1u32, 1000, "1-1000")?;
                                        refs.push((
                                            RefKind::Interface,
                                            format!("Virtual-Template{n}"),
                                        ));
                                        i.nhrp.shortcut = Some(Some(n));
                                    } else {
                                        i.nhrp.shortcut = Some(None);
                                    }
                                }
                                "redirect" => i.nhrp.redirect = true,
                                "map" => {
                                    let proto = w.ip("protocol address")?;
                                    let nbma = w.ip("NBMA address")?;
                                    i.nhrp.maps.push((proto, nbma));
                                }
                                "nhs" => {
                                    let nhs = w.ip("next hop server")?;
                                    let nbma = if w.eat("nbma") {
                                        Some(w.ip("NBMA address")?)
                                    } else {
                                        None
                                    };
                                    i.nhrp.nhs.push((nhs, nbma));
                                }
                                "holdtime" => {
                                    i.nhrp.holdtime =
                                        Some(w.num("holdtime", 1u32, 65535, "1-65535")?);
                                }
                                _ => {
                                    return Err(w.invalid(
                                        "ip nhrp command",
                                        &third,
                                        "network-id, shortcut, redirect, map, nhs or holdtime",
                                    ));
                                }
                            }
                        }
                        _ => return Err(w.unknown(INTERFACE_EXPECTED)),
                    }
                }
                "tunnel" if !is_tunnel => {
                    return Err(w.invalid(
                        "command",
                        "tunnel",
                        "tunnel commands only on Tunnel and Virtual-Template",
                    ));
                }
                "tunnel" => {
                    let second = w
                        .next("source, destination, path-mtu-discovery, protection or mode")?
                        .to_ascii_lowercase();
                    match second.as_str() {
                        "source" => {
                            let s = w.peek().unwrap_or_default();
                            if let Ok(a) = s.parse::<Ipv4Addr>() {
                                w.pos += 1;
                                i.tunnel_source = Some(TunnelSource::Address(a));
                            } else {
                                let (src, _) = w.iface()?;
                                refs.push((RefKind::Interface, src.clone()));
                                i.tunnel_source = Some(TunnelSource::Interface(src));
                            }
                        }
                        "destination" => {
                            if w.eat("dynamic") {
                                i.tunnel_destination = Some(TunnelDestination::Dynamic);
                            } else {
                                i.tunnel_destination =
                                    Some(TunnelDestination::Address(w.ip("tunnel destination")?));
                            }
                        }
                        "path-mtu-discovery" => i.tunnel_pmtud = true,
                        "protection" => {
                            w.keyword("ipsec")?;
                            w.keyword("profile")?;
                            let p = w.name("an IPsec profile name")?;
                            refs.push((RefKind::IpsecProfile, p.clone()));
                            i.tunnel_protection = Some(p);
                        }
                        "mode" => {
                            let m = w.next("gre ip or ipsec ipv4")?;
                            if m.eq_ignore_ascii_case("gre") {
                                w.keyword("ip")?;
                                i.tunnel_mode = TunnelMode::Gre;
                            } else if m.eq_ignore_ascii_case("ipsec") {
                                w.keyword("ipv4")?;
                                i.tunnel_mode = TunnelMode::IpsecIpv4;
                            } else {
                                return Err(w.invalid("tunnel mode", m, "gre ip or ipsec ipv4"));
                            }
                        }
                        _ => {
                            return Err(w.invalid(
                                "tunnel command",
                                &second,
                                "source, destination, path-mtu-discovery, protection or mode",
                            ));
                        }
                    }
                }
                _ => return Err(w.unknown(INTERFACE_EXPECTED)),
            }
        }
        for (kind, n) in refs {
            self.refer(line, kind, &n);
        }
        Ok(())
    }

    fn bgp(&mut self, w: &mut Words<'_>) -> Result<()> {
        let line = w.line;
        let first = w.next(BGP_EXPECTED)?.to_ascii_lowercase();
        let mut refs: Vec<(RefKind, String)> = Vec::new();
        {
            let Some(b) = self.cfg.bgp.as_mut() else {
                return Err(w.unknown(BGP_EXPECTED));
            };
            match first.as_str() {
                "bgp" => {
                    let second = w
                        .next("log-neighbor-changes, router-id or listen")?
                        .to_ascii_lowercase();
                    match second.as_str() {
                        "log-neighbor-changes" => b.log_neighbor_changes = true,
                        "router-id" => b.router_id = Some(w.ip("router id")?),
                        "listen" => {
                            if w.eat("limit") {
                                b.listen_limit =
                                    Some(w.num("listen limit", 1u32, 2000, "1-2000")?);
                            } else {
                                w.keyword("range")?;
                                let p = w.next("a prefix A.B.C.D/N")?;
                                let prefix = parse_slash_prefix(p).ok_or_else(|| {
                                    w.invalid("listen range", p, "a prefix A.B.C.D/N")
                                })?;
                                w.keyword("peer-group")?;
                                let g = w.name("a peer-group name")?;
                                refs.push((RefKind::PeerGroup, g.clone()));
                                b.listen_ranges.push((prefix, g));
                                if w.eat("limit") {
                                    b.listen_limit =
                                        Some(w.num("listen limit", 1u32, 2000, "1-2000")?);
                                }
                            }
                        }
                        _ => {
                            return Err(w.invalid(
                                "bgp command",
                                &second,
                                "log-neighbor-changes, router-id or listen",
                            ));
                        }
                    }
                }
                "network" => {
                    let a = w.ip("network address")?;
                    let prefix = if w.eat("mask") {
                        let len = w.mask("network mask")?;
                        Prefix::new(a, len).unwrap_or_else(|| Prefix::host(a))
                    } else {
                        Prefix::classful(a)
                    };
                    b.networks.push(prefix);
                }
                "aggregate-address" => {
                    let a = w.ip("aggregate address")?;
                    let len = w.mask("aggregate mask")?;
                    let mut agg = Aggregate {
                        prefix: Prefix::new(a, len).unwrap_or_else(|| Prefix::host(a)),
                        summary_only: false,
                        as_set: false,
                    };
                    while let Some(opt) = w.opt() {
                        if opt.eq_ignore_ascii_case("summary-only") {
                            agg.summary_only = true;
                        } else if opt.eq_ignore_ascii_case("as-set") {
                            agg.as_set = true;
                        } else {
                            return Err(w.invalid(
                                "aggregate option",
                                opt,
                                "summary-only or as-set",
                            ));
                        }
                    }
                    b.aggregates.push(agg);
                }
                "neighbor" => {
                    let who = w.name("a neighbor address or peer-group name")?;
                    let addr = who.parse::<Ipv4Addr>().ok();
                    let what = w
                        .next(
                            "peer-group, remote-as, route-reflector-client, next-hop-self, \
                             unsuppress-map, update-source, route-map, timers or description",
                        )?
                        .to_ascii_lowercase();
                    if what == "peer-group" {
                        match (addr, w.peek()) {
                            (None, None) => {
                                b.peer_groups.entry(who).or_default();
                            }
                            (Some(a), Some(_)) => {
                                let g = w.name("a peer-group name")?;
                                refs.push((RefKind::PeerGroup, g.clone()));
                                b.neighbors.entry(a).or_default().peer_group = Some(g);
                            }
                            (Some(_), None) => {
                                return Err(ConfigError::MissingArgument {
                                    line,
                                    command: w.so_far(),
                                    expected: "a peer-group name",
                                });
                            }
                            (None, Some(extra)) => {
                                return Err(ConfigError::TrailingWords {
                                    line,
                                    extra: extra.to_owned(),
                                });
                            }
                        }
                    } else {
                        let settings = match addr {
                            Some(a) => &mut b.neighbors.entry(a).or_default().settings,
                            None => match b.peer_groups.get_mut(&who) {
                                Some(s) => s,
                                None => {
                                    return Err(ConfigError::Undefined {
                                        line,
                                        kind: "peer-group",
                                        name: who,
                                    });
                                }
                            },
                        };
                        match what.as_str() {
                            "remote-as" => {
                                settings.remote_as =
                                    Some(w.num("AS number", 1u32, u32::MAX, "1-4294967295")?);
                            }
                            "route-reflector-client" => settings.route_reflector_client = true,
                            "next-hop-self" => settings.next_hop_self = Some(w.eat("all")),
                            "unsuppress-map" => {
                                let m = w.name("a route-map name")?;
                                refs.push((RefKind::RouteMap, m.clone()));
                                settings.unsuppress_map = Some(m);
                            }
                            "update-source" => {
                                let (ifname, _) = w.iface()?;
                                refs.push((RefKind::Interface, ifname.clone()));
                                settings.update_source = Some(ifname);
                            }
                            "route-map" => {
                                let m = w.name("a route-map name")?;
                                refs.push((RefKind::RouteMap, m.clone()));
                                let dir = w.next("in or out")?;
                                if dir.eq_ignore_ascii_case("in") {
                                    settings.route_map_in = Some(m);
                                } else if dir.eq_ignore_ascii_case("out") {
                                    settings.route_map_out = Some(m);
                                } else {
                                    return Err(w.invalid("direction", dir, "in or out"));
                                }
                            }
                            "timers" => {
                                let k = w.num("keepalive", 0u16, 65535, "0-65535")?;
                                let h = w.num("holdtime", 0u16, 65535, "0 or 3-65535")?;
                                if h != 0 && h < 3 {
                                    return Err(w.invalid(
                                        "holdtime",
                                        &h.to_string(),
                                        "0 or 3-65535",
                                    ));
                                }
                                settings.timers = Some((k, h));
                            }
                            "description" => settings.description = Some(w.rest("a description")?),
                            _ => {
                                return Err(w.invalid(
                                    "neighbor command",
                                    &what,
                                    "peer-group, remote-as, route-reflector-client, next-hop-self, \
                                     unsuppress-map, update-source, route-map, timers or description",
                                ));
                            }
                        }
                    }
                }
                _ => return Err(w.unknown(BGP_EXPECTED)),
            }
        }
        for (kind, n) in refs {
            self.refer(line, kind, &n);
        }
        Ok(())
    }

    fn route_map(&mut self, w: &mut Words<'_>, name: &str, seq: u32) -> Result<()> {
        let line = w.line;
        let first = w.next(ROUTE_MAP_EXPECTED)?.to_ascii_lowercase();
        let mut refs = Vec::new();
        {
            let Some(e) = self
                .cfg
                .route_maps
                .get_mut(name)
                .and_then(|m| m.get_mut(&seq))
            else {
                return Err(w.unknown(ROUTE_MAP_EXPECTED));
            };
            match first.as_str() {
                "match" => {
                    w.keyword("ip")?;
                    w.keyword("address")?;
                    let n = w.num("access-list number", 1u32, 99, "1-99")?;
                    refs.push(n);
                    e.match_acls.push(n);
                    while w.peek().is_some() {
                        let n = w.num("access-list number", 1u32, 99, "1-99")?;
                        refs.push(n);
                        e.match_acls.push(n);
                    }
                }
                "set" => {
                    let what = w
                        .next("local-preference, metric, ip next-hop, weight or origin")?
                        .to_ascii_lowercase();
                    let set = match what.as_str() {
                        "local-preference" => RouteMapSet::LocalPreference(w.num(
                            "local preference",
                            0u32,
                            u32::MAX,
                            "a number",
                        )?),
                        "metric" => {
                            RouteMapSet::Metric(w.num("metric", 0u32, u32::MAX, "a number")?)
                        }
                        "weight" => RouteMapSet::Weight(w.num("weight", 0u32, 65535, "0-65535")?),
                        "ip" => {
                            w.keyword("next-hop")?;
                            RouteMapSet::NextHop(w.ip("next hop")?)
                        }
                        "origin" => {
                            let o = w.next("igp, egp or incomplete")?;
                            RouteMapSet::Origin(match o.to_ascii_lowercase().as_str() {
                                "igp" => 0,
                                "egp" => 1,
                                "incomplete" => 2,
                                _ => return Err(w.invalid("origin", o, "igp, egp or incomplete")),
                            })
                        }
                        _ => {
                            return Err(w.invalid(
                                "set clause",
                                &what,
                                "local-preference, metric, ip next-hop, weight or origin",
                            ));
                        }
                    };
                    e.sets.push(set);
                }
                _ => return Err(w.unknown(ROUTE_MAP_EXPECTED)),
            }
        }
        for n in refs {
            self.refer(line, RefKind::AccessList, &n.to_string());
        }
        Ok(())
    }
}

fn action(w: &mut Words<'_>) -> Result<Action> {
    let a = w.next("permit or deny")?;
    if a.eq_ignore_ascii_case("permit") {
        Ok(Action::Permit)
    } else if a.eq_ignore_ascii_case("deny") {
        Ok(Action::Deny)
    } else {
        Err(w.invalid("action", a, "permit or deny"))
    }
}

fn acl_match(w: &mut Words<'_>) -> Result<AclMatch> {
    if w.eat("any") {
        return Ok(AclMatch::Any);
    }
    if w.eat("host") {
        return Ok(AclMatch::Host(w.ip("host address")?));
    }
    let a = w.ip("source address")?;
    match w.peek() {
        Some(_) => Ok(AclMatch::Wildcard(a, w.ip("wildcard")?)),
        None => Ok(AclMatch::Host(a)),
    }
}

fn identity(w: &mut Words<'_>) -> Result<Identity> {
    let kind = w.next("address or fqdn")?;
    if kind.eq_ignore_ascii_case("address") {
        Ok(Identity::Address(w.ip("identity address")?))
    } else if kind.eq_ignore_ascii_case("fqdn") {
        Ok(Identity::Fqdn(w.name("a domain name")?))
    } else {
        Err(w.invalid("identity type", kind, "address or fqdn"))
    }
}

fn dpd(w: &mut Words<'_>) -> Result<Dpd> {
    let interval = w.num("dpd interval", 10u32, 3600, "10-3600 seconds")?;
    let retry = w.num("dpd retry", 2u32, 60, "2-60 seconds")?;
    let m = w.next("on-demand or periodic")?;
    let mode = if m.eq_ignore_ascii_case("on-demand") {
        DpdMode::OnDemand
    } else if m.eq_ignore_ascii_case("periodic") {
        DpdMode::Periodic
    } else {
        return Err(w.invalid("dpd mode", m, "on-demand or periodic"));
    };
    Ok(Dpd {
        interval,
        retry,
        mode,
    })
}

/// `A.B.C.D/N`.
fn parse_slash_prefix(s: &str) -> Option<Prefix> {
    let (a, l) = s.split_once('/')?;
    Prefix::new(a.parse().ok()?, l.parse().ok()?)
}

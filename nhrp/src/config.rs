//! Plain configuration data: prefixes, peers, the per-interface NHRP settings.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ConfigError;

/// An IPv4 prefix, always stored with the host bits cleared.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Prefix {
    /// A prefix; host bits of `addr` are cleared.
    ///
    /// # Errors
    /// [`ConfigError::PrefixLength`] when `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, ConfigError> {
        if len > 32 {
            return Err(ConfigError::PrefixLength(len));
        }
        Ok(Self::masked(addr, len))
    }

    /// A prefix with `len` clamped to 32.
    pub fn masked(addr: Ipv4Addr, len: u8) -> Self {
        let len = len.min(32);
        Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask(len)),
            len,
        }
    }

    /// The host prefix of `addr`.
    pub fn host(addr: Ipv4Addr) -> Self {
        Self { addr, len: 32 }
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    #[allow(
        clippy::len_without_is_empty,
        reason = "a prefix length, not a container"
    )]
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for 0.0.0.0/0.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// True when `a` is inside the prefix.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & mask(self.len) == u32::from(self.addr)
    }
}

/// The netmask of a prefix length (0 to 32).
pub(crate) fn mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => u32::MAX,
        l => u32::MAX << (32 - u32::from(l)),
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl FromStr for Prefix {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = a.parse().map_err(|_| ConfigError::PrefixLength(255))?;
        let len: u8 = l.parse().map_err(|_| ConfigError::PrefixLength(255))?;
        Self::new(addr, len)
    }
}

/// An NHRP neighbour on the network: its overlay (tunnel) address and its NBMA (public)
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Peer {
    /// Overlay protocol address (the tunnel address).
    pub proto: Ipv4Addr,
    /// NBMA address (where GRE packets go).
    pub nbma: Ipv4Addr,
}

impl Peer {
    /// A peer.
    pub const fn new(proto: Ipv4Addr, nbma: Ipv4Addr) -> Self {
        Self { proto, nbma }
    }
}

/// Traffic Indication rate limit: at most one per `(source, destination)` every `interval`,
/// and at most `burst` in any `window` in total (IOS `ip nhrp max-send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Minimum time between two indications for the same (source, destination).
    pub interval: Duration,
    /// Total indications allowed per window.
    pub burst: u32,
    /// The window of `burst`.
    pub window: Duration,
    /// Most (source, destination) pairs remembered; the oldest are forgotten first.
    pub max_flows: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(8),
            burst: 100,
            window: Duration::from_secs(10),
            max_flows: 4096,
        }
    }
}

/// Resolution Request rate limit of a server: a token bucket per NBMA source (the outer
/// address, which the tunnel layer authenticates, not the spoofable source addresses inside
/// the packet) of `burst` requests, refilled at `burst` per `window`. Requests over the limit
/// are dropped silently (no reply, no Error Indication) and counted. Requests from configured
/// servers (forwarded on behalf of their own clients) are not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolutionLimit {
    /// Requests a source may send at once (the bucket size).
    pub burst: u32,
    /// Time in which `burst` tokens come back.
    pub window: Duration,
    /// Most sources remembered; the least recently seen are forgotten first.
    pub max_sources: usize,
}

impl Default for ResolutionLimit {
    /// A burst of 50 requests per 10 s per source, 4096 sources.
    fn default() -> Self {
        Self {
            burst: 50,
            window: Duration::from_secs(10),
            max_sources: 4096,
        }
    }
}

/// The NHRP settings of one tunnel interface (`ip nhrp ...` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Interface name, for `show ip nhrp` (`Tunnel1`).
    pub interface: String,
    /// `ip nhrp network-id`.
    pub network_id: u32,
    /// This node's overlay address on the interface.
    pub proto: Ipv4Addr,
    /// This node's NBMA address.
    pub nbma: Ipv4Addr,
    /// `ip mtu`, advertised in CIEs.
    pub mtu: u16,
    /// `ip nhrp holdtime`: holding time of what this node advertises.
    pub holding_time: Duration,
    /// `ip nhrp redirect`: send Traffic Indications when forwarding back into the network.
    pub redirect: bool,
    /// `ip nhrp shortcut`: act on Traffic Indications and install shortcuts.
    pub shortcut: bool,
    /// Act as a next hop server: answer for known peers, forward and relay for others.
    pub server: bool,
    /// Next hop servers (for a spoke: its hubs; for a hub: the other hubs on the network-id).
    /// Traffic Indications are never sent to them.
    pub servers: Vec<Peer>,
    /// Prefixes this node owns and answers resolution requests for (a spoke's LANs).
    pub local_prefixes: Vec<Prefix>,
    /// Most cache entries.
    pub cache_limit: usize,
    /// Holding time of negative entries.
    pub negative_holding_time: Duration,
    /// First retry interval of a resolution request; doubles up to `request_timeout`.
    pub request_retry: Duration,
    /// Give up on a resolution request (and cache a negative entry) after this long.
    pub request_timeout: Duration,
    /// Refresh a used shortcut when this fraction (in percent) of its holding time is gone.
    pub refresh_percent: u8,
    /// Traffic Indication limits.
    pub rate_limit: RateLimit,
    /// Resolution Request limits (server only).
    pub resolution_limit: ResolutionLimit,
    /// Initial hop count of packets this node originates.
    pub hop_count: u8,
}

impl Config {
    /// The scenario's defaults for one interface: `ip mtu 1400`, holding time 7200 s,
    /// redirect and shortcut on, cache of 10 000 entries.
    pub fn new(network_id: u32, proto: Ipv4Addr, nbma: Ipv4Addr) -> Self {
        Self {
            interface: "Tunnel1".into(),
            network_id,
            proto,
            nbma,
            mtu: 1400,
            holding_time: Duration::from_secs(7200),
            redirect: true,
            shortcut: true,
            server: false,
            servers: Vec::new(),
            local_prefixes: Vec::new(),
            cache_limit: 10_000,
            negative_holding_time: Duration::from_secs(60),
            request_retry: Duration::from_secs(1),
            request_timeout: Duration::from_secs(15),
            refresh_percent: 66,
            rate_limit: RateLimit::default(),
            resolution_limit: ResolutionLimit::default(),
            hop_count: 16,
        }
    }

    /// Checks the values.
    ///
    /// # Errors
    /// A zero size or duration where one is needed, or a holding time above 65535 s.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cache_limit == 0 {
            return Err(ConfigError::Zero("cache_limit"));
        }
        if self.holding_time.is_zero() {
            return Err(ConfigError::Zero("holding_time"));
        }
        if self.request_retry.is_zero() {
            return Err(ConfigError::Zero("request_retry"));
        }
        if self.rate_limit.max_flows == 0 {
            return Err(ConfigError::Zero("rate_limit.max_flows"));
        }
        if self.resolution_limit.burst == 0 {
            return Err(ConfigError::Zero("resolution_limit.burst"));
        }
        if self.resolution_limit.window.is_zero() {
            return Err(ConfigError::Zero("resolution_limit.window"));
        }
        if self.resolution_limit.max_sources == 0 {
            return Err(ConfigError::Zero("resolution_limit.max_sources"));
        }
        if self.holding_time.as_secs() > u64::from(u16::MAX) {
            return Err(ConfigError::HoldingTime);
        }
        Ok(())
    }

    /// The holding time in seconds as carried in a CIE.
    pub(crate) fn holding_secs(&self) -> u16 {
        u16::try_from(self.holding_time.as_secs()).unwrap_or(u16::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_masks_and_contains() {
        let p: Prefix = "192.168.2.77/24".parse().unwrap();
        assert_eq!(p.addr(), Ipv4Addr::new(192, 168, 2, 0));
        assert!(p.contains(Ipv4Addr::new(192, 168, 2, 200)));
        assert!(!p.contains(Ipv4Addr::new(192, 168, 3, 1)));
        assert!(Prefix::new(Ipv4Addr::UNSPECIFIED, 33).is_err());
        assert!(Prefix::masked(Ipv4Addr::new(1, 2, 3, 4), 0).contains(Ipv4Addr::BROADCAST));
    }
}

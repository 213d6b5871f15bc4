//! Speaker configuration: plain data, validated by [`SpeakerConfig::validate`] (called by
//! [`crate::Speaker::new`]). Names follow the IOS commands of the scenario.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use bgp_lite::config::*;
//! // router bgp 65001 / bgp listen range 10.1.1.0/24 peer-group Spokes / network 192.168.0.0
//! // aggregate-address 192.168.0.0 255.255.0.0 summary-only / neighbor 192.168.0.2 ...
//! let mut c = SpeakerConfig::new(65001, Ipv4Addr::new(192, 168, 0, 1));
//! c.peer_groups.insert("Spokes".into(), NeighborSettings::ibgp(65001));
//! c.listen_ranges.push(ListenRange { prefix: "10.1.1.0/24".parse().unwrap(), peer_group: "Spokes".into() });
//! c.networks.push("192.168.0.0/24".parse().unwrap());
//! c.aggregates.push(AggregateConfig { prefix: "192.168.0.0/16".parse().unwrap(), summary_only: true, as_set: false });
//! let mut n = NeighborSettings::ibgp(65001);
//! n.route_reflector_client = true;
//! n.next_hop_self = NextHopSelf::All;
//! n.unsuppress_map = Some("ALL".into());
//! c.neighbors.insert(Ipv4Addr::new(192, 168, 0, 2).into(), n);
//! c.policy.access_lists.insert("1".into(), AccessList::permit_any());
//! c.policy.route_maps.insert("ALL".into(), RouteMap::permit_matching_acl(10, "1"));
//! assert!(c.validate().is_ok());
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::error::ConfigError;
pub use crate::policy::{
    AccessList, AclEntry, Match, Policy, PrefixList, PrefixListEntry, RouteMap, RouteMapEntry,
    SetAction,
};
use crate::wire::Ipv4Prefix;

/// `neighbor X next-hop-self [all]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NextHopSelf {
    /// Next hops are passed unchanged on iBGP (RFC 4271 §5.1.3); local routes use our address.
    #[default]
    Off,
    /// `next-hop-self`: for routes this speaker originates or learned over eBGP (none here).
    On,
    /// `next-hop-self all` (FRR `force`): also for reflected iBGP routes.
    All,
}

/// Settings of one neighbor or peer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborSettings {
    /// `remote-as`; must equal the local AS (iBGP only).
    pub remote_as: u32,
    /// Never connect out; wait for the peer (`neighbor X transport connection-mode passive`).
    pub passive: bool,
    /// TCP port to connect to (179).
    pub port: u16,
    /// Local address to connect from (`update-source`), if any.
    pub local_addr: Option<IpAddr>,
    /// `route-reflector-client`.
    pub route_reflector_client: bool,
    /// `next-hop-self [all]`.
    pub next_hop_self: NextHopSelf,
    /// The address used as "self" in next hops; the session's local address when `None`.
    /// (FRR and GoBGP refuse next hops in 127/8, so tests on loopback set this.)
    pub next_hop_self_addr: Option<Ipv4Addr>,
    /// Inbound route-map.
    pub route_map_in: Option<String>,
    /// Outbound route-map.
    pub route_map_out: Option<String>,
    /// `unsuppress-map`: routes suppressed by a summary-only aggregate that it permits are sent.
    pub unsuppress_map: Option<String>,
    /// Hold time proposed (180 s); 0 or >= 3.
    pub hold_time: u16,
    /// ConnectRetry time (120 s per RFC 4271 §10; IOS uses 120 s too).
    pub connect_retry: Duration,
}

impl NeighborSettings {
    /// An iBGP neighbor with IOS defaults.
    pub fn ibgp(remote_as: u32) -> Self {
        Self {
            remote_as,
            passive: false,
            port: 179,
            local_addr: None,
            route_reflector_client: false,
            next_hop_self: NextHopSelf::Off,
            next_hop_self_addr: None,
            route_map_in: None,
            route_map_out: None,
            unsuppress_map: None,
            hold_time: 180,
            connect_retry: Duration::from_secs(120),
        }
    }
}

/// `bgp listen range P peer-group G`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenRange {
    /// Remote addresses accepted.
    pub prefix: Ipv4Prefix,
    /// Peer group whose settings dynamic neighbors take.
    pub peer_group: String,
}

/// `aggregate-address P [as-set] [summary-only]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateConfig {
    /// The aggregate prefix.
    pub prefix: Ipv4Prefix,
    /// Suppress the more specific routes towards neighbors (unless an unsuppress-map permits).
    pub summary_only: bool,
    /// Carry an AS_SET of the contributors' ASes instead of ATOMIC_AGGREGATE.
    pub as_set: bool,
}

/// The speaker configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// Local AS.
    pub asn: u32,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Cluster ID for route reflection (the router ID when `None`).
    pub cluster_id: Option<Ipv4Addr>,
    /// `bgp log-neighbor-changes`: emit `%BGP-5-ADJCHANGE` syslog events.
    pub log_neighbor_changes: bool,
    /// Named peer groups.
    pub peer_groups: BTreeMap<String, NeighborSettings>,
    /// Configured neighbors.
    pub neighbors: BTreeMap<IpAddr, NeighborSettings>,
    /// Listen ranges for dynamic neighbors.
    pub listen_ranges: Vec<ListenRange>,
    /// `bgp listen limit` (IOS default 100).
    pub listen_limit: usize,
    /// `network P`: originated when the route table holds P exactly.
    pub networks: Vec<Ipv4Prefix>,
    /// Aggregates.
    pub aggregates: Vec<AggregateConfig>,
    /// Access lists, prefix lists and route-maps.
    pub policy: Policy,
    /// RFC 4271 §9.1.2.1: a route learned from a neighbor whose NEXT_HOP the caller's route
    /// table ([`crate::Speaker::set_route_table`]) does not resolve is kept aside, out of the
    /// best-path decision, and comes back when a new table resolves it (and leaves again when
    /// a table no longer does). Off by default: with it on, a caller that gives no route
    /// table uses no learned route.
    pub next_hop_check: bool,
}

impl SpeakerConfig {
    /// An empty configuration.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        Self {
            asn,
            router_id,
            cluster_id: None,
            log_neighbor_changes: true,
            peer_groups: BTreeMap::new(),
            neighbors: BTreeMap::new(),
            listen_ranges: Vec::new(),
            listen_limit: 100,
            networks: Vec::new(),
            aggregates: Vec::new(),
            policy: Policy::default(),
            next_hop_check: false,
        }
    }

    /// The cluster ID in use.
    pub fn cluster_id(&self) -> Ipv4Addr {
        self.cluster_id.unwrap_or(self.router_id)
    }

    /// Checks references and values.
    ///
    /// # Errors
    /// A [`ConfigError`] for an undefined peer group or route-map, an eBGP neighbor, or an
    /// invalid hold time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for r in &self.listen_ranges {
            if !self.peer_groups.contains_key(&r.peer_group) {
                return Err(ConfigError::UnknownPeerGroup(r.peer_group.clone()));
            }
        }
        let all = self
            .neighbors
            .iter()
            .map(|(a, s)| (Some(*a), s))
            .chain(self.peer_groups.values().map(|s| (None, s)));
        for (addr, s) in all {
            if s.remote_as != self.asn {
                return Err(ConfigError::NotIbgp(
                    addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                ));
            }
            if s.hold_time == 1 || s.hold_time == 2 {
                return Err(ConfigError::HoldTime(s.hold_time));
            }
            for m in [&s.route_map_in, &s.route_map_out, &s.unsuppress_map]
                .into_iter()
                .flatten()
            {
                if !self.policy.route_maps.contains_key(m) {
                    return Err(ConfigError::UnknownRouteMap(m.clone()));
                }
            }
        }
        self.policy.validate()
    }
}

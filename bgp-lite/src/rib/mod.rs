//! The RIBs: shared path attributes ([`RouteAttrs`], interned), the Loc-RIB with every
//! candidate path per prefix (the Adj-RIBs-In after inbound policy, RFC 4271 §3.2) and the
//! best one, and per-neighbor Adj-RIBs-Out.

pub mod adj_in;
pub mod best_path;
pub mod loc;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

pub use adj_in::AttrCache;
pub use loc::{BestChange, BestSummary, Dest, LocRib};

use crate::wire::{AsPath, Ipv4Prefix, Origin};

/// The path attributes of a route, normalised (2-octet AS paths already merged with AS4_PATH).
/// Shared between prefixes through `Arc` and interned by [`AttrCache`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteAttrs {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH.
    pub as_path: AsPath,
    /// NEXT_HOP (0.0.0.0 for routes this speaker originates: "self").
    pub next_hop: Ipv4Addr,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (AS, address).
    pub aggregator: Option<(u32, Ipv4Addr)>,
    /// COMMUNITIES.
    pub communities: Vec<u32>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<Ipv4Addr>,
    /// Unknown optional transitive attributes (flags, code, value), passed on with the
    /// partial bit set (RFC 4271 §5).
    pub unknown: Vec<(u8, u8, Vec<u8>)>,
}

impl Default for RouteAttrs {
    fn default() -> Self {
        Self {
            origin: Origin::Igp,
            as_path: AsPath::default(),
            next_hop: Ipv4Addr::UNSPECIFIED,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            originator_id: None,
            cluster_list: Vec::new(),
            unknown: Vec::new(),
        }
    }
}

/// Default LOCAL_PREF (IOS `bgp default local-preference 100`).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Source index of routes from `network` statements.
pub const SRC_NETWORK: u32 = 0;
/// Source index of aggregates.
pub const SRC_AGGREGATE: u32 = 1;
/// First source index used for neighbors.
pub const SRC_FIRST_PEER: u32 = 2;

/// One candidate path: where it came from and its shared attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Source: [`SRC_NETWORK`], [`SRC_AGGREGATE`], or a neighbor's index.
    pub src: u32,
    /// Attributes (after inbound policy).
    pub attrs: Arc<RouteAttrs>,
}

impl Path {
    /// Whether this speaker originated it.
    pub fn is_local(&self) -> bool {
        self.src < SRC_FIRST_PEER
    }
}

/// What best-path selection needs to know about a path's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// Neighbor address.
    pub addr: IpAddr,
    /// Neighbor BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Route-reflector client.
    pub rr_client: bool,
}

/// What was last sent to one neighbor.
#[derive(Debug, Clone, Default)]
pub struct AdjRibOut {
    /// Prefix to the attributes sent.
    pub routes: BTreeMap<Ipv4Prefix, Arc<RouteAttrs>>,
}

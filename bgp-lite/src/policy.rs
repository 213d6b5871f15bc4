//! Route policy: standard access lists, prefix lists and route-maps (the IOS subset the
//! scenario needs: `match ip address`, `match ip address prefix-list`, `set local-preference`,
//! `set community`, `set ip next-hop`, `set metric`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::error::ConfigError;
use crate::rib::RouteAttrs;
use crate::wire::Ipv4Prefix;

/// One line of a standard access list: `access-list N permit|deny ADDR WILDCARD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// Permit or deny.
    pub permit: bool,
    /// Address.
    pub addr: Ipv4Addr,
    /// Wildcard (inverse mask); `255.255.255.255` is `any`.
    pub wildcard: Ipv4Addr,
}

/// A standard access list, matched against the route's network address; implicit deny at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    /// Entries in order.
    pub entries: Vec<AclEntry>,
}

impl AccessList {
    /// `access-list N permit any`.
    pub fn permit_any() -> Self {
        Self {
            entries: vec![AclEntry {
                permit: true,
                addr: Ipv4Addr::UNSPECIFIED,
                wildcard: Ipv4Addr::BROADCAST,
            }],
        }
    }
    /// Whether the prefix is permitted.
    pub fn permits(&self, p: &Ipv4Prefix) -> bool {
        let a = u32::from(p.addr());
        for e in &self.entries {
            let care = !u32::from(e.wildcard);
            if a & care == u32::from(e.addr) & care {
                return e.permit;
            }
        }
        false
    }
}

/// `ip prefix-list NAME seq N permit|deny P [ge X] [le Y]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixListEntry {
    /// Permit or deny.
    pub permit: bool,
    /// Prefix.
    pub prefix: Ipv4Prefix,
    /// Minimum length (`ge`).
    pub ge: Option<u8>,
    /// Maximum length (`le`).
    pub le: Option<u8>,
}

/// A prefix list; implicit deny at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixList {
    /// Entries in sequence order.
    pub entries: Vec<PrefixListEntry>,
}

impl PrefixList {
    /// Whether the prefix is permitted.
    pub fn permits(&self, p: &Ipv4Prefix) -> bool {
        for e in &self.entries {
            let exact = e.ge.is_none() && e.le.is_none();
            let hit = if exact {
                *p == e.prefix
            } else {
                let lo = e.ge.unwrap_or_else(|| e.prefix.prefix_len());
                let hi = e.le.unwrap_or(32);
                e.prefix.contains(p) && (lo..=hi).contains(&p.prefix_len())
            };
            if hit {
                return e.permit;
            }
        }
        false
    }
}

/// A route-map match clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `match ip address ACL`.
    IpAddress(String),
    /// `match ip address prefix-list NAME`.
    PrefixList(String),
}

/// A route-map set clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetAction {
    /// `set local-preference N`.
    LocalPref(u32),
    /// `set community X.. [additive]`.
    Community {
        /// Communities.
        values: Vec<u32>,
        /// Add to the existing ones instead of replacing.
        additive: bool,
    },
    /// `set ip next-hop A`.
    NextHop(Ipv4Addr),
    /// `set metric N`.
    Med(u32),
}

/// `route-map NAME permit|deny SEQ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMapEntry {
    /// Sequence number.
    pub seq: u32,
    /// Permit or deny.
    pub permit: bool,
    /// All must match (an empty list matches everything).
    pub matches: Vec<Match>,
    /// Applied when a permit entry matches.
    pub sets: Vec<SetAction>,
}

/// A route-map; implicit deny at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMap {
    /// Entries in sequence order.
    pub entries: Vec<RouteMapEntry>,
}

impl RouteMap {
    /// `route-map NAME permit SEQ` / `match ip address ACL` (the scenario's `ALL`).
    pub fn permit_matching_acl(seq: u32, acl: &str) -> Self {
        Self {
            entries: vec![RouteMapEntry {
                seq,
                permit: true,
                matches: vec![Match::IpAddress(acl.into())],
                sets: vec![],
            }],
        }
    }
}

/// Access lists, prefix lists and route-maps by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Access lists.
    pub access_lists: BTreeMap<String, AccessList>,
    /// Prefix lists.
    pub prefix_lists: BTreeMap<String, PrefixList>,
    /// Route-maps.
    pub route_maps: BTreeMap<String, RouteMap>,
}

impl Policy {
    /// Checks that every list a route-map names exists.
    ///
    /// # Errors
    /// [`ConfigError::UnknownRouteMap`] naming the missing list.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for m in self
            .route_maps
            .values()
            .flat_map(|r| &r.entries)
            .flat_map(|e| &e.matches)
        {
            let ok = match m {
                Match::IpAddress(n) => self.access_lists.contains_key(n),
                Match::PrefixList(n) => self.prefix_lists.contains_key(n),
            };
            if !ok {
                let (Match::IpAddress(n) | Match::PrefixList(n)) = m;
                return Err(ConfigError::UnknownRouteMap(n.clone()));
            }
        }
        Ok(())
    }

    fn matches(&self, m: &Match, p: &Ipv4Prefix) -> bool {
        match m {
            Match::IpAddress(n) => self.access_lists.get(n).is_some_and(|a| a.permits(p)),
            Match::PrefixList(n) => self.prefix_lists.get(n).is_some_and(|a| a.permits(p)),
        }
    }

    /// Whether route-map `name` permits `p` (sets are not applied). An unknown map denies.
    pub fn permits(&self, name: &str, p: &Ipv4Prefix) -> bool {
        self.route_maps
            .get(name)
            .and_then(|rm| {
                rm.entries
                    .iter()
                    .find(|e| e.matches.iter().all(|m| self.matches(m, p)))
            })
            .is_some_and(|e| e.permit)
    }

    /// Applies route-map `name`: `None` when denied, else the attributes with the sets applied.
    pub fn apply(&self, name: &str, p: &Ipv4Prefix, attrs: &RouteAttrs) -> Option<RouteAttrs> {
        let rm = self.route_maps.get(name)?;
        let e = rm
            .entries
            .iter()
            .find(|e| e.matches.iter().all(|m| self.matches(m, p)))?;
        if !e.permit {
            return None;
        }
        let mut a = attrs.clone();
        for s in &e.sets {
            match s {
                SetAction::LocalPref(v) => a.local_pref = Some(*v),
                SetAction::Med(v) => a.med = Some(*v),
                SetAction::NextHop(n) => a.next_hop = *n,
                SetAction::Community { values, additive } => {
                    if !additive {
                        a.communities.clear();
                    }
                    for v in values {
                        if !a.communities.contains(v) {
                            a.communities.push(*v);
                        }
                    }
                }
            }
        }
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn acl_prefix_list_route_map() {
        let acl = AccessList {
            entries: vec![
                AclEntry {
                    permit: false,
                    addr: Ipv4Addr::new(10, 0, 0, 0),
                    wildcard: Ipv4Addr::new(0, 255, 255, 255),
                },
                AclEntry {
                    permit: true,
                    addr: Ipv4Addr::UNSPECIFIED,
                    wildcard: Ipv4Addr::BROADCAST,
                },
            ],
        };
        assert!(!acl.permits(&p("10.1.0.0/16")));
        assert!(acl.permits(&p("192.168.0.0/24")));
        let pl = PrefixList {
            entries: vec![PrefixListEntry {
                permit: true,
                prefix: p("192.168.0.0/16"),
                ge: Some(24),
                le: Some(24),
            }],
        };
        assert!(pl.permits(&p("192.168.5.0/24")));
        assert!(!pl.permits(&p("192.168.0.0/16")));
        let mut pol = Policy::default();
        pol.access_lists.insert("1".into(), acl);
        pol.prefix_lists.insert("PL".into(), pl);
        pol.route_maps.insert(
            "RM".into(),
            RouteMap {
                entries: vec![
                    RouteMapEntry {
                        seq: 10,
                        permit: true,
                        matches: vec![Match::PrefixList("PL".into())],
                        sets: vec![
                            SetAction::LocalPref(200),
                            SetAction::Community {
                                values: vec![0xfde9_0001],
                                additive: true,
                            },
                        ],
                    },
                    RouteMapEntry {
                        seq: 20,
                        permit: true,
                        matches: vec![Match::IpAddress("1".into())],
                        sets: vec![],
                    },
                ],
            },
        );
        assert!(pol.validate().is_ok());
        let a = RouteAttrs::default();
        let out = pol.apply("RM", &p("192.168.5.0/24"), &a).unwrap();
        assert_eq!(out.local_pref, Some(200));
        assert_eq!(out.communities, vec![0xfde9_0001]);
        assert_eq!(pol.apply("RM", &p("172.16.0.0/16"), &a).unwrap(), a);
        assert!(pol.apply("RM", &p("10.0.0.0/8"), &a).is_none());
        assert!(!pol.permits("missing", &p("10.0.0.0/8")));
    }
}

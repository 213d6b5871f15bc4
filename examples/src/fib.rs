//! A user-space FIB: connected, static, BGP, NHRP-shortcut and discard routes, longest-prefix
//! match, best route per prefix by administrative distance, and `show ip route` in IOS format.
//!
//! ```
//! use flexvpn_router::fib::{Fib, Route, Source, Target};
//! use flexvpn_router::prefix::Prefix;
//!
//! let mut fib = Fib::new();
//! let p = |s: &str, l| Prefix::new(s.parse().unwrap(), l).unwrap();
//! fib.insert(Route::new(p("192.168.0.0", 16), Source::Bgp, Target::via("10.1.1.1".parse().unwrap(), "Tunnel1")));
//! fib.insert(Route::new(p("192.168.12.0", 24), Source::Nhrp, Target::via("10.1.1.101".parse().unwrap(), "Virtual-Access1")));
//! assert_eq!(fib.lookup("192.168.12.7".parse().unwrap()).unwrap().source, Source::Nhrp);
//! assert_eq!(fib.lookup("192.168.0.7".parse().unwrap()).unwrap().source, Source::Bgp);
//! assert!(fib.lookup("8.8.8.8".parse().unwrap()).is_none());
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::prefix::Prefix;

/// Where a route came from; decides its default administrative distance and its IOS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The interface's own address (`L`, /32).
    Local,
    /// A connected subnet (`C`).
    Connected,
    /// `ip route` (`S`).
    Static,
    /// Learned or originated by BGP (`B`); iBGP distance 200.
    Bgp,
    /// An NHRP shortcut (`H`), distance 250.
    Nhrp,
}

impl Source {
    /// The IOS default administrative distance.
    pub fn distance(self) -> u8 {
        match self {
            Self::Local | Self::Connected => 0,
            Self::Static => 1,
            Self::Bgp => 200,
            Self::Nhrp => 250,
        }
    }

    /// The one-letter code of `show ip route`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Local => "L",
            Self::Connected => "C",
            Self::Static => "S",
            Self::Bgp => "B",
            Self::Nhrp => "H",
        }
    }
}

/// Where packets matching a route go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Out of an interface, to a next hop if one is given (else the destination is on-link).
    Interface {
        /// The interface name.
        ifname: String,
        /// The next hop.
        via: Option<Ipv4Addr>,
    },
    /// To a next hop to be resolved recursively through the FIB.
    NextHop(Ipv4Addr),
    /// Discard (`Null0`), e.g. the aggregate's route.
    Discard,
    /// Delivered to this router.
    Receive(String),
}

impl Target {
    /// Out of `ifname` via `nh`.
    pub fn via(nh: Ipv4Addr, ifname: &str) -> Self {
        Self::Interface {
            ifname: ifname.to_owned(),
            via: Some(nh),
        }
    }

    /// Directly connected on `ifname`.
    pub fn connected(ifname: &str) -> Self {
        Self::Interface {
            ifname: ifname.to_owned(),
            via: None,
        }
    }
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination.
    pub prefix: Prefix,
    /// Its origin.
    pub source: Source,
    /// Administrative distance (lower wins).
    pub distance: u8,
    /// Metric within the source.
    pub metric: u32,
    /// Where matching packets go.
    pub target: Target,
}

impl Route {
    /// A route with the source's default distance and metric 0.
    pub fn new(prefix: Prefix, source: Source, target: Target) -> Self {
        Self {
            prefix,
            source,
            distance: source.distance(),
            metric: 0,
            target,
        }
    }
}

/// The forwarding table.
#[derive(Debug, Clone, Default)]
pub struct Fib {
    /// Every installed route per prefix, best (lowest distance, then metric) first.
    table: BTreeMap<Prefix, Vec<Route>>,
}

impl Fib {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Install a route, replacing one of the same prefix and source.
    pub fn insert(&mut self, route: Route) {
        let v = self.table.entry(route.prefix).or_default();
        v.retain(|r| r.source != route.source);
        v.push(route);
        v.sort_by_key(|r| (r.distance, r.metric, r.source));
    }

    /// Remove the route of `prefix` from `source`; returns whether one was there.
    pub fn remove(&mut self, prefix: Prefix, source: Source) -> bool {
        let Some(v) = self.table.get_mut(&prefix) else {
            return false;
        };
        let before = v.len();
        v.retain(|r| r.source != source);
        let removed = v.len() != before;
        if v.is_empty() {
            self.table.remove(&prefix);
        }
        removed
    }

    /// Remove every route for which `f` is true.
    pub fn remove_where(&mut self, mut f: impl FnMut(&Route) -> bool) {
        for v in self.table.values_mut() {
            v.retain(|r| !f(r));
        }
        self.table.retain(|_, v| !v.is_empty());
    }

    /// The best route of exactly `prefix`.
    pub fn get(&self, prefix: &Prefix) -> Option<&Route> {
        self.table.get(prefix).and_then(|v| v.first())
    }

    /// Longest-prefix match: the best route of the most specific prefix containing `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Route> {
        (0..=32u8).rev().find_map(|len| {
            let p = Prefix::new(dst, len)?;
            self.get(&p)
        })
    }

    /// Resolve `dst` to (interface, next hop) by following `NextHop` routes recursively (at most
    /// 8 levels). `None` when there is no route, the route discards, or it is local.
    pub fn resolve(&self, dst: Ipv4Addr) -> Option<(String, Ipv4Addr)> {
        let mut target = dst;
        for _ in 0..8 {
            match &self.lookup(target)?.target {
                Target::Interface { ifname, via } => {
                    return Some((ifname.clone(), via.unwrap_or(target)));
                }
                Target::NextHop(nh) => target = *nh,
                Target::Discard | Target::Receive(_) => return None,
            }
        }
        None
    }

    /// The best route of every prefix, in prefix order.
    pub fn best_routes(&self) -> impl Iterator<Item = &Route> {
        self.table.values().filter_map(|v| v.first())
    }

    /// Number of prefixes with a route.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `show ip route`, in the IOS layout (without route ages).
    pub fn show(&self) -> String {
        let mut s = String::new();
        s.push_str("Codes: L - local, C - connected, S - static, B - BGP\n");
        s.push_str("       H - NHRP, * - candidate default\n\n");
        let default = Prefix::new(Ipv4Addr::UNSPECIFIED, 0);
        match default.and_then(|d| self.get(&d)) {
            Some(Route {
                target: Target::NextHop(nh) | Target::Interface { via: Some(nh), .. },
                ..
            }) => {
                let _ = writeln!(s, "Gateway of last resort is {nh} to network 0.0.0.0\n");
            }
            _ => s.push_str("Gateway of last resort is not set\n\n"),
        }
        for r in self.best_routes() {
            let code = if r.prefix.is_default() {
                format!("{}*", r.source.code())
            } else {
                r.source.code().to_owned()
            };
            let dm = format!("[{}/{}]", r.distance, r.metric);
            let _ = match &r.target {
                Target::Interface { ifname, via: None } => {
                    writeln!(s, "{code:<6}{} is directly connected, {ifname}", r.prefix)
                }
                Target::Interface {
                    ifname,
                    via: Some(nh),
                } => writeln!(s, "{code:<6}{} {dm} via {nh}, {ifname}", r.prefix),
                Target::NextHop(nh) => writeln!(s, "{code:<6}{} {dm} via {nh}", r.prefix),
                Target::Discard => {
                    writeln!(s, "{code:<6}{} {dm} is directly connected, Null0", r.prefix)
                }
                Target::Receive(ifname) => {
                    writeln!(s, "{code:<6}{} is directly connected, {ifname}", r.prefix)
                }
            };
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, l: u8) -> Prefix {
        Prefix::new(s.parse().unwrap(), l).unwrap()
    }
    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_then_distance() {
        let mut f = Fib::new();
        f.insert(Route::new(
            p("0.0.0.0", 0),
            Source::Static,
            Target::NextHop(a("172.16.2.1")),
        ));
        f.insert(Route::new(
            p("172.16.2.0", 24),
            Source::Connected,
            Target::connected("Ethernet0/0"),
        ));
        f.insert(Route::new(
            p("192.168.0.0", 16),
            Source::Bgp,
            Target::Discard,
        ));
        f.insert(Route::new(
            p("192.168.12.0", 24),
            Source::Bgp,
            Target::via(a("10.1.1.101"), "Virtual-Access2"),
        ));
        f.insert(Route::new(
            p("192.168.12.0", 24),
            Source::Nhrp,
            Target::via(a("10.1.1.101"), "Virtual-Access9"),
        ));
        assert_eq!(
            f.lookup(a("192.168.12.5")).unwrap().source,
            Source::Bgp,
            "distance 200 beats 250"
        );
        assert_eq!(f.lookup(a("192.168.77.5")).unwrap().target, Target::Discard);
        assert_eq!(f.lookup(a("8.8.8.8")).unwrap().source, Source::Static);
        assert_eq!(
            f.resolve(a("172.25.1.1")),
            Some(("Ethernet0/0".into(), a("172.16.2.1")))
        );
        assert_eq!(f.resolve(a("192.168.77.5")), None);
        assert!(f.remove(p("192.168.12.0", 24), Source::Bgp));
        assert_eq!(f.lookup(a("192.168.12.5")).unwrap().source, Source::Nhrp);
        assert!(!f.remove(p("192.168.12.0", 24), Source::Bgp));
        f.remove_where(|r| r.source == Source::Nhrp);
        assert_eq!(f.lookup(a("192.168.12.5")).unwrap().target, Target::Discard);
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn every_length_matches_its_own_prefix() {
        let mut f = Fib::new();
        let dst = a("203.0.113.77");
        for len in 0..=32u8 {
            f.insert(Route::new(
                Prefix::new(dst, len).unwrap(),
                Source::Static,
                Target::NextHop(Ipv4Addr::from(u32::from(len))),
            ));
        }
        for len in (0..=32u8).rev() {
            assert_eq!(f.lookup(dst).unwrap().prefix.prefix_len(), len);
            f.remove(Prefix::new(dst, len).unwrap(), Source::Static);
        }
        assert!(f.lookup(dst).is_none());
    }

    #[test]
    fn recursion_is_bounded() {
        let mut f = Fib::new();
        f.insert(Route::new(
            p("10.0.0.1", 32),
            Source::Static,
            Target::NextHop(a("10.0.0.2")),
        ));
        f.insert(Route::new(
            p("10.0.0.2", 32),
            Source::Static,
            Target::NextHop(a("10.0.0.1")),
        ));
        assert_eq!(f.resolve(a("10.0.0.1")), None);
    }

    #[test]
    fn show_ip_route_layout() {
        let mut f = Fib::new();
        f.insert(Route::new(
            p("0.0.0.0", 0),
            Source::Static,
            Target::NextHop(a("172.16.2.1")),
        ));
        f.insert(Route::new(
            p("10.1.1.111", 32),
            Source::Connected,
            Target::connected("Tunnel1"),
        ));
        f.insert(Route::new(
            p("192.168.0.0", 16),
            Source::Bgp,
            Target::via(a("10.1.1.1"), "Tunnel1"),
        ));
        let s = f.show();
        assert!(
            s.contains("Gateway of last resort is 172.16.2.1 to network 0.0.0.0"),
            "{s}"
        );
        assert!(s.contains("S*    0.0.0.0/0 [1/0] via 172.16.2.1\n"), "{s}");
        assert!(
            s.contains("C     10.1.1.111/32 is directly connected, Tunnel1\n"),
            "{s}"
        );
        assert!(
            s.contains("B     192.168.0.0/16 [200/0] via 10.1.1.1, Tunnel1\n"),
            "{s}"
        );
    }
}

//! The NHRP cache: protocol prefix -> NBMA binding, with holding times.
//!
//! Entries are kept per prefix length in hash maps with a fixed (unseeded) hasher, so a
//! longest-prefix lookup is at most 33 probes (fewer: empty lengths are skipped); nothing
//! iterates those maps without sorting, so outputs stay deterministic. An expiry index makes
//! the next deadline and the eviction victim O(log n). The cache never holds more than its limit.
//!
//! Entries are either *protected* (static ones, registrations, resolution results) or *soft*
//! (implicit entries learned from the source of a request, negative and incomplete ones). An
//! unauthenticated requester can make a server learn soft entries at will, so (RFC 2332
//! §5.2.3: what a client registered belongs to it) a soft entry never evicts a protected one,
//! and an implicit one never replaces one for the same prefix: inserting a soft entry into a full cache evicts the soft entry that expires
//! first, and is refused when there is none. A protected entry evicts the earliest soft entry
//! first, else the earliest-expiring non-static entry; static entries are never evicted.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::config::{Prefix, mask};
use crate::error::ApiError;

/// Kind of cache entry (IOS `Type:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryType {
    /// Configured or learned from the tunnel layer (a FlexVPN session); never expires.
    Static,
    /// Learned from NHRP (registration, resolution); expires after its holding time.
    Dynamic,
    /// A resolution failed: do not ask again before it expires.
    Negative,
    /// A resolution request is outstanding.
    Incomplete,
}

impl EntryType {
    fn name(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
            Self::Negative => "negative",
            Self::Incomplete => "incomplete",
        }
    }
}

/// Flags of an entry (IOS `Flags:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryFlags {
    /// This node is authoritative for the entry (a registered or known client): a server
    /// answers resolution requests for it itself.
    pub authoritative: bool,
    /// The binding is for a router (flag Q).
    pub router: bool,
    /// A shortcut route was installed from this entry.
    pub rib: bool,
    /// Learned as a side effect (the source of a request), not asked for.
    pub implicit: bool,
    /// Traffic used the entry since it was (re)validated.
    pub used: bool,
}

/// One cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The protocol prefix.
    pub prefix: Prefix,
    /// Kind.
    pub kind: EntryType,
    /// Overlay address of the next hop (the tunnel endpoint), when known.
    pub next_hop: Option<Ipv4Addr>,
    /// NBMA address of the next hop, when known.
    pub nbma: Option<Ipv4Addr>,
    /// When the entry was created.
    pub created: Instant,
    /// When it expires (`None`: never).
    pub expires: Option<Instant>,
    /// Flags.
    pub flags: EntryFlags,
}

impl CacheEntry {
    /// True for an entry anyone can make a server create (implicit, negative, incomplete):
    /// it never evicts or replaces a protected (static, registered, resolved) entry.
    pub fn is_soft(&self) -> bool {
        self.flags.implicit || matches!(self.kind, EntryType::Negative | EntryType::Incomplete)
    }
}

/// A lookup-only map with a fixed hasher (deterministic, no random seed).
type FixedMap = HashMap<u32, CacheEntry, BuildHasherDefault<DefaultHasher>>;

/// The cache.
#[derive(Debug, Clone)]
pub struct Cache {
    by_len: Vec<FixedMap>,
    expiry: BTreeSet<(Instant, Prefix)>,
    /// The soft entries of `expiry`.
    soft_expiry: BTreeSet<(Instant, Prefix)>,
    nonempty: u64,
    len: usize,
    limit: usize,
}

impl Cache {
    /// An empty cache holding at most `limit` entries (at least 1).
    pub fn new(limit: usize) -> Self {
        Self {
            by_len: (0..=32).map(|_| FixedMap::default()).collect(),
            expiry: BTreeSet::new(),
            soft_expiry: BTreeSet::new(),
            nonempty: 0,
            len: 0,
            limit: limit.max(1),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The configured bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn key(p: &Prefix) -> (usize, u32) {
        (usize::from(p.len()), u32::from(p.addr()))
    }

    /// The entry for exactly `prefix`.
    pub fn get(&self, prefix: &Prefix) -> Option<&CacheEntry> {
        let (l, k) = Self::key(prefix);
        self.by_len.get(l)?.get(&k)
    }

    /// Sets the `used` flag of the longest entry covering `addr`; true if there was one.
    pub fn mark_used(&mut self, addr: Ipv4Addr) -> bool {
        let Some(p) = self.lookup(addr).map(|e| e.prefix) else {
            return false;
        };
        let (l, k) = Self::key(&p);
        if let Some(e) = self.by_len.get_mut(l).and_then(|m| m.get_mut(&k)) {
            e.flags.used = true;
        }
        true
    }

    /// The longest-prefix entry covering `addr`.
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<&CacheEntry> {
        self.lookup_where(addr, |_| true)
    }

    /// The longest-prefix entry covering `addr` for which `pred` holds.
    pub fn lookup_where(
        &self,
        addr: Ipv4Addr,
        pred: impl Fn(&CacheEntry) -> bool,
    ) -> Option<&CacheEntry> {
        let a = u32::from(addr);
        for l in (0..=32u8).rev() {
            if self.nonempty & (1u64 << l) == 0 {
                continue;
            }
            if let Some(e) = self
                .by_len
                .get(usize::from(l))
                .and_then(|m| m.get(&(a & mask(l))))
                && pred(e)
            {
                return Some(e);
            }
        }
        None
    }

    /// Inserts or replaces the entry for `entry.prefix`. Returns the entry evicted to make
    /// room, if any (see the module documentation for the choice of victim).
    ///
    /// # Errors
    /// - [`ApiError::Protected`] when `entry` is implicit and would replace a protected entry
    ///   for the same prefix;
    /// - [`ApiError::CacheFull`] when the cache is full and holds nothing `entry` may evict
    ///   (only static entries, or only protected ones for a soft `entry`).
    pub fn insert(&mut self, entry: CacheEntry) -> Result<Option<CacheEntry>, ApiError> {
        let soft = entry.is_soft();
        let mut evicted = None;
        match self.get(&entry.prefix) {
            Some(old) if entry.flags.implicit && !old.is_soft() => return Err(ApiError::Protected),
            Some(_) => {}
            None if self.len >= self.limit => {
                let victim = self
                    .soft_expiry
                    .first()
                    .or_else(|| if soft { None } else { self.expiry.first() })
                    .map(|(_, p)| *p);
                match victim {
                    Some(p) => evicted = self.remove(&p),
                    None => return Err(ApiError::CacheFull),
                }
            }
            None => {}
        }
        self.remove(&entry.prefix);
        if let Some(t) = entry.expires {
            self.expiry.insert((t, entry.prefix));
            if soft {
                self.soft_expiry.insert((t, entry.prefix));
            }
        }
        let (l, k) = Self::key(&entry.prefix);
        if let Some(m) = self.by_len.get_mut(l) {
            m.insert(k, entry);
            self.nonempty |= 1u64 << l;
            self.len += 1;
        }
        Ok(evicted)
    }

    /// Removes the entry for exactly `prefix`.
    pub fn remove(&mut self, prefix: &Prefix) -> Option<CacheEntry> {
        let (l, k) = Self::key(prefix);
        let m = self.by_len.get_mut(l)?;
        let e = m.remove(&k)?;
        if m.is_empty() {
            self.nonempty &= !(1u64 << l);
        }
        self.len -= 1;
        if let Some(t) = e.expires {
            self.expiry.remove(&(t, e.prefix));
            self.soft_expiry.remove(&(t, e.prefix));
        }
        Some(e)
    }

    /// Removes and returns every entry whose expiry is at or before `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<CacheEntry> {
        let mut out = Vec::new();
        while let Some(&(t, p)) = self.expiry.first() {
            if t > now {
                break;
            }
            match self.remove(&p) {
                Some(e) => out.push(e),
                None => {
                    self.expiry.pop_first();
                }
            }
        }
        out
    }

    /// The earliest expiry.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|(t, _)| *t)
    }

    /// Entries in address order, then prefix length.
    pub fn iter(&self) -> impl Iterator<Item = &CacheEntry> {
        let mut v: Vec<&CacheEntry> = self.by_len.iter().flat_map(|m| m.values()).collect();
        v.sort_by_key(|e| (e.prefix.addr(), e.prefix.len()));
        v.into_iter()
    }

    /// Removes every entry whose next hop NBMA address is `nbma`; returns them.
    pub fn remove_via(&mut self, nbma: Ipv4Addr) -> Vec<CacheEntry> {
        let ps: Vec<Prefix> = self
            .iter()
            .filter(|e| e.nbma == Some(nbma) && e.kind != EntryType::Static)
            .map(|e| e.prefix)
            .collect();
        ps.iter().filter_map(|p| self.remove(p)).collect()
    }

    /// Renders the cache like IOS `show ip nhrp`.
    pub fn render(&self, now: Instant, interface: &str) -> String {
        let mut s = String::new();
        for e in self.iter() {
            match e.next_hop {
                Some(nh) if e.kind != EntryType::Negative && e.kind != EntryType::Incomplete => {
                    let _ = writeln!(s, "{} via {}", e.prefix, nh);
                }
                _ => {
                    let _ = writeln!(s, "{}", e.prefix);
                }
            }
            let created = hms(now.saturating_duration_since(e.created));
            match e.expires {
                Some(t) => {
                    let left = hms(t.saturating_duration_since(now));
                    let _ = writeln!(s, "   {interface} created {created}, expire {left}");
                }
                None => {
                    let _ = writeln!(s, "   {interface} created {created}, never expire");
                }
            }
            let mut flags = Vec::new();
            if e.flags.authoritative {
                flags.push("authoritative");
            }
            if e.flags.router {
                flags.push("router");
            }
            if e.flags.implicit {
                flags.push("implicit");
            }
            if e.flags.rib {
                flags.push("rib");
            }
            if e.flags.used {
                flags.push("used");
            }
            if matches!(e.kind, EntryType::Negative | EntryType::Incomplete) {
                flags.push("negative");
            }
            let _ = write!(s, "   Type: {}", e.kind.name());
            if flags.is_empty() {
                s.push('\n');
            } else {
                let _ = writeln!(s, ", Flags: {}", flags.join(" "));
            }
            if let Some(n) = e.nbma {
                let _ = writeln!(s, "   NBMA address: {n}");
            }
        }
        s
    }
}

/// IOS-style duration: `hh:mm:ss`, or `XdYYh` from one day on.
pub fn hms(d: Duration) -> String {
    let t = d.as_secs();
    if t >= 86_400 {
        format!("{}d{:02}h", t / 86_400, (t % 86_400) / 3600)
    } else {
        format!("{:02}:{:02}:{:02}", t / 3600, (t % 3600) / 60, t % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(now: Instant, p: &str, secs: Option<u64>) -> CacheEntry {
        CacheEntry {
            prefix: p.parse().unwrap(),
            kind: if secs.is_some() {
                EntryType::Dynamic
            } else {
                EntryType::Static
            },
            next_hop: Some(Ipv4Addr::new(10, 1, 1, 177)),
            nbma: Some(Ipv4Addr::new(172, 16, 2, 2)),
            created: now,
            expires: secs.map(|s| now + Duration::from_secs(s)),
            flags: EntryFlags::default(),
        }
    }

    #[test]
    fn longest_prefix_and_expiry() {
        let now = crate::test_epoch();
        let mut c = Cache::new(10);
        c.insert(entry(now, "192.168.0.0/16", None)).unwrap();
        c.insert(entry(now, "192.168.2.0/24", Some(10))).unwrap();
        let a = Ipv4Addr::new(192, 168, 2, 9);
        assert_eq!(c.lookup(a).unwrap().prefix.len(), 24);
        assert_eq!(c.next_expiry(), Some(now + Duration::from_secs(10)));
        assert!(c.expire(now + Duration::from_secs(9)).is_empty());
        assert_eq!(c.expire(now + Duration::from_secs(10)).len(), 1);
        assert_eq!(c.lookup(a).unwrap().prefix.len(), 16);
        assert_eq!(c.next_expiry(), None);
        assert!(c.lookup(Ipv4Addr::new(10, 0, 0, 1)).is_none());
    }

    #[test]
    fn bounded_evicts_earliest_and_keeps_static() {
        let now = crate::test_epoch();
        let mut c = Cache::new(2);
        c.insert(entry(now, "10.0.0.1/32", None)).unwrap();
        c.insert(entry(now, "10.0.0.2/32", Some(5))).unwrap();
        let ev = c.insert(entry(now, "10.0.0.3/32", Some(9))).unwrap();
        assert_eq!(ev.unwrap().prefix, "10.0.0.2/32".parse().unwrap());
        assert_eq!(c.len(), 2);
        c.insert(entry(now, "10.0.0.3/32", Some(1))).unwrap();
        assert_eq!(c.len(), 2);
        let mut full = Cache::new(1);
        full.insert(entry(now, "10.0.0.1/32", None)).unwrap();
        assert_eq!(
            full.insert(entry(now, "10.0.0.2/32", Some(1))),
            Err(ApiError::CacheFull)
        );
    }

    #[test]
    fn soft_entries_never_evict_or_replace_protected_ones() {
        let now = crate::test_epoch();
        let implicit = |p: &str, secs: u64| {
            let mut e = entry(now, p, Some(secs));
            e.flags.implicit = true;
            e
        };
        let mut c = Cache::new(3);
        c.insert(entry(now, "10.0.0.1/32", Some(5))).unwrap(); // registered, expires first
        c.insert(implicit("10.0.0.2/32", 50)).unwrap();
        c.insert(implicit("10.0.0.3/32", 40)).unwrap();
        // A soft entry evicts the earliest soft entry, not the earlier registration.
        let ev = c.insert(implicit("10.0.0.4/32", 90)).unwrap().unwrap();
        assert_eq!(ev.prefix, "10.0.0.3/32".parse().unwrap());
        // An implicit entry does not replace a registered one for the same prefix.
        assert_eq!(
            c.insert(implicit("10.0.0.1/32", 90)),
            Err(ApiError::Protected)
        );
        assert!(
            !c.get(&"10.0.0.1/32".parse().unwrap())
                .unwrap()
                .flags
                .implicit
        );
        // A protected entry evicts soft ones first too.
        let ev = c
            .insert(entry(now, "10.0.0.5/32", Some(100)))
            .unwrap()
            .unwrap();
        assert_eq!(ev.prefix, "10.0.0.2/32".parse().unwrap());
        let ev = c
            .insert(entry(now, "10.0.0.6/32", Some(100)))
            .unwrap()
            .unwrap();
        assert_eq!(ev.prefix, "10.0.0.4/32".parse().unwrap());
        // Full of protected entries: soft refused, protected evicts the earliest.
        let neg = CacheEntry {
            kind: EntryType::Negative,
            ..entry(now, "10.0.0.7/32", Some(60))
        };
        assert_eq!(c.insert(neg), Err(ApiError::CacheFull));
        assert_eq!(
            c.insert(implicit("10.0.0.8/32", 1)),
            Err(ApiError::CacheFull)
        );
        let ev = c
            .insert(entry(now, "10.0.0.9/32", Some(100)))
            .unwrap()
            .unwrap();
        assert_eq!(ev.prefix, "10.0.0.1/32".parse().unwrap());
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn render_like_ios() {
        let now = crate::test_epoch();
        let mut c = Cache::new(4);
        let mut e = entry(now, "192.168.2.0/24", Some(7200));
        e.flags.router = true;
        e.flags.rib = true;
        c.insert(e).unwrap();
        let out = c.render(now + Duration::from_secs(12), "Tunnel1");
        assert_eq!(
            out,
            "192.168.2.0/24 via 10.1.1.177\n   Tunnel1 created 00:00:12, expire 01:59:48\n   \
             Type: dynamic, Flags: router rib\n   NBMA address: 172.16.2.2\n"
        );
    }
}

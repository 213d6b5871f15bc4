//! Rate limiting: of Traffic Indications per (source, destination) and in total
//! ([`RateLimiter`]), and of Resolution Requests per NBMA source ([`SourceLimiter`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

use crate::config::{RateLimit, ResolutionLimit};

type Flow = (Ipv4Addr, Ipv4Addr);

/// Decides whether one more Traffic Indication may go out. Memory is bounded by
/// `max_flows`; flows older than `interval` are forgotten.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    cfg: RateLimit,
    last: BTreeMap<Flow, Instant>,
    order: BTreeSet<(Instant, Flow)>,
    window_start: Option<Instant>,
    window_count: u32,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(cfg: RateLimit) -> Self {
        Self {
            cfg,
            last: BTreeMap::new(),
            order: BTreeSet::new(),
            window_start: None,
            window_count: 0,
        }
    }

    /// Number of flows remembered.
    pub fn flows(&self) -> usize {
        self.last.len()
    }

    /// True if an indication for (`src`, `dst`) may be sent at `now`; if so it is counted.
    pub fn allow(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        // Forget flows whose interval is over.
        while let Some(&(t, f)) = self.order.first() {
            if t + self.cfg.interval > now {
                break;
            }
            self.order.pop_first();
            self.last.remove(&f);
        }
        if self.last.contains_key(&(src, dst)) {
            return false;
        }
        match self.window_start {
            Some(s) if now < s + self.cfg.window => {}
            _ => {
                self.window_start = Some(now);
                self.window_count = 0;
            }
        }
        if self.window_count >= self.cfg.burst {
            return false;
        }
        self.window_count += 1;
        self.last.insert((src, dst), now);
        self.order.insert((now, (src, dst)));
        while self.last.len() > self.cfg.max_flows {
            match self.order.pop_first() {
                Some((_, f)) => {
                    self.last.remove(&f);
                }
                None => break,
            }
        }
        true
    }
}

/// A token bucket per NBMA source: `burst` tokens, refilled at `burst` per `window`; one
/// request takes one token. Integer arithmetic only (deterministic). Memory is bounded by
/// `max_sources`: a source whose bucket is full again is forgotten, and past the bound the
/// least recently seen source is (it then starts again with a full bucket).
#[derive(Debug, Clone)]
pub struct SourceLimiter {
    cfg: ResolutionLimit,
    /// Source -> (last update, credit). One token is `window` nanoseconds of credit; the
    /// bucket holds `burst` tokens and gains `burst` nanoseconds of credit per nanosecond.
    buckets: BTreeMap<Ipv4Addr, (Instant, u128)>,
    order: BTreeSet<(Instant, Ipv4Addr)>,
}

impl SourceLimiter {
    /// A limiter with these limits.
    pub fn new(cfg: ResolutionLimit) -> Self {
        Self {
            cfg,
            buckets: BTreeMap::new(),
            order: BTreeSet::new(),
        }
    }

    /// Number of sources remembered.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    fn token(&self) -> u128 {
        self.cfg.window.as_nanos().max(1)
    }

    fn capacity(&self) -> u128 {
        self.token().saturating_mul(u128::from(self.cfg.burst))
    }

    /// True if one more request from `src` may be served at `now`; if so it takes a token.
    pub fn allow(&mut self, now: Instant, src: Ipv4Addr) -> bool {
        // Forget sources whose bucket has filled up again.
        while let Some(&(t, a)) = self.order.first() {
            if t + self.cfg.window > now {
                break;
            }
            self.order.pop_first();
            self.buckets.remove(&a);
        }
        let (token, cap) = (self.token(), self.capacity());
        let credit = match self.buckets.get(&src) {
            Some(&(last, credit)) => {
                self.order.remove(&(last, src));
                let gained = now
                    .saturating_duration_since(last)
                    .as_nanos()
                    .saturating_mul(u128::from(self.cfg.burst));
                credit.saturating_add(gained).min(cap)
            }
            None => cap,
        };
        let allowed = credit >= token;
        let credit = if allowed { credit - token } else { credit };
        self.buckets.insert(src, (now, credit));
        self.order.insert((now, src));
        while self.buckets.len() > self.cfg.max_sources {
            match self.order.pop_first() {
                Some((_, a)) => {
                    self.buckets.remove(&a);
                }
                None => break,
            }
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn per_flow_interval_and_burst() {
        let now = crate::test_epoch();
        let cfg = RateLimit {
            interval: Duration::from_secs(8),
            burst: 3,
            window: Duration::from_secs(10),
            max_flows: 2,
        };
        let mut r = RateLimiter::new(cfg);
        let a = Ipv4Addr::new(192, 168, 1, 1);
        let b = Ipv4Addr::new(192, 168, 2, 1);
        let c = Ipv4Addr::new(192, 168, 3, 1);
        assert!(r.allow(now, a, b));
        assert!(!r.allow(now + Duration::from_secs(7), a, b));
        assert!(r.allow(now, a, c));
        assert!(r.allow(now, b, c));
        assert_eq!(r.flows(), 2);
        // Burst of 3 used up in this window.
        assert!(!r.allow(now + Duration::from_secs(1), c, a));
        // New window, flow interval over.
        assert!(r.allow(now + Duration::from_secs(10), a, b));
    }

    #[test]
    fn source_bucket_burst_then_refill() {
        let now = crate::test_epoch();
        let cfg = ResolutionLimit {
            burst: 5,
            window: Duration::from_secs(10),
            max_sources: 2,
        };
        let mut r = SourceLimiter::new(cfg);
        let a = Ipv4Addr::new(172, 16, 1, 1);
        let b = Ipv4Addr::new(172, 16, 2, 2);
        let c = Ipv4Addr::new(172, 16, 3, 3);
        assert_eq!((0..20).filter(|_| r.allow(now, a)).count(), 5);
        // Other sources have their own bucket.
        assert!(r.allow(now, b));
        // One token per 2 s comes back.
        assert!(!r.allow(now + Duration::from_millis(1999), a));
        assert!(r.allow(now + Duration::from_secs(2), a));
        assert!(!r.allow(now + Duration::from_secs(2), a));
        let later = now + Duration::from_secs(7);
        assert_eq!((0..20).filter(|_| r.allow(later, a)).count(), 2);
        // A third source pushes out the least recently seen one (b).
        assert!(r.allow(later, c));
        assert_eq!(r.sources(), 2);
        // After a full window the bucket is full again (and the source forgotten).
        let full = later + Duration::from_secs(10);
        assert_eq!((0..20).filter(|_| r.allow(full, a)).count(), 5);
    }
}

//! Rate limiting of Traffic Indications: per (source, destination) and in total.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

use crate::config::RateLimit;

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
}

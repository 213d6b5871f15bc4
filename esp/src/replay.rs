//! The anti-replay window of RFC 4303 §3.4.3, kept as the RFC 6479 ring of 64-bit blocks.
//!
//! The bitmap has a power-of-two number of blocks, at least one more than the window needs,
//! so that moving the window forward only clears whole blocks (RFC 6479 §2): the cost of an
//! update does not depend on the window size, and a check is one bit test.
//!
//! [`ReplayWindow::check`] never changes the window; [`ReplayWindow::update`] is called only
//! after the packet authenticated (RFC 4303 §3.4.3), which is what [`crate::InboundSa`] does.

/// Why [`ReplayWindow::check`] refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Not seen before and inside the window (or ahead of it).
    Fresh,
    /// Already received.
    Replayed,
    /// Left of the window, or 0 (never a valid sequence number).
    TooOld,
}

/// An anti-replay window over 64-bit sequence numbers (32-bit SAs use the low half).
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number (0: none yet).
    top: u64,
    /// Window size W in packets: `top - W + 1 ..= top` is inside.
    size: u64,
    /// Ring of blocks; bit `seq % (64 * blocks.len())` is set once `seq` was received.
    blocks: Box<[u64]>,
}

/// The largest window this crate accepts (2^24 packets, a 2 MiB bitmap).
pub const MAX_WINDOW: u32 = 1 << 24;
/// The smallest window this crate accepts.
pub const MIN_WINDOW: u32 = 64;

impl ReplayWindow {
    /// A window of `size` packets (`MIN_WINDOW..=MAX_WINDOW`), positioned so that `top` is the
    /// highest sequence number already seen; no bit is set, so `top` itself is still accepted.
    /// The bitmap is allocated here, once.
    ///
    /// Returns `None` when `size` is out of range.
    pub fn new(size: u32, top: u64) -> Option<Self> {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&size) {
            return None;
        }
        // One spare block so that the block holding `top - size + 1` is never the one being
        // cleared for `top` (RFC 6479 §2).
        let blocks = (size as usize)
            .div_ceil(64)
            .saturating_add(1)
            .next_power_of_two();
        Some(Self {
            top,
            size: u64::from(size),
            blocks: vec![0u64; blocks].into_boxed_slice(),
        })
    }

    /// The window size W in packets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The highest sequence number that authenticated (or the initial position).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Whether `seq` may be accepted. Never changes the window.
    pub fn check(&self, seq: u64) -> ReplayVerdict {
        if seq == 0 {
            return ReplayVerdict::TooOld;
        }
        if seq > self.top {
            return ReplayVerdict::Fresh;
        }
        if self.top - seq >= self.size {
            return ReplayVerdict::TooOld;
        }
        let (block, bit) = self.locate(seq);
        match self.blocks.get(block) {
            Some(b) if b & bit != 0 => ReplayVerdict::Replayed,
            _ => ReplayVerdict::Fresh,
        }
    }

    /// Records `seq` as received, moving the window right when `seq` is beyond it. Call only
    /// for a packet that passed [`ReplayWindow::check`] and authenticated.
    pub fn update(&mut self, seq: u64) {
        if seq > self.top {
            let n = self.blocks.len() as u64;
            let old_block = self.top / 64;
            let new_block = seq / 64;
            // Clear every block the window slides over, at most the whole ring.
            let steps = (new_block - old_block).min(n);
            for i in 1..=steps {
                let idx = ((old_block + i) % n) as usize;
                if let Some(b) = self.blocks.get_mut(idx) {
                    *b = 0;
                }
            }
            self.top = seq;
        } else if self.top - seq >= self.size {
            return;
        }
        let (block, bit) = self.locate(seq);
        if let Some(b) = self.blocks.get_mut(block) {
            *b |= bit;
        }
    }

    fn locate(&self, seq: u64) -> (usize, u64) {
        let n = self.blocks.len() as u64;
        (((seq / 64) % n) as usize, 1u64 << (seq % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, seq: u64) -> ReplayVerdict {
        let v = w.check(seq);
        if v == ReplayVerdict::Fresh {
            w.update(seq);
        }
        v
    }

    #[test]
    fn sizes() {
        assert!(ReplayWindow::new(63, 0).is_none());
        assert!(ReplayWindow::new(MAX_WINDOW + 1, 0).is_none());
        assert_eq!(ReplayWindow::new(64, 0).map(|w| w.blocks.len()), Some(2));
        assert_eq!(
            ReplayWindow::new(4096, 0).map(|w| w.blocks.len()),
            Some(128)
        );
        assert_eq!(
            ReplayWindow::new(4097, 0).map(|w| w.blocks.len()),
            Some(128)
        );
    }

    #[test]
    fn in_order_replay_and_old() {
        let mut w = ReplayWindow::new(64, 0).unwrap();
        assert_eq!(accept(&mut w, 0), ReplayVerdict::TooOld);
        for s in 1..=200 {
            assert_eq!(accept(&mut w, s), ReplayVerdict::Fresh);
            assert_eq!(accept(&mut w, s), ReplayVerdict::Replayed);
        }
        assert_eq!(w.check(200 - 63), ReplayVerdict::Replayed);
        assert_eq!(w.check(200 - 64), ReplayVerdict::TooOld);
    }

    #[test]
    fn reordering_within_window() {
        let mut w = ReplayWindow::new(4096, 0).unwrap();
        assert_eq!(accept(&mut w, 5000), ReplayVerdict::Fresh);
        // Everything in 905..5000 is fresh once, in any order.
        for s in (905..5000).rev().step_by(7) {
            assert_eq!(accept(&mut w, s), ReplayVerdict::Fresh, "{s}");
            assert_eq!(accept(&mut w, s), ReplayVerdict::Replayed, "{s}");
        }
        assert_eq!(w.check(904), ReplayVerdict::TooOld);
    }

    #[test]
    fn big_jump_clears_stale_bits() {
        let mut w = ReplayWindow::new(128, 0).unwrap();
        for s in 1..=128 {
            w.update(s);
        }
        // Jump far ahead by a multiple of the ring size: stale bits must not alias.
        let ring = 64 * w.blocks.len() as u64;
        w.update(128 + 10 * ring);
        for s in (128 + 10 * ring - 127)..(128 + 10 * ring) {
            assert_eq!(w.check(s), ReplayVerdict::Fresh, "{s}");
        }
        assert_eq!(w.check(128 + 10 * ring), ReplayVerdict::Replayed);
    }

    #[test]
    fn check_does_not_move() {
        let w = ReplayWindow::new(64, 10).unwrap();
        assert_eq!(w.check(1000), ReplayVerdict::Fresh);
        assert_eq!(w.top(), 10);
        assert_eq!(w.check(10), ReplayVerdict::Fresh);
    }

    #[test]
    fn matches_a_naive_model() {
        // Differential test against a set of seen numbers, with a deterministic LCG walk.
        let mut w = ReplayWindow::new(256, 0).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut top = 0u64;
        let mut x = 12345u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let delta = (x >> 33) % 400;
            let seq = if (x >> 20) & 1 == 0 {
                top + delta
            } else {
                top.saturating_sub(delta)
            };
            let expect = if seq == 0 || (seq <= top && top - seq >= 256) {
                ReplayVerdict::TooOld
            } else if seen.contains(&seq) {
                ReplayVerdict::Replayed
            } else {
                ReplayVerdict::Fresh
            };
            assert_eq!(accept(&mut w, seq), expect, "seq {seq} top {top}");
            if expect == ReplayVerdict::Fresh {
                seen.insert(seq);
                top = top.max(seq);
            }
        }
    }
}

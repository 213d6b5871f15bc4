//! Track objects as the block sees them: a table of the states the caller reported, and the
//! `track T [up|down]` conditions that read it.
//!
//! IOS treats a track object that does not exist as down; so does this table: a track id the
//! caller never reported is down until [`Client::handle_track`](crate::Client::handle_track)
//! says otherwise.

use std::collections::BTreeMap;

/// The state a `track T [up|down]` condition wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TrackWant {
    /// `track T` or `track T up` (the default).
    #[default]
    Up,
    /// `track T down`: satisfied while the object is down (dial backup).
    Down,
}

/// A reference to a track object with the wanted state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TrackRef {
    /// The track object number.
    pub id: u16,
    /// The state that satisfies the condition.
    pub want: TrackWant,
}

impl TrackRef {
    /// Whether the condition holds for the given table.
    pub fn satisfied(&self, table: &TrackTable) -> bool {
        table.is_up(self.id) == (self.want == TrackWant::Up)
    }
}

/// The last reported state of each track object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackTable {
    up: BTreeMap<u16, bool>,
}

impl TrackTable {
    /// Whether track `id` is up (unknown objects are down, as in IOS).
    pub fn is_up(&self, id: u16) -> bool {
        self.up.get(&id).copied().unwrap_or(false)
    }

    /// Records a state; returns whether it changed.
    pub fn set(&mut self, id: u16, up: bool) -> bool {
        let before = self.is_up(id);
        self.up.insert(id, up);
        before != up
    }

    /// Heap bytes, approximately (BTreeMap nodes hold up to 11 entries).
    pub(crate) fn heap_bytes(&self) -> usize {
        if self.up.is_empty() {
            0
        } else {
            // one leaf node per 11 entries: keys, values, and the node header
            self.up.len().div_ceil(11) * (11 * (size_of::<u16>() + size_of::<bool>()) + 16)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_down_and_changes_are_reported() {
        let mut t = TrackTable::default();
        let up = TrackRef {
            id: 7,
            want: TrackWant::Up,
        };
        let down = TrackRef {
            id: 7,
            want: TrackWant::Down,
        };
        assert!(!up.satisfied(&t));
        assert!(down.satisfied(&t));
        assert!(t.set(7, true));
        assert!(!t.set(7, true));
        assert!(up.satisfied(&t));
        assert!(!down.satisfied(&t));
    }
}

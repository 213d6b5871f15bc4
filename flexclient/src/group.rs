//! Backup groups: several client blocks on one router, of which only one may use a given peer
//! at a time (`backup group G`), and [`ClientSet`], the router-level object that holds the
//! blocks and the shared [`BackupGroups`] registry.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use crate::client::{Client, Event, SessionEvent};
use crate::config::ClientConfig;
use crate::error::ApiError;

/// Which block of each backup group uses which peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupGroups {
    owners: BTreeMap<(u8, Ipv4Addr), u32>,
    released: BTreeSet<u8>,
}

impl BackupGroups {
    /// Reserves `peer` in `group` for block `owner`. True when it is free or already `owner`'s.
    pub fn try_reserve(&mut self, group: u8, peer: Ipv4Addr, owner: u32) -> bool {
        match self.owners.get(&(group, peer)) {
            Some(&o) => o == owner,
            None => {
                self.owners.insert((group, peer), owner);
                true
            }
        }
    }

    /// Releases `peer` in `group` if `owner` holds it.
    pub fn release(&mut self, group: u8, peer: Ipv4Addr, owner: u32) {
        if self.owners.get(&(group, peer)) == Some(&owner) {
            self.owners.remove(&(group, peer));
            self.released.insert(group);
        }
    }

    /// The block holding `peer` in `group`.
    pub fn owner(&self, group: u8, peer: Ipv4Addr) -> Option<u32> {
        self.owners.get(&(group, peer)).copied()
    }

    pub(crate) fn clear_released(&mut self) {
        self.released.clear();
    }

    fn take_released(&mut self) -> BTreeSet<u8> {
        std::mem::take(&mut self.released)
    }
}

/// A handle to one block of a [`ClientSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

/// All client blocks of one router, sharing one [`BackupGroups`] registry. Inputs that concern
/// the whole router (tracks, interfaces, name resolution, time) go to every block; session
/// reports and commands go to one. When a block releases a peer, the other blocks of its backup
/// group are woken so one of them can take it.
///
/// Same drain rule as [`Client`]: after each call, drain [`poll_event`](Self::poll_event).
#[derive(Debug, Default)]
pub struct ClientSet {
    clients: Vec<Client>,
    groups: BackupGroups,
    pending: BTreeSet<u32>,
}

impl ClientSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a block; it starts like [`Client::new`].
    pub fn add(&mut self, now: Instant, config: impl Into<Arc<ClientConfig>>) -> ClientId {
        let id = u32::try_from(self.clients.len()).unwrap_or(u32::MAX);
        self.clients
            .push(Client::with_owner(now, config.into(), id));
        ClientId(id)
    }

    /// The block `id`.
    pub fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.get(id.0 as usize)
    }

    /// All blocks, in the order they were added.
    pub fn clients(&self) -> impl Iterator<Item = (ClientId, &Client)> {
        self.clients
            .iter()
            .enumerate()
            .map(|(i, c)| (ClientId(u32::try_from(i).unwrap_or(u32::MAX)), c))
    }

    /// The registry (read only).
    pub fn groups(&self) -> &BackupGroups {
        &self.groups
    }

    /// [`Client::handle_session`] for block `id`.
    ///
    /// # Errors
    /// [`ApiError::UnknownClient`].
    pub fn handle_session(
        &mut self,
        now: Instant,
        id: ClientId,
        peer: Ipv4Addr,
        ev: SessionEvent,
    ) -> Result<(), ApiError> {
        let c = self
            .clients
            .get_mut(id.0 as usize)
            .ok_or(ApiError::UnknownClient(id.0))?;
        c.session_in(now, peer, ev, &mut self.groups);
        self.settle(now, Some(id.0));
        Ok(())
    }

    /// [`Client::connect`] for block `id`.
    ///
    /// # Errors
    /// [`ApiError::UnknownClient`] or [`ApiError::NotManual`].
    pub fn connect(&mut self, now: Instant, id: ClientId) -> Result<(), ApiError> {
        self.manual(now, id, true)
    }

    /// [`Client::disconnect`] for block `id`.
    ///
    /// # Errors
    /// [`ApiError::UnknownClient`] or [`ApiError::NotManual`].
    pub fn disconnect(&mut self, now: Instant, id: ClientId) -> Result<(), ApiError> {
        self.manual(now, id, false)
    }

    fn manual(&mut self, now: Instant, id: ClientId, on: bool) -> Result<(), ApiError> {
        let c = self
            .clients
            .get_mut(id.0 as usize)
            .ok_or(ApiError::UnknownClient(id.0))?;
        let r = c.manual_in(now, on, &mut self.groups);
        self.settle(now, Some(id.0));
        r
    }

    /// [`Client::handle_track`] for every block.
    pub fn handle_track(&mut self, now: Instant, track: u16, up: bool) {
        for c in &mut self.clients {
            c.track_in(now, track, up, &mut self.groups);
        }
        self.settle(now, None);
    }

    /// [`Client::handle_interface`] for every block.
    pub fn handle_interface(&mut self, now: Instant, name: &str, up: bool) {
        for c in &mut self.clients {
            c.interface_in(now, name, up, &mut self.groups);
        }
        self.settle(now, None);
    }

    /// [`Client::handle_resolved`] for every block (each ignores names it did not ask for).
    pub fn handle_resolved(&mut self, now: Instant, name: &str, addr: Option<Ipv4Addr>) {
        for c in &mut self.clients {
            c.resolved_in(now, name, addr, &mut self.groups);
        }
        self.settle(now, None);
    }

    /// [`Client::handle_timeout`] for every block that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        for c in &mut self.clients {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.timeout_in(now, &mut self.groups);
            }
        }
        self.settle(now, None);
    }

    /// The next event of any block, with the block's id.
    pub fn poll_event(&mut self) -> Option<(ClientId, Event)> {
        while let Some(&id) = self.pending.first() {
            if let Some(ev) = self
                .clients
                .get_mut(id as usize)
                .and_then(Client::poll_event)
            {
                return Some((ClientId(id), ev));
            }
            self.pending.remove(&id);
        }
        None
    }

    /// The earliest timer of all blocks (a scan: a router has few blocks).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.clients.iter().filter_map(Client::poll_timeout).min()
    }

    /// Wakes the blocks of groups where a peer was released, then notes which blocks have
    /// events to drain (only `touched` and the woken ones when a single block was addressed).
    fn settle(&mut self, now: Instant, touched: Option<u32>) {
        let mut woken = false;
        // Each round only reserves; releases come from teardown, which a Kick does not cause,
        // but loop a bounded number of times to be safe.
        for _ in 0..4 {
            let released = self.groups.take_released();
            if released.is_empty() {
                break;
            }
            woken = true;
            for c in &mut self.clients {
                if c.config()
                    .backup_group()
                    .is_some_and(|g| released.contains(&g))
                {
                    c.fsm(now, crate::fsm::Event::Kick, &mut self.groups);
                }
            }
        }
        if let Some(id) = touched
            && !woken
        {
            if self
                .clients
                .get(id as usize)
                .is_some_and(|c| !c.events.is_empty())
            {
                self.pending.insert(id);
            }
            return;
        }
        for (i, c) in self.clients.iter().enumerate() {
            if !c.events.is_empty() {
                self.pending.insert(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }
}

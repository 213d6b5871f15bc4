//! Next hop client (spoke) behaviour: resolution on redirect, answering for its own
//! prefixes, shortcut install, refresh, expiry and purge.
//!
//! ```text
//!  Traffic Indication (quoted dst D)
//!        | no shortcut, no negative/incomplete entry for D
//!        v
//!  Resolution Request for D -> route for D (the hub)   [entry D/32 incomplete; retries
//!        |                                              doubling; timeout -> negative]
//!  Resolution Reply (CIE: prefix P, client X at NBMA N)
//!        v
//!  OpenTunnel{N}, InstallShortcut{P via X}  [entry P dynamic, rib]
//!        | used?  at refresh_percent of the holding time: Resolution Request to X directly
//!        | not used until the holding time: WithdrawShortcut, TunnelUnused
//!  Purge Request for P (from the owner) or tunnel down: WithdrawShortcut at once
//! ```

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::cache::{CacheEntry, EntryFlags, EntryType};
use crate::config::{Peer, Prefix};
use crate::engine::{Engine, Event, Pending, Shortcut};
use crate::error::{ApiError, InputError};
use crate::hub::request_holding;
use crate::wire::extension::ExtensionType;
use crate::wire::{
    Address, Body, Cie, CieCode, FLAG_A, FLAG_NAT, FLAG_PURGE_N, FLAG_Q, FLAG_REG_U, FLAG_S,
    Mandatory, Message, MessageKind, Packet,
};

impl Engine {
    /// Starts a resolution of `dst` (what a Traffic Indication triggers): a Resolution Request
    /// through the route for `dst` (the hub), or the first server.
    ///
    /// Returns false when nothing was sent: a shortcut, an outstanding request or a negative
    /// entry already covers `dst`, or there is nowhere to send.
    pub fn resolve(&mut self, now: Instant, dst: Ipv4Addr) -> bool {
        if self.shortcut_for(dst).is_some()
            || self.pending.values().any(|p| p.dst == dst)
            || self
                .cache
                .lookup(dst)
                .is_some_and(|e| matches!(e.kind, EntryType::Negative | EntryType::Incomplete))
        {
            return false;
        }
        if self.pending.len() >= crate::engine::MAX_PENDING {
            self.stats.resolutions_refused += 1;
            return false;
        }
        let Some(to) = self
            .route(dst)
            .or_else(|| self.cfg.servers.first().copied())
        else {
            return false;
        };
        let deadline = now + self.cfg.request_timeout;
        let _ = self.cache_insert(CacheEntry {
            prefix: Prefix::host(dst),
            kind: EntryType::Incomplete,
            next_hop: None,
            nbma: None,
            created: now,
            expires: Some(deadline),
            flags: EntryFlags::default(),
        });
        self.send_request(now, dst, to, None, deadline);
        true
    }

    fn send_request(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        to: Peer,
        refresh_of: Option<Prefix>,
        deadline: Instant,
    ) -> u32 {
        let id = self.next_request_id();
        self.pending.insert(
            id,
            Pending {
                dst,
                to,
                retry_at: now + self.cfg.request_retry,
                interval: self.cfg.request_retry,
                deadline,
                refresh_of,
            },
        );
        self.transmit_request(id, dst, to);
        id
    }

    fn transmit_request(&mut self, id: u32, dst: Ipv4Addr, to: Peer) {
        // Layout as FRR nhrpd / Cisco send it: flags Q|A|S|NAT, one CIE with prefix 0xff, our
        // MTU and holding time, then the standard extensions.
        let cie = Cie::new(0xff, self.cfg.mtu, self.cfg.holding_secs(), None, None);
        let pkt = Packet {
            header: self.own_header(),
            mandatory: Mandatory {
                src_nbma: self.cfg.nbma.into(),
                src_nbma_sub: Address::empty(),
                src_proto: self.cfg.proto.into(),
                dst_proto: dst.into(),
                body: Body::Message(Message {
                    kind: MessageKind::ResolutionRequest,
                    flags: FLAG_Q | FLAG_A | FLAG_S | FLAG_NAT,
                    request_id: id,
                    cies: vec![cie],
                }),
            },
            extensions: Some(Self::standard_request_extensions()),
        };
        self.stats.resolutions_sent += 1;
        self.send(to.nbma, &pkt);
    }

    /// Registers this node with every configured server (RFC 2332 §5.2.3).
    pub fn register(&mut self, _now: Instant) {
        let servers = self.cfg.servers.clone();
        for s in servers {
            let id = self.next_request_id();
            let cie = Cie::new(0xff, self.cfg.mtu, self.cfg.holding_secs(), None, None);
            let pkt = Packet {
                header: self.own_header(),
                mandatory: Mandatory {
                    src_nbma: self.cfg.nbma.into(),
                    src_nbma_sub: Address::empty(),
                    src_proto: self.cfg.proto.into(),
                    dst_proto: s.proto.into(),
                    body: Body::Message(Message {
                        kind: MessageKind::RegistrationRequest,
                        flags: FLAG_REG_U | FLAG_NAT,
                        request_id: id,
                        cies: vec![cie],
                    }),
                },
                extensions: Some(Self::standard_request_extensions()),
            };
            self.send(s.nbma, &pkt);
        }
    }

    pub(crate) fn local_prefix_for(&self, dst: Ipv4Addr) -> Option<Prefix> {
        if dst == self.cfg.proto {
            return Some(Prefix::host(dst));
        }
        self.cfg
            .local_prefixes
            .iter()
            .filter(|p| p.contains(dst))
            .max_by_key(|p| p.len())
            .copied()
    }

    /// Answers a request for one of our own prefixes, directly to the requester's NBMA
    /// address (the spoke-to-spoke reply of DMVPN phase 3).
    pub(crate) fn answer_as_owner(
        &mut self,
        now: Instant,
        _from: Ipv4Addr,
        req: &Packet,
        local: Prefix,
        src: Ipv4Addr,
        src_nbma: Ipv4Addr,
    ) -> Result<(), InputError> {
        let Body::Message(msg) = &req.mandatory.body else {
            return Err(InputError::Protocol("not a message"));
        };
        let cie = Cie::new(
            local.len(),
            self.cfg.mtu,
            self.cfg.holding_secs(),
            Some(self.cfg.nbma),
            Some(self.cfg.proto),
        );
        let mut reply = self.reply_to(
            req,
            msg,
            MessageKind::ResolutionReply,
            msg.flags | FLAG_A,
            vec![cie],
        );
        self.fill_responder(&mut reply);
        // Learn the requester: its tunnel address is reached at its NBMA address.
        let known = self
            .cache
            .get(&Prefix::host(src))
            .is_some_and(|e| e.nbma == Some(src_nbma));
        if !known && src != self.cfg.proto {
            let hold = request_holding(req).unwrap_or(self.cfg.holding_time);
            let _ = self.cache_insert(CacheEntry {
                prefix: Prefix::host(src),
                kind: EntryType::Dynamic,
                next_hop: Some(src),
                nbma: Some(src_nbma),
                created: now,
                expires: Some(now + hold),
                flags: EntryFlags {
                    implicit: true,
                    router: true,
                    ..EntryFlags::default()
                },
            });
            if !self.is_server(src, src_nbma) {
                self.push_event(Event::OpenTunnel { nbma: src_nbma });
            }
        }
        let set = self.answered.entry(local).or_default();
        if set.len() < crate::engine::MAX_ANSWERED {
            set.insert(Peer::new(src, src_nbma));
        }
        self.stats.resolutions_answered += 1;
        self.send(src_nbma, &reply);
        Ok(())
    }

    pub(crate) fn on_resolution_reply(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        pkt: Packet,
    ) -> Result<(), InputError> {
        if pkt.mandatory.src_proto.ipv4() != Some(self.cfg.proto) {
            return self.relay_reply(from, pkt);
        }
        let Body::Message(msg) = &pkt.mandatory.body else {
            return Err(InputError::Protocol("not a message"));
        };
        let Some(p) = self.pending.get(&msg.request_id).copied() else {
            return Err(InputError::UnexpectedReply(msg.request_id));
        };
        if pkt.mandatory.dst_proto.ipv4() != Some(p.dst) {
            return Err(InputError::UnexpectedReply(msg.request_id));
        }
        self.pending.remove(&msg.request_id);
        let responder = pkt
            .extension(ExtensionType::RESPONDER_ADDRESS)
            .and_then(|e| e.value.cies())
            .and_then(|c| c.first());
        let cie = msg.cies.first();
        let binding = cie.filter(|c| c.code == CieCode::SUCCESS).and_then(|c| {
            let nbma = c.nbma.ipv4().or_else(|| responder?.nbma.ipv4())?;
            let nh = c.proto.ipv4().or_else(|| responder?.proto.ipv4())?;
            Some((c, nbma, nh))
        });
        let Some((c, nbma, next_hop)) = binding else {
            self.fail_dst(now, p.dst, p.refresh_of);
            return Ok(());
        };
        let len = if c.prefix_len == 0 || c.prefix_len > 32 {
            32
        } else {
            c.prefix_len
        };
        let prefix = Prefix::masked(p.dst, len);
        let hold = if c.holding_time == 0 {
            self.cfg.holding_time
        } else {
            Duration::from_secs(u64::from(c.holding_time))
        };
        if p.refresh_of.is_none() {
            self.cache.remove(&Prefix::host(p.dst));
        }
        if let Some(old) = p.refresh_of.filter(|o| *o != prefix) {
            self.withdraw(&old, true);
        }
        let peer = Peer::new(next_hop, nbma);
        let _ = self.cache_insert(CacheEntry {
            prefix,
            kind: EntryType::Dynamic,
            next_hop: Some(next_hop),
            nbma: Some(nbma),
            created: self.cache.get(&prefix).map_or(now, |e| e.created),
            expires: Some(now + hold),
            flags: EntryFlags {
                router: true,
                rib: self.cfg.shortcut,
                ..EntryFlags::default()
            },
        });
        if prefix != Prefix::host(next_hop) && self.cache.get(&Prefix::host(next_hop)).is_none() {
            let _ = self.cache_insert(CacheEntry {
                prefix: Prefix::host(next_hop),
                kind: EntryType::Dynamic,
                next_hop: Some(next_hop),
                nbma: Some(nbma),
                created: now,
                expires: Some(now + hold),
                flags: EntryFlags {
                    router: true,
                    ..EntryFlags::default()
                },
            });
        }
        if !self.cfg.shortcut {
            return Ok(());
        }
        let refresh_at = now + hold * u32::from(self.cfg.refresh_percent.min(100)) / 100;
        match self.shortcuts.get(&prefix).copied() {
            Some(s) if s.peer == peer => {
                self.shortcuts.insert(
                    prefix,
                    Shortcut {
                        expires: now + hold,
                        refresh_at,
                        refreshing: None,
                        ..s
                    },
                );
            }
            other => {
                if other.is_some() {
                    // Same prefix, new next hop: replace the route.
                    if let Some(old) = self.shortcuts.remove(&prefix) {
                        self.push_event(Event::WithdrawShortcut {
                            prefix,
                            next_hop: old.peer.proto,
                            nbma: old.peer.nbma,
                        });
                    }
                }
                if !self.shortcuts.values().any(|s| s.peer.nbma == nbma) {
                    self.push_event(Event::OpenTunnel { nbma });
                }
                self.shortcuts.insert(
                    prefix,
                    Shortcut {
                        peer,
                        installed: now,
                        expires: now + hold,
                        refresh_at,
                        refreshing: None,
                    },
                );
                self.push_event(Event::InstallShortcut {
                    prefix,
                    next_hop,
                    nbma,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn on_traffic_indication(
        &mut self,
        now: Instant,
        _from: Ipv4Addr,
        pkt: &Packet,
    ) -> Result<(), InputError> {
        if !self.cfg.shortcut {
            return Err(InputError::Protocol("shortcut disabled"));
        }
        let Body::TrafficIndication(ti) = &pkt.mandatory.body else {
            return Err(InputError::Protocol("not a traffic indication"));
        };
        let Some((_, dst)) = ti.quoted_ipv4() else {
            return Err(InputError::Protocol(
                "traffic indication without ipv4 packet",
            ));
        };
        self.resolve(now, dst);
        Ok(())
    }

    /// RFC 2332 §5.2.5: remove what the purge names; answer unless flag N.
    pub(crate) fn on_purge_request(
        &mut self,
        _now: Instant,
        from: Ipv4Addr,
        pkt: &Packet,
    ) -> Result<(), InputError> {
        let Body::Message(msg) = &pkt.mandatory.body else {
            return Err(InputError::Protocol("not a message"));
        };
        for c in &msg.cies {
            let Some(a) = c.proto.ipv4() else { continue };
            let len = if c.prefix_len == 0 || c.prefix_len > 32 {
                32
            } else {
                c.prefix_len
            };
            let purged = Prefix::masked(a, len);
            // Only the station a shortcut points to may purge it (RFC 2332 §5.2.5: the purge
            // comes from the station that supplied the information).
            let sender = pkt.mandatory.src_proto.ipv4();
            let hit: Vec<Prefix> = self
                .shortcuts
                .iter()
                .filter(|(p, s)| {
                    p.len() >= purged.len()
                        && purged.contains(p.addr())
                        && (Some(s.peer.proto) == sender || s.peer.nbma == from)
                })
                .map(|(p, _)| *p)
                .collect();
            for p in hit {
                self.withdraw(&p, true);
            }
            if self.cache.get(&purged).is_some_and(|e| {
                e.kind != EntryType::Static
                    && (e.next_hop.is_some() && e.next_hop == sender || e.nbma == Some(from))
            }) {
                self.cache.remove(&purged);
            }
        }
        if msg.flags & FLAG_PURGE_N == 0 {
            let reply = self.reply_to(
                pkt,
                msg,
                MessageKind::PurgeReply,
                msg.flags,
                msg.cies.clone(),
            );
            let to = pkt.mandatory.src_nbma.ipv4().unwrap_or(from);
            self.send(to, &reply);
        }
        Ok(())
    }

    /// The local prefix `prefix` is gone (teardown): every requester this node answered for
    /// it gets a Purge Request, which removes their shortcut at once.
    ///
    /// Returns how many purges were sent.
    pub fn purge_local(&mut self, _now: Instant, prefix: Prefix) -> usize {
        let peers = self.answered.remove(&prefix).unwrap_or_default();
        let n = peers.len();
        for peer in peers {
            self.send_purge(peer, prefix, 0);
        }
        n
    }

    /// Tears down the shortcut for `prefix` here (like `clear ip nhrp`): it is withdrawn at
    /// once, and the other end is told to forget this node (Purge Request, no reply wanted).
    ///
    /// # Errors
    /// [`ApiError::NoSuchEntry`] when there is no such shortcut.
    pub fn clear_shortcut(&mut self, _now: Instant, prefix: Prefix) -> Result<(), ApiError> {
        let s = self
            .shortcuts
            .get(&prefix)
            .copied()
            .ok_or(ApiError::NoSuchEntry)?;
        self.withdraw(&prefix, true);
        self.send_purge(s.peer, Prefix::host(self.cfg.proto), FLAG_PURGE_N);
        Ok(())
    }

    fn send_purge(&mut self, to: Peer, prefix: Prefix, flags: u16) {
        let id = self.next_request_id();
        let cie = Cie::new(
            prefix.len(),
            self.cfg.mtu,
            self.cfg.holding_secs(),
            Some(self.cfg.nbma),
            Some(prefix.addr()),
        );
        let pkt = Packet {
            header: self.own_header(),
            mandatory: Mandatory {
                src_nbma: self.cfg.nbma.into(),
                src_nbma_sub: Address::empty(),
                src_proto: self.cfg.proto.into(),
                dst_proto: to.proto.into(),
                body: Body::Message(Message {
                    kind: MessageKind::PurgeRequest,
                    flags,
                    request_id: id,
                    cies: vec![cie],
                }),
            },
            extensions: Some(vec![crate::wire::Extension::compulsory(
                crate::wire::ExtValue::End,
            )]),
        };
        self.send(to.nbma, &pkt);
    }

    /// A resolution failed: negative entry, event.
    fn fail_dst(&mut self, now: Instant, dst: Ipv4Addr, refresh_of: Option<Prefix>) {
        if let Some(p) = refresh_of {
            // A failed refresh leaves the shortcut to expire on its own.
            if let Some(s) = self.shortcuts.get_mut(&p) {
                s.refreshing = None;
                s.refresh_at = s.expires;
            }
            return;
        }
        let _ = self.cache_insert(CacheEntry {
            prefix: Prefix::host(dst),
            kind: EntryType::Negative,
            next_hop: None,
            nbma: None,
            created: now,
            expires: Some(now + self.cfg.negative_holding_time),
            flags: EntryFlags::default(),
        });
        self.push_event(Event::ResolutionFailed { dst });
    }

    pub(crate) fn fail_pending(&mut self, now: Instant, id: u32) {
        if let Some(p) = self.pending.remove(&id) {
            self.fail_dst(now, p.dst, p.refresh_of);
        }
    }

    pub(crate) fn spoke_timers(&mut self, now: Instant) {
        // Retries and timeouts of outstanding requests (same request ID on a retry, RFC 2332
        // §5.2.0.1 "Request ID").
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.retry_at <= now || p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(mut p) = self.pending.get(&id).copied() else {
                continue;
            };
            if p.deadline <= now {
                self.fail_pending(now, id);
                continue;
            }
            p.interval = (p.interval * 2).min(self.cfg.request_timeout);
            p.retry_at = now + p.interval;
            self.pending.insert(id, p);
            self.transmit_request(id, p.dst, p.to);
        }
        // Refresh shortcuts that were used; unused ones are left to expire.
        let due: Vec<(Prefix, Shortcut)> = self
            .shortcuts
            .iter()
            .filter(|(_, s)| s.refreshing.is_none() && s.refresh_at <= now && s.expires > now)
            .map(|(p, s)| (*p, *s))
            .collect();
        for (p, s) in due {
            let used = self.cache.get(&p).is_some_and(|e| e.flags.used);
            if used {
                if let Some(e) = self.cache.get(&p).cloned() {
                    let _ = self.cache.insert(CacheEntry {
                        flags: EntryFlags {
                            used: false,
                            ..e.flags
                        },
                        ..e
                    });
                }
                let id = self.send_request(now, p.addr(), s.peer, Some(p), s.expires);
                if let Some(sc) = self.shortcuts.get_mut(&p) {
                    sc.refreshing = Some(id);
                }
            } else if let Some(sc) = self.shortcuts.get_mut(&p) {
                // Not used yet: look again halfway to expiry; near expiry, let it expire.
                let left = sc.expires.saturating_duration_since(now);
                sc.refresh_at = if left > Duration::from_secs(2) {
                    now + left / 2
                } else {
                    sc.expires
                };
            }
        }
    }
}

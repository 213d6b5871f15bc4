//! Next hop server (hub) behaviour: redirect, answering, forwarding and relaying.
//!
//! ```text
//!  spoke 1            hub 1                     hub 2                 spoke 2
//!    | data to P ------> | (in and out on network-id 2)                  |
//!    | <-- Traffic Ind --| (rate-limited per source, destination)        |
//!    | Resolution Req -->| not authoritative: route P via hub 2          |
//!    |                   |-- Resolution Req (+fwd transit) -->|          |
//!    |                   |                    | route P via spoke 2 ---->|
//!    | <------------------------------------- Resolution Reply (direct) -|
//! ```
//! A server answers itself only for clients it knows (registered, or added by the tunnel
//! layer with `add_peer`); a reply that passes through it on the way back to the requester is
//! relayed (and recorded in the Reverse Transit NHS Record).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::cache::{CacheEntry, EntryFlags, EntryType};
use crate::config::Prefix;
use crate::engine::{Engine, Forwarded};
use crate::error::InputError;
use crate::wire::extension::ExtensionType;
use crate::wire::{
    Address, Body, CieCode, ErrorCode, ExtValue, FLAG_A, Mandatory, MessageKind, Packet,
    TrafficIndication,
};

impl Engine {
    pub(crate) fn maybe_redirect(
        &mut self,
        now: Instant,
        fwd: Forwarded<'_>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> bool {
        if !self.cfg.redirect {
            return false;
        }
        // Only a packet that came in from the overlay and goes back out into it.
        let Some(ingress) = fwd.ingress else {
            return false;
        };
        // Never redirect another server, nor hairpin to the same peer.
        if self.is_server(ingress.proto, ingress.nbma) || ingress == fwd.egress {
            return false;
        }
        if !self.limiter.allow(now, src, dst) {
            self.stats.traffic_indications_limited += 1;
            return false;
        }
        let pkt = Packet {
            // A Traffic Indication goes to the neighbour only (hop count 1, as nhrpd sends it).
            header: crate::wire::FixedHeader::ipv4(1),
            mandatory: Mandatory {
                src_nbma: self.cfg.nbma.into(),
                src_nbma_sub: Address::empty(),
                src_proto: self.cfg.proto.into(),
                dst_proto: src.into(),
                body: Body::TrafficIndication(TrafficIndication::redirect(fwd.packet)),
            },
            extensions: None,
        };
        self.stats.traffic_indications_sent += 1;
        self.send(ingress.nbma, &pkt);
        true
    }

    /// RFC 2332 §5.2.1 / §5.2.2: answer, forward, or reject a Resolution Request.
    pub(crate) fn on_resolution_request(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        mut pkt: Packet,
    ) -> Result<(), InputError> {
        // Per NBMA source, before any work (even an Error Indication); servers forwarding
        // for their own clients are not limited.
        if self.cfg.server
            && !self.cfg.servers.iter().any(|s| s.nbma == from)
            && !self.resolution_limiter.allow(now, from)
        {
            self.stats.resolutions_limited += 1;
            return Err(InputError::RateLimited);
        }
        let m = &pkt.mandatory;
        let (Some(dst), Some(src), Some(src_nbma)) =
            (m.dst_proto.ipv4(), m.src_proto.ipv4(), m.src_nbma.ipv4())
        else {
            self.error_about(from, &pkt, ErrorCode::PROTOCOL_ERROR);
            return Err(InputError::Protocol(
                "resolution request without ipv4 addresses",
            ));
        };
        // The owner of the destination answers directly (a spoke for its LAN).
        if let Some(local) = self.local_prefix_for(dst) {
            return self.answer_as_owner(now, from, &pkt, local, src, src_nbma);
        }
        if !self.cfg.server {
            return Err(InputError::Protocol(
                "resolution request for a foreign address",
            ));
        }
        // Learn the requester (implicit entry), so a reply can be relayed back to it; only
        // from the requester itself, not from a server that forwarded its request.
        if from == src_nbma
            && self
                .cache
                .get(&Prefix::host(src))
                .is_none_or(|e| e.kind != EntryType::Static)
        {
            let hold = request_holding(&pkt).unwrap_or(self.cfg.holding_time);
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
        }
        // Authoritative for a known client: answer on its behalf.
        if let Some(e) = self
            .cache
            .lookup_where(dst, |e| e.flags.authoritative)
            .cloned()
        {
            return self.answer_authoritative(now, from, &pkt, &e);
        }
        // Otherwise forward towards the owner (possibly another server on the network-id).
        let Some(next) = self.route(dst) else {
            self.error_about(from, &pkt, ErrorCode::PROTOCOL_ADDRESS_UNREACHABLE);
            return Err(InputError::NoRoute(dst));
        };
        if self.in_forward_record(&pkt) || next.nbma == from {
            self.error_about(from, &pkt, ErrorCode::LOOP_DETECTED);
            return Err(InputError::Loop);
        }
        if pkt.header.hop_count <= 1 {
            self.error_about(from, &pkt, ErrorCode::HOP_COUNT_EXCEEDED);
            return Err(InputError::HopCountExceeded);
        }
        pkt.header.hop_count -= 1;
        self.append_transit(&mut pkt, ExtensionType::FORWARD_TRANSIT_NHS);
        self.stats.resolutions_forwarded += 1;
        self.send(next.nbma, &pkt);
        Ok(())
    }

    fn answer_authoritative(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        req: &Packet,
        e: &CacheEntry,
    ) -> Result<(), InputError> {
        let Body::Message(msg) = &req.mandatory.body else {
            return Err(InputError::Protocol("not a message"));
        };
        let hold = e
            .expires
            .map_or(self.cfg.holding_time, |t| t.saturating_duration_since(now));
        let hold = u16::try_from(hold.as_secs()).unwrap_or(u16::MAX);
        let mut cie = crate::wire::Cie::new(e.prefix.len(), self.cfg.mtu, hold, e.nbma, e.next_hop);
        cie.code = CieCode::SUCCESS;
        let mut reply = self.reply_to(
            req,
            msg,
            MessageKind::ResolutionReply,
            msg.flags | FLAG_A,
            vec![cie],
        );
        self.fill_responder(&mut reply);
        self.stats.resolutions_answered += 1;
        // The reply retraces the request's path: back to whoever sent it to us.
        self.send(from, &reply);
        Ok(())
    }

    /// Puts this node in the Responder Address extension, if the packet has one.
    pub(crate) fn fill_responder(&self, pkt: &mut Packet) {
        let cie = self.self_cie(32);
        if let Some(ext) = pkt.extension_mut(ExtensionType::RESPONDER_ADDRESS) {
            ext.value = ExtValue::ResponderAddress(vec![cie]);
        }
    }

    /// A Resolution Reply for someone else: relay it towards the requester (its source
    /// protocol address), recording this node in the Reverse Transit NHS Record.
    pub(crate) fn relay_reply(&mut self, from: Ipv4Addr, pkt: Packet) -> Result<(), InputError> {
        let Some(requester) = pkt.mandatory.src_proto.ipv4() else {
            return Err(InputError::Protocol("reply without ipv4 source"));
        };
        self.relay_toward(from, pkt, requester, true)
    }

    /// Relays `pkt` towards overlay address `requester`: its own cache entry first, then the
    /// overlay route.
    pub(crate) fn relay_toward(
        &mut self,
        from: Ipv4Addr,
        mut pkt: Packet,
        requester: Ipv4Addr,
        record: bool,
    ) -> Result<(), InputError> {
        if !self.cfg.server {
            return Err(InputError::Protocol("packet for another station"));
        }
        let next = self
            .cache
            .lookup(requester)
            .filter(|e| e.kind != EntryType::Negative && e.kind != EntryType::Incomplete)
            .and_then(|e| e.nbma)
            .or_else(|| self.route(requester).map(|p| p.nbma));
        let Some(next) = next else {
            return Err(InputError::NoRoute(requester));
        };
        if next == from || pkt.header.hop_count <= 1 {
            return Err(InputError::Loop);
        }
        pkt.header.hop_count -= 1;
        if record {
            self.append_transit(&mut pkt, ExtensionType::REVERSE_TRANSIT_NHS);
        }
        self.stats.replies_relayed += 1;
        self.send(next, &pkt);
        Ok(())
    }

    /// RFC 2332 §5.2.3 / §5.2.4: a client registers its addresses with this server.
    pub(crate) fn on_registration_request(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        pkt: Packet,
    ) -> Result<(), InputError> {
        if !self.cfg.server {
            return Err(InputError::Protocol("registration to a non-server"));
        }
        let Body::Message(msg) = &pkt.mandatory.body else {
            return Err(InputError::Protocol("not a message"));
        };
        let (Some(src), Some(src_nbma)) = (
            pkt.mandatory.src_proto.ipv4(),
            pkt.mandatory.src_nbma.ipv4(),
        ) else {
            self.error_about(from, &pkt, ErrorCode::PROTOCOL_ERROR);
            return Err(InputError::Protocol("registration without ipv4 addresses"));
        };
        let mut cies = msg.cies.clone();
        for c in &mut cies {
            let proto = c.proto.ipv4().unwrap_or(src);
            let nbma = c.nbma.ipv4().unwrap_or(src_nbma);
            let len = if c.prefix_len == 0 || c.prefix_len > 32 {
                32
            } else {
                c.prefix_len
            };
            let hold = if c.holding_time == 0 {
                self.cfg.holding_time
            } else {
                Duration::from_secs(u64::from(c.holding_time))
            };
            let prefix = Prefix::masked(proto, len);
            // A client the tunnel layer already gave us stays static.
            if self
                .cache
                .get(&prefix)
                .is_some_and(|e| e.kind == EntryType::Static && e.nbma == Some(nbma))
            {
                c.code = CieCode::SUCCESS;
                continue;
            }
            let r = self.cache_insert(CacheEntry {
                prefix,
                kind: EntryType::Dynamic,
                next_hop: Some(src),
                nbma: Some(nbma),
                created: now,
                expires: Some(now + hold),
                flags: EntryFlags {
                    authoritative: true,
                    router: true,
                    ..EntryFlags::default()
                },
            });
            c.code = if r.is_ok() {
                CieCode::SUCCESS
            } else {
                CieCode::INSUFFICIENT_RESOURCES
            };
        }
        let mut reply = self.reply_to(&pkt, msg, MessageKind::RegistrationReply, msg.flags, cies);
        self.fill_responder(&mut reply);
        self.send(from, &reply);
        Ok(())
    }
}

/// The holding time the requester offers in its CIE, if any.
pub(crate) fn request_holding(pkt: &Packet) -> Option<Duration> {
    match &pkt.mandatory.body {
        Body::Message(m) => m
            .cies
            .first()
            .filter(|c| c.holding_time > 0)
            .map(|c| Duration::from_secs(u64::from(c.holding_time))),
        _ => None,
    }
}

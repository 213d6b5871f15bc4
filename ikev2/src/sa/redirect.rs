//! Redirect after IKE_SA_INIT (RFC 5685 sections 5 and 6).
//!
//! - In IKE_AUTH: a responder that authenticated the initiator (and whose
//!   [`crate::config::AuthRedirect`] names another gateway) answers IDr, AUTH and REDIRECT
//!   instead of a Child SA and drops the SA; the initiator checks AUTH, deletes the SA,
//!   reports [`Event::Redirected`] and starts again at the new gateway.
//! - In an established SA: the gateway sends an INFORMATIONAL with REDIRECT
//!   ([`crate::Endpoint::redirect`]); the initiator acknowledges it, deletes the SA and the
//!   endpoint connects to the new gateway ([`Event::GatewayRedirect`]).
//!
//! Outside IKE_SA_INIT the REDIRECT notify carries the gateway identity only (no nonce).
//! Every new IKE_SA_INIT after a redirect carries REDIRECTED_FROM with the old gateway.

use core::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::{
    AuthSent, Ctx, Delete, DhSecret, Error, Established, Event, ExchangeType, Flags, Header,
    IkeCore, InitSent, InputError, MAX_RESTARTS, NotifyType, Payload, Req, Sa, nonce, nonzero_u64,
    notify, parse_redirect,
};
use crate::config::PeerConfig;
use crate::wire::Identification;

impl Sa {
    /// Responder: sends the IKE_AUTH response `out` (IDr and AUTH) with REDIRECT to `gw`,
    /// then drops the SA (no Child SA, no address from the pool).
    pub(super) fn send_auth_redirect<R: RngCore + CryptoRng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        core: &IkeCore,
        mut out: Vec<Payload>,
        peer_id: Identification,
        gw: IpAddr,
    ) -> Result<(), InputError> {
        out.push(notify(NotifyType::REDIRECT, super::gw_ident(gw)));
        let header = self.header(ExchangeType::IKE_AUTH, true, 1);
        let bytes = self
            .seal_msg(core, &header, &out, ctx.rng)
            .map_err(InputError::Exchange)?;
        self.transmit_all(ctx, &bytes);
        self.close(
            ctx,
            Event::RedirectSent {
                sa: self.handle,
                peer_id,
                to: gw,
            },
        );
        Ok(())
    }

    /// Initiator: the authenticated IKE_AUTH response redirected us. Deletes this IKE SA
    /// (best effort: the gateway may already have dropped it) and starts again at the new
    /// gateway with REDIRECTED_FROM.
    pub(super) fn follow_auth_redirect<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        st: AuthSent,
        data: &[u8],
    ) -> Result<(), InputError> {
        let gw = match parse_redirect(data) {
            Some((gw, _)) if self.redirects < MAX_RESTARTS && gw != self.remote.ip() => gw,
            _ => {
                let reason = Error::Protocol("bad REDIRECT in IKE_AUTH");
                self.close(
                    ctx,
                    Event::IkeSaFailed {
                        sa: self.handle,
                        reason: reason.clone(),
                    },
                );
                return Err(InputError::Exchange(reason));
            }
        };
        let header = Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            minor_version: 0,
            exchange: ExchangeType::INFORMATIONAL,
            flags: Flags::new(true, false),
            message_id: 2,
        };
        if let Ok(bytes) = st
            .core
            .seal(&header, &[Payload::Delete(Delete::ike())], ctx.rng)
        {
            self.transmit(ctx, bytes);
        }
        self.restart_at(now, ctx, gw).map_err(InputError::Exchange)
    }

    /// Initiator: starts IKE_SA_INIT again with `gw`, from our original address.
    fn restart_at<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_, R>,
        gw: IpAddr,
    ) -> Result<(), Error> {
        let from = self.remote.ip();
        self.redirects += 1;
        let group = self
            .policy
            .ike_proposals
            .first()
            .map(|s| s.dh)
            .ok_or(Error::NoProposalChosen)?;
        let (dh, ke_pub) = DhSecret::generate(group, ctx.rng);
        self.local = self.origin.0;
        self.remote = SocketAddr::new(gw, self.origin.1);
        self.spi_i = nonzero_u64(ctx.rng);
        self.spi_r = 0;
        self.nat_local = false;
        self.nat_remote = false;
        self.frag_peer = false;
        self.frags = None;
        ctx.out.event(Event::Redirected {
            sa: self.handle,
            from,
            to: gw,
        });
        let st = InitSent {
            redirected_from: Some(from),
            ni: nonce(ctx.rng),
            dh,
            ke_pub,
            cookie: None,
            msg1: Vec::new(),
            restarts: 0,
        };
        self.send_init(now, ctx, st)
    }

    /// Initiator: an INFORMATIONAL from the gateway carries REDIRECT. The response is an
    /// empty INFORMATIONAL (the acknowledgement); then we delete this SA and the endpoint
    /// connects to the new gateway.
    pub(super) fn on_gateway_redirect(&mut self, est: &mut Established, data: &[u8]) {
        if !self.connected_by_us || self.gateway_redirect.is_some() {
            return;
        }
        let Some((gw, _)) = parse_redirect(data) else {
            return;
        };
        if gw == self.remote.ip() {
            return;
        }
        self.gateway_redirect = Some((self.remote.ip(), gw));
        est.queue.clear();
        est.queue.push_front(Req::DeleteIke);
    }

    /// The settings to connect to `gw` with after a gateway redirect.
    pub(crate) fn redirect_config(&self, gw: IpAddr) -> Option<PeerConfig> {
        Some(PeerConfig {
            remote: SocketAddr::new(gw, self.origin.1),
            local: self.origin.0,
            psk: self.psk.clone()?,
            remote_id: self.remote_id.clone(),
            request_address: self.request_address,
            initial_contact: self.initial_contact,
            policy: self.policy.clone(),
        })
    }
}

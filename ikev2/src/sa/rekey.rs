//! Simultaneous IKE SA rekeying (RFC 7296 section 2.8.2).
//!
//! When both ends rekey the IKE SA at once, each answers the other's CREATE_CHILD_SA as
//! usual, so two new IKE SAs exist. The one whose exchange carried the lowest of the four
//! nonces is redundant: the end that created it (the initiator of that exchange) deletes it,
//! and the end that created the survivor deletes the old IKE SA. The Child SAs move to the
//! survivor. Each end decides alone, from the same four nonces, so both agree.

use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::{
    Ctx, Delete, Established, ExchangeType, Flags, Header, IkeCore, OldIke, Payload, Pending, Sa,
};

/// The IKE SA created by the peer's rekey while ours was outstanding (we answered it).
pub(super) struct PeerIkeRekey {
    /// The peer's SPI (it initiated this exchange).
    pub(super) spi_i: u64,
    /// Our SPI.
    pub(super) spi_r: u64,
    /// Its keys, from our side (responder of that exchange).
    pub(super) core: IkeCore,
    /// The lower nonce of that exchange.
    pub(super) min_nonce: Vec<u8>,
}

/// The IKE SA created by our own rekey exchange, just completed.
pub(super) struct OwnIkeRekey {
    /// Our SPI.
    pub(super) spi_i: u64,
    /// The peer's SPI.
    pub(super) spi_r: u64,
    /// Its keys, from our side (initiator of that exchange).
    pub(super) core: IkeCore,
    /// The lower nonce of that exchange.
    pub(super) min_nonce: Vec<u8>,
}

impl Sa {
    /// Our IKE rekey exchange completed: switch to the new SA, or, after a collision, to
    /// the one that survives, and send the Delete that is ours to send.
    pub(super) fn finish_ike_rekey<R: RngCore + CryptoRng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        ours: OwnIkeRekey,
        now: Instant,
    ) {
        match est.peer_rekey.take() {
            Some(theirs) if ours.min_nonce < theirs.min_nonce => {
                // Ours holds the lowest nonce: it is redundant and we created it, so we
                // delete it; the peer created the survivor and deletes the old IKE SA.
                self.switch_ike(
                    ctx,
                    est,
                    theirs.spi_i,
                    theirs.spi_r,
                    false,
                    theirs.core,
                    now,
                );
                let redundant = OldIke {
                    spi_i: ours.spi_i,
                    spi_r: ours.spi_r,
                    initiator: true,
                    core: ours.core,
                    mid_out: 0,
                };
                self.send_delete_on(ctx, &redundant);
                est.old.push(redundant);
            }
            theirs => {
                self.switch_ike(ctx, est, ours.spi_i, ours.spi_r, true, ours.core, now);
                // We created the survivor: delete the old IKE SA on its own keys.
                if let Some(old) = est.old.last() {
                    self.send_delete_on(ctx, old);
                }
                // The peer's SA (if any) is redundant; the peer deletes it, we answer.
                if let Some(t) = theirs {
                    est.old.push(OldIke {
                        spi_i: t.spi_i,
                        spi_r: t.spi_r,
                        initiator: false,
                        core: t.core,
                        mid_out: 0,
                    });
                }
            }
        }
    }

    /// The peer's rekey wins without a contest (ours was refused, or the peer deleted the
    /// old IKE SA before our exchange ended): switch to its SA. Our own outstanding IKE
    /// rekey request, on the old SA, is abandoned.
    pub(super) fn adopt_peer_rekey<R>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        est: &mut Established,
        theirs: PeerIkeRekey,
        now: Instant,
    ) {
        let ours: Vec<u32> = est
            .pending
            .iter()
            .filter(|(_, p)| matches!(p, Pending::RekeyIke { .. }))
            .map(|(m, _)| *m)
            .collect();
        for mid in ours {
            est.pending.remove(&mid);
            self.retx_done(mid);
        }
        self.switch_ike(
            ctx,
            est,
            theirs.spi_i,
            theirs.spi_r,
            false,
            theirs.core,
            now,
        );
    }

    /// Sends an INFORMATIONAL Delete of the IKE SA `old`, on its own keys (RFC 7296
    /// section 1.4.1). Its answer is taken by `on_old_ike`, which then forgets `old`.
    pub(super) fn send_delete_on<R: RngCore + CryptoRng>(
        &self,
        ctx: &mut Ctx<'_, R>,
        old: &OldIke,
    ) {
        let header = Header {
            spi_i: old.spi_i,
            spi_r: old.spi_r,
            minor_version: 0,
            exchange: ExchangeType::INFORMATIONAL,
            flags: Flags::new(old.initiator, false),
            message_id: old.mid_out,
        };
        if let Ok(bytes) = old
            .core
            .seal(&header, &[Payload::Delete(Delete::ike())], ctx.rng)
        {
            self.transmit(ctx, bytes);
        }
    }
}

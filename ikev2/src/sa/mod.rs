//! The IKE SA engine: one [`Sa`] per IKE SA, driven by the [`crate::Endpoint`].
//!
//! ```text
//! initiator                                   responder
//! InitSent --IKE_SA_INIT req (SA KE Ni N(NAT_D))-->        (stateless: COOKIE, INVALID_KE,
//!          <--IKE_SA_INIT resp (SA KE Nr N(NAT_D))--  InitReplied   NO_PROPOSAL_CHOSEN)
//! AuthSent --IKE_AUTH req SK{IDi AUTH CP SA TSi TSr}-->
//!          <--IKE_AUTH resp SK{IDr AUTH CP SA TSi TSr}-- Established
//! Established <==INFORMATIONAL (DPD, Delete) / CREATE_CHILD_SA (rekeys)==> Established
//! ```
//!
//! The exchange sequence is an enum of per-state structs (rustls style, [`fsm`]): each
//! state holds only what exists in it (no keys in `InitSent`). Once established, the SA
//! keeps a window of one request in each direction, a replay copy of its last response,
//! and one retransmission slot with exponential backoff.

pub(crate) mod fsm;
pub(crate) mod proposal;
pub(crate) mod timer;

pub(crate) use fsm::{Sa, SaState};

//! What the engine tells its caller: [`Event`], [`Transmit`], [`ChildSaKeys`].

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::Mode;
use crate::crypto::{EncrAlg, IntegAlg, KeyMaterial};
use crate::error::Error;
use crate::wire::{Identification, TrafficSelector};

/// Names one IKE SA of an [`crate::Endpoint`]. Stable across IKE SA rekeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SaHandle(pub u64);

/// A datagram to send.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our address to send from.
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// UDP payload (including the non-ESP marker on the NAT-T port).
    pub payload: Vec<u8>,
}

/// The keys of one Child SA, per direction, for the ESP layer. Zeroized on drop,
/// redacted in `Debug`. For AES-GCM each encryption key is key || 4-octet salt
/// (RFC 4106 section 8.1) and the integrity keys are empty.
#[derive(Debug)]
pub struct ChildSaKeys {
    /// Encryption algorithm.
    pub encr: EncrAlg,
    /// Integrity algorithm.
    pub integ: IntegAlg,
    /// Key (and salt) of the inbound SA (`spi_in`).
    pub encr_in: KeyMaterial,
    /// Integrity key of the inbound SA.
    pub integ_in: KeyMaterial,
    /// Key (and salt) of the outbound SA (`spi_out`).
    pub encr_out: KeyMaterial,
    /// Integrity key of the outbound SA.
    pub integ_out: KeyMaterial,
}

/// The attributes of a CP(CFG_REPLY) (RFC 7296 section 3.15.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InternalConfig {
    /// INTERNAL_IP4_ADDRESS.
    pub address: Option<Ipv4Addr>,
    /// INTERNAL_IP4_NETMASK.
    pub netmask: Option<Ipv4Addr>,
    /// INTERNAL_IP4_DNS, in order.
    pub dns: Vec<Ipv4Addr>,
    /// INTERNAL_IP4_SUBNET, as (address, netmask).
    pub subnets: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// INTERNAL_IP6_ADDRESS and its prefix length.
    pub address6: Option<(Ipv6Addr, u8)>,
}

/// Why an IKE SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteReason {
    /// We deleted it (`Endpoint::close`).
    Local,
    /// The peer sent a Delete.
    Remote,
    /// A newer IKE SA of the same peer sent INITIAL_CONTACT.
    InitialContact,
}

/// Something that happened. Drained with `poll_event` after every input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// IKE_AUTH completed: the IKE SA is up.
    IkeSaEstablished {
        /// The SA.
        sa: SaHandle,
        /// True when we initiated.
        initiator: bool,
        /// The authenticated peer identity.
        peer_id: Identification,
        /// Our IKE address (after any float to the NAT-T port).
        local: SocketAddr,
        /// The peer's IKE address (after any float).
        remote: SocketAddr,
        /// Initiator: the address the peer assigned us; responder: the address we assigned.
        assigned_address: Option<Ipv4Addr>,
        /// True when a NAT was detected (ESP must be UDP-encapsulated on the NAT-T port).
        nat_detected: bool,
        /// Initiator: the configuration the peer sent in CP(CFG_REPLY); responder: the one
        /// we sent.
        internal: InternalConfig,
    },
    /// A Child SA is ready: install it in the ESP layer.
    ChildSaInstalled {
        /// The IKE SA it belongs to.
        sa: SaHandle,
        /// SPI the peer puts in packets to us.
        spi_in: u32,
        /// SPI we put in packets to the peer.
        spi_out: u32,
        /// Tunnel or transport.
        mode: Mode,
        /// Keys.
        keys: ChildSaKeys,
        /// Our side's selectors.
        ts_local: Vec<TrafficSelector>,
        /// The peer's side's selectors.
        ts_remote: Vec<TrafficSelector>,
        /// `Some((local, remote))` when ESP must be UDP-encapsulated between these addresses.
        udp_encap: Option<(SocketAddr, SocketAddr)>,
        /// The inbound SPI of the Child SA this one replaces (rekey), if any.
        rekey_of: Option<u32>,
    },
    /// A Child SA was removed: remove it from the ESP layer.
    ChildSaDeleted {
        /// The IKE SA.
        sa: SaHandle,
        /// Its inbound SPI.
        spi_in: u32,
        /// Its outbound SPI.
        spi_out: u32,
    },
    /// A Child SA could not be negotiated; the IKE SA stays.
    ChildSaFailed {
        /// The IKE SA.
        sa: SaHandle,
        /// Why.
        reason: Error,
    },
    /// The IKE SA was rekeyed (new SPIs, same handle).
    IkeSaRekeyed {
        /// The SA.
        sa: SaHandle,
        /// New initiator SPI.
        spi_i: u64,
        /// New responder SPI.
        spi_r: u64,
    },
    /// The IKE SA was deleted (its Child SAs got `ChildSaDeleted` first).
    IkeSaDeleted {
        /// The SA.
        sa: SaHandle,
        /// Why.
        reason: DeleteReason,
    },
    /// Setting up the IKE SA failed.
    IkeSaFailed {
        /// The SA.
        sa: SaHandle,
        /// Why.
        reason: Error,
    },
    /// The responder redirected us in IKE_SA_INIT or IKE_AUTH (RFC 5685 sections 4.2 and 6);
    /// the SA starts again with `to` (same handle).
    Redirected {
        /// The SA.
        sa: SaHandle,
        /// The gateway that redirected.
        from: core::net::IpAddr,
        /// The new gateway.
        to: core::net::IpAddr,
    },
    /// The gateway of an established SA asked us to move to another gateway (RFC 5685
    /// section 5): `new_sa` is connecting to `to` (its IKE_SA_INIT carries REDIRECTED_FROM)
    /// and `sa` is being deleted.
    GatewayRedirect {
        /// The SA with the old gateway.
        sa: SaHandle,
        /// The SA being set up with the new gateway.
        new_sa: SaHandle,
        /// The old gateway.
        from: core::net::IpAddr,
        /// The new gateway.
        to: core::net::IpAddr,
    },
    /// Responder: we redirected an authenticated peer in IKE_AUTH (RFC 5685 section 6); the
    /// SA is dropped (no Child SA, no pool address).
    RedirectSent {
        /// The SA.
        sa: SaHandle,
        /// The peer's identity.
        peer_id: Identification,
        /// The gateway we sent it to.
        to: core::net::IpAddr,
    },
    /// The retransmission budget was spent (DPD or another request): the SA is gone.
    PeerDead {
        /// The SA.
        sa: SaHandle,
    },
}

//! The NHRP mandatory part (RFC 2332 §5.2.1 to §5.2.7, and the DMVPN Traffic Indication).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | src proto len | dst proto len |   flags (types 1-6)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    request ID (types 1-6)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | source NBMA address (shtl), subaddress (sstl)                 |
//! | source protocol address, destination protocol address        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | CIEs (types 1-6) | erroneous packet (7) | quoted packet (8)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! For an Error Indication (§5.2.7) the flags/request-ID octets are `unused(2) error code(2)
//! error offset(2)`, preceded by the two length octets; for a Traffic Indication they are
//! `unused(2) traffic code(2) unused(2)`.

use crate::error::WireError;
use crate::wire::cie::{self, Cie, tl};
use crate::wire::traffic_indication::TrafficIndication;
use crate::wire::{Address, ErrorCode, PacketType, Reader, len_u8};

/// The kinds of packet that carry flags, a request ID and CIEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MessageKind {
    /// Resolution Request (§5.2.1).
    ResolutionRequest,
    /// Resolution Reply (§5.2.2).
    ResolutionReply,
    /// Registration Request (§5.2.3).
    RegistrationRequest,
    /// Registration Reply (§5.2.4).
    RegistrationReply,
    /// Purge Request (§5.2.5).
    PurgeRequest,
    /// Purge Reply (§5.2.6).
    PurgeReply,
}

impl MessageKind {
    /// The wire packet type.
    pub fn packet_type(self) -> PacketType {
        match self {
            Self::ResolutionRequest => PacketType::RESOLUTION_REQUEST,
            Self::ResolutionReply => PacketType::RESOLUTION_REPLY,
            Self::RegistrationRequest => PacketType::REGISTRATION_REQUEST,
            Self::RegistrationReply => PacketType::REGISTRATION_REPLY,
            Self::PurgeRequest => PacketType::PURGE_REQUEST,
            Self::PurgeReply => PacketType::PURGE_REPLY,
        }
    }

    /// The kind for a wire type, if it is one of 1 to 6.
    pub fn from_packet_type(t: PacketType) -> Option<Self> {
        Some(match t {
            PacketType::RESOLUTION_REQUEST => Self::ResolutionRequest,
            PacketType::RESOLUTION_REPLY => Self::ResolutionReply,
            PacketType::REGISTRATION_REQUEST => Self::RegistrationRequest,
            PacketType::REGISTRATION_REPLY => Self::RegistrationReply,
            PacketType::PURGE_REQUEST => Self::PurgeRequest,
            PacketType::PURGE_REPLY => Self::PurgeReply,
            _ => return None,
        })
    }

    /// True for the request kinds.
    pub fn is_request(self) -> bool {
        matches!(
            self,
            Self::ResolutionRequest | Self::RegistrationRequest | Self::PurgeRequest
        )
    }
}

/// The mandatory part.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Mandatory {
    /// Source NBMA address (its length goes in `ar$shtl`).
    pub src_nbma: Address,
    /// Source NBMA subaddress (its length goes in `ar$sstl`).
    pub src_nbma_sub: Address,
    /// Source protocol address.
    pub src_proto: Address,
    /// Destination protocol address.
    pub dst_proto: Address,
    /// The type-specific part, which decides the packet type.
    pub body: Body,
}

/// The type-specific part of the mandatory part.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Body {
    /// Types 1 to 6.
    Message(Message),
    /// Type 7.
    ErrorIndication(ErrorIndication),
    /// Type 8.
    TrafficIndication(TrafficIndication),
}

impl Body {
    /// The packet type this body is sent as.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Message(m) => m.kind.packet_type(),
            Self::ErrorIndication(_) => PacketType::ERROR_INDICATION,
            Self::TrafficIndication(_) => PacketType::TRAFFIC_INDICATION,
        }
    }
}

/// Requests and replies: flags, request ID and CIEs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Message {
    /// Which request or reply.
    pub kind: MessageKind,
    /// Flags (`FLAG_*` in [`crate::wire`]; their meaning depends on the kind).
    pub flags: u16,
    /// Request ID, copied from request to reply.
    pub request_id: u32,
    /// Client information entries.
    pub cies: Vec<Cie>,
}

/// Error Indication (§5.2.7).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ErrorIndication {
    /// The unused octets before the code, kept for exact round trips.
    pub unused: u16,
    /// Error code.
    pub code: ErrorCode,
    /// Offset of the error in the erroneous packet.
    pub offset: u16,
    /// The erroneous packet (or its beginning), as received.
    pub contents: Vec<u8>,
}

impl Mandatory {
    pub(crate) fn parse(
        r: &mut Reader<'_>,
        ptype: PacketType,
        shtl_len: usize,
        sstl_len: usize,
    ) -> Result<Self, WireError> {
        let src_len = usize::from(r.u8("src protocol length")?);
        let dst_len = usize::from(r.u8("dst protocol length")?);
        let w1 = r.u16("flags")?;
        let w2 = r.u16("request id")?;
        let w3 = r.u16("request id")?;
        let src_nbma = Address(r.take(shtl_len, "src nbma address")?.to_vec());
        let src_nbma_sub = Address(r.take(sstl_len, "src nbma subaddress")?.to_vec());
        let src_proto = Address(r.take(src_len, "src protocol address")?.to_vec());
        let dst_proto = Address(r.take(dst_len, "dst protocol address")?.to_vec());
        let body = if let Some(kind) = MessageKind::from_packet_type(ptype) {
            Body::Message(Message {
                kind,
                flags: w1,
                request_id: (u32::from(w2) << 16) | u32::from(w3),
                cies: cie::parse_list(r)?,
            })
        } else if ptype == PacketType::ERROR_INDICATION {
            Body::ErrorIndication(ErrorIndication {
                unused: w1,
                code: ErrorCode(w2),
                offset: w3,
                contents: r.rest().to_vec(),
            })
        } else if ptype == PacketType::TRAFFIC_INDICATION {
            Body::TrafficIndication(TrafficIndication {
                unused: w1,
                traffic_code: w2,
                unused2: w3,
                quoted: r.rest().to_vec(),
            })
        } else {
            return Err(WireError::UnknownPacketType(ptype.0));
        };
        Ok(Self {
            src_nbma,
            src_nbma_sub,
            src_proto,
            dst_proto,
            body,
        })
    }

    /// Appends the mandatory part; returns the (shtl, sstl) lengths for the fixed header.
    pub(crate) fn emit(&self, w: &mut Vec<u8>) -> Result<(u8, u8), WireError> {
        let shtl = tl(0, self.src_nbma.0.len(), "src nbma address")?;
        let sstl = tl(0, self.src_nbma_sub.0.len(), "src nbma subaddress")?;
        w.push(len_u8(self.src_proto.0.len(), "src protocol address")?);
        w.push(len_u8(self.dst_proto.0.len(), "dst protocol address")?);
        let (w1, w2, w3) = match &self.body {
            Body::Message(m) => {
                let [a, b, c, d] = m.request_id.to_be_bytes();
                (
                    m.flags,
                    u16::from_be_bytes([a, b]),
                    u16::from_be_bytes([c, d]),
                )
            }
            Body::ErrorIndication(e) => (e.unused, e.code.0, e.offset),
            Body::TrafficIndication(t) => (t.unused, t.traffic_code, t.unused2),
        };
        for x in [w1, w2, w3] {
            w.extend_from_slice(&x.to_be_bytes());
        }
        w.extend_from_slice(&self.src_nbma.0);
        w.extend_from_slice(&self.src_nbma_sub.0);
        w.extend_from_slice(&self.src_proto.0);
        w.extend_from_slice(&self.dst_proto.0);
        match &self.body {
            Body::Message(m) => {
                for c in &m.cies {
                    c.emit(w)?;
                }
            }
            Body::ErrorIndication(e) => w.extend_from_slice(&e.contents),
            Body::TrafficIndication(t) => w.extend_from_slice(&t.quoted),
        }
        Ok((shtl, sstl))
    }
}

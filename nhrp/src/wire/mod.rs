//! NHRP wire format (RFC 2332 §5, with the Cisco DMVPN additions).
//!
//! # Contract
//! - Parsing is total: every input gives `Ok` or a typed [`WireError`], never a panic, a hang
//!   or an allocation larger than the input.
//! - [`Packet::emit`] is total for every `Packet` that can be built; it fails only with
//!   [`WireError::TooLong`] when a value does not fit its length field.
//! - `Packet::parse(&p.emit()?) == p`, and for well-formed input `parse(x)?.emit()? == x` byte
//!   for byte: every unused field and type bit is kept in the `Repr`.
//!
//! A packet is: the fixed header ([`fixed`]), the mandatory part ([`mandatory`]) holding the
//! addresses and either client information entries ([`cie`]), the erroneous packet of an
//! Error Indication, or the quoted data packet of a Traffic Indication
//! ([`traffic_indication`]), then the extensions ([`extension`]).
#![warn(clippy::cast_possible_truncation)]

pub mod cie;
pub mod extension;
pub mod fixed;
pub mod mandatory;
pub mod traffic_indication;

use std::fmt;
use std::net::Ipv4Addr;

pub use cie::{Cie, CieCode};
pub use extension::{AuthData, ExtValue, Extension, ExtensionType};
pub use fixed::{FixedHeader, FixedHeaderView};
pub use mandatory::{Body, ErrorIndication, Mandatory, Message, MessageKind};
pub use traffic_indication::TrafficIndication;

use crate::error::WireError;

/// Address family number of IPv4 (IANA "Address Family Numbers"), the NBMA family used by GRE.
pub const AFN_IPV4: u16 = 0x0001;
/// Ethertype of IPv4, the protocol type of the overlay.
pub const PROTO_IPV4: u16 = 0x0800;
/// GRE protocol type that carries NHRP.
pub const GRE_PROTO_NHRP: u16 = 0x2001;
/// The only NHRP version (RFC 2332 §5.2.0.1, `ar$op.version`).
pub const VERSION: u8 = 1;

/// Resolution/registration flag Q: the source is a router (RFC 2332 §5.2.1).
pub const FLAG_Q: u16 = 0x8000;
/// Resolution flag A: authoritative reply wanted / given.
pub const FLAG_A: u16 = 0x4000;
/// Resolution flag D: stable association.
pub const FLAG_D: u16 = 0x2000;
/// Resolution flag U: uniqueness.
pub const FLAG_U: u16 = 0x1000;
/// Resolution flag S: stable binding.
pub const FLAG_S: u16 = 0x0800;
/// Registration flag U: uniqueness (RFC 2332 §5.2.3).
pub const FLAG_REG_U: u16 = 0x8000;
/// Purge flag N: no reply expected (RFC 2332 §5.2.5).
pub const FLAG_PURGE_N: u16 = 0x8000;
/// Cisco flag: the sender supports the NAT extension.
pub const FLAG_NAT: u16 = 0x0002;

macro_rules! registry {
    ($(#[$m:meta])* $name:ident($ty:ty) { $($(#[$cm:meta])* $c:ident = $v:expr => $s:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(pub $ty);
        impl $name {
            $($(#[$cm])* pub const $c: Self = Self($v);)*
            /// The registered name, if any.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }
    };
}
pub(crate) use registry;

registry! {
    /// NHRP packet type, `ar$op.type` (RFC 2332 §5.2.0.1; type 8 from Cisco DMVPN).
    PacketType(u8) {
        /// NHRP Resolution Request.
        RESOLUTION_REQUEST = 1 => "Resolution Request",
        /// NHRP Resolution Reply.
        RESOLUTION_REPLY = 2 => "Resolution Reply",
        /// NHRP Registration Request.
        REGISTRATION_REQUEST = 3 => "Registration Request",
        /// NHRP Registration Reply.
        REGISTRATION_REPLY = 4 => "Registration Reply",
        /// NHRP Purge Request.
        PURGE_REQUEST = 5 => "Purge Request",
        /// NHRP Purge Reply.
        PURGE_REPLY = 6 => "Purge Reply",
        /// NHRP Error Indication.
        ERROR_INDICATION = 7 => "Error Indication",
        /// Traffic Indication (the DMVPN redirect).
        TRAFFIC_INDICATION = 8 => "Traffic Indication",
    }
}

registry! {
    /// Error Indication code (RFC 2332 §5.2.7).
    ErrorCode(u16) {
        /// A compulsory extension was not recognized.
        UNRECOGNIZED_EXTENSION = 1 => "Unrecognized Extension",
        /// A forwarding loop was detected.
        LOOP_DETECTED = 2 => "NHRP Loop Detected",
        /// No route to the protocol address.
        PROTOCOL_ADDRESS_UNREACHABLE = 6 => "Protocol Address Unreachable",
        /// Malformed packet.
        PROTOCOL_ERROR = 7 => "Protocol Error",
        /// NHRP SDU size exceeded.
        SDU_SIZE_EXCEEDED = 8 => "NHRP SDU Size Exceeded",
        /// A known extension with a bad value.
        INVALID_EXTENSION = 9 => "Invalid Extension",
        /// A reply that does not match.
        INVALID_RESOLUTION_REPLY = 10 => "Invalid NHRP Resolution Reply Received",
        /// Authentication failed.
        AUTHENTICATION_FAILURE = 11 => "Authentication Failure",
        /// Hop count reached zero.
        HOP_COUNT_EXCEEDED = 15 => "Hop Count Exceeded",
    }
}

/// An address as carried on the wire: NBMA, NBMA subaddress or protocol address.
///
/// NHRP allows any length; this crate uses IPv4 everywhere, and [`Address::ipv4`] reads one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Address(pub Vec<u8>);

impl Address {
    /// The empty address (length 0: "not present").
    pub const fn empty() -> Self {
        Self(Vec::new())
    }
    /// True when the address is absent.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The address as IPv4, when it is 4 bytes long.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.0.as_slice())
            .ok()
            .map(Ipv4Addr::from)
    }
}

impl From<Ipv4Addr> for Address {
    fn from(a: Ipv4Addr) -> Self {
        Self(a.octets().to_vec())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ipv4() {
            Some(a) => write!(f, "{a}"),
            None if self.0.is_empty() => f.write_str("-"),
            None => {
                f.write_str("0x")?;
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A whole NHRP packet, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Packet {
    /// Fixed header fields that are not lengths, checksum or the packet type.
    pub header: FixedHeader,
    /// Mandatory part: addresses and the type-specific body (which gives the packet type).
    pub mandatory: Mandatory,
    /// Extensions, in wire order, normally ending with [`ExtValue::End`]; `None` when the
    /// extension offset is 0.
    pub extensions: Option<Vec<Extension>>,
}

/// Most extensions accepted in one packet (a guard against floods of tiny extensions).
pub const MAX_EXTENSIONS: usize = 64;
/// Most CIEs accepted in one list.
pub const MAX_CIES: usize = 256;

impl Packet {
    /// The packet type, from the body.
    pub fn packet_type(&self) -> PacketType {
        self.mandatory.body.packet_type()
    }

    /// Parses one NHRP packet (the GRE payload). The buffer must hold exactly the packet.
    ///
    /// # Errors
    /// Any malformation: truncation, a length out of range, a bad checksum (RFC 2332 §5.2.0.1),
    /// an unknown version or type, an unrecognized compulsory extension (§5.3), trailing bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let view = FixedHeaderView::new_checked(buf)?;
        let pktsz = usize::from(view.packet_size());
        if buf.len() > pktsz {
            return Err(WireError::TrailingData {
                what: "packet",
                extra: buf.len() - pktsz,
                at: pktsz,
            });
        }
        let expected = view.compute_checksum();
        if expected != view.checksum() {
            return Err(WireError::BadChecksum {
                expected,
                found: view.checksum(),
            });
        }
        if view.version() != VERSION {
            return Err(WireError::UnsupportedVersion(view.version()));
        }
        let ptype = PacketType(view.packet_type());
        let header = FixedHeader::from_view(&view);
        let extoff = usize::from(view.extension_offset());
        let mand_end = if extoff == 0 { pktsz } else { extoff };
        let mut r = Reader::new(buf).limit(fixed::LEN, mand_end)?;
        let mandatory = Mandatory::parse(&mut r, ptype, view.shtl_len(), view.sstl_len())?;
        let extensions = if extoff == 0 {
            None
        } else {
            let mut er = Reader::new(buf).limit(extoff, pktsz)?;
            Some(extension::parse_list(&mut er)?)
        };
        Ok(Self {
            header,
            mandatory,
            extensions,
        })
    }

    /// Encodes the packet: lengths, extension offset and checksum are computed here.
    ///
    /// # Errors
    /// [`WireError::TooLong`] when an address, a list or the whole packet does not fit its
    /// length field.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Vec::with_capacity(128);
        w.resize(fixed::LEN, 0);
        let (shtl, sstl) = self.mandatory.emit(&mut w)?;
        let extoff = match &self.extensions {
            None => 0,
            Some(list) => {
                let off = len_u16(w.len(), "extension offset")?;
                extension::emit_list(list, &mut w)?;
                off
            }
        };
        let pktsz = len_u16(w.len(), "packet length")?;
        let mut view = FixedHeaderView::new_unchecked(&mut w[..]);
        self.header.emit(&mut view, self.packet_type(), shtl, sstl);
        view.set_packet_size(pktsz);
        view.set_extension_offset(extoff);
        view.set_checksum(0);
        let ck = view.compute_checksum();
        view.set_checksum(ck);
        Ok(w)
    }

    /// The extension of type `ty`, if present.
    pub fn extension(&self, ty: ExtensionType) -> Option<&Extension> {
        self.extensions
            .as_ref()?
            .iter()
            .find(|e| e.value.ty() == ty)
    }

    /// The extension of type `ty`, mutable, if present.
    pub fn extension_mut(&mut self, ty: ExtensionType) -> Option<&mut Extension> {
        self.extensions
            .as_mut()?
            .iter_mut()
            .find(|e| e.value.ty() == ty)
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.mandatory;
        write!(
            f,
            "{:?} src {}/{} dst {} hop {}",
            self.packet_type(),
            m.src_proto,
            m.src_nbma,
            m.dst_proto,
            self.header.hop_count
        )?;
        match &m.body {
            Body::Message(msg) => write!(f, " id {} cies {}", msg.request_id, msg.cies.len())?,
            Body::ErrorIndication(e) => write!(f, " code {:?} offset {}", e.code, e.offset)?,
            Body::TrafficIndication(t) => write!(f, " quoted {} bytes", t.quoted.len())?,
        }
        if let Some(exts) = &self.extensions {
            f.write_str(" [")?;
            for (i, e) in exts.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{:?}", e.value.ty())?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// The 16-bit one's complement checksum of RFC 2332 §5.2.0.1 (the IP checksum) over `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    #[allow(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
    let folded = sum as u16;
    !folded
}

/// Converts a length to a `u16` length field.
pub(crate) fn len_u16(len: usize, what: &'static str) -> Result<u16, WireError> {
    u16::try_from(len).map_err(|_| WireError::TooLong { what, len })
}

/// Converts a length to a `u8` length field.
pub(crate) fn len_u8(len: usize, what: &'static str) -> Result<u8, WireError> {
    u8::try_from(len).map_err(|_| WireError::TooLong { what, len })
}

/// A checked cursor over a packet. Offsets in errors are absolute (from the packet start), as
/// the Error Indication's offset field needs.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    /// A reader over `[start, end)` of the same buffer.
    pub(crate) fn limit(self, start: usize, end: usize) -> Result<Self, WireError> {
        if start > end || end > self.buf.len() {
            return Err(WireError::BadLength {
                what: "section bounds",
                len: end,
                at: start,
            });
        }
        Ok(Self {
            buf: self.buf,
            pos: start,
            end,
        })
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let have = self.remaining();
        let trunc = WireError::Truncated {
            what,
            need: n,
            have,
            at: self.pos,
        };
        if n > have {
            return Err(trunc);
        }
        let end = self.pos.checked_add(n).ok_or(trunc)?;
        let s = self.buf.get(self.pos..end).ok_or(trunc)?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        let s = self.take(1, what)?;
        Ok(s.first().copied().unwrap_or_default())
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let s = self.take(2, what)?;
        let a: [u8; 2] = s.try_into().unwrap_or_default();
        Ok(u16::from_be_bytes(a))
    }

    /// A sub-reader over the next `n` bytes; this reader skips them.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Self, WireError> {
        let start = self.pos;
        self.take(n, what)?;
        Ok(Self {
            buf: self.buf,
            pos: start,
            end: self.pos,
        })
    }

    /// All remaining bytes.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..self.end).unwrap_or_default();
        self.pos = self.end;
        s
    }
}

/// Writes a `u16` at `at` (a back-patch of a length field).
pub(crate) fn patch_u16(w: &mut [u8], at: usize, v: u16) {
    if let Some(s) = w.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Resolution Request laid out as FRR nhrpd sends it, written out by hand from RFC 2332
    /// §5.2.0.1/§5.2.1: spoke 10.1.1.111 at 172.16.1.1 asks for 192.168.2.7.
    fn frr_style_request() -> Vec<u8> {
        let mut v = vec![
            0x00, 0x01, 0x08, 0x00, 0, 0, 0, 0, 0,    // afn, pro.type, snap
            0x10, // hop count 16
            0x00, 0x48, // packet length 72
            0x00, 0x00, // checksum (filled below)
            0x00, 0x34, // extension offset 52
            0x01, 0x01, 0x04, 0x00, // version, type, shtl, sstl
            0x04, 0x04, 0xc8, 0x02, // src/dst proto len, flags Q|A|S|NAT
            0x00, 0x00, 0x00, 0x2a, // request id 42
            172, 16, 1, 1, 10, 1, 1, 111, 192, 168, 2, 7, // addresses
            0x00, 0xff, 0x00, 0x00, 0x05, 0x78, 0x1c, 0x20, 0, 0, 0, 0, // CIE
            0x80, 0x03, 0, 0, 0x80, 0x04, 0, 0, 0x80, 0x05, 0, 0, 0x00, 0x09, 0, 0, 0x80, 0x00, 0,
            0,
        ];
        let c = checksum(&v);
        v[12..14].copy_from_slice(&c.to_be_bytes());
        v
    }

    fn frr_style_repr() -> Packet {
        Packet {
            header: FixedHeader::ipv4(16),
            mandatory: Mandatory {
                src_nbma: Ipv4Addr::new(172, 16, 1, 1).into(),
                src_nbma_sub: Address::empty(),
                src_proto: Ipv4Addr::new(10, 1, 1, 111).into(),
                dst_proto: Ipv4Addr::new(192, 168, 2, 7).into(),
                body: Body::Message(Message {
                    kind: MessageKind::ResolutionRequest,
                    flags: FLAG_Q | FLAG_A | FLAG_S | FLAG_NAT,
                    request_id: 42,
                    cies: vec![Cie::new(0xff, 1400, 7200, None, None)],
                }),
            },
            extensions: Some(vec![
                Extension::compulsory(ExtValue::ResponderAddress(vec![])),
                Extension::compulsory(ExtValue::ForwardTransitNhs(vec![])),
                Extension::compulsory(ExtValue::ReverseTransitNhs(vec![])),
                Extension::optional(ExtValue::NatAddress(vec![])),
                Extension::compulsory(ExtValue::End),
            ]),
        }
    }

    #[test]
    fn parse_emit_vector() {
        let v = frr_style_request();
        let p = Packet::parse(&v).unwrap();
        assert_eq!(p, frr_style_repr());
        assert_eq!(frr_style_repr().emit().unwrap(), v);
    }

    #[test]
    fn truncation_at_every_length() {
        let v = frr_style_request();
        for n in 0..v.len() {
            assert!(Packet::parse(&v[..n]).is_err(), "prefix {n} parsed");
        }
    }

    #[test]
    fn checksum_mismatch_is_an_error_and_silent() {
        let mut v = frr_style_request();
        v[30] ^= 0x01;
        let e = Packet::parse(&v).unwrap_err();
        assert!(matches!(e, WireError::BadChecksum { .. }));
        assert_eq!(e.error_code(), None);
    }

    fn with_checksum(mut v: Vec<u8>) -> Vec<u8> {
        v[12] = 0;
        v[13] = 0;
        let c = checksum(&v);
        v[12..14].copy_from_slice(&c.to_be_bytes());
        v
    }

    #[test]
    fn unknown_compulsory_extension_maps_to_unrecognized_extension() {
        let mut v = frr_style_request();
        // Turn the NAT extension (offset 64) into an unknown compulsory type 0x33.
        v[64] = 0x80;
        v[65] = 0x33;
        let e = Packet::parse(&with_checksum(v)).unwrap_err();
        assert_eq!(
            e,
            WireError::UnrecognizedCompulsoryExtension { ty: 0x33, at: 64 }
        );
        assert_eq!(e.error_code(), Some(ErrorCode::UNRECOGNIZED_EXTENSION));
        assert_eq!(e.offset(), 64);
    }

    #[test]
    fn version_type_and_trailing_data() {
        let mut v = frr_style_request();
        v[16] = 2;
        let e = Packet::parse(&with_checksum(v)).unwrap_err();
        assert_eq!(e, WireError::UnsupportedVersion(2));
        assert_eq!(e.error_code(), Some(ErrorCode::PROTOCOL_ERROR));
        let mut v = frr_style_request();
        v[17] = 9;
        assert_eq!(
            Packet::parse(&with_checksum(v)),
            Err(WireError::UnknownPacketType(9))
        );
        let mut v = frr_style_request();
        v.push(0);
        assert!(matches!(
            Packet::parse(&v),
            Err(WireError::TrailingData { .. })
        ));
    }

    #[test]
    fn every_packet_type_round_trips() {
        let base = frr_style_repr();
        let mut all = Vec::new();
        for kind in [
            MessageKind::ResolutionRequest,
            MessageKind::ResolutionReply,
            MessageKind::RegistrationRequest,
            MessageKind::RegistrationReply,
            MessageKind::PurgeRequest,
            MessageKind::PurgeReply,
        ] {
            let mut p = base.clone();
            if let Body::Message(m) = &mut p.mandatory.body {
                m.kind = kind;
            }
            all.push(p);
        }
        let mut ei = base.clone();
        ei.mandatory.body = Body::ErrorIndication(ErrorIndication {
            unused: 0,
            code: ErrorCode::LOOP_DETECTED,
            offset: 52,
            contents: frr_style_request(),
        });
        ei.extensions = None;
        all.push(ei);
        let mut ti = base;
        let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&[192, 168, 1, 5, 192, 168, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        ti.mandatory.body = Body::TrafficIndication(TrafficIndication::redirect(&ip));
        ti.extensions = None;
        all.push(ti);
        for p in all {
            let b = p.emit().unwrap();
            let q = Packet::parse(&b).unwrap();
            assert_eq!(q, p);
            assert_eq!(q.emit().unwrap(), b);
            assert_eq!(
                FixedHeaderView::new_checked(&b[..]).unwrap().packet_type(),
                p.packet_type().0
            );
            for n in 0..b.len() {
                assert!(Packet::parse(&b[..n]).is_err());
            }
            assert!(!format!("{p}").is_empty());
        }
    }
}

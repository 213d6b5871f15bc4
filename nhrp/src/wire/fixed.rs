//! The NHRP fixed header (RFC 2332 §5.2.0.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   address family (afn)        |   protocol type (pro.type)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          protocol SNAP (5 octets, pro.snap)                   |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |   hop count   |               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               +
//! |  packet length (whole packet) |   checksum                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   extension offset (0: none)  |   version = 1 |  packet type  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | shtl: src NBMA type/len       | sstl: subaddress type/len     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! (The drawing wraps: the header is 20 octets; `shtl`/`sstl` are one octet each: bit 7
//! reserved, bit 6 the address type (0 NSAP, 1 E.164), bits 0-5 the length.)

use crate::error::WireError;
use crate::wire::{PacketType, checksum};

/// Length of the fixed header.
pub const LEN: usize = 20;

/// Mask of the length bits of a type/length octet (`shtl`, `sstl`, CIE address type/length).
pub const TL_LEN_MASK: u8 = 0x3f;
/// Mask of the type (and reserved) bits of a type/length octet.
pub const TL_TYPE_MASK: u8 = 0xc0;

mod field {
    use std::ops::Range;
    pub(super) const AFN: Range<usize> = 0..2;
    pub(super) const PRO_TYPE: Range<usize> = 2..4;
    pub(super) const PRO_SNAP: Range<usize> = 4..9;
    pub(super) const HOP_COUNT: usize = 9;
    pub(super) const PKTSZ: Range<usize> = 10..12;
    pub(super) const CHKSUM: Range<usize> = 12..14;
    pub(super) const EXTOFF: Range<usize> = 14..16;
    pub(super) const VERSION: usize = 16;
    pub(super) const TYPE: usize = 17;
    pub(super) const SHTL: usize = 18;
    pub(super) const SSTL: usize = 19;
}

/// A view of the fixed header over a buffer that holds a whole packet.
#[derive(Debug, Clone)]
pub struct FixedHeaderView<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> FixedHeaderView<T> {
    /// Wraps a buffer without checks; getters then return 0 for bytes that are missing.
    pub fn new_unchecked(buf: T) -> Self {
        Self { buf }
    }

    /// Wraps a buffer after checking that it holds the fixed header, that the packet length
    /// covers the header and fits the buffer, and that the extension offset is 0 or inside
    /// `[20, packet length]`.
    ///
    /// # Errors
    /// [`WireError::Truncated`] or [`WireError::BadLength`].
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let v = Self { buf };
        let have = v.buf.as_ref().len();
        if have < LEN {
            return Err(WireError::Truncated {
                what: "fixed header",
                need: LEN,
                have,
                at: 0,
            });
        }
        let pktsz = usize::from(v.packet_size());
        if pktsz < LEN {
            return Err(WireError::BadLength {
                what: "packet length",
                len: pktsz,
                at: field::PKTSZ.start,
            });
        }
        if pktsz > have {
            return Err(WireError::Truncated {
                what: "packet",
                need: pktsz,
                have,
                at: 0,
            });
        }
        let extoff = usize::from(v.extension_offset());
        if extoff != 0 && (extoff < LEN || extoff > pktsz) {
            return Err(WireError::BadLength {
                what: "extension offset",
                len: extoff,
                at: field::EXTOFF.start,
            });
        }
        Ok(v)
    }

    fn u8_at(&self, i: usize) -> u8 {
        self.buf.as_ref().get(i).copied().unwrap_or(0)
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        self.buf
            .as_ref()
            .get(r)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map_or(0, u16::from_be_bytes)
    }

    /// `ar$afn`: the NBMA address family.
    pub fn afn(&self) -> u16 {
        self.u16_at(field::AFN)
    }
    /// `ar$pro.type`: the protocol type (an ethertype).
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PRO_TYPE)
    }
    /// `ar$pro.snap`.
    pub fn snap(&self) -> [u8; 5] {
        self.buf
            .as_ref()
            .get(field::PRO_SNAP)
            .and_then(|s| <[u8; 5]>::try_from(s).ok())
            .unwrap_or_default()
    }
    /// `ar$hopcnt`.
    pub fn hop_count(&self) -> u8 {
        self.u8_at(field::HOP_COUNT)
    }
    /// `ar$pktsz`: the whole packet's length.
    pub fn packet_size(&self) -> u16 {
        self.u16_at(field::PKTSZ)
    }
    /// `ar$chksum`.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHKSUM)
    }
    /// `ar$extoff`.
    pub fn extension_offset(&self) -> u16 {
        self.u16_at(field::EXTOFF)
    }
    /// `ar$op.version`.
    pub fn version(&self) -> u8 {
        self.u8_at(field::VERSION)
    }
    /// `ar$op.type`.
    pub fn packet_type(&self) -> u8 {
        self.u8_at(field::TYPE)
    }
    /// `ar$shtl`, the whole octet.
    pub fn shtl(&self) -> u8 {
        self.u8_at(field::SHTL)
    }
    /// `ar$sstl`, the whole octet.
    pub fn sstl(&self) -> u8 {
        self.u8_at(field::SSTL)
    }
    /// Length of the source NBMA address.
    pub fn shtl_len(&self) -> usize {
        usize::from(self.shtl() & TL_LEN_MASK)
    }
    /// Length of the source NBMA subaddress.
    pub fn sstl_len(&self) -> usize {
        usize::from(self.sstl() & TL_LEN_MASK)
    }

    /// The checksum the packet should carry: computed over `packet length` bytes with the
    /// checksum field taken as zero (RFC 2332 §5.2.0.1).
    pub fn compute_checksum(&self) -> u16 {
        let b = self.buf.as_ref();
        let end = usize::from(self.packet_size()).min(b.len());
        let head = b.get(..field::CHKSUM.start).unwrap_or_default();
        let tail = b.get(field::CHKSUM.end..end).unwrap_or_default();
        // The checksum field sits at an even offset, so the two halves can be summed apart.
        let partial = |d: &[u8]| !checksum(d);
        let mut sum = u32::from(partial(head)) + u32::from(partial(tail));
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        #[allow(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
        let folded = sum as u16;
        !folded
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FixedHeaderView<T> {
    fn set_u8(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buf.as_mut().get_mut(i) {
            *b = v;
        }
    }
    fn set_u16(&mut self, r: std::ops::Range<usize>, v: u16) {
        if let Some(s) = self.buf.as_mut().get_mut(r) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
    /// Sets `ar$afn`.
    pub fn set_afn(&mut self, v: u16) {
        self.set_u16(field::AFN, v);
    }
    /// Sets `ar$pro.type`.
    pub fn set_protocol_type(&mut self, v: u16) {
        self.set_u16(field::PRO_TYPE, v);
    }
    /// Sets `ar$pro.snap`.
    pub fn set_snap(&mut self, v: [u8; 5]) {
        if let Some(s) = self.buf.as_mut().get_mut(field::PRO_SNAP) {
            s.copy_from_slice(&v);
        }
    }
    /// Sets `ar$hopcnt` (a transit NHS decrements it; recompute the checksum afterwards).
    pub fn set_hop_count(&mut self, v: u8) {
        self.set_u8(field::HOP_COUNT, v);
    }
    /// Sets `ar$pktsz`.
    pub fn set_packet_size(&mut self, v: u16) {
        self.set_u16(field::PKTSZ, v);
    }
    /// Sets `ar$chksum`.
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHKSUM, v);
    }
    /// Sets `ar$extoff`.
    pub fn set_extension_offset(&mut self, v: u16) {
        self.set_u16(field::EXTOFF, v);
    }
    /// Sets `ar$op.version`.
    pub fn set_version(&mut self, v: u8) {
        self.set_u8(field::VERSION, v);
    }
    /// Sets `ar$op.type`.
    pub fn set_packet_type(&mut self, v: u8) {
        self.set_u8(field::TYPE, v);
    }
    /// Sets `ar$shtl`.
    pub fn set_shtl(&mut self, v: u8) {
        self.set_u8(field::SHTL, v);
    }
    /// Sets `ar$sstl`.
    pub fn set_sstl(&mut self, v: u8) {
        self.set_u8(field::SSTL, v);
    }
    /// Recomputes and stores the checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

/// The fixed-header fields that are not derived when emitting (lengths, offset, checksum and
/// the packet type are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FixedHeader {
    /// `ar$afn` (1 = IPv4).
    pub afn: u16,
    /// `ar$pro.type` (0x0800 = IPv4).
    pub protocol_type: u16,
    /// `ar$pro.snap` (zero for an ethertype protocol).
    pub snap: [u8; 5],
    /// `ar$hopcnt`.
    pub hop_count: u8,
    /// Type bits (0xc0) of `ar$shtl`.
    pub shtl_type: u8,
    /// Type bits (0xc0) of `ar$sstl`.
    pub sstl_type: u8,
}

impl FixedHeader {
    /// IPv4 over an IPv4 NBMA (GRE), hop count as given.
    pub const fn ipv4(hop_count: u8) -> Self {
        Self {
            afn: crate::wire::AFN_IPV4,
            protocol_type: crate::wire::PROTO_IPV4,
            snap: [0; 5],
            hop_count,
            shtl_type: 0,
            sstl_type: 0,
        }
    }

    pub(crate) fn from_view<T: AsRef<[u8]>>(v: &FixedHeaderView<T>) -> Self {
        Self {
            afn: v.afn(),
            protocol_type: v.protocol_type(),
            snap: v.snap(),
            hop_count: v.hop_count(),
            shtl_type: v.shtl() & TL_TYPE_MASK,
            sstl_type: v.sstl() & TL_TYPE_MASK,
        }
    }

    pub(crate) fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        v: &mut FixedHeaderView<T>,
        ptype: PacketType,
        shtl_len: u8,
        sstl_len: u8,
    ) {
        v.set_afn(self.afn);
        v.set_protocol_type(self.protocol_type);
        v.set_snap(self.snap);
        v.set_hop_count(self.hop_count);
        v.set_version(crate::wire::VERSION);
        v.set_packet_type(ptype.0);
        v.set_shtl((self.shtl_type & TL_TYPE_MASK) | (shtl_len & TL_LEN_MASK));
        v.set_sstl((self.sstl_type & TL_TYPE_MASK) | (sstl_len & TL_LEN_MASK));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 20-byte header of an empty (invalid-type but well-sized) packet: afn 1, IPv4, hop 64,
    // length 20, checksum over it, no extensions, version 1, type 1.
    fn vector() -> Vec<u8> {
        let mut v = vec![
            0x00, 0x01, 0x08, 0x00, 0, 0, 0, 0, 0, 0x40, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x01,
            0x01, 0x04, 0x00,
        ];
        let c = checksum(&v);
        v[12..14].copy_from_slice(&c.to_be_bytes());
        v
    }

    #[test]
    fn deconstruct() {
        let v = vector();
        let h = FixedHeaderView::new_checked(&v[..]).unwrap();
        assert_eq!(h.afn(), 1);
        assert_eq!(h.protocol_type(), 0x0800);
        assert_eq!(h.hop_count(), 64);
        assert_eq!(h.packet_size(), 20);
        assert_eq!(h.version(), 1);
        assert_eq!(h.packet_type(), 1);
        assert_eq!(h.shtl_len(), 4);
        assert_eq!(h.compute_checksum(), h.checksum());
    }

    #[test]
    fn construct() {
        let mut b = vec![0u8; 20];
        let mut h = FixedHeaderView::new_unchecked(&mut b[..]);
        FixedHeader::ipv4(64).emit(&mut h, PacketType::RESOLUTION_REQUEST, 4, 0);
        h.set_packet_size(20);
        h.fill_checksum();
        assert_eq!(b, vector());
    }

    #[test]
    fn truncation_and_bad_lengths() {
        let v = vector();
        for n in 0..v.len() {
            assert!(FixedHeaderView::new_checked(&v[..n]).is_err());
        }
        let mut bad = v.clone();
        bad[11] = 19;
        assert!(FixedHeaderView::new_checked(&bad[..]).is_err());
        let mut bad = v;
        bad[15] = 3;
        assert!(FixedHeaderView::new_checked(&bad[..]).is_err());
    }
}

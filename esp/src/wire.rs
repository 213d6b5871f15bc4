//! ESP packet layout for AES-GCM (RFC 4303 §2, RFC 4106 §3): header view and sizes.
//!
//! Parsing is total: every input gives `Ok` or a typed [`WireError`], never a panic.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ^
//! |               Security Parameters Index (SPI)                 |  | AAD (with the
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  | ESN high half
//! |                Sequence Number (low 32 bits)                  |  v in between)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Explicit IV (8 bytes; here the 64-bit seq)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ^
//! ~        Payload (next_header) ~ TFC padding ~ Padding 1,2,3..  ~  | encrypted
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |
//! |                               |  Pad Length   | Next Header   |  v
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     ICV (16 bytes)                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
#![warn(clippy::cast_possible_truncation)]

use crate::error::WireError;

/// SPI and sequence number.
pub const HEADER_LEN: usize = 8;
/// The explicit IV of RFC 4106 §3.1.
pub const IV_LEN: usize = 8;
/// Pad length and next header.
pub const TRAILER_LEN: usize = 2;
/// The AES-GCM ICV length this crate uses (RFC 4106 §3.3: the 16-byte ICV).
pub const ICV_LEN: usize = 16;
/// Bytes in front of the payload in a sealed packet: SPI, sequence number, IV.
pub const HEADROOM: usize = HEADER_LEN + IV_LEN;
/// The smallest well-formed ESP/AES-GCM packet: header, IV, trailer, ICV.
pub const MIN_PACKET_LEN: usize = HEADROOM + TRAILER_LEN + ICV_LEN;
/// Next header 59: "no next header", used for dummy packets (RFC 4303 §2.6).
pub const NEXT_HEADER_NONE: u8 = 59;
/// Next header 4: an IPv4 packet (tunnel mode).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next header 41: an IPv6 packet (tunnel mode).
pub const NEXT_HEADER_IPV6: u8 = 41;

mod field {
    use core::ops::Range;
    pub(super) const SPI: Range<usize> = 0..4;
    pub(super) const SEQ: Range<usize> = 4..8;
    pub(super) const IV: Range<usize> = 8..16;
}

/// A read (and, for `T: AsMut<[u8]>`, write) view of an ESP/AES-GCM packet.
///
/// [`EspPacket::new_checked`] checks the length once; the getters are infallible after that.
#[derive(Debug, Clone, Copy)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Wraps `buf` after checking it can hold the smallest ESP/AES-GCM packet.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when `buf` is shorter than [`MIN_PACKET_LEN`].
    ///
    /// ```
    /// use esp::wire::EspPacket;
    /// let mut bytes = [0u8; 40];
    /// bytes[..8].copy_from_slice(&[0, 0, 0x12, 0x34, 0, 0, 0, 7]);
    /// let p = EspPacket::new_checked(&bytes[..])?;
    /// assert_eq!((p.spi(), p.seq()), (0x1234, 7));
    /// assert!(EspPacket::new_checked(&bytes[..33]).is_err());
    /// # Ok::<(), esp::WireError>(())
    /// ```
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let have = buf.as_ref().len();
        if have < MIN_PACKET_LEN {
            return Err(WireError::Truncated {
                what: "esp packet",
                need: MIN_PACKET_LEN,
                have,
            });
        }
        Ok(Self { buf })
    }

    /// Wraps the first [`HEADROOM`] bytes of a packet being built; the setters write
    /// through it. Getters of parts beyond `buf` return zeros.
    pub(crate) fn new_unchecked_header(buf: T) -> Self {
        Self { buf }
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        read_u32(self.buf.as_ref(), field::SPI.start)
    }

    /// The low 32 bits of the sequence number, as on the wire.
    pub fn seq(&self) -> u32 {
        read_u32(self.buf.as_ref(), field::SEQ.start)
    }

    /// The 8-byte explicit IV.
    pub fn iv(&self) -> [u8; IV_LEN] {
        let mut iv = [0u8; IV_LEN];
        if let Some(s) = self.buf.as_ref().get(field::IV) {
            iv.copy_from_slice(s);
        }
        iv
    }

    /// The encrypted part (payload, padding, trailer), between IV and ICV.
    pub fn ciphertext(&self) -> &[u8] {
        let b = self.buf.as_ref();
        b.get(HEADROOM..b.len() - ICV_LEN).unwrap_or(&[])
    }

    /// The 16-byte ICV at the end.
    pub fn icv(&self) -> [u8; ICV_LEN] {
        let b = self.buf.as_ref();
        let mut icv = [0u8; ICV_LEN];
        if let Some(s) = b.get(b.len() - ICV_LEN..) {
            icv.copy_from_slice(s);
        }
        icv
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EspPacket<T> {
    /// Writes the SPI.
    pub fn set_spi(&mut self, spi: u32) {
        write_u32(self.buf.as_mut(), field::SPI.start, spi);
    }

    /// Writes the low 32 bits of the sequence number.
    pub fn set_seq(&mut self, seq: u32) {
        write_u32(self.buf.as_mut(), field::SEQ.start, seq);
    }

    /// Writes the explicit IV.
    pub fn set_iv(&mut self, iv: [u8; IV_LEN]) {
        if let Some(s) = self.buf.as_mut().get_mut(field::IV) {
            s.copy_from_slice(&iv);
        }
    }
}

/// Reads the SPI of an ESP packet, for SAD lookup.
///
/// # Errors
/// [`WireError::Truncated`] for fewer than [`MIN_PACKET_LEN`] bytes;
/// [`WireError::BadValue`] for SPI 0, which RFC 4303 §2.1 forbids on the wire.
pub fn spi_of(packet: &[u8]) -> Result<u32, WireError> {
    let spi = EspPacket::new_checked(packet)?.spi();
    if spi == 0 {
        return Err(WireError::BadValue {
            what: "esp spi",
            value: 0,
        });
    }
    Ok(spi)
}

/// The number of padding bytes RFC 4303 §2.4 needs after `len` bytes of payload (TFC padding
/// included) so that payload, padding and the 2-byte trailer end on a 4-byte boundary.
pub const fn pad_len(len: usize) -> usize {
    (4 - (len + TRAILER_LEN) % 4) % 4
}

/// The size of the sealed packet for a payload of `len` bytes (TFC padding included).
pub const fn sealed_len(len: usize) -> usize {
    HEADROOM + len + pad_len(len) + TRAILER_LEN + ICV_LEN
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn write_u32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // draft-mcgrew-gcm-test-01 case 2: SPI 0x0000a5f8, seq 0x0a, IV facedbaddecaf888.
    const HDR: [u8; 16] = [
        0x00, 0x00, 0xa5, 0xf8, 0x00, 0x00, 0x00, 0x0a, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8,
        0x88,
    ];

    fn packet() -> Vec<u8> {
        let mut v = HDR.to_vec();
        v.extend_from_slice(&[0xee; 4 + ICV_LEN]);
        v
    }

    #[test]
    fn deconstruct() {
        let v = packet();
        let p = EspPacket::new_checked(&v[..]).unwrap();
        assert_eq!(p.spi(), 0xa5f8);
        assert_eq!(p.seq(), 10);
        assert_eq!(p.iv(), [0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88]);
        assert_eq!(p.ciphertext(), &[0xee; 4]);
        assert_eq!(p.icv(), [0xee; 16]);
    }

    #[test]
    fn construct() {
        let mut v = [0u8; 36];
        let mut p = EspPacket::new_checked(&mut v[..]).unwrap();
        p.set_spi(0xa5f8);
        p.set_seq(10);
        p.set_iv([0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88]);
        assert_eq!(&v[..16], &HDR);
    }

    #[test]
    fn truncation_at_every_length() {
        let v = packet();
        for n in 0..MIN_PACKET_LEN {
            assert!(EspPacket::new_checked(&v[..n]).is_err(), "len {n}");
            assert!(spi_of(&v[..n]).is_err());
        }
        assert!(EspPacket::new_checked(&v[..MIN_PACKET_LEN]).is_ok());
    }

    #[test]
    fn spi_zero_rejected() {
        let v = [0u8; MIN_PACKET_LEN];
        assert!(matches!(spi_of(&v), Err(WireError::BadValue { .. })));
    }

    #[test]
    fn padding_aligns_to_four() {
        for len in 0..64 {
            assert_eq!((len + pad_len(len) + TRAILER_LEN) % 4, 0);
            assert!(pad_len(len) < 4);
            assert_eq!(sealed_len(len) % 4, 0);
        }
    }
}

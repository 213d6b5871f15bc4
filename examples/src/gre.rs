//! GRE (RFC 2784) as the FlexVPN tunnel interface uses it: the key-less header, carrying IPv4
//! (protocol type 0x0800) or NHRP (0x2001), with the optional checksum.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|       Reserved0       | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Reserved1 (Optional)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! ```
//! use flexvpn_router::gre::{Gre, PROTO_IPV4};
//! let bytes = Gre { protocol: PROTO_IPV4, checksum: false }.encapsulate(b"inner");
//! let (hdr, inner) = Gre::decapsulate(&bytes).unwrap();
//! assert_eq!((hdr.protocol, inner), (PROTO_IPV4, &b"inner"[..]));
//! ```

use crate::ipv4::{WireError, checksum};

/// Protocol type of IPv4.
pub const PROTO_IPV4: u16 = 0x0800;
/// Protocol type of NHRP (as Cisco DMVPN sends it).
pub const PROTO_NHRP: u16 = 0x2001;

/// A GRE header (RFC 2784; version 0; no key or sequence number, RFC 2890 bits must be clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gre {
    /// The protocol type of the payload.
    pub protocol: u16,
    /// Whether the checksum field is present (C bit).
    pub checksum: bool,
}

impl Gre {
    /// The header length in bytes.
    pub fn header_len(&self) -> usize {
        if self.checksum { 8 } else { 4 }
    }

    /// Prepend the header to `payload`.
    pub fn encapsulate(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header_len() + payload.len());
        out.extend_from_slice(&[if self.checksum { 0x80 } else { 0 }, 0]);
        out.extend_from_slice(&self.protocol.to_be_bytes());
        if self.checksum {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.extend_from_slice(payload);
            let c = checksum(&out);
            out[4..6].copy_from_slice(&c.to_be_bytes());
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// Parse the header and return it with the payload. RFC 2784 section 2.5: a version other
    /// than 0, or reserved bits 1-5 set (key, sequence, routing) are not accepted; a present
    /// checksum must verify.
    ///
    /// # Errors
    /// [`WireError`] when truncated, of another version, with unsupported flags or a bad checksum.
    pub fn decapsulate(packet: &[u8]) -> Result<(Self, &[u8]), WireError> {
        let h = packet.get(..4).ok_or(WireError::Truncated {
            what: "gre header",
            need: 4,
            have: packet.len(),
        })?;
        let flags = u16::from_be_bytes([h[0], h[1]]);
        let version = flags & 0x7;
        if version != 0 {
            return Err(WireError::Unsupported {
                what: "gre version",
                value: u32::from(version),
            });
        }
        if flags & 0x7ff8 != 0 {
            return Err(WireError::Unsupported {
                what: "gre flags",
                value: u32::from(flags),
            });
        }
        let hdr = Self {
            protocol: u16::from_be_bytes([h[2], h[3]]),
            checksum: flags & 0x8000 != 0,
        };
        let payload = packet
            .get(hdr.header_len()..)
            .ok_or_else(|| WireError::Truncated {
                what: "gre checksum",
                need: hdr.header_len(),
                have: packet.len(),
            })?;
        if hdr.checksum && checksum(packet) != 0 {
            return Err(WireError::Unsupported {
                what: "gre checksum",
                value: u32::from(u16::from_be_bytes([packet[4], packet[5]])),
            });
        }
        Ok((hdr, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyless_header_bytes() {
        let b = Gre {
            protocol: PROTO_IPV4,
            checksum: false,
        }
        .encapsulate(&[0x45, 0]);
        assert_eq!(b, [0, 0, 0x08, 0x00, 0x45, 0]);
        let n = Gre {
            protocol: PROTO_NHRP,
            checksum: false,
        }
        .encapsulate(&[]);
        assert_eq!(n, [0, 0, 0x20, 0x01]);
    }

    #[test]
    fn checksum_round_trip_and_corruption() {
        let g = Gre {
            protocol: PROTO_IPV4,
            checksum: true,
        };
        let mut b = g.encapsulate(b"abcde");
        assert_eq!(b[0], 0x80);
        let (h, p) = Gre::decapsulate(&b).unwrap();
        assert_eq!((h, p), (g, &b"abcde"[..]));
        b[9] ^= 1;
        assert!(Gre::decapsulate(&b).is_err());
    }

    #[test]
    fn rejects_versions_flags_and_truncation() {
        assert!(matches!(
            Gre::decapsulate(&[0, 1, 8, 0]),
            Err(WireError::Unsupported {
                what: "gre version",
                ..
            })
        ));
        assert!(matches!(
            Gre::decapsulate(&[0x20, 0, 8, 0, 1, 2, 3, 4]),
            Err(WireError::Unsupported {
                what: "gre flags",
                ..
            })
        ));
        let b = Gre {
            protocol: PROTO_IPV4,
            checksum: true,
        }
        .encapsulate(b"");
        for n in 0..b.len() {
            assert!(Gre::decapsulate(&b[..n]).is_err());
        }
        assert!(Gre::decapsulate(&b).is_ok());
    }
}

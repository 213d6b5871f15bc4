//! UDP encapsulation of ESP (RFC 3948) on port 4500, shared with IKE.
//!
//! On port 4500 one UDP payload is one of three things (RFC 3948 §2.2, §2.3, §4):
//!
//! ```text
//! +----+                                   NAT keepalive: one byte 0xFF
//! |0xFF|
//! +----+----+----+----+------------+
//! | 00   00   00   00 | IKE message|       non-ESP marker (4 zero bytes), then IKE
//! +----+----+----+----+------------+
//! |  SPI (non-zero)   | seq | ...  |       ESP packet, as without UDP
//! +-------------------+------------+
//! ```
//!
//! The sans-IO caller owns the socket: these helpers classify what it received and build
//! what it sends. [`UdpHeader`] exists for callers that build whole datagrams (raw sockets,
//! pcaps).

use bytes::{BufMut, BytesMut};

use crate::error::WireError;
use crate::wire::MIN_PACKET_LEN;

/// The IANA port of IKE and ESP-in-UDP (RFC 3948 §2.1).
pub const ESP_IN_UDP_PORT: u16 = 4500;
/// The non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT keepalive payload (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];
/// The UDP header length.
pub const UDP_HEADER_LEN: usize = 8;

/// What a UDP payload received on port 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified<'a> {
    /// A NAT keepalive: ignore it (it only refreshes the NAT mapping).
    NatKeepalive,
    /// An IKE message, with the non-ESP marker removed.
    Ike(&'a [u8]),
    /// An ESP packet (from its SPI on).
    Esp(&'a [u8]),
}

/// Sorts a UDP payload received on port 4500 into keepalive, IKE or ESP.
///
/// # Errors
/// [`WireError::Truncated`] for a payload too short for any of them (an empty one, a 1-byte
/// one other than 0xFF, a marker with nothing after it, or an ESP packet shorter than
/// [`MIN_PACKET_LEN`]).
///
/// ```
/// use esp::udp_encap::{classify, Classified};
/// assert_eq!(classify(&[0xff]), Ok(Classified::NatKeepalive));
/// let ike = [0, 0, 0, 0, 0x11, 0x22];
/// assert_eq!(classify(&ike), Ok(Classified::Ike(&ike[4..])));
/// let esp = [0x12; 40];
/// assert_eq!(classify(&esp), Ok(Classified::Esp(&esp[..])));
/// assert!(classify(&[]).is_err());
/// ```
pub fn classify(payload: &[u8]) -> Result<Classified<'_>, WireError> {
    match payload {
        [0xff] => Ok(Classified::NatKeepalive),
        [0, 0, 0, 0, ike @ ..] => {
            if ike.is_empty() {
                Err(WireError::Truncated {
                    what: "ike after non-esp marker",
                    need: 1,
                    have: 0,
                })
            } else {
                Ok(Classified::Ike(ike))
            }
        }
        esp if esp.len() >= MIN_PACKET_LEN => Ok(Classified::Esp(esp)),
        other => Err(WireError::Truncated {
            what: "esp-in-udp payload",
            need: MIN_PACKET_LEN,
            have: other.len(),
        }),
    }
}

/// Whether `payload` is exactly a NAT keepalive.
pub fn is_nat_keepalive(payload: &[u8]) -> bool {
    payload == NAT_KEEPALIVE
}

/// Writes an IKE message behind the non-ESP marker into `out` (cleared first), ready to send
/// on port 4500.
pub fn encode_ike(ike: &[u8], out: &mut BytesMut) {
    out.clear();
    out.reserve(NON_ESP_MARKER.len() + ike.len());
    out.put_slice(&NON_ESP_MARKER);
    out.put_slice(ike);
}

/// The 8-byte UDP header (RFC 768). For ESP-in-UDP over IPv4 the checksum is sent as zero
/// (RFC 3948 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length of header and payload.
    pub length: u16,
    /// Checksum (0: none).
    pub checksum: u16,
}

impl UdpHeader {
    /// Parses the header at the start of `datagram` and returns it with the payload, cut to the
    /// header's length field.
    ///
    /// # Errors
    /// [`WireError::Truncated`] for fewer than 8 bytes or a payload shorter than the length
    /// field says; [`WireError::BadValue`] for a length field below 8.
    pub fn parse(datagram: &[u8]) -> Result<(Self, &[u8]), WireError> {
        let Some((h, rest)) = datagram.split_first_chunk::<UDP_HEADER_LEN>() else {
            return Err(WireError::Truncated {
                what: "udp header",
                need: UDP_HEADER_LEN,
                have: datagram.len(),
            });
        };
        let hdr = Self {
            src_port: u16::from_be_bytes([h[0], h[1]]),
            dst_port: u16::from_be_bytes([h[2], h[3]]),
            length: u16::from_be_bytes([h[4], h[5]]),
            checksum: u16::from_be_bytes([h[6], h[7]]),
        };
        let body_len = usize::from(hdr.length)
            .checked_sub(UDP_HEADER_LEN)
            .ok_or_else(|| WireError::BadValue {
                what: "udp length",
                value: u64::from(hdr.length),
            })?;
        let payload = rest.get(..body_len).ok_or(WireError::Truncated {
            what: "udp payload",
            need: body_len,
            have: rest.len(),
        })?;
        Ok((hdr, payload))
    }

    /// The header bytes.
    pub fn to_bytes(&self) -> [u8; UDP_HEADER_LEN] {
        let mut b = [0u8; UDP_HEADER_LEN];
        for (dst, v) in
            b.chunks_exact_mut(2)
                .zip([self.src_port, self.dst_port, self.length, self.checksum])
        {
            dst.copy_from_slice(&v.to_be_bytes());
        }
        b
    }
}

/// Builds a whole UDP datagram (header with zero checksum, then `payload`) into `out`.
///
/// # Errors
/// [`WireError::BadValue`] when the datagram would exceed 65 535 bytes.
pub fn encode_udp(
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), WireError> {
    let length =
        u16::try_from(UDP_HEADER_LEN + payload.len()).map_err(|_| WireError::BadValue {
            what: "udp length",
            value: (UDP_HEADER_LEN + payload.len()) as u64,
        })?;
    let hdr = UdpHeader {
        src_port,
        dst_port,
        length,
        checksum: 0,
    };
    out.clear();
    out.reserve(usize::from(length));
    out.put_slice(&hdr.to_bytes());
    out.put_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_edges() {
        assert!(classify(&[]).is_err());
        assert!(classify(&[0]).is_err());
        assert!(classify(&[0xfe]).is_err());
        assert!(classify(&[0xff, 0xff]).is_err());
        assert!(classify(&[0, 0, 0, 0]).is_err());
        assert_eq!(classify(&[0, 0, 0, 0, 1]), Ok(Classified::Ike(&[1])));
        let esp = [1u8; MIN_PACKET_LEN];
        assert_eq!(classify(&esp), Ok(Classified::Esp(&esp)));
        assert!(classify(&esp[..MIN_PACKET_LEN - 1]).is_err());
        assert!(is_nat_keepalive(&[0xff]));
        assert!(!is_nat_keepalive(&[0xff, 0]));
    }

    #[test]
    fn ike_roundtrip() {
        let mut out = BytesMut::new();
        encode_ike(b"ike!", &mut out);
        assert_eq!(&out[..], b"\0\0\0\0ike!");
        assert_eq!(classify(&out), Ok(Classified::Ike(b"ike!")));
    }

    #[test]
    fn udp_roundtrip_and_truncation() {
        let mut out = BytesMut::new();
        encode_udp(4500, 4501, &[0xff], &mut out).unwrap();
        assert_eq!(&out[..], &[0x11, 0x94, 0x11, 0x95, 0, 9, 0, 0, 0xff]);
        let (h, p) = UdpHeader::parse(&out).unwrap();
        assert_eq!(
            (h.src_port, h.dst_port, h.length, h.checksum),
            (4500, 4501, 9, 0)
        );
        assert_eq!(p, &[0xff]);
        assert_eq!(h.to_bytes(), out[..8]);
        for n in 0..out.len() {
            assert!(UdpHeader::parse(&out[..n]).is_err(), "{n}");
        }
        let bad = [0, 1, 0, 2, 0, 7, 0, 0];
        assert!(matches!(
            UdpHeader::parse(&bad),
            Err(WireError::BadValue { .. })
        ));
        assert!(encode_udp(1, 2, &vec![0; 65528], &mut out).is_err());
        assert!(encode_udp(1, 2, &vec![0; 65527], &mut out).is_ok());
    }
}

//! The Traffic Indication (packet type 8): the DMVPN redirect.
//!
//! A hub that forwards a data packet back out of the NHRP network it came in on sends this to
//! the packet's source, quoting the start of the data packet (its IP header and the first
//! bytes after it). The receiving spoke reads the quoted destination address and resolves it.
//! The mandatory part's request-ID octets hold `unused(2) traffic code(2) unused(2)`; traffic
//! code 0 is "redirect".

use std::net::Ipv4Addr;

/// Traffic code of a redirect.
pub const TRAFFIC_CODE_REDIRECT: u16 = 0;

/// Bytes of the data packet quoted after its IP header.
pub const QUOTE_AFTER_HEADER: usize = 8;

/// The body of a Traffic Indication.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TrafficIndication {
    /// The octets in the flags position, kept for exact round trips.
    pub unused: u16,
    /// Traffic code (0: redirect).
    pub traffic_code: u16,
    /// The octets after the traffic code, kept for exact round trips.
    pub unused2: u16,
    /// The start of the data packet that caused the indication.
    pub quoted: Vec<u8>,
}

impl TrafficIndication {
    /// A redirect quoting `packet`: its IPv4 header (by IHL) and up to 8 more bytes.
    pub fn redirect(packet: &[u8]) -> Self {
        let hl = packet
            .first()
            .map_or(0, |b| usize::from(b & 0x0f) * 4)
            .max(20);
        let n = packet.len().min(hl + QUOTE_AFTER_HEADER);
        Self {
            unused: 0,
            traffic_code: TRAFFIC_CODE_REDIRECT,
            unused2: 0,
            quoted: packet.get(..n).unwrap_or_default().to_vec(),
        }
    }

    /// The (source, destination) of the quoted packet, if it is IPv4.
    pub fn quoted_ipv4(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        ipv4_src_dst(&self.quoted)
    }
}

/// The source and destination of an IPv4 header (version 4, at least 20 bytes).
pub fn ipv4_src_dst(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let v = packet.first()? >> 4;
    if v != 4 {
        return None;
    }
    let s: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    Some((Ipv4Addr::from(s), Ipv4Addr::from(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_quotes_header_and_eight_bytes() {
        let mut p = vec![0x45, 0, 0, 60, 0, 0, 0, 0, 64, 1, 0, 0];
        p.extend_from_slice(&[192, 168, 1, 10, 192, 168, 2, 20]);
        p.extend_from_slice(&[0xaa; 40]);
        let t = TrafficIndication::redirect(&p);
        assert_eq!(t.quoted.len(), 28);
        assert_eq!(
            t.quoted_ipv4(),
            Some((
                Ipv4Addr::new(192, 168, 1, 10),
                Ipv4Addr::new(192, 168, 2, 20)
            ))
        );
        assert_eq!(ipv4_src_dst(&p[..19]), None);
        assert_eq!(ipv4_src_dst(&[0x60; 40]), None);
    }
}

//! IPv4, UDP, TCP-MSS and ICMP helpers for the router's data plane (RFC 791, 768, 792, 879).
//!
//! Parsing is total: every input gives `Ok` or a typed [`WireError`]; no length from the wire
//! is trusted before it is checked against the buffer.

use std::net::Ipv4Addr;

/// A malformed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than what `what` needs.
    #[error("{what}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A length field is out of range.
    #[error("{what}: length field {len} out of range")]
    BadLength {
        /// The structure being read.
        what: &'static str,
        /// The length found.
        len: usize,
    },
    /// A field holds a value this code does not accept (IP version, GRE version, flags).
    #[error("{what}: unsupported value {value:#x}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u32,
    },
}

/// IP protocol numbers used here.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IPv4 in IPv4 (the ESP next header of tunnel mode).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ESP.
    pub const ESP: u8 = 50;
}

/// The Internet checksum (RFC 1071) of `data`, folded and complemented.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    #[allow(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
    let r = acc as u16;
    r
}

/// The parsed fixed fields of an IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Header length in bytes (20 to 60).
    pub header_len: usize,
    /// Total length of the packet in bytes.
    pub total_len: usize,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment flag.
    pub dont_fragment: bool,
    /// Time to live.
    pub ttl: u8,
    /// The payload protocol.
    pub protocol: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
}

impl Ipv4Header {
    /// Parse and check the header at the start of `packet`: version 4, a header length within
    /// the buffer, a total length within the buffer and not below the header length.
    ///
    /// # Errors
    /// [`WireError`] on any inconsistency.
    pub fn parse(packet: &[u8]) -> Result<Self, WireError> {
        let b = packet.get(..20).ok_or(WireError::Truncated {
            what: "ipv4 header",
            need: 20,
            have: packet.len(),
        })?;
        if b[0] >> 4 != 4 {
            return Err(WireError::Unsupported {
                what: "ip version",
                value: u32::from(b[0] >> 4),
            });
        }
        let header_len = usize::from(b[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if header_len < 20 || header_len > packet.len() {
            return Err(WireError::BadLength {
                what: "ipv4 header length",
                len: header_len,
            });
        }
        if total_len < header_len || total_len > packet.len() {
            return Err(WireError::BadLength {
                what: "ipv4 total length",
                len: total_len,
            });
        }
        Ok(Self {
            header_len,
            total_len,
            ident: u16::from_be_bytes([b[4], b[5]]),
            dont_fragment: b[6] & 0x40 != 0,
            ttl: b[8],
            protocol: b[9],
            src: Ipv4Addr::new(b[12], b[13], b[14], b[15]),
            dst: Ipv4Addr::new(b[16], b[17], b[18], b[19]),
        })
    }
}

/// Build an IPv4 packet (20-byte header, DF set, checksum filled) around `payload`.
///
/// # Errors
/// [`WireError::BadLength`] if the packet would exceed 65535 bytes.
pub fn build(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    ident: u16,
    payload: &[u8],
) -> Result<Vec<u8>, WireError> {
    let total = payload.len() + 20;
    let total16 = u16::try_from(total).map_err(|_| WireError::BadLength {
        what: "ipv4 total length",
        len: total,
    })?;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total16.to_be_bytes());
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, ttl, protocol, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    Ok(p)
}

/// Decrement the TTL of the packet in place and patch the header checksum (RFC 1624).
/// Returns `false` (and leaves the packet alone) if the TTL is already 0 or 1.
///
/// # Errors
/// [`WireError`] if the header does not parse.
pub fn decrement_ttl(packet: &mut [u8]) -> Result<bool, WireError> {
    let h = Ipv4Header::parse(packet)?;
    if h.ttl <= 1 {
        return Ok(false);
    }
    packet[8] = h.ttl - 1;
    packet[10] = 0;
    packet[11] = 0;
    let c = checksum(&packet[..h.header_len]);
    packet[10..12].copy_from_slice(&c.to_be_bytes());
    Ok(true)
}

/// Whether the IPv4 header checksum of `packet` is right.
pub fn header_checksum_ok(packet: &[u8]) -> bool {
    Ipv4Header::parse(packet).is_ok_and(|h| checksum(&packet[..h.header_len]) == 0)
}

fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u32 {
    let mut acc = sum(&src.octets(), 0);
    acc = sum(&dst.octets(), acc);
    acc = acc.wrapping_add(u32::from(protocol));
    acc.wrapping_add(u32::try_from(len).unwrap_or(u32::MAX))
}

/// Build a UDP datagram (header + payload) with its checksum over the pseudo-header.
///
/// # Errors
/// [`WireError::BadLength`] if it would exceed 65535 bytes.
pub fn build_udp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
) -> Result<Vec<u8>, WireError> {
    let len = payload.len() + 8;
    let len16 = u16::try_from(len).map_err(|_| WireError::BadLength {
        what: "udp length",
        len,
    })?;
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len16.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut c = !fold(sum(&u, pseudo_header_sum(src, dst, proto::UDP, len)));
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    Ok(u)
}

/// A parsed UDP header: ports and the payload range inside the IP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// The payload.
    pub payload: &'a [u8],
}

/// Parse a UDP datagram (the IP payload).
///
/// # Errors
/// [`WireError`] if it is shorter than its header or its length field.
pub fn parse_udp(datagram: &[u8]) -> Result<Udp<'_>, WireError> {
    let h = datagram.get(..8).ok_or(WireError::Truncated {
        what: "udp header",
        need: 8,
        have: datagram.len(),
    })?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if len < 8 || len > datagram.len() {
        return Err(WireError::BadLength {
            what: "udp length",
            len,
        });
    }
    Ok(Udp {
        sport: u16::from_be_bytes([h[0], h[1]]),
        dport: u16::from_be_bytes([h[2], h[3]]),
        payload: datagram.get(8..len).unwrap_or_default(),
    })
}

/// Clamp the MSS option of a TCP SYN inside the IPv4 `packet` to `mss` (`ip tcp adjust-mss`),
/// patching the TCP checksum. Returns whether the packet was changed.
///
/// Non-TCP packets, non-SYN segments, fragments and segments without an MSS option, or with one
/// already at or below `mss`, are left alone.
///
/// # Errors
/// [`WireError`] if the IPv4 or TCP header is malformed.
pub fn clamp_tcp_mss(packet: &mut [u8], mss: u16) -> Result<bool, WireError> {
    let h = Ipv4Header::parse(packet)?;
    let frag = u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff;
    if h.protocol != proto::TCP || frag != 0 {
        return Ok(false);
    }
    let tcp_len = h.total_len - h.header_len;
    let tcp = packet
        .get_mut(h.header_len..h.total_len)
        .ok_or(WireError::BadLength {
            what: "ipv4 total length",
            len: h.total_len,
        })?;
    if tcp.len() < 20 {
        return Err(WireError::Truncated {
            what: "tcp header",
            need: 20,
            have: tcp.len(),
        });
    }
    let data_off = usize::from(tcp[12] >> 4) * 4;
    if data_off < 20 || data_off > tcp.len() {
        return Err(WireError::BadLength {
            what: "tcp data offset",
            len: data_off,
        });
    }
    if tcp[13] & 0x02 == 0 {
        return Ok(false);
    }
    let mut i = 20;
    while i < data_off {
        match tcp[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let Some(&olen) = tcp.get(i + 1) else { break };
                let olen = usize::from(olen);
                if olen < 2 || i + olen > data_off {
                    return Err(WireError::BadLength {
                        what: "tcp option length",
                        len: olen,
                    });
                }
                if kind == 2 && olen == 4 {
                    let cur = u16::from_be_bytes([tcp[i + 2], tcp[i + 3]]);
                    if cur <= mss {
                        return Ok(false);
                    }
                    tcp[i + 2..i + 4].copy_from_slice(&mss.to_be_bytes());
                    tcp[16] = 0;
                    tcp[17] = 0;
                    let c = !fold(sum(
                        tcp,
                        pseudo_header_sum(h.src, h.dst, proto::TCP, tcp_len),
                    ));
                    tcp[16..18].copy_from_slice(&c.to_be_bytes());
                    return Ok(true);
                }
                i += olen;
            }
        }
    }
    Ok(false)
}

/// Build an ICMP echo request or reply (type 8 or 0) message with its checksum.
pub fn build_icmp_echo(request: bool, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + data.len());
    m.extend_from_slice(&[if request { 8 } else { 0 }, 0, 0, 0]);
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Build an ICMP "destination unreachable, fragmentation needed" (type 3 code 4, RFC 1191)
/// quoting the first bytes of `original`, for path-MTU discovery.
pub fn build_icmp_frag_needed(next_hop_mtu: u16, original: &[u8]) -> Vec<u8> {
    let quote = original.get(..28).unwrap_or(original);
    let mut m = Vec::with_capacity(8 + quote.len());
    m.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
    m.extend_from_slice(&next_hop_mtu.to_be_bytes());
    m.extend_from_slice(quote);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// RFC 1071 section 3 example bytes: the one's-complement sum is 0xddf2.
    #[test]
    fn checksum_rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data, 0)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    /// A header from a real capture (Wikipedia's worked example of the IPv4 checksum).
    #[test]
    fn checksum_known_header() {
        let h = hex::decode("450000730000400040110000c0a80001c0a800c7").unwrap();
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn build_parse_round_trip_and_ttl() {
        let mut p = build(a("10.0.0.1"), a("10.0.0.2"), proto::UDP, 64, 7, b"hello").unwrap();
        assert!(header_checksum_ok(&p));
        let h = Ipv4Header::parse(&p).unwrap();
        assert_eq!(
            (h.src, h.dst, h.protocol, h.ttl, h.total_len),
            (a("10.0.0.1"), a("10.0.0.2"), 17, 64, 25)
        );
        assert!(h.dont_fragment);
        assert!(decrement_ttl(&mut p).unwrap());
        assert_eq!(Ipv4Header::parse(&p).unwrap().ttl, 63);
        assert!(header_checksum_ok(&p));
        p[8] = 1;
        assert!(!decrement_ttl(&mut p).unwrap());
    }

    #[test]
    fn truncation_at_every_length() {
        let udp = build_udp(a("1.1.1.1"), 4500, a("2.2.2.2"), 4500, b"payload").unwrap();
        let p = build(a("1.1.1.1"), a("2.2.2.2"), proto::UDP, 64, 1, &udp).unwrap();
        for n in 0..p.len() {
            assert!(Ipv4Header::parse(&p[..n]).is_err(), "{n}");
        }
        for n in 0..udp.len() {
            assert!(parse_udp(&udp[..n]).is_err(), "{n}");
        }
        let u = parse_udp(&udp).unwrap();
        assert_eq!((u.sport, u.dport, u.payload), (4500, 4500, &b"payload"[..]));
        // The UDP checksum verifies: summing with the pseudo-header gives all ones.
        assert_eq!(
            fold(sum(
                &udp,
                pseudo_header_sum(a("1.1.1.1"), a("2.2.2.2"), 17, udp.len())
            )),
            0xffff
        );
    }

    #[test]
    fn bad_lengths_are_errors() {
        let mut p = build(a("1.1.1.1"), a("2.2.2.2"), proto::UDP, 64, 1, &[0; 8]).unwrap();
        p[0] = 0x44;
        assert!(matches!(
            Ipv4Header::parse(&p),
            Err(WireError::BadLength { .. })
        ));
        p[0] = 0x4f;
        assert!(matches!(
            Ipv4Header::parse(&p),
            Err(WireError::BadLength { .. })
        ));
        p[0] = 0x65;
        assert!(matches!(
            Ipv4Header::parse(&p),
            Err(WireError::Unsupported { .. })
        ));
        p[0] = 0x45;
        p[2..4].copy_from_slice(&1000u16.to_be_bytes());
        assert!(matches!(
            Ipv4Header::parse(&p),
            Err(WireError::BadLength { .. })
        ));
    }

    fn syn(mss: u16) -> Vec<u8> {
        // 24-byte TCP header: ports, seq, ack, offset 6, SYN, window, csum, urg, MSS option.
        let mut t = vec![
            0x30, 0x39, 0x00, 0xb3, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        t.extend_from_slice(&[2, 4]);
        t.extend_from_slice(&mss.to_be_bytes());
        let c = !fold(sum(
            &t,
            pseudo_header_sum(a("192.168.11.10"), a("192.168.12.10"), proto::TCP, t.len()),
        ));
        t[16..18].copy_from_slice(&c.to_be_bytes());
        build(
            a("192.168.11.10"),
            a("192.168.12.10"),
            proto::TCP,
            64,
            1,
            &t,
        )
        .unwrap()
    }

    #[test]
    fn mss_is_clamped_with_a_valid_checksum() {
        let mut p = syn(1460);
        assert!(clamp_tcp_mss(&mut p, 1360).unwrap());
        assert_eq!(u16::from_be_bytes([p[42], p[43]]), 1360);
        let tcp = &p[20..];
        let total = fold(sum(
            tcp,
            pseudo_header_sum(a("192.168.11.10"), a("192.168.12.10"), 6, tcp.len()),
        ));
        assert_eq!(total, 0xffff, "tcp checksum must verify");
        // Already small enough: untouched.
        let mut q = syn(1200);
        let before = q.clone();
        assert!(!clamp_tcp_mss(&mut q, 1360).unwrap());
        assert_eq!(q, before);
        // Not a SYN: untouched.
        let mut r = syn(1460);
        r[33] = 0x10;
        assert!(!clamp_tcp_mss(&mut r, 1360).unwrap());
        // A bad option length is an error, not a panic.
        let mut s = syn(1460);
        s[41] = 9;
        assert!(clamp_tcp_mss(&mut s, 1360).is_err());
        for n in 0..syn(1460).len() {
            let mut t = syn(1460)[..n].to_vec();
            let _ = clamp_tcp_mss(&mut t, 1360);
        }
    }

    #[test]
    fn icmp_checksums_verify() {
        let e = build_icmp_echo(true, 1, 2, b"ping");
        assert_eq!(checksum(&e), 0);
        let f = build_icmp_frag_needed(1400, &[0x45; 40]);
        assert_eq!(checksum(&f), 0);
        assert_eq!(f.len(), 8 + 28);
    }
}

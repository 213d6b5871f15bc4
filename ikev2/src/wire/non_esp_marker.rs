//! The non-ESP marker on UDP port 4500 (RFC 3948 section 2.2, RFC 7296 section 2.23).
//!
//! On port 4500, IKE messages are prefixed with four zero octets so that they can be told
//! from ESP (whose SPI is never zero). A single 0xff octet is a NAT-keepalive.

/// The four-octet non-ESP marker.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// What a datagram received on port 4500 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram4500<'a> {
    /// An IKE message (marker stripped).
    Ike(&'a [u8]),
    /// An ESP packet (starts with a non-zero SPI).
    Esp(&'a [u8]),
    /// A NAT-keepalive (RFC 3948 section 2.3).
    Keepalive,
    /// Too short to be anything.
    Invalid,
}

/// Classifies a datagram received on port 4500.
pub fn classify_4500(d: &[u8]) -> Datagram4500<'_> {
    match d {
        [0xff] => Datagram4500::Keepalive,
        [0, 0, 0, 0, rest @ ..] => Datagram4500::Ike(rest),
        _ if d.len() >= 8 => Datagram4500::Esp(d),
        _ => Datagram4500::Invalid,
    }
}

/// Returns the IKE message with the marker in front, ready to send on port 4500.
pub fn prepend_non_esp_marker(ike: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ike.len() + 4);
    v.extend_from_slice(&NON_ESP_MARKER);
    v.extend_from_slice(ike);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        assert_eq!(classify_4500(&[0xff]), Datagram4500::Keepalive);
        let m = prepend_non_esp_marker(&[1, 2, 3]);
        assert_eq!(classify_4500(&m), Datagram4500::Ike(&[1, 2, 3]));
        assert_eq!(
            classify_4500(&[0, 0, 0, 1, 0, 0, 0, 1]),
            Datagram4500::Esp(&[0, 0, 0, 1, 0, 0, 0, 1])
        );
        assert_eq!(classify_4500(&[0, 0, 1]), Datagram4500::Invalid);
    }
}

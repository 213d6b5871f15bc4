//! The message header (RFC 4271 §4.1).
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Marker (16 octets of 0xff)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length (19..4096)    |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{HEADER_LEN, MAX_MESSAGE_LEN, registry};
use crate::error::WireError;

registry! {
    /// BGP message type.
    MessageType(u8) {
        /// OPEN.
        OPEN = 1,
        /// UPDATE.
        UPDATE = 2,
        /// NOTIFICATION.
        NOTIFICATION = 3,
        /// KEEPALIVE.
        KEEPALIVE = 4,
        /// ROUTE-REFRESH (RFC 2918).
        ROUTE_REFRESH = 5,
    }
}

/// The parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total message length including the header.
    pub length: u16,
    /// Message type.
    pub ty: MessageType,
}

impl Header {
    /// Parses and checks the first 19 bytes: marker all ones (1/1), length in 19..=4096 (1/2),
    /// type known (1/3).
    ///
    /// # Errors
    /// [`WireError::Truncated`] when fewer than 19 bytes are given, else the header errors.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let h = buf.get(..HEADER_LEN).ok_or(WireError::Truncated {
            what: "header",
            need: HEADER_LEN,
            have: buf.len(),
        })?;
        if h[..16].iter().any(|&b| b != 0xff) {
            return Err(WireError::BadMarker);
        }
        let length = u16::from_be_bytes([h[16], h[17]]);
        if usize::from(length) < HEADER_LEN || usize::from(length) > MAX_MESSAGE_LEN {
            return Err(WireError::BadMessageLength(length));
        }
        let ty = MessageType(h[18]);
        if ty.name().is_none() {
            return Err(WireError::BadMessageType(h[18]));
        }
        Ok(Self { length, ty })
    }

    /// Checks the per-type minimum and fixed lengths (RFC 4271 §6.1): OPEN >= 29,
    /// UPDATE >= 23, NOTIFICATION >= 21, KEEPALIVE == 19, ROUTE-REFRESH == 23.
    ///
    /// # Errors
    /// [`WireError::BadMessageLength`].
    pub fn check_min_len(&self) -> Result<(), WireError> {
        let l = self.length;
        let ok = match self.ty {
            MessageType::OPEN => l >= 29,
            MessageType::UPDATE => l >= 23,
            MessageType::NOTIFICATION => l >= 21,
            MessageType::KEEPALIVE => l == 19,
            MessageType::ROUTE_REFRESH => l == 23,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(WireError::BadMessageLength(l))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors() {
        let mut h = [0xffu8; 19];
        h[16] = 0;
        h[17] = 19;
        h[18] = 4;
        assert_eq!(
            Header::parse(&h).unwrap(),
            Header {
                length: 19,
                ty: MessageType::KEEPALIVE
            }
        );
        for n in 0..19 {
            assert!(Header::parse(&h[..n]).is_err());
        }
        let mut b = h;
        b[3] = 0;
        assert_eq!(Header::parse(&b), Err(WireError::BadMarker));
        let mut b = h;
        b[17] = 18;
        assert_eq!(Header::parse(&b), Err(WireError::BadMessageLength(18)));
        let mut b = h;
        b[18] = 9;
        assert_eq!(Header::parse(&b), Err(WireError::BadMessageType(9)));
        let mut b = h;
        b[16] = 0x10;
        b[17] = 1;
        assert_eq!(Header::parse(&b), Err(WireError::BadMessageLength(4097)));
    }
}

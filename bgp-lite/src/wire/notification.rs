//! NOTIFICATION (RFC 4271 §4.5) and the one mapping from [`WireError`] to it.
//!
//! ```text
//! +---------------+---------------+-------------------------------+
//! | Error code    | Error subcode |   Data (variable)             |
//! +---------------+---------------+-------------------------------+
//! ```

use super::registry;
use crate::error::WireError;

registry! {
    /// NOTIFICATION error code.
    ErrCode(u8) {
        /// Message Header Error.
        HEADER = 1,
        /// OPEN Message Error.
        OPEN = 2,
        /// UPDATE Message Error.
        UPDATE = 3,
        /// Hold Timer Expired.
        HOLD_TIMER = 4,
        /// Finite State Machine Error.
        FSM = 5,
        /// Cease.
        CEASE = 6,
        /// ROUTE-REFRESH Message Error (RFC 7313).
        ROUTE_REFRESH = 7,
    }
}

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Notification {
    /// Error code.
    pub code: ErrCode,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    pub data: Vec<u8>,
}

impl Notification {
    /// A notification without data.
    pub fn new(code: ErrCode, subcode: u8) -> Self {
        Self {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    /// Parses the body (at least 2 bytes).
    ///
    /// # Errors
    /// [`WireError::BadMessageLength`] when shorter than 2 bytes.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        match body {
            [code, subcode, data @ ..] => Ok(Self {
                code: ErrCode(*code),
                subcode: *subcode,
                data: data.to_vec(),
            }),
            _ => Err(WireError::BadMessageLength(
                u16::try_from(body.len() + 19).unwrap_or(u16::MAX),
            )),
        }
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.code.0);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
    }
}

impl From<&WireError> for Notification {
    /// The NOTIFICATION RFC 4271 §6 / RFC 7606 prescribe for `e`, with its data field:
    /// the bad length (1/2), the bad type (1/3), the supported version (2/1), the bad AS (2/2),
    /// the offending attribute (3/1, 3/2; its first 16 bytes).
    fn from(e: &WireError) -> Self {
        let (code, subcode) = e.code();
        let data = match e {
            WireError::BadMessageLength(l) => l.to_be_bytes().to_vec(),
            WireError::BadMessageType(t) => vec![*t],
            WireError::UnsupportedVersion(_) => vec![0, 4],
            WireError::BadPeerAs(a) => u16::try_from(*a).unwrap_or(23456).to_be_bytes().to_vec(),
            WireError::UnacceptableHoldTime(h) => h.to_be_bytes().to_vec(),
            WireError::UnrecognizedWellKnown { data, .. }
            | WireError::MalformedAttribute { data, .. } => data.as_slice().to_vec(),
            _ => Vec::new(),
        };
        Self {
            code,
            subcode,
            data,
        }
    }
}

impl core::fmt::Display for Notification {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "NOTIFICATION {}/{} {:?} ({} data bytes)",
            self.code.0,
            self.subcode,
            self.code,
            self.data.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeCtx, Message};

    #[test]
    fn notification_vector_and_mapping() {
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 23, 3, 1, 2, 0x10, 0x01]);
        let m = Message::parse(&want, &DecodeCtx::default()).unwrap();
        let n = Notification::from(&WireError::BadMessageLength(4097));
        assert_eq!(m, Message::Notification(n));
        assert_eq!(m.to_bytes(&DecodeCtx::default()).unwrap(), want);
        for n in 0..want.len() {
            assert!(Message::parse(&want[..n], &DecodeCtx::default()).is_err());
        }
        let n = Notification::from(&WireError::UnacceptableHoldTime(2));
        assert_eq!((n.code, n.subcode, n.data), (ErrCode::OPEN, 6, vec![0, 2]));
        let n = Notification::from(&WireError::BadMessageType(9));
        assert_eq!((n.code, n.subcode, n.data), (ErrCode::HEADER, 3, vec![9]));
    }
}

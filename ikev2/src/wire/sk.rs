//! The encrypted payload SK (RFC 7296 section 3.14) and the encrypted fragment payload
//! SKF (RFC 7383 section 2.5). The codec keeps the encrypted body opaque: the
//! [`crate::crypto`] module seals and opens it.
//!
//! ```text
//! SK:  | generic header (next = first inner payload) | IV | ciphertext | ICV |
//! SKF: | generic header | Fragment Number (2) | Total Fragments (2) | IV | ciphertext | ICV |
//! ```

use super::{PayloadType, Reader};
use crate::error::WireError;

/// Maximum fragments of one message (RFC 7383 leaves it open; we cap it).
pub const MAX_FRAGMENTS: u16 = 64;

/// An SK payload: the first inner payload type and the opaque IV || ciphertext || ICV.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Encrypted {
    /// Type of the first payload inside.
    pub first_inner: PayloadType,
    /// IV, ciphertext and ICV.
    pub body: Vec<u8>,
}

/// An SKF payload (one fragment of an SK payload).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EncryptedFragment {
    /// Fragment number, from 1.
    pub number: u16,
    /// Total fragments.
    pub total: u16,
    /// Type of the first inner payload (only in fragment 1; NONE in the others).
    pub first_inner: PayloadType,
    /// IV, ciphertext and ICV.
    pub body: Vec<u8>,
}

impl EncryptedFragment {
    /// Parses an SKF body.
    ///
    /// # Errors
    /// [`WireError::Truncated`]; RFC 7383 section 2.5: a fragment number of 0 or above the
    /// total, or a total above [`MAX_FRAGMENTS`], is [`WireError::InvalidValue`].
    pub fn parse(next: PayloadType, body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let number = r.u16("SKF payload")?;
        let total = r.u16("SKF payload")?;
        if number == 0 || number > total || total > MAX_FRAGMENTS {
            return Err(WireError::InvalidValue {
                what: "SKF fragment number",
                value: u32::from(number),
            });
        }
        Ok(Self {
            number,
            total,
            first_inner: next,
            body: r.rest().to_vec(),
        })
    }

    /// Appends the SKF body.
    ///
    /// # Errors
    /// The values parse refuses: [`WireError::InvalidValue`] naming `"SKF fragment number"`
    /// when the number is 0 or above the total, or `"SKF total fragments"` when the total is
    /// above [`MAX_FRAGMENTS`].
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        if self.total > MAX_FRAGMENTS {
            return Err(WireError::InvalidValue {
                what: "SKF total fragments",
                value: u32::from(self.total),
            });
        }
        if self.number == 0 || self.number > self.total {
            return Err(WireError::InvalidValue {
                what: "SKF fragment number",
                value: u32::from(self.number),
            });
        }
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&self.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skf() {
        let f = EncryptedFragment {
            number: 2,
            total: 3,
            first_inner: PayloadType::NONE,
            body: vec![9; 20],
        };
        let mut v = Vec::new();
        f.emit(&mut v).unwrap();
        assert_eq!(EncryptedFragment::parse(PayloadType::NONE, &v).unwrap(), f);
        for n in 0..4 {
            assert!(EncryptedFragment::parse(PayloadType::NONE, &v[..n]).is_err());
        }
        assert!(EncryptedFragment::parse(PayloadType::NONE, &[0, 4, 0, 3]).is_err());
        assert!(EncryptedFragment::parse(PayloadType::NONE, &[0, 0, 0, 3]).is_err());
    }

    #[test]
    fn skf_emit_refuses_what_parse_refuses() {
        let f = |number, total| EncryptedFragment {
            number,
            total,
            first_inner: PayloadType::NONE,
            body: vec![1; 8],
        };
        let num = |value| WireError::InvalidValue {
            what: "SKF fragment number",
            value,
        };
        let tot = |value| WireError::InvalidValue {
            what: "SKF total fragments",
            value,
        };
        let mut v = Vec::new();
        assert_eq!(f(0, 3).emit(&mut v), Err(num(0)));
        assert_eq!(f(4, 3).emit(&mut v), Err(num(4)));
        assert_eq!(f(0, 0).emit(&mut v), Err(num(0)));
        assert_eq!(f(1, MAX_FRAGMENTS + 1).emit(&mut v), Err(tot(65)));
        assert!(v.is_empty());
        // The edges that are valid round-trip.
        for g in [f(1, 1), f(MAX_FRAGMENTS, MAX_FRAGMENTS)] {
            let mut v = Vec::new();
            g.emit(&mut v).unwrap();
            assert_eq!(EncryptedFragment::parse(PayloadType::NONE, &v).unwrap(), g);
        }
    }
}

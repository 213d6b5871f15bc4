//! KEEPALIVE (RFC 4271 §4.4): a header with no body, length exactly 19.

use crate::error::WireError;

/// Checks a KEEPALIVE body: it must be empty.
///
/// # Errors
/// [`WireError::BadMessageLength`] when a body is present.
pub fn parse(body: &[u8]) -> Result<(), WireError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(WireError::BadMessageLength(
            u16::try_from(body.len() + 19).unwrap_or(u16::MAX),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::wire::{DecodeCtx, Message};

    #[test]
    fn keepalive_vector() {
        let v = Message::Keepalive.to_bytes(&DecodeCtx::default()).unwrap();
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 19, 4]);
        assert_eq!(v, want);
        assert_eq!(
            Message::parse(&v, &DecodeCtx::default()).unwrap(),
            Message::Keepalive
        );
        for n in 0..v.len() {
            assert!(Message::parse(&v[..n], &DecodeCtx::default()).is_err());
        }
    }
}

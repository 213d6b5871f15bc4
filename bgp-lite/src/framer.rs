//! Stream framing: bytes in any chunking, whole messages out.

use crate::error::WireError;
use crate::wire::{DecodeCtx, HEADER_LEN, Header, MAX_MESSAGE_LEN, Message};

/// Splits a byte stream into BGP messages.
///
/// The header (marker, length, type) is checked as soon as its 19 bytes are present, before
/// waiting for the body, so a bad length is refused without buffering it. The buffer never holds
/// more than one maximum message plus the last chunk pushed. After an error the framer stays
/// failed (the session is reset anyway).
///
/// ```
/// use bgp_lite::{Framer, wire::{DecodeCtx, Message}};
/// let bytes = Message::Keepalive.to_bytes(&DecodeCtx::default()).unwrap();
/// let mut f = Framer::new(DecodeCtx::default());
/// for b in &bytes {
///     assert_eq!(f.next().unwrap(), None);
///     f.push(std::slice::from_ref(b));
/// }
/// assert_eq!(f.next().unwrap(), Some(Message::Keepalive));
/// assert_eq!(f.next().unwrap(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    pos: usize,
    ctx: DecodeCtx,
    failed: Option<WireError>,
}

impl Framer {
    /// A framer decoding with `ctx`.
    pub fn new(ctx: DecodeCtx) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            ctx,
            failed: None,
        }
    }

    /// Changes the decode context (after the OPEN exchange).
    pub fn set_ctx(&mut self, ctx: DecodeCtx) {
        self.ctx = ctx;
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.pos > 0 && (self.pos >= self.buf.len() || self.pos > MAX_MESSAGE_LEN) {
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next whole message as raw bytes, header included.
    ///
    /// # Errors
    /// A header error ([`WireError::BadMarker`], [`WireError::BadMessageLength`],
    /// [`WireError::BadMessageType`]); sticky.
    pub fn next_raw(&mut self) -> Result<Option<&[u8]>, WireError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.len() < HEADER_LEN {
            return Ok(None);
        }
        let h = match Header::parse(rest).and_then(|h| h.check_min_len().map(|()| h)) {
            Ok(h) => h,
            Err(e) => {
                self.failed = Some(e);
                self.buf = Vec::new();
                return Err(e);
            }
        };
        let len = usize::from(h.length);
        debug_assert!(len <= MAX_MESSAGE_LEN);
        if rest.len() < len {
            return Ok(None);
        }
        let start = self.pos;
        self.pos += len;
        Ok(self.buf.get(start..start + len))
    }

    /// The next whole message, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// A [`WireError`] from the header or the message body.
    #[allow(clippy::should_implement_trait, reason = "fallible, not an Iterator")]
    pub fn next(&mut self) -> Result<Option<Message>, WireError> {
        let ctx = self.ctx;
        match self.next_raw()? {
            None => Ok(None),
            Some(raw) => Message::parse(raw, &ctx).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_any_chunking() {
        let c = DecodeCtx::default();
        let mut stream = Vec::new();
        for _ in 0..3 {
            Message::Keepalive.emit(&c, &mut stream).unwrap();
            Message::RouteRefresh(crate::wire::RouteRefresh::IPV4_UNICAST)
                .emit(&c, &mut stream)
                .unwrap();
        }
        for chunk in 1..stream.len() {
            let mut f = Framer::new(c);
            let mut got = 0;
            for part in stream.chunks(chunk) {
                f.push(part);
                while let Some(_m) = f.next().unwrap() {
                    got += 1;
                }
            }
            assert_eq!(got, 6, "chunk {chunk}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn framer_rejects_bad_length_before_body() {
        let mut f = Framer::new(DecodeCtx::default());
        let mut h = vec![0xff; 16];
        h.extend_from_slice(&[0xff, 0xff, 2]);
        f.push(&h);
        assert_eq!(f.next(), Err(WireError::BadMessageLength(0xffff)));
        f.push(&[0; 100]);
        assert!(f.next().is_err());
        assert_eq!(f.buffered(), 0);
    }
}

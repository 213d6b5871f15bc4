//! BGP-4 wire codec (RFC 4271, 4760, 6793, 5492, 2918, 4456, 1997, 7606).
//!
//! The contract: parsing is total (every input gives `Ok` or a typed [`WireError`], never a
//! panic, hang or unbounded allocation); `emit` is total for every `Repr` that can be built
//! (a message that would exceed 4096 bytes is [`WireError::TooLong`]); `parse(emit(r)) == r`;
//! and for well-formed input `emit(parse(x)) == x` byte for byte, since representational bits
//! (attribute flags including extended length, capability order, unknown attributes and
//! capabilities) are kept in the `Repr`. One exception: host bits set past a prefix length
//! in NLRI are cleared on parse.
#![warn(clippy::cast_possible_truncation)]

pub mod attr;
pub mod capability;
pub mod header;
pub mod keepalive;
pub mod nlri;
pub mod notification;
pub mod open;
pub mod route_refresh;
pub mod update;

use crate::error::WireError;

pub use attr::{AsPath, AsSegment, AttrValue, MpReach, MpUnreach, Origin, PathAttr};
pub use capability::Capability;
pub use header::{Header, MessageType};
pub use nlri::{Afi, Ipv4Prefix, Ipv6Prefix, Prefix, Safi};
pub use notification::{ErrCode, Notification};
pub use open::Open;
pub use route_refresh::RouteRefresh;
pub use update::Update;

/// Maximum BGP message length (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Header length.
pub const HEADER_LEN: usize = 19;

/// What decoding depends on that was negotiated in the OPEN exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DecodeCtx {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR carry 4-octet ASNs.
    pub four_octet_as: bool,
}

impl Default for DecodeCtx {
    fn default() -> Self {
        Self {
            four_octet_as: true,
        }
    }
}

/// A cursor over received bytes; every read is checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The unread bytes (without consuming them).
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }
    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        match self.buf.split_at_checked(n) {
            Some((a, b)) => {
                self.buf = b;
                Ok(a)
            }
            None => Err(WireError::Truncated {
                what,
                need: n,
                have: self.buf.len(),
            }),
        }
    }
    /// Reads one octet.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        let b = self.take(1, what)?;
        Ok(b.first().copied().unwrap_or(0))
    }
    /// Reads a big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        let mut a = [0u8; 2];
        a.copy_from_slice(b);
        Ok(u16::from_be_bytes(a))
    }
    /// Reads a big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }
    /// A sub-reader over the next `n` bytes.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Self, WireError> {
        Ok(Self::new(self.take(n, what)?))
    }
    /// Fails when bytes are left.
    pub fn finish(&self, what: &'static str) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingData {
                what,
                extra: self.buf.len(),
            })
        }
    }
}

/// Starts a length field of `width` bytes at the end of `out`; returns its position.
pub(crate) fn len_start(out: &mut Vec<u8>, width: usize) -> usize {
    let at = out.len();
    out.resize(at + width, 0);
    at
}

/// Back-patches a 1- or 2-byte length at `at`, counting bytes written after the field.
pub(crate) fn len_patch(
    out: &mut [u8],
    at: usize,
    width: usize,
    what: &'static str,
) -> Result<(), WireError> {
    let body = out.len().saturating_sub(at + width);
    match width {
        1 => {
            let v = u8::try_from(body).map_err(|_| WireError::TooLong { what })?;
            if let Some(b) = out.get_mut(at) {
                *b = v;
            }
        }
        _ => {
            let v = u16::try_from(body).map_err(|_| WireError::TooLong { what })?;
            if let Some(b) = out.get_mut(at..at + 2) {
                b.copy_from_slice(&v.to_be_bytes());
            }
        }
    }
    Ok(())
}

/// One BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// OPEN (type 1).
    Open(Open),
    /// UPDATE (type 2).
    Update(Update),
    /// NOTIFICATION (type 3).
    Notification(Notification),
    /// KEEPALIVE (type 4).
    Keepalive,
    /// ROUTE-REFRESH (type 5, RFC 2918).
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// Parses one whole message (header included).
    ///
    /// # Errors
    /// A [`WireError`] for header errors, OPEN/NOTIFICATION/ROUTE-REFRESH errors and UPDATE
    /// errors that RFC 7606 says reset the session. Per-attribute errors that do not reset the
    /// session are reported in [`Update::attr_errors`].
    pub fn parse(buf: &[u8], ctx: &DecodeCtx) -> Result<Self, WireError> {
        let hdr = Header::parse(buf)?;
        let body = buf
            .get(HEADER_LEN..usize::from(hdr.length))
            .ok_or(WireError::BadMessageLength(hdr.length))?;
        if buf.len() != usize::from(hdr.length) {
            return Err(WireError::TrailingData {
                what: "message",
                extra: buf.len().saturating_sub(usize::from(hdr.length)),
            });
        }
        hdr.check_min_len()?;
        Ok(match hdr.ty {
            MessageType::OPEN => Self::Open(Open::parse(body)?),
            MessageType::UPDATE => Self::Update(Update::parse(body, ctx)?),
            MessageType::NOTIFICATION => Self::Notification(Notification::parse(body)?),
            MessageType::KEEPALIVE => {
                keepalive::parse(body)?;
                Self::Keepalive
            }
            MessageType::ROUTE_REFRESH => Self::RouteRefresh(RouteRefresh::parse(body)?),
            MessageType(t) => return Err(WireError::BadMessageType(t)),
        })
    }

    /// The message type.
    pub fn ty(&self) -> MessageType {
        match self {
            Self::Open(_) => MessageType::OPEN,
            Self::Update(_) => MessageType::UPDATE,
            Self::Notification(_) => MessageType::NOTIFICATION,
            Self::Keepalive => MessageType::KEEPALIVE,
            Self::RouteRefresh(_) => MessageType::ROUTE_REFRESH,
        }
    }

    /// Appends the encoded message to `out`.
    ///
    /// # Errors
    /// [`WireError::TooLong`] when it would exceed 4096 bytes; `out` is then left unchanged.
    pub fn emit(&self, ctx: &DecodeCtx, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        let r = self.emit_inner(ctx, out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn emit_inner(
        &self,
        ctx: &DecodeCtx,
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), WireError> {
        out.extend_from_slice(&[0xff; 16]);
        let at = len_start(out, 2);
        out.push(self.ty().0);
        match self {
            Self::Open(o) => o.emit(out)?,
            Self::Update(u) => u.emit(ctx, out)?,
            Self::Notification(n) => n.emit(out),
            Self::Keepalive => {}
            Self::RouteRefresh(r) => r.emit(out),
        }
        let total = out.len() - start;
        if total > MAX_MESSAGE_LEN {
            return Err(WireError::TooLong { what: "message" });
        }
        let len = u16::try_from(total).map_err(|_| WireError::TooLong { what: "message" })?;
        if let Some(b) = out.get_mut(at..at + 2) {
            b.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Encodes into a new vector.
    ///
    /// # Errors
    /// As [`Message::emit`].
    pub fn to_bytes(&self, ctx: &DecodeCtx) -> Result<Vec<u8>, WireError> {
        let mut v = Vec::new();
        self.emit(ctx, &mut v)?;
        Ok(v)
    }
}

impl core::fmt::Display for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Open(o) => write!(f, "{o}"),
            Self::Update(u) => write!(f, "{u}"),
            Self::Notification(n) => write!(f, "{n}"),
            Self::Keepalive => write!(f, "KEEPALIVE"),
            Self::RouteRefresh(r) => write!(f, "ROUTE-REFRESH afi={} safi={}", r.afi.0, r.safi.0),
        }
    }
}

/// Defines a registry newtype with named constants and a `Debug` printing the name.
macro_rules! registry {
    ($(#[$m:meta])* $name:ident($t:ty) { $($(#[$cm:meta])* $c:ident = $v:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(pub $t);
        impl $name {
            $($(#[$cm])* pub const $c: Self = Self($v);)*
            /// The registered name, if any.
            pub fn name(&self) -> Option<&'static str> {
                match self.0 { $($v => Some(stringify!($c)),)* _ => None }
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() { Some(n) => f.write_str(n), None => write!(f, "{:#x}", self.0) }
            }
        }
    };
}
pub(crate) use registry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_overreads() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        assert!(r.u16("b").is_err());
        assert_eq!(r.u8("c").unwrap(), 3);
        assert!(r.finish("d").is_ok());
    }
}

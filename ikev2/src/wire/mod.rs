//! The IKEv2 message codec (RFC 7296, RFC 7383 fragments, RFC 3948 non-ESP marker).
//!
//! # Contract
//! - Parsing is total: every input gives `Ok` or a typed [`WireError`], never a panic, a
//!   hang or an unbounded allocation (payload, proposal, transform and attribute counts are
//!   capped, see [`MAX_PAYLOADS`]).
//! - Emitting is total for every `Repr` that can be constructed: lengths are computed, never
//!   stored, and a body that does not fit its length field gives [`WireError::TooLong`].
//! - `Message::parse(emit(r)) == r` for every `Repr`, and `emit(parse(x)) == x` byte for
//!   byte for well-formed input whose reserved fields and reserved flag bits are zero (the
//!   only representational freedom the RFC leaves; reserved bits are ignored on receipt
//!   and sent as zero, RFC 7296 section 3.2).
//! - Unknown payloads are kept verbatim ([`Payload::Unknown`]); an unknown payload with the
//!   critical bit set is [`WireError::UnsupportedCritical`] (RFC 7296 section 2.5).
#![warn(clippy::cast_possible_truncation)]

mod cp;
mod header;
mod id;
mod message;
mod non_esp_marker;
mod notify;
mod payload;
mod sa_payload;
mod sk;
mod ts;

pub use cp::MAX_CP_ATTRIBUTES;
pub use cp::{CfgType, ConfigAttribute, ConfigAttributeType, Configuration};
pub use header::{ExchangeType, Flags, HEADER_LEN, Header};
pub use id::{IdType, Identification};
pub use message::{MAX_PAYLOADS, Message, emit_chain, parse_chain};
pub use non_esp_marker::{Datagram4500, NON_ESP_MARKER, classify_4500, prepend_non_esp_marker};
pub use notify::{Notify, NotifyType};
pub use payload::MAX_DELETE_SPIS;
pub use payload::{
    AuthMethod, AuthPayload, CertEncoding, CertPayload, Delete, KeyExchange, Payload, PayloadType,
};
pub use sa_payload::{ATTR_KEY_LENGTH, MAX_ATTRIBUTES, MAX_PROPOSALS, MAX_TRANSFORMS};
pub use sa_payload::{
    Attribute, DhGroup, EncrId, EsnId, IntegId, PrfId, Proposal, ProtocolId, SaPayload, Transform,
    TransformType,
};
pub use sk::MAX_FRAGMENTS;
pub use sk::{Encrypted, EncryptedFragment};
pub use ts::MAX_SELECTORS;
pub use ts::{TrafficSelector, TsType};

use crate::error::WireError;

/// Defines a newtype over an IANA registry number with named constants and a `Debug`/`Display`
/// that prints the name, or the number when it has none.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($int:ty) {
            $( $(#[$cmeta:meta])* $cname:ident = $val:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(pub $int);

        #[allow(missing_docs, reason = "names are the IANA registry's")]
        impl $name {
            $( $(#[$cmeta])* pub const $cname: Self = Self($val); )*

            /// The registry name of this value, if it has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($cname)), )*
                    _ => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }
    };
}
pub(crate) use registry;

/// A checked cursor over received bytes. Every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes `n` bytes.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when fewer than `n` bytes remain.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(WireError::Truncated {
            what,
            need: n,
            have: self.buf.len(),
        })?;
        self.buf = tail;
        Ok(head)
    }

    /// Takes everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Reads a fixed-size array.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian u16.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Splits off a sub-reader of `n` bytes.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Self, WireError> {
        Ok(Self::new(self.take(n, what)?))
    }

    /// Requires that everything was read.
    ///
    /// # Errors
    /// [`WireError::TrailingData`].
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

/// Reserves a 16-bit length at `at` (already pushed as two zero bytes) and patches it with
/// `out.len() - start`.
pub(crate) fn patch_len16(
    out: &mut [u8],
    start: usize,
    at: usize,
    what: &'static str,
) -> Result<(), WireError> {
    let len = out.len().saturating_sub(start);
    let v = u16::try_from(len).map_err(|_| WireError::TooLong { what, len })?;
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&v.to_be_bytes());
    }
    Ok(())
}

/// Converts a count or length to `u8` for emitting.
pub(crate) fn to_u8(v: usize, what: &'static str) -> Result<u8, WireError> {
    u8::try_from(v).map_err(|_| WireError::TooLong { what, len: v })
}

/// Formats bytes as lower-case hex (for Display summaries).
pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

#[cfg(test)]
pub(crate) mod testutil {
    /// Asserts that every strict prefix of `v` fails to parse and does not panic.
    #[track_caller]
    pub(crate) fn truncations<T: core::fmt::Debug, E>(
        v: &[u8],
        parse: impl Fn(&[u8]) -> Result<T, E>,
    ) {
        for n in 0..v.len() {
            assert!(parse(&v[..n]).is_err(), "prefix of {n} bytes parsed");
        }
        assert!(parse(v).is_ok(), "full vector did not parse");
    }

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}

//! The IKE header (RFC 7296 section 3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------------------------------------------------------+
//! |                   IKE SA initiator's SPI (8)                  |
//! |                   IKE SA responder's SPI (8)                  |
//! +---------------+-------+-------+---------------+---------------+
//! | Next Payload  | MjVer | MnVer | Exchange Type |     Flags     |
//! +---------------+-------+-------+---------------+---------------+
//! |                          Message ID                           |
//! |                 Length (whole message, octets)                |
//! +---------------------------------------------------------------+
//! ```

use super::{PayloadType, Reader, registry};
use crate::error::WireError;

/// Length of the IKE header.
pub const HEADER_LEN: usize = 28;

registry! {
    /// Exchange type (IANA "IKEv2 Exchange Types").
    pub struct ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        IKE_SESSION_RESUME = 38,
        GSA_AUTH = 39,
        GSA_REGISTRATION = 40,
        GSA_REKEY = 41,
        IKE_INTERMEDIATE = 43,
        IKE_FOLLOWUP_KE = 44,
    }
}

/// Header flags. Only the three defined bits are kept; the others are reserved
/// (sent as zero, ignored on receipt).
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Flags(pub u8);

impl Flags {
    /// I: set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// V: the sender can speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// R: this message is a response.
    pub const RESPONSE: u8 = 0x20;

    /// Builds flags from the two bits that matter.
    pub fn new(initiator: bool, response: bool) -> Self {
        let mut f = 0;
        if initiator {
            f |= Self::INITIATOR;
        }
        if response {
            f |= Self::RESPONSE;
        }
        Self(f)
    }
    /// The I bit.
    pub fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }
    /// The R bit.
    pub fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }
}

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Flags({}{}{})",
            if self.initiator() { "I" } else { "" },
            if self.response() { "R" } else { "" },
            if self.0 & Self::VERSION != 0 { "V" } else { "" }
        )
    }
}

/// The IKE header without the two derived fields (next payload and length), which
/// [`super::Message`] computes when emitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Header {
    /// IKE SA initiator's SPI.
    pub spi_i: u64,
    /// IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Minor version (0 for RFC 7296 senders; ignored on receipt but kept). A 4-bit field:
    /// [`Header::emit`] refuses values above 15. The major version is not a field: it is
    /// always 2 on emit, and parse refuses any other.
    pub minor_version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
}

impl Header {
    /// Parses the fixed header; returns it with the first payload type and the length field.
    ///
    /// The length is only checked to be at least [`HEADER_LEN`]; the caller compares it with
    /// the datagram.
    ///
    /// # Errors
    /// [`WireError::Truncated`], [`WireError::InvalidMajorVersion`], [`WireError::BadLength`].
    pub fn parse(r: &mut Reader<'_>) -> Result<(Self, PayloadType, u32), WireError> {
        let spi_i = r.u64("IKE header")?;
        let spi_r = r.u64("IKE header")?;
        let np = PayloadType(r.u8("IKE header")?);
        let ver = r.u8("IKE header")?;
        let exchange = ExchangeType(r.u8("IKE header")?);
        let flags = r.u8("IKE header")?;
        let message_id = r.u32("IKE header")?;
        let len = r.u32("IKE header")?;
        // RFC 7296 section 2.5: a major version other than 2 is answered with
        // INVALID_MAJOR_VERSION.
        if ver >> 4 != 2 {
            return Err(WireError::InvalidMajorVersion(ver >> 4));
        }
        if (len as usize) < HEADER_LEN {
            return Err(WireError::BadLength {
                what: "IKE header",
                len: len as usize,
            });
        }
        Ok((
            Self {
                spi_i,
                spi_r,
                minor_version: ver & 0x0f,
                exchange,
                flags: Flags(flags & (Flags::INITIATOR | Flags::RESPONSE | Flags::VERSION)),
                message_id,
            },
            np,
            len,
        ))
    }

    /// Appends the header with the given next payload and total length.
    ///
    /// # Errors
    /// [`WireError::InvalidValue`] (`"IKE header minor version"`) when the minor version
    /// does not fit its 4 bits.
    pub fn emit(&self, next: PayloadType, len: u32, out: &mut Vec<u8>) -> Result<(), WireError> {
        if self.minor_version > 0x0f {
            return Err(WireError::InvalidValue {
                what: "IKE header minor version",
                value: u32::from(self.minor_version),
            });
        }
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(next.0);
        out.push(0x20 | (self.minor_version & 0x0f));
        out.push(self.exchange.0);
        out.push(self.flags.0 & (Flags::INITIATOR | Flags::RESPONSE | Flags::VERSION));
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// True for a response.
    pub fn is_response(&self) -> bool {
        self.flags.response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{truncations, unhex};

    const V: &str = "0102030405060708 0000000000000000 21 20 22 08 00000000 0000001c";

    #[test]
    fn parse_emit() {
        let v = unhex(V);
        let (h, np, len) = Header::parse(&mut Reader::new(&v)).unwrap();
        assert_eq!(h.spi_i, 0x0102030405060708);
        assert_eq!(h.exchange, ExchangeType::IKE_SA_INIT);
        assert!(h.flags.initiator() && !h.flags.response());
        assert_eq!(np, PayloadType::SA);
        assert_eq!(len, 28);
        let mut out = Vec::new();
        h.emit(np, len, &mut out).unwrap();
        assert_eq!(out, v);
        truncations(&v, |b| Header::parse(&mut Reader::new(b)));
    }

    #[test]
    fn bad_version() {
        let mut v = unhex(V);
        v[17] = 0x30;
        let e = Header::parse(&mut Reader::new(&v)).unwrap_err();
        assert_eq!(e, WireError::InvalidMajorVersion(3));
        assert_eq!(e.notify(), crate::wire::NotifyType::INVALID_MAJOR_VERSION);
    }

    #[test]
    fn minor_version_above_15_is_refused() {
        let v = unhex(V);
        let (mut h, np, len) = Header::parse(&mut Reader::new(&v)).unwrap();
        h.minor_version = 15;
        let mut out = Vec::new();
        h.emit(np, len, &mut out).unwrap();
        assert_eq!(out[17], 0x2f);
        assert_eq!(Header::parse(&mut Reader::new(&out)).unwrap().0, h);
        h.minor_version = 16;
        let mut out = Vec::new();
        assert_eq!(
            h.emit(np, len, &mut out),
            Err(WireError::InvalidValue {
                what: "IKE header minor version",
                value: 16
            })
        );
    }
}

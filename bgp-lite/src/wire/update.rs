//! UPDATE (RFC 4271 §4.3) with RFC 7606 revised error handling.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use std::net::Ipv4Addr;

use super::attr::{self, AsPath, AttrValue, Origin, PathAttr, code};
use super::{DecodeCtx, Ipv4Prefix, Reader, len_patch, len_start, nlri};
use crate::error::{AttrError, WireError};

/// An UPDATE message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// Withdrawn IPv4 unicast routes.
    pub withdrawn: Vec<Ipv4Prefix>,
    /// Path attributes in wire order.
    pub attrs: Vec<PathAttr>,
    /// IPv4 unicast NLRI.
    pub nlri: Vec<Ipv4Prefix>,
    /// RFC 7606 outcomes of malformed attributes found while parsing (never emitted).
    /// Contains only [`AttrError::Discard`] and [`AttrError::TreatAsWithdraw`].
    pub attr_errors: Vec<AttrError>,
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Update {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self {
            withdrawn: u.arbitrary()?,
            attrs: u.arbitrary()?,
            nlri: u.arbitrary()?,
            attr_errors: Vec::new(),
        })
    }
}

impl Update {
    /// Parses the body.
    ///
    /// # Errors
    /// Only what RFC 7606 says must reset the session: inconsistent lengths (3/1), malformed
    /// withdrawn routes or NLRI (3/10), and the session-reset attribute cases.
    pub fn parse(body: &[u8], ctx: &DecodeCtx) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let wl = r
            .u16("withdrawn length")
            .map_err(|_| WireError::MalformedAttributeList)?;
        let wr = r
            .sub(usize::from(wl), "withdrawn")
            .map_err(|_| WireError::MalformedAttributeList)?;
        let al = r
            .u16("attribute length")
            .map_err(|_| WireError::MalformedAttributeList)?;
        let ab = r
            .take(usize::from(al), "attributes")
            .map_err(|_| WireError::MalformedAttributeList)?;
        let withdrawn = nlri::parse_v4_list(wr)?;
        let mut attr_errors = Vec::new();
        let attrs = attr::parse_attrs(ab, ctx, &mut attr_errors)?;
        let nlri = nlri::parse_v4_list(r)?;
        let mut u = Self {
            withdrawn,
            attrs,
            nlri,
            attr_errors,
        };
        // RFC 7606 §3 d: a missing well-known mandatory attribute: treat-as-withdraw.
        let has_mp_reach = u.attr(code::MP_REACH).is_some();
        if !u.nlri.is_empty() || has_mp_reach {
            for (c, why) in [
                (code::ORIGIN, "missing ORIGIN"),
                (code::AS_PATH, "missing AS_PATH"),
            ] {
                if u.attr(c).is_none() && !u.errors_touch(c) {
                    u.attr_errors.push(AttrError::TreatAsWithdraw {
                        code: c,
                        reason: why,
                    });
                }
            }
            if !u.nlri.is_empty()
                && u.attr(code::NEXT_HOP).is_none()
                && !u.errors_touch(code::NEXT_HOP)
            {
                u.attr_errors.push(AttrError::TreatAsWithdraw {
                    code: code::NEXT_HOP,
                    reason: "missing NEXT_HOP",
                });
            }
        }
        Ok(u)
    }

    fn errors_touch(&self, c: u8) -> bool {
        self.attr_errors
            .iter()
            .any(|e| matches!(e, AttrError::TreatAsWithdraw { code, .. } if *code == c))
    }

    /// Whether RFC 7606 treat-as-withdraw applies: every NLRI is to be handled as withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.attr_errors
            .iter()
            .any(|e| matches!(e, AttrError::TreatAsWithdraw { .. }))
    }

    /// Appends the body.
    ///
    /// # Errors
    /// [`WireError::TooLong`] when a length field overflows.
    pub fn emit(&self, ctx: &DecodeCtx, out: &mut Vec<u8>) -> Result<(), WireError> {
        let at = len_start(out, 2);
        self.withdrawn.iter().for_each(|p| p.emit(out));
        len_patch(out, at, 2, "withdrawn routes")?;
        let at = len_start(out, 2);
        for a in &self.attrs {
            a.emit(ctx, out)?;
        }
        len_patch(out, at, 2, "path attributes")?;
        self.nlri.iter().for_each(|p| p.emit(out));
        Ok(())
    }

    /// The first attribute with type `code`.
    pub fn attr(&self, code: u8) -> Option<&AttrValue> {
        self.attrs
            .iter()
            .find(|a| a.code() == code)
            .map(|a| &a.value)
    }
    /// ORIGIN.
    pub fn origin(&self) -> Option<Origin> {
        match self.attr(code::ORIGIN) {
            Some(AttrValue::Origin(o)) => Some(*o),
            _ => None,
        }
    }
    /// AS_PATH.
    pub fn as_path(&self) -> Option<&AsPath> {
        match self.attr(code::AS_PATH) {
            Some(AttrValue::AsPath(p)) => Some(p),
            _ => None,
        }
    }
    /// NEXT_HOP.
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        match self.attr(code::NEXT_HOP) {
            Some(AttrValue::NextHop(a)) => Some(*a),
            _ => None,
        }
    }
    /// Whether this is the End-of-RIB marker for IPv4 unicast (RFC 4724 §2): an empty UPDATE.
    pub fn is_end_of_rib(&self) -> bool {
        self.withdrawn.is_empty() && self.attrs.is_empty() && self.nlri.is_empty()
    }
}

impl core::fmt::Display for Update {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "UPDATE withdrawn={} attrs=[", self.withdrawn.len())?;
        for (i, a) in self.attrs.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}", a.code())?;
        }
        write!(f, "] nlri={}", self.nlri.len())?;
        if self.treat_as_withdraw() {
            f.write_str(" treat-as-withdraw")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, attr::flags};

    /// An UPDATE as GoBGP 3.10 sends for 10.10.0.0/16 (ORIGIN IGP, empty AS_PATH, NEXT_HOP
    /// 192.0.2.1, LOCAL_PREF 100) with one withdrawn route 10.20.0.0/16.
    fn vector() -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&[0, 0, 2]);
        v.extend_from_slice(&[0, 3, 16, 10, 20]);
        v.extend_from_slice(&[0, 21]);
        v.extend_from_slice(&[
            0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 1, 0x40, 5, 4, 0, 0, 0, 100,
        ]);
        v.extend_from_slice(&[16, 10, 10]);
        v[17] = u8::try_from(v.len()).unwrap();
        v
    }

    #[test]
    fn update_parse_emit_truncate() {
        let v = vector();
        let c = DecodeCtx::default();
        let Message::Update(u) = Message::parse(&v, &c).unwrap() else {
            panic!()
        };
        assert_eq!(u.withdrawn, vec!["10.20.0.0/16".parse().unwrap()]);
        assert_eq!(u.nlri, vec!["10.10.0.0/16".parse().unwrap()]);
        assert_eq!(u.next_hop(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(u.as_path().map(AsPath::path_len), Some(0));
        assert!(!u.treat_as_withdraw());
        assert_eq!(Message::Update(u).to_bytes(&c).unwrap(), v);
        for n in 0..v.len() {
            assert!(Message::parse(&v[..n], &c).is_err(), "len {n}");
        }
    }

    #[test]
    fn missing_mandatory_is_treat_as_withdraw() {
        let u = Update {
            nlri: vec!["10.0.0.0/8".parse().unwrap()],
            attrs: vec![PathAttr::new(AttrValue::Origin(Origin::Igp))],
            ..Default::default()
        };
        let mut b = Vec::new();
        u.emit(&DecodeCtx::default(), &mut b).unwrap();
        let p = Update::parse(&b, &DecodeCtx::default()).unwrap();
        assert!(p.treat_as_withdraw());
        assert_eq!(p.attr_errors.len(), 2);
    }

    #[test]
    fn length_errors_reset() {
        // withdrawn length beyond the body
        assert_eq!(
            Update::parse(&[0, 9, 0, 0], &DecodeCtx::default()),
            Err(WireError::MalformedAttributeList)
        );
        // bad NLRI
        assert_eq!(
            Update::parse(&[0, 0, 0, 0, 33, 1], &DecodeCtx::default()),
            Err(WireError::InvalidNetworkField)
        );
    }

    #[test]
    fn big_attribute_uses_extended_length() {
        let a = PathAttr::new(AttrValue::Communities((0..100).collect()));
        assert_ne!(a.flags & flags::EXTENDED, 0);
        let u = Update {
            attrs: vec![a],
            ..Default::default()
        };
        let mut b = Vec::new();
        u.emit(&DecodeCtx::default(), &mut b).unwrap();
        assert_eq!(Update::parse(&b, &DecodeCtx::default()).unwrap(), u);
    }
}

//! NLRI prefixes (RFC 4271 §4.3, RFC 4760 §5): a length in bits and the minimum number of octets.
//!
//! ```text
//! +---------------------------+
//! |   Length (1 octet, bits)  |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Reader, registry};
use crate::error::WireError;

registry! {
    /// Address family identifier.
    Afi(u16) {
        /// IPv4.
        IPV4 = 1,
        /// IPv6.
        IPV6 = 2,
    }
}

registry! {
    /// Subsequent address family identifier.
    Safi(u8) {
        /// Unicast.
        UNICAST = 1,
        /// Multicast.
        MULTICAST = 2,
    }
}

/// An IPv4 prefix; host bits are always zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Prefix {
    addr: u32,
    len: u8,
}

impl Ipv4Prefix {
    /// A prefix; host bits are cleared. `None` when `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        if len > 32 {
            return None;
        }
        Some(Self {
            addr: u32::from(addr) & mask4(len),
            len,
        })
    }
    /// A prefix from an address already masked to `len` bits (`len <= 32`); for tables that
    /// store prefixes in pieces.
    pub(crate) const fn from_masked(addr: u32, len: u8) -> Self {
        Self { addr, len }
    }
    /// The network address as a number.
    pub(crate) const fn addr_bits(&self) -> u32 {
        self.addr
    }
    /// Network address.
    pub fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
    /// Prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    /// Whether this is the default route 0.0.0.0/0.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }
    /// Whether `other` lies inside this prefix (or is equal).
    pub fn contains(&self, other: &Self) -> bool {
        other.len >= self.len && (other.addr & mask4(self.len)) == self.addr
    }
    /// Whether the address lies inside this prefix.
    pub fn contains_addr(&self, a: Ipv4Addr) -> bool {
        (u32::from(a) & mask4(self.len)) == self.addr
    }
    /// The last address of the range.
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr | !mask4(self.len))
    }
    /// Parses one IPv4 NLRI entry.
    ///
    /// # Errors
    /// [`WireError::InvalidNetworkField`] for a length above 32 or a truncated prefix.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let len = r
            .u8("prefix length")
            .map_err(|_| WireError::InvalidNetworkField)?;
        if len > 32 {
            return Err(WireError::InvalidNetworkField);
        }
        let n = usize::from(len).div_ceil(8);
        let b = r
            .take(n, "prefix")
            .map_err(|_| WireError::InvalidNetworkField)?;
        let mut a = [0u8; 4];
        a[..n].copy_from_slice(b);
        Ok(Self {
            addr: u32::from_be_bytes(a) & mask4(len),
            len,
        })
    }
    /// Appends the NLRI encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.len);
        let n = usize::from(self.len).div_ceil(8);
        out.extend_from_slice(&self.addr.to_be_bytes()[..n]);
    }
    /// Encoded size in bytes.
    pub fn wire_len(&self) -> usize {
        1 + usize::from(self.len).div_ceil(8)
    }
}

fn mask4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl core::fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}
impl core::fmt::Debug for Ipv4Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::str::FromStr for Ipv4Prefix {
    type Err = crate::error::ConfigError;
    /// Parses `a.b.c.d/len`; host bits must be zero.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::error::ConfigError::InvalidPrefix(s.to_string());
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let l: u8 = l.parse().map_err(|_| bad())?;
        let p = Self::new(a, l).ok_or_else(bad)?;
        if p.addr() != a {
            return Err(bad());
        }
        Ok(p)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Ipv4Prefix {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let a: u32 = u.arbitrary()?;
        let l: u8 = u.int_in_range(0..=32)?;
        Ok(Self {
            addr: a & mask4(l),
            len: l,
        })
    }
}

/// An IPv6 prefix; host bits are always zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv6Prefix {
    addr: u128,
    len: u8,
}

impl Ipv6Prefix {
    /// A prefix; host bits are cleared. `None` when `len > 128`.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        if len > 128 {
            return None;
        }
        Some(Self {
            addr: u128::from(addr) & mask6(len),
            len,
        })
    }
    /// Network address.
    pub fn addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr)
    }
    /// Prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    /// Parses one IPv6 NLRI entry.
    ///
    /// # Errors
    /// [`WireError::InvalidNetworkField`].
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let len = r
            .u8("prefix length")
            .map_err(|_| WireError::InvalidNetworkField)?;
        if len > 128 {
            return Err(WireError::InvalidNetworkField);
        }
        let n = usize::from(len).div_ceil(8);
        let b = r
            .take(n, "prefix")
            .map_err(|_| WireError::InvalidNetworkField)?;
        let mut a = [0u8; 16];
        a[..n].copy_from_slice(b);
        Ok(Self {
            addr: u128::from_be_bytes(a) & mask6(len),
            len,
        })
    }
    /// Appends the NLRI encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.len);
        let n = usize::from(self.len).div_ceil(8);
        out.extend_from_slice(&self.addr.to_be_bytes()[..n]);
    }
}

fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl core::fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}
impl core::fmt::Debug for Ipv6Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Ipv6Prefix {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let a: u128 = u.arbitrary()?;
        let l: u8 = u.int_in_range(0..=128)?;
        Ok(Self {
            addr: a & mask6(l),
            len: l,
        })
    }
}

/// A prefix of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Prefix {
    /// IPv4.
    V4(Ipv4Prefix),
    /// IPv6.
    V6(Ipv6Prefix),
}

/// Parses a run of IPv4 NLRI to the end of the reader.
///
/// # Errors
/// [`WireError::InvalidNetworkField`].
pub fn parse_v4_list(r: Reader<'_>) -> Result<Vec<Ipv4Prefix>, WireError> {
    // First pass: count and check the lengths, so the vector is allocated once and exactly.
    let b = r.rest();
    let mut n = 0;
    let mut i = 0;
    while let Some(&len) = b.get(i) {
        if len > 32 {
            return Err(WireError::InvalidNetworkField);
        }
        i += 1 + usize::from(len).div_ceil(8);
        n += 1;
    }
    if i != b.len() {
        return Err(WireError::InvalidNetworkField);
    }
    let mut v = Vec::with_capacity(n);
    let mut rest = b;
    while let [len, tail @ ..] = rest {
        let k = usize::from(*len).div_ceil(8);
        let (Some(bytes), Some(after)) = (tail.get(..k), tail.get(k..)) else {
            return Err(WireError::InvalidNetworkField);
        };
        let mut a = [0u8; 4];
        if let Some(dst) = a.get_mut(..k) {
            dst.copy_from_slice(bytes);
        }
        v.push(Ipv4Prefix {
            addr: u32::from_be_bytes(a) & mask4(*len),
            len: *len,
        });
        rest = after;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_codec() {
        let v = [24u8, 192, 168, 0, 0, 8, 10, 32, 1, 2, 3, 4];
        let l = parse_v4_list(Reader::new(&v)).unwrap();
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].to_string(), "192.168.0.0/24");
        assert_eq!(l[1].to_string(), "0.0.0.0/0");
        assert_eq!(l[2].to_string(), "10.0.0.0/8");
        let mut out = Vec::new();
        for p in &l {
            p.emit(&mut out);
        }
        assert_eq!(out, v);
        for n in 0..v.len() {
            let r = parse_v4_list(Reader::new(&v[..n]));
            if ![0, 4, 5, 7].contains(&n) {
                assert!(r.is_err(), "len {n}");
            }
        }
        assert!(parse_v4_list(Reader::new(&[33, 1, 1, 1, 1, 1])).is_err());
        let p: Ipv4Prefix = "192.168.0.0/16".parse().unwrap();
        assert!(p.contains(&"192.168.0.0/24".parse().unwrap()));
        assert!(!p.contains(&"192.169.0.0/24".parse().unwrap()));
        assert!("192.168.0.1/16".parse::<Ipv4Prefix>().is_err());
        let mut r = Reader::new(&[64, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 1]);
        let p6 = Ipv6Prefix::parse(&mut r).unwrap();
        assert_eq!(p6.to_string(), "2001:db8:0:1::/64");
    }
}

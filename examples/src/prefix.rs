//! IPv4 prefixes and masks, shared by the configuration and the FIB.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 prefix: an address with its host bits cleared and a length of 0 to 32.
///
/// ```
/// use flexvpn_router::prefix::Prefix;
/// let p = Prefix::new("192.168.0.77".parse().unwrap(), 16).unwrap();
/// assert_eq!(p.to_string(), "192.168.0.0/16");
/// assert!(p.contains("192.168.3.4".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Prefix {
    /// A prefix of `len` bits; host bits of `addr` are cleared. `None` if `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        let mask = len_to_mask(len)?;
        Some(Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }

    /// The /32 prefix of one host.
    pub fn host(addr: Ipv4Addr) -> Self {
        Self { addr, len: 32 }
    }

    /// A prefix from an address and a dotted mask; `None` if the mask is not contiguous.
    pub fn from_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Option<Self> {
        Self::new(addr, mask_to_len(mask)?)
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route 0.0.0.0/0.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// The mask as an address (`255.255.255.0`).
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(len_to_mask(self.len).unwrap_or(u32::MAX))
    }

    /// Whether `ip` is inside the prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = len_to_mask(self.len).unwrap_or(u32::MAX);
        u32::from(ip) & mask == u32::from(self.addr)
    }

    /// Whether `other` is inside this prefix (equal or more specific).
    pub fn covers(&self, other: &Self) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    /// The classful prefix of an address (`network 192.168.0.0` without a mask).
    pub fn classful(addr: Ipv4Addr) -> Self {
        let first = addr.octets()[0];
        let len = if first < 128 {
            8
        } else if first < 192 {
            16
        } else {
            24
        };
        Self::new(addr, len).unwrap_or_else(|| Self::host(addr))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The 32-bit mask of a prefix length, `None` above 32.
pub fn len_to_mask(len: u8) -> Option<u32> {
    match len {
        0 => Some(0),
        1..=32 => Some(u32::MAX << (32 - u32::from(len))),
        _ => None,
    }
}

/// The prefix length of a dotted mask, `None` if it is not contiguous ones then zeros.
pub fn mask_to_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) == 0 {
        u8::try_from(ones).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_round_trip() {
        for len in 0..=32u8 {
            let m = Ipv4Addr::from(len_to_mask(len).unwrap());
            assert_eq!(mask_to_len(m), Some(len));
        }
        assert_eq!(len_to_mask(33), None);
        assert_eq!(mask_to_len("255.0.255.0".parse().unwrap()), None);
        assert_eq!(mask_to_len("0.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn contains_and_covers() {
        let p16 = Prefix::new("192.168.0.0".parse().unwrap(), 16).unwrap();
        let p24 = Prefix::new("192.168.12.9".parse().unwrap(), 24).unwrap();
        assert_eq!(p24.addr(), "192.168.12.0".parse::<Ipv4Addr>().unwrap());
        assert!(p16.covers(&p24));
        assert!(!p24.covers(&p16));
        assert!(!p16.contains("192.169.0.1".parse().unwrap()));
        let d = Prefix::new(Ipv4Addr::UNSPECIFIED, 0).unwrap();
        assert!(d.contains("8.8.8.8".parse().unwrap()));
        assert_eq!(
            Prefix::classful("10.1.2.3".parse().unwrap()).to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            Prefix::classful("192.168.0.0".parse().unwrap()).to_string(),
            "192.168.0.0/24"
        );
    }
}

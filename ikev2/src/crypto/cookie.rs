//! Responder cookies (RFC 7296 2.6):
//! `Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)`, with
//! SHA-256 as the hash and a one-octet version, 33 octets in all.

use std::net::IpAddr;

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A responder's cookie secret with its version number. The responder keeps
/// the current and the previous secret while rotating, and picks the one to
/// check with [`CookieSecret::version_of`]. Zeroized on drop.
pub struct CookieSecret {
    version: u8,
    secret: Zeroizing<[u8; 32]>,
}

impl CookieSecret {
    /// Length of every cookie this type makes.
    pub const COOKIE_LEN: usize = 33;

    /// A fresh random secret with the given version number.
    pub fn generate(version: u8, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut secret[..]);
        Self { version, secret }
    }

    /// A secret from known bytes (tests, or a secret shared by a cluster).
    pub fn from_bytes(version: u8, secret: [u8; 32]) -> Self {
        Self {
            version,
            secret: Zeroizing::new(secret),
        }
    }

    /// The version number carried in the cookie's first octet.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The version of the secret a received cookie claims, if it is well formed.
    pub fn version_of(cookie: &[u8]) -> Option<u8> {
        match cookie {
            [v, rest @ ..] if rest.len() == Self::COOKIE_LEN - 1 => Some(*v),
            _ => None,
        }
    }

    /// The cookie for an initiator's nonce data `ni`, source address `ip_i`
    /// and IKE SPI `spi_i`.
    ///
    /// ```
    /// use ikev2::crypto::CookieSecret;
    /// let s = CookieSecret::from_bytes(1, [7; 32]);
    /// let ip = "198.51.100.7".parse().unwrap();
    /// let c = s.cookie(b"nonce", ip, 0x1234);
    /// assert!(s.verify(&c, b"nonce", ip, 0x1234));
    /// assert!(!s.verify(&c, b"nonce", ip, 0x1235));
    /// ```
    pub fn cookie(&self, ni: &[u8], ip_i: IpAddr, spi_i: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::COOKIE_LEN);
        out.push(self.version);
        out.extend_from_slice(&self.hash(ni, ip_i, spi_i));
        out
    }

    /// Checks a received cookie in constant time (the version octet must be
    /// this secret's).
    pub fn verify(&self, cookie: &[u8], ni: &[u8], ip_i: IpAddr, spi_i: u64) -> bool {
        let expected = self.cookie(ni, ip_i, spi_i);
        bool::from(expected.as_slice().ct_eq(cookie))
    }

    fn hash(&self, ni: &[u8], ip_i: IpAddr, spi_i: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(ni);
        match ip_i {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        h.update(spi_i.to_be_bytes());
        h.update(&self.secret[..]);
        h.finalize().into()
    }
}

impl std::fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CookieSecret(version {}, redacted)", self.version)
    }
}

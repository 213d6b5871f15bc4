//! The IKEv2 crypto suite: PRF and prf+, key derivation, SK payload protection,
//! Diffie-Hellman, PSK authentication, cookies and NAT detection hashes.
//!
//! Everything here is a pure function of its inputs plus an injected RNG
//! (`&mut (impl RngCore + CryptoRng)`); nothing reads a clock or a global RNG.
//!
//! | RFC 7296 step | function |
//! |---|---|
//! | KE payload (2.14) | [`DhSecret::generate`], [`DhSecret::shared`] |
//! | SKEYSEED and `SK_*` (2.14) | [`derive_ike_keys`] |
//! | IKE SA rekey (2.18) | [`derive_rekeyed_ike_keys`] |
//! | Child SA KEYMAT (2.17) | [`child_keymat`], [`ChildKeys::derive`] |
//! | SK payload (3.14, RFC 5282) | [`SkCipher::seal`], [`SkCipher::open`] |
//! | AUTH with a PSK (2.15) | [`signed_octets`], [`psk_auth`], [`verify_psk_auth`] |
//! | COOKIE (2.6) | [`CookieSecret`] |
//! | NAT_DETECTION_*_IP (2.23) | [`nat_detection_hash`] |
//!
//! Secrets ([`KeyMaterial`], [`IkeKeys`], [`ChildKeys`], [`DhSecret`],
//! [`CookieSecret`]) zeroize on drop and print as `redacted` in `Debug`.
//! ICV, AUTH and cookie comparisons are constant-time (`subtle`); AES-GCM tag
//! checks stay inside the `aes-gcm` crate.
//!
//! # Example: both ends of an IKE SA derive the same keys and talk
//!
//! ```
//! use ikev2::crypto::{derive_ike_keys, DhGroup, DhSecret, Direction, EncrAlg, IntegAlg, PrfAlg};
//! use rand_chacha::rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let (a, a_pub) = DhSecret::generate(DhGroup::Curve25519, &mut rng);
//! let (b, b_pub) = DhSecret::generate(DhGroup::Curve25519, &mut rng);
//! let g_ir_i = a.shared(&b_pub)?;
//! let g_ir_r = b.shared(&a_pub)?;
//! let (ni, nr) = ([1u8; 32], [2u8; 32]);
//! let (spi_i, spi_r) = (0x1111_2222_3333_4444, 0x5555_6666_7777_8888);
//! let (prf, encr, integ) = (PrfAlg::HmacSha256, EncrAlg::AesGcm16_256, IntegAlg::None);
//! let ki = derive_ike_keys(prf, encr, integ, &ni, &nr, &g_ir_i, spi_i, spi_r)?;
//! let kr = derive_ike_keys(prf, encr, integ, &ni, &nr, &g_ir_r, spi_i, spi_r)?;
//!
//! // The initiator protects a request; `prefix` is the IKE header plus the SK
//! // generic payload header, with their final length fields.
//! let prefix = [0u8; 32];
//! let body = ki.cipher(Direction::InitiatorToResponder)?.seal(&prefix, b"payloads", &mut rng)?;
//! let inner = kr.cipher(Direction::InitiatorToResponder)?.open(&prefix, &body)?;
//! assert_eq!(&inner[..], b"payloads");
//! # Ok::<(), ikev2::crypto::CryptoError>(())
//! ```

// The crate root does not carry the no-panic lints yet; the crypto suite
// applies them to itself (STYLE 4.12).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cookie;
mod dh;
mod keys;
mod natd;
mod prf;
mod psk_auth;
mod sk;

pub use cookie::CookieSecret;
pub use dh::{DhGroup, DhSecret};
pub use keys::{
    ChildKeys, IkeKeys, KeyMaterial, child_keymat, derive_ike_keys, derive_rekeyed_ike_keys,
    ike_keymat, rekey_skeyseed, skeyseed,
};
pub use natd::{NAT_DETECTION_HASH_LEN, nat_detection_hash};
pub use prf::{PrfAlg, prf, prf_plus};
pub use psk_auth::{
    KEY_PAD, auth_with_key, psk_auth, psk_auth_key, signed_octets, verify_auth_with_key,
    verify_psk_auth,
};
pub use sk::{Direction, EncrAlg, IntegAlg, SkCipher};

/// An error from the crypto suite.
///
/// Failures that a peer can cause (a bad ICV, a bad AUTH, a bad public value)
/// carry no detail that could serve as an oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ICV (HMAC) or the AES-GCM tag of an SK payload did not verify, or the
    /// decrypted padding was inconsistent. The message must be dropped.
    #[error("sk payload integrity check failed")]
    IntegrityCheckFailed,
    /// An SK payload body is shorter than IV + ICV, or (CBC) its ciphertext is
    /// not a whole number of blocks.
    #[error("sk payload body malformed")]
    MalformedSkPayload,
    /// The AUTH payload did not match the value computed from the PSK.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The peer's Diffie-Hellman public value has the wrong length, is out of
    /// range (MODP: not 1 < y < p-1), is not on the curve (P-256), or gives an
    /// all-zero shared secret (Curve25519).
    #[error("invalid diffie-hellman public value")]
    InvalidPublicValue,
    /// A private value handed to [`DhSecret::from_private_bytes`] is unusable
    /// (wrong length, zero, or not below the group order).
    #[error("invalid diffie-hellman private value")]
    InvalidPrivateValue,
    /// prf+ was asked for more than 255 blocks of output (RFC 7296 2.13).
    #[error("prf+ output of {requested} bytes exceeds the 255-block limit of {max}")]
    PrfPlusTooLong {
        /// Bytes requested.
        requested: usize,
        /// Largest length this PRF can produce.
        max: usize,
    },
    /// The encryption and integrity algorithms do not go together: an AEAD
    /// cipher needs [`IntegAlg::None`], a CBC cipher needs an HMAC.
    #[error("encryption and integrity algorithms do not combine")]
    IncompatibleSuite,
    /// A key handed to a constructor has the wrong length for its algorithm.
    #[error("{what}: key of {got} bytes, need {need}")]
    BadKeyLength {
        /// Which key.
        what: &'static str,
        /// Length given.
        got: usize,
        /// Length required.
        need: usize,
    },
}

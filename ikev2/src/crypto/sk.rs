//! SK (Encrypted) payload protection: RFC 7296 3.14 (AES-CBC + HMAC-SHA2) and
//! RFC 5282 (AES-GCM with a 16-octet ICV).

use aes::{Aes128, Aes256};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::CryptoError;
use super::keys::KeyMaterial;
use super::prf::{PrfAlg, PrfBlock, prf_parts};

/// An encryption algorithm for the SK payload (IKEv2 transform type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum EncrAlg {
    /// ENCR_AES_GCM_16 (ID 20) with a 128-bit key (Key Length attribute 128).
    AesGcm16_128,
    /// ENCR_AES_GCM_16 (ID 20) with a 256-bit key (Key Length attribute 256).
    AesGcm16_256,
    /// ENCR_AES_CBC (ID 12) with a 128-bit key.
    AesCbc128,
    /// ENCR_AES_CBC (ID 12) with a 256-bit key.
    AesCbc256,
}

impl EncrAlg {
    /// Every supported encryption algorithm.
    pub const ALL: [Self; 4] = [
        Self::AesGcm16_128,
        Self::AesGcm16_256,
        Self::AesCbc128,
        Self::AesCbc256,
    ];

    /// The IANA transform ID (transform type 1).
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::AesGcm16_128 | Self::AesGcm16_256 => 20,
            Self::AesCbc128 | Self::AesCbc256 => 12,
        }
    }

    /// The value of the Key Length transform attribute (type 14), in bits.
    pub const fn key_bits(self) -> u16 {
        match self {
            Self::AesGcm16_128 | Self::AesCbc128 => 128,
            Self::AesGcm16_256 | Self::AesCbc256 => 256,
        }
    }

    /// The algorithm for a transform ID and its Key Length attribute, if supported.
    pub const fn from_transform(id: u16, key_bits: u16) -> Option<Self> {
        match (id, key_bits) {
            (20, 128) => Some(Self::AesGcm16_128),
            (20, 256) => Some(Self::AesGcm16_256),
            (12, 128) => Some(Self::AesCbc128),
            (12, 256) => Some(Self::AesCbc256),
            _ => None,
        }
    }

    /// Bytes of keying material taken for one `SK_e` (or one Child SA
    /// encryption key): the AES key, plus the 4-octet salt for GCM
    /// (RFC 5282 7.1, RFC 4106 8.1). 16, 32, 20 or 36.
    pub const fn key_len(self) -> usize {
        match self {
            Self::AesCbc128 => 16,
            Self::AesCbc256 => 32,
            Self::AesGcm16_128 => 20,
            Self::AesGcm16_256 => 36,
        }
    }

    /// True for the AEAD (GCM) algorithms, which take [`IntegAlg::None`].
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16_128 | Self::AesGcm16_256)
    }

    /// Length of the IV at the start of the SK body: 8 for GCM, 16 for CBC.
    pub const fn iv_len(self) -> usize {
        if self.is_aead() { 8 } else { 16 }
    }

    /// The unit the encrypted part (inner payloads, padding, pad length) is
    /// padded to: 16 for CBC, 1 (no padding needed) for GCM.
    pub const fn block_len(self) -> usize {
        if self.is_aead() { 1 } else { 16 }
    }
}

/// An integrity algorithm for the SK payload (IKEv2 transform type 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum IntegAlg {
    /// NONE (ID 0): the only choice with an AEAD cipher.
    None,
    /// AUTH_HMAC_SHA2_256_128 (ID 12, RFC 4868).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (ID 13, RFC 4868).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (ID 14, RFC 4868).
    HmacSha512_256,
}

impl IntegAlg {
    /// Every integrity algorithm, `None` first.
    pub const ALL: [Self; 4] = [
        Self::None,
        Self::HmacSha256_128,
        Self::HmacSha384_192,
        Self::HmacSha512_256,
    ];

    /// The IANA transform ID (transform type 3); 0 for NONE.
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::None => 0,
            Self::HmacSha256_128 => 12,
            Self::HmacSha384_192 => 13,
            Self::HmacSha512_256 => 14,
        }
    }

    /// The algorithm for a transform ID, if supported.
    pub const fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            0 => Some(Self::None),
            12 => Some(Self::HmacSha256_128),
            13 => Some(Self::HmacSha384_192),
            14 => Some(Self::HmacSha512_256),
            _ => None,
        }
    }

    /// Key length in bytes (`SK_ai`/`SK_ar`, or a Child SA integrity key):
    /// 0, 32, 48 or 64 (RFC 4868 2.1.1).
    pub const fn key_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Length of the truncated ICV in bytes: 0, 16, 24 or 32.
    pub const fn icv_len(self) -> usize {
        self.key_len() / 2
    }

    const fn hmac(self) -> Option<PrfAlg> {
        match self {
            Self::None => None,
            Self::HmacSha256_128 => Some(PrfAlg::HmacSha256),
            Self::HmacSha384_192 => Some(PrfAlg::HmacSha384),
            Self::HmacSha512_256 => Some(PrfAlg::HmacSha512),
        }
    }
}

/// Which way a message travels. The initiator protects with `SK_ei`/`SK_ai`
/// ([`Direction::InitiatorToResponder`]) and opens with `SK_er`/`SK_ar`.
/// "Initiator" is the original initiator of the IKE SA (RFC 7296 2.14), which
/// does not change when the responder sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Messages sent by the original initiator (`SK_ei`, `SK_ai`).
    InitiatorToResponder,
    /// Messages sent by the original responder (`SK_er`, `SK_ar`).
    ResponderToInitiator,
}

/// The SK payload protection for one direction of an IKE SA: expanded keys for
/// one `SK_e` and (CBC) one `SK_a`.
///
/// # What the caller passes
///
/// Both modes use the same split of the message. Call `prefix` every byte of
/// the IKE message *before the IV*: the IKE header, any unencrypted payloads,
/// and the 4-octet generic header of the SK payload (for an SKF fragment,
/// RFC 7383 2.5, the 8-octet SKF header including Fragment Number and Total
/// Fragments). The length fields in the IKE header and in the SK/SKF payload
/// header must already hold their final values, so compute the body length
/// first with [`SkCipher::sealed_len`]. Call `body` the SK payload body: the
/// bytes after that generic header, up to the end of the message.
///
/// ```text
/// |<---------------- prefix ---------------->|<-------------------- body -------------------->|
/// | IKE header | other payloads | SK hdr (4) | IV | encrypted(inner | padding | pad len) | ICV |
/// ```
///
/// - AES-GCM (RFC 5282 5.1): the AAD is exactly `prefix`; the nonce is the
///   4-octet salt (the last 4 bytes of `SK_e`) followed by the 8-octet IV; the
///   ICV is the 16-octet GCM tag.
/// - AES-CBC + HMAC (RFC 7296 3.14): the ICV is the truncated HMAC with `SK_a`
///   over `prefix | IV | ciphertext`, i.e. the whole message up to the ICV. It
///   is checked (in constant time) before anything is decrypted.
pub struct SkCipher {
    encr: EncrAlg,
    integ: IntegAlg,
    inner: Inner,
}

enum Inner {
    Gcm128(Box<Aes128Gcm>, Zeroizing<[u8; 4]>),
    Gcm256(Box<Aes256Gcm>, Zeroizing<[u8; 4]>),
    Cbc { ek: KeyMaterial, ak: KeyMaterial },
}

impl SkCipher {
    /// Builds the cipher from `SK_e` (for GCM, key || 4-octet salt) and `SK_a`
    /// (empty for GCM).
    ///
    /// # Errors
    /// [`CryptoError::IncompatibleSuite`] for GCM with an HMAC or CBC without
    /// one; [`CryptoError::BadKeyLength`] when a key has the wrong length.
    pub fn new(
        encr: EncrAlg,
        integ: IntegAlg,
        sk_e: &[u8],
        sk_a: &[u8],
    ) -> Result<Self, CryptoError> {
        if encr.is_aead() != (integ == IntegAlg::None) {
            return Err(CryptoError::IncompatibleSuite);
        }
        if sk_e.len() != encr.key_len() {
            return Err(CryptoError::BadKeyLength {
                what: "SK_e",
                got: sk_e.len(),
                need: encr.key_len(),
            });
        }
        if sk_a.len() != integ.key_len() {
            return Err(CryptoError::BadKeyLength {
                what: "SK_a",
                got: sk_a.len(),
                need: integ.key_len(),
            });
        }
        let inner = match encr {
            EncrAlg::AesGcm16_128 | EncrAlg::AesGcm16_256 => {
                let (key, salt_bytes) = sk_e.split_at(sk_e.len() - 4);
                let mut salt = Zeroizing::new([0u8; 4]);
                salt.copy_from_slice(salt_bytes);
                let bad = |_| CryptoError::BadKeyLength {
                    what: "SK_e",
                    got: sk_e.len(),
                    need: encr.key_len(),
                };
                if encr == EncrAlg::AesGcm16_128 {
                    Inner::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?), salt)
                } else {
                    Inner::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?), salt)
                }
            }
            EncrAlg::AesCbc128 | EncrAlg::AesCbc256 => Inner::Cbc {
                ek: KeyMaterial::from_slice(sk_e),
                ak: KeyMaterial::from_slice(sk_a),
            },
        };
        Ok(Self { encr, integ, inner })
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> EncrAlg {
        self.encr
    }

    /// The integrity algorithm.
    pub fn integ(&self) -> IntegAlg {
        self.integ
    }

    /// Length of the ICV at the end of the body: 16 for GCM, else the HMAC's
    /// truncated length.
    pub fn icv_len(&self) -> usize {
        if self.encr.is_aead() {
            16
        } else {
            self.integ.icv_len()
        }
    }

    /// Length of the SK body [`seal`](Self::seal) produces for `plaintext_len`
    /// bytes of inner payloads: IV + padded ciphertext + ICV. Use it to fill
    /// in the IKE header and SK payload lengths before building `prefix`.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        self.encr.iv_len() + self.padded_len(plaintext_len) + self.icv_len()
    }

    /// Smallest `plaintext_len + padding + 1` that is a multiple of the block.
    fn padded_len(&self, plaintext_len: usize) -> usize {
        (plaintext_len + 1).next_multiple_of(self.encr.block_len())
    }

    /// Seals `plaintext` (the chain of inner payloads) and returns the SK
    /// payload body: `IV | ciphertext(plaintext | padding | pad length) | ICV`,
    /// of length [`sealed_len`](Self::sealed_len). `prefix` is every message
    /// byte before the IV (see [`SkCipher`]). The IV is drawn from `rng`
    /// (random 8 octets for GCM, random 16 octets for CBC); padding bytes are
    /// zero, and minimal.
    ///
    /// # Errors
    /// Only if the AEAD refuses the input (more than 2^36 bytes), which an IKE
    /// message cannot reach: [`CryptoError::MalformedSkPayload`].
    pub fn seal(
        &self,
        prefix: &[u8],
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, CryptoError> {
        let mut msg = Vec::with_capacity(prefix.len() + self.sealed_len(plaintext.len()));
        msg.extend_from_slice(prefix);
        self.seal_into(&mut msg, plaintext, rng)?;
        Ok(msg.split_off(prefix.len()))
    }

    /// Like [`seal`](Self::seal), but `msg` holds the prefix (every message byte
    /// before the IV) and the SK payload body is appended to it in place, so
    /// the sealed message is built in one buffer with no copy of the body.
    /// Reserve [`sealed_len`](Self::sealed_len) more bytes in `msg` up front to
    /// avoid a reallocation.
    ///
    /// # Errors
    /// As [`seal`](Self::seal); on error `msg` is left at its prefix.
    ///
    /// ```
    /// use ikev2::crypto::{EncrAlg, IntegAlg, SkCipher};
    /// use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    /// let c = SkCipher::new(EncrAlg::AesGcm16_128, IntegAlg::None, &[7; 20], &[])?;
    /// let mut msg = b"prefix".to_vec();
    /// c.seal_into(&mut msg, b"inner payloads", &mut ChaCha20Rng::seed_from_u64(1))?;
    /// assert_eq!(msg.len(), 6 + c.sealed_len(14));
    /// let (prefix, body) = msg.split_at(6);
    /// assert_eq!(&c.open(prefix, body)?[..], b"inner payloads");
    /// # Ok::<(), ikev2::crypto::CryptoError>(())
    /// ```
    pub fn seal_into(
        &self,
        msg: &mut Vec<u8>,
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), CryptoError> {
        let prefix_len = msg.len();
        let result = self.seal_tail(msg, plaintext, rng);
        if result.is_err() {
            msg.truncate(prefix_len);
        }
        result
    }

    fn seal_tail(
        &self,
        msg: &mut Vec<u8>,
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), CryptoError> {
        let iv_len = self.encr.iv_len();
        let padded = self.padded_len(plaintext.len());
        let total = self.sealed_len(plaintext.len());
        let prefix_len = msg.len();
        msg.resize(prefix_len + total, 0);
        let (prefix, body) = msg.split_at_mut(prefix_len);
        let prefix: &[u8] = prefix;
        let (iv, rest) = body.split_at_mut(iv_len);
        let (ct, icv) = rest.split_at_mut(padded);
        rng.fill_bytes(iv);
        ct[..plaintext.len()].copy_from_slice(plaintext);
        // The padding bytes stay zero; the last byte is the pad length.
        let pad_len = padded - plaintext.len() - 1;
        ct[padded - 1] = u8::try_from(pad_len).map_err(|_| CryptoError::MalformedSkPayload)?;
        match &self.inner {
            Inner::Gcm128(aead, salt) => {
                let nonce = gcm_nonce(salt, iv);
                let tag = aead
                    .encrypt_in_place_detached(Nonce::from_slice(&nonce[..]), prefix, ct)
                    .map_err(|_| CryptoError::MalformedSkPayload)?;
                icv.copy_from_slice(&tag);
            }
            Inner::Gcm256(aead, salt) => {
                let nonce = gcm_nonce(salt, iv);
                let tag = aead
                    .encrypt_in_place_detached(Nonce::from_slice(&nonce[..]), prefix, ct)
                    .map_err(|_| CryptoError::MalformedSkPayload)?;
                icv.copy_from_slice(&tag);
            }
            Inner::Cbc { ek, ak } => {
                cbc_encrypt(self.encr, ek.as_bytes(), iv, ct)?;
                let mac = self.hmac(ak.as_bytes(), prefix, iv, ct);
                icv.copy_from_slice(&mac[..icv.len()]);
            }
        }
        Ok(())
    }

    /// Verifies and decrypts an SK payload body and returns the inner payload
    /// chain with the padding and pad length removed. `prefix` is every message
    /// byte before the IV, exactly as received.
    ///
    /// # Errors
    /// [`CryptoError::MalformedSkPayload`] when `body` cannot hold IV, a pad
    /// length byte and the ICV (CBC: or is not whole blocks), or when an
    /// authenticated plaintext has a pad length larger than itself;
    /// [`CryptoError::IntegrityCheckFailed`] when the ICV or tag is wrong.
    pub fn open(&self, prefix: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        let ct_len = body
            .len()
            .checked_sub(iv_len + icv_len)
            .filter(|n| *n >= 1 && n % self.encr.block_len() == 0)
            .ok_or(CryptoError::MalformedSkPayload)?;
        let (iv, rest) = body.split_at(iv_len);
        let (ct, icv) = rest.split_at(ct_len);
        let mut buf = Zeroizing::new(ct.to_vec());
        match &self.inner {
            Inner::Gcm128(aead, salt) => {
                let nonce = gcm_nonce(salt, iv);
                aead.decrypt_in_place_detached(
                    Nonce::from_slice(&nonce[..]),
                    prefix,
                    &mut buf,
                    Tag::from_slice(icv),
                )
                .map_err(|_| CryptoError::IntegrityCheckFailed)?;
            }
            Inner::Gcm256(aead, salt) => {
                let nonce = gcm_nonce(salt, iv);
                aead.decrypt_in_place_detached(
                    Nonce::from_slice(&nonce[..]),
                    prefix,
                    &mut buf,
                    Tag::from_slice(icv),
                )
                .map_err(|_| CryptoError::IntegrityCheckFailed)?;
            }
            Inner::Cbc { ek, ak } => {
                let mac = self.hmac(ak.as_bytes(), prefix, iv, ct);
                if !bool::from(mac[..icv_len].ct_eq(icv)) {
                    return Err(CryptoError::IntegrityCheckFailed);
                }
                cbc_decrypt(self.encr, ek.as_bytes(), iv, &mut buf)?;
            }
        }
        let pad_len = usize::from(*buf.last().ok_or(CryptoError::MalformedSkPayload)?);
        let inner_len = buf
            .len()
            .checked_sub(pad_len + 1)
            .ok_or(CryptoError::MalformedSkPayload)?;
        // Shrinking in place leaves the tail in the allocation, which
        // Zeroizing wipes (it zeroizes the whole capacity) on drop.
        buf.truncate(inner_len);
        Ok(buf)
    }

    fn hmac(&self, key: &[u8], prefix: &[u8], iv: &[u8], ct: &[u8]) -> PrfBlock {
        match self.integ.hmac() {
            Some(alg) => prf_parts(alg, key, &[prefix, iv, ct]),
            None => PrfBlock::empty(),
        }
    }
}

impl std::fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("keys", &"redacted")
            .finish()
    }
}

fn gcm_nonce(salt: &[u8; 4], iv: &[u8]) -> Zeroizing<[u8; 12]> {
    let mut n = Zeroizing::new([0u8; 12]);
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    n
}

fn cbc_encrypt(encr: EncrAlg, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let len = buf.len();
    let r = match encr {
        EncrAlg::AesCbc128 => cbc::Encryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::MalformedSkPayload)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        _ => cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::MalformedSkPayload)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
    };
    r.map_err(|_| CryptoError::MalformedSkPayload)
}

fn cbc_decrypt(encr: EncrAlg, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let r = match encr {
        EncrAlg::AesCbc128 => cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::MalformedSkPayload)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        _ => cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::MalformedSkPayload)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
    };
    r.map_err(|_| CryptoError::MalformedSkPayload)
}

//! SKEYSEED, the `SK_*` keys (RFC 7296 2.14), the IKE SA rekey (2.18) and
//! Child SA KEYMAT (2.17).

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::CryptoError;
use super::prf::{PrfAlg, prf_parts, prf_plus};
use super::sk::{Direction, EncrAlg, IntegAlg, SkCipher};

/// Secret key bytes of an exact length. Zeroized on drop; `Debug` prints only
/// the length. Not `Clone`, not `PartialEq`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KeyMaterial(Box<[u8]>);

impl KeyMaterial {
    /// Copies `bytes` into a new exact-size allocation.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }

    /// The key bytes. Handle with care: do not log them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key (for example `SK_a` with an AEAD cipher).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({} bytes, redacted)", self.0.len())
    }
}

/// The seven keys of an IKE SA (RFC 7296 2.14) and the algorithms they are for.
///
/// `sk_ai`/`sk_ar` are empty with an AEAD cipher; `sk_ei`/`sk_er` include the
/// 4-octet salt for AES-GCM.
#[derive(Debug)]
pub struct IkeKeys {
    /// The negotiated PRF.
    pub prf: PrfAlg,
    /// The negotiated encryption algorithm.
    pub encr: EncrAlg,
    /// The negotiated integrity algorithm ([`IntegAlg::None`] with GCM).
    pub integ: IntegAlg,
    /// `SK_d`: derives Child SA keys and the next IKE SA's SKEYSEED.
    pub sk_d: KeyMaterial,
    /// `SK_ai`: integrity key of messages from the original initiator.
    pub sk_ai: KeyMaterial,
    /// `SK_ar`: integrity key of messages from the original responder.
    pub sk_ar: KeyMaterial,
    /// `SK_ei`: encryption key (and salt) of messages from the original initiator.
    pub sk_ei: KeyMaterial,
    /// `SK_er`: encryption key (and salt) of messages from the original responder.
    pub sk_er: KeyMaterial,
    /// `SK_pi`: the initiator's key for the AUTH payload (MACedIDForI).
    pub sk_pi: KeyMaterial,
    /// `SK_pr`: the responder's key for the AUTH payload (MACedIDForR).
    pub sk_pr: KeyMaterial,
}

impl IkeKeys {
    /// Length of the `SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr`
    /// keying material for a suite.
    pub const fn keymat_len(prf: PrfAlg, encr: EncrAlg, integ: IntegAlg) -> usize {
        3 * prf.output_len() + 2 * integ.key_len() + 2 * encr.key_len()
    }

    /// Splits keying material from [`ike_keymat`] into the seven keys, in the
    /// order of RFC 7296 2.14.
    ///
    /// # Errors
    /// [`CryptoError::BadKeyLength`] unless `keymat` has exactly
    /// [`keymat_len`](Self::keymat_len) bytes.
    pub fn from_keymat(
        prf: PrfAlg,
        encr: EncrAlg,
        integ: IntegAlg,
        keymat: &[u8],
    ) -> Result<Self, CryptoError> {
        let need = Self::keymat_len(prf, encr, integ);
        if keymat.len() != need {
            return Err(CryptoError::BadKeyLength {
                what: "IKE SA keymat",
                got: keymat.len(),
                need,
            });
        }
        let mut rest = keymat;
        let mut take = |n: usize| {
            let (k, r) = rest.split_at(n);
            rest = r;
            KeyMaterial::from_slice(k)
        };
        let (p, a, e) = (prf.output_len(), integ.key_len(), encr.key_len());
        Ok(Self {
            prf,
            encr,
            integ,
            sk_d: take(p),
            sk_ai: take(a),
            sk_ar: take(a),
            sk_ei: take(e),
            sk_er: take(e),
            sk_pi: take(p),
            sk_pr: take(p),
        })
    }

    /// The SK payload cipher for messages travelling in `dir`: a sender uses
    /// its own direction to seal, a receiver the peer's to open.
    ///
    /// # Errors
    /// [`CryptoError::IncompatibleSuite`] if `encr` and `integ` do not combine.
    pub fn cipher(&self, dir: Direction) -> Result<SkCipher, CryptoError> {
        match dir {
            Direction::InitiatorToResponder => SkCipher::new(
                self.encr,
                self.integ,
                self.sk_ei.as_bytes(),
                self.sk_ai.as_bytes(),
            ),
            Direction::ResponderToInitiator => SkCipher::new(
                self.encr,
                self.integ,
                self.sk_er.as_bytes(),
                self.sk_ar.as_bytes(),
            ),
        }
    }

    /// The `SK_p` key for the AUTH payload of the original initiator
    /// (`SK_pi`) or responder (`SK_pr`).
    pub fn sk_p(&self, dir: Direction) -> &KeyMaterial {
        match dir {
            Direction::InitiatorToResponder => &self.sk_pi,
            Direction::ResponderToInitiator => &self.sk_pr,
        }
    }
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 2.14). With the HMAC PRFs the
/// whole nonces form the key.
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(ni.len() + nr.len()));
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    Zeroizing::new(prf_parts(prf, &key, &[g_ir]).to_vec())
}

/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` for a rekeyed IKE SA
/// (RFC 7296 2.18). `old_prf` is the PRF of the IKE SA being rekeyed, which the
/// RFC says computes SKEYSEED; `ni`/`nr` are the nonces of the
/// CREATE_CHILD_SA exchange.
pub fn rekey_skeyseed(
    old_prf: PrfAlg,
    old_sk_d: &[u8],
    g_ir_new: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(prf_parts(old_prf, old_sk_d, &[g_ir_new, ni, nr]).to_vec())
}

/// `prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)` truncated to `len` bytes
/// (RFC 7296 2.14). SPIs are the 8-octet header values read big-endian.
///
/// # Errors
/// [`CryptoError::PrfPlusTooLong`] beyond 255 PRF blocks.
pub fn ike_keymat(
    prf: PrfAlg,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut seed = Zeroizing::new(Vec::with_capacity(ni.len() + nr.len() + 16));
    seed.extend_from_slice(ni);
    seed.extend_from_slice(nr);
    seed.extend_from_slice(&spi_i.to_be_bytes());
    seed.extend_from_slice(&spi_r.to_be_bytes());
    prf_plus(prf, skeyseed, &seed, len)
}

/// Derives the keys of a new IKE SA from IKE_SA_INIT: SKEYSEED from the nonces
/// and the DH shared secret, then `SK_d .. SK_pr` with prf+ (RFC 7296 2.14).
///
/// `spi_i`/`spi_r` are the IKE SPIs as read big-endian from the header.
///
/// # Errors
/// [`CryptoError::PrfPlusTooLong`] cannot happen with the supported suites;
/// the `Result` is kept for future algorithms.
pub fn derive_ike_keys(
    prf: PrfAlg,
    encr: EncrAlg,
    integ: IntegAlg,
    ni: &[u8],
    nr: &[u8],
    g_ir: &[u8],
    spi_i: u64,
    spi_r: u64,
) -> Result<IkeKeys, CryptoError> {
    let seed = skeyseed(prf, ni, nr, g_ir);
    let len = IkeKeys::keymat_len(prf, encr, integ);
    let km = ike_keymat(prf, &seed, ni, nr, spi_i, spi_r, len)?;
    IkeKeys::from_keymat(prf, encr, integ, &km)
}

/// Derives the keys of the IKE SA that replaces `old` in a CREATE_CHILD_SA
/// rekey (RFC 7296 2.18): `SKEYSEED = prf_old(SK_d (old), g^ir (new) | Ni | Nr)`,
/// then prf+ with the new SA's PRF over `Ni | Nr | SPIi | SPIr`, where the
/// nonces are those of the rekey exchange (initiator's first) and the SPIs
/// those of the new IKE SA (the rekey initiator's SPI first).
///
/// # Errors
/// As [`derive_ike_keys`].
pub fn derive_rekeyed_ike_keys(
    old: &IkeKeys,
    prf: PrfAlg,
    encr: EncrAlg,
    integ: IntegAlg,
    ni: &[u8],
    nr: &[u8],
    g_ir_new: &[u8],
    spi_i: u64,
    spi_r: u64,
) -> Result<IkeKeys, CryptoError> {
    let seed = rekey_skeyseed(old.prf, old.sk_d.as_bytes(), g_ir_new, ni, nr);
    let len = IkeKeys::keymat_len(prf, encr, integ);
    let km = ike_keymat(prf, &seed, ni, nr, spi_i, spi_r, len)?;
    IkeKeys::from_keymat(prf, encr, integ, &km)
}

/// Child SA KEYMAT (RFC 7296 2.17): `prf+(SK_d, Ni | Nr)`, or with PFS
/// `prf+(SK_d, g^ir (new) | Ni | Nr)`. For the first Child SA (IKE_AUTH) the
/// nonces are those of IKE_SA_INIT; for CREATE_CHILD_SA those of that exchange.
///
/// # Errors
/// [`CryptoError::PrfPlusTooLong`] beyond 255 PRF blocks.
pub fn child_keymat(
    prf: PrfAlg,
    sk_d: &[u8],
    g_ir_new: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let g = g_ir_new.unwrap_or_default();
    let mut seed = Zeroizing::new(Vec::with_capacity(g.len() + ni.len() + nr.len()));
    seed.extend_from_slice(g);
    seed.extend_from_slice(ni);
    seed.extend_from_slice(nr);
    prf_plus(prf, sk_d, &seed, len)
}

/// The four keys of a Child SA, split from KEYMAT in the order of RFC 7296
/// 2.17. "Initiator" here is the initiator of the exchange that created the
/// Child SA (IKE_AUTH or CREATE_CHILD_SA). For AES-GCM each encryption key is
/// key || 4-octet salt (RFC 4106 8.1) and the integrity keys are empty.
#[derive(Debug)]
pub struct ChildKeys {
    /// Encryption key (and salt) of the SA carrying initiator -> responder traffic.
    pub encr_i: KeyMaterial,
    /// Integrity key of the initiator -> responder SA.
    pub integ_i: KeyMaterial,
    /// Encryption key (and salt) of the SA carrying responder -> initiator traffic.
    pub encr_r: KeyMaterial,
    /// Integrity key of the responder -> initiator SA.
    pub integ_r: KeyMaterial,
}

impl ChildKeys {
    /// Computes KEYMAT with [`child_keymat`] and splits it for an ESP SA using
    /// `encr` and `integ` (the same transform IDs serve ESP).
    ///
    /// # Errors
    /// As [`child_keymat`].
    ///
    /// ```
    /// use ikev2::crypto::{ChildKeys, EncrAlg, IntegAlg, PrfAlg};
    /// let sk_d = [7u8; 32];
    /// let k = ChildKeys::derive(PrfAlg::HmacSha256, &sk_d, None, b"ni", b"nr",
    ///     EncrAlg::AesGcm16_256, IntegAlg::None)?;
    /// assert_eq!(k.encr_i.len(), 36); // 32-byte key + 4-byte salt
    /// assert!(k.integ_i.is_empty());
    /// # Ok::<(), ikev2::crypto::CryptoError>(())
    /// ```
    pub fn derive(
        prf: PrfAlg,
        sk_d: &[u8],
        g_ir_new: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        encr: EncrAlg,
        integ: IntegAlg,
    ) -> Result<Self, CryptoError> {
        let (e, a) = (encr.key_len(), integ.key_len());
        let km = child_keymat(prf, sk_d, g_ir_new, ni, nr, 2 * (e + a))?;
        Self::split(&km, e, a)
    }

    /// The (encryption, integrity) keys of the ESP SA carrying traffic in
    /// `dir`, where "initiator" is the initiator of the exchange that created
    /// the Child SA. That initiator seals with `keys(InitiatorToResponder)` and
    /// opens with `keys(ResponderToInitiator)`; the responder the other way round.
    pub fn keys(&self, dir: Direction) -> (&KeyMaterial, &KeyMaterial) {
        match dir {
            Direction::InitiatorToResponder => (&self.encr_i, &self.integ_i),
            Direction::ResponderToInitiator => (&self.encr_r, &self.integ_r),
        }
    }

    /// Splits `keymat` into `encr_i | integ_i | encr_r | integ_r`.
    ///
    /// # Errors
    /// [`CryptoError::BadKeyLength`] unless `keymat` has exactly
    /// `2 * (encr_len + integ_len)` bytes.
    pub fn split(keymat: &[u8], encr_len: usize, integ_len: usize) -> Result<Self, CryptoError> {
        let need = 2 * (encr_len + integ_len);
        if keymat.len() != need {
            return Err(CryptoError::BadKeyLength {
                what: "Child SA keymat",
                got: keymat.len(),
                need,
            });
        }
        let (ei, rest) = keymat.split_at(encr_len);
        let (ai, rest) = rest.split_at(integ_len);
        let (er, ar) = rest.split_at(encr_len);
        Ok(Self {
            encr_i: KeyMaterial::from_slice(ei),
            integ_i: KeyMaterial::from_slice(ai),
            encr_r: KeyMaterial::from_slice(er),
            integ_r: KeyMaterial::from_slice(ar),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keymat_split_order() {
        let km: Vec<u8> = (0..=255u8).cycle().take(3 * 32 + 2 * 32 + 2 * 16).collect();
        let k = IkeKeys::from_keymat(
            PrfAlg::HmacSha256,
            EncrAlg::AesCbc128,
            IntegAlg::HmacSha256_128,
            &km,
        )
        .unwrap();
        assert_eq!(k.sk_d.as_bytes(), &km[0..32]);
        assert_eq!(k.sk_ai.as_bytes(), &km[32..64]);
        assert_eq!(k.sk_ar.as_bytes(), &km[64..96]);
        assert_eq!(k.sk_ei.as_bytes(), &km[96..112]);
        assert_eq!(k.sk_er.as_bytes(), &km[112..128]);
        assert_eq!(k.sk_pi.as_bytes(), &km[128..160]);
        assert_eq!(k.sk_pr.as_bytes(), &km[160..192]);
        assert!(
            IkeKeys::from_keymat(
                PrfAlg::HmacSha256,
                EncrAlg::AesCbc128,
                IntegAlg::HmacSha256_128,
                &km[1..]
            )
            .is_err()
        );
    }

    #[test]
    fn child_split_order_and_length_check() {
        let km: Vec<u8> = (0..72u8).collect();
        let k = ChildKeys::split(&km, 20, 16).unwrap();
        assert_eq!(k.encr_i.as_bytes(), &km[0..20]);
        assert_eq!(k.integ_i.as_bytes(), &km[20..36]);
        assert_eq!(k.encr_r.as_bytes(), &km[36..56]);
        assert_eq!(k.integ_r.as_bytes(), &km[56..72]);
        assert!(ChildKeys::split(&km[..71], 20, 16).is_err());
        let (e, a) = k.keys(Direction::ResponderToInitiator);
        assert_eq!((e.as_bytes(), a.as_bytes()), (&km[36..56], &km[56..72]));
        let (e, a) = k.keys(Direction::InitiatorToResponder);
        assert_eq!((e.as_bytes(), a.as_bytes()), (&km[0..20], &km[20..36]));
    }

    #[test]
    fn pfs_changes_child_keymat() {
        let a = child_keymat(PrfAlg::HmacSha256, &[1; 32], None, b"n1", b"n2", 40).unwrap();
        let b = child_keymat(PrfAlg::HmacSha256, &[1; 32], Some(b"g"), b"n1", b"n2", 40).unwrap();
        assert_ne!(&a[..], &b[..]);
    }
}

//! Authentication with a pre-shared key (RFC 7296 2.15, Auth Method 2,
//! "Shared Key Message Integrity Code").
//!
//! ```text
//! InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//! MACedIDForI           = prf(SK_pi, RestOfInitIDPayload)
//! ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//! MACedIDForR           = prf(SK_pr, RestOfRespIDPayload)
//! AUTH                  = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//! ```
//! `RestOf...IDPayload` is the ID payload without its 4-octet generic header:
//! `ID Type | RESERVED (3 octets) | Identification Data`.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::CryptoError;
use super::prf::{PrfAlg, prf, prf_parts};

/// The 17 ASCII octets "Key Pad for IKEv2", with no terminating NUL.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// Builds `<SignedOctets>` for one side.
///
/// - initiator: `real_message` = the whole IKE_SA_INIT request as sent
///   (from the IKE header, without the non-ESP marker), `peer_nonce` = Nr's
///   data, `sk_p` = `SK_pi`, `id_payload_body` = IDi without its generic header;
/// - responder: the IKE_SA_INIT response, Ni's data, `SK_pr`, IDr's body.
pub fn signed_octets(
    prf_alg: PrfAlg,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_payload_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf_parts(prf_alg, sk_p, &[id_payload_body]);
    let mut out = Vec::with_capacity(real_message.len() + peer_nonce.len() + maced_id.len());
    out.extend_from_slice(real_message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(&maced_id);
    out
}

/// `prf(psk, "Key Pad for IKEv2")`: the key the AUTH payload's PRF is keyed
/// with. It depends only on the PSK and the PRF, so a caller that signs or
/// checks many AUTH payloads with one PSK computes it once (as
/// [`Psk`](crate::Psk) does) and passes it to [`auth_with_key`] and
/// [`verify_auth_with_key`]. It is as secret as the PSK: zeroized on drop.
pub fn psk_auth_key(prf_alg: PrfAlg, psk: &[u8]) -> Zeroizing<Vec<u8>> {
    prf(prf_alg, psk, KEY_PAD)
}

/// `AUTH = prf(auth_key, signed_octets)` with `auth_key` from [`psk_auth_key`]:
/// the same value as [`psk_auth`].
pub fn auth_with_key(prf_alg: PrfAlg, auth_key: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    prf_parts(prf_alg, auth_key, &[signed_octets]).to_vec()
}

/// [`verify_psk_auth`] with `auth_key` from [`psk_auth_key`], in constant time.
///
/// # Errors
/// [`CryptoError::AuthenticationFailed`] on any mismatch, including length.
pub fn verify_auth_with_key(
    prf_alg: PrfAlg,
    auth_key: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = prf_parts(prf_alg, auth_key, &[signed_octets]);
    if bool::from(expected.ct_eq(received)) {
        Ok(())
    } else {
        Err(CryptoError::AuthenticationFailed)
    }
}

/// `AUTH = prf(prf(psk, "Key Pad for IKEv2"), signed_octets)`: the
/// Authentication Data of the AUTH payload (public; its length is the PRF's
/// output length).
///
/// ```
/// use ikev2::crypto::{psk_auth, signed_octets, verify_psk_auth, PrfAlg};
/// let prf = PrfAlg::HmacSha256;
/// let octets = signed_octets(prf, b"IKE_SA_INIT request", b"Nr", &[9; 32], b"\x01\0\0\0\x0a\0\0\x01");
/// let auth = psk_auth(prf, b"cisco", &octets);
/// assert!(verify_psk_auth(prf, b"cisco", &octets, &auth).is_ok());
/// assert!(verify_psk_auth(prf, b"wrong", &octets, &auth).is_err());
/// ```
pub fn psk_auth(prf_alg: PrfAlg, psk: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    auth_with_key(prf_alg, &psk_auth_key(prf_alg, psk), signed_octets)
}

/// Checks a received AUTH payload's Authentication Data against the PSK, in
/// constant time.
///
/// # Errors
/// [`CryptoError::AuthenticationFailed`] on any mismatch, including length.
pub fn verify_psk_auth(
    prf_alg: PrfAlg,
    psk: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    verify_auth_with_key(
        prf_alg,
        &psk_auth_key(prf_alg, psk),
        signed_octets,
        received,
    )
}

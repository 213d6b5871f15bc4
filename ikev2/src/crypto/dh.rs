//! Diffie-Hellman for the KE payload (RFC 7296 2.14, 3.4): MODP groups 14, 15
//! and 16 (RFC 3526) with `num-bigint`, group 19 (P-256, RFC 5903) and group 31
//! (Curve25519, RFC 8031).

use std::sync::OnceLock;

use curve25519_dalek::{EdwardsPoint, MontgomeryPoint};
use num_bigint::BigUint;
use num_traits::One;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::CryptoError;

/// A Diffie-Hellman group (IKEv2 transform type 4).
///
/// Wire formats of the Key Exchange Data:
/// - MODP: `g^x mod p` big-endian, left-padded with zeros to the prime's length
///   (256, 384 or 512 bytes); the shared secret is padded the same way.
/// - P-256: `x | y`, 32 bytes each (RFC 5903 7); the shared secret is the
///   32-byte x coordinate.
/// - Curve25519: the 32-byte u coordinate (RFC 8031 2); the shared secret is
///   the 32-byte X25519 output.
///
/// Curve25519 is X25519 of RFC 7748 computed on the birationally equivalent
/// Edwards curve with `curve25519-dalek`: the key pair from its precomputed
/// basepoint table, the shared secret by a constant-time variable-base
/// multiplication (the AVX2 backend where the CPU has it), which costs about
/// two thirds of a Montgomery ladder. A peer value that is not on the curve
/// (a twist point, which an honest peer never sends) takes the Montgomery
/// ladder, so the result is X25519's for every input.
///
/// MODP private exponents have the size RFC 3526 section 8 gives for the
/// group's strength ("Strength Estimate 2": 320, 420 and 480 bits for groups
/// 14, 15 and 16) rather than the full length of the prime. `num-bigint`'s
/// `modpow` is not constant-time: prefer groups 19 and 31 where timing matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DhGroup {
    /// Group 14: 2048-bit MODP (RFC 3526 3).
    Modp2048,
    /// Group 15: 3072-bit MODP (RFC 3526 4).
    Modp3072,
    /// Group 16: 4096-bit MODP (RFC 3526 5).
    Modp4096,
    /// Group 19: 256-bit random ECP group, NIST P-256 (RFC 5903).
    Ecp256,
    /// Group 31: Curve25519 (RFC 8031).
    Curve25519,
}

impl DhGroup {
    /// Every supported group.
    pub const ALL: [Self; 5] = [
        Self::Modp2048,
        Self::Modp3072,
        Self::Modp4096,
        Self::Ecp256,
        Self::Curve25519,
    ];

    /// The IANA transform ID (transform type 4), also the KE payload's
    /// Diffie-Hellman Group Num.
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::Modp2048 => 14,
            Self::Modp3072 => 15,
            Self::Modp4096 => 16,
            Self::Ecp256 => 19,
            Self::Curve25519 => 31,
        }
    }

    /// The group for an IANA transform ID, if supported.
    pub const fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            14 => Some(Self::Modp2048),
            15 => Some(Self::Modp3072),
            16 => Some(Self::Modp4096),
            19 => Some(Self::Ecp256),
            31 => Some(Self::Curve25519),
            _ => None,
        }
    }

    /// Length of the Key Exchange Data in the KE payload: 256, 384, 512, 64, 32.
    pub const fn public_len(self) -> usize {
        match self {
            Self::Modp2048 => 256,
            Self::Modp3072 => 384,
            Self::Modp4096 => 512,
            Self::Ecp256 => 64,
            Self::Curve25519 => 32,
        }
    }

    /// Length of the shared secret `g^ir`: 256, 384, 512, 32, 32.
    pub const fn shared_len(self) -> usize {
        match self {
            Self::Ecp256 => 32,
            other => other.public_len(),
        }
    }

    /// Bits of the MODP private exponent (RFC 3526 8), or `None` for the
    /// elliptic curve groups.
    pub const fn modp_exponent_bits(self) -> Option<usize> {
        match self {
            Self::Modp2048 => Some(320),
            Self::Modp3072 => Some(420),
            Self::Modp4096 => Some(480),
            Self::Ecp256 | Self::Curve25519 => None,
        }
    }
}

/// The private half of an ephemeral Diffie-Hellman key pair. Zeroized on drop
/// (the MODP exponent's byte form; `num-bigint` temporaries are not), `Debug`
/// prints only the group. Consumed by [`shared`](Self::shared).
pub struct DhSecret {
    group: DhGroup,
    inner: Inner,
    /// The public value, computed once (a MODP exponentiation costs milliseconds).
    public: Vec<u8>,
}

enum Inner {
    Modp(Zeroizing<Vec<u8>>),
    Ecp256(p256::SecretKey),
    /// The 32 private bytes as drawn; clamped (RFC 7748 5) at each use.
    X25519(Zeroizing<[u8; 32]>),
}

impl DhSecret {
    /// Generates a fresh key pair and returns it with the public value for the
    /// KE payload (format in [`DhGroup`]).
    ///
    /// ```
    /// use ikev2::crypto::{DhGroup, DhSecret};
    /// use rand_chacha::rand_core::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    /// let (a, a_pub) = DhSecret::generate(DhGroup::Ecp256, &mut rng);
    /// let (b, b_pub) = DhSecret::generate(DhGroup::Ecp256, &mut rng);
    /// assert_eq!(a_pub.len(), 64);
    /// assert_eq!(a.shared(&b_pub)?, b.shared(&a_pub)?);
    /// # Ok::<(), ikev2::crypto::CryptoError>(())
    /// ```
    pub fn generate(group: DhGroup, rng: &mut (impl RngCore + CryptoRng)) -> (Self, Vec<u8>) {
        let inner = match group {
            DhGroup::Modp2048 | DhGroup::Modp3072 | DhGroup::Modp4096 => {
                let bits = group.modp_exponent_bits().unwrap_or(320);
                let mut x = Zeroizing::new(vec![0u8; bits.div_ceil(8)]);
                rng.fill_bytes(&mut x);
                // Keep exactly `bits` bits, the top one set, so the exponent
                // has its full size and is never 0 or 1.
                let extra = x.len() * 8 - bits;
                x[0] &= 0xff >> extra;
                x[0] |= 0x80 >> extra;
                Inner::Modp(x)
            }
            DhGroup::Ecp256 => Inner::Ecp256(p256::SecretKey::random(rng)),
            DhGroup::Curve25519 => {
                let mut k = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(&mut k[..]);
                Inner::X25519(k)
            }
        };
        let public = compute_public(group, &inner);
        let secret = Self {
            group,
            inner,
            public: public.clone(),
        };
        (secret, public)
    }

    /// Builds a key pair from a known private value, for known-answer tests
    /// and replaying captured exchanges. MODP: a big-endian exponent x with
    /// 1 < x < p-1; P-256: a 32-byte scalar 0 < d < n; Curve25519: 32 bytes
    /// (clamped by X25519).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPrivateValue`] for a value outside those ranges.
    pub fn from_private_bytes(
        group: DhGroup,
        private: &[u8],
    ) -> Result<(Self, Vec<u8>), CryptoError> {
        let inner = match group {
            DhGroup::Modp2048 | DhGroup::Modp3072 | DhGroup::Modp4096 => {
                let x = BigUint::from_bytes_be(private);
                let p = modp_prime(group);
                if x <= BigUint::one() || x >= p - 1u32 {
                    return Err(CryptoError::InvalidPrivateValue);
                }
                Inner::Modp(Zeroizing::new(private.to_vec()))
            }
            DhGroup::Ecp256 => Inner::Ecp256(
                p256::SecretKey::from_slice(private)
                    .map_err(|_| CryptoError::InvalidPrivateValue)?,
            ),
            DhGroup::Curve25519 => {
                let mut k = Zeroizing::new([0u8; 32]);
                if private.len() != k.len() {
                    return Err(CryptoError::InvalidPrivateValue);
                }
                k.copy_from_slice(private);
                Inner::X25519(k)
            }
        };
        let public = compute_public(group, &inner);
        let secret = Self {
            group,
            inner,
            public: public.clone(),
        };
        Ok((secret, public))
    }

    /// The group of this key pair.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The public value for the KE payload (the same bytes
    /// [`generate`](Self::generate) returned; cached, so this is cheap).
    pub fn public(&self) -> Vec<u8> {
        self.public.clone()
    }

    /// Computes the shared secret `g^ir` from the peer's KE data, after
    /// checking it: the exact length for the group; MODP: 1 < y < p-1;
    /// P-256: a point on the curve, not the identity; Curve25519: a result
    /// that is not all zeros (a low-order point).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicValue`] if a check fails.
    pub fn shared(self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if peer_public.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPublicValue);
        }
        match &self.inner {
            Inner::Modp(x) => {
                let p = modp_prime(self.group);
                let y = BigUint::from_bytes_be(peer_public);
                // RFC 7296 / NIST SP 800-56A: reject 0, 1, p-1 and anything >= p.
                if y <= BigUint::one() || y >= p - 1u32 {
                    return Err(CryptoError::InvalidPublicValue);
                }
                let z = y.modpow(&BigUint::from_bytes_be(x), p);
                Ok(left_pad(&z.to_bytes_be(), self.group.shared_len()))
            }
            Inner::Ecp256(d) => {
                let mut sec1 = Zeroizing::new([0u8; 65]);
                sec1[0] = 0x04;
                sec1[1..].copy_from_slice(peer_public);
                let pk = p256::PublicKey::from_sec1_bytes(&sec1[..])
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = p256::ecdh::diffie_hellman(d.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            Inner::X25519(k) => {
                let mut u = [0u8; 32];
                u.copy_from_slice(peer_public);
                let shared = x25519(k, u);
                // RFC 8031 2.2 / RFC 7748 6.1: an all-zero result means a
                // low-order peer value; checked in constant time.
                if bool::from(shared.ct_eq(&[0u8; 32])) {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(Zeroizing::new(shared.to_vec()))
            }
        }
    }
}

impl std::fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DhSecret({:?}, redacted)", self.group)
    }
}

fn compute_public(group: DhGroup, inner: &Inner) -> Vec<u8> {
    match inner {
        Inner::Modp(x) => {
            let p = modp_prime(group);
            let y = BigUint::from(2u32).modpow(&BigUint::from_bytes_be(x), p);
            left_pad(&y.to_bytes_be(), group.public_len()).to_vec()
        }
        Inner::Ecp256(d) => {
            let point = d.public_key().to_encoded_point(false);
            // Uncompressed SEC1 is 0x04 | x | y; the KE payload carries x | y.
            point.as_bytes().get(1..).unwrap_or_default().to_vec()
        }
        Inner::X25519(k) => EdwardsPoint::mul_base_clamped(**k)
            .to_montgomery()
            .to_bytes()
            .to_vec(),
    }
}

/// X25519(k, u) of RFC 7748 5: the u coordinate of `clamp(k)` times a point
/// with u coordinate `u` (bit 255 of `u` ignored, non-canonical values reduced).
///
/// For a `u` on Curve25519 the multiplication runs on the Edwards form (either
/// of the two Edwards points with that u gives the same u coordinate, since
/// u(-P) = u(P)); the clamped scalar is a multiple of the cofactor, so a
/// low-order input gives the identity, whose u coordinate is 0, as X25519
/// does. `u` = -1 and twist points have no Edwards point: the Montgomery
/// ladder handles them. Which path runs depends only on the public `u`; both
/// are constant-time in `k`.
fn x25519(k: &[u8; 32], u: [u8; 32]) -> Zeroizing<[u8; 32]> {
    let peer = MontgomeryPoint(u);
    let mut point = match peer.to_edwards(0) {
        Some(p) => {
            let mut shared = p.mul_clamped(*k);
            let u = shared.to_montgomery();
            shared.zeroize();
            u
        }
        None => peer.mul_clamped(*k),
    };
    let out = Zeroizing::new(point.to_bytes());
    point.zeroize();
    out
}

fn left_pad(bytes: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    let n = bytes.len().min(len);
    out[len - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    out
}

fn modp_prime(group: DhGroup) -> &'static BigUint {
    static P2048: OnceLock<BigUint> = OnceLock::new();
    static P3072: OnceLock<BigUint> = OnceLock::new();
    static P4096: OnceLock<BigUint> = OnceLock::new();
    let (cell, hex) = match group {
        DhGroup::Modp3072 => (&P3072, MODP3072_HEX),
        DhGroup::Modp4096 => (&P4096, MODP4096_HEX),
        _ => (&P2048, MODP2048_HEX),
    };
    cell.get_or_init(|| BigUint::parse_bytes(hex.as_bytes(), 16).unwrap_or_default())
}

/// The 2048-bit MODP prime of RFC 3526, in hex.
const MODP2048_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// The 3072-bit MODP prime of RFC 3526, in hex.
const MODP3072_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// The 4096-bit MODP prime of RFC 3526, in hex.
const MODP4096_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_have_their_size_and_the_rfc_3526_shape() {
        for (g, bits) in [
            (DhGroup::Modp2048, 2048),
            (DhGroup::Modp3072, 3072),
            (DhGroup::Modp4096, 4096),
        ] {
            let p = modp_prime(g);
            assert_eq!(p.bits(), bits);
            // p = 2^n - 2^(n-64) - 1 + 2^64 * (...): the top and bottom 64 bits are all ones.
            assert_eq!(p >> (bits - 64), BigUint::from(u64::MAX));
            assert_eq!(p % (BigUint::one() << 64), BigUint::from(u64::MAX));
            // Fermat check with base 3 (p is prime, so 3^(p-1) = 1).
            assert!(BigUint::from(3u32).modpow(&(p - 1u32), p).is_one());
        }
    }

    /// The reference: x25519-dalek's X25519, a Montgomery ladder.
    fn ladder(k: [u8; 32], u: [u8; 32]) -> [u8; 32] {
        x25519_dalek::x25519(k, u)
    }

    #[test]
    fn x25519_edwards_path_equals_the_ladder_on_curve_and_twist_points() {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = ChaCha20Rng::seed_from_u64(31);
        let (mut on_curve, mut twist) = (0, 0);
        for i in 0..300 {
            let mut k = [0u8; 32];
            let mut u = [0u8; 32];
            rng.fill_bytes(&mut k);
            rng.fill_bytes(&mut u);
            if i % 3 == 0 {
                // A real public value (always on the curve), sometimes with bit 255 set.
                u = ladder(u, x25519_dalek::X25519_BASEPOINT_BYTES);
                u[31] |= u8::from(i % 2 == 0) << 7;
            }
            if MontgomeryPoint(u).to_edwards(0).is_some() {
                on_curve += 1;
            } else {
                twist += 1;
            }
            assert_eq!(*x25519(&k, u), ladder(k, u), "k={k:02x?} u={u:02x?}");
        }
        // Random u values land on the curve and on the twist about half the time each.
        assert!(on_curve > 100 && twist > 50, "{on_curve} {twist}");
    }

    #[test]
    fn x25519_special_inputs_equal_the_ladder() {
        let k = [0x5a; 32];
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut p_minus_1 = p;
        p_minus_1[0] = 0xec;
        let mut p_plus_1 = p;
        p_plus_1[0] = 0xee;
        let mut one = [0u8; 32];
        one[0] = 1;
        for u in [[0u8; 32], one, p, p_minus_1, p_plus_1, [0xff; 32]] {
            assert_eq!(*x25519(&k, u), ladder(k, u), "u={u:02x?}");
        }
        // u = -1 has no Edwards point (the ladder path); it has low order on
        // the twist, so X25519 gives 0 there as for u = 0 and u = 1.
        assert!(MontgomeryPoint(p_minus_1).to_edwards(0).is_none());
        for u in [[0u8; 32], one, p_minus_1] {
            assert_eq!(*x25519(&k, u), [0u8; 32]);
        }
    }

    #[test]
    fn x25519_public_values_equal_the_reference() {
        for seed in 0..20u8 {
            let k = [seed.wrapping_mul(37).wrapping_add(1); 32];
            let (_, public) = DhSecret::from_private_bytes(DhGroup::Curve25519, &k).unwrap();
            assert_eq!(public, ladder(k, x25519_dalek::X25519_BASEPOINT_BYTES));
        }
    }

    /// RFC 7748 5.2, the iterated test: after 1,000 iterations of
    /// `k, u = X25519(k, u), k` from k = u = 9.
    #[test]
    fn rfc7748_x25519_iterated_1000() {
        let mut k = [0u8; 32];
        k[0] = 9;
        let mut u = k;
        for _ in 0..1000 {
            let r = *x25519(&k, u);
            u = k;
            k = r;
        }
        assert_eq!(
            hex::encode(k),
            "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"
        );
    }

    #[test]
    fn left_pad_pads_on_the_left() {
        assert_eq!(&left_pad(&[1, 2], 4)[..], &[0, 0, 1, 2]);
        assert_eq!(&left_pad(&[1, 2, 3], 3)[..], &[1, 2, 3]);
    }
}

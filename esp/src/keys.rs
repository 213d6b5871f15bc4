//! Key material of one ESP SA: the AES key and the RFC 4106 salt.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::ConfigError;

/// Length of the RFC 4106 salt (the implicit part of the GCM nonce).
pub const SALT_LEN: usize = 4;

/// The AES-GCM key (16 or 32 bytes) and the 4-byte salt of one SA (RFC 4106 §4, §8.1).
///
/// Zeroized on drop; `Debug` prints only the key length. Not `Clone`: each SA takes its own
/// copy, built from the KEYMAT the key exchange hands out.
///
/// ```
/// use esp::SaKey;
/// // IKEv2 (RFC 7296 §2.17, RFC 4106 §8.1) hands out KEYMAT = key || salt: 20 or 36 bytes.
/// let key = SaKey::from_keymat(&[0x11; 36])?;
/// assert_eq!(key.key_len(), 32);
/// assert!(!format!("{key:?}").contains("1111"));
/// # Ok::<(), esp::ConfigError>(())
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SaKey {
    key: [u8; 32],
    key_len: u8,
    salt: [u8; SALT_LEN],
}

impl SaKey {
    /// A key of 16 or 32 bytes and its salt.
    ///
    /// # Errors
    /// [`ConfigError::BadKeyLength`] when `key` is not 16 or 32 bytes long.
    pub fn new(key: &[u8], salt: [u8; SALT_LEN]) -> Result<Self, ConfigError> {
        let key_len = match key.len() {
            16 => 16u8,
            32 => 32u8,
            n => return Err(ConfigError::BadKeyLength(n)),
        };
        let mut k = [0u8; 32];
        k[..key.len()].copy_from_slice(key);
        Ok(Self {
            key: k,
            key_len,
            salt,
        })
    }

    /// Splits KEYMAT as IKEv2 hands it out for AES-GCM (RFC 4106 §8.1): the key followed by the
    /// 4-byte salt, 20 bytes for AES-128 and 36 bytes for AES-256.
    ///
    /// # Errors
    /// [`ConfigError::BadKeyLength`] when `keymat` is not 20 or 36 bytes long.
    pub fn from_keymat(keymat: &[u8]) -> Result<Self, ConfigError> {
        let Some((key, salt)) = keymat.split_last_chunk::<SALT_LEN>() else {
            return Err(ConfigError::BadKeyLength(keymat.len()));
        };
        Self::new(key, *salt).map_err(|_| ConfigError::BadKeyLength(keymat.len()))
    }

    /// The AES key length in bytes: 16 or 32.
    pub fn key_len(&self) -> usize {
        usize::from(self.key_len)
    }

    pub(crate) fn key(&self) -> &[u8] {
        self.key.get(..self.key_len()).unwrap_or(&[])
    }

    pub(crate) fn salt(&self) -> [u8; SALT_LEN] {
        self.salt
    }
}

impl core::fmt::Debug for SaKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "SaKey(aes-{}, key and salt redacted)",
            self.key_len() * 8
        )
    }
}

/// The salt kept by a live SA; zeroized on drop, never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Salt(pub(crate) [u8; SALT_LEN]);

impl core::fmt::Debug for Salt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Salt(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keymat_lengths() {
        assert_eq!(SaKey::from_keymat(&[1; 20]).map(|k| k.key_len()), Ok(16));
        assert_eq!(SaKey::from_keymat(&[1; 36]).map(|k| k.key_len()), Ok(32));
        for n in [0, 3, 4, 16, 19, 21, 24, 28, 32, 35, 37] {
            assert_eq!(
                SaKey::from_keymat(&vec![1; n]).map(|k| k.key_len()),
                Err(ConfigError::BadKeyLength(n))
            );
        }
    }

    #[test]
    fn keymat_split_order_is_key_then_salt() {
        let mut km = [0u8; 20];
        for (i, b) in km.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap_or(0);
        }
        let k = SaKey::from_keymat(&km).unwrap();
        assert_eq!(k.key(), &km[..16]);
        assert_eq!(k.salt(), [16, 17, 18, 19]);
    }
}

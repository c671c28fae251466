//! Keyed hashes (HMAC-SHA256) that stand in for user ids, key codes and timing sequences.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 under a deployment secret, with a domain label per use.
///
/// Without the secret, a hash cannot be linked to a user id or reversed by trying candidate
/// inputs. Each use passes its own domain label, so a user-file hash never equals a replay hash
/// of the same bytes.
#[derive(Clone)]
pub struct KeyedHasher {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of debug output.
        f.write_str("KeyedHasher { .. }")
    }
}

impl KeyedHasher {
    /// Builds a hasher keyed by `secret` (HMAC accepts keys of any length).
    pub fn new(secret: &[u8]) -> Self {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .expect("OK because HMAC accepts keys of any length");
        KeyedHasher { mac }
    }

    /// Returns the 32-byte HMAC of `domain` and `parts`, each length-prefixed so that
    /// different splits of the same bytes give different hashes.
    pub fn hash(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&(domain.len() as u64).to_le_bytes());
        mac.update(domain.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Returns the first 8 bytes of [`KeyedHasher::hash`] as an integer.
    pub fn hash_u64(&self, domain: &str, parts: &[&[u8]]) -> u64 {
        let full = self.hash(domain, parts);
        let mut head = [0u8; 8];
        head.copy_from_slice(&full[..8]);
        u64::from_le_bytes(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_key_domain_and_split() {
        let a = KeyedHasher::new(b"secret-a");
        let b = KeyedHasher::new(b"secret-b");
        assert_ne!(a.hash("user", &[b"alice"]), b.hash("user", &[b"alice"]));
        assert_ne!(a.hash("user", &[b"alice"]), a.hash("replay", &[b"alice"]));
        assert_ne!(
            a.hash("user", &[b"al", b"ice"]),
            a.hash("user", &[b"alice"])
        );
        assert_eq!(a.hash("user", &[b"alice"]), a.hash("user", &[b"alice"]));
    }
}

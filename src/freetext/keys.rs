//! Keyed hashes of key identities, and the coarse key classes used for back-off.
//!
//! Free-text models must not store what was typed. Every n-graph is stored under a 64-bit
//! SipHash-1-3 of its key codes, keyed with a 128-bit per-deployment secret. The key space is
//! small (about 100 keys, so about 10^6 trigraphs), so an unkeyed hash could be inverted by
//! enumeration. With a secret that never leaves the deployment's configuration it cannot.
//! The secret itself is never serialised into a model: models keep only its fingerprint, so
//! scoring with a different secret is detected.

use std::hash::{BuildHasherDefault, Hasher};

use siphasher::sip::SipHasher13;

/// A 128-bit secret that keys the n-graph hashes of one deployment.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret([u8; 16]);

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySecret(fingerprint {:016x})", self.fingerprint())
    }
}

impl KeySecret {
    /// Wraps 16 secret bytes, for example read from the deployment's configuration.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        KeySecret(bytes)
    }

    /// Draws a fresh secret from the operating system's random source (through `rand`'s
    /// thread-local generator, which is seeded from it).
    pub fn generate() -> Self {
        KeySecret(rand::random())
    }

    /// Returns a public 64-bit identifier of the secret: the keyed hash of a fixed tag that no n-graph
    /// uses. It lets a model check that samples were hashed with its secret.
    pub fn fingerprint(&self) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.0);
        h.write(b"kinetype-fingerprint");
        h.finish()
    }

    /// Hashes an n-graph: a tag that separates feature kinds and levels, then the codes.
    #[inline]
    pub(crate) fn hash(&self, tag: u8, codes: &[u32]) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.0);
        h.write_u8(tag);
        for &c in codes {
            h.write_u32(c);
        }
        h.finish()
    }
}

/// Coarse key classes for browser `keyCode` values, used when a user's model has too few
/// samples of an exact n-graph. Letters are split by the hand that types them on QWERTY touch
/// typing, because that changes digraph latencies most.
pub(crate) fn key_class(code: u32) -> u32 {
    match code {
        8 | 46 => 0,                 // Backspace, Delete: corrections
        32 => 1,                     // Space
        16..=18 | 20 | 91 | 93 => 2, // Shift, Ctrl, Alt, Caps Lock, Meta
        // Left-hand letters Q W E R T A S D F G Z X C V B.
        65 | 66 | 67 | 68 | 69 | 70 | 71 | 81 | 82 | 83 | 84 | 86 | 87 | 88 | 90 => 3,
        72..=80 | 85 | 89 => 4,  // Right-hand letters H..P, U, Y
        48..=57 | 96..=105 => 5, // Digits, main row and keypad
        _ => 6,                  // Punctuation, Enter, arrows and everything else
    }
}

/// True for keys that delete text (Backspace 8, Delete 46 in browser `keyCode`).
pub(crate) fn is_correction(code: u32) -> bool {
    matches!(code, 8 | 46)
}

/// A hasher for keys that are already uniform 64-bit hashes. Hashing them again with the std
/// `HashMap` default (SipHash) would only add time to every model lookup.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Map from n-graph hash to a value, without rehashing the hash.
pub(crate) type HashedMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<PassThrough>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_secret() {
        let a = KeySecret::from_bytes([1; 16]);
        let b = KeySecret::from_bytes([2; 16]);
        assert_ne!(a.hash(0, &[65, 66]), b.hash(0, &[65, 66]));
        assert_eq!(a.hash(0, &[65, 66]), a.hash(0, &[65, 66]));
    }

    #[test]
    fn hash_depends_on_tag_and_order() {
        let s = KeySecret::from_bytes([7; 16]);
        assert_ne!(s.hash(0, &[65, 66]), s.hash(1, &[65, 66]));
        assert_ne!(s.hash(0, &[65, 66]), s.hash(0, &[66, 65]));
    }

    #[test]
    fn debug_hides_secret_bytes() {
        let s = KeySecret::from_bytes([0xab; 16]);
        let text = format!("{s:?}");
        assert!(!text.contains("171"));
        assert!(!text.contains("abab"));
    }
}

//! Keyed hashes of key identities, and the coarse key classes used for back-off.
//!
//! Free-text models must not store what was typed. Every n-graph is stored under a 64-bit
//! SipHash-1-3 of its key codes, keyed with a 128-bit per-deployment secret. The key space is
//! small (about 100 keys, so about 10^6 trigraphs), so an unkeyed hash could be inverted by
//! enumeration. With a secret that never leaves the deployment's configuration it cannot.
//! The secret itself is never serialised into a model: models keep only its fingerprint, so
//! scoring with a different secret is detected.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use siphasher::sip::SipHasher13;

/// A 128-bit secret that keys the n-graph hashes of one deployment.
#[derive(Clone)]
pub struct KeySecret {
    key: [u8; 16],
    /// Hashes of every key-class n-graph, precomputed because there are only a few hundred of
    /// them and every timing needs one. [`KeySecret::class_hash`] reads it.
    classes: Arc<[u64]>,
}

impl PartialEq for KeySecret {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for KeySecret {}

/// Number of key classes that [`key_class`] returns.
const CLASSES: usize = 7;
/// Tag bit that separates class-level hashes from exact n-graph hashes.
pub(crate) const CLASS_TAG: u8 = 0x80;
/// Tags (timing kinds) that class hashes are precomputed for.
const TAGS: usize = 6;
/// Class n-graphs of one to three keys per tag: 7 + 49 + 343.
const PER_TAG: usize = CLASSES + CLASSES * CLASSES + CLASSES * CLASSES * CLASSES;

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySecret(fingerprint {:016x})", self.fingerprint())
    }
}

impl KeySecret {
    /// Wraps 16 secret bytes, for example read from the deployment's configuration.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut secret = KeySecret {
            key: bytes,
            classes: Arc::from(Vec::new()),
        };
        let mut table = Vec::with_capacity(TAGS * PER_TAG);
        for tag in 0..TAGS as u8 {
            for len in 1..=3u32 {
                for index in 0..(CLASSES as u32).pow(len) {
                    let mut classes = [0u32; 3];
                    let mut rest = index;
                    for c in classes[..len as usize].iter_mut().rev() {
                        *c = rest % CLASSES as u32;
                        rest /= CLASSES as u32;
                    }
                    table.push(secret.hash(tag | CLASS_TAG, &classes[..len as usize]));
                }
            }
        }
        secret.classes = Arc::from(table);
        secret
    }

    /// Draws a fresh secret from the operating system's random source (through `rand`'s
    /// thread-local generator, which is seeded from it).
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    /// Returns a public 64-bit identifier of the secret: the keyed hash of a fixed tag that no n-graph
    /// uses. It lets a model check that samples were hashed with its secret.
    pub fn fingerprint(&self) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.key);
        h.write(b"kinetype-fingerprint");
        h.finish()
    }

    /// Hashes an n-graph: a tag that separates feature kinds and levels, then the codes.
    #[inline]
    pub(crate) fn hash(&self, tag: u8, codes: &[u32]) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.key);
        h.write_u8(tag);
        for &c in codes {
            h.write_u32(c);
        }
        h.finish()
    }
}

impl KeySecret {
    /// Returns `hash(tag | CLASS_TAG, classes)` from the precomputed table, for a tag below 6
    /// and one to three classes from [`key_class`]; other input is hashed directly.
    #[inline]
    pub(crate) fn class_hash(&self, tag: u8, classes: &[u32]) -> u64 {
        let len = classes.len();
        if usize::from(tag) >= TAGS || !(1..=3).contains(&len) {
            return self.hash(tag | CLASS_TAG, classes);
        }
        let offset = match len {
            1 => 0,
            2 => CLASSES,
            _ => CLASSES + CLASSES * CLASSES,
        };
        let index = classes
            .iter()
            .fold(0usize, |acc, &c| acc * CLASSES + c as usize);
        match self
            .classes
            .get(usize::from(tag) * PER_TAG + offset + index)
        {
            Some(&h) => h,
            None => self.hash(tag | CLASS_TAG, classes),
        }
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
///
/// Serialise it through [`sorted_map`]: a hash map's iteration order depends on its capacity
/// and insertion history, so a plain derive would encode one model in different byte orders.
pub(crate) type HashedMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Serde functions for a [`HashedMap`] field (`#[serde(with = "sorted_map")]`) that encode the
/// entries in ascending key order, so equal maps always encode to the same bytes, and that
/// reject a duplicate key on decoding instead of keeping the last value.
///
/// The encoding is a serde map, as the derived one is, so files written before the entries
/// were sorted still decode.
pub(crate) mod sorted_map {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    use super::HashedMap;

    /// Capacity reserved up front at most: a decoded length is untrusted, so a few bytes
    /// claiming 2^60 entries must not allocate for them before any entry is read.
    const MAX_RESERVED: usize = 4096;

    pub(crate) fn serialize<V: Serialize, S: Serializer>(
        map: &HashedMap<V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&u64, &V)> = map.iter().collect();
        entries.sort_unstable_by_key(|(k, _)| **k);
        serializer.collect_map(entries)
    }

    pub(crate) fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<HashedMap<V>, D::Error> {
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }

    struct MapVisitor<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
        type Value = HashedMap<V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map from n-graph hash to value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let reserve = access.size_hint().unwrap_or(0).min(MAX_RESERVED);
            let mut map = HashedMap::with_capacity_and_hasher(reserve, Default::default());
            while let Some((key, value)) = access.next_entry::<u64, V>()? {
                if map.insert(key, value).is_some() {
                    return Err(A::Error::custom(format!(
                        "n-graph hash {key:016x} appears twice"
                    )));
                }
            }
            Ok(map)
        }
    }
}

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
    fn class_table_matches_direct_hash() {
        let s = KeySecret::from_bytes([4; 16]);
        for tag in 0..6u8 {
            for classes in [&[0u32][..], &[6], &[3, 4], &[6, 0], &[1, 2, 3], &[6, 6, 6]] {
                assert_eq!(s.class_hash(tag, classes), s.hash(tag | CLASS_TAG, classes));
            }
        }
    }

    #[test]
    fn debug_hides_secret_bytes() {
        let s = KeySecret::from_bytes([0xab; 16]);
        let text = format!("{s:?}");
        assert!(!text.contains("171"));
        assert!(!text.contains("abab"));
    }
}

//! The model file envelope: a small binary header and a CRC32 around a postcard payload.
//!
//! Layout, all integers little-endian (see `models/README.md`):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `KTMODEL` followed by a zero byte |
//! | 2 | format version, u16 |
//! | 1 | model kind length `k`, at most [`MAX_KIND_LEN`] |
//! | k | model kind, ASCII |
//! | 8 | feature-schema hash: the first 8 bytes of SHA-256 of the schema text |
//! | 8 | payload length `n`, u64 |
//! | n | payload, postcard |
//! | 4 | CRC32 (IEEE) of every byte before it |

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, ModelFileProblem, Result};

/// First bytes of every model file.
pub const MAGIC: [u8; 8] = *b"KTMODEL\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Longest model kind name the header can carry.
pub const MAX_KIND_LEN: usize = 64;

/// Bytes before the kind: magic, version, kind length.
const PREFIX_LEN: usize = 8 + 2 + 1;
/// Bytes between the kind and the payload: schema hash, payload length.
const MIDDLE_LEN: usize = 8 + 8;
const CRC_LEN: usize = 4;

/// What the header of a model file declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Model kind, such as `engine/keyboard+mouse`.
    pub kind: String,
    /// First 8 bytes of SHA-256 of the feature schema text.
    pub schema_hash: [u8; 8],
}

impl Header {
    /// Builds a header, hashing the schema text.
    ///
    /// # Panics
    ///
    /// When `kind` is longer than [`MAX_KIND_LEN`] bytes or not ASCII; kinds are compile-time
    /// constants of the modalities, so this is a programming error.
    pub fn new(kind: &str, schema: &str) -> Self {
        assert!(
            kind.len() <= MAX_KIND_LEN && kind.is_ascii(),
            "model kind must be ASCII and at most {MAX_KIND_LEN} bytes"
        );
        Header {
            kind: kind.to_owned(),
            schema_hash: schema_hash(schema),
        }
    }
}

/// Returns the first 8 bytes of SHA-256 of `schema`.
pub fn schema_hash(schema: &str) -> [u8; 8] {
    let digest = Sha256::digest(schema.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    head
}

/// Wraps `payload` in the envelope.
pub fn encode(header: &Header, payload: &[u8]) -> Vec<u8> {
    let kind = header.kind.as_bytes();
    let mut out = Vec::with_capacity(PREFIX_LEN + kind.len() + MIDDLE_LEN + payload.len() + 4);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // Header::new bounds the kind at MAX_KIND_LEN (64), so it fits a u8.
    out.push(kind.len() as u8);
    out.extend_from_slice(kind);
    out.extend_from_slice(&header.schema_hash);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the envelope of `bytes` read from `path` against `expected` and returns the payload.
///
/// # Errors
///
/// [`Error::ModelFile`] naming `path` when the file is truncated, has trailing bytes, is not a
/// model file, has another format version, fails its checksum, or holds another model kind or
/// feature schema.
pub fn decode<'a>(path: &Path, bytes: &'a [u8], expected: &Header) -> Result<&'a [u8]> {
    let fail = |problem| Error::ModelFile {
        path: path.to_owned(),
        problem,
    };
    let len = bytes.len() as u64;
    let truncated = |needed: u64| fail(ModelFileProblem::Truncated { needed, len });

    if bytes.len() < MAGIC.len() {
        return Err(truncated(MAGIC.len() as u64));
    }
    if bytes[..8] != MAGIC {
        return Err(fail(ModelFileProblem::BadMagic {
            found: hex::encode(&bytes[..8]),
        }));
    }
    if bytes.len() < PREFIX_LEN {
        return Err(truncated(PREFIX_LEN as u64));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(fail(ModelFileProblem::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        }));
    }
    let kind_len = usize::from(bytes[10]);
    let payload_start = PREFIX_LEN + kind_len + MIDDLE_LEN;
    if bytes.len() < payload_start {
        return Err(truncated(payload_start as u64));
    }
    let kind_bytes = &bytes[PREFIX_LEN..PREFIX_LEN + kind_len];
    let schema_at = PREFIX_LEN + kind_len;
    let mut schema = [0u8; 8];
    schema.copy_from_slice(&bytes[schema_at..schema_at + 8]);
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&bytes[schema_at + 8..payload_start]);
    let payload_len = u64::from_le_bytes(len_bytes);

    // Saturating: a corrupted length near u64::MAX must read as "truncated", not overflow.
    let needed = (payload_start as u64)
        .saturating_add(payload_len)
        .saturating_add(CRC_LEN as u64);
    if len < needed {
        return Err(truncated(needed));
    }
    if len > needed {
        return Err(fail(ModelFileProblem::TrailingBytes {
            extra: len - needed,
        }));
    }
    // `needed == len` here, so the payload end fits in usize.
    let payload_end = bytes.len() - CRC_LEN;
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&bytes[payload_end..]);
    let stored = u32::from_le_bytes(crc_bytes);
    let computed = crc32fast::hash(&bytes[..payload_end]);
    if stored != computed {
        return Err(fail(ModelFileProblem::Checksum { stored, computed }));
    }

    if kind_bytes != expected.kind.as_bytes() {
        return Err(fail(ModelFileProblem::WrongKind {
            expected: expected.kind.clone(),
            found: String::from_utf8_lossy(kind_bytes).into_owned(),
        }));
    }
    if schema != expected.schema_hash {
        return Err(fail(ModelFileProblem::SchemaMismatch {
            expected: hex::encode(expected.schema_hash),
            found: hex::encode(schema),
        }));
    }
    Ok(&bytes[payload_start..payload_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(result: Result<&[u8]>) -> ModelFileProblem {
        match result {
            Err(Error::ModelFile { problem, .. }) => problem,
            other => panic!("expected a model file error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_returns_payload() {
        let header = Header::new("test/kind", "schema v1");
        let bytes = encode(&header, b"payload");
        assert_eq!(decode(Path::new("f"), &bytes, &header).unwrap(), b"payload");
    }

    #[test]
    fn every_truncation_is_rejected() {
        let header = Header::new("test/kind", "schema v1");
        let bytes = encode(&header, b"payload");
        for cut in 0..bytes.len() {
            let result = decode(Path::new("f"), &bytes[..cut], &header);
            assert!(
                matches!(problem(result), ModelFileProblem::Truncated { .. }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn foreign_future_and_mismatched_files_are_typed() {
        let header = Header::new("test/kind", "schema v1");
        let bytes = encode(&header, b"payload");
        let path = Path::new("f");

        let foreign = b"PK\x03\x04 not a model file at all".to_vec();
        assert!(matches!(
            problem(decode(path, &foreign, &header)),
            ModelFileProblem::BadMagic { .. }
        ));

        let mut future = bytes.clone();
        future[8..10].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(
            problem(decode(path, &future, &header)),
            ModelFileProblem::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        );

        let other_kind = Header::new("test/other", "schema v1");
        assert!(matches!(
            problem(decode(path, &bytes, &other_kind)),
            ModelFileProblem::WrongKind { .. }
        ));
        let other_schema = Header::new("test/kind", "schema v2");
        assert!(matches!(
            problem(decode(path, &bytes, &other_schema)),
            ModelFileProblem::SchemaMismatch { .. }
        ));

        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            problem(decode(path, &longer, &header)),
            ModelFileProblem::TrailingBytes { extra: 1 }
        );
    }
}

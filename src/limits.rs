//! Size limits on untrusted input, and model decoding under them.
//!
//! Dataset files, model files and event streams come from outside the process. Each limit
//! below caps the memory or time one input can cost; an input above a limit fails with
//! [`Error::LimitExceeded`] instead of exhausting the machine.
//! The values leave at least ten times the headroom of the largest real input that kinetype
//! reads today, so they only reject input that is broken or hostile.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Maximum bytes read from one dataset file, after decompression: a CSV or text file, a zip
/// member, or the decompressed content of a `.gz` file.
///
/// The loaders hold a whole file and its parsed form in memory, so without a cap a zip or gzip
/// bomb of a few kilobytes could allocate gigabytes. The largest file of the supported
/// datasets is the DSL 2009 CSV at about 4.7 MB; BKSD members are below 100 KB, Aalto
/// participant files decompress to a few hundred KB and Balabit sessions are below 4 MB.
pub const MAX_DATASET_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Maximum size of a serialised model accepted by [`decode_model`].
///
/// The largest models are mouse forests: 100 trees of at most two nodes per training action,
/// about 20 bytes a node, come to about 20 MB for a user with 5,000 actions. A cap keeps a
/// corrupt or hostile file from being handed to the decoder at all.
pub const MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;

/// Maximum number of mouse events that [`segment`](fn@crate::mouse::segment) accepts in one call.
///
/// Segmentation keeps every event's position in memory (about 64 bytes an event with the
/// actions built from them). Five million events are eleven hours of continuous movement at a
/// 125 Hz polling rate; the longest Balabit session has under 100,000 events.
pub const MAX_MOUSE_EVENTS: usize = 5_000_000;

/// Maximum number of distinct keys down at once in a
/// [`StreamingScorer`](crate::freetext::StreamingScorer).
///
/// Each event costs one pass over the keys that are down. A keyboard has about 110 keys, and
/// USB HID keyboard usages fit in one byte, so more than 256 keys down means presses without
/// releases, not typing.
pub const MAX_KEYS_DOWN: usize = 256;

/// Maximum number of keystrokes a [`StreamingScorer`](crate::freetext::StreamingScorer) holds
/// while they wait for an earlier key's release.
///
/// Keystrokes wait until every earlier key is released or held longer than
/// [`ExtractConfig::max_hold_us`](crate::freetext::ExtractConfig::max_hold_us). At a fast 15
/// keys a second and the default 2 s hold limit that is about 30 keystrokes, but a stream whose
/// clock stops can make every keystroke wait, so memory needs a cap of its own.
pub const MAX_PENDING_KEYSTROKES: usize = 65_536;

/// Decodes a postcard-serialised model after checking its size against [`MAX_MODEL_BYTES`].
///
/// The whole input must be one value: trailing bytes are rejected, so a file that decodes also
/// re-encodes to the same bytes for the model types of this crate.
///
/// # Errors
///
/// [`Error::LimitExceeded`] when `bytes` is longer than [`MAX_MODEL_BYTES`], and
/// [`Error::InvalidModel`] when the bytes do not decode to a `T`, decode to a model that fails
/// its structural check, or have bytes left over.
pub fn decode_model<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(Error::limit(
            "model bytes",
            MAX_MODEL_BYTES,
            "bytes",
            "MAX_MODEL_BYTES",
        ));
    }
    let (model, rest) = postcard::take_from_bytes(bytes).map_err(|e| Error::InvalidModel {
        problem: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(Error::InvalidModel {
            problem: format!("{} bytes follow the end of the model", rest.len()),
        });
    }
    Ok(model)
}

/// Encodes `model` as it is, with no check, and decodes it through [`decode_model`], so tests
/// can feed a deliberately corrupted model to the structural checks.
#[cfg(test)]
pub(crate) fn reencode<T: serde::Serialize + DeserializeOwned>(model: &T) -> Result<T> {
    decode_model(&postcard::to_allocvec(model).expect("OK because test models encode"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mouse::forest::RandomForest;

    #[test]
    fn oversized_model_is_rejected() {
        let bytes = vec![0_u8; MAX_MODEL_BYTES as usize + 1];
        let error = decode_model::<RandomForest>(&bytes).unwrap_err();
        assert!(
            matches!(
                error,
                Error::LimitExceeded {
                    name: "MAX_MODEL_BYTES",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn trailing_model_bytes_are_rejected() {
        let model: Vec<f64> = vec![1.0, 2.0];
        let mut bytes = postcard::to_allocvec(&model).unwrap();
        assert_eq!(decode_model::<Vec<f64>>(&bytes).unwrap(), model);
        bytes.push(0);
        let error = decode_model::<Vec<f64>>(&bytes).unwrap_err();
        assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    }

    #[test]
    fn garbage_model_is_invalid() {
        let error = decode_model::<RandomForest>(&[0xff; 7]).unwrap_err();
        assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    }
}

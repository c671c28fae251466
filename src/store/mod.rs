//! The model store: one enveloped, checksummed file per user, written atomically.
//!
//! A user's file is named by a keyed hash of the user id (see [`KeyedHasher`]), so a directory
//! listing reveals neither ids nor how they relate. [`envelope`] defines the file layout; a
//! file that is truncated, corrupted, foreign or of a future version gives
//! [`Error::ModelFile`] naming the file and is never decoded as a model.
//!
//! # Example
//!
//! ```
//! use kinetype::store::{Header, ModelStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = ModelStore::open(dir.path(), b"deployment secret")?;
//! let header = Header::new("example/means", "two f64 means");
//! store.save("alice", &header, &(0.12_f64, 0.34_f64))?;
//! let loaded: Option<(f64, f64)> = store.load("alice", &header)?;
//! assert_eq!(loaded, Some((0.12, 0.34)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod envelope;
mod keyed_hash;
mod rejection;

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ModelFileProblem, Result};

pub use envelope::Header;
pub use keyed_hash::KeyedHasher;
pub use rejection::Rejection;

/// File extension of model files.
pub const EXTENSION: &str = "ktm";

/// Hash domain for model file names.
const FILE_NAME_DOMAIN: &str = "kinetype/store/user-file";

/// Counter that keeps temporary file names unique within the process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory of per-user model files.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    hasher: KeyedHasher,
}

impl ModelStore {
    /// Opens `dir`, creating it when missing; `secret` keys the file-name hashes.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>, secret: &[u8]) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(ModelStore {
            dir,
            hasher: KeyedHasher::new(secret),
        })
    }

    /// Returns the directory of the model files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the path of `user`'s file: a hex keyed hash of the id, never the id itself.
    pub fn path_for(&self, user: &str) -> PathBuf {
        let hash = self.hasher.hash(FILE_NAME_DOMAIN, &[user.as_bytes()]);
        self.dir.join(format!("{}.{EXTENSION}", hex::encode(hash)))
    }

    /// Encodes `value` with postcard, wraps it in the envelope and replaces `user`'s file
    /// atomically.
    ///
    /// The bytes go to a temporary file in the same directory, which is flushed to disk, renamed
    /// over the target, and followed by a flush of the directory. A crash at any moment leaves
    /// either the old or the new file under the target name.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when writing, flushing or renaming fails; the old file is then untouched.
    pub fn save<T: Serialize + ?Sized>(
        &self,
        user: &str,
        header: &Header,
        value: &T,
    ) -> Result<()> {
        self.save_to(&self.path_for(user), header, value)
    }

    /// Saves as [`ModelStore::save`] does, to `target`, which must be a path that
    /// [`ModelStore::path_for`] returned; the engine keeps those paths instead of clear user
    /// ids.
    pub(crate) fn save_to<T: Serialize + ?Sized>(
        &self,
        target: &Path,
        header: &Header,
        value: &T,
    ) -> Result<()> {
        let bytes = encode_file(header, value)?;
        let result = write_atomically(&self.dir, target, &bytes);
        tracing::debug!(bytes = bytes.len(), ok = result.is_ok(), "model save");
        result
    }

    /// Loads `user`'s model, or `None` when the user has no file.
    ///
    /// # Errors
    ///
    /// [`Error::ModelFile`] naming the file when its envelope or payload is invalid,
    /// [`Error::Io`] when it cannot be read.
    pub fn load<T: DeserializeOwned>(&self, user: &str, header: &Header) -> Result<Option<T>> {
        let path = self.path_for(user);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        decode_file(&path, &bytes, header).map(Some)
    }

    /// Deletes temporary files that an interrupted save left in the directory and returns
    /// how many were removed.
    ///
    /// Call it at start-up, when no other process saves into the same directory: a temporary
    /// file of a save in progress elsewhere would be deleted too, failing that save's rename.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be listed or a file cannot be removed.
    pub fn remove_stale_temp_files(&self) -> Result<usize> {
        let own_marker = format!(".{EXTENSION}.{}.", std::process::id());
        let mut removed = 0;
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_temp = name.starts_with('.') && name.ends_with(".tmp");
            // Files of this process may belong to saves in progress on other threads.
            if !is_temp || name.contains(&own_marker) {
                continue;
            }
            fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Deletes `user`'s file; a missing file is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file exists but cannot be removed.
    pub fn remove(&self, user: &str) -> Result<()> {
        let path = self.path_for(user);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(&path, e)),
            _ => Ok(()),
        }
    }
}

/// Decodes a whole model file's bytes; `path` is used in errors only.
///
/// # Errors
///
/// [`Error::ModelFile`] when the envelope is invalid or the payload does not decode as `T`
/// with no bytes left over.
pub fn decode_file<T: DeserializeOwned>(path: &Path, bytes: &[u8], header: &Header) -> Result<T> {
    let payload = envelope::decode(path, bytes, header)?;
    let payload_error = |message: String| Error::ModelFile {
        path: path.to_owned(),
        problem: ModelFileProblem::Payload { message },
    };
    rejection::clear();
    let (value, rest) = postcard::take_from_bytes::<T>(payload).map_err(|e| {
        // postcard drops the message of a failed structural check; see `rejection`.
        let message = match (&e, rejection::take()) {
            (postcard::Error::SerdeDeCustom, Some(message)) => message,
            _ => e.to_string(),
        };
        payload_error(message)
    })?;
    if !rest.is_empty() {
        return Err(payload_error(format!(
            "{} bytes left after the model",
            rest.len()
        )));
    }
    Ok(value)
}

/// Encodes `value` as a whole model file's bytes, as [`ModelStore::save`] writes them.
///
/// # Errors
///
/// [`Error::InvalidTrainingData`] when `value` does not serialise.
pub fn encode_file<T: Serialize + ?Sized>(header: &Header, value: &T) -> Result<Vec<u8>> {
    let payload = postcard::to_stdvec(value)
        .map_err(|e| Error::training(format!("model does not serialise: {e}")))?;
    Ok(envelope::encode(header, &payload))
}

/// Writes `bytes` to `target` through a temporary file, with fsyncs of file and directory.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<()> {
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A crash between create and rename leaves this temporary file behind. Loads never read
    // it because they open the target name only; `remove_stale_temp_files` deletes it.
    let temp = dir.join(format!(".{name}.{}.{counter}.tmp", std::process::id()));
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(Error::io(&temp, e));
    }
    if let Err(e) = fs::rename(&temp, target) {
        let _ = fs::remove_file(&temp);
        return Err(Error::io(target, e));
    }
    // Flushing the directory makes the rename itself durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_hides_user_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), b"k").unwrap();
        let path = store.path_for("alice@example.org");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains("alice"), "{name}");
        assert_eq!(name.len(), 64 + 1 + EXTENSION.len());
        let other_key = ModelStore::open(dir.path(), b"other").unwrap();
        assert_ne!(other_key.path_for("alice@example.org"), path);
    }

    #[test]
    fn save_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), b"k").unwrap();
        let header = Header::new("test/vec", "f64 list");
        store.save("u", &header, &vec![1.0_f64, 2.0]).unwrap();
        store.save("u", &header, &vec![3.0_f64]).unwrap();
        assert_eq!(
            store.load::<Vec<f64>>("u", &header).unwrap(),
            Some(vec![3.0])
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(store.load::<Vec<f64>>("nobody", &header).unwrap(), None);
        store.remove("u").unwrap();
        assert_eq!(store.load::<Vec<f64>>("u", &header).unwrap(), None);
    }

    #[test]
    fn payload_of_wrong_type_is_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), b"k").unwrap();
        let header = Header::new("test/vec", "f64 list");
        store.save("u", &header, &vec![1.0_f64, 2.0]).unwrap();
        let err = store.load::<(f64, f64, f64)>("u", &header).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ModelFile {
                    problem: ModelFileProblem::Payload { .. },
                    ..
                }
            ),
            "{err}"
        );
    }
}

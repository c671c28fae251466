//! The dataset catalog (`datasets/catalog.toml`): where each dataset comes from, which files
//! it has, and their checksums.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The catalog shipped with this version of kinetype.
pub const CATALOG_TOML: &str = include_str!("../../datasets/catalog.toml");

/// Environment variable naming the data root when `--data-dir` is not given.
pub const DATA_DIR_ENV: &str = "KINETYPE_DATA_DIR";

/// The parsed catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// Datasets in catalog order.
    #[serde(rename = "dataset")]
    pub datasets: Vec<DatasetEntry>,
}

/// One dataset.
#[derive(Debug, Clone, Deserialize)]
pub struct DatasetEntry {
    /// Catalog name, such as `dsl2009`.
    pub name: String,
    /// Human-readable title.
    pub title: String,
    /// Directory under the data root.
    pub directory: String,
    /// The dataset's official page.
    pub page: String,
    /// How to cite it.
    pub citation: String,
    /// Licence or terms of use.
    pub licence: String,
    /// Other names that refer to this dataset (for example one per subset).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// How to obtain files that have no download URL.
    #[serde(default)]
    pub manual: Option<String>,
    /// The files.
    #[serde(rename = "file")]
    pub files: Vec<FileEntry>,
}

/// One file of a dataset.
#[derive(Debug, Clone, Deserialize)]
pub struct FileEntry {
    /// Path relative to the dataset directory.
    pub path: String,
    /// Official download URL, if the file can be downloaded.
    #[serde(default)]
    pub url: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// MD5 as published by the source, when it publishes one.
    #[serde(default)]
    pub md5: Option<String>,
    /// The alias of the one subset that reads this file, such as `bksd-phrase-ar`. A file
    /// without one is read under every name of the dataset.
    #[serde(default)]
    pub subset: Option<String>,
}

impl Catalog {
    /// Parses the built-in catalog.
    ///
    /// # Panics
    ///
    /// Never in a release: a unit test parses the built-in catalog.
    pub fn builtin() -> Self {
        Self::parse(CATALOG_TOML).expect("OK because the built-in catalog is tested to parse")
    }

    /// Parses a catalog from TOML text.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] with the TOML error's location.
    pub fn parse(text: &str) -> Result<Self> {
        let catalog: Catalog = toml::from_str(text)
            .map_err(|e| Error::parse("datasets/catalog.toml", 0, e.to_string()))?;
        for entry in &catalog.datasets {
            for file in &entry.files {
                let Some(subset) = &file.subset else {
                    continue;
                };
                if !entry.aliases.contains(subset) {
                    let problem = format!(
                        "dataset {}: file {} names subset `{subset}`, which is not one of the \
                         dataset's aliases ({})",
                        entry.name,
                        file.path,
                        entry.aliases.join(", ")
                    );
                    return Err(Error::parse("datasets/catalog.toml", 0, problem));
                }
            }
        }
        Ok(catalog)
    }

    /// Finds a dataset by name or alias.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDataset`] listing the known names.
    pub fn get(&self, name: &str) -> Result<&DatasetEntry> {
        self.datasets
            .iter()
            .find(|d| d.name == name || d.aliases.iter().any(|a| a == name))
            .ok_or_else(|| Error::UnknownDataset {
                name: name.to_string(),
                known: self
                    .datasets
                    .iter()
                    .flat_map(|d| std::iter::once(d.name.clone()).chain(d.aliases.clone()))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl DatasetEntry {
    /// Directory of this dataset under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.directory)
    }

    /// Files that are missing under `root`.
    pub fn missing_files(&self, root: &Path) -> Vec<&FileEntry> {
        self.files
            .iter()
            .filter(|f| !self.dir(root).join(&f.path).is_file())
            .collect()
    }

    /// Files that the dataset needs when it is called `name`. Under an alias, these are the
    /// files of that alias's subset and the files without a subset. Under any other name, such
    /// as the dataset's own, they are all files.
    pub fn files_for<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a FileEntry> + 'a {
        let is_alias = self.aliases.iter().any(|alias| alias == name);
        self.files.iter().filter(move |f| match &f.subset {
            Some(subset) => !is_alias || subset == name,
            None => true,
        })
    }

    /// Files that the dataset needs when it is called `name` (see [`Self::files_for`]) and
    /// that are missing under `root`.
    pub fn missing_files_for<'a>(&'a self, root: &Path, name: &'a str) -> Vec<&'a FileEntry> {
        self.files_for(name)
            .filter(|f| !self.dir(root).join(&f.path).is_file())
            .collect()
    }
}

/// The setting that chose the data root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataRootSource {
    /// A path the caller passed, such as the command line's `--data-dir`.
    Explicit,
    /// The [`DATA_DIR_ENV`] environment variable.
    Environment,
    /// Neither: `./datasets`.
    Default,
}

/// The data root: `explicit` if given, else `$KINETYPE_DATA_DIR`, else `./datasets`.
pub fn data_root(explicit: Option<&Path>) -> PathBuf {
    resolve_data_root(explicit).0
}

/// Finds the data root as [`data_root`] does, and returns the setting that chose it, so that a
/// caller can treat a missing root that a user named differently from the default.
pub fn resolve_data_root(explicit: Option<&Path>) -> (PathBuf, DataRootSource) {
    if let Some(path) = explicit {
        return (path.to_path_buf(), DataRootSource::Explicit);
    }
    match std::env::var_os(DATA_DIR_ENV) {
        Some(value) if !value.is_empty() => (PathBuf::from(value), DataRootSource::Environment),
        _ => (PathBuf::from("datasets"), DataRootSource::Default),
    }
}

/// SHA-256 of a reader's content, as lower-case hex.
///
/// # Errors
///
/// The reader's I/O error.
pub fn sha256_hex(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 16];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that a file has the catalog's SHA-256.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be read, [`Error::Checksum`] when the digest differs.
pub fn verify_file(path: &Path, expected_sha256: &str) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let actual = sha256_hex(std::io::BufReader::new(file)).map_err(|e| Error::io(path, e))?;
    if !actual.eq_ignore_ascii_case(expected_sha256) {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: expected_sha256.to_string(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses() {
        let catalog = Catalog::builtin();
        assert!(catalog.get("dsl2009").is_ok());
        assert_eq!(catalog.get("bksd-phrase-ar").unwrap().name, "bksd");
        for entry in &catalog.datasets {
            for file in &entry.files {
                assert_eq!(file.sha256.len(), 64, "{}: {}", entry.name, file.path);
            }
        }
    }

    #[test]
    fn bksd_subset_needs_only_its_archive() {
        let catalog = Catalog::builtin();
        let entry = catalog.get("bksd-phrase-ar").unwrap();
        let paths: Vec<&str> = entry
            .files_for("bksd-phrase-ar")
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(paths, ["Phrase-Arabic.zip"]);
        assert_eq!(entry.files_for("bksd").count(), 4);
    }

    #[test]
    fn alias_without_subset_needs_every_file() {
        let catalog = Catalog::builtin();
        let entry = catalog.get("aalto").unwrap();
        assert_eq!(entry.files_for("aalto").count(), entry.files.len());
    }

    #[test]
    fn subset_must_be_an_alias() {
        let text = "[[dataset]]\nname = \"toy\"\ntitle = \"T\"\ndirectory = \"toy\"\n\
                    page = \"p\"\ncitation = \"c\"\nlicence = \"l\"\naliases = [\"toy-a\"]\n\
                    [[dataset.file]]\npath = \"b.bin\"\nsize = 1\nsha256 = \"00\"\n\
                    subset = \"toy-b\"\n";
        let error = Catalog::parse(text).unwrap_err().to_string();
        assert!(error.contains("`toy-b`"), "{error}");
        assert!(error.contains("toy-a"), "{error}");
    }

    #[test]
    fn manual_steps_name_the_source() {
        for entry in &Catalog::builtin().datasets {
            let Some(manual) = &entry.manual else {
                continue;
            };
            assert!(manual.contains(&entry.page), "{}: {manual}", entry.name);
            for word in ["above", "below", "listed here"] {
                assert!(
                    !manual.contains(word),
                    "{}: `{word}` in {manual}",
                    entry.name
                );
            }
        }
    }

    #[test]
    fn unknown_dataset_lists_known_names() {
        let err = Catalog::builtin().get("cmu").unwrap_err().to_string();
        assert!(err.contains("`cmu`") && err.contains("dsl2009"), "{err}");
    }

    #[test]
    fn malformed_catalog_is_an_error() {
        assert!(Catalog::parse("[[dataset]]\nname = 3\n").is_err());
    }

    #[test]
    fn checksum_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        verify_file(&path, abc).unwrap();
        let err = verify_file(&path, &"0".repeat(64)).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
    }

    #[test]
    fn explicit_data_root_wins() {
        assert_eq!(data_root(Some(Path::new("/x"))), PathBuf::from("/x"));
        let (path, source) = resolve_data_root(Some(Path::new("/x")));
        assert_eq!(path, PathBuf::from("/x"));
        assert_eq!(source, DataRootSource::Explicit);
    }
}

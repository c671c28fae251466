//! Loader for the Bilingual Keystroke Dynamics Dataset (BKSD, Altwaijry, MIT licence).
//!
//! Each set is a zip archive with one CSV per subject (`S1e-ksd.csv`). A file's header is
//! `H.1, DD.1_2, UD.1_2, ..., H.n, total, user`, with integer milliseconds (n = 8 keys for the
//! password sets, 16 for the phrase sets); the loader converts timings to seconds and drops
//! `total`, which is the sum of all DD plus the last H.
//!
//! Quirks of the published files, handled here:
//!
//! - subject ids mix `S` and `s` (`s10a`, `S1e`); ids are upper-cased;
//! - some hold times are negative (logging errors) and some rows are exact duplicates; both are
//!   kept, so that protocols using row positions ("first 200 rows") match other tools, and both
//!   are counted in [`FixedTextDataset::notes`];
//! - the files record no session or repetition index: row order is the typing order.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::csv_util::{Lines, read_all};
use super::{FixedTextDataset, FixedTextSubject};
use crate::error::{Error, Result};

/// One of the four BKSD sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BksdSet {
    /// 8-key password, English keyboard layout, 50 subjects.
    PasswordEnglish,
    /// 8-key password, Arabic keyboard layout, 50 subjects.
    PasswordArabic,
    /// 16-key phrase, English keyboard layout, 35 subjects.
    PhraseEnglish,
    /// 16-key phrase, Arabic keyboard layout, 35 subjects.
    PhraseArabic,
}

impl BksdSet {
    /// All four sets.
    pub const ALL: [BksdSet; 4] = [
        BksdSet::PasswordEnglish,
        BksdSet::PasswordArabic,
        BksdSet::PhraseEnglish,
        BksdSet::PhraseArabic,
    ];

    /// Catalog and command-line name, such as `bksd-password-en`.
    pub fn name(self) -> &'static str {
        match self {
            BksdSet::PasswordEnglish => "bksd-password-en",
            BksdSet::PasswordArabic => "bksd-password-ar",
            BksdSet::PhraseEnglish => "bksd-phrase-en",
            BksdSet::PhraseArabic => "bksd-phrase-ar",
        }
    }

    /// Archive file name in the `bksd` dataset directory.
    pub fn file_name(self) -> &'static str {
        match self {
            BksdSet::PasswordEnglish => "Password-English.zip",
            BksdSet::PasswordArabic => "Password-Arabic.zip",
            BksdSet::PhraseEnglish => "Phrase-English.zip",
            BksdSet::PhraseArabic => "Phrase-Arabic.zip",
        }
    }

    /// Number of keys typed per repetition.
    pub fn keys(self) -> usize {
        match self {
            BksdSet::PasswordEnglish | BksdSet::PasswordArabic => 8,
            BksdSet::PhraseEnglish | BksdSet::PhraseArabic => 16,
        }
    }

    /// Number of subjects in the published archive.
    pub fn subjects(self) -> usize {
        match self {
            BksdSet::PasswordEnglish | BksdSet::PasswordArabic => 50,
            BksdSet::PhraseEnglish | BksdSet::PhraseArabic => 35,
        }
    }

    /// Looks a set up by its name.
    pub fn from_name(name: &str) -> Option<Self> {
        BksdSet::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Feature names `H.1, DD.1_2, UD.1_2, ..., H.n` for `keys` keys.
pub fn feature_names(keys: usize) -> Vec<String> {
    // `saturating_sub` because zero keys have zero features, not a negative count.
    let mut names = Vec::with_capacity((3 * keys).saturating_sub(2));
    for k in 1..=keys {
        names.push(format!("H.{k}"));
        if k < keys {
            names.push(format!("DD.{k}_{}", k + 1));
            names.push(format!("UD.{k}_{}", k + 1));
        }
    }
    names
}

/// Loads one set from its zip archive and checks the subject count.
///
/// # Errors
///
/// [`Error::Io`] when the archive cannot be read or is not a zip file, [`Error::Parse`] naming
/// the member file, line and column of malformed content, [`Error::DatasetShape`] when the
/// number of subjects differs from the published archive.
pub fn load(set: BksdSet, archive: &Path) -> Result<FixedTextDataset> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    load_reader(set, file, archive)
}

/// Loads one set from zip archive bytes in any seekable reader; `archive` names the archive in
/// errors only.
///
/// Each member is read up to [`MAX_DATASET_FILE_BYTES`](crate::limits::MAX_DATASET_FILE_BYTES)
/// decompressed bytes.
///
/// # Errors
///
/// As [`load`], and [`Error::LimitExceeded`] for a member that decompresses to more than the
/// limit.
pub fn load_reader(
    set: BksdSet,
    reader: impl Read + Seek,
    archive: &Path,
) -> Result<FixedTextDataset> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| zip_error(archive, e))?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| n.ends_with(".csv"))
        .map(String::from)
        .collect();
    // Natural order (S1, S2, ..., S10) so subject order does not depend on the archive.
    names.sort_by_key(|n| subject_sort_key(n));
    let features = feature_names(set.keys());
    let mut subjects = Vec::with_capacity(names.len());
    let (mut negative_holds, mut duplicates) = (0_usize, 0_usize);
    for name in names {
        let member_path = archive.join(&name);
        let member = zip.by_name(&name).map_err(|e| zip_error(&member_path, e))?;
        let subject = parse_subject(member, &member_path, &features)?;
        negative_holds += count_negative_holds(&subject.vectors, set.keys());
        duplicates += count_duplicate_rows(&subject.vectors);
        subjects.push(subject);
    }
    if subjects.len() != set.subjects() {
        return Err(Error::DatasetShape {
            dataset: set.name().into(),
            problem: format!(
                "{} subject files in {}; the published archive has {}",
                subjects.len(),
                archive.display(),
                set.subjects()
            ),
        });
    }
    let notes = vec![
        format!("{negative_holds} negative hold times kept as recorded"),
        format!("{duplicates} rows that repeat an earlier row of the same subject, kept"),
    ];
    Ok(FixedTextDataset {
        name: set.name().into(),
        feature_names: features,
        subjects,
        notes,
    })
}

fn zip_error(path: &Path, error: zip::result::ZipError) -> Error {
    match error {
        zip::result::ZipError::Io(e) => Error::io(path, e),
        other => Error::parse(path, 0, format!("not a readable zip archive: {other}")),
    }
}

fn subject_sort_key(name: &str) -> (u64, String) {
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u64::MAX), name.to_string())
}

/// Parses one subject's CSV; `path` is used in error messages only.
///
/// # Errors
///
/// [`Error::Parse`] for an empty file, a missing column, a truncated line, a value that is not
/// a number, a `user` that differs between rows, or a file with no rows.
pub fn parse_subject(
    reader: impl Read,
    path: &Path,
    features: &[String],
) -> Result<FixedTextSubject> {
    let content = read_all(reader, path)?;
    let lines = Lines::new(path, &content);
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&content[..]);
    let header = csv.headers().map_err(|e| lines.error(e))?.clone();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(Error::parse(path, 1, "empty file: expected a header line"));
    }
    let mut required: Vec<&str> = features.iter().map(String::as_str).collect();
    required.push("user");
    let columns = lines.columns(&header, &required)?;
    let user_column = columns[features.len()];
    let mut values = Vec::new();
    let mut user: Option<String> = None;
    let mut rows = 0;
    for record in csv.records() {
        let record = record.map_err(|e| lines.error(e))?;
        let line = lines.of(&record);
        lines.check_width(&record, header.len())?;
        for (&column, name) in columns.iter().zip(features) {
            values.push(lines.number(&record, column, name)? / 1000.0);
        }
        let id = record[user_column].trim().to_uppercase();
        match &user {
            None => user = Some(id),
            Some(u) if *u != id => {
                return Err(Error::parse(
                    path,
                    line,
                    format!("column `user` is `{id}` but earlier rows have `{u}`"),
                ));
            }
            Some(_) => {}
        }
        rows += 1;
    }
    let Some(id) = user else {
        return Err(Error::parse(path, 2, "no data rows after the header"));
    };
    let vectors = Array2::from_shape_vec((rows, features.len()), values)
        .expect("OK because every row pushed one value per feature");
    Ok(FixedTextSubject {
        id,
        vectors,
        sessions: None,
    })
}

fn count_negative_holds(vectors: &Array2<f64>, keys: usize) -> usize {
    (0..keys)
        .map(|k| vectors.column(3 * k).iter().filter(|&&v| v < 0.0).count())
        .sum()
}

fn count_duplicate_rows(vectors: &Array2<f64>) -> usize {
    let rows: Vec<Vec<u64>> = vectors
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect();
    let mut seen = std::collections::HashSet::new();
    rows.into_iter().filter(|r| !seen.insert(r.clone())).count()
}

/// Path of a set's archive under a data root laid out as the catalog describes.
pub fn archive_path(data_root: &Path, set: BksdSet) -> PathBuf {
    data_root.join("bksd").join(set.file_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> Vec<String> {
        feature_names(2)
    }

    fn parse_str(text: &str) -> Result<FixedTextSubject> {
        parse_subject(
            text.as_bytes(),
            Path::new("set.zip/S1e-ksd.csv"),
            &features(),
        )
    }

    #[test]
    fn feature_names_follow_the_archive() {
        let names = feature_names(8);
        assert_eq!(names.len(), 22);
        assert_eq!(&names[..4], ["H.1", "DD.1_2", "UD.1_2", "H.2"]);
        assert_eq!(names[21], "H.8");
    }

    #[test]
    fn subject_parses_and_converts_to_seconds() {
        let s = parse_str(
            "H.1,DD.1_2,UD.1_2,H.2,total,user\n72,80,8,56,136,s1e\n80,100,20,60,160,S1e\n",
        )
        .unwrap();
        assert_eq!(s.id, "S1E");
        assert_eq!(s.vectors.shape(), &[2, 4]);
        assert!((s.vectors[[0, 0]] - 0.072).abs() < 1e-12);
    }

    #[test]
    fn missing_user_column_is_named() {
        let m = parse_str("H.1,DD.1_2,UD.1_2,H.2,total\n1,2,1,1,3\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("S1e-ksd.csv:1") && m.contains("`user`"), "{m}");
    }

    #[test]
    fn text_in_number_names_line_and_column() {
        let m = parse_str("H.1,DD.1_2,UD.1_2,H.2,total,user\n1,2,1,1,3,S1e\n1,x,1,1,3,S1e\n")
            .unwrap_err()
            .to_string();
        assert!(
            m.contains(":3") && m.contains("`DD.1_2`") && m.contains("`x`"),
            "{m}"
        );
    }

    #[test]
    fn truncated_line_is_reported() {
        let m = parse_str("H.1,DD.1_2,UD.1_2,H.2,total,user\n1,2,1\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains(":2") && m.contains("truncated"), "{m}");
    }

    #[test]
    fn empty_and_header_only_files_are_errors() {
        assert!(
            parse_str("")
                .unwrap_err()
                .to_string()
                .contains("empty file")
        );
        let m = parse_str("H.1,DD.1_2,UD.1_2,H.2,total,user\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("no data rows"), "{m}");
    }

    #[test]
    fn duplicate_user_column_is_rejected() {
        let m = parse_str("H.1,DD.1_2,UD.1_2,H.2,user,user\n1,2,1,1,S1e,S2e\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("`user` appears 2 times"), "{m}");
    }

    #[test]
    fn mixed_users_are_rejected() {
        let m = parse_str("H.1,DD.1_2,UD.1_2,H.2,total,user\n1,2,1,1,3,S1e\n1,2,1,1,3,S2e\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("S2E"), "{m}");
    }

    #[test]
    fn non_zip_archive_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Password-English.zip");
        std::fs::write(&path, b"not a zip").unwrap();
        let m = load(BksdSet::PasswordEnglish, &path)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("Password-English.zip") && m.contains("zip"),
            "{m}"
        );
    }

    #[test]
    fn duplicates_and_negative_holds_are_counted() {
        let v = ndarray::array![
            [0.1, 0.2, 0.1, -0.01],
            [0.1, 0.2, 0.1, -0.01],
            [0.2, 0.2, 0.0, 0.1]
        ];
        assert_eq!(count_duplicate_rows(&v), 1);
        assert_eq!(count_negative_holds(&v, 2), 2);
    }

    /// Builds a zip archive in memory with one deflated member per `(name, content)` pair.
    fn zip_bytes(members: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in members {
            writer.start_file(*name, options).unwrap();
            writer.write_all(content.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn zip_bomb_member_is_rejected() {
        // Zeros deflate about 1000:1, so the archive is small but the member is over the cap.
        let limit = crate::limits::MAX_DATASET_FILE_BYTES as usize;
        let big = "0".repeat(limit + 1);
        let bytes = zip_bytes(&[("S1e-ksd.csv", &big)]);
        assert!(bytes.len() < limit / 100);
        let archive = Path::new("bomb.zip");
        let cursor = std::io::Cursor::new(bytes);
        let error = load_reader(BksdSet::PasswordEnglish, cursor, archive).unwrap_err();
        assert!(
            matches!(
                &error,
                Error::LimitExceeded { input, name: "MAX_DATASET_FILE_BYTES", .. }
                    if input.ends_with("S1e-ksd.csv")
            ),
            "{error}"
        );
    }

    #[test]
    fn feature_names_of_zero_keys_is_empty() {
        assert!(feature_names(0).is_empty());
        assert_eq!(feature_names(1), ["H.1"]);
    }

    #[test]
    fn load_reads_subjects_from_zip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Password-English.zip");
        let header = feature_names(8).join(",") + ",total,user\n";
        let row = "1,2,1,1,2,1,1,2,1,1,2,1,1,2,1,1,2,1,1,2,1,1,14";
        let members: Vec<(String, String)> = (1..=50)
            .map(|i| (format!("S{i}e-ksd.csv"), format!("{header}{row},S{i}e\n")))
            .collect();
        let members: Vec<(&str, &str)> = members
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_str()))
            .collect();
        std::fs::write(&path, zip_bytes(&members)).unwrap();
        let dataset = load(BksdSet::PasswordEnglish, &path).unwrap();
        assert_eq!(dataset.subjects.len(), 50);
        assert_eq!(dataset.subjects[9].id, "S10E");
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        const HEADER: &str = "H.1,DD.1_2,UD.1_2,H.2,total,user";

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let _ = parse_subject(&bytes[..], Path::new("fuzz.csv"), &features());
            }

            #[test]
            fn on_csv_like_rows(body in "[sSe0-9,.eE+\\-\r\n \"]{0,600}") {
                let text = format!("{HEADER}\n{body}");
                let _ = parse_subject(text.as_bytes(), Path::new("fuzz.csv"), &features());
            }

            #[test]
            fn on_csv_like_header(header in "[HDU.12_,toaluser\r\n \"]{0,80}") {
                let text = format!("{header}\n72,80,8,56,136,S1e\n");
                let _ = parse_subject(text.as_bytes(), Path::new("fuzz.csv"), &features());
            }

            #[test]
            fn with_any_key_count(keys in 0_usize..40, body in "[0-9,S\n]{0,200}") {
                let features = feature_names(keys);
                prop_assert_eq!(features.len(), (3 * keys).saturating_sub(2));
                let text = format!("{},total,user\n{body}", features.join(","));
                let _ = parse_subject(text.as_bytes(), Path::new("fuzz.csv"), &features);
            }
        }

        proptest! {
            // Each case writes a file, so fewer cases than the in-memory properties.
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn load_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("fuzz.zip");
                std::fs::write(&path, &bytes).unwrap();
                let _ = load(BksdSet::PasswordEnglish, &path);
            }

            #[test]
            fn load_on_mutated_zip(
                edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)
            ) {
                let mut bytes = zip_bytes(&[
                    ("S1e-ksd.csv", "H.1,DD.1_2,UD.1_2,H.2,total,user\n72,80,8,56,136,S1e\n"),
                    ("S2e-ksd.csv", "H.1,DD.1_2,UD.1_2,H.2,total,user\n70,81,9,50,131,S2e\n"),
                ]);
                for (position, byte) in edits {
                    let at = position % bytes.len();
                    bytes[at] = byte;
                }
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("fuzz.zip");
                std::fs::write(&path, &bytes).unwrap();
                let _ = load(BksdSet::PasswordEnglish, &path);
            }
        }
    }
}

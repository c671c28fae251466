//! Shared helpers for reading CSV files with precise error locations.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};
use crate::limits::MAX_DATASET_FILE_BYTES;

/// Maps byte offsets of a file's content to 1-based line numbers.
///
/// The csv crate's own `Position::line` undercounts by one on CRLF files (checked with
/// csv 1.3), and the official CMU file uses CRLF, so lines are counted here from the bytes.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    path: &'a Path,
    newlines: Cow<'a, [u64]>,
    /// Offset in the file of the content that the reader of the records started at.
    base: u64,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(path: &'a Path, content: &[u8]) -> Self {
        let newlines = memchr::memchr_iter(b'\n', content)
            .map(|i| i as u64)
            .collect();
        Lines {
            path,
            newlines: Cow::Owned(newlines),
            base: 0,
        }
    }

    /// Returns the same map for records of a reader that started at byte `base` of the content.
    pub(crate) fn starting_at(&self, base: u64) -> Lines<'_> {
        Lines {
            path: self.path,
            newlines: Cow::Borrowed(&self.newlines),
            base: self.base + base,
        }
    }

    /// Returns the path of the file these lines belong to.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// Line number of a record (1-based), or 0 when the reader does not know it.
    pub(crate) fn of(&self, record: &csv::StringRecord) -> u64 {
        record.position().map_or(0, |p| self.at_byte(p.byte()))
    }

    fn at_byte(&self, byte: u64) -> u64 {
        let byte = byte + self.base;
        // On CRLF input the csv crate reports a record as starting at the `\n` of the previous
        // line ending, so a newline at the offset itself belongs to the lines before.
        self.newlines.partition_point(|&n| n <= byte) as u64 + 1
    }

    /// Finds each required column in a header, by exact name.
    ///
    /// A required name that appears more than once is an error, because reading only one of
    /// the columns would silently drop the other's values.
    pub(crate) fn columns(
        &self,
        header: &csv::StringRecord,
        required: &[&str],
    ) -> Result<Vec<usize>> {
        required
            .iter()
            .map(|name| {
                let mut matches = header.iter().enumerate().filter(|(_, h)| h.trim() == *name);
                let Some((index, _)) = matches.next() else {
                    return Err(Error::parse(
                        self.path,
                        1,
                        format!("missing column `{name}` in the header"),
                    ));
                };
                let repeats = matches.count();
                if repeats > 0 {
                    return Err(Error::parse(
                        self.path,
                        1,
                        format!(
                            "column `{name}` appears {} times in the header; expected once",
                            repeats + 1
                        ),
                    ));
                }
                Ok(index)
            })
            .collect()
    }

    /// Rejects a record whose field count differs from the header's.
    pub(crate) fn check_width(&self, record: &csv::StringRecord, header_len: usize) -> Result<()> {
        if record.len() != header_len {
            return Err(Error::parse(
                self.path,
                self.of(record),
                format!(
                    "truncated line: {} fields where the header has {header_len}",
                    record.len()
                ),
            ));
        }
        Ok(())
    }

    /// Reads a field as a finite number.
    pub(crate) fn number(
        &self,
        record: &csv::StringRecord,
        index: usize,
        column: &str,
    ) -> Result<f64> {
        // The line number is looked up only on error, because a binary search per field was
        // the largest cost of loading the DSL-2009 file under `perf record`.
        let Some(text) = record.get(index) else {
            return Err(Error::parse(
                self.path,
                self.of(record),
                format!("truncated line: column `{column}` is missing"),
            ));
        };
        let value: f64 = text.trim().parse().map_err(|_| {
            Error::parse(
                self.path,
                self.of(record),
                format!("column `{column}`: `{text}` is not a number"),
            )
        })?;
        if !value.is_finite() {
            return Err(Error::parse(
                self.path,
                self.of(record),
                format!("column `{column}`: `{text}` is not finite"),
            ));
        }
        Ok(value)
    }

    /// Reads a field as a whole number.
    pub(crate) fn integer(
        &self,
        record: &csv::StringRecord,
        index: usize,
        column: &str,
    ) -> Result<u32> {
        let text = record.get(index).ok_or_else(|| {
            Error::parse(
                self.path,
                self.of(record),
                format!("truncated line: column `{column}` is missing"),
            )
        })?;
        text.trim().parse().map_err(|_| {
            Error::parse(
                self.path,
                self.of(record),
                format!("column `{column}`: `{text}` is not a whole number"),
            )
        })
    }

    /// Converts a csv crate error into a parse error at the right line.
    pub(crate) fn error(&self, error: csv::Error) -> Error {
        let line = error.position().map_or(0, |p| self.at_byte(p.byte()));
        match error.kind() {
            csv::ErrorKind::Io(e) => {
                Error::io(self.path, std::io::Error::new(e.kind(), e.to_string()))
            }
            _ => Error::parse(self.path, line, error.to_string()),
        }
    }
}

/// Reads all of a reader's bytes, naming `path` on failure.
///
/// # Errors
///
/// [`Error::Io`] when reading fails, and [`Error::LimitExceeded`] when the reader yields more
/// than [`MAX_DATASET_FILE_BYTES`]; reading stops there, so a decompression bomb costs at most
/// that much memory.
pub(crate) fn read_all(reader: impl std::io::Read, path: &Path) -> Result<Vec<u8>> {
    read_at_most(reader, path, MAX_DATASET_FILE_BYTES)
}

/// [`read_all`] with an explicit limit, so tests can exercise the cap on small inputs.
pub(crate) fn read_at_most(reader: impl std::io::Read, path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut content = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut content)
        .map_err(|e| Error::io(path, e))?;
    if content.len() as u64 > limit {
        return Err(Error::limit(
            path.display().to_string(),
            limit,
            "bytes",
            "MAX_DATASET_FILE_BYTES",
        ));
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_at_limit_succeeds() {
        let content = read_at_most(&[7_u8; 16][..], Path::new("f.csv"), 16).unwrap();
        assert_eq!(content.len(), 16);
    }

    #[test]
    fn read_over_limit_is_rejected() {
        let error = read_at_most(&[7_u8; 17][..], Path::new("f.csv"), 16).unwrap_err();
        assert!(
            matches!(
                &error,
                Error::LimitExceeded { input, limit: 16, name: "MAX_DATASET_FILE_BYTES", .. }
                    if input == "f.csv"
            ),
            "{error}"
        );
    }

    #[test]
    fn read_over_limit_stops_early() {
        // An endless reader would never finish without the cap.
        let error = read_at_most(std::io::repeat(b'a'), Path::new("bomb"), 1024).unwrap_err();
        assert!(matches!(error, Error::LimitExceeded { .. }), "{error}");
    }
}

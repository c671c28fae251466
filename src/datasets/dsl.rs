//! Loader for the CMU DSL-StrongPasswordData file (Killourhy & Maxion, DSN 2009).
//!
//! The file has a header `subject,sessionIndex,rep,H.period,DD.period.t,...,H.Return`, then
//! one row per repetition: 51 subjects, each typing `.tie5Roanl` and Return in 8 sessions of
//! 50 repetitions (20,400 rows, 31 timing features in seconds). The official file uses CRLF
//! line endings; LF files are read the same way.

use std::io::Read;
use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;

use super::csv_util::{Lines, read_all};
use super::{FixedTextDataset, FixedTextSubject};
use crate::error::{Error, Result};

/// Catalog name of this dataset.
pub const NAME: &str = "dsl2009";
/// File name inside the dataset directory.
pub const FILE_NAME: &str = "DSL-StrongPasswordData.csv";
/// Subjects in the official file.
pub const SUBJECTS: usize = 51;
/// Sessions per subject.
pub const SESSIONS: u32 = 8;
/// Repetitions per session.
pub const REPS_PER_SESSION: u32 = 50;

/// Loads the official file and checks its full shape (51 subjects x 8 sessions x 50 reps).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::Parse`] naming the line and column of
/// malformed content, [`Error::DatasetShape`] when the counts differ from the official file.
pub fn load(path: &Path) -> Result<FixedTextDataset> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let dataset = parse(file, path)?;
    check_shape(&dataset, SUBJECTS)?;
    Ok(dataset)
}

/// Parses DSL-format CSV from any reader; `path` is used in error messages only.
///
/// Rows of one subject must be contiguous, as in the official file. Every subject must have
/// `SESSIONS x REPS_PER_SESSION` rows in session and repetition order; the number of subjects
/// is not checked here (see [`load`]).
///
/// # Errors
///
/// As [`load`].
pub fn parse(reader: impl Read, path: &Path) -> Result<FixedTextDataset> {
    let content = read_all(reader, path)?;
    let lines = Lines::new(path, &content);
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(&content[..]);
    let header = csv.headers().map_err(|e| lines.error(e))?.clone();
    if header.is_empty() || header.iter().all(|h| h.trim().is_empty()) {
        return Err(Error::parse(path, 1, "empty file: expected a header line"));
    }
    let ids = lines.columns(&header, &["subject", "sessionIndex", "rep"])?;
    let feature_names: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| !ids.contains(i))
        .map(|(_, h)| h.trim().to_string())
        .collect();
    if let Some(bad) = feature_names
        .iter()
        .find(|n| !(n.starts_with("H.") || n.starts_with("DD.") || n.starts_with("UD.")))
    {
        return Err(Error::parse(
            path,
            1,
            format!("unexpected column `{bad}`: timing columns must start with H., DD. or UD."),
        ));
    }
    if feature_names.is_empty() {
        return Err(Error::parse(
            path,
            1,
            "the header has no timing columns (H., DD., UD.)",
        ));
    }
    let feature_columns: Vec<usize> = lines.columns(
        &header,
        &feature_names.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let d = feature_names.len();

    let layout = Layout {
        ids: [ids[0], ids[1], ids[2]],
        feature_columns: &feature_columns,
        feature_names: &feature_names,
        width: header.len(),
    };
    let chunks: Vec<Chunk> = match body_chunks(&content) {
        Some(ranges) => ranges
            .into_par_iter()
            .map(|range| {
                let piece = &content[range.clone()];
                let reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(piece);
                read_rows(reader, &lines.starting_at(range.start as u64), &layout)
            })
            .collect(),
        None => vec![read_rows(csv, &lines, &layout)],
    };

    let mut subjects: Vec<FixedTextSubject> = Vec::new();
    let mut values: Vec<f64> = Vec::with_capacity(chunks.iter().map(|c| c.values.len()).sum());
    let mut sessions: Vec<u32> = Vec::new();
    let mut current: Option<String> = None;
    // First and last line of the current subject's rows, for the row-count message.
    let mut subject_lines = (0_u64, 0_u64);
    let mut previous = (0_u32, 0_u32);
    let finish = |subjects: &mut Vec<FixedTextSubject>,
                  id: String,
                  values: &mut Vec<f64>,
                  sessions: &mut Vec<u32>| {
        let rows = sessions.len();
        let vectors = Array2::from_shape_vec((rows, d), std::mem::take(values))
            .expect("OK because every row pushed exactly d values");
        subjects.push(FixedTextSubject {
            id,
            vectors,
            sessions: Some(std::mem::take(sessions)),
        });
    };

    for chunk in chunks {
        for (i, row) in chunk.rows.into_iter().enumerate() {
            let Row {
                subject,
                session,
                rep,
                line,
            } = row;
            if current.as_deref() != Some(subject.as_str()) {
                if let Some(id) = current.take() {
                    check_subject_rows(&id, sessions.len(), path, line, subject_lines)?;
                    finish(&mut subjects, id, &mut values, &mut sessions);
                }
                if subjects.iter().any(|s| s.id == subject) {
                    return Err(Error::parse(
                        path,
                        line,
                        format!("rows of subject `{subject}` are not contiguous"),
                    ));
                }
                current = Some(subject);
                subject_lines.0 = line;
                previous = (1, 0);
            }
            subject_lines.1 = line;
            let expected = if previous.1 == REPS_PER_SESSION {
                (previous.0 + 1, 1)
            } else {
                (previous.0, previous.1 + 1)
            };
            if (session, rep) != expected {
                return Err(Error::parse(
                    path,
                    line,
                    format!(
                        "expected sessionIndex {} rep {} but found sessionIndex {session} rep \
                         {rep}",
                        expected.0, expected.1
                    ),
                ));
            }
            previous = (session, rep);
            let Some(row_values) = chunk.values.get(i * d..(i + 1) * d) else {
                // Only the row whose timing failed to parse lacks its values.
                break;
            };
            values.extend_from_slice(row_values);
            sessions.push(session);
        }
        if let Some(error) = chunk.error {
            return Err(error);
        }
    }
    match current {
        Some(id) => {
            check_subject_rows(&id, sessions.len(), path, subject_lines.1, subject_lines)?;
            finish(&mut subjects, id, &mut values, &mut sessions);
        }
        None => return Err(Error::parse(path, 2, "no data rows after the header")),
    }
    Ok(FixedTextDataset {
        name: NAME.into(),
        feature_names,
        subjects,
        notes: Vec::new(),
    })
}

/// Column positions of the identifying and timing fields, read from the header.
struct Layout<'a> {
    /// Columns of `subject`, `sessionIndex` and `rep`.
    ids: [usize; 3],
    feature_columns: &'a [usize],
    feature_names: &'a [String],
    width: usize,
}

/// One data row's identity; its timings are in [`Chunk::values`].
struct Row {
    subject: String,
    session: u32,
    rep: u32,
    line: u64,
}

/// The rows of one stretch of the file, read independently of the others.
struct Chunk {
    rows: Vec<Row>,
    /// The timings of `rows`, `d` per row, in row order.
    values: Vec<f64>,
    /// The first error in the stretch. When it is in a row's timings, that row is the last of
    /// `rows` and has no values, so the caller still checks its identity first, as a reading
    /// of the whole file in order would.
    error: Option<Error>,
}

/// Reads rows until the end or the first malformed one.
fn read_rows<R: Read>(mut reader: csv::Reader<R>, lines: &Lines<'_>, layout: &Layout<'_>) -> Chunk {
    let mut chunk = Chunk {
        rows: Vec::new(),
        values: Vec::new(),
        error: None,
    };
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return chunk,
            Err(e) => {
                chunk.error = Some(lines.error(e));
                return chunk;
            }
        }
        let row = identity(&record, lines, layout);
        match row {
            Ok(row) => chunk.rows.push(row),
            Err(e) => {
                chunk.error = Some(e);
                return chunk;
            }
        }
        for (&column, name) in layout.feature_columns.iter().zip(layout.feature_names) {
            match lines.number(&record, column, name) {
                Ok(v) => chunk.values.push(v),
                Err(e) => {
                    chunk.error = Some(e);
                    // The failed row's partial timings are dropped; see `Chunk::error`.
                    let keep = (chunk.rows.len() - 1) * layout.feature_columns.len();
                    chunk.values.truncate(keep);
                    return chunk;
                }
            }
        }
    }
}

/// Reads the subject, session and repetition of a row, after checking its width.
fn identity(record: &csv::StringRecord, lines: &Lines<'_>, layout: &Layout<'_>) -> Result<Row> {
    lines.check_width(record, layout.width)?;
    let line = lines.of(record);
    let subject = record[layout.ids[0]].trim().to_string();
    if subject.is_empty() {
        return Err(Error::parse(
            lines.path(),
            line,
            "column `subject` is empty",
        ));
    }
    Ok(Row {
        subject,
        session: lines.integer(record, layout.ids[1], "sessionIndex")?,
        rep: lines.integer(record, layout.ids[2], "rep")?,
        line,
    })
}

/// Splits the data rows (everything after the first line) into byte ranges at line ends, a few
/// per thread, so they can be read in parallel. Returns `None` when the file contains a quote
/// character, because a quoted field may span lines and only a reader that starts at the top
/// can tell where its lines end.
fn body_chunks(content: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    if memchr::memchr(b'"', content).is_some() {
        return None;
    }
    let start = memchr::memchr(b'\n', content).map_or(content.len(), |i| i + 1);
    let parts = rayon::current_num_threads().clamp(1, 16) * 2;
    let target = (content.len() - start).div_ceil(parts).max(1 << 16);
    let mut ranges = Vec::with_capacity(parts);
    let mut from = start;
    while from < content.len() {
        let want = (from + target).min(content.len());
        let to = memchr::memchr(b'\n', &content[want..]).map_or(content.len(), |i| want + i + 1);
        ranges.push(from..to);
        from = to;
    }
    Some(ranges)
}

/// Checks a subject's row count. `lines` are the first and last line of its rows, and the
/// error points at line `at`: the row after them, or their last row at the end of the file.
fn check_subject_rows(
    id: &str,
    rows: usize,
    path: &Path,
    at: u64,
    lines: (u64, u64),
) -> Result<()> {
    let expected = (SESSIONS * REPS_PER_SESSION) as usize;
    if rows != expected {
        let (first, last) = lines;
        return Err(Error::parse(
            path,
            at,
            format!(
                "subject `{id}` has {rows} rows (lines {first}-{last}); expected {expected} \
                 (8 sessions x 50 reps)"
            ),
        ));
    }
    Ok(())
}

fn check_shape(dataset: &FixedTextDataset, subjects: usize) -> Result<()> {
    if dataset.subjects.len() != subjects {
        return Err(Error::DatasetShape {
            dataset: NAME.into(),
            problem: format!(
                "{} subjects; the official file has {subjects}",
                dataset.subjects.len()
            ),
        });
    }
    if dataset.dimension() != 31 {
        return Err(Error::DatasetShape {
            dataset: NAME.into(),
            problem: format!(
                "{} timing columns; the official file has 31",
                dataset.dimension()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    const HEADER: &str = "subject,sessionIndex,rep,H.a,DD.a.b,UD.a.b,H.b";

    /// A well-formed file with `subjects` subjects, CRLF endings.
    fn file(subjects: usize) -> String {
        let mut s = format!("{HEADER}\r\n");
        for subject in 0..subjects {
            for session in 1..=SESSIONS {
                for rep in 1..=REPS_PER_SESSION {
                    let h = 0.1 + 0.001 * rep as f64;
                    writeln!(
                        s,
                        "s{subject:03},{session},{rep},{h:.4},0.2500,{:.4},0.0900\r",
                        0.25 - h
                    )
                    .unwrap();
                }
            }
        }
        s
    }

    fn parse_str(text: &str) -> Result<FixedTextDataset> {
        parse(text.as_bytes(), Path::new("test.csv"))
    }

    fn message(text: &str) -> String {
        parse_str(text).unwrap_err().to_string()
    }

    #[test]
    fn well_formed_file_parses() {
        let d = parse_str(&file(2)).unwrap();
        assert_eq!(d.subjects.len(), 2);
        assert_eq!(d.feature_names, ["H.a", "DD.a.b", "UD.a.b", "H.b"]);
        assert_eq!(d.subjects[1].vectors.shape(), &[400, 4]);
        assert_eq!(d.subjects[0].sessions.as_ref().unwrap()[399], 8);
        assert!((d.subjects[0].vectors[[0, 0]] - 0.101).abs() < 1e-12);
    }

    #[test]
    fn lf_endings_parse_too() {
        let d = parse_str(&file(1).replace("\r\n", "\n")).unwrap();
        assert_eq!(d.subjects.len(), 1);
    }

    #[test]
    fn missing_column_is_named() {
        let text = file(1).replacen("sessionIndex", "session", 1);
        let m = message(&text);
        assert!(
            m.contains("test.csv:1") && m.contains("`sessionIndex`"),
            "{m}"
        );
    }

    #[test]
    fn text_in_number_field_names_line_and_column() {
        let text = file(1).replacen("0.1030,", "abc,", 1);
        let m = message(&text);
        // The third data row (rep 3) is line 4.
        assert!(
            m.contains("test.csv:4") && m.contains("`H.a`") && m.contains("`abc`"),
            "{m}"
        );
    }

    #[test]
    fn truncated_line_is_reported() {
        let text = file(1);
        let mut lines: Vec<&str> = text.split("\r\n").collect();
        lines[5] = "s000,1,5,0.1050,0.2500";
        let m = message(&lines.join("\r\n"));
        assert!(m.contains("test.csv:6") && m.contains("truncated"), "{m}");
    }

    #[test]
    fn empty_file_is_an_error() {
        let m = message("");
        assert!(m.contains("empty file"), "{m}");
        let m = message(&format!("{HEADER}\r\n"));
        assert!(m.contains("no data rows"), "{m}");
    }

    #[test]
    fn non_finite_value_is_rejected() {
        let text = file(1).replacen("0.1030,", "NaN,", 1);
        assert!(message(&text).contains("not finite"));
    }

    #[test]
    fn wrong_row_count_is_reported() {
        let text: String = file(1).split_inclusive("\r\n").take(300).collect();
        let m = message(&text);
        // The header is line 1, so the 299 data rows are lines 2-300.
        assert!(m.contains("test.csv:300:"), "{m}");
        assert!(m.contains("299 rows (lines 2-300); expected 400"), "{m}");
    }

    #[test]
    fn short_subject_before_another_names_its_lines() {
        // Drop the last row of the first subject (line 401), so `s000` ends at line 400 and
        // the error points at the next subject's first row.
        let text = file(2);
        let mut lines: Vec<&str> = text.split("\r\n").collect();
        lines.remove(400);
        let m = message(&lines.join("\r\n"));
        assert!(m.contains("test.csv:401:"), "{m}");
        assert!(
            m.contains("subject `s000` has 399 rows (lines 2-400)"),
            "{m}"
        );
    }

    #[test]
    fn out_of_order_reps_are_reported() {
        let text = file(1).replacen("s000,1,2,", "s000,1,3,", 1);
        let m = message(&text);
        assert!(
            m.contains("test.csv:3") && m.contains("expected sessionIndex 1 rep 2"),
            "{m}"
        );
    }

    /// Replaces data row `row` (0-based, after the header) of `text`.
    fn with_row(text: &str, row: usize, replacement: &str) -> String {
        let mut lines: Vec<&str> = text.split("\r\n").collect();
        lines[row + 1] = replacement;
        lines.join("\r\n")
    }

    #[test]
    fn large_files_are_read_in_several_stretches_alike() {
        // About 130 KB, so the rows are read as two stretches in parallel. A quote in a
        // header name forces the single in-order reader, whose result must be the same.
        let text = file(8);
        assert!(body_chunks(text.as_bytes()).is_some_and(|r| r.len() >= 2));
        let parallel = parse_str(&text).unwrap();
        let quoted = text.replacen("H.a", "\"H.a\"", 1);
        assert!(body_chunks(quoted.as_bytes()).is_none());
        let in_order = parse_str(&quoted).unwrap();
        assert_eq!(parallel.feature_names, in_order.feature_names);
        assert_eq!(parallel.subjects, in_order.subjects);
    }

    #[test]
    fn errors_in_later_stretches_name_their_line() {
        let text = file(8);
        // Row 2,900 is subject 7, session 3, rep 1, on line 2,902 after the header.
        let m = message(&with_row(&text, 2900, "s007,3,1,0.1010,abc,0.1490,0.0900"));
        assert!(m.contains("test.csv:2902"), "{m}");
        assert!(m.contains("`abc`"), "{m}");
        let m = message(&with_row(&text, 2900, "s007,3,1,0.1010,0.2500"));
        assert!(m.contains("test.csv:2902"), "{m}");
        assert!(m.contains("truncated"), "{m}");
        // A row with a bad order and a bad timing reports the order first, as in-order
        // reading does.
        let m = message(&with_row(&text, 2900, "s007,3,7,0.1010,abc,0.1490,0.0900"));
        assert!(m.contains("test.csv:2902"), "{m}");
        assert!(m.contains("expected sessionIndex 3 rep 1"), "{m}");
        // The first error in the file wins, even when a later stretch also has one.
        let two = with_row(
            &with_row(&text, 2900, "s007,3,1,x,0.25,0.149,0.09"),
            100,
            "s000,3,1,0.1010,0.2500",
        );
        let m = message(&two);
        assert!(m.contains("test.csv:102"), "{m}");
        assert!(m.contains("truncated"), "{m}");
    }

    #[test]
    fn subject_split_by_another_is_found_across_stretches() {
        let text = file(8);
        let m = message(&with_row(
            &text,
            2900,
            "s001,2,1,0.1010,0.2500,0.1490,0.0900",
        ));
        assert!(m.contains("test.csv:2902"), "{m}");
    }

    #[test]
    fn unexpected_column_is_rejected() {
        let text = file(1).replacen("H.b", "total", 1);
        assert!(message(&text).contains("`total`"));
    }

    #[test]
    fn duplicate_column_is_rejected() {
        let text = file(1).replacen("H.b", "H.a", 1);
        let m = message(&text);
        assert!(m.contains("test.csv:1"), "{m}");
        assert!(m.contains("`H.a` appears 2 times"), "{m}");
    }

    #[test]
    fn load_checks_subject_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, file(2)).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("2 subjects"), "{err}");
        let missing = load(&dir.path().join("absent.csv"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("absent.csv"), "{missing}");
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        /// Applies `(position, byte, kind)` edits to `bytes`: kind 0 replaces, 1 inserts and
        /// 2 deletes the byte at `position` modulo the current length.
        fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
            for &(position, byte, kind) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let at = position % bytes.len();
                match kind % 3 {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            bytes
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let _ = parse(&bytes[..], Path::new("fuzz.csv"));
            }

            #[test]
            fn on_csv_like_rows(body in "[s0-9,.eE+\\-\r\n \"]{0,600}") {
                let text = format!("{HEADER}\r\n{body}");
                let _ = parse(text.as_bytes(), Path::new("fuzz.csv"));
            }

            #[test]
            fn on_csv_like_header(header in "[subjectIndxrpHDU.,\r\n \"]{0,120}") {
                let text = format!("{header}\r\ns000,1,1,0.1,0.2,0.1,0.1\r\n");
                let _ = parse(text.as_bytes(), Path::new("fuzz.csv"));
            }

            #[test]
            fn on_mutated_valid_file(
                edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0_u8..3), 1..8)
            ) {
                let bytes = mutate(file(1).into_bytes(), &edits);
                let _ = parse(&bytes[..], Path::new("fuzz.csv"));
            }
        }
    }
}

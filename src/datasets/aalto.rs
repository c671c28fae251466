//! Loader for the 500-participant subset of the Aalto "136M Keystrokes" data (Dhakal et al.,
//! CHI 2018).
//!
//! Each participant has one gzip-compressed, tab-separated file
//! `keystrokes/<PARTICIPANT_ID>_keystrokes.txt.gz` with a header line and one row per key
//! press: `PARTICIPANT_ID, TEST_SECTION_ID, SENTENCE, USER_INPUT, KEYSTROKE_ID, PRESS_TIME,
//! RELEASE_TIME, LETTER, KEYCODE`, times in Unix epoch milliseconds. Fields are never quoted.
//!
//! Only the participant, section, times and `KEYCODE` are read. The typed text (`SENTENCE`,
//! `USER_INPUT`, `LETTER`) is never kept, and `LETTER` is empty in 14% of rows anyway.
//!
//! Quirks of the data that the subset's documentation lists are skipped and counted in
//! [`AaltoSkips`]: rows whose release precedes their press (5 rows), and rows with `KEYCODE`
//! 0, which browsers report for a key they cannot identify (2 rows). Rows are not in
//! `KEYSTROKE_ID` order, so events are sorted by time instead; holds of many seconds and
//! rollover are left to the feature extractor.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::csv_util::read_all;
use crate::error::{Error, Result};
use crate::events::KeyEvent;

/// Catalog name of this dataset.
pub const NAME: &str = "aalto-136m-subset";
/// Folder of the per-participant files inside the dataset directory.
pub const KEYSTROKE_DIR: &str = "keystrokes";
/// Participants in the subset.
pub const PARTICIPANTS: usize = 500;
/// Sentences each participant typed.
pub const SENTENCES: usize = 15;

/// File in the dataset directory with the SHA-256 of every participant file, one
/// `<hex>  ./keystrokes/<file>` line each (the `sha256sum` format).
pub const CHECKSUMS_FILE: &str = "SHA256SUMS";
/// Missing participant files named in an error message; the rest are counted.
const MISSING_NAMED: usize = 5;

/// Largest JavaScript `keyCode` value; browsers report codes in 1..=255.
const MAX_KEY_CODE: u32 = 255;

/// The loaded subset.
#[derive(Debug, Clone, PartialEq)]
pub struct AaltoDataset {
    /// Participants in increasing id order.
    pub participants: Vec<AaltoParticipant>,
    /// Rows skipped as documented quirks, summed over all files.
    pub skips: AaltoSkips,
}

/// One participant's sentences in the order they were typed.
#[derive(Debug, Clone, PartialEq)]
pub struct AaltoParticipant {
    /// `PARTICIPANT_ID`, a pseudonym assigned by the dataset authors.
    pub id: u32,
    /// Sentences ordered by their first press.
    pub sentences: Vec<AaltoSentence>,
}

/// The key events of one presented sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct AaltoSentence {
    /// `TEST_SECTION_ID`.
    pub section_id: u64,
    /// Press and release events sorted by time (ties keep row order, press before release).
    pub events: Vec<KeyEvent>,
}

/// Rows skipped because the dataset documentation lists them as expected quirks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AaltoSkips {
    /// Rows with `RELEASE_TIME < PRESS_TIME`.
    pub release_before_press: u64,
    /// Rows with `KEYCODE` 0 (key not identified by the browser).
    pub unidentified_key: u64,
}

impl AaltoSkips {
    fn add(&mut self, other: AaltoSkips) {
        self.release_before_press += other.release_before_press;
        self.unidentified_key += other.unidentified_key;
    }
}

/// Loads every `*_keystrokes.txt.gz` file under `dir/keystrokes` and checks that there are
/// [`PARTICIPANTS`] participants with [`SENTENCES`] sentences each.
///
/// # Errors
///
/// [`Error::Io`] when a file cannot be read or decompressed, [`Error::Parse`] naming the file
/// and line of malformed content, [`Error::DatasetShape`] when the counts differ. A file count
/// other than [`PARTICIPANTS`] is reported before any file is read, with the first missing
/// files when [`CHECKSUMS_FILE`] lists them.
pub fn load(dir: &Path) -> Result<AaltoDataset> {
    let paths = participant_files(dir)?;
    if paths.len() != PARTICIPANTS {
        return Err(shape(file_count_problem(dir, &paths)));
    }
    let dataset = load_files(&paths)?;
    check_shape(&dataset, PARTICIPANTS)?;
    Ok(dataset)
}

/// Lists the `*_keystrokes.txt.gz` files under `dir/keystrokes` in the order the folder lists
/// them, without opening them.
///
/// # Errors
///
/// [`Error::Io`] when the folder cannot be listed.
pub fn participant_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let folder = dir.join(KEYSTROKE_DIR);
    let entries = std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(&folder, e))?.path();
        if path.to_string_lossy().ends_with("_keystrokes.txt.gz") {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// Loads the given gzip-compressed participant files in parallel, without shape checks.
///
/// # Errors
///
/// As [`load`], except for the shape check.
pub fn load_files(paths: &[PathBuf]) -> Result<AaltoDataset> {
    let parsed: Vec<(AaltoParticipant, AaltoSkips)> = paths
        .par_iter()
        .map(|path| {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            parse(GzipReader(flate2::read::MultiGzDecoder::new(file)), path)
        })
        .collect::<Result<_>>()?;
    let mut skips = AaltoSkips::default();
    let mut participants = Vec::with_capacity(parsed.len());
    for (participant, s) in parsed {
        skips.add(s);
        participants.push(participant);
    }
    participants.sort_by_key(|p| p.id);
    if let Some(pair) = participants.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(shape(format!(
            "participant {} appears in two files",
            pair[0].id
        )));
    }
    Ok(AaltoDataset {
        participants,
        skips,
    })
}

/// Describes a participant file count other than [`PARTICIPANTS`], naming the first files that
/// [`CHECKSUMS_FILE`] lists but `found` lacks.
fn file_count_problem(dir: &Path, found: &[PathBuf]) -> String {
    let folder = dir.join(KEYSTROKE_DIR);
    let mut problem = format!(
        "expected {PARTICIPANTS} participant files in {}, found {}",
        folder.display(),
        found.len()
    );
    let Ok(sums) = std::fs::read_to_string(dir.join(CHECKSUMS_FILE)) else {
        return problem;
    };
    let names: std::collections::HashSet<&std::ffi::OsStr> =
        found.iter().filter_map(|p| p.file_name()).collect();
    let missing: Vec<&str> = sums
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|listed| {
            let listed = listed.strip_prefix("./").unwrap_or(listed);
            listed.strip_prefix(KEYSTROKE_DIR)?.strip_prefix('/')
        })
        .filter(|name| !names.contains(std::ffi::OsStr::new(name)))
        .collect();
    if !missing.is_empty() {
        let named = missing[..missing.len().min(MISSING_NAMED)].join(", ");
        let more = missing.len().saturating_sub(MISSING_NAMED);
        problem.push_str(&format!(
            "; missing files listed in {CHECKSUMS_FILE}: {named}"
        ));
        if more > 0 {
            problem.push_str(&format!(" and {more} more"));
        }
        problem.push_str("; copy them into the folder");
    }
    problem
}

/// A gzip decoder that rewords its format errors as invalid data in the file, because the
/// decoder's own messages ("unexpected end of file") do not name the cause.
struct GzipReader<R>(flate2::read::MultiGzDecoder<R>);

impl<R: Read> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::ErrorKind;
        self.0.read(buf).map_err(|e| match e.kind() {
            // flate2 1.x reports a bad header or stream as InvalidInput or InvalidData, and a
            // truncated one as UnexpectedEof. Other kinds come from reading the file itself.
            ErrorKind::InvalidInput | ErrorKind::InvalidData | ErrorKind::UnexpectedEof => {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "invalid gzip data ({e}); the file is truncated or not \
                         gzip-compressed, so copy it again and compare it with {CHECKSUMS_FILE}"
                    ),
                )
            }
            _ => e,
        })
    }
}

/// Checks the participant and sentence counts.
///
/// # Errors
///
/// [`Error::DatasetShape`] naming the first count that differs.
pub fn check_shape(dataset: &AaltoDataset, participants: usize) -> Result<()> {
    if dataset.participants.len() != participants {
        return Err(shape(format!(
            "expected {participants} participant files, found {}",
            dataset.participants.len()
        )));
    }
    if let Some(p) = dataset
        .participants
        .iter()
        .find(|p| p.sentences.len() != SENTENCES)
    {
        return Err(shape(format!(
            "participant {} has {} sentences, expected {SENTENCES}",
            p.id,
            p.sentences.len()
        )));
    }
    Ok(())
}

#[cold]
fn shape(problem: String) -> Error {
    Error::DatasetShape {
        dataset: NAME.into(),
        problem,
    }
}

/// Column positions found in the header.
struct Columns {
    participant: usize,
    section: usize,
    press: usize,
    release: usize,
    keycode: usize,
    width: usize,
}

const REQUIRED: [&str; 5] = [
    "PARTICIPANT_ID",
    "TEST_SECTION_ID",
    "PRESS_TIME",
    "RELEASE_TIME",
    "KEYCODE",
];

fn columns(header: &str, path: &Path) -> Result<Columns> {
    let names: Vec<&str> = header.split('\t').map(str::trim).collect();
    let mut found = [0usize; 5];
    for (slot, name) in found.iter_mut().zip(REQUIRED) {
        *slot = names.iter().position(|n| *n == name).ok_or_else(|| {
            Error::parse(path, 1, format!("missing column `{name}` in the header"))
        })?;
    }
    Ok(Columns {
        participant: found[0],
        section: found[1],
        press: found[2],
        release: found[3],
        keycode: found[4],
        width: names.len(),
    })
}

fn field<'a>(
    fields: &[&'a str],
    index: usize,
    column: &str,
    path: &Path,
    line: u64,
) -> Result<&'a str> {
    fields.get(index).map(|f| f.trim()).ok_or_else(|| {
        Error::parse(
            path,
            line,
            format!(
                "missing column `{column}`: the line has {} fields",
                fields.len()
            ),
        )
    })
}

fn integer<T: std::str::FromStr>(
    fields: &[&str],
    index: usize,
    column: &str,
    path: &Path,
    line: u64,
) -> Result<T> {
    let text = field(fields, index, column, path, line)?;
    text.parse().map_err(|_| {
        Error::parse(
            path,
            line,
            format!("column `{column}`: `{text}` is not a whole number"),
        )
    })
}

/// One event of a row: time in microseconds, row index within its sentence, whether it is the
/// release, and the key code.
type RowEvent = (i64, usize, bool, u32);

/// Parses one decompressed participant file; `path` is used in error messages only.
///
/// # Errors
///
/// [`Error::Parse`] for an empty file, a missing header column or a line with too few fields.
/// Also for a field that is not a whole number, a `KEYCODE` above 255, a timestamp too large
/// for microseconds, or a `PARTICIPANT_ID` that differs from the first row's.
/// [`Error::LimitExceeded`] when the reader yields more than
/// [`MAX_DATASET_FILE_BYTES`](crate::limits::MAX_DATASET_FILE_BYTES), which caps the
/// decompressed size of a `.gz` file.
pub fn parse(reader: impl Read, path: &Path) -> Result<(AaltoParticipant, AaltoSkips)> {
    let content = read_all(reader, path)?;
    let text = std::str::from_utf8(&content).map_err(|e| {
        Error::parse(
            path,
            0,
            format!("the file is not UTF-8 (byte {})", e.valid_up_to()),
        )
    })?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let header = lines.next().filter(|h| !h.trim().is_empty());
    let Some(header) = header else {
        return Err(Error::parse(path, 1, "empty file: expected a header line"));
    };
    let cols = columns(header, path)?;
    let mut id: Option<u32> = None;
    let mut skips = AaltoSkips::default();
    let mut sections: Vec<(u64, Vec<RowEvent>)> = Vec::new();
    for (offset, line_text) in lines.enumerate() {
        let line = offset as u64 + 2;
        if line_text.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line_text.split('\t').collect();
        if fields.len() > cols.width {
            return Err(Error::parse(
                path,
                line,
                format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    cols.width
                ),
            ));
        }
        let participant: u32 = integer(&fields, cols.participant, "PARTICIPANT_ID", path, line)?;
        match id {
            None => id = Some(participant),
            Some(first) if first != participant => {
                return Err(Error::parse(
                    path,
                    line,
                    format!("PARTICIPANT_ID {participant} differs from the first row's {first}"),
                ));
            }
            Some(_) => {}
        }
        let section: u64 = integer(&fields, cols.section, "TEST_SECTION_ID", path, line)?;
        let press_ms: i64 = integer(&fields, cols.press, "PRESS_TIME", path, line)?;
        let release_ms: i64 = integer(&fields, cols.release, "RELEASE_TIME", path, line)?;
        let code: u32 = integer(&fields, cols.keycode, "KEYCODE", path, line)?;
        if code > MAX_KEY_CODE {
            return Err(Error::parse(
                path,
                line,
                format!("column `KEYCODE`: unknown key code {code}; browsers report 0..=255"),
            ));
        }
        let (Some(press_us), Some(release_us)) =
            (press_ms.checked_mul(1000), release_ms.checked_mul(1000))
        else {
            return Err(Error::parse(
                path,
                line,
                format!("timestamps {press_ms} and {release_ms} ms are out of range"),
            ));
        };
        if code == 0 {
            skips.unidentified_key += 1;
            continue;
        }
        if release_us < press_us {
            skips.release_before_press += 1;
            continue;
        }
        let index = match sections.iter().position(|(s, _)| *s == section) {
            Some(i) => i,
            None => {
                sections.push((section, Vec::new()));
                sections.len() - 1
            }
        };
        let rows = &mut sections[index].1;
        let row = rows.len();
        rows.push((press_us, row, false, code));
        rows.push((release_us, row, true, code));
    }
    let Some(id) = id else {
        return Err(Error::parse(path, 2, "no data rows after the header"));
    };
    let mut sentences: Vec<AaltoSentence> = sections
        .into_iter()
        .map(|(section_id, mut rows)| {
            rows.sort_by_key(|&(t, row, is_release, _)| (t, is_release, row));
            let events = rows
                .into_iter()
                .map(|(t, _, is_release, code)| {
                    if is_release {
                        KeyEvent::release(code, t)
                    } else {
                        KeyEvent::press(code, t)
                    }
                })
                .collect();
            AaltoSentence { section_id, events }
        })
        .filter(|s: &AaltoSentence| !s.events.is_empty())
        .collect();
    sentences.sort_by_key(|s| s.events.first().map_or(i64::MAX, |e| e.time_us));
    Ok((AaltoParticipant { id, sentences }, skips))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::KeyAction;

    const HEADER: &str = "PARTICIPANT_ID\tTEST_SECTION_ID\tSENTENCE\tUSER_INPUT\tKEYSTROKE_ID\t\
                          PRESS_TIME\tRELEASE_TIME\tLETTER\tKEYCODE\n";

    fn row(section: u32, id: u32, press: i64, release: i64, code: u32) -> String {
        format!("7\t{section}\tHi.\tHi\t{id}\t{press}\t{release}\t\t{code}\n")
    }

    fn run(body: &str) -> Result<(AaltoParticipant, AaltoSkips)> {
        parse(
            format!("{HEADER}{body}").as_bytes(),
            Path::new("7_keystrokes.txt"),
        )
    }

    fn parse_error(body: &str) -> (u64, String) {
        match run(body) {
            Err(Error::Parse {
                path,
                line,
                problem,
            }) => {
                assert_eq!(path, Path::new("7_keystrokes.txt"));
                (line, problem)
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn gzip_bomb_is_rejected() {
        use std::io::Write;
        let limit = crate::limits::MAX_DATASET_FILE_BYTES as usize;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(HEADER.as_bytes()).unwrap();
        encoder.write_all(&vec![b'\n'; limit]).unwrap();
        let compressed = encoder.finish().unwrap();
        assert!(compressed.len() < limit / 100);
        let decoder = flate2::read::MultiGzDecoder::new(&compressed[..]);
        let error = parse(decoder, Path::new("7_keystrokes.txt.gz")).unwrap_err();
        assert!(
            matches!(
                error,
                Error::LimitExceeded {
                    name: "MAX_DATASET_FILE_BYTES",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn parses_rows_into_sorted_events() {
        // Rows out of KEYSTROKE_ID order, with rollover: 16 is released after 72 goes down.
        let body =
            row(3, 11, 1000, 1150, 16) + &row(3, 10, 1100, 1180, 72) + &row(4, 12, 5000, 5090, 73);
        let (p, skips) = run(&body).expect("valid rows");
        assert_eq!(p.id, 7);
        assert_eq!(skips, AaltoSkips::default());
        assert_eq!(p.sentences.len(), 2);
        let e = &p.sentences[0].events;
        let times: Vec<i64> = e.iter().map(|e| e.time_us).collect();
        assert_eq!(times, vec![1_000_000, 1_100_000, 1_150_000, 1_180_000]);
        assert_eq!(e[2].action, KeyAction::Release);
        assert_eq!(e[2].code, 16);
        assert_eq!(p.sentences[1].section_id, 4);
    }

    #[test]
    fn bad_number_names_line_and_column() {
        let body = row(3, 1, 1000, 1100, 72) + "7\t3\tHi.\tHi\t2\t10x5\t1200\th\t72\n";
        let (line, problem) = parse_error(&body);
        assert_eq!(line, 3);
        assert!(problem.contains("PRESS_TIME"), "{problem}");
        assert!(problem.contains("10x5"), "{problem}");
    }

    #[test]
    fn missing_header_column() {
        let text = "PARTICIPANT_ID\tTEST_SECTION_ID\tPRESS_TIME\tKEYCODE\n7\t3\t1000\t72\n";
        match parse(text.as_bytes(), Path::new("x.txt")) {
            Err(Error::Parse { line, problem, .. }) => {
                assert_eq!(line, 1);
                assert!(problem.contains("RELEASE_TIME"), "{problem}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn truncated_row_names_missing_column() {
        let (line, problem) = parse_error("7\t3\tHi.\tHi\t1\t1000\t1100\n");
        assert_eq!(line, 2);
        assert!(problem.contains("KEYCODE"), "{problem}");
    }

    #[test]
    fn release_before_press_is_counted_skip() {
        let body = row(3, 1, 1000, 1100, 72) + &row(3, 2, 2000, 1500, 73);
        let (p, skips) = run(&body).expect("quirk is skipped");
        assert_eq!(skips.release_before_press, 1);
        assert_eq!(p.sentences[0].events.len(), 2);
    }

    #[test]
    fn unidentified_key_is_counted_skip() {
        let body = row(3, 1, 1000, 1100, 0) + &row(3, 2, 2000, 2100, 73);
        let (p, skips) = run(&body).expect("quirk is skipped");
        assert_eq!(skips.unidentified_key, 1);
        assert_eq!(p.sentences[0].events.len(), 2);
    }

    #[test]
    fn unknown_key_code_is_error() {
        let (line, problem) =
            parse_error(&(row(3, 1, 1000, 1100, 72) + &row(3, 2, 2000, 2100, 999)));
        assert_eq!(line, 3);
        assert!(problem.contains("999"), "{problem}");
    }

    #[test]
    fn mixed_participant_is_error() {
        let body = row(3, 1, 1000, 1100, 72) + "8\t3\tHi.\tHi\t2\t1200\t1300\th\t72\n";
        let (line, problem) = parse_error(&body);
        assert_eq!(line, 3);
        assert!(problem.contains("PARTICIPANT_ID 8"), "{problem}");
    }

    #[test]
    fn empty_and_header_only_files() {
        assert!(matches!(
            parse(&b""[..], Path::new("e.txt")),
            Err(Error::Parse { line: 1, .. })
        ));
        assert!(matches!(
            parse(HEADER.as_bytes(), Path::new("h.txt")),
            Err(Error::Parse { line: 2, .. })
        ));
    }

    #[test]
    fn crlf_lines_parse() {
        let text = format!("{HEADER}{}", row(3, 1, 1000, 1100, 72)).replace('\n', "\r\n");
        let (p, _) = parse(text.as_bytes(), Path::new("c.txt")).expect("CRLF is accepted");
        assert_eq!(p.sentences[0].events.len(), 2);
    }

    /// Writes `files` as participant files of a dataset directory, with a checksum list of
    /// `listed`, and returns the directory.
    fn dataset_dir(files: &[(&str, &[u8])], listed: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(KEYSTROKE_DIR);
        std::fs::create_dir(&folder).unwrap();
        for (name, bytes) in files {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
        let sums: String = listed
            .iter()
            .map(|n| format!("00  ./keystrokes/{n}\n"))
            .collect();
        std::fs::write(dir.path().join(CHECKSUMS_FILE), sums).unwrap();
        dir
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn missing_participant_files_are_named() {
        let listed: Vec<String> = (1..=PARTICIPANTS)
            .map(|i| format!("{i}_keystrokes.txt.gz"))
            .collect();
        let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
        let dir = dataset_dir(&[("3_keystrokes.txt.gz", b"")], &listed);
        let message = load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("found 1"), "{message}");
        assert!(
            message.contains("1_keystrokes.txt.gz, 2_keystrokes.txt.gz, 4_keystrokes.txt.gz"),
            "{message}"
        );
        assert!(
            message.contains(&format!("and {} more", PARTICIPANTS - 1 - MISSING_NAMED)),
            "{message}"
        );
    }

    #[test]
    fn bad_gzip_names_path() {
        let whole = gzip(format!("{HEADER}{}", row(3, 1, 1000, 1100, 72)).as_bytes());
        let cases: [(&str, &[u8]); 2] = [
            ("plain text", b"PARTICIPANT_ID\tTEST_SECTION_ID\n"),
            ("truncated", &whole[..whole.len() / 2]),
        ];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("7_keystrokes.txt.gz");
        for (case, bytes) in cases {
            std::fs::write(&file, bytes).unwrap();
            let message = load_files(std::slice::from_ref(&file))
                .unwrap_err()
                .to_string();
            assert!(
                message.starts_with(&file.display().to_string()),
                "{case}: {message}"
            );
            assert!(message.contains("invalid gzip data"), "{case}: {message}");
            assert!(message.contains("copy it again"), "{case}: {message}");
        }
    }

    #[test]
    fn real_subset_loads() {
        let Some(root) = std::env::var_os("KINETYPE_DATA_DIR") else {
            eprintln!("skipping: KINETYPE_DATA_DIR is not set");
            return;
        };
        let dir = Path::new(&root).join(NAME);
        if !dir.join(KEYSTROKE_DIR).is_dir() {
            eprintln!("skipping: {} is missing", dir.display());
            return;
        }
        let data = load(&dir).expect("the subset loads");
        assert_eq!(data.participants.len(), PARTICIPANTS);
        assert_eq!(data.skips.release_before_press, 5);
        assert_eq!(data.skips.unidentified_key, 2);
    }
}

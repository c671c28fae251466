//! Loader for the Balabit Mouse Dynamics Challenge data set.
//!
//! The data set (Fülöp, Kovács, Kurics and Windhager-Pokol, 2016,
//! <https://github.com/balabit/Mouse-Dynamics-Challenge>) has one CSV file per remote-desktop
//! session, without extension, under `training_files/userN/` and `test_files/userN/`, and a
//! `public_labels.csv` with `filename,is_illegal` for the test sessions that have a public label.
//! Each session file has the header `record timestamp,client timestamp,button,state,x,y`.
//!
//! The parser maps each row onto a [`MouseEvent`] and handles the known quirks of the files as
//! follows; [`ParseStats`] counts each case.
//!
//! | quirk | handling |
//! |---|---|
//! | `record timestamp` is the capture device's batched clock | parsed and checked, never used |
//! | `client timestamp` ticks in steps of about 15.6 ms, so consecutive rows often share it | kept (counted); feature code merges equal timestamps before differentiating |
//! | exact duplicate consecutive rows | dropped |
//! | `65535,65535` coordinates (cursor outside the session, usually after a long idle gap) | dropped, and the stream is split there |
//! | moves of more than 1,000 px (Manhattan) within 50 ms of client time | kept, and the stream is split before them, so no action spans the warp |
//! | `Drag` rows name no button | the button held since the last press is filled in |
//! | `Scroll` rows with state `Up`/`Down` and no wheel delta | kept as [`MouseKind::Scroll`] |
//! | a release with no press before it, or a press never released | kept (counted); segmentation treats it as movement |
//! | client time going backwards (a 32-bit millisecond counter wrap in one upstream file) | the stream is split there |
//! | idle gaps over 60 s | counted; segmentation splits on shorter gaps anyway |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::datasets::csv_util::read_all;
use crate::error::{Error, Result};
use crate::events::{MouseButton, MouseEvent, MouseKind};

/// Catalog name of the data set.
pub const NAME: &str = "balabit";
/// Folder of the training sessions, relative to the dataset directory.
pub const TRAINING_DIR: &str = "training_files";
/// Folder of the test sessions, relative to the dataset directory.
pub const TEST_DIR: &str = "test_files";
/// File with the public test labels, relative to the dataset directory.
pub const LABELS_FILE: &str = "public_labels.csv";
/// Session files under [`TRAINING_DIR`] in the published data set (10 users).
pub const TRAINING_SESSIONS: usize = 65;
/// Session files under [`TEST_DIR`] in the published data set, each with a row in
/// [`LABELS_FILE`].
pub const TEST_SESSIONS: usize = 816;

/// Coordinate value the capture writes when the cursor position is unknown.
const SENTINEL: f64 = 65535.0;
/// Client-time gaps longer than this (milliseconds) are counted as idle gaps.
const IDLE_GAP_MS: f64 = 60_000.0;

const HEADER: [&str; 6] = [
    "record timestamp",
    "client timestamp",
    "button",
    "state",
    "x",
    "y",
];

/// Counts of the rows and quirks the parser met, summed over the files parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ParseStats {
    /// Data rows read, not counting headers.
    pub rows: u64,
    /// Rows kept as events.
    pub events: u64,
    /// Rows whose client timestamp equals the previous kept row's (kept).
    pub repeated_client_time: u64,
    /// Rows identical to the row before in all six fields (dropped).
    pub duplicate_rows: u64,
    /// Rows at the `65535,65535` sentinel position (dropped; the stream is split there).
    pub sentinel_rows: u64,
    /// Moves of more than 1,000 px within 50 ms (kept; the stream is split before them).
    pub jumps: u64,
    /// `Drag` rows given the button held since the last press.
    pub drag_button_filled: u64,
    /// `Drag` rows with no button held (kept with [`MouseButton::None`]).
    pub drag_without_press: u64,
    /// Wheel rows (kept as [`MouseKind::Scroll`]).
    pub scroll_rows: u64,
    /// Releases with no matching press (kept).
    pub unpaired_releases: u64,
    /// Presses still unreleased at the next press or at the end of the file (kept).
    pub unpaired_presses: u64,
    /// Rows whose client time is earlier than the previous kept row's (kept; split there).
    pub clock_backwards: u64,
    /// Client-time gaps of more than 60 s between kept rows.
    pub idle_gaps_over_60s: u64,
}

impl std::ops::AddAssign for ParseStats {
    fn add_assign(&mut self, o: Self) {
        self.rows += o.rows;
        self.events += o.events;
        self.repeated_client_time += o.repeated_client_time;
        self.duplicate_rows += o.duplicate_rows;
        self.sentinel_rows += o.sentinel_rows;
        self.jumps += o.jumps;
        self.drag_button_filled += o.drag_button_filled;
        self.drag_without_press += o.drag_without_press;
        self.scroll_rows += o.scroll_rows;
        self.unpaired_releases += o.unpaired_releases;
        self.unpaired_presses += o.unpaired_presses;
        self.clock_backwards += o.clock_backwards;
        self.idle_gaps_over_60s += o.idle_gaps_over_60s;
    }
}

/// One parsed session.
#[derive(Debug, Clone, PartialEq)]
pub struct MouseSession {
    /// Events in file order, after dropping the rows the table in the module docs lists.
    pub events: Vec<MouseEvent>,
    /// Indices into `events` where the stream is split: no action may span from
    /// `events[i - 1]` to `events[i]`. Strictly increasing.
    pub breaks: Vec<usize>,
    /// Quirk counts of this file.
    pub stats: ParseStats,
}

/// A session file on disk with the user folder it sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFile {
    /// The user folder's name, such as `user7`: the account the session claims to be.
    pub user: String,
    /// The file name, such as `session_0041905381`.
    pub session: String,
    /// Full path.
    pub path: PathBuf,
}

/// Reads and parses one session file.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, and the errors of [`parse_session`].
pub fn load_session(path: &Path) -> Result<MouseSession> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let content = read_all(file, path)?;
    parse_session(path, &content)
}

/// Parses the bytes of one session file; `path` only names the file in errors.
///
/// # Errors
///
/// [`Error::Parse`] naming the file and 1-based line in these cases: the file is empty or has
/// no data rows, or the header lacks a column. A line has the wrong number of fields, or a
/// timestamp or coordinate is not a finite number. A button or state is unknown, or a button
/// and state do not go together (for example `Scroll` with `Pressed`).
pub fn parse_session(path: &Path, content: &[u8]) -> Result<MouseSession> {
    let text = std::str::from_utf8(content)
        .map_err(|e| Error::parse(path, 0, format!("the file is not UTF-8 text: {e}")))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(Error::parse(
            path,
            0,
            "the file is empty; expected a header and data rows",
        ));
    };
    let columns = header_columns(path, header)?;

    let mut parser = Parser::new(path);
    let mut previous_line: Option<&str> = None;
    for (index, line) in lines {
        let line_number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        parser.stats.rows += 1;
        if previous_line == Some(line) {
            parser.stats.duplicate_rows += 1;
            continue;
        }
        previous_line = Some(line);
        let row = parse_row(path, line_number, line, &columns)?;
        parser.push(row, line_number)?;
    }
    if parser.stats.rows == 0 {
        return Err(Error::parse(
            path,
            1,
            "the file has a header but no data rows",
        ));
    }
    Ok(parser.finish())
}

/// Positions of the six columns in the header, by name.
fn header_columns(path: &Path, header: &str) -> Result<[usize; 6]> {
    let names: Vec<&str> = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(str::trim)
        .collect();
    let mut columns = [0; 6];
    for (slot, wanted) in columns.iter_mut().zip(HEADER) {
        *slot = names.iter().position(|n| *n == wanted).ok_or_else(|| {
            Error::parse(
                path,
                1,
                format!(
                    "missing column `{wanted}` in the header; expected {}",
                    HEADER.join(",")
                ),
            )
        })?;
    }
    Ok(columns)
}

/// One row as read, before quirk handling.
#[derive(Debug, Clone, Copy)]
struct Row {
    client_ms: f64,
    x: f64,
    y: f64,
    button: MouseButton,
    kind: MouseKind,
}

fn parse_row(path: &Path, line: u64, text: &str, columns: &[usize; 6]) -> Result<Row> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let field = |i: usize| -> Result<&str> {
        fields.get(columns[i]).copied().ok_or_else(|| {
            Error::parse(
                path,
                line,
                format!(
                    "truncated line: column `{}` is missing ({} fields, expected 6)",
                    HEADER[i],
                    fields.len()
                ),
            )
        })
    };
    let number = |i: usize| -> Result<f64> {
        let raw = field(i)?;
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(Error::parse(
                path,
                line,
                format!("column `{}`: `{raw}` is not a finite number", HEADER[i]),
            )),
        }
    };
    if fields.len() > 6 {
        return Err(Error::parse(
            path,
            line,
            format!("{} fields where the header has 6", fields.len()),
        ));
    }
    // The record timestamp is validated so that a corrupt row is caught, but it is the
    // capture device's batched clock and is never used for timing.
    number(0)?;
    let client_s = number(1)?;
    let (button_text, state_text) = (field(2)?, field(3)?);
    let x = number(4)?;
    let y = number(5)?;
    let (button, kind) = button_state(button_text, state_text).ok_or_else(|| {
        Error::parse(
            path,
            line,
            format!(
                "unknown button/state pair `{button_text}`/`{state_text}`; expected \
                 NoButton/Move, NoButton/Drag, Left|Right|Middle|XButton/Pressed|Released \
                 or Scroll/Up|Down"
            ),
        )
    })?;
    Ok(Row {
        client_ms: client_s * 1000.0,
        x,
        y,
        button,
        kind,
    })
}

/// Maps the file's button and state onto kinetype's; `None` for pairs the format does not
/// have.
fn button_state(button: &str, state: &str) -> Option<(MouseButton, MouseKind)> {
    let named = match button {
        "NoButton" => MouseButton::None,
        "Left" => MouseButton::Left,
        "Right" => MouseButton::Right,
        "Middle" => MouseButton::Middle,
        "XButton" => MouseButton::Other,
        "Scroll" => {
            return matches!(state, "Up" | "Down")
                .then_some((MouseButton::None, MouseKind::Scroll));
        }
        _ => return None,
    };
    let kind = match state {
        "Move" if named == MouseButton::None => MouseKind::Move,
        "Drag" => MouseKind::Drag,
        "Pressed" if named != MouseButton::None => MouseKind::Press,
        "Released" if named != MouseButton::None => MouseKind::Release,
        _ => return None,
    };
    Some((named, kind))
}

/// Applies the quirk handling row by row.
#[derive(Debug)]
struct Parser<'a> {
    path: &'a Path,
    events: Vec<MouseEvent>,
    breaks: Vec<usize>,
    stats: ParseStats,
    held: Option<MouseButton>,
    split_next: bool,
}

impl<'a> Parser<'a> {
    fn new(path: &'a Path) -> Self {
        Parser {
            path,
            events: Vec::new(),
            breaks: Vec::new(),
            stats: ParseStats::default(),
            held: None,
            split_next: false,
        }
    }

    fn push(&mut self, row: Row, line: u64) -> Result<()> {
        if row.x == SENTINEL && row.y == SENTINEL {
            self.stats.sentinel_rows += 1;
            self.split_next = true;
            return Ok(());
        }
        if row.x < 0.0 || row.y < 0.0 {
            return Err(Error::parse(
                self.path,
                line,
                format!(
                    "negative coordinate ({}, {}); screen pixels start at 0",
                    row.x, row.y
                ),
            ));
        }
        let mut button = row.button;
        match row.kind {
            MouseKind::Press => {
                if self.held.is_some() {
                    self.stats.unpaired_presses += 1;
                }
                self.held = Some(row.button);
            }
            MouseKind::Release => {
                if self.held.take().is_none() {
                    self.stats.unpaired_releases += 1;
                }
            }
            MouseKind::Drag if button == MouseButton::None => match self.held {
                Some(held) => {
                    button = held;
                    self.stats.drag_button_filled += 1;
                }
                None => self.stats.drag_without_press += 1,
            },
            MouseKind::Scroll => self.stats.scroll_rows += 1,
            MouseKind::Drag | MouseKind::Move => {}
        }
        let event = MouseEvent {
            time_ms: row.client_ms,
            x: row.x,
            y: row.y,
            button,
            kind: row.kind,
        };
        if let Some(last) = self.events.last() {
            let dt = event.time_ms - last.time_ms;
            if dt == 0.0 {
                self.stats.repeated_client_time += 1;
            } else if dt < 0.0 {
                self.stats.clock_backwards += 1;
                self.split_next = true;
            } else if dt > IDLE_GAP_MS {
                self.stats.idle_gaps_over_60s += 1;
            }
            if crate::mouse::segment::is_warp(last, &event) {
                self.stats.jumps += 1;
                self.split_next = true;
            }
        }
        if std::mem::take(&mut self.split_next) && !self.events.is_empty() {
            self.breaks.push(self.events.len());
        }
        self.events.push(event);
        self.stats.events += 1;
        Ok(())
    }

    fn finish(mut self) -> MouseSession {
        if self.held.is_some() {
            self.stats.unpaired_presses += 1;
        }
        MouseSession {
            events: self.events,
            breaks: self.breaks,
            stats: self.stats,
        }
    }
}

/// Lists the session files under `dir` (`training_files` or `test_files`), one folder per user,
/// sorted by user and file name.
///
/// # Errors
///
/// [`Error::Io`] when a folder cannot be listed, and [`Error::DatasetShape`] when `dir`
/// contains no user folder with sessions.
pub fn list_sessions(dir: &Path) -> Result<Vec<SessionFile>> {
    let mut files = Vec::new();
    for user in read_dir_sorted(dir)? {
        if !user.is_dir() {
            continue;
        }
        let user_name = file_name(&user);
        for session in read_dir_sorted(&user)? {
            if session.is_file() {
                files.push(SessionFile {
                    user: user_name.clone(),
                    session: file_name(&session),
                    path: session,
                });
            }
        }
    }
    if files.is_empty() {
        return Err(Error::DatasetShape {
            dataset: NAME.into(),
            problem: format!("{} holds no userN/session_* files", dir.display()),
        });
    }
    Ok(files)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        paths.push(entry.map_err(|e| Error::io(dir, e))?.path());
    }
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads `public_labels.csv`: session file name to `true` when the session is illegal (another
/// user's data under this account).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read; [`Error::Parse`] naming the line when the header
/// is not `filename,is_illegal`, a line does not have two fields, a label is not 0 or 1, or a
/// file name repeats.
pub fn load_labels(path: &Path) -> Result<HashMap<String, bool>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let content = read_all(file, path)?;
    parse_labels(path, &content)
}

/// Parses the bytes of `public_labels.csv`; `path` only names the file in errors.
///
/// # Errors
///
/// As [`load_labels`], and [`Error::Parse`] when the bytes are not UTF-8.
pub fn parse_labels(path: &Path, content: &[u8]) -> Result<HashMap<String, bool>> {
    let text = std::str::from_utf8(content)
        .map_err(|e| Error::parse(path, 0, format!("the file is not UTF-8 text: {e}")))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == "filename,is_illegal" => {}
        _ => {
            return Err(Error::parse(
                path,
                1,
                "expected the header `filename,is_illegal`",
            ));
        }
    }
    let mut labels = HashMap::new();
    for (index, line) in lines {
        let line_number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, label)) = line.split_once(',') else {
            return Err(Error::parse(
                path,
                line_number,
                "expected two fields: filename,is_illegal",
            ));
        };
        let illegal = match label.trim() {
            "0" => false,
            "1" => true,
            other => {
                return Err(Error::parse(
                    path,
                    line_number,
                    format!("column `is_illegal`: `{other}` is not 0 or 1"),
                ));
            }
        };
        if labels.insert(name.trim().to_string(), illegal).is_some() {
            return Err(Error::parse(
                path,
                line_number,
                format!("file name `{}` is listed twice", name.trim()),
            ));
        }
    }
    if labels.is_empty() {
        return Err(Error::parse(path, 1, "the file has a header but no labels"));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests;

//! The crate's error type.

use std::path::PathBuf;

/// A specialised `Result` for kinetype operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in kinetype.
///
/// Each variant carries the values a caller needs to find the cause: the event index, the file
/// and line, the parameter and its value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key event sequence cannot be turned into a timing vector.
    #[error("key event {index}: {problem}")]
    KeyEvents {
        /// Zero-based index of the offending event in the input slice.
        index: usize,
        /// What is wrong with it.
        problem: KeyEventProblem,
    },

    /// A data file is malformed.
    #[error("{}:{line}: {problem}", path.display())]
    Parse {
        /// File that failed to parse (for a member of a zip archive, `archive.zip/member.csv`).
        path: PathBuf,
        /// One-based line number; 0 when the problem concerns the whole file.
        line: u64,
        /// What is wrong, including the column when one is involved.
        problem: String,
    },

    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A data set does not have the shape its protocol requires.
    #[error("dataset {dataset}: {problem}")]
    DatasetShape {
        /// Dataset name as in the catalog.
        dataset: String,
        /// Which expectation failed.
        problem: String,
    },

    /// A dataset name is not in the catalog.
    #[error("unknown dataset `{name}`; known datasets: {known}")]
    UnknownDataset {
        /// The name that was requested.
        name: String,
        /// Comma-separated list of valid names.
        known: String,
    },

    /// A detector name is not one of the implemented detectors.
    #[error("unknown detector `{name}`; known detectors: {known}")]
    UnknownDetector {
        /// The name that was requested.
        name: String,
        /// Comma-separated list of valid names.
        known: String,
    },

    /// A hyper-parameter is outside its valid range.
    #[error("invalid parameter {name} = {value}: {expected}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// The valid range.
        expected: &'static str,
    },

    /// Training data cannot be used to fit a model.
    #[error("invalid training data: {problem}")]
    InvalidTrainingData {
        /// Why the data was rejected (too few rows, non-finite values, zero variance, ...).
        problem: String,
    },

    /// A vector to score does not match what the model was fitted on.
    #[error("sample has {actual} features but the model was fitted on {expected}")]
    DimensionMismatch {
        /// Number of features the model expects.
        expected: usize,
        /// Number of features supplied.
        actual: usize,
    },

    /// A sample value is NaN or infinite.
    #[error("feature {index} is {value}, but only finite values can be scored")]
    NonFiniteFeature {
        /// Zero-based feature index.
        index: usize,
        /// The offending value.
        value: f64,
    },

    /// A fitting routine of a numerical library failed.
    #[error("{detector}: fitting failed: {message}")]
    Fit {
        /// The detector being fitted.
        detector: &'static str,
        /// The library's message.
        message: String,
    },

    /// A downloaded or local file does not have the checksum the catalog lists.
    #[error(
        "{}: checksum mismatch: expected sha256 {expected}, found {actual}",
        path.display()
    )]
    Checksum {
        /// The file that was checked.
        path: PathBuf,
        /// Hex digest from the catalog.
        expected: String,
        /// Hex digest of the file.
        actual: String,
    },

    /// A free-text sample or background was hashed with a different key secret than the model.
    #[error(
        "key secret mismatch: the model uses secret fingerprint {model:016x} but the input was \
         hashed with {sample:016x}; extract samples with the model's secret"
    )]
    KeySecretMismatch {
        /// Fingerprint of the model's secret.
        model: u64,
        /// Fingerprint of the secret the input was hashed with.
        sample: u64,
    },

    /// A mouse event has a coordinate or timestamp that is not finite or is out of range.
    #[error(
        "mouse event {index}: {field} = {value} is outside -{max}..={max}; check the client's \
         units (pixels and milliseconds)"
    )]
    MouseEventOutOfRange {
        /// Zero-based index of the event in the input slice.
        index: usize,
        /// `time_ms`, `x` or `y`.
        field: &'static str,
        /// The rejected value.
        value: f64,
        /// The largest magnitude accepted for this field.
        max: f64,
    },

    /// An input is larger than kinetype accepts; the limits are the constants in
    /// [`crate::limits`].
    #[error("{input} exceeds the limit of {limit} {unit} ({name}); split it into smaller inputs")]
    LimitExceeded {
        /// What was too large: a file path, `model bytes`, `mouse events`, ...
        input: String,
        /// The limit that was exceeded.
        limit: u64,
        /// Unit of `limit`, such as `bytes` or `events`.
        unit: &'static str,
        /// Name of the constant in [`crate::limits`] that sets the limit.
        name: &'static str,
    },

    /// A model produced a NaN or infinite score, which happens only with a corrupt model or a
    /// sample far outside the range of the training data.
    #[error("the model produced a score of {value}; check the model file and the sample's units")]
    NonFiniteScore {
        /// The score.
        value: f64,
    },

    /// A serialised model cannot be decoded, or decodes to a structurally invalid model.
    #[error("invalid model: {problem}; the bytes are not a model written by this version")]
    InvalidModel {
        /// What the decoder or the structural check rejected.
        problem: String,
    },
}

/// What is wrong with a key event sequence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyEventProblem {
    /// A key was pressed and never released.
    #[error("key {code} is pressed but never released")]
    MissingRelease {
        /// Physical key code.
        code: u32,
    },
    /// A release arrived for a key that is not down.
    #[error("key {code} is released without a preceding press")]
    ReleaseWithoutPress {
        /// Physical key code.
        code: u32,
    },
    /// An event's timestamp is earlier than the previous event's.
    #[error("timestamp {time_us} us is earlier than the previous event at {previous_us} us")]
    TimeWentBackwards {
        /// The event's timestamp in microseconds.
        time_us: i64,
        /// The previous event's timestamp in microseconds.
        previous_us: i64,
    },
    /// The pressed key does not match the phrase.
    #[error("expected key {expected} (phrase position {position}) but key {actual} was pressed")]
    UnexpectedKey {
        /// Zero-based position in the phrase.
        position: usize,
        /// Key code the phrase has at that position.
        expected: u32,
        /// Key code that was pressed.
        actual: u32,
    },
    /// The events end before the phrase is complete.
    #[error("the phrase has {expected} keys but only {actual} were pressed")]
    PhraseIncomplete {
        /// Number of keys in the phrase.
        expected: usize,
        /// Number of key presses seen.
        actual: usize,
    },
    /// A computed timing is NaN or infinite.
    #[error("timing {name} is not finite ({value})")]
    NonFinite {
        /// Feature name, such as `H.3` or `DD.2.3`.
        name: String,
        /// The computed value.
        value: f64,
    },
}

impl Error {
    /// Builds a [`Error::Parse`]; kept out of line because it only runs on bad input.
    #[cold]
    pub(crate) fn parse(path: impl Into<PathBuf>, line: u64, problem: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            problem: problem.into(),
        }
    }

    /// Builds a [`Error::LimitExceeded`].
    #[cold]
    pub(crate) fn limit(
        input: impl Into<String>,
        limit: u64,
        unit: &'static str,
        name: &'static str,
    ) -> Self {
        Error::LimitExceeded {
            input: input.into(),
            limit,
            unit,
            name,
        }
    }

    /// Builds a [`Error::Io`].
    #[cold]
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds a [`Error::InvalidTrainingData`].
    #[cold]
    pub(crate) fn training(problem: impl Into<String>) -> Self {
        Error::InvalidTrainingData {
            problem: problem.into(),
        }
    }
}

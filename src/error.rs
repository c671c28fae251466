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
        /// The problem with the event.
        problem: KeyEventProblem,
    },

    /// A data file is malformed.
    #[error("{}:{line}: {problem}", path.display())]
    Parse {
        /// File that failed to parse (for a member of a zip archive, `archive.zip/member.csv`).
        path: PathBuf,
        /// One-based line number; 0 when the problem concerns the whole file.
        line: u64,
        /// Description of the problem, including the column when one is involved.
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
        /// The expectation that failed.
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
        /// Reason for rejecting the data (too few rows, non-finite values, zero variance, ...).
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

    /// A user id has no state in the engine and no model file.
    #[error("unknown user {user}: begin enrolment for this user first")]
    UnknownUser {
        /// Keyed-hash prefix of the user id; the clear id never appears in errors.
        user: String,
    },

    /// Events of a modality that the engine configuration disables.
    #[error(
        "{modality} events were sent but EngineConfig.modalities disables {modality}; \
         stop sending them or enable the modality"
    )]
    ModalityDisabled {
        /// Modality name.
        modality: &'static str,
    },

    /// An enrolment step cannot run in the user's current state.
    #[error("user {user}: {problem}")]
    Enrolment {
        /// Keyed-hash prefix of the user id.
        user: String,
        /// What is missing or wrong.
        problem: EnrolmentProblem,
    },

    /// A batch of events was rejected; nothing from it was stored.
    #[error("user {user}, session {session}: {problem}")]
    InvalidBatch {
        /// Keyed-hash prefix of the user id.
        user: String,
        /// Session id as the caller gave it.
        session: u64,
        /// What is wrong with the batch.
        problem: BatchProblem,
    },

    /// A configured resource limit would be exceeded.
    #[error("resource limit {name} = {limit} reached; raise it in the engine configuration")]
    ResourceLimit {
        /// The limit's field name in `ResourceLimits`.
        name: &'static str,
        /// Its configured value.
        limit: usize,
    },

    /// A model file cannot be loaded; the file is left untouched.
    #[error("model file {}: {problem}", path.display())]
    ModelFile {
        /// The file that was read.
        path: PathBuf,
        /// What is wrong with it.
        problem: ModelFileProblem,
    },
}

/// Why an enrolment step cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolmentProblem {
    /// The user already has a trained model.
    #[error("already enrolled; call revert_adaptation or remove the user to enrol again")]
    AlreadyEnrolled,
    /// The user has no trained model yet.
    #[error("not enrolled yet; finish enrolment first")]
    NotEnrolled,
    /// A modality has fewer enrolment actions than configured.
    #[error("{modality} has {have} enrolment actions but {need} are required")]
    NotEnoughEvidence {
        /// Modality name.
        modality: &'static str,
        /// Actions collected so far.
        have: usize,
        /// Actions the configuration requires.
        need: usize,
    },
    /// No background population was supplied to calibrate the thresholds.
    #[error("no background population for {modality}; call Engine::add_background first")]
    NoBackground {
        /// Modality name.
        modality: &'static str,
    },
    /// The template has not been adapted since enrolment.
    #[error("the template has no adaptation to revert")]
    NothingToRevert,
    /// A modality whose model is fitted against the background has background sessions of
    /// fewer people than it needs: its calibration scores each person with a model fitted
    /// without that person, which must still have another person to fit against.
    #[error(
        "the {modality} model is fitted against the background and needs background sessions \
         of at least {need} people, but has {have}; add sessions of other people"
    )]
    TooFewBackgroundPeople {
        /// Modality name.
        modality: &'static str,
        /// People with background actions of this modality, the enrolling user left out.
        have: usize,
        /// People required.
        need: usize,
    },
    /// No background user has a full window of recent actions, so the allow threshold cannot
    /// be set. The fields are the window lengths (`min_evidence`) of the enabled modalities.
    #[error(
        "no background user has a full window ({keyboard} keyboard or {mouse} mouse actions); \
         add longer background sessions or lower min_evidence"
    )]
    NoBackgroundWindows {
        /// Keyboard window length; 0 when the keyboard is disabled.
        keyboard: usize,
        /// Mouse window length; 0 when the mouse is disabled.
        mouse: usize,
    },
}

/// What is wrong with a batch of events.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchProblem {
    /// The batch has no events.
    #[error("the batch is empty; send at least one event")]
    Empty,
    /// The batch has more events than the configured maximum.
    #[error("the batch has {len} events but at most {max} are accepted; split it")]
    TooLarge {
        /// Events in the batch.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// An event timestamp is NaN or infinite.
    #[error("event {index} has timestamp {value}, which is not finite")]
    NonFiniteTimestamp {
        /// Zero-based index in the batch.
        index: usize,
        /// The timestamp in microseconds.
        value: f64,
    },
    /// An event timestamp is below zero.
    #[error("event {index} has negative timestamp {value} us")]
    NegativeTimestamp {
        /// Zero-based index in the batch.
        index: usize,
        /// The timestamp in microseconds.
        value: f64,
    },
    /// An event is earlier than the previous event of the same modality in the session.
    #[error("event {index} at {time_us} us is earlier than the previous event at {previous_us} us")]
    TimeWentBackwards {
        /// Zero-based index in the batch.
        index: usize,
        /// The event's timestamp in microseconds.
        time_us: f64,
        /// The previous event's timestamp in microseconds.
        previous_us: f64,
    },
}

/// What is wrong with a model file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelFileProblem {
    /// The file ends before its header or payload does.
    #[error("truncated: {needed} bytes needed but the file has {len}")]
    Truncated {
        /// Bytes the header announces.
        needed: u64,
        /// Bytes in the file.
        len: u64,
    },
    /// The file is longer than its header announces.
    #[error("{extra} unexpected bytes after the checksum")]
    TrailingBytes {
        /// Bytes after the end the header announces.
        extra: u64,
    },
    /// The file does not start with the kinetype magic bytes.
    #[error("not a kinetype model file (magic bytes {found})")]
    BadMagic {
        /// The first bytes, hex-encoded.
        found: String,
    },
    /// The format version is not one this build reads.
    #[error("format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this build reads and writes.
        supported: u16,
    },
    /// The checksum does not match the contents.
    #[error("checksum mismatch: stored crc32 {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// CRC32 stored in the file.
        stored: u32,
        /// CRC32 of the bytes read.
        computed: u32,
    },
    /// The file holds another kind of model.
    #[error("model kind is `{found}` but `{expected}` was requested")]
    WrongKind {
        /// Kind the caller expects.
        expected: String,
        /// Kind stored in the file.
        found: String,
    },
    /// The model was built with another feature schema.
    #[error("feature schema hash {found} does not match {expected}; retrain the model")]
    SchemaMismatch {
        /// Schema hash the caller expects, hex.
        expected: String,
        /// Schema hash in the file, hex.
        found: String,
    },
    /// The model's templates do not match the modalities the engine enables.
    #[error(
        "the model has templates for {stored} but the engine enables {enabled}; \
         re-enrol the user or set EngineConfig.modalities to match"
    )]
    ModalityMismatch {
        /// Modalities with a template in the file, such as `keyboard+mouse`.
        stored: String,
        /// Modalities the engine enables.
        enabled: String,
    },
    /// The payload does not decode as the expected model type.
    #[error("payload does not decode: {message}")]
    Payload {
        /// The decoder's message.
        message: String,
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

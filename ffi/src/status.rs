//! The status code every fallible function returns, and the one mapping from
//! `kinetype::Error` onto it.

use std::ffi::c_char;

use kinetype_core::{EnrolmentProblem, Error};

/// Outcome of a call, returned by every fallible function. On anything but
/// `KINETYPE_STATUS_OK` the output parameters are left untouched, and
/// `kinetype_last_error_message` returns a description for the calling thread.
///
/// The numbers are fixed: a retired code keeps its number and is never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum kinetype_status {
    /// The call succeeded.
    Ok = 0,
    /// An argument is out of range or malformed. Examples: a bad configuration field, an
    /// empty or oversized event batch, a NaN, infinite or negative timestamp, or time going
    /// backwards within a session. An enum field with an unknown value and events of a
    /// modality that the configuration disables also give this status.
    InvalidArgument = 1,
    /// A required pointer argument is NULL.
    NullPointer = 2,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 3,
    /// The user has no state in the engine and no model file; begin enrolment first.
    NotFound = 4,
    /// The user is still enrolling; finish enrolment first.
    NotEnrolled = 5,
    /// The user already has a trained model.
    AlreadyEnrolled = 6,
    /// A modality has fewer enrolment actions than the configuration requires.
    NotEnoughEvidence = 7,
    /// The background sessions cannot calibrate the user: none was added before enrolment
    /// finished, none has a full window, or a modality fitted against the background has
    /// sessions of fewer than two people.
    NoBackground = 8,
    /// The template has no adaptation to revert.
    NothingToRevert = 9,
    /// A file or directory could not be read or written.
    IoError = 10,
    /// A model file is truncated, fails its checksum, or was written for another model kind,
    /// feature schema, secret, format version or set of modalities.
    CorruptModel = 11,
    /// A configured resource limit (users, background users, batch size) would be exceeded.
    ResourceLimit = 12,
    /// The enrolment data cannot support a model (too little variation, non-finite features).
    TrainingFailed = 13,
    /// The caller's buffer is too small; the needed size was written.
    BufferTooSmall = 14,
    /// kinetype panicked; the panic was caught at the C boundary. The engine handle stays
    /// usable, but the request's effect is unknown. Please report it as a bug.
    Panic = 15,
    /// An error this version of the C API does not classify. Please report it as a bug.
    Internal = 16,
}

/// A failed call: the status to return and the message to store for the calling thread.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: kinetype_status,
    pub(crate) message: String,
}

impl Failure {
    #[cold]
    pub(crate) fn new(status: kinetype_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    #[cold]
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(kinetype_status::InvalidArgument, message)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::new(status_of(&error), error.to_string())
    }
}

/// Maps a core error onto its status; the only place where this mapping is made.
fn status_of(error: &Error) -> kinetype_status {
    use kinetype_status as S;
    match error {
        Error::InvalidParameter { .. }
        | Error::InvalidBatch { .. }
        | Error::KeyEvents { .. }
        | Error::MouseEventOutOfRange { .. }
        | Error::ModalityDisabled { .. }
        | Error::DimensionMismatch { .. }
        | Error::NonFiniteFeature { .. } => S::InvalidArgument,
        Error::UnknownUser { .. } => S::NotFound,
        Error::Enrolment { problem, .. } => match problem {
            EnrolmentProblem::NotEnrolled => S::NotEnrolled,
            EnrolmentProblem::AlreadyEnrolled => S::AlreadyEnrolled,
            EnrolmentProblem::NotEnoughEvidence { .. } => S::NotEnoughEvidence,
            EnrolmentProblem::NoBackground { .. }
            | EnrolmentProblem::NoBackgroundWindows { .. }
            | EnrolmentProblem::TooFewBackgroundPeople { .. } => S::NoBackground,
            EnrolmentProblem::NothingToRevert => S::NothingToRevert,
            _ => S::Internal,
        },
        Error::Io { .. } => S::IoError,
        // A model that decodes to NaN scores is corrupt as far as a caller can act on it.
        Error::ModelFile { .. }
        | Error::InvalidModel { .. }
        | Error::KeySecretMismatch { .. }
        | Error::NonFiniteScore { .. } => S::CorruptModel,
        Error::ResourceLimit { .. } | Error::LimitExceeded { .. } => S::ResourceLimit,
        Error::InvalidTrainingData { .. } | Error::Fit { .. } => S::TrainingFailed,
        // Dataset and catalog errors come from the replay tools, which the engine never calls.
        _ => S::Internal,
    }
}

/// Returns the name of `status` as a static NUL-terminated string, such as
/// `"KINETYPE_STATUS_NOT_FOUND"`, or `"KINETYPE_STATUS_UNKNOWN"` for a number that is no
/// status.
///
/// Never fails and never returns NULL; the string must not be freed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn kinetype_status_name(status: u32) -> *const c_char {
    let name: &'static std::ffi::CStr = match status {
        0 => c"KINETYPE_STATUS_OK",
        1 => c"KINETYPE_STATUS_INVALID_ARGUMENT",
        2 => c"KINETYPE_STATUS_NULL_POINTER",
        3 => c"KINETYPE_STATUS_INVALID_UTF8",
        4 => c"KINETYPE_STATUS_NOT_FOUND",
        5 => c"KINETYPE_STATUS_NOT_ENROLLED",
        6 => c"KINETYPE_STATUS_ALREADY_ENROLLED",
        7 => c"KINETYPE_STATUS_NOT_ENOUGH_EVIDENCE",
        8 => c"KINETYPE_STATUS_NO_BACKGROUND",
        9 => c"KINETYPE_STATUS_NOTHING_TO_REVERT",
        10 => c"KINETYPE_STATUS_IO_ERROR",
        11 => c"KINETYPE_STATUS_CORRUPT_MODEL",
        12 => c"KINETYPE_STATUS_RESOURCE_LIMIT",
        13 => c"KINETYPE_STATUS_TRAINING_FAILED",
        14 => c"KINETYPE_STATUS_BUFFER_TOO_SMALL",
        15 => c"KINETYPE_STATUS_PANIC",
        16 => c"KINETYPE_STATUS_INTERNAL",
        _ => c"KINETYPE_STATUS_UNKNOWN",
    };
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrolment_problems_map_to_statuses() {
        use kinetype_status as S;
        let cases = [
            (EnrolmentProblem::AlreadyEnrolled, S::AlreadyEnrolled),
            (EnrolmentProblem::NotEnrolled, S::NotEnrolled),
            (
                EnrolmentProblem::NotEnoughEvidence {
                    modality: "mouse",
                    have: 1,
                    need: 2,
                },
                S::NotEnoughEvidence,
            ),
            (
                EnrolmentProblem::NoBackground { modality: "mouse" },
                S::NoBackground,
            ),
            (
                EnrolmentProblem::NoBackgroundWindows {
                    keyboard: 0,
                    mouse: 30,
                },
                S::NoBackground,
            ),
            (
                EnrolmentProblem::TooFewBackgroundPeople {
                    modality: "mouse",
                    have: 1,
                    need: 2,
                },
                S::NoBackground,
            ),
            (EnrolmentProblem::NothingToRevert, S::NothingToRevert),
        ];
        for (problem, status) in cases {
            let error = Error::Enrolment {
                user: "ab".into(),
                problem: problem.clone(),
            };
            assert_eq!(status_of(&error), status, "{problem:?}");
        }
    }
}

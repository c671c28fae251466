//! Failed requests and their gRPC status codes, mapped in one place.
//!
//! Codes follow the gRPC status code definitions (`doc/statuscodes.md` of grpc/grpc):
//! INVALID_ARGUMENT for a request that is wrong whatever the server's state, FAILED_PRECONDITION
//! for one that the user's current state does not allow, NOT_FOUND for an unknown user,
//! RESOURCE_EXHAUSTED for an exceeded limit, and INTERNAL for faults of the server, whose
//! details stay in the server log.

use kinetype::{BatchProblem, Error};
use tonic::Status;

/// The cause of a failed request.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A request field is invalid; `field` is its path in the request, such as
    /// `mouse.events[3].x`.
    InvalidField { field: String, problem: String },
    /// A request exceeds a service limit.
    Limit { name: &'static str, problem: String },
    /// An engine error; `events_field` names the repeated field of the batch the engine was
    /// given, so that batch problems can name the event.
    Engine {
        error: Error,
        events_field: Option<&'static str>,
    },
    /// A fault of the server that the client cannot act on; the cause is already logged.
    Internal,
}

impl Failure {
    /// Builds an [`Failure::InvalidField`].
    #[cold]
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Failure::InvalidField {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// Attaches the name of the events field that the engine was given.
    pub(crate) fn in_batch(self, field: &'static str) -> Self {
        match self {
            Failure::Engine { error, .. } => Failure::Engine {
                error,
                events_field: Some(field),
            },
            other => other,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Engine {
            error,
            events_field: None,
        }
    }
}

impl From<Failure> for Status {
    fn from(failure: Failure) -> Status {
        match failure {
            Failure::InvalidField { field, problem } => {
                Status::invalid_argument(format!("{field}: {problem}"))
            }
            Failure::Limit { name, problem } => {
                Status::resource_exhausted(format!("limit {name}: {problem}"))
            }
            Failure::Engine {
                error,
                events_field,
            } => engine_status(error, events_field.unwrap_or("events")),
            Failure::Internal => internal(),
        }
    }
}

fn engine_status(error: Error, events_field: &str) -> Status {
    match error {
        Error::UnknownUser { .. } => Status::not_found(error.to_string()),
        Error::Enrolment { .. }
        | Error::InvalidTrainingData { .. }
        | Error::ModalityDisabled { .. } => Status::failed_precondition(error.to_string()),
        Error::InvalidBatch { ref problem, .. } => {
            let text = error.to_string();
            match problem {
                BatchProblem::TooLarge { .. } => {
                    Status::resource_exhausted(format!("limit max_batch_events: {text}"))
                }
                BatchProblem::NonFiniteTimestamp { index, .. }
                | BatchProblem::NegativeTimestamp { index, .. }
                | BatchProblem::TimeWentBackwards { index, .. } => {
                    Status::invalid_argument(format!("{events_field}[{index}]: {text}"))
                }
                _ => Status::invalid_argument(format!("{events_field}: {text}")),
            }
        }
        Error::MouseEventOutOfRange { index, field, .. } => {
            Status::invalid_argument(format!("{events_field}[{index}].{field}: {error}"))
        }
        Error::ResourceLimit { name, .. } => {
            Status::resource_exhausted(format!("limit {name}: {error}"))
        }
        Error::LimitExceeded { name, .. } => {
            Status::resource_exhausted(format!("limit {name}: {error}"))
        }
        // Everything else is a fault of the server or its files: I/O, a corrupt model, a bug.
        // The client cannot act on the details, and they may name server paths.
        other => {
            tracing::error!(error = %other, "request failed inside the engine");
            internal()
        }
    }
}

fn internal() -> Status {
    Status::internal("internal error; the server log has the cause")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use kinetype::EnrolmentProblem;
    use tonic::Code;

    use super::*;

    fn code(failure: Failure) -> (Code, String) {
        let status = Status::from(failure);
        (status.code(), status.message().to_owned())
    }

    #[test]
    fn engine_errors_map_to_codes() {
        let cases: Vec<(Error, Code)> = vec![
            (Error::UnknownUser { user: "ab".into() }, Code::NotFound),
            (
                Error::Enrolment {
                    user: "ab".into(),
                    problem: EnrolmentProblem::NotEnrolled,
                },
                Code::FailedPrecondition,
            ),
            (
                Error::Enrolment {
                    user: "ab".into(),
                    problem: EnrolmentProblem::AlreadyEnrolled,
                },
                Code::FailedPrecondition,
            ),
            (
                Error::ModalityDisabled {
                    modality: "keyboard",
                },
                Code::FailedPrecondition,
            ),
            (
                Error::ResourceLimit {
                    name: "max_users",
                    limit: 3,
                },
                Code::ResourceExhausted,
            ),
            (
                Error::InvalidBatch {
                    user: "ab".into(),
                    session: 1,
                    problem: BatchProblem::TooLarge { len: 9, max: 8 },
                },
                Code::ResourceExhausted,
            ),
            (
                Error::Io {
                    path: PathBuf::from("/srv/models/x"),
                    source: std::io::Error::other("disk full"),
                },
                Code::Internal,
            ),
        ];
        for (error, expected) in cases {
            let text = error.to_string();
            assert_eq!(code(error.into()).0, expected, "{text}");
        }
    }

    #[test]
    fn batch_problem_names_event_field() {
        let failure = Failure::from(Error::InvalidBatch {
            user: "ab".into(),
            session: 1,
            problem: BatchProblem::TimeWentBackwards {
                index: 4,
                time_us: 1.0,
                previous_us: 2.0,
            },
        })
        .in_batch("mouse.events");
        let (code, message) = code(failure);
        assert_eq!(code, Code::InvalidArgument);
        assert!(message.starts_with("mouse.events[4]: "), "{message}");
    }

    #[test]
    fn internal_error_hides_details() {
        let failure = Failure::from(Error::Io {
            path: PathBuf::from("/srv/models/secret-path"),
            source: std::io::Error::other("disk full"),
        });
        let (_, message) = code(failure);
        assert!(!message.contains("secret-path"), "{message}");
    }
}

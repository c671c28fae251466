//! Validation of request messages and conversion between protobuf and engine types.
//!
//! Every message field may be absent on the wire, so each conversion checks presence and range
//! and names the offending field. Timestamps are checked for order by the engine itself.

use std::time::Duration;

use kinetype::engine::{
    Decision, EnrolmentReport, EnrolmentStatus, ModalityEvidence, Reason, Score, Verdict,
};
use kinetype::events::{self, KeyAction, MouseButton, MouseKind};
use kinetype::mouse::segment::{MAX_COORDINATE_PX, MAX_TIME_MS};

use crate::failure::Failure;
use crate::proto;

/// Maximum length of a user id, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;

/// Checks a user id: 1 to [`MAX_USER_ID_BYTES`] bytes.
pub(crate) fn user_id<'a>(field: &str, user: &'a str) -> Result<&'a str, Failure> {
    if user.is_empty() {
        return Err(Failure::invalid(field, "the user id is empty"));
    }
    if user.len() > MAX_USER_ID_BYTES {
        return Err(Failure::invalid(
            field,
            format!(
                "the user id has {} bytes but at most {MAX_USER_ID_BYTES} are accepted",
                user.len()
            ),
        ));
    }
    Ok(user)
}

/// Checks a session reference and returns its user id and session id.
pub(crate) fn session_ref<'a>(
    field: &str,
    session: Option<&'a proto::SessionRef>,
) -> Result<(&'a str, u64), Failure> {
    let Some(session) = session else {
        return Err(Failure::invalid(field, "missing; set user and session"));
    };
    let user = user_id(&format!("{field}.user"), &session.user)?;
    Ok((user, session.session))
}

/// Converts key events; `field` is the repeated field's path, such as `keys.events`.
pub(crate) fn key_events(
    field: &str,
    events: &[proto::KeyEvent],
) -> Result<Vec<events::KeyEvent>, Failure> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let action = match proto::KeyAction::try_from(e.action) {
                Ok(proto::KeyAction::Press) => KeyAction::Press,
                Ok(proto::KeyAction::Release) => KeyAction::Release,
                _ => {
                    return Err(Failure::invalid(
                        format!("{field}[{i}].action"),
                        format!("{} is not KEY_ACTION_PRESS or KEY_ACTION_RELEASE", e.action),
                    ));
                }
            };
            Ok(events::KeyEvent {
                code: e.code,
                action,
                time_us: e.time_us,
            })
        })
        .collect()
}

/// Converts mouse events, checking that times and positions are finite and in range.
pub(crate) fn mouse_events(
    field: &str,
    events: &[proto::MouseEvent],
) -> Result<Vec<events::MouseEvent>, Failure> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let ranges = [
                ("time_ms", e.time_ms, 0.0, MAX_TIME_MS),
                ("x", e.x, -MAX_COORDINATE_PX, MAX_COORDINATE_PX),
                ("y", e.y, -MAX_COORDINATE_PX, MAX_COORDINATE_PX),
            ];
            for (name, value, low, high) in ranges {
                if !(value.is_finite() && (low..=high).contains(&value)) {
                    return Err(Failure::invalid(
                        format!("{field}[{i}].{name}"),
                        format!("{value} is outside [{low}, {high}]"),
                    ));
                }
            }
            let button = match proto::MouseButton::try_from(e.button) {
                Ok(proto::MouseButton::None) => MouseButton::None,
                Ok(proto::MouseButton::Left) => MouseButton::Left,
                Ok(proto::MouseButton::Right) => MouseButton::Right,
                Ok(proto::MouseButton::Middle) => MouseButton::Middle,
                Ok(proto::MouseButton::Other) => MouseButton::Other,
                Err(_) => {
                    return Err(Failure::invalid(
                        format!("{field}[{i}].button"),
                        format!("{} is not a MouseButton value", e.button),
                    ));
                }
            };
            let kind = match proto::MouseKind::try_from(e.kind) {
                Ok(proto::MouseKind::Move) => MouseKind::Move,
                Ok(proto::MouseKind::Press) => MouseKind::Press,
                Ok(proto::MouseKind::Release) => MouseKind::Release,
                Ok(proto::MouseKind::Drag) => MouseKind::Drag,
                Ok(proto::MouseKind::Scroll) => MouseKind::Scroll,
                Ok(proto::MouseKind::Unspecified) | Err(_) => {
                    return Err(Failure::invalid(
                        format!("{field}[{i}].kind"),
                        format!("{} is not a MouseKind value other than UNSPECIFIED", e.kind),
                    ));
                }
            };
            Ok(events::MouseEvent {
                time_ms: e.time_ms,
                x: e.x,
                y: e.y,
                button,
                kind,
            })
        })
        .collect()
}

pub(crate) fn enrolment_status(status: EnrolmentStatus) -> proto::EnrollmentStatusResponse {
    let mut out = proto::EnrollmentStatusResponse::default();
    match status {
        EnrolmentStatus::Collecting { keyboard, mouse } => {
            out.set_state(proto::EnrollmentState::Collecting);
            let count = |(collected, required): (usize, usize)| proto::EvidenceCount {
                collected: collected as u64,
                required: required as u64,
            };
            out.keyboard = Some(count(keyboard));
            out.mouse = Some(count(mouse));
        }
        EnrolmentStatus::ReadyToTrain => out.set_state(proto::EnrollmentState::ReadyToTrain),
        EnrolmentStatus::Enrolled { adaptations } => {
            out.set_state(proto::EnrollmentState::Enrolled);
            out.adaptations = adaptations;
        }
        // A state added to the engine later reads as UNSPECIFIED until this mapping learns it.
        _ => out.set_state(proto::EnrollmentState::Unspecified),
    }
    out
}

pub(crate) fn enrolment_report(report: EnrolmentReport) -> proto::FinishEnrollmentResponse {
    proto::FinishEnrollmentResponse {
        allow_threshold: report.allow_threshold,
        impostor_allow_rate: report.impostor_allow_rate,
        genuine_allow_rate: report.genuine_allow_rate,
    }
}

fn evidence(e: &ModalityEvidence) -> proto::ModalityEvidence {
    proto::ModalityEvidence {
        actions: e.actions,
        newest_age_us: e.newest_age.map(duration_us),
        sufficient: e.sufficient,
        contribution: e.contribution,
        mean_posterior: e.mean_posterior,
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn score(s: &Score) -> proto::ScoreResponse {
    proto::ScoreResponse {
        trust: s.trust,
        allow_threshold: s.allow_threshold,
        lockout_threshold: s.lockout_threshold,
        keyboard: Some(evidence(&s.keyboard)),
        mouse: Some(evidence(&s.mouse)),
        replay_hits: s.replay_hits,
        interval_cv: s.interval_cv,
        synthetic: s.synthetic,
        locked: s.locked,
        window: s.window,
        verified: s.verified,
    }
}

pub(crate) fn verdict(v: Verdict) -> proto::Verdict {
    match v {
        Verdict::Allow => proto::Verdict::Allow,
        Verdict::StepUp => proto::Verdict::StepUp,
        Verdict::Deny => proto::Verdict::Deny,
        _ => proto::Verdict::Unspecified,
    }
}

pub(crate) fn reason(r: Reason) -> proto::Reason {
    match r {
        Reason::TrustAboveThreshold => proto::Reason::TrustAboveThreshold,
        Reason::NotEnoughRecentEvidence => proto::Reason::NotEnoughRecentEvidence,
        Reason::TrustBelowThreshold => proto::Reason::TrustBelowThreshold,
        Reason::LockedOut => proto::Reason::LockedOut,
        Reason::Replay => proto::Reason::Replay,
        Reason::SyntheticInput => proto::Reason::SyntheticInput,
        _ => proto::Reason::Unspecified,
    }
}

pub(crate) fn decision(d: &Decision) -> proto::DecideResponse {
    let mut out = proto::DecideResponse {
        evidence: Some(score(&d.score)),
        ..Default::default()
    };
    out.set_verdict(verdict(d.verdict));
    out.set_reason(reason(d.reason));
    out
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    fn field_of(failure: Failure) -> String {
        let status = Status::from(failure);
        assert_eq!(status.code(), Code::InvalidArgument);
        status
            .message()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn user_id_rejects_empty_and_long() {
        assert_eq!(field_of(user_id("user", "").unwrap_err()), "user");
        let long = "u".repeat(MAX_USER_ID_BYTES + 1);
        assert_eq!(field_of(user_id("user", &long).unwrap_err()), "user");
        assert!(user_id("user", &"u".repeat(MAX_USER_ID_BYTES)).is_ok());
    }

    #[test]
    fn missing_session_is_named() {
        assert_eq!(
            field_of(session_ref("session", None).unwrap_err()),
            "session"
        );
    }

    #[test]
    fn key_action_unspecified_is_rejected() {
        let events = [
            proto::KeyEvent {
                code: 65,
                action: proto::KeyAction::Press as i32,
                time_us: 0,
            },
            proto::KeyEvent {
                code: 65,
                action: 0,
                time_us: 10,
            },
        ];
        let err = key_events("keys.events", &events).unwrap_err();
        assert_eq!(field_of(err), "keys.events[1].action");
    }

    #[test]
    fn mouse_values_out_of_range_are_named() {
        let good = proto::MouseEvent {
            time_ms: 1.0,
            x: 10.0,
            y: 10.0,
            button: 0,
            kind: proto::MouseKind::Move as i32,
        };
        let cases = [
            (
                "time_ms",
                proto::MouseEvent {
                    time_ms: -1.0,
                    ..good
                },
            ),
            (
                "time_ms",
                proto::MouseEvent {
                    time_ms: f64::NAN,
                    ..good
                },
            ),
            (
                "x",
                proto::MouseEvent {
                    x: f64::INFINITY,
                    ..good
                },
            ),
            ("y", proto::MouseEvent { y: 1e9, ..good }),
            ("button", proto::MouseEvent { button: 17, ..good }),
            ("kind", proto::MouseEvent { kind: 0, ..good }),
        ];
        for (name, bad) in cases {
            let err = mouse_events("mouse.events", &[good, bad]).unwrap_err();
            assert_eq!(field_of(err), format!("mouse.events[1].{name}"));
        }
        assert_eq!(mouse_events("mouse.events", &[good]).unwrap().len(), 1);
    }
}

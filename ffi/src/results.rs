//! Results of score, decide and the enrolment functions, as plain C structs.

use kinetype_core::engine::{
    Adaptation, Decision, EnrolmentReport, EnrolmentStatus, ModalityEvidence, Reason, Score,
    Verdict,
};

use crate::status::{Failure, kinetype_status};

/// Evidence and contribution of one modality in a session.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_modality_evidence {
    /// Actions seen in the session.
    pub actions: u64,
    /// Whether `newest_age_us` is set: false before the first action.
    pub has_newest_age: bool,
    /// Age of the newest action in microseconds of engine time.
    pub newest_age_us: u64,
    /// Whether the modality has the configured minimum of actions and its newest one is
    /// within the maximum evidence age.
    pub sufficient: bool,
    /// Sum of this modality's weighted trust changes on the [0, 1] trust scale.
    pub contribution: f64,
    /// Whether `mean_posterior` is set: false before any action was scored.
    pub has_mean_posterior: bool,
    /// Mean calibrated posterior (probability of the genuine user) of the scored actions.
    pub mean_posterior: f64,
}

/// A session's current standing.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_score {
    /// Trust in [0, 1] after idle decay; it only locks sessions out.
    pub trust: f64,
    /// Whether `window` is set: false while no modality with sufficient evidence has a full
    /// window of scored actions (at the start, after another factor passed, or once evidence
    /// is stale). `window` is 0 then.
    pub has_window: bool,
    /// Window statistic in [0, 1]: the fused mean calibrated posterior of the most recent
    /// scored actions of each modality with sufficient evidence.
    pub window: f64,
    /// Window statistic in [0, 1] above which the user's sessions are allowed (1 when they
    /// never are).
    pub allow_threshold: f64,
    /// Trust in [0, 1] below which the session is locked.
    pub lockout_threshold: f64,
    /// Keyboard evidence.
    pub keyboard: kinetype_modality_evidence,
    /// Mouse evidence.
    pub mouse: kinetype_modality_evidence,
    /// Windows of timings that repeat another session's.
    pub replay_hits: u32,
    /// Whether `interval_cv` is set.
    pub has_interval_cv: bool,
    /// Lowest coefficient of variation of action intervals across modalities.
    pub interval_cv: f64,
    /// Whether the interval regularity is below the human range.
    pub synthetic: bool,
    /// Whether trust fell below the lock-out threshold in this session.
    pub locked: bool,
    /// Whether the user passed another factor in this session
    /// (`kinetype_engine_report_success`) and no modality has completed a window of actions
    /// since. Such a session is allowed without a window.
    pub verified: bool,
}

/// Verdict on a session.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum kinetype_verdict {
    /// Let the session continue.
    Allow = 0,
    /// Ask for another factor before continuing.
    StepUp = 1,
    /// End the session.
    Deny = 2,
}

/// Reason for a verdict.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum kinetype_reason {
    /// The window statistic is above the user's allow threshold with enough recent evidence,
    /// or the user passed another factor and no window has filled since. The name predates
    /// the window statistic.
    TrustAboveThreshold = 0,
    /// No modality has enough recent actions.
    NotEnoughRecentEvidence = 1,
    /// The window statistic is at or below the user's allow threshold, while trust is above
    /// the lock-out threshold. The name predates the window statistic.
    TrustBelowThreshold = 2,
    /// Trust fell below the lock-out threshold in this session.
    LockedOut = 3,
    /// Timing windows repeat those of another session.
    Replay = 4,
    /// Timing is too regular for a human.
    SyntheticInput = 5,
}

/// A verdict with its reason and the score it was based on.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_decision {
    /// Verdict.
    pub verdict: kinetype_verdict,
    /// Reason for the verdict.
    pub reason: kinetype_reason,
    /// The score the verdict was based on.
    pub score: kinetype_score,
}

/// Stage of a user's enrolment.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum kinetype_enrolment_state {
    /// Still collecting; see the counts.
    Collecting = 0,
    /// Enough evidence; `kinetype_engine_finish_enrolment` can train.
    ReadyToTrain = 1,
    /// Trained.
    Enrolled = 2,
}

/// Progress of a user's enrolment.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_enrolment_status {
    /// The stage.
    pub state: kinetype_enrolment_state,
    /// Keyboard actions collected; 0 unless `state` is COLLECTING.
    pub keyboard_have: usize,
    /// Keyboard actions required; 0 unless `state` is COLLECTING.
    pub keyboard_need: usize,
    /// Mouse actions collected; 0 unless `state` is COLLECTING.
    pub mouse_have: usize,
    /// Mouse actions required; 0 unless `state` is COLLECTING.
    pub mouse_need: usize,
    /// Template updates since enrolment; 0 unless `state` is ENROLLED.
    pub adaptations: u32,
}

/// Figures from training a user, estimated on enrolment and background data.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_enrolment_report {
    /// Window statistic in [0, 1] above which the user's sessions are allowed; 1 means the
    /// target FMR is out of reach with this background population.
    pub allow_threshold: f64,
    /// Fraction of background (impostor) windows that would be allowed.
    pub impostor_allow_rate: f64,
    /// Fraction of genuine windows (cross-validated enrolment actions) that would be allowed.
    pub genuine_allow_rate: f64,
}

/// Template updates made by `kinetype_engine_report_success`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_adaptation {
    /// Whether the keyboard template absorbed the session.
    pub keyboard: bool,
    /// Whether the mouse template absorbed the session.
    pub mouse: bool,
}

#[cold]
fn unmapped(what: &str, value: impl std::fmt::Debug) -> Failure {
    Failure::new(
        kinetype_status::Internal,
        format!("{what} {value:?} has no C value in this version of the C API"),
    )
}

fn evidence(e: &ModalityEvidence) -> kinetype_modality_evidence {
    kinetype_modality_evidence {
        actions: e.actions,
        has_newest_age: e.newest_age.is_some(),
        newest_age_us: e
            .newest_age
            .map_or(0, |age| u64::try_from(age.as_micros()).unwrap_or(u64::MAX)),
        sufficient: e.sufficient,
        contribution: e.contribution,
        has_mean_posterior: e.mean_posterior.is_some(),
        mean_posterior: e.mean_posterior.unwrap_or(0.0),
    }
}

pub(crate) fn score(s: &Score) -> kinetype_score {
    kinetype_score {
        trust: s.trust,
        has_window: s.window.is_some(),
        window: s.window.unwrap_or(0.0),
        allow_threshold: s.allow_threshold,
        lockout_threshold: s.lockout_threshold,
        keyboard: evidence(&s.keyboard),
        mouse: evidence(&s.mouse),
        replay_hits: s.replay_hits,
        has_interval_cv: s.interval_cv.is_some(),
        interval_cv: s.interval_cv.unwrap_or(0.0),
        synthetic: s.synthetic,
        locked: s.locked,
        verified: s.verified,
    }
}

pub(crate) fn decision(d: &Decision) -> Result<kinetype_decision, Failure> {
    let verdict = match d.verdict {
        Verdict::Allow => kinetype_verdict::Allow,
        Verdict::StepUp => kinetype_verdict::StepUp,
        Verdict::Deny => kinetype_verdict::Deny,
        other => return Err(unmapped("verdict", other)),
    };
    let reason = match d.reason {
        Reason::TrustAboveThreshold => kinetype_reason::TrustAboveThreshold,
        Reason::NotEnoughRecentEvidence => kinetype_reason::NotEnoughRecentEvidence,
        Reason::TrustBelowThreshold => kinetype_reason::TrustBelowThreshold,
        Reason::LockedOut => kinetype_reason::LockedOut,
        Reason::Replay => kinetype_reason::Replay,
        Reason::SyntheticInput => kinetype_reason::SyntheticInput,
        other => return Err(unmapped("reason", other)),
    };
    Ok(kinetype_decision {
        verdict,
        reason,
        score: score(&d.score),
    })
}

pub(crate) fn enrolment_status(s: &EnrolmentStatus) -> Result<kinetype_enrolment_status, Failure> {
    let mut out = kinetype_enrolment_status {
        state: kinetype_enrolment_state::Collecting,
        keyboard_have: 0,
        keyboard_need: 0,
        mouse_have: 0,
        mouse_need: 0,
        adaptations: 0,
    };
    match *s {
        EnrolmentStatus::Collecting { keyboard, mouse } => {
            (out.keyboard_have, out.keyboard_need) = keyboard;
            (out.mouse_have, out.mouse_need) = mouse;
        }
        EnrolmentStatus::ReadyToTrain => out.state = kinetype_enrolment_state::ReadyToTrain,
        EnrolmentStatus::Enrolled { adaptations } => {
            out.state = kinetype_enrolment_state::Enrolled;
            out.adaptations = adaptations;
        }
        other => return Err(unmapped("enrolment status", other)),
    }
    Ok(out)
}

pub(crate) fn enrolment_report(r: &EnrolmentReport) -> kinetype_enrolment_report {
    kinetype_enrolment_report {
        allow_threshold: r.allow_threshold,
        impostor_allow_rate: r.impostor_allow_rate,
        genuine_allow_rate: r.genuine_allow_rate,
    }
}

pub(crate) fn adaptation(a: &Adaptation) -> kinetype_adaptation {
    kinetype_adaptation {
        keyboard: a.keyboard,
        mouse: a.mouse,
    }
}

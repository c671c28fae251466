//! What `score` and `decide` return.

use std::time::Duration;

/// Evidence and contribution of one modality in a session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModalityEvidence {
    /// Actions seen in the session (keystrokes or mouse actions).
    pub actions: u64,
    /// Age of the newest action by the engine clock; `None` before the first one.
    pub newest_age: Option<Duration>,
    /// Whether the modality has at least the configured minimum of actions and its newest one
    /// is within the maximum evidence age.
    pub sufficient: bool,
    /// Sum of this modality's weighted trust changes, on the reported `[0, 1]` trust scale.
    pub contribution: f64,
    /// Mean calibrated posterior of its scored actions; `None` before any was scored.
    pub mean_posterior: Option<f64>,
}

/// A session's current standing.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Trust in `[0, 1]` after idle decay; the trust model's value divided by its maximum.
    pub trust: f64,
    /// Trust in `[0, 1]` above which the user's sessions are allowed.
    pub allow_threshold: f64,
    /// Trust in `[0, 1]` below which the session is locked.
    pub lockout_threshold: f64,
    /// Keyboard evidence.
    pub keyboard: ModalityEvidence,
    /// Mouse evidence.
    pub mouse: ModalityEvidence,
    /// Windows of timings that repeat another session's.
    pub replay_hits: u32,
    /// Lowest interval coefficient of variation across modalities, once measurable.
    pub interval_cv: Option<f64>,
    /// Whether the interval regularity is below the human range.
    pub synthetic: bool,
    /// Whether trust fell below the lock-out threshold in this session.
    pub locked: bool,
}

/// The outcome of [`Engine::decide`](super::Engine::decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Let the session continue.
    Allow,
    /// Ask for another factor before continuing.
    StepUp,
    /// End the session.
    Deny,
}

/// Why a verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Trust is above the user's threshold with enough recent evidence.
    TrustAboveThreshold,
    /// No modality has enough recent actions (failure to acquire).
    NotEnoughRecentEvidence,
    /// Trust is between the lock-out threshold and the user's allow threshold.
    TrustBelowThreshold,
    /// Trust fell below the lock-out threshold in this session.
    LockedOut,
    /// Timing windows repeat those of another session.
    Replay,
    /// Timing is too regular for a human.
    SyntheticInput,
}

/// A verdict with its reason and the score it was based on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// The score the verdict was based on.
    pub score: Score,
}

impl Decision {
    /// Applies the decision rules to `score`, strongest first: a replay denies, a lock-out
    /// denies, missing recent evidence steps up, synthetic timing steps up, trust at or below
    /// the threshold steps up, and otherwise the session is allowed.
    pub fn from_score(score: Score) -> Self {
        let no_evidence = !score.keyboard.sufficient && !score.mouse.sufficient;
        let (verdict, reason) = if score.replay_hits > 0 {
            (Verdict::Deny, Reason::Replay)
        } else if score.locked || score.trust < score.lockout_threshold {
            (Verdict::Deny, Reason::LockedOut)
        } else if no_evidence {
            (Verdict::StepUp, Reason::NotEnoughRecentEvidence)
        } else if score.synthetic {
            (Verdict::StepUp, Reason::SyntheticInput)
        } else if score.trust <= score.allow_threshold {
            (Verdict::StepUp, Reason::TrustBelowThreshold)
        } else {
            (Verdict::Allow, Reason::TrustAboveThreshold)
        };
        Decision {
            verdict,
            reason,
            score,
        }
    }
}

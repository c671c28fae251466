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
    /// Trust only locks sessions out; `Allow` rests on `window`.
    pub trust: f64,
    /// Window statistic in `[0, 1]`: the mean calibrated posterior of the most recent
    /// `min_evidence` scored actions of each modality with sufficient evidence, fused with the
    /// fusion weights (see [`window`](super::window)). `None` when no such modality has a full
    /// window.
    pub window: Option<f64>,
    /// Window statistic in `[0, 1]` above which the user's sessions are allowed; 1 when they
    /// never are.
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
    /// Whether the user passed another factor in this session
    /// ([`Engine::report_success`](super::Engine::report_success)) and no modality has
    /// completed a window of actions since; such a session is allowed without a window.
    pub verified: bool,
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
    /// The window statistic is above the user's allow threshold with enough recent evidence,
    /// or the user passed another factor and no window has filled since, and trust is above
    /// the lock-out threshold.
    ///
    /// NOTE: the name predates the window statistic; it is kept because the C ABI and gRPC
    /// enums mirror it.
    TrustAboveThreshold,
    /// No modality has enough recent actions (failure to acquire).
    NotEnoughRecentEvidence,
    /// The window statistic is at or below the user's allow threshold (or has no full window),
    /// while trust is above the lock-out threshold. The name predates the window statistic.
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
    /// denies, missing recent evidence steps up, and synthetic timing steps up. Then a session
    /// verified by another factor without a new full window is allowed, a window statistic
    /// missing or at or below the allow threshold steps up, and otherwise the session is
    /// allowed. The comparison is strict so that impostor windows tied with the threshold,
    /// which is their `1 - target_fmr` quantile, are not allowed.
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
        } else if score.verified {
            (Verdict::Allow, Reason::TrustAboveThreshold)
        } else if score.window.is_none_or(|w| w <= score.allow_threshold) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::calibration::{NEVER_ALLOW, max_posterior};

    fn evidence(sufficient: bool) -> ModalityEvidence {
        ModalityEvidence {
            actions: 40,
            newest_age: Some(Duration::from_secs(1)),
            sufficient,
            contribution: 0.0,
            mean_posterior: Some(0.5),
        }
    }

    /// A score with full trust, sufficient keyboard evidence and no defence flag.
    fn score(window: Option<f64>, allow_threshold: f64) -> Score {
        Score {
            trust: 1.0,
            window,
            allow_threshold,
            lockout_threshold: 0.9,
            keyboard: evidence(true),
            mouse: evidence(false),
            replay_hits: 0,
            interval_cv: None,
            synthetic: false,
            locked: false,
            verified: false,
        }
    }

    fn verdict(score: Score) -> (Verdict, Reason) {
        let d = Decision::from_score(score);
        (d.verdict, d.reason)
    }

    #[test]
    fn window_above_threshold_allows() {
        let got = verdict(score(Some(0.8), 0.7));
        assert_eq!(got, (Verdict::Allow, Reason::TrustAboveThreshold));
    }

    #[test]
    fn low_window_steps_up_at_full_trust() {
        for window in [0.7, 0.2] {
            let got = verdict(score(Some(window), 0.7));
            assert_eq!(
                got,
                (Verdict::StepUp, Reason::TrustBelowThreshold),
                "{window}"
            );
        }
    }

    #[test]
    fn missing_window_steps_up() {
        let got = verdict(score(None, 0.7));
        assert_eq!(got, (Verdict::StepUp, Reason::TrustBelowThreshold));
    }

    #[test]
    fn never_allow_threshold_is_never_exceeded() {
        let got = verdict(score(Some(max_posterior()), NEVER_ALLOW));
        assert_eq!(got, (Verdict::StepUp, Reason::TrustBelowThreshold));
    }

    #[test]
    fn verified_session_allowed_until_window_refills() {
        let mut verified = score(None, 0.7);
        verified.verified = true;
        let got = verdict(verified);
        assert_eq!(got, (Verdict::Allow, Reason::TrustAboveThreshold));
        let mut stale = score(None, 0.7);
        stale.verified = true;
        stale.keyboard.sufficient = false;
        let got = verdict(stale);
        assert_eq!(got, (Verdict::StepUp, Reason::NotEnoughRecentEvidence));
    }

    #[test]
    fn lock_out_denies_despite_high_window() {
        let mut locked = score(Some(0.99), 0.5);
        locked.locked = true;
        assert_eq!(verdict(locked), (Verdict::Deny, Reason::LockedOut));
        let mut low_trust = score(Some(0.99), 0.5);
        low_trust.trust = 0.85;
        assert_eq!(verdict(low_trust), (Verdict::Deny, Reason::LockedOut));
    }

    #[test]
    fn defence_flags_override_high_window() {
        let mut replay = score(Some(0.99), 0.5);
        replay.replay_hits = 1;
        assert_eq!(verdict(replay), (Verdict::Deny, Reason::Replay));
        let mut synthetic = score(Some(0.99), 0.5);
        synthetic.synthetic = true;
        assert_eq!(
            verdict(synthetic),
            (Verdict::StepUp, Reason::SyntheticInput)
        );
        let mut stale = score(Some(0.99), 0.5);
        stale.keyboard.sufficient = false;
        assert_eq!(
            verdict(stale),
            (Verdict::StepUp, Reason::NotEnoughRecentEvidence)
        );
    }
}

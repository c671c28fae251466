//! Engine configuration, validated once by [`EngineConfig::check`].

use std::path::PathBuf;
use std::time::Duration;

use super::defences::DefenceParams;
use super::trust::TrustParams;
use crate::error::{Error, Result};

/// Shortest [`EngineConfig::secret`] accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// An amount of evidence per modality, counted in actions (keystrokes, mouse actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// Keyboard actions.
    pub keyboard: usize,
    /// Mouse actions.
    pub mouse: usize,
}

/// Switches for the modalities an engine uses. At least one must be on.
///
/// A disabled modality needs no enrolment evidence, plays no part in decisions, and gets no
/// template in the user's model. Its events are rejected with [`Error::ModalityDisabled`]
/// rather than ignored, so an agent that sends them learns of the misconfiguration at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modalities {
    /// Whether keyboard events are used.
    pub keyboard: bool,
    /// Whether mouse events are used.
    pub mouse: bool,
}

impl Modalities {
    /// Both modalities.
    pub const BOTH: Modalities = Modalities {
        keyboard: true,
        mouse: true,
    };
    /// Keyboard only.
    pub const KEYBOARD_ONLY: Modalities = Modalities {
        keyboard: true,
        mouse: false,
    };
    /// Mouse only.
    pub const MOUSE_ONLY: Modalities = Modalities {
        keyboard: false,
        mouse: true,
    };
}

impl Default for Modalities {
    fn default() -> Self {
        Modalities::BOTH
    }
}

/// Score-level fusion weights: each action's trust change is multiplied by its modality's
/// weight.
///
/// Both default to 1. Calibration turns each modality's raw score into a log-likelihood ratio
/// of the same user's genuine and impostor score distributions, so under the assumption that
/// keyboard and mouse behaviour are independent given the user, adding the two modalities'
/// evidence with equal weight is the Bayes rule; a weight other than 1 is for deployments that
/// measure a dependence or distrust one modality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionWeights {
    /// Weight of keyboard actions.
    pub keyboard: f64,
    /// Weight of mouse actions.
    pub mouse: f64,
}

impl Default for FusionWeights {
    fn default() -> Self {
        FusionWeights {
            keyboard: 1.0,
            mouse: 1.0,
        }
    }
}

/// When and how far a template absorbs a session after [`Engine::report_success`].
///
/// [`Engine::report_success`]: super::Engine::report_success
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptationParams {
    /// Fraction of the distance each model parameter may move per update, in `(0, 1]`.
    pub rate: f64,
    /// Mean calibrated posterior a modality's session actions need before they are absorbed;
    /// 0.5 means "closer to the template than to the impostor population".
    pub min_posterior: f64,
    /// Actions a modality needs in the session before they are absorbed.
    pub min_actions: usize,
}

impl Default for AdaptationParams {
    /// A 10 % step, a mean posterior of 0.7 and 50 actions.
    fn default() -> Self {
        AdaptationParams {
            rate: 0.1,
            min_posterior: 0.7,
            min_actions: 50,
        }
    }
}

/// Caps on memory and work per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Largest batch of events one ingest call accepts.
    pub max_batch_events: usize,
    /// Users held in memory.
    pub max_users: usize,
    /// Open sessions per user; the least recently active session is dropped beyond this.
    pub max_sessions_per_user: usize,
    /// Actions per modality kept per session for template adaptation; older ones are dropped.
    pub max_session_actions: usize,
    /// Actions per modality kept for enrolment; later ones are not collected.
    pub max_enrolment_actions: usize,
    /// Replay hashes kept per user; the oldest are evicted.
    pub max_replay_hashes: usize,
    /// Actions per user and modality whose timings the tolerant replay check keeps in memory;
    /// the oldest are evicted. Each takes under 100 bytes plus its index entry.
    pub max_replay_timings: usize,
    /// Background users kept for calibration.
    pub max_background_users: usize,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits {
            max_batch_events: 10_000,
            max_users: 1_000_000,
            max_sessions_per_user: 16,
            max_session_actions: 5_000,
            max_enrolment_actions: 20_000,
            max_replay_hashes: 50_000,
            max_replay_timings: 10_000,
            max_background_users: 200,
        }
    }
}

/// Everything the engine needs, set once at construction.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Modalities in use; both by default.
    pub modalities: Modalities,
    /// Directory of per-user model files; `None` keeps models in memory only.
    pub model_dir: Option<PathBuf>,
    /// Operating point: the largest acceptable fraction of impostor decisions that `Allow`,
    /// estimated per user on the background population at enrolment.
    pub target_fmr: f64,
    /// Trust model parameters.
    pub trust: TrustParams,
    /// Actions a session needs in a modality before that modality counts toward a decision.
    /// It is also the length of the modality's window (see [`window`](super::window)), so an
    /// enabled modality needs at least 1.
    pub min_evidence: Evidence,
    /// Actions per modality needed to finish enrolment.
    pub enrolment_evidence: Evidence,
    /// Evidence older than this no longer counts; a session without recent evidence gets
    /// `StepUp`.
    pub max_evidence_age: Duration,
    /// Secret that keys every hash (file names, user keys, replay hashes), at least
    /// [`MIN_SECRET_BYTES`] long. Keep it out of the model directory, because anyone with it
    /// can test guesses of user ids against file names.
    pub secret: Vec<u8>,
    /// Memory and request limits.
    pub limits: ResourceLimits,
    /// Score-level fusion weights.
    pub fusion: FusionWeights,
    /// Replay and synthetic-input checks.
    pub defences: DefenceParams,
    /// Template adaptation.
    pub adaptation: AdaptationParams,
    /// Folds of the cross-validation that produces genuine scores at enrolment.
    pub calibration_folds: usize,
}

impl EngineConfig {
    /// A configuration with the documented defaults: both modalities, target FMR 1 %, at least 30 actions per
    /// modality for a decision, 300 per modality for enrolment, evidence valid for 2 minutes,
    /// 5-fold calibration, and no model directory.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        EngineConfig {
            modalities: Modalities::BOTH,
            model_dir: None,
            target_fmr: 0.01,
            trust: TrustParams::default(),
            min_evidence: Evidence {
                keyboard: 30,
                mouse: 30,
            },
            enrolment_evidence: Evidence {
                keyboard: 300,
                mouse: 300,
            },
            max_evidence_age: Duration::from_secs(120),
            secret: secret.into(),
            limits: ResourceLimits::default(),
            fusion: FusionWeights::default(),
            defences: DefenceParams::default(),
            adaptation: AdaptationParams::default(),
            calibration_folds: 5,
        }
    }

    /// Validates every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first invalid field.
    pub fn check(&self) -> Result<()> {
        fn invalid(name: &'static str, value: impl ToString, expected: &'static str) -> Result<()> {
            Err(Error::InvalidParameter {
                name,
                value: value.to_string(),
                expected,
            })
        }
        let on = self.modalities;
        if !on.keyboard && !on.mouse {
            return invalid(
                "modalities",
                "keyboard off, mouse off",
                "at least one modality on",
            );
        }
        if !(self.target_fmr > 0.0 && self.target_fmr < 1.0) {
            return invalid("target_fmr", self.target_fmr, "a value in (0, 1)");
        }
        self.trust.check()?;
        self.defences.check()?;
        if self.secret.len() < MIN_SECRET_BYTES {
            return invalid(
                "secret",
                format!("{} bytes", self.secret.len()),
                "at least 16 bytes",
            );
        }
        if self.max_evidence_age.is_zero() {
            return invalid("max_evidence_age", "0 s", "a duration above 0");
        }
        let folds = self.calibration_folds;
        if folds < 2 {
            return invalid("calibration_folds", folds, "at least 2");
        }
        // A disabled modality's evidence amounts are never used, so they are not checked.
        let enrolment = [
            (
                on.keyboard,
                "enrolment_evidence.keyboard",
                self.enrolment_evidence.keyboard,
            ),
            (
                on.mouse,
                "enrolment_evidence.mouse",
                self.enrolment_evidence.mouse,
            ),
        ];
        for (_, name, value) in enrolment.into_iter().filter(|e| e.0) {
            if value < 2 * folds {
                return invalid(name, value, "at least 2 actions per calibration fold");
            }
        }
        // The window statistic of a modality is the mean over its last `min_evidence` actions,
        // so with 0 the modality could never count toward `Allow`.
        let decision = [
            (
                on.keyboard,
                "min_evidence.keyboard",
                self.min_evidence.keyboard,
            ),
            (on.mouse, "min_evidence.mouse", self.min_evidence.mouse),
        ];
        for (_, name, value) in decision.into_iter().filter(|e| e.0) {
            if value == 0 {
                return invalid(name, value, "at least 1 action");
            }
        }
        for (name, value) in [
            ("fusion.keyboard", self.fusion.keyboard),
            ("fusion.mouse", self.fusion.mouse),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return invalid(name, value, "a finite value of at least 0");
            }
        }
        let a = &self.adaptation;
        if !(a.rate > 0.0 && a.rate <= 1.0) {
            return invalid("adaptation.rate", a.rate, "a value in (0, 1]");
        }
        if !(0.0..=1.0).contains(&a.min_posterior) {
            return invalid(
                "adaptation.min_posterior",
                a.min_posterior,
                "a value in [0, 1]",
            );
        }
        let l = &self.limits;
        for (name, value) in [
            ("limits.max_batch_events", l.max_batch_events),
            ("limits.max_users", l.max_users),
            ("limits.max_sessions_per_user", l.max_sessions_per_user),
            ("limits.max_background_users", l.max_background_users),
        ] {
            if value == 0 {
                return invalid(name, value, "at least 1");
            }
        }
        let largest_enrolment = enrolment
            .into_iter()
            .filter(|e| e.0)
            .map(|e| e.2)
            .max()
            .unwrap_or(0);
        if l.max_enrolment_actions < largest_enrolment {
            return invalid(
                "limits.max_enrolment_actions",
                l.max_enrolment_actions,
                "at least the enrolment evidence of each enabled modality",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_check() {
        EngineConfig::new(vec![7u8; 32]).check().unwrap();
    }

    #[test]
    fn neither_modality_is_invalid() {
        let config = EngineConfig {
            modalities: Modalities {
                keyboard: false,
                mouse: false,
            },
            ..EngineConfig::new(vec![7u8; 32])
        };
        match config.check() {
            Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, "modalities"),
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn disabled_modality_evidence_is_not_checked() {
        let mut config = EngineConfig::new(vec![7u8; 32]);
        config.modalities = Modalities::KEYBOARD_ONLY;
        config.enrolment_evidence.mouse = 0;
        config.min_evidence.mouse = 0;
        config.check().unwrap();
        config.modalities = Modalities::BOTH;
        assert!(config.check().is_err());
    }

    #[test]
    fn check_names_bad_fields() {
        let base = EngineConfig::new(vec![7u8; 32]);
        let cases: Vec<(&str, EngineConfig)> = vec![
            (
                "target_fmr",
                EngineConfig {
                    target_fmr: 0.0,
                    ..base.clone()
                },
            ),
            (
                "target_fmr",
                EngineConfig {
                    target_fmr: f64::NAN,
                    ..base.clone()
                },
            ),
            (
                "secret",
                EngineConfig {
                    secret: b"short".to_vec(),
                    ..base.clone()
                },
            ),
            (
                "calibration_folds",
                EngineConfig {
                    calibration_folds: 1,
                    ..base.clone()
                },
            ),
            (
                "adaptation.rate",
                EngineConfig {
                    adaptation: AdaptationParams {
                        rate: 1.5,
                        ..base.adaptation
                    },
                    ..base.clone()
                },
            ),
            (
                "limits.max_batch_events",
                EngineConfig {
                    limits: ResourceLimits {
                        max_batch_events: 0,
                        ..base.limits
                    },
                    ..base.clone()
                },
            ),
            (
                "min_evidence.keyboard",
                EngineConfig {
                    min_evidence: Evidence {
                        keyboard: 0,
                        ..base.min_evidence
                    },
                    ..base.clone()
                },
            ),
            (
                "min_evidence.mouse",
                EngineConfig {
                    min_evidence: Evidence {
                        mouse: 0,
                        ..base.min_evidence
                    },
                    ..base.clone()
                },
            ),
        ];
        for (field, config) in cases {
            match config.check() {
                Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, field),
                other => panic!("{field}: expected InvalidParameter, got {other:?}"),
            }
        }
    }
}

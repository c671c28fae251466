//! Training and calibration at the end of enrolment.

use super::calibration::{self, ScoreCalibration};
use super::modality::Modality;
use super::state::{SideModel, UserModel, lock};
use super::window::{self, TimedPosterior};
use super::{Engine, EnrolmentReport};
use crate::error::{EnrolmentProblem, Error, Result};

impl<K: Modality, M: Modality> Engine<K, M> {
    /// Trains `user`'s templates of the enabled modalities on the collected enrolment actions,
    /// calibrates them against the background population, sets the allow threshold on the
    /// window statistic for the target false-match rate, and saves the model file.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`], also when [`Engine::remove_user`] removes the user during the
    /// call; [`Error::Enrolment`] when the user is already enrolled, has too little evidence, no
    /// background population exists, or no background user has a full window of
    /// `min_evidence` actions; training errors of a modality; [`Error::Io`] when the
    /// model cannot be saved (the collected actions are kept, so the call can be retried).
    pub fn finish_enrolment(&self, user: &str) -> Result<EnrolmentReport> {
        let entry = self.user(user)?;
        let mut state = lock(&entry);
        let target = self.write_target(user, &state)?;
        if state.model.is_some() {
            return Err(self.enrolment_error(user, EnrolmentProblem::AlreadyEnrolled));
        }
        let need = self.enrolment_need();
        let checks = [
            (K::NAME, state.enrolment.keyboard.len(), need.keyboard),
            (M::NAME, state.enrolment.mouse.len(), need.mouse),
        ];
        for (modality, have, need) in checks {
            if have < need {
                let problem = EnrolmentProblem::NotEnoughEvidence {
                    modality,
                    have,
                    need,
                };
                return Err(self.enrolment_error(user, problem));
            }
        }
        let on = self.config.modalities;
        let background = self.background.read().unwrap_or_else(|p| p.into_inner());
        let folds = self.config.calibration_folds;
        let keyboard = if on.keyboard {
            let side = train_side(
                &self.keyboard,
                &state.enrolment.keyboard,
                folds,
                background.iter().map(|b| &b.keyboard[..]),
            )
            .map_err(|e| self.no_background(user, K::NAME, e))?;
            Some(side)
        } else {
            None
        };
        let mouse = if on.mouse {
            let side = train_side(
                &self.mouse,
                &state.enrolment.mouse,
                folds,
                background.iter().map(|b| &b.mouse[..]),
            )
            .map_err(|e| self.no_background(user, M::NAME, e))?;
            Some(side)
        } else {
            None
        };

        let impostor: Vec<f64> = background
            .iter()
            .flat_map(|b| {
                let k = posteriors(&self.keyboard, keyboard.as_ref(), &b.keyboard);
                let m = posteriors(&self.mouse, mouse.as_ref(), &b.mouse);
                self.simulate_windows(&b.keyboard, &k, &b.mouse, &m)
            })
            .collect();
        drop(background);
        let genuine = self.simulate_windows(
            &state.enrolment.keyboard,
            keyboard.as_ref().map_or(&[], |s| &s.genuine_posteriors[..]),
            &state.enrolment.mouse,
            mouse.as_ref().map_or(&[], |s| &s.genuine_posteriors[..]),
        );
        let Some(estimate) = calibration::window_threshold(&impostor, self.config.target_fmr)
        else {
            let min = self.config.min_evidence;
            let problem = EnrolmentProblem::NoBackgroundWindows {
                keyboard: if on.keyboard { min.keyboard } else { 0 },
                mouse: if on.mouse { min.mouse } else { 0 },
            };
            return Err(self.enrolment_error(user, problem));
        };
        let threshold = estimate.value;
        let rate = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().filter(|&&t| t > threshold).count() as f64 / v.len() as f64
            }
        };
        let report = EnrolmentReport {
            allow_threshold: threshold,
            impostor_allow_rate: rate(&impostor),
            genuine_allow_rate: rate(&genuine),
        };
        let model = UserModel {
            keyboard: keyboard.map(TrainedSide::into_side_model),
            mouse: mouse.map(TrainedSide::into_side_model),
            allow_threshold: threshold,
            adaptations: 0,
            replay_hashes: state.replay.to_pairs(),
        };
        if let Some((store, file)) = &target {
            store.save_to(file, &self.header, &model)?;
            state.unsaved_hashes = 0;
        }
        tracing::info!(
            user = %self.label(user),
            keyboard_actions = state.enrolment.keyboard.len(),
            mouse_actions = state.enrolment.mouse.len(),
            allow_threshold = report.allow_threshold,
            "enrolment finished"
        );
        if threshold >= calibration::NEVER_ALLOW {
            tracing::warn!(
                user = %self.label(user),
                impostor_windows = impostor.len(),
                "target false-match rate unreachable on the background population; \
                 this user's sessions will always get StepUp"
            );
        } else if estimate.from_maximum {
            tracing::warn!(
                user = %self.label(user),
                impostor_windows = impostor.len(),
                needed = (1.0 / self.config.target_fmr).ceil(),
                "too few background windows to estimate the target false-match rate; \
                 the allow threshold is the highest background window"
            );
        }
        state.model = Some(model);
        state.enrolment = Default::default();
        // Enrolment sessions carry no trust; scoring starts with the next session.
        state.sessions.clear();
        Ok(report)
    }

    fn no_background(&self, user: &str, modality: &'static str, error: Error) -> Error {
        match error {
            Error::InvalidTrainingData { .. } if self.background_is_empty(modality) => {
                self.enrolment_error(user, EnrolmentProblem::NoBackground { modality })
            }
            other => other,
        }
    }

    fn background_is_empty(&self, modality: &str) -> bool {
        let background = self.background.read().unwrap_or_else(|p| p.into_inner());
        let actions: usize = background
            .iter()
            .map(|b| {
                if modality == K::NAME {
                    b.keyboard.len()
                } else {
                    b.mouse.len()
                }
            })
            .sum();
        actions < 2
    }

    /// Returns the window statistic after each of one person's actions of the enabled
    /// modalities in time order, once some modality has a full window (see
    /// [`window::window_statistics`]). A disabled modality has no posteriors, so `zip` drops
    /// its actions.
    fn simulate_windows(
        &self,
        keyboard: &[K::Action],
        keyboard_posteriors: &[Option<f64>],
        mouse: &[M::Action],
        mouse_posteriors: &[Option<f64>],
    ) -> Vec<f64> {
        let merged: Vec<TimedPosterior> = keyboard
            .iter()
            .zip(keyboard_posteriors)
            .filter_map(|(a, p)| p.map(|p| (K::action_time_us(a), true, p)))
            .chain(
                mouse
                    .iter()
                    .zip(mouse_posteriors)
                    .filter_map(|(a, p)| p.map(|p| (M::action_time_us(a), false, p))),
            )
            .collect();
        let min = self.config.min_evidence;
        window::window_statistics(merged, (min.keyboard, min.mouse), self.config.fusion)
    }
}

/// A trained and calibrated side, before it goes into a [`UserModel`].
struct TrainedSide<T> {
    model: T,
    calibration: ScoreCalibration,
    genuine_posteriors: Vec<Option<f64>>,
}

fn train_side<'a, X: Modality>(
    modality: &X,
    actions: &[X::Action],
    folds: usize,
    background: impl Iterator<Item = &'a [X::Action]>,
) -> Result<TrainedSide<X::Model>> {
    let model = modality.train(actions)?;
    let genuine = calibration::cross_validated_scores(modality, actions, folds)?;
    let impostor: Vec<f64> = background
        .flatten()
        .filter_map(|a| modality.score(&model, a))
        .collect();
    let genuine_flat: Vec<f64> = genuine.iter().flatten().copied().collect();
    let calibration = ScoreCalibration::fit(&genuine_flat, &impostor)?;
    let genuine_posteriors = genuine
        .iter()
        .map(|s| s.map(|s| calibration.posterior(s)))
        .collect();
    Ok(TrainedSide {
        model,
        calibration,
        genuine_posteriors,
    })
}

impl<T: Clone> TrainedSide<T> {
    fn into_side_model(self) -> SideModel<T> {
        SideModel {
            original: self.model.clone(),
            current: self.model,
            calibration: self.calibration,
        }
    }
}

/// Calibrated posteriors of `actions` under a trained side, aligned with `actions`; empty
/// when the modality is disabled.
fn posteriors<X: Modality>(
    modality: &X,
    side: Option<&TrainedSide<X::Model>>,
    actions: &[X::Action],
) -> Vec<Option<f64>> {
    let Some(side) = side else {
        return Vec::new();
    };
    let score = |a| {
        modality
            .score(&side.model, a)
            .map(|raw| side.calibration.posterior(raw))
    };
    actions.iter().map(score).collect()
}

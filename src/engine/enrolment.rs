//! Training and calibration at the end of enrolment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::calibration::{self, ScoreCalibration};
use super::modality::Modality;
use super::state::{SideModel, UserModel, UserState, lock};
use super::window::{self, TimedPosterior};
use super::{BackgroundUser, Engine, EnrolmentReport};
use crate::error::{EnrolmentProblem, Error, Result};

impl<K: Modality, M: Modality> Engine<K, M> {
    /// Trains `user`'s templates of the enabled modalities on the collected enrolment actions,
    /// calibrates them against the background population, sets the allow threshold on the
    /// window statistic for the target false-match rate, and saves the model file.
    ///
    /// Training runs on a copy of the collected actions without holding the user's lock, so
    /// the user's batches and decisions go on while the models are fitted (a two-class mouse
    /// model takes seconds). Actions that arrive meanwhile are not in the model: they are
    /// dropped with the rest of the enrolment buffer when the model is installed, and their
    /// sessions carry no trust, like every enrolment session. A second call for the same user
    /// waits for the first and then gets [`EnrolmentProblem::AlreadyEnrolled`], or starts over
    /// if the first failed.
    ///
    /// # Errors
    ///
    /// - [`Error::UnknownUser`], also when [`Engine::remove_user`] removes the user during the
    ///   call.
    /// - [`Error::Enrolment`] when the user is already enrolled or has too little evidence.
    /// - [`Error::Enrolment`] when no background population exists, when no background user
    ///   has a full window of `min_evidence` actions, or when a modality fitted against the
    ///   background has sessions of fewer than two people.
    /// - Training errors of a modality.
    /// - [`Error::Io`] when the model cannot be saved. The collected actions are kept, so the
    ///   call can be retried.
    pub fn finish_enrolment(&self, user: &str) -> Result<EnrolmentReport> {
        let entry = self.user(user)?;
        // Held for the whole call, so that one call at a time trains a user's enrolment. It
        // is taken before the user's lock, and the user's lock is never held while waiting
        // for it.
        let finishing = lock(&entry).finishing.clone();
        let _finishing = lock(&finishing);

        let (keyboard, mouse) = {
            let state = lock(&entry);
            self.check_in_map(user, &entry)?;
            self.write_target(user, &state)?;
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
            (
                state.enrolment.keyboard.clone(),
                state.enrolment.mouse.clone(),
            )
        };

        let Trained {
            mut model,
            report,
            from_maximum,
            impostor_windows,
        } = self.train_enrolment(user, &keyboard, &mouse)?;

        let mut state = lock(&entry);
        self.check_in_map(user, &entry)?;
        let target = self.write_target(user, &state)?;
        if state.model.is_some() {
            // Unreachable while `finishing` is locked, because only this function sets the
            // model of a user in memory.
            return Err(self.enrolment_error(user, EnrolmentProblem::AlreadyEnrolled));
        }
        model.replay_hashes = state.replay.to_pairs();
        if let Some((store, file)) = &target {
            store.save_to(file, &self.header, &model)?;
            state.unsaved_hashes = 0;
        }
        let late = state
            .enrolment
            .keyboard
            .len()
            .saturating_sub(keyboard.len())
            + state.enrolment.mouse.len().saturating_sub(mouse.len());
        tracing::info!(
            user = %self.label(user),
            keyboard_actions = keyboard.len(),
            mouse_actions = mouse.len(),
            actions_buffered_during_training = late,
            allow_threshold = report.allow_threshold,
            "enrolment finished"
        );
        if report.allow_threshold >= calibration::NEVER_ALLOW {
            tracing::warn!(
                user = %self.label(user),
                impostor_windows,
                "target false-match rate unreachable on the background population; \
                 this user's sessions will always get StepUp"
            );
        } else if from_maximum {
            tracing::warn!(
                user = %self.label(user),
                impostor_windows,
                needed = (1.0 / self.config.target_fmr).ceil(),
                "too few background windows to estimate the target false-match rate; \
                 the allow threshold is the highest background window"
            );
        }
        state.model = Some(model);
        state.enrolment = Default::default();
        // Enrolment sessions carry no trust, so scoring starts afresh in every session.
        state.sessions.clear();
        Ok(report)
    }

    /// Returns [`Error::UnknownUser`] when `entry` is no longer `user`'s entry in the map,
    /// because [`Engine::remove_user`] removed it. Without a model directory nothing else
    /// shows the removal, and a model installed there would be reported as enrolled while no
    /// lookup reaches it.
    fn check_in_map(&self, user: &str, entry: &Arc<Mutex<UserState<K, M>>>) -> Result<()> {
        match self.users.get(&self.key(user)) {
            Some(current) if Arc::ptr_eq(&current, entry) => Ok(()),
            _ => Err(Error::UnknownUser {
                user: self.label(user),
            }),
        }
    }

    /// Trains and calibrates the enabled modalities on a user's enrolment actions, and sets
    /// the allow threshold. Takes the background's read lock and no user's lock.
    fn train_enrolment(
        &self,
        user: &str,
        keyboard_actions: &[K::Action],
        mouse_actions: &[M::Action],
    ) -> Result<Trained<K::Model, M::Model>> {
        let on = self.config.modalities;
        let background = self.background.read().unwrap_or_else(|p| p.into_inner());
        let (person_of, _) = people_of(&background);
        let folds = self.config.calibration_folds;
        // Background sessions named after the enrolling user are left out of this user's
        // background: they are neither negatives nor impostor windows.
        let own = Some(self.key(user));
        let keyboard_sessions = sessions_of(&background, on.keyboard, own, |b| &b.keyboard);
        let mouse_sessions = sessions_of(&background, on.mouse, own, |b| &b.mouse);
        let keyboard_people = Grouped::new(&keyboard_sessions, &person_of);
        let mouse_people = Grouped::new(&mouse_sessions, &person_of);
        // Both checks come before either modality is fitted.
        if on.keyboard {
            self.check_background(user, &self.keyboard, &keyboard_people)?;
        }
        if on.mouse {
            self.check_background(user, &self.mouse, &mouse_people)?;
        }
        let keyboard = if on.keyboard {
            let (sessions, people) = (&keyboard_sessions, &keyboard_people);
            let side = train_side(&self.keyboard, keyboard_actions, folds, sessions, people)
                .map_err(|e| self.no_background(user, K::NAME, sessions, e))?;
            Some(side)
        } else {
            None
        };
        let mouse = if on.mouse {
            let (sessions, people) = (&mouse_sessions, &mouse_people);
            let side = train_side(&self.mouse, mouse_actions, folds, sessions, people)
                .map_err(|e| self.no_background(user, M::NAME, sessions, e))?;
            Some(side)
        } else {
            None
        };
        let impostor: Vec<f64> = background
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                let k = keyboard
                    .as_ref()
                    .map_or(&[][..], |s| &s.impostor_posteriors[i]);
                let m = mouse
                    .as_ref()
                    .map_or(&[][..], |s| &s.impostor_posteriors[i]);
                self.simulate_windows(&b.keyboard, k, &b.mouse, m)
            })
            .collect();
        drop(background);
        let genuine = self.simulate_windows(
            keyboard_actions,
            keyboard.as_ref().map_or(&[], |s| &s.genuine_posteriors[..]),
            mouse_actions,
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
            replay_hashes: Vec::new(),
        };
        Ok(Trained {
            model,
            report,
            from_maximum: estimate.from_maximum,
            impostor_windows: impostor.len(),
        })
    }

    /// Checks, before any fitting, that a modality that [`Modality::uses_background`] has
    /// background sessions of at least two `people`. Without background actions at all, the
    /// error is left to [`Engine::no_background`].
    fn check_background<X: Modality>(
        &self,
        user: &str,
        modality: &X,
        people: &Grouped,
    ) -> Result<()> {
        let (have, need) = (people.count, 2);
        if have == 0 || have >= need || !modality.uses_background() {
            return Ok(());
        }
        let problem = EnrolmentProblem::TooFewBackgroundPeople {
            modality: X::NAME,
            have,
            need,
        };
        Err(self.enrolment_error(user, problem))
    }

    /// Turns a training error into [`EnrolmentProblem::NoBackground`] when the background
    /// `sessions` of `modality` have fewer than two actions. It takes the sessions from the
    /// caller, which holds the background lock: a second read lock on the same thread could
    /// deadlock behind a queued writer.
    fn no_background<A>(
        &self,
        user: &str,
        modality: &'static str,
        sessions: &[&[A]],
        error: Error,
    ) -> Error {
        let actions: usize = sessions.iter().map(|s| s.len()).sum();
        match error {
            Error::InvalidTrainingData { .. } if actions < 2 => {
                self.enrolment_error(user, EnrolmentProblem::NoBackground { modality })
            }
            other => other,
        }
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

/// The outcome of [`Engine::train_enrolment`].
struct Trained<KeyboardModel, MouseModel> {
    /// The user's model, without replay hashes: the caller adds them when it installs it.
    model: UserModel<KeyboardModel, MouseModel>,
    report: EnrolmentReport,
    /// Whether the threshold is the highest background window, for want of enough windows.
    from_maximum: bool,
    impostor_windows: usize,
}

/// A trained and calibrated side, before it goes into a [`UserModel`].
struct TrainedSide<T> {
    model: T,
    calibration: ScoreCalibration,
    /// Cross-validated posteriors of the enrolment actions, aligned with them.
    genuine_posteriors: Vec<Option<f64>>,
    /// Posteriors of each background session's actions, aligned with the sessions.
    impostor_posteriors: Vec<Vec<Option<f64>>>,
}

/// Numbers the background people: sessions with the same keyed person share a number, and a
/// session added without a person gets a number of its own. Returns each session's number and
/// how many people there are.
fn people_of<K: Modality, M: Modality>(background: &[BackgroundUser<K, M>]) -> (Vec<usize>, usize) {
    let mut numbers: HashMap<[u8; 32], usize> = HashMap::new();
    let mut people = 0;
    let person_of = background
        .iter()
        .map(|b| {
            let mut fresh = || {
                people += 1;
                people - 1
            };
            match b.person {
                Some(key) => *numbers.entry(key).or_insert_with(fresh),
                None => fresh(),
            }
        })
        .collect();
    (person_of, people)
}

/// Returns one modality's actions of each background session: empty for a disabled modality
/// (`enabled` false) and for sessions of the person `own`.
fn sessions_of<'a, K: Modality, M: Modality, A>(
    background: &'a [BackgroundUser<K, M>],
    enabled: bool,
    own: Option<[u8; 32]>,
    actions: impl Fn(&'a BackgroundUser<K, M>) -> &'a Vec<A>,
) -> Vec<&'a [A]> {
    background
        .iter()
        .map(|b| {
            if enabled && b.person != own {
                &actions(b)[..]
            } else {
                &[]
            }
        })
        .collect()
}

/// The people of one modality's background sessions, numbered densely over the sessions with
/// actions of that modality. A person can have keyboard sessions but no mouse sessions, so
/// the numbering differs between modalities.
struct Grouped {
    /// The sessions with actions, as (index into the sessions, person number).
    used: Vec<(usize, usize)>,
    /// People with actions.
    count: usize,
}

impl Grouped {
    /// Groups `sessions` by person. `person_of` gives each session's number from
    /// [`people_of`].
    fn new<A>(sessions: &[&[A]], person_of: &[usize]) -> Self {
        let mut renumber: HashMap<usize, usize> = HashMap::new();
        let mut used: Vec<(usize, usize)> = Vec::new();
        for (s, (session, &person)) in sessions.iter().zip(person_of).enumerate() {
            if !session.is_empty() {
                let next = renumber.len();
                used.push((s, *renumber.entry(person).or_insert(next)));
            }
        }
        Grouped {
            used,
            count: renumber.len(),
        }
    }
}

/// Trains one modality's side on `actions` and calibrates it. `sessions` are the background
/// sessions' actions of this modality and `people` their people.
///
/// The genuine scores are cross-validated over `folds` blocks of `actions`. The impostor
/// scores come from the final model, or for a modality that fits on the background, from
/// models fitted without the scored person
/// ([`calibration::cross_fitted_impostor_scores`]).
fn train_side<X: Modality>(
    modality: &X,
    actions: &[X::Action],
    folds: usize,
    sessions: &[&[X::Action]],
    people: &Grouped,
) -> Result<TrainedSide<X::Model>> {
    let (used, people) = (&people.used, people.count);
    let mut by_person: Vec<Vec<&[X::Action]>> = vec![Vec::new(); people];
    for &(s, person) in used {
        by_person[person].push(sessions[s]);
    }
    let (model, genuine) = rayon::join(
        || modality.train(actions, &by_person),
        || calibration::cross_validated_scores(modality, actions, folds, &by_person),
    );
    let (model, genuine) = (model?, genuine?);
    let mut impostor_raw: Vec<Vec<Option<f64>>> = vec![Vec::new(); sessions.len()];
    if modality.uses_background() {
        let used_sessions: Vec<&[X::Action]> = used.iter().map(|&(s, _)| sessions[s]).collect();
        let used_people: Vec<usize> = used.iter().map(|&(_, p)| p).collect();
        let scores = calibration::cross_fitted_impostor_scores(
            modality,
            actions,
            folds,
            &used_sessions,
            &used_people,
            people,
        )?;
        for (&(s, _), scores) in used.iter().zip(scores) {
            impostor_raw[s] = scores;
        }
    } else {
        for &(s, _) in used {
            impostor_raw[s] = sessions[s]
                .iter()
                .map(|a| modality.score(&model, a))
                .collect();
        }
    }
    let genuine_flat: Vec<f64> = genuine.iter().flatten().copied().collect();
    let impostor_flat: Vec<f64> = impostor_raw.iter().flatten().flatten().copied().collect();
    // A two-class model's raw score is already a log odds, and its genuine scores bunch
    // tightly where the model is sure. Two normals of unequal spread then give a ratio that
    // falls steeply just past the genuine bunch and turns back beyond it. One pooled spread
    // gives a ratio linear in the raw score instead, which keeps the model's order.
    let calibration = if modality.uses_background() {
        ScoreCalibration::fit_equal_variance(&genuine_flat, &impostor_flat)?
    } else {
        ScoreCalibration::fit(&genuine_flat, &impostor_flat)?
    };
    // A non-finite raw score has no posterior, as in ingestion.
    let posterior = |s: &Option<f64>| {
        s.filter(|s| s.is_finite())
            .map(|s| calibration.posterior(s))
    };
    let genuine_posteriors = genuine.iter().map(posterior).collect();
    let impostor_posteriors = impostor_raw
        .iter()
        .map(|session| session.iter().map(posterior).collect())
        .collect();
    Ok(TrainedSide {
        model,
        calibration,
        genuine_posteriors,
        impostor_posteriors,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{KeyHoldModality, MouseModality};

    #[test]
    fn named_sessions_share_a_person() {
        let session = |person: Option<u8>| BackgroundUser::<KeyHoldModality, MouseModality> {
            keyboard: Vec::new(),
            mouse: Vec::new(),
            person: person.map(|p| [p; 32]),
        };
        let background = [
            session(Some(1)),
            session(None),
            session(Some(2)),
            session(Some(1)),
            session(None),
            session(Some(2)),
        ];
        assert_eq!(people_of(&background), (vec![0, 1, 2, 0, 3, 2], 4));
        assert_eq!(
            people_of::<KeyHoldModality, MouseModality>(&[]),
            (vec![], 0)
        );
    }
}

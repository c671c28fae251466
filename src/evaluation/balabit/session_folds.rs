//! Held-out probabilities from models fitted without whole training sessions, and the
//! calibration fitted on them.
//!
//! Each user's training sessions, sorted by name, are dealt round-robin into
//! [`CvParams::folds`] folds, as in [`super::cv`]. For each fold, every user's two-class model
//! is fitted on the sessions outside the fold: the user's own as positives, and the other
//! users' sessions outside the fold as the pool of negatives. That model then scores every
//! action of every session inside the fold. So under every user's model each training action
//! gets a probability from a model that saw neither its session nor, for another user's
//! action, that session among its negatives. Such a session is as new to the model as a test
//! session: another recording, on another occasion, with its own remote-desktop setting.
//!
//! The held-out sessions are then cut into pieces of lengths drawn log-uniformly from
//! [`CvParams::piece_actions`], the range of the test sessions' lengths. Under claimed user
//! `u`, a piece of `u`'s is a genuine attempt and any other user's piece an impostor attempt.
//! The user's calibration ([`ScoreCalibration`]) is fitted to the aggregate scores of these
//! pieces, one fit over all lengths, so it learns how far apart the user's own and other
//! people's unseen recordings score under the user's model.
//!
//! The cross-validation measures this calibration as its "cross-fitted calibration" rows: there
//! the pieces of the other folds calibrate each fold's pieces.

use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::cv::{CvParams, piece_ranges};
use super::{BalabitParams, Classifier, fit_classifier};
use crate::datasets::balabit;
use crate::engine::calibration::ScoreCalibration;
use crate::error::{Error, Result};
use crate::mouse::score::session_score;

/// Each user's training sessions (the two-class model's rows), users in one fixed order.
pub(crate) type UserSessions = [(String, Vec<Array2<f64>>)];

/// Models and held-out probabilities of [`fit`].
pub(crate) struct SessionFolds {
    /// Per user, the two-class model fitted on all of the training sessions.
    pub models: Vec<Classifier>,
    /// `held_out[claimed][author][session]`: the probabilities that each action of the
    /// author's session is the claimed user's, from the claimed user's model of the fold that
    /// held the session out.
    pub held_out: Vec<Vec<Vec<Vec<f64>>>>,
}

/// Returns the seed of user `user`'s model in fold `fold`. Fold `folds` is the final model. It
/// gets the seed that [`super::fit_two_class`] would get, so both paths fit the same model.
fn model_seed(params: &BalabitParams, user: usize, fold: usize, folds: usize) -> u64 {
    let seed = params.seed ^ user as u64;
    if fold == folds {
        seed
    } else {
        seed ^ ((fold as u64 + 1) << 32)
    }
}

/// Fits every user's final model and the fold models, and scores every training session with
/// the fold models that held it out.
///
/// # Errors
///
/// [`Error::DatasetShape`] when there are fewer than two users, `cv.folds < 2`, or a user has
/// fewer training sessions than folds; and the fitting errors of the models.
pub(crate) fn fit(
    sessions: &UserSessions,
    params: &BalabitParams,
    cv: &CvParams,
) -> Result<SessionFolds> {
    let folds = cv.folds;
    if folds < 2 || sessions.len() < 2 {
        return Err(shape(format!(
            "{folds} session folds and {} users; the session cross-fitting needs at least 2 of \
             each",
            sessions.len()
        )));
    }
    if let Some((user, list)) = sessions.iter().find(|(_, s)| s.len() < folds) {
        return Err(shape(format!(
            "user {user} has {} training sessions, fewer than the {folds} folds of the session \
             cross-fitting; add sessions or use the forest (`--mouse-model forest`)",
            list.len()
        )));
    }
    // Joins a user's sessions outside a fold. Fold `folds` contains no session, so it joins all.
    let joined = |user: usize, fold: usize| -> Result<Array2<f64>> {
        let parts: Vec<_> = sessions[user]
            .1
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, x)| x.view())
            .collect();
        ndarray::concatenate(Axis(0), &parts)
            .map_err(|e| Error::training(format!("joining action features: {e}")))
    };
    let users = sessions.len();
    // Fold by fold, so that each fold's rows are joined once and all users' models of the
    // fold share them.
    let mut fold_models: Vec<Classifier> = Vec::with_capacity(folds * users);
    let mut models: Vec<Classifier> = Vec::with_capacity(users);
    for fold in 0..=folds {
        let rows = (0..users)
            .map(|u| joined(u, fold))
            .collect::<Result<Vec<_>>>()?;
        let fitted = (0..users)
            .into_par_iter()
            .map(|user| {
                let others: Vec<&Array2<f64>> = rows
                    .iter()
                    .enumerate()
                    .filter(|(u, _)| *u != user)
                    .map(|(_, x)| x)
                    .collect();
                let seed = model_seed(params, user, fold, folds);
                fit_classifier(&rows[user], &others, params, seed)
            })
            .collect::<Result<Vec<Classifier>>>()?;
        if fold == folds {
            models = fitted;
        } else {
            fold_models.extend(fitted);
        }
    }
    let jobs: Vec<(usize, usize)> = (0..folds)
        .flat_map(|fold| (0..users).map(move |user| (fold, user)))
        .collect();

    // Scores of each fold's held-out sessions under each user's model of that fold: all
    // sessions of the fold go through one model in one batch.
    let scored = jobs
        .par_iter()
        .zip(&fold_models)
        .map(|(&(fold, claimed), model)| {
            let mut rows = Vec::new();
            let mut spans = Vec::new();
            for (author, (_, list)) in sessions.iter().enumerate() {
                for (index, x) in list.iter().enumerate().filter(|(i, _)| i % folds == fold) {
                    let values = x
                        .as_slice()
                        .expect("OK because featurise_with builds standard-layout arrays");
                    rows.extend_from_slice(values);
                    spans.push((author, index, x.nrows()));
                }
            }
            let probabilities = model.predict_proba_rows(&rows)?;
            Ok((claimed, spans, probabilities))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut held_out: Vec<Vec<Vec<Vec<f64>>>> = (0..users)
        .map(|_| {
            sessions
                .iter()
                .map(|(_, list)| vec![Vec::new(); list.len()])
                .collect()
        })
        .collect();
    for (claimed, spans, probabilities) in scored {
        let mut rest = &probabilities[..];
        for (author, index, n) in spans {
            let (mine, tail) = rest.split_at(n);
            held_out[claimed][author][index] = mine.to_vec();
            rest = tail;
        }
    }
    Ok(SessionFolds { models, held_out })
}

/// Returns the held-out probabilities of claimed user `claimed`'s model in `held_out` (as in
/// [`SessionFolds::held_out`]) and their labels: first the user's own actions, then the other
/// users' actions, each in session order. This is the layout that
/// [`super::out_of_bag_calibration`] takes.
pub(crate) fn rows_of(held_out: &[Vec<Vec<Vec<f64>>>], claimed: usize) -> (Vec<f64>, Vec<bool>) {
    let by_author = &held_out[claimed];
    let mut probabilities: Vec<f64> = by_author[claimed].concat();
    let mut labels = vec![true; probabilities.len()];
    for (author, list) in by_author.iter().enumerate() {
        if author != claimed {
            for p in list {
                probabilities.extend_from_slice(p);
                labels.extend(std::iter::repeat_n(false, p.len()));
            }
        }
    }
    (probabilities, labels)
}

impl SessionFolds {
    /// Fits each claimed user's calibration of `params.aggregate` scores of held-out pieces
    /// (see the module documentation). The piece lengths are drawn once, with a generator
    /// seeded by `cv.seed`, and every claimed user scores the same pieces.
    ///
    /// # Errors
    ///
    /// The errors of [`session_score`] and of [`ScoreCalibration::fit`], such as a user whose
    /// genuine pieces all score the same.
    pub(crate) fn piece_calibrations(
        &self,
        params: &BalabitParams,
        cv: &CvParams,
    ) -> Result<Vec<ScoreCalibration>> {
        let Some(first) = self.held_out.first() else {
            return Ok(Vec::new());
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cv.seed);
        let pieces: Vec<Vec<Vec<std::ops::Range<usize>>>> = first
            .iter()
            .map(|list| {
                list.iter()
                    .map(|p| piece_ranges(p.len(), cv.piece_actions, false, &mut rng))
                    .collect()
            })
            .collect();
        let trees = params.forest.n_trees;
        self.held_out
            .par_iter()
            .enumerate()
            .map(|(claimed, by_author)| {
                let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
                for (author, list) in by_author.iter().enumerate() {
                    for (p, ranges) in list.iter().zip(&pieces[author]) {
                        for range in ranges {
                            let score = session_score(&p[range.clone()], trees, params.aggregate)?;
                            if author == claimed {
                                genuine.push(score);
                            } else {
                                impostor.push(score);
                            }
                        }
                    }
                }
                ScoreCalibration::fit(&genuine, &impostor)
            })
            .collect()
    }
}

fn shape(problem: String) -> Error {
    Error::DatasetShape {
        dataset: balabit::NAME.into(),
        problem,
    }
}

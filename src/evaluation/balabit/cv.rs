//! Cross-validation inside the Balabit training files, used to choose between replay variants
//! without looking at any test session or label.
//!
//! Protocol: each user's training sessions are sorted by file name and dealt round-robin into
//! [`CvParams::folds`] folds. For fold `f`, every user's models are fitted on the sessions
//! outside fold `f` (the forest's negatives come only from other users' sessions outside `f`
//! as well). The held-out sessions of all users are cut into consecutive pieces of
//! [`CvParams::chunk_actions`] actions, each standing for one short test session. Every piece
//! is then scored as every user: as its own author it is a genuine attempt, as any other user
//! an impostor attempt. Scores of all users and folds are pooled into one ROC per variant,
//! as the replay pools test sessions.

use ndarray::{Array2, Axis};
use rayon::prelude::*;
use serde::Serialize;

use super::{BalabitParams, fit_user_forest, out_of_bag_calibration};
use crate::datasets::balabit::{self, SessionFile};
use crate::engine::calibration::ScoreCalibration;
use crate::error::{Error, Result};
use crate::evaluation::metrics::auc;
use crate::mouse::one_class::RobustZ;
use crate::mouse::score::{SessionAggregate, session_score};

/// Cross-validation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CvParams {
    /// Number of folds; each user needs at least this many training sessions.
    pub folds: usize,
    /// Actions per held-out piece.
    pub chunk_actions: usize,
}

impl Default for CvParams {
    /// Five folds because the user with the fewest training sessions has five. Pieces of 50
    /// actions because the labelled test sessions average 1,420 events (dataset documentation:
    /// 1,157,823 events in 816 sessions) and training sessions give about one action per 30
    /// events.
    fn default() -> Self {
        CvParams {
            folds: 5,
            chunk_actions: 50,
        }
    }
}

/// Pooled cross-validated AUC of one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvResult {
    /// Variant name: forest setting and aggregate, or the one-class score.
    pub variant: String,
    /// Pooled AUC over all folds and claimed users.
    pub auc: f64,
}

/// A forest setting to cross-validate.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestVariant {
    /// Short name used in results.
    pub name: String,
    /// Replay settings; only `forest`, `negative_ratio` and `seed` matter here.
    pub params: BalabitParams,
}

/// Session aggregates compared for every forest variant.
pub const AGGREGATES: [SessionAggregate; 4] = [
    SessionAggregate::MeanLogOdds,
    SessionAggregate::MeanProbability,
    SessionAggregate::TrimmedMeanLogOdds,
    SessionAggregate::MedianLogOdds,
];

/// One held-out piece: its author and action features.
struct Piece {
    author: usize,
    rows: Array2<f64>,
}

/// Cross-validates each forest variant with every aggregate in [`AGGREGATES`], and the two
/// one-class scores (mean per-action robust z and [`RobustZ::session_shift`]), on the training
/// directory `dir` (which contains `training_files/`).
///
/// # Errors
///
/// Loader and fitting errors, and [`Error::DatasetShape`] when a user has fewer training
/// sessions than folds or `folds < 2` or `chunk_actions == 0`.
pub fn cross_validate(
    dir: &std::path::Path,
    cv: &CvParams,
    variants: &[ForestVariant],
) -> Result<Vec<CvResult>> {
    let base = BalabitParams::default();
    let files = balabit::list_sessions(&dir.join(balabit::TRAINING_DIR))?;
    let (sessions, _, _) = super::featurise(&files, &base.segment)?;
    let by_user = group(sessions);
    if cv.folds < 2 || cv.chunk_actions == 0 {
        return Err(shape(format!(
            "{} folds and {} actions per piece; need at least 2 folds and 1 action",
            cv.folds, cv.chunk_actions
        )));
    }
    if let Some((user, s)) = by_user.iter().find(|(_, s)| s.len() < cv.folds) {
        return Err(shape(format!(
            "user {user} has {} training sessions, fewer than {} folds",
            s.len(),
            cv.folds
        )));
    }
    let n_forest = variants.len() * (AGGREGATES.len() + 1);
    // Per variant: genuine and impostor score lists.
    let mut scores: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); n_forest + 2];
    let mut records: Vec<Record> = Vec::new();
    for fold in 0..cv.folds {
        let (train, pieces) = split_fold(&by_user, fold, cv)?;
        for (claimed, positives) in train.iter().enumerate() {
            let others: Vec<&Array2<f64>> = train
                .iter()
                .enumerate()
                .filter(|(u, _)| *u != claimed)
                .map(|(_, x)| x)
                .collect();
            let one_class = RobustZ::fit(positives.view())?;
            let mut per_variant = Vec::with_capacity(variants.len());
            for variant in variants {
                let seed = variant.params.seed ^ (fold * 1000 + claimed) as u64;
                let params = &variant.params;
                let (forest, oob, labels) = fit_user_forest(positives, &others, params, seed)?;
                let calibration = params
                    .calibration_piece
                    .map(|piece| {
                        let trees = params.forest.n_trees;
                        out_of_bag_calibration(&oob, &labels, piece, trees, params.aggregate)
                    })
                    .transpose()?;
                per_variant.push((forest, calibration));
            }
            let piece_scores = pieces
                .par_iter()
                .map(|piece| {
                    let mut out = Vec::with_capacity(n_forest + 2);
                    for ((forest, calibration), variant) in per_variant.iter().zip(variants) {
                        let probabilities = piece
                            .rows
                            .rows()
                            .into_iter()
                            .map(|r| forest.predict_proba(&r.to_vec()))
                            .collect::<Result<Vec<f64>>>()?;
                        for aggregate in AGGREGATES {
                            let trees = variant.params.forest.n_trees;
                            out.push(session_score(&probabilities, trees, aggregate)?);
                        }
                        let trees = variant.params.forest.n_trees;
                        let raw = session_score(&probabilities, trees, variant.params.aggregate)?;
                        // Without a calibration the slot repeats the raw score.
                        out.push(calibration.map_or(raw, |c| -c.unbounded_llr(raw)));
                    }
                    let per_action = piece
                        .rows
                        .rows()
                        .into_iter()
                        .map(|r| one_class.score(&r.to_vec()))
                        .collect::<Result<Vec<f64>>>()?;
                    out.push(per_action.iter().sum::<f64>() / per_action.len() as f64);
                    out.push(one_class.session_shift(piece.rows.view())?);
                    Ok((piece.author == claimed, out))
                })
                .collect::<Result<Vec<_>>>()?;
            for (genuine, values) in piece_scores {
                for (slot, value) in scores.iter_mut().zip(&values) {
                    if genuine { &mut slot.0 } else { &mut slot.1 }.push(*value);
                }
                records.push(Record {
                    fold,
                    claimed,
                    genuine,
                    values,
                });
            }
        }
        tracing::info!(fold, pieces = pieces.len(), "cross-validation fold done");
    }
    let mut names: Vec<String> = Vec::new();
    for variant in variants {
        for aggregate in AGGREGATES {
            names.push(format!("{} / {}", variant.name, aggregate.name()));
        }
        names.push(format!(
            "{} / {}, out-of-bag calibration",
            variant.name,
            variant.params.aggregate.name()
        ));
    }
    names.push("one-class robust z, mean per action".into());
    names.push("one-class session shift".into());
    let mut results: Vec<CvResult> = names
        .into_iter()
        .zip(&scores)
        .map(|(variant, (g, i))| CvResult {
            variant,
            auc: auc(g, i),
        })
        .collect();
    // Cross-fitted calibration of each raw aggregate, for comparison with the out-of-bag one.
    let slots_per_variant = AGGREGATES.len() + 1;
    for slot in (0..n_forest).filter(|slot| slot % slots_per_variant < AGGREGATES.len()) {
        let (g, i) = cross_fitted(&records, slot, cv.folds)?;
        results.push(CvResult {
            variant: format!("{} / cross-fitted calibration", results[slot].variant),
            auc: auc(&g, &i),
        });
    }
    Ok(results)
}

/// One held-out piece scored as one claimed user in one fold.
struct Record {
    fold: usize,
    claimed: usize,
    genuine: bool,
    values: Vec<f64>,
}

/// Calibrates the scores in `slot` of each fold's records as minus a log-likelihood ratio of
/// normal fits to the same claimed user's genuine and impostor scores in the other folds, so
/// that no score calibrates itself. The genuine and impostor results are returned apart.
fn cross_fitted(records: &[Record], slot: usize, folds: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let users = records.iter().map(|r| r.claimed + 1).max().unwrap_or(0);
    let mut out = (Vec::new(), Vec::new());
    for fold in 0..folds {
        for user in 0..users {
            let others = |genuine: bool| -> Vec<f64> {
                records
                    .iter()
                    .filter(|r| r.fold != fold && r.claimed == user && r.genuine == genuine)
                    .map(|r| r.values[slot])
                    .collect()
            };
            let calibration = ScoreCalibration::fit(&others(true), &others(false))?;
            for r in records
                .iter()
                .filter(|r| r.fold == fold && r.claimed == user)
            {
                let value = -calibration.unbounded_llr(r.values[slot]);
                if r.genuine { &mut out.0 } else { &mut out.1 }.push(value);
            }
        }
    }
    Ok(out)
}

/// Joins each user's sessions outside fold `fold` into one training matrix (in user order) and
/// cuts the sessions in the fold into pieces of `cv.chunk_actions` actions (the last piece of
/// a session may be shorter).
fn split_fold(
    by_user: &[(String, Vec<Array2<f64>>)],
    fold: usize,
    cv: &CvParams,
) -> Result<(Vec<Array2<f64>>, Vec<Piece>)> {
    let mut train: Vec<Array2<f64>> = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    for (author, (_, sessions)) in by_user.iter().enumerate() {
        let (training_sessions, held_out): (Vec<_>, Vec<_>) = sessions
            .iter()
            .enumerate()
            .partition(|(i, _)| i % cv.folds != fold);
        let training_views: Vec<_> = training_sessions.iter().map(|(_, x)| x.view()).collect();
        train.push(
            ndarray::concatenate(Axis(0), &training_views)
                .map_err(|e| Error::training(format!("joining action features: {e}")))?,
        );
        for (_, x) in held_out {
            for start in (0..x.nrows()).step_by(cv.chunk_actions) {
                let end = (start + cv.chunk_actions).min(x.nrows());
                pieces.push(Piece {
                    author,
                    rows: x.select(Axis(0), &(start..end).collect::<Vec<_>>()),
                });
            }
        }
    }
    Ok((train, pieces))
}

/// Groups featurised sessions by user, users and sessions sorted by name.
fn group(sessions: Vec<(SessionFile, Array2<f64>)>) -> Vec<(String, Vec<Array2<f64>>)> {
    let mut sessions = sessions;
    sessions.sort_by(|a, b| (&a.0.user, &a.0.session).cmp(&(&b.0.user, &b.0.session)));
    let mut out: Vec<(String, Vec<Array2<f64>>)> = Vec::new();
    for (file, x) in sessions {
        match out.last_mut() {
            Some((user, list)) if *user == file.user => list.push(x),
            _ => out.push((file.user, vec![x])),
        }
    }
    out
}

fn shape(problem: String) -> Error {
    Error::DatasetShape {
        dataset: balabit::NAME.into(),
        problem,
    }
}

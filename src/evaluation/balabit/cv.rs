//! Cross-validation inside the Balabit training files, used to choose between replay variants
//! without looking at any test session or label.
//!
//! Protocol: each user's training sessions are sorted by file name and dealt round-robin into
//! [`CvParams::folds`] folds. For fold `f`, every user's models are fitted on the sessions
//! outside fold `f` (the forest's negatives come only from other users' sessions outside `f`
//! as well). Each held-out session is cut into consecutive pieces whose lengths are drawn
//! log-uniformly from [`CvParams::piece_actions`]; each piece stands for one test session.
//! Every piece is then scored as every user: as its own author it is a genuine attempt, as
//! any other user an impostor attempt. Scores of all users and folds are pooled into one ROC
//! per variant, as the replay pools test sessions.
//!
//! Why this mirrors the test set:
//!
//! - A test session is a separate recording, made on another occasion than the training
//!   sessions, with its own remote-desktop setting (screen, latency). A held-out piece comes
//!   from a training session that none of the fold's models saw, so it too is a separate
//!   recording.
//! - Test sessions differ in length by two orders of magnitude, and the pooled ROC mixes
//!   them. Short sessions give noisy scores, long ones confident scores, so a fixed piece
//!   length would hide whether a score is comparable across lengths. Pieces of random
//!   lengths over the same range keep that mix (see [`CvParams::default`]).
//! - Impostor test sessions are other people's recordings under the claimed account. Here
//!   they are the other users' held-out pieces, which no model of the fold saw either.
//! - In the test set each claimed user has genuine and impostor sessions in roughly equal
//!   numbers, while here every piece is an impostor for nine users. So the headline figure
//!   ([`CvResult::auc`]) weights each claimed user's impostor pieces to weigh as much in
//!   total as that user's genuine pieces. The plain pooled AUC is reported beside it.
//! - Whether the test set's impostors are other enrolled users or people outside them is not
//!   documented. Here they are enrolled users whose other sessions the claimed user's model
//!   saw among its negatives. [`CvParams::leave_impostor_out`] measures the other extreme, an
//!   impostor the model never saw.
//! - Any calibration is fitted without the scored piece: the out-of-bag calibrations use only
//!   the fold's training sessions, and the cross-fitted one uses only other folds' pieces.

use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

use super::within_session::{append_relative, relative_in_pieces};
use super::{
    Appended, BalabitParams, Classifier, fit_classifier, fit_two_class, out_of_bag_calibration,
};
use crate::datasets::balabit::{self, SessionFile};
use crate::engine::calibration::ScoreCalibration;
use crate::error::{Error, Result};
use crate::evaluation::metrics::auc;
use crate::mouse::N_FEATURES;
use crate::mouse::one_class::RobustZ;
use crate::mouse::score::{SessionAggregate, cohort_llr, session_score};

/// Cross-validation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CvParams {
    /// Number of folds; each user needs at least this many training sessions.
    pub folds: usize,
    /// Shortest and longest piece, in actions. Lengths are drawn log-uniformly between them,
    /// and a session's last piece is kept only when it has at least the shortest length.
    pub piece_actions: (usize, usize),
    /// Seed of the piece lengths.
    pub seed: u64,
    /// Switch for scoring each impostor piece with a model of the claimed user fitted without
    /// the impostor's sessions among its negatives, one such model per other user. Without
    /// it, an impostor piece comes from a session the model never saw, but from a person whose
    /// other sessions it learnt to reject. With it, the impostor is a stranger to the model, as an
    /// attacker from outside the enrolled users would be. Genuine pieces keep the model with
    /// all negatives. It needs at least three users and costs one more fit per other user.
    pub leave_impostor_out: bool,
}

impl Default for CvParams {
    /// Five folds because the user with the fewest training sessions has five.
    ///
    /// Piece lengths from 4 to 420 actions, because the data set's documentation gives the
    /// labelled test sessions 114 to 12,672 events with a median of 1,134. The training
    /// sessions give about one action per 30 events, so test sessions hold about 4 to 420
    /// actions. A log-uniform draw over that range has the median 41 actions, close to the 38
    /// that the documented median implies. No test file was read to set these numbers.
    fn default() -> Self {
        CvParams {
            folds: 5,
            piece_actions: (4, 420),
            seed: 0x0063_765f_7069_6563,
            leave_impostor_out: false,
        }
    }
}

/// Cross-validated AUCs of one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvResult {
    /// Variant name: forest setting, aggregate and calibration, or the one-class score.
    pub variant: String,
    /// Pooled AUC over all folds and claimed users, with each claimed user's impostor pieces
    /// weighted to the total weight of that user's genuine pieces.
    pub auc: f64,
    /// Pooled AUC with every impostor piece weighted equally.
    pub auc_unweighted: f64,
}

/// A forest setting to cross-validate.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestVariant {
    /// Short name used in results.
    pub name: String,
    /// Replay settings. Only `forest`, `boost`, `negative_ratio`, `seed`,
    /// `relative_features`, `position_features` and `previous_action_features` matter here.
    /// The "cross-fitted calibration" rows measure what `session_folds` does in the replay.
    pub params: BalabitParams,
}

/// Session aggregates compared for every forest variant.
pub const AGGREGATES: [SessionAggregate; 4] = [
    SessionAggregate::MeanLogOdds,
    SessionAggregate::MeanProbability,
    SessionAggregate::TrimmedMeanLogOdds,
    SessionAggregate::MedianLogOdds,
];

/// Score treatments compared for every forest variant and aggregate.
pub const TREATMENTS: [&str; 3] = [
    "raw",
    "out-of-bag calibration, 50-action pieces",
    "out-of-bag calibration, length-matched",
];

/// Two variants whose cross-validated scores are fused: each piece's mean-log-odds score is
/// calibrated by the plain cross-fitted calibration under each variant, and the two
/// log-likelihood ratios are averaged. Both variants fit on the same folds and score the same
/// pieces, so the average pairs the two models' views of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Fusion {
    /// Short name used in results.
    pub name: String,
    /// Names of the two fused variants, as in [`ForestVariant::name`].
    pub members: (String, String),
}

/// One held-out piece: its author and rows (the action features, then the appended columns
/// when a variant uses them).
struct Piece {
    author: usize,
    rows: Array2<f64>,
}

/// Cross-validates each forest variant with every aggregate in [`AGGREGATES`] and every
/// treatment in [`TREATMENTS`], each raw aggregate cross-fitted as well (by each of
/// [`CROSS_FITS`], and by the first once more with cohort normalisation), and the two one-class
/// scores (mean per-action robust z and [`RobustZ::session_shift`]), on the training
/// directory `dir` (which contains `training_files/`). Each of `fusions` adds one row last.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when a variant sets two of the relative, position and
/// previous-action switches, two variants append columns of different kinds, or a fusion
/// names a variant that is not in `variants`.
/// Loader and fitting errors, and [`Error::DatasetShape`] when a user has fewer training
/// sessions than folds, `folds < 2`, the piece lengths are not `1 <= shortest <= longest`, or
/// `cv.leave_impostor_out` is set with fewer than three users.
pub fn cross_validate(
    dir: &std::path::Path,
    cv: &CvParams,
    variants: &[ForestVariant],
    fusions: &[Fusion],
) -> Result<Vec<CvResult>> {
    let base = BalabitParams::default();
    let (shortest, longest) = cv.piece_actions;
    if cv.folds < 2 || shortest == 0 || shortest > longest {
        return Err(shape(format!(
            "{} folds and pieces of {shortest} to {longest} actions; need at least 2 folds and \
             1 <= shortest <= longest",
            cv.folds
        )));
    }
    for variant in variants {
        super::check_appended_columns(&variant.params)?;
    }
    let position = |name: &str| {
        variants
            .iter()
            .position(|v| v.name == name)
            .ok_or_else(|| Error::InvalidParameter {
                name: "fusions",
                value: name.to_string(),
                expected: "the name of a cross-validated variant",
            })
    };
    let fused_members = fusions
        .iter()
        .map(|f| Ok((position(&f.members.0)?, position(&f.members.1)?)))
        .collect::<Result<Vec<_>>>()?;
    let files = balabit::list_sessions(&dir.join(balabit::TRAINING_DIR))?;
    let users: std::collections::BTreeSet<&str> = files.iter().map(|f| f.user.as_str()).collect();
    if cv.leave_impostor_out && users.len() < 3 {
        return Err(shape(format!(
            "{} users; leaving the impostor out of the negatives needs at least 3",
            users.len()
        )));
    }
    // With a variant that appends columns, every row carries them after the action features,
    // and the other variants and the one-class model see only the action features.
    let appended = appended_columns(variants)?;
    let (sessions, _, _) = super::featurise_with(&files, &base.segment, appended)?;
    let by_user = group(sessions);
    if let Some((user, s)) = by_user.iter().find(|(_, s)| s.len() < cv.folds) {
        return Err(shape(format!(
            "user {user} has {} training sessions, fewer than {} folds",
            s.len(),
            cv.folds
        )));
    }
    let slots_per_variant = AGGREGATES.len() * TREATMENTS.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(cv.seed);
    let mut records: Vec<Record> = Vec::new();
    for fold in 0..cv.folds {
        let (train_sessions, pieces) = split_fold(&by_user, fold, cv, appended, &mut rng)?;
        let features_only = super::action_columns;
        let plain = join(&train_sessions, features_only)?;
        let plain_pieces: Vec<Array2<f64>> =
            pieces.iter().map(|p| features_only(&p.rows)).collect();
        let with_appended = if appended.has_columns() {
            join(&train_sessions, |x| x.clone())?
        } else {
            Vec::new()
        };
        let any_relative = variants.iter().any(|v| v.params.relative_features);
        let (relative, relative_pieces) = if any_relative {
            // A generator of its own, so that the held-out pieces of later folds are the same
            // whether or not a variant uses relative features, and variants stay comparable
            // across runs with different variant lists.
            let mut stretches =
                Xoshiro256PlusPlus::seed_from_u64(cv.seed ^ (0x7265_6c00 + fold as u64));
            let relative = join(&train_sessions, |x| {
                relative_in_pieces(&features_only(x), cv.piece_actions, &mut stretches)
            })?;
            let rows: Vec<Array2<f64>> = plain_pieces.iter().map(append_relative).collect();
            (relative, rows)
        } else {
            (Vec::new(), Vec::new())
        };
        for claimed in 0..plain.len() {
            let one_class = RobustZ::fit(plain[claimed].view())?;
            let mut per_variant = Vec::with_capacity(variants.len());
            for variant in variants {
                let params = &variant.params;
                let train = if params.relative_features {
                    &relative
                } else if Appended::of(params).has_columns() {
                    &with_appended
                } else {
                    &plain
                };
                let others: Vec<&Array2<f64>> = train
                    .iter()
                    .enumerate()
                    .filter(|(u, _)| *u != claimed)
                    .map(|(_, x)| x)
                    .collect();
                let seed = params.seed ^ (fold * 1000 + claimed) as u64;
                let (forest, oob, labels) = fit_two_class(&train[claimed], &others, params, seed)?;
                // Per other user, the claimed user's model without that user's sessions.
                let strangers: Vec<Option<Classifier>> = if cv.leave_impostor_out {
                    (0..train.len())
                        .into_par_iter()
                        .map(|left_out| {
                            if left_out == claimed {
                                return Ok(None);
                            }
                            let rest: Vec<&Array2<f64>> = train
                                .iter()
                                .enumerate()
                                .filter(|(u, _)| *u != claimed && *u != left_out)
                                .map(|(_, x)| x)
                                .collect();
                            let seed = seed ^ ((left_out as u64 + 1) << 40);
                            fit_classifier(&train[claimed], &rest, params, seed).map(Some)
                        })
                        .collect::<Result<_>>()?
                } else {
                    Vec::new()
                };
                let trees = params.forest.n_trees;
                let calibrations = AGGREGATES
                    .iter()
                    .map(|&aggregate| {
                        let fixed = out_of_bag_calibration(&oob, &labels, 50, trees, aggregate)?;
                        let matched = super::CALIBRATION_LENGTHS
                            .iter()
                            .map(|&n| out_of_bag_calibration(&oob, &labels, n, trees, aggregate))
                            .collect::<Result<Vec<_>>>()?;
                        Ok((fixed, matched))
                    })
                    .collect::<Result<Vec<_>>>()?;
                per_variant.push((forest, strangers, calibrations));
            }
            let piece_scores = pieces
                .par_iter()
                .enumerate()
                .map(|(index, piece)| {
                    let mut out = Vec::with_capacity(variants.len() * slots_per_variant + 2);
                    for ((forest, strangers, calibrations), variant) in
                        per_variant.iter().zip(variants)
                    {
                        let model = strangers
                            .get(piece.author)
                            .and_then(Option::as_ref)
                            .unwrap_or(forest);
                        let rows = if variant.params.relative_features {
                            &relative_pieces[index]
                        } else if Appended::of(&variant.params).has_columns() {
                            &piece.rows
                        } else {
                            &plain_pieces[index]
                        };
                        let values = rows.as_standard_layout();
                        let values = values
                            .as_slice()
                            .expect("OK because as_standard_layout gives a contiguous array");
                        let probabilities = model.predict_proba_rows(values)?;
                        let trees = variant.params.forest.n_trees;
                        let length = super::calibration_length(probabilities.len());
                        for (aggregate, (fixed, matched)) in AGGREGATES.iter().zip(calibrations) {
                            let raw = session_score(&probabilities, trees, *aggregate)?;
                            out.push(raw);
                            out.push(-fixed.unbounded_llr(raw));
                            out.push(-matched[length].unbounded_llr(raw));
                        }
                    }
                    let per_action = plain_pieces[index]
                        .rows()
                        .into_iter()
                        .map(|r| one_class.score(&r.to_vec()))
                        .collect::<Result<Vec<f64>>>()?;
                    out.push(per_action.iter().sum::<f64>() / per_action.len() as f64);
                    out.push(one_class.session_shift(plain_pieces[index].view())?);
                    Ok((piece.author == claimed, out))
                })
                .collect::<Result<Vec<_>>>()?;
            for (piece, (genuine, values)) in piece_scores.into_iter().enumerate() {
                records.push(Record {
                    fold,
                    piece,
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
            for treatment in TREATMENTS {
                names.push(format!(
                    "{} / {} / {treatment}",
                    variant.name,
                    aggregate.name()
                ));
            }
        }
    }
    names.push("one-class robust z, mean per action".into());
    names.push("one-class session shift".into());
    let mut results: Vec<CvResult> = names
        .into_iter()
        .enumerate()
        .map(|(slot, variant)| {
            let scored: Vec<Scored> = records
                .iter()
                .map(|r| (r.claimed, r.genuine, r.values[slot]))
                .collect();
            result(variant, &scored)
        })
        .collect();
    // Cross-fitted calibrations of each raw aggregate, for comparison with the out-of-bag ones.
    let n_forest = variants.len() * slots_per_variant;
    // The first cross-fit's calibrated scores per raw aggregate, kept for the cohort rows.
    let mut plain_calibrated = Vec::new();
    for (index, (treatment, fit, ratio)) in CROSS_FITS.into_iter().enumerate() {
        for slot in (0..n_forest).step_by(TREATMENTS.len()) {
            let calibrated = cross_fitted(&records, slot, cv.folds, fit, ratio)?;
            let scored: Vec<Scored> = records
                .iter()
                .zip(&calibrated)
                .map(|(r, &value)| (r.claimed, r.genuine, value))
                .collect();
            let name = results[slot].variant.replace(TREATMENTS[0], treatment);
            results.push(result(name, &scored));
            if index == 0 {
                plain_calibrated.push((slot, calibrated));
            }
        }
    }
    // The plain cross-fitted calibration of each raw aggregate, normalised by the other
    // users' calibrated ratios for the same piece.
    let treatment = CROSS_FITS[0].0;
    for (slot, calibrated) in &plain_calibrated {
        let scored = cohort(&records, calibrated)?;
        let name = results[*slot]
            .variant
            .replace(TREATMENTS[0], &format!("{treatment}, cohort-normalised"));
        results.push(result(name, &scored));
    }
    // The raw mean-log-odds slot of variant `v`.
    let mean_log_odds = AGGREGATES
        .iter()
        .position(|&a| a == SessionAggregate::MeanLogOdds)
        .ok_or_else(|| Error::training("the aggregates compared lack the mean log odds"))?;
    let calibrated_of = |v: usize| {
        let slot = v * slots_per_variant + mean_log_odds * TREATMENTS.len();
        plain_calibrated
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, c)| c)
            .ok_or_else(|| Error::training(format!("missing cross-fitted scores for slot {slot}")))
    };
    for (fusion, &(a, b)) in fusions.iter().zip(&fused_members) {
        let (first, second) = (calibrated_of(a)?, calibrated_of(b)?);
        let scored: Vec<Scored> = records
            .iter()
            .zip(first.iter().zip(second))
            .map(|(r, (x, y))| (r.claimed, r.genuine, (x + y) / 2.0))
            .collect();
        results.push(result(
            format!(
                "{} / fused mean-log-odds, cross-fitted calibration",
                fusion.name
            ),
            &scored,
        ));
    }
    Ok(results)
}

/// One held-out piece scored as one claimed user in one fold.
struct Record {
    fold: usize,
    /// Index of the piece among the fold's pieces.
    piece: usize,
    claimed: usize,
    genuine: bool,
    values: Vec<f64>,
}

/// A score with its claimed user and whether the attempt was genuine.
pub(crate) type Scored = (usize, bool, f64);

fn result(variant: String, scored: &[Scored]) -> CvResult {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for &(_, g, value) in scored {
        if g { &mut genuine } else { &mut impostor }.push(value);
    }
    CvResult {
        variant,
        auc: balanced_auc(scored),
        auc_unweighted: auc(&genuine, &impostor),
    }
}

/// AUC (higher score = impostor) in which each claimed user's impostor scores carry the
/// weight `genuine_u / impostor_u`, so that every user's impostors weigh as much in total as
/// that user's genuine scores, as in a test set with balanced classes per user. Ties count
/// one half. NaN when either class is empty.
pub(crate) fn balanced_auc(scored: &[Scored]) -> f64 {
    let users = scored.iter().map(|s| s.0 + 1).max().unwrap_or(0);
    let mut counts = vec![(0usize, 0usize); users];
    for &(u, genuine, _) in scored {
        if genuine {
            counts[u].0 += 1;
        } else {
            counts[u].1 += 1;
        }
    }
    let weight = |u: usize, genuine: bool| -> f64 {
        if genuine {
            1.0
        } else {
            counts[u].0 as f64 / counts[u].1.max(1) as f64
        }
    };
    let mut sorted: Vec<Scored> = scored.to_vec();
    sorted.sort_by(|a, b| a.2.total_cmp(&b.2));
    let (mut genuine_below, mut pairs, mut impostor_total) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        let (mut genuine_here, mut impostor_here) = (0.0, 0.0);
        while j < sorted.len() && sorted[j].2 == sorted[i].2 {
            let w = weight(sorted[j].0, sorted[j].1);
            if sorted[j].1 {
                genuine_here += w;
            } else {
                impostor_here += w;
            }
            j += 1;
        }
        pairs += impostor_here * (genuine_below + genuine_here / 2.0);
        impostor_total += impostor_here;
        genuine_below += genuine_here;
        i = j;
    }
    if genuine_below == 0.0 || impostor_total == 0.0 {
        return f64::NAN;
    }
    pairs / (genuine_below * impostor_total)
}

/// A calibration fit from genuine and impostor scores.
type CalibrationFit = fn(&[f64], &[f64]) -> Result<ScoreCalibration>;

/// A log-likelihood ratio of a fitted calibration for a raw score.
type Ratio = fn(&ScoreCalibration, f64) -> f64;

/// Cross-fitted calibrations compared for every raw aggregate: normal fits with a spread per
/// class, the same made monotone, and normal fits with one pooled spread.
pub const CROSS_FITS: [(&str, CalibrationFit, Ratio); 3] = [
    (
        "cross-fitted calibration",
        ScoreCalibration::fit,
        ScoreCalibration::unbounded_llr,
    ),
    (
        "cross-fitted calibration, monotone",
        ScoreCalibration::fit,
        ScoreCalibration::monotone_llr,
    ),
    (
        "cross-fitted calibration, equal variances",
        ScoreCalibration::fit_equal_variance,
        ScoreCalibration::unbounded_llr,
    ),
];

/// Calibrates the scores in `slot` of each fold's records as minus a log-likelihood ratio of
/// normal fits (by `fit`, the ratio by `ratio`) to the same claimed user's genuine and
/// impostor scores in the other folds, so that no score calibrates itself. The result is
/// aligned with `records`.
fn cross_fitted(
    records: &[Record],
    slot: usize,
    folds: usize,
    fit: CalibrationFit,
    ratio: Ratio,
) -> Result<Vec<f64>> {
    let users = records.iter().map(|r| r.claimed + 1).max().unwrap_or(0);
    let mut out = vec![f64::NAN; records.len()];
    for fold in 0..folds {
        for user in 0..users {
            let others = |genuine: bool| -> Vec<f64> {
                records
                    .iter()
                    .filter(|r| r.fold != fold && r.claimed == user && r.genuine == genuine)
                    .map(|r| r.values[slot])
                    .collect()
            };
            let calibration = fit(&others(true), &others(false))?;
            for (index, r) in records.iter().enumerate() {
                if r.fold == fold && r.claimed == user {
                    out[index] = -ratio(&calibration, r.values[slot]);
                }
            }
        }
    }
    // A record outside the folds, or a calibration that gives NaN, would otherwise enter the
    // ROC as the lowest score.
    if let Some((r, _)) = records.iter().zip(&out).find(|(_, v)| v.is_nan()) {
        return Err(Error::training(format!(
            "cross-fitted calibration failed for a piece of fold {} claimed by user {}: its \
             score is NaN or the piece lies outside the folds",
            r.fold, r.claimed
        )));
    }
    Ok(out)
}

/// Scores each record by [`cohort_llr`] (as minus the ratio, higher = impostor) from the
/// cross-fitted scores `calibrated` (aligned with `records`) of the same piece under every
/// claimed user, with [`super::OUTSIDER_PRIOR`].
fn cohort(records: &[Record], calibrated: &[f64]) -> Result<Vec<Scored>> {
    let mut by_piece: std::collections::HashMap<(usize, usize), Vec<(usize, f64)>> =
        std::collections::HashMap::new();
    for (r, &value) in records.iter().zip(calibrated) {
        by_piece
            .entry((r.fold, r.piece))
            .or_default()
            .push((r.claimed, -value));
    }
    records
        .iter()
        .zip(calibrated)
        .map(|(r, &value)| {
            let others: Vec<f64> = by_piece[&(r.fold, r.piece)]
                .iter()
                .filter(|(user, _)| *user != r.claimed)
                .map(|&(_, llr)| llr)
                .collect();
            let llr = cohort_llr(-value, &others, super::OUTSIDER_PRIOR)?;
            Ok((r.claimed, r.genuine, -llr))
        })
        .collect()
}

/// Cuts `n` rows into consecutive ranges with lengths drawn log-uniformly from
/// `piece_actions`. A last range shorter than the shortest length is kept with `keep_tail`
/// and dropped without.
pub(crate) fn piece_ranges(
    n: usize,
    piece_actions: (usize, usize),
    keep_tail: bool,
    rng: &mut Xoshiro256PlusPlus,
) -> Vec<std::ops::Range<usize>> {
    let (shortest, longest) = piece_actions;
    let (low, high) = ((shortest.max(1) as f64).ln(), (longest.max(1) as f64).ln());
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let draw = if high > low {
            rng.gen_range(low..high)
        } else {
            low
        };
        let length = (draw.exp().round() as usize).clamp(shortest.max(1), longest.max(1));
        let end = (start + length).min(n);
        if end - start >= shortest || keep_tail {
            out.push(start..end);
        }
        start = end;
    }
    out
}

/// Transforms each user's training sessions by `transform` and joins them into one matrix.
fn join(
    train_sessions: &[Vec<&Array2<f64>>],
    mut transform: impl FnMut(&Array2<f64>) -> Array2<f64>,
) -> Result<Vec<Array2<f64>>> {
    train_sessions
        .iter()
        .map(|sessions| {
            let parts: Vec<Array2<f64>> = sessions.iter().map(|x| transform(x)).collect();
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            ndarray::concatenate(Axis(0), &views)
                .map_err(|e| Error::training(format!("joining action features: {e}")))
        })
        .collect()
}

/// Returns the columns that `variants` append at featurising time, all of one kind.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when one variant appends screen positions and another the
/// previous action's features, because every row carries the same appended columns.
fn appended_columns(variants: &[ForestVariant]) -> Result<Appended> {
    let mut kinds = variants
        .iter()
        .map(|v| Appended::of(&v.params))
        .filter(|a| a.has_columns());
    let Some(first) = kinds.next() else {
        return Ok(Appended::None);
    };
    if kinds.any(|other| other != first) {
        return Err(Error::InvalidParameter {
            name: "variants",
            value: "position_features and previous_action_features in different variants".into(),
            expected: "variants that append columns of one kind (cross-validate the other \
                       kind in a separate run)",
        });
    }
    Ok(first)
}

/// Each user's training sessions of one fold, in user order.
type FoldTraining<'a> = Vec<Vec<&'a Array2<f64>>>;

/// Returns each user's sessions outside fold `fold` (in user order) and cuts the sessions in
/// the fold into pieces with lengths drawn from `cv.piece_actions`.
///
/// With [`Appended::Previous`], the previous-action columns of each piece's first row are set
/// to zero, as for a recording's first action. Otherwise a piece of `k` actions would carry
/// `k + 1` actions of evidence, where a test session of `k` actions carries `k`.
fn split_fold<'a>(
    by_user: &'a [(String, Vec<Array2<f64>>)],
    fold: usize,
    cv: &CvParams,
    appended: Appended,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(FoldTraining<'a>, Vec<Piece>)> {
    let mut train = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    for (author, (_, sessions)) in by_user.iter().enumerate() {
        let (training_sessions, held_out): (Vec<_>, Vec<_>) = sessions
            .iter()
            .enumerate()
            .partition(|(i, _)| i % cv.folds != fold);
        train.push(training_sessions.into_iter().map(|(_, x)| x).collect());
        for (_, x) in held_out {
            for range in piece_ranges(x.nrows(), cv.piece_actions, false, rng) {
                let mut rows = x
                    .slice_axis(Axis(0), ndarray::Slice::from(range))
                    .to_owned();
                if appended == Appended::Previous
                    && let Some(mut first) = rows.rows_mut().into_iter().next()
                {
                    first
                        .slice_axis_mut(Axis(0), ndarray::Slice::from(N_FEATURES..))
                        .fill(0.0);
                }
                pieces.push(Piece { author, rows });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_start_without_previous_action() -> Result<()> {
        let columns = N_FEATURES + super::super::N_PREVIOUS;
        let session = || Array2::from_elem((60, columns), 1.0);
        let by_user = vec![("user1".to_string(), vec![session(), session()])];
        let cv = CvParams {
            folds: 2,
            piece_actions: (4, 10),
            ..CvParams::default()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let (_, pieces) = split_fold(&by_user, 0, &cv, Appended::Previous, &mut rng)?;
        assert!(!pieces.is_empty());
        for piece in &pieces {
            let first = piece.rows.row(0);
            assert!(first.iter().take(N_FEATURES).all(|&v| v == 1.0));
            assert!(first.iter().skip(N_FEATURES).all(|&v| v == 0.0));
            assert!(
                piece
                    .rows
                    .rows()
                    .into_iter()
                    .skip(1)
                    .flatten()
                    .all(|&v| v == 1.0)
            );
        }

        // Without previous-action columns nothing is zeroed.
        let (_, pieces) = split_fold(&by_user, 0, &cv, Appended::None, &mut rng)?;
        assert!(pieces.iter().all(|p| p.rows.iter().all(|&v| v == 1.0)));
        Ok(())
    }

    fn record(fold: usize, piece: usize, claimed: usize, genuine: bool) -> Record {
        Record {
            fold,
            piece,
            claimed,
            genuine,
            values: Vec::new(),
        }
    }

    #[test]
    fn cohort_pairs_ratios_of_same_piece() -> Result<()> {
        // Two folds with piece 0 each, scored as three users, in shuffled order. The
        // calibrated values are minus the ratios.
        let records = [
            record(1, 0, 2, false),
            record(0, 0, 1, false),
            record(1, 0, 0, true),
            record(0, 0, 0, true),
            record(1, 0, 1, false),
            record(0, 0, 2, false),
        ];
        let ratios = [-4.0, 1.0, 3.0, 2.0, 0.5, -1.0];
        let calibrated: Vec<f64> = ratios.iter().map(|l| -l).collect();
        let scored = cohort(&records, &calibrated)?;
        assert_eq!(scored.len(), records.len());
        // Fold 0, claimed user 0: own ratio 2, the others' 1 and -1.
        let expected = -cohort_llr(2.0, &[1.0, -1.0], super::super::OUTSIDER_PRIOR)?;
        assert_eq!(scored[3], (0, true, expected));
        // Fold 1, claimed user 2: own ratio -4, the others' 3 and 0.5.
        let expected = -cohort_llr(-4.0, &[3.0, 0.5], super::super::OUTSIDER_PRIOR)?;
        assert_eq!(scored[0], (2, false, expected));
        Ok(())
    }
}

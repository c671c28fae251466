//! Per-user score calibration and the per-user allow threshold for a target false-match rate.
//!
//! A modality's raw anomaly scores mean different things for different users. At enrolment the
//! engine fits two normal distributions per user and modality (with statrs): one to *genuine*
//! scores, obtained by k-fold cross-validation on the user's enrolment actions, and one to
//! *impostor* scores, obtained by scoring the background population's actions against the
//! user's model. A model fitted on the background itself (a two-class model) scores each
//! background person with a model fitted without that person instead
//! ([`cross_fitted_impostor_scores`]), and its two normals share one spread
//! ([`ScoreCalibration::fit_equal_variance`]). A raw score then becomes a log-likelihood
//! ratio (LLR) and a posterior with equal priors, which is the classification score the trust
//! model consumes. The window
//! statistic (see [`window`](super::window)) averages these posteriors, and
//! [`window_threshold`] sets the allow threshold on it from background windows.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Continuous, Normal};
use statrs::statistics::{Data, OrderStatistics, Statistics};

use super::modality::Modality;
use crate::error::{Error, Result};

/// Largest absolute LLR a single action can carry, so that one extreme action cannot swamp the
/// trust model and a score far in both tails does not produce infinities.
pub const MAX_LLR: f64 = 10.0;

/// Smallest standard deviation a fitted distribution may have, as a fraction of the pooled
/// spread; it keeps a near-constant score set from giving infinite densities.
const MIN_SD_FRACTION: f64 = 1e-3;

/// Normal fits of one user's genuine and impostor raw scores for one modality.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreCalibration {
    /// Mean of the genuine (cross-validated) scores.
    pub genuine_mean: f64,
    /// Standard deviation of the genuine scores.
    pub genuine_sd: f64,
    /// Mean of the impostor (background) scores.
    pub impostor_mean: f64,
    /// Standard deviation of the impostor scores.
    pub impostor_sd: f64,
}

impl ScoreCalibration {
    /// Fits the two normal distributions.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTrainingData`] when either set has fewer than two finite scores, or
    /// all scores are equal.
    pub fn fit(genuine: &[f64], impostor: &[f64]) -> Result<Self> {
        let finite = |v: &[f64]| {
            v.iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect::<Vec<_>>()
        };
        let (genuine, impostor) = (finite(genuine), finite(impostor));
        if genuine.len() < 2 || impostor.len() < 2 {
            return Err(Error::training(format!(
                "calibration needs at least 2 genuine and 2 impostor scores, got {} and {}",
                genuine.len(),
                impostor.len()
            )));
        }
        let pooled = genuine.iter().chain(&impostor).std_dev();
        // With every score equal the normal fits degenerate and the ratio would be NaN.
        if pooled.is_nan() || pooled <= 0.0 {
            return Err(Error::training(format!(
                "all {} calibration scores equal {}, so they cannot tell genuine from \
                 impostor; the model needs more varied training data",
                genuine.len() + impostor.len(),
                genuine[0]
            )));
        }
        let floor = (pooled * MIN_SD_FRACTION).max(f64::MIN_POSITIVE.sqrt());
        Ok(ScoreCalibration {
            genuine_mean: genuine.iter().mean(),
            genuine_sd: genuine.iter().std_dev().max(floor),
            impostor_mean: impostor.iter().mean(),
            impostor_sd: impostor.iter().std_dev().max(floor),
        })
    }

    /// Fits the two normal distributions with one standard deviation, the pooled within-class
    /// one: `sqrt(((n_g - 1) s_g² + (n_i - 1) s_i²) / (n_g + n_i - 2))`. With equal spreads the
    /// log-likelihood ratio is a linear, decreasing or increasing, function of the raw score,
    /// so it keeps the raw order within one user and only shifts and scales each user's
    /// scores.
    ///
    /// # Errors
    ///
    /// As [`ScoreCalibration::fit`].
    pub fn fit_equal_variance(genuine: &[f64], impostor: &[f64]) -> Result<Self> {
        let fitted = Self::fit(genuine, impostor)?;
        let count = |v: &[f64]| v.iter().filter(|x| x.is_finite()).count() as f64;
        let (n_g, n_i) = (count(genuine), count(impostor));
        let pooled = (((n_g - 1.0) * fitted.genuine_sd.powi(2)
            + (n_i - 1.0) * fitted.impostor_sd.powi(2))
            / (n_g + n_i - 2.0))
            .sqrt();
        Ok(ScoreCalibration {
            genuine_sd: pooled,
            impostor_sd: pooled,
            ..fitted
        })
    }

    /// Log-likelihood ratio of genuine over impostor for raw score `raw`, within
    /// `[-MAX_LLR, MAX_LLR]`.
    pub fn llr(&self, raw: f64) -> f64 {
        self.unbounded_llr(raw).clamp(-MAX_LLR, MAX_LLR)
    }

    /// Log-likelihood ratio of genuine over impostor for raw score `raw`, without the bound of
    /// [`llr`](Self::llr), for ranking scores where ties at the bound would lose order.
    ///
    /// Never NaN. An undefined ratio counts as impostor-like (`-f64::MAX`), so that it can
    /// never help a session toward Allow. The ratio is undefined for a NaN score, for an
    /// infinite one (both log densities are then `-inf`), and for one so far from both means
    /// that the squared distances overflow.
    pub fn unbounded_llr(&self, raw: f64) -> f64 {
        let genuine = Normal::new(self.genuine_mean, self.genuine_sd);
        let impostor = Normal::new(self.impostor_mean, self.impostor_sd);
        let ratio = match (genuine, impostor) {
            (Ok(g), Ok(i)) => g.ln_pdf(raw) - i.ln_pdf(raw),
            // Fitted means and deviations are finite and positive; a model loaded from a file
            // passed its checksum, so this only guards against a hand-made calibration.
            _ => 0.0,
        };
        if ratio.is_nan() { -f64::MAX } else { ratio }
    }

    /// Log-likelihood ratio of genuine over impostor for raw score `raw`, made monotone: it
    /// never rises while the score moves from the genuine mean towards the impostor mean and
    /// beyond.
    ///
    /// With unequal spreads, [`unbounded_llr`](Self::unbounded_llr) is a parabola in `raw`,
    /// and past its vertex the ratio turns back. The vertex lies beyond the mean of the class
    /// with the smaller spread. So with a narrow genuine normal, a score far more genuine-like
    /// than any genuine score would look impostor-like. Here a score past the vertex gets the
    /// ratio of the vertex. The region between the two means
    /// is never past the vertex, and there the ratio equals `unbounded_llr`.
    pub fn monotone_llr(&self, raw: f64) -> f64 {
        // A NaN score would fail both slope tests below and get the vertex's ratio.
        if raw.is_nan() {
            return self.unbounded_llr(raw);
        }
        let (g_var, i_var) = (self.genuine_sd.powi(2), self.impostor_sd.powi(2));
        // The slope of the ratio is `-(raw - genuine_mean) / g_var + (raw - impostor_mean) /
        // i_var`. Its sign must be the sign of `genuine_mean - impostor_mean`.
        let slope = -(raw - self.genuine_mean) / g_var + (raw - self.impostor_mean) / i_var;
        let expected_sign = self.genuine_mean - self.impostor_mean;
        if slope * expected_sign >= 0.0 || g_var == i_var {
            return self.unbounded_llr(raw);
        }
        let vertex =
            (self.genuine_mean / g_var - self.impostor_mean / i_var) / (1.0 / g_var - 1.0 / i_var);
        self.unbounded_llr(vertex)
    }

    /// Posterior probability that `raw` is genuine with equal priors: `1 / (1 + exp(-llr))`.
    pub fn posterior(&self, raw: f64) -> f64 {
        1.0 / (1.0 + (-self.llr(raw)).exp())
    }
}

/// Scores each enrolment action by a model trained on the other folds and on all of
/// `background`. The folds are contiguous blocks, so that neighbouring actions of one session
/// do not leak into their own test fold, and they are fitted in parallel. The result is
/// aligned with `actions`, with `None` where the model could not score an action.
///
/// # Errors
///
/// Whatever [`Modality::train`] returns for a fold.
pub fn cross_validated_scores<X: Modality>(
    modality: &X,
    actions: &[X::Action],
    folds: usize,
    background: &[Vec<&[X::Action]>],
) -> Result<Vec<Option<f64>>> {
    let folds = folds.clamp(2, actions.len().max(2));
    let fold_len = actions.len().div_ceil(folds).max(1);
    let starts: Vec<usize> = (0..actions.len()).step_by(fold_len).collect();
    let scored = starts
        .into_par_iter()
        .map(|start| {
            let end = (start + fold_len).min(actions.len());
            let mut train: Vec<X::Action> = actions[..start].to_vec();
            train.extend_from_slice(&actions[end..]);
            let model = modality.train(&train, background)?;
            Ok(actions[start..end]
                .iter()
                .map(|a| modality.score(&model, a))
                .collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(scored.into_iter().flatten().collect())
}

/// Scores every background session for the impostor calibration of a model that
/// [`Modality::uses_background`]. `person_of[s]`, in `0..people`, is the person of session
/// `sessions[s]`. The people are dealt round robin into `folds` groups (at least 2, at most
/// one per person). Each group's sessions are scored by a model fitted on `actions` and the
/// other groups' people only, so no person is scored by a model that was fitted on them, just
/// as an impostor from outside the background is not. The groups are fitted in parallel, and
/// the result is aligned with `sessions`.
///
/// # Errors
///
/// [`Error::InvalidTrainingData`] with fewer than two background people,
/// [`Error::InvalidParameter`] when `person_of` and `sessions` differ in length or a person
/// number is not below `people`, and whatever [`Modality::train`] returns for a group.
pub fn cross_fitted_impostor_scores<X: Modality>(
    modality: &X,
    actions: &[X::Action],
    folds: usize,
    sessions: &[&[X::Action]],
    person_of: &[usize],
    people: usize,
) -> Result<Vec<Vec<Option<f64>>>> {
    if people < 2 {
        return Err(Error::training(format!(
            "a {} model fitted against the background needs background sessions of at least \
             2 people to calibrate on people it was not fitted on, found {people}",
            X::NAME
        )));
    }
    if person_of.len() != sessions.len() || person_of.iter().any(|&p| p >= people) {
        return Err(Error::InvalidParameter {
            name: "person_of",
            value: format!(
                "{} numbers for {} sessions",
                person_of.len(),
                sessions.len()
            ),
            expected: "one person number below the person count per session",
        });
    }
    let groups = folds.clamp(2, people);
    let fitted = (0..groups)
        .into_par_iter()
        .map(|group| {
            let mut others: Vec<Vec<&[X::Action]>> = vec![Vec::new(); people];
            for (session, &person) in sessions.iter().zip(person_of) {
                if person % groups != group {
                    others[person].push(session);
                }
            }
            others.retain(|p| !p.is_empty());
            modality.train(actions, &others)
        })
        .collect::<Result<Vec<X::Model>>>()?;
    Ok(sessions
        .iter()
        .zip(person_of)
        .map(|(session, &person)| {
            let model = &fitted[person % groups];
            session.iter().map(|a| modality.score(model, a)).collect()
        })
        .collect())
}

/// Returns the threshold above which at most `target_fmr` of the impostor values lie (their
/// `1 - target_fmr` quantile); `None` when there are no impostor values.
pub fn threshold_for_fmr(impostor: &[f64], target_fmr: f64) -> Option<f64> {
    if impostor.is_empty() {
        return None;
    }
    let mut data = Data::new(impostor.to_vec());
    Some(data.quantile(1.0 - target_fmr))
}

/// Largest posterior one action can have: the posterior of an LLR of [`MAX_LLR`].
pub fn max_posterior() -> f64 {
    1.0 / (1.0 + (-MAX_LLR).exp())
}

/// Allow threshold that no window statistic exceeds, since a mean of posteriors is at most
/// [`max_posterior`], which is below 1. Models converted from older layouts and users whose
/// target false-match rate is out of reach get it.
pub const NEVER_ALLOW: f64 = 1.0;

/// Window statistics with a threshold estimated from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowThreshold {
    /// Allow threshold in `[0, 1]`; a session is allowed when its window statistic is above
    /// it, and [`NEVER_ALLOW`] when the target is out of reach.
    pub value: f64,
    /// Whether the impostor windows were too few for the quantile (fewer than
    /// `1 / target_fmr`), so that `value` is their maximum instead.
    pub from_maximum: bool,
}

/// Sets the allow threshold on the window statistic from impostor window statistics.
///
/// With at least `1 / target_fmr` impostor windows the threshold is their `1 - target_fmr`
/// quantile ([`threshold_for_fmr`]). With fewer, that quantile cannot be estimated, so the
/// threshold is the largest impostor value and no observed impostor window is allowed: the
/// smallest false-match rate the data can show. A threshold at or above [`max_posterior`] is
/// out of reach for any window and becomes [`NEVER_ALLOW`]. Non-finite values are ignored.
///
/// Returns `None` when there is no finite impostor value.
pub fn window_threshold(impostor: &[f64], target_fmr: f64) -> Option<WindowThreshold> {
    let finite: Vec<f64> = impostor.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let needed = (1.0 / target_fmr).ceil();
    let from_maximum = (finite.len() as f64) < needed;
    let value = if from_maximum {
        finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    } else {
        threshold_for_fmr(&finite, target_fmr)?
    };
    let value = if value >= max_posterior() {
        NEVER_ALLOW
    } else {
        value.clamp(0.0, NEVER_ALLOW)
    };
    Some(WindowThreshold {
        value,
        from_maximum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test modality whose actions are person numbers and whose model is the list of people
    /// it was fitted on: a score of 1 means the scored person was among them.
    #[derive(Debug, Default)]
    struct Seen {
        two_class: bool,
    }

    impl Modality for Seen {
        type Event = u32;
        type Action = u32;
        type Extractor = ();
        type Model = Vec<u32>;
        type EarlierModel = Vec<u32>;
        const NAME: &'static str = "seen";
        const SCHEMA: &'static str = "seen/v1";

        fn event_time_us(event: &u32) -> f64 {
            f64::from(*event)
        }
        fn extract(&self, _: &mut (), event: &u32, out: &mut Vec<u32>) {
            out.push(*event);
        }
        fn action_time_us(action: &u32) -> f64 {
            f64::from(*action)
        }
        fn action_timings(_: &u32, _: &mut Vec<f64>) {}
        fn train(&self, actions: &[u32], background: &[Vec<&[u32]>]) -> Result<Vec<u32>> {
            let mut seen: Vec<u32> = actions.to_vec();
            seen.extend(background.iter().flatten().flat_map(|s| s.iter()));
            Ok(seen)
        }
        fn uses_background(&self) -> bool {
            self.two_class
        }
        fn score(&self, model: &Vec<u32>, action: &u32) -> Option<f64> {
            Some(if model.contains(action) { 1.0 } else { 0.0 })
        }
        fn adapt(&self, model: &Vec<u32>, _: &[u32], _: f64) -> Result<Vec<u32>> {
            Ok(model.clone())
        }
    }

    #[test]
    fn impostor_scores_come_from_models_without_the_person() {
        let seen = Seen { two_class: true };
        // Five people; people 1 and 3 have two sessions each. An action is its person's number.
        let sessions: Vec<Vec<u32>> = vec![
            vec![100],
            vec![101, 101],
            vec![102],
            vec![101],
            vec![103, 103, 103],
            vec![104],
            vec![103],
        ];
        let person_of = [0, 1, 2, 1, 3, 4, 3];
        let slices: Vec<&[u32]> = sessions.iter().map(|s| &s[..]).collect();

        for folds in [2, 3, 5, 9] {
            let scores =
                cross_fitted_impostor_scores(&seen, &[7, 8], folds, &slices, &person_of, 5)
                    .unwrap();
            assert_eq!(scores.len(), sessions.len());
            for (session, scores) in sessions.iter().zip(&scores) {
                assert_eq!(scores.len(), session.len());
                assert!(
                    scores.iter().all(|&s| s == Some(0.0)),
                    "{folds} folds: {session:?} scored {scores:?}"
                );
            }
        }

        let error =
            cross_fitted_impostor_scores(&seen, &[7], 5, &slices[..1], &[0], 1).unwrap_err();
        assert!(error.to_string().contains("at least 2 people"), "{error}");

        let short = cross_fitted_impostor_scores(&seen, &[7], 2, &slices, &person_of[1..], 5);
        assert!(
            matches!(short, Err(Error::InvalidParameter { .. })),
            "{short:?}"
        );
        let beyond = cross_fitted_impostor_scores(&seen, &[7], 2, &slices, &person_of, 3);
        assert!(
            matches!(beyond, Err(Error::InvalidParameter { .. })),
            "{beyond:?}"
        );
    }

    #[test]
    fn cross_validated_scores_leave_each_block_out() {
        let seen = Seen::default();
        let actions: Vec<u32> = (0..10).collect();
        let background: Vec<Vec<&[u32]>> = vec![vec![&[50, 51]]];
        for folds in [1, 2, 3, 10, 40] {
            let scores = cross_validated_scores(&seen, &actions, folds, &background).unwrap();
            assert_eq!(scores, vec![Some(0.0); 10], "{folds} folds");
        }
    }

    #[test]
    fn llr_favours_the_nearer_distribution() {
        let genuine = [1.0, 1.2, 0.8, 1.1, 0.9];
        let impostor = [3.0, 3.5, 2.5, 3.2, 2.8];
        let cal = ScoreCalibration::fit(&genuine, &impostor).unwrap();
        assert!(cal.llr(1.0) > 0.0);
        assert!(cal.llr(3.0) < 0.0);
        assert!(cal.posterior(1.0) > 0.5);
        assert!(cal.llr(1e9).abs() <= MAX_LLR);
    }

    #[test]
    fn equal_variance_llr_is_linear() {
        let genuine = [1.0, 1.2, 0.8, 1.1, 0.9];
        let impostor = [3.0, 4.0, 2.0, 3.6, 2.4];
        let cal = ScoreCalibration::fit_equal_variance(&genuine, &impostor).unwrap();
        assert_eq!(cal.genuine_sd, cal.impostor_sd);
        // Sample variances 0.025 and 0.68, four degrees of freedom each.
        assert!((cal.genuine_sd - ((4.0 * 0.025 + 4.0 * 0.68) / 8.0_f64).sqrt()).abs() < 1e-12);
        let steps: Vec<f64> = [0.0, 1.0, 2.0, 3.0]
            .windows(2)
            .map(|w| cal.unbounded_llr(w[1]) - cal.unbounded_llr(w[0]))
            .collect();
        assert!(
            steps.iter().all(|s| (s - steps[0]).abs() < 1e-9),
            "{steps:?}"
        );
        assert!(steps[0] < 0.0, "higher scores look like the impostors");
        assert!(ScoreCalibration::fit_equal_variance(&[1.0], &[2.0, 3.0]).is_err());
    }

    #[test]
    fn monotone_llr_never_turns_back() {
        // Narrow genuine scores around 0, wide impostor scores around 5: the plain ratio
        // turns back for scores far below 0.
        let cal = ScoreCalibration {
            genuine_mean: 0.0,
            genuine_sd: 1.0,
            impostor_mean: 5.0,
            impostor_sd: 3.0,
        };
        assert!(cal.unbounded_llr(-20.0) < cal.unbounded_llr(-1.0));

        let scores: Vec<f64> = (-400..=400).map(|i| f64::from(i) * 0.1).collect();
        for pair in scores.windows(2) {
            let (low, high) = (cal.monotone_llr(pair[0]), cal.monotone_llr(pair[1]));
            assert!(
                low >= high,
                "{} gives {low}, {} gives {high}",
                pair[0],
                pair[1]
            );
        }
        for raw in [0.0, 1.0, 2.5, 5.0] {
            assert_eq!(cal.monotone_llr(raw), cal.unbounded_llr(raw), "{raw}");
        }

        // Wider genuine scores: the impostor side is the one that would turn back.
        let wide = ScoreCalibration {
            genuine_sd: 3.0,
            impostor_sd: 1.0,
            ..cal
        };
        assert!(wide.unbounded_llr(30.0) > wide.unbounded_llr(6.0));
        assert!(wide.monotone_llr(30.0) <= wide.monotone_llr(6.0));

        let equal = ScoreCalibration {
            genuine_sd: 2.0,
            impostor_sd: 2.0,
            ..cal
        };
        assert_eq!(equal.monotone_llr(-20.0), equal.unbounded_llr(-20.0));
    }

    #[test]
    fn llr_is_never_nan() {
        let cal = ScoreCalibration {
            genuine_mean: 0.0,
            genuine_sd: 1e-3,
            impostor_mean: 5.0,
            impostor_sd: 1e-3,
        };
        // Far out, the ratio still favours the nearer mean.
        let far = cal.unbounded_llr(1e6);
        assert!(far.is_finite(), "{far}");
        assert!(far < 0.0, "{far}");
        assert!(cal.unbounded_llr(-1e6) > 0.0);
        assert_eq!(cal.llr(-1e6), MAX_LLR);
        // An undefined ratio counts as impostor-like.
        assert_eq!(cal.unbounded_llr(f64::NAN), -f64::MAX);
        assert_eq!(cal.unbounded_llr(f64::INFINITY), -f64::MAX);
        assert_eq!(cal.unbounded_llr(f64::NEG_INFINITY), -f64::MAX);
        assert_eq!(cal.monotone_llr(f64::NAN), -f64::MAX);
        let wide = ScoreCalibration {
            genuine_sd: 3.0,
            ..cal
        };
        assert_eq!(wide.monotone_llr(f64::NAN), -f64::MAX);
        assert_eq!(cal.llr(f64::NAN), -MAX_LLR);
        assert!(cal.posterior(f64::NAN) < 0.5);
        let broken = ScoreCalibration {
            genuine_sd: f64::NAN,
            ..cal
        };
        assert!(!broken.llr(1.0).is_nan());
    }

    #[test]
    fn fit_rejects_equal_scores() {
        let error = ScoreCalibration::fit(&[0.5, 0.5], &[0.5, 0.5, 0.5]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("all 5 calibration scores equal 0.5"),
            "{error}"
        );
    }

    #[test]
    fn fit_rejects_too_few_scores() {
        assert!(ScoreCalibration::fit(&[1.0], &[2.0, 3.0]).is_err());
        assert!(ScoreCalibration::fit(&[1.0, f64::NAN], &[2.0, 3.0]).is_err());
    }

    #[test]
    fn constant_scores_get_finite_calibration() {
        let cal = ScoreCalibration::fit(&[1.0, 1.0, 1.0], &[2.0, 2.0, 2.0]).unwrap();
        assert!(cal.llr(1.0).is_finite());
        assert!(cal.genuine_sd > 0.0);
    }

    #[test]
    fn threshold_bounds_impostor_fraction() {
        let trust: Vec<f64> = (0..1000).map(f64::from).collect();
        let t = threshold_for_fmr(&trust, 0.01).unwrap();
        let above = trust.iter().filter(|&&x| x > t).count();
        assert!(above <= 10, "{above} impostor values above {t}");
        assert!(above >= 5, "{above}");
        assert_eq!(threshold_for_fmr(&[], 0.01), None);
    }

    #[test]
    fn window_threshold_uses_quantile_with_enough_windows() {
        let impostor: Vec<f64> = (0..1000).map(|i| f64::from(i) / 2000.0).collect();
        let t = window_threshold(&impostor, 0.01).unwrap();
        assert!(!t.from_maximum);
        let above = impostor.iter().filter(|&&x| x > t.value).count();
        assert!(above <= 10, "{above} impostor windows above {}", t.value);
        assert!(above >= 5, "{above}");
    }

    #[test]
    fn window_threshold_falls_back_to_maximum() {
        // 99 windows are fewer than 1 / 0.01.
        let impostor: Vec<f64> = (0..99).map(|i| f64::from(i) / 200.0).collect();
        let t = window_threshold(&impostor, 0.01).unwrap();
        assert!(t.from_maximum);
        assert_eq!(t.value, 98.0 / 200.0);
        assert!(impostor.iter().all(|&x| x <= t.value));
    }

    #[test]
    fn window_threshold_without_impostors_is_none() {
        assert_eq!(window_threshold(&[], 0.01), None);
        assert_eq!(window_threshold(&[f64::NAN, f64::INFINITY], 0.01), None);
    }

    #[test]
    fn saturated_impostors_make_threshold_unreachable() {
        let impostor = vec![max_posterior(); 500];
        let t = window_threshold(&impostor, 0.01).unwrap();
        assert_eq!(t.value, NEVER_ALLOW);
        assert!(max_posterior() < NEVER_ALLOW);
    }
}

//! Per-user score calibration and the per-user trust threshold for a target false-match rate.
//!
//! A modality's raw anomaly scores mean different things for different users. At enrolment the
//! engine fits two normal distributions per user and modality (with statrs): one to *genuine*
//! scores, obtained by k-fold cross-validation on the user's enrolment actions, and one to
//! *impostor* scores, obtained by scoring the background population's actions against the
//! user's model. A raw score then becomes a log-likelihood ratio (LLR) and a posterior with
//! equal priors, which is the classification score the trust model consumes.

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
    /// [`Error::InvalidTrainingData`] when either set has fewer than two finite scores.
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
        let floor = (pooled * MIN_SD_FRACTION).max(f64::MIN_POSITIVE.sqrt());
        Ok(ScoreCalibration {
            genuine_mean: genuine.iter().mean(),
            genuine_sd: genuine.iter().std_dev().max(floor),
            impostor_mean: impostor.iter().mean(),
            impostor_sd: impostor.iter().std_dev().max(floor),
        })
    }

    /// Log-likelihood ratio of genuine over impostor for raw score `raw`, within
    /// `[-MAX_LLR, MAX_LLR]`.
    pub fn llr(&self, raw: f64) -> f64 {
        let genuine = Normal::new(self.genuine_mean, self.genuine_sd);
        let impostor = Normal::new(self.impostor_mean, self.impostor_sd);
        match (genuine, impostor) {
            (Ok(g), Ok(i)) => (g.ln_pdf(raw) - i.ln_pdf(raw)).clamp(-MAX_LLR, MAX_LLR),
            // Fitted means and deviations are finite and positive; a model loaded from a file
            // passed its checksum, so this only guards against a hand-made calibration.
            _ => 0.0,
        }
    }

    /// Posterior probability that `raw` is genuine with equal priors: `1 / (1 + exp(-llr))`.
    pub fn posterior(&self, raw: f64) -> f64 {
        1.0 / (1.0 + (-self.llr(raw)).exp())
    }
}

/// Scores each enrolment action by a model trained on the other folds (contiguous blocks, so
/// that neighbouring actions of one session do not leak into their own test fold); the result
/// is aligned with `actions`, `None` where the model could not score an action.
///
/// # Errors
///
/// Whatever [`Modality::train`] returns for a fold.
pub fn cross_validated_scores<X: Modality>(
    modality: &X,
    actions: &[X::Action],
    folds: usize,
) -> Result<Vec<Option<f64>>> {
    let folds = folds.clamp(2, actions.len().max(2));
    let fold_len = actions.len().div_ceil(folds);
    let mut scores = Vec::with_capacity(actions.len());
    for start in (0..actions.len()).step_by(fold_len.max(1)) {
        let end = (start + fold_len).min(actions.len());
        let mut train: Vec<X::Action> = actions[..start].to_vec();
        train.extend_from_slice(&actions[end..]);
        let model = modality.train(&train)?;
        scores.extend(
            actions[start..end]
                .iter()
                .map(|a| modality.score(&model, a)),
        );
    }
    Ok(scores)
}

/// Returns the trust threshold above which at most `target_fmr` of the impostor trust values
/// lie; `None` when there are no impostor values.
pub fn threshold_for_fmr(impostor_trust: &[f64], target_fmr: f64) -> Option<f64> {
    if impostor_trust.is_empty() {
        return None;
    }
    let mut data = Data::new(impostor_trust.to_vec());
    Some(data.quantile(1.0 - target_fmr))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

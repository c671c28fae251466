//! Weighted sum of normalised detector scores.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evaluation::metrics::error_rates;

/// A fitted score fusion: `sum_i w_i (s_i - location_i) / scale_i`.
///
/// Locations and scales are the median and interquartile range of the fitting set's impostor
/// scores. The weights come from a grid search over the simplex in steps of 0.1, which keeps
/// the weights with the lowest pooled EER on the fitting set. Fit it on scores that
/// are disjoint from the ones it will fuse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// Per-detector location.
    pub location: Vec<f64>,
    /// Per-detector scale.
    pub scale: Vec<f64>,
    /// Per-detector weight; non-negative, summing to 1.
    pub weights: Vec<f64>,
    /// Pooled EER of the chosen weights on the fitting set.
    pub fit_eer: f64,
}

/// Number of grid steps per unit weight in the weight search (step 0.1).
const STEPS: usize = 10;

impl Fusion {
    /// Fits the fusion; `genuine[i]` and `impostor[i]` are per-detector score lists of one
    /// detector (all detectors scored on the same attempts in the same order).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTrainingData`] when the lists are empty or of unequal lengths, or
    /// contain NaN.
    pub fn fit(genuine: &[Vec<f64>], impostor: &[Vec<f64>]) -> Result<Fusion> {
        let d = genuine.len();
        if d == 0 || impostor.len() != d {
            return Err(Error::training(
                "fusion needs the same detectors in both score lists",
            ));
        }
        let (ng, ni) = (genuine[0].len(), impostor[0].len());
        if ng == 0 || ni == 0 {
            return Err(Error::training("fusion needs genuine and impostor scores"));
        }
        if genuine.iter().any(|g| g.len() != ng) || impostor.iter().any(|i| i.len() != ni) {
            return Err(Error::training(
                "every detector must score the same attempts",
            ));
        }
        if genuine.iter().chain(impostor).flatten().any(|v| v.is_nan()) {
            return Err(Error::training("fusion scores contain NaN"));
        }
        let mut location = Vec::with_capacity(d);
        let mut scale = Vec::with_capacity(d);
        for scores in impostor {
            let mut sorted = scores.clone();
            sorted.sort_by(f64::total_cmp);
            let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
            location.push(q(0.5));
            scale.push((q(0.75) - q(0.25)).max(1e-9));
        }
        let mut best = Fusion {
            location,
            scale,
            weights: vec![0.0; d],
            fit_eer: f64::INFINITY,
        };
        let mut weights = vec![0usize; d];
        search(&mut weights, 0, STEPS, &mut |w| {
            let wf: Vec<f64> = w.iter().map(|&k| k as f64 / STEPS as f64).collect();
            let candidate = Fusion {
                weights: wf,
                ..best.clone()
            };
            let fuse = |lists: &[Vec<f64>], n: usize| -> Vec<f64> {
                (0..n)
                    .map(|j| {
                        candidate.combine_unchecked(&lists.iter().map(|l| l[j]).collect::<Vec<_>>())
                    })
                    .collect()
            };
            let eer = error_rates(&fuse(genuine, ng), &fuse(impostor, ni)).map(|r| r.eer);
            // Scores were checked for NaN and emptiness above, so the rates exist.
            if let Ok(eer) = eer
                && eer < best.fit_eer
            {
                best = Fusion {
                    fit_eer: eer,
                    ..candidate
                };
            }
        });
        Ok(best)
    }

    /// Combines one attempt's per-detector scores.
    ///
    /// # Errors
    ///
    /// [`Error::DimensionMismatch`] when the number of scores differs from the fitted one,
    /// [`Error::InvalidModel`] when `location`, `scale` and `weights` differ in length (a
    /// corrupt model file), and [`Error::NonFiniteScore`] when the result is NaN or infinite.
    pub fn combine(&self, scores: &[f64]) -> Result<f64> {
        let d = self.weights.len();
        if self.location.len() != d || self.scale.len() != d {
            return Err(Error::InvalidModel {
                problem: format!(
                    "fusion has {} locations, {} scales and {d} weights",
                    self.location.len(),
                    self.scale.len()
                ),
            });
        }
        if scores.len() != d {
            return Err(Error::DimensionMismatch {
                expected: d,
                actual: scores.len(),
            });
        }
        crate::detectors::finite_score(self.combine_unchecked(scores))
    }

    fn combine_unchecked(&self, scores: &[f64]) -> f64 {
        scores
            .iter()
            .zip(&self.weights)
            .zip(self.location.iter().zip(&self.scale))
            .map(|((s, w), (l, c))| w * (s - l) / c)
            .sum()
    }
}

/// Calls `visit` with every split of `left` grid steps over `weights[index..]`.
fn search(weights: &mut [usize], index: usize, left: usize, visit: &mut impl FnMut(&[usize])) {
    if index == weights.len() - 1 {
        weights[index] = left;
        visit(weights);
        return;
    }
    for k in 0..=left {
        weights[index] = k;
        search(weights, index + 1, left - k, visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_prefers_informative_detector() {
        // Detector 0 separates the classes. Detector 1 scatters genuine scores far to both
        // sides of the impostors', so any weight on it breaks the separation.
        let genuine = vec![vec![0.0, 0.1, 0.2, 0.3], vec![-100.0, 100.0, -90.0, 90.0]];
        let impostor = vec![vec![1.0, 1.1, 1.2, 1.3], vec![0.0, 0.1, 0.2, 0.3]];
        let f = Fusion::fit(&genuine, &impostor).expect("valid scores");
        assert_eq!(f.fit_eer, 0.0, "{f:?}");
        assert_eq!(f.weights, vec![1.0, 0.0]);
        assert!((f.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fusion_rejects_bad_input() {
        assert!(Fusion::fit(&[], &[]).is_err());
        assert!(Fusion::fit(&[vec![1.0]], &[vec![]]).is_err());
        assert!(Fusion::fit(&[vec![1.0], vec![1.0, 2.0]], &[vec![1.0], vec![1.0]]).is_err());
        assert!(Fusion::fit(&[vec![f64::NAN]], &[vec![1.0]]).is_err());
        let f = Fusion::fit(&[vec![0.0]], &[vec![1.0]]).expect("valid");
        assert!(matches!(
            f.combine(&[1.0, 2.0]),
            Err(Error::DimensionMismatch { .. })
        ));
    }
}

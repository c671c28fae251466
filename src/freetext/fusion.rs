//! Weighted sum of normalised detector scores.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evaluation::metrics::error_rates;
use crate::store::Rejection;

/// A fitted score fusion: `sum_i w_i (s_i - location_i) / scale_i`.
///
/// Locations and scales are the median and interquartile range of the fitting set's impostor
/// scores. The weights come from a grid search over the simplex in steps of 0.1, which keeps
/// the weights with the lowest pooled EER ([`Fusion::fit`]) or mean per-user EER
/// ([`Fusion::fit_per_user`]) on the fitting set. Fit it on scores that are disjoint from the
/// ones it will fuse.
///
/// Decoding rejects lists of different lengths, locations and weights that are not finite,
/// and scales that are not positive and finite. The fields are public, so [`Fusion::combine`]
/// still checks the lengths of a fusion built in code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FusionFields")]
pub struct Fusion {
    /// Per-detector location.
    pub location: Vec<f64>,
    /// Per-detector scale.
    pub scale: Vec<f64>,
    /// Per-detector weight; non-negative, summing to 1.
    pub weights: Vec<f64>,
    /// EER of the chosen weights on the fitting set: pooled, or the mean per user.
    pub fit_eer: f64,
}

/// The serialised fields of a [`Fusion`], before the structural check.
#[derive(Deserialize)]
struct FusionFields {
    location: Vec<f64>,
    scale: Vec<f64>,
    weights: Vec<f64>,
    fit_eer: f64,
}

impl TryFrom<FusionFields> for Fusion {
    type Error = Rejection;

    fn try_from(f: FusionFields) -> Result<Self, Rejection> {
        let d = f.weights.len();
        if f.location.len() != d || f.scale.len() != d {
            return Err(Rejection::from(format!(
                "fusion has {} locations, {} scales and {d} weights",
                f.location.len(),
                f.scale.len()
            )));
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !finite(&f.location) || !finite(&f.weights) {
            return Err(Rejection::from(
                "fusion has a location or weight that is not finite",
            ));
        }
        if let Some(s) = f.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Rejection::from(format!(
                "fusion has scale {s}; scales must be positive and finite"
            )));
        }
        Ok(Fusion {
            location: f.location,
            scale: f.scale,
            weights: f.weights,
            fit_eer: f.fit_eer,
        })
    }
}

/// One user's `(genuine, impostor)` per-detector score lists, for [`Fusion::fit_per_user`].
pub type UserScores = (Vec<Vec<f64>>, Vec<Vec<f64>>);

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
        let mut best = Fusion::normalisation(genuine, impostor)?;
        let (ng, ni) = (genuine[0].len(), impostor[0].len());
        let mut weights = vec![0usize; genuine.len()];
        search(&mut weights, 0, STEPS, &mut |w| {
            let candidate = best.with_grid_weights(w);
            let eer = error_rates(
                &candidate.fuse_lists(genuine, ng),
                &candidate.fuse_lists(impostor, ni),
            )
            .map(|r| r.eer);
            // Scores were checked for NaN and emptiness, so the rates exist.
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

    /// Fits the fusion with weights that minimise the mean of per-user EERs rather than the
    /// pooled EER, so a user's scores are only compared with that user's. `users[u]` is the
    /// `(genuine, impostor)` per-detector score lists of user `u`, shaped as for
    /// [`Fusion::fit`]. Locations and scales come from all users' impostor scores pooled.
    /// [`Fusion::fit_eer`] is then the mean per-user EER; users without both genuine and
    /// impostor scores are left out of it.
    ///
    /// # Errors
    ///
    /// As [`Fusion::fit`], for the pooled lists and for each user's lists.
    pub fn fit_per_user(users: &[UserScores]) -> Result<Fusion> {
        let d = users.first().map_or(0, |u| u.0.len());
        let mut genuine = vec![Vec::new(); d];
        let mut impostor = vec![Vec::new(); d];
        for (g, i) in users {
            if g.len() != d || i.len() != d {
                return Err(Error::training(
                    "fusion needs the same detectors in every user's score lists",
                ));
            }
            for k in 0..d {
                genuine[k].extend_from_slice(&g[k]);
                impostor[k].extend_from_slice(&i[k]);
            }
        }
        let mut best = Fusion::normalisation(&genuine, &impostor)?;
        // Per user: attempt counts, after checking every detector scored the same attempts.
        let mut sizes = Vec::with_capacity(users.len());
        for (g, i) in users {
            let (ng, ni) = (g[0].len(), i[0].len());
            if g.iter().any(|l| l.len() != ng) || i.iter().any(|l| l.len() != ni) {
                return Err(Error::training(
                    "every detector must score the same attempts",
                ));
            }
            sizes.push((ng, ni));
        }
        let mut weights = vec![0usize; d];
        search(&mut weights, 0, STEPS, &mut |w| {
            let candidate = best.with_grid_weights(w);
            let mut sum = 0.0;
            let mut count = 0usize;
            for ((g, i), &(ng, ni)) in users.iter().zip(&sizes) {
                if ng == 0 || ni == 0 {
                    continue;
                }
                let rates = error_rates(&candidate.fuse_lists(g, ng), &candidate.fuse_lists(i, ni));
                // Scores were checked for NaN above and both lists are non-empty.
                if let Ok(r) = rates {
                    sum += r.eer;
                    count += 1;
                }
            }
            if count > 0 && sum / (count as f64) < best.fit_eer {
                best = Fusion {
                    fit_eer: sum / count as f64,
                    ..candidate
                };
            }
        });
        Ok(best)
    }

    /// Checks the pooled score lists and returns a fusion with their impostor locations and
    /// scales, zero weights and an infinite `fit_eer`.
    fn normalisation(genuine: &[Vec<f64>], impostor: &[Vec<f64>]) -> Result<Fusion> {
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
        Ok(Fusion {
            location,
            scale,
            weights: vec![0.0; d],
            fit_eer: f64::INFINITY,
        })
    }

    /// This fusion's normalisation with grid weights `w` (in steps of `1 / STEPS`).
    fn with_grid_weights(&self, w: &[usize]) -> Fusion {
        Fusion {
            weights: w.iter().map(|&k| k as f64 / STEPS as f64).collect(),
            ..self.clone()
        }
    }

    /// Fused scores of the first `n` attempts of per-detector lists.
    fn fuse_lists(&self, lists: &[Vec<f64>], n: usize) -> Vec<f64> {
        (0..n)
            .map(|j| self.combine_unchecked(&lists.iter().map(|l| l[j]).collect::<Vec<_>>()))
            .collect()
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
    fn per_user_fusion_ignores_user_offsets() {
        // Detector 1 separates each user's genuine from impostor scores but sits at a
        // different level per user, so pooled it overlaps. Detector 0 is noise.
        let users = vec![
            (
                vec![vec![0.5, 0.0], vec![0.0, 0.1]],
                vec![vec![0.2, 0.4], vec![1.0, 1.1]],
            ),
            (
                vec![vec![0.1, 0.6], vec![10.0, 10.1]],
                vec![vec![0.3, 0.2], vec![11.0, 11.1]],
            ),
        ];
        let f = Fusion::fit_per_user(&users).expect("valid scores");
        assert_eq!(f.fit_eer, 0.0, "{f:?}");
        assert_eq!(f.weights, vec![0.0, 1.0]);
    }

    #[test]
    fn per_user_fusion_matches_naive_mean() {
        // Naive reference: fuse each user's attempts by hand with the chosen weights and
        // average the per-user EERs.
        let users = vec![
            (
                vec![vec![0.1, 0.7, 0.3], vec![0.4, 0.2, 0.9]],
                vec![vec![0.5, 0.9], vec![0.3, 0.8]],
            ),
            (
                vec![vec![0.2, 0.6], vec![0.1, 0.5]],
                vec![vec![0.4, 0.8, 0.3], vec![0.7, 0.2, 0.6]],
            ),
        ];
        let f = Fusion::fit_per_user(&users).expect("valid scores");
        let mut total = 0.0;
        for (g, i) in &users {
            let fuse = |lists: &Vec<Vec<f64>>| -> Vec<f64> {
                (0..lists[0].len())
                    .map(|j| f.combine(&[lists[0][j], lists[1][j]]).expect("two scores"))
                    .collect()
            };
            total += error_rates(&fuse(g), &fuse(i)).expect("rates").eer;
        }
        assert!((f.fit_eer - total / 2.0).abs() < 1e-12, "{f:?}");
    }

    #[test]
    fn per_user_fusion_rejects_bad_input() {
        assert!(Fusion::fit_per_user(&[]).is_err());
        let ragged = vec![
            (vec![vec![0.1], vec![0.2]], vec![vec![0.3], vec![0.4]]),
            (vec![vec![0.1]], vec![vec![0.3]]),
        ];
        assert!(Fusion::fit_per_user(&ragged).is_err());
        let uneven = vec![(vec![vec![0.1], vec![0.2, 0.3]], vec![vec![0.3], vec![0.4]])];
        assert!(Fusion::fit_per_user(&uneven).is_err());
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

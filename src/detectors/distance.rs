//! Detectors that compare a sample with per-feature statistics of the training vectors.

use ndarray::{Array1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::VectorDetector;
use crate::linalg::column_means;
use crate::store::Rejection;

/// Smallest per-feature spread used for scaling, in seconds.
const MIN_SPREAD_SECONDS: f64 = 1e-6;

/// Distance measure that [`MeanDistance`] applies to the mean vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// `sum (x_i - m_i)^2`.
    Euclidean,
    /// `sum (x_i - m_i)^2 / (|x| |m|)`.
    EuclideanNormed,
    /// `sum |x_i - m_i|`.
    Manhattan,
    /// `sum |x_i - m_i| / a_i`, with `a_i` the mean absolute deviation of feature `i` from its
    /// mean in training (Araújo et al. 2005, as used in DSN-2009).
    ManhattanScaled,
}

/// Distance from the training mean vector.
///
/// Covers five DSN-2009 detectors: `euclidean`, `euclidean-normed`, `manhattan`,
/// `manhattan-scaled`, and `manhattan-filtered`, which is `manhattan` with a mean computed after
/// dropping outlying training values (see `MeanDistance::fit_filtered`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MeanDistanceFields")]
pub struct MeanDistance {
    metric: Metric,
    mean: Vec<f64>,
    /// Per-feature multiplier: `1 / a_i` for the scaled metric, 1 otherwise.
    weight: Vec<f64>,
    mean_norm: f64,
}

/// The serialised fields of a [`MeanDistance`], before the shape check.
#[derive(Deserialize)]
struct MeanDistanceFields {
    metric: Metric,
    mean: Vec<f64>,
    weight: Vec<f64>,
    mean_norm: f64,
}

impl TryFrom<MeanDistanceFields> for MeanDistance {
    type Error = Rejection;

    /// Rejects a model without features or with a weight per feature missing: the scaled
    /// metric indexes `weight` by feature, so a shorter list panicked in scoring. Non-finite
    /// values are left to scoring, which reports them as [`crate::Error::NonFiniteScore`].
    fn try_from(f: MeanDistanceFields) -> Result<Self, Rejection> {
        if f.mean.is_empty() || f.weight.len() != f.mean.len() {
            return Err(Rejection::from(format!(
                "mean-distance model has {} means and {} weights; expected the same number, at \
                 least 1",
                f.mean.len(),
                f.weight.len()
            )));
        }
        Ok(MeanDistance {
            metric: f.metric,
            mean: f.mean,
            weight: f.weight,
            mean_norm: f.mean_norm,
        })
    }
}

impl MeanDistance {
    pub(crate) fn fit(train: ArrayView2<'_, f64>, metric: Metric) -> Self {
        let mean = column_means(train);
        let weight = match metric {
            Metric::ManhattanScaled => {
                let mad = (&train - &mean)
                    .mapv(f64::abs)
                    .mean_axis(Axis(0))
                    .unwrap_or_default();
                // A deviation below one microsecond is finer than any keyboard clock, so it is
                // raised to that floor: a feature that was constant in training (up to rounding
                // noise) must not get a near-infinite weight.
                mad.mapv(|a| 1.0 / a.max(MIN_SPREAD_SECONDS)).to_vec()
            }
            _ => vec![1.0; train.ncols()],
        };
        Self::from_parts(metric, mean, weight)
    }

    /// Fits `manhattan-filtered`: for each feature, training values further than `filter_sd`
    /// sample standard deviations from the feature mean are dropped and the mean is recomputed
    /// from the rest.
    pub(crate) fn fit_filtered(train: ArrayView2<'_, f64>, filter_sd: f64) -> Self {
        let mean = column_means(train);
        let sd = train.std_axis(Axis(0), 1.0);
        let filtered: Array1<f64> = train
            .axis_iter(Axis(1))
            .enumerate()
            .map(|(j, column)| {
                let limit = filter_sd * sd[j];
                let kept: Vec<f64> = column
                    .iter()
                    .copied()
                    .filter(|v| (v - mean[j]).abs() <= limit)
                    .collect();
                if kept.is_empty() {
                    mean[j]
                } else {
                    kept.iter().sum::<f64>() / kept.len() as f64
                }
            })
            .collect();
        Self::from_parts(Metric::Manhattan, filtered, vec![1.0; train.ncols()])
    }

    fn from_parts(metric: Metric, mean: Array1<f64>, weight: Vec<f64>) -> Self {
        let mean_norm = mean.dot(&mean).sqrt();
        MeanDistance {
            metric,
            mean: mean.to_vec(),
            weight,
            mean_norm,
        }
    }

    /// Returns the distance measure.
    pub fn metric(&self) -> Metric {
        self.metric
    }
}

impl VectorDetector for MeanDistance {
    fn dimension(&self) -> usize {
        self.mean.len()
    }

    #[inline]
    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let mean = &self.mean[..x.len()];
        match self.metric {
            Metric::Euclidean => x.iter().zip(mean).map(|(a, m)| (a - m) * (a - m)).sum(),
            Metric::EuclideanNormed => {
                let distance: f64 = x.iter().zip(mean).map(|(a, m)| (a - m) * (a - m)).sum();
                let norm = x.iter().map(|a| a * a).sum::<f64>().sqrt();
                let denominator = norm * self.mean_norm;
                if denominator > 0.0 {
                    distance / denominator
                } else {
                    f64::MAX
                }
            }
            Metric::Manhattan => x.iter().zip(mean).map(|(a, m)| (a - m).abs()).sum(),
            Metric::ManhattanScaled => {
                let weight = &self.weight[..x.len()];
                let mut total = 0.0;
                for i in 0..x.len() {
                    total += (x[i] - mean[i]).abs() * weight[i];
                }
                total
            }
        }
    }
}

/// Number of features whose z-score exceeds a threshold (Haider, Abbas & Zaidi 2000, as used in
/// DSN-2009 with a threshold of 1.96).
///
/// The z-score uses the training mean and sample standard deviation of each feature. A
/// constant training feature counts as an outlier whenever the test value differs from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlierCount {
    mean: Vec<f64>,
    /// `z * sd` per feature: a deviation larger than this is an outlier.
    limit: Vec<f64>,
}

impl OutlierCount {
    pub(crate) fn fit(train: ArrayView2<'_, f64>, z: f64) -> Self {
        let mean = column_means(train).to_vec();
        let limit = train.std_axis(Axis(0), 1.0).mapv(|s| z * s).to_vec();
        OutlierCount { mean, limit }
    }
}

impl VectorDetector for OutlierCount {
    fn dimension(&self) -> usize {
        self.mean.len()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        x.iter()
            .zip(&self.mean)
            .zip(&self.limit)
            .filter(|((a, m), limit)| (*a - *m).abs() > **limit)
            .count() as f64
    }
}

/// Number of fuzzy sets per feature.
const FUZZY_SETS: usize = 5;

/// Fuzzy-logic detector after Haider, Abbas & Zaidi (2000), as described in DSN-2009.
///
/// For each feature, five triangular fuzzy sets ("very short" to "very long") have centres
/// spaced evenly over the training range of that feature, each reaching zero membership at the
/// neighbouring centres. In training, each feature is assigned the set in which its training
/// values have the highest mean membership. A test vector's score is one minus the mean, over
/// features, of each value's membership in its feature's assigned set, so values outside the
/// typical category raise the score.
///
/// NOTE: the DSN-2009 paper does not give the set boundaries; spacing the sets over the
/// training range is this implementation's choice, so its EER differs from the published one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuzzyLogic {
    /// Centre of the assigned set per feature.
    centre: Vec<f64>,
    /// Half-width of the triangles per feature (distance between neighbouring centres).
    half_width: Vec<f64>,
}

impl FuzzyLogic {
    pub(crate) fn fit(train: ArrayView2<'_, f64>) -> Self {
        let mut centre = Vec::with_capacity(train.ncols());
        let mut half_width = Vec::with_capacity(train.ncols());
        for column in train.axis_iter(Axis(1)) {
            let low = column.iter().copied().fold(f64::INFINITY, f64::min);
            let high = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let step = ((high - low) / (FUZZY_SETS - 1) as f64).max(f64::MIN_POSITIVE);
            let best = (0..FUZZY_SETS)
                .map(|s| {
                    let c = low + step * s as f64;
                    let total: f64 = column.iter().map(|&v| triangle(v, c, step)).sum();
                    (s, total)
                })
                .fold(
                    (0, f64::NEG_INFINITY),
                    |acc, x| if x.1 > acc.1 { x } else { acc },
                );
            centre.push(low + step * best.0 as f64);
            half_width.push(step);
        }
        FuzzyLogic { centre, half_width }
    }
}

fn triangle(value: f64, centre: f64, half_width: f64) -> f64 {
    (1.0 - (value - centre).abs() / half_width).max(0.0)
}

impl VectorDetector for FuzzyLogic {
    fn dimension(&self) -> usize {
        self.centre.len()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let membership: f64 = x
            .iter()
            .zip(&self.centre)
            .zip(&self.half_width)
            .map(|((&v, &c), &w)| triangle(v, c, w))
            .sum();
        1.0 - membership / x.len() as f64
    }
}

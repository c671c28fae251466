//! Anomaly detectors fitted on one user's fixed-text timing vectors.
//!
//! Every detector learns from the genuine user's vectors only and gives higher scores to
//! vectors that look less like them. The fourteen detectors are those compared by Killourhy and
//! Maxion, "Comparing Anomaly-Detection Algorithms for Keystroke Dynamics", DSN 2009; each
//! model's doc comment gives its definition.
//!
//! [`DetectorParams`] contains the hyper-parameters, [`DetectorParams::check`] validates them, and
//! [`DetectorParams::fit`] returns a [`FittedDetector`] that can be scored, saved and loaded.

mod background;
mod distance;
mod extended;
mod fusion;
mod kmeans;
mod mahalanobis;
mod neural;
mod one_class_smo;
mod robust;
mod svm;

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use background::{
    BackgroundKind, BackgroundModel, BackgroundParams, DeviationLogistic, KnnRatio, StackedFusion,
};
pub use distance::{FuzzyLogic, MeanDistance, Metric, OutlierCount};
pub use extended::{OneClassKind, OneClassModel, OneClassParams};
pub use fusion::ZNormFusion;
pub use kmeans::KMeansDetector;
pub use mahalanobis::{MahalanobisDetector, NearestNeighborMahalanobis};
pub use neural::{AutoAssociativeNetwork, StandardNetwork};
pub use robust::{RobustManhattan, ShrinkageMahalanobis, WhitenedManhattanKnn};
pub use svm::OneClassSvm;

/// A fitted model that scores samples; higher scores are more anomalous.
///
/// `Sample` is a timing vector (`[f64]`) for fixed-text detectors.
pub trait Detector<Sample: ?Sized = [f64]> {
    /// Scores one sample.
    ///
    /// # Errors
    ///
    /// [`Error::DimensionMismatch`] when the sample does not have the fitted number of
    /// features, [`Error::NonFiniteFeature`] when a value is NaN or infinite.
    fn score(&self, sample: &Sample) -> Result<f64>;
}

/// A fixed-text model with a known input dimension and an unchecked fast scorer.
pub trait VectorDetector: Send + Sync {
    /// Number of features the model was fitted on.
    fn dimension(&self) -> usize;

    /// Scores a sample that the caller has already checked for length and finiteness.
    fn score_unchecked(&self, sample: &[f64]) -> f64;
}

impl<T: VectorDetector + ?Sized> Detector<[f64]> for T {
    fn score(&self, sample: &[f64]) -> Result<f64> {
        check_sample(sample, self.dimension())?;
        finite_score(self.score_unchecked(sample))
    }
}

/// Checks a sample's length and values before scoring.
#[inline]
pub(crate) fn check_sample(sample: &[f64], dimension: usize) -> Result<()> {
    if sample.len() != dimension {
        return Err(dimension_mismatch(dimension, sample.len()));
    }
    if let Some((index, &value)) = sample.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(non_finite(index, value));
    }
    Ok(())
}

/// Passes a finite score through and turns NaN or infinity into [`Error::NonFiniteScore`].
#[inline]
pub(crate) fn finite_score(value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(non_finite_score(value))
    }
}

#[cold]
#[inline(never)]
fn non_finite_score(value: f64) -> Error {
    Error::NonFiniteScore { value }
}

#[cold]
#[inline(never)]
fn dimension_mismatch(expected: usize, actual: usize) -> Error {
    Error::DimensionMismatch { expected, actual }
}

#[cold]
#[inline(never)]
fn non_finite(index: usize, value: f64) -> Error {
    Error::NonFiniteFeature { index, value }
}

/// The fixed-text detectors, named as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DetectorKind {
    /// Squared Euclidean distance to the mean vector.
    Euclidean,
    /// Squared Euclidean distance normalised by the norms of both vectors.
    EuclideanNormed,
    /// Manhattan distance to the mean vector.
    Manhattan,
    /// Manhattan distance to the mean of the training values within 3 sd of the mean.
    ManhattanFiltered,
    /// Manhattan distance scaled per feature by the mean absolute deviation.
    ManhattanScaled,
    /// Mahalanobis distance with the pseudo-inverse of the sample covariance.
    Mahalanobis,
    /// Mahalanobis distance normalised by the norms of both vectors.
    MahalanobisNormed,
    /// Mahalanobis distance to the nearest training vector.
    NearestNeighborMahalanobis,
    /// Feed-forward network trained to output 1 on the genuine vectors.
    NeuralNetworkStandard,
    /// Auto-associative network trained to reproduce the genuine vectors.
    NeuralNetworkAutoAssoc,
    /// Mean non-membership in the fuzzy set each feature was assigned in training.
    FuzzyLogic,
    /// Number of features with a z-score beyond 1.96.
    OutlierCount,
    /// One-class support vector machine with an RBF kernel.
    OneClassSvm,
    /// Euclidean distance to the nearest of k = 3 cluster centres.
    KMeans,
}

impl DetectorKind {
    /// All detectors, in the order of the DSN-2009 table (best published EER first).
    pub const ALL: [DetectorKind; 14] = [
        DetectorKind::ManhattanScaled,
        DetectorKind::NearestNeighborMahalanobis,
        DetectorKind::OutlierCount,
        DetectorKind::OneClassSvm,
        DetectorKind::Mahalanobis,
        DetectorKind::MahalanobisNormed,
        DetectorKind::ManhattanFiltered,
        DetectorKind::Manhattan,
        DetectorKind::NeuralNetworkAutoAssoc,
        DetectorKind::Euclidean,
        DetectorKind::EuclideanNormed,
        DetectorKind::FuzzyLogic,
        DetectorKind::KMeans,
        DetectorKind::NeuralNetworkStandard,
    ];

    /// Returns the detector's command-line name, such as `manhattan-scaled`.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::Euclidean => "euclidean",
            DetectorKind::EuclideanNormed => "euclidean-normed",
            DetectorKind::Manhattan => "manhattan",
            DetectorKind::ManhattanFiltered => "manhattan-filtered",
            DetectorKind::ManhattanScaled => "manhattan-scaled",
            DetectorKind::Mahalanobis => "mahalanobis",
            DetectorKind::MahalanobisNormed => "mahalanobis-normed",
            DetectorKind::NearestNeighborMahalanobis => "nearest-neighbor-mahalanobis",
            DetectorKind::NeuralNetworkStandard => "neural-network-standard",
            DetectorKind::NeuralNetworkAutoAssoc => "neural-network-auto-assoc",
            DetectorKind::FuzzyLogic => "fuzzy-logic",
            DetectorKind::OutlierCount => "outlier-count",
            DetectorKind::OneClassSvm => "one-class-svm",
            DetectorKind::KMeans => "k-means",
        }
    }

    fn known_names() -> String {
        DetectorKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DetectorKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DetectorKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::UnknownDetector {
                name: s.to_string(),
                known: Self::known_names(),
            })
    }
}

/// Hyper-parameters for fitting a fixed-text detector.
///
/// The defaults are the values of the DSN-2009 evaluation. Parameters that a detector does not
/// use are ignored by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorParams {
    /// Detector to fit.
    pub kind: DetectorKind,
    /// Seed for every random choice (network weights, k-means starts, SVM width sampling).
    pub seed: u64,
    /// `outlier-count`: a feature counts as an outlier when `|z|` exceeds this (default 1.96).
    pub outlier_z: f64,
    /// `manhattan-filtered`: training values further than this many standard deviations from
    /// the feature mean are dropped before the mean is recomputed (default 3).
    pub filter_sd: f64,
    /// `one-class-svm`: the nu parameter, an upper bound on the fraction of training vectors
    /// outside the boundary, in (0, 1] (default 0.05).
    pub svm_nu: f64,
    /// `k-means`: number of clusters (default 3).
    pub kmeans_clusters: usize,
    /// Neural networks: passes over the training data (default 500).
    pub nn_epochs: usize,
    /// Neural networks: gradient-descent learning rate (default 1e-4).
    pub nn_learning_rate: f64,
    /// Neural networks: momentum (default 3e-4).
    pub nn_momentum: f64,
}

impl DetectorParams {
    /// Default parameters for `kind`.
    pub fn new(kind: DetectorKind) -> Self {
        DetectorParams {
            kind,
            seed: 0x6b69_6e65_7479_7065,
            outlier_z: 1.96,
            filter_sd: 3.0,
            svm_nu: 0.05,
            kmeans_clusters: 3,
            nn_epochs: 500,
            nn_learning_rate: 1e-4,
            nn_momentum: 3e-4,
        }
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first parameter out of range.
    pub fn check(&self) -> Result<()> {
        let invalid = |name, value: String, expected| {
            Err(Error::InvalidParameter {
                name,
                value,
                expected,
            })
        };
        if !(self.outlier_z.is_finite() && self.outlier_z > 0.0) {
            return invalid(
                "outlier_z",
                self.outlier_z.to_string(),
                "a finite number > 0",
            );
        }
        if !(self.filter_sd.is_finite() && self.filter_sd > 0.0) {
            return invalid(
                "filter_sd",
                self.filter_sd.to_string(),
                "a finite number > 0",
            );
        }
        if !(self.svm_nu > 0.0 && self.svm_nu <= 1.0) {
            return invalid("svm_nu", self.svm_nu.to_string(), "a number in (0, 1]");
        }
        if self.kmeans_clusters == 0 {
            return invalid("kmeans_clusters", "0".into(), "at least 1");
        }
        if self.nn_epochs == 0 || self.nn_epochs > 100_000 {
            return invalid("nn_epochs", self.nn_epochs.to_string(), "1 to 100000");
        }
        if !(self.nn_learning_rate.is_finite() && self.nn_learning_rate > 0.0) {
            return invalid(
                "nn_learning_rate",
                self.nn_learning_rate.to_string(),
                "a number > 0",
            );
        }
        if !(self.nn_momentum.is_finite() && (0.0..1.0).contains(&self.nn_momentum)) {
            return invalid(
                "nn_momentum",
                self.nn_momentum.to_string(),
                "a number in [0, 1)",
            );
        }
        Ok(())
    }

    /// Fits the detector on the genuine user's training vectors (one per row).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] from [`check`](Self::check); [`Error::InvalidTrainingData`]
    /// when there are fewer than two rows, no columns, or a non-finite value, or when
    /// `k-means` has fewer rows than clusters; [`Error::Fit`] when a numerical library fails.
    pub fn fit(&self, train: ArrayView2<'_, f64>) -> Result<FittedDetector> {
        self.check()?;
        check_training(train)?;
        let model = match self.kind {
            DetectorKind::Euclidean => {
                FittedDetector::MeanDistance(MeanDistance::fit(train, Metric::Euclidean))
            }
            DetectorKind::EuclideanNormed => {
                FittedDetector::MeanDistance(MeanDistance::fit(train, Metric::EuclideanNormed))
            }
            DetectorKind::Manhattan => {
                FittedDetector::MeanDistance(MeanDistance::fit(train, Metric::Manhattan))
            }
            DetectorKind::ManhattanFiltered => {
                FittedDetector::MeanDistance(MeanDistance::fit_filtered(train, self.filter_sd))
            }
            DetectorKind::ManhattanScaled => {
                FittedDetector::MeanDistance(MeanDistance::fit(train, Metric::ManhattanScaled))
            }
            DetectorKind::Mahalanobis => {
                FittedDetector::Mahalanobis(MahalanobisDetector::fit(train, false)?)
            }
            DetectorKind::MahalanobisNormed => {
                FittedDetector::Mahalanobis(MahalanobisDetector::fit(train, true)?)
            }
            DetectorKind::NearestNeighborMahalanobis => {
                FittedDetector::NearestNeighborMahalanobis(NearestNeighborMahalanobis::fit(train)?)
            }
            DetectorKind::NeuralNetworkStandard => {
                FittedDetector::StandardNetwork(StandardNetwork::fit(train, self))
            }
            DetectorKind::NeuralNetworkAutoAssoc => {
                FittedDetector::AutoAssociativeNetwork(AutoAssociativeNetwork::fit(train, self))
            }
            DetectorKind::FuzzyLogic => FittedDetector::FuzzyLogic(FuzzyLogic::fit(train)),
            DetectorKind::OutlierCount => {
                FittedDetector::OutlierCount(OutlierCount::fit(train, self.outlier_z))
            }
            DetectorKind::OneClassSvm => {
                FittedDetector::OneClassSvm(OneClassSvm::fit(train, self.svm_nu, self.seed)?)
            }
            DetectorKind::KMeans => {
                FittedDetector::KMeans(KMeansDetector::fit(train, self.kmeans_clusters, self.seed)?)
            }
        };
        Ok(model)
    }
}

fn check_training(train: ArrayView2<'_, f64>) -> Result<()> {
    if train.nrows() < 2 {
        return Err(Error::training(format!(
            "{} training vectors; at least 2 are needed",
            train.nrows()
        )));
    }
    if train.ncols() == 0 {
        return Err(Error::training("training vectors have no features"));
    }
    if let Some(((row, col), v)) = train.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::training(format!("row {row}, feature {col} is {v}")));
    }
    Ok(())
}

/// A fitted fixed-text detector of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FittedDetector {
    /// `euclidean`, `euclidean-normed`, `manhattan`, `manhattan-filtered`, `manhattan-scaled`.
    MeanDistance(MeanDistance),
    /// `mahalanobis`, `mahalanobis-normed`.
    Mahalanobis(MahalanobisDetector),
    /// `nearest-neighbor-mahalanobis`.
    NearestNeighborMahalanobis(NearestNeighborMahalanobis),
    /// `neural-network-standard`.
    StandardNetwork(StandardNetwork),
    /// `neural-network-auto-assoc`.
    AutoAssociativeNetwork(AutoAssociativeNetwork),
    /// `fuzzy-logic`.
    FuzzyLogic(FuzzyLogic),
    /// `outlier-count`.
    OutlierCount(OutlierCount),
    /// `one-class-svm`.
    OneClassSvm(OneClassSvm),
    /// `k-means`.
    KMeans(KMeansDetector),
}

impl FittedDetector {
    fn inner(&self) -> &dyn VectorDetector {
        match self {
            FittedDetector::MeanDistance(m) => m,
            FittedDetector::Mahalanobis(m) => m,
            FittedDetector::NearestNeighborMahalanobis(m) => m,
            FittedDetector::StandardNetwork(m) => m,
            FittedDetector::AutoAssociativeNetwork(m) => m,
            FittedDetector::FuzzyLogic(m) => m,
            FittedDetector::OutlierCount(m) => m,
            FittedDetector::OneClassSvm(m) => m,
            FittedDetector::KMeans(m) => m,
        }
    }

    /// Scores every row of `samples`.
    ///
    /// # Errors
    ///
    /// As [`Detector::score`], for the first row that fails.
    pub fn score_rows(&self, samples: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        let inner = self.inner();
        let mut scores = Vec::with_capacity(samples.nrows());
        let mut buffer = vec![0.0; samples.ncols()];
        for row in samples.rows() {
            let slice = match row.as_slice() {
                Some(s) => s,
                None => {
                    buffer.iter_mut().zip(row.iter()).for_each(|(b, v)| *b = *v);
                    &buffer
                }
            };
            scores.push(inner.score(slice)?);
        }
        Ok(scores)
    }
}

impl VectorDetector for FittedDetector {
    fn dimension(&self) -> usize {
        self.inner().dimension()
    }

    fn score_unchecked(&self, sample: &[f64]) -> f64 {
        self.inner().score_unchecked(sample)
    }
}

#[cfg(test)]
mod tests;

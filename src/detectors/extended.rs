//! One-class fixed-text detectors added after the DSN-2009 set, with their own kind, parameters
//! and fitted model, so that [`DetectorKind::ALL`](super::DetectorKind::ALL) stays the fourteen
//! reproduced detectors.

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::fusion::ZNormFusion;
use super::robust::{RobustManhattan, ShrinkageMahalanobis, WhitenedManhattanKnn};
use super::{Detector, VectorDetector, check_training};
use crate::error::{Error, Result};

/// One-class detectors beyond DSN-2009; they learn from the genuine user's vectors only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OneClassKind {
    /// Scaled Manhattan distance to the median on the linearly independent features.
    RobustManhattan,
    /// Manhattan distance to the nearest training vector after shrinkage whitening.
    WhitenedManhattanNn,
    /// Mean Manhattan distance to the `knn_k` nearest training vectors after shrinkage
    /// whitening.
    WhitenedManhattanKnn,
    /// Mahalanobis distance to the median with a Ledoit-Wolf shrinkage covariance.
    ShrinkageMahalanobis,
    /// Equal-weight fusion of the z-normalised scores of `robust-manhattan`,
    /// `whitened-manhattan-knn` and `shrinkage-mahalanobis`.
    FusionZNorm,
}

impl OneClassKind {
    /// Every one-class detector of this set, in the order reports list them.
    pub const ALL: [OneClassKind; 5] = [
        OneClassKind::RobustManhattan,
        OneClassKind::WhitenedManhattanNn,
        OneClassKind::WhitenedManhattanKnn,
        OneClassKind::ShrinkageMahalanobis,
        OneClassKind::FusionZNorm,
    ];

    /// Components of [`OneClassKind::FusionZNorm`], fixed before any evaluation: every base
    /// detector of this set whose score is a distance to a single centre or to a neighbourhood,
    /// one of each family.
    pub const FUSION_COMPONENTS: [OneClassKind; 3] = [
        OneClassKind::RobustManhattan,
        OneClassKind::WhitenedManhattanKnn,
        OneClassKind::ShrinkageMahalanobis,
    ];

    /// The command-line name, such as `robust-manhattan`.
    pub fn name(self) -> &'static str {
        match self {
            OneClassKind::RobustManhattan => "robust-manhattan",
            OneClassKind::WhitenedManhattanNn => "whitened-manhattan-nn",
            OneClassKind::WhitenedManhattanKnn => "whitened-manhattan-knn",
            OneClassKind::ShrinkageMahalanobis => "shrinkage-mahalanobis",
            OneClassKind::FusionZNorm => "fusion-znorm",
        }
    }
}

impl fmt::Display for OneClassKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OneClassKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        OneClassKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::UnknownDetector {
                name: s.to_string(),
                known: OneClassKind::ALL.map(|k| k.name()).join(", "),
            })
    }
}

/// Hyper-parameters of the [`OneClassKind`] detectors. The defaults were fixed before any
/// evaluation run and are used unchanged on every dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneClassParams {
    /// Detector to fit.
    pub kind: OneClassKind,
    /// `whitened-manhattan-knn`: number of nearest training vectors averaged (default 3).
    pub knn_k: usize,
    /// `fusion-znorm`: number of contiguous cross-validation folds over the training rows used
    /// to estimate each component's genuine-score mean and deviation (default 5; fewer when
    /// there are fewer training rows).
    pub cv_folds: usize,
}

impl OneClassParams {
    /// Default parameters for `kind`.
    pub fn new(kind: OneClassKind) -> Self {
        OneClassParams {
            kind,
            knn_k: 3,
            cv_folds: 5,
        }
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first parameter out of range.
    pub fn check(&self) -> Result<()> {
        if !(1..=1000).contains(&self.knn_k) {
            return Err(Error::InvalidParameter {
                name: "knn_k",
                value: self.knn_k.to_string(),
                expected: "an integer from 1 to 1000",
            });
        }
        if !(2..=50).contains(&self.cv_folds) {
            return Err(Error::InvalidParameter {
                name: "cv_folds",
                value: self.cv_folds.to_string(),
                expected: "an integer from 2 to 50",
            });
        }
        Ok(())
    }

    /// Fits the detector on the genuine user's training vectors (one per row).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] from [`check`](Self::check); [`Error::InvalidTrainingData`]
    /// when there are fewer than two rows (three for `fusion-znorm`), no columns, a non-finite
    /// value, or only constant columns.
    pub fn fit(&self, train: ArrayView2<'_, f64>) -> Result<OneClassModel> {
        self.check()?;
        check_training(train)?;
        Ok(match self.kind {
            OneClassKind::RobustManhattan => {
                OneClassModel::RobustManhattan(RobustManhattan::fit(train)?)
            }
            OneClassKind::WhitenedManhattanNn => {
                OneClassModel::WhitenedManhattanKnn(WhitenedManhattanKnn::fit(train, 1)?)
            }
            OneClassKind::WhitenedManhattanKnn => {
                OneClassModel::WhitenedManhattanKnn(WhitenedManhattanKnn::fit(train, self.knn_k)?)
            }
            OneClassKind::ShrinkageMahalanobis => {
                OneClassModel::ShrinkageMahalanobis(ShrinkageMahalanobis::fit(train)?)
            }
            OneClassKind::FusionZNorm => OneClassModel::FusionZNorm(ZNormFusion::fit(
                train,
                &OneClassKind::FUSION_COMPONENTS,
                self,
            )?),
        })
    }
}

/// A fitted [`OneClassKind`] detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OneClassModel {
    /// `robust-manhattan`.
    RobustManhattan(RobustManhattan),
    /// `whitened-manhattan-nn` and `whitened-manhattan-knn`.
    WhitenedManhattanKnn(WhitenedManhattanKnn),
    /// `shrinkage-mahalanobis`.
    ShrinkageMahalanobis(ShrinkageMahalanobis),
    /// `fusion-znorm`.
    FusionZNorm(ZNormFusion),
}

impl OneClassModel {
    fn inner(&self) -> &dyn VectorDetector {
        match self {
            OneClassModel::RobustManhattan(m) => m,
            OneClassModel::WhitenedManhattanKnn(m) => m,
            OneClassModel::ShrinkageMahalanobis(m) => m,
            OneClassModel::FusionZNorm(m) => m,
        }
    }

    /// Scores every row of `samples`.
    ///
    /// # Errors
    ///
    /// As [`Detector::score`], for the first row that fails.
    pub fn score_rows(&self, samples: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        score_rows(self.inner(), samples)
    }
}

impl VectorDetector for OneClassModel {
    fn dimension(&self) -> usize {
        self.inner().dimension()
    }

    fn score_unchecked(&self, sample: &[f64]) -> f64 {
        self.inner().score_unchecked(sample)
    }
}

/// Scores every row of `samples` with a checked [`Detector::score`].
pub(crate) fn score_rows(
    detector: &dyn VectorDetector,
    samples: ArrayView2<'_, f64>,
) -> Result<Vec<f64>> {
    let mut buffer = vec![0.0; samples.ncols()];
    samples
        .rows()
        .into_iter()
        .map(|row| {
            buffer.iter_mut().zip(row.iter()).for_each(|(b, v)| *b = *v);
            detector.score(&buffer)
        })
        .collect()
}

#[cfg(test)]
#[path = "extended_tests.rs"]
mod tests;

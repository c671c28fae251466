//! k-means detector (Kang, Hwang & Cho 2007, as used in DSN-2009) through `linfa-clustering`.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

use super::VectorDetector;
use crate::error::{Error, Result};
use crate::store::Rejection;

/// Euclidean distance from the sample to the nearest of `k` cluster centres found by k-means
/// on the genuine training vectors (raw features, k-means++ starts, seeded).
///
/// NOTE: DSN-2009 reports a mean EER of 0.372 for this detector but gives too little detail to
/// rebuild that figure; the standard method here gives a much lower EER on the same data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "KMeansFields")]
pub struct KMeansDetector {
    centroids: Array2<f64>,
}

/// The serialised fields of a [`KMeansDetector`], before the shape check.
#[derive(Deserialize)]
struct KMeansFields {
    centroids: Array2<f64>,
}

impl TryFrom<KMeansFields> for KMeansDetector {
    type Error = Rejection;

    /// Rejects centroid matrices with no rows or no columns. An ndarray with zero columns
    /// decodes from a few bytes whatever its row count, and scoring would then loop over up to
    /// `usize::MAX` empty centroids.
    fn try_from(fields: KMeansFields) -> Result<Self, Rejection> {
        let (rows, columns) = fields.centroids.dim();
        if rows == 0 || columns == 0 {
            return Err(Rejection::from(format!(
                "k-means model has a {rows} x {columns} centroid matrix"
            )));
        }
        Ok(KMeansDetector {
            centroids: fields.centroids,
        })
    }
}

impl KMeansDetector {
    pub(crate) fn fit(train: ArrayView2<'_, f64>, clusters: usize, seed: u64) -> Result<Self> {
        if train.nrows() < clusters {
            return Err(Error::training(format!(
                "k-means needs at least {clusters} training vectors, got {}",
                train.nrows()
            )));
        }
        let dataset = DatasetBase::from(train.to_owned());
        let model = KMeans::params_with_rng(clusters, Xoshiro256Plus::seed_from_u64(seed))
            .max_n_iterations(300)
            .tolerance(1e-6)
            .fit(&dataset)
            .map_err(|e| Error::Fit {
                detector: "k-means",
                message: e.to_string(),
            })?;
        Ok(KMeansDetector {
            centroids: model.centroids().clone(),
        })
    }
}

impl VectorDetector for KMeansDetector {
    fn dimension(&self) -> usize {
        self.centroids.ncols()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        self.centroids
            .rows()
            .into_iter()
            .map(|c| c.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
            .fold(f64::INFINITY, f64::min)
            .sqrt()
    }
}

//! Detectors built on the Mahalanobis distance with a pseudo-inverted sample covariance.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::VectorDetector;
use crate::error::Result;
use crate::linalg::{column_means, sample_covariance, whitening};
use crate::store::Rejection;

/// Projects `x - centre` through the whitening matrix `w` (r x d) into `out` (length r).
#[inline]
fn whiten(w: &Array2<f64>, x: &[f64], centre: &[f64], out: &mut [f64]) {
    for (o, row) in out.iter_mut().zip(w.rows()) {
        let mut total = 0.0;
        for ((wi, xi), ci) in row.iter().zip(x).zip(centre) {
            total += wi * (xi - ci);
        }
        *o = total;
    }
}

/// Squared Mahalanobis distance to the training mean, `(x - m)^T S^+ (x - m)`, where `S^+` is
/// the Moore-Penrose pseudo-inverse of the sample covariance (Cho et al. 2000, as used in
/// DSN-2009).
///
/// The `normed` variant (DSN-2009 "Mahalanobis (normed)") divides by `|x|_S |m|_S`, the
/// lengths of the sample and the mean in the same metric (`|v|_S = sqrt(v^T S^+ v)`).
///
/// NOTE: DSN-2009 writes the normalisation as `|x| |m|`, but its published figures for this
/// detector (mean EER 0.1101, sd 0.065, zero-miss 0.482) equal plain Mahalanobis exactly, so
/// its normalisation cannot have changed any ranking. Euclidean norms give a mean EER of 0.162
/// on the CMU data, while the Mahalanobis norms used here give 0.0985.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MahalanobisFields")]
pub struct MahalanobisDetector {
    mean: Vec<f64>,
    /// `W` with `W^T W = S^+`, so the distance is `|W (x - m)|^2`.
    whitening: Array2<f64>,
    normed: bool,
    /// `|m|_S`, the mean's length in the whitened space.
    mean_norm: f64,
}

/// The serialised fields of a [`MahalanobisDetector`], before the structural check.
#[derive(Deserialize)]
struct MahalanobisFields {
    mean: Vec<f64>,
    whitening: Array2<f64>,
    normed: bool,
    mean_norm: f64,
}

impl TryFrom<MahalanobisFields> for MahalanobisDetector {
    type Error = Rejection;

    fn try_from(f: MahalanobisFields) -> Result<Self, Rejection> {
        check_whitening(&f.mean, &f.whitening)?;
        if !(f.mean_norm.is_finite() && f.mean_norm >= 0.0) {
            return Err(Rejection::from(format!(
                "Mahalanobis model has mean norm {}; it must be finite and at least 0",
                f.mean_norm
            )));
        }
        Ok(MahalanobisDetector {
            mean: f.mean,
            whitening: f.whitening,
            normed: f.normed,
            mean_norm: f.mean_norm,
        })
    }
}

/// Checks the shapes and values that fitting guarantees: a mean of `d >= 1` features, an
/// `r x d` whitening matrix with `r >= 1`, and finite values. Scoring zips rows with the
/// sample, so a matrix with too few columns would silently ignore features, and one with zero
/// columns decodes from a few bytes whatever its row count.
fn check_whitening(mean: &[f64], whitening: &Array2<f64>) -> Result<(), String> {
    let d = mean.len();
    let (rows, columns) = whitening.dim();
    if d == 0 || rows == 0 || columns != d {
        return Err(format!(
            "Mahalanobis model has {d} mean values and a {rows} x {columns} whitening matrix; \
             expected d >= 1 values and an r x d matrix with r >= 1"
        ));
    }
    if let Some(v) = mean.iter().chain(whitening.iter()).find(|v| !v.is_finite()) {
        return Err(format!(
            "Mahalanobis model contains {v}; means and whitening weights must be finite"
        ));
    }
    Ok(())
}

impl MahalanobisDetector {
    pub(crate) fn fit(train: ArrayView2<'_, f64>, normed: bool) -> Result<Self> {
        let mean = column_means(train);
        let covariance = sample_covariance(train, &mean);
        let whitening = whitening(&covariance)?;
        let whitened_mean = whitening.dot(&mean);
        let mean_norm = whitened_mean.dot(&whitened_mean).sqrt();
        Ok(MahalanobisDetector {
            mean: mean.to_vec(),
            whitening,
            normed,
            mean_norm,
        })
    }

    /// Numerical rank of the training covariance.
    pub fn rank(&self) -> usize {
        self.whitening.nrows()
    }
}

impl VectorDetector for MahalanobisDetector {
    fn dimension(&self) -> usize {
        self.mean.len()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let mut total = 0.0;
        for row in self.whitening.rows() {
            let mut projection = 0.0;
            for ((wi, xi), mi) in row.iter().zip(x).zip(&self.mean) {
                projection += wi * (xi - mi);
            }
            total += projection * projection;
        }
        if self.normed {
            // |x|_S = |W x|, the sample's length in the whitened space.
            let mut length = 0.0;
            for row in self.whitening.rows() {
                let projection: f64 = row.iter().zip(x).map(|(wi, xi)| wi * xi).sum();
                length += projection * projection;
            }
            let denominator = length.sqrt() * self.mean_norm;
            if denominator > 0.0 {
                total / denominator
            } else {
                f64::MAX
            }
        } else {
            total
        }
    }
}

/// Squared Mahalanobis distance from the sample to the nearest training vector, with the
/// pseudo-inverse of the training covariance (Cho et al. 2000, as used in DSN-2009).
///
/// The training vectors are stored already whitened, so a score is one `r x d` projection and
/// a nearest-neighbour search in `r` dimensions, where `r` is the covariance rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NearestNeighborFields")]
pub struct NearestNeighborMahalanobis {
    mean: Vec<f64>,
    whitening: Array2<f64>,
    /// Whitened training vectors, one per row (n x r).
    points: Array2<f64>,
}

/// The serialised fields of a [`NearestNeighborMahalanobis`], before the structural check.
#[derive(Deserialize)]
struct NearestNeighborFields {
    mean: Vec<f64>,
    whitening: Array2<f64>,
    points: Array2<f64>,
}

impl TryFrom<NearestNeighborFields> for NearestNeighborMahalanobis {
    type Error = Rejection;

    /// Also requires at least one training point of the whitened dimension `r`: the search
    /// splits the points into rows of `r` values, and with none the score would be infinite.
    fn try_from(f: NearestNeighborFields) -> Result<Self, Rejection> {
        check_whitening(&f.mean, &f.whitening)?;
        let rank = f.whitening.nrows();
        let (n, columns) = f.points.dim();
        if n == 0 || columns != rank {
            return Err(Rejection::from(format!(
                "nearest-neighbour Mahalanobis model has a {n} x {columns} point matrix for \
                 whitened dimension {rank}; expected n x {rank} with n >= 1"
            )));
        }
        if let Some(v) = f.points.iter().find(|v| !v.is_finite()) {
            return Err(Rejection::from(format!(
                "nearest-neighbour Mahalanobis model has training point value {v}"
            )));
        }
        Ok(NearestNeighborMahalanobis {
            mean: f.mean,
            whitening: f.whitening,
            points: f.points,
        })
    }
}

impl NearestNeighborMahalanobis {
    pub(crate) fn fit(train: ArrayView2<'_, f64>) -> Result<Self> {
        let mean = column_means(train);
        let covariance = sample_covariance(train, &mean);
        let whitening = whitening(&covariance)?;
        let centred = &train - &mean;
        let points = centred.dot(&whitening.t());
        Ok(NearestNeighborMahalanobis {
            mean: mean.to_vec(),
            whitening,
            points,
        })
    }
}

impl VectorDetector for NearestNeighborMahalanobis {
    fn dimension(&self) -> usize {
        self.mean.len()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let rank = self.whitening.nrows();
        // Ranks above 64 fall back to a heap buffer; fixed-text vectors stay far below.
        let mut stack = [0.0_f64; 64];
        let mut heap = Vec::new();
        let z: &mut [f64] = if rank <= stack.len() {
            &mut stack[..rank]
        } else {
            heap.resize(rank, 0.0);
            &mut heap
        };
        whiten(&self.whitening, x, &self.mean, z);
        let mut best = f64::INFINITY;
        // Fitted and deserialised arrays are contiguous, so the search runs over plain slices,
        // which the compiler keeps free of bounds checks; the row iterator is the fallback.
        // `rank` is at least 1 because whitening rejects a zero covariance.
        if let Some(flat) = self.points.as_slice() {
            // Four points at a time: their sums are independent, so the CPU overlaps them,
            // while each sum still adds its terms in index order as `squared_distance` does.
            let mut blocks = flat.chunks_exact(4 * rank);
            for block in &mut blocks {
                let (p0, rest) = block.split_at(rank);
                let (p1, rest) = rest.split_at(rank);
                let (p2, p3) = rest.split_at(rank);
                let mut d = [0.0_f64; 4];
                for (j, &q) in z.iter().enumerate() {
                    d[0] += (p0[j] - q) * (p0[j] - q);
                    d[1] += (p1[j] - q) * (p1[j] - q);
                    d[2] += (p2[j] - q) * (p2[j] - q);
                    d[3] += (p3[j] - q) * (p3[j] - q);
                }
                best = best.min(d[0]).min(d[1]).min(d[2]).min(d[3]);
            }
            for point in blocks.remainder().chunks_exact(rank) {
                best = best.min(squared_distance(point, z));
            }
        } else {
            for point in self.points.rows() {
                let mut distance = 0.0;
                for (p, q) in point.iter().zip(z.iter()) {
                    distance += (p - q) * (p - q);
                }
                best = best.min(distance);
            }
        }
        best
    }
}

/// `sum (p_i - q_i)^2`, summed in index order.
#[inline]
fn squared_distance(p: &[f64], q: &[f64]) -> f64 {
    let mut distance = 0.0;
    for (a, b) in p.iter().zip(q) {
        distance += (a - b) * (a - b);
    }
    distance
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, array};

    use super::*;
    use crate::error::Error;
    use crate::limits::reencode;

    fn train() -> Array2<f64> {
        array![
            [0.10, 0.21, 0.30],
            [0.12, 0.19, 0.33],
            [0.09, 0.25, 0.29],
            [0.11, 0.22, 0.35],
            [0.13, 0.18, 0.31]
        ]
    }

    /// Encodes `model` as it is, then decodes it under the structural check.
    fn assert_invalid<T: std::fmt::Debug>(result: Result<T>) {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    }

    #[test]
    fn fitted_models_decode() -> Result<()> {
        let plain = MahalanobisDetector::fit(train().view(), true)?;
        assert_eq!(reencode(&plain)?, plain);
        let nearest = NearestNeighborMahalanobis::fit(train().view())?;
        assert_eq!(reencode(&nearest)?, nearest);
        Ok(())
    }

    #[test]
    fn decode_rejects_whitening_of_wrong_width() -> Result<()> {
        let mut model = MahalanobisDetector::fit(train().view(), false)?;
        model.whitening = Array2::ones((2, 2));
        assert_invalid(reencode(&model));
        model.whitening = Array2::zeros((0, 3));
        assert_invalid(reencode(&model));
        // Zero columns encode in a few bytes whatever the row count.
        model.mean = vec![];
        model.whitening = Array2::zeros((1 << 40, 0));
        assert_invalid(reencode(&model));
        Ok(())
    }

    #[test]
    fn decode_rejects_non_finite_mahalanobis() -> Result<()> {
        let fitted = MahalanobisDetector::fit(train().view(), true)?;
        let mut model = fitted.clone();
        model.mean[1] = f64::NAN;
        assert_invalid(reencode(&model));
        let mut model = fitted.clone();
        model.whitening[[0, 0]] = f64::INFINITY;
        assert_invalid(reencode(&model));
        let mut model = fitted;
        model.mean_norm = f64::NAN;
        assert_invalid(reencode(&model));
        Ok(())
    }

    #[test]
    fn decode_rejects_bad_nearest_neighbour_points() -> Result<()> {
        let fitted = NearestNeighborMahalanobis::fit(train().view())?;
        let rank = fitted.whitening.nrows();
        let mut model = fitted.clone();
        model.points = Array2::zeros((4, rank + 1));
        assert_invalid(reencode(&model));
        let mut model = fitted.clone();
        model.points = Array2::zeros((0, rank));
        assert_invalid(reencode(&model));
        let mut model = fitted.clone();
        model.points[[0, 0]] = f64::NAN;
        assert_invalid(reencode(&model));
        let mut model = fitted;
        model.mean.push(0.0);
        assert_invalid(reencode(&model));
        Ok(())
    }
}

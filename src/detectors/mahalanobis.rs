//! Detectors built on the Mahalanobis distance with a pseudo-inverted sample covariance.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::VectorDetector;
use crate::error::Result;
use crate::linalg::{
    LANES, block_distances, block_products, column_means, interleave, sample_covariance, whitening,
};
use crate::store::Rejection;

/// Returns the rows of the whitening matrix `w` (r x d) in [`interleave`] blocks, the layout
/// [`whiten`] reads. It is derived at fit and load time and never saved.
fn blocks_of(w: &Array2<f64>) -> Vec<f64> {
    interleave(w.view())
}

/// Projects `v` through the whitening matrix, laid out by [`blocks_of`], into `out` (length
/// r).
///
/// Each output adds its terms in feature order, as a dot product of a row of `w` with `v`
/// would, so the result is the same bit for bit. [`block_products`] computes [`LANES`] outputs
/// at a time with their sums held in registers.
#[inline]
fn project(blocks: &[f64], v: &[f64], out: &mut [f64]) {
    let width = LANES * v.len();
    for (block, outputs) in blocks.chunks_exact(width).zip(out.chunks_mut(LANES)) {
        let sums = block_products(block, v);
        outputs.copy_from_slice(&sums[..outputs.len()]);
    }
}

/// Projects `x - centre` through the whitening matrix into `out` (length r), like [`project`]
/// of the difference.
#[inline]
fn whiten(blocks: &[f64], x: &[f64], centre: &[f64], out: &mut [f64]) {
    with_buffer(x.len(), |v| {
        for ((d, xi), ci) in v.iter_mut().zip(x).zip(centre) {
            *d = xi - ci;
        }
        project(blocks, v, out);
    });
}

/// Runs `f` on a zeroed buffer of `len` values, kept on the stack up to 64 values and on the
/// heap beyond. Whitened fixed-text vectors stay far below 64, so scoring does not allocate.
fn with_buffer<T>(len: usize, f: impl FnOnce(&mut [f64]) -> T) -> T {
    let mut stack = [0.0_f64; 64];
    if len <= stack.len() {
        f(&mut stack[..len])
    } else {
        f(&mut vec![0.0; len])
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
    /// Rows of `whitening` in the [`blocks_of`] layout that [`whiten`] reads. Derived at fit
    /// and load time, never saved.
    #[serde(skip_serializing)]
    whitening_blocks: Vec<f64>,
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
            whitening_blocks: blocks_of(&f.whitening),
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
            whitening_blocks: blocks_of(&whitening),
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
        let rank = self.whitening.nrows();
        with_buffer(rank, |z| {
            whiten(&self.whitening_blocks, x, &self.mean, z);
            let total = z.iter().fold(0.0, |total, p| total + p * p);
            if !self.normed {
                return total;
            }
            // |x|_S = |W x|, the sample's length in the whitened space.
            project(&self.whitening_blocks, x, z);
            let length = z.iter().fold(0.0, |length, p| length + p * p);
            let denominator = length.sqrt() * self.mean_norm;
            if denominator > 0.0 {
                total / denominator
            } else {
                f64::MAX
            }
        })
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
    /// `points` again in blocks for the search (see `linalg::interleave`); the padding copies
    /// of the last point leave the nearest distance unchanged. Derived, not saved.
    #[serde(skip_serializing)]
    blocks: Vec<f64>,
    /// Rows of `whitening` in the [`blocks_of`] layout that [`whiten`] reads. Derived at fit
    /// and load time, never saved.
    #[serde(skip_serializing)]
    whitening_blocks: Vec<f64>,
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
            blocks: interleave(f.points.view()),
            whitening_blocks: blocks_of(&f.whitening),
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
            blocks: interleave(points.view()),
            whitening_blocks: blocks_of(&whitening),
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
        with_buffer(rank, |z| {
            whiten(&self.whitening_blocks, x, &self.mean, z);
            self.nearest(z)
        })
    }
}

impl NearestNeighborMahalanobis {
    /// Returns the smallest squared distance from the whitened sample `z` to a training point.
    fn nearest(&self, z: &[f64]) -> f64 {
        let rank = z.len();
        // Each running distance adds its terms in coordinate order, as a plain loop over one
        // point would, so the layout does not change any score. `rank` is at least 1 because
        // whitening rejects a zero covariance, and the fit and decoding build `blocks` from
        // at least one point.
        let mut best = f64::INFINITY;
        for block in self.blocks.chunks_exact(LANES * rank) {
            for distance in block_distances(block, z) {
                best = best.min(distance);
            }
        }
        best
    }
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

    /// Twelve rows of ten features whose whitening has a rank above `LANES`, so its rows span
    /// two blocks, the second one padded.
    fn wide_train() -> Array2<f64> {
        Array2::from_shape_fn((12, 10), |(i, j)| {
            ((i * 7 + j * 13) % 17) as f64 * 0.01 + (i * j) as f64 * 0.001 + 0.1
        })
    }

    /// `W (x - m)` by one plain dot product per row of `W`, adding terms in feature order.
    fn plain_whiten(w: &Array2<f64>, mean: &[f64], x: &[f64]) -> Vec<f64> {
        w.rows()
            .into_iter()
            .map(|row| {
                row.iter()
                    .zip(x.iter().zip(mean))
                    .fold(0.0, |sum, (wij, (xj, mj))| sum + wij * (xj - mj))
            })
            .collect()
    }

    #[test]
    fn blocked_scores_equal_plain_loops() -> Result<()> {
        let train = wide_train();
        let plain = MahalanobisDetector::fit(train.view(), false)?;
        let nearest = NearestNeighborMahalanobis::fit(train.view())?;
        assert!(
            plain.whitening.nrows() > LANES,
            "{}",
            plain.whitening.nrows()
        );
        for i in 0..5 {
            let x: Vec<f64> = (0..10)
                .map(|j| 0.05 + ((i + j) % 4) as f64 * 0.03)
                .collect();
            let z = plain_whiten(&plain.whitening, &plain.mean, &x);
            let total = z.iter().fold(0.0, |t, p| t + p * p);
            assert_eq!(plain.score_unchecked(&x).to_bits(), total.to_bits());

            let z = plain_whiten(&nearest.whitening, &nearest.mean, &x);
            let best = nearest
                .points
                .rows()
                .into_iter()
                .map(|p| {
                    p.iter()
                        .zip(&z)
                        .fold(0.0, |t, (a, b)| t + (a - b) * (a - b))
                })
                .fold(f64::INFINITY, f64::min);
            assert_eq!(nearest.score_unchecked(&x).to_bits(), best.to_bits());
        }
        Ok(())
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

//! One-class support vector machine (Schölkopf et al. 2001) through `linfa-svm`.

use linfa_svm::{ExitReason, SeparatingHyperplane, Svm};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::{VectorDetector, one_class_smo};
use crate::error::{Error, Result};
use crate::linalg::{LANES, block_distances, interleave};
use crate::store::Rejection;

/// One-class SVM with an RBF kernel `exp(-sigma |x - y|^2)`, as in DSN-2009 (which used R's
/// `kernlab::ksvm` with `type = "one-svc"` and `nu = 0.05`).
///
/// As `ksvm` does by default, features are standardised with the training mean and sample
/// standard deviation, and `sigma` is estimated from the standardised training data the way
/// `kernlab::sigest` does: draw `floor(n / 2)` random pairs of training rows (with
/// replacement), sort the non-zero squared distances between them, and set `sigma` to the mean
/// of `1 / q90` and `1 / q10`, where `q_p` is the order statistic at rank `ceil(p * count)`. A width that
/// ignores the data's scale (such as `sigma = 1`) gives a mean EER near 0.30 on the CMU data.
///
/// The score is the negated decision value `rho - sum_i alpha_i k(x_i, x)`, so points outside
/// the learned support score higher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "OneClassSvmFields")]
pub struct OneClassSvm {
    mean: Vec<f64>,
    /// `1 / sd` per feature; 0 for a constant feature, which then carries no information.
    inverse_sd: Vec<f64>,
    sigma: f64,
    svm: Svm<f64, bool>,
    /// The support vectors and weights of `svm` in the layout that scoring reads.
    #[serde(skip)]
    expansion: Expansion,
}

/// The kernel expansion `sum_i alpha_i exp(-|s_i - x|^2 / width)` of a fitted machine, with
/// the support vectors `s_i` in one buffer, row after row.
///
/// It pairs the support vectors in order with the weights above 100 machine epsilons, and
/// sums in the same order, as `linfa_svm::Svm::weighted_sum` (0.8) does, so it returns the
/// same values bit for bit (the unit test `expansion_matches_linfa` checks this). It exists
/// because linfa's sum walks ndarray views and was most of the one-class SVM's scoring time.
#[derive(Debug, Clone, PartialEq, Default)]
struct Expansion {
    support: Vec<f64>,
    weights: Vec<f64>,
    /// linfa's kernel parameter, `1 / sigma`.
    width: f64,
    dimension: usize,
    /// Support vectors that have a weight: the first `min(rows, weights)`.
    pairs: usize,
    /// Those support vectors again, in the blocks of `linalg::interleave`, so that the sum
    /// reads eight distances at a time. It skips the padding lanes of the last block.
    blocks: Vec<f64>,
}

impl Expansion {
    fn new(support: ArrayView2<'_, f64>, alpha: &[f64], width: f64) -> Self {
        let weights: Vec<f64> = alpha
            .iter()
            .copied()
            .filter(|a| a.abs() > 100.0 * f64::EPSILON)
            .collect();
        let pairs = support.nrows().min(weights.len());
        let blocks = interleave(support.slice_axis(Axis(0), (..pairs).into()));
        Expansion {
            support: support.iter().copied().collect(),
            weights,
            width,
            dimension: support.ncols(),
            pairs,
            blocks,
        }
    }

    /// `sum_i alpha_i exp(-|s_i - x|^2 / width)`. Each distance adds its terms in coordinate
    /// order and the kernel terms are added in support-vector order, as linfa does.
    fn weighted_sum(&self, x: &[f64]) -> f64 {
        let mut total = 0.0;
        let block_len = (LANES * self.dimension).max(1);
        for (b, block) in self.blocks.chunks_exact(block_len).enumerate() {
            let distances = block_distances(block, x);
            let first = b * LANES;
            let lanes = LANES.min(self.pairs - first);
            for (distance, a) in distances[..lanes].iter().zip(&self.weights[first..]) {
                total += (-distance / self.width).exp() * a;
            }
        }
        total
    }
}

/// The serialised fields of a [`OneClassSvm`], before the structural check.
#[derive(Deserialize)]
struct OneClassSvmFields {
    mean: Vec<f64>,
    inverse_sd: Vec<f64>,
    sigma: f64,
    svm: Svm<f64, bool>,
}

/// The serialised layout of `linfa_svm::Svm` 0.8, whose fields are private. Decoding a model's
/// `svm` field a second time into this type is the only way to read its support vectors and
/// kernel for the structural check, and encoding this type is the only way to build an `Svm`
/// from the weights that [`one_class_smo`] finds (linfa has no public constructor). The unit
/// tests `fitted_svm_passes_layout_check` and `solver_matches_linfa` fail if a linfa-svm
/// upgrade changes the layout.
#[derive(Serialize, Deserialize)]
struct SvmLayout {
    alpha: Vec<f64>,
    rho: f64,
    _r: Option<f64>,
    _exit_reason: ExitReason,
    _iterations: usize,
    _obj: f64,
    kernel_method: KernelLayout,
    sep_hyperplane: SeparatingHyperplane<f64>,
    _probability_coeffs: Option<(f64, f64)>,
}

/// The serialised layout of `linfa_kernel::KernelMethod`, variants in declaration order.
#[derive(Serialize, Deserialize)]
enum KernelLayout {
    Gaussian(f64),
    Linear,
    #[allow(dead_code, reason = "decoded only to reject the kernel")]
    Polynomial(f64, f64),
}

impl TryFrom<OneClassSvmFields> for OneClassSvm {
    type Error = Rejection;

    /// Accepts what [`OneClassSvm::fit`] produces: `d >= 1` finite means and inverse standard
    /// deviations, a positive finite `sigma`, and a Gaussian-kernel machine whose support
    /// vectors have `d` finite features. linfa's `weighted_sum` panics on support vectors of
    /// another length with a linear hyperplane, and silently truncates with a Gaussian kernel.
    fn try_from(f: OneClassSvmFields) -> Result<Self, Rejection> {
        let d = f.mean.len();
        if d == 0 || f.inverse_sd.len() != d {
            return Err(Rejection::from(format!(
                "one-class SVM has {d} means and {} inverse standard deviations; expected the \
                 same number, at least 1",
                f.inverse_sd.len()
            )));
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !(finite(&f.mean) && finite(&f.inverse_sd) && f.sigma.is_finite() && f.sigma > 0.0) {
            return Err(Rejection::from(format!(
                "one-class SVM has a mean or scale that is not finite, or sigma {}",
                f.sigma
            )));
        }
        let bytes = postcard::to_allocvec(&f.svm).map_err(|e| e.to_string())?;
        let layout: SvmLayout = postcard::from_bytes(&bytes).map_err(|e| e.to_string())?;
        let width = match layout.kernel_method {
            KernelLayout::Gaussian(eps) if eps.is_finite() && eps > 0.0 => eps,
            KernelLayout::Gaussian(eps) => {
                return Err(Rejection::from(format!(
                    "one-class SVM has Gaussian kernel width {eps}"
                )));
            }
            KernelLayout::Linear | KernelLayout::Polynomial(..) => {
                return Err(Rejection::from("one-class SVM must use a Gaussian kernel"));
            }
        };
        let SeparatingHyperplane::WeightedCombination(support) = &layout.sep_hyperplane else {
            return Err(Rejection::from(
                "one-class SVM must have support vectors, not a linear hyperplane",
            ));
        };
        if support.ncols() != d {
            return Err(Rejection::from(format!(
                "one-class SVM has support vectors of {} features for {d} means",
                support.ncols()
            )));
        }
        if !layout.rho.is_finite()
            || !finite(&layout.alpha)
            || !support.iter().all(|v| v.is_finite())
        {
            return Err(Rejection::from(
                "one-class SVM has a non-finite offset, weight or support vector",
            ));
        }
        let expansion = Expansion::new(support.view(), &layout.alpha, width);
        Ok(OneClassSvm {
            mean: f.mean,
            inverse_sd: f.inverse_sd,
            sigma: f.sigma,
            svm: f.svm,
            expansion,
        })
    }
}

impl OneClassSvm {
    pub(crate) fn fit(train: ArrayView2<'_, f64>, nu: f64, seed: u64) -> Result<Self> {
        let mean = train
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(train.ncols()));
        let sd = train.std_axis(Axis(0), 1.0);
        let inverse_sd = sd.mapv(|s| if s > 0.0 { 1.0 / s } else { 0.0 });
        let scaled: Array2<f64> = (&train - &mean) * &inverse_sd;
        let sigma = estimate_sigma(scaled.view(), seed)?;

        // linfa's Gaussian kernel is exp(-|x - y|^2 / eps), so eps = 1 / sigma.
        let (svm, expansion) = fit_svm(scaled.view(), 1.0 / sigma, nu)?;
        Ok(OneClassSvm {
            mean: mean.to_vec(),
            inverse_sd: inverse_sd.to_vec(),
            sigma,
            svm,
            expansion,
        })
    }

    /// Returns the kernel width `sigma` estimated from the training data.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
}

/// Fits the one-class machine with [`one_class_smo`] and stores it as a `linfa_svm::Svm`,
/// the type that the model file holds, with linfa's default stopping tolerance of `1e-7`.
fn fit_svm(
    scaled: ArrayView2<'_, f64>,
    width: f64,
    nu: f64,
) -> Result<(Svm<f64, bool>, Expansion)> {
    let fit_error = |message: String| Error::Fit {
        detector: "one-class-svm",
        message,
    };
    if scaled.nrows() == 0 || !(nu > 0.0 && nu <= 1.0) || !(width.is_finite() && width > 0.0) {
        return Err(fit_error(format!(
            "needs at least one training row, nu in (0, 1] and a positive kernel width; got \
             {} rows, nu {nu}, width {width}",
            scaled.nrows()
        )));
    }
    let solution = one_class_smo::solve(scaled, width, nu, 1e-7);
    // linfa keeps as support vectors the rows whose weight exceeds 100 machine epsilons.
    let support: Vec<usize> = (0..scaled.nrows())
        .filter(|&i| solution.alpha[i].abs() > 100.0 * f64::EPSILON)
        .collect();
    let support_vectors = scaled.select(Axis(0), &support);
    let expansion = Expansion::new(support_vectors.view(), &solution.alpha, width);
    let layout = SvmLayout {
        alpha: solution.alpha,
        rho: solution.rho,
        _r: None,
        _exit_reason: if solution.converged {
            ExitReason::ReachedThreshold
        } else {
            ExitReason::ReachedIterations
        },
        _iterations: solution.iterations,
        _obj: solution.objective,
        kernel_method: KernelLayout::Gaussian(width),
        sep_hyperplane: SeparatingHyperplane::WeightedCombination(support_vectors),
        _probability_coeffs: None,
    };
    let bytes = postcard::to_allocvec(&layout).map_err(|e| fit_error(e.to_string()))?;
    let svm = postcard::from_bytes(&bytes).map_err(|e| fit_error(e.to_string()))?;
    Ok((svm, expansion))
}

/// Estimates `sigma` as `kernlab::sigest` does (see [`OneClassSvm`]).
fn estimate_sigma(scaled: ArrayView2<'_, f64>, seed: u64) -> Result<f64> {
    let n = scaled.nrows();
    let pairs = (n / 2).max(1);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut distances: Vec<f64> = (0..pairs)
        .map(|_| {
            let a = scaled.row(rng.gen_range(0..n));
            let b = scaled.row(rng.gen_range(0..n));
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
        })
        .filter(|&d| d > 0.0)
        .collect();
    if distances.is_empty() {
        return Err(Error::training(
            "one-class-svm: all sampled training vectors are identical",
        ));
    }
    distances.sort_by(f64::total_cmp);
    // sigest takes the order statistics at ceiling(p * count), 1-based, without interpolation.
    let order_statistic = |p: f64| {
        let rank = (p * distances.len() as f64).ceil() as usize;
        distances[rank.clamp(1, distances.len()) - 1]
    };
    let q10 = order_statistic(0.1);
    let q90 = order_statistic(0.9);
    Ok((1.0 / q90 + 1.0 / q10) / 2.0)
}

impl VectorDetector for OneClassSvm {
    fn dimension(&self) -> usize {
        self.mean.len()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        // Up to 64 features are standardised on the stack, so scoring does not allocate.
        let mut stack = [0.0_f64; 64];
        let mut heap = Vec::new();
        let scaled: &mut [f64] = if x.len() <= stack.len() {
            &mut stack[..x.len()]
        } else {
            heap.resize(x.len(), 0.0);
            &mut heap
        };
        for (((out, v), m), s) in scaled
            .iter_mut()
            .zip(x)
            .zip(&self.mean)
            .zip(&self.inverse_sd)
        {
            *out = (v - m) * s;
        }
        self.svm.rho - self.expansion.weighted_sum(scaled)
    }
}

#[cfg(test)]
mod tests {
    use linfa::dataset::DatasetBase;
    use linfa::prelude::Pr;
    use linfa::traits::Fit;
    use ndarray::{Array2, ArrayView1, array};
    use rand::Rng;

    use super::*;
    use crate::detectors::Detector;
    use crate::limits::reencode;

    fn train(d: usize) -> Array2<f64> {
        Array2::from_shape_fn((12, d), |(i, j)| {
            0.1 + 0.01 * ((i * 7 + j * 3) % 11) as f64 + 0.02 * j as f64
        })
    }

    fn assert_invalid(result: Result<OneClassSvm>) {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    }

    #[test]
    fn fitted_svm_passes_layout_check() -> Result<()> {
        let model = OneClassSvm::fit(train(3).view(), 0.05, 7)?;
        let decoded = reencode(&model)?;
        assert_eq!(decoded, model);
        let sample = [0.12, 0.15, 0.2];
        assert_eq!(decoded.score(&sample[..])?, model.score(&sample[..])?);
        Ok(())
    }

    /// Fits with linfa-svm's own one-class solver, the reference for [`one_class_smo`].
    fn linfa_fit(scaled: ArrayView2<'_, f64>, width: f64, nu: f64) -> Svm<f64, bool> {
        Svm::<f64, Pr>::params()
            .nu_weight(nu)
            .gaussian_kernel(width)
            .fit(&DatasetBase::from(scaled.to_owned()))
            .expect("a one-class SVM fits standardised rows")
    }

    #[test]
    fn solver_matches_linfa() -> Result<()> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for (n, d, nu) in [(200, 31, 0.05), (60, 5, 0.3), (37, 2, 0.5), (9, 3, 1.0)] {
            let rows = Array2::from_shape_fn((n, d), |_| rng.gen_range(-2.0..2.0));
            let width = 1.0 / estimate_sigma(rows.view(), 3)?;
            let (ours, _) = fit_svm(rows.view(), width, nu)?;
            let reference = linfa_fit(rows.view(), width, nu);
            assert_eq!(ours.alpha, reference.alpha, "weights, n {n} d {d} nu {nu}");
            assert_eq!(ours.rho, reference.rho, "offset, n {n} d {d} nu {nu}");
            assert_eq!(ours, reference, "whole machine, n {n} d {d} nu {nu}");
        }
        Ok(())
    }

    #[test]
    fn expansion_matches_linfa() -> Result<()> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
        let rows = Array2::from_shape_fn((120, 7), |_| rng.gen_range(-1.0..1.0));
        let model = OneClassSvm::fit(rows.view(), 0.1, 5)?;
        let decoded = reencode(&model)?;
        for _ in 0..50 {
            let x: Vec<f64> = (0..7).map(|_| rng.gen_range(-1.5..1.5)).collect();
            let reference = model.svm.weighted_sum(&ArrayView1::from(&x));
            assert_eq!(model.expansion.weighted_sum(&x), reference, "fitted");
            assert_eq!(decoded.expansion.weighted_sum(&x), reference, "decoded");
        }
        Ok(())
    }

    #[test]
    fn fit_svm_rejects_bad_arguments() {
        let rows = train(3);
        assert!(fit_svm(rows.view(), 1.0, 0.0).is_err());
        assert!(fit_svm(rows.view(), 0.0, 0.5).is_err());
        assert!(fit_svm(Array2::zeros((0, 3)).view(), 1.0, 0.5).is_err());
    }

    #[test]
    fn decode_rejects_support_vectors_of_wrong_width() -> Result<()> {
        let mut model = OneClassSvm::fit(train(3).view(), 0.05, 7)?;
        model.svm = OneClassSvm::fit(train(2).view(), 0.05, 7)?.svm;
        assert_invalid(reencode(&model));
        Ok(())
    }

    #[test]
    fn decode_rejects_bad_scaling() -> Result<()> {
        let fitted = OneClassSvm::fit(train(3).view(), 0.05, 7)?;
        let mut model = fitted.clone();
        model.mean.pop();
        assert_invalid(reencode(&model));
        let mut model = fitted.clone();
        model.inverse_sd[0] = f64::NAN;
        assert_invalid(reencode(&model));
        let mut model = fitted;
        model.sigma = 0.0;
        assert_invalid(reencode(&model));
        Ok(())
    }

    #[test]
    fn decode_rejects_linear_kernel() -> Result<()> {
        let mut model = OneClassSvm::fit(train(2).view(), 0.05, 7)?;
        let x = array![[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
        let targets = array![true, false, true, false];
        let dataset = DatasetBase::new(x, targets);
        model.svm = Svm::<f64, bool>::params()
            .linear_kernel()
            .fit(&dataset)
            .expect("a linear SVM fits four points");
        assert_invalid(reencode(&model));
        Ok(())
    }
}

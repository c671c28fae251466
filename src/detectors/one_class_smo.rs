//! Sequential minimal optimisation for the one-class SVM dual (Schölkopf et al. 2001) with a
//! Gaussian kernel whose columns are computed only when the solver first needs them.
//!
//! NOTE: this replaces the one-class `fit` of `linfa-svm` 0.8, which builds the whole dense
//! `n x n` kernel matrix before it optimises and copies two kernel columns into new vectors
//! at every step. On the DSN-2009 replay (200 x 31 training sets, `nu = 0.05`) the solver
//! touches only a few dozen columns. With linfa, kernel evaluation took 60% of the replay's
//! CPU samples under `perf record`. The one-class SVM stage then took 0.27 s summed over 51
//! subjects against 0.24 s for scikit-learn's libsvm in `benches/compare/run.sh` (2-core
//! machine shared with other jobs).
//!
//! The steps are those of `linfa-svm` 0.8.1 without shrinking (its default), which follow
//! libsvm's solver. It starts with `alpha_i = 1` for the first `floor(nu * n)` rows. It chooses
//! the working pair by maximal violation and second-order gain (Fan, Chen & Lin 2005, "Working
//! set selection using second order information for training SVM"). It stops when the
//! violation is below `tolerance`. Kernel values, tie-breaking and the order of floating-point operations
//! are the same, so the fitted weights and offset equal linfa's; the unit tests compare both.

use ndarray::ArrayView2;

use crate::linalg::{LANES, block_distances, interleave};

/// A fitted one-class problem: the dual weights per training row and the offset `rho`, with
/// the decision value `sum_i alpha_i k(x_i, x) - rho`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OneClassSolution {
    /// Dual weight per training row, in `[0, 1]`, summing to `nu * n`.
    pub(crate) alpha: Vec<f64>,
    pub(crate) rho: f64,
    /// Half of `alpha' K alpha`, the dual objective at the solution.
    pub(crate) objective: f64,
    pub(crate) iterations: usize,
    /// False when the solver stopped at `max_iterations` before reaching `tolerance`.
    pub(crate) converged: bool,
}

/// Gaussian kernel matrix of the training rows, one column computed on first use.
struct LazyKernel<'a> {
    rows: ArrayView2<'a, f64>,
    /// The rows again in the blocks of `linalg::interleave`, so that a column's distances are
    /// computed eight at a time.
    blocks: Vec<f64>,
    /// linfa's kernel parameter: `k(x, y) = exp(-|x - y|^2 / width)`.
    width: f64,
    columns: Vec<Option<Vec<f64>>>,
}

impl<'a> LazyKernel<'a> {
    fn new(rows: ArrayView2<'a, f64>, width: f64) -> Self {
        LazyKernel {
            rows,
            blocks: interleave(rows),
            width,
            columns: vec![None; rows.nrows()],
        }
    }

    fn column(&mut self, i: usize) -> &[f64] {
        self.fill(i);
        self.filled(i)
    }

    /// Returns columns `i` and `j`, computing them first if needed.
    fn pair(&mut self, i: usize, j: usize) -> (&[f64], &[f64]) {
        self.fill(i);
        self.fill(j);
        (self.filled(i), self.filled(j))
    }

    fn filled(&self, i: usize) -> &[f64] {
        self.columns[i]
            .as_deref()
            .expect("OK because `fill` computed this column")
    }

    fn fill(&mut self, i: usize) {
        let (rows, width) = (self.rows, self.width);
        let (n, d) = rows.dim();
        let blocks = &self.blocks;
        self.columns[i].get_or_insert_with(|| {
            if d == 0 {
                // Every distance is zero without features.
                return vec![1.0; n];
            }
            let x: Vec<f64> = rows.row(i).to_vec();
            let mut column = Vec::with_capacity(n + LANES);
            // Each distance is summed in column order, as linfa-kernel does, so the kernel
            // values match it exactly. `truncate` drops the padding lanes of the last block.
            for block in blocks.chunks_exact(LANES * d) {
                column.extend(block_distances(block, &x).map(|distance| (-distance / width).exp()));
            }
            column.truncate(n);
            column
        });
    }
}

/// Solves `min 1/2 alpha' K alpha` subject to `0 <= alpha_i <= 1` and `sum alpha = nu * n`
/// over the rows of `rows`, with `K` the Gaussian kernel `exp(-|x - y|^2 / width)`.
///
/// The caller checks that `rows` has at least one row, `nu` is in `(0, 1]` and `width > 0`.
pub(crate) fn solve(
    rows: ArrayView2<'_, f64>,
    width: f64,
    nu: f64,
    tolerance: f64,
) -> OneClassSolution {
    let n = rows.nrows();
    let mut kernel = LazyKernel::new(rows, width);
    // Every diagonal entry is exp(0) = 1.
    let diagonal = 1.0;

    let total = nu * n as f64;
    let at_upper = total as usize;
    let mut alpha: Vec<f64> = (0..n)
        .map(|i| match i.cmp(&at_upper) {
            std::cmp::Ordering::Less => 1.0,
            std::cmp::Ordering::Equal => total - i as f64,
            std::cmp::Ordering::Greater => 0.0,
        })
        .collect();
    let reached_upper = |a: f64| a >= 1.0;
    let reached_lower = |a: f64| a == 0.0;

    // The gradient of 1/2 alpha' K alpha is K alpha.
    let mut gradient = vec![0.0; n];
    for (i, &a) in alpha.iter().enumerate() {
        if !reached_lower(a) {
            for (g, k) in gradient.iter_mut().zip(kernel.column(i)) {
                *g += a * k;
            }
        }
    }

    // linfa's limit: at least ten million steps.
    let max_iterations = (100 * n).max(10_000_000);
    let mut iterations = 0;
    while iterations < max_iterations {
        // The index that most violates optimality from below (`i`), and the largest gradient
        // among the weights that can still decrease.
        let mut up = (f64::NEG_INFINITY, None);
        let mut down = f64::NEG_INFINITY;
        for (k, (&a, &g)) in alpha.iter().zip(&gradient).enumerate() {
            if !reached_upper(a) && -g >= up.0 {
                up = (-g, Some(k));
            }
            if !reached_lower(a) && g >= down {
                down = g;
            }
        }
        let Some(i) = up.1 else { break };
        if up.0 + down < tolerance {
            break;
        }
        // The partner `j` with the largest second-order decrease of the objective.
        let column_i = kernel.column(i);
        let mut best = (f64::INFINITY, None);
        for (j, (&a, &g)) in alpha.iter().zip(&gradient).enumerate() {
            if reached_lower(a) {
                continue;
            }
            let gain = up.0 + g;
            if gain > 0.0 {
                let mut curvature = diagonal + diagonal - 2.0 * column_i[j];
                if curvature <= 0.0 {
                    curvature = 1e-10;
                }
                let decrease = -(gain * gain) / curvature;
                if decrease <= best.0 {
                    best = (decrease, Some(j));
                }
            }
        }
        let Some(j) = best.1 else { break };
        iterations += 1;
        step(&mut kernel, &mut alpha, &mut gradient, i, j);
    }

    OneClassSolution {
        rho: offset(&alpha, &gradient),
        objective: alpha.iter().zip(&gradient).map(|(a, g)| a * g).sum::<f64>() / 2.0,
        converged: iterations < max_iterations,
        iterations,
        alpha,
    }
}

/// Moves weight between `alpha[i]` and `alpha[j]` along the constraint `sum alpha = nu * n`
/// to the clipped minimum, and updates the gradient.
fn step(kernel: &mut LazyKernel<'_>, alpha: &mut [f64], gradient: &mut [f64], i: usize, j: usize) {
    let old_i = alpha[i];
    let old_j = alpha[j];
    let k_ij = kernel.column(i)[j];
    let mut curvature = 2.0 - 2.0 * k_ij;
    if curvature <= 0.0 {
        curvature = 1e-10;
    }
    let delta = (gradient[i] - gradient[j]) / curvature;
    let sum = old_i + old_j;
    alpha[i] -= delta;
    alpha[j] += delta;
    // Clip to the box [0, 1]^2 on the line alpha_i + alpha_j = sum, in linfa's order.
    if sum > 1.0 {
        if alpha[i] > 1.0 {
            alpha[i] = 1.0;
            alpha[j] = sum - 1.0;
        }
    } else if alpha[j] < 0.0 {
        alpha[j] = 0.0;
        alpha[i] = sum;
    }
    if sum > 1.0 {
        if alpha[j] > 1.0 {
            alpha[j] = 1.0;
            alpha[i] = sum - 1.0;
        }
    } else if alpha[i] < 0.0 {
        alpha[i] = 0.0;
        alpha[j] = sum;
    }

    let delta_i = alpha[i] - old_i;
    let delta_j = alpha[j] - old_j;
    let (column_i, column_j) = kernel.pair(i, j);
    for ((g, ki), kj) in gradient.iter_mut().zip(column_i).zip(column_j) {
        *g += ki * delta_i + kj * delta_j;
    }
}

/// Returns `rho`: the mean gradient over free weights, or the midpoint of the bounds that the
/// weights at 0 and at 1 put on it when no weight is free.
fn offset(alpha: &[f64], gradient: &[f64]) -> f64 {
    let mut free = 0;
    let mut free_sum = 0.0;
    let mut upper = f64::INFINITY;
    let mut lower = f64::NEG_INFINITY;
    for (&a, &g) in alpha.iter().zip(gradient) {
        if a >= 1.0 {
            lower = lower.max(g);
        } else if a == 0.0 {
            upper = upper.min(g);
        } else {
            free += 1;
            free_sum += g;
        }
    }
    if free > 0 {
        free_sum / free as f64
    } else {
        (upper + lower) / 2.0
    }
}

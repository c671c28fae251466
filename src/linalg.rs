//! Small dense linear-algebra helpers over ndarray.

use linfa_linalg::eigh::Eigh;
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{Error, Result};

/// Column means of `x` (n x d).
pub(crate) fn column_means(x: ArrayView2<'_, f64>) -> Array1<f64> {
    x.mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(x.ncols()))
}

/// Sample covariance (divisor n - 1) of the rows of `x`.
pub(crate) fn sample_covariance(x: ArrayView2<'_, f64>, mean: &Array1<f64>) -> Array2<f64> {
    let centred = &x - mean;
    let divisor = (x.nrows().saturating_sub(1)).max(1) as f64;
    centred.t().dot(&centred) / divisor
}

/// Whitening transform `W` (r x d) of a symmetric positive semi-definite matrix `a`, such that
/// `W^T W` is the Moore-Penrose pseudo-inverse of `a` and `r` is the numerical rank.
///
/// With it, the Mahalanobis form `v^T a^+ v` is the squared length of `W v`, which costs
/// `r * d` operations instead of `d * d` and lets nearest-neighbour searches work in `r`
/// dimensions.
///
/// Eigenvalues at or below `sqrt(f64::EPSILON) * max_eigenvalue` are treated as zero, the
/// cut-off of R's `MASS::ginv`, which the DSN-2009 evaluation used. It matters on keystroke
/// data: `DD = H + UD` exactly, so a 31-feature CMU covariance has rank 21, and the ten null
/// eigenvalues come out of the solver as rounding noise that must not be inverted.
///
/// The `linfa-linalg` symmetric eigen-solver is used because it is pure Rust and needs no
/// LAPACK on the machine.
pub(crate) fn whitening(a: &Array2<f64>) -> Result<Array2<f64>> {
    let (values, vectors) = a
        .eigh()
        .map_err(|e| Error::training(format!("eigen-decomposition failed: {e}")))?;
    let largest = values.iter().fold(0.0_f64, |m, &v| m.max(v.abs()));
    let cutoff = f64::EPSILON.sqrt() * largest;
    let kept: Vec<usize> = (0..values.len()).filter(|&i| values[i] > cutoff).collect();
    if kept.is_empty() {
        return Err(Error::training(
            "the covariance matrix is zero: every feature is constant",
        ));
    }
    let mut w = Array2::zeros((kept.len(), a.ncols()));
    for (row, &i) in kept.iter().enumerate() {
        let scale = 1.0 / values[i].sqrt();
        w.row_mut(row).assign(&(&vectors.column(i) * scale));
    }
    Ok(w)
}

/// Number of rows in one [`interleave`] block, whose sums [`block_distances`] and
/// [`block_products`] compute together.
pub(crate) const LANES: usize = 8;

/// Lays out the rows of `rows` (n x d, n >= 1) in blocks of [`LANES`] rows for
/// [`block_distances`]: within a block, column `j` of its rows sits at `j * LANES + lane`. The
/// last block is filled up with copies of the last row; callers ignore or tolerate those
/// lanes. Returns an empty buffer when `rows` has no rows.
pub(crate) fn interleave(rows: ArrayView2<'_, f64>) -> Vec<f64> {
    let (n, d) = rows.dim();
    let mut blocks = Vec::with_capacity(n.div_ceil(LANES) * LANES * d);
    for first in (0..n).step_by(LANES) {
        for j in 0..d {
            for lane in 0..LANES {
                blocks.push(rows[[(first + lane).min(n - 1), j]]);
            }
        }
    }
    blocks
}

/// Returns the squared Euclidean distances from `x` to the [`LANES`] rows of one block of [`interleave`].
///
/// Each distance adds `(row_j - x_j)^2` in column order from zero, exactly as a plain loop
/// over one row would, so the values are the same bit for bit. Keeping the lanes side by side
/// lets the compiler advance them together in vector instructions instead of waiting on one
/// addition chain per row.
#[inline]
pub(crate) fn block_distances(block: &[f64], x: &[f64]) -> [f64; LANES] {
    block_sums(block, x, |p, q| (p - q) * (p - q))
}

/// Returns the dot products of `v` with the [`LANES`] rows of one block of [`interleave`].
///
/// Each product adds `row_j * v_j` in column order from zero, exactly as a plain dot product
/// of one row would, so the values are the same bit for bit. The sums stay in registers for
/// the whole block instead of being loaded and stored once per column.
#[inline]
pub(crate) fn block_products(block: &[f64], v: &[f64]) -> [f64; LANES] {
    block_sums(block, v, |p, q| p * q)
}

/// Adds `term(row_j, x_j)` over the columns of one block of [`interleave`], for each of its
/// [`LANES`] rows, in column order from zero.
#[inline(always)]
fn block_sums(block: &[f64], x: &[f64], term: impl Fn(f64, f64) -> f64) -> [f64; LANES] {
    let mut sums = [0.0_f64; LANES];
    for (column, &q) in block.chunks_exact(LANES).zip(x) {
        for (sum, &p) in sums.iter_mut().zip(column) {
            *sum += term(p, q);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn whitening_inverts_full_rank() {
        let a = array![[4.0, 1.0], [1.0, 3.0]];
        let w = whitening(&a).unwrap();
        let p = w.t().dot(&w);
        let identity = a.dot(&p);
        for ((i, j), v) in identity.indexed_iter() {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((v - want).abs() < 1e-12, "{identity:?}");
        }
    }

    #[test]
    fn whitening_of_rank_deficient_satisfies_penrose() {
        // Third column is the sum of the first two, as DD = H + UD.
        let x = array![
            [1.0, 2.0, 3.0],
            [2.0, 1.0, 3.0],
            [0.5, 0.7, 1.2],
            [1.5, 0.2, 1.7]
        ];
        let m = column_means(x.view());
        let c = sample_covariance(x.view(), &m);
        let w = whitening(&c).unwrap();
        assert_eq!(w.nrows(), 2, "rank of the covariance is 2");
        let p = w.t().dot(&w);
        let back = c.dot(&p).dot(&c);
        for (a, b) in back.iter().zip(c.iter()) {
            assert!((a - b).abs() < 1e-10);
        }
    }

    #[test]
    fn block_distances_equal_row_by_row_sums() {
        let rows = Array2::from_shape_fn((11, 5), |(i, j)| (i * 7 + j * 3) as f64 * 0.37 - 4.0);
        let x = [0.3, -1.2, 2.5, 0.0, 7.1];
        let blocks = interleave(rows.view());
        assert_eq!(blocks.len(), 2 * LANES * 5);
        let mut found = Vec::new();
        for block in blocks.chunks_exact(LANES * 5) {
            found.extend(block_distances(block, &x));
        }
        for (i, row) in rows.rows().into_iter().enumerate() {
            let mut expected = 0.0;
            for (p, q) in row.iter().zip(&x) {
                expected += (p - q) * (p - q);
            }
            assert_eq!(found[i].to_bits(), expected.to_bits(), "row {i}");
        }
        // The padding lanes repeat the last row.
        assert_eq!(found[11..], [found[10]; 5]);
        assert!(interleave(rows.slice_axis(Axis(0), (..0).into())).is_empty());
    }
}

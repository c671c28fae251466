//! Score fusion of one-class detectors with normalisation fitted by cross-validation on the
//! training vectors.

use ndarray::{ArrayView2, Axis, Slice};
use serde::{Deserialize, Serialize};

use super::VectorDetector;
use super::extended::{OneClassKind, OneClassModel, OneClassParams};
use crate::error::{Error, Result};

/// Contiguous cross-validation folds over `n` rows: the half-open row range of fold `f`.
///
/// Contiguous blocks, not interleaved rows, are held out so that each held-out block comes from
/// a different stretch of the enrolment (a different session in the CMU data), the way later
/// genuine attempts differ from the enrolment.
pub(crate) fn fold_range(n: usize, folds: usize, f: usize) -> std::ops::Range<usize> {
    (f * n / folds)..((f + 1) * n / folds)
}

/// Returns the rows of `x` in `range` as a view.
pub(crate) fn rows_in<'a>(
    x: ArrayView2<'a, f64>,
    range: &std::ops::Range<usize>,
) -> ArrayView2<'a, f64> {
    x.slice_axis_move(Axis(0), Slice::from(range.clone()))
}

/// Copies every row of `x` outside `held_out`.
pub(crate) fn rows_outside(
    x: ArrayView2<'_, f64>,
    held_out: &std::ops::Range<usize>,
) -> ndarray::Array2<f64> {
    let kept: Vec<usize> = (0..x.nrows()).filter(|i| !held_out.contains(i)).collect();
    x.select(Axis(0), &kept)
}

/// Mean of z-normalised component scores, `sum_c (s_c(x) - m_c) / sd_c / C`.
///
/// For each component, `m_c` and `sd_c` are the mean and standard deviation of its scores on
/// held-out genuine vectors. The training rows are cut into contiguous folds, and the component
/// is fitted on all folds but one and scores the held-out fold. The components scored at test time
/// are then refitted on every training row. Only training rows enter the fit, so
/// the normalisation never uses a test vector. The weights are equal because choosing unequal
/// weights needs impostor data, which a one-class detector does not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZNormFusion {
    components: Vec<OneClassModel>,
    mean: Vec<f64>,
    inverse_sd: Vec<f64>,
}

impl ZNormFusion {
    /// Fits `kinds` (none of which may itself be a fusion) on `train`.
    pub(crate) fn fit(
        train: ArrayView2<'_, f64>,
        kinds: &[OneClassKind],
        params: &OneClassParams,
    ) -> Result<Self> {
        let n = train.nrows();
        if n < 3 {
            return Err(Error::training(format!(
                "{n} training vectors; fusion needs at least 3 for cross-validation"
            )));
        }
        let folds = params.cv_folds.min(n);
        let mut components = Vec::with_capacity(kinds.len());
        let mut mean = Vec::with_capacity(kinds.len());
        let mut inverse_sd = Vec::with_capacity(kinds.len());
        for &kind in kinds {
            let component = OneClassParams {
                kind,
                ..params.clone()
            };
            let mut held_out_scores = Vec::with_capacity(n);
            for f in 0..folds {
                let range = fold_range(n, folds, f);
                let fitted = component.fit(rows_outside(train, &range).view())?;
                let held_out = rows_in(train, &range);
                held_out_scores.extend(fitted.score_rows(held_out)?);
            }
            let (m, sd) = crate::evaluation::metrics::mean_sd(&held_out_scores);
            mean.push(m);
            inverse_sd.push(if sd > 0.0 && sd.is_finite() {
                1.0 / sd
            } else {
                1.0
            });
            components.push(component.fit(train)?);
        }
        Ok(ZNormFusion {
            components,
            mean,
            inverse_sd,
        })
    }
}

impl VectorDetector for ZNormFusion {
    fn dimension(&self) -> usize {
        self.components.first().map_or(0, |c| c.dimension())
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let total: f64 = self
            .components
            .iter()
            .zip(&self.mean)
            .zip(&self.inverse_sd)
            .map(|((c, m), w)| (c.score_unchecked(x) - m) * w)
            .sum();
        total / self.components.len().max(1) as f64
    }
}

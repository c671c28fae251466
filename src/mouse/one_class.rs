//! A one-class action model that needs only the user's own data.
//!
//! Each feature is scaled by the user's own median and median absolute deviation (MAD), and an
//! action's anomaly score is the mean over features of the absolute robust z-score, capped at
//! [`RobustZ::CAP`]. Reasons for this choice over the alternatives:
//!
//! - Mouse features are heavy-tailed (speeds, jerks and curvatures span orders of magnitude),
//!   and training sessions contain warps and stray actions; the median and MAD ignore such
//!   outliers, where a mean and standard deviation would be dominated by them.
//! - A Mahalanobis distance needs the inverse covariance of the features, but many features
//!   are near-linear functions of others (`v` and `vx` statistics, `duration` and
//!   `time_to_accel`), so that covariance is close to singular and its inverse amplifies noise.
//! - The cap keeps one extreme feature (for example a jerk maximum of a single jittery action)
//!   from deciding the score on its own.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Per-feature median and robust scale of one user's actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustZ {
    median: Vec<f64>,
    /// Robust scale per feature; 0 marks a feature that was constant in training and is
    /// ignored.
    scale: Vec<f64>,
}

impl RobustZ {
    /// Largest absolute z-score one feature contributes.
    pub const CAP: f64 = 10.0;

    /// Fits the model on one user's action features, one action per row.
    ///
    /// The scale is `1.4826 × MAD` (which equals the standard deviation for normal data); when
    /// the MAD is 0 (more than half the values equal, as for the action type), it falls back
    /// to `1.2533 ×` the mean absolute deviation from the median, and a feature with both 0 is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTrainingData`] when `x` has fewer than 2 rows, no columns, or a value
    /// that is not finite.
    pub fn fit(x: ArrayView2<'_, f64>) -> Result<Self> {
        let (n, d) = x.dim();
        if n < 2 || d == 0 {
            return Err(Error::training(format!(
                "{n} actions with {d} features; need at least 2 actions"
            )));
        }
        if let Some(((row, col), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::training(format!("row {row} feature {col} is {v}")));
        }
        let mut median = Vec::with_capacity(d);
        let mut scale = Vec::with_capacity(d);
        for column in x.columns() {
            let mut values = column.to_vec();
            let m = median_of(&mut values);
            let mut deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
            let mad = median_of(&mut deviations);
            let mean_dev = deviations.iter().sum::<f64>() / n as f64;
            median.push(m);
            scale.push(if mad > 0.0 {
                1.4826 * mad
            } else {
                1.2533 * mean_dev
            });
        }
        Ok(RobustZ { median, scale })
    }

    /// Anomaly score of one action: the mean capped absolute robust z-score over the features
    /// that varied in training. Higher is more anomalous.
    ///
    /// # Errors
    ///
    /// [`Error::DimensionMismatch`] for a wrong length and [`Error::NonFiniteFeature`] for a
    /// NaN or infinite value.
    pub fn score(&self, row: &[f64]) -> Result<f64> {
        if row.len() != self.median.len() {
            return Err(Error::DimensionMismatch {
                expected: self.median.len(),
                actual: row.len(),
            });
        }
        let mut sum = 0.0;
        let mut used = 0usize;
        for (index, ((&value, &median), &scale)) in
            row.iter().zip(&self.median).zip(&self.scale).enumerate()
        {
            if !value.is_finite() {
                return Err(Error::NonFiniteFeature { index, value });
            }
            if scale > 0.0 {
                sum += ((value - median) / scale).abs().min(Self::CAP);
                used += 1;
            }
        }
        Ok(if used == 0 { 0.0 } else { sum / used as f64 })
    }
}

impl RobustZ {
    /// Returns this model with each median and scale moved toward `session`'s by the fraction
    /// `rate`. A feature ignored (scale 0) in either model keeps this model's scale.
    ///
    /// # Errors
    ///
    /// [`Error::DimensionMismatch`] when the models have different feature counts.
    pub fn moved_toward(&self, session: &RobustZ, rate: f64) -> Result<RobustZ> {
        if session.median.len() != self.median.len() {
            return Err(Error::DimensionMismatch {
                expected: self.median.len(),
                actual: session.median.len(),
            });
        }
        let median = self
            .median
            .iter()
            .zip(&session.median)
            .map(|(own, new)| own + rate * (new - own))
            .collect();
        let scale = self
            .scale
            .iter()
            .zip(&session.scale)
            .map(|(&own, &new)| {
                if own > 0.0 && new > 0.0 {
                    own + rate * (new - own)
                } else {
                    own
                }
            })
            .collect();
        Ok(RobustZ { median, scale })
    }

    /// Location-shift anomaly score of a whole session, one action per row of `rows`.
    ///
    /// For each feature that varied in training, the session's median is compared with the
    /// user's training median: `min(CAP, |median_session - median_user| / scale)`, and the
    /// score is the mean over those features. Per-action scores ([`RobustZ::score`]) mostly
    /// measure how spread out single actions are, and one user's actions already spread
    /// widely. The median of many actions is far less noisy, so a shift of a session's typical
    /// speed, curvature or duration shows even when each action alone looks ordinary.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `rows` has no row, [`Error::DimensionMismatch`] for a
    /// wrong number of columns and [`Error::NonFiniteFeature`] for a NaN or infinite value.
    pub fn session_shift(&self, rows: ArrayView2<'_, f64>) -> Result<f64> {
        if rows.ncols() != self.median.len() {
            return Err(Error::DimensionMismatch {
                expected: self.median.len(),
                actual: rows.ncols(),
            });
        }
        if rows.nrows() == 0 {
            return Err(Error::InvalidParameter {
                name: "rows",
                value: "0 rows".into(),
                expected: "at least one action",
            });
        }
        if let Some(((_, index), &value)) = rows.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFiniteFeature { index, value });
        }
        let mut sum = 0.0;
        let mut used = 0usize;
        for ((column, &median), &scale) in rows
            .columns()
            .into_iter()
            .zip(&self.median)
            .zip(&self.scale)
        {
            if scale > 0.0 {
                let session_median = median_of(&mut column.to_vec());
                sum += ((session_median - median) / scale).abs().min(Self::CAP);
                used += 1;
            }
        }
        Ok(if used == 0 { 0.0 } else { sum / used as f64 })
    }
}

/// Median by selection; reorders `values`. `values` must be non-empty.
fn median_of(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (_, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..n / 2]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn centre_scores_zero_far_scores_high() -> Result<()> {
        let x = array![
            [1.0, 10.0],
            [2.0, 20.0],
            [3.0, 30.0],
            [4.0, 40.0],
            [5.0, 50.0]
        ];
        let model = RobustZ::fit(x.view())?;
        assert_eq!(model.score(&[3.0, 30.0])?, 0.0);
        // MAD is 1 and 10, so the scale is 1.4826 and 14.826.
        let z = model.score(&[3.0 + 1.4826, 30.0])?;
        assert!((z - 0.5).abs() < 1e-12, "{z}");
        assert_eq!(model.score(&[1e9, 30.0])?, RobustZ::CAP / 2.0);
        Ok(())
    }

    #[test]
    fn outlier_does_not_move_the_scale() -> Result<()> {
        let clean = array![[1.0], [2.0], [3.0], [4.0], [5.0]];
        let dirty = array![[1.0], [2.0], [3.0], [4.0], [5e6]];
        let a = RobustZ::fit(clean.view())?.score(&[6.0])?;
        let b = RobustZ::fit(dirty.view())?.score(&[6.0])?;
        assert_eq!(a, b);
        Ok(())
    }

    #[test]
    fn mostly_constant_feature_uses_mean_deviation() -> Result<()> {
        let x = array![[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [2.0, 4.0]];
        let model = RobustZ::fit(x.view())?;
        // Feature 0: median 0, MAD 0, mean absolute deviation 0.5, scale 0.62665.
        let z = model.score(&[0.62665, 2.5])?;
        assert!((z - 0.5).abs() < 1e-9, "{z}");
        Ok(())
    }

    #[test]
    fn session_shift_sees_moved_median() -> Result<()> {
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0]];
        let model = RobustZ::fit(x.view())?;
        assert_eq!(
            model.session_shift(array![[1.0], [3.0], [5.0]].view())?,
            0.0
        );
        // Session median 3 + 1.4826 is one scale unit away.
        let shifted = array![[2.0], [3.0 + 1.4826], [9.0]];
        let z = model.session_shift(shifted.view())?;
        assert!((z - 1.0).abs() < 1e-12, "{z}");
        assert_eq!(model.session_shift(array![[1e9]].view())?, RobustZ::CAP);
        Ok(())
    }

    #[test]
    fn session_shift_bad_input_rejected() -> Result<()> {
        let model = RobustZ::fit(array![[1.0], [2.0]].view())?;
        assert!(matches!(
            model.session_shift(ndarray::Array2::<f64>::zeros((0, 1)).view()),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            model.session_shift(array![[1.0, 2.0]].view()),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            model.session_shift(array![[f64::INFINITY]].view()),
            Err(Error::NonFiniteFeature { .. })
        ));
        Ok(())
    }

    #[test]
    fn bad_input_rejected() -> Result<()> {
        assert!(matches!(
            RobustZ::fit(array![[1.0]].view()),
            Err(Error::InvalidTrainingData { .. })
        ));
        assert!(matches!(
            RobustZ::fit(array![[1.0], [f64::NAN]].view()),
            Err(Error::InvalidTrainingData { .. })
        ));
        let model = RobustZ::fit(array![[1.0], [2.0]].view())?;
        assert!(matches!(
            model.score(&[1.0, 2.0]),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            model.score(&[f64::NAN]),
            Err(Error::NonFiniteFeature { .. })
        ));
        Ok(())
    }
}

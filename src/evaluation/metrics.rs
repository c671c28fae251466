//! Verification error rates from genuine and impostor anomaly scores.
//!
//! Scores are anomaly scores: higher means more likely an impostor. A threshold `t` rejects
//! every attempt scoring `>= t`. Two error rates follow, named as in DSN-2009:
//!
//! - **miss rate** (false-match rate, FMR): the fraction of impostor attempts accepted;
//! - **false-alarm rate** (false-non-match rate, FNMR): the fraction of genuine attempts
//!   rejected.
//!
//! The ROC is traced with one point per distinct score (equal scores collapse into a single
//! point, because no threshold can separate them), plus the point that rejects nothing.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One operating point of a verification system.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Threshold: attempts scoring at or above it are rejected (`+inf` rejects none).
    pub threshold: f64,
    /// Fraction of impostor attempts accepted (FMR).
    pub miss_rate: f64,
    /// Fraction of genuine attempts rejected (FNMR).
    pub false_alarm_rate: f64,
}

/// Error rates of one set of genuine and impostor scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRates {
    /// Equal-error rate: linear interpolation between the two ROC points that bracket
    /// miss rate = false-alarm rate.
    pub eer: f64,
    /// Lower end of the FVC equal-error interval at the bracketing points.
    pub eer_low: f64,
    /// Upper end of the FVC equal-error interval at the bracketing points.
    pub eer_high: f64,
    /// False-alarm rate at the strictest threshold that accepts no impostor.
    pub zero_miss_far: f64,
    /// Area under the ROC: the probability that a random impostor scores above a random
    /// genuine attempt, counting ties as one half.
    pub auc: f64,
    /// Lowest false-alarm rate at which at most 1% of impostors are accepted.
    pub fnmr_at_fmr_1pct: f64,
    /// Lowest false-alarm rate at which at most 0.1% of impostors are accepted.
    pub fnmr_at_fmr_01pct: f64,
}

/// Traces the ROC, from the point that rejects nothing (miss rate 1) to the point that rejects
/// everything (false-alarm rate 1).
///
/// # Errors
///
/// [`Error::InvalidParameter`] when either list is empty or holds a NaN.
pub fn roc(genuine: &[f64], impostor: &[f64]) -> Result<Vec<RocPoint>> {
    check_scores("genuine scores", genuine)?;
    check_scores("impostor scores", impostor)?;
    let mut all: Vec<(f64, bool)> = genuine
        .iter()
        .map(|&s| (s, false))
        .chain(impostor.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));

    let n_genuine = genuine.len() as f64;
    let n_impostor = impostor.len() as f64;
    let mut accepted_impostors = impostor.len();
    let mut rejected_genuine = 0_usize;
    let mut points = Vec::with_capacity(all.len() + 1);
    points.push(RocPoint {
        threshold: f64::INFINITY,
        miss_rate: 1.0,
        false_alarm_rate: 0.0,
    });
    let mut i = 0;
    while i < all.len() {
        let threshold = all[i].0;
        while i < all.len() && all[i].0 == threshold {
            if all[i].1 {
                accepted_impostors -= 1;
            } else {
                rejected_genuine += 1;
            }
            i += 1;
        }
        points.push(RocPoint {
            threshold,
            miss_rate: accepted_impostors as f64 / n_impostor,
            false_alarm_rate: rejected_genuine as f64 / n_genuine,
        });
    }
    Ok(points)
}

fn check_scores(name: &'static str, scores: &[f64]) -> Result<()> {
    if scores.is_empty() {
        return Err(Error::InvalidParameter {
            name,
            value: "[]".into(),
            expected: "at least one score",
        });
    }
    if scores.iter().any(|s| s.is_nan()) {
        return Err(Error::InvalidParameter {
            name,
            value: "a list containing NaN".into(),
            expected: "numbers that are not NaN",
        });
    }
    Ok(())
}

/// Computes every error rate of [`ErrorRates`] from one set of scores.
///
/// # Errors
///
/// As [`roc`].
pub fn error_rates(genuine: &[f64], impostor: &[f64]) -> Result<ErrorRates> {
    let points = roc(genuine, impostor)?;
    let (eer, eer_low, eer_high) = equal_error_rate(&points);
    let zero_miss_far = points
        .iter()
        .filter(|p| p.miss_rate == 0.0)
        .map(|p| p.false_alarm_rate)
        .fold(1.0, f64::min);
    Ok(ErrorRates {
        eer,
        eer_low,
        eer_high,
        zero_miss_far,
        auc: auc(genuine, impostor),
        fnmr_at_fmr_1pct: fnmr_at_fmr(&points, 0.01),
        fnmr_at_fmr_01pct: fnmr_at_fmr(&points, 0.001),
    })
}

/// Equal-error rate and the FVC interval around it.
///
/// Along the ROC `d = miss - false_alarm` falls strictly from 1 to -1. `x` is the point with
/// the smallest `d >= 0`, `y` the one with the largest `d < 0`; the EER is where the segment
/// from `x` to `y` crosses `miss = false_alarm`, as in the evaluation script published with
/// DSN-2009. The interval is `[fa(x), miss(x)]` or `[miss(y), fa(y)]`, whichever point has the
/// lower sum of the two rates (Maio et al., FVC2000).
fn equal_error_rate(points: &[RocPoint]) -> (f64, f64, f64) {
    // The first point has d = 1 and the last d = -1, so both searches succeed.
    let split = points
        .iter()
        .position(|p| p.miss_rate - p.false_alarm_rate < 0.0);
    let Some(j) = split.filter(|&j| j > 0) else {
        return (0.0, 0.0, 0.0);
    };
    let x = points[j - 1];
    let y = points[j];
    let (x1, x2) = (x.miss_rate, x.false_alarm_rate);
    let (y1, y2) = (y.miss_rate, y.false_alarm_rate);
    let a = (x1 - x2) / (y2 - y1 - x2 + x1);
    let eer = x1 + a * (y1 - x1);
    let (low, high) = if x1 + x2 <= y1 + y2 {
        (x2, x1)
    } else {
        (y1, y2)
    };
    (eer, low, high)
}

fn fnmr_at_fmr(points: &[RocPoint], fmr: f64) -> f64 {
    points
        .iter()
        .filter(|p| p.miss_rate <= fmr + 1e-12)
        .map(|p| p.false_alarm_rate)
        .fold(1.0, f64::min)
}

/// Area under the ROC by the Mann-Whitney statistic, ties counted as one half.
///
/// Runs in `O((n + m) log(n + m))` by ranking the pooled scores.
pub fn auc(genuine: &[f64], impostor: &[f64]) -> f64 {
    if genuine.is_empty() || impostor.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = genuine
        .iter()
        .map(|&s| (s, false))
        .chain(impostor.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of mid-ranks of the impostor scores.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let mid_rank = (i + 1 + j) as f64 / 2.0;
        let impostors = all[i..j].iter().filter(|e| e.1).count();
        rank_sum += mid_rank * impostors as f64;
        i = j;
    }
    let m = impostor.len() as f64;
    let n = genuine.len() as f64;
    (rank_sum - m * (m + 1.0) / 2.0) / (m * n)
}

/// Mean and sample standard deviation (divisor n - 1; 0 for a single value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, variance.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn perfect_separation() {
        let r = error_rates(&[0.1, 0.2, 0.3], &[0.5, 0.6]).unwrap();
        assert_eq!(r.eer, 0.0);
        assert_eq!(r.zero_miss_far, 0.0);
        assert_eq!(r.auc, 1.0);
        assert_eq!(r.fnmr_at_fmr_1pct, 0.0);
    }

    #[test]
    fn reversed_polarity() {
        let r = error_rates(&[0.5, 0.6], &[0.1, 0.2]).unwrap();
        assert_eq!(r.eer, 1.0);
        assert_eq!(r.zero_miss_far, 1.0);
        assert_eq!(r.auc, 0.0);
    }

    #[test]
    fn ties_everywhere() {
        let r = error_rates(&[1.0, 1.0, 1.0], &[1.0, 1.0]).unwrap();
        // Only two ROC points: (miss 1, fa 0) and (miss 0, fa 1); the EER is 0.5.
        assert!(close(r.eer, 0.5), "{r:?}");
        assert_eq!(r.auc, 0.5);
        assert_eq!(r.zero_miss_far, 1.0);
        let points = roc(&[1.0, 1.0, 1.0], &[1.0, 1.0]).unwrap();
        assert_eq!(points.len(), 2);
    }

    #[test]
    fn one_sample_each() {
        let r = error_rates(&[0.3], &[0.7]).unwrap();
        assert_eq!(r.eer, 0.0);
        let r = error_rates(&[0.7], &[0.3]).unwrap();
        assert_eq!(r.eer, 1.0);
    }

    #[test]
    fn hand_computed_interpolation() {
        // Genuine 1, 2, 3, 4; impostor 2.5, 3.5, 5, 6.
        // ROC by descending thresholds (miss, fa):
        //   inf (1, 0); 6 (0.75, 0); 5 (0.5, 0); 4 (0.5, 0.25); 3.5 (0.25, 0.25);
        //   3 (0.25, 0.5); ...
        // d = miss - fa is 0 at threshold 3.5, so x = (0.25, 0.25) and the EER is 0.25.
        let r = error_rates(&[1.0, 2.0, 3.0, 4.0], &[2.5, 3.5, 5.0, 6.0]).unwrap();
        assert!(close(r.eer, 0.25), "{r:?}");
        assert!(close(r.eer_low, 0.25) && close(r.eer_high, 0.25));
        // Zero miss needs threshold 2.5: genuine 3 and 4 rejected.
        assert!(close(r.zero_miss_far, 0.5));
        // Pairs (impostor > genuine): 2.5 beats 2, 3.5 beats 3, 5 and 6 beat 4: 2+3+4+4 = 13.
        assert!(close(r.auc, 13.0 / 16.0));
    }

    #[test]
    fn interpolates_between_bracketing_points() {
        // Genuine 0, 3; impostor 1, 2, 4.
        // ROC: inf (1, 0); 4 (2/3, 0); 3 (2/3, 0.5); 2 (1/3, 0.5); ...
        // x = (2/3, 0.5) with d = 1/6; y = (1/3, 0.5) with d = -1/6.
        // On the segment fa stays 0.5 while miss falls from 2/3 to 1/3: crossing at 0.5.
        let r = error_rates(&[0.0, 3.0], &[1.0, 2.0, 4.0]).unwrap();
        assert!(close(r.eer, 0.5), "{r:?}");
    }

    #[test]
    fn fnmr_at_fixed_fmr() {
        let genuine: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let impostor: Vec<f64> = (0..100).map(|i| 50.0 + i as f64 + 0.5).collect();
        let r = error_rates(&genuine, &impostor).unwrap();
        // Accepting at most 1 impostor (score 50.5) means rejecting genuine scores >= 51.5,
        // i.e. 52..=99: 48 of 100.
        assert!(close(r.fnmr_at_fmr_1pct, 0.48), "{r:?}");
        assert!(close(r.fnmr_at_fmr_01pct, 0.49), "{r:?}");
    }

    #[test]
    fn empty_and_nan_inputs_are_errors() {
        assert!(error_rates(&[], &[1.0]).is_err());
        assert!(error_rates(&[1.0], &[]).is_err());
        assert!(error_rates(&[f64::NAN], &[1.0]).is_err());
    }

    #[test]
    fn infinite_scores_are_ranked() {
        let r = error_rates(&[0.0, 1.0], &[f64::INFINITY, 2.0]).unwrap();
        assert_eq!(r.eer, 0.0);
    }

    #[test]
    fn mean_and_sample_sd() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert!(close(m, 2.5));
        assert!(close(s, (5.0_f64 / 3.0).sqrt()));
        assert_eq!(mean_sd(&[7.0]), (7.0, 0.0));
    }
}

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
use statrs::distribution::{ContinuousCDF, Normal};

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

/// Returns the two-sided confidence interval at `level` (for example 0.95) of [`auc`], from
/// DeLong's variance of the Mann-Whitney statistic and a normal approximation, clamped to
/// `[0, 1]`.
///
/// Each impostor score's placement is the fraction of genuine scores below it, and each
/// genuine score's placement the fraction of impostor scores above it, ties counted as one
/// half. Both placements average to the AUC, and its variance is `s_i² / m + s_g² / n`, with
/// `s_i²` and `s_g²` the sample variances of the `m` impostor and `n` genuine placements
/// (DeLong, DeLong and Clarke-Pearson, Biometrics 44, 1988). The attempts are taken as
/// independent. When every score of one class is above every score of the other, the variance
/// is 0 and the interval is the AUC itself.
///
/// Written here because no maintained numerics crate offers it. The one Rust crate found with
/// it, the plotting library kuva, computes it only for its ROC plots.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when either list has fewer than two scores or contains a NaN,
/// or `level` is not strictly between 0 and 1.
pub fn auc_interval(genuine: &[f64], impostor: &[f64], level: f64) -> Result<(f64, f64)> {
    for (name, scores) in [("genuine scores", genuine), ("impostor scores", impostor)] {
        check_scores(name, scores)?;
        if scores.len() < 2 {
            return Err(Error::InvalidParameter {
                name,
                value: format!("{} score", scores.len()),
                expected: "at least two scores, so that their spread can be estimated",
            });
        }
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::InvalidParameter {
            name: "level",
            value: level.to_string(),
            expected: "a confidence level strictly between 0 and 1, such as 0.95",
        });
    }

    let sorted = |scores: &[f64]| {
        let mut out = scores.to_vec();
        out.sort_by(f64::total_cmp);
        out
    };
    let (genuine_sorted, impostor_sorted) = (sorted(genuine), sorted(impostor));
    // Fraction of `sorted` below `x`, plus half the fraction equal to it.
    let below = |sorted: &[f64], x: f64| {
        let less = sorted.partition_point(|&v| v < x);
        let not_greater = sorted.partition_point(|&v| v <= x);
        (less as f64 + 0.5 * (not_greater - less) as f64) / sorted.len() as f64
    };
    let impostor_placements: Vec<f64> = impostor
        .iter()
        .map(|&x| below(&genuine_sorted, x))
        .collect();
    let genuine_placements: Vec<f64> = genuine
        .iter()
        .map(|&y| 1.0 - below(&impostor_sorted, y))
        .collect();

    let (area, impostor_sd) = mean_sd(&impostor_placements);
    let (_, genuine_sd) = mean_sd(&genuine_placements);
    let variance = impostor_sd * impostor_sd / impostor.len() as f64
        + genuine_sd * genuine_sd / genuine.len() as f64;
    let normal = Normal::standard();
    let z = normal.inverse_cdf(0.5 + level / 2.0);
    let half_width = z * variance.sqrt();
    Ok((
        (area - half_width).clamp(0.0, 1.0),
        (area + half_width).clamp(0.0, 1.0),
    ))
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
    fn auc_interval_hand_computed() -> Result<()> {
        // Impostor placements 1/2, 5/6, 1 and genuine placements 1, 5/6, 1/2: both have mean
        // 7/9 and sample variance 7/108, so the AUC's variance is 2 * (7/108) / 3 = 7/162.
        let (low, high) = auc_interval(&[0.0, 1.0, 2.0], &[1.0, 2.0, 3.0], 0.95)?;
        let z = 1.959_963_984_540_054;
        assert!(
            close(low, 7.0 / 9.0 - z * (7.0_f64 / 162.0).sqrt()),
            "{low}"
        );
        assert_eq!(high, 1.0, "7/9 + 0.41 is clamped to 1");
        Ok(())
    }

    #[test]
    fn auc_interval_matches_pairwise_placements() -> Result<()> {
        // Scores on a coarse grid, so that many genuine and impostor scores tie.
        let genuine: Vec<f64> = (0..40).map(|i| f64::from((i * 7) % 11)).collect();
        let impostor: Vec<f64> = (0..30).map(|i| f64::from((i * 5) % 13 + 2)).collect();
        let psi = |x: f64, y: f64| match x.total_cmp(&y) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        };
        let (m, n) = (impostor.len() as f64, genuine.len() as f64);
        let of_impostors: Vec<f64> = impostor
            .iter()
            .map(|&x| genuine.iter().map(|&y| psi(x, y)).sum::<f64>() / n)
            .collect();
        let of_genuine: Vec<f64> = genuine
            .iter()
            .map(|&y| impostor.iter().map(|&x| psi(x, y)).sum::<f64>() / m)
            .collect();
        let (area, sd_impostor) = mean_sd(&of_impostors);
        let (_, sd_genuine) = mean_sd(&of_genuine);
        let half =
            1.644_853_626_951_472 * (sd_impostor.powi(2) / m + sd_genuine.powi(2) / n).sqrt();
        let (low, high) = auc_interval(&genuine, &impostor, 0.90)?;
        assert!(close(area, auc(&genuine, &impostor)));
        assert!(close(low, area - half), "{low} against {}", area - half);
        assert!(close(high, area + half), "{high} against {}", area + half);
        Ok(())
    }

    #[test]
    fn auc_interval_separated_classes() -> Result<()> {
        assert_eq!(auc_interval(&[0.1, 0.2], &[0.5, 0.6], 0.95)?, (1.0, 1.0));
        assert_eq!(auc_interval(&[0.5, 0.6], &[0.1, 0.2], 0.95)?, (0.0, 0.0));
        Ok(())
    }

    #[test]
    fn auc_interval_invalid_inputs() {
        let two = [0.1, 0.2];
        for (genuine, impostor, level) in [
            (&[0.1][..], &two[..], 0.95),
            (&two[..], &[][..], 0.95),
            (&[0.1, f64::NAN][..], &two[..], 0.95),
            (&two[..], &two[..], 0.0),
            (&two[..], &two[..], 1.0),
            (&two[..], &two[..], f64::NAN),
        ] {
            let result = auc_interval(genuine, impostor, level);
            assert!(
                matches!(result, Err(Error::InvalidParameter { .. })),
                "{genuine:?} {impostor:?} {level}: {result:?}"
            );
        }
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

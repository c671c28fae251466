//! Session scores from per-action scores.
//!
//! A session is judged from all of its actions. With the forest's probability `p_i` that action
//! `i` is the claimed user's, two aggregates are offered:
//!
//! - [`SessionAggregate::MeanProbability`]: `1 - mean(p_i)`, the usual baseline.
//! - [`SessionAggregate::MeanLogOdds`]: `-mean(ln(p_i / (1 - p_i)))`. The forest is trained
//!   on balanced classes, so its odds estimate the likelihood ratio of "user" against "other
//!   users" for one action. If actions were independent given the author, the summed log
//!   likelihood ratio would be the most powerful test (Neyman-Pearson lemma), and the mean
//!   divides that sum by the number of actions so one threshold suits short and long sessions.
//!   Compared with the mean probability it lets many confident votes outweigh a few unsure
//!   ones: `p = 0.99` counts much more than `p = 0.9`, while the mean probability barely
//!   separates them.
//!
//! Probabilities are smoothed to `(p·T + 1) / (T + 2)` for a forest of `T` trees before taking
//! the log odds (Laplace's rule, treating `p·T` as the number of votes), so a unanimous forest
//! gives large but finite log odds.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Rule that combines action probabilities into a session score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SessionAggregate {
    /// One minus the mean probability.
    MeanProbability,
    /// Minus the mean smoothed log odds.
    MeanLogOdds,
    /// Minus the mean smoothed log odds after dropping the lowest and highest
    /// [`TRIM_FRACTION`] of the values (rounded down), so a few stray actions, such as a
    /// colleague's mouse moves or a warp, cannot dominate.
    TrimmedMeanLogOdds,
    /// Minus the median smoothed log odds.
    MedianLogOdds,
}

/// Fraction of values dropped at each end by [`SessionAggregate::TrimmedMeanLogOdds`].
pub const TRIM_FRACTION: f64 = 0.1;

impl SessionAggregate {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            SessionAggregate::MeanProbability => "mean-probability",
            SessionAggregate::MeanLogOdds => "mean-log-odds",
            SessionAggregate::TrimmedMeanLogOdds => "trimmed-mean-log-odds",
            SessionAggregate::MedianLogOdds => "median-log-odds",
        }
    }
}

/// Anomaly score of a session (higher = less like the claimed user) from the probabilities
/// that each of its actions is the user's, given by a forest of `n_trees` trees.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when `probabilities` is empty, `n_trees` is 0, or a value is
/// outside `[0, 1]`.
pub fn session_score(
    probabilities: &[f64],
    n_trees: usize,
    aggregate: SessionAggregate,
) -> Result<f64> {
    if probabilities.is_empty() {
        return Err(Error::InvalidParameter {
            name: "probabilities",
            value: "[]".into(),
            expected: "at least one action probability",
        });
    }
    if n_trees == 0 {
        return Err(Error::InvalidParameter {
            name: "n_trees",
            value: "0".into(),
            expected: "at least 1",
        });
    }
    if let Some(p) = probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(Error::InvalidParameter {
            name: "probabilities",
            value: p.to_string(),
            expected: "values in [0, 1]",
        });
    }
    let n = probabilities.len() as f64;
    let score = match aggregate {
        SessionAggregate::MeanProbability => 1.0 - probabilities.iter().sum::<f64>() / n,
        SessionAggregate::MeanLogOdds => {
            let sum: f64 = probabilities
                .iter()
                .map(|&p| smoothed_log_odds(p, n_trees))
                .sum();
            -sum / n
        }
        SessionAggregate::TrimmedMeanLogOdds | SessionAggregate::MedianLogOdds => {
            let mut odds: Vec<f64> = probabilities
                .iter()
                .map(|&p| smoothed_log_odds(p, n_trees))
                .collect();
            odds.sort_by(f64::total_cmp);
            let len = odds.len();
            if aggregate == SessionAggregate::MedianLogOdds {
                -(odds[(len - 1) / 2] + odds[len / 2]) / 2.0
            } else {
                let cut = (len as f64 * TRIM_FRACTION).floor() as usize;
                let kept = &odds[cut..len - cut];
                -kept.iter().sum::<f64>() / kept.len() as f64
            }
        }
    };
    Ok(score)
}

/// Log odds of `p` after Laplace smoothing to `(p·T + 1) / (T + 2)` for `T = n_trees`; finite
/// for every `p` in `[0, 1]` and `n_trees >= 1`.
pub fn smoothed_log_odds(p: f64, n_trees: usize) -> f64 {
    let t = n_trees as f64;
    let smoothed = (p * t + 1.0) / (t + 2.0);
    (smoothed / (1.0 - smoothed)).ln()
}

/// Log-likelihood ratio of "the claimed user" against "anyone else", given the claimed user's
/// calibrated ratio `claimed` and those of the other enrolled users, `others`, for the same
/// session.
///
/// Each calibrated ratio compares one user with the pool of other users, the background `B`:
/// `l_v = ln p(x | v) - ln p(x | B)`. An impostor is either an outsider, who looks like the
/// background, with prior probability `outsider_prior`, or one of the `m` other enrolled users,
/// each equally likely. Then the ratio of the claimed user against the impostor hypothesis is
///
/// `l_u - ln(π + (1 - π) / m · Σ_v exp(l_v))`
///
/// with `π = outsider_prior`. A session that looks like the claimed user but even more like
/// another enrolled user is pushed down, which one user's model alone cannot do. A session
/// unlike every enrolled user scores about `l_u - ln π`: its ratio rises by the constant
/// `ln(1 / π)`, as every genuine session that resembles no other user does, so the ranking
/// of such sessions is kept. This is cohort normalisation as used in speaker verification,
/// written as a likelihood ratio.
///
/// NOTE: when each user's calibration is fitted against a different pool (the other users,
/// which include the claimed one), the background differs from user to user, so the formula
/// is an approximation.
///
/// With no other user, or with `outsider_prior` 1, the result is `claimed - ln π`, the limit
/// of the formula as every `l_v` goes to minus infinity.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when `outsider_prior` is outside `(0, 1]` or a ratio is not
/// finite.
pub fn cohort_llr(claimed: f64, others: &[f64], outsider_prior: f64) -> Result<f64> {
    if !(outsider_prior > 0.0 && outsider_prior <= 1.0) {
        return Err(Error::InvalidParameter {
            name: "outsider_prior",
            value: outsider_prior.to_string(),
            expected: "a probability in (0, 1]",
        });
    }
    if let Some(v) = std::iter::once(&claimed)
        .chain(others)
        .find(|v| !v.is_finite())
    {
        return Err(Error::InvalidParameter {
            name: "cohort ratios",
            value: v.to_string(),
            expected: "finite log-likelihood ratios",
        });
    }
    // ln(π + (1 - π) / m · Σ exp(l_v)) as a log-sum-exp of ln π and ln((1 - π) / m) + l_v,
    // shifted by the largest term so that no exp overflows.
    let mut terms = vec![outsider_prior.ln()];
    if !others.is_empty() && outsider_prior < 1.0 {
        let weight = ((1.0 - outsider_prior) / others.len() as f64).ln();
        terms.extend(others.iter().map(|l| weight + l));
    }
    // Every term is finite, because the prior is positive and the ratios are finite.
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let impostor = top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln();
    Ok(claimed - impostor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_probability_baseline() -> Result<()> {
        let s = session_score(&[0.2, 0.6], 10, SessionAggregate::MeanProbability)?;
        assert!((s - 0.6).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn log_odds_smoothed_and_finite() -> Result<()> {
        // p = 1 with 8 trees smooths to 9/10, log odds ln 9.
        let s = session_score(&[1.0], 8, SessionAggregate::MeanLogOdds)?;
        assert!((s + 9f64.ln()).abs() < 1e-12);
        let half = session_score(&[0.5, 0.5], 8, SessionAggregate::MeanLogOdds)?;
        assert!(half.abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn log_odds_ranks_confidence_beyond_mean() -> Result<()> {
        // Same mean probability (0.7); the session with confident votes scores as more genuine.
        let confident = [0.99, 0.99, 0.12];
        let unsure = [0.7, 0.7, 0.7];
        let agg = SessionAggregate::MeanLogOdds;
        let base = SessionAggregate::MeanProbability;
        assert!(
            (session_score(&confident, 100, base)? - session_score(&unsure, 100, base)?).abs()
                < 1e-12
        );
        assert!(session_score(&confident, 100, agg)? < session_score(&unsure, 100, agg)?);
        Ok(())
    }

    #[test]
    fn trimmed_and_median_ignore_strays() -> Result<()> {
        // Ten votes: eight at p = 0.9 and two strays at 0 and 1. With 8 trees, p = 0.9 gives
        // the smoothed probability 8.2 / 10, so log odds ln(8.2 / 1.8).
        let mut p = vec![0.9; 8];
        p.extend([0.0, 1.0]);
        let expected = -(8.2f64 / 1.8).ln();
        let trimmed = session_score(&p, 8, SessionAggregate::TrimmedMeanLogOdds)?;
        assert!((trimmed - expected).abs() < 1e-12, "{trimmed}");
        let median = session_score(&p, 8, SessionAggregate::MedianLogOdds)?;
        assert!((median - expected).abs() < 1e-12, "{median}");
        let mean = session_score(&p, 8, SessionAggregate::MeanLogOdds)?;
        assert!((mean - expected).abs() > 1e-3, "{mean}");
        Ok(())
    }

    #[test]
    fn median_of_even_count_averages() -> Result<()> {
        // Log odds of p = 0.5 and 1.0 with 8 trees: 0 and ln 9.
        let median = session_score(&[0.5, 1.0], 8, SessionAggregate::MedianLogOdds)?;
        assert!((median + 9f64.ln() / 2.0).abs() < 1e-12, "{median}");
        Ok(())
    }

    #[test]
    fn bad_input_rejected() {
        for (p, t) in [
            (vec![], 10),
            (vec![0.5], 0),
            (vec![1.5], 10),
            (vec![f64::NAN], 10),
        ] {
            assert!(
                matches!(
                    session_score(&p, t, SessionAggregate::MeanLogOdds),
                    Err(Error::InvalidParameter { .. })
                ),
                "{p:?} {t}"
            );
        }
    }

    #[test]
    fn cohort_lowers_closer_match() -> Result<()> {
        // No other user matches: about l_u - ln π.
        let alone = cohort_llr(2.0, &[-30.0, -40.0], 0.5)?;
        assert!((alone - (2.0 - 0.5f64.ln())).abs() < 1e-9, "{alone}");
        // Another user matches far better: about 2 - ln(0.25 e^10) = -6.61.
        let closer = cohort_llr(2.0, &[10.0, -40.0], 0.5)?;
        assert!(
            (closer - (2.0 - (0.5 + 0.25 * 10f64.exp()).ln())).abs() < 1e-9,
            "{closer}"
        );
        assert!(closer < -6.0, "{closer}");
        // Exact value: -ln(0.5 + 0.25 (e^1 + e^0)).
        let exact = cohort_llr(0.0, &[1.0, 0.0], 0.5)?;
        let expected = -(0.5 + 0.25 * (1f64.exp() + 1.0)).ln();
        assert!((exact - expected).abs() < 1e-12, "{exact}");
        // Large ratios do not overflow: ln(0.5 + 0.5 e^10000) = 10000 + ln 0.5 to double
        // precision.
        let large = cohort_llr(0.0, &[1e4], 0.5)?;
        assert!((large + 1e4 + 0.5f64.ln()).abs() < 1e-9, "{large}");
        // No other user, or an outsider prior of 1: claimed - ln π.
        assert!((cohort_llr(1.0, &[], 0.25)? - (1.0 - 0.25f64.ln())).abs() < 1e-12);
        assert_eq!(cohort_llr(1.0, &[5.0], 1.0)?, 1.0);
        Ok(())
    }

    #[test]
    fn cohort_rejects_bad_input() {
        for (claimed, others, prior) in [
            (0.0, vec![0.0], 0.0),
            (0.0, vec![0.0], 1.5),
            (0.0, vec![0.0], f64::NAN),
            (f64::NAN, vec![0.0], 0.5),
            (0.0, vec![f64::NAN], 0.5),
            (f64::INFINITY, vec![f64::INFINITY], 0.5),
            (0.0, vec![f64::NEG_INFINITY], 0.5),
        ] {
            assert!(
                matches!(
                    cohort_llr(claimed, &others, prior),
                    Err(Error::InvalidParameter { .. })
                ),
                "{claimed} {others:?} {prior}"
            );
        }
    }
}

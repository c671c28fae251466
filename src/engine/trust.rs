//! Dynamic trust over a session's actions.
//!
//! The update rule is the dynamic trust model of Mondal and Bours, "A computational approach to
//! the continuous authentication biometric system", Information Sciences 304 (2015). Each
//! action gets a classification score `sc` in `[0, 1]` (here the calibrated posterior that the
//! action comes from the genuine user), and trust moves by
//!
//! ```text
//! delta(sc) = min(-D + D * (1 + 1/C) / (1/C + exp(-(sc - A) / B)), C)
//! trust     = clamp(trust + delta(sc), 0, max)
//! ```
//!
//! so `delta(A) = 0`, a score far above `A` earns at most the reward `C`, and a score far below
//! `A` costs at most the penalty `D`. A session whose trust falls below the lock-out threshold
//! is locked until the user passes another factor.
//!
//! NOTE: the formula above was written from the published description and not rechecked
//! against the paper's text: a search of the project's stored public pages, documentation and
//! code for the Mondal and Bours trust model found no copy of the formula. Some differences
//! from the paper hold whatever its exact formula. The paper tunes A, B, C and D per user,
//! while the engine uses one configured set. The score here is a calibrated posterior rather
//! than a raw classifier output. The idle decay and the allow threshold (with `StepUp`) are
//! additions of this engine.
//!
//! Trust also decays while a session is idle: the part above the lock-out threshold halves
//! every `idle_half_life`. A session left alone thus drops below any allow threshold and needs
//! fresh genuine actions to earn trust again, but idleness alone never locks it out, because
//! absence of evidence is not evidence of an impostor.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Parameters of the trust model; [`TrustParams::check`] validates them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrustParams {
    /// Trust at the start of a session and after the user passes another factor.
    pub initial: f64,
    /// Upper bound of trust; reported trust is `trust / max`.
    pub max: f64,
    /// Below this trust the session is locked (`Deny`).
    pub lockout: f64,
    /// Score at which an action neither rewards nor penalises (`A`).
    pub neutral_score: f64,
    /// Width of the sigmoid (`B`): smaller is a sharper switch from penalty to reward.
    pub width: f64,
    /// Largest reward per action (`C`).
    pub max_reward: f64,
    /// Largest penalty per action (`D`).
    pub max_penalty: f64,
    /// Idle time after which trust has halved.
    pub idle_half_life: Duration,
}

impl Default for TrustParams {
    /// Trust on a 0 to 100 scale starting at 100, lock-out at 90, neutral score 0.5, and at most
    /// one point of reward or penalty per action, so an impostor whose actions all score near 0
    /// is locked out after about 11 actions. Trust above the lock-out threshold halves its
    /// excess after 5 idle minutes.
    fn default() -> Self {
        TrustParams {
            initial: 100.0,
            max: 100.0,
            lockout: 90.0,
            neutral_score: 0.5,
            width: 0.1,
            max_reward: 1.0,
            max_penalty: 1.0,
            idle_half_life: Duration::from_secs(300),
        }
    }
}

impl TrustParams {
    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first invalid field.
    pub fn check(&self) -> Result<()> {
        let invalid = |name, value: f64, expected| {
            Err(Error::InvalidParameter {
                name,
                value: value.to_string(),
                expected,
            })
        };
        if !(self.max.is_finite() && self.max > 0.0) {
            return invalid("trust.max", self.max, "a finite value above 0");
        }
        if !(0.0..=self.max).contains(&self.initial) {
            return invalid("trust.initial", self.initial, "a value in [0, trust.max]");
        }
        if !(0.0..=self.initial).contains(&self.lockout) {
            return invalid(
                "trust.lockout",
                self.lockout,
                "a value in [0, trust.initial]",
            );
        }
        if !(0.0..=1.0).contains(&self.neutral_score) {
            return invalid(
                "trust.neutral_score",
                self.neutral_score,
                "a value in [0, 1]",
            );
        }
        if !(self.width.is_finite() && self.width > 0.0) {
            return invalid("trust.width", self.width, "a finite value above 0");
        }
        if !(self.max_reward.is_finite() && self.max_reward > 0.0) {
            return invalid(
                "trust.max_reward",
                self.max_reward,
                "a finite value above 0",
            );
        }
        if !(self.max_penalty.is_finite() && self.max_penalty > 0.0) {
            return invalid(
                "trust.max_penalty",
                self.max_penalty,
                "a finite value above 0",
            );
        }
        if self.idle_half_life.is_zero() {
            return invalid("trust.idle_half_life", 0.0, "a duration above 0");
        }
        Ok(())
    }

    /// Trust change for one action with classification score `score` in `[0, 1]`.
    pub fn delta(&self, score: f64) -> f64 {
        let (a, b, c, d) = (
            self.neutral_score,
            self.width,
            self.max_reward,
            self.max_penalty,
        );
        let sigmoid_part = d * (1.0 + 1.0 / c) / (1.0 / c + (-(score - a) / b).exp());
        (-d + sigmoid_part).min(c)
    }

    /// Returns `trust` after one action, bounded to `[0, max]`.
    pub fn update(&self, trust: f64, score: f64) -> f64 {
        (trust + self.delta(score)).clamp(0.0, self.max)
    }

    /// Returns `trust` after `idle` without actions: the excess over the lock-out threshold
    /// halves every `idle_half_life`; trust at or below the threshold does not change.
    pub fn decay(&self, trust: f64, idle: Duration) -> f64 {
        if trust <= self.lockout {
            return trust;
        }
        let half_lives = idle.as_secs_f64() / self.idle_half_life.as_secs_f64();
        self.lockout + (trust - self.lockout) * 0.5_f64.powf(half_lives)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_is_zero_at_neutral_and_bounded() {
        let p = TrustParams::default();
        assert!(p.delta(p.neutral_score).abs() < 1e-12);
        assert!(p.delta(1.0) > 0.0);
        assert!(p.delta(1.0) <= p.max_reward);
        assert!(p.delta(0.0) < 0.0);
        assert!(p.delta(0.0) >= -p.max_penalty);
        let mut previous = f64::NEG_INFINITY;
        for i in 0..=100 {
            let d = p.delta(f64::from(i) / 100.0);
            assert!(d >= previous, "delta must not decrease with the score");
            previous = d;
        }
    }

    #[test]
    fn impostor_is_locked_out_and_trust_stays_bounded() {
        let p = TrustParams::default();
        let mut trust = p.initial;
        let mut actions = 0;
        while trust >= p.lockout {
            trust = p.update(trust, 0.0);
            actions += 1;
            assert!(actions < 1000);
        }
        assert!((5..=20).contains(&actions), "{actions}");
        for _ in 0..1000 {
            trust = p.update(trust, 1.0);
        }
        assert_eq!(trust, p.max);
    }

    #[test]
    fn idle_decay_halves_excess_over_lockout() {
        let p = TrustParams::default();
        let decayed = p.decay(100.0, p.idle_half_life);
        assert!((decayed - 95.0).abs() < 1e-9, "{decayed}");
        assert_eq!(p.decay(100.0, Duration::ZERO), 100.0);
        assert!(p.decay(100.0, Duration::from_secs(1_000_000)) >= p.lockout);
        assert_eq!(p.decay(50.0, p.idle_half_life), 50.0);
    }

    #[test]
    fn check_rejects_bad_values() {
        let bad = [
            TrustParams {
                lockout: 101.0,
                ..TrustParams::default()
            },
            TrustParams {
                width: 0.0,
                ..TrustParams::default()
            },
            TrustParams {
                max_reward: f64::NAN,
                ..TrustParams::default()
            },
            TrustParams {
                idle_half_life: Duration::ZERO,
                ..TrustParams::default()
            },
        ];
        for params in bad {
            assert!(params.check().is_err(), "{params:?}");
        }
        assert!(TrustParams::default().check().is_ok());
    }
}

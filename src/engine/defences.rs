//! Replay and synthetic-input checks.
//!
//! *Replay*: after each action the engine quantises the timings of the last `replay_window`
//! actions (the interval to the previous action and the modality's timing values) and keeps a
//! keyed hash of that sequence, never the timings. A hash already seen in another session of
//! the same user marks the session as replayed: two humans, or one human twice, do not repeat
//! a whole window of timings to within the quantum.
//!
//! *Synthetic input*: human inter-action intervals vary a lot (a coefficient of variation of
//! inter-key intervals well above 0.3 is usual in free typing), while a script that sends
//! events on a timer is far more regular. A session whose interval coefficient of variation is
//! below `min_interval_cv` after `min_intervals` intervals is flagged.
//!
//! NOTE: a replay shifted by a fraction of the quantum can fall into other bins and escape the
//! hash check, and a script that draws random intervals escapes the regularity check; both
//! checks catch naive attacks only.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::KeyedHasher;

/// Hash domain of replay hashes.
const REPLAY_DOMAIN: &str = "kinetype/engine/replay";

/// Parameters of the replay and synthetic-input checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DefenceParams {
    /// Actions per hashed window; longer windows make chance repeats rarer.
    pub replay_window: usize,
    /// Quantisation step of timings in microseconds before hashing.
    pub replay_quantum_us: f64,
    /// Interval coefficient of variation below which input counts as synthetic.
    pub min_interval_cv: f64,
    /// Intervals needed before the regularity check runs.
    pub min_intervals: usize,
}

impl Default for DefenceParams {
    /// Windows of 10 actions quantised to 2 ms, and a coefficient of variation threshold of
    /// 0.05 after 20 intervals (a tenth of the lower end of usual human variation).
    fn default() -> Self {
        DefenceParams {
            replay_window: 10,
            replay_quantum_us: 2_000.0,
            min_interval_cv: 0.05,
            min_intervals: 20,
        }
    }
}

impl DefenceParams {
    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first invalid field.
    pub fn check(&self) -> Result<()> {
        if self.replay_window < 2 {
            return Err(Error::InvalidParameter {
                name: "defences.replay_window",
                value: self.replay_window.to_string(),
                expected: "at least 2 actions",
            });
        }
        if !(self.replay_quantum_us.is_finite() && self.replay_quantum_us > 0.0) {
            return Err(Error::InvalidParameter {
                name: "defences.replay_quantum_us",
                value: self.replay_quantum_us.to_string(),
                expected: "a finite value above 0",
            });
        }
        if !(self.min_interval_cv.is_finite() && self.min_interval_cv >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "defences.min_interval_cv",
                value: self.min_interval_cv.to_string(),
                expected: "a finite value of at least 0",
            });
        }
        if self.min_intervals < 2 {
            return Err(Error::InvalidParameter {
                name: "defences.min_intervals",
                value: self.min_intervals.to_string(),
                expected: "at least 2",
            });
        }
        Ok(())
    }
}

/// A user's replay hashes with the session that produced each, oldest evicted first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReplayLog {
    seen: HashMap<u64, u64>,
    order: VecDeque<u64>,
}

impl ReplayLog {
    /// Rebuilds a log from stored `(hash, session)` pairs, oldest first.
    pub(crate) fn from_pairs(pairs: &[(u64, u64)]) -> Self {
        let mut log = ReplayLog::default();
        for &(hash, session) in pairs {
            if log.seen.insert(hash, session).is_none() {
                log.order.push_back(hash);
            }
        }
        log
    }

    /// Stored `(hash, session)` pairs, oldest first.
    pub(crate) fn to_pairs(&self) -> Vec<(u64, u64)> {
        self.order
            .iter()
            .filter_map(|h| self.seen.get(h).map(|&s| (*h, s)))
            .collect()
    }

    /// Records `hash` for `session`; returns true when another session produced it before.
    pub(crate) fn check_and_insert(&mut self, hash: u64, session: u64, capacity: usize) -> bool {
        if let Some(&first) = self.seen.get(&hash) {
            return first != session;
        }
        if capacity == 0 {
            return false;
        }
        while self.order.len() >= capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(hash, session);
        self.order.push_back(hash);
        false
    }
}

/// Per-session, per-modality rhythm state: the replay window and interval statistics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rhythm {
    window: VecDeque<Vec<i64>>,
    last_action_us: Option<f64>,
    /// Welford running count, mean and sum of squared deviations of the intervals.
    count: u64,
    mean: f64,
    m2: f64,
}

impl Rhythm {
    /// Adds an action and returns the keyed hash of the full window, once there is one.
    pub(crate) fn push(
        &mut self,
        params: &DefenceParams,
        hasher: &KeyedHasher,
        modality: &str,
        time_us: f64,
        timings: &[f64],
    ) -> Option<u64> {
        let interval = self.last_action_us.map(|last| time_us - last);
        self.last_action_us = Some(time_us);
        if let Some(interval) = interval {
            self.count += 1;
            let delta = interval - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (interval - self.mean);
        }
        let quantise = |v: f64| (v / params.replay_quantum_us).round() as i64;
        let mut values = Vec::with_capacity(timings.len() + 1);
        values.push(interval.map_or(i64::MIN, quantise));
        values.extend(timings.iter().map(|&t| quantise(t)));
        self.window.push_back(values);
        if self.window.len() > params.replay_window {
            self.window.pop_front();
        }
        if self.window.len() < params.replay_window || interval.is_none() {
            return None;
        }
        let bytes: Vec<u8> = self
            .window
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        Some(hasher.hash_u64(REPLAY_DOMAIN, &[modality.as_bytes(), &bytes]))
    }

    /// Coefficient of variation of the intervals so far, once there are `min_intervals`.
    pub(crate) fn interval_cv(&self, min_intervals: usize) -> Option<f64> {
        if self.count < min_intervals as u64 || self.count < 2 {
            return None;
        }
        let sd = (self.m2 / (self.count - 1) as f64).sqrt();
        if self.mean <= 0.0 {
            return Some(0.0);
        }
        Some(sd / self.mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_log_flags_other_sessions_only() {
        let mut log = ReplayLog::default();
        assert!(!log.check_and_insert(7, 1, 10));
        assert!(!log.check_and_insert(7, 1, 10));
        assert!(log.check_and_insert(7, 2, 10));
        let restored = ReplayLog::from_pairs(&log.to_pairs());
        assert_eq!(restored, log);
    }

    #[test]
    fn replay_log_evicts_oldest() {
        let mut log = ReplayLog::default();
        for h in 0..5 {
            log.check_and_insert(h, 1, 3);
        }
        assert_eq!(log.to_pairs(), vec![(2, 1), (3, 1), (4, 1)]);
        assert!(!log.check_and_insert(0, 2, 3));
    }

    #[test]
    fn identical_rhythms_hash_equal_and_jitter_changes_hash() {
        let params = DefenceParams::default();
        let hasher = KeyedHasher::new(b"k");
        let run = |jitter: f64| {
            let mut rhythm = Rhythm::default();
            let mut hashes = Vec::new();
            for i in 0..30 {
                let t = f64::from(i) * 150_000.0 + f64::from(i * i % 7) * 9_000.0;
                let hold = 80_000.0 + f64::from(i % 5) * 7_000.0 + jitter * f64::from(i % 3);
                hashes.extend(rhythm.push(&params, &hasher, "k", t, &[hold]));
            }
            hashes
        };
        assert_eq!(run(0.0), run(0.0));
        assert_eq!(run(0.0).len(), 30 - params.replay_window + 1);
        assert!(run(0.0).iter().zip(run(25_000.0)).all(|(a, b)| *a != b));
    }

    #[test]
    fn regular_intervals_have_low_cv() {
        let params = DefenceParams::default();
        let hasher = KeyedHasher::new(b"k");
        let mut bot = Rhythm::default();
        let mut human = Rhythm::default();
        for i in 0..40 {
            bot.push(&params, &hasher, "k", f64::from(i) * 100_000.0, &[]);
            let t = f64::from(i) * 100_000.0 + f64::from((i * 37) % 11) * 30_000.0;
            human.push(&params, &hasher, "k", t, &[]);
        }
        assert!(bot.interval_cv(20).unwrap() < params.min_interval_cv);
        assert!(human.interval_cv(20).unwrap() > params.min_interval_cv);
        assert_eq!(Rhythm::default().interval_cv(20), None);
    }
}

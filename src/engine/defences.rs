//! Replay and synthetic-input checks.
//!
//! *Exact replay*: after each action the engine quantises the timings of the last
//! `replay_window` actions (the interval to the previous action and the modality's timing
//! values) and keeps a keyed hash of that sequence, never the timings. A hash already seen in
//! another session of the same user marks the session as replayed: two humans, or one human
//! twice, do not repeat a whole window of timings to within the quantum.
//!
//! *Tolerant replay*: a replay whose timestamps are each moved by a few milliseconds falls into
//! other quantisation bins and escapes the hash. So the engine also keeps, per user and
//! modality, the timings of recent actions of earlier sessions (`TimingStore`) and flags a
//! session when its last `tolerant_window` actions repeat a run of stored actions of another
//! session: every interval within `replay_tolerance_us` (or one pair of adjacent intervals by
//! their sum, for an action boundary that moved), and at least `replay_match_fraction` of the
//! other timing values too. Moving every timestamp by at most `j` changes every
//! interval and duration by at most `2 j`, so a tolerance `t` catches every such replay with
//! `j <= t / 2`. A larger jitter escapes, but it adds timing noise of the same size to every
//! interval, which the biometric model scores as less like the user.
//!
//! *Synthetic input*: human inter-action intervals vary a lot (a coefficient of variation of
//! inter-key intervals well above 0.3 is usual in free typing), while a script that sends
//! events on a timer is far more regular. A session whose interval coefficient of variation is
//! below `min_interval_cv` after `min_intervals` intervals is flagged.
//!
//! NOTE: replays jittered by more than half the tolerance, replays that drop or insert actions
//! every few actions, and scripts that draw random intervals escape these checks. They catch
//! replays of recorded timings and timer-driven input only. The tolerance was checked on free
//! text (Aalto) and mouse data (Balabit), where no genuine session was flagged. Someone who
//! types the same text in every session with key-to-key times steadier than about 20 ms could
//! be flagged falsely. The DSL-2009 password data has 51 typists, each typing one 10-key
//! password 400 times over 8 sessions. A match there means all 10 key-to-key times within 20 ms
//! and 80 % of hold times within 20 ms of a typing from another session. It occurred in at most
//! 0.1 % of pairs for the steadiest typist and in 0.0014 % for the median typist. A 20-action
//! window spans two typings, so a chance match needs two such matches in a row.

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
    /// Actions per window of the tolerant replay check. Longer windows make chance matches of
    /// genuine sessions rarer while a jittered replay still matches, because jitter moves each
    /// timing by a bounded amount.
    pub tolerant_window: usize,
    /// Largest difference in microseconds between aligned timings of two sessions that the
    /// tolerant replay check counts as a repeat. It catches replays whose timestamps moved by
    /// up to half this value.
    pub replay_tolerance_us: f64,
    /// Fraction in `(0, 1]` of a window's timing values other than the intervals that must
    /// agree within `replay_tolerance_us` for the tolerant check to flag a replay. The
    /// intervals themselves must all agree, except for one moved action boundary. Below 1, a replay still matches when the modality derives a few
    /// timings differently from the jittered events, such as a digraph time dropped because
    /// its interval crossed the pause limit.
    pub replay_match_fraction: f64,
    /// Interval coefficient of variation below which input counts as synthetic.
    pub min_interval_cv: f64,
    /// Intervals needed before the regularity check runs.
    pub min_intervals: usize,
    /// New replay hashes that ingestion stores for a user before it writes the user's file.
    /// While the writes succeed, a crash loses at most this many hashes. The write replaces
    /// the whole file, so for a user still enrolling it also saves the enrolment actions
    /// collected so far. 0 leaves the writes to session ends,
    /// [`Engine::save_all`](super::Engine::save_all), enrolment and adaptation.
    #[serde(default = "default_replay_save_every")]
    pub replay_save_every: usize,
}

impl Default for DefenceParams {
    /// Hash windows of 10 actions quantised to 2 ms, and tolerant windows of 20 actions with a
    /// tolerance of 20 ms and 80 % of the other timings agreeing. Input counts as synthetic
    /// below a coefficient of variation of 0.05 after 20 intervals, a tenth of the lower end
    /// of usual human variation. Ingestion writes a user's file every 1,000 replay hashes,
    /// about one per keystroke or mouse action: at five keys per second, an estimate for steady
    /// typing, that is one write every three minutes or so.
    ///
    /// The 20 ms tolerance catches replays moved by up to 10 ms per timestamp, which covers
    /// jitter too small to change the biometric score much: human inter-key intervals vary by
    /// several tens of milliseconds. The window and tolerance were set on genuine data only:
    /// in the Aalto and Balabit continuous replays (`kinetype replay aalto --continuous`),
    /// which stream each genuine test session after the user's enrolment sessions, these
    /// defaults flag no session. Doubling the tolerance to 40 ms flags 0.025 of the Aalto
    /// genuine sessions (none of Balabit's), and windows of 10 actions at 20 ms flag 0.010.
    /// So the defaults sit below the point where genuine typing starts to match.
    fn default() -> Self {
        DefenceParams {
            replay_window: 10,
            replay_quantum_us: 2_000.0,
            tolerant_window: 20,
            replay_tolerance_us: 20_000.0,
            replay_match_fraction: 0.8,
            min_interval_cv: 0.05,
            min_intervals: 20,
            replay_save_every: default_replay_save_every(),
        }
    }
}

/// Returns the default of [`DefenceParams::replay_save_every`], also used for parameters
/// serialised before the field existed.
fn default_replay_save_every() -> usize {
    1_000
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
        if self.tolerant_window < 2 {
            return Err(Error::InvalidParameter {
                name: "defences.tolerant_window",
                value: self.tolerant_window.to_string(),
                expected: "at least 2 actions",
            });
        }
        if !(self.replay_tolerance_us.is_finite() && self.replay_tolerance_us > 0.0) {
            return Err(Error::InvalidParameter {
                name: "defences.replay_tolerance_us",
                value: self.replay_tolerance_us.to_string(),
                expected: "a finite value above 0",
            });
        }
        if !(self.replay_match_fraction > 0.0 && self.replay_match_fraction <= 1.0) {
            return Err(Error::InvalidParameter {
                name: "defences.replay_match_fraction",
                value: self.replay_match_fraction.to_string(),
                expected: "a fraction in (0, 1]",
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

/// The outcome of [`ReplayLog::check_and_insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayCheck {
    /// Another session produced the hash before.
    Replayed,
    /// The same session produced the hash before, or the log keeps no hashes, so the log is
    /// unchanged.
    Unchanged,
    /// The hash is new and now stored.
    Stored,
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
        self.pairs().collect()
    }

    /// Iterates over the `(hash, session)` pairs, oldest first, without collecting them.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.order
            .iter()
            .filter_map(|h| self.seen.get(h).map(|&s| (*h, s)))
    }

    /// Records `hash` for `session` unless the log has it already.
    pub(crate) fn check_and_insert(
        &mut self,
        hash: u64,
        session: u64,
        capacity: usize,
    ) -> ReplayCheck {
        if let Some(&first) = self.seen.get(&hash) {
            return if first == session {
                ReplayCheck::Unchanged
            } else {
                ReplayCheck::Replayed
            };
        }
        if capacity == 0 {
            return ReplayCheck::Unchanged;
        }
        while self.order.len() >= capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(hash, session);
        self.order.push_back(hash);
        ReplayCheck::Stored
    }
}

/// Timing values per action that the tolerant check compares: the interval to the previous
/// action, then the first of the modality's timings (for a keystroke its hold and n-graph
/// times, for a mouse action the offsets of its first points).
const COMPARED_VALUES: usize = 4;

/// Stored actions examined per index bin for one new action, newest first. It bounds the work
/// per action when many stored actions share a bin, for example after long runs of
/// timer-driven input.
const MAX_CANDIDATES_PER_BIN: usize = 256;

/// Action boundaries per tolerant window that may have moved. Segmentation of jittered mouse
/// events can start an action one event earlier or later. The interval into that action and the
/// interval after it then change by the same amount in opposite directions, so the pair is
/// compared by its sum.
const MAX_SHIFTED_BOUNDARIES: usize = 1;

/// One action's timings for the tolerant replay check, in microseconds.
///
/// `values[0]` is the interval to the previous action of the session; `len` values are in use.
/// `f32` keeps a stored action small and rounds to within 1 µs up to 16.7 s, far finer than
/// any useful tolerance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ActionTimings {
    values: [f32; COMPARED_VALUES],
    len: u8,
}

impl ActionTimings {
    fn new(interval_us: f64, timings: &[f64]) -> Self {
        let mut values = [0.0; COMPARED_VALUES];
        values[0] = interval_us as f32;
        let extra = timings.len().min(COMPARED_VALUES - 1);
        for (slot, &t) in values[1..].iter_mut().zip(&timings[..extra]) {
            *slot = t as f32;
        }
        ActionTimings {
            values,
            len: (1 + extra) as u8,
        }
    }

    fn interval_us(&self) -> f32 {
        self.values[0]
    }

    /// Timing values after the interval.
    fn others(&self) -> &[f32] {
        &self.values[1..usize::from(self.len)]
    }
}

/// An action in a [`TimingStore`].
#[derive(Debug, Clone, PartialEq)]
struct StoredAction {
    session: u64,
    /// Sequence number of the same session's previous stored action.
    previous: Option<u64>,
    /// Index bin of this action's and the previous action's interval, when there is a
    /// previous action.
    bin: Option<(i64, i64)>,
    timings: ActionTimings,
}

/// Recent actions' timings of one user and modality, for the tolerant replay check.
///
/// Actions are kept in arrival order with a link to the previous action of the same session,
/// so runs of one session can be followed back even when sessions interleave. An index maps
/// the bins (of width twice the tolerance) of an action's interval and its predecessor's
/// interval to the actions there. A lookup probes at most four bins, at most
/// [`MAX_CANDIDATES_PER_BIN`] actions in each, and stops comparing a candidate at its first
/// interval outside the tolerance, so the cost per action is bounded and usually small.
///
/// The store contains timings only, no key identities, n-graph hashes or positions. It lives in
/// memory and is not written to model files. A sequence of inter-key intervals still leaks
/// some information about the typed text, such as which key pairs are typed fast or slow, and
/// a model file must not reveal what was typed.
///
/// NOTE: because the store is not persisted, the tolerant check compares only with sessions
/// seen since the process started. After a restart, only the exact-hash check remembers
/// earlier sessions.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimingStore {
    actions: VecDeque<StoredAction>,
    /// Sequence number of `actions[0]`.
    first_seq: u64,
    /// Sequence numbers of stored actions by bin, oldest first.
    index: HashMap<(i64, i64), VecDeque<u64>>,
}

impl TimingStore {
    /// Number of stored actions.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.actions.len()
    }

    fn get(&self, seq: u64) -> Option<&StoredAction> {
        let offset = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.actions.get(offset)
    }

    /// Returns whether the stored run ending at `seq` repeats `recent` (oldest first) within
    /// the tolerance and comes from a session other than `session`.
    fn run_matches(
        &self,
        seq: u64,
        recent: &VecDeque<ActionTimings>,
        session: u64,
        tolerance: f32,
        allowed_misses: usize,
    ) -> bool {
        let mut misses = 0;
        let mut shifted = 0;
        // Difference of a newer interval outside the tolerance, waiting for the next older one.
        let mut unpaired: Option<f32> = None;
        let mut cursor = Some(seq);
        for new in recent.iter().rev() {
            let Some(stored) = cursor.and_then(|s| self.get(s)) else {
                return false;
            };
            if stored.session == session {
                return false;
            }
            let difference = new.interval_us() - stored.timings.interval_us();
            match unpaired.take() {
                // A moved boundary lengthens one interval and shortens the next by as much.
                Some(newer) if (newer + difference).abs() > tolerance => return false,
                Some(_) => {}
                None if difference.abs() > tolerance => {
                    shifted += 1;
                    if shifted > MAX_SHIFTED_BOUNDARIES {
                        return false;
                    }
                    unpaired = Some(difference);
                }
                None => {}
            }
            let stored_others = stored.timings.others();
            for (i, value) in new.others().iter().enumerate() {
                let close = stored_others
                    .get(i)
                    .is_some_and(|s| (value - s).abs() <= tolerance);
                misses += usize::from(!close);
            }
            if misses > allowed_misses {
                return false;
            }
            cursor = stored.previous;
        }
        unpaired.is_none()
    }

    /// Searches the store for a run of another session that `recent` (the session's last
    /// actions, oldest first) repeats, then stores the newest action of `recent`.
    ///
    /// `last_stored` is the sequence number of the session's previous stored action and is
    /// updated. Returns true on a match, which needs `params.tolerant_window` actions in
    /// `recent`. Nothing is stored when `capacity` is 0, and beyond it the oldest action is
    /// evicted.
    fn check_and_insert(
        &mut self,
        params: &DefenceParams,
        session: u64,
        recent: &VecDeque<ActionTimings>,
        last_stored: &mut Option<u64>,
        capacity: usize,
    ) -> bool {
        let Some(&newest) = recent.back() else {
            return false;
        };

        let tolerance = params.replay_tolerance_us as f32;
        let width = 2.0 * params.replay_tolerance_us;
        let bin = |v: f64| (v / width).floor() as i64;
        let probe = |v: f32| {
            let v = f64::from(v);
            bin(v - params.replay_tolerance_us)..=bin(v + params.replay_tolerance_us)
        };

        let previous = recent.len().checked_sub(2).and_then(|i| recent.get(i));
        let mut found = false;
        if let Some(previous) = previous
            && recent.len() >= params.tolerant_window
        {
            let others: usize = recent.iter().map(|a| a.others().len()).sum();
            let allowed_misses =
                ((1.0 - params.replay_match_fraction) * others as f64).floor() as usize;
            'probe: for newest_bin in probe(newest.interval_us()) {
                for previous_bin in probe(previous.interval_us()) {
                    let Some(bucket) = self.index.get(&(newest_bin, previous_bin)) else {
                        continue;
                    };
                    for &seq in bucket.iter().rev().take(MAX_CANDIDATES_PER_BIN) {
                        if self.run_matches(seq, recent, session, tolerance, allowed_misses) {
                            found = true;
                            break 'probe;
                        }
                    }
                }
            }
        }

        if capacity == 0 {
            return found;
        }
        while self.actions.len() >= capacity {
            self.evict_oldest();
        }
        let seq = self.first_seq + self.actions.len() as u64;
        let action_bin = previous.map(|p| {
            (
                bin(f64::from(newest.interval_us())),
                bin(f64::from(p.interval_us())),
            )
        });
        if let Some(key) = action_bin {
            self.index.entry(key).or_default().push_back(seq);
        }
        self.actions.push_back(StoredAction {
            session,
            previous: *last_stored,
            bin: action_bin,
            timings: newest,
        });
        *last_stored = Some(seq);
        found
    }

    fn evict_oldest(&mut self) {
        let Some(old) = self.actions.pop_front() else {
            return;
        };
        if let Some(key) = old.bin
            && let Some(bucket) = self.index.get_mut(&key)
        {
            // Eviction follows sequence order, and each bin lists its actions in that order,
            // so the evicted action is at the front of its bin.
            bucket.pop_front();
            if bucket.is_empty() {
                self.index.remove(&key);
            }
        }
        self.first_seq += 1;
    }
}

/// Per-session, per-modality rhythm state: the replay windows and interval statistics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rhythm {
    window: VecDeque<Vec<i64>>,
    /// Timings of the session's last actions that have an interval, for the tolerant check.
    recent: VecDeque<ActionTimings>,
    /// Whether the newest action has an interval and waits for [`Rhythm::check_tolerant`].
    pending: bool,
    /// Sequence number of the session's newest action in the user's [`TimingStore`].
    last_stored: Option<u64>,
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
        self.pending = false;
        if let Some(interval) = interval {
            self.count += 1;
            let delta = interval - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (interval - self.mean);
            self.recent.push_back(ActionTimings::new(interval, timings));
            if self.recent.len() > params.tolerant_window {
                self.recent.pop_front();
            }
            self.pending = true;
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
        let len = self.window.iter().map(Vec::len).sum::<usize>();
        let mut bytes = Vec::with_capacity(len * 8);
        for v in self.window.iter().flatten() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        Some(hasher.hash_u64(REPLAY_DOMAIN, &[modality.as_bytes(), &bytes]))
    }

    /// Runs the tolerant replay check for the action last passed to [`Rhythm::push`] against
    /// `store` and records the action there. Returns true when the session's recent actions
    /// repeat another session's. An action without an interval (a session's first) is neither
    /// checked nor stored.
    pub(crate) fn check_tolerant(
        &mut self,
        store: &mut TimingStore,
        params: &DefenceParams,
        session: u64,
        capacity: usize,
    ) -> bool {
        if !std::mem::take(&mut self.pending) {
            return false;
        }
        store.check_and_insert(
            params,
            session,
            &self.recent,
            &mut self.last_stored,
            capacity,
        )
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
        assert_eq!(log.check_and_insert(7, 1, 10), ReplayCheck::Stored);
        assert_eq!(log.check_and_insert(7, 1, 10), ReplayCheck::Unchanged);
        assert_eq!(log.check_and_insert(7, 2, 10), ReplayCheck::Replayed);
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
        // Hash 0 was evicted, so it is new again.
        assert_eq!(log.check_and_insert(0, 2, 3), ReplayCheck::Stored);
    }

    #[test]
    fn replay_log_without_capacity_stores_nothing() {
        let mut log = ReplayLog::default();
        assert_eq!(log.check_and_insert(7, 1, 0), ReplayCheck::Unchanged);
        assert!(log.to_pairs().is_empty());
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

    /// Generates typist-like actions from a seeded xorshift generator: intervals of 100 to
    /// 400 ms and hold times of 60 to 160 ms, as `(time_us, hold_us)`.
    fn typing(seed: u64, actions: usize) -> Vec<(f64, f64)> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut time_us = 1_000_000.0;
        (0..actions)
            .map(|_| {
                time_us += 100_000.0 + 300_000.0 * next();
                (time_us, 60_000.0 + 100_000.0 * next())
            })
            .collect()
    }

    /// Streams `actions` as `session` through a fresh rhythm into `store` and returns the
    /// number of tolerant hits.
    fn stream(
        store: &mut TimingStore,
        params: &DefenceParams,
        session: u64,
        actions: &[(f64, f64)],
    ) -> usize {
        let hasher = KeyedHasher::new(b"k");
        let mut rhythm = Rhythm::default();
        let mut hits = 0;
        for &(time_us, hold_us) in actions {
            rhythm.push(params, &hasher, "k", time_us, &[hold_us]);
            hits += usize::from(rhythm.check_tolerant(store, params, session, 1_000));
        }
        hits
    }

    /// Moves every time of `actions` by a deterministic amount in `[-bound_us, bound_us]`,
    /// and the hold by an independent one, as a replay that jitters press and release.
    fn jittered(actions: &[(f64, f64)], bound_us: f64) -> Vec<(f64, f64)> {
        let shift = |i: usize, salt: usize| {
            let phase = ((i * 7 + salt * 3) % 11) as f64 / 10.0;
            bound_us * (2.0 * phase - 1.0)
        };
        actions
            .iter()
            .enumerate()
            .map(|(i, &(t, hold))| {
                let press = shift(i, 0);
                let release = shift(i, 1);
                (t + 60_000_000.0 + press, hold + release - press)
            })
            .collect()
    }

    #[test]
    fn tolerant_check_flags_jittered_copy() {
        let params = DefenceParams::default();
        let mut store = TimingStore::default();
        let original = typing(1, 80);
        assert_eq!(stream(&mut store, &params, 1, &original), 0);
        let bound = params.replay_tolerance_us / 2.0;
        let copy = jittered(&original, bound);
        let hits = stream(&mut store, &params, 2, &copy);
        // Every full window of the copy repeats the original.
        assert_eq!(hits, original.len() - params.tolerant_window);
    }

    #[test]
    fn tolerant_check_ignores_unrelated_and_same_session() {
        let params = DefenceParams::default();
        let mut store = TimingStore::default();
        assert_eq!(stream(&mut store, &params, 1, &typing(1, 200)), 0);
        assert_eq!(stream(&mut store, &params, 2, &typing(2, 200)), 0);
        // The same session repeating itself is not a replay of another session.
        let mut same = TimingStore::default();
        let actions = typing(3, 60);
        let mut twice = actions.clone();
        twice.extend(actions.iter().map(|&(t, h)| (t + 60_000_000.0, h)));
        assert_eq!(stream(&mut same, &params, 1, &twice), 0);
    }

    #[test]
    fn tolerant_check_misses_jitter_beyond_tolerance() {
        let params = DefenceParams::default();
        let mut store = TimingStore::default();
        let original = typing(4, 80);
        stream(&mut store, &params, 1, &original);
        let copy = jittered(&original, 2.0 * params.replay_tolerance_us);
        assert_eq!(stream(&mut store, &params, 2, &copy), 0);
    }

    #[test]
    fn timing_store_evicts_oldest_and_forgets_them() {
        let params = DefenceParams::default();
        let hasher = KeyedHasher::new(b"k");
        let mut store = TimingStore::default();
        let original = typing(5, 60);
        let mut rhythm = Rhythm::default();
        for &(t, hold) in &original {
            rhythm.push(&params, &hasher, "k", t, &[hold]);
            rhythm.check_tolerant(&mut store, &params, 1, 30);
        }
        // The first action has no interval and is not stored.
        assert_eq!(store.len(), 30);
        assert_eq!(store.first_seq, 59 - 30);
        let indexed: usize = store.index.values().map(VecDeque::len).sum();
        assert_eq!(indexed, 30);
        // A copy of the evicted start matches nothing; the kept end is still found.
        assert_eq!(stream(&mut store, &params, 2, &original[..25]), 0);
        let mut fresh = TimingStore::default();
        stream(&mut fresh, &params, 1, &original);
        assert!(stream(&mut fresh, &params, 2, &original[..25]) > 0);
    }

    #[test]
    fn capacity_zero_stores_nothing() {
        let params = DefenceParams::default();
        let hasher = KeyedHasher::new(b"k");
        let mut store = TimingStore::default();
        let mut rhythm = Rhythm::default();
        for &(t, hold) in &typing(6, 40) {
            rhythm.push(&params, &hasher, "k", t, &[hold]);
            assert!(!rhythm.check_tolerant(&mut store, &params, 1, 0));
        }
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn invalid_defence_params_name_field() {
        type Spoil = fn(&mut DefenceParams);
        let cases: [(&str, Spoil); 6] = [
            ("defences.replay_window", |p| p.replay_window = 1),
            ("defences.tolerant_window", |p| p.tolerant_window = 1),
            ("defences.replay_tolerance_us", |p| {
                p.replay_tolerance_us = 0.0
            }),
            ("defences.replay_tolerance_us", |p| {
                p.replay_tolerance_us = f64::NAN
            }),
            ("defences.replay_match_fraction", |p| {
                p.replay_match_fraction = 0.0
            }),
            ("defences.replay_match_fraction", |p| {
                p.replay_match_fraction = 1.5
            }),
        ];
        for (field, spoil) in cases {
            let mut params = DefenceParams::default();
            spoil(&mut params);
            match params.check() {
                Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, field),
                other => panic!("{field}: expected InvalidParameter, got {other:?}"),
            }
        }
        assert!(DefenceParams::default().check().is_ok());
    }

    #[test]
    fn tolerant_check_allows_one_moved_boundary() {
        let params = DefenceParams::default();
        let mut store = TimingStore::default();
        let original = typing(7, 40);
        stream(&mut store, &params, 1, &original);
        // Action 30 starts 50 ms later: intervals 30 and 31 change by +50 and -50 ms.
        let mut one_change = original.clone();
        one_change[30].0 += 50_000.0;
        assert!(stream(&mut store, &params, 2, &one_change) > 0);
        // Two moved boundaries in every window that contains both are too many.
        let mut two = original.clone();
        two[25].0 += 50_000.0;
        two[30].0 += 50_000.0;
        let mut fresh = TimingStore::default();
        stream(&mut fresh, &params, 1, &original);
        let hits_two = stream(&mut fresh, &params, 3, &two);
        // Windows of 20 ending at actions 20 to 24 contain neither change, so they are found.
        // Windows ending at 28 and 29 contain only the first change and are found too. Those
        // ending at 25 to 27 are missed because the index needs the newest two intervals
        // unchanged, and windows ending at 30 to 39 contain both changes.
        assert_eq!(hits_two, 7);
    }
}

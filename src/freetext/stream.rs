//! Streaming scoring: events are pushed one at a time and a windowed score is read at any time.

use std::collections::VecDeque;

use super::extract::{
    Anomalies, ExtractConfig, Keystroke, Observation, keystrokes, push_observations,
};
use super::keys::KeySecret;
use super::ngraph::{AdditiveDetector, check_fingerprint};
use crate::error::{Error, Result};
use crate::events::{KeyAction, KeyEvent};
use crate::limits::{MAX_KEYS_DOWN, MAX_PENDING_KEYSTROKES};

/// A key that went down and is waiting for its release or for the keys before it.
#[derive(Debug, Clone, Copy)]
struct Pending {
    key: Keystroke,
    done: bool,
}

/// Scores one session's typing incrementally against an [`AdditiveDetector`].
///
/// The score is the mean contribution of the timings that end in the last `window` keystrokes
/// (a timing ends at its last keystroke), the same value [`window_score`] computes from the
/// whole event list. A keystroke enters the window once it and every earlier keystroke are
/// released, or once their hold passes [`ExtractConfig::max_hold_us`]. Each event costs
/// amortised O(1): one pass over the keys currently down, a constant number of model lookups
/// per finished keystroke, and one window update.
///
/// Events must arrive in time order; an event earlier than the previous one is dropped and
/// counted in [`Anomalies::out_of_order`].
#[derive(Debug)]
pub struct StreamingScorer<'m, D: AdditiveDetector + ?Sized> {
    model: &'m D,
    secret: KeySecret,
    config: ExtractConfig,
    window: usize,
    pending: VecDeque<Pending>,
    /// Keys currently down: code and sequence number of their keystroke. The per-event cost
    /// is linear in its length, which [`MAX_KEYS_DOWN`] caps.
    down: Vec<(u32, u64)>,
    /// Sequence number of `pending[0]`.
    first_seq: u64,
    /// The last three keystrokes that entered the window, oldest first.
    recent: Vec<Keystroke>,
    /// Per keystroke in the window: sum and count of its timings' contributions.
    sums: VecDeque<(f64, u32)>,
    total: f64,
    count: u64,
    last_time: Option<i64>,
    anomalies: Anomalies,
    scratch: Vec<Observation>,
}

impl<'m, D: AdditiveDetector + ?Sized> StreamingScorer<'m, D> {
    /// Starts an empty session.
    ///
    /// # Errors
    ///
    /// [`Error::KeySecretMismatch`](crate::Error::KeySecretMismatch) when `secret` is not the
    /// model's; [`Error::InvalidParameter`](crate::Error::InvalidParameter) for a zero window
    /// or invalid limits.
    pub fn new(
        model: &'m D,
        secret: KeySecret,
        config: ExtractConfig,
        window: usize,
    ) -> Result<Self> {
        check_fingerprint(model.secret_fingerprint(), secret.fingerprint())?;
        config.check()?;
        if window == 0 {
            return Err(crate::Error::InvalidParameter {
                name: "window",
                value: "0".into(),
                expected: "at least one keystroke",
            });
        }
        Ok(StreamingScorer {
            model,
            secret,
            config,
            window,
            pending: VecDeque::new(),
            down: Vec::new(),
            first_seq: 0,
            recent: Vec::with_capacity(4),
            sums: VecDeque::with_capacity(window + 1),
            total: 0.0,
            count: 0,
            last_time: None,
            anomalies: Anomalies::default(),
            scratch: Vec::with_capacity(8),
        })
    }

    /// Adds one event.
    ///
    /// A press that [`try_push`](Self::try_push) rejects for a limit is dropped and counted in
    /// [`Anomalies::over_limit`].
    pub fn push(&mut self, event: KeyEvent) {
        if self.try_push(event).is_err() {
            self.anomalies.over_limit += 1;
        }
    }

    /// Adds one event, or rejects a press that would exceed a limit and leaves the scorer as it
    /// was.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`](crate::Error::LimitExceeded) for a new press when
    /// [`MAX_KEYS_DOWN`] keys are already down or [`MAX_PENDING_KEYSTROKES`] keystrokes are
    /// waiting for an earlier key.
    pub fn try_push(&mut self, event: KeyEvent) -> Result<()> {
        if event.action == KeyAction::Press
            && !self.down.iter().any(|&(code, _)| code == event.code)
        {
            if self.down.len() >= MAX_KEYS_DOWN {
                return Err(Error::limit(
                    "keys down at once",
                    MAX_KEYS_DOWN as u64,
                    "keys",
                    "MAX_KEYS_DOWN",
                ));
            }
            if self.pending.len() >= MAX_PENDING_KEYSTROKES {
                return Err(Error::limit(
                    "keystrokes waiting for a release",
                    MAX_PENDING_KEYSTROKES as u64,
                    "keystrokes",
                    "MAX_PENDING_KEYSTROKES",
                ));
            }
        }
        self.accept(event);
        Ok(())
    }

    fn accept(&mut self, event: KeyEvent) {
        let t = event.time_us;
        if self.last_time.is_some_and(|last| t < last) {
            self.anomalies.out_of_order += 1;
            return;
        }
        self.last_time = Some(t);
        // Keys held past the limit stop blocking the window. They stay down, so a later press of
        // the same key is still an auto-repeat, as in the batch pairing.
        for &(_, seq) in &self.down {
            // A key that expired may already have left `pending` while still down.
            let Some(p) = seq
                .checked_sub(self.first_seq)
                .and_then(|i| self.pending.get_mut(i as usize))
            else {
                continue;
            };
            if !p.done && t.saturating_sub(p.key.press_us) > self.config.max_hold_us {
                p.done = true;
            }
        }
        let slot = self.down.iter().position(|&(code, _)| code == event.code);
        match (event.action, slot) {
            (KeyAction::Press, Some(_)) => self.anomalies.repeats += 1,
            (KeyAction::Press, None) => {
                let seq = self.first_seq + self.pending.len() as u64;
                self.down.push((event.code, seq));
                let key = Keystroke {
                    code: event.code,
                    press_us: t,
                    release_us: None,
                };
                self.pending.push_back(Pending { key, done: false });
            }
            (KeyAction::Release, None) => self.anomalies.orphan_releases += 1,
            (KeyAction::Release, Some(s)) => {
                let (_, seq) = self.down.swap_remove(s);
                let index = seq.checked_sub(self.first_seq).map(|i| i as usize);
                match index.and_then(|i| self.pending.get_mut(i)) {
                    Some(p) if !p.done => {
                        p.key.release_us = Some(t);
                        p.done = true;
                    }
                    // Expired: it entered the window, or waits there, without a release.
                    _ => self.anomalies.stuck_keys += 1,
                }
            }
        }
        self.drain();
    }

    /// Ends the session's open keystrokes: keys still down count as missing releases.
    pub fn flush(&mut self) {
        self.anomalies.missing_releases += self.down.len() as u64;
        self.down.clear();
        for p in &mut self.pending {
            p.done = true;
        }
        self.drain();
    }

    /// Moves finished keystrokes, in press order, into the window.
    fn drain(&mut self) {
        while self.pending.front().is_some_and(|p| p.done) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.first_seq += 1;
            if self.recent.len() == 3 {
                self.recent.remove(0);
            }
            self.recent.push(p.key);
            self.scratch.clear();
            let last = self.recent.len() - 1;
            push_observations(
                &self.recent,
                last,
                &self.secret,
                &self.config,
                &mut self.scratch,
            );
            let sum: f64 = self
                .scratch
                .iter()
                .map(|o| self.model.contribution(o))
                .sum();
            let n = self.scratch.len() as u32;
            self.sums.push_back((sum, n));
            self.total += sum;
            self.count += u64::from(n);
            if self.sums.len() > self.window
                && let Some((s, c)) = self.sums.pop_front()
            {
                self.total -= s;
                self.count -= u64::from(c);
            }
        }
    }

    /// Current score, or `None` while the window contains no timing.
    pub fn score(&self) -> Option<f64> {
        (self.count > 0).then(|| self.total / self.count as f64)
    }

    /// Keystrokes in the window.
    pub fn window_keys(&self) -> usize {
        self.sums.len()
    }

    /// Defects met so far.
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }
}

/// Batch counterpart of [`StreamingScorer`]: pairs all events, keeps the timings that end in
/// the last `window` keystrokes, and returns their mean contribution (`None` without timings).
pub fn window_score<D: AdditiveDetector + ?Sized>(
    model: &D,
    events: &[KeyEvent],
    secret: &KeySecret,
    config: &ExtractConfig,
    window: usize,
) -> Result<Option<f64>> {
    check_fingerprint(model.secret_fingerprint(), secret.fingerprint())?;
    let (keys, _) = keystrokes(events, config);
    let mut observations = Vec::new();
    for i in keys.len().saturating_sub(window)..keys.len() {
        push_observations(&keys, i, secret, config, &mut observations);
    }
    if observations.is_empty() {
        return Ok(None);
    }
    let sum: f64 = observations.iter().map(|o| model.contribution(o)).sum();
    crate::detectors::finite_score(sum / observations.len() as f64).map(Some)
}

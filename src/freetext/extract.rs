//! Turning raw key events into keystrokes and hashed n-graph timings.
//!
//! A keystroke is one press of a key paired with its release. Real event streams break that
//! pairing in several ways, each handled here and counted in [`Anomalies`]:
//!
//! - rollover (the next key goes down before this one comes up) is normal typing and is kept;
//!   keystrokes are ordered by press time.
//! - auto-repeat (a key pressed again while it is still down) adds no keystroke: the repeats
//!   are dropped and counted.
//! - a release with no matching press is dropped and counted.
//! - a press that is never released, or whose hold exceeds [`ExtractConfig::max_hold_us`]
//!   (a stuck key or a key held during a pause), keeps its press time but has no release, so
//!   no hold or release-based latency is computed from it.
//! - a press-to-press gap above [`ExtractConfig::max_gap_us`] is a pause, not a latency: no
//!   digraph or trigraph spans it.
//! - events out of time order are sorted by [`keystrokes`]; the streaming pairer drops them.

use serde::{Deserialize, Serialize};

use super::keys::{KeySecret, is_correction, key_class};
use crate::error::{Error, Result};
use crate::events::{KeyAction, KeyEvent};

/// Limits that separate typing timings from pauses and stuck keys.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExtractConfig {
    /// Maximum plausible hold in microseconds; a longer hold is a stuck key or a pause.
    /// Default 2 s: in the Aalto 136M subset the median hold is 102 ms and 163 of 368,313 holds
    /// exceed 2 s, up to 44 s.
    pub max_hold_us: i64,
    /// Maximum press-to-press latency in microseconds that still counts as a digraph; a longer
    /// gap is a pause. Default 2 s.
    pub max_gap_us: i64,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            max_hold_us: 2_000_000,
            max_gap_us: 2_000_000,
        }
    }
}

impl ExtractConfig {
    /// Validates the limits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when a limit is not positive.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [
            ("max_hold_us", self.max_hold_us),
            ("max_gap_us", self.max_gap_us),
        ] {
            if value <= 0 {
                return Err(Error::InvalidParameter {
                    name,
                    value: value.to_string(),
                    expected: "a positive number of microseconds",
                });
            }
        }
        Ok(())
    }
}

/// One press paired with its release, if a plausible one was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keystroke {
    /// Physical key code.
    pub code: u32,
    /// Press time in microseconds.
    pub press_us: i64,
    /// Release time in microseconds; `None` when the release is missing or implausibly late.
    pub release_us: Option<i64>,
}

/// Counts of event-stream defects met while pairing presses and releases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomalies {
    /// Presses of a key that was already down (auto-repeat), dropped.
    pub repeats: u64,
    /// Releases of a key that was not down, dropped.
    pub orphan_releases: u64,
    /// Keys never released before the end of the input.
    pub missing_releases: u64,
    /// Holds longer than [`ExtractConfig::max_hold_us`], kept as presses without a release.
    pub stuck_keys: u64,
    /// Events earlier than the previous one (streaming input only), dropped.
    pub out_of_order: u64,
    /// Presses dropped because a streaming limit such as
    /// [`MAX_KEYS_DOWN`](crate::limits::MAX_KEYS_DOWN) was reached (streaming input only).
    pub over_limit: u64,
}

impl Anomalies {
    /// Adds another set of counts to this one.
    pub fn add(&mut self, other: &Anomalies) {
        self.repeats += other.repeats;
        self.orphan_releases += other.orphan_releases;
        self.missing_releases += other.missing_releases;
        self.stuck_keys += other.stuck_keys;
        self.out_of_order += other.out_of_order;
        self.over_limit += other.over_limit;
    }
}

/// Pairs presses with releases over a whole event list (the batch path).
///
/// Events are first sorted by time; events with equal timestamps keep their input order.
/// Returns the keystrokes in press order and the defects found.
pub fn keystrokes(events: &[KeyEvent], config: &ExtractConfig) -> (Vec<Keystroke>, Anomalies) {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].time_us);
    let mut out: Vec<Keystroke> = Vec::with_capacity(events.len() / 2 + 1);
    let mut anomalies = Anomalies::default();
    // Index into `out` of each key that is down; few keys are down at once, so a list is
    // faster than a map.
    let mut down: Vec<(u32, usize)> = Vec::new();
    for i in order {
        let event = events[i];
        let slot = down.iter().position(|&(code, _)| code == event.code);
        match (event.action, slot) {
            (KeyAction::Press, Some(_)) => anomalies.repeats += 1,
            (KeyAction::Press, None) => {
                down.push((event.code, out.len()));
                out.push(Keystroke {
                    code: event.code,
                    press_us: event.time_us,
                    release_us: None,
                });
            }
            (KeyAction::Release, None) => anomalies.orphan_releases += 1,
            (KeyAction::Release, Some(s)) => {
                let (_, index) = down.swap_remove(s);
                let key = &mut out[index];
                // Saturating: timestamps may span the whole i64 range, and a difference too
                // large for i64 is beyond any hold limit anyway.
                if event.time_us.saturating_sub(key.press_us) <= config.max_hold_us {
                    key.release_us = Some(event.time_us);
                } else {
                    anomalies.stuck_keys += 1;
                }
            }
        }
    }
    anomalies.missing_releases += down.len() as u64;
    (out, anomalies)
}

/// Timing kind of an [`Observation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum TimingKind {
    /// Hold time of one key (release minus press).
    Hold = 0,
    /// Press of the first key to press of the second.
    PressPress = 1,
    /// Release of the first key to press of the second (negative under rollover).
    ReleasePress = 2,
    /// Release of the first key to release of the second.
    ReleaseRelease = 3,
    /// Press of the first key to release of the second.
    PressRelease = 4,
    /// Press of the first key to press of the third.
    Trigraph = 5,
}

impl TimingKind {
    /// Number of kinds.
    pub const COUNT: usize = 6;
    /// All kinds in tag order.
    pub const ALL: [TimingKind; 6] = [
        TimingKind::Hold,
        TimingKind::PressPress,
        TimingKind::ReleasePress,
        TimingKind::ReleaseRelease,
        TimingKind::PressRelease,
        TimingKind::Trigraph,
    ];
}

/// One timing of one n-graph, with the key identities replaced by keyed hashes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Keyed hash of the exact n-graph and timing kind.
    pub ngraph: u64,
    /// Keyed hash of the n-graph's key classes and timing kind, for back-off.
    pub class: u64,
    /// Timing kind.
    pub kind: TimingKind,
    /// Duration in milliseconds.
    pub value_ms: f64,
}

fn observation(secret: &KeySecret, kind: TimingKind, codes: &[u32], micros: i64) -> Observation {
    let mut classes = [0u32; 3];
    for (c, &code) in classes.iter_mut().zip(codes) {
        *c = key_class(code);
    }
    Observation {
        ngraph: secret.hash(kind as u8, codes),
        class: secret.class_hash(kind as u8, &classes[..codes.len()]),
        kind,
        value_ms: micros as f64 / 1000.0,
    }
}

/// Appends the timings that end at keystroke `i`: its hold, the digraph with keystroke `i-1`
/// and the trigraph with `i-2`, skipping any that span a pause or need a missing release.
///
/// Both the batch and the streaming paths call this, so they agree by construction on what a
/// timing is. They differ only in how keystrokes are paired and windowed.
pub(crate) fn push_observations(
    keys: &[Keystroke],
    i: usize,
    secret: &KeySecret,
    config: &ExtractConfig,
    out: &mut Vec<Observation>,
) {
    let k = keys[i];
    if let Some(r) = k.release_us {
        out.push(observation(
            secret,
            TimingKind::Hold,
            &[k.code],
            r.saturating_sub(k.press_us),
        ));
    }
    if i == 0 {
        return;
    }
    let a = keys[i - 1];
    // Differences saturate because timestamps may span the whole i64 range. Only gaps beyond
    // `max_gap_us` and holds beyond `max_hold_us` can saturate, and those are never emitted.
    let pp = k.press_us.saturating_sub(a.press_us);
    if pp > config.max_gap_us {
        return;
    }
    let pair = [a.code, k.code];
    out.push(observation(secret, TimingKind::PressPress, &pair, pp));
    if let Some(ra) = a.release_us {
        out.push(observation(
            secret,
            TimingKind::ReleasePress,
            &pair,
            k.press_us.saturating_sub(ra),
        ));
        if let Some(rk) = k.release_us {
            out.push(observation(
                secret,
                TimingKind::ReleaseRelease,
                &pair,
                rk.saturating_sub(ra),
            ));
        }
    }
    if let Some(rk) = k.release_us {
        out.push(observation(
            secret,
            TimingKind::PressRelease,
            &pair,
            rk.saturating_sub(a.press_us),
        ));
    }
    if i >= 2 {
        let z = keys[i - 2];
        if a.press_us.saturating_sub(z.press_us) <= config.max_gap_us {
            let codes = [z.code, a.code, k.code];
            out.push(observation(
                secret,
                TimingKind::Trigraph,
                &codes,
                k.press_us.saturating_sub(z.press_us),
            ));
        }
    }
}

/// Summary statistics of a typing session that do not depend on key identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    /// Number of keystrokes.
    pub keys: usize,
    /// Keystrokes per second of active typing (time between presses, pauses excluded).
    pub keys_per_second: f64,
    /// Number of press-to-press gaps longer than [`ExtractConfig::max_gap_us`].
    pub pauses: usize,
    /// Mean pause length in seconds (0 when there is none).
    pub mean_pause_s: f64,
    /// Fraction of keystrokes that delete text (Backspace or Delete).
    pub correction_rate: f64,
    /// Fraction of keystrokes pressed before the previous key was released.
    pub rollover_rate: f64,
}

impl SessionStats {
    /// Computes the statistics of keystrokes in press order.
    pub fn of(keys: &[Keystroke], config: &ExtractConfig) -> SessionStats {
        let mut active_us = 0i64;
        let mut gaps = 0usize;
        let mut pauses = 0usize;
        let mut pause_us = 0i64;
        let mut rollovers = 0usize;
        for pair in keys.windows(2) {
            // Saturating, as in `push_observations`: a gap too large for i64 is a pause.
            let gap = pair[1].press_us.saturating_sub(pair[0].press_us);
            if gap > config.max_gap_us {
                pauses += 1;
                pause_us = pause_us.saturating_add(gap);
            } else {
                active_us = active_us.saturating_add(gap);
                gaps += 1;
            }
            if pair[0].release_us.is_some_and(|r| r > pair[1].press_us) {
                rollovers += 1;
            }
        }
        let n = keys.len();
        let corrections = keys.iter().filter(|k| is_correction(k.code)).count();
        SessionStats {
            keys: n,
            keys_per_second: if active_us > 0 {
                gaps as f64 * 1e6 / active_us as f64
            } else {
                0.0
            },
            pauses,
            mean_pause_s: if pauses > 0 {
                pause_us as f64 / pauses as f64 / 1e6
            } else {
                0.0
            },
            correction_rate: if n > 0 {
                corrections as f64 / n as f64
            } else {
                0.0
            },
            rollover_rate: if n > 1 {
                rollovers as f64 / (n - 1) as f64
            } else {
                0.0
            },
        }
    }
}

/// A free-text sample: hashed timings of a stretch of typing, ready to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreeTextSample {
    /// Fingerprint of the secret the n-graphs were hashed with.
    pub secret_fingerprint: u64,
    /// Timings in the order their last keystroke was pressed.
    pub observations: Vec<Observation>,
    /// Session statistics.
    pub stats: SessionStats,
}

impl FreeTextSample {
    /// Builds a sample from keystrokes in press order.
    pub fn from_keystrokes(
        keys: &[Keystroke],
        secret: &KeySecret,
        config: &ExtractConfig,
    ) -> FreeTextSample {
        let mut observations = Vec::with_capacity(keys.len() * 6);
        for i in 0..keys.len() {
            push_observations(keys, i, secret, config, &mut observations);
        }
        FreeTextSample {
            secret_fingerprint: secret.fingerprint(),
            observations,
            stats: SessionStats::of(keys, config),
        }
    }

    /// Pairs raw events (see [`keystrokes`]) and builds a sample from them.
    pub fn from_events(
        events: &[KeyEvent],
        secret: &KeySecret,
        config: &ExtractConfig,
    ) -> (FreeTextSample, Anomalies) {
        let (keys, anomalies) = keystrokes(events, config);
        (Self::from_keystrokes(&keys, secret, config), anomalies)
    }

    /// Observations of one timing kind.
    pub fn of_kind(&self, kind: TimingKind) -> impl Iterator<Item = &Observation> {
        self.observations.iter().filter(move |o| o.kind == kind)
    }
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;

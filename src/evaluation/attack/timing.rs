//! Forged timing for the attacks of [`super`]: keystroke and mouse event sequences rebuilt
//! with replayed, jittered, constant, population-drawn or mimicked intervals.

use std::collections::HashMap;

use normal::standard_normal;
use rand::Rng;
use rand::seq::SliceRandom;

use crate::events::{KeyAction, KeyEvent, MouseEvent, MouseKind};

/// One keystroke: key code, press and release time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Keystroke {
    pub(crate) code: u32,
    pub(crate) press_us: i64,
    pub(crate) release_us: i64,
}

/// Pairs each press with the next release of the same code; unpaired events are dropped.
/// The result is sorted by press time.
pub(crate) fn keystrokes(events: &[KeyEvent]) -> Vec<Keystroke> {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.time_us);
    let mut down: HashMap<u32, i64> = HashMap::new();
    let mut out = Vec::new();
    for e in &sorted {
        match e.action {
            KeyAction::Press => {
                down.entry(e.code).or_insert(e.time_us);
            }
            KeyAction::Release => {
                if let Some(press_us) = down.remove(&e.code) {
                    out.push(Keystroke {
                        code: e.code,
                        press_us,
                        release_us: e.time_us,
                    });
                }
            }
        }
    }
    out.sort_by_key(|k| k.press_us);
    out
}

/// Turns keystrokes back into time-ordered events; a release never precedes its press.
pub(crate) fn key_events(keys: &[Keystroke]) -> Vec<KeyEvent> {
    let mut events = Vec::with_capacity(2 * keys.len());
    for k in keys {
        events.push(KeyEvent::press(k.code, k.press_us));
        events.push(KeyEvent::release(k.code, k.release_us.max(k.press_us + 1)));
    }
    // Stable sort: at equal times a press stays before the release pushed after it.
    events.sort_by_key(|e| e.time_us);
    events
}

/// Hold times and press-to-press intervals in milliseconds of a set of keystroke sequences;
/// intervals above [`MAX_TYPING_INTERVAL_MS`] (pauses between sentences) are left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyTimings {
    pub(crate) holds_ms: Vec<f64>,
    pub(crate) intervals_ms: Vec<f64>,
    /// Per key code: sum and count of hold times.
    per_key: HashMap<u32, (f64, u32)>,
    /// Per digraph (previous code, code): sum and count of press-to-press intervals.
    per_digraph: HashMap<(u32, u32), (f64, u32)>,
}

/// Maximum press-to-press interval counted as typing rather than a pause, in milliseconds.
pub(crate) const MAX_TYPING_INTERVAL_MS: f64 = 2_000.0;

impl KeyTimings {
    pub(crate) fn add(&mut self, keys: &[Keystroke]) {
        for (i, k) in keys.iter().enumerate() {
            let hold = (k.release_us - k.press_us) as f64 / 1000.0;
            if hold > 0.0 && hold <= MAX_TYPING_INTERVAL_MS {
                self.holds_ms.push(hold);
                let e = self.per_key.entry(k.code).or_default();
                e.0 += hold;
                e.1 += 1;
            }
            if i > 0 {
                let previous = keys[i - 1];
                let interval = (k.press_us - previous.press_us) as f64 / 1000.0;
                if interval > 0.0 && interval <= MAX_TYPING_INTERVAL_MS {
                    self.intervals_ms.push(interval);
                    let e = self.per_digraph.entry((previous.code, k.code)).or_default();
                    e.0 += interval;
                    e.1 += 1;
                }
            }
        }
    }

    fn mean(values: &[f64]) -> f64 {
        values.iter().sum::<f64>() / values.len().max(1) as f64
    }

    pub(crate) fn median_hold_ms(&self) -> f64 {
        median(&self.holds_ms)
    }

    pub(crate) fn median_interval_ms(&self) -> f64 {
        median(&self.intervals_ms)
    }

    /// Mean hold of `code`, or the mean over all keys when `code` was never seen.
    fn hold_of(&self, code: u32) -> f64 {
        match self.per_key.get(&code) {
            Some(&(sum, n)) => sum / f64::from(n),
            None => Self::mean(&self.holds_ms),
        }
    }

    /// Mean interval of the digraph, or the mean over all digraphs when it was never seen.
    fn interval_of(&self, previous: u32, code: u32) -> f64 {
        match self.per_digraph.get(&(previous, code)) {
            Some(&(sum, n)) => sum / f64::from(n),
            None => Self::mean(&self.intervals_ms),
        }
    }
}

/// Median of a non-empty slice; 0 for an empty one.
pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Returns the captured keystrokes with every press and release moved by uniform noise in
/// `[-jitter_ms, jitter_ms]`.
pub(crate) fn jitter_keys(
    keys: &[Keystroke],
    jitter_ms: f64,
    rng: &mut impl Rng,
) -> Vec<Keystroke> {
    let mut shift = || (rng.gen_range(-jitter_ms..=jitter_ms) * 1000.0) as i64;
    let mut out: Vec<Keystroke> = keys
        .iter()
        .map(|k| Keystroke {
            code: k.code,
            press_us: k.press_us + shift(),
            release_us: k.release_us + shift(),
        })
        .collect();
    out.sort_by_key(|k| k.press_us);
    out
}

/// Re-times the captured key codes. Press-to-press intervals come from `interval_ms`, called
/// with the previous and current code, and hold times from `hold_ms`, called with the current
/// code.
pub(crate) fn retime_keys(
    keys: &[Keystroke],
    mut interval_ms: impl FnMut(u32, u32) -> f64,
    mut hold_ms: impl FnMut(u32) -> f64,
) -> Vec<Keystroke> {
    let Some(first) = keys.first() else {
        return Vec::new();
    };
    let mut press_us = first.press_us;
    let mut previous = first.code;
    let mut out = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            press_us += (interval_ms(previous, k.code).max(1.0) * 1000.0) as i64;
        }
        let hold = (hold_ms(k.code).max(1.0) * 1000.0) as i64;
        out.push(Keystroke {
            code: k.code,
            press_us,
            release_us: press_us + hold,
        });
        previous = k.code;
    }
    out
}

/// Mimicry: each interval and hold is the victim's mean for that digraph or key, times
/// `1 + noise * z` with `z` standard normal (floored at 0.1 so times stay positive).
pub(crate) fn mimic_keys(
    keys: &[Keystroke],
    victim: &KeyTimings,
    noise: f64,
    rng: &mut impl Rng,
) -> Vec<Keystroke> {
    // Both closures below need random factors, so they are drawn up front.
    let mut factor = || (1.0 + noise * standard_normal(rng)).max(0.1);
    let interval_factors: Vec<f64> = keys.iter().map(|_| factor()).collect();
    let hold_factors: Vec<f64> = keys.iter().map(|_| factor()).collect();
    let mut intervals = interval_factors.into_iter();
    let mut holds = hold_factors.into_iter();
    retime_keys(
        keys,
        |previous, code| victim.interval_of(previous, code) * intervals.next().unwrap_or(1.0),
        |code| victim.hold_of(code) * holds.next().unwrap_or(1.0),
    )
}

/// Draws a value uniformly from `pool`, or returns `fallback` when it is empty.
pub(crate) fn draw(pool: &[f64], fallback: f64, rng: &mut impl Rng) -> f64 {
    pool.choose(rng).copied().unwrap_or(fallback)
}

/// Inter-event intervals in milliseconds of mouse events, keyed by the (previous, current)
/// event kinds; intervals above [`MAX_MOUSE_INTERVAL_MS`] are left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct MouseTimings {
    pub(crate) intervals_ms: Vec<f64>,
    per_transition: HashMap<(u8, u8), Vec<f64>>,
}

/// Maximum inter-event interval kept in mouse timing statistics, in milliseconds: longer
/// gaps are pauses, which segmentation splits on anyway.
pub(crate) const MAX_MOUSE_INTERVAL_MS: f64 = 10_000.0;

fn kind_index(kind: MouseKind) -> u8 {
    match kind {
        MouseKind::Move => 0,
        MouseKind::Press => 1,
        MouseKind::Release => 2,
        MouseKind::Drag => 3,
        MouseKind::Scroll => 4,
    }
}

impl MouseTimings {
    pub(crate) fn add(&mut self, events: &[MouseEvent]) {
        for pair in events.windows(2) {
            let dt = pair[1].time_ms - pair[0].time_ms;
            if (0.0..=MAX_MOUSE_INTERVAL_MS).contains(&dt) {
                self.intervals_ms.push(dt);
                self.per_transition
                    .entry((kind_index(pair[0].kind), kind_index(pair[1].kind)))
                    .or_default()
                    .push(dt);
            }
        }
    }

    /// Returns the median of the intervals above 0. Many clients repeat timestamps, so the
    /// plain median can be 0.
    pub(crate) fn median_positive_ms(&self) -> f64 {
        let positive: Vec<f64> = self
            .intervals_ms
            .iter()
            .copied()
            .filter(|&v| v > 0.0)
            .collect();
        median(&positive).max(1.0)
    }

    fn transition(&self, from: MouseKind, to: MouseKind) -> &[f64] {
        self.per_transition
            .get(&(kind_index(from), kind_index(to)))
            .map_or(&self.intervals_ms[..], |v| &v[..])
    }
}

/// Returns the captured mouse events with new inter-event intervals from `interval_ms`,
/// which is called with the previous and current event.
pub(crate) fn retime_mouse(
    events: &[MouseEvent],
    mut interval_ms: impl FnMut(&MouseEvent, &MouseEvent) -> f64,
) -> Vec<MouseEvent> {
    let mut out: Vec<MouseEvent> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let mut next = *e;
        if let Some(previous) = out.last() {
            next.time_ms = previous.time_ms + interval_ms(&events[i - 1], e).max(0.0);
        }
        out.push(next);
    }
    out
}

/// Returns the captured mouse events with each timestamp moved by uniform noise in
/// `[-jitter_ms, jitter_ms]`, then sorted back into time order.
pub(crate) fn jitter_mouse(
    events: &[MouseEvent],
    jitter_ms: f64,
    rng: &mut impl Rng,
) -> Vec<MouseEvent> {
    let mut out: Vec<MouseEvent> = events
        .iter()
        .map(|e| MouseEvent {
            time_ms: (e.time_ms + rng.gen_range(-jitter_ms..=jitter_ms)).max(0.0),
            ..*e
        })
        .collect();
    out.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
    out
}

/// Mouse mimicry: each interval is drawn from the victim's own enrolment intervals of the same
/// (previous kind, kind) transition, times `1 + noise * z`.
pub(crate) fn mimic_mouse(
    events: &[MouseEvent],
    victim: &MouseTimings,
    noise: f64,
    rng: &mut impl Rng,
) -> Vec<MouseEvent> {
    let fallback = victim.median_positive_ms();
    retime_mouse(events, |previous, current| {
        let base = draw(
            victim.transition(previous.kind, current.kind),
            fallback,
            rng,
        );
        base * (1.0 + noise * standard_normal(rng)).max(0.1)
    })
}

/// Standard normal draws by the Box-Muller transform; `rand` 0.8 keeps its normal
/// distribution in the separate `rand_distr` crate, which the library does not depend on.
mod normal {
    use rand::Rng;

    pub(crate) fn standard_normal(rng: &mut (impl Rng + ?Sized)) -> f64 {
        let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        let u2: f64 = rng.r#gen();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;

    fn typed() -> Vec<Keystroke> {
        (0..6)
            .map(|i| Keystroke {
                code: 65 + i % 3,
                press_us: 1_000_000 + i64::from(i) * 180_000,
                release_us: 1_000_000 + i64::from(i) * 180_000 + 90_000,
            })
            .collect()
    }

    #[test]
    fn keystrokes_round_trip_through_events() {
        let keys = typed();
        assert_eq!(keystrokes(&key_events(&keys)), keys);
    }

    #[test]
    fn retimed_keys_keep_codes_and_constant_interval() {
        let keys = retime_keys(&typed(), |_, _| 150.0, |_| 100.0);
        assert_eq!(keys.len(), 6);
        for pair in keys.windows(2) {
            assert_eq!(pair[1].press_us - pair[0].press_us, 150_000);
        }
        assert!(keys.iter().all(|k| k.release_us - k.press_us == 100_000));
        assert_eq!(
            keys.iter().map(|k| k.code).collect::<Vec<_>>(),
            typed().iter().map(|k| k.code).collect::<Vec<_>>()
        );
    }

    #[test]
    fn mimicry_without_noise_uses_victim_means() {
        let mut victim = KeyTimings::default();
        victim.add(&typed());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let forged = mimic_keys(&typed(), &victim, 0.0, &mut rng);
        for pair in forged.windows(2) {
            assert_eq!(pair[1].press_us - pair[0].press_us, 180_000);
        }
        assert!(forged.iter().all(|k| k.release_us - k.press_us == 90_000));
    }

    #[test]
    fn jitter_stays_within_bound() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let jittered = jitter_keys(&typed(), 5.0, &mut rng);
        for (a, b) in jittered.iter().zip(typed()) {
            assert!((a.press_us - b.press_us).abs() <= 5_000);
            assert!((a.release_us - b.release_us).abs() <= 5_000);
        }
    }
}

//! A baseline keyboard modality: per-key hold times.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::modality::Modality;
use crate::error::{Error, Result};
use crate::events::{KeyAction, KeyEvent};
use crate::store::KeyedHasher;

/// Hash domain of key identities.
const KEY_DOMAIN: &str = "kinetype/engine/key";
/// Keystrokes a key needs in the training data before it gets its own statistics.
const MIN_KEY_COUNT: usize = 5;
/// Smallest standard deviation of a log hold time; keeps a key pressed identically a few times
/// from giving infinite z-scores.
const MIN_LOG_SD: f64 = 0.02;

/// One keystroke: a press and its release.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Keystroke {
    /// Keyed hash of the key code; the code itself is not kept.
    pub key: u64,
    /// Press time in microseconds.
    pub press_us: f64,
    /// Hold time in microseconds.
    pub hold_us: f64,
}

/// Mean and standard deviation of the natural log of hold times in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogNormalStats {
    /// Mean of ln(hold in ms).
    pub mean: f64,
    /// Standard deviation of ln(hold in ms).
    pub sd: f64,
}

/// Per-key hold-time statistics, with statistics over all keys for keys seen rarely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldTimeModel {
    /// Statistics per keyed hash of the key code.
    pub keys: BTreeMap<u64, LogNormalStats>,
    /// Statistics over all keystrokes.
    pub all: LogNormalStats,
}

/// Keyboard modality that scores each keystroke by the z-score of its log hold time.
///
/// Hold times are close to log-normal, so the model keeps the mean and deviation of
/// `ln(hold in ms)` per key. It ignores the flight times between keys; it is a baseline that
/// makes the engine usable and testable before richer free-text models are wired in.
#[derive(Debug, Clone)]
pub struct KeyHoldModality {
    hasher: KeyedHasher,
}

impl KeyHoldModality {
    /// Builds the modality; `secret` keys the hashes of key codes stored in models.
    pub fn new(secret: &[u8]) -> Self {
        KeyHoldModality {
            hasher: KeyedHasher::new(secret),
        }
    }
}

fn log_ms(hold_us: f64) -> f64 {
    // Holds under 1 ms are clock noise; clamping keeps the logarithm finite.
    (hold_us / 1000.0).max(1.0).ln()
}

fn stats(values: impl Iterator<Item = f64>) -> Option<(LogNormalStats, usize)> {
    let values: Vec<f64> = values.collect();
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((
        LogNormalStats {
            mean,
            sd: var.sqrt().max(MIN_LOG_SD),
        },
        values.len(),
    ))
}

impl Modality for KeyHoldModality {
    type Event = KeyEvent;
    type Action = Keystroke;
    /// Press time of each key that is down.
    type Extractor = HashMap<u32, f64>;
    type Model = HoldTimeModel;
    type EarlierModel = HoldTimeModel;

    const NAME: &'static str = "keyboard";
    const SCHEMA: &'static str = "keyboard/hold-time/v1: per keyed-hash key ln(hold ms) mean, sd";

    fn event_time_us(event: &KeyEvent) -> f64 {
        event.time_us as f64
    }

    fn extract(&self, down: &mut HashMap<u32, f64>, event: &KeyEvent, out: &mut Vec<Keystroke>) {
        let time = event.time_us as f64;
        match event.action {
            // Auto-repeat sends presses without releases; the first press starts the hold.
            KeyAction::Press => {
                down.entry(event.code).or_insert(time);
            }
            // A release without a press (the press came before the session) is skipped.
            KeyAction::Release => {
                if let Some(press_us) = down.remove(&event.code) {
                    let key = self
                        .hasher
                        .hash_u64(KEY_DOMAIN, &[&event.code.to_le_bytes()]);
                    out.push(Keystroke {
                        key,
                        press_us,
                        hold_us: time - press_us,
                    });
                }
            }
        }
    }

    fn action_time_us(action: &Keystroke) -> f64 {
        action.press_us
    }

    fn action_timings(action: &Keystroke, out: &mut Vec<f64>) {
        out.push(action.hold_us);
    }

    fn train(
        &self,
        actions: &[Keystroke],
        _background: &[Vec<&[Keystroke]>],
    ) -> Result<HoldTimeModel> {
        let (all, _) = stats(actions.iter().map(|a| log_ms(a.hold_us))).ok_or_else(|| {
            Error::training(format!(
                "hold-time model needs 2 keystrokes, got {}",
                actions.len()
            ))
        })?;
        let mut by_key: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for a in actions {
            by_key.entry(a.key).or_default().push(log_ms(a.hold_us));
        }
        let keys = by_key
            .into_iter()
            .filter_map(|(key, v)| {
                let (s, n) = stats(v.into_iter())?;
                (n >= MIN_KEY_COUNT).then_some((key, s))
            })
            .collect();
        Ok(HoldTimeModel { keys, all })
    }

    fn score(&self, model: &HoldTimeModel, action: &Keystroke) -> Option<f64> {
        let s = model.keys.get(&action.key).unwrap_or(&model.all);
        Some(((log_ms(action.hold_us) - s.mean) / s.sd).abs())
    }

    fn adapt(
        &self,
        model: &HoldTimeModel,
        actions: &[Keystroke],
        rate: f64,
    ) -> Result<HoldTimeModel> {
        let session = self.train(actions, &[])?;
        let blend = |old: &LogNormalStats, new: &LogNormalStats| LogNormalStats {
            mean: old.mean + rate * (new.mean - old.mean),
            sd: (old.sd + rate * (new.sd - old.sd)).max(MIN_LOG_SD),
        };
        let mut adapted = model.clone();
        adapted.all = blend(&model.all, &session.all);
        // Only keys the template already has move; new keys wait for re-enrolment, so one
        // session cannot add statistics that were never checked against the template.
        for (key, stats) in adapted.keys.iter_mut() {
            if let Some(new) = session.keys.get(key) {
                *stats = blend(stats, new);
            }
        }
        Ok(adapted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strokes(modality: &KeyHoldModality, holds_ms: &[(u32, f64)]) -> Vec<Keystroke> {
        let mut down = HashMap::new();
        let mut out = Vec::new();
        let mut t = 0i64;
        for &(code, hold) in holds_ms {
            modality.extract(&mut down, &KeyEvent::press(code, t), &mut out);
            let release = t + (hold * 1000.0) as i64;
            modality.extract(&mut down, &KeyEvent::release(code, release), &mut out);
            t = release + 50_000;
        }
        out
    }

    #[test]
    fn extract_pairs_presses_with_releases() {
        let m = KeyHoldModality::new(b"k");
        let mut down = HashMap::new();
        let mut out = Vec::new();
        m.extract(&mut down, &KeyEvent::release(9, 5), &mut out);
        m.extract(&mut down, &KeyEvent::press(4, 10), &mut out);
        m.extract(&mut down, &KeyEvent::press(4, 20), &mut out);
        m.extract(&mut down, &KeyEvent::release(4, 110), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].hold_us, 100.0);
        assert_eq!(out[0].press_us, 10.0);
    }

    #[test]
    fn own_holds_score_lower_than_other_holds() {
        let m = KeyHoldModality::new(b"k");
        let own: Vec<(u32, f64)> = (0..200).map(|i| (i % 4, 80.0 + f64::from(i % 7))).collect();
        let model = m.train(&strokes(&m, &own), &[]).unwrap();
        assert_eq!(model.keys.len(), 4);
        let close = strokes(&m, &[(1, 83.0)]);
        let far = strokes(&m, &[(1, 160.0)]);
        assert!(m.score(&model, &close[0]).unwrap() < m.score(&model, &far[0]).unwrap());
    }

    #[test]
    fn adapt_moves_by_at_most_rate() {
        let m = KeyHoldModality::new(b"k");
        let own: Vec<(u32, f64)> = (0..100).map(|i| (i % 2, 80.0 + f64::from(i % 5))).collect();
        let model = m.train(&strokes(&m, &own), &[]).unwrap();
        let slower: Vec<(u32, f64)> = (0..100)
            .map(|i| (i % 2, 120.0 + f64::from(i % 5)))
            .collect();
        let session = m.train(&strokes(&m, &slower), &[]).unwrap();
        let adapted = m.adapt(&model, &strokes(&m, &slower), 0.1).unwrap();
        let expected = model.all.mean + 0.1 * (session.all.mean - model.all.mean);
        assert!((adapted.all.mean - expected).abs() < 1e-12);
        assert!(m.train(&[], &[]).is_err());
    }
}

//! A keyboard modality backed by the free-text module: each keystroke is scored by the n-graph
//! timings that end at it.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use super::modality::Modality;
use crate::error::{Error, Result};
use crate::events::{KeyAction, KeyEvent};
use crate::freetext::{
    AdditiveDetector, ExtractConfig, FreeTextSample, KeySecret, Keystroke, NgraphRobust,
    Observation, SessionStats,
};
use crate::store::KeyedHasher;

/// Hash domain that derives the n-graph hash secret from the engine secret.
const SECRET_DOMAIN: &str = "kinetype/engine/free-text-secret";
/// Maximum number of keys the extractor tracks as down at once, so a client that sends presses
/// without releases cannot grow the per-session state beyond it.
const MAX_KEYS_DOWN: usize = 64;

/// One keystroke with the hashed timings that end at it: its hold, and the digraph and trigraph
/// timings with the keystrokes before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypedKey {
    /// Press time in microseconds.
    pub press_us: f64,
    /// Timings ending at this keystroke, with n-graph identities as keyed hashes.
    pub timings: Vec<Observation>,
}

/// Per-session pairing of presses with releases, in press order.
///
/// A keystroke leaves the extractor once it and every earlier keystroke are released, or once
/// their hold passes [`ExtractConfig::max_hold_us`]; this is the pairing of
/// [`StreamingScorer`](crate::freetext::StreamingScorer), so both agree on what a timing is.
#[derive(Debug, Default)]
pub struct KeyPairing {
    /// Keystrokes not yet emitted, in press order, with whether each is finished.
    pending: VecDeque<(Keystroke, bool)>,
    /// Keys currently down: code and sequence number of their keystroke.
    down: Vec<(u32, u64)>,
    /// Sequence number of `pending[0]`.
    first_seq: u64,
    /// The last three emitted keystrokes, oldest first.
    recent: Vec<Keystroke>,
}

/// Keyboard modality over free text: the model is [`NgraphRobust`] (per-n-graph median and
/// spread with back-off to key classes), and each keystroke's raw score is the mean robust
/// distance of its timings.
///
/// Key codes are hashed with a secret derived from the engine secret, so models hold no typed
/// text.
#[derive(Debug, Clone)]
pub struct FreeTextModality {
    secret: KeySecret,
    config: ExtractConfig,
}

impl FreeTextModality {
    /// Builds the modality with the default pause and stuck-key limits. The n-graph hashes are
    /// keyed by a secret derived from `secret` (the engine secret).
    pub fn new(secret: &[u8]) -> Self {
        let derived = KeyedHasher::new(secret).hash(SECRET_DOMAIN, &[]);
        let mut key = [0u8; 16];
        key.copy_from_slice(&derived[..16]);
        FreeTextModality {
            secret: KeySecret::from_bytes(key),
            config: ExtractConfig::default(),
        }
    }

    /// Builds the modality with custom limits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when a limit is not positive.
    pub fn with_config(secret: &[u8], config: ExtractConfig) -> Result<Self> {
        config.check()?;
        Ok(FreeTextModality {
            config,
            ..Self::new(secret)
        })
    }

    fn sample(&self, actions: &[TypedKey]) -> FreeTextSample {
        FreeTextSample {
            secret_fingerprint: self.secret.fingerprint(),
            observations: actions
                .iter()
                .flat_map(|a| a.timings.iter().copied())
                .collect(),
            stats: SessionStats::default(),
        }
    }

    fn emit_finished(&self, state: &mut KeyPairing, out: &mut Vec<TypedKey>) {
        while let Some(&(key, true)) = state.pending.front() {
            state.pending.pop_front();
            state.first_seq += 1;
            if state.recent.len() == 3 {
                state.recent.remove(0);
            }
            state.recent.push(key);
            let mut timings = Vec::with_capacity(6);
            crate::freetext::push_observations(
                &state.recent,
                state.recent.len() - 1,
                &self.secret,
                &self.config,
                &mut timings,
            );
            out.push(TypedKey {
                press_us: key.press_us as f64,
                timings,
            });
        }
    }
}

impl Modality for FreeTextModality {
    type Event = KeyEvent;
    type Action = TypedKey;
    type Extractor = KeyPairing;
    type Model = NgraphRobust;
    type EarlierModel = NgraphRobust;

    const NAME: &'static str = "keyboard";
    const SCHEMA: &'static str = "keyboard/free-text-ngraph-robust/v1: per keyed-hash n-graph \
        and key class, for hold, PP, RP, RR, PR and trigraph: n, median ms, mean abs deviation";

    fn event_time_us(event: &KeyEvent) -> f64 {
        event.time_us as f64
    }

    fn extract(&self, state: &mut KeyPairing, event: &KeyEvent, out: &mut Vec<TypedKey>) {
        let t = event.time_us;
        // Keys held past the limit stop blocking later keystrokes. They stay down, so a later
        // press of the same key is still an auto-repeat.
        for &(_, seq) in &state.down {
            let Some(entry) = seq
                .checked_sub(state.first_seq)
                .and_then(|i| state.pending.get_mut(i as usize))
            else {
                continue;
            };
            if !entry.1 && t - entry.0.press_us > self.config.max_hold_us {
                entry.1 = true;
            }
        }
        let slot = state.down.iter().position(|&(code, _)| code == event.code);
        match (event.action, slot) {
            // Auto-repeat: the first press starts the keystroke.
            (KeyAction::Press, Some(_)) => {}
            (KeyAction::Press, None) => {
                if state.down.len() >= MAX_KEYS_DOWN {
                    state.down.remove(0);
                }
                let seq = state.first_seq + state.pending.len() as u64;
                state.down.push((event.code, seq));
                let key = Keystroke {
                    code: event.code,
                    press_us: t,
                    release_us: None,
                };
                state.pending.push_back((key, false));
            }
            // A release whose press came before the session is skipped.
            (KeyAction::Release, None) => {}
            (KeyAction::Release, Some(s)) => {
                let (_, seq) = state.down.swap_remove(s);
                let index = seq.checked_sub(state.first_seq).map(|i| i as usize);
                if let Some(entry) = index.and_then(|i| state.pending.get_mut(i))
                    && !entry.1
                {
                    entry.0.release_us = Some(t);
                    entry.1 = true;
                }
            }
        }
        self.emit_finished(state, out);
    }

    fn action_time_us(action: &TypedKey) -> f64 {
        action.press_us
    }

    fn action_timings(action: &TypedKey, out: &mut Vec<f64>) {
        out.extend(action.timings.iter().map(|o| o.value_ms * 1000.0));
    }

    fn train(
        &self,
        actions: &[TypedKey],
        _background: &[Vec<&[TypedKey]>],
    ) -> Result<NgraphRobust> {
        let sample = self.sample(actions);
        if sample.observations.len() < 2 {
            return Err(Error::training(format!(
                "free-text model needs at least 2 timings, got {} from {} keystrokes; enrol more typing",
                sample.observations.len(),
                actions.len()
            )));
        }
        NgraphRobust::fit(&[sample], &self.secret)
    }

    fn score(&self, model: &NgraphRobust, action: &TypedKey) -> Option<f64> {
        if action.timings.is_empty() || model.secret_fingerprint() != self.secret.fingerprint() {
            return None;
        }
        let sum: f64 = action.timings.iter().map(|o| model.contribution(o)).sum();
        Some(sum / action.timings.len() as f64)
    }

    fn adapt(&self, model: &NgraphRobust, actions: &[TypedKey], rate: f64) -> Result<NgraphRobust> {
        let session = self.train(actions, &[])?;
        model.moved_toward(&session, rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(m: &FreeTextModality, events: &[KeyEvent]) -> Vec<TypedKey> {
        let mut state = KeyPairing::default();
        let mut out = Vec::new();
        for e in events {
            m.extract(&mut state, e, &mut out);
        }
        out
    }

    #[test]
    fn rollover_keeps_press_order() {
        let m = FreeTextModality::new(b"k");
        let events = [
            KeyEvent::press(1, 0),
            KeyEvent::press(2, 50_000),
            KeyEvent::release(2, 120_000),
            KeyEvent::release(1, 150_000),
        ];
        let keys = typed(&m, &events);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].press_us, 0.0);
        assert_eq!(keys[1].press_us, 50_000.0);
        assert_eq!(keys[0].timings.len(), 1, "hold only");
        // Hold, press-press, release-press, release-release and press-release.
        assert_eq!(keys[1].timings.len(), 5);
    }

    #[test]
    fn repeats_and_orphans_add_nothing() {
        let m = FreeTextModality::new(b"k");
        let events = [
            KeyEvent::release(9, 0),
            KeyEvent::press(4, 10),
            KeyEvent::press(4, 20),
            KeyEvent::release(4, 110),
        ];
        let keys = typed(&m, &events);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].timings[0].value_ms, 0.1);
    }

    #[test]
    fn stuck_key_stops_blocking() {
        let m = FreeTextModality::new(b"k");
        let mut events = vec![KeyEvent::press(1, 0)];
        events.push(KeyEvent::press(2, 3_000_000));
        events.push(KeyEvent::release(2, 3_100_000));
        let keys = typed(&m, &events);
        assert_eq!(keys.len(), 2);
        assert!(keys[0].timings.is_empty(), "no release, no hold");
    }

    #[test]
    fn train_rejects_empty() {
        let m = FreeTextModality::new(b"k");
        assert!(matches!(
            m.train(&[], &[]),
            Err(Error::InvalidTrainingData { .. })
        ));
    }

    #[test]
    fn adapt_moves_by_at_most_rate() {
        let m = FreeTextModality::new(b"k");
        let typing = |hold: i64| -> Vec<KeyEvent> {
            (0..60)
                .flat_map(|i| {
                    let t = i * 300_000;
                    [
                        KeyEvent::press(i as u32 % 3, t),
                        KeyEvent::release(i as u32 % 3, t + hold + (i % 5) * 2_000),
                    ]
                })
                .collect()
        };
        let model = m.train(&typed(&m, &typing(80_000)), &[]).unwrap();
        let slow = typed(&m, &typing(90_000));
        let adapted = m.adapt(&model, &slow, 0.1).unwrap();
        let probe = &slow[10];
        let before = m.score(&model, probe).unwrap();
        let after = m.score(&adapted, probe).unwrap();
        assert!(after < before, "adapted {after} vs original {before}");
        // A 10 % step toward a 10 ms slower median removes at most a small part of the
        // distance.
        assert!(after > 0.5 * before, "adapted {after} vs original {before}");
    }
}

//! Fixed-text timing vectors in the layout of the CMU DSL-StrongPasswordData set.
//!
//! For a phrase of `n` keys the vector has `3n - 2` features, ordered as in the CMU file:
//! `H.k1, DD.k1.k2, UD.k1.k2, H.k2, ..., DD.kn-1.kn, UD.kn-1.kn, H.kn`, all in seconds, where
//!
//! - `H.k` (hold) is release(k) - press(k),
//! - `DD.a.b` (down-down) is press(b) - press(a),
//! - `UD.a.b` (up-down) is press(b) - release(a).
//!
//! `UD` is negative when the next key goes down before the previous one comes up (rollover),
//! which is normal in fast typing and is kept as it is.

use crate::error::{Error, KeyEventProblem, Result};
use crate::events::{KeyAction, KeyEvent};

/// A phrase to type: the sequence of physical key codes and a label for each key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedPhrase {
    codes: Vec<u32>,
    labels: Vec<String>,
}

/// A timing vector and the feature names that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingVector {
    /// Feature values in seconds, in the order of [`FixedPhrase::feature_names`].
    pub values: Vec<f64>,
}

impl FixedPhrase {
    /// Creates a phrase from key codes and their labels (used only in feature names).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when the phrase has fewer than two keys or the two lists
    /// differ in length.
    pub fn new(codes: Vec<u32>, labels: Vec<String>) -> Result<Self> {
        if codes.len() < 2 {
            return Err(Error::InvalidParameter {
                name: "phrase",
                value: format!("{} keys", codes.len()),
                expected: "at least two keys",
            });
        }
        if codes.len() != labels.len() {
            return Err(Error::InvalidParameter {
                name: "phrase labels",
                value: format!("{} labels for {} keys", labels.len(), codes.len()),
                expected: "one label per key",
            });
        }
        Ok(FixedPhrase { codes, labels })
    }

    /// The CMU password `.tie5Roanl` followed by Return, with USB HID usage codes.
    ///
    /// `R` is typed as Shift+r; as in the CMU data, the `Shift.r` position stands for the `r`
    /// key and the Shift key's own events are ignored.
    pub fn cmu_password() -> Self {
        // USB HID keyboard usage IDs (HID Usage Tables 1.12, section 10).
        const PERIOD: u32 = 0x37;
        const T: u32 = 0x17;
        const I: u32 = 0x0C;
        const E: u32 = 0x08;
        const FIVE: u32 = 0x22;
        const R: u32 = 0x15;
        const O: u32 = 0x12;
        const A: u32 = 0x04;
        const N: u32 = 0x11;
        const L: u32 = 0x0F;
        const RETURN: u32 = 0x28;
        let codes = vec![PERIOD, T, I, E, FIVE, R, O, A, N, L, RETURN];
        let labels = [
            "period", "t", "i", "e", "five", "Shift.r", "o", "a", "n", "l", "Return",
        ];
        FixedPhrase {
            codes,
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Number of keys in the phrase.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Always false: a phrase has at least two keys.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of features in a timing vector: `3n - 2` for `n` keys.
    pub fn dimension(&self) -> usize {
        3 * self.codes.len() - 2
    }

    /// Feature names in vector order, such as `H.period`, `DD.period.t`, `UD.period.t`.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.dimension());
        for (k, label) in self.labels.iter().enumerate() {
            names.push(format!("H.{label}"));
            if let Some(next) = self.labels.get(k + 1) {
                names.push(format!("DD.{label}.{next}"));
                names.push(format!("UD.{label}.{next}"));
            }
        }
        names
    }

    /// Converts the events of one attempt at the phrase into a timing vector.
    ///
    /// Events must be in time order. Keys that are not in the phrase at the current position
    /// are an error, except modifier keys listed in `ignored`, whose events are skipped (pass
    /// the Shift key codes for phrases with capitals).
    ///
    /// # Errors
    ///
    /// [`Error::KeyEvents`] naming the event index for time going backwards, a release without
    /// a press, a key that does not match the phrase, a key never released, an incomplete
    /// phrase, or a timing that is not finite.
    pub fn timing_vector(&self, events: &[KeyEvent], ignored: &[u32]) -> Result<TimingVector> {
        let n = self.codes.len();
        let mut press = vec![0_i64; n];
        let mut release: Vec<Option<i64>> = vec![None; n];
        // Phrase positions whose key is down and not yet released, by key code.
        let mut down: Vec<(u32, usize)> = Vec::new();
        let mut next = 0_usize;
        let mut previous_us = i64::MIN;
        let fail = |index: usize, problem: KeyEventProblem| Error::KeyEvents { index, problem };

        for (index, event) in events.iter().enumerate() {
            if event.time_us < previous_us {
                return Err(fail(
                    index,
                    KeyEventProblem::TimeWentBackwards {
                        time_us: event.time_us,
                        previous_us,
                    },
                ));
            }
            previous_us = event.time_us;
            if ignored.contains(&event.code) {
                continue;
            }
            match event.action {
                KeyAction::Press => {
                    if next == n || self.codes[next] != event.code {
                        let expected = self.codes.get(next).copied().unwrap_or(event.code);
                        return Err(fail(
                            index,
                            KeyEventProblem::UnexpectedKey {
                                position: next,
                                expected,
                                actual: event.code,
                            },
                        ));
                    }
                    press[next] = event.time_us;
                    down.push((event.code, next));
                    next += 1;
                }
                KeyAction::Release => {
                    let Some(slot) = down.iter().position(|&(code, _)| code == event.code) else {
                        return Err(fail(
                            index,
                            KeyEventProblem::ReleaseWithoutPress { code: event.code },
                        ));
                    };
                    let (_, position) = down.remove(slot);
                    release[position] = Some(event.time_us);
                }
            }
        }
        if next < n {
            return Err(fail(
                events.len(),
                KeyEventProblem::PhraseIncomplete {
                    expected: n,
                    actual: next,
                },
            ));
        }
        if let Some(&(code, _)) = down.first() {
            return Err(fail(events.len(), KeyEventProblem::MissingRelease { code }));
        }

        // OK because every position was pressed (next == n) and none is still down.
        let release: Vec<i64> = release.into_iter().map(|r| r.unwrap_or_default()).collect();
        // i128 keeps the difference of two extreme i64 timestamps from overflowing.
        let seconds = |to: i64, from: i64| (i128::from(to) - i128::from(from)) as f64 * 1e-6;
        let mut values = Vec::with_capacity(self.dimension());
        for k in 0..n {
            values.push(seconds(release[k], press[k]));
            if k + 1 < n {
                values.push(seconds(press[k + 1], press[k]));
                values.push(seconds(press[k + 1], release[k]));
            }
        }
        let names = self.feature_names();
        if let Some((i, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(fail(
                events.len(),
                KeyEventProblem::NonFinite {
                    name: names[i].clone(),
                    value,
                },
            ));
        }
        Ok(TimingVector { values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::KeyEvent as E;

    fn abc() -> FixedPhrase {
        FixedPhrase::new(vec![1, 2, 3], vec!["a".into(), "b".into(), "c".into()]).unwrap()
    }

    fn problem(result: Result<TimingVector>) -> (usize, KeyEventProblem) {
        match result {
            Err(Error::KeyEvents { index, problem }) => (index, problem),
            other => panic!("expected a key event error, got {other:?}"),
        }
    }

    #[test]
    fn sequential_typing_gives_positive_timings() {
        let events = [
            E::press(1, 0),
            E::release(1, 100_000),
            E::press(2, 300_000),
            E::release(2, 380_000),
            E::press(3, 500_000),
            E::release(3, 620_000),
        ];
        let v = abc().timing_vector(&events, &[]).unwrap().values;
        let expected = [0.1, 0.3, 0.2, 0.08, 0.2, 0.12, 0.12];
        assert_eq!(v.len(), expected.len());
        for (got, want) in v.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{v:?}");
        }
    }

    #[test]
    fn rollover_keeps_negative_up_down() {
        // b goes down before a comes up.
        let events = [
            E::press(1, 0),
            E::press(2, 50_000),
            E::release(1, 90_000),
            E::release(2, 150_000),
            E::press(3, 200_000),
            E::release(3, 260_000),
        ];
        let v = abc().timing_vector(&events, &[]).unwrap().values;
        assert!((v[0] - 0.09).abs() < 1e-12);
        assert!((v[1] - 0.05).abs() < 1e-12);
        assert!(
            (v[2] + 0.04).abs() < 1e-12,
            "UD.a.b should be -0.04, got {}",
            v[2]
        );
        assert!((v[3] - 0.10).abs() < 1e-12);
    }

    #[test]
    fn feature_names_follow_cmu_order() {
        let names = FixedPhrase::cmu_password().feature_names();
        assert_eq!(names.len(), 31);
        assert_eq!(
            &names[..4],
            ["H.period", "DD.period.t", "UD.period.t", "H.t"]
        );
        assert_eq!(names[30], "H.Return");
        assert_eq!(names[14], "UD.five.Shift.r");
        assert_eq!(names[16], "DD.Shift.r.o");
    }

    #[test]
    fn shift_events_are_ignored_when_listed() {
        let phrase = abc();
        let shift = 0xE1;
        let events = [
            E::press(1, 0),
            E::release(1, 10),
            E::press(shift, 15),
            E::press(2, 20),
            E::release(2, 30),
            E::release(shift, 35),
            E::press(3, 40),
            E::release(3, 50),
        ];
        assert!(phrase.timing_vector(&events, &[shift]).is_ok());
        let (index, p) = problem(phrase.timing_vector(&events, &[]));
        assert_eq!(index, 2);
        assert!(matches!(
            p,
            KeyEventProblem::UnexpectedKey {
                position: 1,
                actual: 0xE1,
                ..
            }
        ));
    }

    #[test]
    fn missing_release_is_reported() {
        let events = [
            E::press(1, 0),
            E::release(1, 5),
            E::press(2, 10),
            E::press(3, 20),
        ];
        let events = [&events[..], &[E::release(3, 30)]].concat();
        let (index, p) = problem(abc().timing_vector(&events, &[]));
        assert_eq!(index, 5);
        assert_eq!(p, KeyEventProblem::MissingRelease { code: 2 });
    }

    #[test]
    fn release_without_press_names_index() {
        let events = [E::press(1, 0), E::release(1, 5), E::release(2, 8)];
        let (index, p) = problem(abc().timing_vector(&events, &[]));
        assert_eq!(index, 2);
        assert_eq!(p, KeyEventProblem::ReleaseWithoutPress { code: 2 });
    }

    #[test]
    fn time_going_backwards_names_index() {
        let events = [E::press(1, 100), E::release(1, 50)];
        let (index, p) = problem(abc().timing_vector(&events, &[]));
        assert_eq!(index, 1);
        assert_eq!(
            p,
            KeyEventProblem::TimeWentBackwards {
                time_us: 50,
                previous_us: 100
            }
        );
    }

    #[test]
    fn wrong_key_names_position() {
        let events = [E::press(1, 0), E::release(1, 5), E::press(9, 10)];
        let (index, p) = problem(abc().timing_vector(&events, &[]));
        assert_eq!(index, 2);
        assert_eq!(
            p,
            KeyEventProblem::UnexpectedKey {
                position: 1,
                expected: 2,
                actual: 9
            }
        );
    }

    #[test]
    fn extra_key_after_phrase_is_rejected() {
        let events = [
            E::press(1, 0),
            E::release(1, 5),
            E::press(2, 10),
            E::release(2, 15),
            E::press(3, 20),
            E::release(3, 25),
            E::press(3, 30),
        ];
        let (index, _) = problem(abc().timing_vector(&events, &[]));
        assert_eq!(index, 6);
    }

    #[test]
    fn incomplete_phrase_is_reported() {
        let events = [E::press(1, 0), E::release(1, 5)];
        let (_, p) = problem(abc().timing_vector(&events, &[]));
        assert_eq!(
            p,
            KeyEventProblem::PhraseIncomplete {
                expected: 3,
                actual: 1
            }
        );
    }

    #[test]
    fn empty_input_is_incomplete() {
        let (index, _) = problem(abc().timing_vector(&[], &[]));
        assert_eq!(index, 0);
    }

    #[test]
    fn phrase_needs_two_keys() {
        assert!(FixedPhrase::new(vec![1], vec!["a".into()]).is_err());
        assert!(FixedPhrase::new(vec![1, 2], vec!["a".into()]).is_err());
    }
}

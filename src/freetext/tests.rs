//! Tests across the free-text detectors: privacy of saved models, detector behaviour on
//! synthetic typists, and streaming against batch scoring.

use std::sync::Arc;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;
use crate::Error;
use crate::detectors::Detector;
use crate::events::KeyEvent;

const TEXT: &str = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG";

fn secret() -> KeySecret {
    KeySecret::from_bytes(*b"0123456789abcdef")
}

/// Browser keyCodes of upper-case text: letters are their ASCII codes, space is 32.
fn codes(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

/// Events of a synthetic typist whose hold and latency depend on the key code through `speed`.
fn type_text(text: &str, speed: f64, seed: u64) -> Vec<KeyEvent> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut t = 1_000_000i64;
    let mut events = Vec::new();
    for code in codes(text) {
        let per_key = (f64::from(code % 7) * 15.0 + 60.0) * speed;
        let hold = (per_key + rng.gen_range(-10.0..10.0)) as i64 * 1000;
        let gap = (per_key * 1.5 + rng.gen_range(-15.0..15.0)) as i64 * 1000;
        events.push(KeyEvent::press(code, t));
        events.push(KeyEvent::release(code, t + hold));
        t += gap;
    }
    events
}

fn sample(events: &[KeyEvent]) -> FreeTextSample {
    FreeTextSample::from_events(events, &secret(), &ExtractConfig::default()).0
}

fn enrolment(speed: f64) -> Vec<FreeTextSample> {
    (0..5).map(|s| sample(&type_text(TEXT, speed, s))).collect()
}

fn background() -> Arc<Background> {
    let others: Vec<FreeTextSample> = (0..20)
        .map(|s| sample(&type_text(TEXT, 0.6 + 0.05 * s as f64, 100 + s)))
        .collect();
    Arc::new(Background::fit(&others, &secret()).expect("background has timings"))
}

const ASINH: TimingScale = TimingScale::Asinh { knee_ms: 20.0 };

fn scaled_background(scale: TimingScale) -> Arc<Background> {
    let others: Vec<FreeTextSample> = (0..20)
        .map(|s| sample(&type_text(TEXT, 0.6 + 0.05 * s as f64, 100 + s)))
        .collect();
    Arc::new(Background::fit_scaled(&others, &secret(), scale).expect("background has timings"))
}

#[test]
fn asinh_ratio_ranks_genuine_below_impostor() {
    let samples = enrolment(1.0);
    let genuine = sample(&type_text(TEXT, 1.0, 50));
    let impostor = sample(&type_text(TEXT, 0.6, 51));
    for relevance in [0.0, 2.0, 8.0] {
        let model = NgraphRatio::fit_with(&samples, &secret(), scaled_background(ASINH), relevance)
            .expect("fit");
        let g = model.score(&genuine).expect("same secret");
        let i = model.score(&impostor).expect("same secret");
        assert!(g < i, "relevance {relevance}: genuine {g} >= impostor {i}");
    }
}

#[test]
fn ratio_fit_is_deterministic() {
    let samples = enrolment(1.0);
    let probe = sample(&type_text(TEXT, 0.8, 52));
    let a = NgraphRatio::fit_with(&samples, &secret(), scaled_background(ASINH), 4.0).unwrap();
    let b = NgraphRatio::fit_with(&samples, &secret(), scaled_background(ASINH), 4.0).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.score(&probe).unwrap(), b.score(&probe).unwrap());
}

/// Naive reference: with an exact n-graph seen in enrolment, the contribution is the clipped
/// difference of two Laplace log-densities on the asinh scale, with the user's location and
/// scale MAP-adapted from the background's by `(n * user + r * bg) / (n + r)`.
#[test]
fn asinh_contribution_matches_reference() {
    let samples = enrolment(1.0);
    let bg = scaled_background(ASINH);
    let r = 3.0;
    let model = NgraphRatio::fit_with(&samples, &secret(), Arc::clone(&bg), r).unwrap();
    let o = samples[0].observations[3];
    let user = table::Table::fit_mapped(&samples, |x| ASINH.apply(x)).exact[&o.ngraph];
    let b = bg.table().exact[&o.ngraph];
    assert!(
        b.n >= NgraphRatio::MIN_BACKGROUND,
        "the background typed the same text"
    );
    let floor = |m: f64| 4.0 / (20.0 * m.cosh());
    let bs = b.spread.max(floor(b.median));
    let n = f64::from(user.n);
    let um = (n * user.median + r * b.median) / (n + r);
    let us = ((n * user.spread + r * bs) / (n + r)).max(floor(um));
    let x = ASINH.apply(o.value_ms);
    let log_laplace = |m: f64, s: f64| -(2.0 * s).ln() - (x - m).abs() / s;
    let expected = (log_laplace(b.median, bs) - log_laplace(um, us)).clamp(-4.0, 4.0);
    let got = model.contribution(&o);
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
}

#[test]
fn ratio_rejects_bad_parameters() {
    let samples = enrolment(1.0);
    for relevance in [-1.0, f64::NAN, f64::INFINITY] {
        let result = NgraphRatio::fit_with(&samples, &secret(), background(), relevance);
        assert!(
            matches!(
                result,
                Err(Error::InvalidParameter {
                    name: "relevance",
                    ..
                })
            ),
            "relevance {relevance}: {result:?}"
        );
    }
    for knee_ms in [0.0, -5.0, f64::NAN] {
        let result = Background::fit_scaled(&samples, &secret(), TimingScale::Asinh { knee_ms });
        assert!(
            matches!(
                result,
                Err(Error::InvalidParameter {
                    name: "knee_ms",
                    ..
                })
            ),
            "knee {knee_ms}: {result:?}"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn saved_models_contain_no_typed_text() {
    let samples = enrolment(1.0);
    let robust = postcard::to_allocvec(&NgraphRobust::fit(&samples, &secret()).expect("fit"))
        .expect("serialise");
    let ratio = NgraphRatio::fit(&samples, &secret(), background()).expect("fit");
    let ratio = postcard::to_allocvec(&ratio).expect("serialise");
    let gp = GunettiPicardi::fit(&samples, &secret(), GpMeasure::Relative).expect("fit");
    let gp = postcard::to_allocvec(&gp).expect("serialise");
    for bytes in [&robust, &ratio, &gp] {
        assert!(bytes.len() > 100);
        for word in ["QUICK", "BROWN", "JUMPS", "LAZY", "quick", "the"] {
            assert!(!contains(bytes, word.as_bytes()), "model contains `{word}`");
        }
        // postcard writes small integers as single bytes, so key codes in clear would show
        // up as the text's bytes. Check every trigram of the text, and the secret itself.
        for tri in TEXT.as_bytes().windows(3) {
            assert!(
                !contains(bytes, tri),
                "model contains {:?}",
                std::str::from_utf8(tri)
            );
        }
        assert!(!contains(bytes, b"0123456789abcdef"));
    }
}

#[test]
fn detectors_rank_genuine_below_impostor() {
    let samples = enrolment(1.0);
    let genuine = sample(&type_text(TEXT, 1.0, 50));
    let impostor = sample(&type_text(TEXT, 0.6, 51));
    let bg = background();
    let detectors: Vec<(&str, Box<dyn Detector<FreeTextSample>>)> = vec![
        (
            "gp-r",
            Box::new(GunettiPicardi::fit(&samples, &secret(), GpMeasure::Relative).unwrap()),
        ),
        (
            "gp-a",
            Box::new(GunettiPicardi::fit(&samples, &secret(), GpMeasure::Absolute).unwrap()),
        ),
        (
            "robust",
            Box::new(NgraphRobust::fit(&samples, &secret()).unwrap()),
        ),
        (
            "ratio",
            Box::new(NgraphRatio::fit(&samples, &secret(), bg).unwrap()),
        ),
    ];
    for (name, d) in &detectors {
        let g = d.score(&genuine).expect("same secret");
        let i = d.score(&impostor).expect("same secret");
        assert!(g < i, "{name}: genuine {g} >= impostor {i}");
    }
}

#[test]
fn other_secret_is_rejected() {
    let model = NgraphRobust::fit(&enrolment(1.0), &secret()).expect("fit");
    let other = KeySecret::from_bytes([3; 16]);
    let (s, _) =
        FreeTextSample::from_events(&type_text(TEXT, 1.0, 9), &other, &ExtractConfig::default());
    assert!(matches!(
        model.score(&s),
        Err(Error::KeySecretMismatch { .. })
    ));
    let stream = StreamingScorer::new(&model, other, ExtractConfig::default(), 10);
    assert!(matches!(stream, Err(Error::KeySecretMismatch { .. })));
}

#[test]
fn fit_rejects_samples_without_timings() {
    let empty = FreeTextSample::from_events(&[], &secret(), &ExtractConfig::default()).0;
    assert!(matches!(
        NgraphRobust::fit(&[empty], &secret()),
        Err(Error::InvalidTrainingData { .. })
    ));
}

#[test]
fn stream_rejects_zero_window() {
    let model = NgraphRobust::fit(&enrolment(1.0), &secret()).expect("fit");
    let s = StreamingScorer::new(&model, secret(), ExtractConfig::default(), 0);
    assert!(matches!(
        s,
        Err(Error::InvalidParameter { name: "window", .. })
    ));
}

#[test]
fn stream_window_forgets_old_keys() {
    let model = NgraphRobust::fit(&enrolment(1.0), &secret()).expect("fit");
    let mut s = StreamingScorer::new(&model, secret(), ExtractConfig::default(), 5).expect("ok");
    assert_eq!(s.score(), None);
    for e in type_text(TEXT, 1.0, 4) {
        s.push(e);
    }
    s.flush();
    assert_eq!(s.window_keys(), 5);
    assert!(s.score().is_some());
}

#[test]
fn stream_drops_out_of_order_event() {
    let model = NgraphRobust::fit(&enrolment(1.0), &secret()).expect("fit");
    let mut s = StreamingScorer::new(&model, secret(), ExtractConfig::default(), 5).expect("ok");
    s.push(KeyEvent::press(65, 1000));
    s.push(KeyEvent::release(65, 500));
    assert_eq!(s.anomalies().out_of_order, 1);
}

/// Found by the `freetext_stream` fuzz target: the hold-limit check subtracted timestamps at
/// opposite ends of the i64 range and overflowed.
#[test]
fn stream_extreme_timestamps_do_not_overflow() {
    let model = NgraphRobust::fit(&enrolment(1.0), &secret()).expect("fit");
    let config = ExtractConfig::default();
    let mut s = StreamingScorer::new(&model, secret(), config, 5).expect("ok");
    let events = [
        KeyEvent::press(65, i64::MIN),
        KeyEvent::press(66, i64::MIN + 1),
        KeyEvent::release(65, i64::MAX),
        KeyEvent::press(67, i64::MAX),
        KeyEvent::release(66, i64::MAX),
        KeyEvent::release(67, i64::MAX),
    ];
    for event in events {
        s.push(event);
    }
    s.flush();
    let batch = window_score(&model, &events, &secret(), &config, 5).expect("same secret");
    let stream = s.score().expect("the last key has a hold");
    assert!(stream.is_finite());
    assert_eq!(Some(stream), batch);
}

#[test]
fn stream_rejects_press_over_keys_down() {
    let model = NgraphRobust::fit(&enrolment(1.0), &secret()).expect("fit");
    let mut s = StreamingScorer::new(&model, secret(), ExtractConfig::default(), 5).expect("ok");
    let limit = crate::limits::MAX_KEYS_DOWN as u32;
    for code in 0..limit {
        s.try_push(KeyEvent::press(code, 1000))
            .expect("under the limit");
    }
    let error = s.try_push(KeyEvent::press(limit, 1000)).unwrap_err();
    assert!(
        matches!(
            error,
            Error::LimitExceeded {
                name: "MAX_KEYS_DOWN",
                ..
            }
        ),
        "{error}"
    );
    // A repeat of a key that is down is not a new key, and a release frees a slot.
    s.try_push(KeyEvent::press(0, 1000)).expect("repeat");
    s.try_push(KeyEvent::release(0, 1000)).expect("release");
    s.try_push(KeyEvent::press(limit, 1000))
        .expect("a slot is free");
    s.push(KeyEvent::press(limit + 1, 1000));
    assert_eq!(s.anomalies().over_limit, 1);
}

#[test]
fn stream_rejects_press_over_pending() {
    let model = NgraphRobust::fit(&enrolment(1.0), &secret()).expect("fit");
    let mut s = StreamingScorer::new(&model, secret(), ExtractConfig::default(), 5).expect("ok");
    // Key 1 stays down and the clock does not advance, so every later keystroke waits for it.
    s.try_push(KeyEvent::press(1, 0)).expect("first press");
    for _ in 1..crate::limits::MAX_PENDING_KEYSTROKES {
        s.try_push(KeyEvent::press(2, 0)).expect("under the limit");
        s.try_push(KeyEvent::release(2, 0)).expect("release");
    }
    let error = s.try_push(KeyEvent::press(2, 0)).unwrap_err();
    assert!(
        matches!(
            error,
            Error::LimitExceeded {
                name: "MAX_PENDING_KEYSTROKES",
                ..
            }
        ),
        "{error}"
    );
    // Releasing key 1 drains the queue, so presses are accepted again.
    s.try_push(KeyEvent::release(1, 0)).expect("release");
    s.try_push(KeyEvent::press(2, 0)).expect("queue drained");
}

/// Random time-ordered event streams with rollover, repeats, orphan releases, long holds and
/// pauses, over a few keys so that n-graphs repeat.
fn event_stream() -> impl Strategy<Value = Vec<KeyEvent>> {
    prop::collection::vec((0u32..6, any::<bool>(), 0i64..400_000, 0u8..20), 0..120).prop_map(
        |steps| {
            let mut t = 0i64;
            steps
                .into_iter()
                .map(|(key, press, gap, rare)| {
                    // One step in twenty is a long gap: a pause or a stuck key.
                    t += if rare == 0 { 3_000_000 } else { gap };
                    let code = [65, 66, 69, 32, 8, 16][key as usize];
                    if press {
                        KeyEvent::press(code, t)
                    } else {
                        KeyEvent::release(code, t)
                    }
                })
                .collect()
        },
    )
}

proptest! {
    #[test]
    fn streaming_equals_batch(events in event_stream(), window in 1usize..40) {
        let samples = enrolment(1.0);
        let robust = NgraphRobust::fit(&samples, &secret()).unwrap();
        let ratio = NgraphRatio::fit(&samples, &secret(), background()).unwrap();
        let asinh = NgraphRatio::fit_with(&samples, &secret(), scaled_background(ASINH), 4.0)
            .unwrap();
        let models: [&dyn AdditiveDetector; 3] = [&robust, &ratio, &asinh];
        let config = ExtractConfig::default();
        for model in models {
            let mut stream = StreamingScorer::new(model, secret(), config, window).unwrap();
            for &e in &events {
                stream.push(e);
            }
            stream.flush();
            let batch = window_score(model, &events, &secret(), &config, window).unwrap();
            match (stream.score(), batch) {
                (None, None) => {}
                (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} vs {b}"),
                (a, b) => prop_assert!(false, "stream {a:?} vs batch {b:?}"),
            }
            prop_assert_eq!(stream.anomalies(), keystrokes(&events, &config).1);
        }
    }
}

/// Found by the `freetext_decode` fuzz target: a decoded fusion with mismatched vectors or a
/// NaN weight returned a truncated sum or `Ok(NaN)`.
#[test]
fn corrupt_fusion_is_an_error() {
    let mismatched = Fusion {
        location: vec![1.0],
        scale: vec![],
        weights: vec![1.0],
        fit_eer: 0.0,
    };
    let error = mismatched.combine(&[0.5]).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    let nan = Fusion {
        location: vec![0.0],
        scale: vec![1.0],
        weights: vec![f64::NAN],
        fit_eer: 0.0,
    };
    let error = nan.combine(&[0.5]).unwrap_err();
    assert!(matches!(error, Error::NonFiniteScore { .. }), "{error}");
}

use super::*;
use crate::events::KeyEvent;

const MS: i64 = 1000;

fn p(code: u32, ms: i64) -> KeyEvent {
    KeyEvent::press(code, ms * MS)
}
fn r(code: u32, ms: i64) -> KeyEvent {
    KeyEvent::release(code, ms * MS)
}
fn secret() -> KeySecret {
    KeySecret::from_bytes([9; 16])
}
fn value(sample: &FreeTextSample, kind: TimingKind) -> Vec<f64> {
    sample.of_kind(kind).map(|o| o.value_ms).collect()
}

#[test]
fn plain_digraph_timings() {
    // A down 0, up 100; B down 150, up 230.
    let events = [p(65, 0), r(65, 100), p(66, 150), r(66, 230)];
    let (s, a) = FreeTextSample::from_events(&events, &secret(), &ExtractConfig::default());
    assert_eq!(a, Anomalies::default());
    assert_eq!(value(&s, TimingKind::Hold), vec![100.0, 80.0]);
    assert_eq!(value(&s, TimingKind::PressPress), vec![150.0]);
    assert_eq!(value(&s, TimingKind::ReleasePress), vec![50.0]);
    assert_eq!(value(&s, TimingKind::ReleaseRelease), vec![130.0]);
    assert_eq!(value(&s, TimingKind::PressRelease), vec![230.0]);
}

#[test]
fn trigraph_duration() {
    let events = [
        p(65, 0),
        r(65, 50),
        p(66, 120),
        r(66, 170),
        p(67, 300),
        r(67, 350),
    ];
    let (s, _) = FreeTextSample::from_events(&events, &secret(), &ExtractConfig::default());
    assert_eq!(value(&s, TimingKind::Trigraph), vec![300.0]);
}

#[test]
fn rollover_keeps_press_order() {
    // B goes down before A comes up, and B comes up first.
    let events = [p(65, 0), p(66, 60), r(66, 110), r(65, 140)];
    let (keys, a) = keystrokes(&events, &ExtractConfig::default());
    assert_eq!(a, Anomalies::default());
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].code, 65);
    assert_eq!(keys[0].release_us, Some(140 * MS));
    let s = FreeTextSample::from_keystrokes(&keys, &secret(), &ExtractConfig::default());
    assert_eq!(value(&s, TimingKind::ReleasePress), vec![-80.0]);
    assert_eq!(value(&s, TimingKind::ReleaseRelease), vec![-30.0]);
    assert_eq!(s.stats.rollover_rate, 1.0);
}

#[test]
fn auto_repeat_is_one_keystroke() {
    let events = [p(65, 0), p(65, 500), p(65, 530), p(65, 560), r(65, 600)];
    let (keys, a) = keystrokes(&events, &ExtractConfig::default());
    assert_eq!(keys.len(), 1);
    assert_eq!(a.repeats, 3);
    assert_eq!(keys[0].release_us, Some(600 * MS));
}

#[test]
fn missing_release_gives_no_hold() {
    let events = [p(65, 0), p(66, 100), r(66, 180)];
    let (keys, a) = keystrokes(&events, &ExtractConfig::default());
    assert_eq!(a.missing_releases, 1);
    assert_eq!(keys[0].release_us, None);
    let s = FreeTextSample::from_keystrokes(&keys, &secret(), &ExtractConfig::default());
    assert_eq!(value(&s, TimingKind::Hold), vec![80.0]);
    assert_eq!(value(&s, TimingKind::PressPress), vec![100.0]);
    assert!(value(&s, TimingKind::ReleasePress).is_empty());
    assert!(value(&s, TimingKind::ReleaseRelease).is_empty());
    assert_eq!(value(&s, TimingKind::PressRelease), vec![180.0]);
}

#[test]
fn orphan_release_is_dropped() {
    let events = [r(65, 0), p(66, 10), r(66, 90)];
    let (keys, a) = keystrokes(&events, &ExtractConfig::default());
    assert_eq!(a.orphan_releases, 1);
    assert_eq!(keys.len(), 1);
}

#[test]
fn out_of_order_rows_are_sorted() {
    let sorted = [p(65, 0), r(65, 100), p(66, 150), r(66, 230)];
    let shuffled = [p(66, 150), r(65, 100), r(66, 230), p(65, 0)];
    let config = ExtractConfig::default();
    assert_eq!(keystrokes(&shuffled, &config), keystrokes(&sorted, &config));
}

#[test]
fn stuck_key_is_not_a_hold() {
    // A 40 s hold is a stuck key, not a timing feature.
    let events = [p(65, 0), p(66, 100), r(66, 180), r(65, 40_000)];
    let (keys, a) = keystrokes(&events, &ExtractConfig::default());
    assert_eq!(a.stuck_keys, 1);
    assert_eq!(keys[0].release_us, None);
    let s = FreeTextSample::from_keystrokes(&keys, &secret(), &ExtractConfig::default());
    assert!(s.of_kind(TimingKind::Hold).all(|o| o.value_ms < 1000.0));
}

#[test]
fn pause_breaks_ngraphs() {
    let events = [
        p(65, 0),
        r(65, 80),
        p(66, 9_000),
        r(66, 9_080),
        p(67, 9_200),
        r(67, 9_280),
    ];
    let (s, _) = FreeTextSample::from_events(&events, &secret(), &ExtractConfig::default());
    assert_eq!(value(&s, TimingKind::PressPress), vec![200.0]);
    assert!(value(&s, TimingKind::Trigraph).is_empty());
    assert_eq!(s.stats.pauses, 1);
    assert!((s.stats.mean_pause_s - 9.0).abs() < 1e-12);
}

#[test]
fn typing_rate_and_corrections() {
    // Four keys 250 ms apart, one of them Backspace: 4 keys/s, correction rate 1/4.
    let events = [
        p(65, 0),
        r(65, 50),
        p(8, 250),
        r(8, 300),
        p(66, 500),
        r(66, 550),
        p(67, 750),
        r(67, 800),
    ];
    let (s, _) = FreeTextSample::from_events(&events, &secret(), &ExtractConfig::default());
    assert_eq!(s.stats.keys, 4);
    assert!((s.stats.keys_per_second - 4.0).abs() < 1e-12);
    assert!((s.stats.correction_rate - 0.25).abs() < 1e-12);
    assert_eq!(s.stats.pauses, 0);
}

#[test]
fn same_ngraph_same_hash() {
    let events = [
        p(65, 0),
        r(65, 80),
        p(66, 150),
        r(66, 230),
        p(65, 300),
        r(65, 390),
    ];
    let (s, _) = FreeTextSample::from_events(&events, &secret(), &ExtractConfig::default());
    let holds: Vec<&Observation> = s.of_kind(TimingKind::Hold).collect();
    assert_eq!(holds[0].ngraph, holds[2].ngraph);
    assert_ne!(holds[0].ngraph, holds[1].ngraph);
    // A and B are both left-hand letters, so they share a class hash.
    assert_eq!(holds[0].class, holds[1].class);
}

#[test]
fn config_rejects_non_positive_limits() {
    let bad = ExtractConfig {
        max_hold_us: 0,
        ..ExtractConfig::default()
    };
    assert!(matches!(
        bad.check(),
        Err(Error::InvalidParameter {
            name: "max_hold_us",
            ..
        })
    ));
    let bad = ExtractConfig {
        max_gap_us: -1,
        ..ExtractConfig::default()
    };
    assert!(matches!(
        bad.check(),
        Err(Error::InvalidParameter {
            name: "max_gap_us",
            ..
        })
    ));
}

/// Found by the `freetext_stream` fuzz target: differences of timestamps at opposite ends of
/// the i64 range overflowed (a panic in debug builds, a wrapped timing in release builds).
#[test]
fn extreme_timestamps_do_not_overflow() {
    let config = ExtractConfig::default();
    let secret = KeySecret::from_bytes([3; 16]);
    let events = [
        KeyEvent::press(65, i64::MIN),
        KeyEvent::press(66, i64::MIN + 1),
        KeyEvent::release(65, i64::MAX),
        KeyEvent::press(67, i64::MAX),
        KeyEvent::release(66, i64::MAX),
        KeyEvent::release(67, i64::MAX),
    ];
    let (keys, anomalies) = keystrokes(&events, &config);
    assert_eq!(keys.len(), 3);
    assert_eq!(anomalies.stuck_keys, 2);
    let sample = FreeTextSample::from_keystrokes(&keys, &secret, &config);
    assert!(sample.observations.iter().all(|o| o.value_ms.is_finite()));
    // Only the last key has a release within the hold limit, and the gaps are pauses.
    assert_eq!(sample.observations.len(), 2);
    assert_eq!(sample.stats.pauses, 1);
    assert!(sample.stats.mean_pause_s.is_finite());
}

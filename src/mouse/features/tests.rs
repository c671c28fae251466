use proptest::prelude::*;

use super::*;

fn action(kind: ActionKind, points: &[(f64, f64, f64)]) -> Action {
    let points: Vec<PathPoint> = points
        .iter()
        .map(|&(time_ms, x, y)| PathPoint { time_ms, x, y })
        .collect();
    let press = match kind {
        ActionKind::MouseMove => None,
        ActionKind::PointClick => Some(points.len().saturating_sub(2)),
        ActionKind::DragDrop => Some(0),
    };
    Action {
        kind,
        points,
        press,
        pause_before_ms: 0.0,
    }
}

fn feature(values: &[f64; N_FEATURES], name: &str) -> f64 {
    let index = FEATURE_NAMES.iter().position(|n| *n == name);
    values[index.unwrap_or_else(|| panic!("no feature {name}"))]
}

#[test]
fn names_match_length_and_are_unique() {
    let mut names = FEATURE_NAMES.to_vec();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), N_FEATURES);
    const { assert!(N_FEATURES >= 39) };
}

#[test]
fn straight_constant_speed_line() {
    // 10 px every 10 ms along +x: 1000 px/s.
    let pts: Vec<_> = (0..6)
        .map(|i| (10.0 * i as f64, 10.0 * i as f64, 5.0))
        .collect();
    let f = action_features(&action(ActionKind::PointClick, &pts));
    assert_eq!(feature(&f, "kind"), 1.0);
    assert!((feature(&f, "duration") - 0.05).abs() < 1e-12);
    assert!((feature(&f, "travelled") - 50.0).abs() < 1e-12);
    assert!((feature(&f, "straightness") - 1.0).abs() < 1e-12);
    assert!((feature(&f, "vx_mean") - 1000.0).abs() < 1e-6);
    assert!(feature(&f, "vx_sd").abs() < 1e-6);
    assert_eq!(feature(&f, "vy_max"), 0.0);
    assert!(feature(&f, "a_max").abs() < 1e-6);
    assert_eq!(feature(&f, "curvature_max"), 0.0);
    assert_eq!(feature(&f, "largest_deviation"), 0.0);
    assert_eq!(feature(&f, "direction"), 0.0);
    assert_eq!(feature(&f, "points"), 6.0);
    assert_eq!(feature(&f, "time_to_accel"), 0.0, "no acceleration phase");
}

#[test]
fn right_angle_turn() {
    // Right by 10 px, then up by 5 px on screen.
    let pts = [(0.0, 0.0, 0.0), (10.0, 10.0, 0.0), (20.0, 10.0, -5.0)];
    let f = action_features(&action(ActionKind::MouseMove, &pts));
    assert!((feature(&f, "sum_of_angles") - PI / 2.0).abs() < 1e-12);
    assert_eq!(feature(&f, "critical_points"), 1.0);
    // In screen coordinates (y down) the turn is -90°, over 10 ms between step midpoints.
    assert!((feature(&f, "omega_mean") + PI / 2.0 / 0.01).abs() < 1e-6);
    // Curvature: the turn over the mean step length (10 + 5) / 2.
    assert!((feature(&f, "curvature_min") + PI / 2.0 / 7.5).abs() < 1e-12);
    assert!((feature(&f, "largest_deviation") - 50.0 / 125f64.sqrt()).abs() < 1e-9);
    assert_eq!(
        feature(&f, "direction"),
        0.0,
        "right and a little up is sector 0"
    );
}

#[test]
fn direction_sectors_follow_screen_axes() {
    assert_eq!(direction_sector(0.0, -5.0), 2.0, "up on screen");
    assert_eq!(direction_sector(-5.0, 0.1), 4.0, "left, slightly down");
    assert_eq!(direction_sector(0.0, 5.0), 6.0, "down on screen");
    assert_eq!(direction_sector(5.0, 0.1), 7.0, "right, slightly down");
    assert_eq!(direction_sector(0.0, 0.0), 0.0);
}

#[test]
fn acceleration_phase_length() {
    // Steps of 1, 2, 4, 4, 4 px every 10 ms: speed rises for two samples, then holds.
    let xs = [0.0, 1.0, 3.0, 7.0, 11.0, 15.0];
    let pts: Vec<_> = xs
        .iter()
        .enumerate()
        .map(|(i, &x)| (10.0 * i as f64, x, 0.0))
        .collect();
    let f = action_features(&action(ActionKind::MouseMove, &pts));
    // Acceleration samples sit at 10, 20, 30, 40 ms; the first a <= 0 is at 30 ms.
    assert!((feature(&f, "time_to_accel") - 0.03).abs() < 1e-12);
}

#[test]
fn repeated_timestamps_are_merged() {
    let pts = [
        (0.0, 0.0, 0.0),
        (0.0, 3.0, 0.0),
        (16.0, 8.0, 0.0),
        (16.0, 16.0, 0.0),
    ];
    let f = action_features(&action(ActionKind::MouseMove, &pts));
    assert!(f.iter().all(|v| v.is_finite()), "{f:?}");
    // Merged samples: (0 ms, x=3) and (16 ms, x=16).
    assert!((feature(&f, "vx_mean") - 13.0 / 0.016).abs() < 1e-9);
    assert!((feature(&f, "travelled") - 16.0).abs() < 1e-12);
}

#[test]
fn all_same_time_is_finite() {
    let pts = [(5.0, 0.0, 0.0), (5.0, 100.0, 0.0), (5.0, 100.0, 50.0)];
    let f = action_features(&action(ActionKind::DragDrop, &pts));
    assert!(f.iter().all(|v| v.is_finite()), "{f:?}");
    assert_eq!(feature(&f, "duration"), 0.0);
    assert_eq!(feature(&f, "v_max"), 0.0);
    assert_eq!(feature(&f, "kind"), 2.0);
}

#[test]
fn single_and_empty_paths_are_finite() {
    let single = action_features(&action(ActionKind::MouseMove, &[(3.0, 4.0, 5.0)]));
    assert!(single.iter().all(|v| v.is_finite()));
    assert_eq!(feature(&single, "points"), 1.0);
    assert_eq!(feature(&single, "straightness"), 1.0);
    let empty = action_features(&action(ActionKind::MouseMove, &[]));
    assert!(empty.iter().all(|v| v.is_finite()));
    assert_eq!(feature(&empty, "points"), 0.0);
}

#[test]
fn stationary_path_deviation_from_start() {
    let pts = [(0.0, 0.0, 0.0), (10.0, 3.0, 4.0), (20.0, 0.0, 0.0)];
    let f = action_features(&action(ActionKind::MouseMove, &pts));
    assert!((feature(&f, "largest_deviation") - 5.0).abs() < 1e-12);
    assert_eq!(feature(&f, "straightness"), 0.0);
}

proptest! {
    #[test]
    fn features_always_finite(
        steps in prop::collection::vec((0u8..40, -2000i32..2000, -2000i32..2000), 0..40)
    ) {
        let mut t = 0.0;
        let (mut x, mut y) = (500.0, 500.0);
        let mut pts = Vec::new();
        for (dt, dx, dy) in steps {
            // Time steps of 0 or 15.6 ms multiples, as the Balabit client clock produces.
            t += f64::from(dt % 4) * 15.6;
            x += f64::from(dx);
            y += f64::from(dy);
            pts.push((t, x, y));
        }
        let f = action_features(&action(ActionKind::MouseMove, &pts));
        prop_assert!(f.iter().all(|v| v.is_finite()), "{:?}", f);
    }
}

/// Found by the `mouse_segment` fuzz target: two points 1e304 px apart gave infinite speeds.
/// `segment` now rejects such coordinates; the largest it accepts must stay finite.
#[test]
fn extreme_accepted_values_stay_finite() {
    use crate::mouse::segment::{MAX_COORDINATE_PX, MAX_TIME_MS};
    let (c, t) = (MAX_COORDINATE_PX, MAX_TIME_MS);
    let cases = [
        // Alternating corners as fast as the time resolution allows.
        vec![
            (0.0, -c, -c),
            (1e-3, c, c),
            (2e-3, -c, c),
            (3e-3, c, -c),
            (4e-3, -c, -c),
        ],
        // Sub-resolution times and sub-pixel steps, which once divided by almost zero.
        vec![
            (0.0, 0.0, 0.0),
            (5e-324, 1e-300, 0.0),
            (1e-300, 0.0, 1e-300),
            (1.0, c, 0.0),
        ],
        vec![(-t, -c, 0.0), (t, c, 0.0), (t, -c, c)],
    ];
    for points in &cases {
        let values = action_features(&action(ActionKind::MouseMove, points));
        for (name, value) in FEATURE_NAMES.iter().zip(values) {
            assert!(value.is_finite(), "{name} = {value} for {points:?}");
        }
    }
}

#[test]
fn click_timing_features() {
    // Moves every 16 ms, the press at 64 ms and the release at 144 ms.
    let mut pc = action(
        ActionKind::PointClick,
        &[
            (0.0, 0.0, 0.0),
            (16.0, 5.0, 0.0),
            (32.0, 9.0, 0.0),
            (48.0, 10.0, 0.0),
            (64.0, 10.0, 0.0),
            (144.0, 10.0, 0.0),
        ],
    );
    pc.pause_before_ms = 250.0;
    let values = action_features(&pc);
    assert!((feature(&values, "press_hold") - 0.080).abs() < 1e-12);
    assert!((feature(&values, "rest_before_press") - 0.016).abs() < 1e-12);
    assert!((feature(&values, "pause_before") - 0.250).abs() < 1e-12);

    let dd = action(
        ActionKind::DragDrop,
        &[
            (0.0, 0.0, 0.0),
            (30.0, 4.0, 0.0),
            (46.0, 8.0, 0.0),
            (90.0, 8.0, 0.0),
        ],
    );
    let values = action_features(&dd);
    assert!((feature(&values, "press_hold") - 0.030).abs() < 1e-12);
    assert_eq!(feature(&values, "rest_before_press"), 0.0);

    let mut mm = action(ActionKind::MouseMove, &[(0.0, 0.0, 0.0), (16.0, 3.0, 0.0)]);
    mm.pause_before_ms = -5.0;
    let values = action_features(&mm);
    for name in ["press_hold", "rest_before_press", "pause_before"] {
        assert_eq!(feature(&values, name), 0.0, "{name}");
    }
}

#[test]
fn click_timing_with_missing_press_point() {
    // An action built by hand may name a press that does not exist; no panic, no timing.
    let mut pc = action(ActionKind::PointClick, &[(0.0, 0.0, 0.0), (16.0, 1.0, 0.0)]);
    pc.press = Some(7);
    let values = action_features(&pc);
    assert_eq!(feature(&values, "press_hold"), 0.0);
    assert_eq!(feature(&values, "rest_before_press"), 0.0);
}

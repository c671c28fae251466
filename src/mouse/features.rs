//! Per-action feature vectors.
//!
//! The feature set extends the 39 features of Antal and Egyed-Zsigmond ("Intrusion detection
//! using mouse dynamics", IET Biometrics, 2019): besides their velocity, acceleration,
//! jerk, angular-velocity and curvature statistics it also has acceleration and jerk along x
//! and y, and three timing features around clicks and pauses, giving [`N_FEATURES`] values. [`FEATURE_NAMES`] lists
//! them in order.
//!
//! # Definitions
//!
//! Let the action's points be `p_0 .. p_{n-1}` with times `t_i` (converted to seconds) and
//! positions `(x_i, y_i)` in pixels.
//!
//! - **Kinematic samples.** Clients tick coarsely (Balabit: about 15.6 ms), so consecutive
//!   points often share a timestamp. Before any derivative is taken, each run of points less
//!   than [`MIN_TIME_STEP_MS`] (1 µs) after the previous kept point, or earlier, is merged into
//!   its last point, giving `q_0 .. q_{m-1}` with times at least 1 µs apart. Every division
//!   below is by such a time step or by a path length of at least [`MIN_STEP_PX`], so with the
//!   coordinate and time bounds that [`segment`](fn@crate::mouse::segment) checks, no feature
//!   overflows.
//! - **Series.** `vx, vy` are `Δx/Δt, Δy/Δt` between consecutive `q` (px/s), placed at the
//!   midpoint time; `v = hypot(vx, vy)`. `ax, ay, a` are the differences of `vx, vy, v`
//!   divided by the time between their midpoints (so `a` is the change of speed, px/s²), and
//!   `jx, jy, j` the same one level up (px/s³). For each step of `q` of length at least
//!   [`MIN_STEP_PX`] let
//!   `θ` be its direction; between consecutive such steps `δθ` is the turn wrapped to
//!   `(-π, π]`, the angular velocity is `ω = δθ / Δt` (rad/s, Δt between step midpoints) and
//!   the curvature is `c = δθ / Δs` (rad/px, Δs the mean length of the two steps).
//! - **Statistics.** Each series contributes its mean, population standard deviation, minimum
//!   and maximum; a series with no values (too few points) contributes four zeros.
//! - **Scalars.** `kind` is 0 for MM, 1 for PC, 2 for DD. `duration` is `t_{n-1} - t_0` (s).
//!   `travelled` is the summed length of all steps between consecutive points (px);
//!   `end_to_end` the distance from `p_0` to `p_{n-1}`. `direction` is the sector (0..7, 45°
//!   each, counter-clockwise from the +x axis with y pointing up on screen) of the vector from
//!   `p_0` to `p_{n-1}`, 0 when they coincide. `straightness` is `end_to_end / travelled`, 1
//!   when nothing was travelled. `points` is `n`. `sum_of_angles` is `Σ|δθ|` (rad).
//!   `largest_deviation` is the largest distance of any point from the line through `p_0`
//!   and `p_{n-1}` (from `p_0` when they coincide). `critical_points` counts turns with
//!   `|δθ| > π/4`; this threshold is kinetype's choice, where the paper thresholds curvature.
//!   `time_to_accel` is the time from `t_0` to the first acceleration sample `a ≤ 0`, that is
//!   the length of the initial acceleration phase (0 when the first sample is not positive,
//!   `duration` when all are positive).
//! - **Click timing.** For a PC action, `press_hold` is the time from the press to the
//!   release (the last point). For a DD action it is the time from the press (the first
//!   point) to the next point, when the drag starts. `rest_before_press` is, for a PC action,
//!   the time from the last cursor position before the press to the press: how long the
//!   pointer rested on the target. `pause_before` is the action's
//!   [`pause_before_ms`](crate::mouse::Action::pause_before_ms): the idle time since the
//!   previous event. Values are in seconds; a missing point, an MM action, and a negative gap
//!   (timestamps out of order) give 0.
//!
use std::f64::consts::PI;

use crate::mouse::segment::{Action, ActionKind, PathPoint};

/// Timestamps closer than this (milliseconds) count as equal: 1 µs, finer than any mouse
/// client reports, so only clock noise is merged, while the derivatives stay finite.
pub const MIN_TIME_STEP_MS: f64 = 1e-3;

/// Steps shorter than this (pixels) have no direction for the turning features; clients report
/// whole or sub-pixel positions far coarser than this.
pub const MIN_STEP_PX: f64 = 1e-6;

/// Number of features per action.
pub const N_FEATURES: usize = 11 + 4 * SERIES.len() + 3;

/// Index of the first click-timing feature; the series statistics come before it.
const CLICK_TIMING: usize = 11 + 4 * SERIES.len();

const SERIES: [&str; 11] = [
    "vx",
    "vy",
    "v",
    "ax",
    "ay",
    "a",
    "jx",
    "jy",
    "j",
    "omega",
    "curvature",
];

/// Feature names in vector order; the series statistics are named `<series>_<stat>`.
#[rustfmt::skip]
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "kind",
    "duration",
    "travelled",
    "end_to_end",
    "direction",
    "straightness",
    "points",
    "sum_of_angles",
    "largest_deviation",
    "critical_points",
    "time_to_accel",
    "vx_mean", "vx_sd", "vx_min", "vx_max",
    "vy_mean", "vy_sd", "vy_min", "vy_max",
    "v_mean", "v_sd", "v_min", "v_max",
    "ax_mean", "ax_sd", "ax_min", "ax_max",
    "ay_mean", "ay_sd", "ay_min", "ay_max",
    "a_mean", "a_sd", "a_min", "a_max",
    "jx_mean", "jx_sd", "jx_min", "jx_max",
    "jy_mean", "jy_sd", "jy_min", "jy_max",
    "j_mean", "j_sd", "j_min", "j_max",
    "omega_mean", "omega_sd", "omega_min", "omega_max",
    "curvature_mean", "curvature_sd", "curvature_min", "curvature_max",
    "press_hold",
    "rest_before_press",
    "pause_before",
];

/// A time series: values and the times (ms) they belong to.
#[derive(Debug, Default)]
struct Series {
    values: Vec<f64>,
    times: Vec<f64>,
}

impl Series {
    /// Finite differences divided by the time between samples, placed at midpoints. Times are
    /// at least [`MIN_TIME_STEP_MS`] apart by construction, so no step is zero.
    fn derivative(&self) -> Series {
        let mut out = Series::default();
        for i in 1..self.values.len() {
            let dt = (self.times[i] - self.times[i - 1]) / 1000.0;
            out.values.push((self.values[i] - self.values[i - 1]) / dt);
            out.times.push((self.times[i] + self.times[i - 1]) / 2.0);
        }
        out
    }
}

/// Computes the feature vector of one action, in [`FEATURE_NAMES`] order.
///
/// Every value is finite for any action whose times and coordinates are within the bounds that
/// [`segment`](fn@crate::mouse::segment) checks, including an empty path, a single point, and
/// paths whose points all share one timestamp.
pub fn action_features(action: &Action) -> [f64; N_FEATURES] {
    let points = &action.points;
    let mut out = [0.0; N_FEATURES];
    out[0] = match action.kind {
        ActionKind::MouseMove => 0.0,
        ActionKind::PointClick => 1.0,
        ActionKind::DragDrop => 2.0,
    };
    out[6] = points.len() as f64;
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        out[5] = 1.0;
        return out;
    };
    out[1] = (last.time_ms - first.time_ms).max(0.0) / 1000.0;
    let travelled: f64 = points.windows(2).map(|w| distance(&w[0], &w[1])).sum();
    let end_to_end = distance(first, last);
    out[2] = travelled;
    out[3] = end_to_end;
    out[4] = direction_sector(last.x - first.x, last.y - first.y);
    out[5] = if travelled > 0.0 {
        end_to_end / travelled
    } else {
        1.0
    };
    out[8] = largest_deviation(points);

    // Times stay in milliseconds until each division, so that equal steps give exactly equal
    // rates and a constant speed has an acceleration of exactly zero.
    let q = kinematic_samples(points);
    let mut vx = Series::default();
    let mut vy = Series::default();
    let mut v = Series::default();
    for w in q.windows(2) {
        let dt = (w[1].0 - w[0].0) / 1000.0;
        let (dx, dy) = (w[1].1 - w[0].1, w[1].2 - w[0].2);
        let mid = (w[0].0 + w[1].0) / 2.0;
        for (series, value) in [
            (&mut vx, dx / dt),
            (&mut vy, dy / dt),
            (&mut v, dx.hypot(dy) / dt),
        ] {
            series.values.push(value);
            series.times.push(mid);
        }
    }
    let (ax, ay, a) = (vx.derivative(), vy.derivative(), v.derivative());
    let (jx, jy, j) = (ax.derivative(), ay.derivative(), a.derivative());
    let (omega, curvature, turns) = turning(&q);

    out[7] = turns.iter().map(|t| t.abs()).sum();
    out[9] = turns.iter().filter(|t| t.abs() > PI / 4.0).count() as f64;
    out[10] = match a.values.iter().position(|&value| value <= 0.0) {
        Some(0) => 0.0,
        Some(i) => (a.times[i] - q[0].0) / 1000.0,
        None if a.values.is_empty() => 0.0,
        None => out[1],
    };
    let all = [
        &vx.values, &vy.values, &v.values, &ax.values, &ay.values, &a.values,
    ];
    let more = [&jx.values, &jy.values, &j.values, &omega, &curvature];
    for (k, values) in all.into_iter().chain(more).enumerate() {
        out[11 + 4 * k..15 + 4 * k].copy_from_slice(&statistics(values));
    }
    out[CLICK_TIMING..].copy_from_slice(&click_timing(action));
    out
}

/// `press_hold`, `rest_before_press` and `pause_before` in seconds (see the module
/// documentation).
fn click_timing(action: &Action) -> [f64; 3] {
    let time = |i: usize| action.points.get(i).map(|p| p.time_ms);
    let gap = |from: Option<f64>, to: Option<f64>| match (from, to) {
        (Some(from), Some(to)) => (to - from).max(0.0) / 1000.0,
        _ => 0.0,
    };
    let pause = action.pause_before_ms.max(0.0) / 1000.0;
    let Some(press) = action.press else {
        return [0.0, 0.0, pause];
    };
    let pressed = time(press);
    match action.kind {
        ActionKind::MouseMove => [0.0, 0.0, pause],
        ActionKind::PointClick => {
            let before = press.checked_sub(1).and_then(time);
            [
                gap(pressed, time(action.points.len() - 1)),
                gap(before, pressed),
                pause,
            ]
        }
        ActionKind::DragDrop => [gap(pressed, time(press + 1)), 0.0, pause],
    }
}

fn distance(a: &PathPoint, b: &PathPoint) -> f64 {
    (b.x - a.x).hypot(b.y - a.y)
}

/// `(time ms, x, y)` with times at least [`MIN_TIME_STEP_MS`] apart: each run of points whose
/// timestamp is less than that after the previous kept one collapses into its last point.
fn kinematic_samples(points: &[PathPoint]) -> Vec<(f64, f64, f64)> {
    let mut q: Vec<(f64, f64, f64)> = Vec::with_capacity(points.len());
    for p in points {
        let t = p.time_ms;
        match q.last_mut() {
            Some(last) if t < last.0 + MIN_TIME_STEP_MS => {
                last.1 = p.x;
                last.2 = p.y;
            }
            _ => q.push((t, p.x, p.y)),
        }
    }
    q
}

/// Angular velocities, curvatures and signed turns between consecutive steps of length at least
/// [`MIN_STEP_PX`].
fn turning(q: &[(f64, f64, f64)]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut omega, mut curvature, mut turns) = (Vec::new(), Vec::new(), Vec::new());
    // Direction, midpoint time and length of the previous step that has a direction.
    let mut previous: Option<(f64, f64, f64)> = None;
    for w in q.windows(2) {
        let (dx, dy) = (w[1].1 - w[0].1, w[1].2 - w[0].2);
        let length = dx.hypot(dy);
        if length < MIN_STEP_PX {
            continue;
        }
        let angle = dy.atan2(dx);
        let mid = (w[0].0 + w[1].0) / 2.0;
        if let Some((prev_angle, prev_mid, prev_length)) = previous {
            let turn = wrap_angle(angle - prev_angle);
            turns.push(turn);
            omega.push(turn / ((mid - prev_mid) / 1000.0));
            curvature.push(turn / ((length + prev_length) / 2.0));
        }
        previous = Some((angle, mid, length));
    }
    (omega, curvature, turns)
}

/// Wraps an angle difference into `(-π, π]`.
fn wrap_angle(angle: f64) -> f64 {
    let wrapped = (angle + PI).rem_euclid(2.0 * PI) - PI;
    if wrapped == -PI { PI } else { wrapped }
}

/// Sector 0..7 of a displacement, counter-clockwise from +x with screen y flipped to point up.
fn direction_sector(dx: f64, dy: f64) -> f64 {
    if dx == 0.0 && dy == 0.0 {
        return 0.0;
    }
    let angle = (-dy).atan2(dx).rem_euclid(2.0 * PI);
    (angle / (PI / 4.0)).floor().min(7.0)
}

fn largest_deviation(points: &[PathPoint]) -> f64 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return 0.0;
    };
    let (lx, ly) = (last.x - first.x, last.y - first.y);
    let length = lx.hypot(ly);
    points
        .iter()
        .map(|p| {
            let (px, py) = (p.x - first.x, p.y - first.y);
            if length == 0.0 {
                px.hypot(py)
            } else {
                (lx * py - ly * px).abs() / length
            }
        })
        .fold(0.0, f64::max)
}

/// Mean, population standard deviation, minimum and maximum; zeros when empty.
fn statistics(values: &[f64]) -> [f64; 4] {
    if values.is_empty() {
        return [0.0; 4];
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    [mean, variance.sqrt(), min, max]
}

#[cfg(test)]
mod tests;

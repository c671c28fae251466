//! Features relative to the recording they come from.
//!
//! Balabit sessions are remote-desktop recordings, and each recording has its own setting:
//! screen size and scaling change pixel distances and speeds, and network and client load
//! change the timing. [`append_relative`] appends, for a few distance, speed and timing
//! features, the action's value divided by the median of that feature over its recording, so
//! an offset that scales a whole recording cancels. The absolute values stay, since a user's
//! habitual speed is itself a trait.

use ndarray::{Array2, Axis, Slice};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::mouse::{FEATURE_NAMES, N_FEATURES};

/// Features that get a relative copy: distance, speed and timing scales of the action.
pub(crate) const RELATIVE: [&str; 7] = [
    "duration",
    "travelled",
    "v_mean",
    "v_max",
    "press_hold",
    "rest_before_press",
    "pause_before",
];

/// Number of columns after [`append_relative`].
pub(crate) const N_WITH_RELATIVE: usize = N_FEATURES + RELATIVE.len();

/// Appends to `x` (one recording's actions, [`N_FEATURES`] columns) one column per feature in
/// [`RELATIVE`]. The new value is the action's value divided by the median of that column
/// over the recording's rows with a positive value. It is 0 when no row is positive, for
/// example a click timing in a recording without clicks.
///
/// # Panics
///
/// When `x` does not have [`N_FEATURES`] columns. Callers pass rows built by
/// [`action_features`](crate::mouse::action_features), which have.
pub(crate) fn append_relative(x: &Array2<f64>) -> Array2<f64> {
    let mut out = Array2::zeros((x.nrows(), N_WITH_RELATIVE));
    out.slice_axis_mut(Axis(1), Slice::from(0..N_FEATURES))
        .assign(x);
    for (k, name) in RELATIVE.iter().enumerate() {
        let Some(column) = FEATURE_NAMES.iter().position(|n| n == name) else {
            continue;
        };
        let values = x.index_axis(Axis(1), column);
        let mut positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        if positive.is_empty() {
            continue;
        }
        positive.sort_by(f64::total_cmp);
        let n = positive.len();
        let median = (positive[(n - 1) / 2] + positive[n / 2]) / 2.0;
        let relative = values.mapv(|v| v / median);
        out.index_axis_mut(Axis(1), N_FEATURES + k)
            .assign(&relative);
    }
    out
}

/// Appends the relative features of [`append_relative`] to a long training session `x`,
/// computed within consecutive pieces whose lengths are drawn like the cross-validation's
/// held-out pieces, so that training rows are relative to stretches as long as a recording.
pub(crate) fn relative_in_pieces(
    x: &Array2<f64>,
    piece_actions: (usize, usize),
    rng: &mut Xoshiro256PlusPlus,
) -> Array2<f64> {
    let parts: Vec<Array2<f64>> = super::cv::piece_ranges(x.nrows(), piece_actions, true, rng)
        .into_iter()
        .map(|range| {
            append_relative(
                &x.slice_axis(Axis(0), ndarray::Slice::from(range))
                    .to_owned(),
            )
        })
        .collect();
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| append_relative(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_recording_gives_same_relative_values() {
        let column = |name: &str| FEATURE_NAMES.iter().position(|n| *n == name).unwrap_or(0);
        let mut a = Array2::zeros((3, N_FEATURES));
        for (i, v) in [1.0, 2.0, 4.0].into_iter().enumerate() {
            a[[i, column("v_mean")]] = v;
        }
        let b = a.mapv(|v| v * 3.0);
        let (ra, rb) = (append_relative(&a), append_relative(&b));
        let k = N_FEATURES + RELATIVE.iter().position(|n| *n == "v_mean").unwrap_or(0);
        for i in 0..3 {
            assert!((ra[[i, k]] - rb[[i, k]]).abs() < 1e-12);
        }
        assert!((ra[[1, k]] - 1.0).abs() < 1e-12, "the median row is 1");
        assert_ne!(ra[[0, column("v_mean")]], rb[[0, column("v_mean")]]);
        // A feature that is 0 throughout stays 0 in its relative copy.
        let d = N_FEATURES
            + RELATIVE
                .iter()
                .position(|n| *n == "press_hold")
                .unwrap_or(0);
        assert_eq!(ra[[0, d]], 0.0);
    }
}

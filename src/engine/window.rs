//! The windowed evidence statistic on which `Allow` rests.
//!
//! Trust (see [`trust`](super::trust)) starts at its maximum and is capped there, so most
//! impostor decision points also sit at the maximum and no trust threshold can keep the
//! false-match rate near its target. Trust therefore only locks sessions out. `Allow` instead
//! needs the *window statistic* above a per-user threshold. Per modality, it is the mean
//! calibrated posterior of the session's most recent `W` scored actions, where `W` is that
//! modality's [`EngineConfig::min_evidence`](super::EngineConfig::min_evidence). Across
//! modalities, it is the mean of those means weighted by [`FusionWeights`].
//!
//! The mean posterior is used rather than a sum of log-likelihood ratios for two reasons. It
//! lies in `[0, 1]`, so it fits the `allow_threshold` fields that the C ABI and gRPC already
//! report in `[0, 1]`. And one action moves it by at most `1 / W`, so a single extreme action
//! cannot carry a window, while a sum of LLRs lets one action move it by up to
//! [`MAX_LLR`](super::calibration::MAX_LLR).

use super::config::FusionWeights;

/// The calibrated posteriors of a session's most recent scored actions of one modality.
///
/// The buffer is allocated at the first push and then reused, so pushing never allocates.
#[derive(Debug, Clone, Default)]
pub(crate) struct PosteriorWindow {
    values: Vec<f64>,
    /// Index of the oldest value once the window is full.
    next: usize,
}

impl PosteriorWindow {
    /// Adds `posterior`, dropping the oldest value once `len` values are stored.
    pub(crate) fn push(&mut self, posterior: f64, len: usize) {
        if len == 0 {
            return;
        }
        if self.values.len() < len {
            if self.values.capacity() == 0 {
                self.values.reserve_exact(len);
            }
            self.values.push(posterior);
            return;
        }
        self.values[self.next] = posterior;
        self.next = (self.next + 1) % len;
    }

    /// Removes every value and keeps the buffer.
    pub(crate) fn clear(&mut self) {
        self.values.clear();
        self.next = 0;
    }

    /// Tells whether `len` values are stored, so that [`Self::mean`] has a value.
    pub(crate) fn is_full(&self, len: usize) -> bool {
        len > 0 && self.values.len() >= len
    }

    /// Mean of the stored values once `len` of them are stored, otherwise `None`. The sum is
    /// taken afresh over the window, so it carries no rounding drift from earlier actions.
    pub(crate) fn mean(&self, len: usize) -> Option<f64> {
        if len == 0 || self.values.len() < len {
            return None;
        }
        Some(self.values.iter().sum::<f64>() / len as f64)
    }
}

/// Fuses per-modality window means: their mean weighted by `weights`, over the modalities
/// with a mean. Returns `None` when no modality has a mean or the weights of those that have
/// one sum to 0.
pub(crate) fn fuse(
    keyboard: Option<f64>,
    mouse: Option<f64>,
    weights: FusionWeights,
) -> Option<f64> {
    let parts = [(keyboard, weights.keyboard), (mouse, weights.mouse)];
    let (sum, weight) = parts
        .iter()
        .filter_map(|&(mean, w)| mean.map(|m| (m * w, w)))
        .fold((0.0, 0.0), |(s, t), (m, w)| (s + m, t + w));
    (weight > 0.0).then(|| sum / weight)
}

/// One timed, calibrated action for [`window_statistics`]: time in microseconds, `true` for
/// the keyboard, and the posterior.
pub(crate) type TimedPosterior = (f64, bool, f64);

/// Computes the window statistic after each of one person's actions in time order, starting
/// at the first action that fills some modality's window. These are the values `decide` would
/// compare with the threshold if the evidence were recent.
///
/// NOTE: the engine also requires the newest action of a modality to be younger than
/// `max_evidence_age` before its window counts. Enrolment and background actions carry
/// dataset timestamps rather than engine-clock times, so this simulation counts every full
/// window.
pub(crate) fn window_statistics(
    mut actions: Vec<TimedPosterior>,
    lengths: (usize, usize),
    weights: FusionWeights,
) -> Vec<f64> {
    actions.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut keyboard = PosteriorWindow::default();
    let mut mouse = PosteriorWindow::default();
    let mut values = Vec::new();
    for (_, is_keyboard, posterior) in actions {
        if is_keyboard {
            keyboard.push(posterior, lengths.0);
        } else {
            mouse.push(posterior, lengths.1);
        }
        if let Some(value) = fuse(keyboard.mean(lengths.0), mouse.mean(lengths.1), weights) {
            values.push(value);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean of the last `len` values, computed the plain way.
    fn naive_mean(values: &[f64], len: usize) -> Option<f64> {
        (values.len() >= len && len > 0)
            .then(|| values[values.len() - len..].iter().sum::<f64>() / len as f64)
    }

    #[test]
    fn ring_matches_naive_mean() {
        let values: Vec<f64> = (0..50).map(|i| f64::from((i * 37) % 11) / 10.0).collect();
        for len in [1, 3, 7, 50, 60] {
            let mut window = PosteriorWindow::default();
            for (i, &v) in values.iter().enumerate() {
                window.push(v, len);
                let want = naive_mean(&values[..=i], len);
                let got = window.mean(len);
                match (want, got) {
                    (Some(w), Some(g)) => assert!((w - g).abs() < 1e-12, "len {len} at {i}"),
                    (None, None) => {}
                    _ => panic!("len {len} at {i}: want {want:?}, got {got:?}"),
                }
            }
        }
    }

    #[test]
    fn ring_does_not_grow_past_its_length() {
        let mut window = PosteriorWindow::default();
        for i in 0..1000 {
            window.push(f64::from(i), 4);
        }
        assert_eq!(window.values.len(), 4);
        assert_eq!(window.values.capacity(), 4);
        assert_eq!(window.mean(4), Some((996.0 + 997.0 + 998.0 + 999.0) / 4.0));
    }

    #[test]
    fn zero_length_window_never_has_a_mean() {
        let mut window = PosteriorWindow::default();
        window.push(0.9, 0);
        assert_eq!(window.mean(0), None);
    }

    #[test]
    fn fuse_weights_present_modalities() {
        let w = FusionWeights {
            keyboard: 1.0,
            mouse: 3.0,
        };
        assert_eq!(fuse(Some(0.2), Some(0.6), w), Some((0.2 + 3.0 * 0.6) / 4.0));
        assert_eq!(fuse(Some(0.2), None, w), Some(0.2));
        assert_eq!(fuse(None, Some(0.6), w), Some(0.6));
        assert_eq!(fuse(None, None, w), None);
        let keyboard_off = FusionWeights {
            keyboard: 0.0,
            mouse: 1.0,
        };
        assert_eq!(fuse(Some(0.2), None, keyboard_off), None);
    }

    #[test]
    fn statistics_start_at_first_full_window() {
        let actions: Vec<TimedPosterior> = (0..10)
            .map(|i| (f64::from(i), i % 2 == 0, f64::from(i) / 10.0))
            .collect();
        let values = window_statistics(actions, (3, 3), FusionWeights::default());
        // Keyboard (even times) fills its window of 3 at time 4, the mouse at time 5.
        assert_eq!(values.len(), 6);
        assert!((values[0] - (0.0 + 0.2 + 0.4) / 3.0).abs() < 1e-12);
        let both = ((0.0 + 0.2 + 0.4) / 3.0 + (0.1 + 0.3 + 0.5) / 3.0) / 2.0;
        assert!((values[1] - both).abs() < 1e-12);
    }
}

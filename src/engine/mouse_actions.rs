//! A mouse modality backed by the mouse-dynamics module: segmented mouse-move, point-and-click
//! and drag-and-drop actions, described by the action features and scored by a two-class
//! booster of the user's actions against the background people's, or by a one-class robust z
//! model of the user's own actions.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::modality::Modality;
use crate::error::{Error, Result};
use crate::events::{MouseEvent, MouseKind};
use crate::mouse::boost::{BoostParams, BoostedTrees};
use crate::mouse::one_class::RobustZ;
use crate::mouse::two_class::two_class_rows;
use crate::mouse::{
    ActionKind, N_FEATURES, SegmentParams, action_features, is_warp, segment_after,
};

/// Maximum number of events in one action. A longer run without a click or pause is cut into a
/// mouse-move action here, so a session's state stays bounded.
// NOTE: the batch segmentation has no such cut, so a run this long is segmented differently
// from `segment` over the whole session.
const MAX_RUN_EVENTS: usize = 5_000;
// The schema text of `MouseModality` names the feature count. A change of the feature set must
// change that text, so that models with the old features are refused when loaded.
const _: () = assert!(N_FEATURES == 58);

/// Points of an action whose time offsets feed the replay check.
const REPLAY_POINTS: usize = 32;

/// One mouse action and its feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MouseAction {
    /// Mouse move, point-and-click or drag-and-drop.
    pub kind: ActionKind,
    /// Time of the first point in microseconds.
    pub start_us: f64,
    /// Offsets of the first points from the start in microseconds, for the replay check.
    pub offsets_us: Vec<f64>,
    /// Features in [`FEATURE_NAMES`](crate::mouse::FEATURE_NAMES) order.
    pub features: Vec<f64>,
}

/// Per-session events since the last completed action.
#[derive(Debug, Default)]
pub struct MouseRun {
    events: Vec<MouseEvent>,
    press_pending: bool,
    last_ms: Option<f64>,
    /// Time of the last event of the previously flushed events, from which the pause before
    /// the next action is measured. `None` after a cursor warp, across which no pause is
    /// measured.
    flushed_ms: Option<f64>,
    /// The previous event, scroll events included, for the cursor-warp check.
    previous: Option<MouseEvent>,
}

/// Model family that [`MouseModality`] fits.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum MouseModelKind {
    /// A booster of the user's actions (positive) against the background people's (negative),
    /// fitted by [`BoostParams::fit_cut_on_positives`]. Its split thresholds are then values
    /// of the user's own actions (or the double just below the smallest), so no threshold in
    /// the user's model file is taken from a background person's action.
    TwoClass {
        /// Booster settings.
        boost: BoostParams,
        /// Negative rows per positive row, drawn evenly over the background people.
        negative_ratio: usize,
        /// Seed of the negative draw.
        seed: u64,
    },
    /// [`RobustZ`] over the user's own actions, for deployments that may not fit a user's
    /// model on other people's data.
    OneClass,
}

impl Default for MouseModelKind {
    /// Returns the two-class booster with the settings of the Balabit batch replay: the
    /// default [`BoostParams`] (300 rounds, 31 leaves, 63 bins) and three negatives per
    /// positive. The batch replay bins all rows, while the engine bins at the user's values.
    fn default() -> Self {
        MouseModelKind::TwoClass {
            boost: BoostParams::default(),
            negative_ratio: 3,
            seed: 0x6b74_6d6f_7573_6532,
        }
    }
}

/// A user's mouse model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MouseModel {
    /// Two-class booster; an action's raw score is minus its log odds of being the user's.
    TwoClass(BoostedTrees),
    /// One-class model; an action's raw score is its robust z distance.
    OneClass(RobustZ),
}

impl From<RobustZ> for MouseModel {
    /// Wraps a model of the earlier schema, which was always one-class.
    fn from(model: RobustZ) -> Self {
        MouseModel::OneClass(model)
    }
}

/// Mouse modality: actions follow [`segment`](fn@crate::mouse::segment)'s rules, applied as
/// events arrive, and the model is the one [`MouseModelKind`] names, by default a two-class
/// booster fitted against the background people.
///
/// An action is emitted when it is complete: at a release that ends a click or drag, at a pause
/// longer than [`SegmentParams::idle_gap_ms`], at a cursor warp ([`is_warp`], which the Balabit
/// loader also splits streams on), or after `MAX_RUN_EVENTS` (5,000) events. A trailing mouse move
/// that none of these ends waits for the session's next event.
///
/// The two-class model uses only the action's 58 features. The Balabit batch replay also
/// gives it the previous action's features, which the cross-validation there favoured.
// NOTE: the two-class model does not adapt: `adapt` returns it unchanged, since a booster
// cannot be moved part of the way toward a session and the background is not at hand then.
// Refitting on the enrolment and retained actions would need both stored.
#[derive(Debug, Clone, Default)]
pub struct MouseModality {
    params: SegmentParams,
    kind: MouseModelKind,
}

impl MouseModality {
    /// Builds the modality with custom segmentation settings.
    ///
    /// # Errors
    ///
    /// The errors of [`SegmentParams::check`].
    pub fn new(params: SegmentParams) -> Result<Self> {
        params.check()?;
        Ok(MouseModality {
            params,
            kind: MouseModelKind::default(),
        })
    }

    /// Builds the modality with custom segmentation settings and model.
    ///
    /// # Errors
    ///
    /// The errors of [`SegmentParams::check`] and [`BoostParams::check`], and
    /// [`Error::InvalidParameter`] for a `negative_ratio` of 0.
    pub fn with_model(params: SegmentParams, kind: MouseModelKind) -> Result<Self> {
        params.check()?;
        if let MouseModelKind::TwoClass {
            boost,
            negative_ratio,
            ..
        } = &kind
        {
            boost.check()?;
            if *negative_ratio == 0 {
                return Err(Error::InvalidParameter {
                    name: "negative_ratio",
                    value: "0".into(),
                    expected: "at least 1 background action per enrolment action",
                });
            }
        }
        Ok(MouseModality { params, kind })
    }

    /// Returns the model family this modality fits.
    pub fn model_kind(&self) -> MouseModelKind {
        self.kind
    }

    fn flush(&self, run: &mut MouseRun, out: &mut Vec<MouseAction>) {
        let events = std::mem::take(&mut run.events);
        run.press_pending = false;
        let previous = run.flushed_ms;
        if let Some(last) = events.last() {
            run.flushed_ms = Some(last.time_ms);
        }
        // Segmentation fails for invalid settings, which `new` checked, and for a time or
        // coordinate out of range. Such a piece yields no action, like an action with
        // non-finite features below.
        let Ok((actions, _)) = segment_after(&events, &[], &self.params, previous) else {
            return;
        };
        for action in actions {
            let features = action_features(&action);
            // Non-finite coordinates give non-finite features; such an action cannot be
            // scored and is dropped.
            if features.iter().any(|f| !f.is_finite()) {
                continue;
            }
            let Some(first) = action.points.first() else {
                continue;
            };
            let start_ms = first.time_ms;
            out.push(MouseAction {
                kind: action.kind,
                start_us: start_ms * 1000.0,
                offsets_us: action
                    .points
                    .iter()
                    .take(REPLAY_POINTS)
                    .map(|p| (p.time_ms - start_ms) * 1000.0)
                    .collect(),
                features: features.to_vec(),
            });
        }
    }

    fn matrix<'a>(actions: impl IntoIterator<Item = &'a MouseAction>) -> Result<Array2<f64>> {
        let mut rows = 0;
        let mut flat: Vec<f64> = Vec::new();
        for action in actions {
            flat.extend_from_slice(&action.features);
            rows += 1;
        }
        Array2::from_shape_vec((rows, N_FEATURES), flat).map_err(|_| {
            Error::training(format!(
                "mouse actions must have {N_FEATURES} features each"
            ))
        })
    }
}

impl Modality for MouseModality {
    type Event = MouseEvent;
    type Action = MouseAction;
    type Extractor = MouseRun;
    type Model = MouseModel;
    type EarlierModel = RobustZ;

    const NAME: &'static str = "mouse";
    // The cut at cursor warps came without a new schema text: it changes only the rare actions
    // that span a warp, not what a feature means. The two-class model did need one (v3), since
    // the stored model became a `MouseModel`.
    const SCHEMA: &'static str = "mouse/action-model/v3: MM, PC and DD actions (10 s idle \
        split, 4 points minimum), 58 action features (55 path features, press hold, rest before \
        press, pause before the action), a two-class booster against background people or a \
        per-feature median and robust scale";
    // The v2 files contain the same actions, and a `RobustZ` that scores as
    // `MouseModel::OneClass` does (the `earlier_mouse_schema_files_load` test compares with
    // scores of the build before v3).
    const EARLIER_SCHEMA: Option<&'static str> = Some(
        "mouse/action-robust-z/v2: MM, PC and DD actions (10 s idle \
        split, 4 points minimum), 58 action features (55 path features, press hold, rest before \
        press, pause before the action), per-feature median and robust scale",
    );

    fn event_time_us(event: &MouseEvent) -> f64 {
        event.time_ms * 1000.0
    }

    fn extract(&self, run: &mut MouseRun, event: &MouseEvent, out: &mut Vec<MouseAction>) {
        // A warp ends the current action, as a stream break does in `segment`, and the time
        // across it is not a pause of the user's.
        if run
            .previous
            .is_some_and(|previous| is_warp(&previous, event))
        {
            self.flush(run, out);
            run.flushed_ms = None;
        }
        run.previous = Some(*event);
        // `segment` skips scroll events, so they neither extend nor split an action.
        if event.kind == MouseKind::Scroll {
            return;
        }
        if let Some(last) = run.last_ms
            && event.time_ms - last > self.params.idle_gap_ms
        {
            self.flush(run, out);
        }
        run.last_ms = Some(event.time_ms);
        run.events.push(*event);
        match event.kind {
            MouseKind::Press => run.press_pending = true,
            MouseKind::Release if run.press_pending => self.flush(run, out),
            _ => {}
        }
        if run.events.len() >= MAX_RUN_EVENTS {
            self.flush(run, out);
        }
    }

    fn action_time_us(action: &MouseAction) -> f64 {
        action.start_us
    }

    fn action_timings(action: &MouseAction, out: &mut Vec<f64>) {
        out.extend_from_slice(&action.offsets_us);
    }

    fn train(
        &self,
        actions: &[MouseAction],
        background: &[Vec<&[MouseAction]>],
    ) -> Result<MouseModel> {
        let MouseModelKind::TwoClass {
            boost,
            negative_ratio,
            seed,
        } = self.kind
        else {
            return Ok(MouseModel::OneClass(RobustZ::fit(
                Self::matrix(actions)?.view(),
            )?));
        };
        let positives = Self::matrix(actions)?;
        let people: Vec<Array2<f64>> = background
            .iter()
            .map(|sessions| Self::matrix(sessions.iter().flat_map(|s| s.iter())))
            .filter(|m| m.as_ref().map_or(true, |m| m.nrows() > 0))
            .collect::<Result<_>>()?;
        if people.is_empty() {
            return Err(Error::training(
                "the two-class mouse model needs background mouse actions to fit against; add \
                 background sessions with mouse events before enrolment, or use the one-class \
                 model",
            ));
        }
        let others: Vec<&Array2<f64>> = people.iter().collect();
        let rows = two_class_rows(&positives, &others, negative_ratio, 1, seed)?;
        Ok(MouseModel::TwoClass(
            boost.fit_cut_on_positives(rows.x.view(), &rows.labels)?,
        ))
    }

    fn uses_background(&self) -> bool {
        matches!(self.kind, MouseModelKind::TwoClass { .. })
    }

    fn score(&self, model: &MouseModel, action: &MouseAction) -> Option<f64> {
        match model {
            MouseModel::TwoClass(booster) => booster
                .log_odds(&action.features)
                .ok()
                .filter(|l| l.is_finite())
                .map(|l| -l),
            MouseModel::OneClass(robust) => robust.score(&action.features).ok(),
        }
    }

    fn adapt(&self, model: &MouseModel, actions: &[MouseAction], rate: f64) -> Result<MouseModel> {
        match model {
            MouseModel::TwoClass(_) => Ok(model.clone()),
            MouseModel::OneClass(robust) => {
                let session = RobustZ::fit(Self::matrix(actions)?.view())?;
                Ok(MouseModel::OneClass(robust.moved_toward(&session, rate)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MouseButton;

    fn event(time_ms: f64, x: f64, kind: MouseKind) -> MouseEvent {
        let button = match kind {
            MouseKind::Move | MouseKind::Scroll => MouseButton::None,
            _ => MouseButton::Left,
        };
        MouseEvent {
            time_ms,
            x,
            y: x / 2.0,
            button,
            kind,
        }
    }

    /// Moves, then a click, starting at `t0` ms; `speed` in pixels per 16 ms step.
    fn click_path(t0: f64, speed: f64) -> Vec<MouseEvent> {
        let mut events: Vec<MouseEvent> = (0..8)
            .map(|i| {
                event(
                    t0 + 16.0 * f64::from(i),
                    speed * f64::from(i),
                    MouseKind::Move,
                )
            })
            .collect();
        events.push(event(t0 + 140.0, speed * 8.0, MouseKind::Press));
        events.push(event(t0 + 220.0, speed * 8.0, MouseKind::Release));
        events
    }

    fn actions(m: &MouseModality, events: &[MouseEvent]) -> Vec<MouseAction> {
        let mut run = MouseRun::default();
        let mut out = Vec::new();
        for e in events {
            m.extract(&mut run, e, &mut out);
        }
        out
    }

    #[test]
    fn streaming_matches_batch_segmentation() {
        let m = MouseModality::default();
        let mut events = click_path(0.0, 5.0);
        events.extend(click_path(1_000.0, 7.0));
        // A pause ends the trailing moves as a mouse-move action.
        events.extend((0..5).map(|i| event(2_000.0 + 16.0 * f64::from(i), 1.0, MouseKind::Move)));
        events.push(event(20_000.0, 0.0, MouseKind::Move));
        let streamed = actions(&m, &events);
        let (batch, _) =
            crate::mouse::segment(&events[..events.len() - 1], &[], &m.params).unwrap();
        assert_eq!(streamed.len(), batch.len());
        for (s, b) in streamed.iter().zip(&batch) {
            assert_eq!(s.kind, b.kind);
            assert_eq!(s.features, action_features(b).to_vec());
        }
    }

    #[test]
    fn warp_splits_like_a_stream_break() {
        let m = MouseModality::default();
        // Moves, a scroll, then a warp of 1,500 px 16 ms later in the middle of the moves, and
        // a click after it.
        let mut events: Vec<MouseEvent> = (0..6)
            .map(|i| event(16.0 * f64::from(i), 3.0 * f64::from(i), MouseKind::Move))
            .collect();
        events.push(event(96.0, 15.0, MouseKind::Scroll));
        let warp = events.len();
        events.extend(click_path(112.0, 4.0).into_iter().map(|mut e| {
            e.x += 1_500.0;
            e
        }));
        assert!(is_warp(&events[warp - 1], &events[warp]));
        events.push(event(20_000.0, 0.0, MouseKind::Move));
        let streamed = actions(&m, &events);
        let body = &events[..events.len() - 1];
        let (batch, _) = crate::mouse::segment(body, &[warp], &m.params).unwrap();
        let kinds: Vec<ActionKind> = streamed.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [ActionKind::MouseMove, ActionKind::PointClick]);
        assert_eq!(streamed.len(), batch.len());
        for (s, b) in streamed.iter().zip(&batch) {
            assert_eq!(s.kind, b.kind);
            assert_eq!(s.features, action_features(b).to_vec());
        }
        // Without the break, batch segmentation joins both movements into one click.
        let (joined, _) = crate::mouse::segment(body, &[], &m.params).unwrap();
        assert_eq!(joined.len(), 1);
    }

    /// 30 click paths at about `speed` pixels per step.
    fn person(m: &MouseModality, speed: f64) -> Vec<MouseAction> {
        let events: Vec<MouseEvent> = (0..30)
            .flat_map(|i| click_path(f64::from(i) * 1_000.0, speed + f64::from(i % 3) * 0.2))
            .collect();
        actions(m, &events)
    }

    fn one_class() -> MouseModality {
        MouseModality::with_model(SegmentParams::default(), MouseModelKind::OneClass).unwrap()
    }

    #[test]
    fn own_speed_scores_lower() {
        let slow = person(&MouseModality::default(), 12.0);
        let fast = person(&MouseModality::default(), 20.0);
        for m in [MouseModality::default(), one_class()] {
            let own = person(&m, 5.0);
            let model = m.train(&own, &[vec![&slow[..]], vec![&fast[..]]]).unwrap();
            assert_eq!(
                matches!(model, MouseModel::TwoClass(_)),
                m.uses_background()
            );
            let close = actions(&m, &click_path(0.0, 5.1));
            let far = actions(&m, &click_path(0.0, 16.0));
            assert!(
                m.score(&model, &close[0]).unwrap() < m.score(&model, &far[0]).unwrap(),
                "{:?}",
                m.model_kind()
            );
        }
    }

    #[test]
    fn two_class_needs_background_and_own_actions() {
        let m = MouseModality::default();
        let own = person(&m, 5.0);
        let error = m.train(&own, &[]).unwrap_err();
        assert!(error.to_string().contains("background"), "{error}");
        let error = m.train(&own, &[vec![&[]]]).unwrap_err();
        assert!(error.to_string().contains("background"), "{error}");
        let other = person(&m, 12.0);
        assert!(matches!(
            m.train(&[], &[vec![&other[..]]]),
            Err(Error::InvalidTrainingData { .. })
        ));
    }

    #[test]
    fn two_class_thresholds_are_own_values() {
        let m = MouseModality::default();
        let own = person(&m, 5.0);
        let (slow, fast) = (person(&m, 12.0), person(&m, 16.0));
        let model = m.train(&own, &[vec![&slow[..]], vec![&fast[..]]]).unwrap();
        let MouseModel::TwoClass(booster) = model else {
            panic!("the default model should be two-class");
        };
        let splits = booster.splits();
        assert!(!splits.is_empty());
        for (feature, threshold) in splits {
            let values: Vec<f64> = own.iter().map(|a| a.features[feature]).collect();
            let low = values.iter().copied().fold(f64::INFINITY, f64::min);
            assert!(
                values.contains(&threshold) || threshold == low.next_down(),
                "feature {feature}: threshold {threshold} is not the user's value"
            );
        }
    }

    #[test]
    fn only_the_one_class_model_adapts() {
        let other = person(&MouseModality::default(), 12.0);
        for m in [MouseModality::default(), one_class()] {
            let own = person(&m, 5.0);
            let model = m.train(&own, &[vec![&other[..]]]).unwrap();
            let adapted = m.adapt(&model, &person(&m, 8.0), 0.5).unwrap();
            assert_eq!(
                adapted == model,
                m.uses_background(),
                "{:?}",
                m.model_kind()
            );
        }
    }

    #[test]
    fn model_kind_settings_are_checked() {
        let bad = MouseModelKind::TwoClass {
            boost: BoostParams {
                learning_rate: 0.0,
                ..BoostParams::default()
            },
            negative_ratio: 3,
            seed: 1,
        };
        assert!(MouseModality::with_model(SegmentParams::default(), bad).is_err());
        let no_negatives = MouseModelKind::TwoClass {
            boost: BoostParams::default(),
            negative_ratio: 0,
            seed: 1,
        };
        let error = MouseModality::with_model(SegmentParams::default(), no_negatives).unwrap_err();
        assert!(error.to_string().contains("negative_ratio"), "{error}");
        assert_eq!(one_class().model_kind(), MouseModelKind::OneClass);
    }

    #[test]
    fn train_rejects_too_few_actions() {
        let m = one_class();
        assert!(matches!(
            m.train(&[], &[]),
            Err(Error::InvalidTrainingData { .. })
        ));
        assert!(
            MouseModality::new(SegmentParams {
                idle_gap_ms: -1.0,
                min_events: 4
            })
            .is_err()
        );
    }
}

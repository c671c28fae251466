//! Cutting a mouse event stream into actions.
//!
//! Antal and Egyed-Zsigmond ("Intrusion detection using mouse dynamics", IET Biometrics, 2019)
//! segment free mouse use into three action types. A mouse move (MM) ends without a click. A
//! point-and-click (PC) is a movement ending in a press and release. In a drag-and-drop (DD)
//! the cursor moves while a button is held. The rules here, in order:
//!
//! 1. Scroll events are skipped: the cursor does not move while the wheel turns.
//! 2. A stream break (see [`crate::datasets::balabit::MouseSession::breaks`]) or a pause longer
//!    than [`SegmentParams::idle_gap_ms`] between consecutive events ends the current
//!    action, which becomes an MM action even if a button was down.
//! 3. A release of a pressed button ends the current action. If no `Drag` event came between
//!    press and release it is a PC action holding the movement since the previous action plus
//!    the press and release. Otherwise it is a DD action from the press to the release, and the
//!    movement before the press becomes an MM action of its own, because free movement and
//!    movement with a button held have different dynamics.
//! 4. A release with no press before it is treated as movement.
//! 5. Actions with fewer than [`SegmentParams::min_events`] points are dropped and counted.
//!
//! NOTE: the defaults (10 s idle pause, 4 points) follow this crate's reading of that paper and
//! were not re-checked against its text. They were fixed before any Balabit test session was
//! scored.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::events::{MouseEvent, MouseKind};
use crate::limits::MAX_MOUSE_EVENTS;

/// A move longer than this (Manhattan distance, pixels) within [`WARP_MS`] is taken as a cursor
/// warp. The speed, 20 px per ms, is an estimate of what hand movement does not reach. The
/// likely cause is cursor repositioning by remote-desktop clients or multi-monitor setups.
pub const WARP_PX: f64 = 1000.0;
/// Time window of a cursor warp, milliseconds.
pub const WARP_MS: f64 = 50.0;

/// Tells whether the cursor warped between two consecutive events: `to` lies more than
/// [`WARP_PX`] (Manhattan distance) from `from`, less than [`WARP_MS`] later and not earlier.
/// An action must not span a warp, because its path would join two unrelated movements.
pub fn is_warp(from: &MouseEvent, to: &MouseEvent) -> bool {
    let dt = to.time_ms - from.time_ms;
    let distance = (to.x - from.x).abs() + (to.y - from.y).abs();
    distance > WARP_PX && (0.0..WARP_MS).contains(&dt)
}

/// The three action types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionKind {
    /// Mouse move (MM): movement that ends without a click.
    MouseMove,
    /// Point-and-click (PC): movement that ends in a press and release.
    PointClick,
    /// Drag-and-drop (DD): movement with a button held, from press to release.
    DragDrop,
}

impl ActionKind {
    /// Short name as in the literature: `MM`, `PC` or `DD`.
    pub fn abbreviation(self) -> &'static str {
        match self {
            ActionKind::MouseMove => "MM",
            ActionKind::PointClick => "PC",
            ActionKind::DragDrop => "DD",
        }
    }
}

/// One point of an action's path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PathPoint {
    /// Client time in milliseconds.
    pub time_ms: f64,
    /// Horizontal position in pixels.
    pub x: f64,
    /// Vertical position in pixels, growing downwards.
    pub y: f64,
}

/// One mouse action: its type and the cursor path, in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Mouse move, point-and-click or drag-and-drop.
    pub kind: ActionKind,
    /// The cursor positions of the action's events, scroll events excluded.
    pub points: Vec<PathPoint>,
    /// Index in `points` of the button press of a PC or DD action; `None` for MM.
    pub press: Option<usize>,
    /// Milliseconds from the previous kept event of the stream to the first point, 0 for the
    /// first action of a stream and after a stream break.
    pub pause_before_ms: f64,
}

/// Segmentation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentParams {
    /// A pause longer than this (milliseconds) between consecutive events ends an action.
    pub idle_gap_ms: f64,
    /// Actions with fewer points than this are dropped.
    pub min_events: usize,
}

impl Default for SegmentParams {
    fn default() -> Self {
        SegmentParams {
            idle_gap_ms: 10_000.0,
            min_events: 4,
        }
    }
}

impl SegmentParams {
    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `idle_gap_ms` is not a positive finite number or
    /// `min_events` is 0.
    pub fn check(&self) -> Result<()> {
        if !(self.idle_gap_ms.is_finite() && self.idle_gap_ms > 0.0) {
            return Err(Error::InvalidParameter {
                name: "idle_gap_ms",
                value: self.idle_gap_ms.to_string(),
                expected: "a positive number of milliseconds",
            });
        }
        if self.min_events == 0 {
            return Err(Error::InvalidParameter {
                name: "min_events",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        Ok(())
    }
}

/// Counts of what segmentation produced and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SegmentStats {
    /// Mouse-move actions kept.
    pub mouse_move: u64,
    /// Point-and-click actions kept.
    pub point_click: u64,
    /// Drag-and-drop actions kept.
    pub drag_drop: u64,
    /// Actions dropped for having fewer than `min_events` points.
    pub too_short: u64,
    /// Actions ended by a pause longer than `idle_gap_ms`.
    pub idle_splits: u64,
}

impl std::ops::AddAssign for SegmentStats {
    fn add_assign(&mut self, o: Self) {
        self.mouse_move += o.mouse_move;
        self.point_click += o.point_click;
        self.drag_drop += o.drag_drop;
        self.too_short += o.too_short;
        self.idle_splits += o.idle_splits;
    }
}

/// Largest coordinate magnitude [`segment`] accepts, in pixels. Screens are below 10^5 pixels
/// wide; the bound keeps every product and square in the features finite.
pub const MAX_COORDINATE_PX: f64 = 1e7;

/// Largest timestamp magnitude [`segment`] accepts, in milliseconds: about 317 years, so Unix
/// epoch milliseconds pass, while sums of differences stay far from overflowing.
pub const MAX_TIME_MS: f64 = 1e13;

/// Checks that each event's time and position are finite and within the bounds above.
fn check_events(events: &[MouseEvent]) -> Result<()> {
    for (index, e) in events.iter().enumerate() {
        let fields = [
            ("time_ms", e.time_ms, MAX_TIME_MS),
            ("x", e.x, MAX_COORDINATE_PX),
            ("y", e.y, MAX_COORDINATE_PX),
        ];
        for (field, value, max) in fields {
            if !value.is_finite() || value.abs() > max {
                return Err(Error::MouseEventOutOfRange {
                    index,
                    field,
                    value,
                    max,
                });
            }
        }
    }
    Ok(())
}

/// Cuts `events` into actions by the rules in the module documentation.
///
/// `breaks` lists indices `i` such that no action may span from `events[i - 1]` to
/// `events[i]`; pass `&[]` when the stream has none.
///
/// # Errors
///
/// The errors of [`SegmentParams::check`], [`Error::LimitExceeded`] for more than
/// [`MAX_MOUSE_EVENTS`] events, and [`Error::MouseEventOutOfRange`] for a time or coordinate
/// that is not finite or exceeds [`MAX_TIME_MS`] or [`MAX_COORDINATE_PX`].
pub fn segment(
    events: &[MouseEvent],
    breaks: &[usize],
    params: &SegmentParams,
) -> Result<(Vec<Action>, SegmentStats)> {
    segment_after(events, breaks, params, None)
}

/// Cuts `events` into actions as [`segment`] does, for events that continue a stream whose
/// previous kept event was at `previous_ms` (milliseconds). The pause before the first action
/// and the idle check of the first event are measured from that time. A caller that feeds
/// a stream in pieces passes the time of the last non-scroll event of the previous piece.
///
/// # Errors
///
/// As [`segment`].
pub fn segment_after(
    events: &[MouseEvent],
    breaks: &[usize],
    params: &SegmentParams,
    previous_ms: Option<f64>,
) -> Result<(Vec<Action>, SegmentStats)> {
    params.check()?;
    if events.len() > MAX_MOUSE_EVENTS {
        return Err(Error::limit(
            format!("{} mouse events", events.len()),
            MAX_MOUSE_EVENTS as u64,
            "events",
            "MAX_MOUSE_EVENTS",
        ));
    }
    check_events(events)?;
    let mut cutter = Cutter {
        params,
        actions: Vec::new(),
        stats: SegmentStats::default(),
    };
    let mut run: Vec<PathPoint> = Vec::new();
    // Pause before the first point of `run`.
    let mut run_pause = 0.0;
    // Index in `run` of the pending press, and whether a drag followed it.
    let mut press: Option<usize> = None;
    let mut dragged = false;
    let mut next_break = breaks.iter().copied().peekable();
    let mut last_time: Option<f64> = previous_ms.filter(|t| t.is_finite());

    // A break that lands on a scroll event applies to the next event that is kept.
    let mut split = false;
    for (i, event) in events.iter().enumerate() {
        while next_break.peek().is_some_and(|&b| b <= i) {
            split |= next_break.next() == Some(i);
        }
        if event.kind == MouseKind::Scroll {
            continue;
        }
        // A stream break, unlike an idle pause, makes the time since the last event meaningless.
        let broken = split;
        if let Some(last) = last_time
            && event.time_ms - last > params.idle_gap_ms
        {
            split = true;
            cutter.stats.idle_splits += 1;
        }
        if split {
            cutter.emit(
                ActionKind::MouseMove,
                std::mem::take(&mut run),
                None,
                run_pause,
            );
            press = None;
            dragged = false;
            split = false;
        }
        if run.is_empty() {
            run_pause = match last_time {
                Some(last) if !broken => (event.time_ms - last).max(0.0),
                _ => 0.0,
            };
        }
        last_time = Some(event.time_ms);
        run.push(PathPoint {
            time_ms: event.time_ms,
            x: event.x,
            y: event.y,
        });
        match event.kind {
            MouseKind::Press => {
                press = Some(run.len() - 1);
                dragged = false;
            }
            MouseKind::Drag => dragged |= press.is_some(),
            MouseKind::Release => {
                if let Some(start) = press.take() {
                    if dragged {
                        let drag = run.split_off(start);
                        let drag_pause = match (run.last(), drag.first()) {
                            (Some(before), Some(pressed)) => {
                                (pressed.time_ms - before.time_ms).max(0.0)
                            }
                            _ => run_pause,
                        };
                        cutter.emit(
                            ActionKind::MouseMove,
                            std::mem::take(&mut run),
                            None,
                            run_pause,
                        );
                        cutter.emit(ActionKind::DragDrop, drag, Some(0), drag_pause);
                    } else {
                        let points = std::mem::take(&mut run);
                        cutter.emit(ActionKind::PointClick, points, Some(start), run_pause);
                    }
                    dragged = false;
                }
            }
            MouseKind::Move | MouseKind::Scroll => {}
        }
    }
    cutter.emit(ActionKind::MouseMove, run, None, run_pause);
    Ok((cutter.actions, cutter.stats))
}

#[derive(Debug)]
struct Cutter<'a> {
    params: &'a SegmentParams,
    actions: Vec<Action>,
    stats: SegmentStats,
}

impl Cutter<'_> {
    fn emit(
        &mut self,
        kind: ActionKind,
        points: Vec<PathPoint>,
        press: Option<usize>,
        pause_before_ms: f64,
    ) {
        if points.is_empty() {
            return;
        }
        if points.len() < self.params.min_events {
            self.stats.too_short += 1;
            return;
        }
        match kind {
            ActionKind::MouseMove => self.stats.mouse_move += 1,
            ActionKind::PointClick => self.stats.point_click += 1,
            ActionKind::DragDrop => self.stats.drag_drop += 1,
        }
        self.actions.push(Action {
            kind,
            points,
            press,
            pause_before_ms,
        });
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
            y: 0.0,
            button,
            kind,
        }
    }

    fn moves(from: f64, n: usize) -> Vec<MouseEvent> {
        (0..n)
            .map(|i| event(from + 16.0 * i as f64, i as f64, MouseKind::Move))
            .collect()
    }

    fn params(min_events: usize) -> SegmentParams {
        SegmentParams {
            min_events,
            ..SegmentParams::default()
        }
    }

    /// Found by the `mouse_segment` fuzz target: coordinates near 1e304 made speeds infinite.
    #[test]
    fn out_of_range_event_rejected() {
        let cases = [
            (2, "x", event(32.0, 8.8e304, MouseKind::Move)),
            (2, "x", event(32.0, f64::NAN, MouseKind::Move)),
            (2, "time_ms", event(f64::INFINITY, 0.0, MouseKind::Move)),
            (2, "time_ms", event(-2e13, 0.0, MouseKind::Move)),
        ];
        for (index, field, bad) in cases {
            let mut events = moves(0.0, 4);
            events[index] = bad;
            let error = segment(&events, &[], &params(1)).unwrap_err();
            assert!(
                matches!(
                    error,
                    Error::MouseEventOutOfRange { index: i, field: f, .. } if i == index && f == field
                ),
                "{error}"
            );
        }
    }

    #[test]
    fn too_many_events_rejected() {
        let events = vec![event(0.0, 0.0, MouseKind::Move); MAX_MOUSE_EVENTS + 1];
        let error = segment(&events, &[], &params(1)).unwrap_err();
        assert!(
            matches!(
                error,
                Error::LimitExceeded {
                    name: "MAX_MOUSE_EVENTS",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn click_ends_point_click() -> Result<()> {
        let mut events = moves(0.0, 5);
        events.push(event(100.0, 5.0, MouseKind::Press));
        events.push(event(180.0, 5.0, MouseKind::Release));
        events.extend(moves(300.0, 4));
        let (actions, stats) = segment(&events, &[], &params(4))?;
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0].kind, ActionKind::PointClick);
        assert_eq!(actions[0].points.len(), 7);
        assert_eq!(actions[1].kind, ActionKind::MouseMove);
        assert_eq!(stats.point_click, 1);
        assert_eq!(
            actions[0].press,
            Some(5),
            "the press follows the five moves"
        );
        assert_eq!(
            actions[0].pause_before_ms, 0.0,
            "first action of the stream"
        );
        assert_eq!(actions[1].press, None);
        assert_eq!(
            actions[1].pause_before_ms, 120.0,
            "release at 180 ms, move at 300 ms"
        );
        Ok(())
    }

    #[test]
    fn drag_splits_move_and_drag() -> Result<()> {
        let mut events = moves(0.0, 4);
        events.push(event(100.0, 5.0, MouseKind::Press));
        for i in 0..3 {
            events.push(event(
                120.0 + 16.0 * i as f64,
                6.0 + i as f64,
                MouseKind::Drag,
            ));
        }
        events.push(event(200.0, 9.0, MouseKind::Release));
        let (actions, _) = segment(&events, &[], &params(4))?;
        let kinds: Vec<_> = actions.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [ActionKind::MouseMove, ActionKind::DragDrop]);
        assert_eq!(actions[0].points.len(), 4);
        assert_eq!(actions[1].points.len(), 5, "press, three drags, release");
        assert_eq!(actions[1].press, Some(0));
        assert_eq!(
            actions[1].pause_before_ms, 52.0,
            "last move at 48 ms, press at 100 ms"
        );
        Ok(())
    }

    #[test]
    fn idle_gap_and_break_split() -> Result<()> {
        let mut events = moves(0.0, 4);
        events.extend(moves(20_000.0, 4));
        events.extend(moves(20_100.0, 4));
        let (actions, stats) = segment(&events, &[8], &params(4))?;
        assert_eq!(actions.len(), 3);
        assert_eq!(stats.idle_splits, 1);
        assert!(actions.iter().all(|a| a.points.len() == 4));
        let pauses: Vec<f64> = actions.iter().map(|a| a.pause_before_ms).collect();
        // An idle pause is measured; the time across a stream break is not.
        assert_eq!(pauses, [0.0, 20_000.0 - 48.0, 0.0]);
        Ok(())
    }

    #[test]
    fn short_actions_dropped_counted() -> Result<()> {
        let (actions, stats) = segment(&moves(0.0, 3), &[], &params(4))?;
        assert!(actions.is_empty());
        assert_eq!(stats.too_short, 1);
        Ok(())
    }

    #[test]
    fn scroll_and_stray_release_are_movement() -> Result<()> {
        let mut events = moves(0.0, 3);
        events.push(event(50.0, 3.0, MouseKind::Scroll));
        events.push(event(60.0, 3.0, MouseKind::Release));
        let (actions, _) = segment(&events, &[], &params(1))?;
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].kind, ActionKind::MouseMove);
        assert_eq!(
            actions[0].points.len(),
            4,
            "scroll skipped, release kept as movement"
        );
        Ok(())
    }

    #[test]
    fn empty_stream_gives_nothing() -> Result<()> {
        let (actions, stats) = segment(&[], &[], &SegmentParams::default())?;
        assert!(actions.is_empty());
        assert_eq!(stats, SegmentStats::default());
        Ok(())
    }

    #[test]
    fn invalid_params_rejected() {
        for p in [
            SegmentParams {
                idle_gap_ms: 0.0,
                min_events: 4,
            },
            SegmentParams {
                idle_gap_ms: f64::NAN,
                min_events: 4,
            },
            SegmentParams {
                idle_gap_ms: 10.0,
                min_events: 0,
            },
        ] {
            assert!(
                matches!(p.check(), Err(Error::InvalidParameter { .. })),
                "{p:?}"
            );
        }
    }
}

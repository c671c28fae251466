//! Mouse segmentation and action features over arbitrary events: actions respect
//! `min_events`, and every feature is finite when the event values are finite.
#![no_main]
use arbitrary::Arbitrary;
use kinetype::events::{MouseButton, MouseEvent, MouseKind};
use kinetype::mouse::{SegmentParams, action_features, segment};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    idle_gap_ms: f64,
    min_events: u8,
    breaks: Vec<u16>,
    events: Vec<(f64, f64, f64, u8, u8)>,
}

fuzz_target!(|input: Input| {
    let buttons = [
        MouseButton::None,
        MouseButton::Left,
        MouseButton::Right,
        MouseButton::Middle,
        MouseButton::Other,
    ];
    let kinds = [
        MouseKind::Move,
        MouseKind::Press,
        MouseKind::Release,
        MouseKind::Drag,
        MouseKind::Scroll,
    ];
    let events: Vec<MouseEvent> = input
        .events
        .iter()
        .map(|&(time_ms, x, y, button, kind)| MouseEvent {
            time_ms,
            x,
            y,
            button: buttons[usize::from(button) % buttons.len()],
            kind: kinds[usize::from(kind) % kinds.len()],
        })
        .collect();
    let mut breaks: Vec<usize> = input.breaks.iter().map(|&b| usize::from(b)).collect();
    breaks.sort_unstable();
    breaks.dedup();
    let params = SegmentParams {
        idle_gap_ms: input.idle_gap_ms,
        min_events: input.min_events.into(),
    };
    let Ok((actions, _stats)) = segment(&events, &breaks, &params) else {
        return;
    };
    let finite = events
        .iter()
        .all(|e| e.time_ms.is_finite() && e.x.is_finite() && e.y.is_finite());
    for action in &actions {
        assert!(action.points.len() >= params.min_events);
        let features = action_features(action);
        if finite {
            assert!(
                features.iter().all(|f| f.is_finite()),
                "{features:?} of {action:?}"
            );
        }
    }
});

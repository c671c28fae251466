//! The engine's ingestion of arbitrary event batches, for an enrolled and an enrolling user.
//!
//! Each input is a sequence of operations: keyboard or mouse batches of arbitrary events (any
//! code, time, position, button and kind, including NaN and out-of-order times), clock steps,
//! scores, success reports and session ends. Invariants: nothing panics; a rejected batch
//! fails with `InvalidBatch` or `ResourceLimit`; after every batch the enrolled user's session
//! scores with trust and thresholds in [0, 1]; the enrolling user's status stays readable.
#![no_main]

#[path = "common/engine_fixture.rs"]
mod fixture;

use arbitrary::Arbitrary;
use kinetype::Error;
use kinetype::events::{KeyAction, KeyEvent, MouseButton, MouseEvent, MouseKind};
use libfuzzer_sys::fuzz_target;

const ENROLLING: &str = "enrolling";

#[derive(Arbitrary, Debug)]
struct Key {
    /// Small codes collide often, as real typing does; large ones test hashing.
    code: u8,
    wide_code: bool,
    press: bool,
    /// Step from the previous event in microseconds; negative steps go back in time.
    step_us: i32,
}

#[derive(Arbitrary, Debug)]
struct Mouse {
    step_ms: f32,
    x: f32,
    y: f32,
    button: u8,
    kind: u8,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Keys {
        enrolled: bool,
        session: u8,
        keys: Vec<Key>,
    },
    Mouse {
        enrolled: bool,
        session: u8,
        moves: Vec<Mouse>,
    },
    Advance {
        ms: u16,
    },
    Success {
        session: u8,
    },
    End {
        session: u8,
    },
    Finish,
}

impl Op {
    /// The enrolled user's session that the operation touches, if any.
    fn session(&self) -> Option<u64> {
        match *self {
            Op::Keys {
                enrolled: true,
                session,
                ..
            }
            | Op::Mouse {
                enrolled: true,
                session,
                ..
            }
            | Op::Success { session }
            | Op::End { session } => Some(u64::from(session)),
            _ => None,
        }
    }
}

fn key_events(start_us: i64, keys: &[Key]) -> Vec<KeyEvent> {
    let mut t = start_us;
    keys.iter()
        .map(|k| {
            t = t.saturating_add(i64::from(k.step_us));
            let code = if k.wide_code {
                u32::from(k.code) << 24
            } else {
                u32::from(k.code)
            };
            let action = if k.press {
                KeyAction::Press
            } else {
                KeyAction::Release
            };
            KeyEvent {
                code,
                action,
                time_us: t,
            }
        })
        .collect()
}

fn mouse_events(start_ms: f64, moves: &[Mouse]) -> Vec<MouseEvent> {
    const BUTTONS: [MouseButton; 5] = [
        MouseButton::None,
        MouseButton::Left,
        MouseButton::Right,
        MouseButton::Middle,
        MouseButton::Other,
    ];
    const KINDS: [MouseKind; 5] = [
        MouseKind::Move,
        MouseKind::Press,
        MouseKind::Release,
        MouseKind::Drag,
        MouseKind::Scroll,
    ];
    let mut t = start_ms;
    moves
        .iter()
        .map(|m| {
            t += f64::from(m.step_ms);
            MouseEvent {
                time_ms: t,
                x: f64::from(m.x),
                y: f64::from(m.y),
                button: BUTTONS[usize::from(m.button) % BUTTONS.len()],
                kind: KINDS[usize::from(m.kind) % KINDS.len()],
            }
        })
        .collect()
}

/// A batch either succeeds or is rejected as a whole with a batch or limit error.
fn check_ingest(result: kinetype::Result<()>) {
    match result {
        Ok(()) | Err(Error::InvalidBatch { .. } | Error::ResourceLimit { .. }) => {}
        Err(other) => panic!("ingestion failed with {other:?}"),
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let dir = fixture::scratch_dir("ingest");
    fixture::install_model(&dir, fixture::model_file());
    // No background people: extracting their sessions cost most of each run. `Finish` then
    // reaches enrolment's checks and ends in `NoBackground` once enough evidence is in.
    let (engine, clock) = fixture::engine(Some(dir), 0);
    engine
        .begin_enrolment(ENROLLING)
        .expect("a new user begins enrolment");
    // Batches continue from where the previous one of the same session ended, so time order
    // holds unless the fuzzer steps back.
    let mut key_clock = [0_i64; 256];
    let mut mouse_clock = [0_f64; 256];
    for op in ops.iter().take(64) {
        match op {
            Op::Keys {
                enrolled,
                session,
                keys,
            } => {
                let events = key_events(key_clock[usize::from(*session)], keys);
                if let Some(last) = events.last() {
                    key_clock[usize::from(*session)] = last.time_us;
                }
                let user = if *enrolled { fixture::USER } else { ENROLLING };
                check_ingest(engine.ingest_keyboard(user, u64::from(*session), &events));
            }
            Op::Mouse {
                enrolled,
                session,
                moves,
            } => {
                let events = mouse_events(mouse_clock[usize::from(*session)], moves);
                if let Some(last) = events.last().filter(|e| e.time_ms.is_finite()) {
                    mouse_clock[usize::from(*session)] = last.time_ms;
                }
                let user = if *enrolled { fixture::USER } else { ENROLLING };
                check_ingest(engine.ingest_mouse(user, u64::from(*session), &events));
            }
            Op::Advance { ms } => clock.advance_us(u64::from(*ms) * 1000),
            Op::Success { session } => {
                if let Err(e) = engine.report_success(fixture::USER, u64::from(*session)) {
                    panic!("report_success failed: {e}");
                }
            }
            Op::End { session } => {
                engine
                    .end_session(fixture::USER, u64::from(*session))
                    .expect("known user");
            }
            Op::Finish => match engine.finish_enrolment(ENROLLING) {
                Ok(report) => {
                    assert!((0.0..=1.0).contains(&report.allow_threshold), "{report:?}");
                    assert!(
                        (0.0..=1.0).contains(&report.impostor_allow_rate),
                        "{report:?}"
                    );
                    assert!(
                        (0.0..=1.0).contains(&report.genuine_allow_rate),
                        "{report:?}"
                    );
                }
                Err(Error::Enrolment { .. } | Error::InvalidTrainingData { .. }) => {}
                Err(other) => panic!("finish_enrolment failed with {other:?}"),
            },
        }
        for op_session in ops.iter().filter_map(Op::session) {
            let score = engine
                .score(fixture::USER, op_session)
                .expect("the user is enrolled");
            fixture::check_score(&score);
        }
        engine
            .enrolment_status(ENROLLING)
            .expect("the enrolling user exists");
    }
});

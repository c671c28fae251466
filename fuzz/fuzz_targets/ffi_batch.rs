//! The C API with arbitrary event arrays, user strings and sessions.
//!
//! The C API crate builds only C libraries, so this target compiles its modules from their
//! source files and calls the `extern "C"` functions as a C caller would. One engine is created
//! per process through `kinetype_engine_new`, because deriving its free-text key classes costs
//! more than a whole run. Each input installs the enrolled user's model file first and removes
//! both users at its end, so every input starts from the same user state.
//!
//! Invariants: no call returns `KINETYPE_STATUS_PANIC` or `KINETYPE_STATUS_INTERNAL`. A failed
//! score leaves its output untouched. A successful score or decision has trust and thresholds
//! in [0, 1].
#![no_main]
#![allow(non_camel_case_types, reason = "the C API's type names")]

// The C API's modules name the core library `kinetype_core`.
extern crate kinetype as kinetype_core;

#[allow(dead_code, reason = "the C API checks scores through its own types")]
#[path = "common/engine_fixture.rs"]
mod fixture;

#[allow(dead_code, unused_imports)]
#[path = "../../ffi/src/boundary.rs"]
mod boundary;
#[allow(dead_code, unused_imports)]
#[path = "../../ffi/src/config.rs"]
mod config;
#[allow(dead_code, unused_imports)]
#[path = "../../ffi/src/engine.rs"]
mod engine;
#[allow(dead_code, unused_imports)]
#[path = "../../ffi/src/events.rs"]
mod events;
#[allow(dead_code, unused_imports)]
#[path = "../../ffi/src/results.rs"]
mod results;
#[allow(dead_code, unused_imports)]
#[path = "../../ffi/src/status.rs"]
mod status;

use std::ffi::{CString, c_char};
use std::mem::MaybeUninit;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use config::{kinetype_config, kinetype_config_default};
use engine::*;
use events::{kinetype_key_event, kinetype_mouse_event};
use results::{kinetype_decision, kinetype_enrolment_status, kinetype_score};
use status::kinetype_status;

const ENROLLING: &str = "enrolling";

/// The user a call names: the enrolled user, the enrolling one, arbitrary bytes, or NULL.
#[derive(Arbitrary, Debug)]
enum UserName {
    Enrolled,
    Enrolling,
    /// Cut at the first NUL; may be invalid UTF-8.
    Bytes(Vec<u8>),
    Null,
}

#[derive(Arbitrary, Debug)]
struct Key {
    code: u16,
    /// Actions past the last valid one test the conversion's check.
    action: u8,
    /// Step from the previous event in microseconds; negative steps go back in time.
    step_us: i32,
}

#[derive(Arbitrary, Debug)]
struct Mouse {
    step_ms: f32,
    x: f64,
    y: f64,
    button: u8,
    kind: u8,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Keys {
        user_name: UserName,
        session: u8,
        keys: Vec<Key>,
    },
    Mouse {
        user_name: UserName,
        session: u8,
        moves: Vec<Mouse>,
    },
    Score {
        user_name: UserName,
        session: u8,
    },
    Decide {
        user_name: UserName,
        session: u8,
    },
    Success {
        user_name: UserName,
        session: u8,
    },
    Revert {
        user_name: UserName,
    },
    Status {
        user_name: UserName,
    },
    Finish {
        user_name: UserName,
    },
    End {
        user_name: UserName,
        session: u8,
    },
}

/// Returns the process's engine handle, created on first use and never freed. It is kept as
/// an address because raw pointers are not `Sync`.
fn handle() -> *const kinetype_engine {
    static HANDLE: OnceLock<usize> = OnceLock::new();
    let address = *HANDLE.get_or_init(|| {
        let dir = fixture::scratch_dir("ffi");
        fixture::install_model(&dir, fixture::model_file());
        let dir = CString::new(dir.to_string_lossy().into_owned()).expect("no NUL in the path");
        let mut config = MaybeUninit::<kinetype_config>::uninit();
        // SAFETY: `config` is valid for writing one configuration.
        let status = unsafe { kinetype_config_default(config.as_mut_ptr()) };
        assert_eq!(status, kinetype_status::Ok);
        // SAFETY: `kinetype_config_default` returned OK, so it wrote the configuration.
        let mut config = unsafe { config.assume_init() };
        config.model_dir = dir.as_ptr();
        config.secret = fixture::SECRET.as_ptr();
        config.secret_len = fixture::SECRET.len();
        let mut engine: *mut kinetype_engine = std::ptr::null_mut();
        // SAFETY: `config` is filled and its strings outlive the call; `engine` is writable.
        let status = unsafe { kinetype_engine_new(&config, &mut engine) };
        assert_eq!(status, kinetype_status::Ok);
        engine as usize
    });
    address as *const kinetype_engine
}

/// Checks that a call's status is one the C API may return for a caller's mistake or state.
fn check_status(status: kinetype_status, call: &str) {
    assert!(
        !matches!(status, kinetype_status::Panic | kinetype_status::Internal),
        "{call} returned {status:?}"
    );
}

fn check_score(score: &kinetype_score) {
    for value in [score.trust, score.allow_threshold, score.lockout_threshold] {
        assert!((0.0..=1.0).contains(&value), "{score:?}");
    }
    if score.has_window {
        assert!((0.0..=1.0).contains(&score.window), "{score:?}");
    }
}

/// Returns the C string of `user_name`, which keeps the pointer valid, and the pointer to pass.
fn user(user_name: &UserName) -> (Option<CString>, *const c_char) {
    let owned = match user_name {
        UserName::Enrolled => CString::new(fixture::USER).ok(),
        UserName::Enrolling => CString::new(ENROLLING).ok(),
        UserName::Bytes(bytes) => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            CString::new(&bytes[..end]).ok()
        }
        UserName::Null => None,
    };
    let pointer = owned.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    (owned, pointer)
}

fuzz_target!(|ops: Vec<Op>| {
    let engine = handle();
    fixture::install_model(&fixture::scratch_dir("ffi"), fixture::model_file());
    let enrolled = CString::new(fixture::USER).expect("no NUL");
    let mut first = MaybeUninit::<kinetype_score>::uninit();
    // SAFETY: the handle is live, the string NUL-terminated and `first` writable.
    let status = unsafe { kinetype_engine_score(engine, enrolled.as_ptr(), 0, first.as_mut_ptr()) };
    assert_eq!(
        status,
        kinetype_status::Ok,
        "the enrolled user's model file loads"
    );
    let enrolling = CString::new(ENROLLING).expect("no NUL");
    // SAFETY: the handle is live and the string NUL-terminated.
    let status = unsafe { kinetype_engine_begin_enrolment(engine, enrolling.as_ptr()) };
    check_status(status, "begin_enrolment");
    let mut key_clock = [0_i64; 256];
    let mut mouse_clock = [0_f64; 256];
    for op in ops.iter().take(64) {
        match op {
            Op::Keys {
                user_name,
                session,
                keys,
            } => {
                let (_owner, name) = user(user_name);
                let mut t = key_clock[usize::from(*session)];
                let events: Vec<kinetype_key_event> = keys
                    .iter()
                    .map(|k| {
                        t = t.saturating_add(i64::from(k.step_us));
                        kinetype_key_event {
                            code: u32::from(k.code),
                            action: u32::from(k.action % 3),
                            time_us: t,
                        }
                    })
                    .collect();
                key_clock[usize::from(*session)] = t;
                // SAFETY: `events` contains `len` events and `name` is NULL or NUL-terminated.
                let status = unsafe {
                    kinetype_engine_ingest_keyboard(
                        engine,
                        name,
                        u64::from(*session),
                        events.as_ptr(),
                        events.len(),
                    )
                };
                check_status(status, "ingest_keyboard");
            }
            Op::Mouse {
                user_name,
                session,
                moves,
            } => {
                let (_owner, name) = user(user_name);
                let mut t = mouse_clock[usize::from(*session)];
                let events: Vec<kinetype_mouse_event> = moves
                    .iter()
                    .map(|m| {
                        t += f64::from(m.step_ms);
                        kinetype_mouse_event {
                            time_ms: t,
                            x_px: m.x,
                            y_px: m.y,
                            button: u32::from(m.button % 6),
                            kind: u32::from(m.kind % 6),
                        }
                    })
                    .collect();
                if t.is_finite() {
                    mouse_clock[usize::from(*session)] = t;
                }
                // SAFETY: as for key events.
                let status = unsafe {
                    kinetype_engine_ingest_mouse(
                        engine,
                        name,
                        u64::from(*session),
                        events.as_ptr(),
                        events.len(),
                    )
                };
                check_status(status, "ingest_mouse");
            }
            Op::Score { user_name, session } => {
                let (_owner, name) = user(user_name);
                let mut out = MaybeUninit::<kinetype_score>::zeroed();
                // SAFETY: `out` is valid for writing one score.
                let status = unsafe {
                    kinetype_engine_score(engine, name, u64::from(*session), out.as_mut_ptr())
                };
                check_status(status, "score");
                // SAFETY: zeroed is a valid score (all numbers and flags 0, no enum field).
                let out = unsafe { out.assume_init() };
                if status == kinetype_status::Ok {
                    check_score(&out);
                } else {
                    assert_eq!(out.trust, 0.0, "a failed score wrote its output");
                }
            }
            Op::Decide { user_name, session } => {
                let (_owner, name) = user(user_name);
                let mut out = MaybeUninit::<kinetype_decision>::uninit();
                // SAFETY: `out` is valid for writing one decision.
                let status = unsafe {
                    kinetype_engine_decide(engine, name, u64::from(*session), out.as_mut_ptr())
                };
                check_status(status, "decide");
                if status == kinetype_status::Ok {
                    // SAFETY: an OK decide wrote the decision.
                    check_score(&unsafe { out.assume_init() }.score);
                }
            }
            Op::Success { user_name, session } => {
                let (_owner, name) = user(user_name);
                let mut out = MaybeUninit::<results::kinetype_adaptation>::uninit();
                // SAFETY: `out` is valid for writing one adaptation.
                let status = unsafe {
                    kinetype_engine_report_success(
                        engine,
                        name,
                        u64::from(*session),
                        out.as_mut_ptr(),
                    )
                };
                check_status(status, "report_success");
            }
            Op::Revert { user_name } => {
                let (_owner, name) = user(user_name);
                // SAFETY: `name` is NULL or NUL-terminated.
                let status = unsafe { kinetype_engine_revert_adaptation(engine, name) };
                check_status(status, "revert_adaptation");
            }
            Op::Status { user_name } => {
                let (_owner, name) = user(user_name);
                let mut out = MaybeUninit::<kinetype_enrolment_status>::uninit();
                // SAFETY: `out` is valid for writing one status.
                let status =
                    unsafe { kinetype_engine_enrolment_status(engine, name, out.as_mut_ptr()) };
                check_status(status, "enrolment_status");
            }
            Op::Finish { user_name } => {
                let (_owner, name) = user(user_name);
                let mut out = MaybeUninit::<results::kinetype_enrolment_report>::uninit();
                // SAFETY: `out` is valid for writing one report.
                let status =
                    unsafe { kinetype_engine_finish_enrolment(engine, name, out.as_mut_ptr()) };
                check_status(status, "finish_enrolment");
            }
            Op::End { user_name, session } => {
                let (_owner, name) = user(user_name);
                // SAFETY: `name` is NULL or NUL-terminated.
                let status =
                    unsafe { kinetype_engine_end_session(engine, name, u64::from(*session)) };
                check_status(status, "end_session");
            }
        }
    }
    // Forget both users so the next input starts as this one did. Removing the enrolled user
    // deletes its model file, which the next input installs again.
    for name in [enrolled, enrolling] {
        // SAFETY: the handle is live and the string NUL-terminated.
        let status = unsafe { kinetype_engine_remove_user(engine, name.as_ptr()) };
        check_status(status, "remove_user");
    }
});

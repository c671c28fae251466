//! The engine handle and its functions.
//!
//! Every function here except `kinetype_engine_new` and `kinetype_engine_free` takes a
//! `const kinetype_engine *` and may be called from any number of threads at once on the same
//! handle: the engine keeps per-user state behind per-user locks.

use std::ffi::c_char;

use kinetype_core::engine::{DefaultEngine, FreeTextModality, MouseModality, MouseModelKind};
use kinetype_core::mouse::SegmentParams;

use crate::boundary::{arg_out, arg_ref, arg_slice, arg_str, guard};
use crate::config::kinetype_config;
use crate::events::{key_events, kinetype_key_event, kinetype_mouse_event, mouse_events};
use crate::results::{
    self, kinetype_adaptation, kinetype_decision, kinetype_enrolment_report,
    kinetype_enrolment_status, kinetype_score,
};
use crate::status::{Failure, kinetype_status};

/// An engine with the default modalities (free-text keystroke timings and segmented mouse
/// actions). Opaque: create it with `kinetype_engine_new`, release it with
/// `kinetype_engine_free`.
#[derive(Debug)]
pub struct kinetype_engine {
    inner: DefaultEngine,
}

/// Creates an engine from `*config` and writes its handle to `*out`.
///
/// The configuration's strings and secret are copied, so `config` may be released after the
/// call. The model directory is created when missing; models already in it load on first use
/// of each user.
///
/// Returns `KINETYPE_STATUS_INVALID_ARGUMENT` for an invalid field (the message names it),
/// `KINETYPE_STATUS_INVALID_UTF8` for a model directory that is not UTF-8, and
/// `KINETYPE_STATUS_IO_ERROR` when the directory cannot be created. Thread-safe.
///
/// # Safety
///
/// `config` must be NULL or point to a `kinetype_config` filled by `kinetype_config_default`
/// whose `model_dir` is NULL or NUL-terminated and whose `secret` points to `secret_len`
/// bytes. `out` must be NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_new(
    config: *const kinetype_config,
    out: *mut *mut kinetype_engine,
) -> kinetype_status {
    guard(|| {
        let out = arg_out(out, "out")?;
        // SAFETY: `config` is NULL or valid by the caller's contract.
        let config = unsafe { arg_ref(config, "config") }?;
        let mouse = if config.mouse_one_class {
            MouseModality::with_model(SegmentParams::default(), MouseModelKind::OneClass)?
        } else {
            MouseModality::default()
        };
        // SAFETY: the string and secret pointers are valid by the caller's contract.
        let config = unsafe { config.to_core() }?;
        let keyboard = FreeTextModality::new(&config.secret);
        let inner = DefaultEngine::new(config, keyboard, mouse)?;
        let handle = Box::into_raw(Box::new(kinetype_engine { inner }));
        // SAFETY: `out` is non-null and valid for writing by the caller's contract.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Releases an engine. NULL is accepted and ignored.
///
/// Not thread-safe with respect to the handle: no other call may use `engine` during or after
/// this one. Models already saved stay on disk.
///
/// # Safety
///
/// `engine` must be NULL or a handle from `kinetype_engine_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_free(engine: *mut kinetype_engine) {
    // The status is dropped: freeing reports nothing, and a panic while dropping is caught.
    let _ = guard(|| {
        if !engine.is_null() {
            // SAFETY: a non-null `engine` came from `Box::into_raw` in `kinetype_engine_new`
            // and is freed once, by the caller's contract.
            drop(unsafe { Box::from_raw(engine) });
        }
        Ok(())
    });
}

/// Borrows the engine and the user id shared by most functions.
///
/// # Safety
///
/// `engine` must be NULL or a live handle; `user` must be NULL or NUL-terminated.
unsafe fn engine_and_user<'a>(
    engine: *const kinetype_engine,
    user: *const c_char,
) -> Result<(&'a DefaultEngine, &'a str), Failure> {
    // SAFETY: forwarded from this function's contract.
    let engine = unsafe { arg_ref(engine, "engine") }?;
    // SAFETY: forwarded from this function's contract.
    let user = unsafe { arg_str(user, "user") }?;
    Ok((&engine.inner, user))
}

/// Runs `call` with the engine and user of a session call and writes its result to `*out`.
///
/// # Safety
///
/// As [`engine_and_user`]; `out` must be NULL or valid for writing.
unsafe fn write_result<T>(
    engine: *const kinetype_engine,
    user: *const c_char,
    out: *mut T,
    call: impl FnOnce(&DefaultEngine, &str) -> Result<T, Failure>,
) -> kinetype_status {
    guard(|| {
        let out = arg_out(out, "out")?;
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        let value = call(engine, user)?;
        // SAFETY: `out` is non-null and valid for writing by the caller's contract.
        unsafe { out.write(value) };
        Ok(())
    })
}

/// Rejects a batch above the configured size before copying it.
fn check_batch_len(engine: &DefaultEngine, len: usize) -> Result<(), Failure> {
    let max = engine.config().limits.max_batch_events;
    if len > max {
        return Err(Failure::invalid(format!(
            "the batch has {len} events but at most {max} are accepted; split it"
        )));
    }
    Ok(())
}

/// Ingests `len` key events of `session` of `user`.
///
/// Events must be in time order, also across calls for the same session. The whole batch is
/// validated before any of it is applied. Returns `KINETYPE_STATUS_INVALID_ARGUMENT` for an
/// empty or oversized batch, a negative timestamp, time going backwards or an unknown
/// `action`, and `KINETYPE_STATUS_NOT_FOUND` for a user who never began enrolment.
/// Thread-safe.
///
/// # Safety
///
/// `engine` must be NULL or a live handle, `user` NULL or NUL-terminated, and `events` must
/// point to `len` events (it may be NULL when `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_ingest_keyboard(
    engine: *const kinetype_engine,
    user: *const c_char,
    session: u64,
    events: *const kinetype_key_event,
    len: usize,
) -> kinetype_status {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        // SAFETY: `events` points to `len` events by the caller's contract.
        let events = unsafe { arg_slice(events, len, "events") }?;
        check_batch_len(engine, len)?;
        let events = key_events(events, "events")?;
        engine.ingest_keyboard(user, session, &events)?;
        Ok(())
    })
}

/// Ingests `len` mouse events of `session` of `user`; see `kinetype_engine_ingest_keyboard`.
///
/// Also returns `KINETYPE_STATUS_INVALID_ARGUMENT` for a NaN or infinite `time_ms`, `x_px`
/// or `y_px` and an unknown `button` or `kind`. Thread-safe.
///
/// # Safety
///
/// As `kinetype_engine_ingest_keyboard`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_ingest_mouse(
    engine: *const kinetype_engine,
    user: *const c_char,
    session: u64,
    events: *const kinetype_mouse_event,
    len: usize,
) -> kinetype_status {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        // SAFETY: `events` points to `len` events by the caller's contract.
        let events = unsafe { arg_slice(events, len, "events") }?;
        check_batch_len(engine, len)?;
        let events = mouse_events(events, "events")?;
        engine.ingest_mouse(user, session, &events)?;
        Ok(())
    })
}

/// Writes the trust and evidence of `session` of `user` to `*out`. A session with no events
/// yet reports initial trust and no evidence.
///
/// Returns `KINETYPE_STATUS_NOT_FOUND` for an unknown user and `KINETYPE_STATUS_NOT_ENROLLED`
/// while the user is enrolling. Thread-safe.
///
/// # Safety
///
/// `engine` must be NULL or a live handle, `user` NULL or NUL-terminated, `out` NULL or valid
/// for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_score(
    engine: *const kinetype_engine,
    user: *const c_char,
    session: u64,
    out: *mut kinetype_score,
) -> kinetype_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        write_result(engine, user, out, |engine, user| {
            Ok(results::score(&engine.score(user, session)?))
        })
    }
}

/// Decides whether `session` of `user` may continue and writes the verdict, its reason and
/// the score to `*out`. The rules, strongest first: a replay denies, a lock-out denies,
/// missing recent evidence steps up, synthetic timing steps up, a window statistic at or
/// below the allow threshold steps up, and otherwise the session is allowed.
///
/// Returns as `kinetype_engine_score`. Thread-safe.
///
/// # Safety
///
/// As `kinetype_engine_score`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_decide(
    engine: *const kinetype_engine,
    user: *const c_char,
    session: u64,
    out: *mut kinetype_decision,
) -> kinetype_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        write_result(engine, user, out, |engine, user| {
            results::decision(&engine.decide(user, session)?)
        })
    }
}

/// Records that the user of `session` passed another authentication factor: the session's
/// trust returns to its initial value, its lock is lifted, and each template may absorb the
/// session's recent actions when they were already close to it. Writes which templates
/// changed to `*out`.
///
/// Returns `KINETYPE_STATUS_NOT_FOUND`, `KINETYPE_STATUS_NOT_ENROLLED`, or
/// `KINETYPE_STATUS_IO_ERROR` when the adapted model cannot be saved (the template then
/// stays as it was). Thread-safe.
///
/// # Safety
///
/// As `kinetype_engine_score`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_report_success(
    engine: *const kinetype_engine,
    user: *const c_char,
    session: u64,
    out: *mut kinetype_adaptation,
) -> kinetype_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        write_result(engine, user, out, |engine, user| {
            Ok(results::adaptation(&engine.report_success(user, session)?))
        })
    }
}

/// Restores both of `user`'s templates to what enrolment trained and saves the model.
///
/// Returns `KINETYPE_STATUS_NOT_FOUND`, `KINETYPE_STATUS_NOT_ENROLLED`,
/// `KINETYPE_STATUS_NOTHING_TO_REVERT` or `KINETYPE_STATUS_IO_ERROR`. Thread-safe.
///
/// # Safety
///
/// `engine` must be NULL or a live handle and `user` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_revert_adaptation(
    engine: *const kinetype_engine,
    user: *const c_char,
) -> kinetype_status {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        engine.revert_adaptation(user)?;
        Ok(())
    })
}

/// Starts collecting enrolment data for `user`; a user already collecting is left as is.
///
/// Returns `KINETYPE_STATUS_ALREADY_ENROLLED` when the user has a model (in memory or on
/// disk), `KINETYPE_STATUS_RESOURCE_LIMIT` beyond `max_users`, and
/// `KINETYPE_STATUS_CORRUPT_MODEL` when the user's model file cannot be read. Thread-safe.
///
/// # Safety
///
/// `engine` must be NULL or a live handle and `user` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_begin_enrolment(
    engine: *const kinetype_engine,
    user: *const c_char,
) -> kinetype_status {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        engine.begin_enrolment(user)?;
        Ok(())
    })
}

/// Writes the progress of `user`'s enrolment to `*out`.
///
/// Returns `KINETYPE_STATUS_NOT_FOUND` when the user never began enrolment. Thread-safe.
///
/// # Safety
///
/// As `kinetype_engine_score`, without a session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_enrolment_status(
    engine: *const kinetype_engine,
    user: *const c_char,
    out: *mut kinetype_enrolment_status,
) -> kinetype_status {
    guard(|| {
        let out = arg_out(out, "out")?;
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        let status = results::enrolment_status(&engine.enrolment_status(user)?)?;
        // SAFETY: `out` is non-null and valid for writing by the caller's contract.
        unsafe { out.write(status) };
        Ok(())
    })
}

/// Trains `user`'s templates on the collected enrolment data, calibrates them against the
/// background sessions, sets the allow threshold for the target FMR, saves the model when a
/// model directory is configured, and writes the figures to `*out`.
///
/// Training can take seconds. Other threads' calls for the same user go on meanwhile, but
/// events they send during training are not in the model: they are dropped when it is
/// installed. A second call for the same user waits for the first.
///
/// Returns `KINETYPE_STATUS_ALREADY_ENROLLED`, `KINETYPE_STATUS_NOT_ENOUGH_EVIDENCE`,
/// `KINETYPE_STATUS_NO_BACKGROUND`, `KINETYPE_STATUS_TRAINING_FAILED`, or
/// `KINETYPE_STATUS_IO_ERROR` when the model cannot be saved (the collected data is kept, so
/// the call can be retried). Thread-safe.
///
/// # Safety
///
/// As `kinetype_engine_enrolment_status`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_finish_enrolment(
    engine: *const kinetype_engine,
    user: *const c_char,
    out: *mut kinetype_enrolment_report,
) -> kinetype_status {
    guard(|| {
        let out = arg_out(out, "out")?;
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        let report = engine.finish_enrolment(user)?;
        // SAFETY: `out` is non-null and valid for writing by the caller's contract.
        unsafe { out.write(results::enrolment_report(&report)) };
        Ok(())
    })
}

/// Adds one background session, used to calibrate impostor scores of users who enrol
/// afterwards. The session counts as a person of its own; call
/// `kinetype_engine_add_background_session_of` for several sessions of one person. Either
/// array may be empty (its pointer may then be NULL); the batch-size limit does not apply.
///
/// Returns `KINETYPE_STATUS_INVALID_ARGUMENT` for invalid events and
/// `KINETYPE_STATUS_RESOURCE_LIMIT` beyond `max_background_users`. Thread-safe.
///
/// # Safety
///
/// `engine` must be NULL or a live handle; `keys` must point to `keys_len` events and
/// `mouse` to `mouse_len` events (each may be NULL when its length is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_add_background_session(
    engine: *const kinetype_engine,
    keys: *const kinetype_key_event,
    keys_len: usize,
    mouse: *const kinetype_mouse_event,
    mouse_len: usize,
) -> kinetype_status {
    let events = (keys, keys_len, mouse, mouse_len);
    // SAFETY: forwarded from this function's contract.
    unsafe { add_background(engine, None, events) }
}

/// Adds one session of the background person `person`, as
/// `kinetype_engine_add_background_session` does. Sessions with the same `person` are one
/// person's: the two-class mouse model calibrates its impostor scores only with models fitted
/// without the scored person, so it needs to know whose sessions belong together. Sessions
/// named after a user are left out of that user's background at enrolment. The engine keeps
/// only a keyed hash of `person`.
///
/// Returns `KINETYPE_STATUS_NULL_POINTER` for a NULL `person`,
/// `KINETYPE_STATUS_INVALID_ARGUMENT` for an empty `person` or invalid events,
/// `KINETYPE_STATUS_INVALID_UTF8` for a `person` that is not UTF-8, and
/// `KINETYPE_STATUS_RESOURCE_LIMIT` beyond `max_background_users`. Thread-safe.
///
/// # Safety
///
/// As `kinetype_engine_add_background_session`, and `person` must be NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_add_background_session_of(
    engine: *const kinetype_engine,
    person: *const c_char,
    keys: *const kinetype_key_event,
    keys_len: usize,
    mouse: *const kinetype_mouse_event,
    mouse_len: usize,
) -> kinetype_status {
    let events = (keys, keys_len, mouse, mouse_len);
    // SAFETY: forwarded from this function's contract.
    unsafe { add_background(engine, Some(person), events) }
}

/// A background session's event arrays: keys, their length, mouse events, their length.
type BackgroundArrays = (
    *const kinetype_key_event,
    usize,
    *const kinetype_mouse_event,
    usize,
);

/// Adds a background session for both C functions: of `person` when it is given, else as a
/// person of its own. Checks the arguments in the order engine, person, events.
///
/// # Safety
///
/// `engine` must be NULL or a live handle, `person` NULL or NUL-terminated, and each array
/// must contain its given number of events (it may be NULL when that number is 0).
unsafe fn add_background(
    engine: *const kinetype_engine,
    person: Option<*const c_char>,
    (keys, keys_len, mouse, mouse_len): BackgroundArrays,
) -> kinetype_status {
    guard(|| {
        // SAFETY: `engine` is NULL or a live handle by the caller's contract.
        let engine = &unsafe { arg_ref(engine, "engine") }?.inner;
        let person = match person {
            // SAFETY: `person` is NULL or NUL-terminated by the caller's contract.
            Some(person) => Some(unsafe { arg_str(person, "person") }?),
            None => None,
        };
        if person == Some("") {
            return Err(Failure::invalid(
                "person is empty; pass the background person's name or id",
            ));
        }
        // SAFETY: `keys` contains `keys_len` events by the caller's contract.
        let keys = key_events(unsafe { arg_slice(keys, keys_len, "keys") }?, "keys")?;
        // SAFETY: `mouse` contains `mouse_len` events by the caller's contract.
        let mouse = mouse_events(unsafe { arg_slice(mouse, mouse_len, "mouse") }?, "mouse")?;
        match person {
            Some(person) => engine.add_background_session_of(person, &keys, &mouse)?,
            None => engine.add_background_session(&keys, &mouse)?,
        }
        Ok(())
    })
}

/// Forgets the state of `session` of `user`; an unknown session is ignored.
///
/// With a model directory, it then writes the user's file when the session changed it (an
/// enrolled user's replay hashes, or a user's enrolment actions), so a crash after the call
/// loses neither.
///
/// Returns `KINETYPE_STATUS_NOT_FOUND` for an unknown user, `KINETYPE_STATUS_IO_ERROR` when
/// the file cannot be written (the session is forgotten even then). Thread-safe.
///
/// # Safety
///
/// `engine` must be NULL or a live handle and `user` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_end_session(
    engine: *const kinetype_engine,
    user: *const c_char,
    session: u64,
) -> kinetype_status {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        engine.end_session(user, session)?;
        Ok(())
    })
}

/// Removes `user` from memory and deletes their model file.
///
/// Returns `KINETYPE_STATUS_IO_ERROR` when the file cannot be deleted. Thread-safe.
///
/// # Safety
///
/// `engine` must be NULL or a live handle and `user` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_remove_user(
    engine: *const kinetype_engine,
    user: *const c_char,
) -> kinetype_status {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let (engine, user) = unsafe { engine_and_user(engine, user) }?;
        engine.remove_user(user)?;
        Ok(())
    })
}

/// Writes every user in memory to the model directory (enrolled users' models and the
/// collected data of users still enrolling) and writes the number of users saved to `*out`.
/// Call it before shutting down so that a restart continues where this process stopped;
/// session trust is not saved, so every session starts again after a restart.
///
/// Returns `KINETYPE_STATUS_INVALID_ARGUMENT` when the engine has no model directory and
/// `KINETYPE_STATUS_IO_ERROR` for the first file that cannot be written (users before it are
/// saved, and the call can be repeated). Thread-safe; ingestion for a user waits while that
/// user's file is written.
///
/// # Safety
///
/// `engine` must be NULL or a live handle and `out` NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_engine_save(
    engine: *const kinetype_engine,
    out: *mut usize,
) -> kinetype_status {
    guard(|| {
        let out = arg_out(out, "out")?;
        // SAFETY: `engine` is NULL or a live handle by the caller's contract.
        let engine = &unsafe { arg_ref(engine, "engine") }?.inner;
        let written = engine.save_all()?;
        // SAFETY: `out` is non-null and valid for writing by the caller's contract.
        unsafe { out.write(written) };
        Ok(())
    })
}

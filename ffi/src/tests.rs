//! Calls the exported functions directly, as a C caller would, with malformed input.

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use super::*;

const SECRET: &[u8] = b"ffi-test-secret-0123456789";

/// Browser key codes of the phrase the synthetic typists type: "THE QUICK FOX".
const PHRASE: [u32; 13] = [84, 72, 69, 32, 81, 85, 73, 67, 75, 32, 70, 79, 88];

/// A seeded xorshift generator, enough for jittered synthetic timings.
struct Jitter(u64);

impl Jitter {
    fn new(seed: u64) -> Self {
        Jitter(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A value in `[low, high)`.
    fn range(&mut self, low: f64, high: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + (high - low) * (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A synthetic person with their own hold times, latencies and mouse speed.
struct Person {
    holds_ms: [f64; 13],
    latencies_ms: [f64; 13],
    speed: f64,
    click_ms: f64,
}

impl Person {
    fn new(seed: u64) -> Self {
        let mut j = Jitter::new(seed);
        let mut person = Person {
            holds_ms: [0.0; 13],
            latencies_ms: [0.0; 13],
            speed: j.range(4.0, 20.0),
            click_ms: j.range(70.0, 200.0),
        };
        for i in 0..13 {
            person.holds_ms[i] = j.range(60.0, 160.0);
            person.latencies_ms[i] = j.range(120.0, 320.0);
        }
        person
    }

    fn typing(&self, times: usize, seed: u64) -> Vec<kinetype_key_event> {
        let mut j = Jitter::new(seed);
        let mut events = Vec::new();
        let mut t = 0i64;
        for _ in 0..times {
            for (i, &code) in PHRASE.iter().enumerate() {
                t += (self.latencies_ms[i] * j.range(0.92, 1.08) * 1000.0) as i64;
                let hold = (self.holds_ms[i] * j.range(0.92, 1.08) * 1000.0) as i64;
                events.push(key(code, kinetype_key_action::Press, t));
                events.push(key(code, kinetype_key_action::Release, t + hold));
            }
            t += 1_000_000;
        }
        events.sort_by_key(|e| e.time_us);
        events
    }

    fn mousing(&self, clicks: usize, seed: u64) -> Vec<kinetype_mouse_event> {
        let mut j = Jitter::new(seed);
        let mut events = Vec::new();
        let mut t = 0.0;
        for _ in 0..clicks {
            let speed = self.speed * j.range(0.9, 1.1);
            let angle = j.range(0.0, std::f64::consts::TAU);
            let (x0, y0) = (j.range(200.0, 800.0), j.range(200.0, 600.0));
            let mut at = (x0, y0);
            for i in 0..12 {
                let along = speed * f64::from(i);
                at = (x0 + along * angle.cos(), y0 + along * angle.sin());
                events.push(mouse(t, at.0, at.1, kinetype_mouse_kind::Move));
                t += 16.0;
            }
            let mut press = mouse(t, at.0, at.1, kinetype_mouse_kind::Press);
            press.button = kinetype_mouse_button::Left as u32;
            events.push(press);
            t += self.click_ms * j.range(0.9, 1.1);
            events.push(kinetype_mouse_event {
                time_ms: t,
                kind: kinetype_mouse_kind::Release as u32,
                ..press
            });
            t += j.range(300.0, 1500.0);
        }
        events
    }
}

fn key(code: u32, action: kinetype_key_action, time_us: i64) -> kinetype_key_event {
    kinetype_key_event {
        code,
        action: action as u32,
        time_us,
    }
}

fn mouse(time_ms: f64, x_px: f64, y_px: f64, kind: kinetype_mouse_kind) -> kinetype_mouse_event {
    kinetype_mouse_event {
        time_ms,
        x_px,
        y_px,
        button: kinetype_mouse_button::None as u32,
        kind: kind as u32,
    }
}

fn last_error() -> String {
    let mut needed = 0usize;
    // SAFETY: a NULL buffer with length 0 queries the size; `needed` is a valid local.
    let status = unsafe { kinetype_last_error_message(ptr::null_mut(), 0, &mut needed) };
    assert_eq!(status, kinetype_status::BufferTooSmall);
    let mut buf = vec![0 as c_char; needed];
    // SAFETY: `buf` has `needed` bytes.
    let status = unsafe { kinetype_last_error_message(buf.as_mut_ptr(), buf.len(), &mut needed) };
    assert_eq!(status, kinetype_status::Ok);
    // SAFETY: the function wrote a NUL-terminated string into `buf`.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .expect("messages are UTF-8")
        .to_owned()
}

fn config(model_dir: Option<&CStr>) -> kinetype_config {
    let mut config = std::mem::MaybeUninit::<kinetype_config>::uninit();
    // SAFETY: `config` is valid for writing one struct.
    let status = unsafe { kinetype_config_default(config.as_mut_ptr()) };
    assert_eq!(status, kinetype_status::Ok);
    // SAFETY: initialised by the successful call above.
    let mut config = unsafe { config.assume_init() };
    config.secret = SECRET.as_ptr();
    config.secret_len = SECRET.len();
    config.model_dir = model_dir.map_or(ptr::null(), CStr::as_ptr);
    config.enrolment_evidence_keyboard = 250;
    config.enrolment_evidence_mouse = 40;
    config.min_evidence_keyboard = 20;
    config.min_evidence_mouse = 10;
    config
}

/// An engine handle freed on drop.
struct Engine(*mut kinetype_engine);

impl Engine {
    fn new(config: &kinetype_config) -> Self {
        let mut handle = ptr::null_mut();
        // SAFETY: `config` is filled by `kinetype_config_default`; `handle` is a valid local.
        let status = unsafe { kinetype_engine_new(config, &mut handle) };
        assert_eq!(status, kinetype_status::Ok, "{}", last_error());
        Engine(handle)
    }

    fn with_background(config: &kinetype_config) -> Self {
        let engine = Engine::new(config);
        for b in 0..6 {
            let person = Person::new(20_000 + b);
            let (keys, mouse) = (person.typing(20, b), person.mousing(40, b));
            // SAFETY: live handle; both arrays have the given lengths.
            let status = unsafe {
                kinetype_engine_add_background_session(
                    engine.0,
                    keys.as_ptr(),
                    keys.len(),
                    mouse.as_ptr(),
                    mouse.len(),
                )
            };
            assert_eq!(status, kinetype_status::Ok, "{}", last_error());
        }
        engine
    }

    fn enrol(&self, user: &CStr, person: &Person) {
        let (keys, mouse) = (person.typing(22, 1), person.mousing(45, 1));
        // SAFETY: live handle, NUL-terminated user, arrays with the given lengths, and a
        // valid output struct.
        unsafe {
            assert_eq!(
                kinetype_engine_begin_enrolment(self.0, user.as_ptr()),
                kinetype_status::Ok
            );
            assert_eq!(
                kinetype_engine_ingest_keyboard(
                    self.0,
                    user.as_ptr(),
                    0,
                    keys.as_ptr(),
                    keys.len()
                ),
                kinetype_status::Ok,
                "{}",
                last_error()
            );
            assert_eq!(
                kinetype_engine_ingest_mouse(self.0, user.as_ptr(), 0, mouse.as_ptr(), mouse.len()),
                kinetype_status::Ok,
                "{}",
                last_error()
            );
            let mut report = std::mem::MaybeUninit::uninit();
            let status =
                kinetype_engine_finish_enrolment(self.0, user.as_ptr(), report.as_mut_ptr());
            assert_eq!(status, kinetype_status::Ok, "{}", last_error());
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the handle came from `kinetype_engine_new` and is freed once.
        unsafe { kinetype_engine_free(self.0) };
    }
}

#[test]
fn null_pointers_return_null_pointer() {
    let config = config(None);
    let engine = Engine::new(&config);
    let user = c"alice";
    let mut handle = ptr::null_mut();
    // SAFETY: every non-null pointer below is valid; the NULL ones are what is tested.
    unsafe {
        assert_eq!(
            kinetype_engine_new(ptr::null(), &mut handle),
            kinetype_status::NullPointer
        );
        assert!(last_error().contains("`config`"));
        assert!(handle.is_null(), "no handle is written on failure");
        assert_eq!(
            kinetype_engine_new(&config, ptr::null_mut()),
            kinetype_status::NullPointer
        );
        assert!(last_error().contains("`out`"));
        assert_eq!(
            kinetype_engine_begin_enrolment(ptr::null(), user.as_ptr()),
            kinetype_status::NullPointer
        );
        assert!(last_error().contains("`engine`"));
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, ptr::null()),
            kinetype_status::NullPointer
        );
        assert!(last_error().contains("`user`"));
        assert_eq!(
            kinetype_engine_score(engine.0, user.as_ptr(), 1, ptr::null_mut()),
            kinetype_status::NullPointer
        );
        assert_eq!(
            kinetype_engine_ingest_mouse(engine.0, user.as_ptr(), 1, ptr::null(), 3),
            kinetype_status::NullPointer
        );
        assert!(last_error().contains("`events`"));
        assert_eq!(
            kinetype_config_default(ptr::null_mut()),
            kinetype_status::NullPointer
        );
        let mut needed = 0;
        assert_eq!(
            kinetype_last_error_message(ptr::null_mut(), 8, &mut needed),
            kinetype_status::NullPointer
        );
        kinetype_engine_free(ptr::null_mut());
    }
}

#[test]
fn zero_length_batch_is_invalid_argument() {
    let engine = Engine::new(&config(None));
    let user = c"alice";
    // SAFETY: live handle; a NULL array with length 0 is allowed.
    unsafe {
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, user.as_ptr()),
            kinetype_status::Ok
        );
        let status = kinetype_engine_ingest_mouse(engine.0, user.as_ptr(), 1, ptr::null(), 0);
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(last_error().contains("empty"), "{}", last_error());
        let status = kinetype_engine_ingest_keyboard(engine.0, user.as_ptr(), 1, ptr::null(), 0);
        assert_eq!(status, kinetype_status::InvalidArgument);
        // A background session may lack one modality.
        let mouse = Person::new(3).mousing(5, 3);
        let status = kinetype_engine_add_background_session(
            engine.0,
            ptr::null(),
            0,
            mouse.as_ptr(),
            mouse.len(),
        );
        assert_eq!(status, kinetype_status::Ok, "{}", last_error());
        assert_eq!(last_error(), "", "success clears the message");
    }
}

#[test]
fn nan_timestamp_is_invalid_argument() {
    let engine = Engine::new(&config(None));
    let user = c"alice";
    let mut events = Person::new(1).mousing(3, 1);
    events[4].time_ms = f64::NAN;
    // SAFETY: live handle and an array of the given length.
    unsafe {
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, user.as_ptr()),
            kinetype_status::Ok
        );
        let status =
            kinetype_engine_ingest_mouse(engine.0, user.as_ptr(), 1, events.as_ptr(), events.len());
        assert_eq!(status, kinetype_status::InvalidArgument);
        let message = last_error();
        assert!(message.contains("events[4].time_ms = NaN"), "{message}");
        let status = kinetype_engine_add_background_session(
            engine.0,
            ptr::null(),
            0,
            events.as_ptr(),
            events.len(),
        );
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(last_error().contains("mouse[4].time_ms = NaN"));
    }
}

#[test]
fn nan_position_and_bad_enum_are_invalid_argument() {
    let engine = Engine::new(&config(None));
    let user = c"alice";
    let mut events = Person::new(1).mousing(1, 1);
    events[2].y_px = f64::INFINITY;
    let mut keys = Person::new(1).typing(1, 1);
    keys[1].action = 7;
    // SAFETY: live handle and arrays of the given lengths.
    unsafe {
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, user.as_ptr()),
            kinetype_status::Ok
        );
        let status =
            kinetype_engine_ingest_mouse(engine.0, user.as_ptr(), 1, events.as_ptr(), events.len());
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(
            last_error().contains("events[2].y_px = inf"),
            "{}",
            last_error()
        );
        let status =
            kinetype_engine_ingest_keyboard(engine.0, user.as_ptr(), 1, keys.as_ptr(), keys.len());
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(
            last_error().contains("events[1].action = 7"),
            "{}",
            last_error()
        );
    }
}

#[test]
fn negative_and_backward_time_are_invalid_argument() {
    let engine = Engine::new(&config(None));
    let user = c"alice";
    let mut keys = Person::new(1).typing(1, 1);
    keys[0].time_us = -5;
    let backwards = [
        key(4, kinetype_key_action::Press, 900),
        key(4, kinetype_key_action::Release, 100),
    ];
    // SAFETY: live handle and arrays of the given lengths.
    unsafe {
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, user.as_ptr()),
            kinetype_status::Ok
        );
        let status =
            kinetype_engine_ingest_keyboard(engine.0, user.as_ptr(), 1, keys.as_ptr(), keys.len());
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(last_error().contains("negative"), "{}", last_error());
        let status =
            kinetype_engine_ingest_keyboard(engine.0, user.as_ptr(), 1, backwards.as_ptr(), 2);
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(last_error().contains("earlier"), "{}", last_error());
    }
}

#[test]
fn invalid_utf8_returns_invalid_utf8() {
    let engine = Engine::new(&config(None));
    let user = CString::new(vec![b'a', 0xff, b'b']).expect("no interior NUL");
    // SAFETY: live handle and a NUL-terminated string.
    let status = unsafe { kinetype_engine_begin_enrolment(engine.0, user.as_ptr()) };
    assert_eq!(status, kinetype_status::InvalidUtf8);
    assert!(
        last_error().contains("`user` is not valid UTF-8: invalid byte at offset 1"),
        "{}",
        last_error()
    );
    let dir = CString::new(vec![b'/', b't', 0xc3]).expect("no interior NUL");
    let config = config(Some(&dir));
    let mut handle = ptr::null_mut();
    // SAFETY: `config` is filled by `kinetype_config_default`; `handle` is a valid local.
    let status = unsafe { kinetype_engine_new(&config, &mut handle) };
    assert_eq!(status, kinetype_status::InvalidUtf8);
    assert!(
        last_error().contains("config->model_dir"),
        "{}",
        last_error()
    );
    assert!(handle.is_null());
}

#[test]
fn corrupt_model_file_returns_corrupt_model() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir_c = CString::new(dir.path().to_str().expect("UTF-8 temp path")).expect("no NUL");
    let config = config(Some(&dir_c));
    {
        let engine = Engine::with_background(&config);
        engine.enrol(c"alice", &Person::new(1));
    }
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("model directory is readable")
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one model file: {files:?}");
    let mut bytes = std::fs::read(&files[0]).expect("model file is readable");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&files[0], &bytes).expect("model file is writable");

    let engine = Engine::new(&config);
    let mut score = std::mem::MaybeUninit::<kinetype_score>::uninit();
    // SAFETY: live handle, NUL-terminated user, valid output.
    let status =
        unsafe { kinetype_engine_score(engine.0, c"alice".as_ptr(), 1, score.as_mut_ptr()) };
    assert_eq!(status, kinetype_status::CorruptModel);
    let message = last_error();
    assert!(message.contains("model file"), "{message}");
    assert!(message.contains("checksum"), "{message}");
    assert!(
        !message.contains("alice"),
        "no clear user id in messages: {message}"
    );
}

#[test]
fn enrolled_user_flow_and_statuses() {
    let engine = Engine::with_background(&config(None));
    let alice = Person::new(1);
    let user = c"alice";
    // SAFETY: live handle, NUL-terminated strings, arrays and outputs valid.
    unsafe {
        let mut decision = std::mem::MaybeUninit::<kinetype_decision>::uninit();
        let status = kinetype_engine_decide(engine.0, user.as_ptr(), 1, decision.as_mut_ptr());
        assert_eq!(status, kinetype_status::NotFound);
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, user.as_ptr()),
            kinetype_status::Ok
        );
        let status = kinetype_engine_decide(engine.0, user.as_ptr(), 1, decision.as_mut_ptr());
        assert_eq!(status, kinetype_status::NotEnrolled);
        let mut report = std::mem::MaybeUninit::uninit();
        let status = kinetype_engine_finish_enrolment(engine.0, user.as_ptr(), report.as_mut_ptr());
        assert_eq!(status, kinetype_status::NotEnoughEvidence);
        assert!(
            last_error().contains("enrolment actions"),
            "{}",
            last_error()
        );

        engine.enrol(user, &alice);
        let mut status_out = std::mem::MaybeUninit::<kinetype_enrolment_status>::uninit();
        let status =
            kinetype_engine_enrolment_status(engine.0, user.as_ptr(), status_out.as_mut_ptr());
        assert_eq!(status, kinetype_status::Ok);
        assert_eq!(
            status_out.assume_init().state,
            kinetype_enrolment_state::Enrolled
        );
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, user.as_ptr()),
            kinetype_status::AlreadyEnrolled
        );

        let (keys, mouse) = (alice.typing(5, 1001), alice.mousing(20, 1001));
        let ok = kinetype_status::Ok;
        assert_eq!(
            kinetype_engine_ingest_keyboard(engine.0, user.as_ptr(), 1, keys.as_ptr(), keys.len()),
            ok
        );
        assert_eq!(
            kinetype_engine_ingest_mouse(engine.0, user.as_ptr(), 1, mouse.as_ptr(), mouse.len()),
            ok
        );
        let status = kinetype_engine_decide(engine.0, user.as_ptr(), 1, decision.as_mut_ptr());
        assert_eq!(status, ok);
        let decision = decision.assume_init();
        assert_eq!(decision.score.keyboard.actions, 65);
        assert!(decision.score.mouse.actions > 0);
        assert!(decision.score.keyboard.has_mean_posterior);
        assert!((0.0..=1.0).contains(&decision.score.trust));
        // 65 keystrokes fill the keyboard window of 20 actions.
        assert!(decision.score.has_window);
        assert!((0.0..=1.0).contains(&decision.score.window));
        assert!(!decision.score.verified);

        // Passing another factor empties the windows until new actions fill one.
        let mut adaptation = std::mem::MaybeUninit::<kinetype_adaptation>::uninit();
        let status =
            kinetype_engine_report_success(engine.0, user.as_ptr(), 1, adaptation.as_mut_ptr());
        assert_eq!(status, ok);
        let mut decision = std::mem::MaybeUninit::<kinetype_decision>::uninit();
        let status = kinetype_engine_decide(engine.0, user.as_ptr(), 1, decision.as_mut_ptr());
        assert_eq!(status, ok);
        let decision = decision.assume_init();
        assert!(decision.score.verified);
        assert!(!decision.score.has_window);
        assert_eq!(
            kinetype_engine_revert_adaptation(engine.0, user.as_ptr()),
            kinetype_status::NothingToRevert
        );
        assert_eq!(kinetype_engine_end_session(engine.0, user.as_ptr(), 1), ok);
        assert_eq!(kinetype_engine_remove_user(engine.0, user.as_ptr()), ok);
        let mut score = std::mem::MaybeUninit::uninit();
        assert_eq!(
            kinetype_engine_score(engine.0, user.as_ptr(), 1, score.as_mut_ptr()),
            kinetype_status::NotFound
        );
    }
}

#[test]
fn outputs_untouched_on_failure() {
    let engine = Engine::new(&config(None));
    let marker = kinetype_enrolment_report {
        allow_threshold: -7.0,
        impostor_allow_rate: -7.0,
        genuine_allow_rate: -7.0,
    };
    let mut report = marker;
    // SAFETY: live handle, NUL-terminated user, valid output.
    let status =
        unsafe { kinetype_engine_finish_enrolment(engine.0, c"nobody".as_ptr(), &mut report) };
    assert_eq!(status, kinetype_status::NotFound);
    assert_eq!(report.allow_threshold, marker.allow_threshold);
    assert_eq!(report.genuine_allow_rate, marker.genuine_allow_rate);
}

#[test]
fn invalid_config_names_field() {
    let mut config = config(None);
    config.secret_len = 4;
    let mut handle = ptr::null_mut();
    // SAFETY: `config` points to at least 4 secret bytes; `handle` is a valid local.
    let status = unsafe { kinetype_engine_new(&config, &mut handle) };
    assert_eq!(status, kinetype_status::InvalidArgument);
    assert!(last_error().contains("secret"), "{}", last_error());
    config.secret_len = SECRET.len();
    config.target_fmr = f64::NAN;
    // SAFETY: as above.
    let status = unsafe { kinetype_engine_new(&config, &mut handle) };
    assert_eq!(status, kinetype_status::InvalidArgument);
    assert!(last_error().contains("target_fmr"), "{}", last_error());
    assert!(handle.is_null());
}

#[test]
fn last_error_reports_needed_size() {
    let engine = Engine::new(&config(None));
    // SAFETY: live handle, NUL-terminated user, valid output.
    let status = unsafe { kinetype_engine_end_session(engine.0, c"nobody".as_ptr(), 1) };
    assert_eq!(status, kinetype_status::NotFound);
    let full = last_error();
    assert!(full.starts_with("unknown user"), "{full}");
    let mut small = [b'#' as c_char; 4];
    let mut needed = 0;
    // SAFETY: `small` has 4 bytes.
    let status = unsafe { kinetype_last_error_message(small.as_mut_ptr(), 4, &mut needed) };
    assert_eq!(status, kinetype_status::BufferTooSmall);
    assert_eq!(needed, full.len() + 1);
    assert!(
        small.iter().all(|&c| c == b'#' as c_char),
        "buffer untouched"
    );
    assert_eq!(last_error(), full, "reading does not change the message");
}

#[test]
fn version_and_status_names() {
    // SAFETY: both return static NUL-terminated strings.
    unsafe {
        let version = CStr::from_ptr(kinetype_version()).to_str().expect("UTF-8");
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert_eq!(kinetype_abi_version(), crate::KINETYPE_ABI_VERSION);
        let name = CStr::from_ptr(kinetype_status_name(kinetype_status::CorruptModel as u32));
        assert_eq!(name, c"KINETYPE_STATUS_CORRUPT_MODEL");
        assert_eq!(
            CStr::from_ptr(kinetype_status_name(999)),
            c"KINETYPE_STATUS_UNKNOWN"
        );
    }
}

#[test]
fn panic_is_caught_as_panic_status() {
    let status = boundary::guard(|| panic!("test panic"));
    assert_eq!(status, kinetype_status::Panic);
    assert_eq!(last_error(), "kinetype panicked: test panic");
}

#[test]
fn engine_handle_shared_across_threads() {
    /// The raw handle, sent to other threads; the engine is `Send + Sync`.
    #[derive(Clone, Copy)]
    struct Shared(*const kinetype_engine);
    // SAFETY: `kinetype_engine` wraps `DefaultEngine`, which is `Send + Sync`, and the handle
    // outlives the scoped threads below.
    unsafe impl Send for Shared {}

    let engine = Engine::new(&config(None));
    let shared = Shared(engine.0);
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            scope.spawn(move || {
                let shared = shared;
                let user = CString::new(format!("user{t}")).expect("no NUL");
                let events = Person::new(t).mousing(10, t);
                // SAFETY: the handle is live for the whole scope; arrays have the given
                // lengths.
                unsafe {
                    assert_eq!(
                        kinetype_engine_begin_enrolment(shared.0, user.as_ptr()),
                        kinetype_status::Ok
                    );
                    for (i, batch) in events.chunks(20).enumerate() {
                        let status = kinetype_engine_ingest_mouse(
                            shared.0,
                            user.as_ptr(),
                            1,
                            batch.as_ptr(),
                            batch.len(),
                        );
                        assert_eq!(status, kinetype_status::Ok, "thread {t} batch {i}");
                    }
                    let mut progress = std::mem::MaybeUninit::<kinetype_enrolment_status>::uninit();
                    let status = kinetype_engine_enrolment_status(
                        shared.0,
                        user.as_ptr(),
                        progress.as_mut_ptr(),
                    );
                    assert_eq!(status, kinetype_status::Ok);
                    assert!(progress.assume_init().mouse_have > 0, "thread {t}");
                }
            });
        }
    });
}

#[test]
fn disabled_modality_is_invalid_argument() {
    let mut config = config(None);
    config.use_keyboard = false;
    let engine = Engine::new(&config);
    let user = c"alice";
    let keys = Person::new(1).typing(1, 1);
    // SAFETY: live handle and an array of the given length.
    unsafe {
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, user.as_ptr()),
            kinetype_status::Ok
        );
        let status =
            kinetype_engine_ingest_keyboard(engine.0, user.as_ptr(), 1, keys.as_ptr(), keys.len());
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(
            last_error().contains("disables keyboard"),
            "{}",
            last_error()
        );
    }
    config.use_mouse = false;
    let mut handle = ptr::null_mut();
    // SAFETY: `config` is filled by `kinetype_config_default`; `handle` is a valid local.
    let status = unsafe { kinetype_engine_new(&config, &mut handle) };
    assert_eq!(status, kinetype_status::InvalidArgument);
    assert!(last_error().contains("modalities"), "{}", last_error());
}

#[test]
fn save_writes_users_or_names_missing_dir() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir_c = CString::new(dir.path().to_str().expect("UTF-8 temp path")).expect("no NUL");
    let engine = Engine::new(&config(Some(&dir_c)));
    let mut written = usize::MAX;
    // SAFETY: live handles, NUL-terminated users, valid outputs; the NULL is what is tested.
    unsafe {
        assert_eq!(
            kinetype_engine_begin_enrolment(engine.0, c"alice".as_ptr()),
            kinetype_status::Ok
        );
        assert_eq!(
            kinetype_engine_save(engine.0, ptr::null_mut()),
            kinetype_status::NullPointer
        );
        assert_eq!(
            kinetype_engine_save(engine.0, &mut written),
            kinetype_status::Ok
        );
        assert_eq!(written, 1);
        let in_memory = Engine::new(&config(None));
        let mut untouched = 7usize;
        let status = kinetype_engine_save(in_memory.0, &mut untouched);
        assert_eq!(status, kinetype_status::InvalidArgument);
        assert!(last_error().contains("model_dir"), "{}", last_error());
        assert_eq!(untouched, 7);
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("readable").count(), 1);
}

#[test]
fn replay_save_every_reaches_engine() {
    assert_eq!(config(None).replay_save_every, 1_000);
    // 90 phrases give more than the default 1,000 replay hashes, so a setting of 1 (or the
    // default) writes the enrolling user's file during ingestion, and only 0 leaves it to a
    // later save.
    for (every, files) in [(0, 0), (1, 1)] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let dir_c = CString::new(dir.path().to_str().expect("UTF-8 temp path")).expect("no NUL");
        let mut config = config(Some(&dir_c));
        config.replay_save_every = every;
        let engine = Engine::new(&config);
        let keys = Person::new(1).typing(90, 1);
        // SAFETY: live handle, NUL-terminated user, an array with the given length.
        unsafe {
            assert_eq!(
                kinetype_engine_begin_enrolment(engine.0, c"alice".as_ptr()),
                kinetype_status::Ok
            );
            let status = kinetype_engine_ingest_keyboard(
                engine.0,
                c"alice".as_ptr(),
                1,
                keys.as_ptr(),
                keys.len(),
            );
            assert_eq!(status, kinetype_status::Ok, "{}", last_error());
        }
        let written = std::fs::read_dir(dir.path()).expect("readable").count();
        assert_eq!(written, files, "replay_save_every = {every}");
    }
}

/// Adds `session` as a background session of `person`.
///
/// # Safety
///
/// `engine` must be a live handle and `person` NULL or NUL-terminated.
unsafe fn add_named(
    engine: &Engine,
    person: *const c_char,
    session: &[kinetype_mouse_event],
) -> kinetype_status {
    // SAFETY: forwarded from this function's contract; the array has the given length.
    unsafe {
        kinetype_engine_add_background_session_of(
            engine.0,
            person,
            ptr::null(),
            0,
            session.as_ptr(),
            session.len(),
        )
    }
}

#[test]
fn background_person_must_be_named() {
    let engine = Engine::new(&config(None));
    let session = Person::new(3).mousing(5, 3);
    let not_utf8 = CString::new(vec![b'p', 0xff]).expect("no interior NUL");
    // SAFETY: live handle; the names are NULL or NUL-terminated.
    unsafe {
        assert_eq!(
            add_named(&engine, ptr::null(), &session),
            kinetype_status::NullPointer
        );
        assert_eq!(
            add_named(&engine, c"".as_ptr(), &session),
            kinetype_status::InvalidArgument
        );
        assert!(last_error().contains("person is empty"), "{}", last_error());
        assert_eq!(
            add_named(&engine, not_utf8.as_ptr(), &session),
            kinetype_status::InvalidUtf8
        );
        assert_eq!(
            add_named(&engine, c"carol".as_ptr(), &session),
            kinetype_status::Ok,
            "{}",
            last_error()
        );
    }
}

#[test]
fn both_mouse_models_enrol_on_named_background() {
    let mut sizes = Vec::new();
    for one_class in [false, true] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let dir_c = CString::new(dir.path().to_str().expect("UTF-8 temp path")).expect("no NUL");
        let mut config = config(Some(&dir_c));
        config.mouse_one_class = one_class;
        let engine = Engine::new(&config);
        // Three people with two sessions each.
        for b in 0..6_u64 {
            let name = CString::new(format!("person-{}", b / 2)).expect("no interior NUL");
            let session = Person::new(20_000 + b / 2).mousing(40, b);
            // SAFETY: live handle and a NUL-terminated name.
            let status = unsafe { add_named(&engine, name.as_ptr(), &session) };
            assert_eq!(status, kinetype_status::Ok, "{}", last_error());
            let keys = Person::new(20_000 + b).typing(20, b);
            // SAFETY: live handle; the key array has the given length.
            let status = unsafe {
                kinetype_engine_add_background_session(
                    engine.0,
                    keys.as_ptr(),
                    keys.len(),
                    ptr::null(),
                    0,
                )
            };
            assert_eq!(status, kinetype_status::Ok, "{}", last_error());
        }
        engine.enrol(c"alice", &Person::new(1));
        let size: u64 = std::fs::read_dir(dir.path())
            .expect("model directory is readable")
            .map(|entry| {
                entry
                    .expect("directory entry")
                    .metadata()
                    .expect("metadata")
                    .len()
            })
            .sum();
        sizes.push(size);
    }
    // The booster's 300 trees, each at least a 9-byte leaf, take more room than the
    // one-class medians and scales of 58 features.
    assert!(
        sizes[0] > sizes[1] + 300 * 9,
        "model files of {sizes:?} bytes"
    );
}

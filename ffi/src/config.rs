//! The engine configuration as a plain C struct.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use kinetype_core::engine::{EngineConfig, Evidence, Modalities};

use crate::boundary::{arg_out, arg_slice, arg_str, guard};
use crate::status::{Failure, kinetype_status};

/// Engine settings. Fill it with `kinetype_config_default`, then change the fields you need.
/// The struct may grow at the end in later versions, so never build it field by field. It
/// grows only with a new `KINETYPE_ABI_VERSION`: a program built against an older header has a
/// smaller struct, which this library would write past, so check `kinetype_abi_version()` at
/// start-up.
///
/// Counts of evidence are in actions: one keystroke, or one mouse movement, click or drag.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_config {
    /// Whether keyboard events are used. A disabled modality needs no enrolment evidence,
    /// and its events are rejected with `KINETYPE_STATUS_INVALID_ARGUMENT`. At least one
    /// modality must be on; both are on by default.
    pub use_keyboard: bool,
    /// Whether mouse events are used; see `use_keyboard`.
    pub use_mouse: bool,
    /// Directory of per-user model files as a NUL-terminated UTF-8 path; NULL keeps models in
    /// memory only. Created when missing. Borrowed only during `kinetype_engine_new`.
    pub model_dir: *const c_char,
    /// Secret that keys every hash (model file names, user keys, replay hashes); at least 16
    /// bytes. Keep it out of the model directory. Copied by `kinetype_engine_new`.
    pub secret: *const u8,
    /// Length of `secret` in bytes.
    pub secret_len: usize,
    /// Largest acceptable fraction of impostor decisions that allow, in (0, 1); the default
    /// is 0.01.
    pub target_fmr: f64,
    /// Keyboard actions a session needs before the keyboard counts toward a decision.
    pub min_evidence_keyboard: usize,
    /// Mouse actions a session needs before the mouse counts toward a decision.
    pub min_evidence_mouse: usize,
    /// Keyboard actions needed to finish enrolment.
    pub enrolment_evidence_keyboard: usize,
    /// Mouse actions needed to finish enrolment.
    pub enrolment_evidence_mouse: usize,
    /// Evidence older than this, in milliseconds of engine time, no longer counts.
    pub max_evidence_age_ms: u64,
    /// Largest number of events one ingest call accepts.
    pub max_batch_events: usize,
    /// Users held in memory.
    pub max_users: usize,
    /// Background sessions kept for calibration.
    pub max_background_users: usize,
    /// Folds of the cross-validation that produces genuine scores at enrolment; at least 2.
    /// A two-class mouse model also scores the background people in as many groups.
    pub calibration_folds: usize,
    /// Whether the mouse model is the one-class model of the user's own actions instead of
    /// the default two-class model fitted against the background people. The one-class model
    /// allows almost no genuine session at a 1 % target, so use it only where a user's model
    /// may not be fitted on other people's data.
    pub mouse_one_class: bool,
    /// New replay hashes that ingestion stores for a user before it writes the user's file
    /// (with a model directory), so that a crash loses at most this many. 0 leaves the writes
    /// to session ends, `kinetype_engine_save`, enrolment and adaptation. Since ABI version 3.
    pub replay_save_every: usize,
}

impl kinetype_config {
    fn from_core(config: &EngineConfig) -> Self {
        kinetype_config {
            use_keyboard: config.modalities.keyboard,
            use_mouse: config.modalities.mouse,
            model_dir: std::ptr::null(),
            secret: std::ptr::null(),
            secret_len: 0,
            target_fmr: config.target_fmr,
            min_evidence_keyboard: config.min_evidence.keyboard,
            min_evidence_mouse: config.min_evidence.mouse,
            enrolment_evidence_keyboard: config.enrolment_evidence.keyboard,
            enrolment_evidence_mouse: config.enrolment_evidence.mouse,
            max_evidence_age_ms: config.max_evidence_age.as_millis() as u64,
            max_batch_events: config.limits.max_batch_events,
            max_users: config.limits.max_users,
            max_background_users: config.limits.max_background_users,
            calibration_folds: config.calibration_folds,
            mouse_one_class: false,
            replay_save_every: config.defences.replay_save_every,
        }
    }

    /// Builds the core configuration; the core's `check` validates the values later.
    ///
    /// # Safety
    ///
    /// `model_dir` must be NULL or a NUL-terminated string, and `secret` must point to
    /// `secret_len` bytes (or be NULL with a zero length).
    pub(crate) unsafe fn to_core(self) -> Result<EngineConfig, Failure> {
        // SAFETY: forwarded from this function's contract.
        let secret = unsafe { arg_slice(self.secret, self.secret_len, "config->secret") }?;
        let mut config = EngineConfig::new(secret.to_vec());
        if !self.model_dir.is_null() {
            // SAFETY: forwarded from this function's contract.
            let dir = unsafe { arg_str(self.model_dir, "config->model_dir") }?;
            if dir.is_empty() {
                return Err(Failure::invalid(
                    "config->model_dir is an empty string; pass NULL to keep models in memory",
                ));
            }
            config.model_dir = Some(PathBuf::from(dir));
        }
        config.modalities = Modalities {
            keyboard: self.use_keyboard,
            mouse: self.use_mouse,
        };
        config.target_fmr = self.target_fmr;
        config.min_evidence = Evidence {
            keyboard: self.min_evidence_keyboard,
            mouse: self.min_evidence_mouse,
        };
        config.enrolment_evidence = Evidence {
            keyboard: self.enrolment_evidence_keyboard,
            mouse: self.enrolment_evidence_mouse,
        };
        config.max_evidence_age = Duration::from_millis(self.max_evidence_age_ms);
        config.limits.max_batch_events = self.max_batch_events;
        config.limits.max_users = self.max_users;
        config.limits.max_background_users = self.max_background_users;
        config.calibration_folds = self.calibration_folds;
        config.defences.replay_save_every = self.replay_save_every;
        // Enrolment keeps at most this many actions per modality, so it must cover what
        // enrolment requires.
        config.limits.max_enrolment_actions = config
            .limits
            .max_enrolment_actions
            .max(self.enrolment_evidence_keyboard)
            .max(self.enrolment_evidence_mouse);
        Ok(config)
    }
}

/// Fills `*out` with the default configuration. Both modalities are on, there is no model
/// directory and no secret (set one before `kinetype_engine_new`), and the target FMR is 0.01.
/// A decision needs 30 actions per modality and enrolment 300. Evidence stays valid for
/// 120 000 ms, and the limits are batches of 10 000 events, 1 000 000 users and 200
/// background sessions. Calibration uses 5 folds, and ingestion writes a user's file every
/// 1 000 new replay hashes.
///
/// Returns `KINETYPE_STATUS_NULL_POINTER` when `out` is NULL. Thread-safe.
///
/// # Safety
///
/// `out` must be NULL or valid for writing one `kinetype_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_config_default(out: *mut kinetype_config) -> kinetype_status {
    guard(|| {
        let out = arg_out(out, "out")?;
        // The secret is checked by `kinetype_engine_new`, so any placeholder works here.
        let defaults = EngineConfig::new(Vec::new());
        // SAFETY: `out` is non-null and, by the caller's contract, valid for writing.
        unsafe { out.write(kinetype_config::from_core(&defaults)) };
        Ok(())
    })
}

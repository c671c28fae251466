//! The continuous-authentication engine.
//!
//! An [`Engine`] keeps per-user keyboard and mouse templates and per-session trust. Each
//! modality plugs in through the [`Modality`] trait. [`EngineConfig::modalities`] may turn one
//! of the two off (see [`Modalities`]), for deployments or datasets with only one: the
//! disabled modality needs no enrolment evidence, gets no template, and its events are
//! rejected with [`Error::ModalityDisabled`]. [`DefaultEngine`] uses [`FreeTextModality`]
//! and [`MouseModality`], whose default model is a two-class booster fitted against the
//! background people; [`KeyHoldModality`] is a simpler baseline keyboard modality. The flow
//! for one user:
//!
//! 1. [`Engine::begin_enrolment`], then ingest sessions until [`Engine::enrolment_status`]
//!    reports enough actions of each enabled modality, then [`Engine::finish_enrolment`] trains
//!    their templates, calibrates their scores against the background population
//!    ([`Engine::add_background_session`], [`Engine::add_background_session_of`]) and sets
//!    the user's allow threshold on the window statistic for the target false-match rate (see
//!    [`calibration`] and [`window`]).
//! 2. Events arrive in batches per (user, session) from any thread
//!    ([`Engine::ingest_keyboard`], [`Engine::ingest_mouse`]); each completed action is scored
//!    at once, updates the session's trust (see [`trust`]), which only locks sessions out,
//!    and enters the session's window of recent posteriors.
//! 3. [`Engine::score`] reports trust, the window statistic and evidence; [`Engine::decide`]
//!    turns it into Allow, StepUp or Deny with a reason (see [`Decision::from_score`]).
//! 4. After the user passes another factor, [`Engine::report_success`] restores trust and may
//!    adapt the template; [`Engine::revert_adaptation`] undoes adaptations.
//!
//! # Restarts
//!
//! Enrolment, adaptation and [`Engine::revert_adaptation`] save the user's model at once.
//! [`Engine::save_all`] saves every user in memory: enrolled users' models with their current
//! replay hashes, and the collected actions of users still enrolling, so that enrolment
//! continues in a new engine on the same model directory. Session trust is never saved. A
//! restart therefore ends every session, which fails safe: a session gets `StepUp` until it
//! has fresh evidence again. Call `save_all` before a planned shutdown and periodically; replay
//! hashes recorded after the last save are lost in a crash.
//!
//! Users live in a sharded map of per-user mutexes, so ingestion for different users runs in
//! parallel without a global lock.

pub mod calibration;
mod clock;
mod config;
mod decision;
pub mod defences;
mod enrolment;
mod free_text;
mod hold_time;
mod ingest;
mod modality;
mod mouse_actions;
mod persist;
mod state;
pub mod trust;
pub mod window;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::{EnrolmentProblem, Error, Result};
use crate::store::{Header, KeyedHasher, ModelStore};

pub use calibration::ScoreCalibration;
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{
    AdaptationParams, EngineConfig, Evidence, FusionWeights, MIN_SECRET_BYTES, Modalities,
    ResourceLimits,
};
pub use decision::{Decision, ModalityEvidence, Reason, Score, Verdict};
pub use defences::DefenceParams;
pub use free_text::{FreeTextModality, KeyPairing, TypedKey};
pub use hold_time::{HoldTimeModel, KeyHoldModality, Keystroke, LogNormalStats};
pub use modality::Modality;
pub use mouse_actions::{MouseAction, MouseModality, MouseModel, MouseModelKind, MouseRun};
pub use state::{SideModel, UserModel, UserModelV1, UserModelV2};
pub use trust::TrustParams;

use ingest::validate;
use state::{SessionState, ShardedUsers, SideSession, TrustTrack, UserState, lock};

/// Name of the current [`UserModel`] layout, part of the model files' schema hash.
const MODEL_LAYOUT: &str = "user-model/v3";

/// The stored model type of an engine.
pub(crate) type ModelOf<K, M> = UserModel<<K as Modality>::Model, <M as Modality>::Model>;

/// Hash domain of in-memory user keys.
const USER_DOMAIN: &str = "kinetype/engine/user";

/// The engine with the default modalities: free-text keystroke timings
/// ([`FreeTextModality`]) and segmented mouse actions ([`MouseModality`]).
pub type DefaultEngine = Engine<FreeTextModality, MouseModality>;

/// Progress of a user's enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnrolmentStatus {
    /// Still collecting; the counts are actions collected and actions required.
    Collecting {
        /// Keyboard actions collected and required.
        keyboard: (usize, usize),
        /// Mouse actions collected and required.
        mouse: (usize, usize),
    },
    /// Enough evidence; [`Engine::finish_enrolment`] can train.
    ReadyToTrain,
    /// Trained; `adaptations` counts template updates since enrolment.
    Enrolled {
        /// Template updates since enrolment.
        adaptations: u32,
    },
}

/// Figures from training a user, estimated on enrolment and background data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnrolmentReport {
    /// Window statistic in `[0, 1]` (see [`window`]) above which the user's sessions are
    /// allowed.
    ///
    /// A value of 1 ([`calibration::NEVER_ALLOW`]) means the target false-match rate is out of
    /// reach with this background population, because that fraction of background windows
    /// reach the largest possible posterior, so every session of this user gets `StepUp`.
    pub allow_threshold: f64,
    /// Fraction of background (impostor) windows that would be allowed: one window of `W`
    /// actions per modality after each background action, as a decision would see it.
    pub impostor_allow_rate: f64,
    /// Fraction of genuine windows (over cross-validated enrolment posteriors) that would be
    /// allowed; optimistic, since enrolment sessions are closer to each other than later ones.
    pub genuine_allow_rate: f64,
}

/// Template updates made by [`Engine::report_success`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adaptation {
    /// Whether the keyboard template absorbed the session.
    pub keyboard: bool,
    /// Whether the mouse template absorbed the session.
    pub mouse: bool,
}

/// One background session's actions, used to calibrate impostor scores.
#[derive(Debug)]
struct BackgroundUser<K: Modality, M: Modality> {
    keyboard: Vec<K::Action>,
    mouse: Vec<M::Action>,
    /// Keyed hash of the person the caller named for this session. A session added without
    /// a name has `None` and counts as a person of its own.
    person: Option<[u8; 32]>,
}

/// The continuous-authentication engine; see the [module documentation](self).
///
/// `Engine` is `Send + Sync`: share it with `Arc` and call it from any thread.
#[derive(Debug)]
pub struct Engine<K: Modality, M: Modality> {
    config: EngineConfig,
    keyboard: K,
    mouse: M,
    hasher: KeyedHasher,
    store: Option<ModelStore>,
    header: Header,
    clock: Arc<dyn Clock>,
    users: ShardedUsers<UserState<K, M>>,
    user_count: AtomicUsize,
    background: RwLock<Vec<BackgroundUser<K, M>>>,
}

impl<K: Modality, M: Modality> Engine<K, M> {
    /// Builds an engine on the system's monotonic clock.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for an invalid configuration, [`Error::Io`] when the model
    /// directory cannot be created.
    pub fn new(config: EngineConfig, keyboard: K, mouse: M) -> Result<Self> {
        Self::with_clock(config, keyboard, mouse, Arc::new(MonotonicClock::default()))
    }

    /// Builds an engine on `clock`.
    ///
    /// # Errors
    ///
    /// As [`Engine::new`].
    pub fn with_clock(
        config: EngineConfig,
        keyboard: K,
        mouse: M,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        config.check()?;
        let store = match &config.model_dir {
            Some(dir) => Some(ModelStore::open(dir, &config.secret)?),
            None => None,
        };
        Ok(Engine {
            header: Self::model_header(),
            hasher: KeyedHasher::new(&config.secret),
            config,
            keyboard,
            mouse,
            store,
            clock,
            users: ShardedUsers::new(),
            user_count: AtomicUsize::new(0),
            background: RwLock::new(Vec::new()),
        })
    }

    /// Returns the envelope header of this engine's model files. The kind names both
    /// modalities, and the schema hash covers both feature schemas and the [`UserModel`] layout
    /// (`user-model/v3`). The header does not depend on which modalities are enabled; the
    /// model's optional sides record that.
    pub fn model_header() -> Header {
        Self::header_for_layout(MODEL_LAYOUT)
    }

    /// Returns the header of files in the older `user-model/v2` layout ([`UserModelV2`]),
    /// which the engine still reads and converts.
    pub fn model_header_v2() -> Header {
        Self::header_for_layout("user-model/v2")
    }

    /// Returns the header of files in the older `user-model/v1` layout ([`UserModelV1`]),
    /// which the engine still reads and converts.
    pub fn model_header_v1() -> Header {
        Self::header_for_layout("user-model/v1")
    }

    fn header_for_layout(layout: &str) -> Header {
        Self::header_for_schemas(K::SCHEMA, M::SCHEMA, layout)
    }

    /// Returns the header of model files in `layout` whose modalities had the schema texts
    /// `keyboard` and `mouse`.
    pub(super) fn header_for_schemas(keyboard: &str, mouse: &str, layout: &str) -> Header {
        let kind = format!("engine/{}+{}", K::NAME, M::NAME);
        Header::new(&kind, &format!("{keyboard}\n{mouse}\n{layout}"))
    }

    /// Returns the configuration the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn key(&self, user: &str) -> [u8; 32] {
        self.hasher.hash(USER_DOMAIN, &[user.as_bytes()])
    }

    /// Returns a short keyed-hash label of `user` for errors, so the clear id never leaves the
    /// engine.
    fn label(&self, user: &str) -> String {
        hex::encode(&self.key(user)[..6])
    }

    fn enrolment_error(&self, user: &str, problem: EnrolmentProblem) -> Error {
        Error::Enrolment {
            user: self.label(user),
            problem,
        }
    }

    /// Finds a user in memory or loads their file: a model, or the record of an enrolment in
    /// progress.
    ///
    /// NOTE: a request for an id that is neither in memory nor on disk reads the directory
    /// every time; a flood of unknown ids costs one failed file open each.
    fn user(&self, user: &str) -> Result<Arc<std::sync::Mutex<UserState<K, M>>>> {
        let key = self.key(user);
        if let Some(found) = self.users.get(&key) {
            return Ok(found);
        }
        if let Some(store) = &self.store {
            // Held from the read to the insert, so `remove_user` cannot delete the file in
            // between and leave the deleted user in memory.
            let _loading = self.users.lock_loading(&key);
            if let Some(found) = self.users.get(&key) {
                return Ok(found);
            }
            if let Some(loaded) = self.load_user(store, user)? {
                self.reserve_user_slot()?;
                let (entry, inserted) = self.users.get_or_insert(key, || loaded);
                if !inserted {
                    self.user_count.fetch_sub(1, Ordering::SeqCst);
                }
                return Ok(entry);
            }
        }
        Err(Error::UnknownUser {
            user: self.label(user),
        })
    }

    fn reserve_user_slot(&self) -> Result<()> {
        let limit = self.config.limits.max_users;
        let reserved = self
            .user_count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            });
        reserved.map(|_| ()).map_err(|_| Error::ResourceLimit {
            name: "max_users",
            limit,
        })
    }

    /// Adds `user` in the collecting state; a user already collecting is left as is.
    ///
    /// # Errors
    ///
    /// [`Error::Enrolment`] with [`EnrolmentProblem::AlreadyEnrolled`] when the user has a
    /// model (in memory or on disk), [`Error::ResourceLimit`] beyond `max_users`,
    /// [`Error::ModelFile`] when the user's existing file cannot be read.
    pub fn begin_enrolment(&self, user: &str) -> Result<()> {
        match self.user(user) {
            Ok(existing) => {
                if lock(&existing).model.is_some() {
                    return Err(self.enrolment_error(user, EnrolmentProblem::AlreadyEnrolled));
                }
                return Ok(());
            }
            Err(Error::UnknownUser { .. }) => {}
            Err(other) => return Err(other),
        }
        self.reserve_user_slot()?;
        let file = self.store.as_ref().map(|s| s.path_for(user));
        let (_, inserted) = self
            .users
            .get_or_insert(self.key(user), || UserState::new(file));
        if !inserted {
            self.user_count.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Returns the progress of `user`'s enrolment.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`] when the user never began enrolment.
    pub fn enrolment_status(&self, user: &str) -> Result<EnrolmentStatus> {
        let entry = self.user(user)?;
        let state = lock(&entry);
        if let Some(model) = &state.model {
            return Ok(EnrolmentStatus::Enrolled {
                adaptations: model.adaptations,
            });
        }
        let need = self.enrolment_need();
        let have = (state.enrolment.keyboard.len(), state.enrolment.mouse.len());
        if have.0 >= need.keyboard && have.1 >= need.mouse {
            return Ok(EnrolmentStatus::ReadyToTrain);
        }
        Ok(EnrolmentStatus::Collecting {
            keyboard: (have.0, need.keyboard),
            mouse: (have.1, need.mouse),
        })
    }

    /// Enrolment actions required per modality; 0 for a disabled one.
    fn enrolment_need(&self) -> Evidence {
        let on = self.config.modalities;
        let need = self.config.enrolment_evidence;
        Evidence {
            keyboard: if on.keyboard { need.keyboard } else { 0 },
            mouse: if on.mouse { need.mouse } else { 0 },
        }
    }

    /// Rejects events of a disabled modality.
    fn check_enabled(&self, modality: &'static str, enabled: bool) -> Result<()> {
        if enabled {
            Ok(())
        } else {
            Err(Error::ModalityDisabled { modality })
        }
    }

    /// Adds one background session, used to calibrate impostor scores of users who enrol
    /// afterwards. Background data should come from people who consented to it and who are
    /// not among the users being protected. The session counts as a person of its own; see
    /// [`Engine::add_background_session_of`] for several sessions of one person.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBatch`] (user `background`, session 0) for invalid timestamps,
    /// [`Error::ModalityDisabled`] when events of a disabled modality are not empty,
    /// [`Error::ResourceLimit`] beyond `max_background_users` sessions.
    pub fn add_background_session(&self, keyboard: &[K::Event], mouse: &[M::Event]) -> Result<()> {
        self.add_background(None, keyboard, mouse)
    }

    /// Adds one session of the background person `person`, as
    /// [`Engine::add_background_session`] does. Sessions with the same `person` are one
    /// person's. A modality whose model is fitted against the background (the default mouse
    /// model) calibrates its impostor scores on people the model was not fitted on, and it
    /// needs to know whose sessions belong together for that. Sessions named after a user are
    /// left out of that user's background at enrolment. The engine keeps only a keyed hash of
    /// `person`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for an empty `person`, and as
    /// [`Engine::add_background_session`].
    pub fn add_background_session_of(
        &self,
        person: &str,
        keyboard: &[K::Event],
        mouse: &[M::Event],
    ) -> Result<()> {
        if person.is_empty() {
            return Err(Error::InvalidParameter {
                name: "person",
                value: "\"\"".into(),
                expected: "the background person's name or id",
            });
        }
        self.add_background(Some(self.key(person)), keyboard, mouse)
    }

    fn add_background(
        &self,
        person: Option<[u8; 32]>,
        keyboard: &[K::Event],
        mouse: &[M::Event],
    ) -> Result<()> {
        let on = self.config.modalities;
        self.check_enabled(K::NAME, on.keyboard || keyboard.is_empty())?;
        self.check_enabled(M::NAME, on.mouse || mouse.is_empty())?;
        let bad = |problem| Error::InvalidBatch {
            user: "background".into(),
            session: 0,
            problem,
        };
        validate::<K>(keyboard, None).map_err(bad)?;
        validate::<M>(mouse, None).map_err(bad)?;
        let mut entry = BackgroundUser {
            keyboard: Vec::new(),
            mouse: Vec::new(),
            person,
        };
        let mut extractor = K::Extractor::default();
        for event in keyboard {
            self.keyboard
                .extract(&mut extractor, event, &mut entry.keyboard);
        }
        let mut extractor = M::Extractor::default();
        for event in mouse {
            self.mouse.extract(&mut extractor, event, &mut entry.mouse);
        }
        let mut background = self.background.write().unwrap_or_else(|p| p.into_inner());
        let limit = self.config.limits.max_background_users;
        if background.len() >= limit {
            return Err(Error::ResourceLimit {
                name: "max_background_users",
                limit,
            });
        }
        background.push(entry);
        Ok(())
    }

    /// Reports trust, the window statistic and evidence of a session. A session with no events
    /// yet reports initial trust and no evidence.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`]; [`Error::Enrolment`] when the user is not enrolled.
    pub fn score(&self, user: &str, session: u64) -> Result<Score> {
        let entry = self.user(user)?;
        let state = lock(&entry);
        let Some(model) = &state.model else {
            return Err(self.enrolment_error(user, EnrolmentProblem::NotEnrolled));
        };
        let now = self.clock.now_us();
        let params = &self.config.trust;
        let fresh = SessionState::<K, M>::new(params.initial, now);
        let s = state.sessions.get(&session).unwrap_or(&fresh);
        let idle = Duration::from_micros(now.saturating_sub(s.track.at_us));
        let trust = params.decay(s.track.trust, idle);
        let min_intervals = self.config.defences.min_intervals;
        let interval_cv = [
            s.keyboard.rhythm.interval_cv(min_intervals),
            s.mouse.rhythm.interval_cv(min_intervals),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::min);
        let min = self.config.min_evidence;
        let keyboard = self.evidence(&s.keyboard, min.keyboard, now);
        let mouse = self.evidence(&s.mouse, min.mouse, now);
        // Only a modality with sufficient recent evidence enters the window statistic.
        let window_mean = |e: &ModalityEvidence, w: &window::PosteriorWindow, len: usize| {
            if e.sufficient { w.mean(len) } else { None }
        };
        let window = window::fuse(
            window_mean(&keyboard, &s.keyboard.window, min.keyboard),
            window_mean(&mouse, &s.mouse.window, min.mouse),
            self.config.fusion,
        );
        Ok(Score {
            trust: trust / params.max,
            window,
            allow_threshold: model.allow_threshold,
            lockout_threshold: params.lockout / params.max,
            keyboard,
            mouse,
            replay_hits: s.track.replay_hits,
            synthetic: interval_cv.is_some_and(|cv| cv < self.config.defences.min_interval_cv),
            interval_cv,
            locked: s.track.locked,
            verified: s.track.verified && window.is_none(),
        })
    }

    fn evidence<X: Modality>(
        &self,
        side: &SideSession<X>,
        min: usize,
        now: u64,
    ) -> ModalityEvidence {
        let newest_age = side
            .newest_us
            .map(|t| Duration::from_micros(now.saturating_sub(t)));
        let recent = newest_age.is_some_and(|age| age <= self.config.max_evidence_age);
        ModalityEvidence {
            actions: side.actions,
            newest_age,
            sufficient: recent && side.actions >= min as u64,
            contribution: side.contribution / self.config.trust.max,
            mean_posterior: (side.scored > 0).then(|| side.posterior_sum / side.scored as f64),
        }
    }

    /// Decides whether the session may continue; see [`Decision::from_score`] for the rules.
    ///
    /// # Errors
    ///
    /// As [`Engine::score`].
    pub fn decide(&self, user: &str, session: u64) -> Result<Decision> {
        self.score(user, session).map(Decision::from_score)
    }

    /// Records that the user of `session` passed another authentication factor.
    ///
    /// The session's trust returns to its initial value, its lock is lifted, and its windows
    /// of recent posteriors are emptied: the session is allowed (see [`Score::verified`])
    /// until a modality has a full window of new actions again. Each template
    /// absorbs the session's recent actions only when they were already close to it: a mean
    /// calibrated posterior of at least `adaptation.min_posterior`, at least
    /// `adaptation.min_actions` actions, and no replay or synthetic flag. Each update moves
    /// parameters by at most `adaptation.rate`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`]; [`Error::Enrolment`] when the user is not enrolled;
    /// [`Error::Io`] when the adapted model cannot be saved, in which case the template stays
    /// as it was.
    pub fn report_success(&self, user: &str, session: u64) -> Result<Adaptation> {
        let score = self.score(user, session)?;
        let entry = self.user(user)?;
        let mut guard = lock(&entry);
        let state = &mut *guard;
        let target = self.write_target(user, state)?;
        let Some(model) = state.model.as_mut() else {
            return Err(self.enrolment_error(user, EnrolmentProblem::NotEnrolled));
        };
        let now = self.clock.now_us();
        let Some(s) = state.sessions.get_mut(&session) else {
            return Ok(Adaptation {
                keyboard: false,
                mouse: false,
            });
        };
        s.track = TrustTrack {
            trust: self.config.trust.initial,
            at_us: now,
            locked: false,
            verified: true,
            ..s.track
        };
        // The other factor vouches for the session until some modality fills a window with
        // actions made after it. Older windows are dropped so they cannot step the user up.
        s.keyboard.window.clear();
        s.mouse.window.clear();
        let a = &self.config.adaptation;
        let clean = score.replay_hits == 0 && !score.synthetic;
        let close = |e: &ModalityEvidence, n: usize| {
            clean && n >= a.min_actions && e.mean_posterior.is_some_and(|p| p >= a.min_posterior)
        };
        let previous = model.clone();
        let mut done = Adaptation {
            keyboard: false,
            mouse: false,
        };
        if let Some(side) = model.keyboard.as_mut()
            && close(&score.keyboard, s.keyboard.retained.len())
        {
            let adapted = self
                .keyboard
                .adapt(&side.current, &s.keyboard.retained, a.rate)?;
            // A model that cannot adapt comes back unchanged and counts no adaptation.
            done.keyboard = adapted != side.current;
            side.current = adapted;
        }
        if let Some(side) = model.mouse.as_mut()
            && close(&score.mouse, s.mouse.retained.len())
        {
            let adapted = self.mouse.adapt(&side.current, &s.mouse.retained, a.rate)?;
            done.mouse = adapted != side.current;
            side.current = adapted;
        }
        if done.keyboard || done.mouse {
            model.adaptations += 1;
            model.replay_hashes = state.replay.to_pairs();
            let saved = match &target {
                Some((store, file)) => store.save_to(file, &self.header, &*model),
                None => Ok(()),
            };
            if let Err(e) = saved {
                *model = previous;
                return Err(e);
            }
            if target.is_some() {
                state.unsaved_hashes = 0;
            }
            // The same actions must not be absorbed twice.
            s.keyboard.retained.clear();
            s.mouse.retained.clear();
        }
        Ok(done)
    }

    /// Restores the templates to what enrolment trained and saves the model.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`]; [`Error::Enrolment`] when the user is not enrolled or has no
    /// adaptation; [`Error::Io`] when the model cannot be saved (memory keeps the adapted
    /// template then, matching the file).
    pub fn revert_adaptation(&self, user: &str) -> Result<()> {
        let entry = self.user(user)?;
        let mut state = lock(&entry);
        let target = self.write_target(user, &state)?;
        let Some(model) = state.model.as_mut() else {
            return Err(self.enrolment_error(user, EnrolmentProblem::NotEnrolled));
        };
        if model.adaptations == 0 {
            return Err(self.enrolment_error(user, EnrolmentProblem::NothingToRevert));
        }
        let mut reverted = model.clone();
        if let Some(side) = reverted.keyboard.as_mut() {
            side.current = side.original.clone();
        }
        if let Some(side) = reverted.mouse.as_mut() {
            side.current = side.original.clone();
        }
        reverted.adaptations = 0;
        if let Some((store, file)) = &target {
            store.save_to(file, &self.header, &reverted)?;
        }
        *model = reverted;
        Ok(())
    }

    /// Returns a copy of `user`'s stored model, or `None` while the user is enrolling.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`].
    pub fn user_model(&self, user: &str) -> Result<Option<UserModel<K::Model, M::Model>>> {
        let entry = self.user(user)?;
        let state = lock(&entry);
        Ok(state.model.clone())
    }

    /// Forgets a session's state; unknown sessions are ignored.
    ///
    /// With a model directory, the user's file is then written when the session may have
    /// changed it: an enrolled user's replay hashes when they differ from the saved ones, or
    /// a user's enrolment actions when the ended session existed. So a crash after this call
    /// loses neither. Sessions still open are saved by [`Engine::save_all`], and by
    /// ingestion every [`DefenceParams::replay_save_every`] new replay hashes. The write is
    /// atomic and flushed to disk (see [`ModelStore::save`]), so each such call costs one
    /// file write and flush while the user's lock is held.
    ///
    /// [`ModelStore::save`]: crate::store::ModelStore::save
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`]; [`Error::Io`] when the file cannot be written. The session is
    /// forgotten even then, and the state stays in memory for a later save.
    pub fn end_session(&self, user: &str, session: u64) -> Result<()> {
        let entry = self.user(user)?;
        let mut guard = lock(&entry);
        let state = &mut *guard;
        let existed = state.sessions.remove(&session).is_some();
        let (Some(store), Some(file)) = (&self.store, state.file.clone()) else {
            return Ok(());
        };
        let changed = match &state.model {
            Some(model) => !state.replay.pairs().eq(model.replay_hashes.iter().copied()),
            None => existed,
        };
        if changed {
            self.save_state(store, &file, &Self::enrolment_header(), state)?;
        }
        Ok(())
    }

    /// Removes `user` from memory and deletes their model file.
    ///
    /// A call on the same user that runs at the same time writes no file after the removal:
    /// one that saves a model or an enrolment gets [`Error::UnknownUser`], and `end_session`
    /// and `save_all` skip the user. A call that loads the user's file at the same time
    /// either finishes before the removal, which then removes what it loaded, or finds no
    /// file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be deleted.
    pub fn remove_user(&self, user: &str) -> Result<()> {
        let key = self.key(user);
        // The loading lock keeps a concurrent load of the file from putting the user back.
        let _loading = self.users.lock_loading(&key);
        // The user's lock is held until the file is deleted and the user is out of the map,
        // and the state keeps no file, so a call that holds the user cannot write it again.
        let entry = self.users.get(&key);
        let mut guard = entry.as_ref().map(|entry| lock(entry));
        if let Some(state) = guard.as_deref_mut() {
            state.file = None;
        }
        let deleted = match &self.store {
            Some(store) => store.remove(user),
            None => Ok(()),
        };
        if self.users.remove(&key).is_some() {
            self.user_count.fetch_sub(1, Ordering::SeqCst);
        }
        drop(guard);
        deleted
    }

    /// Returns the store and the file to write `user`'s state to: `None` without a model
    /// directory, and [`Error::UnknownUser`] when [`Engine::remove_user`] removed the user
    /// while the caller held it.
    fn write_target(
        &self,
        user: &str,
        state: &UserState<K, M>,
    ) -> Result<Option<(&ModelStore, PathBuf)>> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        match &state.file {
            Some(file) => Ok(Some((store, file.clone()))),
            None => Err(Error::UnknownUser {
                user: self.label(user),
            }),
        }
    }
}

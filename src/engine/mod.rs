//! The continuous-authentication engine.
//!
//! An [`Engine`] holds per-user keyboard and mouse templates and per-session trust. Each
//! modality plugs in through the [`Modality`] trait; [`KeyHoldModality`] is a baseline keyboard
//! modality. The flow for one user:
//!
//! 1. [`Engine::begin_enrolment`], then ingest sessions until [`Engine::enrolment_status`]
//!    reports enough keyboard and mouse actions, then [`Engine::finish_enrolment`] trains both
//!    templates, calibrates their scores against the background population
//!    ([`Engine::add_background_session`]) and sets the user's trust threshold for the target
//!    false-match rate (see [`calibration`]).
//! 2. Events arrive in batches per (user, session) from any thread
//!    ([`Engine::ingest_keyboard`], [`Engine::ingest_mouse`]); each completed action is scored
//!    at once and updates the session's trust (see [`trust`]).
//! 3. [`Engine::score`] reports trust and evidence; [`Engine::decide`] turns it into
//!    Allow, StepUp or Deny with a reason (see [`Decision::from_score`]).
//! 4. After the user passes another factor, [`Engine::report_success`] restores trust and may
//!    adapt the template; [`Engine::revert_adaptation`] undoes adaptations.
//!
//! Users live in a sharded map of per-user mutexes, so ingestion for different users runs in
//! parallel without a global lock.

pub mod calibration;
mod clock;
mod config;
mod decision;
pub mod defences;
mod hold_time;
mod modality;
mod state;
pub mod trust;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::{BatchProblem, EnrolmentProblem, Error, Result};
use crate::store::{Header, KeyedHasher, ModelStore};

pub use calibration::ScoreCalibration;
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{AdaptationParams, EngineConfig, Evidence, FusionWeights, ResourceLimits};
pub use decision::{Decision, ModalityEvidence, Reason, Score, Verdict};
pub use defences::DefenceParams;
pub use hold_time::{HoldTimeModel, KeyHoldModality, Keystroke, LogNormalStats};
pub use modality::Modality;
pub use state::{SideModel, UserModel};
pub use trust::TrustParams;

use state::{SessionState, ShardedUsers, SideSession, TrustTrack, UserState, lock};

/// Hash domain of in-memory user keys.
const USER_DOMAIN: &str = "kinetype/engine/user";

/// Where a user stands in enrolment.
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
    /// Trust in `[0, 1]` above which the user's sessions are allowed.
    pub allow_threshold: f64,
    /// Fraction of simulated background (impostor) decision points that would be allowed.
    pub impostor_allow_rate: f64,
    /// Fraction of simulated genuine decision points (cross-validated) that would be allowed;
    /// optimistic, since enrolment sessions are closer to each other than later ones.
    pub genuine_allow_rate: f64,
}

/// What [`Engine::report_success`] did to the templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adaptation {
    /// Whether the keyboard template absorbed the session.
    pub keyboard: bool,
    /// Whether the mouse template absorbed the session.
    pub mouse: bool,
}

/// One background user's actions, used to calibrate impostor scores.
#[derive(Debug)]
struct BackgroundUser<K: Modality, M: Modality> {
    keyboard: Vec<K::Action>,
    mouse: Vec<M::Action>,
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

    /// The envelope header of this engine's model files: the kind names both modalities and
    /// the schema hash covers both feature schemas and the [`UserModel`] layout.
    pub fn model_header() -> Header {
        let kind = format!("engine/{}+{}", K::NAME, M::NAME);
        let schema = format!("{}\n{}\nuser-model/v1", K::SCHEMA, M::SCHEMA);
        Header::new(&kind, &schema)
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn key(&self, user: &str) -> [u8; 32] {
        self.hasher.hash(USER_DOMAIN, &[user.as_bytes()])
    }

    /// A short keyed-hash label of `user` for errors; the clear id never leaves the engine.
    fn label(&self, user: &str) -> String {
        hex::encode(&self.key(user)[..6])
    }

    fn enrolment_error(&self, user: &str, problem: EnrolmentProblem) -> Error {
        Error::Enrolment {
            user: self.label(user),
            problem,
        }
    }

    /// Finds a user in memory or loads their model file.
    fn user(&self, user: &str) -> Result<Arc<std::sync::Mutex<UserState<K, M>>>> {
        let key = self.key(user);
        if let Some(found) = self.users.get(&key) {
            return Ok(found);
        }
        if let Some(store) = &self.store {
            if let Some(model) = store.load::<UserModel<K::Model, M::Model>>(user, &self.header)? {
                tracing::debug!(user = %self.label(user), "model loaded");
                self.reserve_user_slot()?;
                let (entry, inserted) = self
                    .users
                    .get_or_insert(key, || UserState::from_model(model));
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
        let (_, inserted) = self.users.get_or_insert(self.key(user), UserState::new);
        if !inserted {
            self.user_count.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Where `user` stands in enrolment.
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
        let need = self.config.enrolment_evidence;
        let have = (state.enrolment.keyboard.len(), state.enrolment.mouse.len());
        if have.0 >= need.keyboard && have.1 >= need.mouse {
            return Ok(EnrolmentStatus::ReadyToTrain);
        }
        Ok(EnrolmentStatus::Collecting {
            keyboard: (have.0, need.keyboard),
            mouse: (have.1, need.mouse),
        })
    }

    /// Adds one background user's session, used to calibrate impostor scores of users who
    /// enrol afterwards. Background data should come from people who consented to it and who
    /// are not among the users being protected.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBatch`] (user `background`, session 0) for invalid timestamps,
    /// [`Error::ResourceLimit`] beyond `max_background_users`.
    pub fn add_background_session(&self, keyboard: &[K::Event], mouse: &[M::Event]) -> Result<()> {
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

    /// Ingests a batch of keyboard events of one session.
    ///
    /// The whole batch is validated before any of it is applied, so a rejected batch leaves
    /// the user's state as it was.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`]; [`Error::InvalidBatch`] for an empty or oversized batch, a NaN,
    /// infinite or negative timestamp, or time going backwards within the session.
    pub fn ingest_keyboard(&self, user: &str, session: u64, events: &[K::Event]) -> Result<()> {
        self.ingest(
            user,
            session,
            events,
            |s| &mut s.keyboard,
            |u| &mut u.enrolment.keyboard,
            |m| &m.keyboard,
            &self.keyboard,
            self.config.fusion.keyboard,
        )
    }

    /// Ingests a batch of mouse events of one session; see [`Engine::ingest_keyboard`].
    ///
    /// # Errors
    ///
    /// As [`Engine::ingest_keyboard`].
    pub fn ingest_mouse(&self, user: &str, session: u64, events: &[M::Event]) -> Result<()> {
        self.ingest(
            user,
            session,
            events,
            |s| &mut s.mouse,
            |u| &mut u.enrolment.mouse,
            |m| &m.mouse,
            &self.mouse,
            self.config.fusion.mouse,
        )
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "private helper shared by both modalities"
    )]
    fn ingest<X: Modality>(
        &self,
        user: &str,
        session: u64,
        events: &[X::Event],
        side_of: impl Fn(&mut SessionState<K, M>) -> &mut SideSession<X>,
        enrolment_of: impl Fn(&mut UserState<K, M>) -> &mut Vec<X::Action>,
        model_of: impl Fn(&UserModel<K::Model, M::Model>) -> &SideModel<X::Model>,
        modality: &X,
        weight: f64,
    ) -> Result<()> {
        let bad = |problem| Error::InvalidBatch {
            user: self.label(user),
            session,
            problem,
        };
        if events.is_empty() {
            return Err(bad(BatchProblem::Empty));
        }
        let max = self.config.limits.max_batch_events;
        if events.len() > max {
            return Err(bad(BatchProblem::TooLarge {
                len: events.len(),
                max,
            }));
        }
        let entry = self.user(user)?;
        let mut guard = lock(&entry);
        let state = &mut *guard;
        let last = state
            .sessions
            .get_mut(&session)
            .and_then(|s| side_of(s).last_event_us);
        validate::<X>(events, last).map_err(bad)?;

        let now = self.clock.now_us();
        self.make_room_for(state, session);
        let initial = self.config.trust.initial;
        state
            .sessions
            .entry(session)
            .or_insert_with(|| SessionState::new(initial, now));

        let mut actions = Vec::new();
        {
            let session_state = state
                .sessions
                .get_mut(&session)
                .expect("OK because inserted above");
            let side = side_of(session_state);
            for event in events {
                modality.extract(&mut side.extractor, event, &mut actions);
            }
            side.last_event_us = events.last().map(X::event_time_us);
        }

        let mut timings = Vec::new();
        let params = &self.config.trust;
        for action in &actions {
            let session_state = state
                .sessions
                .get_mut(&session)
                .expect("OK because inserted above");
            session_state.last_active_us = now;
            let mut track = session_state.track;
            let side = side_of(session_state);
            side.actions += 1;
            side.newest_us = Some(now);
            retain(
                &mut side.retained,
                action.clone(),
                self.config.limits.max_session_actions,
            );
            timings.clear();
            X::action_timings(action, &mut timings);
            let hash = side.rhythm.push(
                &self.config.defences,
                &self.hasher,
                X::NAME,
                X::action_time_us(action),
                &timings,
            );
            let side_update = match &state.model {
                Some(model) => {
                    let side_model = model_of(model);
                    modality.score(&side_model.current, action).map(|raw| {
                        let posterior = side_model.calibration.posterior(raw);
                        let idle = Duration::from_micros(now.saturating_sub(track.at_us));
                        let before = params.decay(track.trust, idle);
                        let after =
                            (before + weight * params.delta(posterior)).clamp(0.0, params.max);
                        track.trust = after;
                        track.at_us = now;
                        track.locked |= after < params.lockout;
                        (posterior, after - before)
                    })
                }
                None => None,
            };
            if let Some((posterior, change)) = side_update {
                side.posterior_sum += posterior;
                side.scored += 1;
                side.contribution += change;
            }
            if let Some(hash) = hash {
                let capacity = self.config.limits.max_replay_hashes;
                if state.replay.check_and_insert(hash, session, capacity) {
                    track.replay_hits += 1;
                }
            }
            let session_state = state
                .sessions
                .get_mut(&session)
                .expect("OK because inserted above");
            session_state.track = track;
            if state.model.is_none() {
                let buffer = enrolment_of(state);
                if buffer.len() < self.config.limits.max_enrolment_actions {
                    buffer.push(action.clone());
                }
            }
        }
        Ok(())
    }

    /// Drops the least recently active session when a new one would exceed the limit.
    fn make_room_for(&self, state: &mut UserState<K, M>, session: u64) {
        let limit = self.config.limits.max_sessions_per_user;
        if state.sessions.contains_key(&session) || state.sessions.len() < limit {
            return;
        }
        let oldest = state
            .sessions
            .iter()
            .min_by_key(|(id, s)| (s.last_active_us, **id));
        if let Some((&id, _)) = oldest {
            state.sessions.remove(&id);
        }
    }

    /// Trains `user`'s templates on the collected enrolment actions, calibrates them against
    /// the background population, sets the trust threshold for the target false-match rate,
    /// and saves the model file.
    ///
    /// # Errors
    ///
    /// [`Error::Enrolment`] when the user is already enrolled, has too little evidence, or no
    /// background population exists; training errors of a modality; [`Error::Io`] when the
    /// model cannot be saved (the collected actions are kept, so the call can be retried).
    pub fn finish_enrolment(&self, user: &str) -> Result<EnrolmentReport> {
        let entry = self.user(user)?;
        let mut state = lock(&entry);
        if state.model.is_some() {
            return Err(self.enrolment_error(user, EnrolmentProblem::AlreadyEnrolled));
        }
        let need = self.config.enrolment_evidence;
        let checks = [
            (K::NAME, state.enrolment.keyboard.len(), need.keyboard),
            (M::NAME, state.enrolment.mouse.len(), need.mouse),
        ];
        for (modality, have, need) in checks {
            if have < need {
                let problem = EnrolmentProblem::NotEnoughEvidence {
                    modality,
                    have,
                    need,
                };
                return Err(self.enrolment_error(user, problem));
            }
        }
        let background = self.background.read().unwrap_or_else(|p| p.into_inner());
        let folds = self.config.calibration_folds;
        let keyboard = train_side(
            &self.keyboard,
            &state.enrolment.keyboard,
            folds,
            background.iter().map(|b| &b.keyboard[..]),
        )
        .map_err(|e| self.no_background(user, K::NAME, e))?;
        let mouse = train_side(
            &self.mouse,
            &state.enrolment.mouse,
            folds,
            background.iter().map(|b| &b.mouse[..]),
        )
        .map_err(|e| self.no_background(user, M::NAME, e))?;

        let impostor: Vec<Vec<f64>> = background
            .iter()
            .map(|b| {
                let k = posteriors(&self.keyboard, &keyboard, &b.keyboard);
                let m = posteriors(&self.mouse, &mouse, &b.mouse);
                self.simulate_trust(&b.keyboard, &k, &b.mouse, &m)
            })
            .collect();
        drop(background);
        let genuine = self.simulate_trust(
            &state.enrolment.keyboard,
            &keyboard.genuine_posteriors,
            &state.enrolment.mouse,
            &mouse.genuine_posteriors,
        );
        let impostor: Vec<f64> = impostor.into_iter().flatten().collect();
        let params = &self.config.trust;
        let threshold = calibration::threshold_for_fmr(&impostor, self.config.target_fmr)
            .unwrap_or(params.max)
            .max(params.lockout);
        let rate = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().filter(|&&t| t > threshold).count() as f64 / v.len() as f64
            }
        };
        let report = EnrolmentReport {
            allow_threshold: threshold / params.max,
            impostor_allow_rate: rate(&impostor),
            genuine_allow_rate: rate(&genuine),
        };
        let model = UserModel {
            keyboard: SideModel {
                original: keyboard.model.clone(),
                current: keyboard.model,
                calibration: keyboard.calibration,
            },
            mouse: SideModel {
                original: mouse.model.clone(),
                current: mouse.model,
                calibration: mouse.calibration,
            },
            allow_threshold: threshold,
            adaptations: 0,
            replay_hashes: state.replay.to_pairs(),
        };
        if let Some(store) = &self.store {
            store.save(user, &self.header, &model)?;
        }
        tracing::info!(
            user = %self.label(user),
            keyboard_actions = state.enrolment.keyboard.len(),
            mouse_actions = state.enrolment.mouse.len(),
            "enrolment finished"
        );
        state.model = Some(model);
        state.enrolment = Default::default();
        // Enrolment sessions carry no trust; scoring starts with the next session.
        state.sessions.clear();
        Ok(report)
    }

    fn no_background(&self, user: &str, modality: &'static str, error: Error) -> Error {
        match error {
            Error::InvalidTrainingData { .. } if self.background_is_empty(modality) => {
                self.enrolment_error(user, EnrolmentProblem::NoBackground { modality })
            }
            other => other,
        }
    }

    fn background_is_empty(&self, modality: &str) -> bool {
        let background = self.background.read().unwrap_or_else(|p| p.into_inner());
        let actions: usize = background
            .iter()
            .map(|b| {
                if modality == K::NAME {
                    b.keyboard.len()
                } else {
                    b.mouse.len()
                }
            })
            .sum();
        actions < 2
    }

    /// Runs the trust model over one person's actions of both modalities in time order and
    /// returns trust after each action once the smaller per-modality minimum of evidence is
    /// reached: the values a decision would see.
    fn simulate_trust(
        &self,
        keyboard: &[K::Action],
        keyboard_posteriors: &[Option<f64>],
        mouse: &[M::Action],
        mouse_posteriors: &[Option<f64>],
    ) -> Vec<f64> {
        let weights = self.config.fusion;
        let mut merged: Vec<(f64, f64, f64)> = keyboard
            .iter()
            .zip(keyboard_posteriors)
            .filter_map(|(a, p)| p.map(|p| (K::action_time_us(a), weights.keyboard, p)))
            .chain(
                mouse
                    .iter()
                    .zip(mouse_posteriors)
                    .filter_map(|(a, p)| p.map(|p| (M::action_time_us(a), weights.mouse, p))),
            )
            .collect();
        merged.sort_by(|a, b| a.0.total_cmp(&b.0));
        let params = &self.config.trust;
        let skip = self
            .config
            .min_evidence
            .keyboard
            .min(self.config.min_evidence.mouse);
        let mut trust = params.initial;
        let mut values = Vec::new();
        for (i, (_, weight, posterior)) in merged.into_iter().enumerate() {
            trust = (trust + weight * params.delta(posterior)).clamp(0.0, params.max);
            if i + 1 >= skip {
                values.push(trust);
            }
        }
        values
    }

    /// Reports trust and evidence of a session. A session with no events yet reports initial
    /// trust and no evidence.
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
        Ok(Score {
            trust: trust / params.max,
            allow_threshold: model.allow_threshold / params.max,
            lockout_threshold: params.lockout / params.max,
            keyboard: self.evidence(&s.keyboard, self.config.min_evidence.keyboard, now),
            mouse: self.evidence(&s.mouse, self.config.min_evidence.mouse, now),
            replay_hits: s.track.replay_hits,
            synthetic: interval_cv.is_some_and(|cv| cv < self.config.defences.min_interval_cv),
            interval_cv,
            locked: s.track.locked,
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

    /// Records that the user of `session` passed another authentication factor: the session's
    /// trust returns to its initial value and its lock is lifted, and each template absorbs the
    /// session's recent actions when they were already close to it (mean calibrated posterior
    /// at least `adaptation.min_posterior`, at least `adaptation.min_actions` actions, no replay
    /// or synthetic flag). Each update moves parameters by at most `adaptation.rate`.
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
            ..s.track
        };
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
        if close(&score.keyboard, s.keyboard.retained.len()) {
            model.keyboard.current =
                self.keyboard
                    .adapt(&model.keyboard.current, &s.keyboard.retained, a.rate)?;
            done.keyboard = true;
        }
        if close(&score.mouse, s.mouse.retained.len()) {
            model.mouse.current =
                self.mouse
                    .adapt(&model.mouse.current, &s.mouse.retained, a.rate)?;
            done.mouse = true;
        }
        if done.keyboard || done.mouse {
            model.adaptations += 1;
            model.replay_hashes = state.replay.to_pairs();
            if let Some(store) = &self.store {
                if let Err(e) = store.save(user, &self.header, &*model) {
                    *model = previous;
                    return Err(e);
                }
            }
            // The same actions must not be absorbed twice.
            s.keyboard.retained.clear();
            s.mouse.retained.clear();
        }
        Ok(done)
    }

    /// Restores both templates to what enrolment trained and saves the model.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownUser`]; [`Error::Enrolment`] when the user is not enrolled or has no
    /// adaptation; [`Error::Io`] when the model cannot be saved (memory keeps the adapted
    /// template then, matching the file).
    pub fn revert_adaptation(&self, user: &str) -> Result<()> {
        let entry = self.user(user)?;
        let mut state = lock(&entry);
        let Some(model) = state.model.as_mut() else {
            return Err(self.enrolment_error(user, EnrolmentProblem::NotEnrolled));
        };
        if model.adaptations == 0 {
            return Err(self.enrolment_error(user, EnrolmentProblem::NothingToRevert));
        }
        let mut reverted = model.clone();
        reverted.keyboard.current = reverted.keyboard.original.clone();
        reverted.mouse.current = reverted.mouse.original.clone();
        reverted.adaptations = 0;
        if let Some(store) = &self.store {
            store.save(user, &self.header, &reverted)?;
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
    /// # Errors
    ///
    /// [`Error::UnknownUser`].
    pub fn end_session(&self, user: &str, session: u64) -> Result<()> {
        let entry = self.user(user)?;
        lock(&entry).sessions.remove(&session);
        Ok(())
    }

    /// Removes `user` from memory and deletes their model file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be deleted.
    pub fn remove_user(&self, user: &str) -> Result<()> {
        if self.users.remove(&self.key(user)) {
            self.user_count.fetch_sub(1, Ordering::SeqCst);
        }
        match &self.store {
            Some(store) => store.remove(user),
            None => Ok(()),
        }
    }
}

/// A trained and calibrated side, before it goes into a [`UserModel`].
struct TrainedSide<T> {
    model: T,
    calibration: ScoreCalibration,
    genuine_posteriors: Vec<Option<f64>>,
}

fn train_side<'a, X: Modality>(
    modality: &X,
    actions: &[X::Action],
    folds: usize,
    background: impl Iterator<Item = &'a [X::Action]>,
) -> Result<TrainedSide<X::Model>> {
    let model = modality.train(actions)?;
    let genuine = calibration::cross_validated_scores(modality, actions, folds)?;
    let impostor: Vec<f64> = background
        .flatten()
        .filter_map(|a| modality.score(&model, a))
        .collect();
    let genuine_flat: Vec<f64> = genuine.iter().flatten().copied().collect();
    let calibration = ScoreCalibration::fit(&genuine_flat, &impostor)?;
    let genuine_posteriors = genuine
        .iter()
        .map(|s| s.map(|s| calibration.posterior(s)))
        .collect();
    Ok(TrainedSide {
        model,
        calibration,
        genuine_posteriors,
    })
}

/// Calibrated posteriors of `actions` under a trained side, aligned with `actions`.
fn posteriors<X: Modality>(
    modality: &X,
    side: &TrainedSide<X::Model>,
    actions: &[X::Action],
) -> Vec<Option<f64>> {
    let score = |a| {
        modality
            .score(&side.model, a)
            .map(|raw| side.calibration.posterior(raw))
    };
    actions.iter().map(score).collect()
}

/// Appends `action`, dropping the older half when `limit` is reached so that trimming costs
/// amortised O(1) per action.
fn retain<T>(kept: &mut Vec<T>, action: T, limit: usize) {
    if limit == 0 {
        return;
    }
    if kept.len() >= limit {
        kept.drain(..kept.len() / 2 + 1);
    }
    kept.push(action);
}

/// Checks timestamps of a batch: finite, not negative, and not earlier than the previous
/// event of the same modality in the session (`last`) or in the batch.
fn validate<X: Modality>(
    events: &[X::Event],
    last: Option<f64>,
) -> std::result::Result<(), BatchProblem> {
    let mut previous = last;
    for (index, event) in events.iter().enumerate() {
        let value = X::event_time_us(event);
        if !value.is_finite() {
            return Err(BatchProblem::NonFiniteTimestamp { index, value });
        }
        if value < 0.0 {
            return Err(BatchProblem::NegativeTimestamp { index, value });
        }
        if let Some(previous_us) = previous {
            if value < previous_us {
                return Err(BatchProblem::TimeWentBackwards {
                    index,
                    time_us: value,
                    previous_us,
                });
            }
        }
        previous = Some(value);
    }
    Ok(())
}

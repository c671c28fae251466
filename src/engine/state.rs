//! Per-user and per-session state, the stored user model, and the sharded user map.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

use super::calibration::{NEVER_ALLOW, ScoreCalibration};
use super::defences::{ReplayLog, Rhythm, TimingStore};
use super::modality::Modality;
use super::window::PosteriorWindow;
use crate::store::Rejection;

/// One modality's part of a stored user model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideModel<T> {
    /// The template in use, possibly adapted.
    pub current: T,
    /// The template as enrolment trained it; [`Engine::revert_adaptation`] restores it.
    ///
    /// [`Engine::revert_adaptation`]: super::Engine::revert_adaptation
    pub original: T,
    /// Calibration of raw scores, fitted at enrolment.
    pub calibration: ScoreCalibration,
}

/// Everything stored in a user's model file (layout `user-model/v3`).
///
/// A side is `None` exactly when the engine that enrolled the user disabled that modality
/// (see [`Modalities`](super::Modalities)). Loading checks that the sides match the enabled
/// modalities. Deserialising checks the allow threshold, so a
/// decoded model never reports a threshold outside `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "UserModelFields<KeyboardModel, MouseModel>",
    bound(deserialize = "KeyboardModel: Deserialize<'de>, MouseModel: Deserialize<'de>")
)]
pub struct UserModel<KeyboardModel, MouseModel> {
    /// Keyboard template and calibration; `None` when the keyboard is disabled.
    pub keyboard: Option<SideModel<KeyboardModel>>,
    /// Mouse template and calibration; `None` when the mouse is disabled.
    pub mouse: Option<SideModel<MouseModel>>,
    /// Window statistic (fused mean calibrated posterior, see [`window`](super::window)) in
    /// `[0, 1]` above which a session is allowed, set for the target false-match rate;
    /// [`NEVER_ALLOW`] when that rate is out of reach or the model was converted from an older
    /// layout.
    pub allow_threshold: f64,
    /// Template updates since enrolment.
    pub adaptations: u32,
    /// Keyed replay hashes with the session that produced each, oldest first.
    ///
    /// Enrolment, adaptation, [`Engine::end_session`] and [`Engine::save_all`] write the
    /// current hashes to the file.
    /// Ingestion also writes them every [`DefenceParams::replay_save_every`] new hashes, so
    /// while those writes succeed a crash loses at most that many.
    ///
    /// [`DefenceParams::replay_save_every`]: super::DefenceParams::replay_save_every
    ///
    /// [`Engine::end_session`]: super::Engine::end_session
    /// [`Engine::save_all`]: super::Engine::save_all
    pub replay_hashes: Vec<(u64, u64)>,
}

/// The serialised fields of a [`UserModel`], before the threshold check.
#[derive(Deserialize)]
struct UserModelFields<KeyboardModel, MouseModel> {
    keyboard: Option<SideModel<KeyboardModel>>,
    mouse: Option<SideModel<MouseModel>>,
    allow_threshold: f64,
    adaptations: u32,
    replay_hashes: Vec<(u64, u64)>,
}

impl<KeyboardModel, MouseModel> TryFrom<UserModelFields<KeyboardModel, MouseModel>>
    for UserModel<KeyboardModel, MouseModel>
{
    type Error = Rejection;

    /// Accepts an allow threshold in `[0, 1]`, the range enrolment writes, and calibrations
    /// with finite means and finite positive spreads, as `ScoreCalibration::fit` writes. Any
    /// other value, NaN included, would make decisions meaningless, so the file is rejected.
    fn try_from(fields: UserModelFields<KeyboardModel, MouseModel>) -> Result<Self, Rejection> {
        if !(0.0..=NEVER_ALLOW).contains(&fields.allow_threshold) {
            return Err(Rejection::from(format!(
                "allow threshold {} is outside [0, 1]; the file is damaged, enrol the user again",
                fields.allow_threshold
            )));
        }
        let calibrations = [
            ("keyboard", fields.keyboard.as_ref().map(|s| &s.calibration)),
            ("mouse", fields.mouse.as_ref().map(|s| &s.calibration)),
        ];
        for (side, calibration) in calibrations {
            let Some(c) = calibration else { continue };
            let means = [c.genuine_mean, c.impostor_mean];
            let spreads = [c.genuine_sd, c.impostor_sd];
            if !means.iter().all(|m| m.is_finite())
                || !spreads.iter().all(|s| s.is_finite() && *s > 0.0)
            {
                return Err(Rejection::from(format!(
                    "the {side} calibration {c:?} needs finite means and finite positive \
                     spreads; the file is damaged, enrol the user again"
                )));
            }
        }
        Ok(UserModel {
            keyboard: fields.keyboard,
            mouse: fields.mouse,
            allow_threshold: fields.allow_threshold,
            adaptations: fields.adaptations,
            replay_hashes: fields.replay_hashes,
        })
    }
}

impl<KeyboardModel, MouseModel> UserModel<KeyboardModel, MouseModel> {
    /// Names the modalities with a template, such as `keyboard+mouse`, for messages.
    pub fn sides(&self) -> &'static str {
        side_names(self.keyboard.is_some(), self.mouse.is_some())
    }

    /// Converts the templates of a model read under an earlier schema text (see
    /// [`Modality::EARLIER_SCHEMA`](super::Modality::EARLIER_SCHEMA)); everything else stays.
    pub(crate) fn convert<K, M>(self) -> UserModel<K, M>
    where
        KeyboardModel: Into<K>,
        MouseModel: Into<M>,
    {
        UserModel {
            keyboard: self.keyboard.map(SideModel::convert),
            mouse: self.mouse.map(SideModel::convert),
            allow_threshold: self.allow_threshold,
            adaptations: self.adaptations,
            replay_hashes: self.replay_hashes,
        }
    }
}

impl<T> SideModel<T> {
    /// Converts both templates; the calibration stays, so the converted template must score
    /// as the old one did.
    fn convert<U>(self) -> SideModel<U>
    where
        T: Into<U>,
    {
        SideModel {
            current: self.current.into(),
            original: self.original.into(),
            calibration: self.calibration,
        }
    }
}

/// Names a combination of modalities for messages.
pub(crate) fn side_names(keyboard: bool, mouse: bool) -> &'static str {
    match (keyboard, mouse) {
        (true, true) => "keyboard+mouse",
        (true, false) => "keyboard",
        (false, true) => "mouse",
        (false, false) => "no modality",
    }
}

/// The model file layout `user-model/v2`, written before `Allow` rested on the window
/// statistic: its `allow_threshold` is on the trust scale. The engine reads such files and
/// converts them with [`From`], which sets the allow threshold to [`NEVER_ALLOW`] because a
/// trust threshold carries no information about window statistics. The user then gets
/// `StepUp`, never `Allow`, until they enrol again. The engine never writes this layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserModelV2<KeyboardModel, MouseModel> {
    /// Keyboard template and calibration; `None` when the keyboard is disabled.
    pub keyboard: Option<SideModel<KeyboardModel>>,
    /// Mouse template and calibration; `None` when the mouse is disabled.
    pub mouse: Option<SideModel<MouseModel>>,
    /// Trust above which a session was allowed.
    pub allow_threshold: f64,
    /// Template updates since enrolment.
    pub adaptations: u32,
    /// Keyed replay hashes with their sessions, oldest first.
    pub replay_hashes: Vec<(u64, u64)>,
}

impl<KeyboardModel, MouseModel> From<UserModelV1<KeyboardModel, MouseModel>>
    for UserModel<KeyboardModel, MouseModel>
{
    fn from(old: UserModelV1<KeyboardModel, MouseModel>) -> Self {
        UserModelV2::from(old).into()
    }
}

impl<KeyboardModel, MouseModel> From<UserModelV2<KeyboardModel, MouseModel>>
    for UserModel<KeyboardModel, MouseModel>
{
    fn from(old: UserModelV2<KeyboardModel, MouseModel>) -> Self {
        UserModel {
            keyboard: old.keyboard,
            mouse: old.mouse,
            allow_threshold: NEVER_ALLOW,
            adaptations: old.adaptations,
            replay_hashes: old.replay_hashes,
        }
    }
}

/// The model file layout `user-model/v1`, written before modalities became optional: both
/// sides always present, and `allow_threshold` on the trust scale. The engine reads such files
/// and converts them with [`From`] as [`UserModelV2`] does, but it never writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserModelV1<KeyboardModel, MouseModel> {
    /// Keyboard template and calibration.
    pub keyboard: SideModel<KeyboardModel>,
    /// Mouse template and calibration.
    pub mouse: SideModel<MouseModel>,
    /// Trust above which a session is allowed.
    pub allow_threshold: f64,
    /// Template updates since enrolment.
    pub adaptations: u32,
    /// Keyed replay hashes with their sessions, oldest first.
    pub replay_hashes: Vec<(u64, u64)>,
}

impl<KeyboardModel, MouseModel> From<UserModelV1<KeyboardModel, MouseModel>>
    for UserModelV2<KeyboardModel, MouseModel>
{
    fn from(old: UserModelV1<KeyboardModel, MouseModel>) -> Self {
        UserModelV2 {
            keyboard: Some(old.keyboard),
            mouse: Some(old.mouse),
            allow_threshold: old.allow_threshold,
            adaptations: old.adaptations,
            replay_hashes: old.replay_hashes,
        }
    }
}

/// One modality's part of a session.
#[derive(Debug)]
pub(crate) struct SideSession<X: Modality> {
    pub(crate) extractor: X::Extractor,
    pub(crate) last_event_us: Option<f64>,
    pub(crate) actions: u64,
    /// Engine-clock time of the newest action, microseconds.
    pub(crate) newest_us: Option<u64>,
    /// Recent actions kept for template adaptation.
    pub(crate) retained: Vec<X::Action>,
    pub(crate) rhythm: Rhythm,
    /// Sum of weighted trust changes caused by this modality.
    pub(crate) contribution: f64,
    pub(crate) posterior_sum: f64,
    pub(crate) scored: u64,
    /// Posteriors of the most recent scored actions, for the window statistic.
    pub(crate) window: PosteriorWindow,
}

impl<X: Modality> Default for SideSession<X> {
    fn default() -> Self {
        SideSession {
            extractor: X::Extractor::default(),
            last_event_us: None,
            actions: 0,
            newest_us: None,
            retained: Vec::new(),
            rhythm: Rhythm::default(),
            contribution: 0.0,
            posterior_sum: 0.0,
            scored: 0,
            window: PosteriorWindow::default(),
        }
    }
}

/// One session of one user.
#[derive(Debug)]
pub(crate) struct SessionState<K: Modality, M: Modality> {
    pub(crate) keyboard: SideSession<K>,
    pub(crate) mouse: SideSession<M>,
    pub(crate) track: TrustTrack,
    pub(crate) last_active_us: u64,
}

/// The trust side of a session, shared by both modalities.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrustTrack {
    pub(crate) trust: f64,
    /// Engine-clock time at which `trust` was last updated, microseconds.
    pub(crate) at_us: u64,
    pub(crate) locked: bool,
    pub(crate) replay_hits: u32,
    /// Whether the user passed another factor in this session ([`Engine::report_success`]) and
    /// no modality has completed a window of actions since.
    ///
    /// [`Engine::report_success`]: super::Engine::report_success
    pub(crate) verified: bool,
}

impl<K: Modality, M: Modality> SessionState<K, M> {
    pub(crate) fn new(initial_trust: f64, now_us: u64) -> Self {
        SessionState {
            keyboard: SideSession::default(),
            mouse: SideSession::default(),
            track: TrustTrack {
                trust: initial_trust,
                at_us: now_us,
                locked: false,
                replay_hits: 0,
                verified: false,
            },
            last_active_us: now_us,
        }
    }
}

/// Actions collected while a user enrols.
#[derive(Debug)]
pub(crate) struct EnrolmentBuffer<K: Modality, M: Modality> {
    pub(crate) keyboard: Vec<K::Action>,
    pub(crate) mouse: Vec<M::Action>,
}

impl<K: Modality, M: Modality> Default for EnrolmentBuffer<K, M> {
    fn default() -> Self {
        EnrolmentBuffer {
            keyboard: Vec::new(),
            mouse: Vec::new(),
        }
    }
}

/// One [`TimingStore`] per modality.
#[derive(Debug, Default)]
pub(crate) struct TimingStores {
    pub(crate) keyboard: TimingStore,
    pub(crate) mouse: TimingStore,
}

/// Everything the engine holds for one user.
#[derive(Debug)]
pub(crate) struct UserState<K: Modality, M: Modality> {
    pub(crate) model: Option<UserModel<K::Model, M::Model>>,
    pub(crate) enrolment: EnrolmentBuffer<K, M>,
    pub(crate) sessions: HashMap<u64, SessionState<K, M>>,
    pub(crate) replay: ReplayLog,
    /// Timings of recent actions for the tolerant replay check, in memory only.
    pub(crate) timings: TimingStores,
    /// The user's model file, when the engine has a store; the engine keeps this path (a keyed
    /// hash) instead of the clear user id. [`Engine::remove_user`] sets it to `None`, so a call
    /// that held the user before the removal cannot write the file again.
    ///
    /// [`Engine::remove_user`]: super::Engine::remove_user
    pub(crate) file: Option<PathBuf>,
    /// New replay hashes stored since the user's file was last written with the current
    /// hashes, or since a write during ingestion failed.
    pub(crate) unsaved_hashes: usize,
    /// Lock that [`Engine::finish_enrolment`] holds from start to end, so that one call at a
    /// time trains the user's enrolment while the user's own lock stays free for batches.
    ///
    /// [`Engine::finish_enrolment`]: super::Engine::finish_enrolment
    pub(crate) finishing: Arc<Mutex<()>>,
}

impl<K: Modality, M: Modality> UserState<K, M> {
    pub(crate) fn new(file: Option<PathBuf>) -> Self {
        UserState {
            model: None,
            enrolment: EnrolmentBuffer::default(),
            sessions: HashMap::new(),
            replay: ReplayLog::default(),
            timings: TimingStores::default(),
            file,
            unsaved_hashes: 0,
            finishing: Arc::default(),
        }
    }

    pub(crate) fn from_model(model: UserModel<K::Model, M::Model>, file: Option<PathBuf>) -> Self {
        let replay = ReplayLog::from_pairs(&model.replay_hashes);
        UserState {
            model: Some(model),
            replay,
            ..UserState::new(file)
        }
    }

    pub(crate) fn from_enrolment(
        record: EnrolmentRecord<K::Action, M::Action>,
        file: Option<PathBuf>,
    ) -> Self {
        UserState {
            enrolment: EnrolmentBuffer {
                keyboard: record.keyboard,
                mouse: record.mouse,
            },
            replay: ReplayLog::from_pairs(&record.replay_hashes),
            ..UserState::new(file)
        }
    }
}

/// The file record of a user who is still enrolling (layout `enrolment-record/v1`): the
/// collected actions and the replay hashes of the enrolment sessions.
///
/// Actions contain timings, derived features and keyed hashes only (see
/// [`Modality::Action`]), never key codes or text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EnrolmentRecord<KeyboardAction, MouseAction> {
    pub(crate) keyboard: Vec<KeyboardAction>,
    pub(crate) mouse: Vec<MouseAction>,
    pub(crate) replay_hashes: Vec<(u64, u64)>,
}

/// [`EnrolmentRecord`] borrowed for saving; it serialises to the same bytes.
#[derive(Debug, Serialize)]
pub(crate) struct EnrolmentRecordRef<'a, KeyboardAction, MouseAction> {
    pub(crate) keyboard: &'a [KeyboardAction],
    pub(crate) mouse: &'a [MouseAction],
    pub(crate) replay_hashes: Vec<(u64, u64)>,
}

/// Users keyed by the keyed hash of their id, split over shards so that threads working on
/// different users rarely touch the same lock.
///
/// The shard lock is held only to find or insert a user's `Arc`; all work on a user happens
/// under that user's own mutex. A hand-written map instead of a concurrent-map crate keeps the
/// dependency list to what the project already uses; the pattern needs only std.
#[derive(Debug)]
pub(crate) struct ShardedUsers<T> {
    shards: Box<[Shard<T>]>,
    /// Loading locks, one per shard. Each is held from reading a user's file to inserting the
    /// user, and while removing a user, so a removal cannot leave a deleted user in memory.
    /// Reading a file under the shard lock instead would block lookups of other users.
    loading: Box<[Mutex<()>]>,
}

/// One shard: users keyed by the keyed hash of their id.
type Shard<T> = RwLock<HashMap<[u8; 32], Arc<Mutex<T>>>>;

const SHARDS: usize = 64;

impl<T> ShardedUsers<T> {
    pub(crate) fn new() -> Self {
        ShardedUsers {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            loading: (0..SHARDS).map(|_| Mutex::new(())).collect(),
        }
    }

    fn index(key: &[u8; 32]) -> usize {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        (hasher.finish() as usize) % SHARDS
    }

    fn shard(&self, key: &[u8; 32]) -> &Shard<T> {
        &self.shards[Self::index(key)]
    }

    /// Locks the loading lock of `key`'s shard (see [`ShardedUsers::loading`]). A caller
    /// that also locks a user must take this lock first.
    pub(crate) fn lock_loading(&self, key: &[u8; 32]) -> MutexGuard<'_, ()> {
        lock(&self.loading[Self::index(key)])
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<Mutex<T>>> {
        read(self.shard(key)).get(key).cloned()
    }

    /// Inserts `make()` unless the key exists; returns the entry and whether it was inserted.
    pub(crate) fn get_or_insert(
        &self,
        key: [u8; 32],
        make: impl FnOnce() -> T,
    ) -> (Arc<Mutex<T>>, bool) {
        let mut shard = self.shard(&key).write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = shard.get(&key) {
            return (existing.clone(), false);
        }
        let entry = Arc::new(Mutex::new(make()));
        shard.insert(key, entry.clone());
        (entry, true)
    }

    /// Returns every entry at the moment each shard is read; users added meanwhile may be
    /// missing.
    pub(crate) fn entries(&self) -> Vec<Arc<Mutex<T>>> {
        self.shards
            .iter()
            .flat_map(|shard| read(shard).values().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Removes the entry of `key` and returns it, if there was one.
    pub(crate) fn remove(&self, key: &[u8; 32]) -> Option<Arc<Mutex<T>>> {
        let mut shard = self.shard(key).write().unwrap_or_else(|p| p.into_inner());
        shard.remove(key)
    }
}

fn read<V>(lock: &RwLock<V>) -> std::sync::RwLockReadGuard<'_, V> {
    // A panic while holding a shard lock cannot leave the map half-updated (insert and remove
    // are single calls), so a poisoned lock is still consistent.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

/// Locks a user's state, recovering it from a poisoned lock.
///
/// A panic under this lock would be a bug in the engine or a modality. The state stays usable
/// because updates start only after the batch validated, so the worst case is a partially
/// scored batch.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

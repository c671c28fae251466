//! The trait through which a modality (keyboard, mouse) plugs into the engine.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;

/// One input modality: turns a session's raw events into actions, trains a per-user model on
/// enrolment actions, and scores each new action.
///
/// An *action* is the unit the trust model updates on: a keystroke, or a mouse movement or
/// click. The engine validates timestamps, keeps evidence counts, calibrates raw scores, runs
/// the replay and synthetic-input checks, and stores the model; the modality only does the
/// feature work.
pub trait Modality: Send + Sync + 'static {
    /// A raw event as the agent records it.
    type Event: Send + Sync;
    /// One action, built from one or more events.
    ///
    /// Actions of users still enrolling are saved by [`Engine::save_all`], so they must hold
    /// only timings, derived features and keyed hashes: never key codes or text.
    ///
    /// [`Engine::save_all`]: super::Engine::save_all
    type Action: Clone + Debug + Send + Sync + Serialize + DeserializeOwned;
    /// Per-session state of the event-to-action conversion (for example keys that are down).
    type Extractor: Default + Debug + Send;
    /// A trained per-user model; it is stored in the model file.
    type Model: Clone + Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned;
    /// The model type of files written under [`Modality::EARLIER_SCHEMA`], converted with
    /// [`Into`] when such a file is loaded. It has no default (associated type defaults are
    /// not stable Rust), so a modality without an earlier schema names its
    /// [`Modality::Model`] type here.
    type EarlierModel: Debug + DeserializeOwned + Into<Self::Model>;

    /// Short name used in errors, reports and the model kind, such as `keyboard`.
    const NAME: &'static str;
    /// Text that names the feature schema; its hash is stored in model files, so changing the
    /// features must change this text.
    const SCHEMA: &'static str;
    /// The schema text this one replaced, when the engine still reads files written under it:
    /// their actions have the type and meaning of [`Modality::Action`] today, and their
    /// models are [`Modality::EarlierModel`]s. `None` when there is no such text.
    ///
    /// A converted model keeps the calibration and allow threshold fitted for the old one, so
    /// it must score every action exactly as the old model did. Only one earlier text is
    /// read, and only in the current layouts (`user-model/v3`, `enrolment-record/v1`): when
    /// the text changes again, files of the text before the earlier one fail to load.
    const EARLIER_SCHEMA: Option<&'static str> = None;

    /// Timestamp of `event` in microseconds; the engine rejects NaN, infinite and negative
    /// values and events earlier than the previous one of the same session.
    fn event_time_us(event: &Self::Event) -> f64;

    /// Feeds one validated event to the session's extractor and appends any completed actions.
    fn extract(
        &self,
        state: &mut Self::Extractor,
        event: &Self::Event,
        out: &mut Vec<Self::Action>,
    );

    /// Start time of `action` in microseconds, used for interval statistics and ordering.
    fn action_time_us(action: &Self::Action) -> f64;

    /// Appends the timing values of `action` in microseconds (such as a hold time) that the
    /// replay check hashes after quantisation.
    fn action_timings(action: &Self::Action, out: &mut Vec<f64>);

    /// Trains a model on one user's enrolment actions. `background` contains the background
    /// population's actions, one entry per person with that person's sessions. A one-class
    /// model ignores it. A two-class model uses it as the other class and must then return
    /// `true` from [`Modality::uses_background`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTrainingData`](crate::Error::InvalidTrainingData) when the actions cannot
    /// support a model.
    fn train(
        &self,
        actions: &[Self::Action],
        background: &[Vec<&[Self::Action]>],
    ) -> Result<Self::Model>;

    /// Returns whether [`Modality::train`] fits on the background actions. The engine then
    /// scores each background person, for the impostor calibration, only with models fitted
    /// without that person. A model scores the people it was fitted on as less like the user
    /// than it would score a stranger, so their scores would set the threshold too low.
    fn uses_background(&self) -> bool {
        false
    }

    /// Raw anomaly score of `action` under `model`: higher is less like the user. `None` when
    /// the model cannot score this action (for example a key never seen in enrolment).
    fn score(&self, model: &Self::Model, action: &Self::Action) -> Option<f64>;

    /// Returns `model` moved toward what `actions` show, by at most the fraction `rate` (in
    /// `(0, 1]`) of the distance for every parameter. A model that cannot move this way may
    /// return itself unchanged; the engine then counts no adaptation.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTrainingData`](crate::Error::InvalidTrainingData) when the actions cannot
    /// inform the model.
    fn adapt(
        &self,
        model: &Self::Model,
        actions: &[Self::Action],
        rate: f64,
    ) -> Result<Self::Model>;
}

//! Files written under a modality's earlier schema text load and convert, for the keyboard
//! side, the mouse side and both (see `Modality::EARLIER_SCHEMA`).

use std::path::Path;

use kinetype::engine::{
    Engine, EngineConfig, EnrolmentStatus, KeyHoldModality, Modalities, Modality, SideModel,
    UserModel,
};
use kinetype::{Error, ModelFileProblem, Result};
use serde::{Deserialize, Serialize};

use crate::common::{ClickModality, Person, SECRET, engine_with, enrol, small_config};

/// The model of [`Renamed`]: the wrapped modality's model and whether it was converted from
/// a file of the earlier schema. The extra field changes the encoding, so reading a side
/// with the wrong type fails or gives other values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Upgraded<T> {
    inner: T,
    converted: bool,
}

impl<T> From<T> for Upgraded<T> {
    fn from(inner: T) -> Self {
        Upgraded {
            inner,
            converted: true,
        }
    }
}

/// A modality that scores as `X` but has a new schema text and model type, with `X`'s
/// schema text as the earlier one.
struct Renamed<X>(X);

impl<X: Modality> Modality for Renamed<X> {
    type Event = X::Event;
    type Action = X::Action;
    type Extractor = X::Extractor;
    type Model = Upgraded<X::Model>;
    type EarlierModel = X::Model;

    const NAME: &'static str = X::NAME;
    const SCHEMA: &'static str = "renamed-test/v2: the wrapped modality's model and a flag";
    const EARLIER_SCHEMA: Option<&'static str> = Some(X::SCHEMA);

    fn event_time_us(event: &X::Event) -> f64 {
        X::event_time_us(event)
    }

    fn extract(&self, state: &mut X::Extractor, event: &X::Event, out: &mut Vec<X::Action>) {
        self.0.extract(state, event, out);
    }

    fn action_time_us(action: &X::Action) -> f64 {
        X::action_time_us(action)
    }

    fn action_timings(action: &X::Action, out: &mut Vec<f64>) {
        X::action_timings(action, out);
    }

    fn train(
        &self,
        actions: &[X::Action],
        background: &[Vec<&[X::Action]>],
    ) -> Result<Self::Model> {
        let inner = self.0.train(actions, background)?;
        Ok(Upgraded {
            inner,
            converted: false,
        })
    }

    fn score(&self, model: &Self::Model, action: &X::Action) -> Option<f64> {
        self.0.score(&model.inner, action)
    }

    fn adapt(&self, model: &Self::Model, actions: &[X::Action], rate: f64) -> Result<Self::Model> {
        let inner = self.0.adapt(&model.inner, actions, rate)?;
        Ok(Upgraded { inner, ..*model })
    }
}

/// Converts a side as a [`Renamed`] modality reads it.
fn upgraded<T: Clone>(side: &SideModel<T>) -> SideModel<Upgraded<T>> {
    SideModel {
        current: side.current.clone().into(),
        original: side.original.clone().into(),
        calibration: side.calibration,
    }
}

fn config(dir: &Path, modalities: Modalities) -> EngineConfig {
    let mut config = small_config();
    config.model_dir = Some(dir.to_owned());
    config.modalities = modalities;
    config
}

/// Writes an enrolled user `done` and a user `half` still enrolling with the test engine,
/// whose schema texts are the earlier ones of [`Renamed`]. Returns the model of `done` and
/// the enrolment status of `half`.
fn write_files(
    dir: &Path,
) -> (
    UserModel<kinetype::engine::HoldTimeModel, crate::common::ClickModel>,
    EnrolmentStatus,
) {
    let (engine, _) = engine_with(config(dir, Modalities::BOTH), 4);
    enrol(&engine, "done", &Person::new(1), 1);
    engine.begin_enrolment("half").unwrap();
    let person = Person::new(2);
    engine
        .ingest_keyboard("half", 0, &person.keys(20, 0, 2))
        .unwrap();
    engine
        .ingest_mouse("half", 0, &person.clicks(5, 0.0, 2))
        .unwrap();
    engine.save_all().unwrap();
    let model = engine.user_model("done").unwrap().unwrap();
    let status = engine.enrolment_status("half").unwrap();
    (model, status)
}

#[test]
fn each_side_converts() {
    let dir = tempfile::tempdir().unwrap();
    let (model, status) = write_files(dir.path());
    let keyboard = || KeyHoldModality::new(SECRET);
    let both = Modalities::BOTH;

    let new_keyboard =
        Engine::new(config(dir.path(), both), Renamed(keyboard()), ClickModality).unwrap();
    let loaded = new_keyboard.user_model("done").unwrap().unwrap();
    assert_eq!(loaded.keyboard, model.keyboard.as_ref().map(upgraded));
    assert_eq!(loaded.mouse, model.mouse);
    assert_eq!(
        (loaded.allow_threshold, loaded.adaptations),
        (model.allow_threshold, 0)
    );
    assert_eq!(new_keyboard.enrolment_status("half").unwrap(), status);

    let new_mouse =
        Engine::new(config(dir.path(), both), keyboard(), Renamed(ClickModality)).unwrap();
    let loaded = new_mouse.user_model("done").unwrap().unwrap();
    assert_eq!(loaded.keyboard, model.keyboard);
    assert_eq!(loaded.mouse, model.mouse.as_ref().map(upgraded));
    assert_eq!(new_mouse.enrolment_status("half").unwrap(), status);

    let new_both = Engine::new(
        config(dir.path(), both),
        Renamed(keyboard()),
        Renamed(ClickModality),
    )
    .unwrap();
    let loaded = new_both.user_model("done").unwrap().unwrap();
    assert_eq!(loaded.keyboard, model.keyboard.as_ref().map(upgraded));
    assert_eq!(loaded.mouse, model.mouse.as_ref().map(upgraded));
    assert_eq!(new_both.enrolment_status("half").unwrap(), status);
}

#[test]
fn converted_sides_must_match_modalities() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let engine = Engine::new(
        config(dir.path(), Modalities::KEYBOARD_ONLY),
        Renamed(KeyHoldModality::new(SECRET)),
        ClickModality,
    )
    .unwrap();
    match engine.user_model("done") {
        Err(Error::ModelFile {
            problem: ModelFileProblem::ModalityMismatch { stored, enabled },
            ..
        }) => assert_eq!(
            (stored.as_str(), enabled.as_str()),
            ("keyboard+mouse", "keyboard")
        ),
        other => panic!("expected a modality mismatch, got {other:?}"),
    }
}

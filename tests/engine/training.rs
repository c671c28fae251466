//! Enrolment trains without holding the user's lock: the user's batches and queries go on
//! while the models are fitted, and removals during training win.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use kinetype::engine::{Engine, EnrolmentStatus, KeyHoldModality, ManualClock, Modality};
use kinetype::{EnrolmentProblem, Error, Result};

use crate::common::{Click, ClickAction, ClickModality, ClickModel, Person, SECRET, small_config};

/// How long a gated training waits for the test before it gives up. A build that held the
/// user's lock through training would block the test's batch until then, and the enrolment
/// would fail instead of hanging the test run.
const PATIENCE: Duration = Duration::from_secs(60);

/// A gate that keeps training waiting until the test opens it or makes it fail. It signals
/// the test when the first training call has started.
struct Gate {
    /// `None` while shut; then whether training may go on.
    open: Mutex<Option<bool>>,
    opened: Condvar,
    entered: Mutex<Option<SyncSender<()>>>,
}

impl Gate {
    fn new() -> (Arc<Gate>, Receiver<()>) {
        let (entered, started) = mpsc::sync_channel(1);
        let gate = Gate {
            open: Mutex::new(None),
            opened: Condvar::new(),
            entered: Mutex::new(Some(entered)),
        };
        (Arc::new(gate), started)
    }

    fn set(&self, open: Option<bool>) {
        *self.open.lock().unwrap() = open;
        self.opened.notify_all();
    }

    /// Returns whether the gate opened within [`PATIENCE`].
    fn pass(&self) -> bool {
        if let Some(entered) = self.entered.lock().unwrap().take() {
            let _ = entered.send(());
        }
        let open = self.open.lock().unwrap();
        let (open, _) = self
            .opened
            .wait_timeout_while(open, PATIENCE, |open| open.is_none())
            .unwrap();
        *open == Some(true)
    }
}

/// [`ClickModality`] whose training waits at a [`Gate`].
struct GatedClicks(Arc<Gate>);

impl Modality for GatedClicks {
    type Event = Click;
    type Action = ClickAction;
    type Extractor = Option<f64>;
    type Model = ClickModel;
    const NAME: &'static str = ClickModality::NAME;
    const SCHEMA: &'static str = ClickModality::SCHEMA;

    fn event_time_us(event: &Click) -> f64 {
        ClickModality::event_time_us(event)
    }

    fn extract(&self, state: &mut Option<f64>, event: &Click, out: &mut Vec<ClickAction>) {
        ClickModality.extract(state, event, out);
    }

    fn action_time_us(action: &ClickAction) -> f64 {
        ClickModality::action_time_us(action)
    }

    fn action_timings(action: &ClickAction, out: &mut Vec<f64>) {
        ClickModality::action_timings(action, out);
    }

    fn train(
        &self,
        actions: &[ClickAction],
        background: &[Vec<&[ClickAction]>],
    ) -> Result<ClickModel> {
        if !self.0.pass() {
            return Err(Error::InvalidTrainingData {
                problem: "the test never opened the training gate".into(),
            });
        }
        ClickModality.train(actions, background)
    }

    fn score(&self, model: &ClickModel, action: &ClickAction) -> Option<f64> {
        ClickModality.score(model, action)
    }

    fn adapt(&self, model: &ClickModel, actions: &[ClickAction], rate: f64) -> Result<ClickModel> {
        ClickModality.adapt(model, actions, rate)
    }
}

type GatedEngine = Engine<KeyHoldModality, GatedClicks>;

/// Builds an engine whose mouse training waits at the returned gate, with five background
/// people and `user` ready to train.
fn gated_engine(
    model_dir: Option<&std::path::Path>,
    user: &str,
) -> (Arc<GatedEngine>, Arc<Gate>, Receiver<()>) {
    let (gate, started) = Gate::new();
    let mut config = small_config();
    config.model_dir = model_dir.map(|d| d.to_path_buf());
    let engine = Engine::with_clock(
        config,
        KeyHoldModality::new(SECRET),
        GatedClicks(gate.clone()),
        Arc::new(ManualClock::new(1_000_000)),
    )
    .unwrap();
    for b in 0..5 {
        let person = Person::new(10_000 + b);
        engine
            .add_background_session(&person.keys(80, 0, b), &person.clicks(40, 0.0, b))
            .unwrap();
    }
    let person = Person::new(1);
    engine.begin_enrolment(user).unwrap();
    engine
        .ingest_keyboard(user, 0, &person.keys(70, 0, 1))
        .unwrap();
    engine
        .ingest_mouse(user, 0, &person.clicks(45, 0.0, 1))
        .unwrap();
    assert_eq!(
        engine.enrolment_status(user).unwrap(),
        EnrolmentStatus::ReadyToTrain
    );
    (Arc::new(engine), gate, started)
}

#[test]
fn batches_go_on_while_enrolment_trains() {
    let (engine, gate, started) = gated_engine(None, "alice");
    let first = thread::spawn({
        let engine = engine.clone();
        move || engine.finish_enrolment("alice")
    });
    started.recv_timeout(PATIENCE).unwrap();
    // A second enrolment of the same user waits for the first.
    let second = thread::spawn({
        let engine = engine.clone();
        move || engine.finish_enrolment("alice")
    });

    // Training waits at the gate, and the user's batches and queries must still go through.
    let person = Person::new(1);
    engine
        .ingest_mouse("alice", 7, &person.clicks(12, 1e9, 7))
        .unwrap();
    engine
        .ingest_keyboard("alice", 7, &person.keys(25, 1_000_000_000, 7))
        .unwrap();
    assert!(matches!(
        engine.enrolment_status("alice").unwrap(),
        EnrolmentStatus::ReadyToTrain
    ));
    assert!(matches!(
        engine.score("alice", 7),
        Err(Error::Enrolment {
            problem: EnrolmentProblem::NotEnrolled,
            ..
        })
    ));

    gate.set(Some(true));
    let report = first.join().unwrap().unwrap();
    assert!(report.allow_threshold > 0.0);
    assert!(matches!(
        second.join().unwrap(),
        Err(Error::Enrolment {
            problem: EnrolmentProblem::AlreadyEnrolled,
            ..
        })
    ));
    assert_eq!(
        engine.enrolment_status("alice").unwrap(),
        EnrolmentStatus::Enrolled { adaptations: 0 }
    );
    // The session that ran during training was an enrolment session: it carries nothing
    // into scoring, and its next batch is scored from scratch.
    let score = engine.score("alice", 7).unwrap();
    assert_eq!((score.keyboard.actions, score.mouse.actions), (0, 0));
    engine
        .ingest_mouse("alice", 7, &person.clicks(12, 2e9, 8))
        .unwrap();
    let score = engine.score("alice", 7).unwrap();
    assert_eq!(score.mouse.actions, 12);
    assert!(score.mouse.mean_posterior.is_some());
}

#[test]
fn removal_during_training_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gate, started) = gated_engine(Some(dir.path()), "bob");
    engine.save_all().unwrap();
    let files = || std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files(), 1, "the enrolment record is saved");

    let finishing = thread::spawn({
        let engine = engine.clone();
        move || engine.finish_enrolment("bob")
    });
    started.recv_timeout(PATIENCE).unwrap();
    engine.remove_user("bob").unwrap();
    assert_eq!(files(), 0);
    // A new enrolment under the same id starts while the old one still trains.
    engine.begin_enrolment("bob").unwrap();
    gate.set(Some(true));

    assert!(matches!(
        finishing.join().unwrap(),
        Err(Error::UnknownUser { .. })
    ));
    assert_eq!(files(), 0, "the removed user's model is never written");
    assert!(matches!(
        engine.enrolment_status("bob").unwrap(),
        EnrolmentStatus::Collecting {
            keyboard: (0, _),
            mouse: (0, _)
        }
    ));
}

#[test]
fn failed_training_keeps_the_actions_for_a_retry() {
    let (engine, gate, started) = gated_engine(None, "carol");
    drop(started);
    gate.set(Some(false));
    assert!(matches!(
        engine.finish_enrolment("carol"),
        Err(Error::InvalidTrainingData { .. })
    ));
    assert_eq!(
        engine.enrolment_status("carol").unwrap(),
        EnrolmentStatus::ReadyToTrain
    );
    gate.set(Some(true));
    engine.finish_enrolment("carol").unwrap();
    assert!(matches!(
        engine.finish_enrolment("carol"),
        Err(Error::Enrolment {
            problem: EnrolmentProblem::AlreadyEnrolled,
            ..
        })
    ));
}

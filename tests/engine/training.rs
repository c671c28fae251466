//! Enrolment trains without holding the user's lock: the user's batches and queries go on
//! while the models are fitted, and removals during training win.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kinetype::engine::{
    Engine, EnrolmentReport, EnrolmentStatus, KeyHoldModality, ManualClock, Modality,
};
use kinetype::{EnrolmentProblem, Error, Result};

use crate::common::{Click, ClickAction, ClickModality, ClickModel, Person, SECRET, small_config};

/// How long after its creation a gate stays shut at most. A build that held the user's lock
/// through training would block the test's batch until then, and the enrolment would then
/// fail, so the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

/// A gate that keeps training waiting until the test opens it or makes it fail. It signals
/// the test when the first training call has started, and counts the calls.
struct Gate {
    /// `None` while shut; then whether training may go on.
    open: Mutex<Option<bool>>,
    opened: Condvar,
    entered: Mutex<Option<SyncSender<()>>>,
    /// When a gate still shut makes every waiting call fail.
    deadline: Instant,
    calls: AtomicUsize,
}

impl Gate {
    fn new() -> (Arc<Gate>, Receiver<()>) {
        let (entered, started) = mpsc::sync_channel(1);
        let gate = Gate {
            open: Mutex::new(None),
            opened: Condvar::new(),
            entered: Mutex::new(Some(entered)),
            deadline: Instant::now() + PATIENCE,
            calls: AtomicUsize::new(0),
        };
        (Arc::new(gate), started)
    }

    fn set(&self, open: Option<bool>) {
        *self.open.lock().unwrap() = open;
        self.opened.notify_all();
    }

    /// Returns whether the gate opened before its deadline. Past the deadline the gate fails
    /// every call at once, so the calls of a broken build do not each wait in turn.
    fn pass(&self) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(entered) = self.entered.lock().unwrap().take() {
            let _ = entered.send(());
        }
        let mut open = self.open.lock().unwrap();
        while open.is_none() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                *open = Some(false);
                self.opened.notify_all();
                break;
            }
            open = self.opened.wait_timeout(open, left).unwrap().0;
        }
        *open == Some(true)
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// [`ClickModality`] whose training waits at a [`Gate`].
struct GatedClicks(Arc<Gate>);

impl Modality for GatedClicks {
    type Event = Click;
    type Action = ClickAction;
    type Extractor = Option<f64>;
    type Model = ClickModel;
    type EarlierModel = ClickModel;
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

/// Calls `finish_enrolment` on another thread. [`outcome`] waits for its result.
fn finish_in_background(
    engine: &Arc<GatedEngine>,
    user: &str,
) -> Receiver<Result<EnrolmentReport>> {
    let (send, outcome) = mpsc::channel();
    let (engine, user) = (engine.clone(), user.to_owned());
    thread::spawn(move || {
        let _ = send.send(engine.finish_enrolment(&user));
    });
    outcome
}

/// Returns the result of a call from [`finish_in_background`]. A deadlocked call fails the
/// test after twice [`PATIENCE`] instead of hanging it; its threads are left behind.
fn outcome(result: &Receiver<Result<EnrolmentReport>>) -> Result<EnrolmentReport> {
    result
        .recv_timeout(2 * PATIENCE)
        .expect("finish_enrolment never returned, so it is deadlocked")
}

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
    // The training calls of one enrolment, counted on an engine whose gate is open.
    let (reference, open_gate, _) = gated_engine(None, "ref");
    open_gate.set(Some(true));
    reference.finish_enrolment("ref").unwrap();
    let one_enrolment = open_gate.calls();

    let (engine, gate, started) = gated_engine(None, "alice");
    let first = finish_in_background(&engine, "alice");
    started.recv_timeout(PATIENCE).unwrap();
    // A second enrolment of the same user waits for the first.
    let second = finish_in_background(&engine, "alice");

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

    // Time for the second call to reach its wait. A second call that trained alongside the
    // first would show in the count of training calls below.
    thread::sleep(Duration::from_millis(200));
    gate.set(Some(true));
    let report = outcome(&first).unwrap();
    assert!(report.allow_threshold > 0.0);
    assert!(matches!(
        outcome(&second),
        Err(Error::Enrolment {
            problem: EnrolmentProblem::AlreadyEnrolled,
            ..
        })
    ));
    assert_eq!(gate.calls(), one_enrolment, "only one enrolment trained");
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

/// Removes the user while enrolment trains and starts a new enrolment under the same id;
/// returns the engine after the first enrolment ended with `UnknownUser`.
fn remove_during_training(model_dir: Option<&std::path::Path>) -> Arc<GatedEngine> {
    let (engine, gate, started) = gated_engine(model_dir, "bob");
    let finishing = finish_in_background(&engine, "bob");
    started.recv_timeout(PATIENCE).unwrap();
    engine.remove_user("bob").unwrap();
    engine.begin_enrolment("bob").unwrap();
    gate.set(Some(true));

    let result = outcome(&finishing);
    assert!(
        matches!(result, Err(Error::UnknownUser { .. })),
        "{result:?}"
    );
    assert!(matches!(
        engine.enrolment_status("bob").unwrap(),
        EnrolmentStatus::Collecting {
            keyboard: (0, _),
            mouse: (0, _)
        }
    ));
    engine
}

#[test]
fn removal_during_training_wins() {
    // In memory only: nothing but the map shows the removal.
    remove_during_training(None);

    let dir = tempfile::tempdir().unwrap();
    let files = || std::fs::read_dir(dir.path()).unwrap().count();
    let engine = remove_during_training(Some(dir.path()));
    assert_eq!(files(), 0, "the removed user's model is never written");
    engine.save_all().unwrap();
    assert_eq!(files(), 1, "the new enrolment's record is saved");
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

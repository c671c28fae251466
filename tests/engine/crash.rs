//! A process killed while saving models leaves each file as the old or the new version.

use std::process::Command;
use std::time::{Duration, Instant};

use kinetype::engine::{HoldTimeModel, LogNormalStats, ScoreCalibration, SideModel, UserModel};
use kinetype::store::ModelStore;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use kinetype::engine::EnrolmentStatus;

use crate::common::{ClickModel, Person, SECRET, TestEngine, engine_with, small_config};

const CHILD_ENV: &str = "KINETYPE_CRASH_TEST_DIR";
/// Directory of the `save_all` crash test's child.
const SAVE_ALL_CHILD_ENV: &str = "KINETYPE_SAVE_ALL_CRASH_TEST_DIR";
/// File the child creates once it is about to save, so the parent's kill lands during saves
/// rather than during process start-up.
const READY_ENV: &str = "KINETYPE_CRASH_TEST_READY";
const USERS: usize = 4;

pub(crate) fn sample_model(version: u32, keys: u64) -> UserModel<HoldTimeModel, ClickModel> {
    let v = f64::from(version);
    let stats = |k: u64| LogNormalStats {
        mean: 4.0 + v + k as f64 * 0.01,
        sd: 0.2 + v * 0.01,
    };
    let keyboard = HoldTimeModel {
        keys: (0..keys).map(|k| (k * 7919, stats(k))).collect(),
        all: stats(0),
    };
    let mouse = ClickModel {
        mean: 4.5 + v,
        sd: 0.3,
    };
    let calibration = ScoreCalibration {
        genuine_mean: 0.8,
        genuine_sd: 0.6,
        impostor_mean: 2.5 + v,
        impostor_sd: 1.1,
    };
    UserModel {
        keyboard: Some(SideModel {
            current: keyboard.clone(),
            original: keyboard,
            calibration,
        }),
        mouse: Some(SideModel {
            current: mouse,
            original: mouse,
            calibration,
        }),
        allow_threshold: 0.95,
        adaptations: version,
        replay_hashes: (0..u64::from(version) * 500).map(|h| (h, 3)).collect(),
    }
}

/// Saves version 1 and 2 of every user's model in turn until killed; run only as the child of
/// `sigkill_during_saves_never_corrupts`.
#[test]
#[ignore = "child process of the crash test; runs only when the parent sets the env var"]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = ModelStore::open(dir, SECRET).unwrap();
    let header = TestEngine::model_header();
    // The parent pre-populates version 1, so the child starts with version 2.
    let models = [sample_model(2, 60), sample_model(1, 40)];
    if let Ok(ready) = std::env::var(READY_ENV) {
        std::fs::write(ready, b"").unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut round = 0usize;
    while Instant::now() < deadline {
        for user in 0..USERS {
            store
                .save(&format!("user-{user}"), &header, &models[round % 2])
                .unwrap();
        }
        round += 1;
    }
}

/// One run of a child test process that saves into `dir` until killed.
struct ChildRun<'a> {
    /// Name of the ignored child test.
    test: &'static str,
    /// Environment variable that passes `dir` to the child.
    env: &'static str,
    dir: &'a std::path::Path,
    /// File the child creates when it starts saving.
    ready: std::path::PathBuf,
}

impl ChildRun<'_> {
    /// Starts the child, waits until it is saving, lets it run for `delay` and kills it.
    fn kill_after(&self, delay: Duration) {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(["--exact", self.test, "--ignored", "--test-threads=1", "-q"])
            .env(self.env, self.dir)
            .env(READY_ENV, &self.ready)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !self.ready.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{}: child never started",
                self.test
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
    }
}

#[test]
fn sigkill_during_saves_never_corrupts() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path(), SECRET).unwrap();
    let header = TestEngine::model_header();
    let versions = [sample_model(1, 40), sample_model(2, 60)];
    for user in 0..USERS {
        store
            .save(&format!("user-{user}"), &header, &versions[0])
            .unwrap();
    }
    let ready_dir = tempfile::tempdir().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let mut seen_new = 0;
    for round in 0..100 {
        // The printed counts show how many kills landed between creating and renaming a
        // temporary file and how often a new version was complete.
        let child = ChildRun {
            test: "crash::crash_child_process",
            env: CHILD_ENV,
            dir: dir.path(),
            ready: ready_dir.path().join(format!("ready-{round}")),
        };
        child.kill_after(Duration::from_micros(rng.gen_range(0..4_000)));
        for user in 0..USERS {
            let loaded = store.load(&format!("user-{user}"), &header);
            let model: UserModel<HoldTimeModel, ClickModel> = match loaded {
                Ok(Some(model)) => model,
                other => panic!("round {round}, user {user}: {other:?}"),
            };
            assert!(
                versions.contains(&model),
                "round {round}, user {user}: unknown version"
            );
            seen_new += usize::from(model == versions[1]);
        }
    }
    let temp_files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    println!(
        "loads of the new version: {seen_new}/400; temporary files left by kills: {temp_files}"
    );
    // The test only means something if the child got to write in some rounds.
    assert!(seen_new > 0, "the child never completed a save");
    assert_eq!(store.remove_stale_temp_files().unwrap(), temp_files);
    let left = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(left, USERS, "only the model files remain");
    for user in 0..USERS {
        let loaded: Option<UserModel<HoldTimeModel, ClickModel>> =
            store.load(&format!("user-{user}"), &header).unwrap();
        assert!(loaded.is_some());
    }
}

/// Keystrokes each user gets per round of the `save_all` child.
const KEYS_PER_ROUND: usize = 10;

fn enrolling_engine(dir: &str) -> TestEngine {
    let mut config = small_config();
    config.model_dir = Some(dir.into());
    engine_with(config, 0).0
}

/// Adds keystrokes to every user's enrolment and calls `save_all` until killed; run only as
/// the child of `sigkill_during_save_all_keeps_enrolments`.
#[test]
#[ignore = "child process of the save_all crash test; runs only when the parent sets the env var"]
fn save_all_child_process() {
    let Ok(dir) = std::env::var(SAVE_ALL_CHILD_ENV) else {
        return;
    };
    let engine = enrolling_engine(&dir);
    for user in 0..USERS {
        engine.begin_enrolment(&format!("user-{user}")).unwrap();
    }
    if let Ok(ready) = std::env::var(READY_ENV) {
        std::fs::write(ready, b"").unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut round = 0u64;
    while Instant::now() < deadline {
        for user in 0..USERS {
            let person = Person::new(user as u64);
            let keys = person.keys(KEYS_PER_ROUND, 0, round);
            engine
                .ingest_keyboard(&format!("user-{user}"), round, &keys)
                .unwrap();
        }
        engine.save_all().unwrap();
        round += 1;
    }
}

/// Kills a process in the middle of `save_all` calls and checks that every user's enrolment
/// file still loads with a whole number of rounds.
#[test]
fn sigkill_during_save_all_keeps_enrolments() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().to_str().unwrap().to_owned();
    {
        let engine = enrolling_engine(&dir_text);
        for user in 0..USERS {
            engine.begin_enrolment(&format!("user-{user}")).unwrap();
        }
        engine.save_all().unwrap();
    }
    let ready_dir = tempfile::tempdir().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(43);
    let mut largest = 0;
    for round in 0..30 {
        let child = ChildRun {
            test: "crash::save_all_child_process",
            env: SAVE_ALL_CHILD_ENV,
            dir: dir.path(),
            ready: ready_dir.path().join(format!("ready-{round}")),
        };
        child.kill_after(Duration::from_micros(rng.gen_range(0..20_000)));
        let engine = enrolling_engine(&dir_text);
        for user in 0..USERS {
            let status = engine.enrolment_status(&format!("user-{user}"));
            let keyboard = match status {
                Ok(EnrolmentStatus::Collecting { keyboard, .. }) => keyboard.0,
                other => panic!("round {round}, user {user}: {other:?}"),
            };
            assert_eq!(
                keyboard % KEYS_PER_ROUND,
                0,
                "round {round}, user {user}: a partial batch was saved"
            );
            largest = largest.max(keyboard);
        }
    }
    println!("largest enrolment after the kills: {largest} keystrokes");
    // The test only means something if the child got to save in some rounds.
    assert!(largest > 0, "the child never completed a save_all");
}

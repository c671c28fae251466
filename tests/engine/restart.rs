//! Saving every user with `save_all` and continuing in a new engine on the same directory.

use kinetype::Error;
use kinetype::engine::{
    DefaultEngine, Engine, EngineConfig, EnrolmentStatus, FreeTextModality, MouseModality, Reason,
    Verdict,
};
use kinetype::events::KeyEvent;
use kinetype::store::ModelStore;

use crate::common::{Person, SECRET, TestEngine, engine_with, enrol, small_config};

fn stored_config(dir: &std::path::Path) -> EngineConfig {
    let mut config = small_config();
    config.model_dir = Some(dir.to_owned());
    config
}

#[test]
fn enrolment_continues_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = stored_config(dir.path());
    let alice = Person::new(1);
    let (engine, _) = engine_with(config.clone(), 8);
    engine.begin_enrolment("alice").unwrap();
    engine.begin_enrolment("bob").unwrap();
    engine
        .ingest_keyboard("alice", 0, &alice.keys(30, 0, 1))
        .unwrap();
    engine
        .ingest_mouse("alice", 0, &alice.clicks(20, 0.0, 1))
        .unwrap();
    let before = engine.enrolment_status("alice").unwrap();
    assert_eq!(
        before,
        EnrolmentStatus::Collecting {
            keyboard: (30, 60),
            mouse: (20, 40)
        }
    );
    assert_eq!(engine.save_all().unwrap(), 2);
    drop(engine);

    let (reopened, _) = engine_with(config, 8);
    assert_eq!(reopened.enrolment_status("alice").unwrap(), before);
    assert_eq!(
        reopened.enrolment_status("bob").unwrap(),
        EnrolmentStatus::Collecting {
            keyboard: (0, 60),
            mouse: (0, 40)
        }
    );
    // begin_enrolment on a restored user keeps the collected actions.
    reopened.begin_enrolment("alice").unwrap();
    reopened
        .ingest_keyboard("alice", 1, &alice.keys(40, 0, 2))
        .unwrap();
    reopened
        .ingest_mouse("alice", 1, &alice.clicks(25, 0.0, 2))
        .unwrap();
    assert_eq!(
        reopened.enrolment_status("alice").unwrap(),
        EnrolmentStatus::ReadyToTrain
    );
    reopened.finish_enrolment("alice").unwrap();
    reopened
        .ingest_keyboard("alice", 3, &alice.keys(60, 0, 3))
        .unwrap();
    reopened
        .ingest_mouse("alice", 3, &alice.clicks(20, 0.0, 3))
        .unwrap();
    assert_eq!(reopened.decide("alice", 3).unwrap().verdict, Verdict::Allow);
}

/// Returns `events` shifted 50 s later, as a recorded session replayed.
fn shifted(events: &[KeyEvent]) -> Vec<KeyEvent> {
    events
        .iter()
        .map(|e| KeyEvent {
            time_us: e.time_us + 50_000_000,
            ..*e
        })
        .collect()
}

/// Enrols Alice, ingests session 7, runs `before_restart` on the engine and restarts without
/// any other save. Returns the new engine, the keys of session 7 and the model directory.
fn restart_after_session(
    before_restart: impl FnOnce(&TestEngine),
) -> (TestEngine, Vec<KeyEvent>, tempfile::TempDir) {
    restart_with(|_| {}, before_restart)
}

/// [`restart_after_session`] with the configuration changed by `configure`.
fn restart_with(
    configure: impl FnOnce(&mut EngineConfig),
    before_restart: impl FnOnce(&TestEngine),
) -> (TestEngine, Vec<KeyEvent>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = stored_config(dir.path());
    configure(&mut config);
    let alice = Person::new(1);
    let (engine, _) = engine_with(config.clone(), 8);
    enrol(&engine, "alice", &alice, 1);
    let keys = alice.keys(60, 0, 77);
    engine.ingest_keyboard("alice", 7, &keys).unwrap();
    before_restart(&engine);
    drop(engine);
    let (reopened, _) = engine_with(config, 0);
    (reopened, keys, dir)
}

/// Replaces `user`'s model file in `dir` with a non-empty directory, which makes the atomic
/// rename of every later write fail. Returns the file's path.
fn block_model_file(dir: &std::path::Path, user: &str) -> std::path::PathBuf {
    let file = ModelStore::open(dir, SECRET).unwrap().path_for(user);
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("blocker"), b"x").unwrap();
    file
}

/// Replays `keys` 50 s later as Alice's session 8 and checks that the decision flags it.
fn assert_replay_caught(engine: &TestEngine, keys: &[KeyEvent]) {
    engine.ingest_keyboard("alice", 8, &shifted(keys)).unwrap();
    let replay = engine.decide("alice", 8).unwrap();
    assert!(replay.score.replay_hits > 0);
    assert_eq!(replay.reason, Reason::Replay);
}

#[test]
fn replay_hashes_survive_restart() {
    let (engine, keys, _dir) = restart_after_session(|e| assert_eq!(e.save_all().unwrap(), 1));
    // Sessions end with the process: the old session has no evidence in the new engine.
    let old_session = engine.decide("alice", 7).unwrap();
    assert_eq!(old_session.verdict, Verdict::StepUp);
    assert_eq!(old_session.reason, Reason::NotEnoughRecentEvidence);
    assert_replay_caught(&engine, &keys);
}

#[test]
fn unsaved_replay_hashes_are_lost() {
    // 60 keys give fewer hashes than the default 1,000 after which ingestion saves.
    let (engine, keys, _dir) = restart_after_session(|_| {});
    engine.ingest_keyboard("alice", 8, &shifted(&keys)).unwrap();
    assert_eq!(engine.score("alice", 8).unwrap().replay_hits, 0);
}

#[test]
fn open_session_hashes_survive_crash() {
    // Ingestion writes the file every 20 hashes, and nothing else saves before the crash.
    let (engine, keys, _dir) = restart_with(|c| c.defences.replay_save_every = 20, |_| {});
    assert_replay_caught(&engine, &keys);
}

#[test]
fn failed_ingestion_save_keeps_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = stored_config(dir.path());
    config.defences.replay_save_every = 5;
    let alice = Person::new(1);
    let (engine, _) = engine_with(config.clone(), 8);
    enrol(&engine, "alice", &alice, 1);
    let file = block_model_file(dir.path(), "alice");
    let keys = alice.keys(60, 0, 77);
    engine.ingest_keyboard("alice", 7, &keys).unwrap();
    // The batch counts although its write failed.
    assert!(engine.score("alice", 7).unwrap().keyboard.actions > 0);

    // Once the file can be written again, the next batch's write restores it, including the
    // hashes of the batch whose write failed, although no session has ended.
    std::fs::remove_dir_all(&file).unwrap();
    engine
        .ingest_keyboard("alice", 9, &alice.keys(60, 0, 78))
        .unwrap();
    assert!(file.is_file());
    drop(engine);
    let (reopened, _) = engine_with(config, 0);
    reopened
        .ingest_keyboard("alice", 8, &shifted(&keys))
        .unwrap();
    assert!(reopened.score("alice", 8).unwrap().replay_hits > 0);
}

#[test]
fn ended_session_hashes_survive_crash() {
    // Ending the session is the only save before the crash.
    let (engine, keys, _dir) = restart_after_session(|e| e.end_session("alice", 7).unwrap());
    assert_replay_caught(&engine, &keys);
}

#[test]
fn ended_enrolment_session_survives_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = stored_config(dir.path());
    let alice = Person::new(1);
    let (engine, _) = engine_with(config.clone(), 8);
    engine.begin_enrolment("alice").unwrap();
    engine
        .ingest_keyboard("alice", 0, &alice.keys(30, 0, 1))
        .unwrap();
    engine.end_session("alice", 0).unwrap();
    // This session is still open at the crash. Its 20 actions give fewer replay hashes than
    // the 1,000 after which ingestion writes the file, so its actions are lost.
    engine
        .ingest_mouse("alice", 1, &alice.clicks(20, 0.0, 1))
        .unwrap();
    drop(engine);

    let (reopened, _) = engine_with(config, 8);
    assert_eq!(
        reopened.enrolment_status("alice").unwrap(),
        EnrolmentStatus::Collecting {
            keyboard: (30, 60),
            mouse: (0, 40)
        }
    );
}

#[test]
fn end_session_reports_failed_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = stored_config(dir.path());
    let alice = Person::new(1);
    let (engine, _) = engine_with(config, 8);
    enrol(&engine, "alice", &alice, 1);
    engine
        .ingest_keyboard("alice", 7, &alice.keys(60, 0, 77))
        .unwrap();
    block_model_file(dir.path(), "alice");
    let result = engine.end_session("alice", 7);
    assert!(matches!(result, Err(Error::Io { .. })), "{result:?}");
    // The session is forgotten even so.
    let after = engine.decide("alice", 7).unwrap();
    assert_eq!(after.reason, Reason::NotEnoughRecentEvidence);
}

#[test]
fn removed_user_not_written_again() {
    // `end_session` writes the file while holding the user; `remove_user` must not let that
    // write land after the delete. The two run together for many users, so a wrong order
    // shows up in some of them.
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine_with(stored_config(dir.path()), 8);
    let users: Vec<String> = (0..20).map(|i| format!("user-{i}")).collect();
    for (i, user) in users.iter().enumerate() {
        let person = Person::new(100 + i as u64);
        enrol(&engine, user, &person, 1);
        engine
            .ingest_keyboard(user, 7, &person.keys(60, 0, 77))
            .unwrap();
    }
    let store = ModelStore::open(dir.path(), SECRET).unwrap();
    for (i, user) in users.iter().enumerate() {
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let ender = scope.spawn(|| {
                start.wait();
                engine.end_session(user, 7)
            });
            start.wait();
            // Delays of 0 to 400 µs land the removal before, during and after the write.
            std::thread::sleep(std::time::Duration::from_micros(100 * (i as u64 % 5)));
            engine.remove_user(user).unwrap();
            // Either order is fine for the caller: ended, or the user already gone.
            let ended = ender.join().unwrap();
            assert!(
                matches!(ended, Ok(()) | Err(Error::UnknownUser { .. })),
                "{ended:?}"
            );
        });
        assert!(!store.path_for(user).exists(), "{user} has a file again");
        let model = engine.user_model(user);
        assert!(matches!(model, Err(Error::UnknownUser { .. })), "{model:?}");
    }
}

#[test]
fn removed_user_not_loaded_again() {
    // A fresh engine has no user in memory, so a call on a user reads the user's file. A
    // removal that deletes the file between that read and the insert must not leave the user
    // in memory, where a later write would bring the file back.
    let dir = tempfile::tempdir().unwrap();
    let config = stored_config(dir.path());
    let users: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
    {
        let (engine, _) = engine_with(config.clone(), 8);
        for (i, user) in users.iter().enumerate() {
            enrol(&engine, user, &Person::new(200 + i as u64), 1);
        }
    }
    let (engine, _) = engine_with(config, 8);
    let store = ModelStore::open(dir.path(), SECRET).unwrap();
    for (i, user) in users.iter().enumerate() {
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let loader = scope.spawn(|| {
                start.wait();
                engine.user_model(user)
            });
            start.wait();
            // Delays of 0 to 380 µs land the removal before, during and after the load.
            std::thread::sleep(std::time::Duration::from_micros(20 * (i as u64 % 20)));
            engine.remove_user(user).unwrap();
            // Either order is fine for the caller: loaded, or the user already gone.
            let loaded = loader.join().unwrap();
            assert!(
                matches!(loaded, Ok(Some(_)) | Err(Error::UnknownUser { .. })),
                "{loaded:?}"
            );
        });
        let model = engine.user_model(user);
        assert!(
            matches!(model, Err(Error::UnknownUser { .. })),
            "{user}: {model:?}"
        );
        engine.save_all().unwrap();
        assert!(!store.path_for(user).exists(), "{user} has a file again");
    }
}

#[test]
fn save_all_without_directory_is_error() {
    let (engine, _) = engine_with(small_config(), 0);
    engine.begin_enrolment("alice").unwrap();
    let result = engine.save_all();
    assert!(
        matches!(
            result,
            Err(Error::InvalidParameter {
                name: "model_dir",
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn save_all_on_empty_engine_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine_with(stored_config(dir.path()), 0);
    assert_eq!(engine.save_all().unwrap(), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Text typed during enrolment; its ASCII bytes are also its browser key codes.
const PHRASE: &[u8] = b"THE QUICK FOX";

#[test]
fn enrolment_file_has_no_key_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(SECRET.to_vec());
    config.model_dir = Some(dir.path().to_owned());
    let engine: DefaultEngine = Engine::new(
        config.clone(),
        FreeTextModality::new(SECRET),
        MouseModality::default(),
    )
    .unwrap();
    engine.begin_enrolment("alice").unwrap();
    let mut events = Vec::new();
    let mut t = 0i64;
    for round in 0..20i64 {
        for (i, &code) in PHRASE.iter().enumerate() {
            t += 150_000 + (i as i64 * 7_919 + round * 104_729) % 60_000;
            events.push(KeyEvent::press(u32::from(code), t));
            events.push(KeyEvent::release(u32::from(code), t + 90_000));
        }
    }
    engine.ingest_keyboard("alice", 0, &events).unwrap();
    assert_eq!(engine.save_all().unwrap(), 1);

    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(&files[0]).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"QUICK"), "the typed text is in the file");
    let codes_le: Vec<u8> = b"QUICK"
        .iter()
        .flat_map(|&c| u32::from(c).to_le_bytes())
        .collect();
    assert!(!contains(&codes_le), "key codes as u32 are in the file");

    let reopened: DefaultEngine = Engine::new(
        config,
        FreeTextModality::new(SECRET),
        MouseModality::default(),
    )
    .unwrap();
    let restored = reopened.enrolment_status("alice").unwrap();
    assert_eq!(restored, engine.enrolment_status("alice").unwrap());
    assert!(matches!(
        restored,
        EnrolmentStatus::Collecting { keyboard: (n, _), .. } if n > 200
    ));
}

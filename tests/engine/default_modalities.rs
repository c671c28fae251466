//! The default engine (free-text keyboard and segmented mouse actions) on synthetic users.

use std::sync::Arc;

use kinetype::engine::{
    DefaultEngine, Engine, EngineConfig, EnrolmentStatus, Evidence, ManualClock, ModalityEvidence,
    MouseModel, Score, UserModel,
};
use kinetype::engine::{FreeTextModality, Modality, MouseModality};
use kinetype::events::{KeyEvent, MouseButton, MouseEvent, MouseKind};
use kinetype::store::{Header, ModelStore, encode_file};
use kinetype::{EnrolmentProblem, Error, ModelFileProblem};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::common::SECRET;

/// Browser key codes of the phrase every synthetic person types: "THE QUICK FOX".
const PHRASE: [u32; 13] = [84, 72, 69, 32, 81, 85, 73, 67, 75, 32, 70, 79, 88];

/// A synthetic typist and mouse user.
#[derive(Debug, Clone)]
struct Typist {
    /// Hold time per phrase position in ms.
    holds_ms: [f64; PHRASE.len()],
    /// Press-to-press latency into each phrase position in ms.
    latencies_ms: [f64; PHRASE.len()],
    /// Mouse speed in pixels per 16 ms step, path bend in pixels, click duration in ms.
    speed: f64,
    bend: f64,
    click_ms: f64,
}

impl Typist {
    fn new(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut holds_ms = [0.0; PHRASE.len()];
        let mut latencies_ms = [0.0; PHRASE.len()];
        for (h, l) in holds_ms.iter_mut().zip(&mut latencies_ms) {
            *h = rng.gen_range(60.0..160.0);
            *l = rng.gen_range(120.0..320.0);
        }
        Typist {
            holds_ms,
            latencies_ms,
            speed: rng.gen_range(4.0..20.0),
            bend: rng.gen_range(-40.0..40.0),
            click_ms: rng.gen_range(70.0..200.0),
        }
    }

    /// Returns key events of the phrase typed `times` times from `start_us`, with a 1 s pause
    /// between repetitions.
    fn typing(&self, times: usize, start_us: i64, seed: u64) -> Vec<KeyEvent> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut events = Vec::new();
        let mut t = start_us;
        for _ in 0..times {
            for (i, &code) in PHRASE.iter().enumerate() {
                t += (self.latencies_ms[i] * rng.gen_range(0.92..1.08) * 1000.0) as i64;
                let hold = (self.holds_ms[i] * rng.gen_range(0.92..1.08) * 1000.0) as i64;
                events.push(KeyEvent::press(code, t));
                events.push(KeyEvent::release(code, t + hold));
            }
            t += 1_000_000;
        }
        // Rollover can put a release after the next press, and the engine needs time order.
        events.sort_by_key(|e| e.time_us);
        events
    }

    /// Returns `n` point-and-click actions from `start_ms`, each a curved path of 12 moves.
    fn mousing(&self, n: usize, start_ms: f64, seed: u64) -> Vec<MouseEvent> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut events = Vec::new();
        let mut t = start_ms;
        for _ in 0..n {
            let speed = self.speed * rng.gen_range(0.9..1.1);
            let angle: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
            let (x0, y0) = (rng.gen_range(200.0..800.0), rng.gen_range(200.0..600.0));
            let mut at = (x0, y0);
            for i in 0..12 {
                let s = f64::from(i) / 11.0;
                let bend = self.bend * (std::f64::consts::PI * s).sin();
                let along = speed * f64::from(i);
                at = (
                    x0 + along * angle.cos() - bend * angle.sin(),
                    y0 + along * angle.sin() + bend * angle.cos(),
                );
                events.push(MouseEvent::moved(t, at.0, at.1));
                t += 16.0;
            }
            let press = |time_ms, kind| MouseEvent {
                time_ms,
                x: at.0,
                y: at.1,
                button: MouseButton::Left,
                kind,
            };
            events.push(press(t, MouseKind::Press));
            t += self.click_ms * rng.gen_range(0.9..1.1);
            events.push(press(t, MouseKind::Release));
            t += rng.gen_range(300.0..1500.0);
        }
        events
    }
}

fn config() -> EngineConfig {
    let mut config = EngineConfig::new(SECRET.to_vec());
    config.enrolment_evidence = Evidence {
        keyboard: 250,
        mouse: 40,
    };
    config.min_evidence = Evidence {
        keyboard: 20,
        mouse: 10,
    };
    config
}

fn engine(config: EngineConfig) -> (DefaultEngine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::with_clock(
        config,
        FreeTextModality::new(SECRET),
        MouseModality::default(),
        clock.clone(),
    )
    .expect("test configuration is valid");
    for b in 0..6 {
        let person = Typist::new(20_000 + b);
        engine
            .add_background_session(&person.typing(20, 0, b), &person.mousing(40, 0.0, b))
            .expect("background session is valid");
    }
    (engine, clock)
}

/// Begins enrolment of `user` and feeds the actions of `person` that enrolment needs.
fn collect(engine: &DefaultEngine, user: &str, person: &Typist) {
    engine.begin_enrolment(user).unwrap();
    engine
        .ingest_keyboard(user, 0, &person.typing(22, 0, 1))
        .unwrap();
    engine
        .ingest_mouse(user, 0, &person.mousing(45, 0.0, 1))
        .unwrap();
}

fn enrol(engine: &DefaultEngine, user: &str, person: &Typist) {
    collect(engine, user, person);
    engine.finish_enrolment(user).unwrap();
}

/// Score of a fresh session of `user` after `person` types and moves the mouse.
fn session_score(engine: &DefaultEngine, user: &str, session: u64, person: &Typist) -> Score {
    let seed = 1_000 + session;
    engine
        .ingest_keyboard(user, session, &person.typing(5, 0, seed))
        .unwrap();
    engine
        .ingest_mouse(user, session, &person.mousing(20, 0.0, seed))
        .unwrap();
    engine.score(user, session).unwrap()
}

#[test]
fn genuine_trust_above_impostors() {
    let (engine, _) = engine(config());
    let alice = Typist::new(1);
    enrol(&engine, "alice", &alice);
    let genuine = session_score(&engine, "alice", 1, &alice);
    let posterior = |e: &ModalityEvidence| e.mean_posterior.expect("actions were scored");
    for i in 0..4 {
        let other = session_score(&engine, "alice", 10 + i, &Typist::new(100 + i));
        assert!(
            genuine.trust > other.trust,
            "genuine trust {} vs impostor {i} trust {}",
            genuine.trust,
            other.trust
        );
        assert!(
            posterior(&genuine.keyboard) > posterior(&other.keyboard),
            "keyboard posterior, impostor {i}"
        );
        assert!(
            posterior(&genuine.mouse) > posterior(&other.mouse),
            "mouse posterior, impostor {i}: {} against {}",
            posterior(&genuine.mouse),
            posterior(&other.mouse)
        );
    }
}

#[test]
fn model_survives_store_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.model_dir = Some(dir.path().to_path_buf());
    let alice = Typist::new(1);
    let (first, _) = engine(config.clone());
    enrol(&first, "alice", &alice);
    let saved = first.user_model("alice").unwrap().expect("enrolled");
    let trust_before = session_score(&first, "alice", 1, &alice).trust;
    drop(first);

    let (second, _) = engine(config);
    let loaded = second
        .user_model("alice")
        .unwrap()
        .expect("loaded from disk");
    assert_eq!(loaded, saved);
    let trust_after = session_score(&second, "alice", 1, &alice).trust;
    assert_eq!(trust_after, trust_before);
}

#[test]
fn model_file_holds_no_typed_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.model_dir = Some(dir.path().to_path_buf());
    let (engine, _) = engine(config);
    enrol(&engine, "alice", &Typist::new(1));
    let mut files = std::fs::read_dir(dir.path()).unwrap();
    let path = files.next().expect("one model file").unwrap().path();
    assert!(files.next().is_none(), "only alice's model file");
    let bytes = std::fs::read(&path).unwrap();
    let text: Vec<u8> = PHRASE.iter().map(|&c| c as u8).collect();
    let words = [&text[..3], &text[4..9], &text[10..]];
    for word in words {
        assert!(
            !bytes.windows(word.len()).any(|w| w == word),
            "model file contains {:?}",
            String::from_utf8_lossy(word)
        );
    }
    // Key codes as they sit in memory (u32 little-endian), for any digraph of the phrase.
    for pair in PHRASE.windows(2) {
        let mut code_bytes = pair[0].to_le_bytes().to_vec();
        code_bytes.extend_from_slice(&pair[1].to_le_bytes());
        assert!(
            !bytes.windows(8).any(|w| w == code_bytes),
            "model file contains codes {pair:?}"
        );
    }
    assert!(!bytes.windows(5).any(|w| w == b"alice"), "clear user id");
}

/// The continuous replay driver streams synthetic typists through keyboard-only engines:
/// 2 groups of 2 users, 8 background people, one genuine and one impostor session per user.
#[test]
fn continuous_replay_streams_typists() {
    use std::borrow::Cow;

    use kinetype::evaluation::continuous::{
        ContinuousParams, Group, ReplayUser, TestStream, replay,
    };

    let background: Vec<Vec<KeyEvent>> = (0..8)
        .map(|b| Typist::new(30_000 + b).typing(30, 0, b))
        .collect();
    let names: Vec<String> = (0..background.len()).map(|b| format!("bg-{b}")).collect();
    let people: Vec<Typist> = (0..4).map(Typist::new).collect();
    let enrolment: Vec<Vec<KeyEvent>> = people.iter().map(|p| p.typing(30, 0, 1)).collect();
    let genuine: Vec<Vec<KeyEvent>> = people.iter().map(|p| p.typing(15, 0, 2)).collect();
    let impostor: Vec<Vec<KeyEvent>> = (0..4)
        .map(|i| Typist::new(40_000 + i).typing(15, 0, 3))
        .collect();
    let users: Vec<ReplayUser<'_, KeyEvent>> = (0..4)
        .map(|u| ReplayUser {
            name: format!("user-{u}"),
            enrolment: vec![&enrolment[u][..]],
            tests: vec![
                TestStream {
                    events: Cow::Borrowed(&genuine[u][..]),
                    impostor: false,
                },
                TestStream {
                    events: Cow::Borrowed(&impostor[u][..]),
                    impostor: true,
                },
            ],
        })
        .collect();
    let groups: Vec<Group<'_, KeyEvent>> = users
        .chunks(2)
        .map(|chunk| Group {
            background: names
                .iter()
                .zip(&background)
                .map(|(name, b)| (name.as_str(), &b[..]))
                .collect(),
            users: chunk.to_vec(),
        })
        .collect();
    let params = ContinuousParams::default();
    let report = replay("synthetic".into(), &groups, &params).unwrap();
    println!(
        "ANIA {:?}, ANGA {}, never detected {}, FAR {}, FRR {}",
        report.ania,
        report.anga,
        report.impostors_never_detected,
        report.challenge_far,
        report.challenge_frr
    );
    assert_eq!(report.users_enrolled, 4);
    assert_eq!(report.genuine_sessions, 4);
    assert_eq!(report.impostor_sessions, 4);
    assert_eq!(report.genuine_challenges.total(), 20);
    assert_eq!(report.impostor_challenges.total(), 20);
    assert_eq!(report.rejected_events, 0);
    let streamed_keys = 15 * PHRASE.len() as u64;
    for s in &report.sessions {
        assert!(s.actions <= streamed_keys, "{s:?}");
        assert!(s.actions >= streamed_keys - 5, "{s:?}");
    }
    // These synthetic impostors differ from the users in every timing, so most are caught
    // while the genuine users keep typing.
    assert!(report.impostors_never_detected < 0.5, "{report:?}");
    assert!(report.genuine_locked_out < 0.5, "{report:?}");
}

/// Mouse schema text of the default engine before the two-class mouse model.
const MOUSE_SCHEMA_V2: &str = "mouse/action-robust-z/v2: MM, PC and DD actions (10 s idle \
    split, 4 points minimum), 58 action features (55 path features, press hold, rest before \
    press, pause before the action), per-feature median and robust scale";

/// Copies a file of `tests/data` into the store at `dir` as the file of `user`.
fn install(dir: &std::path::Path, name: &str, user: &str) {
    let store = ModelStore::open(dir, SECRET).unwrap();
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::copy(golden, store.path_for(user)).unwrap();
}

/// `engine_default_mouse_v2.ktm` and `engine_default_mouse_v2_enrolling.ktm` were written by
/// the last build with mouse schema v2 (commit 16c22f7), with this file's `config`,
/// `engine` and `Typist`: alice enrolled with `enrol`, then bob began enrolment with 3 phrases
/// and 4 clicks (`typing(3, 0, 5)`, `mousing(4, 0.0, 5)`), then `save_all`. That build printed
/// the figures asserted here for `session_score(.., "alice", 1, &alice)` and bob's status.
#[test]
fn earlier_mouse_schema_files_load() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), "engine_default_mouse_v2.ktm", "alice");
    install(dir.path(), "engine_default_mouse_v2_enrolling.ktm", "bob");
    let mut config = config();
    config.model_dir = Some(dir.path().to_path_buf());
    let (first, _) = engine(config.clone());

    let model = first.user_model("alice").unwrap().expect("converted");
    let mouse = model.mouse.as_ref().expect("both sides were enrolled");
    assert!(
        matches!(mouse.current, MouseModel::OneClass(_)),
        "{mouse:?}"
    );
    let score = session_score(&first, "alice", 1, &Typist::new(1));
    assert_eq!(score.window, Some(0.996_546_796_864_404_8), "{score:?}");
    assert_eq!(score.allow_threshold, 0.080_661_027_656_431_71);
    assert_eq!(score.keyboard.mean_posterior, Some(0.995_249_155_013_483_4));
    assert_eq!(score.mouse.mean_posterior, Some(0.999_954_602_131_297_7));

    assert_eq!(
        first.enrolment_status("bob").unwrap(),
        EnrolmentStatus::Collecting {
            keyboard: (39, 250),
            mouse: (4, 40),
        }
    );
    let bob = Typist::new(2);
    first
        .ingest_keyboard("bob", 1, &bob.typing(20, 0, 6))
        .unwrap();
    first
        .ingest_mouse("bob", 1, &bob.mousing(40, 0.0, 6))
        .unwrap();
    first.finish_enrolment("bob").unwrap();

    // The next save writes alice's file in the current schema, with the replay hashes of the
    // scored session added, and a new engine reads it as is.
    first.save_all().unwrap();
    drop(first);
    let store = ModelStore::open(dir.path(), SECRET).unwrap();
    let current: UserModel<_, MouseModel> = store
        .load("alice", &DefaultEngine::model_header())
        .unwrap()
        .expect("saved");
    assert_eq!(
        (&current.keyboard, &current.mouse),
        (&model.keyboard, &model.mouse)
    );
    assert!(current.replay_hashes.len() > model.replay_hashes.len());
    let (reloaded, _) = engine(config);
    assert_eq!(reloaded.user_model("alice").unwrap(), Some(current));
}

#[test]
fn unknown_or_broken_schema_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.model_dir = Some(dir.path().to_path_buf());
    let current = DefaultEngine::model_header();
    let header = |mouse: &str| {
        Header::new(
            &current.kind,
            &format!("{}\n{mouse}\nuser-model/v3", FreeTextModality::SCHEMA),
        )
    };
    let store = ModelStore::open(dir.path(), SECRET).unwrap();
    // An unknown schema text fails at the schema check.
    let unknown = header("mouse/action-robust-z/v1: an older text this build never read");
    std::fs::write(
        store.path_for("unknown"),
        encode_file(&unknown, &7_u32).unwrap(),
    )
    .unwrap();
    // The earlier text passes the schema check, so the payload must then be a model.
    let earlier = header(MOUSE_SCHEMA_V2);
    std::fs::write(
        store.path_for("broken"),
        encode_file(&earlier, &7_u32).unwrap(),
    )
    .unwrap();
    let (engine, _) = engine(config);
    let result = engine.user_model("unknown");
    assert!(
        matches!(
            result,
            Err(Error::ModelFile {
                problem: ModelFileProblem::SchemaMismatch { .. },
                ..
            })
        ),
        "{result:?}"
    );
    match engine.user_model("broken") {
        Err(Error::ModelFile {
            path,
            problem: ModelFileProblem::Payload { .. },
        }) => assert_eq!(path, store.path_for("broken")),
        other => panic!("expected a payload error, got {other:?}"),
    }
}

#[test]
fn own_background_session_is_left_out() {
    let alice = Typist::new(1);
    let (plain, _) = engine(config());
    enrol(&plain, "alice", &alice);
    let (with_own, _) = engine(config());
    with_own
        .add_background_session_of("alice", &alice.typing(20, 0, 9), &alice.mousing(40, 0.0, 9))
        .unwrap();
    let error = with_own
        .add_background_session_of("", &[], &alice.mousing(40, 0.0, 9))
        .unwrap_err();
    assert!(
        matches!(error, Error::InvalidParameter { name: "person", .. }),
        "{error}"
    );
    enrol(&with_own, "alice", &alice);
    assert_eq!(
        with_own.user_model("alice").unwrap(),
        plain.user_model("alice").unwrap()
    );
    // The same session under another name changes the model.
    let (with_other, _) = engine(config());
    with_other
        .add_background_session_of("bob", &alice.typing(20, 0, 9), &alice.mousing(40, 0.0, 9))
        .unwrap();
    enrol(&with_other, "alice", &alice);
    assert_ne!(
        with_other.user_model("alice").unwrap(),
        plain.user_model("alice").unwrap()
    );
}

#[test]
fn one_background_person_is_typed_error() {
    let engine = Engine::with_clock(
        config(),
        FreeTextModality::new(SECRET),
        MouseModality::default(),
        Arc::new(ManualClock::new(1_000_000)),
    )
    .unwrap();
    let carl = Typist::new(20_000);
    for seed in 0..3 {
        engine
            .add_background_session_of(
                "carl",
                &carl.typing(20, 0, seed),
                &carl.mousing(40, 0.0, seed),
            )
            .unwrap();
    }
    collect(&engine, "alice", &Typist::new(1));
    let error = engine.finish_enrolment("alice").unwrap_err();
    assert!(
        matches!(
            error,
            Error::Enrolment {
                problem: EnrolmentProblem::TooFewBackgroundPeople {
                    modality: "mouse",
                    have: 1,
                    need: 2
                },
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("add sessions of other people"));

    // A second person is enough.
    let dana = Typist::new(20_001);
    engine
        .add_background_session_of("dana", &dana.typing(20, 0, 5), &dana.mousing(40, 0.0, 5))
        .unwrap();
    engine.finish_enrolment("alice").unwrap();
}

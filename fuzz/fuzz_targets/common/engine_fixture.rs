//! A synthetic enrolled `DefaultEngine` user shared by the engine fuzz targets.
//!
//! Built once per process from seeded synthetic typing and mouse movement (no dataset data):
//! six background people, one enrolled user, and that user's model file bytes. The targets
//! then build a fresh engine per input that loads the file, so inputs do not share state.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use kinetype::engine::{
    DefaultEngine, Engine, EngineConfig, Evidence, FreeTextModality, ManualClock, MouseModality,
};
use kinetype::events::{KeyEvent, MouseButton, MouseEvent, MouseKind};

/// The engine secret of every fuzz engine.
pub const SECRET: &[u8] = b"kinetype fuzz engine secret";
/// The enrolled user's id.
pub const USER: &str = "enrolled";

/// Key codes of the phrase the synthetic people type: "THE QUICK FOX".
const PHRASE: [u32; 13] = [84, 72, 69, 32, 81, 85, 73, 67, 75, 32, 70, 79, 88];

/// A small deterministic generator (SplitMix64), so the fixture needs no RNG crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `[low, high)`.
    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Key events of the phrase typed `times` times by person `person`.
pub fn typing(person: u64, times: usize, seed: u64) -> Vec<KeyEvent> {
    let mut shape = SplitMix(person);
    let holds: Vec<f64> = PHRASE.iter().map(|_| shape.range(60.0, 160.0)).collect();
    let gaps: Vec<f64> = PHRASE.iter().map(|_| shape.range(120.0, 320.0)).collect();
    let mut rng = SplitMix(seed);
    let mut events = Vec::new();
    let mut t = 0_i64;
    for _ in 0..times {
        for (i, &code) in PHRASE.iter().enumerate() {
            t += (gaps[i] * rng.range(0.92, 1.08) * 1000.0) as i64;
            let hold = (holds[i] * rng.range(0.92, 1.08) * 1000.0) as i64;
            events.push(KeyEvent::press(code, t));
            events.push(KeyEvent::release(code, t + hold));
        }
        t += 1_000_000;
    }
    events.sort_by_key(|e| e.time_us);
    events
}

/// `n` point-and-click actions of person `person`.
pub fn mousing(person: u64, n: usize, seed: u64) -> Vec<MouseEvent> {
    let mut shape = SplitMix(person ^ 0xabcd);
    let speed = shape.range(4.0, 20.0);
    let bend = shape.range(-40.0, 40.0);
    let click_ms = shape.range(70.0, 200.0);
    let mut rng = SplitMix(seed);
    let mut events = Vec::new();
    let mut t = 0.0;
    for _ in 0..n {
        let angle = rng.range(0.0, std::f64::consts::TAU);
        let (x0, y0) = (rng.range(200.0, 800.0), rng.range(200.0, 600.0));
        let mut at = (x0, y0);
        for i in 0..12 {
            let s = f64::from(i) / 11.0;
            let b = bend * (std::f64::consts::PI * s).sin();
            let along = speed * f64::from(i);
            at = (
                x0 + along * angle.cos() - b * angle.sin(),
                y0 + along * angle.sin() + b * angle.cos(),
            );
            events.push(MouseEvent::moved(t, at.0, at.1));
            t += 16.0;
        }
        let click = |time_ms, kind| MouseEvent {
            time_ms,
            x: at.0,
            y: at.1,
            button: MouseButton::Left,
            kind,
        };
        events.push(click(t, MouseKind::Press));
        t += click_ms * rng.range(0.9, 1.1);
        events.push(click(t, MouseKind::Release));
        t += rng.range(300.0, 1500.0);
    }
    events
}

/// The configuration of every fuzz engine: small evidence amounts so enrolment is quick.
pub fn config(model_dir: Option<PathBuf>) -> EngineConfig {
    let mut config = EngineConfig::new(SECRET.to_vec());
    config.enrolment_evidence = Evidence {
        keyboard: 250,
        mouse: 40,
    };
    config.min_evidence = Evidence {
        keyboard: 20,
        mouse: 10,
    };
    config.model_dir = model_dir;
    config
}

/// Returns the free-text modality of every fuzz engine, built once per process because
/// deriving its key classes hashes several thousand n-graphs, more than the rest of a run costs.
fn free_text() -> FreeTextModality {
    static MODALITY: OnceLock<FreeTextModality> = OnceLock::new();
    MODALITY
        .get_or_init(|| FreeTextModality::new(SECRET))
        .clone()
}

/// Builds an engine on a manual clock with `background` synthetic background people.
pub fn engine(model_dir: Option<PathBuf>, background: u64) -> (DefaultEngine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::with_clock(
        config(model_dir),
        free_text(),
        MouseModality::default(),
        clock.clone(),
    )
    .expect("the fuzz configuration is valid");
    for b in 0..background {
        engine
            .add_background_session(&typing(20_000 + b, 20, b), &mousing(20_000 + b, 40, b))
            .expect("background sessions are valid");
    }
    (engine, clock)
}

/// Returns a scratch directory of this process; each input overwrites the files in it.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinetype-fuzz-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir
}

/// The enrolled user's model file bytes, from a synthetic enrolment run once per process.
pub fn model_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = scratch_dir("enrol");
        let (engine, _) = engine(Some(dir.clone()), 6);
        engine.begin_enrolment(USER).expect("enrolment begins");
        engine
            .ingest_keyboard(USER, 0, &typing(1, 22, 1))
            .expect("synthetic typing is valid");
        engine
            .ingest_mouse(USER, 0, &mousing(1, 45, 1))
            .expect("synthetic mouse events are valid");
        engine
            .finish_enrolment(USER)
            .expect("synthetic enrolment trains");
        let path = kinetype::store::ModelStore::open(&dir, SECRET)
            .expect("the directory exists")
            .path_for(USER);
        std::fs::read(path).expect("enrolment saved the model")
    })
}

/// Makes `bytes` `USER`'s model file in `dir`. The file is rewritten only when it differs (a
/// previous input adapted the model, or held other bytes): rewriting it on every input made
/// the file system the largest cost of a run.
pub fn install_model(dir: &Path, bytes: &[u8]) {
    let path = kinetype::store::ModelStore::open(dir, SECRET)
        .expect("the directory exists")
        .path_for(USER);
    if std::fs::read(&path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).expect("the scratch directory is writable");
    }
}

/// Checks the invariants of a score: trust and thresholds in `[0, 1]`.
pub fn check_score(score: &kinetype::engine::Score) {
    assert!((0.0..=1.0).contains(&score.trust), "trust {}", score.trust);
    assert!(
        (0.0..=1.0).contains(&score.allow_threshold),
        "allow threshold {}",
        score.allow_threshold
    );
    assert!(
        (0.0..=1.0).contains(&score.lockout_threshold),
        "lockout threshold {}",
        score.lockout_threshold
    );
    for evidence in [&score.keyboard, &score.mouse] {
        if let Some(p) = evidence.mean_posterior {
            assert!((0.0..=1.0).contains(&p), "mean posterior {p}");
        }
        assert!(
            evidence.contribution.is_finite(),
            "contribution {}",
            evidence.contribution
        );
    }
}

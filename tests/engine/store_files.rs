//! Model file round trips, corruption detection and golden files.

use std::path::{Path, PathBuf};

use kinetype::Error;
use kinetype::ModelFileProblem;
use kinetype::engine::calibration::{NEVER_ALLOW, max_posterior};
use kinetype::engine::{
    Engine, EngineConfig, HoldTimeModel, KeyHoldModality, Modalities, ScoreCalibration, UserModel,
    UserModelV1, UserModelV2,
};
use kinetype::store::{ModelStore, decode_file, encode_file};
use proptest::prelude::*;

use crate::common::{ClickModality, ClickModel, SECRET, TestEngine};
use crate::crash::sample_model;

type Model = UserModel<HoldTimeModel, ClickModel>;

fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

const GOLDEN_V1: &str = "engine_model_v1.ktm";
const GOLDEN_V2: &str = "engine_model_v2.ktm";
const GOLDEN_V3: &str = "engine_model_v3.ktm";

/// Allow threshold stored in the v1 and v2 golden files, on the old trust scale.
const OLD_TRUST_THRESHOLD: f64 = 95.0;

/// Builds the model of the v3 golden file: keyboard only, as a keyboard-only engine stores it.
fn sample_keyboard_only() -> Model {
    let mut model = sample_model(1, 3);
    model.mouse = None;
    model
}

/// Builds the model of the v2 golden file: keyboard only, with a trust threshold.
fn sample_v2() -> UserModelV2<HoldTimeModel, ClickModel> {
    let model = sample_keyboard_only();
    UserModelV2 {
        keyboard: model.keyboard,
        mouse: model.mouse,
        allow_threshold: OLD_TRUST_THRESHOLD,
        adaptations: model.adaptations,
        replay_hashes: model.replay_hashes,
    }
}

/// Builds the model of the v1 golden file, which always has both sides.
fn sample_v1() -> UserModelV1<HoldTimeModel, ClickModel> {
    let model = sample_model(1, 3);
    UserModelV1 {
        keyboard: model.keyboard.unwrap(),
        mouse: model.mouse.unwrap(),
        allow_threshold: OLD_TRUST_THRESHOLD,
        adaptations: model.adaptations,
        replay_hashes: model.replay_hashes,
    }
}

/// Writes the current-layout golden file. Run it once with `--ignored` when the format changes
/// on purpose, and bump the format version or the schema text with it. Older golden files stay,
/// with a test that they still load or fail with a typed error.
#[test]
#[ignore = "writes tests/data/engine_model_v3.ktm"]
fn write_golden_file() {
    let bytes = encode_file(&TestEngine::model_header(), &sample_keyboard_only()).unwrap();
    std::fs::write(data_path(GOLDEN_V3), bytes).unwrap();
}

#[test]
fn golden_v3_reads_and_reencodes_identically() {
    let header = TestEngine::model_header();
    let bytes = std::fs::read(data_path(GOLDEN_V3)).unwrap();
    let model: Model = decode_file(&data_path(GOLDEN_V3), &bytes, &header).unwrap();
    assert_eq!(model, sample_keyboard_only());
    assert_eq!(encode_file(&header, &model).unwrap(), bytes);
}

#[test]
fn golden_v2_reads_and_reencodes_identically() {
    let header = TestEngine::model_header_v2();
    let bytes = std::fs::read(data_path(GOLDEN_V2)).unwrap();
    let model: UserModelV2<HoldTimeModel, ClickModel> =
        decode_file(&data_path(GOLDEN_V2), &bytes, &header).unwrap();
    assert_eq!(model, sample_v2());
    assert_eq!(encode_file(&header, &model).unwrap(), bytes);
}

#[test]
fn golden_v1_reads_and_reencodes_identically() {
    let header = TestEngine::model_header_v1();
    let bytes = std::fs::read(data_path(GOLDEN_V1)).unwrap();
    let model: UserModelV1<HoldTimeModel, ClickModel> =
        decode_file(&data_path(GOLDEN_V1), &bytes, &header).unwrap();
    assert_eq!(model, sample_v1());
    assert_eq!(encode_file(&header, &model).unwrap(), bytes);
}

#[test]
fn old_golden_files_are_not_read_as_current() {
    for golden in [GOLDEN_V1, GOLDEN_V2] {
        let bytes = std::fs::read(data_path(golden)).unwrap();
        let result =
            decode_file::<Model>(Path::new("old.ktm"), &bytes, &TestEngine::model_header());
        assert!(
            matches!(
                result,
                Err(Error::ModelFile {
                    problem: ModelFileProblem::SchemaMismatch { .. },
                    ..
                })
            ),
            "{golden}: {result:?}"
        );
    }
}

fn engine_on(dir: &Path, modalities: Modalities) -> TestEngine {
    let mut config = EngineConfig::new(SECRET.to_vec());
    config.model_dir = Some(dir.to_owned());
    config.modalities = modalities;
    config.enrolment_evidence.mouse = 40;
    Engine::new(config, KeyHoldModality::new(SECRET), ClickModality).unwrap()
}

/// Copies a golden file into a model directory as the file of `user`.
fn install(dir: &Path, golden: &str, user: &str) {
    let store = ModelStore::open(dir, SECRET).unwrap();
    std::fs::copy(data_path(golden), store.path_for(user)).unwrap();
}

#[test]
fn engine_migrates_v1_file() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), GOLDEN_V1, "old");
    let engine = engine_on(dir.path(), Modalities::BOTH);
    let model = engine.user_model("old").unwrap().unwrap();
    assert_eq!(model, Model::from(sample_v1()));
    // The old trust threshold is dropped: the user can never get Allow until re-enrolled.
    let want = Model {
        allow_threshold: NEVER_ALLOW,
        ..sample_model(1, 3)
    };
    assert_eq!(model, want);
    assert_eq!(engine.score("old", 1).unwrap().allow_threshold, NEVER_ALLOW);
}

#[test]
fn engine_migrates_v2_keyboard_only_file() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), GOLDEN_V2, "old");
    let engine = engine_on(dir.path(), Modalities::KEYBOARD_ONLY);
    let model = engine.user_model("old").unwrap().unwrap();
    let want = Model {
        allow_threshold: NEVER_ALLOW,
        ..sample_keyboard_only()
    };
    assert_eq!(model, want);
    assert!(max_posterior() < model.allow_threshold);
}

#[test]
fn engine_loads_v3_keyboard_only_file() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), GOLDEN_V3, "new");
    let engine = engine_on(dir.path(), Modalities::KEYBOARD_ONLY);
    let model = engine.user_model("new").unwrap().unwrap();
    assert_eq!(model, sample_keyboard_only());
}

#[test]
fn mismatched_modalities_name_file() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), GOLDEN_V3, "new");
    install(dir.path(), GOLDEN_V1, "old");
    let store = ModelStore::open(dir.path(), SECRET).unwrap();
    let cases = [
        ("new", Modalities::BOTH, "keyboard", "keyboard+mouse"),
        ("new", Modalities::MOUSE_ONLY, "keyboard", "mouse"),
        (
            "old",
            Modalities::KEYBOARD_ONLY,
            "keyboard+mouse",
            "keyboard",
        ),
    ];
    for (user, modalities, want_stored, want_enabled) in cases {
        let engine = engine_on(dir.path(), modalities);
        match engine.user_model(user) {
            Err(Error::ModelFile {
                path,
                problem: ModelFileProblem::ModalityMismatch { stored, enabled },
            }) => {
                assert_eq!(path, store.path_for(user));
                assert_eq!(stored, want_stored);
                assert_eq!(enabled, want_enabled);
            }
            other => panic!("{user} {modalities:?}: expected ModalityMismatch, got {other:?}"),
        }
    }
}

fn arb_model() -> impl Strategy<Value = Model> {
    (
        0u32..4,
        0u64..50,
        -1e3f64..1e3,
        0.0..=NEVER_ALLOW,
        any::<Vec<(u64, u64)>>(),
    )
        .prop_map(|(v, keys, shift, threshold, hashes)| {
            let mut model = sample_model(v, keys);
            model.allow_threshold = threshold;
            if let Some(side) = model.keyboard.as_mut() {
                side.calibration.genuine_mean = shift;
            }
            if v == 0 {
                model.mouse = None;
            }
            model.replay_hashes = hashes;
            model
        })
}

/// A threshold outside `[0, 1]` cannot come from enrolment. A file that contains one is
/// damaged or forged even when its checksum matches, and decoding names the value.
#[test]
fn allow_threshold_outside_unit_interval_is_rejected() {
    let header = TestEngine::model_header();
    for bad in [-0.5, 1.5, -1.4e137, f64::NAN, f64::INFINITY] {
        let mut model = sample_keyboard_only();
        model.allow_threshold = bad;
        let bytes = encode_file(&header, &model).unwrap();
        match decode_file::<Model>(Path::new("m.ktm"), &bytes, &header) {
            Err(Error::ModelFile {
                path,
                problem: ModelFileProblem::Payload { message },
            }) => {
                assert_eq!(path, Path::new("m.ktm"));
                assert!(message.contains("allow threshold"), "{bad}: {message}");
            }
            other => panic!("threshold {bad}: expected a Payload error, got {other:?}"),
        }
    }
}

/// A calibration with a non-finite mean or a spread that is not finite and positive cannot
/// come from enrolment, and would make every posterior 0, 1 or NaN.
#[test]
fn damaged_calibration_is_rejected() {
    let header = TestEngine::model_header();
    let damages: [fn(&mut ScoreCalibration); 5] = [
        |c| c.genuine_mean = f64::NAN,
        |c| c.impostor_mean = f64::INFINITY,
        |c| c.genuine_sd = 0.0,
        |c| c.impostor_sd = -1.0,
        |c| c.impostor_sd = f64::INFINITY,
    ];
    for (i, damage) in damages.iter().enumerate() {
        let mut model = sample_model(1, 3);
        damage(&mut model.mouse.as_mut().unwrap().calibration);
        let bytes = encode_file(&header, &model).unwrap();
        match decode_file::<Model>(Path::new("m.ktm"), &bytes, &header) {
            Err(Error::ModelFile {
                problem: ModelFileProblem::Payload { message },
                ..
            }) => assert!(message.contains("mouse calibration"), "case {i}: {message}"),
            other => panic!("case {i}: expected a Payload error, got {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn save_load_round_trip(model in arb_model()) {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), SECRET).unwrap();
        let header = TestEngine::model_header();
        store.save("u", &header, &model).unwrap();
        let loaded: Option<Model> = store.load("u", &header).unwrap();
        prop_assert_eq!(loaded, Some(model));
    }

    #[test]
    fn any_byte_flip_is_detected(model in arb_model(), position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let header = TestEngine::model_header();
        let mut bytes = encode_file(&header, &model).unwrap();
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        let result = decode_file::<Model>(Path::new("m.ktm"), &bytes, &header);
        prop_assert!(
            matches!(result, Err(Error::ModelFile { ref path, .. }) if path == Path::new("m.ktm")),
            "flip at {} gave {:?}", at, result.map(|_| ())
        );
    }
}

//! Model file round trips, corruption detection and golden files.

use std::path::{Path, PathBuf};

use kinetype::Error;
use kinetype::engine::{HoldTimeModel, UserModel};
use kinetype::store::{ModelStore, decode_file, encode_file};
use proptest::prelude::*;

use crate::common::{ClickModel, SECRET, TestEngine};
use crate::crash::sample_model;

type Model = UserModel<HoldTimeModel, ClickModel>;

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/engine_model_v1.ktm")
}

/// Writes the golden file; run once with `--ignored` when the format changes on purpose, and
/// bump the format version or the schema text with it.
#[test]
#[ignore = "writes tests/data/engine_model_v1.ktm"]
fn write_golden_file() {
    let bytes = encode_file(&TestEngine::model_header(), &sample_model(1, 3)).unwrap();
    std::fs::write(golden_path(), bytes).unwrap();
}

#[test]
fn golden_file_reads_and_reencodes_identically() {
    let header = TestEngine::model_header();
    let bytes = std::fs::read(golden_path()).unwrap();
    let model: Model = decode_file(&golden_path(), &bytes, &header).unwrap();
    assert_eq!(model, sample_model(1, 3));
    assert_eq!(encode_file(&header, &model).unwrap(), bytes);
}

fn arb_model() -> impl Strategy<Value = Model> {
    (0u32..4, 0u64..50, -1e3f64..1e3, any::<Vec<(u64, u64)>>()).prop_map(
        |(v, keys, shift, hashes)| {
            let mut model = sample_model(v, keys);
            model.allow_threshold += shift;
            model.keyboard.calibration.genuine_mean = shift;
            model.replay_hashes = hashes;
            model
        },
    )
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

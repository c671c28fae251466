//! Replays the CMU DSL-StrongPasswordData benchmark and checks the published DSN-2009 figures.
//!
//! Needs the official file under `$KINETYPE_DATA_DIR/dsl2009/`; without it the tests print a
//! message and pass, so the unit tests still run on a machine without the data.

use std::path::PathBuf;

use kinetype::datasets::dsl;
use kinetype::detectors::{DetectorKind, DetectorParams};
use kinetype::evaluation::fixed_text::{Protocol, ReplayDetector, replay};
use kinetype::evaluation::published;

fn official_file() -> Option<PathBuf> {
    let root = std::env::var_os("KINETYPE_DATA_DIR")?;
    let path = PathBuf::from(root).join(dsl::NAME).join(dsl::FILE_NAME);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipped: {} not found", path.display());
        None
    }
}

/// Replays `kinds` and checks each mean EER against the published value.
fn check(kinds: &[DetectorKind], tolerance: f64) {
    let Some(path) = official_file() else {
        eprintln!("skipped: KINETYPE_DATA_DIR does not hold the CMU file");
        return;
    };
    let data = dsl::load(&path).unwrap();
    assert_eq!(data.subjects.len(), 51);
    assert_eq!(data.len(), 20_400);
    let params: Vec<DetectorParams> = kinds.iter().map(|&k| DetectorParams::new(k)).collect();
    let detectors: Vec<&dyn ReplayDetector> = params.iter().map(|p| p as _).collect();
    let results = replay(&data, Protocol::Dsn2009, &detectors, &|| {}).unwrap();
    for result in &results {
        let expected = published::dsn2009(&result.name).unwrap().eer_mean;
        assert!(
            (result.eer_mean - expected).abs() <= tolerance,
            "{}: mean EER {:.4}, published {expected:.4}",
            result.name,
            result.eer_mean
        );
        assert_eq!(result.subjects[0].genuine_scores.len(), 200);
        assert_eq!(result.subjects[0].impostor_scores.len(), 250);
    }
}

#[test]
fn exact_detectors_match_published_eer() {
    check(
        &[
            DetectorKind::ManhattanScaled,
            DetectorKind::NearestNeighborMahalanobis,
            DetectorKind::OutlierCount,
            DetectorKind::Mahalanobis,
            DetectorKind::Manhattan,
            DetectorKind::Euclidean,
        ],
        0.002,
    );
}

#[test]
fn one_class_svm_is_within_a_hundredth() {
    check(&[DetectorKind::OneClassSvm], 0.01);
}

#[test]
fn loosely_specified_detectors_are_within_three_hundredths() {
    check(
        &[
            DetectorKind::EuclideanNormed,
            DetectorKind::MahalanobisNormed,
            DetectorKind::ManhattanFiltered,
        ],
        0.03,
    );
}

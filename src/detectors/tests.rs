//! Detector tests: parameter validation, differential checks against naive references, and
//! serialisation round trips.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;

/// Random training data with the CMU structure: the third feature of each triple is the
/// difference of the first two, so the covariance is rank-deficient.
fn keystroke_like(rows: usize, keys: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let d = 3 * keys - 2;
    let mut x = Array2::zeros((rows, d));
    for mut row in x.rows_mut() {
        for k in 0..keys {
            row[3 * k] = 0.08 + 0.05 * rng.r#gen::<f64>();
            if k + 1 < keys {
                let dd = 0.1 + 0.3 * rng.r#gen::<f64>();
                row[3 * k + 1] = dd;
                row[3 * k + 2] = dd - row[3 * k];
            }
        }
    }
    x
}

fn naive_pinv(a: &Array2<f64>) -> Array2<f64> {
    let w = crate::linalg::whitening(a).unwrap();
    w.t().dot(&w)
}

fn naive_quadratic(p: &Array2<f64>, v: &Array1<f64>) -> f64 {
    v.dot(&p.dot(v))
}

/// Naive scores computed straight from the definitions on the training data.
fn naive_score(kind: DetectorKind, train: ArrayView2<'_, f64>, x: &Array1<f64>) -> f64 {
    let mean = train.mean_axis(Axis(0)).unwrap();
    let diff = x - &mean;
    match kind {
        DetectorKind::Euclidean => diff.dot(&diff),
        DetectorKind::EuclideanNormed => {
            diff.dot(&diff) / (x.dot(x).sqrt() * mean.dot(&mean).sqrt())
        }
        DetectorKind::Manhattan => diff.mapv(f64::abs).sum(),
        DetectorKind::ManhattanScaled => {
            let mad = (&train - &mean).mapv(f64::abs).mean_axis(Axis(0)).unwrap();
            (diff.mapv(f64::abs) / mad).sum()
        }
        DetectorKind::Mahalanobis | DetectorKind::MahalanobisNormed => {
            let centred = &train - &mean;
            let cov = centred.t().dot(&centred) / (train.nrows() - 1) as f64;
            let p = naive_pinv(&cov);
            let value = naive_quadratic(&p, &diff);
            if kind == DetectorKind::MahalanobisNormed {
                value / (naive_quadratic(&p, x).sqrt() * naive_quadratic(&p, &mean).sqrt())
            } else {
                value
            }
        }
        DetectorKind::NearestNeighborMahalanobis => {
            let centred = &train - &mean;
            let cov = centred.t().dot(&centred) / (train.nrows() - 1) as f64;
            let p = naive_pinv(&cov);
            train
                .rows()
                .into_iter()
                .map(|t| naive_quadratic(&p, &(x - &t)))
                .fold(f64::INFINITY, f64::min)
        }
        DetectorKind::OutlierCount => {
            let sd = train.std_axis(Axis(0), 1.0);
            diff.iter()
                .zip(sd.iter())
                .filter(|(d, s)| d.abs() / **s > 1.96)
                .count() as f64
        }
        other => panic!("no naive reference for {other}"),
    }
}

#[test]
fn optimised_scorers_match_naive_references() {
    let kinds = [
        DetectorKind::Euclidean,
        DetectorKind::EuclideanNormed,
        DetectorKind::Manhattan,
        DetectorKind::ManhattanScaled,
        DetectorKind::Mahalanobis,
        DetectorKind::MahalanobisNormed,
        DetectorKind::NearestNeighborMahalanobis,
        DetectorKind::OutlierCount,
    ];
    for seed in 0..5 {
        // 60 to 64 training rows, so the nearest-neighbour search meets every remainder of its
        // blocks of four points.
        let train = keystroke_like(60 + seed as usize, 11, seed);
        let tests = keystroke_like(20, 11, seed + 100);
        for kind in kinds {
            let model = DetectorParams::new(kind).fit(train.view()).unwrap();
            for row in tests.rows() {
                let fast = model.score(row.as_slice().unwrap()).unwrap();
                let slow = naive_score(kind, train.view(), &row.to_owned());
                let tolerance = 1e-9 * slow.abs().max(1.0);
                assert!(
                    (fast - slow).abs() <= tolerance,
                    "{kind}: fast {fast}, naive {slow}"
                );
            }
        }
    }
}

#[test]
fn mahalanobis_rank_matches_cmu_structure() {
    let train = keystroke_like(200, 11, 7);
    let model = MahalanobisDetector::fit(train.view(), false).unwrap();
    assert_eq!(model.rank(), 21);
}

#[test]
fn genuine_scores_below_impostor_for_every_detector() {
    let train = keystroke_like(100, 5, 1);
    let genuine = keystroke_like(1, 5, 2);
    let impostor = &genuine * 3.0;
    for kind in DetectorKind::ALL {
        if kind == DetectorKind::NeuralNetworkStandard {
            continue; // Trained on one class only; see its doc comment.
        }
        let model = DetectorParams::new(kind).fit(train.view()).unwrap();
        let g = model.score(genuine.row(0).as_slice().unwrap()).unwrap();
        let i = model.score(impostor.row(0).as_slice().unwrap()).unwrap();
        assert!(g < i, "{kind}: genuine {g} >= impostor {i}");
    }
}

#[test]
fn fitting_is_deterministic_for_a_seed() {
    let train = keystroke_like(50, 4, 3);
    for kind in DetectorKind::ALL {
        let a = DetectorParams::new(kind).fit(train.view()).unwrap();
        let b = DetectorParams::new(kind).fit(train.view()).unwrap();
        assert_eq!(a, b, "{kind}");
    }
}

#[test]
fn models_round_trip_through_postcard() {
    let train = keystroke_like(40, 4, 4);
    let probe = keystroke_like(1, 4, 5);
    for kind in DetectorKind::ALL {
        let model = DetectorParams::new(kind).fit(train.view()).unwrap();
        let bytes = postcard::to_allocvec(&model).unwrap();
        let back: FittedDetector = postcard::from_bytes(&bytes).unwrap();
        let x = probe.row(0).to_vec();
        assert_eq!(model.score(&x).unwrap(), back.score(&x).unwrap(), "{kind}");
    }
}

#[test]
fn names_parse_back() {
    for kind in DetectorKind::ALL {
        assert_eq!(kind.name().parse::<DetectorKind>().unwrap(), kind);
    }
    let err = "manhatan".parse::<DetectorKind>().unwrap_err().to_string();
    assert!(
        err.contains("manhatan") && err.contains("manhattan-scaled"),
        "{err}"
    );
}

#[test]
fn invalid_parameters_are_rejected_before_fitting() {
    let train = keystroke_like(20, 3, 6);
    let cases: Vec<(&str, DetectorParams)> = vec![
        (
            "svm_nu",
            DetectorParams {
                svm_nu: 0.0,
                ..DetectorParams::new(DetectorKind::OneClassSvm)
            },
        ),
        (
            "svm_nu",
            DetectorParams {
                svm_nu: f64::NAN,
                ..DetectorParams::new(DetectorKind::OneClassSvm)
            },
        ),
        (
            "svm_nu",
            DetectorParams {
                svm_nu: 1.5,
                ..DetectorParams::new(DetectorKind::OneClassSvm)
            },
        ),
        (
            "kmeans_clusters",
            DetectorParams {
                kmeans_clusters: 0,
                ..DetectorParams::new(DetectorKind::KMeans)
            },
        ),
        (
            "outlier_z",
            DetectorParams {
                outlier_z: -1.0,
                ..DetectorParams::new(DetectorKind::OutlierCount)
            },
        ),
        (
            "filter_sd",
            DetectorParams {
                filter_sd: f64::INFINITY,
                ..DetectorParams::new(DetectorKind::ManhattanFiltered)
            },
        ),
        (
            "nn_epochs",
            DetectorParams {
                nn_epochs: 0,
                ..DetectorParams::new(DetectorKind::NeuralNetworkAutoAssoc)
            },
        ),
        (
            "nn_learning_rate",
            DetectorParams {
                nn_learning_rate: 0.0,
                ..DetectorParams::new(DetectorKind::NeuralNetworkStandard)
            },
        ),
        (
            "nn_momentum",
            DetectorParams {
                nn_momentum: 1.0,
                ..DetectorParams::new(DetectorKind::NeuralNetworkStandard)
            },
        ),
    ];
    for (name, params) in cases {
        match params.fit(train.view()) {
            Err(Error::InvalidParameter { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected InvalidParameter, got {other:?}"),
        }
    }
}

#[test]
fn bad_training_data_is_rejected() {
    let one_row = Array2::<f64>::zeros((1, 5));
    let no_columns = Array2::<f64>::zeros((5, 0));
    let mut with_nan = keystroke_like(10, 3, 8);
    with_nan[[3, 2]] = f64::NAN;
    for kind in DetectorKind::ALL {
        let params = DetectorParams::new(kind);
        for data in [&one_row, &no_columns, &with_nan] {
            assert!(
                matches!(
                    params.fit(data.view()),
                    Err(Error::InvalidTrainingData { .. })
                ),
                "{kind} accepted bad data of shape {:?}",
                data.shape()
            );
        }
    }
}

#[test]
fn k_means_needs_as_many_rows_as_clusters() {
    let train = keystroke_like(2, 3, 9);
    let result = DetectorParams::new(DetectorKind::KMeans).fit(train.view());
    assert!(
        matches!(result, Err(Error::InvalidTrainingData { .. })),
        "{result:?}"
    );
}

#[test]
fn constant_training_data_does_not_panic() {
    let train = Array2::from_elem((10, 4), 0.2);
    for kind in DetectorKind::ALL {
        // Either a typed error or finite scores; never a panic.
        if let Ok(model) = DetectorParams::new(kind).fit(train.view()) {
            let score = model.score(&[0.2, 0.3, 0.2, 0.2]).unwrap();
            assert!(!score.is_nan(), "{kind} gave NaN");
        }
    }
}

#[test]
fn scoring_checks_length_and_finiteness() {
    let train = keystroke_like(20, 3, 10);
    for kind in DetectorKind::ALL {
        let model = DetectorParams::new(kind).fit(train.view()).unwrap();
        assert!(matches!(
            model.score(&[0.1; 3]),
            Err(Error::DimensionMismatch {
                expected: 7,
                actual: 3
            })
        ));
        let mut x = vec![0.1; 7];
        x[4] = f64::INFINITY;
        assert!(matches!(
            model.score(&x),
            Err(Error::NonFiniteFeature { index: 4, .. })
        ));
    }
}

#[test]
fn score_rows_accepts_non_contiguous_views() {
    let train = keystroke_like(20, 3, 11);
    let model = DetectorParams::new(DetectorKind::Manhattan)
        .fit(train.view())
        .unwrap();
    let transposed = train.t().to_owned();
    let view = transposed.t();
    let scores = model.score_rows(view).unwrap();
    assert_eq!(scores.len(), 20);
    assert_eq!(
        scores[0],
        model.score(train.row(0).as_slice().unwrap()).unwrap()
    );
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Found by the `detector_decode` fuzz target: a network claiming 2^60 hidden units with no
/// weights decoded, then scoring tried to allocate the hidden layer.
#[test]
fn decode_rejects_network_shape_mismatch() {
    // The same layout with matching sizes decodes, so the rejection below is the shape check.
    let mut good = Vec::new();
    for n in [4, 1, 1, 1, 2] {
        varint(n, &mut good); // variant, inputs, hidden_units, outputs, hidden length
    }
    good.extend([0.5_f64, 0.25].iter().flat_map(|w| w.to_le_bytes()));
    varint(2, &mut good);
    good.extend([0.5_f64, 0.25].iter().flat_map(|w| w.to_le_bytes()));
    varint(0, &mut good);
    let model = crate::limits::decode_model::<FittedDetector>(&good).expect("valid network");
    assert!(model.score(&[0.5]).is_ok());

    let mut bytes = Vec::new();
    varint(4, &mut bytes); // FittedDetector::AutoAssociativeNetwork
    varint(1, &mut bytes); // inputs
    varint(1 << 60, &mut bytes); // hidden_units
    varint(1, &mut bytes); // outputs
    varint(0, &mut bytes); // hidden weights
    varint(0, &mut bytes); // output weights
    varint(0, &mut bytes); // activation
    let error = crate::limits::decode_model::<FittedDetector>(&bytes).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
}

/// Found by the `detector_decode` fuzz target: a decoded model with NaN parameters returned
/// `Ok(NaN)` scores.
#[test]
fn nan_model_score_is_an_error() {
    let mut bytes = Vec::new();
    varint(0, &mut bytes); // FittedDetector::MeanDistance
    varint(2, &mut bytes); // Metric::Manhattan
    varint(1, &mut bytes);
    bytes.extend(f64::NAN.to_le_bytes()); // mean
    varint(1, &mut bytes);
    bytes.extend(1.0_f64.to_le_bytes()); // weight
    bytes.extend(1.0_f64.to_le_bytes()); // mean_norm
    let model = crate::limits::decode_model::<FittedDetector>(&bytes).expect("decodes");
    let error = model.score(&[0.5]).unwrap_err();
    assert!(matches!(error, Error::NonFiniteScore { .. }), "{error}");
}

/// Found by the `detector_decode` fuzz target (a timeout): a k-means model with a 2^60 x 0
/// centroid matrix decoded from a few bytes, and scoring looped over every empty row.
#[test]
fn decode_rejects_empty_kmeans_centroids() {
    let encode = |centroids: Array2<f64>| {
        let mut bytes = Vec::new();
        varint(8, &mut bytes); // FittedDetector::KMeans
        bytes.extend(postcard::to_allocvec(&centroids).unwrap());
        bytes
    };
    // A 1 x 1 centroid matrix decodes, so the rejection below is the shape check.
    let good = encode(Array2::from_elem((1, 1), 0.5));
    let model = crate::limits::decode_model::<FittedDetector>(&good).expect("valid k-means");
    assert!(model.score(&[0.5]).is_ok());
    // Zero columns: no data to allocate, whatever the row count.
    let bytes = encode(Array2::zeros((1 << 60, 0)));
    let error = crate::limits::decode_model::<FittedDetector>(&bytes).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
}

/// Found by the `detector_decode` fuzz target: a scaled Manhattan model with three means and
/// no weights decoded, then scoring indexed past the end of the weights and panicked.
#[test]
fn decode_rejects_missing_weights() {
    const CRASH: [u8; 36] = [
        0x00, 0x03, 0x03, 0x33, 0x3f, 0x99, 0x99, 0x99, 0x99, 0x00, 0xc4, 0xc0, 0x65, 0x66, 0x66,
        0xc0, 0x65, 0x66, 0x66, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x01, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let error = crate::limits::decode_model::<FittedDetector>(&CRASH).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
}

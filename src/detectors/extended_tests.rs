//! Tests of the one-class and background-assisted detectors beyond DSN-2009.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::super::background::{BackgroundKind, BackgroundParams};
use super::super::robust::{independent_columns, ledoit_wolf, median};
use super::*;

/// Keystroke-like vectors around `centre`: the third feature of each triple is the difference
/// of the second and the first, as `UD = DD - H`.
fn keystroke_like(rows: usize, keys: usize, centre: f64, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let d = 3 * keys - 2;
    let mut x = Array2::zeros((rows, d));
    for mut row in x.rows_mut() {
        for k in 0..keys {
            row[3 * k] = centre * (0.8 + 0.05 * k as f64) + 0.02 * rng.r#gen::<f64>();
            if k + 1 < keys {
                let dd = 2.0 * centre + 0.1 * rng.r#gen::<f64>();
                row[3 * k + 1] = dd;
                row[3 * k + 2] = dd - row[3 * k];
            }
        }
    }
    x
}

fn background_subjects(count: usize, rows: usize) -> Vec<Array2<f64>> {
    (0..count)
        .map(|b| keystroke_like(rows, 4, 0.15 + 0.02 * b as f64, 100 + b as u64))
        .collect()
}

fn views(subjects: &[Array2<f64>]) -> Vec<ArrayView2<'_, f64>> {
    subjects.iter().map(|s| s.view()).collect()
}

#[test]
fn independent_columns_drop_ud() {
    let x = keystroke_like(50, 4, 0.1, 1);
    // Columns: H1 DD12 UD12 H2 DD23 UD23 H3 DD34 UD34 H4; every UD is DD - H.
    assert_eq!(independent_columns(x.view()), vec![0, 1, 3, 4, 6, 7, 9]);
}

#[test]
fn independent_columns_drop_constant() {
    let mut x = keystroke_like(20, 2, 0.1, 2);
    // H1 is overwritten after UD12 = DD12 - H1 was computed, so UD12 stays independent.
    x.column_mut(0).fill(0.5);
    assert_eq!(independent_columns(x.view()), vec![1, 2, 3]);
}

#[test]
fn ledoit_wolf_matches_naive_sum() {
    let x = keystroke_like(30, 3, 0.1, 3);
    let n = x.nrows() as f64;
    let mean = x.mean_axis(Axis(0)).unwrap();
    let centred = &x - &mean;
    let sample = centred.t().dot(&centred) / n;
    let d = x.ncols();
    let mu = sample.diag().sum() / d as f64;
    let target = Array2::from_diag(&Array1::from_elem(d, mu));
    let delta: f64 = (&sample - &target).iter().map(|v| v * v).sum();
    let mut beta_bar = 0.0;
    for row in centred.rows() {
        let outer = Array2::from_shape_fn((d, d), |(i, j)| row[i] * row[j]);
        beta_bar += (&outer - &sample).iter().map(|v| v * v).sum::<f64>();
    }
    beta_bar /= n * n;
    let shrinkage = beta_bar.min(delta) / delta;
    let naive = &target * shrinkage + &sample * (1.0 - shrinkage);
    let fast = ledoit_wolf(x.view());
    for (a, b) in fast.iter().zip(naive.iter()) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn robust_manhattan_matches_naive() {
    let train = keystroke_like(41, 4, 0.1, 4);
    let model = OneClassParams::new(OneClassKind::RobustManhattan)
        .fit(train.view())
        .unwrap();
    let kept = independent_columns(train.view());
    let test = keystroke_like(5, 4, 0.12, 5);
    for row in test.rows() {
        let mut naive = 0.0;
        for &j in &kept {
            let mut column = train.column(j).to_vec();
            let m = median(&mut column);
            let a = column.iter().map(|v| (v - m).abs()).sum::<f64>() / column.len() as f64;
            naive += (row[j] - m).abs() / a;
        }
        let fast = model.score(row.as_slice().unwrap()).unwrap();
        assert!((fast - naive).abs() < 1e-9 * naive, "{fast} vs {naive}");
    }
}

#[test]
fn knn_matches_sorted_reference() {
    let train = keystroke_like(60, 4, 0.1, 6);
    let test = keystroke_like(8, 4, 0.11, 7);
    let params = OneClassParams {
        knn_k: 4,
        ..OneClassParams::new(OneClassKind::WhitenedManhattanKnn)
    };
    let OneClassModel::WhitenedManhattanKnn(model) = params.fit(train.view()).unwrap() else {
        panic!("wrong model kind");
    };
    let reference = OneClassParams::new(OneClassKind::WhitenedManhattanNn)
        .fit(train.view())
        .unwrap();
    for row in test.rows() {
        let x = row.as_slice().unwrap();
        let fast = model.score(x).unwrap();
        let nearest = reference.score(x).unwrap();
        // The mean of the 4 nearest is at least the nearest distance.
        assert!(fast >= nearest - 1e-12, "{fast} < {nearest}");
        let naive = model.naive_score(x, 4);
        assert!(
            (fast - naive).abs() < 1e-9 * naive.max(1e-12),
            "{fast} vs {naive}"
        );
    }
}

#[test]
fn every_one_class_kind_is_deterministic() {
    let train = keystroke_like(40, 4, 0.1, 8);
    let test = keystroke_like(10, 4, 0.13, 9);
    for kind in OneClassKind::ALL {
        let params = OneClassParams::new(kind);
        let a = params.fit(train.view()).unwrap();
        let b = params.fit(train.view()).unwrap();
        assert_eq!(a, b, "{kind}");
        assert_eq!(
            a.score_rows(test.view()).unwrap(),
            b.score_rows(test.view()).unwrap()
        );
        let bytes = postcard::to_allocvec(&a).unwrap();
        let back: OneClassModel = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(a, back, "{kind} round trip");
    }
}

#[test]
fn one_class_rejects_bad_params() {
    let train = keystroke_like(20, 3, 0.1, 10);
    let zero_k = OneClassParams {
        knn_k: 0,
        ..OneClassParams::new(OneClassKind::WhitenedManhattanKnn)
    };
    assert!(matches!(
        zero_k.fit(train.view()),
        Err(Error::InvalidParameter { name: "knn_k", .. })
    ));
    let one_fold = OneClassParams {
        cv_folds: 1,
        ..OneClassParams::new(OneClassKind::FusionZNorm)
    };
    assert!(matches!(
        one_fold.fit(train.view()),
        Err(Error::InvalidParameter {
            name: "cv_folds",
            ..
        })
    ));
}

#[test]
fn one_class_rejects_bad_training() {
    for kind in OneClassKind::ALL {
        let params = OneClassParams::new(kind);
        let one_row = keystroke_like(1, 3, 0.1, 11);
        assert!(matches!(
            params.fit(one_row.view()),
            Err(Error::InvalidTrainingData { .. })
        ));
        let mut nan = keystroke_like(10, 3, 0.1, 12);
        nan[[3, 2]] = f64::NAN;
        assert!(matches!(
            params.fit(nan.view()),
            Err(Error::InvalidTrainingData { .. })
        ));
        let constant = Array2::from_elem((10, 4), 0.2);
        assert!(matches!(
            params.fit(constant.view()),
            Err(Error::InvalidTrainingData { .. })
        ));
    }
}

#[test]
fn one_class_rejects_bad_samples() {
    let train = keystroke_like(20, 3, 0.1, 13);
    let model = OneClassParams::new(OneClassKind::FusionZNorm)
        .fit(train.view())
        .unwrap();
    assert!(matches!(
        model.score(&[0.1; 3]),
        Err(Error::DimensionMismatch { .. })
    ));
    let mut x = train.row(0).to_vec();
    x[1] = f64::INFINITY;
    assert!(matches!(
        model.score(&x),
        Err(Error::NonFiniteFeature { index: 1, .. })
    ));
}

#[test]
fn fusion_scores_do_not_depend_on_other_tests() {
    // Fitting takes training rows only, so a test row's score cannot depend on the other rows
    // scored with it: scoring a batch equals scoring its rows one by one, in any batch.
    let train = keystroke_like(50, 4, 0.1, 14);
    let tests = keystroke_like(12, 4, 0.12, 15);
    let model = OneClassParams::new(OneClassKind::FusionZNorm)
        .fit(train.view())
        .unwrap();
    let batch = model.score_rows(tests.view()).unwrap();
    let half = model
        .score_rows(tests.slice_axis(Axis(0), (0..6).into()))
        .unwrap();
    assert_eq!(&batch[..6], &half[..]);
    for (row, s) in tests.rows().into_iter().zip(&batch) {
        assert_eq!(model.score(&row.to_vec()).unwrap(), *s);
    }
}

#[test]
fn fusion_separates_genuine_from_impostor() {
    let train = keystroke_like(60, 4, 0.1, 16);
    let genuine = keystroke_like(30, 4, 0.1, 17);
    let impostor = keystroke_like(30, 4, 0.16, 18);
    let model = OneClassParams::new(OneClassKind::FusionZNorm)
        .fit(train.view())
        .unwrap();
    let g = model.score_rows(genuine.view()).unwrap();
    let i = model.score_rows(impostor.view()).unwrap();
    let worst_genuine = g.iter().copied().fold(f64::MIN, f64::max);
    let best_impostor = i.iter().copied().fold(f64::MAX, f64::min);
    assert!(
        worst_genuine < best_impostor,
        "{worst_genuine} >= {best_impostor}"
    );
}

#[test]
fn background_kinds_are_deterministic_and_separate() {
    let train = keystroke_like(60, 4, 0.1, 19);
    let genuine = keystroke_like(30, 4, 0.1, 20);
    let impostor = keystroke_like(30, 4, 0.17, 21);
    let background = background_subjects(6, 30);
    for kind in BackgroundKind::ALL {
        let params = BackgroundParams::new(kind);
        let a = params.fit(train.view(), &views(&background)).unwrap();
        let b = params.fit(train.view(), &views(&background)).unwrap();
        assert_eq!(a, b, "{kind}");
        let bytes = postcard::to_allocvec(&a).unwrap();
        let back: super::super::BackgroundModel = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(a, back, "{kind} round trip");
        let g = a.score_rows(genuine.view()).unwrap();
        let i = a.score_rows(impostor.view()).unwrap();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean(&g) < mean(&i), "{kind}: {} >= {}", mean(&g), mean(&i));
    }
}

#[test]
fn background_rejects_bad_params() {
    let train = keystroke_like(20, 3, 0.1, 22);
    let background = background_subjects(3, 10);
    let base = BackgroundParams::new(BackgroundKind::BackgroundLogistic);
    let cases = [
        (
            "l2",
            BackgroundParams {
                l2: 0.0,
                ..base.clone()
            },
        ),
        (
            "l2",
            BackgroundParams {
                l2: f64::NAN,
                ..base.clone()
            },
        ),
        (
            "rows_per_subject",
            BackgroundParams {
                rows_per_subject: 0,
                ..base.clone()
            },
        ),
        (
            "cv_folds",
            BackgroundParams {
                cv_folds: 1,
                ..base.clone()
            },
        ),
    ];
    for (name, params) in cases {
        match params.fit(train.view(), &views(&background)) {
            Err(Error::InvalidParameter { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected InvalidParameter, got {other:?}"),
        }
    }
}

#[test]
fn background_rejects_bad_background() {
    let train = keystroke_like(20, 4, 0.1, 23);
    let params = BackgroundParams::new(BackgroundKind::BackgroundFusion);
    let one = background_subjects(1, 10);
    assert!(matches!(
        params.fit(train.view(), &views(&one)),
        Err(Error::InvalidTrainingData { .. })
    ));
    let narrow = vec![
        keystroke_like(10, 3, 0.1, 24),
        keystroke_like(10, 3, 0.1, 25),
    ];
    assert!(matches!(
        params.fit(train.view(), &views(&narrow)),
        Err(Error::InvalidTrainingData { .. })
    ));
    let mut nan = background_subjects(3, 10);
    nan[2][[4, 1]] = f64::NAN;
    assert!(matches!(
        params.fit(train.view(), &views(&nan)),
        Err(Error::InvalidTrainingData { .. })
    ));
    let two_rows = keystroke_like(2, 4, 0.1, 26);
    let ok = background_subjects(3, 10);
    assert!(matches!(
        params.fit(two_rows.view(), &views(&ok)),
        Err(Error::InvalidTrainingData { .. })
    ));
}

#[test]
fn knn_ratio_matches_sorted_reference() {
    let train = keystroke_like(50, 4, 0.1, 27);
    let background = background_subjects(5, 20);
    let params = BackgroundParams::new(BackgroundKind::BackgroundKnnRatio);
    let super::super::BackgroundModel::KnnRatio(model) =
        params.fit(train.view(), &views(&background)).unwrap()
    else {
        panic!("wrong model kind");
    };
    let tests = keystroke_like(6, 4, 0.13, 28);
    for row in tests.rows() {
        let x = row.as_slice().unwrap();
        let fast = model.score(x).unwrap();
        let naive = model.naive_score(x);
        assert!((fast - naive).abs() < 1e-9, "{fast} vs {naive}");
    }
}

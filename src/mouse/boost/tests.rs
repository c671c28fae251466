use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;

/// Points in the square `[-1, 1]²` plus three noise features; class `true` when the first two
/// coordinates have the same sign. No single feature separates the classes, so a booster must
/// combine splits.
fn checkerboard(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut x = Array2::zeros((n, 5));
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        for j in 0..5 {
            x[[i, j]] = rng.gen_range(-1.0..1.0);
        }
        y.push((x[[i, 0]] > 0.0) == (x[[i, 1]] > 0.0));
    }
    (x, y)
}

fn log_loss(booster: &BoostedTrees, x: &Array2<f64>, y: &[bool]) -> Result<f64> {
    let mut sum = 0.0;
    for (row, &label) in x.rows().into_iter().zip(y) {
        let p = booster.predict_proba(&row.to_vec())?;
        sum -= if label { p.ln() } else { (1.0 - p).ln() };
    }
    Ok(sum / y.len() as f64)
}

/// Counts the rows of a fresh 400-row checkerboard that `booster` classifies correctly.
fn correct_of_400(booster: &BoostedTrees) -> Result<usize> {
    let (test, labels) = checkerboard(400, 2);
    let mut correct = 0;
    for (row, &label) in test.rows().into_iter().zip(&labels) {
        if (booster.predict_proba(&row.to_vec())? > 0.5) == label {
            correct += 1;
        }
    }
    Ok(correct)
}

#[test]
fn learns_checkerboard() -> Result<()> {
    let (x, y) = checkerboard(1000, 1);
    let booster = BoostParams {
        n_rounds: 60,
        ..BoostParams::default()
    }
    .fit(x.view(), &y)?;
    let correct = correct_of_400(&booster)?;
    assert!(correct >= 370, "{correct} of 400 correct");
    Ok(())
}

#[test]
fn sampled_rows_and_features_still_learn() -> Result<()> {
    let (x, y) = checkerboard(1000, 1);
    let params = BoostParams {
        n_rounds: 60,
        subsample: 0.5,
        colsample: 0.6,
        ..BoostParams::default()
    };
    let booster = params.fit(x.view(), &y)?;
    let correct = correct_of_400(&booster)?;
    assert!(correct >= 360, "{correct} of 400 correct");
    assert_eq!(params.fit(x.view(), &y)?, booster, "same seed, same model");
    let reseeded = BoostParams { seed: 7, ..params }.fit(x.view(), &y)?;
    assert_ne!(reseeded, booster, "another seed draws other rows");
    Ok(())
}

#[test]
fn sampled_rows_get_the_tree_output_too() -> Result<()> {
    // Every row's gradients in round 2 must come from log odds that include the first tree,
    // sampled in round 1 or not. Regrowing the second tree from the first tree's predictions
    // must then give the tree that the fit grew.
    let (x, y) = checkerboard(300, 4);
    let params = BoostParams {
        n_rounds: 2,
        subsample: 0.3,
        min_samples_leaf: 5,
        ..BoostParams::default()
    };
    let booster = params.fit(x.view(), &y)?;
    let first = BoostedTrees {
        trees: booster.trees[..1].to_vec(),
        ..booster.clone()
    };

    let binned = Binned::new(x.view(), params.max_bins);
    let mut grower = Grower::new(&binned, &params);
    let mut log_odds = Vec::new();
    let mut gradients = Vec::new();
    for (row, &label) in x.rows().into_iter().zip(&y) {
        let p = first.predict_proba(&row.to_vec())?;
        log_odds.push(first.base + first.trees[0].predict(&row.to_vec()));
        gradients.push((p - f64::from(u8::from(label)), (p * (1.0 - p)).max(1e-16)));
    }

    // The fit drew round 1's rows, then round 2's, from one generator.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
    let _first_rows = sample(&mut rng, 300, 90);
    let mut rows: Vec<u32> = sample(&mut rng, 300, 90)
        .into_iter()
        .map(|i| i as u32)
        .collect();
    rows.sort_unstable();
    let second = grower.grow(&gradients, rows, &mut log_odds);
    assert_eq!(second, booster.trees[1]);
    Ok(())
}

#[test]
fn training_loss_falls_with_rounds() -> Result<()> {
    let (x, y) = checkerboard(500, 3);
    let mut previous = f64::INFINITY;
    for n_rounds in [1, 5, 20, 80] {
        let booster = BoostParams {
            n_rounds,
            ..BoostParams::default()
        }
        .fit(x.view(), &y)?;
        assert_eq!(booster.n_trees(), n_rounds);
        let loss = log_loss(&booster, &x, &y)?;
        assert!(loss < previous, "{n_rounds} rounds: {loss} >= {previous}");
        previous = loss;
    }
    Ok(())
}

#[test]
fn one_stump_has_newton_leaf_values() -> Result<()> {
    // Feature 0 is 0 for rows 0..10 and 1 for rows 10..40. Labels: rows 0..8 and 10..16 are
    // positive, so the left side has 8 of 10 positive and the right 6 of 30, 14 of 40 overall.
    let x = Array2::from_shape_fn((40, 1), |(i, _)| if i < 10 { 0.0 } else { 1.0 });
    let y: Vec<bool> = (0..40).map(|i| i < 8 || (10..16).contains(&i)).collect();
    let params = BoostParams {
        n_rounds: 1,
        learning_rate: 0.5,
        max_leaves: 2,
        min_samples_leaf: 1,
        l2: 2.0,
        // Cut points sit at quantiles; with 8 bins the first lies in the ten zeros.
        max_bins: 8,
        ..BoostParams::default()
    };
    let booster = params.fit(x.view(), &y)?;
    let base = (14.0_f64 / 26.0).ln();
    let p = 14.0 / 40.0;
    let h = p * (1.0 - p);
    // Every row starts at p, so a side with `n` rows and `k` positives has G = n p - k and
    // H = n h; the leaf adds -η G / (H + λ) to the log odds.
    let leaf = |n: f64, k: f64| -0.5 * (n * p - k) / (n * h + 2.0);
    let expect = |v: f64| 1.0 / (1.0 + (-(base + v)).exp());
    let left = booster.predict_proba(&[0.0])?;
    let right = booster.predict_proba(&[1.0])?;
    assert!((left - expect(leaf(10.0, 8.0))).abs() < 1e-12, "{left}");
    assert!((right - expect(leaf(30.0, 6.0))).abs() < 1e-12, "{right}");
    Ok(())
}

#[test]
fn min_samples_leaf_blocks_splits() -> Result<()> {
    let (x, y) = checkerboard(50, 4);
    let booster = BoostParams {
        n_rounds: 3,
        min_samples_leaf: 26,
        ..BoostParams::default()
    }
    .fit(x.view(), &y)?;
    let first = booster.predict_proba(&x.row(0).to_vec())?;
    for row in x.rows() {
        assert_eq!(booster.predict_proba(&row.to_vec())?, first);
    }
    Ok(())
}

#[test]
fn deterministic_and_round_trips() -> Result<()> {
    let (x, y) = checkerboard(200, 5);
    let params = BoostParams {
        n_rounds: 10,
        ..BoostParams::default()
    };
    let a = params.fit(x.view(), &y)?;
    assert_eq!(a, params.fit(x.view(), &y)?);
    let bytes = postcard::to_allocvec(&a).map_err(|e| Error::training(e.to_string()))?;
    let back: BoostedTrees = crate::limits::decode_model(&bytes)?;
    assert_eq!(back, a);
    Ok(())
}

#[test]
fn batch_prediction_matches_single_rows() -> Result<()> {
    let (x, y) = checkerboard(300, 6);
    let booster = BoostParams {
        n_rounds: 15,
        ..BoostParams::default()
    }
    .fit(x.view(), &y)?;
    let (test, _) = checkerboard(37, 7);
    let flat: Vec<f64> = test.iter().copied().collect();
    let batch = booster.predict_proba_rows(&flat)?;
    assert_eq!(batch.len(), 37);
    for (row, p) in test.rows().into_iter().zip(&batch) {
        let single = booster.predict_proba(&row.to_vec())?;
        assert_eq!(single.to_bits(), p.to_bits());
        assert!((0.0..=1.0).contains(p));
        let log_odds = booster.log_odds(&row.to_vec())?;
        assert!((1.0 / (1.0 + (-log_odds).exp()) - p).abs() < 1e-12);
    }
    Ok(())
}

#[test]
fn bad_rows_rejected() -> Result<()> {
    let (x, y) = checkerboard(40, 8);
    let booster = BoostParams {
        n_rounds: 2,
        ..BoostParams::default()
    }
    .fit(x.view(), &y)?;
    assert!(matches!(
        booster.predict_proba(&[0.0; 3]),
        Err(Error::DimensionMismatch {
            expected: 5,
            actual: 3
        })
    ));
    assert!(matches!(
        booster.predict_proba(&[0.0, 0.0, f64::INFINITY, 0.0, 0.0]),
        Err(Error::NonFiniteFeature { index: 2, .. })
    ));
    assert!(matches!(
        booster.log_odds(&[0.0; 6]),
        Err(Error::DimensionMismatch {
            expected: 5,
            actual: 6
        })
    ));
    assert!(matches!(
        booster.log_odds(&[0.0, f64::NAN, 0.0, 0.0, 0.0]),
        Err(Error::NonFiniteFeature { index: 1, .. })
    ));
    assert!(matches!(
        booster.predict_proba_rows(&[0.0; 7]),
        Err(Error::DimensionMismatch { expected: 5, .. })
    ));
    let mut rows = [0.0; 10];
    rows[7] = f64::NAN;
    assert!(matches!(
        booster.predict_proba_rows(&rows),
        Err(Error::NonFiniteFeature { index: 2, .. })
    ));
    assert!(booster.predict_proba_rows(&[])?.is_empty());
    Ok(())
}

#[test]
fn bad_training_data_rejected() {
    let params = BoostParams::default();
    let x = Array2::from_shape_vec((2, 1), vec![0.0, 1.0]).unwrap_or_default();
    let cases: Vec<(Array2<f64>, Vec<bool>)> = vec![
        (Array2::zeros((0, 3)), vec![]),
        (Array2::zeros((2, 0)), vec![true, false]),
        (x.clone(), vec![true]),
        (x.clone(), vec![false, false]),
        (
            Array2::from_shape_vec((2, 1), vec![0.0, f64::NAN]).unwrap_or_default(),
            vec![true, false],
        ),
    ];
    for (x, y) in cases {
        assert!(
            matches!(
                params.fit(x.view(), &y),
                Err(Error::InvalidTrainingData { .. })
            ),
            "{x:?} {y:?}"
        );
        assert!(
            matches!(
                params.fit_cut_on_positives(x.view(), &y),
                Err(Error::InvalidTrainingData { .. })
            ),
            "cut on positives: {x:?} {y:?}"
        );
    }
}

#[test]
fn bad_params_rejected() {
    let base = BoostParams::default();
    for p in [
        BoostParams {
            n_rounds: 0,
            ..base
        },
        BoostParams {
            learning_rate: 0.0,
            ..base
        },
        BoostParams {
            learning_rate: f64::NAN,
            ..base
        },
        BoostParams {
            learning_rate: 1.5,
            ..base
        },
        BoostParams {
            max_leaves: 1,
            ..base
        },
        BoostParams {
            min_samples_leaf: 0,
            ..base
        },
        BoostParams { l2: -1.0, ..base },
        BoostParams {
            l2: f64::INFINITY,
            ..base
        },
        BoostParams {
            max_bins: 1,
            ..base
        },
        BoostParams {
            max_bins: 257,
            ..base
        },
        BoostParams {
            subsample: 0.0,
            ..base
        },
        BoostParams {
            subsample: 1.5,
            ..base
        },
        BoostParams {
            colsample: f64::NAN,
            ..base
        },
        BoostParams {
            colsample: -0.5,
            ..base
        },
    ] {
        assert!(
            matches!(p.check(), Err(Error::InvalidParameter { .. })),
            "{p:?}"
        );
    }
}

fn decode(n_features: usize, base: f64, trees: Vec<Vec<Node>>) -> Result<BoostedTrees> {
    let booster = BoostedTrees {
        n_features,
        base,
        trees: trees.into_iter().map(|nodes| Tree { nodes }).collect(),
    };
    let bytes = postcard::to_allocvec(&booster).map_err(|e| Error::training(e.to_string()))?;
    crate::limits::decode_model(&bytes)
}

fn split(feature: u32, left: u32, right: u32) -> Node {
    Node::Split {
        feature,
        threshold: 0.5,
        left,
        right,
    }
}

#[test]
fn decode_rejects_malformed_boosters() {
    let cases = [
        // Predicting on a cycle would loop forever.
        (1, 0.0, vec![vec![split(0, 0, 0)]]),
        (1, 0.0, vec![vec![split(0, 1, 9), Node::Leaf(0.5)]]),
        (
            2,
            0.0,
            vec![vec![split(3, 1, 2), Node::Leaf(0.0), Node::Leaf(1.0)]],
        ),
        (1, 0.0, vec![vec![]]),
        (1, 0.0, vec![vec![Node::Leaf(f64::INFINITY)]]),
        (1, f64::NAN, vec![vec![Node::Leaf(0.0)]]),
        // Each value is finite, but two trees can sum to an infinite log odds.
        (
            1,
            0.0,
            vec![vec![Node::Leaf(f64::MAX)], vec![Node::Leaf(f64::MAX)]],
        ),
        (1, -f64::MAX, vec![vec![Node::Leaf(-f64::MAX)]]),
        (0, 0.0, vec![vec![Node::Leaf(0.0)]]),
    ];
    for (n_features, base, trees) in cases {
        let error = decode(n_features, base, trees.clone()).unwrap_err();
        assert!(
            matches!(error, Error::InvalidModel { .. }),
            "{trees:?}: {error}"
        );
    }
}

#[test]
fn decode_accepts_valid_booster() -> Result<()> {
    let nodes = vec![split(1, 1, 2), Node::Leaf(-1.0), Node::Leaf(1.0)];
    let booster = decode(2, 0.5, vec![nodes])?;
    assert_eq!(booster.predict_proba(&[0.0, 0.0])?, logistic(-0.5));
    assert_eq!(booster.predict_proba(&[0.0, 0.9])?, logistic(1.5));
    Ok(())
}

/// The block-wise histogram pass gives the sums of a plain row-by-row pass to the last bit.
/// Cases: 63 bins (whole blocks of eight features plus a rest) and 200 bins (one feature at a
/// time), all features and a subset, over a shuffled subset of the rows.
#[test]
fn histograms_match_row_by_row_pass() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let (n, d) = (500, 21);
    // Rounded values give ties and bins of very different sizes.
    let x = Array2::from_shape_fn((n, d), |(_, f)| {
        (rng.gen_range(-3.0f64..3.0) * (f + 1) as f64).round()
    });
    let gradients: Vec<(f64, f64)> = (0..n)
        .map(|_| (rng.gen_range(-1.0..1.0), rng.gen_range(0.0..0.25)))
        .collect();
    let mut rows: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 1).collect();
    for i in (1..rows.len()).rev() {
        rows.swap(i, rng.gen_range(0..=i));
    }
    for max_bins in [63, 200] {
        let params = BoostParams {
            max_bins,
            ..BoostParams::default()
        };
        let binned = Binned::new(x.view(), max_bins);
        let mut grower = Grower::new(&binned, &params);
        for features in [(0..d).collect::<Vec<_>>(), vec![1, 4, 17]] {
            grower.features.clone_from(&features);
            grower.order.clone_from(&rows);
            let histogram = grower.histogram(0, rows.len(), &gradients);
            let mut expected = vec![Sums::default(); features.len() * grower.bins];
            for &row in &rows {
                for (j, &f) in features.iter().enumerate() {
                    expected[j * grower.bins + binned.code(row, f)].add(gradients[row as usize]);
                }
            }
            assert_eq!(histogram.len(), expected.len());
            for (i, (got, want)) in histogram.iter().zip(&expected).enumerate() {
                assert!(
                    got.g.to_bits() == want.g.to_bits()
                        && got.h.to_bits() == want.h.to_bits()
                        && got.n == want.n,
                    "{max_bins} bins, features {features:?}, histogram entry {i}: \
                     {got:?} against {want:?}"
                );
            }
        }
    }
}

/// Positives take odd multiples of 1/1000 in `[-0.5, 0.5]` in both features, negatives even
/// multiples in `[-1, 1]`. So no value is in both classes, and only negatives lie outside the
/// positives' range.
fn interleaved(n: usize) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let mut x = Array2::zeros((2 * n, 2));
    let mut y = Vec::with_capacity(2 * n);
    for i in 0..2 * n {
        let positive = i % 2 == 0;
        for j in 0..2 {
            x[[i, j]] = if positive {
                f64::from(2 * rng.gen_range(-250..250) + 1) / 1000.0
            } else {
                f64::from(2 * rng.gen_range(-500..=500)) / 1000.0
            };
        }
        y.push(positive);
    }
    (x, y)
}

/// 40 rounds of the default booster.
fn forty_rounds() -> BoostParams {
    BoostParams {
        n_rounds: 40,
        ..BoostParams::default()
    }
}

#[test]
fn positive_cuts_copy_no_negative_value() -> Result<()> {
    let (x, y) = interleaved(600);
    let booster = forty_rounds().fit_cut_on_positives(x.view(), &y)?;
    let thresholds = booster.splits();
    assert!(!thresholds.is_empty());
    for (feature, threshold) in thresholds {
        let column = x.column(feature);
        let negative = column
            .iter()
            .zip(&y)
            .any(|(&v, &label)| !label && v == threshold);
        assert!(
            !negative,
            "feature {feature} threshold {threshold} is a negative's value"
        );
        let positive_or_below = column
            .iter()
            .zip(&y)
            .any(|(&v, &label)| label && (v == threshold || v.next_down() == threshold));
        assert!(positive_or_below, "feature {feature} threshold {threshold}");
    }

    // The plain fit cuts at quantiles of all rows, and so at negatives' values too.
    let plain = forty_rounds().fit(x.view(), &y)?;
    let copied = plain.splits().iter().any(|&(feature, threshold)| {
        x.column(feature)
            .iter()
            .zip(&y)
            .any(|(&v, &label)| !label && v == threshold)
    });
    assert!(copied, "the plain fit should split at a negative's value");
    Ok(())
}

#[test]
fn positive_cuts_separate_rows_outside_range() -> Result<()> {
    let (x, y) = interleaved(600);
    let booster = forty_rounds().fit_cut_on_positives(x.view(), &y)?;
    // Values beyond the positives' range in feature 0 are negatives only.
    for outside in [-0.9, -0.6, 0.6, 0.9] {
        let p = booster.predict_proba(&[outside, 0.0])?;
        assert!(p < 0.2, "{outside}: {p}");
    }
    let inside = booster.predict_proba(&[0.101, 0.001])?;
    assert!(inside > 0.3, "{inside}");
    Ok(())
}

#[test]
fn positive_cuts_mark_the_range() {
    let x = Array2::from_shape_vec((6, 1), vec![-5.0, 1.0, 2.0, 3.0, 4.0, 9.0]).unwrap();
    let y = [false, true, true, true, true, false];
    for max_bins in [4, 63] {
        let binned = Binned::new_cut_on(x.view(), max_bins, &y);
        let cuts = &binned.cuts[0];
        assert_eq!(
            cuts.first(),
            Some(&1.0_f64.next_down()),
            "{max_bins}: {cuts:?}"
        );
        assert_eq!(cuts.last(), Some(&4.0), "{max_bins}: {cuts:?}");
        assert!(cuts.len() < max_bins, "{max_bins}: {cuts:?}");
        let codes: Vec<usize> = (0..6).map(|row| binned.code(row, 0)).collect();
        assert_eq!(codes[0], 0, "{max_bins}: {codes:?}");
        assert_eq!(codes[1], 1, "{max_bins}: {codes:?}");
        assert_eq!(codes[5], cuts.len(), "{max_bins}: {codes:?}");
        assert!(codes[4] < cuts.len(), "{max_bins}: {codes:?}");
    }
    // No row outside the range: no range cut either.
    let inside = [true; 6];
    let binned = Binned::new_cut_on(x.view(), 63, &inside);
    assert!(
        binned.cuts[0]
            .iter()
            .all(|c| x.column(0).iter().any(|v| v == c))
    );
    // Fewer than 4 bins: only quantiles of the selected rows.
    let binned = Binned::new_cut_on(x.view(), 2, &y);
    assert_eq!(binned.cuts[0], [3.0]);
}

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;

/// Two Gaussian-ish blobs in 5 dimensions; class `true` is shifted by `shift` in feature 2.
fn blobs(n: usize, shift: f64, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut x = Array2::zeros((n, 5));
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let label = i % 2 == 0;
        for j in 0..5 {
            let noise: f64 = (0..4).map(|_| rng.gen_range(-1.0..1.0)).sum();
            x[[i, j]] = noise + if label && j == 2 { shift } else { 0.0 };
        }
        y.push(label);
    }
    (x, y)
}

#[test]
fn separates_shifted_blobs() -> Result<()> {
    let (x, y) = blobs(400, 6.0, 1);
    let forest = ForestParams {
        n_trees: 30,
        ..ForestParams::default()
    }
    .fit(x.view(), &y)?;
    let (test, labels) = blobs(200, 6.0, 2);
    let correct = test
        .rows()
        .into_iter()
        .zip(&labels)
        .filter(|(row, label)| {
            let p = forest
                .predict_proba(row.as_slice().unwrap_or(&[]))
                .unwrap_or(f64::NAN);
            (p > 0.5) == **label
        })
        .count();
    assert!(correct >= 195, "{correct} of 200 correct");
    Ok(())
}

#[test]
fn noise_gives_middling_probabilities() -> Result<()> {
    let (x, y) = blobs(400, 0.0, 3);
    let forest = ForestParams {
        n_trees: 50,
        ..ForestParams::default()
    }
    .fit(x.view(), &y)?;
    let (test, _) = blobs(100, 0.0, 4);
    let mean: f64 = test
        .rows()
        .into_iter()
        .map(|r| forest.predict_proba(&r.to_vec()))
        .sum::<Result<f64>>()?
        / 100.0;
    assert!((0.3..0.7).contains(&mean), "mean probability {mean}");
    Ok(())
}

#[test]
fn same_seed_same_forest_and_round_trip() -> Result<()> {
    let (x, y) = blobs(100, 2.0, 5);
    let params = ForestParams {
        n_trees: 8,
        ..ForestParams::default()
    };
    let a = params.fit(x.view(), &y)?;
    let b = params.fit(x.view(), &y)?;
    assert_eq!(a, b);
    let other = ForestParams { seed: 7, ..params }.fit(x.view(), &y)?;
    assert_ne!(a, other);
    let bytes = postcard::to_allocvec(&a).map_err(|e| Error::training(e.to_string()))?;
    let back: RandomForest =
        postcard::from_bytes(&bytes).map_err(|e| Error::training(e.to_string()))?;
    assert_eq!(back, a);
    for row in x.rows() {
        let row = row.to_vec();
        assert_eq!(back.predict_proba(&row)?, a.predict_proba(&row)?);
    }
    Ok(())
}

#[test]
fn probabilities_in_unit_interval() -> Result<()> {
    let (x, y) = blobs(60, 1.0, 6);
    let forest = ForestParams {
        n_trees: 5,
        min_samples_leaf: 3,
        ..ForestParams::default()
    }
    .fit(x.view(), &y)?;
    for row in x.rows() {
        let p = forest.predict_proba(&row.to_vec())?;
        assert!((0.0..=1.0).contains(&p), "{p}");
    }
    Ok(())
}

#[test]
fn bad_training_data_rejected() {
    let params = ForestParams::default();
    let x = Array2::from_shape_vec((2, 1), vec![0.0, 1.0]).unwrap_or_default();
    let cases: Vec<(Array2<f64>, Vec<bool>)> = vec![
        (Array2::zeros((0, 3)), vec![]),
        (x.clone(), vec![true]),
        (x.clone(), vec![true, true]),
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
    }
}

#[test]
fn bad_params_rejected() {
    for p in [
        ForestParams {
            n_trees: 0,
            ..ForestParams::default()
        },
        ForestParams {
            max_depth: 0,
            ..ForestParams::default()
        },
        ForestParams {
            min_samples_leaf: 0,
            ..ForestParams::default()
        },
        ForestParams {
            max_features: Some(0),
            ..ForestParams::default()
        },
        ForestParams {
            max_bins: 1,
            ..ForestParams::default()
        },
        ForestParams {
            max_bins: 257,
            ..ForestParams::default()
        },
    ] {
        assert!(
            matches!(p.check(), Err(Error::InvalidParameter { .. })),
            "{p:?}"
        );
    }
}

#[test]
fn bad_sample_rejected() -> Result<()> {
    let (x, y) = blobs(20, 1.0, 8);
    let forest = ForestParams {
        n_trees: 2,
        ..ForestParams::default()
    }
    .fit(x.view(), &y)?;
    assert!(matches!(
        forest.predict_proba(&[0.0; 3]),
        Err(Error::DimensionMismatch {
            expected: 5,
            actual: 3
        })
    ));
    assert!(matches!(
        forest.predict_proba(&[0.0, 0.0, f64::INFINITY, 0.0, 0.0]),
        Err(Error::NonFiniteFeature { index: 2, .. })
    ));
    Ok(())
}

#[test]
fn out_of_bag_matches_row_by_row_loop() -> Result<()> {
    // More rows than one parallel block, and few trees, so some rows are in every bag.
    let (x, y) = blobs(1100, 1.0, 21);
    let params = ForestParams {
        n_trees: 3,
        ..ForestParams::default()
    };
    let (forest, oob) = params.fit_out_of_bag(x.view(), &y)?;
    let (_, in_bag) = params.fit_in_bag(x.view(), &y)?;
    assert_eq!(oob.len(), 1100);
    let mut all_in_bag = 0;
    for (i, (row, &p)) in x.rows().into_iter().zip(&oob).enumerate() {
        let row = row.to_vec();
        let out: Vec<f64> = (forest.trees.iter().zip(&in_bag))
            .filter(|(_, bag)| !bag[i])
            .map(|(tree, _)| tree.predict(&row))
            .collect();
        let expected = if out.is_empty() {
            all_in_bag += 1;
            forest.predict_proba(&row)?
        } else {
            out.iter().sum::<f64>() / out.len() as f64
        };
        assert_eq!(p.to_bits(), expected.to_bits(), "row {i}");
    }
    assert!(
        all_in_bag > 0,
        "no row was in every bag; the fallback went untested"
    );
    Ok(())
}

#[test]
fn out_of_bag_is_honest_on_noise() -> Result<()> {
    // Labels carry no signal, so in-sample probabilities are overfitted but out-of-bag ones
    // should hover around one half.
    let (x, y) = blobs(300, 0.0, 9);
    let (forest, oob) = ForestParams {
        n_trees: 40,
        ..ForestParams::default()
    }
    .fit_out_of_bag(x.view(), &y)?;
    assert_eq!(oob.len(), 300);
    let in_sample: f64 = x
        .rows()
        .into_iter()
        .zip(&y)
        .map(|(r, &label)| {
            forest
                .predict_proba(&r.to_vec())
                .map(|p| if label { p } else { 1.0 - p })
        })
        .sum::<Result<f64>>()?
        / 300.0;
    let honest: f64 = oob
        .iter()
        .zip(&y)
        .map(|(&p, &label)| if label { p } else { 1.0 - p })
        .sum::<f64>()
        / 300.0;
    assert!(in_sample > 0.75, "in-sample {in_sample}");
    assert!((0.35..0.65).contains(&honest), "out-of-bag {honest}");
    Ok(())
}

/// Serialises hand-built trees, which skips the structural check that decoding applies.
fn decode_trees(n_features: usize, trees: Vec<Vec<Node>>) -> Result<RandomForest> {
    let forest = RandomForest {
        n_features,
        trees: trees.into_iter().map(|nodes| Tree { nodes }).collect(),
    };
    let bytes = postcard::to_allocvec(&forest).map_err(|e| Error::training(e.to_string()))?;
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
fn decode_rejects_cyclic_tree() {
    // Without the check, predicting on this tree loops forever.
    let error = decode_trees(1, vec![vec![split(0, 0, 0)]]).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
}

#[test]
fn decode_rejects_child_out_of_bounds() {
    let error = decode_trees(1, vec![vec![split(0, 1, 9), Node::Leaf(0.5)]]).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
}

#[test]
fn decode_rejects_feature_out_of_bounds() {
    let nodes = vec![split(3, 1, 2), Node::Leaf(0.0), Node::Leaf(1.0)];
    let error = decode_trees(2, vec![nodes]).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
}

#[test]
fn decode_rejects_empty_forest_and_tree() {
    let no_trees = decode_trees(1, vec![]).unwrap_err();
    assert!(matches!(no_trees, Error::InvalidModel { .. }), "{no_trees}");
    let empty_tree = decode_trees(1, vec![vec![]]).unwrap_err();
    assert!(
        matches!(empty_tree, Error::InvalidModel { .. }),
        "{empty_tree}"
    );
}

#[test]
fn decode_rejects_leaf_outside_unit_interval() {
    let error = decode_trees(1, vec![vec![Node::Leaf(f64::NAN)]]).unwrap_err();
    assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
}

#[test]
fn decode_accepts_valid_tree() -> Result<()> {
    let nodes = vec![split(1, 1, 2), Node::Leaf(0.25), Node::Leaf(1.0)];
    let forest = decode_trees(2, vec![nodes])?;
    assert_eq!(forest.predict_proba(&[0.0, 0.0])?, 0.25);
    assert_eq!(forest.predict_proba(&[0.0, 0.9])?, 1.0);
    Ok(())
}

#[test]
fn batch_prediction_matches_single_rows() -> Result<()> {
    let (x, y) = blobs(300, 1.0, 9);
    let forest = ForestParams {
        n_trees: 20,
        ..ForestParams::default()
    }
    .fit(x.view(), &y)?;
    let (test, _) = blobs(37, 1.0, 10);
    let flat: Vec<f64> = test.iter().copied().collect();
    let batch = forest.predict_proba_rows(&flat)?;
    assert_eq!(batch.len(), 37);
    for (row, p) in test.rows().into_iter().zip(&batch) {
        let single = forest.predict_proba(&row.to_vec())?;
        assert_eq!(single.to_bits(), p.to_bits());
    }
    Ok(())
}

#[test]
fn batch_prediction_rejects_bad_rows() -> Result<()> {
    let (x, y) = blobs(20, 1.0, 8);
    let forest = ForestParams {
        n_trees: 2,
        ..ForestParams::default()
    }
    .fit(x.view(), &y)?;
    assert!(matches!(
        forest.predict_proba_rows(&[0.0; 7]),
        Err(Error::DimensionMismatch { expected: 5, .. })
    ));
    let mut rows = [0.0; 10];
    rows[7] = f64::NAN;
    assert!(matches!(
        forest.predict_proba_rows(&rows),
        Err(Error::NonFiniteFeature { index: 2, .. })
    ));
    assert!(forest.predict_proba_rows(&[])?.is_empty());
    Ok(())
}

/// Grows a tree as the first histogram forest did, as the reference that the optimised
/// [`grow`] must match split for split. It visits every bootstrap draw (duplicates included)
/// at every node, re-counts each node's positives, and scans every bin.
fn reference_grow(
    data: &Binned,
    y: &[bool],
    params: &ForestParams,
    max_features: usize,
    rng: &mut Xoshiro256PlusPlus,
) -> (Tree, Vec<bool>) {
    let n = data.n_rows();
    let d = data.cuts.len();
    let mut rows: Vec<u32> = (0..n).map(|_| rng.gen_range(0..n) as u32).collect();
    let mut in_bag = vec![false; n];
    for &r in &rows {
        in_bag[r as usize] = true;
    }
    let mut nodes = vec![Node::Leaf(0.0)];
    let mut stack = vec![(0usize, 0usize, n, 0usize)];
    let min_leaf = params.min_samples_leaf;
    while let Some((id, start, end, depth)) = stack.pop() {
        let slice = &mut rows[start..end];
        let size = slice.len();
        let positives = slice.iter().filter(|&&r| y[r as usize]).count();
        let leaf = Node::Leaf(positives as f64 / size as f64);
        if depth >= params.max_depth || size < 2 * min_leaf || positives == 0 || positives == size {
            nodes[id] = leaf;
            continue;
        }
        let candidates = sample(rng, d, max_features).into_vec();
        let Some((feature, bin)) =
            reference_best_split(data, y, slice, &candidates, min_leaf, positives)
        else {
            nodes[id] = leaf;
            continue;
        };
        let mut mid = 0;
        for i in 0..size {
            if data.code(slice[i], feature) <= bin {
                slice.swap(i, mid);
                mid += 1;
            }
        }
        let left = nodes.len();
        nodes.push(Node::Leaf(0.0));
        nodes.push(Node::Leaf(0.0));
        nodes[id] = Node::Split {
            feature: feature as u32,
            threshold: data.cuts[feature][bin],
            left: left as u32,
            right: left as u32 + 1,
        };
        stack.push((left, start, start + mid, depth + 1));
        stack.push((left + 1, start + mid, end, depth + 1));
    }
    (Tree { nodes }, in_bag)
}

/// Searches the split of [`reference_grow`] with a fresh histogram per candidate, scanning
/// every bin.
fn reference_best_split(
    data: &Binned,
    y: &[bool],
    rows: &[u32],
    candidates: &[usize],
    min_leaf: usize,
    positives: usize,
) -> Option<(usize, usize)> {
    let size = rows.len() as f64;
    let positives = positives as f64;
    let parent = (positives.powi(2) + (size - positives).powi(2)) / size;
    let mut best: Option<(f64, usize, usize)> = None;
    for &feature in candidates {
        let bins = data.cuts[feature].len() + 1;
        let mut histogram = vec![(0u32, 0u32); bins];
        for &r in rows {
            let bin = &mut histogram[data.code(r, feature)];
            bin.0 += 1;
            bin.1 += u32::from(y[r as usize]);
        }
        let (mut left_n, mut left_p) = (0.0, 0.0);
        for (bin, &(n, p)) in histogram.iter().enumerate().take(bins - 1) {
            left_n += f64::from(n);
            left_p += f64::from(p);
            let (right_n, right_p) = (size - left_n, positives - left_p);
            if left_n < min_leaf as f64 || right_n < min_leaf as f64 {
                continue;
            }
            let purity = (left_p.powi(2) + (left_n - left_p).powi(2)) / left_n
                + (right_p.powi(2) + (right_n - right_p).powi(2)) / right_n;
            if purity > parent + 1e-12 && best.is_none_or(|(b, _, _)| purity > b) {
                best = Some((purity, feature, bin));
            }
        }
    }
    best.map(|(_, feature, bin)| (feature, bin))
}

#[test]
fn grow_matches_reference() {
    // Rounded features give ties and few distinct values; one feature is constant.
    let (mut x, y) = blobs(700, 0.8, 31);
    x.column_mut(0).mapv_inplace(|v| (v * 2.0).round());
    x.column_mut(4).fill(3.0);
    let settings = [
        (24, 1, 2, 64),
        (24, 1, 5, 256),
        (6, 1, 1, 16),
        (24, 4, 2, 2),
        (24, 25, 3, 64),
    ];
    for (max_depth, min_samples_leaf, max_features, max_bins) in settings {
        let params = ForestParams {
            max_depth,
            min_samples_leaf,
            max_features: Some(max_features),
            max_bins,
            ..ForestParams::default()
        };
        let binned = Binned::new(x.view(), max_bins);
        for seed in 0..8 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let expected = reference_grow(&binned, &y, &params, max_features, &mut rng);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let actual = grow(&binned, &y, &params, max_features, &mut rng);
            assert_eq!(actual.1, expected.1, "in-bag mask, {params:?}, seed {seed}");
            assert_eq!(actual.0, expected.0, "tree, {params:?}, seed {seed}");
            assert!(
                actual.0.nodes.len() > 1,
                "tree is a single leaf, {params:?}"
            );
        }
    }
}

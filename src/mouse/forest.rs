//! A two-class random forest of CART trees (Breiman, "Random Forests", Machine Learning 45,
//! 2001): each tree grows on a bootstrap sample, each split considers a random subset of the
//! features and maximises the decrease of Gini impurity, and the forest's output is the mean
//! of the trees' leaf class fractions.
//!
//! Written here rather than taken from linfa-ensemble because linfa-ensemble 0.8's
//! `RandomForest` implements no serde traits, so a fitted model could not be stored with a
//! user's profile. This forest serialises with serde (postcard in the tests) and grows its
//! trees in parallel with rayon.
//!
//! Splits are searched over at most [`ForestParams::max_bins`] quantile cut points per feature,
//! computed once on the training data, as histogram-based tree learners such as LightGBM do:
//! each node then costs one pass over its samples per candidate feature instead of a sort.
//! Thresholds are stored as feature values, so prediction works on raw feature vectors.

use ndarray::ArrayView2;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Rejection;

/// Forest hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees.
    pub n_trees: usize,
    /// Maximum depth of a tree (the root is depth 0).
    pub max_depth: usize,
    /// Minimum number of bootstrap samples in a leaf.
    pub min_samples_leaf: usize,
    /// Features tried per split; `None` means the square root of the feature count, rounded.
    pub max_features: Option<usize>,
    /// Maximum number of bins per feature (2 to 256).
    pub max_bins: usize,
    /// Seed of the bootstrap and feature sampling; equal seeds give equal forests.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            max_depth: 24,
            min_samples_leaf: 1,
            max_features: None,
            max_bins: 64,
            seed: 0x6b69_6e65,
        }
    }
}

/// A fitted forest.
///
/// Deserialising checks the structure (see [`ForestFields`]), so a decoded forest predicts
/// without panicking or looping whatever bytes it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestFields")]
pub struct RandomForest {
    n_features: usize,
    trees: Vec<Tree>,
}

/// The serialised fields of a [`RandomForest`], before the structural check.
#[derive(Deserialize)]
struct ForestFields {
    n_features: usize,
    trees: Vec<Tree>,
}

impl TryFrom<ForestFields> for RandomForest {
    type Error = Rejection;

    /// Accepts what [`ForestParams::fit`] can produce: at least one tree and one feature,
    /// non-empty trees, split features below `n_features`, thresholds that are not NaN, leaf
    /// fractions in 0..=1, and children stored after their parent. The last rule rules out
    /// cycles, so prediction ends within `nodes.len()` steps.
    fn try_from(fields: ForestFields) -> Result<Self, Rejection> {
        let ForestFields { n_features, trees } = fields;
        if trees.is_empty() || n_features == 0 {
            return Err(Rejection::from(format!(
                "a forest needs at least one tree and one feature, found {} trees and {} \
                 features",
                trees.len(),
                n_features
            )));
        }
        for (t, tree) in trees.iter().enumerate() {
            if tree.nodes.is_empty() {
                return Err(Rejection::from(format!("tree {t} has no nodes")));
            }
            for (i, node) in tree.nodes.iter().enumerate() {
                let valid = match *node {
                    Node::Leaf(p) => (0.0..=1.0).contains(&p),
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        let child = |c: u32| (c as usize) > i && (c as usize) < tree.nodes.len();
                        (feature as usize) < n_features
                            && !threshold.is_nan()
                            && child(left)
                            && child(right)
                    }
                };
                if !valid {
                    return Err(Rejection::from(format!(
                        "tree {t}, node {i} is invalid: {node:?}"
                    )));
                }
            }
        }
        Ok(RandomForest { n_features, trees })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Node {
    /// Fraction of positive bootstrap samples in the leaf.
    Leaf(f64),
    /// Samples with `x[feature] <= threshold` go to `left`, the others to `right`.
    Split {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
    },
}

impl ForestParams {
    /// Validates the hyper-parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when a count is 0 or `max_bins` is outside 2..=256.
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("n_trees", self.n_trees),
            ("max_depth", self.max_depth),
            ("min_samples_leaf", self.min_samples_leaf),
            ("max_features", self.max_features.unwrap_or(1)),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::InvalidParameter {
                    name,
                    value: "0".into(),
                    expected: "at least 1",
                });
            }
        }
        if !(2..=256).contains(&self.max_bins) {
            return Err(Error::InvalidParameter {
                name: "max_bins",
                value: self.max_bins.to_string(),
                expected: "2 to 256",
            });
        }
        Ok(())
    }

    /// Fits a forest on the rows of `x` with labels `y` (`true` = positive class).
    ///
    /// # Errors
    ///
    /// The errors of [`ForestParams::check`]; [`Error::InvalidTrainingData`] when `x` has no
    /// rows or columns, `y` has a different length, a value is not finite, or one class is
    /// missing.
    pub fn fit(&self, x: ArrayView2<'_, f64>, y: &[bool]) -> Result<RandomForest> {
        Ok(self.fit_in_bag(x, y)?.0)
    }

    /// Fits a forest as [`ForestParams::fit`] does and also returns each training row's
    /// out-of-bag probability: the mean over the trees whose bootstrap sample left the row
    /// out. This is an honest estimate of how the forest scores unseen rows like it, without a
    /// held-out set. A row that every tree sampled (probability about `0.632^n_trees`) gets the
    /// whole forest's probability.
    ///
    /// # Errors
    ///
    /// As [`ForestParams::fit`].
    pub fn fit_out_of_bag(
        &self,
        x: ArrayView2<'_, f64>,
        y: &[bool],
    ) -> Result<(RandomForest, Vec<f64>)> {
        let (forest, in_bag) = self.fit_in_bag(x, y)?;
        let d = x.ncols();
        let flat: Vec<f64> = x.iter().copied().collect();
        // Blocks of rows in parallel, and within a block one tree at a time, so that a tree
        // stays in cache while it scores the block. Each row still sums its out-of-bag trees
        // in tree order, so the result equals a row-by-row loop.
        const BLOCK_ROWS: usize = 512;
        let out_of_bag = flat
            .par_chunks(BLOCK_ROWS * d)
            .enumerate()
            .flat_map_iter(|(block, rows)| {
                let first = block * BLOCK_ROWS;
                let mut sums = vec![0.0; rows.len() / d];
                let mut counts = vec![0_usize; sums.len()];
                for (tree, bag) in forest.trees.iter().zip(&in_bag) {
                    for (j, row) in rows.chunks_exact(d).enumerate() {
                        if !bag[first + j] {
                            sums[j] += tree.predict(row);
                            counts[j] += 1;
                        }
                    }
                }
                let forest = &forest;
                rows.chunks_exact(d)
                    .zip(sums)
                    .zip(counts)
                    .map(move |((row, sum), count)| {
                        if count == 0 {
                            forest.trees.iter().map(|t| t.predict(row)).sum::<f64>()
                                / forest.trees.len() as f64
                        } else {
                            sum / count as f64
                        }
                    })
            })
            .collect();
        Ok((forest, out_of_bag))
    }

    /// Fits the forest and returns, per tree, which rows its bootstrap sample drew.
    fn fit_in_bag(
        &self,
        x: ArrayView2<'_, f64>,
        y: &[bool],
    ) -> Result<(RandomForest, Vec<Vec<bool>>)> {
        self.check()?;
        let (n, d) = x.dim();
        if n == 0 || d == 0 {
            return Err(Error::training(format!(
                "{n} rows and {d} features; need at least one of each"
            )));
        }
        if y.len() != n {
            return Err(Error::training(format!("{n} rows but {} labels", y.len())));
        }
        if let Some(((row, col), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::training(format!("row {row} feature {col} is {v}")));
        }
        let positives = y.iter().filter(|&&label| label).count();
        if positives == 0 || positives == n {
            return Err(Error::training(format!(
                "{positives} of {n} rows are positive; a two-class forest needs both classes"
            )));
        }
        let binned = Binned::new(x, self.max_bins);
        let max_features = self
            .max_features
            .unwrap_or_else(|| ((d as f64).sqrt().round() as usize).max(1))
            .min(d);
        let (trees, in_bag) = (0..self.n_trees)
            .into_par_iter()
            .map(|t| {
                let seed = self.seed ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                grow(&binned, y, self, max_features, &mut rng)
            })
            .unzip();
        Ok((
            RandomForest {
                n_features: d,
                trees,
            },
            in_bag,
        ))
    }
}

impl RandomForest {
    /// Number of features the forest was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Estimates the probability that `row` belongs to the positive class, as the mean over
    /// trees of the positive fraction in the leaf that `row` falls into.
    ///
    /// # Errors
    ///
    /// [`Error::DimensionMismatch`] when `row` has the wrong length and
    /// [`Error::NonFiniteFeature`] when a value is NaN or infinite.
    pub fn predict_proba(&self, row: &[f64]) -> Result<f64> {
        if row.len() != self.n_features {
            return Err(Error::DimensionMismatch {
                expected: self.n_features,
                actual: row.len(),
            });
        }
        if let Some((index, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFiniteFeature { index, value });
        }
        let sum: f64 = self.trees.iter().map(|t| t.predict(row)).sum();
        Ok(sum / self.trees.len() as f64)
    }

    /// Computes [`RandomForest::predict_proba`] for every row of `rows`, a row-major matrix of
    /// [`RandomForest::n_features`] columns, with the same results.
    ///
    /// Each tree visits all rows before the next tree starts, so a tree stays in cache across
    /// the batch; visiting the trees row by row reloads the whole forest for every row.
    ///
    /// # Errors
    ///
    /// [`Error::DimensionMismatch`] when the length of `rows` is not a multiple of the feature
    /// count, and [`Error::NonFiniteFeature`] when a value is NaN or infinite.
    pub fn predict_proba_rows(&self, rows: &[f64]) -> Result<Vec<f64>> {
        // A forest read from corrupt bytes may claim zero features; that must not divide by 0.
        if self.n_features == 0 || !rows.len().is_multiple_of(self.n_features) {
            return Err(Error::DimensionMismatch {
                expected: self.n_features,
                actual: rows.len() % self.n_features.max(1),
            });
        }
        if let Some((index, &value)) = rows.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFiniteFeature {
                index: index % self.n_features,
                value,
            });
        }
        let mut sums = vec![0.0; rows.len() / self.n_features];
        for tree in &self.trees {
            tree.add_predictions(rows, self.n_features, &mut sums);
        }
        let trees = self.trees.len() as f64;
        Ok(sums.into_iter().map(|sum| sum / trees).collect())
    }
}

impl Tree {
    /// Adds the tree's prediction for each row of `rows` to `sums`, one sum per row.
    ///
    /// Rows descend in groups of `LANES`, each step moving every unfinished row of the group
    /// one level down, so the node loads of the group overlap instead of each row waiting on
    /// its own chain of dependent loads. The predictions equal [`Tree::predict`]'s.
    fn add_predictions(&self, rows: &[f64], n_features: usize, sums: &mut [f64]) {
        const LANES: usize = 8;
        for (group, group_sums) in rows.chunks(LANES * n_features).zip(sums.chunks_mut(LANES)) {
            let mut at = [0_usize; LANES];
            let mut finished = [false; LANES];
            let mut unfinished = group_sums.len();
            while unfinished > 0 {
                for (lane, sum) in group_sums.iter_mut().enumerate() {
                    if finished[lane] {
                        continue;
                    }
                    match self.nodes[at[lane]] {
                        Node::Leaf(p) => {
                            *sum += p;
                            finished[lane] = true;
                            unfinished -= 1;
                        }
                        Node::Split {
                            feature,
                            threshold,
                            left,
                            right,
                        } => {
                            let value = group[lane * n_features + feature as usize];
                            at[lane] = if value <= threshold { left } else { right } as usize;
                        }
                    }
                }
            }
        }
    }

    fn predict(&self, row: &[f64]) -> f64 {
        let mut index = 0;
        loop {
            match self.nodes[index] {
                Node::Leaf(p) => return p,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    index = if row[feature as usize] <= threshold {
                        left
                    } else {
                        right
                    } as usize;
                }
            }
        }
    }
}

/// Training data as bin codes, row by row.
#[derive(Debug)]
struct Binned {
    n_features: usize,
    /// `codes[i * n_features + f]` is the bin of row `i` in feature `f`. Row-major, so that
    /// the histogram pass of a node reads each sampled row's codes from one cache line.
    codes: Vec<u8>,
    /// Per feature, ascending thresholds: code `c` means `cuts[c - 1] < x <= cuts[c]`.
    cuts: Vec<Vec<f64>>,
}

impl Binned {
    fn new(x: ArrayView2<'_, f64>, max_bins: usize) -> Self {
        let (n, d) = x.dim();
        let mut codes = vec![0u8; n * d];
        let mut cuts = Vec::with_capacity(d);
        for (f, column) in x.columns().into_iter().enumerate() {
            let mut sorted: Vec<f64> = column.to_vec();
            sorted.sort_by(f64::total_cmp);
            let max = sorted[n - 1];
            let mut feature_cuts: Vec<f64> = (1..max_bins)
                .map(|k| sorted[(k * n / max_bins).min(n - 1)])
                .filter(|&c| c < max)
                .collect();
            feature_cuts.dedup();
            for (i, &v) in column.iter().enumerate() {
                codes[i * d + f] = feature_cuts.partition_point(|&c| c < v) as u8;
            }
            cuts.push(feature_cuts);
        }
        Binned {
            n_features: d,
            codes,
            cuts,
        }
    }

    fn code(&self, row: u32, feature: usize) -> usize {
        usize::from(self.codes[row as usize * self.n_features + feature])
    }
}

/// Grows one tree on a bootstrap sample, depth-first with an explicit stack, and returns it
/// with the sample's membership mask.
fn grow(
    data: &Binned,
    y: &[bool],
    params: &ForestParams,
    max_features: usize,
    rng: &mut Xoshiro256PlusPlus,
) -> (Tree, Vec<bool>) {
    let n = data.codes.len() / data.n_features;
    let mut rows: Vec<u32> = (0..n).map(|_| rng.gen_range(0..n) as u32).collect();
    let mut in_bag = vec![false; n];
    for &r in &rows {
        in_bag[r as usize] = true;
    }
    let mut nodes = vec![Node::Leaf(0.0)];
    let mut stack = vec![(0usize, 0usize, n, 0usize)];
    let min_leaf = params.min_samples_leaf;
    let mut histograms = Histograms::new(max_features);
    while let Some((id, start, end, depth)) = stack.pop() {
        let slice = &mut rows[start..end];
        let size = slice.len();
        let positives = slice.iter().filter(|&&r| y[r as usize]).count();
        let leaf = Node::Leaf(positives as f64 / size as f64);
        if depth >= params.max_depth || size < 2 * min_leaf || positives == 0 || positives == size {
            nodes[id] = leaf;
            continue;
        }
        let d = data.cuts.len();
        let candidates = sample(rng, d, max_features).into_vec();
        let Some((feature, bin)) = best_split(
            data,
            y,
            slice,
            &candidates,
            &mut histograms,
            min_leaf,
            positives,
        ) else {
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

/// Per-bin sample and positive counts of each candidate feature of a node, reused across the
/// nodes of a tree so that no node allocates.
#[derive(Debug)]
struct Histograms {
    /// `counts[(k * 256 + bin) * 2]` is the number of samples of candidate `k` in `bin`, and
    /// the next entry the number of positives among them.
    counts: Vec<u32>,
}

impl Histograms {
    fn new(max_features: usize) -> Self {
        Histograms {
            counts: vec![0; max_features * 256 * 2],
        }
    }
}

/// Finds the feature and bin (`code <= bin` goes left) with the largest Gini decrease, if any
/// split leaves at least `min_leaf` samples on each side and lowers the impurity.
///
/// Candidates are evaluated in the order given, bins in ascending order, and only a strictly
/// better split replaces the best so far.
fn best_split(
    data: &Binned,
    y: &[bool],
    rows: &[u32],
    candidates: &[usize],
    histograms: &mut Histograms,
    min_leaf: usize,
    positives: usize,
) -> Option<(usize, usize)> {
    let size = rows.len() as f64;
    let positives = positives as f64;
    // Minimising weighted Gini impurity is maximising Σ_children (p² + q²) / n.
    let parent = (positives.powi(2) + (size - positives).powi(2)) / size;
    let counts = &mut histograms.counts[..candidates.len() * 512];
    for (k, &feature) in candidates.iter().enumerate() {
        let bins = data.cuts[feature].len() + 1;
        counts[k * 512..k * 512 + 2 * bins].fill(0);
    }
    // One pass over the node's rows fills every candidate's histogram.
    for &r in rows {
        let codes = &data.codes[r as usize * data.n_features..][..data.n_features];
        let positive = u32::from(y[r as usize]);
        for (k, &feature) in candidates.iter().enumerate() {
            let slot = k * 512 + 2 * usize::from(codes[feature]);
            counts[slot] += 1;
            counts[slot + 1] += positive;
        }
    }
    let mut best: Option<(f64, usize, usize)> = None;
    for (k, &feature) in candidates.iter().enumerate() {
        let bins = data.cuts[feature].len() + 1;
        if bins < 2 {
            continue;
        }
        let histogram = &counts[k * 512..k * 512 + 2 * bins];
        let (mut left_n, mut left_p) = (0.0, 0.0);
        for bin in 0..bins - 1 {
            left_n += f64::from(histogram[2 * bin]);
            left_p += f64::from(histogram[2 * bin + 1]);
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

#[cfg(test)]
mod tests;

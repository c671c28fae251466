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
/// Deserialising checks the structure (see `ForestFields`), so a decoded forest predicts
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
                    let out = |j: &usize| !bag[first + j];
                    tree.add_predictions(rows, d, (0..sums.len()).filter(out), &mut sums);
                    for j in (0..sums.len()).filter(out) {
                        counts[j] += 1;
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
        check_training(x, y, "forest")?;
        let d = x.ncols();
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
        check_rows(row, self.n_features)?;
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
        check_rows(rows, self.n_features)?;
        let mut sums = vec![0.0; rows.len() / self.n_features];
        for tree in &self.trees {
            tree.add_predictions(rows, self.n_features, 0..sums.len(), &mut sums);
        }
        let trees = self.trees.len() as f64;
        Ok(sums.into_iter().map(|sum| sum / trees).collect())
    }
}

impl Tree {
    /// Adds the tree's prediction for row `j` of `rows` to `sums[j]`, for each `j` of
    /// `selected`.
    ///
    /// Rows descend in groups of `LANES`, each step moving every unfinished row of the group
    /// one level down, so the node loads of the group overlap instead of each row waiting on
    /// its own chain of dependent loads. The predictions equal [`Tree::predict`]'s.
    fn add_predictions(
        &self,
        rows: &[f64],
        n_features: usize,
        mut selected: impl Iterator<Item = usize>,
        sums: &mut [f64],
    ) {
        const LANES: usize = 8;
        loop {
            let mut lane_rows = [0_usize; LANES];
            let mut lanes = 0;
            while lanes < LANES {
                let Some(j) = selected.next() else { break };
                lane_rows[lanes] = j;
                lanes += 1;
            }
            if lanes == 0 {
                return;
            }
            let mut at = [0_usize; LANES];
            let mut finished = [false; LANES];
            let mut unfinished = lanes;
            while unfinished > 0 {
                for lane in 0..lanes {
                    if finished[lane] {
                        continue;
                    }
                    let j = lane_rows[lane];
                    match self.nodes[at[lane]] {
                        Node::Leaf(p) => {
                            sums[j] += p;
                            finished[lane] = true;
                            unfinished -= 1;
                        }
                        Node::Split {
                            feature,
                            threshold,
                            left,
                            right,
                        } => {
                            let value = rows[j * n_features + feature as usize];
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

/// Checks the training data of a two-class tree model (`model` names it in messages): at
/// least one row and column, one label per row, finite values, and both classes present.
/// Shared with [`super::boost`].
pub(crate) fn check_training(x: ArrayView2<'_, f64>, y: &[bool], model: &str) -> Result<()> {
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
            "{positives} of {n} rows are positive; a two-class {model} needs both classes"
        )));
    }
    Ok(())
}

/// Checks rows to predict on: `rows` is a row-major matrix of `n_features` columns (one row
/// for a single prediction) with finite values. Shared with [`super::boost`].
///
/// # Errors
///
/// [`Error::DimensionMismatch`] when the length of `rows` is not a multiple of `n_features`
/// (or `n_features` is 0, as a model read from corrupt bytes may claim), and
/// [`Error::NonFiniteFeature`] naming the column of the first NaN or infinite value.
pub(crate) fn check_rows(rows: &[f64], n_features: usize) -> Result<()> {
    if n_features == 0 || !rows.len().is_multiple_of(n_features) {
        return Err(Error::DimensionMismatch {
            expected: n_features,
            actual: rows.len() % n_features.max(1),
        });
    }
    if let Some((index, &value)) = rows.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFiniteFeature {
            index: index % n_features,
            value,
        });
    }
    Ok(())
}

/// 64 bin codes filling one 64-byte cache line.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(crate) struct CodeLine(pub(crate) [u8; 64]);

/// Training data as bin codes, row by row. Shared with [`super::boost`].
#[derive(Debug)]
pub(crate) struct Binned {
    n_rows: usize,
    /// Cache lines per row: the feature count divided by 64, rounded up.
    row_lines: usize,
    /// Row `i` starts at line `i * row_lines`; its code of feature `f` is byte `f % 64` of the
    /// row's line `f / 64`. The table is row-major, so the histogram pass of a node reads all
    /// candidate codes of a row together. The lines are aligned, so with up to 64 features a
    /// row sits on one cache line. Unpadded 58-byte rows would straddle two lines in 7 rows
    /// of 8.
    codes: Vec<CodeLine>,
    /// Per feature, ascending thresholds: code `c` means `cuts[c - 1] < x <= cuts[c]`.
    pub(crate) cuts: Vec<Vec<f64>>,
}

impl Binned {
    /// Bins each column of `x` at up to `max_bins - 1` quantile cut points (2 to 256 bins;
    /// the codes are bytes). `x` must have at least one row.
    pub(crate) fn new(x: ArrayView2<'_, f64>, max_bins: usize) -> Self {
        Self::cut_on(x, max_bins, None)
    }

    /// Bins each column of `x` as [`Binned::new`] does, but takes the cut points only from
    /// the rows `i` with `cut_rows[i]`, so that every cut is a value of one of those rows or
    /// just below one. With at least 4 bins, two of the cuts mark the selected rows' range:
    /// one just below their smallest value, when another row lies below it, and their
    /// largest value, when another row lies above it. A tree can then split off the rows
    /// outside that range. The other cuts are quantiles of the selected rows.
    ///
    /// The caller checks that `cut_rows` has one entry per row and at least one `true`.
    pub(crate) fn new_cut_on(x: ArrayView2<'_, f64>, max_bins: usize, cut_rows: &[bool]) -> Self {
        Self::cut_on(x, max_bins, Some(cut_rows))
    }

    fn cut_on(x: ArrayView2<'_, f64>, max_bins: usize, cut_rows: Option<&[bool]>) -> Self {
        let (n, d) = x.dim();
        let row_lines = d.div_ceil(64);
        let mut codes = vec![CodeLine([0; 64]); n * row_lines];
        let mut cuts = Vec::with_capacity(d);
        for (f, column) in x.columns().into_iter().enumerate() {
            let feature_cuts = match cut_rows {
                None => quantile_cuts(column.to_vec(), max_bins),
                Some(selected) => range_and_quantile_cuts(
                    column
                        .iter()
                        .zip(selected)
                        .filter(|(_, s)| **s)
                        .map(|(&v, _)| v)
                        .collect(),
                    column.iter().copied(),
                    max_bins,
                ),
            };
            for (i, &v) in column.iter().enumerate() {
                codes[i * row_lines + f / 64].0[f % 64] =
                    feature_cuts.partition_point(|&c| c < v) as u8;
            }
            cuts.push(feature_cuts);
        }
        Binned {
            n_rows: n,
            row_lines,
            codes,
            cuts,
        }
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Returns the cache lines of one row's codes.
    pub(crate) fn row(&self, row: u32) -> &[CodeLine] {
        &self.codes[row as usize * self.row_lines..][..self.row_lines]
    }

    pub(crate) fn code(&self, row: u32, feature: usize) -> usize {
        usize::from(self.row(row)[feature / 64].0[feature % 64])
    }
}

/// Returns up to `max_bins - 1` ascending, distinct cut points at the quantiles `k / max_bins`
/// of `values` (at least one), leaving out the largest value, above which no value lies.
fn quantile_cuts(mut values: Vec<f64>, max_bins: usize) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let max = values[n - 1];
    let mut cuts: Vec<f64> = (1..max_bins)
        .map(|k| values[(k * n / max_bins).min(n - 1)])
        .filter(|&c| c < max)
        .collect();
    cuts.dedup();
    cuts
}

/// Returns the cuts of [`Binned::new_cut_on`] for one feature: the selected rows' `values`
/// (at least one) give the range and the quantiles, and `all` yields every row's value.
fn range_and_quantile_cuts(
    mut values: Vec<f64>,
    all: impl Iterator<Item = f64>,
    max_bins: usize,
) -> Vec<f64> {
    if max_bins < 4 {
        return quantile_cuts(values, max_bins);
    }
    values.sort_by(f64::total_cmp);
    let (low, high) = (values[0], values[values.len() - 1]);
    let (mut below, mut above) = (false, false);
    for v in all {
        below |= v < low;
        above |= v > high;
    }
    // Two of the `max_bins - 1` cuts are kept for the range, so the quantiles get
    // `max_bins - 2` bins.
    let mut cuts = quantile_cuts(values, max_bins - 2);
    if below {
        // Rows equal to `low` then take the code above this cut, with the selected rows.
        cuts.insert(0, low.next_down());
    }
    // The quantile cuts leave out the largest value, so `high` is above all of them.
    if above {
        cuts.push(high);
    }
    cuts
}

/// A distinct row of a tree's bootstrap sample. A row drawn `count` times counts `count`
/// times in every histogram and leaf, as its copies would.
#[derive(Debug, Clone, Copy)]
struct Draw {
    row: u32,
    /// Times the bootstrap drew the row.
    count: u32,
    /// `count` for a positive row, else 0.
    positives: u32,
}

impl Draw {
    /// Packs the draw's sample and positive counts into one histogram increment (see
    /// [`Histograms`]).
    fn packed(self) -> u64 {
        u64::from(self.count) | u64::from(self.positives) << 32
    }
}

/// A node waiting to be grown, with the weighted counts of its draws.
#[derive(Debug)]
struct PendingNode {
    /// Index in the tree's node list.
    id: usize,
    /// The node's draws are `draws[start..end]`.
    start: usize,
    end: usize,
    depth: usize,
    /// Number of bootstrap samples, duplicates included.
    size: usize,
    /// Number of positive bootstrap samples, duplicates included.
    positives: usize,
}

/// Grows one tree on a bootstrap sample, depth-first with an explicit stack, and returns it
/// with the sample's membership mask.
///
/// Each distinct drawn row is visited once per node, with its draw count as a weight. The
/// draws stay in ascending row order because the split partitions them stably, so a node's
/// pass reads the code table forwards.
fn grow(
    data: &Binned,
    y: &[bool],
    params: &ForestParams,
    max_features: usize,
    rng: &mut Xoshiro256PlusPlus,
) -> (Tree, Vec<bool>) {
    let n = data.n_rows();
    let mut drawn = vec![0u32; n];
    for _ in 0..n {
        drawn[rng.gen_range(0..n)] += 1;
    }
    let in_bag: Vec<bool> = drawn.iter().map(|&count| count > 0).collect();
    let mut draws: Vec<Draw> = (drawn.iter().zip(y).enumerate())
        .filter(|(_, (count, _))| **count > 0)
        .map(|(row, (&count, &positive))| Draw {
            row: row as u32,
            count,
            positives: if positive { count } else { 0 },
        })
        .collect();
    let positives = draws.iter().map(|draw| draw.positives as usize).sum();
    let mut nodes = vec![Node::Leaf(0.0)];
    let mut stack = vec![PendingNode {
        id: 0,
        start: 0,
        end: draws.len(),
        depth: 0,
        size: n,
        positives,
    }];
    let min_leaf = params.min_samples_leaf;
    let mut histograms = Histograms::new(max_features);
    let mut right_draws = Vec::with_capacity(draws.len());
    while let Some(node) = stack.pop() {
        let leaf = Node::Leaf(node.positives as f64 / node.size as f64);
        if node.depth >= params.max_depth
            || node.size < 2 * min_leaf
            || node.positives == 0
            || node.positives == node.size
        {
            nodes[node.id] = leaf;
            continue;
        }
        let d = data.cuts.len();
        let candidates = sample(rng, d, max_features).into_vec();
        let slice = &mut draws[node.start..node.end];
        let Some((feature, bin)) = best_split(
            data,
            slice,
            &candidates,
            &mut histograms,
            min_leaf,
            (node.size, node.positives),
        ) else {
            nodes[node.id] = leaf;
            continue;
        };
        // A stable partition: left draws move down in place, right ones wait in
        // `right_draws`, and both keep their ascending row order.
        right_draws.clear();
        let (mut mid, mut left_size, mut left_positives) = (0, 0, 0);
        for i in 0..slice.len() {
            let draw = slice[i];
            if data.code(draw.row, feature) <= bin {
                slice[mid] = draw;
                mid += 1;
                left_size += draw.count as usize;
                left_positives += draw.positives as usize;
            } else {
                right_draws.push(draw);
            }
        }
        slice[mid..].copy_from_slice(&right_draws);
        let left = nodes.len();
        nodes.push(Node::Leaf(0.0));
        nodes.push(Node::Leaf(0.0));
        nodes[node.id] = Node::Split {
            feature: feature as u32,
            threshold: data.cuts[feature][bin],
            left: left as u32,
            right: left as u32 + 1,
        };
        stack.push(PendingNode {
            id: left,
            start: node.start,
            end: node.start + mid,
            depth: node.depth + 1,
            size: left_size,
            positives: left_positives,
        });
        stack.push(PendingNode {
            id: left + 1,
            start: node.start + mid,
            end: node.end,
            depth: node.depth + 1,
            size: node.size - left_size,
            positives: node.positives - left_positives,
        });
    }
    (Tree { nodes }, in_bag)
}

/// Per-bin sample and positive counts of each candidate feature of a node, reused across the
/// nodes of a tree so that no node allocates.
#[derive(Debug)]
struct Histograms {
    /// `counts[k][bin]` contains the number of samples of candidate `k` in `bin` in its low 32
    /// bits and the number of positives among them in its high 32 bits, so that one addition
    /// counts a draw. The low half cannot carry into the high half because a node has fewer
    /// than 2³² samples (row indices are `u32`). A `u8` code indexes 256 bins without a
    /// bounds check.
    counts: Vec<[u64; 256]>,
}

impl Histograms {
    fn new(max_features: usize) -> Self {
        Histograms {
            counts: vec![[0; 256]; max_features],
        }
    }
}

/// Node size up to which [`best_split`] sorts each candidate's codes instead of filling and
/// scanning a histogram of up to 256 bins.
const SMALL_NODE_DRAWS: usize = 16;

/// Finds the feature and bin (`code <= bin` goes left) with the largest Gini decrease, if any
/// split leaves at least `min_leaf` samples on each side and lowers the impurity. `counts` is
/// the node's number of samples and of positive samples.
///
/// Candidates are evaluated in the order given, bins in ascending order, and only a strictly
/// better split replaces the best so far. Only bins that contain samples are evaluated: an
/// empty bin repeats the split of the previous bin, and an equal purity never replaces the
/// best, so skipping it changes nothing.
fn best_split(
    data: &Binned,
    draws: &[Draw],
    candidates: &[usize],
    histograms: &mut Histograms,
    min_leaf: usize,
    counts: (usize, usize),
) -> Option<(usize, usize)> {
    let mut search = SplitSearch::new(min_leaf, counts);
    if draws.len() <= SMALL_NODE_DRAWS {
        // Sorting a few codes costs less than clearing and scanning whole histograms.
        let mut sorted = [(0_u8, 0_u64); SMALL_NODE_DRAWS];
        let sorted = &mut sorted[..draws.len()];
        for &feature in candidates {
            for (entry, draw) in sorted.iter_mut().zip(draws) {
                *entry = (data.code(draw.row, feature) as u8, draw.packed());
            }
            sorted.sort_unstable_by_key(|&(code, _)| code);
            let mut left = 0;
            for (i, &(code, increment)) in sorted.iter().enumerate() {
                left += increment;
                // The split after the last code sends everything left, so it is not a split.
                if sorted.get(i + 1).is_some_and(|&(next, _)| next != code) {
                    search.consider(feature, usize::from(code), left);
                }
            }
        }
        return search.best.map(|(_, feature, bin)| (feature, bin));
    }
    let counts = &mut histograms.counts[..candidates.len()];
    for (histogram, &feature) in counts.iter_mut().zip(candidates) {
        let bins = data.cuts[feature].len() + 1;
        histogram[..bins].fill(0);
    }
    // One pass over the node's draws fills every candidate's histogram.
    for draw in draws {
        let codes = data.row(draw.row);
        let increment = draw.packed();
        for (histogram, &feature) in counts.iter_mut().zip(candidates) {
            histogram[usize::from(codes[feature / 64].0[feature % 64])] += increment;
        }
    }
    for (histogram, &feature) in counts.iter().zip(candidates) {
        let bins = data.cuts[feature].len() + 1;
        let mut left = 0;
        for (bin, &increment) in histogram[..bins].iter().enumerate().take(bins - 1) {
            if increment != 0 {
                left += increment;
                search.consider(feature, bin, left);
            }
        }
    }
    search.best.map(|(_, feature, bin)| (feature, bin))
}

/// The state of one node's split search.
#[derive(Debug)]
struct SplitSearch {
    min_leaf: f64,
    size: f64,
    positives: f64,
    /// `Σ_children (p² + q²) / n` of the node itself: minimising weighted Gini impurity is
    /// maximising this sum over the children, where `p` and `q` count the two classes.
    parent: f64,
    /// Purity, feature and bin of the best split so far.
    best: Option<(f64, usize, usize)>,
}

impl SplitSearch {
    fn new(min_leaf: usize, (size, positives): (usize, usize)) -> Self {
        let (size, positives) = (size as f64, positives as f64);
        SplitSearch {
            min_leaf: min_leaf as f64,
            size,
            positives,
            parent: (positives.powi(2) + (size - positives).powi(2)) / size,
            best: None,
        }
    }

    /// Evaluates the split of `feature` after `bin`, with `left` the packed counts of the
    /// samples in bins up to `bin` (as in [`Histograms`]).
    fn consider(&mut self, feature: usize, bin: usize, left: u64) {
        // Integer counts below 2⁵³ convert to f64 exactly, so these equal f64 running sums.
        let left_n = f64::from(left as u32);
        let left_p = f64::from((left >> 32) as u32);
        let (right_n, right_p) = (self.size - left_n, self.positives - left_p);
        if left_n < self.min_leaf || right_n < self.min_leaf {
            return;
        }
        let purity = (left_p.powi(2) + (left_n - left_p).powi(2)) / left_n
            + (right_p.powi(2) + (right_n - right_p).powi(2)) / right_n;
        if purity > self.parent + 1e-12 && self.best.is_none_or(|(b, _, _)| purity > b) {
            self.best = Some((purity, feature, bin));
        }
    }
}

#[cfg(test)]
mod tests;

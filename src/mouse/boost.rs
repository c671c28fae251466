//! Gradient-boosted decision trees for two classes (Friedman, "Greedy function approximation:
//! a gradient boosting machine", Annals of Statistics 29, 2001), with the second-order leaf
//! values and split gains of XGBoost (Chen and Guestrin, KDD 2016) and the leaf-wise growth
//! of LightGBM (Ke et al., NeurIPS 2017).
//!
//! The model is a sum of small regression trees on the log-odds scale. Round `m` fits a tree
//! to the gradient `g_i = p_i - y_i` and Hessian `h_i = p_i (1 - p_i)` of the logistic loss at
//! the current predictions `p_i`: the tree grows by repeatedly splitting the leaf whose best
//! split has the largest gain
//! `G_L² / (H_L + λ) + G_R² / (H_R + λ) - G² / (H + λ)` (sums of `g` and `h` over the rows of
//! each side, `λ` = [`BoostParams::l2`]), until it has [`BoostParams::max_leaves`] leaves or
//! no split gains. A leaf then outputs `-η G / (H + λ)` with `η` =
//! [`BoostParams::learning_rate`]. The predicted probability is the logistic function of the
//! starting log odds (the training base rate) plus the sum of all trees' outputs.
//!
//! Splits are searched over the same quantile bins as [`super::forest`]. After a split, only
//! the smaller child's histogram of gradient sums is built from its rows, because the larger
//! child's is its parent's minus the smaller's.
//!
//! Written here rather than taken from a crate. Of the pure-Rust boosting crates checked,
//! forust-ml stores models as JSON with its own loader, so a model could not be stored with
//! postcard like the other models. hessboost and ferricml are young crates without a
//! maintenance record. Fitting is deterministic: rows and features are drawn only when
//! [`BoostParams::subsample`] or [`BoostParams::colsample`] is below 1, and then from a
//! generator seeded by [`BoostParams::seed`], so equal data and parameters give equal models.

use ndarray::ArrayView2;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::forest::{Binned, check_rows, check_training};
use crate::error::{Error, Result};
use crate::store::Rejection;

/// Booster hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoostParams {
    /// Number of boosting rounds, one tree each.
    pub n_rounds: usize,
    /// Shrinkage `η` of every leaf value, in `(0, 1]`.
    pub learning_rate: f64,
    /// Leaves per tree (at least 2).
    pub max_leaves: usize,
    /// Minimum number of training rows in a leaf.
    pub min_samples_leaf: usize,
    /// L2 penalty `λ` on leaf values (at least 0).
    pub l2: f64,
    /// Maximum number of bins per feature (2 to 256).
    pub max_bins: usize,
    /// Fraction of the training rows, in `(0, 1]`, that each tree is grown on, drawn anew
    /// without replacement for every tree (stochastic gradient boosting, Friedman 2002). The
    /// tree's leaf values are then added to every row's log odds, sampled or not.
    pub subsample: f64,
    /// Fraction of the features, in `(0, 1]`, that each tree may split on, drawn anew for
    /// every tree.
    pub colsample: f64,
    /// Seed of the row and feature draws. With `subsample` and `colsample` both 1 nothing is
    /// drawn, and the seed does not matter.
    pub seed: u64,
}

impl Default for BoostParams {
    /// 31 leaves, 20 rows per leaf and a learning rate of 0.1 are the usual defaults of
    /// histogram boosters (LightGBM, scikit-learn's `HistGradientBoostingClassifier`).
    /// `l2 = 1` keeps leaves with a small Hessian sum from taking extreme values. The number of
    /// rounds and the 63 bins are the Balabit replay's choices (see
    /// [`crate::evaluation::balabit::BalabitParams`]). Fewer bins than scikit-learn's 255 make
    /// the histograms a quarter as long, and building, subtracting and scanning them is most
    /// of the fitting time. Rows and features are not sampled, also the replay's choice.
    fn default() -> Self {
        BoostParams {
            n_rounds: 300,
            learning_rate: 0.1,
            max_leaves: 31,
            min_samples_leaf: 20,
            l2: 1.0,
            max_bins: 63,
            subsample: 1.0,
            colsample: 1.0,
            seed: 0x626f_6f73_7465_6421,
        }
    }
}

/// A fitted booster.
///
/// Deserialising checks the structure (see `BoosterFields`), so a decoded booster predicts
/// without panicking or looping whatever bytes it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BoosterFields")]
pub struct BoostedTrees {
    n_features: usize,
    /// Starting log odds.
    base: f64,
    trees: Vec<Tree>,
}

/// The serialised fields of a [`BoostedTrees`], before the structural check.
#[derive(Deserialize)]
struct BoosterFields {
    n_features: usize,
    base: f64,
    trees: Vec<Tree>,
}

impl TryFrom<BoosterFields> for BoostedTrees {
    type Error = Rejection;

    /// Accepts what [`BoostParams::fit`] can produce: at least one feature, a finite base,
    /// non-empty trees, split features below `n_features`, thresholds that are not NaN,
    /// finite leaf values, and children stored after their parent, which rules out cycles.
    /// The base plus the largest absolute leaf of every tree must be finite too, so that no
    /// row's log odds overflow to infinity.
    fn try_from(fields: BoosterFields) -> Result<Self, Rejection> {
        let BoosterFields {
            n_features,
            base,
            trees,
        } = fields;
        if n_features == 0 || !base.is_finite() {
            return Err(Rejection::from(format!(
                "a booster needs at least one feature and a finite base, found {n_features} \
                 features and base {base}"
            )));
        }
        for (t, tree) in trees.iter().enumerate() {
            if tree.nodes.is_empty() {
                return Err(Rejection::from(format!("tree {t} has no nodes")));
            }
            for (i, node) in tree.nodes.iter().enumerate() {
                let valid = match *node {
                    Node::Leaf(value) => value.is_finite(),
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
        let bound = trees.iter().fold(base.abs(), |sum, tree| {
            let largest = tree.nodes.iter().fold(0.0_f64, |m, node| match *node {
                Node::Leaf(value) => m.max(value.abs()),
                Node::Split { .. } => m,
            });
            sum + largest
        });
        if !bound.is_finite() {
            return Err(Rejection::from(
                "the base and leaf values can sum to an infinite log odds".to_owned(),
            ));
        }
        Ok(BoostedTrees {
            n_features,
            base,
            trees,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Node {
    /// Value added to the log odds.
    Leaf(f64),
    /// Rows with `row[feature] <= threshold` go to `left`, the others to `right`.
    Split {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
    },
}

impl Tree {
    fn predict(&self, row: &[f64]) -> f64 {
        let mut index = 0;
        loop {
            match self.nodes[index] {
                Node::Leaf(value) => return value,
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

/// Smallest Hessian sum a leaf may have; below it the leaf value rests on almost no curvature.
const MIN_HESSIAN: f64 = 1e-3;

impl BoostParams {
    /// Validates the hyper-parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first value out of range.
    pub fn check(&self) -> Result<()> {
        let invalid = |name, value: String, expected| {
            Err(Error::InvalidParameter {
                name,
                value,
                expected,
            })
        };
        if self.n_rounds == 0 {
            return invalid("n_rounds", "0".into(), "at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return invalid("learning_rate", self.learning_rate.to_string(), "in (0, 1]");
        }
        if self.max_leaves < 2 {
            return invalid("max_leaves", self.max_leaves.to_string(), "at least 2");
        }
        if self.min_samples_leaf == 0 {
            return invalid("min_samples_leaf", "0".into(), "at least 1");
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return invalid("l2", self.l2.to_string(), "a finite value of at least 0");
        }
        if !(2..=256).contains(&self.max_bins) {
            return invalid("max_bins", self.max_bins.to_string(), "2 to 256");
        }
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return invalid("subsample", self.subsample.to_string(), "in (0, 1]");
        }
        if !(self.colsample > 0.0 && self.colsample <= 1.0) {
            return invalid("colsample", self.colsample.to_string(), "in (0, 1]");
        }
        Ok(())
    }

    /// Fits a booster on the rows of `x` with labels `y` (`true` = positive class).
    ///
    /// # Errors
    ///
    /// The errors of [`BoostParams::check`]; [`Error::InvalidTrainingData`] when `x` has no
    /// rows or columns, `y` has a different length, a value is not finite, or one class is
    /// missing.
    pub fn fit(&self, x: ArrayView2<'_, f64>, y: &[bool]) -> Result<BoostedTrees> {
        self.check()?;
        check_training(x, y, "booster")?;
        self.fit_binned(x, y, Binned::new(x, self.max_bins))
    }

    /// Fits a booster as [`BoostParams::fit`] does, but cuts the bins only at values of the
    /// positive rows (see `Binned::new_cut_on`). Every split threshold of the booster is then
    /// a positive row's feature value, or the next smaller double below the smallest one, and
    /// none is taken from a negative row. The engine fits a user's model this way, so that
    /// no threshold in the user's file comes from a background person's action. A negative
    /// row's value can still equal a threshold by chance.
    ///
    /// Quantiles of the positive rows alone place the bins where the user's actions are. With
    /// at least 4 bins, values below the positive rows' range, if any, get a bin of their own,
    /// and so do values above it. This binning differs from the one of
    /// [`BoostParams::fit`], so the fitted trees differ too.
    ///
    /// # Errors
    ///
    /// As [`BoostParams::fit`].
    pub fn fit_cut_on_positives(&self, x: ArrayView2<'_, f64>, y: &[bool]) -> Result<BoostedTrees> {
        self.check()?;
        check_training(x, y, "booster")?;
        self.fit_binned(x, y, Binned::new_cut_on(x, self.max_bins, y))
    }

    /// Fits a booster on checked rows `x` with labels `y`, binned as `binned`.
    fn fit_binned(
        &self,
        x: ArrayView2<'_, f64>,
        y: &[bool],
        binned: Binned,
    ) -> Result<BoostedTrees> {
        let (n, d) = x.dim();
        let positives = y.iter().filter(|&&label| label).count();
        let base = (positives as f64 / (n - positives) as f64).ln();
        let mut log_odds = vec![base; n];
        let mut gradients = vec![(0.0, 0.0); n];
        let mut grower = Grower::new(&binned, self);
        let mut trees = Vec::with_capacity(self.n_rounds);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let fraction = |f: f64, of: usize| ((f * of as f64).round() as usize).clamp(1, of);
        let (n_rows, n_features) = (fraction(self.subsample, n), fraction(self.colsample, d));
        let mut draw = |count: usize, of: usize| -> Vec<u32> {
            if count == of {
                (0..of as u32).collect()
            } else {
                let mut drawn: Vec<u32> = sample(&mut rng, of, count)
                    .into_iter()
                    .map(|i| i as u32)
                    .collect();
                drawn.sort_unstable();
                drawn
            }
        };
        for _ in 0..self.n_rounds {
            for ((gh, &f), &label) in gradients.iter_mut().zip(&log_odds).zip(y) {
                let p = logistic(f);
                *gh = (p - f64::from(u8::from(label)), (p * (1.0 - p)).max(1e-16));
            }
            let rows = draw(n_rows, n);
            if n_features < d {
                grower.features = draw(n_features, d)
                    .into_iter()
                    .map(|f| f as usize)
                    .collect();
            }
            trees.push(grower.grow(&gradients, rows, &mut log_odds));
        }
        Ok(BoostedTrees {
            n_features: d,
            base,
            trees,
        })
    }
}

fn logistic(f: f64) -> f64 {
    1.0 / (1.0 + (-f).exp())
}

/// Bins per feature in the histograms when no feature has more, as with the default 63 bins.
/// The histograms then have a fixed stride, and [`add_block`] indexes them without bounds
/// checks.
const SHORT: usize = 64;

/// Features per block of the code table (see [`Grower::blocks`]).
const BLOCK: usize = 8;

/// Adds the gradient sums `ordered[k]` of a leaf's rows to the [`SHORT`]-bin histograms of
/// one block's [`BLOCK`] features, whose codes of the same rows are `codes[k]`.
///
/// Consecutive rows often fall in the same bin of a feature, and each addition must then wait
/// for the one before. Interleaving the block's features gives the processor independent
/// additions to overlap, while the block's histograms stay small enough for the first-level
/// cache. Each bin still adds the leaf's rows in their order.
fn add_block(
    histograms: &mut [[Sums; SHORT]; BLOCK],
    codes: &[[u8; BLOCK]],
    ordered: &[(f64, f64)],
) {
    for (row_codes, &gh) in codes.iter().zip(ordered) {
        for (histogram, &code) in histograms.iter_mut().zip(row_codes) {
            // Every code is below `SHORT`, so the mask changes nothing; it only shows the
            // compiler that the index is in bounds.
            histogram[usize::from(code) & (SHORT - 1)].add(gh);
        }
    }
}

/// Gradient sum, Hessian sum and row count of one histogram bin or one set of rows.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    g: f64,
    h: f64,
    n: u32,
}

impl Sums {
    fn add(&mut self, (g, h): (f64, f64)) {
        self.g += g;
        self.h += h;
        self.n += 1;
    }

    fn minus(self, other: Sums) -> Sums {
        Sums {
            g: self.g - other.g,
            h: self.h - other.h,
            n: self.n - other.n,
        }
    }

    /// `G² / (H + λ)`, the loss reduction a leaf with these sums achieves (times 2).
    fn score(self, l2: f64) -> f64 {
        self.g * self.g / (self.h + l2)
    }
}

/// The best split of a leaf: rows whose code of `feature` is at most `bin` go left.
#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
    left: Sums,
}

/// A leaf of the tree being grown: its node, its rows `order[start..end]`, its histogram
/// (bin `b` of the tree's `j`-th feature at `j * bins + b`) and its best split.
struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    total: Sums,
    histogram: Vec<Sums>,
    best: Option<Split>,
}

/// Reusable state of tree growth: the binned data and the row order that leaves partition.
struct Grower<'a> {
    binned: &'a Binned,
    params: &'a BoostParams,
    /// Bins per feature in the histograms.
    bins: usize,
    /// The bin codes in blocks of [`BLOCK`] features: the codes of features `8b` to `8b + 7`
    /// of row `r` are at `blocks[b * n_rows + r]`, and the last block is padded with zeros. A
    /// histogram pass over one block reads one small array per row and writes only the
    /// block's histograms, which fit the first-level cache, unlike all histograms of a leaf.
    blocks: Vec<[u8; BLOCK]>,
    order: Vec<u32>,
    /// Gradient and Hessian of the rows of the leaf being summed, in the leaf's row order.
    ordered: Vec<(f64, f64)>,
    /// One block's codes of the rows of the leaf being summed, in the leaf's row order.
    gathered: Vec<[u8; BLOCK]>,
    /// Features the current tree may split on, ascending.
    features: Vec<usize>,
}

impl<'a> Grower<'a> {
    fn new(binned: &'a Binned, params: &'a BoostParams) -> Self {
        let mut bins = binned.cuts.iter().map(|c| c.len() + 1).max().unwrap_or(1);
        if bins <= SHORT {
            bins = SHORT;
        }
        let (n, d) = (binned.n_rows(), binned.cuts.len());
        let mut blocks = vec![[0; BLOCK]; n * d.div_ceil(BLOCK)];
        for row in 0..n {
            let codes = binned.row(row as u32);
            for f in 0..d {
                blocks[f / BLOCK * n + row][f % BLOCK] = codes[f / 64].0[f % 64];
            }
        }
        Grower {
            binned,
            params,
            bins,
            blocks,
            order: Vec::new(),
            ordered: Vec::new(),
            gathered: Vec::new(),
            features: (0..d).collect(),
        }
    }

    /// Returns the bin code of `feature` in `row`.
    fn code(&self, row: u32, feature: usize) -> usize {
        let n_rows = self.binned.n_rows();
        usize::from(self.blocks[feature / BLOCK * n_rows + row as usize][feature % BLOCK])
    }

    /// Grows one tree on `gradients` (per row: gradient, Hessian) of the training rows
    /// `rows`, splitting only on `self.features`, and adds its output to `log_odds` of every
    /// training row.
    fn grow(&mut self, gradients: &[(f64, f64)], rows: Vec<u32>, log_odds: &mut [f64]) -> Tree {
        let all_rows = rows.len() == self.binned.n_rows();
        self.order = rows;
        let n = self.order.len();
        let histogram = self.histogram(0, n, gradients);
        let total = self.total(&histogram);
        let mut nodes = vec![Node::Leaf(0.0)];
        // The split of each node as (feature, bin), for rows outside the sample.
        let mut code_splits = vec![(0, 0)];
        let mut leaves = vec![self.leaf(0, (0, n), histogram, total)];

        // Best first: split the leaf whose best split gains most, until the tree is full or
        // no leaf can split.
        while leaves.len() < self.params.max_leaves {
            let Some((index, split)) = leaves
                .iter()
                .enumerate()
                .filter_map(|(i, leaf)| leaf.best.map(|s| (i, s)))
                .max_by(|a, b| a.1.gain.total_cmp(&b.1.gain))
            else {
                break;
            };
            let parent = leaves.swap_remove(index);
            let left_node = nodes.len();
            nodes.push(Node::Leaf(0.0));
            nodes.push(Node::Leaf(0.0));
            code_splits.extend([(0, 0), (0, 0)]);
            code_splits[parent.node] = (split.feature, split.bin);
            nodes[parent.node] = Node::Split {
                feature: split.feature as u32,
                threshold: self.binned.cuts[split.feature][split.bin],
                left: left_node as u32,
                right: left_node as u32 + 1,
            };
            let [left, right] = self.children(parent, split, left_node, gradients);
            leaves.push(left);
            leaves.push(right);
        }

        let (eta, l2) = (self.params.learning_rate, self.params.l2);
        for leaf in &leaves {
            let value = -eta * leaf.total.g / (leaf.total.h + l2);
            nodes[leaf.node] = Node::Leaf(value);
            if all_rows {
                for &row in &self.order[leaf.start..leaf.end] {
                    log_odds[row as usize] += value;
                }
            }
        }
        if !all_rows {
            // The leaves contain only the sampled rows, so every row walks the tree on its bin
            // codes, which choose the same side as its values would.
            for (row, f) in log_odds.iter_mut().enumerate() {
                let mut index = 0;
                while let Node::Split { left, right, .. } = nodes[index] {
                    let (feature, bin) = code_splits[index];
                    index = if self.code(row as u32, feature) <= bin {
                        left
                    } else {
                        right
                    } as usize;
                }
                if let Node::Leaf(value) = nodes[index] {
                    *f += value;
                }
            }
        }
        Tree { nodes }
    }

    /// Returns a leaf of the rows `order[start..end]` with its best split.
    fn leaf(
        &self,
        node: usize,
        (start, end): (usize, usize),
        histogram: Vec<Sums>,
        total: Sums,
    ) -> Leaf {
        let best = self.best_split(&histogram, total);
        Leaf {
            node,
            start,
            end,
            total,
            histogram,
            best,
        }
    }

    /// Splits `parent` by `split` into the leaves of nodes `left_node` and `left_node + 1`.
    /// Only the smaller child's histogram is built from its rows, and the larger child's is
    /// the parent's minus the smaller's.
    fn children(
        &mut self,
        parent: Leaf,
        split: Split,
        left_node: usize,
        gradients: &[(f64, f64)],
    ) -> [Leaf; 2] {
        let middle = self.partition(&parent, split);
        let left_smaller = middle - parent.start <= parent.end - middle;
        let (small_start, small_end) = if left_smaller {
            (parent.start, middle)
        } else {
            (middle, parent.end)
        };
        let small = self.histogram(small_start, small_end, gradients);
        let mut large = parent.histogram;
        for (l, s) in large.iter_mut().zip(&small) {
            *l = l.minus(*s);
        }

        let (left_histogram, right_histogram) = if left_smaller {
            (small, large)
        } else {
            (large, small)
        };
        let right_total = parent.total.minus(split.left);
        [
            self.leaf(
                left_node,
                (parent.start, middle),
                left_histogram,
                split.left,
            ),
            self.leaf(
                left_node + 1,
                (middle, parent.end),
                right_histogram,
                right_total,
            ),
        ]
    }

    /// Sums the gradients of the rows `order[start..end]` into one histogram per feature of
    /// the tree. Every bin adds its rows in the order of `order`, whatever the loop nesting,
    /// so the sums are the same to the last bit as a row-by-row pass.
    fn histogram(&mut self, start: usize, end: usize, gradients: &[(f64, f64)]) -> Vec<Sums> {
        let n_rows = self.binned.n_rows();
        let rows = &self.order[start..end];
        self.ordered.clear();
        self.ordered
            .extend(rows.iter().map(|&row| gradients[row as usize]));
        let mut histogram = vec![Sums::default(); self.features.len() * self.bins];
        let (bins, ordered, gathered) = (self.bins, &self.ordered, &mut self.gathered);
        let block = |b: usize| &self.blocks[b * n_rows..][..n_rows];
        let mut done = 0;
        // Whole blocks of features, while the tree may split on every feature.
        if bins == SHORT && self.features.len() == self.binned.cuts.len() {
            let lines = histogram.as_chunks_mut::<SHORT>().0;
            for (b, histograms) in lines.as_chunks_mut::<BLOCK>().0.iter_mut().enumerate() {
                // Gathering the leaf's codes first lets their loads, which are independent,
                // overlap; the summing loop then reads them in sequence.
                let codes = block(b);
                gathered.clear();
                gathered.extend(rows.iter().map(|&row| codes[row as usize]));
                add_block(histograms, gathered, ordered);
                done += BLOCK;
            }
        }
        // The other features one at a time. With `colsample` below 1 or more than 64 bins,
        // every feature takes this path, which is somewhat slower per feature than the blocks
        // (`mouse/boost/fit` in benches/mouse.rs measures both).
        for (j, &f) in self.features.iter().enumerate().skip(done) {
            let codes = block(f / BLOCK);
            let bins = &mut histogram[j * bins..][..bins];
            for (&row, &gh) in rows.iter().zip(ordered) {
                bins[usize::from(codes[row as usize][f % BLOCK])].add(gh);
            }
        }
        histogram
    }

    /// Sums over all rows of a leaf, from the histogram of its first feature.
    fn total(&self, histogram: &[Sums]) -> Sums {
        let mut total = Sums::default();
        for s in &histogram[..self.bins] {
            total.g += s.g;
            total.h += s.h;
            total.n += s.n;
        }
        total
    }

    fn best_split(&self, histogram: &[Sums], total: Sums) -> Option<Split> {
        let min_leaf = self.params.min_samples_leaf as u32;
        let l2 = self.params.l2;
        if total.n < 2 * min_leaf {
            return None;
        }
        let parent_score = total.score(l2);
        let mut best: Option<Split> = None;
        // The sides of each candidate bin, column by column: the gains then come from a loop
        // whose steps are independent, which the compiler turns into vector divisions. A
        // feature has at most 255 cuts, so 256 entries are enough.
        let mut sides = [[0.0; 256]; 4];
        let mut gains = [0.0; 256];
        let mut candidates = [(0, Sums::default()); 256];
        for (j, &feature) in self.features.iter().enumerate() {
            let cuts = &self.binned.cuts[feature];
            let mut left = Sums::default();
            let mut count = 0;
            // A split after the last bin would leave the right side empty.
            for (bin, sums) in histogram[j * self.bins..][..cuts.len()].iter().enumerate() {
                left.g += sums.g;
                left.h += sums.h;
                left.n += sums.n;
                let right = total.minus(left);
                if left.n < min_leaf || left.h < MIN_HESSIAN {
                    continue;
                }
                if right.n < min_leaf || right.h < MIN_HESSIAN {
                    break;
                }
                let [left_g, left_h, right_g, right_h] = &mut sides;
                (left_g[count], left_h[count]) = (left.g, left.h);
                (right_g[count], right_h[count]) = (right.g, right.h);
                candidates[count] = (bin, left);
                count += 1;
            }
            let [left_g, left_h, right_g, right_h] = &sides;
            let columns = left_g[..count]
                .iter()
                .zip(&left_h[..count])
                .zip(&right_g[..count])
                .zip(&right_h[..count]);
            for (gain, (((&lg, &lh), &rg), &rh)) in gains[..count].iter_mut().zip(columns) {
                // `Sums::score` of both sides, written out.
                *gain = lg * lg / (lh + l2) + rg * rg / (rh + l2) - parent_score;
            }
            for (&gain, &(bin, left)) in gains[..count].iter().zip(&candidates[..count]) {
                if gain > 1e-12 && best.is_none_or(|b| gain > b.gain) {
                    best = Some(Split {
                        gain,
                        feature,
                        bin,
                        left,
                    });
                }
            }
        }
        best
    }

    /// Reorders the leaf's rows so those going left come first; returns where the right
    /// rows start.
    fn partition(&mut self, leaf: &Leaf, split: Split) -> usize {
        let n_rows = self.binned.n_rows();
        let (block, lane) = (split.feature / BLOCK, split.feature % BLOCK);
        let codes = &self.blocks[block * n_rows..][..n_rows];
        let rows = &mut self.order[leaf.start..leaf.end];
        let mut next = 0;
        for i in 0..rows.len() {
            if usize::from(codes[rows[i] as usize][lane]) <= split.bin {
                rows.swap(i, next);
                next += 1;
            }
        }
        leaf.start + next
    }
}

impl BoostedTrees {
    /// Returns every split of every tree as (feature, threshold), for tests that check
    /// where the thresholds come from.
    #[cfg(test)]
    pub(crate) fn splits(&self) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        for tree in &self.trees {
            for node in &tree.nodes {
                if let Node::Split {
                    feature, threshold, ..
                } = *node
                {
                    out.push((feature as usize, threshold));
                }
            }
        }
        out
    }

    /// Number of features the booster was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Returns the probability that `row` belongs to the positive class: the logistic
    /// function of the base log odds plus every tree's output.
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
        Ok(self.predict_proba_rows(row)?[0])
    }

    /// Returns the log odds that `row` belongs to the positive class: the base plus every
    /// tree's output, which [`BoostedTrees::predict_proba`] passes through the logistic
    /// function. Unlike the probability it does not round to 0 or 1 for confident rows.
    ///
    /// # Errors
    ///
    /// As [`BoostedTrees::predict_proba`].
    pub fn log_odds(&self, row: &[f64]) -> Result<f64> {
        if row.len() != self.n_features {
            return Err(Error::DimensionMismatch {
                expected: self.n_features,
                actual: row.len(),
            });
        }
        check_rows(row, self.n_features)?;
        Ok(self.base + self.trees.iter().map(|t| t.predict(row)).sum::<f64>())
    }

    /// Computes [`BoostedTrees::predict_proba`] for every row of `rows`, a row-major matrix
    /// of [`BoostedTrees::n_features`] columns.
    ///
    /// # Errors
    ///
    /// [`Error::DimensionMismatch`] when the length of `rows` is not a multiple of the feature
    /// count, and [`Error::NonFiniteFeature`] when a value is NaN or infinite.
    pub fn predict_proba_rows(&self, rows: &[f64]) -> Result<Vec<f64>> {
        check_rows(rows, self.n_features)?;
        Ok(rows
            .chunks_exact(self.n_features)
            .map(|row| {
                let sum: f64 = self.trees.iter().map(|t| t.predict(row)).sum();
                logistic(self.base + sum)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;

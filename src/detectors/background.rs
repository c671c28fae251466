//! Background-assisted fixed-text detectors: besides the genuine user's vectors they learn from
//! other people's vectors (the background), which never include the impostors they are tested
//! on.

use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::extended::{OneClassKind, OneClassModel, OneClassParams, score_rows};
use super::fusion::{fold_range, rows_in, rows_outside};
use super::robust::{RobustScaler, inverse_sqrt, ledoit_wolf, mean_of_smallest};
use super::{VectorDetector, check_training};
use crate::error::{Error, Result};

/// Background-assisted detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BackgroundKind {
    /// Logistic regression, genuine against background, on the user's robustly scaled
    /// per-feature deviations.
    BackgroundLogistic,
    /// Logistic-regression stacking of the one-class detectors and `background-logistic`,
    /// with weights fitted on cross-validated scores.
    BackgroundFusion,
    /// Log ratio of the k-nearest-neighbour distances to the user's and to the background
    /// vectors in the user's whitened space: a nearest-neighbour likelihood ratio.
    BackgroundKnnRatio,
    /// `background-knn-ratio` with `k` chosen by cross-validation inside the training and
    /// background data.
    BackgroundKnnRatioCv,
}

impl BackgroundKind {
    /// Every background-assisted detector, in the order reports list them.
    pub const ALL: [BackgroundKind; 4] = [
        BackgroundKind::BackgroundLogistic,
        BackgroundKind::BackgroundKnnRatio,
        BackgroundKind::BackgroundKnnRatioCv,
        BackgroundKind::BackgroundFusion,
    ];

    /// Components of [`BackgroundKind::BackgroundFusion`], fixed before any evaluation.
    const FUSION_ONE_CLASS: [OneClassKind; 3] = OneClassKind::FUSION_COMPONENTS;

    /// The command-line name, such as `background-logistic`.
    pub fn name(self) -> &'static str {
        match self {
            BackgroundKind::BackgroundLogistic => "background-logistic",
            BackgroundKind::BackgroundFusion => "background-fusion",
            BackgroundKind::BackgroundKnnRatio => "background-knn-ratio",
            BackgroundKind::BackgroundKnnRatioCv => "background-knn-ratio-cv",
        }
    }
}

impl fmt::Display for BackgroundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackgroundKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        BackgroundKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::UnknownDetector {
                name: s.to_string(),
                known: BackgroundKind::ALL.map(|k| k.name()).join(", "),
            })
    }
}

/// Hyper-parameters of the [`BackgroundKind`] detectors. The defaults were fixed before any
/// evaluation run and are used unchanged on every dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackgroundParams {
    /// Detector to fit.
    pub kind: BackgroundKind,
    /// Rows taken from each background subject, evenly spaced over its rows (default 40).
    pub rows_per_subject: usize,
    /// L2 penalty on the standardised logistic-regression weights, relative to a loss in which
    /// each class has total weight 1 (default 1e-3).
    pub l2: f64,
    /// Contiguous cross-validation folds over the training rows (default 5).
    pub cv_folds: usize,
    /// Parameters of the one-class components of `background-fusion`.
    pub one_class: OneClassParams,
}

impl BackgroundParams {
    /// Default parameters for `kind`.
    pub fn new(kind: BackgroundKind) -> Self {
        BackgroundParams {
            kind,
            rows_per_subject: 40,
            l2: 1e-3,
            cv_folds: 5,
            one_class: OneClassParams::new(OneClassKind::RobustManhattan),
        }
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first parameter out of range.
    pub fn check(&self) -> Result<()> {
        if !(1..=100_000).contains(&self.rows_per_subject) {
            return Err(Error::InvalidParameter {
                name: "rows_per_subject",
                value: self.rows_per_subject.to_string(),
                expected: "an integer from 1 to 100000",
            });
        }
        if !(self.l2.is_finite() && self.l2 > 0.0) {
            return Err(Error::InvalidParameter {
                name: "l2",
                value: self.l2.to_string(),
                expected: "a finite number > 0",
            });
        }
        if !(2..=50).contains(&self.cv_folds) {
            return Err(Error::InvalidParameter {
                name: "cv_folds",
                value: self.cv_folds.to_string(),
                expected: "an integer from 2 to 50",
            });
        }
        self.one_class.check()
    }

    /// Fits on the genuine user's training vectors and the background subjects' vectors (one
    /// matrix per background subject).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] from [`check`](Self::check); [`Error::InvalidTrainingData`]
    /// when the training vectors have fewer than three rows, no columns or a non-finite value,
    /// or when there are fewer than two background subjects, a background subject has no
    /// rows, a different width or a non-finite value.
    pub fn fit(
        &self,
        train: ArrayView2<'_, f64>,
        background: &[ArrayView2<'_, f64>],
    ) -> Result<BackgroundModel> {
        self.check()?;
        check_training(train)?;
        if train.nrows() < 3 {
            return Err(Error::training(format!(
                "{} training vectors; background detectors need at least 3 for \
                 cross-validation",
                train.nrows()
            )));
        }
        check_background(train.ncols(), background)?;
        Ok(match self.kind {
            BackgroundKind::BackgroundLogistic => {
                BackgroundModel::Logistic(DeviationLogistic::fit(train, background, self)?)
            }
            BackgroundKind::BackgroundFusion => {
                BackgroundModel::Fusion(StackedFusion::fit(train, background, self)?)
            }
            BackgroundKind::BackgroundKnnRatio => {
                BackgroundModel::KnnRatio(KnnRatio::fit(train, background, self)?)
            }
            BackgroundKind::BackgroundKnnRatioCv => {
                let knn_k = choose_knn_k(train, background, self)?;
                let chosen = BackgroundParams {
                    one_class: OneClassParams {
                        knn_k,
                        ..self.one_class.clone()
                    },
                    ..self.clone()
                };
                BackgroundModel::KnnRatio(KnnRatio::fit(train, background, &chosen)?)
            }
        })
    }
}

fn check_background(width: usize, background: &[ArrayView2<'_, f64>]) -> Result<()> {
    if background.len() < 2 {
        return Err(Error::training(format!(
            "{} background subjects; at least 2 are needed",
            background.len()
        )));
    }
    for (b, subject) in background.iter().enumerate() {
        if subject.nrows() == 0 || subject.ncols() != width {
            return Err(Error::training(format!(
                "background subject {b} has {} rows of {} features; expected at least 1 row \
                 of {width}",
                subject.nrows(),
                subject.ncols()
            )));
        }
        if let Some(((row, col), v)) = subject.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::training(format!(
                "background subject {b}, row {row}, feature {col} is {v}"
            )));
        }
    }
    Ok(())
}

/// Up to `per_subject` rows of each background subject, evenly spaced, stacked.
fn sample_background(background: &[ArrayView2<'_, f64>], per_subject: usize) -> Array2<f64> {
    let width = background.first().map_or(0, |b| b.ncols());
    let mut out = Array2::zeros((0, width));
    for subject in background {
        let n = subject.nrows();
        let take = per_subject.min(n);
        let rows: Vec<usize> = (0..take).map(|i| i * n / take).collect();
        // OK because every background subject was checked to have `width` columns.
        out.append(Axis(0), subject.select(Axis(0), &rows).view())
            .expect("same width");
    }
    out
}

/// L2-regularised logistic regression fitted by Newton's method, with inputs standardised and
/// classes weighted to equal total weight.
///
/// Hand-written because the problem is tiny (tens of features, about a thousand rows) and
/// linfa-logistic would bring in the argmin optimiser stack for one Newton loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Logistic {
    mean: Vec<f64>,
    inverse_sd: Vec<f64>,
    /// Weights on the standardised features; the last entry is the intercept.
    weights: Vec<f64>,
}

impl Logistic {
    /// Fits `P(genuine | x)` from genuine rows `positive` and background rows `negative`.
    fn fit(positive: ArrayView2<'_, f64>, negative: ArrayView2<'_, f64>, l2: f64) -> Result<Self> {
        let d = positive.ncols();
        let mut all = positive.to_owned();
        // OK because both inputs come from the same feature map.
        all.append(Axis(0), negative).expect("same feature width");
        let mean = all
            .mean_axis(Axis(0))
            .unwrap_or_else(|| ndarray::Array1::zeros(d));
        let sd = all.std_axis(Axis(0), 0.0);
        let inverse_sd: Vec<f64> = sd
            .iter()
            .map(|&s| if s > 0.0 { 1.0 / s } else { 0.0 })
            .collect();
        let n_pos = positive.nrows();
        let p = d + 1;
        let design = Array2::from_shape_fn((all.nrows(), p), |(i, j)| {
            if j == d {
                1.0
            } else {
                (all[[i, j]] - mean[j]) * inverse_sd[j]
            }
        });
        let labels: Vec<f64> = (0..all.nrows())
            .map(|i| if i < n_pos { 1.0 } else { 0.0 })
            .collect();
        let sample_weight: Vec<f64> = (0..all.nrows())
            .map(|i| {
                if i < n_pos {
                    1.0 / n_pos as f64
                } else {
                    1.0 / negative.nrows() as f64
                }
            })
            .collect();
        let mut beta = vec![0.0; p];
        for _ in 0..50 {
            let mut gradient = vec![0.0; p];
            let mut hessian = Array2::<f64>::zeros((p, p));
            for (i, row) in design.rows().into_iter().enumerate() {
                let eta: f64 = row.iter().zip(&beta).map(|(x, b)| x * b).sum();
                let prob = 1.0 / (1.0 + (-eta).exp());
                let w = sample_weight[i];
                let residual = w * (prob - labels[i]);
                let curvature = w * (prob * (1.0 - prob)).max(1e-12);
                for a in 0..p {
                    gradient[a] += residual * row[a];
                    let ca = curvature * row[a];
                    for b in a..p {
                        hessian[[a, b]] += ca * row[b];
                    }
                }
            }
            for a in 0..d {
                gradient[a] += l2 * beta[a];
                hessian[[a, a]] += l2;
            }
            hessian[[d, d]] += 1e-9;
            for a in 0..p {
                for b in 0..a {
                    hessian[[a, b]] = hessian[[b, a]];
                }
            }
            let step = cholesky_solve(hessian, &gradient)?;
            let mut largest = 0.0_f64;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
                largest = largest.max(s.abs());
            }
            if largest < 1e-8 {
                break;
            }
        }
        Ok(Logistic {
            mean: mean.to_vec(),
            inverse_sd,
            weights: beta,
        })
    }

    /// Log-odds of genuine.
    fn log_odds(&self, features: &[f64]) -> f64 {
        let d = self.mean.len();
        let mut eta = self.weights[d];
        for (((w, f), m), s) in self
            .weights
            .iter()
            .zip(features)
            .zip(&self.mean)
            .zip(&self.inverse_sd)
        {
            eta += w * (f - m) * s;
        }
        eta
    }
}

/// Solves `a x = b` for a symmetric positive definite `a` by Cholesky factorisation.
fn cholesky_solve(mut a: Array2<f64>, b: &[f64]) -> Result<Vec<f64>> {
    let n = b.len();
    for j in 0..n {
        let mut diagonal = a[[j, j]];
        for k in 0..j {
            diagonal -= a[[j, k]] * a[[j, k]];
        }
        if diagonal.is_nan() || diagonal <= 0.0 {
            return Err(Error::Fit {
                detector: "background-logistic",
                message: "the Newton system is not positive definite".into(),
            });
        }
        let root = diagonal.sqrt();
        a[[j, j]] = root;
        for i in (j + 1)..n {
            let mut v = a[[i, j]];
            for k in 0..j {
                v -= a[[i, k]] * a[[j, k]];
            }
            a[[i, j]] = v / root;
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= a[[i, k]] * y[k];
        }
        y[i] /= a[[i, i]];
    }
    for i in (0..n).rev() {
        for k in (i + 1)..n {
            y[i] -= a[[k, i]] * y[k];
        }
        y[i] /= a[[i, i]];
    }
    Ok(y)
}

/// Per-feature deviation features `(z_j, |z_j|)` of the robustly scaled vector `z`.
fn deviation_features(scaler: &RobustScaler, x: ArrayView2<'_, f64>) -> Array2<f64> {
    let z = scaler.transform_rows(x);
    let w = z.ncols();
    Array2::from_shape_fn((z.nrows(), 2 * w), |(i, j)| {
        if j < w {
            z[[i, j]]
        } else {
            z[[i, j - w]].abs()
        }
    })
}

/// Logistic regression, genuine against background, on per-feature deviations from the user.
///
/// Each vector `x` maps to `z = (x - median) / a` on the linearly independent features, with the
/// median and mean absolute deviation `a` of the user's training vectors (as in [`RobustManhattan`](super::RobustManhattan)), and
/// then to the features `(z_j, |z_j|)`. Positive examples are the training vectors, each mapped
/// with a scaler fitted on the other cross-validation folds so that their deviations are as
/// large as those of unseen genuine attempts; negative examples are background rows mapped with
/// the scaler of all training vectors. The score is minus the log-odds of genuine. With the
/// weights of `|z_j|` alone and no intercept this is the scaled Manhattan distance; fitting them
/// against other people learns which deviations separate this user from others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviationLogistic {
    scaler: RobustScaler,
    model: Logistic,
}

impl DeviationLogistic {
    fn fit(
        train: ArrayView2<'_, f64>,
        background: &[ArrayView2<'_, f64>],
        params: &BackgroundParams,
    ) -> Result<Self> {
        let n = train.nrows();
        let folds = params.cv_folds.min(n);
        let scaler = RobustScaler::fit(train)?;
        let mut positive = Array2::zeros((0, 2 * scaler.width()));
        for f in 0..folds {
            let range = fold_range(n, folds, f);
            let fold_scaler = RobustScaler::fit(rows_outside(train, &range).view())?;
            if fold_scaler.width() != scaler.width() {
                // A fold in which a column became constant or dependent cannot use the same
                // feature map; fall back to the full-data scaler for its rows.
                let held = deviation_features(&scaler, rows_in(train, &range));
                positive.append(Axis(0), held.view()).expect("same width");
            } else {
                let held = deviation_features(&fold_scaler, rows_in(train, &range));
                positive.append(Axis(0), held.view()).expect("same width");
            }
        }
        let sampled = sample_background(background, params.rows_per_subject);
        let negative = deviation_features(&scaler, sampled.view());
        let model = Logistic::fit(positive.view(), negative.view(), params.l2)?;
        Ok(DeviationLogistic { scaler, model })
    }
}

impl VectorDetector for DeviationLogistic {
    fn dimension(&self) -> usize {
        self.scaler.dimension()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let w = self.scaler.width();
        let mut features = vec![0.0; 2 * w];
        let (signed, absolute) = features.split_at_mut(w);
        self.scaler.transform_into(x, signed);
        for (a, s) in absolute.iter_mut().zip(signed.iter()) {
            *a = s.abs();
        }
        -self.model.log_odds(&features)
    }
}

/// Log ratio of k-nearest-neighbour distances, `ln d_k(x, user) - ln d_k(x, background)`.
///
/// Distances are Manhattan distances in the space of [`WhitenedManhattanKnn`]: the user's
/// robustly scaled independent features whitened with the Ledoit-Wolf covariance of the user's
/// training vectors, and `d_k` is the mean distance to the `knn_k` nearest vectors. Background
/// vectors are the evenly spaced sample of `rows_per_subject` rows per background subject. With
/// the k-nearest-neighbour density estimate `p(x) ~ k / (N d_k^D)` in `D` dimensions, the score
/// is a monotone function of the ratio of the background density to the user density. That
/// ratio is the Neyman-Pearson statistic against impostors drawn from the population that the
/// background samples. GMM-UBM verification uses the same ratio with mixture models in place of
/// neighbour distances.
///
/// [`WhitenedManhattanKnn`]: super::WhitenedManhattanKnn
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnRatio {
    scaler: RobustScaler,
    /// Symmetric `C^-1/2` of the user's shrunk covariance.
    whitening: Array2<f64>,
    genuine: Array2<f64>,
    background: Array2<f64>,
    k: usize,
}

impl KnnRatio {
    fn fit(
        train: ArrayView2<'_, f64>,
        background: &[ArrayView2<'_, f64>],
        params: &BackgroundParams,
    ) -> Result<Self> {
        let scaler = RobustScaler::fit(train)?;
        let scaled = scaler.transform_rows(train);
        let whitening = inverse_sqrt(&ledoit_wolf(scaled.view()))?;
        let genuine = scaled.dot(&whitening);
        let sampled = sample_background(background, params.rows_per_subject);
        let background = scaler.transform_rows(sampled.view()).dot(&whitening);
        Ok(KnnRatio {
            scaler,
            whitening,
            genuine,
            background,
            k: params.one_class.knn_k,
        })
    }

    fn whiten(&self, x: &[f64]) -> Vec<f64> {
        let mut scaled = vec![0.0; self.scaler.width()];
        self.scaler.transform_into(x, &mut scaled);
        self.whitening
            .columns()
            .into_iter()
            .map(|column| column.iter().zip(&scaled).map(|(w, s)| w * s).sum())
            .collect()
    }
}

#[cfg(test)]
impl KnnRatio {
    /// Reference scorer for tests: sorts every distance to both sets.
    pub(crate) fn naive_score(&self, x: &[f64]) -> f64 {
        let z = ndarray::Array1::from(self.whiten(x));
        let mean_nearest = |points: &Array2<f64>| {
            let mut d: Vec<f64> = points
                .rows()
                .into_iter()
                .map(|p| (&p - &z).mapv(f64::abs).sum())
                .collect();
            d.sort_by(f64::total_cmp);
            let k = self.k.min(d.len());
            d[..k].iter().sum::<f64>() / k as f64
        };
        mean_nearest(&self.genuine).ln() - mean_nearest(&self.background).ln()
    }
}

/// Candidate neighbour counts for `background-knn-ratio-cv`.
const KNN_CANDIDATES: [usize; 5] = [1, 2, 4, 8, 16];

/// Picks the neighbour count of [`KnnRatio`] with the lowest cross-validated EER.
///
/// The folds are those of [`StackedFusion`]: contiguous blocks of training rows, and background
/// subjects grouped by index modulo the fold count. Each candidate is fitted without the held-out
/// block and group, and scores the held-out genuine rows against the held-out group's sampled
/// rows. The scores of all folds are pooled into one EER per candidate, and ties go to the
/// smaller count. Only training and background rows are used.
fn choose_knn_k(
    train: ArrayView2<'_, f64>,
    background: &[ArrayView2<'_, f64>],
    params: &BackgroundParams,
) -> Result<usize> {
    let n = train.nrows();
    let folds = params.cv_folds.min(n).min(background.len());
    let mut best = (f64::INFINITY, KNN_CANDIDATES[0]);
    for k in KNN_CANDIDATES {
        let candidate = BackgroundParams {
            one_class: OneClassParams {
                knn_k: k,
                ..params.one_class.clone()
            },
            ..params.clone()
        };
        let mut genuine = Vec::new();
        let mut impostor = Vec::new();
        for f in 0..folds {
            let range = fold_range(n, folds, f);
            let fit_background: Vec<ArrayView2<'_, f64>> = background
                .iter()
                .enumerate()
                .filter(|(b, _)| b % folds != f)
                .map(|(_, v)| *v)
                .collect();
            let held_background: Vec<ArrayView2<'_, f64>> = background
                .iter()
                .enumerate()
                .filter(|(b, _)| b % folds == f)
                .map(|(_, v)| *v)
                .collect();
            let model = KnnRatio::fit(
                rows_outside(train, &range).view(),
                &fit_background,
                &candidate,
            )?;
            genuine.extend(score_rows(&model, rows_in(train, &range))?);
            let held = sample_background(&held_background, params.rows_per_subject);
            impostor.extend(score_rows(&model, held.view())?);
        }
        let eer = crate::evaluation::metrics::error_rates(&genuine, &impostor)?.eer;
        if eer < best.0 {
            best = (eer, k);
        }
    }
    Ok(best.1)
}

/// Mean Manhattan distance from `z` to its `k` nearest rows of `points`.
fn knn_distance(points: &Array2<f64>, z: &[f64], k: usize) -> f64 {
    let distances = points
        .rows()
        .into_iter()
        .map(|p| p.iter().zip(z).map(|(a, b)| (a - b).abs()).sum());
    mean_of_smallest(distances, k.min(points.nrows()).max(1))
}

impl VectorDetector for KnnRatio {
    fn dimension(&self) -> usize {
        self.scaler.dimension()
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let z = self.whiten(x);
        // A zero distance (an exact copy of a stored vector) is floored so the log stays finite.
        let floor = 1e-12;
        let genuine = knn_distance(&self.genuine, &z, self.k).max(floor);
        let background = knn_distance(&self.background, &z, self.k).max(floor);
        genuine.ln() - background.ln()
    }
}

/// One component of [`StackedFusion`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Component {
    OneClass(OneClassModel),
    Logistic(DeviationLogistic),
}

impl Component {
    fn fit(
        index: usize,
        train: ArrayView2<'_, f64>,
        background: &[ArrayView2<'_, f64>],
        params: &BackgroundParams,
    ) -> Result<Self> {
        match BackgroundKind::FUSION_ONE_CLASS.get(index) {
            Some(&kind) => Ok(Component::OneClass(
                OneClassParams {
                    kind,
                    ..params.one_class.clone()
                }
                .fit(train)?,
            )),
            None => Ok(Component::Logistic(DeviationLogistic::fit(
                train, background, params,
            )?)),
        }
    }

    fn detector(&self) -> &dyn VectorDetector {
        match self {
            Component::OneClass(m) => m,
            Component::Logistic(m) => m,
        }
    }
}

/// Number of components of [`StackedFusion`]: the one-class fusion components and
/// `background-logistic`.
const STACKED_COMPONENTS: usize = BackgroundKind::FUSION_ONE_CLASS.len() + 1;

/// Stacked generalisation (Wolpert 1992) of the one-class components of `fusion-znorm` and of [`DeviationLogistic`].
///
/// The training rows are cut into contiguous folds and the background subjects into as many
/// groups (subject `b` in group `b mod folds`). For each fold, every component is fitted on the
/// other folds and the other groups and scores the held-out genuine rows and the held-out
/// background subjects' sampled rows. A logistic regression on these cross-validated scores,
/// genuine against background, gives the fusion weights. The components are then refitted on
/// all training rows and all background subjects. The score is minus the fused log-odds of
/// genuine. Test vectors enter only through scoring, never through fitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackedFusion {
    components: Vec<Component>,
    combiner: Logistic,
}

impl StackedFusion {
    fn fit(
        train: ArrayView2<'_, f64>,
        background: &[ArrayView2<'_, f64>],
        params: &BackgroundParams,
    ) -> Result<Self> {
        let n = train.nrows();
        let folds = params.cv_folds.min(n).min(background.len());
        let mut positive = Array2::zeros((0, STACKED_COMPONENTS));
        let mut negative = Array2::zeros((0, STACKED_COMPONENTS));
        for f in 0..folds {
            let range = fold_range(n, folds, f);
            let fit_rows = rows_outside(train, &range);
            let (held_background, fit_background): (Vec<_>, Vec<_>) = background
                .iter()
                .enumerate()
                .partition(|(b, _)| b % folds == f);
            let fit_background: Vec<ArrayView2<'_, f64>> =
                fit_background.into_iter().map(|(_, v)| *v).collect();
            let held_background: Vec<ArrayView2<'_, f64>> =
                held_background.into_iter().map(|(_, v)| *v).collect();
            let held_genuine = rows_in(train, &range);
            let held_impostor = sample_background(&held_background, params.rows_per_subject);
            let mut genuine_scores = Array2::zeros((held_genuine.nrows(), STACKED_COMPONENTS));
            let mut impostor_scores = Array2::zeros((held_impostor.nrows(), STACKED_COMPONENTS));
            for c in 0..STACKED_COMPONENTS {
                let component = Component::fit(c, fit_rows.view(), &fit_background, params)?;
                let g = score_rows(component.detector(), held_genuine)?;
                let i = score_rows(component.detector(), held_impostor.view())?;
                genuine_scores
                    .column_mut(c)
                    .assign(&ndarray::Array1::from(g));
                impostor_scores
                    .column_mut(c)
                    .assign(&ndarray::Array1::from(i));
            }
            positive
                .append(Axis(0), genuine_scores.view())
                .expect("same width");
            negative
                .append(Axis(0), impostor_scores.view())
                .expect("same width");
        }
        let combiner = Logistic::fit(positive.view(), negative.view(), params.l2)?;
        let components = (0..STACKED_COMPONENTS)
            .map(|c| Component::fit(c, train, background, params))
            .collect::<Result<Vec<_>>>()?;
        Ok(StackedFusion {
            components,
            combiner,
        })
    }
}

impl VectorDetector for StackedFusion {
    fn dimension(&self) -> usize {
        self.components
            .first()
            .map_or(0, |c| c.detector().dimension())
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let scores: Vec<f64> = self
            .components
            .iter()
            .map(|c| c.detector().score_unchecked(x))
            .collect();
        -self.combiner.log_odds(&scores)
    }
}

/// A fitted [`BackgroundKind`] detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BackgroundModel {
    /// `background-logistic`.
    Logistic(DeviationLogistic),
    /// `background-fusion`.
    Fusion(StackedFusion),
    /// `background-knn-ratio`.
    KnnRatio(KnnRatio),
}

impl BackgroundModel {
    fn inner(&self) -> &dyn VectorDetector {
        match self {
            BackgroundModel::Logistic(m) => m,
            BackgroundModel::Fusion(m) => m,
            BackgroundModel::KnnRatio(m) => m,
        }
    }

    /// Scores every row of `samples`.
    ///
    /// # Errors
    ///
    /// As [`Detector::score`](super::Detector::score), for the first row that fails.
    pub fn score_rows(&self, samples: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        score_rows(self.inner(), samples)
    }
}

impl VectorDetector for BackgroundModel {
    fn dimension(&self) -> usize {
        self.inner().dimension()
    }

    fn score_unchecked(&self, sample: &[f64]) -> f64 {
        self.inner().score_unchecked(sample)
    }
}

//! The background-assisted fixed-text replay and the enrolment-size curve.
//!
//! Background-assisted detectors may learn from people other than the genuine user. To keep
//! their impostor tests unseen, for each genuine subject the other subjects, in dataset order,
//! are split by the parity of their position in that list. Those at even positions (0, 2, ...)
//! are the background and give rows to fitting ([`BackgroundRows`] selects which). Those at odd
//! positions give their impostor rows (as in [`Protocol`]) to testing and nothing to fitting. Training and genuine
//! rows are those of [`split`]. Results are therefore not comparable one to one with the
//! one-class replay, which tests against every other subject.

use ndarray::{ArrayView2, Axis};
use serde::Serialize;

use super::fixed_text::{
    self, DetectorResult, Protocol, ReplayDetector, SubjectResult, SubjectSplit, run_jobs, split,
};
use crate::datasets::FixedTextDataset;
use crate::detectors::{BackgroundParams, OneClassParams};
use crate::error::{Error, Result};

impl ReplayDetector for OneClassParams {
    fn name(&self) -> String {
        self.kind.name().to_string()
    }

    fn fit_score(
        &self,
        train: ArrayView2<'_, f64>,
        tests: ArrayView2<'_, f64>,
    ) -> Result<Vec<f64>> {
        self.fit(train)?.score_rows(tests)
    }
}

/// A fixed-text method that also learns from background subjects.
pub trait BackgroundReplayDetector: Sync {
    /// Name used in reports.
    fn name(&self) -> String;

    /// Fits on the subject's training rows and the background subjects' rows (one matrix per
    /// background subject), then scores the test rows.
    ///
    /// # Errors
    ///
    /// Any fitting or scoring error.
    fn fit_score(
        &self,
        train: ArrayView2<'_, f64>,
        background: &[ArrayView2<'_, f64>],
        tests: ArrayView2<'_, f64>,
    ) -> Result<Vec<f64>>;
}

impl BackgroundReplayDetector for BackgroundParams {
    fn name(&self) -> String {
        self.kind.name().to_string()
    }

    fn fit_score(
        &self,
        train: ArrayView2<'_, f64>,
        background: &[ArrayView2<'_, f64>],
        tests: ArrayView2<'_, f64>,
    ) -> Result<Vec<f64>> {
        // Fitting takes the training and background rows only, and the tests are scored after.
        self.fit(train, background)?.score_rows(tests)
    }
}

/// Rows of each background subject that the detectors may fit on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum BackgroundRows {
    /// The rows the protocol uses as that subject's impostor attempts (DSN-2009: reps 1-5 of
    /// session 1). The background then samples the same kind of attempt as the impostor tests
    /// (a first try at someone else's text), which is what a likelihood ratio against
    /// impostors needs; the people are still disjoint from the impostor testers.
    #[default]
    Impostor,
    /// Every row of the subject, any session.
    All,
}

/// A one-class method run under the background protocol (same impostor half) but ignoring the
/// background, as a reference for the background-assisted detectors; named `NAME [one-class]`.
#[derive(Debug)]
pub struct IgnoreBackground<'a, D: ?Sized>(pub &'a D);

impl<D: ReplayDetector + ?Sized> BackgroundReplayDetector for IgnoreBackground<'_, D> {
    fn name(&self) -> String {
        format!("{} [one-class]", self.0.name())
    }

    fn fit_score(
        &self,
        train: ArrayView2<'_, f64>,
        _background: &[ArrayView2<'_, f64>],
        tests: ArrayView2<'_, f64>,
    ) -> Result<Vec<f64>> {
        self.0.fit_score(train, tests)
    }
}

/// Splits the subjects other than `genuine` into background and impostor testers.
///
/// # Panics
///
/// Never; `subjects` may be any count, including 1 (both lists are then empty).
pub fn background_split(subjects: usize, genuine: usize) -> (Vec<usize>, Vec<usize>) {
    let others: Vec<usize> = (0..subjects).filter(|&s| s != genuine).collect();
    let background = others.iter().step_by(2).copied().collect();
    let impostors = others.iter().skip(1).step_by(2).copied().collect();
    (background, impostors)
}

/// Describes the background protocol for reports.
pub fn describe_background(protocol: Protocol, rows: BackgroundRows) -> String {
    let offered = match rows {
        BackgroundRows::Impostor => "their impostor-test rows",
        BackgroundRows::All => "all their rows",
    };
    format!(
        "{}; background-assisted: of the other subjects in dataset order, those at even \
         positions are background ({offered} may be used for fitting) and only those at odd \
         positions give impostor tests",
        protocol.describe()
    )
}

/// Replays every background-assisted detector over every subject.
///
/// `rows` picks the background rows offered to fitting. `train_rows` keeps only the first rows of each training split (the enrolment-size curve);
/// `None` keeps all. `progress` is called once per finished (detector, subject) pair.
///
/// # Errors
///
/// [`Error::DatasetShape`] when the split fails or there are fewer than 3 subjects; the first
/// fit or scoring error, naming the detector and subject.
pub fn replay_background(
    dataset: &FixedTextDataset,
    protocol: Protocol,
    detectors: &[&dyn BackgroundReplayDetector],
    rows: BackgroundRows,
    train_rows: Option<usize>,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<DetectorResult>> {
    if dataset.subjects.len() < 3 {
        return Err(Error::DatasetShape {
            dataset: dataset.name.clone(),
            problem: format!(
                "{} subjects; the background protocol needs at least 3",
                dataset.subjects.len()
            ),
        });
    }
    let splits = split(dataset, protocol)?;
    let names: Vec<String> = detectors.iter().map(|d| d.name()).collect();
    run_jobs(&names, dataset.subjects.len(), progress, |d, s| {
        score_subject(dataset, &splits, s, detectors[d], rows, train_rows)
    })
}

fn score_subject(
    dataset: &FixedTextDataset,
    splits: &[SubjectSplit],
    subject_index: usize,
    detector: &dyn BackgroundReplayDetector,
    rows: BackgroundRows,
    train_rows: Option<usize>,
) -> Result<SubjectResult> {
    let subject = &dataset.subjects[subject_index];
    let own = &splits[subject_index];
    let train_indices = &own.train[..train_rows.unwrap_or(usize::MAX).min(own.train.len())];
    let train = subject.vectors.select(Axis(0), train_indices);
    let (background_ids, impostor_ids) = background_split(dataset.subjects.len(), subject_index);
    let background_rows: Vec<ndarray::Array2<f64>> = background_ids
        .iter()
        .map(|&b| {
            let vectors = &dataset.subjects[b].vectors;
            match rows {
                BackgroundRows::Impostor => vectors.select(Axis(0), &splits[b].impostor),
                BackgroundRows::All => vectors.clone(),
            }
        })
        .collect();
    let background: Vec<ArrayView2<'_, f64>> = background_rows.iter().map(|b| b.view()).collect();
    let mut tests = subject.vectors.select(Axis(0), &own.genuine);
    for &i in &impostor_ids {
        let rows = dataset.subjects[i]
            .vectors
            .select(Axis(0), &splits[i].impostor);
        // OK because every subject of a dataset has the same number of features.
        tests.append(Axis(0), rows.view()).expect("same width");
    }
    let scores = detector.fit_score(train.view(), &background, tests.view());
    fixed_text::subject_result(&detector.name(), &subject.id, own.genuine.len(), scores)
}

/// A one-class method restricted to the first `rows` training vectors.
#[derive(Debug)]
pub struct FirstRows<'a, D: ?Sized> {
    /// Training vectors kept, from the start of each training split.
    pub rows: usize,
    /// The wrapped method.
    pub inner: &'a D,
}

impl<D: ReplayDetector + ?Sized> ReplayDetector for FirstRows<'_, D> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn fit_score(
        &self,
        train: ArrayView2<'_, f64>,
        tests: ArrayView2<'_, f64>,
    ) -> Result<Vec<f64>> {
        let keep = self.rows.min(train.nrows());
        self.inner
            .fit_score(train.slice_axis(Axis(0), (0..keep).into()), tests)
    }
}

/// One point of the enrolment-size curve.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Detector name.
    pub detector: String,
    /// `one-class` or `background-assisted`.
    pub family: &'static str,
    /// Training vectors per subject (the first ones of the training split).
    pub train_rows: usize,
    /// Mean of the per-subject EERs.
    pub eer_mean: f64,
    /// Sample standard deviation of the per-subject EERs.
    pub eer_sd: f64,
}

/// EER against the number of training vectors, for each size in `sizes` that the training
/// split can supply, for one-class and background-assisted detectors.
///
/// # Errors
///
/// As [`fixed_text::replay`] and [`replay_background`].
pub fn enrolment_curve(
    dataset: &FixedTextDataset,
    protocol: Protocol,
    sizes: &[usize],
    one_class: &[&dyn ReplayDetector],
    background: &[&dyn BackgroundReplayDetector],
    rows: BackgroundRows,
) -> Result<Vec<CurvePoint>> {
    let available = split(dataset, protocol)?
        .iter()
        .map(|s| s.train.len())
        .min()
        .unwrap_or(0);
    let mut points = Vec::new();
    for &train in sizes.iter().filter(|&&r| r <= available) {
        let wrapped: Vec<FirstRows<'_, dyn ReplayDetector>> = one_class
            .iter()
            .map(|&inner| FirstRows { rows: train, inner })
            .collect();
        let views: Vec<&dyn ReplayDetector> = wrapped.iter().map(|w| w as _).collect();
        for r in fixed_text::replay(dataset, protocol, &views, &|| {})? {
            points.push(curve_point(&r, "one-class", train));
        }
        for r in replay_background(dataset, protocol, background, rows, Some(train), &|| {})? {
            points.push(curve_point(&r, "background-assisted", train));
        }
    }
    Ok(points)
}

fn curve_point(result: &DetectorResult, family: &'static str, rows: usize) -> CurvePoint {
    CurvePoint {
        detector: result.name.clone(),
        family,
        train_rows: rows,
        eer_mean: result.eer_mean,
        eer_sd: result.eer_sd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::FixedTextSubject;
    use crate::detectors::{BackgroundKind, OneClassKind};
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn synthetic(subjects: usize, rows: usize) -> FixedTextDataset {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let subjects = (0..subjects)
            .map(|s| FixedTextSubject {
                id: format!("s{s}"),
                vectors: Array2::from_shape_fn((rows, 4), |(_, j)| {
                    0.1 + 0.05 * s as f64 + 0.01 * j as f64 + 0.01 * rng.r#gen::<f64>()
                }),
                sessions: Some((0..rows).map(|i| (i * 8 / rows) as u32 + 1).collect()),
            })
            .collect();
        FixedTextDataset {
            name: "synthetic".into(),
            feature_names: (0..4).map(|i| format!("H.{i}")).collect(),
            subjects,
            notes: vec![],
        }
    }

    #[test]
    fn background_split_is_disjoint() {
        for subjects in 1..9 {
            for genuine in 0..subjects {
                let (background, impostors) = background_split(subjects, genuine);
                assert!(!background.contains(&genuine));
                assert!(!impostors.contains(&genuine));
                assert!(background.iter().all(|b| !impostors.contains(b)));
                assert_eq!(background.len() + impostors.len(), subjects - 1);
            }
        }
    }

    #[test]
    fn separated_subjects_give_zero_eer() {
        let data = synthetic(6, 80);
        let params = BackgroundParams::new(BackgroundKind::BackgroundLogistic);
        let results = replay_background(
            &data,
            Protocol::Dsn2009,
            &[&params],
            BackgroundRows::All,
            None,
            &|| {},
        )
        .unwrap();
        assert_eq!(results[0].eer_mean, 0.0);
        // 5 other subjects: 2 at odd positions give 5 impostor rows each.
        assert_eq!(results[0].subjects[0].impostor_scores.len(), 10);
    }

    #[test]
    fn too_few_subjects_is_an_error() {
        let data = synthetic(2, 80);
        let params = BackgroundParams::new(BackgroundKind::BackgroundFusion);
        assert!(matches!(
            replay_background(
                &data,
                Protocol::Dsn2009,
                &[&params],
                BackgroundRows::All,
                None,
                &|| {}
            ),
            Err(Error::DatasetShape { .. })
        ));
    }

    #[test]
    fn curve_skips_sizes_beyond_training() {
        let data = synthetic(4, 80);
        let one_class = OneClassParams::new(OneClassKind::RobustManhattan);
        let background = BackgroundParams::new(BackgroundKind::BackgroundLogistic);
        let points = enrolment_curve(
            &data,
            Protocol::Dsn2009,
            &[5, 40, 200],
            &[&one_class],
            &[&background],
            BackgroundRows::Impostor,
        )
        .unwrap();
        let sizes: Vec<usize> = points.iter().map(|p| p.train_rows).collect();
        assert_eq!(sizes, vec![5, 5, 40, 40]);
    }
}

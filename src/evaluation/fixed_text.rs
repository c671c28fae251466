//! The fixed-text replay: fit each detector per subject and score genuine and impostor
//! attempts, following Killourhy & Maxion (DSN 2009).
//!
//! For every subject and detector:
//!
//! - **train** on the subject's enrolment rows (DSN-2009: sessions 1-4, 200 vectors);
//! - **genuine** tests are the subject's remaining rows (sessions 5-8, 200 vectors);
//! - **impostor** tests are the first 5 repetitions of every other subject (session 1, reps
//!   1-5: 250 vectors for 51 subjects);
//! - the subject's EER and zero-miss false-alarm rate come from [`metrics::error_rates`].
//!
//! The report gives the mean and sample standard deviation of each rate over subjects.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::Serialize;

use super::metrics::{self, ErrorRates};
use crate::datasets::FixedTextDataset;
use crate::detectors::{DetectorParams, FittedDetector};
use crate::error::{Error, Result};

/// Rule that splits each subject's rows into training and genuine tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Protocol {
    /// DSN-2009: train on sessions 1-4, test on sessions 5-8, impostors are session 1 reps 1-5
    /// of every other subject. Needs session indices and 8 x 50 rows per subject.
    Dsn2009,
    /// For datasets without sessions: the first half of each subject's rows (rounded down)
    /// train, the rest are genuine tests, and the first 5 rows of every other subject are
    /// impostor tests.
    FirstHalf,
}

/// Impostor attempts taken from each other subject.
pub const IMPOSTOR_REPS: usize = 5;

impl Protocol {
    /// Returns a one-line description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Protocol::Dsn2009 => {
                "DSN-2009: per subject, train on sessions 1-4 (200 vectors), genuine tests are \
                 sessions 5-8 (200), impostor tests are reps 1-5 of session 1 of every other \
                 subject; EER interpolated between the ROC points bracketing miss = false alarm"
            }
            Protocol::FirstHalf => {
                "first half: per subject, train on the first half of its rows, genuine tests are \
                 the second half, impostor tests are the first 5 rows of every other subject; \
                 EER interpolated between the ROC points bracketing miss = false alarm"
            }
        }
    }
}

/// Row indices of one subject's training and genuine-test vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectSplit {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows scored as genuine attempts.
    pub genuine: Vec<usize>,
    /// Rows this subject contributes as impostor attempts against every other subject.
    pub impostor: Vec<usize>,
}

/// Splits every subject's rows according to `protocol`.
///
/// # Errors
///
/// [`Error::DatasetShape`] when a subject lacks what the protocol needs (sessions 1-8 for
/// DSN-2009, at least 2 x 5 rows for the first-half split).
pub fn split(dataset: &FixedTextDataset, protocol: Protocol) -> Result<Vec<SubjectSplit>> {
    let shape_error = |problem: String| Error::DatasetShape {
        dataset: dataset.name.clone(),
        problem,
    };
    dataset
        .subjects
        .iter()
        .map(|subject| {
            let n = subject.vectors.nrows();
            match protocol {
                Protocol::Dsn2009 => {
                    let Some(sessions) = &subject.sessions else {
                        return Err(shape_error(format!(
                            "subject {} has no session indices; the DSN-2009 protocol needs them",
                            subject.id
                        )));
                    };
                    let train: Vec<usize> = (0..n).filter(|&i| sessions[i] <= 4).collect();
                    let genuine: Vec<usize> = (0..n).filter(|&i| sessions[i] >= 5).collect();
                    let impostor: Vec<usize> = (0..n)
                        .filter(|&i| sessions[i] == 1)
                        .take(IMPOSTOR_REPS)
                        .collect();
                    if train.len() < 2 || genuine.is_empty() || impostor.len() < IMPOSTOR_REPS {
                        return Err(shape_error(format!(
                            "subject {} has {} training, {} genuine and {} session-1 rows",
                            subject.id,
                            train.len(),
                            genuine.len(),
                            impostor.len()
                        )));
                    }
                    Ok(SubjectSplit {
                        train,
                        genuine,
                        impostor,
                    })
                }
                Protocol::FirstHalf => {
                    if n < 2 * IMPOSTOR_REPS {
                        return Err(shape_error(format!(
                            "subject {} has {n} rows; the first-half split needs at least {}",
                            subject.id,
                            2 * IMPOSTOR_REPS
                        )));
                    }
                    let half = n / 2;
                    Ok(SubjectSplit {
                        train: (0..half).collect(),
                        genuine: (half..n).collect(),
                        impostor: (0..IMPOSTOR_REPS).collect(),
                    })
                }
            }
        })
        .collect()
}

/// One subject's result for one detector.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectResult {
    /// Subject id.
    pub subject: String,
    /// Error rates from this subject's scores.
    #[serde(flatten)]
    pub rates: ErrorRates,
    /// Anomaly scores of the genuine tests.
    #[serde(skip)]
    pub genuine_scores: Vec<f64>,
    /// Anomaly scores of the impostor tests.
    #[serde(skip)]
    pub impostor_scores: Vec<f64>,
}

/// One detector's result over all subjects.
#[derive(Debug, Clone, Serialize)]
pub struct DetectorResult {
    /// Detector name.
    pub name: String,
    /// Mean of the per-subject EERs.
    pub eer_mean: f64,
    /// Sample standard deviation of the per-subject EERs.
    pub eer_sd: f64,
    /// Mean zero-miss false-alarm rate.
    pub zero_miss_far_mean: f64,
    /// Sample standard deviation of the zero-miss false-alarm rate.
    pub zero_miss_far_sd: f64,
    /// Mean of the per-subject lower EER bounds.
    pub eer_low_mean: f64,
    /// Mean of the per-subject upper EER bounds.
    pub eer_high_mean: f64,
    /// Mean per-subject ROC AUC.
    pub auc_mean: f64,
    /// Mean per-subject false-alarm rate at a 1% miss rate.
    pub fnmr_at_fmr_1pct_mean: f64,
    /// Mean per-subject false-alarm rate at a 0.1% miss rate.
    pub fnmr_at_fmr_01pct_mean: f64,
    /// CPU seconds spent fitting and scoring this detector, summed over subjects.
    pub cpu_seconds: f64,
    /// Per-subject results.
    pub subjects: Vec<SubjectResult>,
}

/// Something the replay can fit per subject: the fourteen [`DetectorParams`] kinds, or any
/// other fixed-text method.
pub trait ReplayDetector: Sync {
    /// Name used in reports.
    fn name(&self) -> String;

    /// Fits on the subject's training rows and scores the test rows.
    ///
    /// # Errors
    ///
    /// Any fitting or scoring error.
    fn fit_score(&self, train: ArrayView2<'_, f64>, tests: ArrayView2<'_, f64>)
    -> Result<Vec<f64>>;
}

impl ReplayDetector for DetectorParams {
    fn name(&self) -> String {
        self.kind.name().to_string()
    }

    fn fit_score(
        &self,
        train: ArrayView2<'_, f64>,
        tests: ArrayView2<'_, f64>,
    ) -> Result<Vec<f64>> {
        let model: FittedDetector = self.fit(train)?;
        model.score_rows(tests)
    }
}

/// Replays every detector over every subject, in parallel over (detector, subject) pairs.
///
/// `progress` is called once per finished pair, from worker threads.
///
/// # Errors
///
/// The first split, fit or scoring error, naming the detector and subject.
pub fn replay(
    dataset: &FixedTextDataset,
    protocol: Protocol,
    detectors: &[&dyn ReplayDetector],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<DetectorResult>> {
    let splits = split(dataset, protocol)?;
    let impostor_pool = impostor_pool(dataset, &splits);
    // Every detector scores the same matrices, so they are built once per subject, not once per
    // (detector, subject) job.
    let cases: Vec<SubjectCase> = (0..dataset.subjects.len())
        .into_par_iter()
        .map(|s| subject_case(dataset, &splits[s], &impostor_pool, s))
        .collect();
    let names: Vec<String> = detectors.iter().map(|d| d.name()).collect();
    run_jobs(&names, dataset.subjects.len(), progress, |d, s| {
        let case = &cases[s];
        let detector = detectors[d];
        let scores = detector.fit_score(case.train.view(), case.tests.view());
        subject_result(
            &detector.name(),
            &dataset.subjects[s].id,
            case.genuine_count,
            scores,
        )
    })
}

/// Runs `score(detector, subject)` for every pair in parallel and summarises each detector.
///
/// `progress` is called once per finished pair. The CPU seconds of a detector are the sums of
/// its pairs' wall times.
pub(crate) fn run_jobs(
    names: &[String],
    subjects: usize,
    progress: &(dyn Fn() + Sync),
    score: impl Fn(usize, usize) -> Result<SubjectResult> + Sync,
) -> Result<Vec<DetectorResult>> {
    let jobs: Vec<(usize, usize)> = (0..names.len())
        .flat_map(|d| (0..subjects).map(move |s| (d, s)))
        .collect();
    let outcomes: Vec<Result<(SubjectResult, f64)>> = jobs
        .par_iter()
        .map(|&(d, s)| {
            let started = Instant::now();
            let result = score(d, s);
            progress();
            result.map(|r| (r, started.elapsed().as_secs_f64()))
        })
        .collect();

    let mut results: Vec<DetectorResult> = Vec::with_capacity(names.len());
    let mut outcomes = outcomes.into_iter();
    for name in names {
        let mut per_subject = Vec::with_capacity(subjects);
        let mut cpu_seconds = 0.0;
        for _ in 0..subjects {
            // OK because there is exactly one outcome per (detector, subject) job.
            let (subject, seconds) = outcomes.next().expect("one outcome per job")?;
            cpu_seconds += seconds;
            per_subject.push(subject);
        }
        results.push(summarise(name.clone(), per_subject, cpu_seconds));
    }
    Ok(results)
}

/// Collects every subject's impostor rows with the index of the subject they came from.
fn impostor_pool(dataset: &FixedTextDataset, splits: &[SubjectSplit]) -> (Array2<f64>, Vec<usize>) {
    let d = dataset.dimension();
    let mut rows = Vec::new();
    let mut owners = Vec::new();
    for (s, (subject, split)) in dataset.subjects.iter().zip(splits).enumerate() {
        for &i in &split.impostor {
            rows.extend(subject.vectors.row(i).iter());
            owners.push(s);
        }
    }
    let pool = Array2::from_shape_vec((owners.len(), d), rows)
        .expect("OK because each impostor row has d values");
    (pool, owners)
}

/// One subject's training rows and test rows, the genuine tests first.
struct SubjectCase {
    train: Array2<f64>,
    tests: Array2<f64>,
    genuine_count: usize,
}

fn subject_case(
    dataset: &FixedTextDataset,
    split: &SubjectSplit,
    (pool, owners): &(Array2<f64>, Vec<usize>),
    subject_index: usize,
) -> SubjectCase {
    let vectors = &dataset.subjects[subject_index].vectors;
    let d = vectors.ncols();
    let train = vectors.select(Axis(0), &split.train);
    let impostors = owners.iter().filter(|&&o| o != subject_index).count();
    let mut rows = Vec::with_capacity((split.genuine.len() + impostors) * d);
    for &i in &split.genuine {
        rows.extend(vectors.row(i).iter());
    }
    for (row, _) in pool
        .rows()
        .into_iter()
        .zip(owners)
        .filter(|&(_, &o)| o != subject_index)
    {
        rows.extend(row.iter());
    }
    let tests = Array2::from_shape_vec((split.genuine.len() + impostors, d), rows)
        .expect("OK because each test row has d values");
    SubjectCase {
        train,
        tests,
        genuine_count: split.genuine.len(),
    }
}

/// Splits one subject's test scores into genuine and impostor and computes its error rates;
/// the first `genuine_count` scores are the genuine tests.
pub(crate) fn subject_result(
    detector: &str,
    subject: &str,
    genuine_count: usize,
    scores: Result<Vec<f64>>,
) -> Result<SubjectResult> {
    let scores =
        scores.map_err(|e| Error::training(format!("{detector} on subject {subject}: {e}")))?;
    let mut genuine_scores = scores;
    let impostor_scores = genuine_scores.split_off(genuine_count.min(genuine_scores.len()));
    let rates = metrics::error_rates(&genuine_scores, &impostor_scores)?;
    Ok(SubjectResult {
        subject: subject.to_string(),
        rates,
        genuine_scores,
        impostor_scores,
    })
}

pub(crate) fn summarise(
    name: String,
    subjects: Vec<SubjectResult>,
    cpu_seconds: f64,
) -> DetectorResult {
    let collect =
        |f: fn(&ErrorRates) -> f64| subjects.iter().map(|s| f(&s.rates)).collect::<Vec<_>>();
    let (eer_mean, eer_sd) = metrics::mean_sd(&collect(|r| r.eer));
    let (zero_miss_far_mean, zero_miss_far_sd) = metrics::mean_sd(&collect(|r| r.zero_miss_far));
    DetectorResult {
        name,
        eer_mean,
        eer_sd,
        zero_miss_far_mean,
        zero_miss_far_sd,
        eer_low_mean: metrics::mean_sd(&collect(|r| r.eer_low)).0,
        eer_high_mean: metrics::mean_sd(&collect(|r| r.eer_high)).0,
        auc_mean: metrics::mean_sd(&collect(|r| r.auc)).0,
        fnmr_at_fmr_1pct_mean: metrics::mean_sd(&collect(|r| r.fnmr_at_fmr_1pct)).0,
        fnmr_at_fmr_01pct_mean: metrics::mean_sd(&collect(|r| r.fnmr_at_fmr_01pct)).0,
        cpu_seconds,
        subjects,
    }
}

/// Mean ROC over subjects by vertical averaging: the mean miss rate at each false-alarm rate
/// of `grid` (each subject's curve is a step function of the false-alarm rate).
pub fn mean_roc(result: &DetectorResult, grid: &[f64]) -> Result<Vec<(f64, f64)>> {
    let mut totals = vec![0.0; grid.len()];
    for subject in &result.subjects {
        let points = metrics::roc(&subject.genuine_scores, &subject.impostor_scores)?;
        for (total, &fa) in totals.iter_mut().zip(grid) {
            // The lowest miss rate reachable without exceeding this false-alarm rate.
            let miss = points
                .iter()
                .filter(|p| p.false_alarm_rate <= fa + 1e-12)
                .map(|p| p.miss_rate)
                .fold(1.0, f64::min);
            *total += miss;
        }
    }
    let n = result.subjects.len().max(1) as f64;
    Ok(grid
        .iter()
        .zip(totals)
        .map(|(&fa, t)| (fa, t / n))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::FixedTextSubject;
    use crate::detectors::DetectorKind;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Subjects whose vectors are centred on well-separated means.
    fn synthetic(subjects: usize, rows: usize, spread: f64) -> FixedTextDataset {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let subjects = (0..subjects)
            .map(|s| {
                let centre = 0.1 + 0.05 * s as f64;
                let vectors =
                    Array2::from_shape_fn((rows, 4), |_| centre + spread * rng.r#gen::<f64>());
                let sessions = Some((0..rows).map(|i| (i * 8 / rows) as u32 + 1).collect());
                FixedTextSubject {
                    id: format!("s{s}"),
                    vectors,
                    sessions,
                }
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
    fn dsn_split_uses_sessions() {
        let data = synthetic(3, 400, 0.01);
        let splits = split(&data, Protocol::Dsn2009).unwrap();
        assert_eq!(splits[0].train, (0..200).collect::<Vec<_>>());
        assert_eq!(splits[0].genuine, (200..400).collect::<Vec<_>>());
        assert_eq!(splits[0].impostor, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn first_half_split_rounds_down() {
        let data = synthetic(2, 11, 0.01);
        let splits = split(&data, Protocol::FirstHalf).unwrap();
        assert_eq!(splits[0].train.len(), 5);
        assert_eq!(splits[0].genuine.len(), 6);
    }

    #[test]
    fn dsn_split_needs_sessions() {
        let mut data = synthetic(2, 400, 0.01);
        data.subjects[1].sessions = None;
        assert!(matches!(
            split(&data, Protocol::Dsn2009),
            Err(Error::DatasetShape { .. })
        ));
    }

    #[test]
    fn separated_subjects_give_zero_eer() {
        let data = synthetic(4, 80, 0.01);
        let params = DetectorParams::new(DetectorKind::Euclidean);
        let results = replay(&data, Protocol::Dsn2009, &[&params], &|| {}).unwrap();
        assert_eq!(results[0].eer_mean, 0.0);
        assert_eq!(results[0].subjects.len(), 4);
        // 3 other subjects x 5 impostor rows each.
        assert_eq!(results[0].subjects[0].impostor_scores.len(), 15);
        assert_eq!(results[0].subjects[0].genuine_scores.len(), 40);
    }

    #[test]
    fn identical_subjects_give_chance_eer() {
        let mut data = synthetic(6, 400, 0.05);
        let shared = data.subjects[0].vectors.clone();
        for s in &mut data.subjects {
            s.vectors = shared.clone();
        }
        let params = DetectorParams::new(DetectorKind::Manhattan);
        let results = replay(&data, Protocol::Dsn2009, &[&params], &|| {}).unwrap();
        // Impostor rows are the subject's own training rows, so they look more genuine than
        // the held-out genuine rows: the EER is at or above chance.
        assert!(results[0].eer_mean > 0.3, "{}", results[0].eer_mean);
    }
}

//! `kinetype replay aalto`: free-text replay of the Aalto 136M keystrokes subset.
//!
//! Protocol. Participants are split into two folds by position in id order (even, odd). For a
//! participant in one fold, the background population of the likelihood-ratio detector and the
//! fusion weights come only from the other fold. Impostors come only from the same fold. So no
//! person whose data shaped the model appears as an impostor or a genuine user. Each
//! participant enrols on their first G sentences. Genuine tests are their remaining sentences;
//! impostor tests are one attempt from every other participant of the fold, built from that
//! participant's sentences starting at sentence G. Test lengths: one sentence, and windows of
//! 100 and 200 keystrokes made by concatenating consecutive sentences from each starting
//! sentence (genuine windows overlap).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use kinetype::datasets::aalto::{self, AaltoDataset};
use kinetype::detectors::Detector;
use kinetype::evaluation::metrics::{error_rates, mean_sd};
use kinetype::freetext::{
    Background, ExtractConfig, FreeTextSample, Fusion, GpMeasure, GunettiPicardi, KeySecret,
    Keystroke, NgraphRatio, NgraphRobust, keystrokes,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::ReplayArgs;
use crate::data::ensure_dataset;

const DETECTORS: [&str; 4] = ["gp-r", "gp-a", "ngraph-robust", "ngraph-ratio"];
const FUSION: &str = "fusion";

/// A test length: a whole sentence, or a window of this many keystrokes.
#[derive(Debug, Clone, Copy)]
enum Length {
    Sentence,
    Keys(usize),
}

impl Length {
    const ALL: [Length; 3] = [Length::Sentence, Length::Keys(100), Length::Keys(200)];

    fn name(self) -> String {
        match self {
            Length::Sentence => "sentence".into(),
            Length::Keys(n) => format!("{n}-keys"),
        }
    }

    /// Builds the attempt that starts at sentence `start`, or `None` when too few keys follow.
    fn attempt(self, sentences: &[Vec<Keystroke>], start: usize) -> Option<Vec<Keystroke>> {
        match self {
            Length::Sentence => sentences.get(start).cloned(),
            Length::Keys(n) => {
                let mut keys = Vec::with_capacity(n);
                for s in sentences.get(start..)? {
                    keys.extend_from_slice(s);
                    if keys.len() >= n {
                        keys.truncate(n);
                        return Some(keys);
                    }
                }
                None
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct Row {
    detector: String,
    length: String,
    eer_mean: f64,
    eer_sd: f64,
    eer_pooled: f64,
    fnmr_at_fmr_1pct_pooled: f64,
    participants: usize,
    genuine_attempts: usize,
    impostor_attempts: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    dataset: &'static str,
    protocol: String,
    participants: usize,
    enrol_sentences: usize,
    skips: aalto::AaltoSkips,
    pairing: kinetype::freetext::Anomalies,
    fusion_weights: Vec<(String, Vec<f64>)>,
    run_seconds: f64,
    threads: usize,
    results: Vec<Row>,
}

/// Genuine and impostor scores of one detector for one participant.
type GenuineImpostor = (Vec<f64>, Vec<f64>);
/// Scores of one participant at one length, per detector (fusion last).
type Scores = Vec<GenuineImpostor>;

pub(crate) fn run(root: &Path, args: ReplayArgs) -> Result<()> {
    let started = Instant::now();
    let g = args.enrol_sentences;
    if g == 0 || g >= aalto::SENTENCES {
        bail!(
            "--enrol-sentences must be between 1 and {}, got {g}",
            aalto::SENTENCES - 1
        );
    }
    if !args.detectors.is_empty() {
        eprintln!("note: --detectors is ignored for aalto; every free-text detector runs");
    }
    let entry = ensure_dataset(root, aalto::NAME)?;
    let data = aalto::load(&entry.dir(root))?;
    let config = ExtractConfig::default();
    // A fixed secret keeps the figures reproducible: Gunetti-Picardi R breaks duration ties by
    // n-graph hash order, and random secrets moved its sentence EER by up to 0.002 (4 runs).
    let secret = KeySecret::from_bytes(*b"kinetype-replay!");
    let (people, pairing) = pair_all(&data, &config);
    let samples: Vec<Vec<FreeTextSample>> = people
        .iter()
        .map(|p| {
            p.iter()
                .map(|s| FreeTextSample::from_keystrokes(s, &secret, &config))
                .collect()
        })
        .collect();
    let folds: [Vec<usize>; 2] = [
        (0..people.len()).step_by(2).collect(),
        (1..people.len()).step_by(2).collect(),
    ];
    let backgrounds: Vec<Arc<Background>> = folds
        .iter()
        .map(|fold| {
            let pooled: Vec<FreeTextSample> = fold
                .iter()
                .flat_map(|&i| samples[i].iter().cloned())
                .collect();
            Ok(Arc::new(Background::fit(&pooled, &secret)?))
        })
        .collect::<kinetype::Result<_>>()?;

    // scores[length][fold][participant in fold]
    let mut scores: Vec<[Vec<Scores>; 2]> = Vec::new();
    for length in Length::ALL {
        let mut per_fold: [Vec<Scores>; 2] = Default::default();
        for (f, fold) in folds.iter().enumerate() {
            let background = &backgrounds[1 - f];
            let impostors: Vec<Option<FreeTextSample>> = fold
                .iter()
                .map(|&i| {
                    length
                        .attempt(&people[i], g)
                        .map(|k| FreeTextSample::from_keystrokes(&k, &secret, &config))
                })
                .collect();
            per_fold[f] = fold
                .par_iter()
                .enumerate()
                .map(|(pos, &i)| {
                    let enrol = &samples[i][..g];
                    let models: Vec<Box<dyn Detector<FreeTextSample> + Sync>> = vec![
                        Box::new(GunettiPicardi::fit(enrol, &secret, GpMeasure::Relative)?),
                        Box::new(GunettiPicardi::fit(enrol, &secret, GpMeasure::Absolute)?),
                        Box::new(NgraphRobust::fit(enrol, &secret)?),
                        Box::new(NgraphRatio::fit(enrol, &secret, Arc::clone(background))?),
                    ];
                    let genuine: Vec<FreeTextSample> = (g..people[i].len())
                        .filter_map(|j| length.attempt(&people[i], j))
                        .map(|k| FreeTextSample::from_keystrokes(&k, &secret, &config))
                        .collect();
                    let others: Vec<&FreeTextSample> = impostors
                        .iter()
                        .enumerate()
                        .filter(|(q, _)| *q != pos)
                        .filter_map(|(_, s)| s.as_ref())
                        .collect();
                    models
                        .iter()
                        .map(|m| {
                            let gs = genuine
                                .iter()
                                .map(|s| m.score(s))
                                .collect::<kinetype::Result<_>>()?;
                            let is = others
                                .iter()
                                .map(|s| m.score(s))
                                .collect::<kinetype::Result<_>>()?;
                            Ok((gs, is))
                        })
                        .collect::<kinetype::Result<Scores>>()
                })
                .collect::<kinetype::Result<_>>()?;
        }
        scores.push(per_fold);
    }

    // Fusion: weights for each fold fitted on the other fold's pooled scores.
    let mut fusion_weights = Vec::new();
    for (l, length) in Length::ALL.iter().enumerate() {
        let fits: Vec<Fusion> = (0..2)
            .map(|f| {
                let (g_lists, i_lists) = pooled(&scores[l][1 - f], DETECTORS.len());
                Fusion::fit(&g_lists, &i_lists)
            })
            .collect::<kinetype::Result<_>>()?;
        for f in 0..2 {
            for participant in &mut scores[l][f] {
                let gs = fuse(participant, &fits[f], |d| &d.0)?;
                let is = fuse(participant, &fits[f], |d| &d.1)?;
                participant.push((gs, is));
            }
            fusion_weights.push((
                format!("{} fold {f}", length.name()),
                fits[f].weights.clone(),
            ));
        }
    }

    let names: Vec<&str> = DETECTORS.iter().copied().chain([FUSION]).collect();
    let mut rows = Vec::new();
    for (l, length) in Length::ALL.iter().enumerate() {
        let all: Vec<&Scores> = scores[l].iter().flatten().collect();
        for (d, name) in names.iter().enumerate() {
            let mut eers = Vec::new();
            let (mut pg, mut pi) = (Vec::new(), Vec::new());
            for p in &all {
                let (gs, is) = &p[d];
                if gs.is_empty() || is.is_empty() {
                    continue;
                }
                eers.push(error_rates(gs, is)?.eer);
                pg.extend_from_slice(gs);
                pi.extend_from_slice(is);
            }
            if eers.is_empty() {
                continue;
            }
            let (mean, sd) = mean_sd(&eers);
            let pooled_rates = error_rates(&pg, &pi)?;
            rows.push(Row {
                detector: name.to_string(),
                length: length.name(),
                eer_mean: mean,
                eer_sd: sd,
                eer_pooled: pooled_rates.eer,
                fnmr_at_fmr_1pct_pooled: pooled_rates.fnmr_at_fmr_1pct,
                participants: eers.len(),
                genuine_attempts: pg.len(),
                impostor_attempts: pi.len(),
            });
        }
    }
    let run_seconds = started.elapsed().as_secs_f64();
    let protocol = format!(
        "two folds by participant position; enrol on the first {g} sentences; genuine = the \
         other {} sentences (windows start at each); impostors = one attempt from each other \
         participant of the same fold; background and fusion weights from the other fold",
        aalto::SENTENCES - g
    );
    print!("{}", table(&data, &protocol, &rows, run_seconds));
    if let Some(path) = &args.report_json {
        let report = Report {
            dataset: aalto::NAME,
            protocol,
            participants: data.participants.len(),
            enrol_sentences: g,
            skips: data.skips,
            pairing,
            fusion_weights,
            run_seconds,
            threads: rayon::current_num_threads(),
            results: rows,
        };
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(dir) = &args.scores {
        write_scores(dir, &data, &folds, &scores, &names)?;
        eprintln!("wrote scores to {}", dir.display());
    }
    if let Some(dir) = &args.plots {
        crate::plots::write_pooled(dir, aalto::NAME, &pooled_curves(&scores, &names)?)?;
        eprintln!("wrote ROC and DET curves to {}", dir.display());
    }
    Ok(())
}

/// Pairs every sentence's events into keystrokes, summing the pairing defects.
fn pair_all(
    data: &AaltoDataset,
    config: &ExtractConfig,
) -> (Vec<Vec<Vec<Keystroke>>>, kinetype::freetext::Anomalies) {
    let mut total = kinetype::freetext::Anomalies::default();
    let people = data
        .participants
        .iter()
        .map(|p| {
            p.sentences
                .iter()
                .map(|s| {
                    let (keys, a) = keystrokes(&s.events, config);
                    total.add(&a);
                    keys
                })
                .collect()
        })
        .collect();
    (people, total)
}

/// Per-detector genuine and impostor scores pooled over a fold's participants.
fn pooled(fold: &[Scores], detectors: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut g = vec![Vec::new(); detectors];
    let mut i = vec![Vec::new(); detectors];
    for p in fold {
        for d in 0..detectors {
            g[d].extend_from_slice(&p[d].0);
            i[d].extend_from_slice(&p[d].1);
        }
    }
    (g, i)
}

/// Fused scores of one side (genuine or impostor) of a participant's per-detector scores.
fn fuse(
    participant: &Scores,
    fusion: &Fusion,
    side: fn(&GenuineImpostor) -> &Vec<f64>,
) -> kinetype::Result<Vec<f64>> {
    let n = side(&participant[0]).len();
    (0..n)
        .map(|j| {
            let row: Vec<f64> = participant.iter().map(|d| side(d)[j]).collect();
            fusion.combine(&row)
        })
        .collect()
}

/// Pooled ROC curves, one per detector and length, as (false alarm rate, miss rate) points.
fn pooled_curves(scores: &[[Vec<Scores>; 2]], names: &[&str]) -> Result<Vec<crate::plots::Curve>> {
    let mut curves = Vec::new();
    for (l, length) in Length::ALL.iter().enumerate() {
        let all: Vec<Scores> = scores[l].iter().flatten().cloned().collect();
        let (g, i) = pooled(&all, names.len());
        for (d, name) in names.iter().enumerate() {
            let points = kinetype::evaluation::metrics::roc(&g[d], &i[d])?;
            let curve = points
                .iter()
                .map(|p| (p.false_alarm_rate, p.miss_rate))
                .collect();
            curves.push((format!("{name} {}", length.name()), curve));
        }
    }
    Ok(curves)
}

fn table(data: &AaltoDataset, protocol: &str, rows: &[Row], run_seconds: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} participants; {protocol}",
        aalto::NAME,
        data.participants.len()
    );
    let _ = writeln!(
        out,
        "data: skipped {} rows with release before press, {} rows with key code 0\n",
        data.skips.release_before_press, data.skips.unidentified_key
    );
    let _ = writeln!(
        out,
        "{:<15} {:<9} {:>17} {:>10} {:>12} {:>7} {:>8}",
        "detector", "length", "EER mean (sd)", "pooled", "FNMR@FMR1%", "genuine", "impostor"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<15} {:<9} {:>17} {:>10.4} {:>12.4} {:>7} {:>8}",
            r.detector,
            r.length,
            format!("{:.4} ({:.4})", r.eer_mean, r.eer_sd),
            r.eer_pooled,
            r.fnmr_at_fmr_1pct_pooled,
            r.genuine_attempts,
            r.impostor_attempts
        );
    }
    let _ = writeln!(
        out,
        "\n{} participants in {run_seconds:.1} s wall time on {} threads",
        data.participants.len(),
        rayon::current_num_threads()
    );
    out
}

/// Writes `DIR/<detector>/<length>/<participant>_{genuine,impostor}.txt` with negated scores
/// (pyeer reads higher as more genuine).
fn write_scores(
    dir: &Path,
    data: &AaltoDataset,
    folds: &[Vec<usize>; 2],
    scores: &[[Vec<Scores>; 2]],
    names: &[&str],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("README.txt"),
        "One score per line. Scores are negated kinetype anomaly scores, so higher means more \
         genuine, as pyeer expects by default.\n",
    )?;
    for (l, length) in Length::ALL.iter().enumerate() {
        for (f, fold) in folds.iter().enumerate() {
            for (pos, &i) in fold.iter().enumerate() {
                let id = data.participants[i].id;
                for (d, name) in names.iter().enumerate() {
                    let sub = dir.join(name).join(length.name());
                    std::fs::create_dir_all(&sub)
                        .with_context(|| format!("creating {}", sub.display()))?;
                    let (gs, is) = &scores[l][f][pos][d];
                    for (kind, list) in [("genuine", gs), ("impostor", is)] {
                        let text: String = list.iter().map(|v| format!("{}\n", -v)).collect();
                        let path = sub.join(format!("p{id}_{kind}.txt"));
                        std::fs::write(&path, text)
                            .with_context(|| format!("writing {}", path.display()))?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(keys: usize, start_us: i64) -> Vec<Keystroke> {
        (0..keys)
            .map(|i| Keystroke {
                code: 65,
                press_us: start_us + i as i64 * 1000,
                release_us: None,
            })
            .collect()
    }

    #[test]
    fn key_window_concatenates_and_truncates() {
        let sentences = vec![
            sentence(60, 0),
            sentence(60, 1_000_000),
            sentence(60, 2_000_000),
        ];
        let window = Length::Keys(100)
            .attempt(&sentences, 0)
            .expect("120 keys follow");
        assert_eq!(window.len(), 100);
        assert_eq!(window[60].press_us, 1_000_000);
    }

    #[test]
    fn key_window_too_short_is_none() {
        let sentences = vec![sentence(60, 0), sentence(30, 1_000_000)];
        assert!(Length::Keys(100).attempt(&sentences, 0).is_none());
        assert!(Length::Keys(100).attempt(&sentences, 5).is_none());
        assert_eq!(
            Length::Sentence.attempt(&sentences, 1).map(|s| s.len()),
            Some(30)
        );
    }
}

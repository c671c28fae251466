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
//!
//! The likelihood-ratio detector's relevance factor and timing scale are chosen per fold from
//! a fixed candidate list, by the lowest mean one-sentence EER on the other fold alone (that
//! fold split in two: background from one half, users and impostors from the other). The
//! choice is then used at every test length.

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
    Keystroke, NgraphRatio, NgraphRobust, TimingScale, UserScores, keystrokes,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::ReplayArgs;
use crate::data::ensure_dataset;

const DETECTORS: [&str; 4] = ["gp-r", "gp-a", "ngraph-robust", "ngraph-ratio"];
const FUSION: &str = "fusion";
/// Column of the likelihood-ratio detector in [`DETECTORS`].
const RATIO: usize = 3;
/// Sentences each participant enrols on when `--enrol-sentences` is not given.
const DEFAULT_ENROL_SENTENCES: usize = 5;

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
    /// Per candidate setting of ngraph-ratio: its name and its mean one-sentence EER on
    /// fold 1 and on fold 0 (inner split), the figures the choice for fold 0 and 1 rests on.
    ratio_candidates: Vec<(String, [f64; 2])>,
    /// The setting chosen for fold 0 and for fold 1.
    ratio_chosen: [String; 2],
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
    let g = args.enrol_sentences.unwrap_or(DEFAULT_ENROL_SENTENCES);
    if g == 0 || g >= aalto::SENTENCES {
        bail!(
            "--enrol-sentences must be between 1 and {}, got {g}",
            aalto::SENTENCES - 1
        );
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
    // Choose the likelihood-ratio setting for each fold on the other fold only.
    let candidates = RatioVariant::candidates();
    let selection: Vec<Vec<f64>> = (0..2)
        .map(|f| inner_fold_eers(&folds[1 - f], &samples, g, &secret, &candidates))
        .collect::<kinetype::Result<_>>()?;
    let chosen: [RatioVariant; 2] = [0, 1].map(|f| candidates[argmin(&selection[f])]);
    for (c, candidate) in candidates.iter().enumerate() {
        eprintln!(
            "ratio candidate {:<16} inner EER on fold 1: {:.4}, on fold 0: {:.4}",
            candidate.name(),
            selection[0][c],
            selection[1][c]
        );
    }
    let scales: Vec<TimingScale> = chosen.iter().map(|v| v.scale).collect();
    // backgrounds[f] is fitted on fold f and serves the other fold.
    let backgrounds = [
        backgrounds_for(&folds[0], &samples, &secret, &scales)?,
        backgrounds_for(&folds[1], &samples, &secret, &scales)?,
    ];

    // scores[length][fold][participant in fold]; the ratio column uses the fold's own choice.
    // cross_ratio[length][fold][participant] holds the ratio scores under the OTHER fold's
    // choice, which that fold's fusion weights are fitted on.
    let mut scores: Vec<[Vec<Scores>; 2]> = Vec::new();
    let mut cross_ratio: Vec<[Vec<GenuineImpostor>; 2]> = Vec::new();
    for length in Length::ALL {
        let mut per_fold: [Vec<Scores>; 2] = Default::default();
        let mut per_fold_cross: [Vec<GenuineImpostor>; 2] = Default::default();
        for (f, fold) in folds.iter().enumerate() {
            let background = &backgrounds[1 - f];
            let variants = [chosen[f], chosen[1 - f]];
            let impostors: Vec<Option<FreeTextSample>> = fold
                .iter()
                .map(|&i| {
                    length
                        .attempt(&people[i], g)
                        .map(|k| FreeTextSample::from_keystrokes(&k, &secret, &config))
                })
                .collect();
            let both: Vec<(Scores, GenuineImpostor)> = fold
                .par_iter()
                .enumerate()
                .map(|(pos, &i)| {
                    let enrol = &samples[i][..g];
                    let models: Vec<Box<dyn Detector<FreeTextSample> + Sync>> = vec![
                        Box::new(GunettiPicardi::fit(enrol, &secret, GpMeasure::Relative)?),
                        Box::new(GunettiPicardi::fit(enrol, &secret, GpMeasure::Absolute)?),
                        Box::new(NgraphRobust::fit(enrol, &secret)?),
                        Box::new(variants[0].fit(enrol, &secret, background)?),
                        Box::new(variants[1].fit(enrol, &secret, background)?),
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
                    let mut all = models
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
                        .collect::<kinetype::Result<Scores>>()?;
                    let cross = all.pop().expect("OK because five models were scored");
                    Ok((all, cross))
                })
                .collect::<kinetype::Result<_>>()?;
            (per_fold[f], per_fold_cross[f]) = both.into_iter().unzip();
        }
        scores.push(per_fold);
        cross_ratio.push(per_fold_cross);
    }

    // Fusion: weights for each fold fitted on the other fold's scores.
    let mut fusion_weights = Vec::new();
    for (l, length) in Length::ALL.iter().enumerate() {
        let fits: Vec<Fusion> = (0..2)
            .map(|f| {
                // The other fold's scores, with its ratio column under this fold's choice.
                let other: Vec<Scores> = scores[l][1 - f]
                    .iter()
                    .zip(&cross_ratio[l][1 - f])
                    .map(|(p, cross)| {
                        let mut p = p.clone();
                        p[RATIO] = cross.clone();
                        p
                    })
                    .collect();
                // Weights minimise the mean per-participant EER, the figure the table reports.
                let users: Vec<UserScores> =
                    other.iter().map(|p| p.iter().cloned().unzip()).collect();
                Fusion::fit_per_user(&users)
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
         participant of the same fold; background, fusion weights and ngraph-ratio setting \
         from the other fold (ngraph-ratio: fold 0 {}, fold 1 {})",
        aalto::SENTENCES - g,
        chosen[0].name(),
        chosen[1].name()
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
            ratio_candidates: candidates
                .iter()
                .enumerate()
                .map(|(c, v)| (v.name(), [selection[0][c], selection[1][c]]))
                .collect(),
            ratio_chosen: chosen.map(|v| v.name()),
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

/// One candidate setting of the likelihood-ratio detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct RatioVariant {
    relevance: f64,
    scale: TimingScale,
}

impl RatioVariant {
    /// The candidates: relevance factors in factors of 2 around the library default (2
    /// timings), on the millisecond scale and on asinh scales with knees from 3 to 30 ms, below
    /// and within the range of typical latencies. The first list (relevance 1 to 8, knees 10
    /// and 50 ms) put every fold's choice at its lowest relevance and knee, so the list was
    /// widened downward once.
    fn candidates() -> Vec<RatioVariant> {
        let scales = [
            TimingScale::Linear,
            TimingScale::Asinh { knee_ms: 3.0 },
            TimingScale::Asinh { knee_ms: 10.0 },
            TimingScale::Asinh { knee_ms: 30.0 },
        ];
        let mut out = Vec::new();
        for scale in scales {
            for relevance in [0.5, 1.0, 2.0, 4.0] {
                out.push(RatioVariant { relevance, scale });
            }
        }
        out
    }

    fn name(&self) -> String {
        let scale = match self.scale {
            TimingScale::Asinh { knee_ms } => format!("asinh/{knee_ms}ms"),
            _ => "ms".into(),
        };
        format!("r={} {scale}", self.relevance)
    }

    fn fit(
        &self,
        enrol: &[FreeTextSample],
        secret: &KeySecret,
        backgrounds: &[(TimingScale, Arc<Background>)],
    ) -> kinetype::Result<NgraphRatio> {
        // The backgrounds are built from the same candidate list, so every scale has one.
        let background = backgrounds
            .iter()
            .find(|(s, _)| *s == self.scale)
            .map(|(_, b)| Arc::clone(b))
            .expect("OK because a background is fitted for every candidate scale");
        NgraphRatio::fit_with(enrol, secret, background, self.relevance)
    }
}

/// Fits one background per candidate scale on the pooled samples of `people`.
fn backgrounds_for(
    people: &[usize],
    samples: &[Vec<FreeTextSample>],
    secret: &KeySecret,
    scales: &[TimingScale],
) -> kinetype::Result<Vec<(TimingScale, Arc<Background>)>> {
    let pooled: Vec<FreeTextSample> = people
        .iter()
        .flat_map(|&i| samples[i].iter().cloned())
        .collect();
    scales
        .iter()
        .map(|&s| Ok((s, Arc::new(Background::fit_scaled(&pooled, secret, s)?))))
        .collect()
}

/// Mean per-participant one-sentence EER of each candidate on `fold` alone.
///
/// The fold is split in two by position; each half is scored with backgrounds fitted on the
/// other half and impostors from its own half. No data outside `fold` is read, so a choice
/// made from these figures is independent of the participants it is later applied to.
fn inner_fold_eers(
    fold: &[usize],
    samples: &[Vec<FreeTextSample>],
    g: usize,
    secret: &KeySecret,
    candidates: &[RatioVariant],
) -> kinetype::Result<Vec<f64>> {
    let mut scales: Vec<TimingScale> = Vec::new();
    for c in candidates {
        if !scales.contains(&c.scale) {
            scales.push(c.scale);
        }
    }
    let halves: [Vec<usize>; 2] = [
        fold.iter().copied().step_by(2).collect(),
        fold.iter().copied().skip(1).step_by(2).collect(),
    ];
    let backgrounds = [
        backgrounds_for(&halves[0], samples, secret, &scales)?,
        backgrounds_for(&halves[1], samples, secret, &scales)?,
    ];
    let mut sums = vec![0.0; candidates.len()];
    let mut counts = vec![0usize; candidates.len()];
    for (h, half) in halves.iter().enumerate() {
        let bgs = &backgrounds[1 - h];
        let per_person: Vec<Vec<Option<f64>>> = half
            .par_iter()
            .map(|&i| {
                let enrol = &samples[i][..g];
                candidates
                    .iter()
                    .map(|c| {
                        let model = c.fit(enrol, secret, bgs)?;
                        let gs: Vec<f64> = samples[i][g..]
                            .iter()
                            .map(|s| model.score(s))
                            .collect::<kinetype::Result<_>>()?;
                        let is: Vec<f64> = half
                            .iter()
                            .filter(|&&q| q != i)
                            .filter_map(|&q| samples[q].get(g))
                            .map(|s| model.score(s))
                            .collect::<kinetype::Result<_>>()?;
                        if gs.is_empty() || is.is_empty() {
                            return Ok(None);
                        }
                        Ok(Some(error_rates(&gs, &is)?.eer))
                    })
                    .collect()
            })
            .collect::<kinetype::Result<_>>()?;
        for person in per_person {
            for (c, eer) in person.into_iter().enumerate() {
                if let Some(e) = eer {
                    sums[c] += e;
                    counts[c] += 1;
                }
            }
        }
    }
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| if n > 0 { s / n as f64 } else { f64::INFINITY })
        .collect())
}

/// Index of the lowest value; the first on ties, so earlier candidates win.
fn argmin(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v < values[best] {
            best = i;
        }
    }
    best
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

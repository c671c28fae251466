//! `kinetype replay` for the fixed-text datasets (CMU DSL-2009 and the BKSD sets).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kinetype::datasets::bksd::{self, BksdSet};
use kinetype::datasets::{FixedTextDataset, dsl};
use kinetype::detectors::{DetectorKind, DetectorParams};
use kinetype::evaluation::background::CurvePoint;
use kinetype::evaluation::fixed_text::{self, DetectorResult, Protocol, ReplayDetector};
use kinetype::evaluation::published;
use serde::Serialize;

use crate::ReplayArgs;
use crate::data::ensure_dataset;
use crate::families;
use crate::plots;

#[derive(Debug, Serialize)]
struct Report<'a> {
    dataset: &'a str,
    protocol: &'a str,
    subjects: usize,
    features: usize,
    data_notes: &'a [String],
    /// Wall seconds spent reading and parsing the dataset, included in `run_seconds`.
    load_seconds: f64,
    run_seconds: f64,
    threads: usize,
    detectors: Vec<DetectorReport<'a>>,
    background_protocol: &'a str,
    enrolment_curve: Option<&'a [CurvePoint]>,
}

#[derive(Debug, Serialize)]
struct DetectorReport<'a> {
    /// `one-class` or `background-assisted`.
    family: &'static str,
    #[serde(flatten)]
    result: &'a DetectorResult,
    published_eer_mean: Option<f64>,
    published_eer_sd: Option<f64>,
}

pub(crate) fn run(root: &Path, args: ReplayArgs) -> Result<()> {
    // Both are parsed before the data loads, so that a typo does not cost a download.
    let selection = families::Selection::parse(&args.detectors)?;
    let background_rows =
        families::parse_background_rows(args.background_rows.as_deref().unwrap_or("impostor"))?;
    let started = Instant::now();
    let (dataset, protocol) = load(root, &args.dataset)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let kinds: Vec<DetectorKind> = selection.reproduced.clone();
    let params: Vec<DetectorParams> = kinds.iter().map(|&k| DetectorParams::new(k)).collect();
    let detectors: Vec<&dyn ReplayDetector> = params.iter().map(|p| p as _).collect();

    let jobs = (detectors.len() * dataset.subjects.len()
        + families::jobs(&selection, dataset.subjects.len())) as u64;
    let bar = ProgressBar::new(jobs).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} fits ({elapsed})")
            .expect("OK because the template is a constant")
            .progress_chars("=> "),
    );
    bar.set_message(format!("replaying {}", dataset.name));
    let results = fixed_text::replay(&dataset, protocol, &detectors, &|| bar.inc(1))?;
    let extra = families::run(
        &dataset,
        protocol,
        &selection,
        background_rows,
        args.enrolment_curve,
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let run_seconds = started.elapsed().as_secs_f64();

    let compare = dataset.name == dsl::NAME;
    print!(
        "{}",
        table(&dataset, protocol, &results, compare, run_seconds)
    );
    print!("{}", families::table(&extra));
    let families = [
        ("one-class", &results),
        ("one-class", &extra.one_class),
        ("background-assisted", &extra.background),
    ];

    if let Some(path) = &args.report_json {
        let report = Report {
            dataset: &dataset.name,
            protocol: protocol.describe(),
            subjects: dataset.subjects.len(),
            features: dataset.dimension(),
            data_notes: &dataset.notes,
            load_seconds,
            run_seconds,
            threads: rayon::current_num_threads(),
            background_protocol: &extra.background_protocol,
            enrolment_curve: extra.curve.as_deref(),
            detectors: families
                .iter()
                .flat_map(|(family, results)| results.iter().map(move |r| (*family, r)))
                .map(|(family, r)| {
                    let row = published::dsn2009(&r.name).filter(|_| compare);
                    DetectorReport {
                        family,
                        result: r,
                        published_eer_mean: row.map(|p| p.eer_mean),
                        published_eer_sd: row.map(|p| p.eer_sd),
                    }
                })
                .collect(),
        };
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(dir) = &args.plots {
        plots::write_fixed_text(dir, &dataset.name, &all_results(&families))?;
        eprintln!("wrote ROC and DET curves to {}", dir.display());
    }
    if let Some(dir) = &args.scores {
        write_scores(dir, &all_results(&families))?;
        eprintln!("wrote scores to {}", dir.display());
    }
    Ok(())
}

/// Collects every family's results in report order.
fn all_results(families: &[(&str, &Vec<DetectorResult>)]) -> Vec<DetectorResult> {
    families
        .iter()
        .flat_map(|(_, r)| r.iter().cloned())
        .collect()
}

/// Loads a fixed-text dataset by name and picks its protocol.
pub(crate) fn load(root: &Path, name: &str) -> Result<(FixedTextDataset, Protocol)> {
    let entry = ensure_dataset(root, name)?;
    if name == dsl::NAME {
        let path = entry.dir(root).join(dsl::FILE_NAME);
        return Ok((dsl::load(&path)?, Protocol::Dsn2009));
    }
    let Some(set) = BksdSet::from_name(name) else {
        anyhow::bail!(
            "`{name}` is not a fixed-text dataset; use dsl2009 or one of the BKSD sets \
             (bksd-password-en, bksd-password-ar, bksd-phrase-en, bksd-phrase-ar)"
        );
    };
    let path = bksd::archive_path(root, set);
    Ok((bksd::load(set, &path)?, Protocol::FirstHalf))
}

/// Formats an EER difference to 4 decimals with its sign, and a difference that rounds to
/// zero as `0.0000`, without the sign that a tiny negative value would print as `-0.0000`.
fn signed_difference(difference: f64) -> String {
    let rounded = format!("{difference:+.4}");
    if rounded.trim_start_matches(['+', '-']) == "0.0000" {
        "0.0000".into()
    } else {
        rounded
    }
}

fn table(
    dataset: &FixedTextDataset,
    protocol: Protocol,
    results: &[DetectorResult],
    compare: bool,
    run_seconds: f64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} subjects, {} features; {}",
        dataset.name,
        dataset.subjects.len(),
        dataset.dimension(),
        protocol.describe()
    );
    for note in &dataset.notes {
        let _ = writeln!(out, "data: {note}");
    }
    let _ = writeln!(out);
    if compare {
        let _ = writeln!(
            out,
            "{:<30} {:>16} {:>16} {:>9} {:>16}",
            "detector", "EER mean (sd)", "published (sd)", "diff", "zero-miss FAR"
        );
    } else {
        let _ = writeln!(
            out,
            "{:<30} {:>16} {:>16} {:>8} {:>10}",
            "detector", "EER mean (sd)", "zero-miss FAR", "AUC", "FNMR@1%"
        );
    }
    for r in results {
        let ours = format!("{:.4} ({:.4})", r.eer_mean, r.eer_sd);
        let zero_miss = format!("{:.3} ({:.3})", r.zero_miss_far_mean, r.zero_miss_far_sd);
        match published::dsn2009(&r.name).filter(|_| compare) {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "{:<30} {:>16} {:>16} {:>9} {:>16}",
                    r.name,
                    ours,
                    format!("{:.4} ({:.3})", p.eer_mean, p.eer_sd),
                    signed_difference(r.eer_mean - p.eer_mean),
                    zero_miss
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{:<30} {:>16} {:>16} {:>8.4} {:>10.4}",
                    r.name, ours, zero_miss, r.auc_mean, r.fnmr_at_fmr_1pct_mean
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} detectors x {} subjects in {:.2} s wall time on {} threads",
        results.len(),
        dataset.subjects.len(),
        run_seconds,
        rayon::current_num_threads()
    );
    out
}

/// Writes `DIR/<detector>/<subject>_genuine.txt` and `_impostor.txt`.
///
/// pyeer treats higher scores as more genuine by default, so the files hold negated anomaly
/// scores; a README in the directory says so.
fn write_scores(dir: &Path, results: &[DetectorResult]) -> Result<()> {
    let readme = "One score per line. Scores are negated kinetype anomaly scores, so higher \
                  means more genuine, as pyeer expects by default.\nExample: geteerinf -p \
                  manhattan-scaled -g s002_genuine.txt -i s002_impostor.txt -e s002\n";
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("README.txt"), readme)?;
    for r in results {
        let sub = dir.join(&r.name);
        std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        for s in &r.subjects {
            for (kind, scores) in [
                ("genuine", &s.genuine_scores),
                ("impostor", &s.impostor_scores),
            ] {
                let text: String = scores.iter().map(|v| format!("{}\n", -v)).collect();
                let path = sub.join(format!("{}_{kind}.txt", s.subject));
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_near_zero_has_no_sign() {
        assert_eq!(signed_difference(-0.000_01), "0.0000");
        assert_eq!(signed_difference(0.000_01), "0.0000");
        assert_eq!(signed_difference(0.0066), "+0.0066");
        assert_eq!(signed_difference(-0.0116), "-0.0116");
    }
}

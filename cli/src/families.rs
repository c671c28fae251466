//! The detectors beyond the DSN-2009 fourteen: one-class and background-assisted, each family
//! replayed and printed in its own table section.

use std::fmt::Write as _;

use anyhow::Result;
use kinetype::datasets::FixedTextDataset;
use kinetype::detectors::{
    BackgroundKind, BackgroundParams, DetectorKind, DetectorParams, OneClassKind, OneClassParams,
};
use kinetype::evaluation::background::{
    self, BackgroundReplayDetector, BackgroundRows, CurvePoint, IgnoreBackground,
    describe_background, replay_background,
};
use kinetype::evaluation::fixed_text::{self, DetectorResult, Protocol, ReplayDetector};

/// Training sizes of the enrolment-size curve: the first N vectors of each training split.
const CURVE_SIZES: [usize; 6] = [5, 10, 20, 50, 100, 200];

/// Detectors requested on the command line, by family.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub(crate) reproduced: Vec<DetectorKind>,
    pub(crate) one_class: Vec<OneClassKind>,
    pub(crate) background: Vec<BackgroundKind>,
}

impl Selection {
    /// Parses detector names; no names select every detector.
    pub(crate) fn parse(names: &[String]) -> Result<Self> {
        if names.is_empty() {
            return Ok(Selection {
                reproduced: DetectorKind::ALL.to_vec(),
                one_class: OneClassKind::ALL.to_vec(),
                background: BackgroundKind::ALL.to_vec(),
            });
        }
        let mut selection = Selection::default();
        for name in names.iter().map(|n| n.trim()) {
            if let Ok(kind) = name.parse() {
                selection.reproduced.push(kind);
            } else if let Ok(kind) = name.parse() {
                selection.one_class.push(kind);
            } else if let Ok(kind) = name.parse() {
                selection.background.push(kind);
            } else {
                let known: Vec<&str> = DetectorKind::ALL
                    .iter()
                    .map(|k| k.name())
                    .chain(OneClassKind::ALL.iter().map(|k| k.name()))
                    .chain(BackgroundKind::ALL.iter().map(|k| k.name()))
                    .collect();
                anyhow::bail!(
                    "unknown detector `{name}`; known detectors: {}",
                    known.join(", ")
                );
            }
        }
        Ok(selection)
    }
}

/// Parses `--background-rows`.
pub(crate) fn parse_background_rows(value: &str) -> Result<BackgroundRows> {
    match value {
        "impostor" => Ok(BackgroundRows::Impostor),
        "all" => Ok(BackgroundRows::All),
        other => anyhow::bail!("invalid --background-rows `{other}`; expected `impostor` or `all`"),
    }
}

/// Results of the families beyond DSN-2009.
#[derive(Debug)]
pub(crate) struct Extra {
    pub(crate) one_class: Vec<DetectorResult>,
    pub(crate) background: Vec<DetectorResult>,
    pub(crate) background_protocol: String,
    pub(crate) curve: Option<Vec<CurvePoint>>,
}

/// Replays the new one-class and the background-assisted detectors, and the enrolment-size
/// curve when `curve` is set.
pub(crate) fn run(
    dataset: &FixedTextDataset,
    protocol: Protocol,
    selection: &Selection,
    rows: BackgroundRows,
    curve: bool,
    progress: &(dyn Fn() + Sync),
) -> Result<Extra> {
    let one_class_params: Vec<OneClassParams> = selection
        .one_class
        .iter()
        .map(|&k| OneClassParams::new(k))
        .collect();
    let one_class: Vec<&dyn ReplayDetector> = one_class_params.iter().map(|p| p as _).collect();
    let background_params: Vec<BackgroundParams> = selection
        .background
        .iter()
        .map(|&k| BackgroundParams::new(k))
        .collect();
    let background: Vec<&dyn BackgroundReplayDetector> =
        background_params.iter().map(|p| p as _).collect();
    let one_class_results = fixed_text::replay(dataset, protocol, &one_class, progress)?;
    // The one-class detectors again, on the background protocol's impostor half, so that the
    // background-assisted figures have a reference measured on the same tests.
    let references: Vec<IgnoreBackground<'_, dyn ReplayDetector>> = if background.is_empty() {
        Vec::new()
    } else {
        one_class.iter().map(|&d| IgnoreBackground(d)).collect()
    };
    let mut background_section: Vec<&dyn BackgroundReplayDetector> =
        references.iter().map(|r| r as _).collect();
    background_section.extend(background.iter().copied());
    let background_results =
        replay_background(dataset, protocol, &background_section, rows, None, progress)?;
    let curve = if curve {
        // The DSN-2009 best, scaled Manhattan, is the reference curve.
        let reference = DetectorParams::new(DetectorKind::ManhattanScaled);
        let mut curve_one_class: Vec<&dyn ReplayDetector> = vec![&reference];
        curve_one_class.extend(one_class.iter().copied());
        Some(background::enrolment_curve(
            dataset,
            protocol,
            &CURVE_SIZES,
            &curve_one_class,
            &background,
            rows,
        )?)
    } else {
        None
    };
    Ok(Extra {
        one_class: one_class_results,
        background: background_results,
        background_protocol: describe_background(protocol, rows),
        curve,
    })
}

/// Number of (detector, subject) fits [`run`] reports progress for.
pub(crate) fn jobs(selection: &Selection, subjects: usize) -> usize {
    let references = if selection.background.is_empty() {
        0
    } else {
        selection.one_class.len()
    };
    (2 * selection.one_class.len() + selection.background.len() + references
        - selection.one_class.len())
        * subjects
}

/// Formats the two table sections and the curve.
pub(crate) fn table(extra: &Extra) -> String {
    let mut out = String::new();
    for (title, results) in [
        (
            "one-class detectors beyond DSN-2009 (genuine training vectors only)",
            &extra.one_class,
        ),
        ("background-assisted detectors", &extra.background),
    ] {
        if results.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        if std::ptr::eq(results, &extra.background) {
            let _ = writeln!(out, "protocol: {}", extra.background_protocol);
        }
        let _ = writeln!(
            out,
            "{:<36} {:>16} {:>16} {:>8} {:>10} {:>8}",
            "detector", "EER mean (sd)", "zero-miss FAR", "AUC", "FNMR@1%", "CPU s"
        );
        for r in results {
            let _ = writeln!(
                out,
                "{:<36} {:>16} {:>16} {:>8.4} {:>10.4} {:>8.2}",
                r.name,
                format!("{:.4} ({:.4})", r.eer_mean, r.eer_sd),
                format!("{:.3} ({:.3})", r.zero_miss_far_mean, r.zero_miss_far_sd),
                r.auc_mean,
                r.fnmr_at_fmr_1pct_mean,
                r.cpu_seconds
            );
        }
    }
    if let Some(curve) = &extra.curve {
        let _ = writeln!(
            out,
            "\nenrolment-size curve: mean EER (sd) against training vectors"
        );
        let mut names: Vec<(&str, &str)> = Vec::new();
        for p in curve {
            if !names.contains(&(p.detector.as_str(), p.family)) {
                names.push((p.detector.as_str(), p.family));
            }
        }
        let sizes: Vec<usize> = CURVE_SIZES
            .iter()
            .copied()
            .filter(|s| curve.iter().any(|p| p.train_rows == *s))
            .collect();
        let _ = write!(out, "{:<30}", "detector");
        for s in &sizes {
            let _ = write!(out, " {:>16}", format!("n = {s}"));
        }
        let _ = writeln!(out);
        for (name, family) in names {
            let _ = write!(out, "{:<30}", name);
            for s in &sizes {
                let cell = curve
                    .iter()
                    .find(|p| p.detector == name && p.family == family && p.train_rows == *s)
                    .map_or(String::from("-"), |p| {
                        format!("{:.4} ({:.3})", p.eer_mean, p.eer_sd)
                    });
                let _ = write!(out, " {cell:>16}");
            }
            let _ = writeln!(out);
        }
    }
    out
}

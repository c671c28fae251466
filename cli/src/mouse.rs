//! `kinetype replay balabit`: the Balabit Mouse Dynamics Challenge.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use kinetype::datasets::balabit;
use kinetype::evaluation::balabit::{BalabitParams, BalabitReport, replay};
use kinetype::evaluation::metrics::roc;
use serde::Serialize;

use crate::data::ensure_dataset;
use crate::{MouseModel, ReplayArgs};
use plotters::prelude::*;

#[derive(Debug, Serialize)]
struct Report<'a> {
    dataset: &'a str,
    run_seconds: f64,
    threads: usize,
    #[serde(flatten)]
    result: &'a BalabitReport,
}

pub(crate) fn run(root: &Path, args: ReplayArgs) -> Result<()> {
    let started = Instant::now();
    let entry = ensure_dataset(root, balabit::NAME)?;
    eprintln!("replaying {} (about 3.4 M events)...", balabit::NAME);
    let params = match args.mouse_model {
        Some(MouseModel::Forest) => BalabitParams::forest(),
        Some(MouseModel::Boosted) | None => BalabitParams::default(),
    };
    let report = replay(&entry.dir(root), &params)?;
    let run_seconds = started.elapsed().as_secs_f64();
    print!("{}", table(&report, run_seconds));

    if let Some(path) = &args.report_json {
        let json = serde_json::to_string_pretty(&Report {
            dataset: balabit::NAME,
            run_seconds,
            threads: rayon::current_num_threads(),
            result: &report,
        })?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let (genuine, impostor) = report.session_scores();
    if let Some(dir) = &args.plots {
        let points = roc(&genuine, &impostor)?;
        let curve: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.false_alarm_rate, p.miss_rate))
            .collect();
        write_roc(&dir.join("balabit-roc.svg"), &curve)?;
        eprintln!("wrote the ROC curve to {}", dir.display());
    }
    if let Some(dir) = &args.scores {
        write_scores(dir, &genuine, &impostor)?;
        eprintln!("wrote scores to {}", dir.display());
    }
    Ok(())
}

fn table(r: &BalabitReport, run_seconds: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "balabit: {}\n", r.protocol);
    let _ = writeln!(
        out,
        "training: {} events, {} actions (MM {}, PC {}, DD {}, {} too short)",
        r.training_parse.events,
        r.training_segments.mouse_move
            + r.training_segments.point_click
            + r.training_segments.drag_drop,
        r.training_segments.mouse_move,
        r.training_segments.point_click,
        r.training_segments.drag_drop,
        r.training_segments.too_short
    );
    let _ = writeln!(
        out,
        "test: {} sessions, {} events, {} actions, {} sessions without actions",
        r.sessions.len(),
        r.test_parse.events,
        r.test_segments.mouse_move + r.test_segments.point_click + r.test_segments.drag_drop,
        r.sessions_without_actions
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<62} {:>8} {:>8}",
        "pooled session scores", "AUC", "EER"
    );
    let model = if r.params.boost.is_some() {
        "two-class booster"
    } else {
        "two-class forest"
    };
    let rows = [
        (
            format!(
                "{model}, {}{} (session_auc)",
                r.params.aggregate.name(),
                if r.params.session_folds.is_some() {
                    ", calibrated on held-out sessions"
                } else if r.params.match_calibration_length {
                    ", calibrated, length-matched"
                } else if r.params.calibration_piece.is_some() {
                    ", calibrated"
                } else {
                    ""
                }
            ),
            r.session_auc,
            r.session_eer,
        ),
        (
            format!("{model}, mean probability, not calibrated"),
            r.session_mean_probability.auc,
            r.session_mean_probability.eer,
        ),
        (
            format!("{model}, mean log odds, Z-norm"),
            r.session_znorm.auc,
            r.session_znorm.eer,
        ),
        (
            "one-class robust z, mean".into(),
            r.one_class.auc,
            r.one_class.eer,
        ),
        (
            "one-class session shift".into(),
            r.one_class_shift.auc,
            r.one_class_shift.eer,
        ),
    ];
    for (name, auc, eer) in rows {
        let _ = writeln!(out, "{name:<62} {auc:>8.4} {eer:>8.4}");
    }
    let _ = writeln!(
        out,
        "{:<62} {:>8.4}",
        format!("single actions ({model})"),
        r.action_auc
    );
    if let Some((low, high)) = r.session_auc_ci95 {
        let _ = writeln!(
            out,
            "session_auc 95% confidence interval (DeLong, sessions independent): {low:.4} to \
             {high:.4}"
        );
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:>14} {:>16}",
        "actions/decision", "AUC chosen", "AUC mean prob"
    );
    for d in &r.by_decision_size {
        let k = d.actions.map_or("all".to_string(), |k| k.to_string());
        let _ = writeln!(
            out,
            "{k:<20} {:>14.4} {:>16.4}",
            d.auc_aggregate, d.auc_mean_probability
        );
    }
    let _ = writeln!(
        out,
        "\n{:<8} {:>10} {:>8} {:>9} {:>8} {:>8}",
        "user", "train act", "genuine", "impostor", "AUC", "EER"
    );
    for u in &r.per_user {
        let _ = writeln!(
            out,
            "{:<8} {:>10} {:>8} {:>9} {:>8.4} {:>8.4}",
            u.user,
            u.training_actions,
            u.genuine_sessions,
            u.impostor_sessions,
            u.session.auc,
            u.session.eer
        );
    }
    let _ = writeln!(
        out,
        "\n{} sessions in {run_seconds:.2} s wall time on {} threads",
        r.sessions.len(),
        rayon::current_num_threads()
    );
    out
}

/// Writes `DIR/balabit_genuine.txt` and `_impostor.txt`, negated so higher means more genuine
/// as pyeer expects.
fn write_scores(dir: &Path, genuine: &[f64], impostor: &[f64]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (kind, scores) in [("genuine", genuine), ("impostor", impostor)] {
        let text: String = scores.iter().map(|v| format!("{}\n", -v)).collect();
        let path = dir.join(format!("balabit_{kind}.txt"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes the pooled session ROC as SVG: the fraction of impostor sessions rejected against
/// the fraction of genuine sessions rejected.
fn write_roc(path: &Path, curve: &[(f64, f64)]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let root = SVGBackend::new(path, (800, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "balabit: pooled session ROC of the headline score (session_auc)",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("false-alarm rate (genuine sessions rejected)")
        .y_desc("hit rate (impostor sessions rejected)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(
            curve.iter().map(|&(fa, miss)| (fa, 1.0 - miss)),
            BLUE,
        ))
        .map_err(|e| anyhow!("{e}"))?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

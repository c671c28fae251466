//! ROC and DET curves as SVG files.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use kinetype::evaluation::fixed_text::{DetectorResult, mean_roc};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};

/// Writes `<dataset>-roc.svg` and `<dataset>-det.svg` with one mean curve per detector.
pub(crate) fn write_fixed_text(
    dir: &Path,
    dataset: &str,
    results: &[DetectorResult],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let grid: Vec<f64> = (0..=400).map(|i| i as f64 / 400.0).collect();
    let mut curves = Vec::with_capacity(results.len());
    for r in results {
        curves.push((r.name.clone(), mean_roc(r, &grid)?));
    }
    roc(&dir.join(format!("{dataset}-roc.svg")), dataset, &curves)?;
    det(&dir.join(format!("{dataset}-det.svg")), dataset, &curves)?;
    Ok(())
}

/// Writes `<dataset>-roc.svg` and `<dataset>-det.svg` from ready curves of
/// (false-alarm rate, miss rate) points, such as pooled ROCs.
pub(crate) fn write_pooled(dir: &Path, dataset: &str, curves: &[Curve]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    roc(&dir.join(format!("{dataset}-roc.svg")), dataset, curves)?;
    det(&dir.join(format!("{dataset}-det.svg")), dataset, curves)?;
    Ok(())
}

pub(crate) type Curve = (String, Vec<(f64, f64)>);

fn roc(path: &Path, dataset: &str, curves: &[Curve]) -> Result<()> {
    let root = SVGBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{dataset}: mean ROC over subjects"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("false-alarm rate (genuine rejected)")
        .y_desc("hit rate (impostors rejected)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let lines = curves.iter().map(|(name, points)| {
        (
            name,
            points.iter().map(|&(fa, miss)| (fa, 1.0 - miss)).collect(),
        )
    });
    draw_curves(&mut chart, lines, SeriesLabelPosition::LowerRight)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// DET curve: miss rate against false-alarm rate on normal-deviate axes.
fn det(path: &Path, dataset: &str, curves: &[Curve]) -> Result<()> {
    let normal = Normal::standard();
    let probit = |p: f64| normal.inverse_cdf(p.clamp(1e-4, 1.0 - 1e-4));
    let ticks = [0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8];
    let range = probit(0.0005)..probit(0.9);
    let root = SVGBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{dataset}: mean DET over subjects"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(range.clone(), range)
        .map_err(|e| anyhow!("{e}"))?;
    let label = |v: &f64| {
        ticks
            .iter()
            .find(|&&t| (probit(t) - v).abs() < 0.05)
            .map(|t| format!("{}%", t * 100.0))
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_desc("false-alarm rate")
        .y_desc("miss rate")
        .x_labels(60)
        .y_labels(60)
        .x_label_formatter(&label)
        .y_label_formatter(&label)
        .disable_mesh()
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let lines = curves.iter().map(|(name, points)| {
        let line = points
            .iter()
            .filter(|(fa, miss)| *fa > 0.0 && *miss > 0.0)
            .map(|&(fa, miss)| (probit(fa), probit(miss)))
            .collect();
        (name, line)
    });
    draw_curves(&mut chart, lines, SeriesLabelPosition::UpperRight)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// Draws one coloured line per named curve and the legend at `position`.
fn draw_curves<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    curves: impl Iterator<Item = (&'a String, Vec<(f64, f64)>)>,
    position: SeriesLabelPosition,
) -> Result<()> {
    for (i, (name, points)) in curves.enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, colour))
            .map_err(|e| anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

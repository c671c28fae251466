//! Criterion benchmarks of the fixed-text detectors and the error-rate metrics.
//!
//! Names follow `area/operation/size`. Inputs are seeded; results are checked inside the timed
//! closures so the optimiser cannot drop the work.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kinetype::detectors::{DetectorKind, DetectorParams, VectorDetector};
use kinetype::evaluation::metrics;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// `rows x d` timing-like values in seconds.
fn vectors(rows: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_fn((rows, d), |_| 0.05 + 0.3 * rng.r#gen::<f64>())
}

fn detectors(c: &mut Criterion) {
    for d in [31, 21] {
        let train = vectors(200, d, 1);
        let probe = vectors(1, d, 2).row(0).to_vec();
        for kind in DetectorKind::ALL {
            let params = DetectorParams::new(kind);
            if !matches!(
                kind,
                DetectorKind::NeuralNetworkAutoAssoc | DetectorKind::NeuralNetworkStandard
            ) {
                c.bench_with_input(
                    BenchmarkId::new(format!("fixed_text/fit/{kind}"), format!("n200_d{d}")),
                    &train,
                    |b, train| b.iter(|| black_box(params.fit(train.view()).unwrap())),
                );
            }
            let model = params.fit(train.view()).unwrap();
            c.bench_with_input(
                BenchmarkId::new(format!("fixed_text/score/{kind}"), format!("d{d}")),
                &probe,
                |b, probe| {
                    b.iter(|| {
                        let score = model.score_unchecked(black_box(probe));
                        assert!(!score.is_nan());
                        score
                    })
                },
            );
        }
    }
}

/// Fitting the two networks takes about a second each, so they get few samples.
fn network_fits(c: &mut Criterion) {
    let mut group = c.benchmark_group("fixed_text/fit");
    group.sample_size(10);
    let train = vectors(200, 31, 1);
    for kind in [
        DetectorKind::NeuralNetworkAutoAssoc,
        DetectorKind::NeuralNetworkStandard,
    ] {
        let params = DetectorParams::new(kind);
        group.bench_with_input(
            BenchmarkId::new(kind.name(), "n200_d31"),
            &train,
            |b, train| b.iter(|| black_box(params.fit(train.view()).unwrap())),
        );
    }
    group.finish();
}

fn error_rates(c: &mut Criterion) {
    for total in [450_usize, 100_000] {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let genuine: Vec<f64> = (0..total * 4 / 9).map(|_| rng.r#gen::<f64>()).collect();
        let impostor: Vec<f64> = (0..total * 5 / 9)
            .map(|_| 0.3 + rng.r#gen::<f64>())
            .collect();
        c.bench_with_input(
            BenchmarkId::new("metrics/error_rates", total),
            &(genuine, impostor),
            |b, (g, i)| {
                b.iter(|| {
                    let rates = metrics::error_rates(g, i).unwrap();
                    assert!(rates.eer > 0.0 && rates.eer < 0.5);
                    rates
                })
            },
        );
    }
}

criterion_group!(benches, detectors, network_fits, error_rates);
criterion_main!(benches);

//! Criterion benchmarks of the fixed-text detectors, timing-vector extraction, model storage
//! and the error-rate metrics.
//!
//! Names follow `area/operation/size`. Inputs are seeded; results are checked inside the timed
//! closures so the optimiser cannot drop the work.

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kinetype::detectors::{DetectorKind, DetectorParams, FittedDetector, VectorDetector};
use kinetype::evaluation::metrics;
use kinetype::events::KeyEvent;
use kinetype::keystroke::FixedPhrase;
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

/// USB HID usage ID of the left Shift key, held around the `R` of the CMU password.
const LEFT_SHIFT: u32 = 0xE1;

/// One seeded attempt at the CMU password: presses 80-250 ms apart, hold times of 60-140 ms,
/// and Shift held around the sixth key.
fn password_events(seed: u64) -> Vec<KeyEvent> {
    let codes = [
        0x37, 0x17, 0x0C, 0x08, 0x22, 0x15, 0x12, 0x04, 0x11, 0x0F, 0x28,
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut events = Vec::new();
    let mut t = 0_i64;
    for (k, code) in codes.into_iter().enumerate() {
        let hold = rng.gen_range(60_000..140_000);
        if k == 5 {
            events.push(KeyEvent::press(LEFT_SHIFT, t - 40_000));
            events.push(KeyEvent::release(LEFT_SHIFT, t + hold + 10_000));
        }
        events.push(KeyEvent::press(code, t));
        events.push(KeyEvent::release(code, t + hold));
        t += rng.gen_range(80_000..250_000);
    }
    events.sort_by_key(|e| e.time_us);
    events
}

fn timing_vector(c: &mut Criterion) {
    let phrase = FixedPhrase::cmu_password();
    let events = password_events(4);
    c.bench_function("keystroke/timing_vector/cmu_password", |b| {
        b.iter(|| {
            let vector = phrase
                .timing_vector(black_box(&events), &[LEFT_SHIFT])
                .expect("the generated attempt types the phrase");
            assert_eq!(vector.values.len(), 31);
            vector
        })
    });
}

/// Postcard round trips of fitted detectors with small and large stored state.
fn model_storage(c: &mut Criterion) {
    let train = vectors(200, 31, 1);
    for kind in [
        DetectorKind::ManhattanScaled,
        DetectorKind::NearestNeighborMahalanobis,
        DetectorKind::OneClassSvm,
    ] {
        let model = DetectorParams::new(kind)
            .fit(train.view())
            .expect("OK because the seeded training data is valid");
        let bytes = postcard::to_stdvec(&model).expect("a fitted detector serialises");
        c.bench_function(&format!("model/save/{kind}"), |b| {
            b.iter(|| {
                let out = postcard::to_stdvec(black_box(&model)).expect("serialises");
                assert_eq!(out.len(), bytes.len());
                out
            })
        });
        c.bench_function(&format!("model/load/{kind}"), |b| {
            b.iter(|| {
                let back: FittedDetector =
                    postcard::from_bytes(black_box(&bytes)).expect("round trip");
                assert_eq!(back.dimension(), 31);
                back
            })
        });
    }
}

fn error_rates(c: &mut Criterion) {
    for total in [450_usize, 100_000] {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let genuine: Vec<f64> = (0..total * 4 / 9).map(|_| rng.r#gen::<f64>()).collect();
        let impostor: Vec<f64> = (0..total * 5 / 9)
            .map(|_| 0.3 + rng.r#gen::<f64>())
            .collect();
        let scores = (genuine, impostor);
        c.bench_with_input(
            BenchmarkId::new("metrics/error_rates", total),
            &scores,
            |b, (g, i)| {
                b.iter(|| {
                    let rates = metrics::error_rates(g, i).unwrap();
                    assert!(rates.eer > 0.0 && rates.eer < 0.5);
                    rates
                })
            },
        );
        c.bench_with_input(
            BenchmarkId::new("metrics/roc", total),
            &scores,
            |b, (g, i)| {
                b.iter(|| {
                    let points = metrics::roc(g, i).unwrap();
                    assert!(points.len() > 1);
                    points
                })
            },
        );
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = detectors, network_fits, timing_vector, model_storage, error_rates
}
criterion_main!(benches);

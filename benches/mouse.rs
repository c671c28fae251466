//! Benches of the mouse pipeline on seeded synthetic sessions: parsing Balabit-format text,
//! segmentation and features (throughput in events/s), session scoring with a fitted forest
//! and with a fitted booster, fitting a forest with out-of-bag probabilities and fitting a
//! booster (throughput in training rows/s), and the forest's postcard round trip.

mod common;

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kinetype::datasets::balabit::parse_session;
use kinetype::mouse::boost::BoostParams;
use kinetype::mouse::forest::{ForestParams, RandomForest};
use kinetype::mouse::score::{SessionAggregate, session_score};
use kinetype::mouse::{N_FEATURES, SegmentParams, action_features, segment};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Builds a Balabit-format session of `events` rows: random walks with a click every 20 rows and the
/// client clock ticking 0 or 16 ms.
fn session_text(events: usize, seed: u64) -> String {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut text = String::from("record timestamp,client timestamp,button,state,x,y\n");
    let (mut t, mut x, mut y) = (0.0f64, 960i32, 540i32);
    for i in 0..events {
        t += if rng.gen_bool(0.15) { 0.0 } else { 0.016 };
        x = (x + rng.gen_range(-12..=12)).clamp(0, 1919);
        y = (y + rng.gen_range(-12..=12)).clamp(0, 1079);
        let (button, state) = match i % 20 {
            18 => ("Left", "Pressed"),
            19 => ("Left", "Released"),
            _ => ("NoButton", "Move"),
        };
        let _ = writeln!(text, "{t:.3},{t:.3},{button},{state},{x},{y}");
    }
    text
}

/// Builds `rows` rows of [`N_FEATURES`] features, every fourth row positive. Positive rows are
/// shifted by a fraction of a standard deviation, so the classes overlap. Every third feature is
/// log-normal, every fifth is a small count with many ties, and the last is constant.
fn overlapping_classes(rows: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let y: Vec<bool> = (0..rows).map(|i| i % 4 == 0).collect();
    let x = Array2::from_shape_fn((rows, N_FEATURES), |(i, f)| {
        let shift = if y[i] { 0.4 } else { 0.0 };
        // A sum of three uniforms is close enough to a normal variable here.
        let z: f64 = (0..3).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>() + shift;
        if f == N_FEATURES - 1 {
            1.0
        } else if f % 5 == 0 {
            (z * 2.0 + 4.0).max(0.0).round()
        } else if f % 3 == 0 {
            z.exp()
        } else {
            z
        }
    });
    (x, y)
}

fn bench(c: &mut Criterion) {
    let path = Path::new("bench/session");
    let mut group = c.benchmark_group("mouse");
    for events in [1_000usize, 100_000] {
        let text = session_text(events, 1);
        let parsed =
            parse_session(path, text.as_bytes()).expect("OK because the text is generated");
        // Rows the parser drops as exact duplicates still count as input events.
        group.throughput(Throughput::Elements(events as u64));
        group.bench_with_input(BenchmarkId::new("parse", events), &text, |b, text| {
            b.iter(|| {
                let s = parse_session(path, black_box(text.as_bytes())).expect("valid text");
                assert_eq!(s.events.len(), parsed.events.len());
            })
        });
        group.bench_with_input(BenchmarkId::new("segment", events), &parsed, |b, s| {
            b.iter(|| {
                let (actions, _) =
                    segment(black_box(&s.events), &s.breaks, &SegmentParams::default())
                        .expect("default params are valid");
                assert!(!actions.is_empty());
                actions
            })
        });
        let (actions, _) = segment(&parsed.events, &parsed.breaks, &SegmentParams::default())
            .expect("default params are valid");
        group.bench_with_input(BenchmarkId::new("features", events), &actions, |b, a| {
            b.iter(|| {
                let sum: f64 = black_box(a).iter().map(|a| action_features(a)[6]).sum();
                assert!(sum > 0.0);
                sum
            })
        });
        group.bench_with_input(
            BenchmarkId::new("segment_features", events),
            &parsed,
            |b, s| {
                b.iter(|| {
                    let (actions, _) =
                        segment(black_box(&s.events), &s.breaks, &SegmentParams::default())
                            .expect("default params are valid");
                    let sum: f64 = actions.iter().map(|a| action_features(a)[6]).sum();
                    assert!(sum > 0.0);
                })
            },
        );
    }
    group.finish();

    // A forest fitted on 2,000 synthetic actions scores a 50-action session.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let x = Array2::from_shape_fn((2_000, N_FEATURES), |(i, _)| {
        rng.gen_range(0.0..1.0) + if i % 2 == 0 { 0.3 } else { 0.0 }
    });
    let y: Vec<bool> = (0..2_000).map(|i| i % 2 == 0).collect();
    let params = ForestParams::default();
    let forest = params
        .fit(x.view(), &y)
        .expect("OK because the data has both classes");
    let session: Vec<Vec<f64>> = (0..50).map(|i| x.row(i).to_vec()).collect();
    let mut scoring = c.benchmark_group("mouse/score");
    scoring.throughput(Throughput::Elements(session.len() as u64));
    scoring.bench_function("session/50", |b| {
        b.iter(|| {
            let p: Vec<f64> = session
                .iter()
                .map(|row| {
                    forest
                        .predict_proba(black_box(row))
                        .expect("matching length")
                })
                .collect();
            let s = session_score(&p, params.n_trees, SessionAggregate::MeanLogOdds)
                .expect("probabilities are in [0, 1]");
            assert!(s.is_finite());
        })
    });
    // The replay's default two-class model, a booster, fitted on the same rows.
    let boost = BoostParams::default();
    let booster = boost
        .fit(x.view(), &y)
        .expect("OK because the data has both classes");
    let rows: Vec<f64> = session.iter().flatten().copied().collect();
    scoring.bench_function("boosted-session/50", |b| {
        b.iter(|| {
            let p = booster
                .predict_proba_rows(black_box(&rows))
                .expect("matching length");
            let s = session_score(&p, params.n_trees, SessionAggregate::MeanProbability)
                .expect("probabilities are in [0, 1]");
            assert!(s.is_finite());
        })
    });
    scoring.finish();

    // Fitting on data shaped like one Balabit user's training set: a quarter positive rows,
    // classes that overlap (so trees grow deep), heavy-tailed and tied feature values.
    let mut fitting = c.benchmark_group("mouse/forest/fit");
    fitting.sample_size(10);
    fitting.measurement_time(std::time::Duration::from_secs(10));
    let rows = 8_000;
    let (x, y) = overlapping_classes(rows, 3);
    fitting.throughput(Throughput::Elements(rows as u64));
    fitting.bench_with_input(BenchmarkId::from_parameter(rows), &x, |b, x| {
        b.iter(|| {
            let (forest, out_of_bag) = params
                .fit_out_of_bag(black_box(x.view()), &y)
                .expect("OK because the data has both classes");
            assert_eq!(forest.n_trees(), params.n_trees);
            assert_eq!(out_of_bag.len(), rows);
        })
    });
    fitting.finish();

    let mut boosting = c.benchmark_group("mouse/boost/fit");
    boosting.sample_size(10);
    boosting.measurement_time(std::time::Duration::from_secs(20));
    boosting.throughput(Throughput::Elements(rows as u64));
    boosting.bench_with_input(BenchmarkId::from_parameter(rows), &x, |b, x| {
        b.iter(|| {
            let booster = boost
                .fit(black_box(x.view()), &y)
                .expect("OK because the data has both classes");
            assert_eq!(booster.n_trees(), boost.n_rounds);
        })
    });
    // The histogram pass has a fast path for the default settings only: at most 64 bins per
    // feature and every feature in every tree. These two take the per-feature path.
    let variants = [
        (
            "255-bins",
            BoostParams {
                max_bins: 255,
                ..boost
            },
        ),
        (
            "half-features",
            BoostParams {
                colsample: 0.5,
                ..boost
            },
        ),
    ];
    for (name, params) in variants {
        let id = BenchmarkId::new(name, rows);
        boosting.bench_with_input(id, &x, |b, x| {
            b.iter(|| {
                let booster = params
                    .fit(black_box(x.view()), &y)
                    .expect("OK because the data has both classes");
                assert_eq!(booster.n_trees(), params.n_rounds);
            })
        });
    }
    boosting.finish();

    let bytes = postcard::to_stdvec(&forest).expect("a forest serialises");
    c.bench_function("model/save/forest_100_trees", |b| {
        b.iter(|| {
            let out = postcard::to_stdvec(black_box(&forest)).expect("serialises");
            assert_eq!(out.len(), bytes.len());
            out
        })
    });
    c.bench_function("model/load/forest_100_trees", |b| {
        b.iter(|| {
            let back: RandomForest = postcard::from_bytes(black_box(&bytes)).expect("round trip");
            assert_eq!(back.n_trees(), forest.n_trees());
            back
        })
    });
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);

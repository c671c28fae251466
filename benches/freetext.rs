//! Free-text feature extraction and streaming scoring, per event.
//!
//! Inputs are seeded synthetic typing over 30 browser key codes with rollover, so that the
//! models see repeated n-graphs as on real text.

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kinetype::events::KeyEvent;
use kinetype::freetext::{
    Background, ExtractConfig, FreeTextSample, KeySecret, NgraphRatio, NgraphRobust,
    StreamingScorer,
};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const CODES: [u32; 30] = [
    65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 82, 83, 84, 85, 87, 89, 32, 32,
    32, 69, 84, 65, 8, 16,
];

/// `keys` keystrokes as time-ordered events, about 15% of them rolled over.
fn typing(keys: usize, seed: u64) -> Vec<KeyEvent> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut raw = Vec::with_capacity(keys * 2);
    let mut t = 0i64;
    for _ in 0..keys {
        let code = CODES[rng.gen_range(0..CODES.len())];
        let hold = rng.gen_range(60_000..160_000);
        raw.push(KeyEvent::press(code, t));
        raw.push(KeyEvent::release(code, t + hold));
        t += rng.gen_range(80_000..260_000);
    }
    raw.sort_by_key(|e| e.time_us);
    raw
}

fn bench(c: &mut Criterion) {
    let secret = KeySecret::from_bytes([5; 16]);
    let config = ExtractConfig::default();
    let enrol: Vec<FreeTextSample> = (0..5)
        .map(|s| FreeTextSample::from_events(&typing(250, s), &secret, &config).0)
        .collect();
    let others: Vec<FreeTextSample> = (10..60)
        .map(|s| FreeTextSample::from_events(&typing(250, s), &secret, &config).0)
        .collect();
    let robust = NgraphRobust::fit(&enrol, &secret).expect("enrolment has timings");
    let background = Background::fit(&others, &secret).expect("background has timings");
    let ratio =
        NgraphRatio::fit(&enrol, &secret, std::sync::Arc::new(background)).expect("same secret");

    let mut group = c.benchmark_group("freetext");
    for keys in [100usize, 1000] {
        let events = typing(keys, 99);
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::new("extract", keys), &events, |b, events| {
            b.iter(|| {
                let (sample, _) = FreeTextSample::from_events(black_box(events), &secret, &config);
                assert!(!sample.observations.is_empty());
                sample
            })
        });
        group.bench_with_input(
            BenchmarkId::new("stream/robust", keys),
            &events,
            |b, events| {
                b.iter(|| {
                    let mut s = StreamingScorer::new(&robust, secret.clone(), config, 100)
                        .expect("valid scorer");
                    for &e in black_box(events) {
                        s.push(e);
                    }
                    assert!(s.score().is_some());
                    s.score()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("stream/ratio", keys),
            &events,
            |b, events| {
                b.iter(|| {
                    let mut s = StreamingScorer::new(&ratio, secret.clone(), config, 100)
                        .expect("valid scorer");
                    for &e in black_box(events) {
                        s.push(e);
                    }
                    assert!(s.score().is_some());
                    s.score()
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);

//! Criterion benchmarks of the continuous-authentication engine: ingestion throughput and
//! score/decide latency.
//!
//! Names follow `area/operation/size`. Inputs are synthetic people from a fixed seed (the
//! baseline hold-time keyboard modality and the test click modality of `tests/common`);
//! results are checked inside the timed closures.

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kinetype::engine::Verdict;
use kinetype::events::KeyEvent;

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Person, TestEngine, engine_with, enrol, small_config};

const USERS: u64 = 1_000;
const KEYS_PER_BATCH: usize = 50;
/// Distinct batches cycled through, so that replay hashes do not simply repeat.
const VARIANTS: u64 = 32;
/// Time between the starts of consecutive batches of one session, microseconds.
const BATCH_SPAN_US: i64 = 600_000_000;

fn setup(users: u64) -> TestEngine {
    let (engine, _) = engine_with(small_config(), 5);
    for user in 0..users {
        enrol(&engine, &format!("user-{user}"), &Person::new(user), user);
    }
    engine
}

fn variants(user: u64) -> Vec<Vec<KeyEvent>> {
    let person = Person::new(user);
    (0..VARIANTS)
        .map(|v| person.keys(KEYS_PER_BATCH, 0, user * VARIANTS + v))
        .collect()
}

/// Returns a copy of `batch` starting `round` batch spans later.
fn shifted(batch: &[KeyEvent], round: i64) -> Vec<KeyEvent> {
    let offset = round * BATCH_SPAN_US;
    batch
        .iter()
        .map(|e| KeyEvent {
            time_us: e.time_us + offset,
            ..*e
        })
        .collect()
}

fn ingestion(c: &mut Criterion) {
    let events_per_batch = 2 * KEYS_PER_BATCH as u64;

    let engine = setup(1);
    let batches = variants(0);
    let round = AtomicI64::new(0);
    let mut group = c.benchmark_group("engine/ingest_keyboard");
    group.throughput(Throughput::Elements(events_per_batch));
    group.bench_function("one_user/batch100", |b| {
        b.iter_batched(
            || {
                let r = round.fetch_add(1, Ordering::Relaxed);
                shifted(&batches[(r as u64 % VARIANTS) as usize], r)
            },
            |batch| engine.ingest_keyboard("user-0", 1, &batch).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let engine = setup(USERS);
    let per_user: Vec<Vec<Vec<KeyEvent>>> = (0..USERS).map(variants).collect();
    let round = AtomicI64::new(0);
    group.bench_function("1000_users/batch100", |b| {
        b.iter_batched(
            || {
                let r = round.fetch_add(1, Ordering::Relaxed);
                let user = r as u64 % USERS;
                let pass = r / USERS as i64;
                let batch = &per_user[user as usize][(pass as u64 % VARIANTS) as usize];
                (format!("user-{user}"), shifted(batch, pass))
            },
            |(user, batch)| engine.ingest_keyboard(&user, 1, &batch).unwrap(),
            BatchSize::SmallInput,
        )
    });

    // Two threads (the bench machine's core count) ingest for disjoint halves of the users.
    let threads = 2u64;
    let round = AtomicI64::new(0);
    group.throughput(Throughput::Elements(events_per_batch * threads * 8));
    group.bench_function("1000_users_2_threads/batch100x16", |b| {
        b.iter_batched(
            || {
                let r = round.fetch_add(1, Ordering::Relaxed);
                (0..threads)
                    .map(|t| {
                        (0..8)
                            .map(|i| {
                                let k = r as u64 * 16 + t * 8 + i;
                                let (user, pass) = (k % USERS, (k / USERS) as i64);
                                let idx = (pass as u64 % VARIANTS) as usize;
                                let batch = shifted(&per_user[user as usize][idx], pass + 1_000);
                                (format!("user-{user}"), batch)
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            },
            |work| {
                std::thread::scope(|scope| {
                    for part in &work {
                        let engine = &engine;
                        scope.spawn(move || {
                            for (user, batch) in part {
                                engine.ingest_keyboard(user, 1, batch).unwrap();
                            }
                        });
                    }
                })
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn scoring(c: &mut Criterion) {
    let engine = setup(1);
    let person = Person::new(0);
    engine
        .ingest_keyboard("user-0", 1, &person.keys(60, 0, 7))
        .unwrap();
    engine
        .ingest_mouse("user-0", 1, &person.clicks(20, 0.0, 7))
        .unwrap();
    assert_eq!(engine.decide("user-0", 1).unwrap().verdict, Verdict::Allow);
    c.bench_function("engine/score/active_session", |b| {
        b.iter(|| {
            let score = engine.score(black_box("user-0"), 1).unwrap();
            assert!(score.trust > 0.0);
        })
    });
    c.bench_function("engine/decide/active_session", |b| {
        b.iter(|| {
            let decision = engine.decide(black_box("user-0"), 1).unwrap();
            assert_eq!(decision.verdict, Verdict::Allow);
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ingestion, scoring
}
criterion_main!(benches);

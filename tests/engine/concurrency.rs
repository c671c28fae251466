//! Parallel ingestion gives the same results as a single-threaded run.

use std::thread;

use crate::common::{Person, TestEngine, engine_with, enrol, small_config};

const USERS: u64 = 1_000;
const SESSIONS_PER_USER: u64 = 2;
const BATCHES: usize = 4;
const THREADS: usize = 8;

/// Batches of one session: alternating keyboard and mouse, in session time order.
fn batches(
    user: u64,
    session: u64,
) -> Vec<(Vec<kinetype::events::KeyEvent>, Vec<crate::common::Click>)> {
    let person = Person::new(user);
    (0..BATCHES)
        .map(|b| {
            // Distinct seeds per (user, session, batch): equal seeds would replay timings.
            let seed = (user * 100 + session) * 10 + b as u64;
            let start = b as i64 * 60_000_000;
            (
                person.keys(8, start, seed),
                person.clicks(3, start as f64, seed),
            )
        })
        .collect()
}

fn enrolled_engine() -> TestEngine {
    let (engine, _) = engine_with(small_config(), 5);
    for user in 0..USERS {
        enrol(&engine, &format!("user-{user}"), &Person::new(user), user);
    }
    engine
}

fn ingest_session(
    engine: &TestEngine,
    user: u64,
    session: u64,
    batch: &(Vec<kinetype::events::KeyEvent>, Vec<crate::common::Click>),
) {
    let id = format!("user-{user}");
    engine.ingest_keyboard(&id, session, &batch.0).unwrap();
    engine.ingest_mouse(&id, session, &batch.1).unwrap();
}

#[test]
fn eight_threads_match_single_thread() {
    let work: Vec<(u64, u64)> = (0..USERS)
        .flat_map(|u| (0..SESSIONS_PER_USER).map(move |s| (u, s + 1)))
        .collect();
    let sequential = enrolled_engine();
    for &(user, session) in &work {
        for batch in batches(user, session) {
            ingest_session(&sequential, user, session, &batch);
        }
    }

    let parallel = enrolled_engine();
    thread::scope(|scope| {
        for thread_index in 0..THREADS {
            // Sessions go round-robin to threads, so the two sessions of a user run on
            // different threads; each thread interleaves the batches of all its sessions.
            let mine: Vec<(u64, u64)> = work
                .iter()
                .copied()
                .skip(thread_index)
                .step_by(THREADS)
                .collect();
            let engine = &parallel;
            scope.spawn(move || {
                let mut pending: Vec<_> = mine
                    .iter()
                    .map(|&(u, s)| (u, s, batches(u, s).into_iter()))
                    .collect();
                let mut sent = true;
                while sent {
                    sent = false;
                    for (user, session, rest) in &mut pending {
                        if let Some(batch) = rest.next() {
                            ingest_session(engine, *user, *session, &batch);
                            sent = true;
                        }
                    }
                }
            });
        }
    });

    for &(user, session) in &work {
        let id = format!("user-{user}");
        let expected = sequential.score(&id, session).unwrap();
        let actual = parallel.score(&id, session).unwrap();
        assert_eq!(actual, expected, "{id} session {session}");
        assert_eq!(actual.keyboard.actions, (BATCHES * 8) as u64);
    }
}

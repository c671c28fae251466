//! Rejected input gets a typed error and leaves stored state unchanged.

use kinetype::engine::Score;
use kinetype::events::KeyEvent;
use kinetype::{BatchProblem, Error};

use crate::common::{Click, Person, TestEngine, engine_with, enrol, small_config};

fn problem(result: kinetype::Result<()>) -> BatchProblem {
    match result {
        Err(Error::InvalidBatch { problem, .. }) => problem,
        other => panic!("expected InvalidBatch, got {other:?}"),
    }
}

fn setup() -> (TestEngine, Score) {
    let mut config = small_config();
    config.limits.max_batch_events = 500;
    let (engine, _) = engine_with(config, 5);
    let alice = Person::new(1);
    enrol(&engine, "alice", &alice, 1);
    engine
        .ingest_keyboard("alice", 7, &alice.keys(30, 1_000_000, 5))
        .unwrap();
    engine
        .ingest_mouse("alice", 7, &alice.clicks(10, 1_000_000.0, 5))
        .unwrap();
    let score = engine.score("alice", 7).unwrap();
    (engine, score)
}

#[test]
fn empty_and_oversized_batches() {
    let (engine, before) = setup();
    assert_eq!(
        problem(engine.ingest_keyboard("alice", 7, &[])),
        BatchProblem::Empty
    );
    let big = Person::new(1).keys(300, 900_000_000, 6);
    assert_eq!(
        problem(engine.ingest_keyboard("alice", 7, &big)),
        BatchProblem::TooLarge { len: 600, max: 500 }
    );
    assert_eq!(engine.score("alice", 7).unwrap(), before);
}

#[test]
fn bad_timestamps_rejected_whole() {
    let (engine, before) = setup();
    let t = 900_000_000.0;
    let nan = [
        Click {
            time_us: t,
            down: true,
        },
        Click {
            time_us: f64::NAN,
            down: false,
        },
    ];
    assert!(matches!(
        problem(engine.ingest_mouse("alice", 7, &nan)),
        BatchProblem::NonFiniteTimestamp { index: 1, .. }
    ));
    let inf = [Click {
        time_us: f64::INFINITY,
        down: true,
    }];
    assert!(matches!(
        problem(engine.ingest_mouse("alice", 7, &inf)),
        BatchProblem::NonFiniteTimestamp { index: 0, .. }
    ));
    let negative = [KeyEvent::press(1, -5)];
    assert_eq!(
        problem(engine.ingest_keyboard("alice", 9, &negative)),
        BatchProblem::NegativeTimestamp {
            index: 0,
            value: -5.0
        }
    );
    // Backwards within a batch: the good first event must not be applied either.
    let backwards = [
        KeyEvent::press(1, 950_000_000),
        KeyEvent::release(1, 940_000_000),
    ];
    assert!(matches!(
        problem(engine.ingest_keyboard("alice", 7, &backwards)),
        BatchProblem::TimeWentBackwards { index: 1, .. }
    ));
    // Backwards against the session's previous batch.
    let earlier = [KeyEvent::press(1, 10)];
    assert!(matches!(
        problem(engine.ingest_keyboard("alice", 7, &earlier)),
        BatchProblem::TimeWentBackwards { index: 0, .. }
    ));
    assert_eq!(engine.score("alice", 7).unwrap(), before);
    // Another session has its own clock.
    engine.ingest_keyboard("alice", 8, &earlier).unwrap();
}

#[test]
fn unknown_user_is_typed_and_hides_id() {
    let (engine, _) = setup();
    let err = engine
        .ingest_keyboard("bob@example.org", 1, &[KeyEvent::press(1, 1)])
        .unwrap_err();
    assert!(matches!(err, Error::UnknownUser { .. }), "{err}");
    assert!(!err.to_string().contains("bob"), "{err}");
    assert!(matches!(
        engine.score("bob@example.org", 1),
        Err(Error::UnknownUser { .. })
    ));
    assert!(matches!(
        engine.enrolment_status("bob@example.org"),
        Err(Error::UnknownUser { .. })
    ));
}

#[test]
fn scoring_an_enrolling_user_is_typed() {
    let (engine, _) = setup();
    engine.begin_enrolment("carol").unwrap();
    assert!(matches!(
        engine.decide("carol", 1),
        Err(Error::Enrolment { .. })
    ));
    assert!(matches!(
        engine.report_success("carol", 1),
        Err(Error::Enrolment { .. })
    ));
}

#[test]
fn user_limit_is_typed_error() {
    let mut config = small_config();
    config.limits.max_users = 2;
    let (engine, _) = engine_with(config, 0);
    engine.begin_enrolment("a").unwrap();
    engine.begin_enrolment("b").unwrap();
    // Beginning again for a known user needs no new slot.
    engine.begin_enrolment("a").unwrap();
    match engine.begin_enrolment("c") {
        Err(Error::ResourceLimit { name, limit }) => {
            assert_eq!(name, "max_users");
            assert_eq!(limit, 2);
        }
        other => panic!("expected ResourceLimit, got {other:?}"),
    }
    engine.remove_user("a").unwrap();
    engine.begin_enrolment("c").unwrap();
}

#[test]
fn session_limit_drops_least_recent_session() {
    let mut config = small_config();
    config.limits.max_sessions_per_user = 2;
    let (engine, clock) = engine_with(config, 5);
    let alice = Person::new(1);
    enrol(&engine, "alice", &alice, 1);
    for session in 1..=3 {
        engine
            .ingest_keyboard("alice", session, &alice.keys(5, 0, session))
            .unwrap();
        clock.advance_us(1_000);
    }
    assert_eq!(engine.score("alice", 1).unwrap().keyboard.actions, 0);
    assert_eq!(engine.score("alice", 2).unwrap().keyboard.actions, 5);
    assert_eq!(engine.score("alice", 3).unwrap().keyboard.actions, 5);
}

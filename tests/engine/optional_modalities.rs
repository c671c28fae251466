//! Engines with one modality: enrolment, scoring, decisions and a disabled modality's events.

use kinetype::Error;
use kinetype::engine::{EnrolmentStatus, Modalities, Reason, Verdict};

use crate::common::{Person, TestEngine, engine_with, small_config};

/// Builds an engine with `modalities` and 30 background people who have only the enabled
/// modality's data.
///
/// One modality of these synthetic people separates them less than two, so these tests need
/// more background people and a 5 % target FMR. With eight, one background person close to
/// the user keeps trust at its maximum and the target FMR becomes unreachable. The click modality has a single feature, so background people whose click
/// duration is within 25 % of the user's (`Person::new(1)`) are skipped: they are the same
/// person to that modality.
fn single_engine(modalities: Modalities) -> TestEngine {
    let mut config = small_config();
    config.modalities = modalities;
    config.target_fmr = 0.05;
    let (engine, _) = engine_with(config, 0);
    let user_click_ms = Person::new(1).click_ms;
    let distinct = |p: &Person| (p.click_ms / user_click_ms).ln().abs() > 0.25;
    let people = (0..)
        .map(|b| (b, Person::new(10_000 + b)))
        .filter(|(_, p)| !modalities.mouse || distinct(p))
        .take(30);
    for (b, person) in people {
        let keys = if modalities.keyboard {
            person.keys(80, 0, b)
        } else {
            Vec::new()
        };
        let clicks = if modalities.mouse {
            person.clicks(40, 0.0, b)
        } else {
            Vec::new()
        };
        engine.add_background_session(&keys, &clicks).unwrap();
    }
    engine
}

/// Feeds `person`'s actions of the enabled modalities into `session`.
fn feed(engine: &TestEngine, user: &str, session: u64, person: &Person, seed: u64, n: usize) {
    let on = engine.config().modalities;
    if on.keyboard {
        let keys = person.keys(n, 0, seed);
        engine.ingest_keyboard(user, session, &keys).unwrap();
    }
    if on.mouse {
        let clicks = person.clicks(n, 0.0, seed);
        engine.ingest_mouse(user, session, &clicks).unwrap();
    }
}

fn enrols_scores_and_decides(modalities: Modalities) {
    let engine = single_engine(modalities);
    let alice = Person::new(1);
    engine.begin_enrolment("alice").unwrap();
    feed(&engine, "alice", 0, &alice, 1, 70);
    assert_eq!(
        engine.enrolment_status("alice").unwrap(),
        EnrolmentStatus::ReadyToTrain
    );
    let report = engine.finish_enrolment("alice").unwrap();
    assert!(report.allow_threshold < 1.0, "{modalities:?}: {report:?}");
    let model = engine.user_model("alice").unwrap().unwrap();
    assert_eq!(model.keyboard.is_some(), modalities.keyboard);
    assert_eq!(model.mouse.is_some(), modalities.mouse);

    feed(&engine, "alice", 7, &alice, 77, 60);
    let genuine = engine.decide("alice", 7).unwrap();
    assert_eq!(genuine.verdict, Verdict::Allow, "{genuine:?}");
    let (used, unused) = if modalities.keyboard {
        (genuine.score.keyboard, genuine.score.mouse)
    } else {
        (genuine.score.mouse, genuine.score.keyboard)
    };
    assert!(used.sufficient);
    assert_eq!(unused.actions, 0);
    assert!(!unused.sufficient);

    // Mallory's clicks last much longer than Alice's, so the one-feature click modality can
    // tell them apart. Her key hold times come from another seed.
    let mut mallory = Person::new(99);
    mallory.click_ms = alice.click_ms * 1.8;
    feed(&engine, "alice", 8, &mallory, 78, 60);
    let impostor = engine.decide("alice", 8).unwrap();
    assert_eq!(impostor.verdict, Verdict::Deny, "{impostor:?}");
    assert_eq!(impostor.reason, Reason::LockedOut);
}

#[test]
fn keyboard_only_enrols_and_decides() {
    enrols_scores_and_decides(Modalities::KEYBOARD_ONLY);
}

#[test]
fn mouse_only_enrols_and_decides() {
    enrols_scores_and_decides(Modalities::MOUSE_ONLY);
}

#[test]
fn keyboard_only_status_needs_no_mouse() {
    let engine = single_engine(Modalities::KEYBOARD_ONLY);
    let alice = Person::new(1);
    engine.begin_enrolment("alice").unwrap();
    feed(&engine, "alice", 0, &alice, 1, 30);
    assert_eq!(
        engine.enrolment_status("alice").unwrap(),
        EnrolmentStatus::Collecting {
            keyboard: (30, 60),
            mouse: (0, 0)
        }
    );
}

#[test]
fn disabled_modality_events_are_rejected() {
    let alice = Person::new(1);
    let keyboard_only = single_engine(Modalities::KEYBOARD_ONLY);
    keyboard_only.begin_enrolment("alice").unwrap();
    let result = keyboard_only.ingest_mouse("alice", 0, &alice.clicks(5, 0.0, 1));
    assert!(
        matches!(
            result,
            Err(Error::ModalityDisabled {
                modality: "click-test"
            })
        ),
        "{result:?}"
    );
    let result = keyboard_only.add_background_session(&[], &alice.clicks(5, 0.0, 1));
    assert!(
        matches!(result, Err(Error::ModalityDisabled { .. })),
        "{result:?}"
    );

    let mouse_only = single_engine(Modalities::MOUSE_ONLY);
    mouse_only.begin_enrolment("alice").unwrap();
    let result = mouse_only.ingest_keyboard("alice", 0, &alice.keys(5, 0, 1));
    assert!(
        matches!(
            result,
            Err(Error::ModalityDisabled {
                modality: "keyboard"
            })
        ),
        "{result:?}"
    );
    // The rejected batch left nothing behind.
    assert_eq!(
        mouse_only.enrolment_status("alice").unwrap(),
        EnrolmentStatus::Collecting {
            keyboard: (0, 0),
            mouse: (0, 40)
        }
    );
}

#[test]
fn neither_modality_fails_construction() {
    let mut config = small_config();
    config.modalities = Modalities {
        keyboard: false,
        mouse: false,
    };
    let result = kinetype::engine::Engine::new(
        config,
        kinetype::engine::KeyHoldModality::new(crate::common::SECRET),
        crate::common::ClickModality,
    );
    let result: kinetype::Result<TestEngine> = result;
    assert!(
        matches!(
            result,
            Err(Error::InvalidParameter {
                name: "modalities",
                ..
            })
        ),
        "{result:?}"
    );
}

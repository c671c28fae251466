//! Enrolment, ingestion and decisions through the service, compared with the library.

use kinetype::engine::{Reason, Verdict};
use kinetype::events::{KeyAction, KeyEvent, MouseButton, MouseEvent, MouseKind};
use kinetype_grpc::proto;
use tonic::Code;

use crate::common::*;

fn to_key(e: &proto::KeyEvent) -> KeyEvent {
    let action = if e.action == proto::KeyAction::Press as i32 {
        KeyAction::Press
    } else {
        KeyAction::Release
    };
    KeyEvent {
        code: e.code,
        action,
        time_us: e.time_us,
    }
}

fn to_mouse(e: &proto::MouseEvent) -> MouseEvent {
    let kind = match proto::MouseKind::try_from(e.kind).unwrap() {
        proto::MouseKind::Press => MouseKind::Press,
        proto::MouseKind::Release => MouseKind::Release,
        _ => MouseKind::Move,
    };
    let button = if e.button == proto::MouseButton::Left as i32 {
        MouseButton::Left
    } else {
        MouseButton::None
    };
    MouseEvent {
        time_ms: e.time_ms,
        x: e.x,
        y: e.y,
        button,
        kind,
    }
}

fn verdict(v: Verdict) -> proto::Verdict {
    match v {
        Verdict::Allow => proto::Verdict::Allow,
        Verdict::StepUp => proto::Verdict::StepUp,
        _ => proto::Verdict::Deny,
    }
}

fn reason(r: Reason) -> i32 {
    let name = format!("{r:?}");
    let all = [
        proto::Reason::TrustAboveThreshold,
        proto::Reason::NotEnoughRecentEvidence,
        proto::Reason::TrustBelowThreshold,
        proto::Reason::LockedOut,
        proto::Reason::Replay,
        proto::Reason::SyntheticInput,
    ];
    all.into_iter()
        .find(|p| format!("{p:?}") == name)
        .map(|p| p as i32)
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_match_library() {
    let served = tempfile::tempdir().unwrap();
    let direct_dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(served.path(), small_config())).await;
    let mut client = server.client().await;
    let engine = kinetype_grpc::build_engine(&options(direct_dir.path(), small_config())).unwrap();

    add_background(&mut client, 8).await;
    for b in 0..8 {
        let person = Typist::new(10_000 + b);
        let keys: Vec<KeyEvent> = person.typing(25, 0, b).iter().map(to_key).collect();
        let mouse: Vec<MouseEvent> = person.mousing(45, 0.0, b).iter().map(to_mouse).collect();
        engine
            .add_background_session_of(&format!("person-{b}"), &keys, &mouse)
            .unwrap();
    }

    let alice = Typist::new(1);
    let status = client
        .enrollment_status(proto::EnrollmentStatusRequest {
            user: "alice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let served_report = enrol(&mut client, "alice", &alice).await;
    engine.begin_enrolment("alice").unwrap();
    let keys: Vec<KeyEvent> = alice.typing(25, 0, 1).iter().map(to_key).collect();
    for b in batches(&keys, 100) {
        engine.ingest_keyboard("alice", 0, &b).unwrap();
    }
    let clicks: Vec<MouseEvent> = alice.mousing(45, 0.0, 1).iter().map(to_mouse).collect();
    for b in batches(&clicks, 100) {
        engine.ingest_mouse("alice", 0, &b).unwrap();
    }
    let direct_report = engine.finish_enrolment("alice").unwrap();
    assert_eq!(served_report.allow_threshold, direct_report.allow_threshold);
    assert_eq!(
        served_report.impostor_allow_rate,
        direct_report.impostor_allow_rate
    );

    let status = client
        .enrollment_status(proto::EnrollmentStatusRequest {
            user: "alice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state(), proto::EnrollmentState::Enrolled);

    // Session 7 is alice herself, session 8 is another person on alice's account.
    let cases = [(7, Typist::new(1), 77), (8, Typist::new(99), 78)];
    let mut verdicts = Vec::new();
    for (id, person, seed) in cases {
        let keys = person.typing(5, 0, seed);
        let clicks = person.mousing(20, 0.0, seed);
        let requests = vec![
            key_batch("alice", id, keys.clone()),
            mouse_batch("alice", id, clicks.clone()),
        ];
        let ack = ingest(&mut client, requests).await.unwrap();
        assert_eq!(ack.batches_accepted, 2);
        assert_eq!(ack.events_accepted, (keys.len() + clicks.len()) as u64);
        let keys: Vec<KeyEvent> = keys.iter().map(to_key).collect();
        let clicks: Vec<MouseEvent> = clicks.iter().map(to_mouse).collect();
        engine.ingest_keyboard("alice", id, &keys).unwrap();
        engine.ingest_mouse("alice", id, &clicks).unwrap();

        let served = client
            .decide(session("alice", id))
            .await
            .unwrap()
            .into_inner();
        let direct = engine.decide("alice", id).unwrap();
        assert_eq!(served.verdict(), verdict(direct.verdict), "session {id}");
        assert_eq!(served.reason, reason(direct.reason), "session {id}");
        let evidence = served.evidence.unwrap();
        // The two engines read the clock at slightly different moments, so idle decay differs
        // by a few milliseconds' worth.
        assert!(
            (evidence.trust - direct.score.trust).abs() < 1e-3,
            "session {id}"
        );
        let keyboard = evidence.keyboard.unwrap();
        assert_eq!(keyboard.actions, direct.score.keyboard.actions);
        assert_eq!(evidence.mouse.unwrap().actions, direct.score.mouse.actions);
        assert_eq!(evidence.replay_hits, direct.score.replay_hits);
        assert_eq!(evidence.window, direct.score.window, "session {id}");
        assert!(evidence.window.is_some(), "session {id}");
        assert_eq!(evidence.verified, direct.score.verified);
        verdicts.push(served.verdict());
    }
    assert_eq!(verdicts[0], proto::Verdict::Allow);
    assert_eq!(verdicts[1], proto::Verdict::Deny);

    let score = client
        .score(session("alice", 7))
        .await
        .unwrap()
        .into_inner();
    let window = score.window.expect("the genuine session has a full window");
    assert!(window > score.allow_threshold);
    assert!(!score.verified);
    client.report_success(session("alice", 7)).await.unwrap();
    // Passing another factor empties the windows until new actions fill one.
    let verified = client
        .score(session("alice", 7))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.verified);
    assert_eq!(verified.window, None);
    client.end_session(session("alice", 7)).await.unwrap();
    let fresh = client
        .decide(session("alice", 7))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fresh.reason(), proto::Reason::NotEnoughRecentEvidence);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_enrolled_users() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(dir.path(), small_config())).await;
    let mut client = server.client().await;
    add_background(&mut client, 6).await;
    let report = enrol(&mut client, "bob", &Typist::new(2)).await;
    client
        .save_models(proto::SaveModelsRequest {})
        .await
        .unwrap();
    server.stop().await;

    let server = TestServer::start(options(dir.path(), small_config())).await;
    let mut client = server.client().await;
    let status = client
        .enrollment_status(proto::EnrollmentStatusRequest { user: "bob".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state(), proto::EnrollmentState::Enrolled);
    let decision = client.decide(session("bob", 1)).await.unwrap().into_inner();
    let evidence = decision.evidence.unwrap();
    assert_eq!(evidence.allow_threshold, report.allow_threshold);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_field_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(dir.path(), small_config())).await;
    let mut client = server.client().await;

    let status = client.decide(session("", 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("session.user"),
        "{}",
        status.message()
    );

    let status = client.decide(session("nobody", 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    client
        .begin_enrollment(proto::BeginEnrollmentRequest {
            user: "carol".into(),
        })
        .await
        .unwrap();
    let status = client.decide(session("carol", 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = client
        .finish_enrollment(proto::FinishEnrollmentRequest {
            user: "carol".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // The second batch goes back in time; the first stays applied and is counted.
    let requests = vec![
        key_batch("carol", 1, vec![key(65, proto::KeyAction::Press, 1_000)]),
        key_batch("carol", 1, vec![key(65, proto::KeyAction::Release, 500)]),
    ];
    let status = ingest(&mut client, requests).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("keys.events[0]"),
        "{}",
        status.message()
    );
    let accepted = status
        .metadata()
        .get(kinetype_grpc::BATCHES_ACCEPTED_TRAILER)
        .unwrap();
    assert_eq!(accepted.to_str().unwrap(), "1");

    let missing = proto::IngestRequest {
        session: Some(session("carol", 1)),
        batch: None,
    };
    let status = ingest(&mut client, vec![missing]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("batch"), "{}", status.message());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_person_is_checked() {
    let served = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(served.path(), small_config())).await;
    let mut client = server.client().await;
    // Two phrases starting at `start_us`; a second chunk of a stream must start later.
    let chunk = |person: &str, start_us: i64| proto::BackgroundChunk {
        key_events: Typist::new(3).typing(2, start_us, 1),
        mouse_events: Vec::new(),
        person: person.into(),
    };

    let long = "p".repeat(kinetype_grpc::MAX_USER_ID_BYTES + 1);
    let status = client
        .add_background_session(tokio_stream::iter(vec![chunk(&long, 0)]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("person"), "{}", status.message());

    let status = client
        .add_background_session(tokio_stream::iter(vec![
            chunk("erin", 0),
            chunk("frank", 60_000_000),
        ]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("earlier chunk"),
        "{}",
        status.message()
    );

    // Repeating the name, or leaving later chunks empty, is accepted.
    for chunks in [
        vec![chunk("erin", 0), chunk("erin", 60_000_000)],
        vec![chunk("erin", 0), chunk("", 60_000_000)],
        vec![chunk("", 0), chunk("erin", 60_000_000)],
    ] {
        client
            .add_background_session(tokio_stream::iter(chunks))
            .await
            .unwrap();
    }
    server.stop().await;
}

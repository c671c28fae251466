//! Balabit mouse sessions through the service, mouse only, compared with the library.
//!
//! Needs `$KINETYPE_DATA_DIR/balabit`; prints `skipped` and passes without it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kinetype::datasets::balabit::{self, SessionFile};
use kinetype::events::{MouseButton, MouseEvent, MouseKind};
use kinetype_grpc::{EvidenceSetting, ModalitySetting, ServiceConfig, proto};

use crate::common::*;

/// Events read from each training session, so that the test stays short in a debug build.
const TRAINING_EVENTS: usize = 20_000;

fn to_proto(e: &MouseEvent) -> proto::MouseEvent {
    let button = match e.button {
        MouseButton::None => proto::MouseButton::None,
        MouseButton::Left => proto::MouseButton::Left,
        MouseButton::Right => proto::MouseButton::Right,
        MouseButton::Middle => proto::MouseButton::Middle,
        MouseButton::Other => proto::MouseButton::Other,
    };
    let kind = match e.kind {
        MouseKind::Move => proto::MouseKind::Move,
        MouseKind::Press => proto::MouseKind::Press,
        MouseKind::Release => proto::MouseKind::Release,
        MouseKind::Drag => proto::MouseKind::Drag,
        MouseKind::Scroll => proto::MouseKind::Scroll,
    };
    mouse(e.time_ms, (e.x, e.y), button, kind)
}

fn data_dir() -> Option<PathBuf> {
    let root = PathBuf::from(std::env::var_os("KINETYPE_DATA_DIR")?).join(balabit::NAME);
    root.join(balabit::TRAINING_DIR).is_dir().then_some(root)
}

fn by_user(files: Vec<SessionFile>) -> BTreeMap<String, Vec<SessionFile>> {
    let mut map: BTreeMap<String, Vec<SessionFile>> = BTreeMap::new();
    for f in files {
        map.entry(f.user.clone()).or_default().push(f);
    }
    map
}

fn load(file: &SessionFile, max: usize) -> Vec<MouseEvent> {
    let mut events = balabit::load_session(&file.path).unwrap().events;
    events.truncate(max);
    events
}

fn mouse_only() -> ServiceConfig {
    let mut config = ServiceConfig {
        modalities: ModalitySetting {
            keyboard: false,
            mouse: true,
        },
        enrolment_evidence: EvidenceSetting {
            keyboard: 300,
            mouse: 300,
        },
        ..ServiceConfig::default()
    };
    config.limits.rate_per_second = 0;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balabit_decisions_match_library() {
    let Some(root) = data_dir() else {
        println!("skipped: $KINETYPE_DATA_DIR/balabit/training_files is missing");
        return;
    };
    let training = by_user(balabit::list_sessions(&root.join(balabit::TRAINING_DIR)).unwrap());
    let testing = by_user(balabit::list_sessions(&root.join(balabit::TEST_DIR)).unwrap());
    let users: Vec<&String> = training.keys().collect();
    assert!(
        users.len() >= 6,
        "expected 10 Balabit users, found {}",
        users.len()
    );
    let (enrolled, background) = (&users[..2], &users[2..6]);

    let served = tempfile::tempdir().unwrap();
    let direct_dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(served.path(), mouse_only())).await;
    let mut client = server.client().await;
    let engine = kinetype_grpc::build_engine(&options(direct_dir.path(), mouse_only())).unwrap();

    for user in background {
        let events = load(&training[*user][0], TRAINING_EVENTS);
        let chunks: Vec<proto::BackgroundChunk> = batches(&events, 5000)
            .into_iter()
            .map(|b| proto::BackgroundChunk {
                key_events: Vec::new(),
                mouse_events: b.iter().map(to_proto).collect(),
                person: user.to_string(),
            })
            .collect();
        client
            .add_background_session(tokio_stream::iter(chunks))
            .await
            .unwrap();
        engine
            .add_background_session_of(user, &[], &events)
            .unwrap();
    }
    for user in enrolled {
        let events = load(&training[*user][0], TRAINING_EVENTS);
        client
            .begin_enrollment(proto::BeginEnrollmentRequest {
                user: user.to_string(),
            })
            .await
            .unwrap();
        let requests = batches(&events, 1000)
            .into_iter()
            .map(|b| mouse_batch(user, 0, b.iter().map(to_proto).collect()))
            .collect();
        ingest(&mut client, requests).await.unwrap();
        let served_report = client
            .finish_enrollment(proto::FinishEnrollmentRequest {
                user: user.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        engine.begin_enrolment(user).unwrap();
        for b in batches(&events, 1000) {
            engine.ingest_mouse(user, 0, &b).unwrap();
        }
        let direct_report = engine.finish_enrolment(user).unwrap();
        assert_eq!(
            served_report.allow_threshold, direct_report.allow_threshold,
            "{user}"
        );
    }

    let mut compared = 0;
    for user in enrolled {
        for (i, file) in testing[*user].iter().take(3).enumerate() {
            let id = 100 + i as u64;
            let events = load(file, usize::MAX);
            let requests = batches(&events, 1000)
                .into_iter()
                .map(|b| mouse_batch(user, id, b.iter().map(to_proto).collect()))
                .collect();
            let ack = ingest(&mut client, requests).await.unwrap();
            assert_eq!(ack.events_accepted, events.len() as u64);
            for b in batches(&events, 1000) {
                engine.ingest_mouse(user, id, &b).unwrap();
            }
            let served = client.decide(session(user, id)).await.unwrap().into_inner();
            let direct = engine.decide(user, id).unwrap();
            let evidence = served.evidence.unwrap();
            let label = format!("{user} {}", file.session);
            println!(
                "{label}: {:?} ({:?}), trust {:.3}, {} mouse actions",
                served.verdict(),
                served.reason(),
                evidence.trust,
                direct.score.mouse.actions
            );
            assert_eq!(
                format!("{:?}", served.verdict()).to_lowercase(),
                format!("{:?}", direct.verdict).to_lowercase(),
                "{label}"
            );
            assert!(
                (evidence.trust - direct.score.trust).abs() < 1e-3,
                "{label}"
            );
            assert_eq!(
                evidence.mouse.unwrap().actions,
                direct.score.mouse.actions,
                "{label}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 6);
    server.stop().await;
}

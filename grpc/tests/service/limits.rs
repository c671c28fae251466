//! Each request limit gets RESOURCE_EXHAUSTED.

use std::time::Duration;

use kinetype_grpc::proto;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.limits.max_message_bytes = 4096;
    let server = TestServer::start(options(dir.path(), config.clone())).await;
    let mut client = server.client().await;
    client
        .begin_enrollment(proto::BeginEnrollmentRequest {
            user: "erin".into(),
        })
        .await
        .unwrap();
    // About 30 bytes an event: 1,000 events are far above 4 KiB but below max_batch_events.
    let events = Typist::new(4).mousing(80, 0.0, 1);
    assert!(events.len() < config.limits.max_batch_events);
    let status = ingest(&mut client, vec![mouse_batch("erin", 1, events)])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_message_bytes"),
        "{}",
        status.message()
    );

    let long_user = proto::BeginEnrollmentRequest {
        user: "u".repeat(5000),
    };
    let status = client.begin_enrollment(long_user).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.limits.max_batch_events = 50;
    let server = TestServer::start(options(dir.path(), config)).await;
    let mut client = server.client().await;
    client
        .begin_enrollment(proto::BeginEnrollmentRequest {
            user: "erin".into(),
        })
        .await
        .unwrap();
    let events = Typist::new(4).typing(3, 0, 1);
    assert!(events.len() > 50);
    let requests = vec![
        key_batch("erin", 1, events[..50].to_vec()),
        key_batch("erin", 1, events[50..].to_vec()),
        key_batch("erin", 1, events.clone()),
    ];
    let status = ingest(&mut client, requests).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_batch_events"),
        "{}",
        status.message()
    );
    let accepted = status
        .metadata()
        .get(kinetype_grpc::BATCHES_ACCEPTED_TRAILER)
        .unwrap();
    assert_eq!(accepted.to_str().unwrap(), "2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_stream_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    config.limits.max_streams = 1;
    let server = TestServer::start(options(dir.path(), config)).await;
    let mut client = server.client().await;
    client
        .begin_enrollment(proto::BeginEnrollmentRequest {
            user: "erin".into(),
        })
        .await
        .unwrap();

    // Two streams are opened at once and both stay open until their senders are dropped, so
    // whichever reaches the server second must be rejected. Which one that is depends on
    // scheduling, so the test waits for the first to finish instead of assuming an order.
    let keys = Typist::new(4).typing(1, 0, 1);
    let mut senders = Vec::new();
    let mut calls = Vec::new();
    for (session, len) in [(1, 10), (2, 4)] {
        let (tx, rx) = mpsc::channel(4);
        tx.send(key_batch("erin", session, keys[..len].to_vec()))
            .await
            .unwrap();
        let mut stream_client = client.clone();
        calls.push(tokio::spawn(async move {
            stream_client.ingest(ReceiverStream::new(rx)).await
        }));
        senders.push(tx);
    }
    let (mut one, mut two) = (calls.remove(0), calls.remove(0));
    let (finished, one_finished) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            r = &mut one => (r, true),
            r = &mut two => (r, false),
        }
    })
    .await
    .expect("neither stream was rejected while both were open");
    let status = finished
        .unwrap()
        .expect_err("a second stream was accepted while the first was open");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_streams"),
        "{}",
        status.message()
    );
    // Closing the senders ends the accepted stream. Its one batch was applied.
    drop(senders);
    let open = if one_finished { two } else { one };
    let ack = open.await.unwrap().unwrap().into_inner();
    assert_eq!(ack.batches_accepted, 1);
    // With both streams closed, a new one is accepted.
    let ack = ingest(&mut client, vec![key_batch("erin", 3, keys[..4].to_vec())])
        .await
        .unwrap();
    assert_eq!(ack.batches_accepted, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_over_rate_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    // A burst of 5, then one new token a second; the eight calls take far less than a second.
    config.limits.rate_per_second = 1;
    config.limits.rate_burst = 5;
    let server = TestServer::start(options(dir.path(), config)).await;
    let mut client = server.client().await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let code = match client.decide(session("nobody", 1)).await {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        codes.push(code);
    }
    assert!(codes[..5].iter().all(|&c| c == Code::NotFound), "{codes:?}");
    assert!(
        codes[5..].iter().all(|&c| c == Code::ResourceExhausted),
        "{codes:?}"
    );
    server.stop().await;
}

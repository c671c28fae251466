//! Every RPC without the bearer token, or with a wrong one, gets UNAUTHENTICATED.

use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

use kinetype_grpc::proto;

use crate::common::*;

/// Calls every Scoring RPC once and returns the status codes in order.
async fn call_all(client: &mut Client) -> Vec<(&'static str, Code)> {
    fn code<T>(r: Result<T, tonic::Status>) -> Code {
        match r {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        }
    }
    let user = || proto::BeginEnrollmentRequest {
        user: "dave".into(),
    };
    let chunk = proto::BackgroundChunk {
        key_events: Typist::new(3).typing(1, 0, 1),
        mouse_events: Vec::new(),
        person: String::new(),
    };
    vec![
        (
            "BeginEnrollment",
            code(client.begin_enrollment(user()).await),
        ),
        (
            "Ingest",
            code(
                ingest(
                    client,
                    vec![key_batch("dave", 1, Typist::new(3).typing(1, 0, 1))],
                )
                .await,
            ),
        ),
        (
            "EnrollmentStatus",
            code(
                client
                    .enrollment_status(proto::EnrollmentStatusRequest {
                        user: "dave".into(),
                    })
                    .await,
            ),
        ),
        (
            "AddBackgroundSession",
            code(
                client
                    .add_background_session(tokio_stream::iter(vec![chunk]))
                    .await,
            ),
        ),
        (
            "FinishEnrollment",
            code(
                client
                    .finish_enrollment(proto::FinishEnrollmentRequest {
                        user: "dave".into(),
                    })
                    .await,
            ),
        ),
        ("Score", code(client.score(session("dave", 1)).await)),
        ("Decide", code(client.decide(session("dave", 1)).await)),
        (
            "ReportSuccess",
            code(client.report_success(session("dave", 1)).await),
        ),
        (
            "EndSession",
            code(client.end_session(session("dave", 1)).await),
        ),
        (
            "SaveModels",
            code(client.save_models(proto::SaveModelsRequest {}).await),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_needs_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(dir.path(), small_config())).await;
    for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
        let mut client = server.client_with(token).await;
        let codes = call_all(&mut client).await;
        assert_eq!(codes.len(), 10);
        for (rpc, code) in codes {
            assert_eq!(code, Code::Unauthenticated, "{rpc} with token {token:?}");
        }
    }
    // With the token, no call is rejected for authentication.
    let mut client = server.client().await;
    for (rpc, code) in call_all(&mut client).await {
        assert_ne!(code, Code::Unauthenticated, "{rpc}");
    }
    server.stop().await;
}

async fn health(channel: Channel, token: Option<&str>) -> Result<i32, tonic::Status> {
    let mut client = HealthClient::with_interceptor(channel, Bearer(token.map(str::to_owned)));
    let request = HealthCheckRequest {
        service: "kinetype.v1.Scoring".into(),
    };
    Ok(client.check(request).await?.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_open_unless_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(dir.path(), small_config())).await;
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(health(server.channel().await, None).await.unwrap(), serving);
    server.stop().await;

    let mut config = small_config();
    config.guard_health = true;
    let server = TestServer::start(options(dir.path(), config)).await;
    let status = health(server.channel().await, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = health(server.channel().await, Some("wrong-token-0123456789"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        health(server.channel().await, Some(TOKEN)).await.unwrap(),
        serving
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_needs_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(options(dir.path(), small_config())).await;
    let list = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut anonymous =
        ServerReflectionClient::with_interceptor(server.channel().await, Bearer(None));
    let status = match anonymous
        .server_reflection_info(tokio_stream::iter(vec![list()]))
        .await
    {
        Ok(_) => panic!("reflection answered without a token"),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut client = ServerReflectionClient::with_interceptor(
        server.channel().await,
        Bearer(Some(TOKEN.into())),
    );
    let mut replies = client
        .server_reflection_info(tokio_stream::iter(vec![list()]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let text = format!("{reply:?}");
    assert!(text.contains("kinetype.v1.Scoring"), "{text}");
    assert!(text.contains("grpc.health.v1.Health"), "{text}");
    server.stop().await;
}

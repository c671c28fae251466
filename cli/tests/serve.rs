//! `kinetype serve` as a child process: SIGTERM during ingestion, then a restart on the same
//! model directory, must keep every batch the server acknowledged.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kinetype::engine::EnrolmentStatus;
use kinetype::events::{KeyAction, KeyEvent};
use kinetype_grpc::proto::scoring_client::ScoringClient;
use kinetype_grpc::proto::{self, ingest_request::Batch};
use kinetype_grpc::{EvidenceSetting, ServeOptions, ServiceConfig};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;
use tonic::transport::Channel;

const TOKEN: &str = "serve-test-token-0123456789";
const SECRET: &[u8] = b"serve test secret of 32 bytes ..";
const CONFIG: &str = "[enrolment_evidence]\nkeyboard = 20000\nmouse = 40\n\
                      [min_evidence]\nkeyboard = 20\nmouse = 10\n\
                      [limits]\nrate_per_second = 0\nshutdown_grace_seconds = 20\n";
/// Key codes of one typed phrase: "THE QUICK FOX".
const PHRASE: [u32; 13] = [84, 72, 69, 32, 81, 85, 73, 67, 75, 32, 70, 79, 88];

/// Writes the token, secret and configuration files into `dir`.
fn write_files(dir: &Path) {
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    std::fs::write(dir.join("config.toml"), CONFIG).unwrap();
}

/// A server child process, killed when dropped so that a failing test leaves none behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kinetype serve` on an ephemeral loopback port and returns it with its address.
fn spawn_server(dir: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinetype"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--models")
        .arg(dir.join("models"))
        .arg("--auth-token-file")
        .arg(dir.join("token"))
        .arg("--secret-file")
        .arg(dir.join("secret"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (Server(child), addr)
}

type Client = ScoringClient<
    tonic::service::interceptor::InterceptedService<
        Channel,
        fn(Request<()>) -> Result<Request<()>, tonic::Status>,
    >,
>;

async fn client(addr: &str) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    fn bearer(mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        let value = format!("Bearer {TOKEN}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
    ScoringClient::with_interceptor(channel, bearer as fn(_) -> _)
}

/// Batch `n` of a user: the phrase typed once from `n` × 10 s, every key released.
fn phrase(n: usize, hold_ms: i64) -> Vec<proto::KeyEvent> {
    let mut events = Vec::new();
    let mut t = n as i64 * 10_000_000;
    for &code in &PHRASE {
        t += 180_000;
        for (action, time_us) in [
            (proto::KeyAction::Press, t),
            (proto::KeyAction::Release, t + hold_ms * 1000),
        ] {
            events.push(proto::KeyEvent {
                code,
                action: action as i32,
                time_us,
            });
        }
    }
    events
}

/// Keyboard actions the library collects for enrolment from the first `n` batches.
fn expected_actions(dir: &Path, hold_ms: i64, n: usize) -> usize {
    let options = ServeOptions {
        model_dir: dir.to_owned(),
        auth_token: TOKEN.into(),
        secret: SECRET.to_vec(),
        tls: None,
        config: ServiceConfig {
            enrolment_evidence: EvidenceSetting {
                keyboard: 20_000,
                mouse: 40,
            },
            ..ServiceConfig::default()
        },
    };
    let engine = kinetype_grpc::build_engine(&options).unwrap();
    engine.begin_enrolment("u").unwrap();
    for b in 0..n {
        let events: Vec<KeyEvent> = phrase(b, hold_ms)
            .iter()
            .map(|e| KeyEvent {
                code: e.code,
                action: if e.action == proto::KeyAction::Press as i32 {
                    KeyAction::Press
                } else {
                    KeyAction::Release
                },
                time_us: e.time_us,
            })
            .collect();
        engine.ingest_keyboard("u", 1, &events).unwrap();
    }
    match engine.enrolment_status("u").unwrap() {
        EnrolmentStatus::Collecting { keyboard, .. } => keyboard.0,
        other => panic!("unexpected status {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_acknowledged_batches() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let (mut child, addr) = spawn_server(dir.path());
    let users = 4;
    let mut c = client(&addr).await;
    for u in 0..users {
        let request = proto::BeginEnrollmentRequest {
            user: format!("user-{u}"),
        };
        c.begin_enrollment(request).await.unwrap();
    }

    // Each user streams one phrase per batch until the server ends the stream.
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for u in 0..users {
        let mut c = client(&addr).await;
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let (tx, rx) = mpsc::channel(2);
            let feeder = tokio::spawn(async move {
                for n in 0..100_000 {
                    let request = proto::IngestRequest {
                        session: Some(proto::SessionRef {
                            user: format!("user-{u}"),
                            session: 1,
                        }),
                        batch: Some(Batch::Keys(proto::KeyBatch {
                            events: phrase(n, 80 + 10 * u as i64),
                        })),
                    };
                    if tx.send(request).await.is_err() {
                        return n;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                100_000
            });
            let ack = c
                .ingest(ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            feeder.abort();
            ack
        }));
    }
    while sent.load(Ordering::SeqCst) < 40 * users {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let mut acks = Vec::new();
    for task in tasks {
        acks.push(task.await.unwrap());
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "server exited with {status}");

    let (mut child, addr) = spawn_server(dir.path());
    let mut c = client(&addr).await;
    for (u, ack) in acks.iter().enumerate() {
        assert!(ack.server_shutting_down, "user {u}: {ack:?}");
        assert!(ack.batches_accepted > 0, "user {u}: {ack:?}");
        let status = c
            .enrollment_status(proto::EnrollmentStatusRequest {
                user: format!("user-{u}"),
            })
            .await
            .unwrap()
            .into_inner();
        let collected = status.keyboard.unwrap().collected as usize;
        let scratch = tempfile::tempdir().unwrap();
        let expected = expected_actions(
            scratch.path(),
            80 + 10 * u as i64,
            ack.batches_accepted as usize,
        );
        assert_eq!(collected, expected, "user {u}: {ack:?}");
    }
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(child.0.wait().unwrap().success());
}

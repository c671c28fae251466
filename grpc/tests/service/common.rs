//! A server on an ephemeral loopback port, authenticated clients, and synthetic users.
#![allow(dead_code, reason = "each test module uses a different subset")]
#![allow(unreachable_pub, reason = "shared by the test modules of one binary")]

use std::net::SocketAddr;
use std::path::Path;

use kinetype_grpc::proto::scoring_client::ScoringClient;
use kinetype_grpc::proto::{self, ingest_request::Batch};
use kinetype_grpc::{EvidenceSetting, ServeError, ServeOptions, ServiceConfig};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const SECRET: &[u8] = b"grpc test secret of 32 bytes ...";

/// Small evidence amounts so that enrolment takes a few hundred synthetic events.
pub fn small_config() -> ServiceConfig {
    let mut config = ServiceConfig {
        enrolment_evidence: EvidenceSetting {
            keyboard: 250,
            mouse: 40,
        },
        min_evidence: EvidenceSetting {
            keyboard: 20,
            mouse: 10,
        },
        ..ServiceConfig::default()
    };
    config.limits.rate_per_second = 0;
    config
}

pub fn options(dir: &Path, config: ServiceConfig) -> ServeOptions {
    ServeOptions {
        model_dir: dir.to_owned(),
        auth_token: TOKEN.as_bytes().to_vec(),
        secret: SECRET.to_vec(),
        tls: None,
        config,
    }
}

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    pub async fn start(options: ServeOptions) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(kinetype_grpc::serve(options, listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Signals shutdown and waits for the server to drain and save.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn client(&self) -> Client {
        ScoringClient::with_interceptor(self.channel().await, Bearer(Some(TOKEN.into())))
    }

    pub async fn client_with(&self, token: Option<&str>) -> Client {
        ScoringClient::with_interceptor(self.channel().await, Bearer(token.map(str::to_owned)))
    }
}

/// Adds `authorization: Bearer <token>` to each request, or nothing for `None`.
#[derive(Clone)]
pub struct Bearer(pub Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

pub type Client = ScoringClient<InterceptedService<Channel, Bearer>>;

/// Browser key codes of the phrase every synthetic person types: "THE QUICK FOX".
const PHRASE: [u32; 13] = [84, 72, 69, 32, 81, 85, 73, 67, 75, 32, 70, 79, 88];

/// A synthetic typist and mouse user.
#[derive(Debug, Clone)]
pub struct Typist {
    holds_ms: [f64; PHRASE.len()],
    latencies_ms: [f64; PHRASE.len()],
    speed: f64,
    bend: f64,
    click_ms: f64,
}

impl Typist {
    pub fn new(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut holds_ms = [0.0; PHRASE.len()];
        let mut latencies_ms = [0.0; PHRASE.len()];
        for (h, l) in holds_ms.iter_mut().zip(&mut latencies_ms) {
            *h = rng.gen_range(60.0..160.0);
            *l = rng.gen_range(120.0..320.0);
        }
        Typist {
            holds_ms,
            latencies_ms,
            speed: rng.gen_range(4.0..20.0),
            bend: rng.gen_range(-40.0..40.0),
            click_ms: rng.gen_range(70.0..200.0),
        }
    }

    /// Key events of the phrase typed `times` times from `start_us`, in time order.
    pub fn typing(&self, times: usize, start_us: i64, seed: u64) -> Vec<proto::KeyEvent> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut events = Vec::new();
        let mut t = start_us;
        for _ in 0..times {
            for (i, &code) in PHRASE.iter().enumerate() {
                // Latencies vary by up to 25 %, as human key-to-key times do. Much steadier
                // typing of a repeated phrase would match earlier sessions within the tolerant
                // replay check's 20 ms, so it would be denied as a replay.
                t += (self.latencies_ms[i] * rng.gen_range(0.75..1.25) * 1000.0) as i64;
                let hold = (self.holds_ms[i] * rng.gen_range(0.92..1.08) * 1000.0) as i64;
                events.push(key(code, proto::KeyAction::Press, t));
                events.push(key(code, proto::KeyAction::Release, t + hold));
            }
            t += 1_000_000;
        }
        events.sort_by_key(|e| e.time_us);
        events
    }

    /// `n` point-and-click actions from `start_ms`, each a curved path of 12 moves.
    pub fn mousing(&self, n: usize, start_ms: f64, seed: u64) -> Vec<proto::MouseEvent> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut events = Vec::new();
        let mut t = start_ms;
        for _ in 0..n {
            let speed = self.speed * rng.gen_range(0.9..1.1);
            let angle: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
            let (x0, y0) = (rng.gen_range(200.0..800.0), rng.gen_range(200.0..600.0));
            let mut at = (x0, y0);
            for i in 0..12 {
                let s = f64::from(i) / 11.0;
                let bend = self.bend * (std::f64::consts::PI * s).sin();
                let along = speed * f64::from(i);
                at = (
                    x0 + along * angle.cos() - bend * angle.sin(),
                    y0 + along * angle.sin() + bend * angle.cos(),
                );
                events.push(mouse(
                    t,
                    at,
                    proto::MouseButton::None,
                    proto::MouseKind::Move,
                ));
                t += 16.0;
            }
            events.push(mouse(
                t,
                at,
                proto::MouseButton::Left,
                proto::MouseKind::Press,
            ));
            t += self.click_ms * rng.gen_range(0.9..1.1);
            events.push(mouse(
                t,
                at,
                proto::MouseButton::Left,
                proto::MouseKind::Release,
            ));
            t += rng.gen_range(300.0..1500.0);
        }
        events
    }
}

pub fn key(code: u32, action: proto::KeyAction, time_us: i64) -> proto::KeyEvent {
    proto::KeyEvent {
        code,
        action: action as i32,
        time_us,
    }
}

pub fn mouse(
    time_ms: f64,
    (x, y): (f64, f64),
    button: proto::MouseButton,
    kind: proto::MouseKind,
) -> proto::MouseEvent {
    proto::MouseEvent {
        time_ms,
        x,
        y,
        button: button as i32,
        kind: kind as i32,
    }
}

pub fn session(user: &str, session: u64) -> proto::SessionRef {
    proto::SessionRef {
        user: user.into(),
        session,
    }
}

pub fn key_batch(user: &str, id: u64, events: Vec<proto::KeyEvent>) -> proto::IngestRequest {
    proto::IngestRequest {
        session: Some(session(user, id)),
        batch: Some(Batch::Keys(proto::KeyBatch { events })),
    }
}

pub fn mouse_batch(user: &str, id: u64, events: Vec<proto::MouseEvent>) -> proto::IngestRequest {
    proto::IngestRequest {
        session: Some(session(user, id)),
        batch: Some(Batch::Mouse(proto::MouseBatch { events })),
    }
}

/// Splits events into batches of at most `size`.
pub fn batches<T: Clone>(events: &[T], size: usize) -> Vec<Vec<T>> {
    events.chunks(size).map(<[T]>::to_vec).collect()
}

/// Sends `requests` as one Ingest stream.
pub async fn ingest(
    client: &mut Client,
    requests: Vec<proto::IngestRequest>,
) -> Result<proto::IngestResponse, Status> {
    client
        .ingest(tokio_stream::iter(requests))
        .await
        .map(tonic::Response::into_inner)
}

/// Adds `n` synthetic background people (seeds 10,000 and up, named `person-0` and up)
/// through the service.
pub async fn add_background(client: &mut Client, n: u64) {
    for b in 0..n {
        let person = Typist::new(10_000 + b);
        let chunk = proto::BackgroundChunk {
            key_events: person.typing(25, 0, b),
            mouse_events: person.mousing(45, 0.0, b),
            person: format!("person-{b}"),
        };
        client
            .add_background_session(tokio_stream::iter(vec![chunk]))
            .await
            .unwrap();
    }
}

/// Enrols `user` as `person` through the service: 25 phrases and 45 clicks in session 0.
pub async fn enrol(
    client: &mut Client,
    user: &str,
    person: &Typist,
) -> proto::FinishEnrollmentResponse {
    client
        .begin_enrollment(proto::BeginEnrollmentRequest { user: user.into() })
        .await
        .unwrap();
    let mut requests = Vec::new();
    for b in batches(&person.typing(25, 0, 1), 100) {
        requests.push(key_batch(user, 0, b));
    }
    for b in batches(&person.mousing(45, 0.0, 1), 100) {
        requests.push(mouse_batch(user, 0, b));
    }
    ingest(client, requests).await.unwrap();
    client
        .finish_enrollment(proto::FinishEnrollmentRequest { user: user.into() })
        .await
        .unwrap()
        .into_inner()
}

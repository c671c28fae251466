//! Load test of the scoring service on 127.0.0.1: Decide RPCs per second with p50 and p99
//! latency, then ingestion events per second over many concurrent streams, and the process's
//! resident memory (RSS) at the start and the end.
//!
//! The server runs in this process on an ephemeral loopback port with a synthetic enrolled
//! user. Each phase stops at its time limit or its request cap, whichever comes first.
//!
//! ```text
//! cargo run --release -p kinetype-grpc --example load -- [SECONDS] [CONNECTIONS] [STREAMS]
//! ```
//!
//! Defaults: 60 s in all (half Decide, half ingestion), 8 client connections with 8 callers
//! each for Decide, 64 ingest streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kinetype_grpc::proto::scoring_client::ScoringClient;
use kinetype_grpc::proto::{self, ingest_request::Batch};
use kinetype_grpc::{EvidenceSetting, ServeOptions, ServiceConfig};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tokio::net::TcpListener;
use tonic::Request;
use tonic::transport::Channel;

const TOKEN: &str = "load-test-token-0123456789";
/// Upper bound on Decide calls, whatever the time limit.
const MAX_DECIDES: u64 = 50_000_000;
/// Upper bound on ingested batches, whatever the time limit.
const MAX_BATCHES: u64 = 10_000_000;

type Client = ScoringClient<
    tonic::service::interceptor::InterceptedService<
        Channel,
        fn(Request<()>) -> Result<Request<()>, tonic::Status>,
    >,
>;

fn bearer(mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
    let value = format!("Bearer {TOKEN}")
        .parse()
        .expect("OK because the token is ASCII");
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

async fn connect(addr: std::net::SocketAddr) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("OK because the address is valid")
        .connect()
        .await
        .expect("loopback server is up");
    ScoringClient::with_interceptor(channel, bearer as fn(_) -> _)
}

/// Resident set size of this process in KiB, from /proc/self/status (Linux only).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `n` mouse point-and-click actions from `start_ms`, 14 events each.
fn clicks(rng: &mut Xoshiro256PlusPlus, n: usize, start_ms: f64) -> Vec<proto::MouseEvent> {
    let mut events = Vec::new();
    let mut t = start_ms;
    for _ in 0..n {
        let (x0, y0) = (rng.gen_range(200.0..800.0), rng.gen_range(200.0..600.0));
        let speed = rng.gen_range(6.0..9.0);
        let mut event = |t, x, y, kind: proto::MouseKind, button: proto::MouseButton| {
            events.push(proto::MouseEvent {
                time_ms: t,
                x,
                y,
                button: button as i32,
                kind: kind as i32,
            })
        };
        for i in 0..12 {
            let x = x0 + speed * f64::from(i);
            event(
                t,
                x,
                y0 + 0.3 * f64::from(i * i),
                proto::MouseKind::Move,
                proto::MouseButton::None,
            );
            t += 16.0;
        }
        event(t, x0, y0, proto::MouseKind::Press, proto::MouseButton::Left);
        t += rng.gen_range(90.0..130.0);
        event(
            t,
            x0,
            y0,
            proto::MouseKind::Release,
            proto::MouseButton::Left,
        );
        t += rng.gen_range(300.0..1500.0);
    }
    events
}

fn mouse_request(user: &str, session: u64, events: Vec<proto::MouseEvent>) -> proto::IngestRequest {
    proto::IngestRequest {
        session: Some(proto::SessionRef {
            user: user.into(),
            session,
        }),
        batch: Some(Batch::Mouse(proto::MouseBatch { events })),
    }
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(60);
    let connections = args.get(1).copied().unwrap_or(8) as usize;
    let streams = args.get(2).copied().unwrap_or(64);
    let rss_start = rss_kib();
    // RSS every 5 s over the whole run, to show whether memory levels off.
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let samples = Arc::clone(&samples);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let (Some(kib), Ok(mut list)) = (rss_kib(), samples.lock()) {
                    list.push(kib);
                }
            }
        })
    };

    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = ServiceConfig {
        modalities: kinetype_grpc::ModalitySetting {
            keyboard: false,
            mouse: true,
        },
        enrolment_evidence: EvidenceSetting {
            keyboard: 300,
            mouse: 60,
        },
        min_evidence: EvidenceSetting {
            keyboard: 30,
            mouse: 10,
        },
        ..ServiceConfig::default()
    };
    config.limits.rate_per_second = 0;
    config.limits.max_streams = 4096;
    let options = ServeOptions {
        model_dir: dir.path().to_owned(),
        auth_token: TOKEN.into(),
        secret: b"load test secret of 32 bytes ...".to_vec(),
        tls: None,
        config,
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kinetype_grpc::serve(options, listener, async move {
        let _ = stopped.await;
    }));

    // One enrolled user plus background people, all synthetic.
    let mut client = connect(addr).await;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for _ in 0..8 {
        let chunk = proto::BackgroundChunk {
            key_events: Vec::new(),
            mouse_events: clicks(&mut rng, 80, 0.0),
            person: String::new(),
        };
        client
            .add_background_session(tokio_stream::iter(vec![chunk]))
            .await
            .expect("background session");
    }
    client
        .begin_enrollment(proto::BeginEnrollmentRequest {
            user: "load".into(),
        })
        .await
        .expect("begin enrolment");
    let enrolment = mouse_request("load", 0, clicks(&mut rng, 80, 0.0));
    client
        .ingest(tokio_stream::iter(vec![enrolment]))
        .await
        .expect("enrolment events");
    client
        .finish_enrollment(proto::FinishEnrollmentRequest {
            user: "load".into(),
        })
        .await
        .expect("finish enrolment");
    let session = mouse_request("load", 1, clicks(&mut rng, 20, 0.0));
    client
        .ingest(tokio_stream::iter(vec![session]))
        .await
        .expect("session events");

    // Phase 1: Decide from `connections` connections with 8 concurrent callers each.
    let phase = Duration::from_secs(seconds / 2);
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = connect(addr).await;
        for _ in 0..8 {
            let mut client = client.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies_us = Vec::new();
                while started.elapsed() < phase
                    && calls.fetch_add(1, Ordering::Relaxed) < MAX_DECIDES
                {
                    let t = Instant::now();
                    let request = proto::SessionRef {
                        user: "load".into(),
                        session: 1,
                    };
                    client.decide(request).await.expect("decide");
                    latencies_us.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                latencies_us
            }));
        }
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("decide task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "decide: {} calls in {elapsed:.1} s = {:.0} RPC/s, p50 {:.3} ms, p99 {:.3} ms ({} connections x 8 callers)",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        connections,
    );

    // Phase 2: `streams` concurrent Ingest streams of 140-event mouse batches, each stream on
    // its own session of the enrolled user.
    let events = Arc::new(AtomicU64::new(0));
    let batches = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let shared = connect(addr).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..streams {
        let mut client = shared.clone();
        let (events, batches, done) = (events.clone(), batches.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(100 + s);
            let mut t = 0.0;
            let mut requests = Vec::new();
            for _ in 0..200 {
                let batch = clicks(&mut rng, 10, t);
                t = batch.last().map_or(t, |e| e.time_ms) + 500.0;
                requests.push(mouse_request("load", 1000 + s, batch));
            }
            let mut round = 0u64;
            while !done.load(Ordering::Relaxed) && batches.load(Ordering::Relaxed) < MAX_BATCHES {
                // Each round is a fresh session so timestamps stay in order.
                let session = 1000 + s + 1_000_000 * round;
                let stream: Vec<_> = requests
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        if let Some(id) = r.session.as_mut() {
                            id.session = session;
                        }
                        r
                    })
                    .collect();
                let n: u64 = stream
                    .iter()
                    .map(|r| match &r.batch {
                        Some(Batch::Mouse(m)) => m.events.len() as u64,
                        _ => 0,
                    })
                    .sum();
                let ack = client
                    .ingest(tokio_stream::iter(stream))
                    .await
                    .expect("ingest")
                    .into_inner();
                assert_eq!(ack.events_accepted, n);
                events.fetch_add(n, Ordering::Relaxed);
                batches.fetch_add(ack.batches_accepted, Ordering::Relaxed);
                round += 1;
            }
        }));
    }
    tokio::time::sleep(phase).await;
    done.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("ingest task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "ingest: {} events in {} batches in {elapsed:.1} s = {:.0} events/s ({streams} streams)",
        events.load(Ordering::Relaxed),
        batches.load(Ordering::Relaxed),
        events.load(Ordering::Relaxed) as f64 / elapsed,
    );

    let _ = stop.send(());
    server
        .await
        .expect("server task")
        .expect("server stopped cleanly");
    let fmt = |kib: Option<u64>| {
        kib.map_or("unknown".into(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    sampler.abort();
    println!("rss: start {}, end {}", fmt(rss_start), fmt(rss_kib()));
    if let Ok(list) = samples.lock() {
        let series: Vec<String> = list
            .iter()
            .map(|&k| format!("{:.0}", k as f64 / 1024.0))
            .collect();
        println!("rss every 5 s (MiB): {}", series.join(" "));
    }
}

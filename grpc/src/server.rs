//! Building, running and stopping the server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kinetype::engine::{DefaultEngine, FreeTextModality, MouseModality, MouseModelKind};
use kinetype::mouse::SegmentParams;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::ServeError;
use crate::config::{MouseModelSetting, ServiceConfig};
use crate::gate::{Gate, GateLayer};
use crate::proto::scoring_server::ScoringServer;
use crate::service::ScoringService;

/// Encoded descriptor set of `kinetype/v1/scoring.proto`, for the reflection service.
const DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("kinetype_descriptor");

/// Shortest bearer token accepted, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Everything the server needs besides its listening socket.
#[derive(Clone)]
pub struct ServeOptions {
    /// Directory of per-user model files; created when missing.
    pub model_dir: PathBuf,
    /// Bearer token every request must carry; see [`read_token`].
    pub auth_token: Vec<u8>,
    /// Secret that keys the engine's hashes of user ids, key codes and timings. Changing it
    /// orphans every stored model.
    pub secret: Vec<u8>,
    /// PEM certificate chain and private key; `None` serves plain HTTP/2.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// Engine settings and request limits.
    pub config: ServiceConfig,
}

impl std::fmt::Debug for ServeOptions {
    /// Shows the settings without the token, the secret or the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("model_dir", &self.model_dir)
            .field("tls", &self.tls.is_some())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Reads a bearer token: the file's content without surrounding whitespace.
///
/// # Errors
///
/// [`ServeError::Credential`] when the file cannot be read, or the token is shorter than
/// [`MIN_TOKEN_BYTES`] or has bytes outside visible ASCII (it travels in an HTTP header).
pub fn read_token(path: &Path) -> Result<Vec<u8>, ServeError> {
    let bad = |problem: String| ServeError::Credential {
        what: format!("auth token file {}", path.display()),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let token = bytes.trim_ascii();
    if token.len() < MIN_TOKEN_BYTES {
        return Err(bad(format!(
            "the token has {} bytes but at least {MIN_TOKEN_BYTES} are required",
            token.len()
        )));
    }
    if let Some(i) = token.iter().position(|b| !b.is_ascii_graphic()) {
        return Err(bad(format!(
            "byte {i} of the token is not visible ASCII; use letters, digits and punctuation"
        )));
    }
    Ok(token.to_vec())
}

/// Checks that `cert` is a PEM certificate chain and `key` a PEM private key of its first
/// certificate, as TLS needs them. The transport reads them only when the first connection
/// arrives, so [`run`] calls this before it binds, and a bad file fails at start-up.
///
/// # Errors
///
/// [`ServeError::Credential`] naming the certificate, the key or both.
pub fn check_tls(cert: &[u8], key: &[u8]) -> Result<(), ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let bad = |what: &str, problem: String| ServeError::Credential {
        what: what.to_owned(),
        problem,
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            bad(
                "TLS certificate",
                format!("{e}; give a PEM certificate chain"),
            )
        })?;
    if chain.is_empty() {
        return Err(bad(
            "TLS certificate",
            "no PEM certificate found; give a PEM certificate chain".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        bad(
            "TLS private key",
            format!("{e}; give a PEM private key (PKCS#8, PKCS#1 or SEC1)"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| {
            bad(
                "TLS certificate and key",
                format!("{e}; give the private key of the chain's first certificate"),
            )
        })?;
    Ok(())
}

/// Builds the engine the server uses for `options`.
///
/// # Errors
///
/// [`ServeError::Engine`] for an invalid engine configuration or a model directory that
/// cannot be created.
pub fn build_engine(options: &ServeOptions) -> Result<DefaultEngine, ServeError> {
    let config = options
        .config
        .engine_config(&options.model_dir, &options.secret)?;
    let mouse = match options.config.mouse_model {
        MouseModelSetting::TwoClass => MouseModality::default(),
        MouseModelSetting::OneClass => {
            MouseModality::with_model(SegmentParams::default(), MouseModelKind::OneClass)?
        }
    };
    let engine = DefaultEngine::new(config, FreeTextModality::new(&options.secret), mouse)?;
    Ok(engine)
}

/// Saves every user's model, replay hashes and enrolment progress; returns the users saved.
pub(crate) fn save_all(engine: &DefaultEngine) -> kinetype::Result<u64> {
    engine.save_all().map(|n| n as u64)
}

/// Serves on `listener` until `shutdown` completes, then stops accepting connections, lets
/// in-flight calls finish (ingest streams are acknowledged up to the last applied batch),
/// saves the models and returns.
///
/// Calls still running `limits.shutdown_grace_seconds` after the signal are cancelled; their
/// clients get no acknowledgement.
///
/// # Errors
///
/// [`ServeError`] when the engine cannot be built, TLS cannot be set up, the transport fails,
/// or the final save fails.
pub async fn serve(
    options: ServeOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let engine = Arc::new(build_engine(&options)?);
    serve_engine(engine, options, listener, shutdown).await
}

/// Serves `engine`, built by [`build_engine`] from the same `options`; see [`serve`].
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_engine(
    engine: Arc<DefaultEngine>,
    options: ServeOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let limits = options.config.limits;
    let rate = (limits.rate_per_second > 0).then_some((limits.rate_per_second, limits.rate_burst));
    let gate = Arc::new(Gate::new(
        &options.auth_token,
        options.config.guard_health,
        rate,
    ));
    let (drain_tx, drain_rx) = watch::channel(false);
    let scoring = ScoringService {
        engine: engine.clone(),
        limits,
        gate: gate.clone(),
        streams: Arc::new(Semaphore::new(limits.max_streams)),
        draining: drain_rx.clone(),
    };
    let scoring = ScoringServer::new(scoring)
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);

    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Config {
            path: None,
            problem: format!("reflection descriptors: {e}"),
        })?;

    let mut builder = tonic::transport::Server::builder();
    if let Some((cert, key)) = &options.tls {
        check_tls(cert, key)?;
        let tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        builder = builder.tls_config(tls).map_err(ServeError::Transport)?;
    }

    let cleaner = {
        let gate = gate.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                gate.forget_idle_clients();
            }
        })
    };

    let signal = {
        let health = health.clone();
        async move {
            shutdown.await;
            tracing::info!("shutdown requested; draining in-flight calls");
            set_health(&health, ServingStatus::NotServing).await;
            drain_tx.send_replace(true);
        }
    };

    let local: Option<SocketAddr> = listener.local_addr().ok();
    set_health(&health, ServingStatus::Serving).await;
    tracing::info!(
        addr = ?local,
        tls = options.tls.is_some(),
        model_dir = %options.model_dir.display(),
        "serving"
    );
    let server = builder
        .layer(GateLayer(gate))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(scoring)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);

    let grace = Duration::from_secs(limits.shutdown_grace_seconds);
    let mut drained = drain_rx;
    let served = tokio::select! {
        served = server => served.map_err(ServeError::Transport),
        _ = async {
            let _ = drained.wait_for(|d| *d).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "in-flight calls outlived the shutdown grace; cancelling them");
            Ok(())
        }
    };
    cleaner.abort();

    let saver = engine.clone();
    let saved = tokio::task::spawn_blocking(move || save_all(&saver))
        .await
        .map_err(|e| ServeError::Config {
            path: None,
            problem: format!("the final save did not run: {e}"),
        })?;
    match saved {
        Ok(users) => tracing::info!(users, "models saved; server stopped"),
        Err(e) => {
            tracing::error!(error = %e, "saving models at shutdown failed");
            return Err(e.into());
        }
    }
    served
}

async fn set_health(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health
        .set_service_status("kinetype.v1.Scoring", status)
        .await;
}

/// Builds the engine, binds `listen`, prints `listening on ADDR` to standard output once both
/// worked, and serves until SIGTERM or SIGINT; see [`serve`].
///
/// # Errors
///
/// [`ServeError::Credential`] for an invalid TLS certificate or key (see [`check_tls`]),
/// [`ServeError::Io`] when the runtime cannot start or the address cannot be bound, and the
/// errors of [`serve`].
pub fn run(listen: SocketAddr, options: ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            what: "tokio runtime".into(),
            source,
        })?;
    if let Some((cert, key)) = &options.tls {
        check_tls(cert, key)?;
    }
    let engine = Arc::new(build_engine(&options)?);
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("listen address {listen}"),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| ServeError::Io {
            what: format!("listen address {listen}"),
            source,
        })?;
        println!("listening on {bound}");
        serve_engine(engine, options, listener, termination()).await
    })
}

/// Completes on SIGTERM or SIGINT.
async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = ctrl_c => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

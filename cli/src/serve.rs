//! `kinetype serve`: parses the options and hands them to the gRPC crate.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kinetype::engine::MIN_SECRET_BYTES;
use kinetype_grpc::{ServeOptions, ServiceConfig};

/// Options of `kinetype serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on, such as 127.0.0.1:50051 (port 0 picks a free port; the
    /// chosen address is printed as `listening on ADDR`)
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    listen: SocketAddr,

    /// Directory of per-user model files; created when missing
    #[arg(long, value_name = "DIR")]
    models: PathBuf,

    /// File holding the bearer token that every request must send as
    /// `authorization: Bearer <token>` (at least 16 visible ASCII characters; surrounding
    /// whitespace is ignored)
    #[arg(long, value_name = "FILE")]
    auth_token_file: PathBuf,

    /// File holding the secret (at least 16 bytes) that keys the hashes of user ids, key codes
    /// and timings in memory and in model files. Keep it outside the model directory and keep
    /// it stable, because a new secret orphans every stored model
    #[arg(long, value_name = "FILE")]
    secret_file: PathBuf,

    /// TOML file with the engine's operating point and the request limits (see the README);
    /// every key is optional
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// PEM certificate chain; serves TLS when given, together with --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Parses `--listen`, which takes an IP address because the server resolves no host names.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "`{text}` is not an IP address with a port; give one such as 127.0.0.1:50051 or \
             [::1]:50051 (host names such as localhost are not resolved)"
        )
    })
}

/// Runs the server until SIGTERM or SIGINT.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.models.exists() && !args.models.is_dir() {
        anyhow::bail!(
            "--models {} is not a directory; give a directory for the model files (it is \
             created when missing)",
            args.models.display()
        );
    }
    let config = match &args.config {
        Some(path) => ServiceConfig::from_file(path)?,
        None => ServiceConfig::default(),
    };
    let auth_token =
        kinetype_grpc::read_token(&args.auth_token_file).context("--auth-token-file")?;
    let secret = std::fs::read(&args.secret_file)
        .with_context(|| format!("reading --secret-file {}", args.secret_file.display()))?;
    if secret.len() < MIN_SECRET_BYTES {
        anyhow::bail!(
            "--secret-file {}: the secret has {} bytes but at least {MIN_SECRET_BYTES} are \
             required; fill the file with random bytes, for example `head -c 32 /dev/urandom`",
            args.secret_file.display(),
            secret.len()
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(cert)
                .with_context(|| format!("reading --tls-cert {}", cert.display()))?;
            let key_pem = std::fs::read(key)
                .with_context(|| format!("reading --tls-key {}", key.display()))?;
            kinetype_grpc::check_tls(&cert_pem, &key_pem).with_context(|| {
                format!(
                    "--tls-cert {} and --tls-key {}",
                    cert.display(),
                    key.display()
                )
            })?;
            Some((cert_pem, key_pem))
        }
        _ => None,
    };
    let options = ServeOptions {
        model_dir: args.models,
        auth_token,
        secret,
        tls,
        config,
    };
    kinetype_grpc::run(args.listen, options)?;
    Ok(())
}

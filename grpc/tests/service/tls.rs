//! TLS: a self-signed certificate made with the `openssl` command at test time.

use std::path::Path;
use std::process::Command;

use kinetype_grpc::ServeError;
use kinetype_grpc::proto::scoring_client::ScoringClient;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::common::*;

/// Makes a CA (`ca.pem`, `ca.key`) and a server certificate for localhost signed by it
/// (`cert.pem`, `key.pem`) in `dir` with the `openssl` command. Returns `false`, after
/// printing why, when the command is missing or fails.
fn make_certificates(dir: &Path) -> bool {
    let path = |name: &str| dir.join(name);
    std::fs::write(path("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    // A CA, and a server certificate for localhost signed by it: rustls rejects a CA
    // certificate used as the server's own.
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let made = Command::new("openssl").args(args).current_dir(dir).output();
        if !made.is_ok_and(|out| out.status.success()) {
            println!("skipped: the openssl command is missing or failed");
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_with_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    if !make_certificates(dir.path()) {
        return;
    }
    let (cert, key) = (path("cert.pem"), path("key.pem"));
    let ca_pem = std::fs::read(path("ca.pem")).unwrap();
    let cert_pem = std::fs::read(&cert).unwrap();
    let mut options = options(dir.path(), small_config());
    options.tls = Some((cert_pem.clone(), std::fs::read(&key).unwrap()));
    let server = TestServer::start(options).await;

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ScoringClient::with_interceptor(channel.clone(), Bearer(Some(TOKEN.into())));
    let status = client.decide(session("nobody", 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let mut anonymous = ScoringClient::with_interceptor(channel, Bearer(None));
    let status = anonymous.decide(session("nobody", 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A plain-text client cannot talk to the TLS port.
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(plain) = plain {
        let mut client = ScoringClient::with_interceptor(plain, Bearer(Some(TOKEN.into())));
        assert!(client.decide(session("nobody", 1)).await.is_err());
    }
    server.stop().await;
}

#[test]
fn bad_tls_files_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    if !make_certificates(dir.path()) {
        return;
    }
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let (cert, key, ca_key) = (read("cert.pem"), read("key.pem"), read("ca.key"));
    kinetype_grpc::check_tls(&cert, &key).unwrap();
    let cases: [(&[u8], &[u8], &str); 4] = [
        (b"", &key, "TLS certificate"),
        (&cert, b"secret", "TLS private key"),
        (&key, &key, "TLS certificate"),
        (&cert, &ca_key, "TLS certificate and key"),
    ];
    for (cert, key, what) in cases {
        let error = kinetype_grpc::check_tls(cert, key).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!("{what}: ")),
            "{what}: {error}"
        );
    }

    // `run` checks before it binds: on an address already taken, binding first would fail
    // with an I/O error instead.
    let mut options = options(dir.path(), small_config());
    options.tls = Some((cert, b"secret".to_vec()));
    let occupied = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    match kinetype_grpc::run(occupied.local_addr().unwrap(), options) {
        Err(ServeError::Credential { what, .. }) => assert_eq!(what, "TLS private key"),
        other => panic!("expected a TLS private key error, got {other:?}"),
    }
}

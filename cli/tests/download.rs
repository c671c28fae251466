//! End-to-end tests of `kinetype download` and `kinetype datasets` against a server on
//! 127.0.0.1, with the built-in catalog.

mod support {
    pub mod http_server;
}

use std::path::PathBuf;
use std::process::{Command, Output};

use support::http_server::{TestServer, response};

/// Runs the `kinetype` binary with `KINETYPE_DOWNLOAD_BASE_URL` set to `base_url`.
fn kinetype(args: &[&str], base_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinetype"))
        .args(args)
        .env("KINETYPE_DOWNLOAD_BASE_URL", base_url)
        .env_remove("KINETYPE_DATA_DIR")
        .output()
        .expect("run the kinetype binary")
}

#[test]
fn download_404_fails_without_leaving_files() {
    let root = tempfile::tempdir().unwrap();
    let server = TestServer::start(Vec::new());
    let root_arg = root.path().to_str().unwrap();
    let output = kinetype(
        &["download", "dsl2009", "--data-dir", root_arg],
        &server.base_url,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let url = format!("{}/dsl2009/DSL-StrongPasswordData.csv", server.base_url);
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("HTTP 404"), "{stderr}");
    let dir = root.path().join("dsl2009");
    assert!(!dir.join("DSL-StrongPasswordData.csv").exists());
    // The failed download created the dataset folder, and removes it again while empty.
    assert!(!dir.exists(), "empty folder {} left behind", dir.display());
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries {
            let name = entry.unwrap().file_name();
            let name = name.to_string_lossy();
            assert!(
                !name.ends_with(".part"),
                "temporary file {name} left behind"
            );
        }
    }
}

#[test]
fn replay_downloads_missing_files() {
    // A BKSD replay reads one archive, so it must request that archive and no other.
    let cases = [
        ("bksd-password-en", "/bksd/Password-English.zip"),
        ("bksd-phrase-ar", "/bksd/Phrase-Arabic.zip"),
    ];
    for (dataset, archive) in cases {
        let root = tempfile::tempdir().unwrap();
        let server = TestServer::start(Vec::new());
        let root_arg = root.path().to_str().unwrap();
        let output = kinetype(
            &["replay", dataset, "--data-dir", root_arg],
            &server.base_url,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        // The server has no files, so the request proves that replay tried to download.
        assert_eq!(
            server.requested_paths(),
            vec![archive.to_string()],
            "{stderr}"
        );
        let dir = root.path().join("bksd");
        assert!(!dir.exists(), "empty folder {} left behind", dir.display());
    }
}

#[test]
fn invalid_base_url_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let output = kinetype(
        &["download", "bksd", "--data-dir", root_arg],
        "ftp://127.0.0.1/",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("KINETYPE_DOWNLOAD_BASE_URL"), "{stderr}");
}

#[test]
fn datasets_lists_missing_files() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let output = kinetype(&["datasets", "--data-dir", root_arg], "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 of 1 files missing (downloadable)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("4 of 4 files missing (downloadable)"),
        "{stdout}"
    );
}

#[test]
fn download_help_documents_override_and_verify() {
    let output = kinetype(&["download", "--help"], "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("KINETYPE_DOWNLOAD_BASE_URL"), "{stdout}");
    assert!(stdout.contains("--verify"), "{stdout}");
}

/// Serves the real BKSD archives from `$KINETYPE_DATA_DIR/bksd` on 127.0.0.1 and downloads them
/// with the built-in catalog's sizes and checksums.
#[test]
fn bksd_downloads_and_verifies_with_builtin_catalog() {
    let Some(data_dir) = std::env::var_os("KINETYPE_DATA_DIR").map(PathBuf::from) else {
        eprintln!("skipped: KINETYPE_DATA_DIR is not set");
        return;
    };
    let names = [
        "Password-English.zip",
        "Password-Arabic.zip",
        "Phrase-English.zip",
        "Phrase-Arabic.zip",
    ];
    let mut routes = Vec::new();
    for name in names {
        let Ok(bytes) = std::fs::read(data_dir.join("bksd").join(name)) else {
            eprintln!(
                "skipped: {name} is missing under {}/bksd",
                data_dir.display()
            );
            return;
        };
        routes.push((format!("/bksd/{name}"), response("200 OK", &bytes)));
    }
    let server = TestServer::start(routes);
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();

    let output = kinetype(
        &["download", "bksd", "--data-dir", root_arg],
        &server.base_url,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in names {
        let downloaded = std::fs::read(root.path().join("bksd").join(name)).unwrap();
        let original = std::fs::read(data_dir.join("bksd").join(name)).unwrap();
        assert!(
            downloaded == original,
            "{name} differs from the served file"
        );
    }

    let output = kinetype(
        &["download", "bksd", "--verify", "--data-dir", root_arg],
        &server.base_url,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("0 file(s) downloaded, 4 present file(s) verified"),
        "{stdout}"
    );
}

/// Runs `kinetype datasets` on `root` and returns the status line of `dataset`.
fn status_line(root: &std::path::Path, dataset: &str) -> String {
    let root_arg = root.to_str().unwrap();
    let output = kinetype(&["datasets", "--data-dir", root_arg], "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{dataset} ");
    match stdout.lines().find(|line| line.starts_with(&prefix)) {
        Some(line) => line.to_string(),
        None => panic!("no line for {dataset}: {stdout}"),
    }
}

#[test]
fn datasets_reports_incomplete_balabit() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("balabit");
    std::fs::create_dir_all(dir.join("test_files/user7")).unwrap();
    std::fs::write(dir.join("test_files/user7/session_1"), "").unwrap();
    std::fs::write(dir.join("public_labels.csv"), "filename,is_illegal\n").unwrap();
    let line = status_line(root.path(), "balabit");
    assert!(!line.contains("present"), "{line}");
    assert!(line.contains("incomplete:"), "{line}");
    assert!(line.contains("training_files/ missing"), "{line}");
    assert!(line.contains("1 of 816 test sessions"), "{line}");

    std::fs::create_dir_all(dir.join("training_files/user7")).unwrap();
    std::fs::write(dir.join("training_files/user7/session_2"), "").unwrap();
    let line = status_line(root.path(), "balabit");
    assert!(line.contains("1 of 65 training sessions"), "{line}");
}

#[test]
fn datasets_reports_incomplete_aalto() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("aalto-136m-subset");
    let keystrokes = dir.join("keystrokes");
    std::fs::create_dir_all(&keystrokes).unwrap();
    std::fs::write(dir.join("readme.txt"), "").unwrap();
    // The four participants that the catalog lists, and 495 others.
    let ids = [5, 7, 562, 1641].into_iter().chain(10_000..10_495);
    for id in ids {
        let name = format!("{id}_keystrokes.txt.gz");
        std::fs::write(keystrokes.join(name), "").unwrap();
    }
    let line = status_line(root.path(), "aalto-136m-subset");
    assert!(!line.contains("present"), "{line}");
    assert!(
        line.contains("incomplete: 499 of 500 participant files in keystrokes/"),
        "{line}"
    );

    std::fs::write(keystrokes.join("20000_keystrokes.txt.gz"), "").unwrap();
    let line = status_line(root.path(), "aalto-136m-subset");
    assert!(line.contains("present"), "{line}");

    std::fs::write(keystrokes.join("20001_keystrokes.txt.gz"), "").unwrap();
    let line = status_line(root.path(), "aalto-136m-subset");
    assert!(
        line.contains("invalid: 501 participant files in keystrokes/, expected 500"),
        "{line}"
    );
}

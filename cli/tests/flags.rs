//! `kinetype` as a child process with invalid flags or an incomplete data root: each run must
//! fail with a message that names the flag or folder, before any dataset is loaded.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `kinetype` on the data root `root`. Downloads point at a closed loopback port, so a
/// check that fires too late fails the test instead of fetching a dataset.
fn kinetype(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinetype"))
        .arg("--data-dir")
        .arg(root)
        .args(args)
        .env("KINETYPE_DOWNLOAD_BASE_URL", "http://127.0.0.1:9")
        .env_remove("KINETYPE_LOG")
        .output()
        .unwrap()
}

/// Asserts that the run failed, and returns its stderr.
fn failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "the run succeeded; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("downloading"),
        "a download started: {stderr}"
    );
    stderr
}

#[test]
fn zero_counts_are_rejected() {
    let root = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["attack", "--modality", "mouse", "--mouse-victims", "0"],
            "--mouse-victims must be at least 1",
        ),
        (
            &["attack", "--modality", "keyboard", "--victims", "0"],
            "--victims 0",
        ),
        (
            &["attack", "--attempts", "0"],
            "--attempts must be at least 1",
        ),
        (
            &["replay", "balabit", "--continuous", "--challenges", "0"],
            "--challenges must be at least 1",
        ),
        (
            &["replay", "aalto", "--continuous", "--challenges", "0"],
            "--challenges must be at least 1",
        ),
    ];
    for (args, expected) in cases {
        let stderr = failure(&kinetype(root.path(), args));
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn target_fmr_out_of_range_names_flag() {
    let root = tempfile::tempdir().unwrap();
    let runs: [&[&str]; 3] = [
        &["attack", "--target-fmr", "2"],
        &["attack", "--target-fmr", "0"],
        &["replay", "balabit", "--continuous", "--target-fmr", "2"],
    ];
    for args in runs {
        let stderr = failure(&kinetype(root.path(), args));
        assert!(
            stderr.contains("--target-fmr must be above 0 and below 1"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn mouse_victims_above_user_count_names_maximum() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("balabit");
    std::fs::create_dir_all(dir.join("training_files/user7")).unwrap();
    std::fs::create_dir_all(dir.join("test_files/user7")).unwrap();
    std::fs::write(dir.join("training_files/user7/session_1"), "").unwrap();
    // The size differs from the catalog's, which only warns.
    std::fs::write(dir.join("public_labels.csv"), "filename,is_illegal\n").unwrap();
    let args = ["attack", "--modality", "mouse", "--mouse-victims", "11"];
    let stderr = failure(&kinetype(root.path(), &args));
    assert!(stderr.contains("--mouse-victims 11"), "{stderr}");
    assert!(stderr.contains("give at most 1"), "{stderr}");
}

#[test]
fn report_json_folder_is_made_first() {
    let root = tempfile::tempdir().unwrap();
    let report = root.path().join("out/new/report.json");
    let args = [
        "replay",
        "balabit",
        "--report-json",
        report.to_str().unwrap(),
    ];
    // The replay then fails on the missing dataset, after the folder exists.
    failure(&kinetype(root.path(), &args));
    assert!(report.parent().unwrap().is_dir());
}

#[test]
fn report_json_under_a_file_fails_first() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("blocker"), "").unwrap();
    let report = root.path().join("blocker/report.json");
    let args = [
        "replay",
        "balabit",
        "--report-json",
        report.to_str().unwrap(),
    ];
    let stderr = failure(&kinetype(root.path(), &args));
    assert!(stderr.contains("--report-json"), "{stderr}");
    assert!(
        !stderr.contains("balabit:"),
        "the dataset was looked at first: {stderr}"
    );
}

#[test]
fn missing_balabit_folders_are_named_once() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("balabit");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("public_labels.csv"), "filename,is_illegal\n").unwrap();
    let stderr = failure(&kinetype(root.path(), &["replay", "balabit"]));
    assert!(stderr.contains("training_files/, test_files/"), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[test]
fn serve_models_file_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("token");
    std::fs::write(&file, "serve-test-token-0123456789\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kinetype"))
        .args(["serve", "--listen", "127.0.0.1:0", "--models"])
        .arg(&file)
        .arg("--auth-token-file")
        .arg(&file)
        .arg("--secret-file")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = failure(&output);
    assert!(stderr.contains("is not a directory"), "{stderr}");
    assert_eq!(stderr.matches("token").count(), 1, "{stderr}");
}

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
    // With `both`, the keyboard attack runs first, and the data root has no Aalto data, so a
    // check after the keyboard attack would fail on Aalto instead.
    for modality in ["mouse", "both"] {
        let args = ["attack", "--modality", modality, "--mouse-victims", "11"];
        let stderr = failure(&kinetype(root.path(), &args));
        assert!(
            stderr.contains("--mouse-victims 11"),
            "{modality}: {stderr}"
        );
        assert!(stderr.contains("give at most 1"), "{modality}: {stderr}");
        assert!(!stderr.contains("aalto"), "{modality}: {stderr}");
    }
}

#[test]
fn too_many_keyboard_people_fail_first() {
    let root = tempfile::tempdir().unwrap();
    let args = ["attack", "--modality", "keyboard", "--victims", "450"];
    let stderr = failure(&kinetype(root.path(), &args));
    assert!(
        stderr.contains("--victims 450 and --background 60"),
        "{stderr}"
    );
    assert!(stderr.contains("at most 500"), "{stderr}");
    assert!(!stderr.contains("cannot be downloaded"), "{stderr}");
}

#[test]
fn attack_count_of_other_modality_rejected() {
    let root = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["attack", "--modality", "mouse", "--victims", "5"],
            "--victims applies only to the keyboard attack",
        ),
        (
            &["attack", "--modality", "mouse", "--background", "5"],
            "--background applies only to the keyboard attack",
        ),
        (
            &["attack", "--modality", "keyboard", "--mouse-victims", "5"],
            "--mouse-victims applies only to the mouse attack",
        ),
    ];
    for (args, expected) in cases {
        let stderr = failure(&kinetype(root.path(), args));
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn attack_counts_accepted_for_both_modalities() {
    let root = tempfile::tempdir().unwrap();
    let args = [
        "attack",
        "--modality",
        "both",
        "--victims",
        "5",
        "--background",
        "5",
        "--mouse-victims",
        "1",
    ];
    // The run then fails on the missing data sets, after the flag checks.
    let output = kinetype(root.path(), &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(!stderr.contains("applies only"), "{stderr}");
}

/// Commands that take `--report-json`: each kind of replay, and the attack.
const REPORT_COMMANDS: [&[&str]; 5] = [
    &["replay", "dsl2009"],
    &["replay", "balabit"],
    &["replay", "aalto"],
    &["replay", "balabit", "--continuous"],
    &["attack", "--modality", "mouse"],
];

/// Replays that take `--plots` and `--scores`: fixed-text, mouse and free-text.
const OUTPUT_DIR_REPLAYS: [&str; 3] = ["dsl2009", "balabit", "aalto"];

/// Runs `command` with `flag path` appended on the data root `root`.
fn kinetype_with_path(root: &Path, command: &[&str], flag: &str, path: &Path) -> Output {
    let mut args = command.to_vec();
    args.extend([flag, path.to_str().unwrap()]);
    kinetype(root, &args)
}

/// Asserts that the run failed on its flags, before it looked for a dataset, and returns its
/// stderr.
fn early_failure(output: &Output) -> String {
    let stderr = failure(output);
    assert!(
        !stderr.contains("cannot be downloaded"),
        "the dataset was checked before the flags: {stderr}"
    );
    stderr
}

#[test]
fn report_json_directory_fails_first() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("reports");
    std::fs::create_dir(&dir).unwrap();
    for command in REPORT_COMMANDS {
        let output = kinetype_with_path(root.path(), command, "--report-json", &dir);
        let stderr = early_failure(&output);
        assert!(stderr.contains("--report-json"), "{command:?}: {stderr}");
        assert!(stderr.contains("is a directory"), "{command:?}: {stderr}");
        assert!(stderr.contains("give a file path"), "{command:?}: {stderr}");
    }
}

#[test]
fn report_json_missing_folder_fails_first() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("out");
    let report = missing.join("new/report.json");
    for command in REPORT_COMMANDS {
        let output = kinetype_with_path(root.path(), command, "--report-json", &report);
        let stderr = early_failure(&output);
        assert!(stderr.contains("--report-json"), "{command:?}: {stderr}");
        assert!(stderr.contains("does not exist"), "{command:?}: {stderr}");
        assert!(
            stderr.contains("create the folder"),
            "{command:?}: {stderr}"
        );
        assert!(
            !missing.exists(),
            "{command:?} created {}",
            missing.display()
        );
    }
}

/// Linux's `/proc` accepts no new file, not even from root, so the test uses it as a folder
/// without write permission.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_output_paths_fail_first() {
    let root = tempfile::tempdir().unwrap();
    let report = Path::new("/proc/kinetype-report.json");
    for command in REPORT_COMMANDS {
        let output = kinetype_with_path(root.path(), command, "--report-json", report);
        let stderr = early_failure(&output);
        assert!(
            stderr.contains("--report-json /proc/kinetype-report.json: cannot create files"),
            "{command:?}: {stderr}"
        );
    }
    for dataset in OUTPUT_DIR_REPLAYS {
        for flag in ["--plots", "--scores"] {
            let output =
                kinetype_with_path(root.path(), &["replay", dataset], flag, "/proc".as_ref());
            let stderr = early_failure(&output);
            assert!(
                stderr.contains(&format!("{flag} /proc: cannot create files")),
                "{dataset} {flag}: {stderr}"
            );
        }
    }
}

#[test]
fn output_dir_that_is_a_file_fails_first() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("hostname");
    std::fs::write(&file, "").unwrap();
    for dataset in OUTPUT_DIR_REPLAYS {
        for flag in ["--plots", "--scores"] {
            let output = kinetype_with_path(root.path(), &["replay", dataset], flag, &file);
            let stderr = early_failure(&output);
            assert!(stderr.contains(flag), "{dataset} {flag}: {stderr}");
            assert!(
                stderr.contains("is not a directory"),
                "{dataset} {flag}: {stderr}"
            );
        }
    }
}

#[test]
fn output_dir_in_missing_folder_fails_first() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("out");
    for dataset in OUTPUT_DIR_REPLAYS {
        for flag in ["--plots", "--scores"] {
            let dir = missing.join("new");
            let output = kinetype_with_path(root.path(), &["replay", dataset], flag, &dir);
            let stderr = early_failure(&output);
            assert!(stderr.contains(flag), "{dataset} {flag}: {stderr}");
            assert!(
                stderr.contains("does not exist"),
                "{dataset} {flag}: {stderr}"
            );
            assert!(
                !missing.exists(),
                "{dataset} {flag} created {}",
                missing.display()
            );
        }
    }
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
        "the dataset was checked before the flags: {stderr}"
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

#[test]
fn inapplicable_replay_flags_are_rejected() {
    let root = tempfile::tempdir().unwrap();
    let fixed_text = "applies only to: dsl2009, bksd-password-en";
    let mouse = "applies only to: balabit without --continuous";
    let free_text = "applies only to: aalto without --continuous";
    let continuous = "applies only to: balabit or aalto with --continuous";
    let cases: [(&[&str], &str, &str); 24] = [
        (
            &["replay", "dsl2009", "--target-fmr", "0.1"],
            "--target-fmr",
            continuous,
        ),
        (
            &["replay", "dsl2009", "--challenges", "3"],
            "--challenges",
            continuous,
        ),
        (
            &["replay", "dsl2009", "--continuous"],
            "--continuous",
            "balabit or aalto",
        ),
        (
            &["replay", "bksd-phrase-en", "--continuous"],
            "--continuous",
            "balabit or aalto",
        ),
        (
            &["replay", "dsl2009", "--enrol-sentences", "3"],
            "--enrol-sentences",
            free_text,
        ),
        (
            &["replay", "dsl2009", "--mouse-model", "forest"],
            "--mouse-model",
            mouse,
        ),
        (
            &["replay", "balabit", "--enrolment-curve"],
            "--enrolment-curve",
            fixed_text,
        ),
        (
            &["replay", "balabit", "--background-rows", "all"],
            "--background-rows",
            fixed_text,
        ),
        (
            &["replay", "balabit", "--enrol-sentences", "3"],
            "--enrol-sentences",
            free_text,
        ),
        (
            &["replay", "balabit", "--target-fmr", "0.1"],
            "--target-fmr",
            continuous,
        ),
        (
            &["replay", "balabit", "--challenges", "3"],
            "--challenges",
            continuous,
        ),
        (
            &["replay", "balabit", "--detectors", "manhattan"],
            "--detectors",
            fixed_text,
        ),
        (
            &["replay", "aalto", "--enrolment-curve"],
            "--enrolment-curve",
            fixed_text,
        ),
        (
            &["replay", "aalto", "--background-rows", "all"],
            "--background-rows",
            fixed_text,
        ),
        (
            &["replay", "aalto", "--mouse-model", "boosted"],
            "--mouse-model",
            mouse,
        ),
        (
            &["replay", "aalto", "--target-fmr", "0.1"],
            "--target-fmr",
            continuous,
        ),
        (
            &["replay", "aalto", "--detectors", "gp-r"],
            "--detectors",
            fixed_text,
        ),
        (
            &["replay", "balabit", "--continuous", "--plots", "p"],
            "--plots",
            "dsl2009",
        ),
        (
            &["replay", "aalto", "--continuous", "--scores", "s"],
            "--scores",
            "dsl2009",
        ),
        (
            &[
                "replay",
                "balabit",
                "--continuous",
                "--mouse-model",
                "forest",
            ],
            "--mouse-model",
            mouse,
        ),
        (
            &["replay", "aalto", "--continuous", "--enrol-sentences", "3"],
            "--enrol-sentences",
            free_text,
        ),
        (
            &["replay", "aalto", "--continuous", "--enrolment-curve"],
            "--enrolment-curve",
            fixed_text,
        ),
        (
            &[
                "replay",
                "balabit",
                "--continuous",
                "--background-rows",
                "all",
            ],
            "--background-rows",
            fixed_text,
        ),
        (
            &[
                "replay",
                "balabit",
                "--continuous",
                "--detectors",
                "manhattan",
            ],
            "--detectors",
            fixed_text,
        ),
    ];
    for (args, flag, applies) in cases {
        let stderr = failure(&kinetype(root.path(), args));
        assert!(
            stderr.contains(&format!("{flag} does not apply to `replay ")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(applies), "{args:?}: {stderr}");
    }
}

#[test]
fn applicable_replay_flags_pass() {
    let root = tempfile::tempdir().unwrap();
    // Output folders under the temporary root, because the runs create them.
    let plots = root.path().join("p");
    let scores = root.path().join("s");
    let (p, s) = (plots.to_str().unwrap(), scores.to_str().unwrap());
    // The data root is empty, so each run fails later, on the missing dataset.
    let runs: [&[&str]; 7] = [
        &[
            "replay",
            "balabit",
            "--mouse-model",
            "forest",
            "--plots",
            p,
            "--scores",
            s,
        ],
        &[
            "replay",
            "aalto",
            "--enrol-sentences",
            "3",
            "--plots",
            p,
            "--scores",
            s,
        ],
        &[
            "replay",
            "balabit",
            "--continuous",
            "--target-fmr",
            "0.1",
            "--challenges",
            "3",
        ],
        &[
            "replay",
            "aalto",
            "--continuous",
            "--target-fmr",
            "0.1",
            "--challenges",
            "3",
        ],
        &["replay", "aalto-136m-subset", "--continuous"],
        &[
            "replay",
            "dsl2009",
            "--enrolment-curve",
            "--background-rows",
            "all",
        ],
        &[
            "replay",
            "bksd-phrase-ar",
            "--detectors",
            "manhattan",
            "--plots",
            p,
        ],
    ];
    for args in runs {
        let output = kinetype(root.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("does not apply"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot be downloaded") || stderr.contains("downloading"),
            "{args:?}: the run stopped before it looked for the dataset: {stderr}"
        );
    }
}

#[test]
fn unknown_replay_is_rejected_before_download() {
    let root = tempfile::tempdir().unwrap();
    for name in ["bksd", "cmu"] {
        let stderr = failure(&kinetype(root.path(), &["replay", name]));
        assert!(stderr.contains(&format!("`{name}`")), "{stderr}");
        assert!(stderr.contains("bksd-phrase-ar"), "{stderr}");
    }
}

#[test]
fn missing_data_root_is_named() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("datasetz");
    let commands: [&[&str]; 4] = [
        &["replay", "dsl2009"],
        &["download", "dsl2009"],
        &["datasets"],
        &["attack", "--modality", "mouse"],
    ];
    for args in commands {
        let stderr = failure(&kinetype(&root, args));
        assert!(stderr.contains("--data-dir"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&root.display().to_string()),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("does not exist"), "{args:?}: {stderr}");
        assert!(!root.exists(), "{args:?} created the data root");
    }
}

#[test]
fn missing_data_root_from_environment_is_named() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("datasetz");
    let output = Command::new(env!("CARGO_BIN_EXE_kinetype"))
        .args(["replay", "dsl2009"])
        .env("KINETYPE_DATA_DIR", &root)
        .env("KINETYPE_DOWNLOAD_BASE_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stderr = failure(&output);
    assert!(stderr.contains("KINETYPE_DATA_DIR"), "{stderr}");
    assert!(stderr.contains(&root.display().to_string()), "{stderr}");
    assert!(!root.exists(), "the data root was created");
}

#[test]
fn data_root_that_is_a_file_is_rejected() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("file");
    std::fs::write(&root, "").unwrap();
    let stderr = failure(&kinetype(&root, &["datasets"]));
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

#[test]
fn missing_default_data_root_is_allowed() {
    let cwd = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kinetype"))
        .arg("datasets")
        .current_dir(cwd.path())
        .env_remove("KINETYPE_DATA_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("data root: datasets"), "{stdout}");
}

#[test]
fn manual_download_message_is_self_contained() {
    let root = tempfile::tempdir().unwrap();
    let cases = [
        ("aalto", "https://userinterfaces.aalto.fi/136Mkeystrokes/"),
        (
            "balabit",
            "https://github.com/balabit/Mouse-Dynamics-Challenge",
        ),
    ];
    for (dataset, page) in cases {
        let stderr = failure(&kinetype(root.path(), &["replay", dataset]));
        assert!(stderr.contains("cannot be downloaded"), "{stderr}");
        assert!(stderr.contains(page), "{stderr}");
        for word in ["above", "below", "listed here"] {
            assert!(!stderr.contains(word), "{dataset}: `{word}` in {stderr}");
        }
    }
}

#[test]
fn serve_credential_errors_name_flag() {
    let root = tempfile::tempdir().unwrap();
    let path = |name: &str| root.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("token"), "serve-test-token-0123456789\n").unwrap();
    std::fs::write(path("secret"), [7u8; 32]).unwrap();
    std::fs::write(path("short"), [7u8; 5]).unwrap();
    std::fs::write(path("key"), "secret\n").unwrap();
    let (token, secret, short, key) = (path("token"), path("secret"), path("short"), path("key"));
    let missing = path("missing");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--auth-token-file", &missing, "--secret-file", &secret],
            "--auth-token-file: auth token file",
        ),
        (
            &["--auth-token-file", &token, "--secret-file", &short],
            "the secret has 5 bytes but at least 16 are required",
        ),
        (
            &[
                "--auth-token-file",
                &token,
                "--secret-file",
                &secret,
                "--tls-cert",
                &token,
                "--tls-key",
                &key,
            ],
            "--tls-key",
        ),
    ];
    for (args, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_kinetype"))
            .args(["serve", "--listen", "127.0.0.1:0", "--models"])
            .arg(root.path().join("models"))
            .args(args)
            .output()
            .unwrap();
        let stderr = failure(&output);
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        // The server must fail before it binds and announces its address.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("listening on"), "{expected}: {stdout}");
    }
}

#[test]
fn serve_listen_needs_ip_address() {
    let output = Command::new(env!("CARGO_BIN_EXE_kinetype"))
        .args(["serve", "--listen", "localhost:50051", "--models", "m"])
        .args(["--auth-token-file", "t", "--secret-file", "s"])
        .output()
        .unwrap();
    let stderr = failure(&output);
    assert!(stderr.contains("`localhost:50051`"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:50051"), "{stderr}");
}

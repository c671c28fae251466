//! Builds the C library, compiles `tests/c/balabit_stream.c` against it with the system `cc`,
//! runs it on the Balabit data in `KINETYPE_DATA_DIR`, and checks every line it prints
//! against the same steps run through the Rust API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kinetype_core::datasets::balabit;
use kinetype_core::engine::{
    DefaultEngine, EngineConfig, EnrolmentStatus, FreeTextModality, Modalities, MouseModality,
    Reason, Verdict,
};
use kinetype_core::events::MouseEvent;

/// The secret the C program uses; both sides must hash identically.
const SECRET: &[u8] = b"balabit-stream-example-secret-32";
/// Events per ingest call, as in the C program.
const BATCH_EVENTS: usize = 500;
/// Users that enrol, users whose first training session is background, test sessions per
/// enrolled user.
const ENROL_USERS: usize = 3;
const BACKGROUND_USERS: usize = 7;
const TEST_SESSIONS: usize = 6;
/// Largest difference accepted between printed figures; trust decays with the wall-clock
/// time between calls, which differs between the two runs by milliseconds.
const TOLERANCE: f64 = 1e-4;

fn balabit_dir() -> Option<PathBuf> {
    let root = std::env::var_os("KINETYPE_DATA_DIR")?;
    let dir = Path::new(&root).join(balabit::NAME);
    dir.join(balabit::LABELS_FILE).is_file().then_some(dir)
}

/// Names in `dir`, sorted in byte order as the C program sorts them.
fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} cannot be listed: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("directory entry");
            entry.file_name().into_string().expect("UTF-8 file name")
        })
        .collect();
    names.sort();
    names
}

fn load(path: &Path) -> Vec<MouseEvent> {
    balabit::load_session(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .events
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allow",
        Verdict::StepUp => "step-up",
        Verdict::Deny => "deny",
        _ => "unknown",
    }
}

fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::TrustAboveThreshold => "trust-above-threshold",
        Reason::NotEnoughRecentEvidence => "not-enough-recent-evidence",
        Reason::TrustBelowThreshold => "trust-below-threshold",
        Reason::LockedOut => "locked-out",
        Reason::Replay => "replay",
        Reason::SyntheticInput => "synthetic-input",
        _ => "unknown",
    }
}

fn stream(engine: &DefaultEngine, user: &str, session: u64, events: &[MouseEvent]) {
    for batch in events.chunks(BATCH_EVENTS) {
        engine
            .ingest_mouse(user, session, batch)
            .unwrap_or_else(|e| panic!("ingest: {e}"));
    }
}

/// Runs the C program's steps through the Rust API and returns the lines it should print.
fn rust_lines(dir: &Path) -> Vec<String> {
    let mut config = EngineConfig::new(SECRET.to_vec());
    config.modalities = Modalities::MOUSE_ONLY;
    let keyboard = FreeTextModality::new(SECRET);
    let engine = DefaultEngine::new(config, keyboard, MouseModality::default()).expect("engine");
    let training = dir.join(balabit::TRAINING_DIR);
    let test = dir.join(balabit::TEST_DIR);
    let labels: HashMap<String, bool> =
        balabit::load_labels(&dir.join(balabit::LABELS_FILE)).expect("labels");
    let users = sorted_names(&training);
    let mut lines = vec![format!("kinetype {}", env!("CARGO_PKG_VERSION"))];

    for user in &users[ENROL_USERS..ENROL_USERS + BACKGROUND_USERS] {
        let first = &sorted_names(&training.join(user))[0];
        let events = load(&training.join(user).join(first));
        engine
            .add_background_session(&[], &events)
            .expect("background session");
    }
    let mut next_session = 1u64;
    for user in &users[..ENROL_USERS] {
        engine.begin_enrolment(user).expect("begin enrolment");
        for name in sorted_names(&training.join(user)) {
            stream(
                &engine,
                user,
                next_session,
                &load(&training.join(user).join(name)),
            );
            next_session += 1;
            if engine.enrolment_status(user).expect("status") == EnrolmentStatus::ReadyToTrain {
                break;
            }
        }
        let report = engine.finish_enrolment(user).expect("finish enrolment");
        lines.push(format!(
            "enrol {user} threshold={:.6} impostor_allow={:.6} genuine_allow={:.6}",
            report.allow_threshold, report.impostor_allow_rate, report.genuine_allow_rate
        ));
    }
    for user in &users[..ENROL_USERS] {
        for name in sorted_names(&test.join(user)).iter().take(TEST_SESSIONS) {
            let session = next_session;
            next_session += 1;
            stream(&engine, user, session, &load(&test.join(user).join(name)));
            let decision = engine.decide(user, session).expect("decide");
            let label = labels.get(name).map_or(-1, |&illegal| i32::from(illegal));
            lines.push(format!(
                "decide {user} {name} label={label} verdict={} reason={} trust={:.6} window={} \
                 mouse_actions={}",
                verdict_name(decision.verdict),
                reason_name(decision.reason),
                decision.score.trust,
                decision
                    .score
                    .window
                    .map_or_else(|| "none".to_string(), |w| format!("{w:.6}")),
                decision.score.mouse.actions
            ));
            engine.end_session(user, session).expect("end session");
        }
    }
    lines
}

/// Builds the C library and the C program; returns the program's path.
fn build_c_program() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Integration tests do not make cargo build a cdylib, so build it here; the outer cargo
    // holds no lock while tests run.
    // This test runs from <target>/[<triple>/]<profile>/deps/, and the library must land in
    // <target>/[<triple>/]<profile>/, so it is built with the same target directory, triple
    // and profile (`dev` builds into `debug`). Cargo writes CACHEDIR.TAG at the root of every
    // target directory, which shows whether a triple directory sits in between.
    let exe = std::env::current_exe().expect("test executable path");
    let lib_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("<target>/[<triple>/]<profile> directory");
    let profile = match lib_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let above = lib_dir
        .parent()
        .expect("the profile directory has a parent");
    let (target_dir, triple) = if above.join("CACHEDIR.TAG").is_file() {
        (above, None)
    } else {
        let root = above.parent().expect("the triple directory has a parent");
        (root, above.file_name())
    };
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "-p",
            "kinetype-ffi",
            "--profile",
            profile,
            "--target-dir",
        ])
        .arg(target_dir);
    if let Some(triple) = triple {
        build.arg("--target").arg(triple);
    }
    let status = build.current_dir(crate_dir).status().expect("cargo runs");
    assert!(
        status.success(),
        "{build:?} failed; this test expects to run from <target>/[<triple>/]<profile>/deps \
         with CACHEDIR.TAG at the target root, and a custom target spec file is not supported"
    );
    assert!(
        lib_dir.join("libkinetype.so").is_file(),
        "{} has no libkinetype.so",
        lib_dir.display()
    );
    let program = lib_dir.join("balabit_stream");
    let output = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("tests/c/balabit_stream.c"))
        .arg("-o")
        .arg(&program)
        .arg("-L")
        .arg(lib_dir)
        .arg("-lkinetype")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .output()
        .expect("cc runs");
    assert!(
        output.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    program
}

/// Compares two output lines token by token, numbers of the form `name=value` within
/// [`TOLERANCE`].
fn same_line(c: &str, rust: &str) -> bool {
    let (c, rust): (Vec<&str>, Vec<&str>) = (c.split(' ').collect(), rust.split(' ').collect());
    c.len() == rust.len()
        && c.iter().zip(&rust).all(|(a, b)| {
            if a == b {
                return true;
            }
            let number = |t: &str| t.split_once('=').and_then(|(_, v)| v.parse::<f64>().ok());
            let key = |t: &str| t.split_once('=').map(|(k, _)| k.to_owned());
            match (number(a), number(b)) {
                (Some(x), Some(y)) => key(a) == key(b) && (x - y).abs() <= TOLERANCE,
                _ => false,
            }
        })
}

#[test]
fn c_program_matches_rust_api() {
    let Some(dir) = balabit_dir() else {
        println!("skipped: KINETYPE_DATA_DIR does not contain balabit/public_labels.csv");
        return;
    };
    let program = build_c_program();
    let output = Command::new(&program)
        .arg(&dir)
        .args([ENROL_USERS, BACKGROUND_USERS, TEST_SESSIONS].map(|n| n.to_string()))
        .output()
        .expect("the C program runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(
        output.status.success(),
        "the C program failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{stdout}");
    let c_lines: Vec<&str> = stdout.lines().collect();
    let rust = rust_lines(&dir);
    assert_eq!(
        c_lines.len(),
        rust.len(),
        "line counts differ; C:\n{stdout}\nRust:\n{}",
        rust.join("\n")
    );
    assert_eq!(c_lines.len(), 1 + ENROL_USERS * (1 + TEST_SESSIONS));
    for (c, rust) in c_lines.iter().zip(&rust) {
        assert!(same_line(c, rust), "C:    {c}\nRust: {rust}");
    }
}

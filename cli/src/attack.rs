//! `kinetype attack`: forged sessions against engine victims enrolled from Aalto (keyboard)
//! and Balabit (mouse), with the fraction that reaches Allow.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use kinetype::datasets::{aalto, balabit};
use kinetype::evaluation::attack::{
    AttackParams, AttackReport, MouseVictim, keyboard_attacks, mouse_attacks,
};

use crate::data::ensure_dataset;

/// Options of `kinetype attack`.
#[derive(Debug, Args)]
pub(crate) struct AttackArgs {
    /// Modalities to attack: keyboard, mouse or both
    #[arg(long, default_value = "both")]
    modality: String,
    /// Keyboard: Aalto participants attacked as victims (the first N by id) [default: 20]
    #[arg(long)]
    victims: Option<usize>,
    /// Keyboard: Aalto participants after the victims that form the background population
    /// [default: 60]
    #[arg(long)]
    background: Option<usize>,
    /// Mouse: Balabit users attacked as victims (in user order; at most 10) [default: 10]
    #[arg(long)]
    mouse_victims: Option<usize>,
    /// Attempts per victim for each random attack
    #[arg(long, default_value_t = 5)]
    attempts: usize,
    /// Seed of every random draw
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Jitter bound of the jittered replay, in milliseconds
    #[arg(long, default_value_t = 5.0)]
    jitter_ms: f64,
    /// Relative noise of the mimicry attack (0.1 = 10 %)
    #[arg(long, default_value_t = 0.1)]
    mimicry_noise: f64,
    /// The engine's target false-match rate, which sets each victim's allow threshold
    #[arg(long, default_value_t = 0.01)]
    target_fmr: f64,
    /// Write the reports as JSON to this file, in an existing folder
    #[arg(long, value_name = "PATH")]
    report_json: Option<std::path::PathBuf>,
}

const PROTOCOL: &str = "Protocol: each victim is enrolled in a single-modality DefaultEngine \
(default configuration except the target FMR, which --target-fmr sets) with background people disjoint from the victims. For \
each attempt a fresh engine loads the victim's saved model, ingests the captured session (a \
held-out genuine session) once as session 1, then the forged session as session 2, in batches \
of 50 events with the manual clock advanced by each batch's time span. An attempt reaches Allow \
when any decision after a batch is Allow. Forged sessions keep the captured content (key codes, \
or mouse positions and buttons) and change only the timing. Keyboard: Aalto, victims enrol on \
sentences 1-10 and the captured session is sentences 11-15. Mouse: Balabit, victims enrol on \
their training sessions, the captured session is their first legal labelled test session with \
at least 500 events, and the background is the other users' training sessions.";

/// Victims of the keyboard attack when `--victims` is not given (the help text repeats it).
const DEFAULT_VICTIMS: usize = 20;
/// Background people of the keyboard attack when `--background` is not given (the help text
/// repeats it).
const DEFAULT_BACKGROUND: usize = 60;
/// Victims of the mouse attack when `--mouse-victims` is not given (the help text repeats it).
const DEFAULT_MOUSE_VICTIMS: usize = 10;

/// Counts of the attack, with the defaults of the flags that were not given.
#[derive(Debug, Clone, Copy)]
struct Counts {
    victims: usize,
    background: usize,
    mouse_victims: usize,
}

pub(crate) fn run(root: &Path, args: AttackArgs) -> Result<()> {
    let params = AttackParams {
        seed: args.seed,
        attempts: args.attempts,
        jitter_ms: args.jitter_ms,
        mimicry_noise: args.mimicry_noise,
        target_fmr: args.target_fmr,
        ..AttackParams::default()
    };
    if args.attempts == 0 {
        bail!("--attempts must be at least 1, got 0");
    }
    crate::check_target_fmr(args.target_fmr)?;
    check_timing(args.jitter_ms, args.mimicry_noise)?;
    let (keyboard, mouse) = match args.modality.as_str() {
        "keyboard" => (true, false),
        "mouse" => (false, true),
        "both" => (true, true),
        other => bail!("--modality must be keyboard, mouse or both, got {other}"),
    };
    // A count flag of a modality that does not run would be ignored silently, so it is
    // rejected.
    if !keyboard {
        for (flag, value) in [
            ("--victims", args.victims),
            ("--background", args.background),
        ] {
            if value.is_some() {
                bail!(
                    "{flag} applies only to the keyboard attack, and --modality {} runs only \
                     the mouse attack; drop {flag} or use --modality keyboard or both \
                     (--mouse-victims sets the mouse victims)",
                    args.modality
                );
            }
        }
    }
    if !mouse && args.mouse_victims.is_some() {
        bail!(
            "--mouse-victims applies only to the mouse attack, and --modality {} runs only the \
             keyboard attack; drop --mouse-victims or use --modality mouse or both (--victims \
             sets the keyboard victims)",
            args.modality
        );
    }
    let counts = Counts {
        victims: args.victims.unwrap_or(DEFAULT_VICTIMS),
        background: args.background.unwrap_or(DEFAULT_BACKGROUND),
        mouse_victims: args.mouse_victims.unwrap_or(DEFAULT_MOUSE_VICTIMS),
    };
    // The Aalto loader accepts only the full subset, so the participant count is known before
    // the data loads.
    let people = counts.victims.saturating_add(counts.background);
    if keyboard && (counts.victims == 0 || counts.background == 0 || people > aalto::PARTICIPANTS) {
        bail!(
            "--victims {} and --background {} must be at least 1 each and add up to at most {}",
            counts.victims,
            counts.background,
            aalto::PARTICIPANTS
        );
    }
    if mouse && counts.mouse_victims == 0 {
        bail!("--mouse-victims must be at least 1, got 0");
    }
    if let Some(path) = &args.report_json {
        crate::output_paths::check_output_file(path, "--report-json")?;
    }
    // Listing the Balabit users before the keyboard attack lets a --mouse-victims count above
    // the number of users fail before any attack runs.
    let mouse_users = if mouse {
        Some(list_mouse_users(root, counts.mouse_victims)?)
    } else {
        None
    };
    println!("{PROTOCOL}");
    println!(
        "Parameters: seed {}, {} attempts per victim for the random attacks, jitter +-{} ms \
         (uniform), mimicry noise {} (relative sd), target FMR {}.",
        params.seed, params.attempts, params.jitter_ms, params.mimicry_noise, params.target_fmr
    );
    let mut reports = BTreeMap::new();
    if keyboard {
        let report = run_keyboard(root, counts, &params)?;
        print_report("keyboard (Aalto)", &report);
        reports.insert("keyboard", report);
    }
    if let Some(users) = mouse_users {
        let report = run_mouse(users, counts.mouse_victims, &params)?;
        print_report("mouse (Balabit)", &report);
        reports.insert("mouse", report);
    }
    if let Some(path) = &args.report_json {
        let json = serde_json::to_string_pretty(&reports)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Rejects a `--jitter-ms` that is not a finite number above 0, and a `--mimicry-noise` that
/// is not a finite number of 0 or more. Infinity and NaN fail both checks.
fn check_timing(jitter_ms: f64, mimicry_noise: f64) -> Result<()> {
    if !(jitter_ms.is_finite() && jitter_ms > 0.0) {
        bail!(
            "--jitter-ms must be a finite number of milliseconds above 0, such as 5; got \
             {jitter_ms}"
        );
    }
    if !(mimicry_noise.is_finite() && mimicry_noise >= 0.0) {
        bail!(
            "--mimicry-noise must be a finite number of 0 or more, such as 0.1; got \
             {mimicry_noise}"
        );
    }
    Ok(())
}

fn run_keyboard(root: &Path, counts: Counts, params: &AttackParams) -> Result<AttackReport> {
    let entry = ensure_dataset(root, aalto::NAME)?;
    let data = aalto::load(&entry.dir(root))?;
    let people = &data.participants;
    let Counts {
        victims,
        background,
        ..
    } = counts;
    if victims + background > people.len() || victims == 0 || background == 0 {
        bail!(
            "--victims {victims} and --background {background} must be at least 1 each and add \
             up to at most {}",
            people.len()
        );
    }
    let (victims, rest) = people.split_at(victims);
    eprintln!("attacking {} keyboard victims...", victims.len());
    Ok(keyboard_attacks(victims, &rest[..background], params)?)
}

/// The Balabit training sessions and their users, listed without reading any session.
#[derive(Debug)]
struct MouseUsers {
    dir: PathBuf,
    training: Vec<balabit::SessionFile>,
    /// Users in the order of their folders.
    users: Vec<String>,
}

/// Lists the Balabit users and rejects a `--mouse-victims` count above their number.
fn list_mouse_users(root: &Path, mouse_victims: usize) -> Result<MouseUsers> {
    let entry = ensure_dataset(root, balabit::NAME)?;
    let dir = entry.dir(root);
    let training = balabit::list_sessions(&dir.join(balabit::TRAINING_DIR))?;
    let mut users: Vec<String> = training.iter().map(|f| f.user.clone()).collect();
    users.dedup();
    if mouse_victims > users.len() {
        bail!(
            "--mouse-victims {} is more than the {} Balabit users under {}; give at most {}",
            mouse_victims,
            users.len(),
            dir.join(balabit::TRAINING_DIR).display(),
            users.len()
        );
    }
    Ok(MouseUsers {
        dir,
        training,
        users,
    })
}

fn run_mouse(
    mouse_users: MouseUsers,
    mouse_victims: usize,
    params: &AttackParams,
) -> Result<AttackReport> {
    let MouseUsers {
        dir,
        training,
        users,
    } = mouse_users;
    let test = balabit::list_sessions(&dir.join(balabit::TEST_DIR))?;
    let labels = balabit::load_labels(&dir.join(balabit::LABELS_FILE))?;
    let loaded: Vec<(String, balabit::MouseSession)> = training
        .iter()
        .map(|f| Ok((f.user.clone(), balabit::load_session(&f.path)?)))
        .collect::<kinetype::Result<_>>()?;
    let mut victims = Vec::new();
    for user in users.iter().take(mouse_victims) {
        let enrolment: Vec<balabit::MouseSession> = loaded
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, s)| s.clone())
            .collect();
        let mut captured = None;
        for file in test.iter().filter(|f| &f.user == user) {
            if labels.get(&file.session) != Some(&false) {
                continue;
            }
            let session = balabit::load_session(&file.path)?;
            if session.events.len() >= 500 {
                captured = Some(session);
                break;
            }
        }
        let Some(captured) = captured else {
            eprintln!("skipping {user}: no legal test session with at least 500 events");
            continue;
        };
        victims.push(MouseVictim {
            id: user.clone(),
            enrolment,
            captured,
        });
    }
    eprintln!("attacking {} mouse victims...", victims.len());
    let background = |victim: &str| -> Vec<(String, balabit::MouseSession)> {
        loaded
            .iter()
            .filter(|(u, _)| u != victim)
            .cloned()
            .collect()
    };
    Ok(mouse_attacks(&victims, background, params)?)
}

fn print_report(title: &str, report: &AttackReport) {
    println!();
    println!(
        "{title}: {} victims; captured genuine session reached Allow for {} of them; mean allow \
         threshold {:.3}; {} victims with an unreachable threshold (1.0)",
        report.victims,
        report.genuine_allowed,
        report.mean_allow_threshold,
        report.unreachable_threshold
    );
    println!(
        "| attack | attempts | reached Allow | Allow rate | final Deny (replay) | final StepUp (synthetic) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &report.rows {
        println!(
            "| {} | {} | {} | {:.1} % | {} | {} |",
            row.attack.name(),
            row.attempts,
            row.allowed,
            100.0 * row.allow_rate(),
            row.denied_replay,
            row.synthetic
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mimicry_noise_must_be_finite() {
        for value in [f64::INFINITY, f64::NAN, f64::NEG_INFINITY, -0.1] {
            let error = check_timing(5.0, value).unwrap_err().to_string();
            assert!(error.starts_with("--mimicry-noise"), "{value}: {error}");
            assert!(
                error.contains("a finite number of 0 or more"),
                "{value}: {error}"
            );
            assert!(error.contains(&format!("got {value}")), "{value}: {error}");
        }
        check_timing(5.0, 0.0).unwrap();
        check_timing(5.0, 0.1).unwrap();
    }

    #[test]
    fn jitter_must_be_finite() {
        for value in [f64::INFINITY, f64::NAN, 0.0, -1.0] {
            let error = check_timing(value, 0.1).unwrap_err().to_string();
            assert!(error.starts_with("--jitter-ms"), "{value}: {error}");
            assert!(
                error.contains("a finite number of milliseconds"),
                "{value}: {error}"
            );
            assert!(error.contains(&format!("got {value}")), "{value}: {error}");
        }
        check_timing(0.5, 0.1).unwrap();
    }
}

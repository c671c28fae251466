//! The `kinetype` command: replays public keystroke datasets through the library and compares
//! the results with published figures.

mod attack;
mod continuous;
mod data;
mod families;
mod fixed_text;
mod freetext;
mod mouse;
mod output_paths;
mod plots;
mod replay_flags;
mod serve;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use replay_flags::ReplayKind;

/// Keystroke and mouse dynamics: benchmark replays.
#[derive(Debug, Parser)]
#[command(name = "kinetype", version, about)]
struct Cli {
    /// Data root: an existing folder with one folder per dataset [default: $KINETYPE_DATA_DIR,
    /// else ./datasets, which the first download creates]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a public dataset through the detectors and print error rates beside the
    /// published ones.
    Replay(ReplayArgs),
    /// Download the missing files of a dataset from its official source.
    ///
    /// A subset's name, such as bksd-phrase-ar, downloads only the files of that subset.
    ///
    /// Each download is checked against the size and SHA-256 in the catalog before it is
    /// renamed into place; a failed download leaves no file behind. Files that are already
    /// present get a size check only, unless --verify is given. `kinetype replay` downloads
    /// missing files the same way and never hashes present files.
    ///
    /// Set KINETYPE_DOWNLOAD_BASE_URL=http://HOST/PATH to fetch every file from
    /// `<base>/<dataset directory>/<file path>` instead of the official URL (for a mirror
    /// of a data root, or tests).
    Download {
        /// Dataset name from `kinetype datasets`.
        dataset: String,

        /// Also check the SHA-256 of files that are already present (reads every file).
        #[arg(long)]
        verify: bool,
    },
    /// List the datasets in the catalog and whether each is present under the data root.
    Datasets,
    /// Attack engine victims enrolled from real data (Aalto keyboard, Balabit mouse) with
    /// replayed, jittered, constant, population-drawn and mimicked timing, and print the
    /// fraction of attempts that reach Allow.
    Attack(attack::AttackArgs),
    /// Serve the gRPC scoring API (kinetype.v1.Scoring, health, reflection) until SIGTERM or
    /// SIGINT; on either signal it stops accepting, finishes in-flight calls, saves the models
    /// and exits 0.
    Serve(serve::ServeArgs),
}

/// Options of `kinetype replay`, shared by every dataset.
#[derive(Debug, Args)]
struct ReplayArgs {
    /// Dataset to replay: dsl2009, bksd-password-en, bksd-password-ar, bksd-phrase-en,
    /// bksd-phrase-ar, balabit, aalto
    #[arg(default_value = "dsl2009")]
    dataset: String,

    /// Fixed-text datasets only: comma-separated detector names [default: every detector]
    #[arg(long, value_delimiter = ',')]
    detectors: Vec<String>,

    /// Write the results as JSON to this file, in an existing folder
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,

    /// Not with --continuous: write ROC and DET curves as SVG files into this directory
    /// (created if missing, but its parent folder must exist)
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,

    /// Not with --continuous: write genuine and impostor scores into this directory, one score
    /// per line, pyeer's input format (created if missing, but its parent folder must exist)
    #[arg(long, value_name = "DIR")]
    scores: Option<PathBuf>,

    /// Fixed-text datasets only: also replay with only the first 5, 10, 20, 50, 100 and 200
    /// training vectors per subject and print mean EER against that number
    #[arg(long)]
    enrolment_curve: bool,

    /// Fixed-text datasets only: background subjects' rows that background-assisted detectors
    /// may fit on, `impostor` (the rows the protocol uses as impostor attempts) or `all`
    /// [default: impostor]
    #[arg(long, value_name = "ROWS")]
    background_rows: Option<String>,

    /// aalto only, without --continuous: number of sentences each participant enrols on
    /// [default: 5]
    #[arg(long, value_name = "N")]
    enrol_sentences: Option<usize>,

    /// balabit and aalto only: enrol each user in the continuous-authentication engine with
    /// one modality and stream the test sessions through it, reporting ANIA, ANGA and
    /// per-challenge error rates
    #[arg(long)]
    continuous: bool,

    /// With --continuous: decisions per test session, taken after randomly chosen events
    /// [default: 5]
    #[arg(long, value_name = "N")]
    challenges: Option<usize>,

    /// With --continuous: target false-match rate for which enrolment sets each user's allow
    /// threshold, estimated on the background population only [default: 0.01]
    #[arg(long, value_name = "RATE")]
    target_fmr: Option<f64>,

    /// balabit only, without --continuous: the per-user two-class model, `boosted`
    /// (gradient-boosted trees, the default, chosen by cross-validation inside the training
    /// files) or `forest` (the random forest, several times faster to fit)
    #[arg(long, value_enum, value_name = "MODEL")]
    mouse_model: Option<MouseModel>,
}

/// Per-user two-class model of the Balabit replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MouseModel {
    Boosted,
    Forest,
}

/// Sends a replay to the module that handles the dataset's modality.
fn replay(root: &std::path::Path, args: ReplayArgs) -> anyhow::Result<()> {
    // Flags are checked before any data loads, so a typo does not cost a whole run.
    let kind = replay_flags::check(&args)?;
    if args.challenges == Some(0) {
        anyhow::bail!("--challenges must be at least 1, got 0");
    }
    if let Some(rate) = args.target_fmr {
        check_target_fmr(rate)?;
    }
    if let Some(path) = &args.report_json {
        output_paths::check_output_file(path, "--report-json")?;
    }
    if let Some(dir) = &args.plots {
        output_paths::prepare_output_dir(dir, "--plots")?;
    }
    if let Some(dir) = &args.scores {
        output_paths::prepare_output_dir(dir, "--scores")?;
    }
    match kind {
        ReplayKind::FixedText => fixed_text::run(root, args),
        ReplayKind::Mouse => mouse::run(root, args),
        ReplayKind::FreeText => freetext::run(root, args),
        ReplayKind::Continuous => continuous::run(root, args),
    }
}

/// Rejects a `--target-fmr` outside (0, 1).
fn check_target_fmr(value: f64) -> anyhow::Result<()> {
    if !(value > 0.0 && value < 1.0) {
        anyhow::bail!("--target-fmr must be above 0 and below 1, such as 0.01; got {value}");
    }
    Ok(())
}

/// Finds the data root and rejects one that `--data-dir` or `KINETYPE_DATA_DIR` names but that
/// does not exist, because downloads would otherwise create a mistyped path and fill it. The
/// default `./datasets` may be missing, and the first download creates it.
fn checked_data_root(explicit: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    use kinetype::datasets::catalog::{DATA_DIR_ENV, DataRootSource, resolve_data_root};
    let (root, source) = resolve_data_root(explicit);
    let setting = match source {
        DataRootSource::Explicit => "--data-dir".to_string(),
        DataRootSource::Environment => DATA_DIR_ENV.to_string(),
        // The default root, which the first download creates when it is missing.
        _ => return Ok(root),
    };
    match std::fs::metadata(&root) {
        Ok(metadata) if metadata.is_dir() => Ok(root),
        Ok(_) => anyhow::bail!(
            "data root {} ({setting}) is not a directory; point {setting} at the folder that \
             contains the dataset folders",
            root.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "data root {} ({setting}) does not exist; create the folder, or correct the path",
            root.display()
        ),
        Err(error) => Err(error).with_context(|| format!("data root {}", root.display())),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes help only on a terminal, and in a redirected log file they are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KINETYPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    // `serve` reads no dataset, so only the other commands need an existing data root.
    let root = || checked_data_root(cli.data_dir.as_deref());
    let outcome = match cli.command {
        Command::Replay(args) => root().and_then(|root| replay(&root, args)),
        Command::Download { dataset, verify } => {
            root().and_then(|root| data::download_command(&root, &dataset, verify))
        }
        Command::Datasets => root().and_then(|root| data::list_command(&root)),
        Command::Attack(args) => root().and_then(|root| attack::run(&root, args)),
        Command::Serve(args) => serve::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_message(&error));
            ExitCode::FAILURE
        }
    }
}

/// Joins an error and its causes with `: `, as anyhow's `{:#}` does, but skips a cause whose
/// text already ends the message. Library errors such as `kinetype::Error::Io` print their
/// source and also return it from `source()`, so `{:#}` would print the OS error twice.
fn error_message(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_text_appears_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = io.to_string();
        let error = kinetype::Error::Io {
            path: PathBuf::from("data/balabit/training_files"),
            source: io,
        };
        let message = error_message(&anyhow::Error::from(error));
        assert_eq!(message, format!("data/balabit/training_files: {text}"));
    }

    #[test]
    fn context_and_distinct_causes_are_kept() {
        let io = std::io::Error::other("disk on fire");
        let error = anyhow::Error::from(io).context("reading --secret-file s.key");
        assert_eq!(
            error_message(&error),
            "reading --secret-file s.key: disk on fire"
        );
    }
}

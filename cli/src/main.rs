//! The `kinetype` command: replays public keystroke datasets through the library and compares
//! the results with published figures.

mod attack;
mod continuous;
mod data;
mod families;
mod fixed_text;
mod freetext;
mod mouse;
mod plots;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Keystroke and mouse dynamics: benchmark replays.
#[derive(Debug, Parser)]
#[command(name = "kinetype", version, about)]
struct Cli {
    /// Data root holding one folder per dataset [default: $KINETYPE_DATA_DIR, else ./datasets]
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

    /// Comma-separated detector names [default: every detector for the dataset]
    #[arg(long, value_delimiter = ',')]
    detectors: Vec<String>,

    /// Write the results as JSON to this file
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,

    /// Write ROC and DET curves as SVG files into this directory
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,

    /// Write genuine and impostor scores into this directory, one score per line (pyeer's
    /// input format)
    #[arg(long, value_name = "DIR")]
    scores: Option<PathBuf>,

    /// Also replay with only the first 5, 10, 20, 50, 100 and 200 training vectors per subject
    /// and print mean EER against that number (fixed-text datasets)
    #[arg(long)]
    enrolment_curve: bool,

    /// Background subjects' rows that background-assisted detectors may fit on: `impostor`
    /// (the rows the protocol uses as impostor attempts) or `all`
    #[arg(long, default_value = "impostor", value_name = "ROWS")]
    background_rows: String,
    /// Free-text datasets only: number of sentences each participant enrols on
    #[arg(long, value_name = "N", default_value_t = 5)]
    enrol_sentences: usize,

    /// balabit and aalto only: enrol each user in the continuous-authentication engine with
    /// one modality and stream the test sessions through it, reporting ANIA, ANGA and
    /// per-challenge error rates
    #[arg(long)]
    continuous: bool,

    /// With --continuous: decisions per test session, taken after randomly chosen events
    #[arg(long, value_name = "N", default_value_t = 5)]
    challenges: usize,

    /// With --continuous: target false-match rate for which enrolment sets each user's allow
    /// threshold, estimated on the background population only
    #[arg(long, value_name = "RATE", default_value_t = 0.01)]
    target_fmr: f64,
}

/// Sends a replay to the module that handles the dataset's modality.
fn replay(root: &std::path::Path, args: ReplayArgs) -> anyhow::Result<()> {
    if args.continuous {
        return continuous::run(root, args);
    }
    match args.dataset.as_str() {
        kinetype::datasets::balabit::NAME => mouse::run(root, args),
        "aalto" | kinetype::datasets::aalto::NAME => freetext::run(root, args),
        _ => fixed_text::run(root, args),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KINETYPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let root = kinetype::datasets::catalog::data_root(cli.data_dir.as_deref());
    let outcome = match cli.command {
        Command::Replay(args) => replay(&root, args),
        Command::Download { dataset, verify } => data::download_command(&root, &dataset, verify),
        Command::Datasets => data::list_command(&root),
        Command::Attack(args) => attack::run(&root, args),
        Command::Serve(args) => serve::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! `kinetype replay balabit --continuous` and `kinetype replay aalto --continuous`: stream
//! test sessions through the engine and report lock-out and challenge figures.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use kinetype::datasets::{aalto, balabit};
use kinetype::evaluation::continuous::{
    ContinuousParams, ContinuousReport, aalto::replay_aalto, balabit::replay_balabit,
};
use serde::Serialize;

use crate::ReplayArgs;
use crate::data::ensure_dataset;

#[derive(Debug, Serialize)]
struct Report<'a> {
    dataset: &'a str,
    run_seconds: f64,
    threads: usize,
    #[serde(flatten)]
    result: &'a ContinuousReport,
}

pub(crate) fn run(root: &Path, args: ReplayArgs) -> Result<()> {
    let mut params = ContinuousParams::default();
    if let Some(challenges) = args.challenges {
        params.challenges_per_session = challenges;
    }
    if let Some(rate) = args.target_fmr {
        params.target_fmr = rate;
    }
    let started = Instant::now();
    let (name, report) = match args.dataset.as_str() {
        balabit::NAME => {
            let entry = ensure_dataset(root, balabit::NAME)?;
            eprintln!(
                "streaming {} through the engine (mouse only)...",
                balabit::NAME
            );
            (balabit::NAME, replay_balabit(&entry.dir(root), &params)?)
        }
        "aalto" | aalto::NAME => {
            let entry = ensure_dataset(root, aalto::NAME)?;
            eprintln!(
                "streaming {} through the engine (keyboard only)...",
                aalto::NAME
            );
            (aalto::NAME, replay_aalto(&entry.dir(root), &params)?)
        }
        other => bail!("--continuous supports balabit and aalto, not {other}"),
    };
    let run_seconds = started.elapsed().as_secs_f64();
    print!("{}", table(name, &report, run_seconds));
    if let Some(path) = &args.report_json {
        let json = serde_json::to_string_pretty(&Report {
            dataset: name,
            run_seconds,
            threads: rayon::current_num_threads(),
            result: &report,
        })?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn table(name: &str, r: &ContinuousReport, run_seconds: f64) -> String {
    let mut out = String::new();
    let t = &r.trust;
    let _ = writeln!(out, "{name} --continuous: {}\n", r.protocol);
    let _ = writeln!(
        out,
        "trust: initial {}, max {}, lock-out {}, neutral score {}, width {}, reward {}, \
         penalty {}, idle half-life {} s; target FMR {}",
        t.initial,
        t.max,
        t.lockout,
        t.neutral_score,
        t.width,
        t.max_reward,
        t.max_penalty,
        t.idle_half_life.as_secs(),
        r.target_fmr
    );
    let _ = writeln!(
        out,
        "users enrolled {} (not enrolled {}), target FMR out of reach for {}, mean allow \
         threshold {:.3}",
        r.users_enrolled, r.users_not_enrolled, r.users_unreachable_fmr, r.mean_allow_threshold
    );
    let _ = writeln!(
        out,
        "sessions: {} genuine, {} impostor; events rejected {}\n",
        r.genuine_sessions, r.impostor_sessions, r.rejected_events
    );
    let ania = r
        .ania
        .map_or("none locked out".to_owned(), |v| format!("{v:.1}"));
    let _ = writeln!(out, "ANIA (impostor actions before lock-out)    {ania}");
    let _ = writeln!(
        out,
        "ANGA (genuine actions before lock-out)     {:.1}",
        r.anga
    );
    let _ = writeln!(
        out,
        "impostor sessions never locked out         {:.3}",
        r.impostors_never_detected
    );
    let _ = writeln!(
        out,
        "genuine sessions locked out                {:.3}",
        r.genuine_locked_out
    );
    let _ = writeln!(
        out,
        "sessions flagged as replays (all false)    genuine {:.3}, impostor {:.3}",
        r.genuine_replay_flagged, r.impostor_replay_flagged
    );
    let g = &r.genuine_challenges;
    let i = &r.impostor_challenges;
    let _ = writeln!(
        out,
        "challenge FAR {:.3} ({} of {} impostor challenges allowed; step-up {}, deny {})",
        r.challenge_far,
        i.allow,
        i.total(),
        i.step_up,
        i.deny
    );
    let _ = writeln!(
        out,
        "challenge FRR {:.3} ({} of {} genuine challenges not allowed; step-up {}, deny {})",
        r.challenge_frr,
        g.step_up + g.deny,
        g.total(),
        g.step_up,
        g.deny
    );
    let _ = writeln!(out, "\nrun time {run_seconds:.1} s");
    out
}

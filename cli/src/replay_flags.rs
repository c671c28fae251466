//! The replays that each `kinetype replay` flag applies to. The check runs before any data
//! loads, so a flag that the chosen replay would ignore stops the run at once.

use anyhow::{Result, bail};
use kinetype::datasets::bksd::BksdSet;
use kinetype::datasets::{aalto, balabit, dsl};

use crate::ReplayArgs;
use ReplayKind::{Continuous, FixedText, FreeText, Mouse};

/// The replay that a dataset name and `--continuous` select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayKind {
    /// dsl2009 or a BKSD set: fixed-text detectors under a DSN-2009-style protocol.
    FixedText,
    /// balabit without `--continuous`: the per-user two-class mouse models.
    Mouse,
    /// aalto without `--continuous`: the free-text detectors.
    FreeText,
    /// balabit or aalto with `--continuous`: sessions streamed through the engine.
    Continuous,
}

impl ReplayKind {
    /// Finds the replay of `dataset`. A fixed-text dataset stays [`ReplayKind::FixedText`]
    /// with `continuous`, so that the `--continuous` row of [`FLAGS`] rejects it.
    ///
    /// # Errors
    ///
    /// When `dataset` names no replay, listing the names that do.
    pub(crate) fn of(dataset: &str, continuous: bool) -> Result<Self> {
        let streamed = |kind| {
            if continuous {
                ReplayKind::Continuous
            } else {
                kind
            }
        };
        if dataset == dsl::NAME || BksdSet::from_name(dataset).is_some() {
            return Ok(ReplayKind::FixedText);
        }
        if dataset == balabit::NAME {
            return Ok(streamed(ReplayKind::Mouse));
        }
        if dataset == "aalto" || dataset == aalto::NAME {
            return Ok(streamed(ReplayKind::FreeText));
        }
        bail!(
            "`{dataset}` is not a replay; use one of: {}, {}, {}, aalto",
            dsl::NAME,
            bksd_names(),
            balabit::NAME
        );
    }

    /// Names the replays of this kind in an error message.
    fn describe(self) -> String {
        match self {
            ReplayKind::FixedText => format!("{}, {}", dsl::NAME, bksd_names()),
            ReplayKind::Mouse => format!("{} without --continuous", balabit::NAME),
            ReplayKind::FreeText => "aalto without --continuous".to_string(),
            ReplayKind::Continuous => format!("{} or aalto with --continuous", balabit::NAME),
        }
    }
}

fn bksd_names() -> String {
    let names: Vec<&str> = BksdSet::ALL.iter().map(|set| set.name()).collect();
    names.join(", ")
}

/// A replay flag that only some replays read.
struct Restricted {
    name: &'static str,
    applies_to: &'static [ReplayKind],
    /// Whether the command line sets the flag.
    is_set: fn(&ReplayArgs) -> bool,
}

/// Every replay flag except `--report-json`, which all replays write. A flag with a default
/// is an `Option` in [`ReplayArgs`], so that giving the default value explicitly still counts
/// as set.
const FLAGS: [Restricted; 10] = [
    Restricted {
        name: "--detectors",
        applies_to: &[FixedText],
        is_set: |args| !args.detectors.is_empty(),
    },
    Restricted {
        name: "--plots",
        applies_to: &[FixedText, Mouse, FreeText],
        is_set: |args| args.plots.is_some(),
    },
    Restricted {
        name: "--scores",
        applies_to: &[FixedText, Mouse, FreeText],
        is_set: |args| args.scores.is_some(),
    },
    Restricted {
        name: "--enrolment-curve",
        applies_to: &[FixedText],
        is_set: |args| args.enrolment_curve,
    },
    Restricted {
        name: "--background-rows",
        applies_to: &[FixedText],
        is_set: |args| args.background_rows.is_some(),
    },
    Restricted {
        name: "--enrol-sentences",
        applies_to: &[FreeText],
        is_set: |args| args.enrol_sentences.is_some(),
    },
    Restricted {
        name: "--continuous",
        applies_to: &[Continuous],
        is_set: |args| args.continuous,
    },
    Restricted {
        name: "--challenges",
        applies_to: &[Continuous],
        is_set: |args| args.challenges.is_some(),
    },
    Restricted {
        name: "--target-fmr",
        applies_to: &[Continuous],
        is_set: |args| args.target_fmr.is_some(),
    },
    Restricted {
        name: "--mouse-model",
        applies_to: &[Mouse],
        is_set: |args| args.mouse_model.is_some(),
    },
];

/// Finds the replay that `args` select and rejects the first set flag that it would ignore.
///
/// # Errors
///
/// When the dataset names no replay. Also when a flag does not apply to the replay, with a
/// message that names the flag and the replays it applies to.
pub(crate) fn check(args: &ReplayArgs) -> Result<ReplayKind> {
    let kind = ReplayKind::of(&args.dataset, args.continuous)?;
    for flag in &FLAGS {
        if (flag.is_set)(args) && !flag.applies_to.contains(&kind) {
            let replay = if kind == Continuous {
                format!("{} --continuous", args.dataset)
            } else {
                args.dataset.clone()
            };
            let kinds: Vec<String> = flag.applies_to.iter().map(|k| k.describe()).collect();
            bail!(
                "{} does not apply to `replay {replay}`; it applies only to: {}",
                flag.name,
                kinds.join("; ")
            );
        }
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Replay {
        #[command(flatten)]
        args: ReplayArgs,
    }

    /// Parses `replay` options as the command line would.
    fn args(words: &[&str]) -> ReplayArgs {
        let words = std::iter::once("replay").chain(words.iter().copied());
        Replay::try_parse_from(words).unwrap().args
    }

    const KINDS: [ReplayKind; 4] = [FixedText, Mouse, FreeText, Continuous];

    /// Returns the dataset and flags that select the replay of `kind`.
    fn replay_of(kind: ReplayKind) -> Vec<&'static str> {
        match kind {
            FixedText => vec!["bksd-password-ar"],
            Mouse => vec!["balabit"],
            FreeText => vec!["aalto"],
            Continuous => vec!["aalto", "--continuous"],
        }
    }

    /// Command-line words that set each flag of [`FLAGS`], in the same order.
    const SETTINGS: [&[&str]; 10] = [
        &["--detectors", "manhattan"],
        &["--plots", "dir"],
        &["--scores", "dir"],
        &["--enrolment-curve"],
        &["--background-rows", "impostor"],
        &["--enrol-sentences", "5"],
        &["--continuous"],
        &["--challenges", "5"],
        &["--target-fmr", "0.01"],
        &["--mouse-model", "boosted"],
    ];

    #[test]
    fn every_flag_against_every_replay() {
        for (flag, setting) in FLAGS.iter().zip(SETTINGS) {
            assert_eq!(setting[0], flag.name);
            for kind in KINDS {
                // The continuous replay already has --continuous, and clap rejects it twice.
                if flag.name == "--continuous" && kind == Continuous {
                    continue;
                }
                let mut words = replay_of(kind);
                words.extend_from_slice(setting);
                // --continuous turns the mouse and free-text replays into the continuous one.
                let expected = if flag.name == "--continuous" {
                    [Mouse, FreeText].contains(&kind)
                } else {
                    flag.applies_to.contains(&kind)
                };
                let result = check(&args(&words));
                assert_eq!(result.is_ok(), expected, "{words:?}: {result:?}");
                if let Err(error) = result {
                    assert!(error.to_string().starts_with(flag.name), "{error}");
                }
            }
        }
    }

    #[test]
    fn flags_left_out_pass() {
        for kind in KINDS {
            let words = replay_of(kind);
            assert_eq!(check(&args(&words)).unwrap(), kind, "{words:?}");
        }
        let words = ["dsl2009", "--report-json", "report.json"];
        assert_eq!(check(&args(&words)).unwrap(), FixedText);
    }

    #[test]
    fn aalto_catalog_name_is_free_text() {
        assert_eq!(check(&args(&[aalto::NAME])).unwrap(), FreeText);
    }

    #[test]
    fn unknown_dataset_lists_replays() {
        let error = check(&args(&["bksd"])).unwrap_err().to_string();
        assert!(error.contains("`bksd` is not a replay"), "{error}");
        assert!(error.contains("bksd-phrase-en"), "{error}");
        assert!(error.contains("aalto"), "{error}");
    }
}

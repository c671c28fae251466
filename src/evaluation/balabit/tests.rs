use std::fmt::Write as _;
use std::path::Path;

use super::*;

/// Builds a session file of `clicks` point-and-click actions. User style: `step` pixels per 16 ms
/// tick along x (`horizontal`) or y.
fn session_text(clicks: usize, step: f64, horizontal: bool) -> String {
    paused_session_text(clicks, step, horizontal, 0.5)
}

/// [`session_text`] with `pause` seconds of rest between one click's release and the next
/// action (0.5 in [`session_text`]).
fn paused_session_text(clicks: usize, step: f64, horizontal: bool, pause: f64) -> String {
    let mut text = String::from("record timestamp,client timestamp,button,state,x,y\n");
    let mut t = 0.0;
    for c in 0..clicks {
        let jitter = (c % 3) as f64;
        for i in 0..8 {
            let d = step * i as f64 + jitter;
            let (x, y) = if horizontal {
                (100.0 + d, 300.0)
            } else {
                (300.0, 100.0 + d)
            };
            let _ = writeln!(text, "{t:.3},{t:.3},NoButton,Move,{x},{y}");
            t += 0.016;
        }
        for state in ["Pressed", "Released"] {
            let _ = writeln!(text, "{t:.3},{t:.3},Left,{state},400,400");
            t += 0.1;
        }
        t += pause;
    }
    text
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Two users with different styles, five training sessions each; each user has one genuine
/// and one impostor test session.
fn synthetic(dir: &Path, labels: &str) -> Result<()> {
    for session in 0..5 {
        write(
            &dir.join(format!("training_files/user1/session_a{session}")),
            &session_text(12, 12.0, true),
        )?;
        write(
            &dir.join(format!("training_files/user2/session_b{session}")),
            &session_text(12, 3.0, false),
        )?;
    }
    write(
        &dir.join("test_files/user1/session_1"),
        &session_text(10, 12.0, true),
    )?;
    write(
        &dir.join("test_files/user1/session_2"),
        &session_text(10, 3.0, false),
    )?;
    write(
        &dir.join("test_files/user2/session_3"),
        &session_text(10, 3.0, false),
    )?;
    write(
        &dir.join("test_files/user2/session_4"),
        &session_text(10, 12.0, true),
    )?;
    write(
        &dir.join("test_files/user2/session_unlabelled"),
        "not even csv",
    )?;
    write(&dir.join("public_labels.csv"), labels)
}

fn small() -> BalabitParams {
    BalabitParams {
        forest: ForestParams {
            n_trees: 10,
            ..ForestParams::default()
        },
        // The synthetic users have a few dozen actions, too few for 20 rows per leaf.
        boost: Some(BoostParams {
            n_rounds: 20,
            min_samples_leaf: 2,
            ..BoostParams::default()
        }),
        // Plain action rows, so each test turns on the appended columns it covers.
        previous_action_features: false,
        ..BalabitParams::default()
    }
}

/// [`small`] with the forest as the two-class model.
fn small_forest() -> BalabitParams {
    BalabitParams {
        boost: None,
        ..small()
    }
}

/// [`small`] with the booster's calibration cross-fitted over whole training sessions instead
/// of within each user's actions, and the mean log odds.
fn small_with_session_folds() -> BalabitParams {
    BalabitParams {
        session_folds: Some(cv::CvParams::default()),
        aggregate: crate::mouse::score::SessionAggregate::MeanLogOdds,
        ..small()
    }
}

#[test]
fn synthetic_users_separate() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let labels = "filename,is_illegal\nsession_1,0\nsession_2,1\nsession_3,0\nsession_4,1\n";
    synthetic(dir.path(), labels)?;
    let forest_by_session = BalabitParams {
        session_folds: Some(cv::CvParams::default()),
        ..small_forest()
    };
    let params = [
        small(),
        small_forest(),
        small_with_session_folds(),
        forest_by_session,
        BalabitParams::forest(),
        BalabitParams {
            position_features: true,
            ..small()
        },
        BalabitParams {
            position_features: true,
            ..small_with_session_folds()
        },
        BalabitParams {
            previous_action_features: true,
            ..small()
        },
    ];
    for params in params {
        let report = replay(dir.path(), &params)?;
        assert_eq!(report.protocol, protocol(&params));
        assert_eq!(report.sessions.len(), 4, "the unlabelled file is not read");
        assert_eq!(report.session_auc, 1.0);
        assert_eq!(report.session_eer, 0.0);
        // Separated classes leave no spread of placements, so the interval is the AUC.
        assert_eq!(report.session_auc_ci95, Some((1.0, 1.0)));
        assert!(report.action_auc > 0.9, "{}", report.action_auc);
        assert_eq!(report.per_user.len(), 2);
        assert_eq!(report.by_decision_size.len(), 5);
        assert_eq!(report.sessions_without_actions, 0);
        assert_eq!(report.training_segments.point_click, 120);
    }
    Ok(())
}

#[test]
fn session_folds_need_a_session_per_fold() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let labels = "filename,is_illegal\nsession_1,0\nsession_2,1\nsession_3,0\nsession_4,1\n";
    synthetic(dir.path(), labels)?;
    let removed = dir.path().join("training_files/user2/session_b4");
    std::fs::remove_file(&removed).map_err(|e| Error::io(&removed, e))?;
    match replay(dir.path(), &small_with_session_folds()) {
        Err(Error::DatasetShape { problem, .. }) => {
            assert!(
                problem.contains("user2 has 4 training sessions, fewer than the 5 folds"),
                "{problem}"
            );
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    // Without the session folds the four sessions are enough.
    let report = replay(dir.path(), &small())?;
    assert_eq!(report.session_auc, 1.0);
    Ok(())
}

#[test]
fn missing_labelled_session_rejected() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let labels = "filename,is_illegal\nsession_1,0\nsession_2,1\nsession_9,1\n";
    synthetic(dir.path(), labels)?;
    match replay(dir.path(), &small()) {
        Err(Error::DatasetShape { problem, .. }) => {
            assert!(
                problem.contains("3 sessions are labelled but 2"),
                "{problem}"
            );
            assert!(problem.contains("missing: session_9."), "{problem}");
        }
        other => panic!("expected a dataset shape error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn one_class_of_labels_rejected() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic(
        dir.path(),
        "filename,is_illegal\nsession_1,0\nsession_3,0\n",
    )?;
    assert!(matches!(
        replay(dir.path(), &small()),
        Err(Error::DatasetShape { .. })
    ));
    Ok(())
}

/// Writes two training sessions per user for two users with different styles.
fn synthetic_training(dir: &Path) -> Result<()> {
    for (user, step, horizontal) in [("user1", 12.0, true), ("user2", 3.0, false)] {
        for session in ["a", "b"] {
            write(
                &dir.join(format!("training_files/{user}/session_{user}{session}")),
                &session_text(20, step, horizontal),
            )?;
        }
    }
    Ok(())
}

#[test]
fn cross_validation_separates_synthetic_users() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic_training(dir.path())?;
    let cv = two_fold_cv(false);
    let variants = [
        cv::ForestVariant {
            name: "small".into(),
            params: small(),
        },
        cv::ForestVariant {
            name: "small, relative".into(),
            params: BalabitParams {
                relative_features: true,
                ..small()
            },
        },
        cv::ForestVariant {
            name: "small forest".into(),
            params: small_forest(),
        },
        cv::ForestVariant {
            name: "small, positions".into(),
            params: BalabitParams {
                position_features: true,
                ..small()
            },
        },
    ];
    let fusions = [cv::Fusion {
        name: "small + small forest".into(),
        members: ("small".into(), "small forest".into()),
    }];
    let results = cv::cross_validate(dir.path(), &cv, &variants, &fusions)?;
    // Per variant: each aggregate with each treatment; then the two one-class scores; then
    // each aggregate of each variant with each cross-fitted calibration, and once more
    // cohort-normalised; last the fusion.
    let per_variant = cv::AGGREGATES.len() * (cv::TREATMENTS.len() + cv::CROSS_FITS.len() + 1);
    assert_eq!(
        results.len(),
        variants.len() * per_variant + 2 + fusions.len()
    );
    assert!(
        results[results.len() - 1]
            .variant
            .starts_with("small + small forest / fused")
    );
    for r in results
        .iter()
        .filter(|r| !r.variant.starts_with("one-class"))
    {
        // The weighted sum may round just below 1.
        assert!((r.auc - 1.0).abs() < 1e-9, "{} {}", r.variant, r.auc);
        assert_eq!(r.auc_unweighted, 1.0, "{}", r.variant);
    }
    Ok(())
}

/// Three users: `user1` and `user3` move and click alike and differ only in how long they
/// pause between actions (0.6 s against 2.1 s), which `user2`, slower, shares with `user1`.
fn three_users_training(dir: &Path) -> Result<()> {
    for (user, step, pause) in [
        ("user1", 12.0, 0.5),
        ("user2", 3.0, 0.5),
        ("user3", 12.0, 2.0),
    ] {
        for session in ["a", "b"] {
            write(
                &dir.join(format!("training_files/{user}/session_{user}{session}")),
                &paused_session_text(20, step, true, pause),
            )?;
        }
    }
    Ok(())
}

/// Returns a cross-validation variant named `name` with `params`.
fn variant(name: &str, params: BalabitParams) -> cv::ForestVariant {
    cv::ForestVariant {
        name: name.into(),
        params,
    }
}

/// Two folds and pieces of 4 to 8 actions, for the synthetic users' few dozen actions.
fn two_fold_cv(leave_impostor_out: bool) -> cv::CvParams {
    cv::CvParams {
        folds: 2,
        piece_actions: (4, 8),
        seed: 1,
        leave_impostor_out,
    }
}

#[test]
fn leave_impostor_out_needs_three_users() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic_training(dir.path())?;
    let cv = two_fold_cv(true);
    let variants = [variant("small", small())];
    let result = cv::cross_validate(dir.path(), &cv, &variants, &[]);
    assert!(
        matches!(result, Err(Error::DatasetShape { .. })),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn leave_impostor_out_pause_only_impostor() -> Result<()> {
    // With every user among the negatives, `user1`'s model learns `user3`'s longer pauses.
    // Left out of the negatives, `user3` is a stranger that only the pauses would give away,
    // and `user1`'s model, fitted against `user2` alone, has no reason to look at them.
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    three_users_training(dir.path())?;
    let variants = [variant("small forest", small_forest())];
    let row = "small forest / mean-probability / raw";
    let auc = |leave_impostor_out: bool| -> Result<f64> {
        let cv = two_fold_cv(leave_impostor_out);
        let results = cv::cross_validate(dir.path(), &cv, &variants, &[])?;
        let found = results.iter().find(|r| r.variant == row);
        Ok(found.map_or(f64::NAN, |r| r.auc))
    };
    let (seen, strangers) = (auc(false)?, auc(true)?);
    assert!(seen > 0.99, "every impostor among the negatives: {seen}");
    assert!(strangers < 0.9, "impostors left out: {strangers}");
    Ok(())
}

#[test]
fn fusion_with_itself_equals_variant() -> Result<()> {
    // Averaging a variant's ratios with themselves gives its own cross-fitted mean-log-odds
    // row. Strangers keep the AUCs below 1, so rows of other slots differ.
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    three_users_training(dir.path())?;
    let variants = [variant("small forest", small_forest())];
    let fusions = [cv::Fusion {
        name: "twice".into(),
        members: ("small forest".into(), "small forest".into()),
    }];
    let results = cv::cross_validate(dir.path(), &two_fold_cv(true), &variants, &fusions)?;
    let auc_of = |name: &str| results.iter().find(|r| r.variant == name).map(|r| r.auc);
    let fused = auc_of("twice / fused mean-log-odds, cross-fitted calibration");
    let own = auc_of("small forest / mean-log-odds / cross-fitted calibration");
    let other = auc_of("small forest / median-log-odds / cross-fitted calibration");
    assert!(fused.is_some(), "no fused row");
    assert_eq!(fused, own);
    assert_ne!(fused, other);
    Ok(())
}

#[test]
fn fusion_of_unknown_variant_rejected() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic_training(dir.path())?;
    let cv = two_fold_cv(false);
    let variants = [variant("small", small())];
    let fusions = [cv::Fusion {
        name: "small + missing".into(),
        members: ("small".into(), "missing".into()),
    }];
    let rejected = cv::cross_validate(dir.path(), &cv, &variants, &fusions);
    assert!(
        matches!(
            &rejected,
            Err(Error::InvalidParameter { name: "fusions", value, .. }) if value == "missing"
        ),
        "{rejected:?}"
    );
    Ok(())
}

#[test]
fn cross_validation_needs_enough_sessions() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic_training(dir.path())?;
    let variants = [cv::ForestVariant {
        name: "small".into(),
        params: small(),
    }];
    for (folds, piece_actions) in [(3, (4, 5)), (1, (4, 5)), (2, (0, 5)), (2, (6, 5))] {
        let cv = cv::CvParams {
            folds,
            piece_actions,
            seed: 1,
            leave_impostor_out: false,
        };
        assert!(
            matches!(
                cv::cross_validate(dir.path(), &cv, &variants, &[]),
                Err(Error::DatasetShape { .. })
            ),
            "{folds} folds, {piece_actions:?} actions"
        );
    }
    Ok(())
}

/// Cross-validates the candidate variants on the real training files and prints the pooled
/// AUCs. Slow (minutes), so it runs only on request:
/// `cargo test --release --lib balabit_training_cv -- --ignored --nocapture`.
#[test]
#[ignore = "minutes of forest fitting on the real data set"]
fn balabit_training_cv() -> Result<()> {
    let base = BalabitParams::default();
    // The forest variants were the candidates before the booster; `forest` is the earlier
    // default.
    let forest = BalabitParams::forest();
    let variants = [
        cv::ForestVariant {
            name: "default".into(),
            params: base.clone(),
        },
        cv::ForestVariant {
            name: "150 rounds".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    n_rounds: 150,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        // Candidates for a faster replay: half the rounds with twice the step, with and
        // without growing each tree on half the rows.
        cv::ForestVariant {
            name: "150 rounds at 0.2".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    n_rounds: 150,
                    learning_rate: 0.2,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "150 rounds at 0.2 and half the rows".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    n_rounds: 150,
                    learning_rate: 0.2,
                    subsample: 0.5,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "half the rows per tree".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    subsample: 0.5,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "half the features per tree".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    colsample: 0.5,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "half the rows and features per tree".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    subsample: 0.5,
                    colsample: 0.5,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "63 bins".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    max_bins: 63,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "100 rows per leaf".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    min_samples_leaf: 100,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "15 leaves".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    max_leaves: 15,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "l2 10".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    l2: 10.0,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "learning rate 0.05".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    learning_rate: 0.05,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "booster 1x negatives".into(),
            params: BalabitParams {
                negative_ratio: 1,
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "63 leaves".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    max_leaves: 63,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "booster 5x negatives".into(),
            params: BalabitParams {
                negative_ratio: 5,
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "600 rounds".into(),
            params: BalabitParams {
                boost: Some(BoostParams {
                    n_rounds: 600,
                    ..BoostParams::default()
                }),
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "positions".into(),
            params: BalabitParams {
                position_features: true,
                previous_action_features: false,
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "no previous action".into(),
            params: BalabitParams {
                previous_action_features: false,
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "forest".into(),
            params: forest.clone(),
        },
        cv::ForestVariant {
            name: "forest with 1x negatives".into(),
            params: BalabitParams {
                negative_ratio: 1,
                ..forest.clone()
            },
        },
        cv::ForestVariant {
            name: "forest with relative features".into(),
            params: BalabitParams {
                relative_features: true,
                ..forest.clone()
            },
        },
        cv::ForestVariant {
            name: "forest with 15 features per split".into(),
            params: BalabitParams {
                forest: ForestParams {
                    max_features: Some(15),
                    ..forest.forest
                },
                ..forest.clone()
            },
        },
        cv::ForestVariant {
            name: "forest with 200 trees".into(),
            params: BalabitParams {
                forest: ForestParams {
                    n_trees: 200,
                    ..forest.forest
                },
                ..forest.clone()
            },
        },
        cv::ForestVariant {
            name: "forest with 5 samples per leaf".into(),
            params: BalabitParams {
                forest: ForestParams {
                    min_samples_leaf: 5,
                    ..forest.forest
                },
                ..forest.clone()
            },
        },
        cv::ForestVariant {
            name: "forest with 5x negatives".into(),
            params: BalabitParams {
                negative_ratio: 5,
                ..forest.clone()
            },
        },
        cv::ForestVariant {
            name: "forest seed + 1".into(),
            // Both seeds: the draw of negative rows and the forest's bootstrap samples.
            params: BalabitParams {
                seed: forest.seed + 1,
                forest: ForestParams {
                    seed: forest.forest.seed + 1,
                    ..forest.forest
                },
                ..forest.clone()
            },
        },
    ];
    // Optional: KINETYPE_CV_VARIANTS (comma-separated names, so no name contains a comma)
    // runs only those variants, and KINETYPE_CV_SEED another draw of piece lengths.
    let only = std::env::var("KINETYPE_CV_VARIANTS").ok();
    if let Some(only) = &only
        && let Some(unknown) = only
            .split(',')
            .find(|name| !variants.iter().any(|v| v.name == *name))
    {
        return Err(Error::InvalidParameter {
            name: "KINETYPE_CV_VARIANTS",
            value: unknown.to_string(),
            expected: "comma-separated names of the variants in balabit_training_cv",
        });
    }
    let variants: Vec<cv::ForestVariant> = variants
        .into_iter()
        .filter(|v| {
            only.as_ref()
                .is_none_or(|o| o.split(',').any(|n| n == v.name))
        })
        .collect();
    // The names are checked above even when the data set is missing, so a typo shows at once.
    let Some(root) = std::env::var_os("KINETYPE_DATA_DIR") else {
        println!("skipped: KINETYPE_DATA_DIR is not set");
        return Ok(());
    };
    let dir = Path::new(&root).join(balabit::NAME);
    if !dir.join(balabit::TRAINING_DIR).is_dir() {
        println!("skipped: {} has no training files", dir.display());
        return Ok(());
    }
    // KINETYPE_CV_LEAVE_IMPOSTOR_OUT=1 scores impostor pieces with models that never saw the
    // impostor (see `CvParams::leave_impostor_out`).
    let mut cv_params = cv::CvParams {
        leave_impostor_out: std::env::var("KINETYPE_CV_LEAVE_IMPOSTOR_OUT").is_ok_and(|v| v == "1"),
        ..cv::CvParams::default()
    };
    if let Ok(seed) = std::env::var("KINETYPE_CV_SEED") {
        cv_params.seed = seed.parse().map_err(|_| Error::InvalidParameter {
            name: "KINETYPE_CV_SEED",
            value: seed.clone(),
            expected: "an unsigned integer",
        })?;
    }
    println!(
        "{cv_params:?}; variants {:?}",
        variants.iter().map(|v| &v.name).collect::<Vec<_>>()
    );
    // The booster fused with the forest, when both run.
    let fusions: Vec<cv::Fusion> = [("booster + forest", "default", "forest")]
        .into_iter()
        .filter(|(_, a, b)| {
            [a, b]
                .iter()
                .all(|m| variants.iter().any(|v| v.name == **m))
        })
        .map(|(name, a, b)| cv::Fusion {
            name: name.into(),
            members: (a.into(), b.into()),
        })
        .collect();
    // Every row of one cross-validation carries appended columns of one kind, so variants of
    // a second kind run in a second cross-validation, without fusions.
    let first_kind = variants
        .iter()
        .map(|v| Appended::of(&v.params))
        .find(|a| a.has_columns());
    let (first, second): (Vec<cv::ForestVariant>, Vec<cv::ForestVariant>) =
        variants.into_iter().partition(|v| {
            let kind = Appended::of(&v.params);
            !kind.has_columns() || Some(kind) == first_kind
        });
    let mut results = cv::cross_validate(&dir, &cv_params, &first, &fusions)?;
    if !second.is_empty() {
        results.extend(cv::cross_validate(&dir, &cv_params, &second, &[])?);
    }
    println!("{:<80} {:>8} {:>10}", "variant", "balanced", "unweighted");
    for r in &results {
        println!("{:<80} {:.4} {:>10.4}", r.variant, r.auc, r.auc_unweighted);
    }
    Ok(())
}

#[test]
fn balanced_auc_weights_each_users_impostors() {
    // User 0: one genuine score 0 and two impostors (1 above, -1 below). User 1: one genuine
    // score 0 and one impostor above.
    let scored = [
        (0, true, 0.0),
        (0, false, 1.0),
        (0, false, -1.0),
        (1, true, 0.0),
        (1, false, 2.0),
    ];
    // Impostor weights: user 0 one half each, user 1 one. Pairs won: (0.5 + 1) * 2 genuine;
    // total weight: 2 genuine * 2 impostor.
    assert!((cv::balanced_auc(&scored) - 0.75).abs() < 1e-12);
    let genuine = [0.0, 0.0];
    let impostor = [1.0, -1.0, 2.0];
    let even = [
        (0, true, 0.0),
        (0, false, 1.0),
        (0, false, -1.0),
        (0, false, 2.0),
        (0, true, 0.0),
    ];
    assert!(
        (cv::balanced_auc(&even) - crate::evaluation::metrics::auc(&genuine, &impostor)).abs()
            < 1e-12
    );
    assert!(cv::balanced_auc(&[(0, true, 1.0)]).is_nan());
}

#[test]
fn pieces_cover_rows_within_bounds() {
    use rand::SeedableRng;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
    let ranges = cv::piece_ranges(1000, (4, 40), false, &mut rng);
    let mut next = 0;
    for r in &ranges {
        assert!(r.start >= next, "{r:?}");
        assert!((4..=40).contains(&r.len()), "{r:?}");
        next = r.end;
    }
    let all = cv::piece_ranges(1000, (4, 40), true, &mut rng);
    assert_eq!(all.iter().map(|r| r.len()).sum::<usize>(), 1000);
}

#[test]
fn calibration_length_is_nearest_on_log_scale() {
    assert_eq!(CALIBRATION_LENGTHS[calibration_length(0)], 4);
    assert_eq!(CALIBRATION_LENGTHS[calibration_length(50)], 45);
    assert_eq!(CALIBRATION_LENGTHS[calibration_length(10_000)], 512);
}

/// Featurises one synthetic session of three clicks, without and with `appended` columns.
fn featurise_one_session(appended: Appended) -> Result<(Array2<f64>, Array2<f64>)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    write(
        &dir.path().join("training_files/user1/session_a"),
        &session_text(3, 12.0, true),
    )?;
    let files = balabit::list_sessions(&dir.path().join(balabit::TRAINING_DIR))?;
    let segment = SegmentParams::default();
    let (mut plain, _, _) = featurise_with(&files, &segment, Appended::None)?;
    let (mut with, _, _) = featurise_with(&files, &segment, appended)?;
    Ok((plain.remove(0).1, with.remove(0).1))
}

#[test]
fn position_columns_follow_action_features() -> Result<()> {
    let (plain, with) = featurise_one_session(Appended::Positions)?;
    assert_eq!(plain.ncols(), N_FEATURES);
    assert_eq!(with.ncols(), N_FEATURES + N_POSITIONS);
    assert_eq!(action_columns(&with), plain);
    // The first click's path starts at (100, 300) and the click is at (400, 400).
    let ends: Vec<f64> = with.row(0).iter().skip(N_FEATURES).copied().collect();
    assert_eq!(ends, [100.0, 300.0, 400.0, 400.0]);
    Ok(())
}

#[test]
fn previous_columns_repeat_previous_action() -> Result<()> {
    let (plain, with) = featurise_one_session(Appended::Previous)?;
    assert!(plain.nrows() >= 2, "{} actions", plain.nrows());
    assert_eq!(with.ncols(), N_FEATURES + N_PREVIOUS);
    assert_eq!(action_columns(&with), plain);

    // The session's first action has no previous one, so its appended columns are all 0.
    assert!(with.row(0).iter().skip(N_FEATURES).all(|&v| v == 0.0));
    for i in 1..with.nrows() {
        let previous: Vec<f64> = with.row(i).iter().skip(N_FEATURES).copied().collect();
        assert_eq!(
            previous[..N_FEATURES],
            plain.row(i - 1).to_vec()[..],
            "row {i}"
        );
        assert_eq!(previous[N_FEATURES], 1.0, "row {i}");
    }
    Ok(())
}

#[test]
fn cross_validation_with_previous_action() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic_training(dir.path())?;
    let variants = [variant(
        "small, previous",
        BalabitParams {
            previous_action_features: true,
            ..small()
        },
    )];
    let results = cv::cross_validate(dir.path(), &two_fold_cv(false), &variants, &[])?;
    for r in results
        .iter()
        .filter(|r| !r.variant.starts_with("one-class"))
    {
        // The weighted sum may round just below 1.
        assert!((r.auc - 1.0).abs() < 1e-9, "{} {}", r.variant, r.auc);
    }
    Ok(())
}

#[test]
fn cv_rejects_mixed_appended_columns() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic(dir.path(), "filename,is_illegal\n")?;
    let variants = [
        variant(
            "positions",
            BalabitParams {
                position_features: true,
                ..small()
            },
        ),
        variant(
            "previous",
            BalabitParams {
                previous_action_features: true,
                ..small()
            },
        ),
    ];
    let result = cv::cross_validate(dir.path(), &cv::CvParams::default(), &variants, &[]);
    assert!(
        matches!(
            result,
            Err(Error::InvalidParameter {
                name: "variants",
                ..
            })
        ),
        "{result:?}"
    );
    Ok(())
}

/// `text` with every x coordinate moved `dx` pixels to the right.
fn shifted(text: &str, dx: f64) -> String {
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap_or_default());
    for line in lines {
        let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
        let x = fields.get(4).and_then(|x| x.parse::<f64>().ok());
        if let Some(x) = x {
            fields[4] = (x + dx).to_string();
        }
        let _ = writeln!(out, "{}", fields.join(","));
    }
    out
}

#[test]
fn position_columns_reach_only_two_class_model() -> Result<()> {
    // Two users who move alike, on screen areas 800 pixels apart: only the position columns
    // tell them apart.
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let style = |clicks| session_text(clicks, 12.0, true);
    for session in 0..5 {
        let name = |user, prefix| format!("training_files/{user}/session_{prefix}{session}");
        write(&dir.path().join(name("user1", "a")), &style(12))?;
        write(
            &dir.path().join(name("user2", "b")),
            &shifted(&style(12), 800.0),
        )?;
    }
    let tests = [
        ("user1/session_1", 0.0),
        ("user1/session_2", 800.0),
        ("user2/session_3", 800.0),
        ("user2/session_4", 0.0),
    ];
    for (name, dx) in tests {
        let path = dir.path().join("test_files").join(name);
        write(&path, &shifted(&style(10), dx))?;
    }
    let labels = "filename,is_illegal\nsession_1,0\nsession_2,1\nsession_3,0\nsession_4,1\n";
    write(&dir.path().join("public_labels.csv"), labels)?;

    // Without calibration, because the plain model's scores are all equal here, and a
    // calibration rejects that.
    let raw = BalabitParams {
        calibration_piece: None,
        match_calibration_length: false,
        ..small()
    };
    let plain = replay(dir.path(), &raw)?;
    let positions = BalabitParams {
        position_features: true,
        ..raw
    };
    let with = replay(dir.path(), &positions)?;
    assert_eq!(with.session_auc, 1.0);
    assert!(plain.session_auc < 1.0, "{}", plain.session_auc);
    for (a, b) in plain.sessions.iter().zip(&with.sessions) {
        assert_eq!(a.session, b.session);
        assert_eq!(a.one_class, b.one_class, "{}", a.session);
        assert_eq!(a.one_class_shift, b.one_class_shift, "{}", a.session);
    }
    Ok(())
}

#[test]
fn appended_column_switches_rejected_together() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let labels = "filename,is_illegal\nsession_1,0\nsession_2,1\nsession_3,0\nsession_4,1\n";
    synthetic(dir.path(), labels)?;
    // Each pair of switches, and the second switch of the pair that the error names.
    let pairs = [
        ((true, true, false), "position_features"),
        ((true, false, true), "previous_action_features"),
        ((false, true, true), "previous_action_features"),
    ];
    for ((relative, position, previous), expected) in pairs {
        let both = BalabitParams {
            relative_features: relative,
            position_features: position,
            previous_action_features: previous,
            ..small()
        };
        let replayed = replay(dir.path(), &both).map(|_| ());
        let variants = [cv::ForestVariant {
            name: "both".into(),
            params: both,
        }];
        let validated = cv::cross_validate(dir.path(), &cv::CvParams::default(), &variants, &[]);
        for err in [replayed, validated.map(|_| ())] {
            let named = matches!(
                err,
                Err(Error::InvalidParameter { name, .. }) if name == expected
            );
            assert!(named, "{expected}: {err:?}");
        }
    }
    Ok(())
}

#[test]
fn session_folds_hold_out_every_training_action() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    synthetic(dir.path(), "filename,is_illegal\n")?;
    let files = balabit::list_sessions(&dir.path().join(balabit::TRAINING_DIR))?;
    let params = small();
    let (featurised, _, _) = featurise_with(&files, &params.segment, Appended::None)?;
    let mut sessions: Vec<(String, Vec<Array2<f64>>)> = Vec::new();
    for (file, x) in featurised {
        match sessions.iter_mut().find(|(u, _)| *u == file.user) {
            Some((_, list)) => list.push(x),
            None => sessions.push((file.user, vec![x])),
        }
    }

    let cv = cv::CvParams::default();
    let folds = session_folds::fit(&sessions, &params, &cv)?;
    assert_eq!(folds.models.len(), 2);
    for (claimed, by_author) in folds.held_out.iter().enumerate() {
        for (author, list) in by_author.iter().enumerate() {
            for (p, x) in list.iter().zip(&sessions[author].1) {
                assert_eq!(p.len(), x.nrows(), "every action is scored");
                // The users are easy to tell apart, even by models without the session.
                let mean = p.iter().sum::<f64>() / p.len() as f64;
                assert_eq!(mean > 0.5, author == claimed, "{claimed} {author} {mean}");
            }
        }
        let (probabilities, labels) = session_folds::rows_of(&folds.held_out, claimed);
        let own: usize = sessions[claimed].1.iter().map(|x| x.nrows()).sum();
        let all: usize = sessions
            .iter()
            .flat_map(|(_, l)| l)
            .map(|x| x.nrows())
            .sum();
        assert_eq!(probabilities.len(), all);
        assert_eq!(labels.iter().filter(|&&g| g).count(), own);
        assert!(labels[..own].iter().all(|&g| g), "own actions come first");
    }

    let calibrations = folds.piece_calibrations(&params, &cv)?;
    assert_eq!(calibrations.len(), 2);
    Ok(())
}

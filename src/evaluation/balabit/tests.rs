use std::fmt::Write as _;
use std::path::Path;

use super::*;

/// Builds a session file of `clicks` point-and-click actions. User style: `step` pixels per 16 ms
/// tick along x (`horizontal`) or y.
fn session_text(clicks: usize, step: f64, horizontal: bool) -> String {
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
        t += 0.5;
    }
    text
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Two users with different styles; each has one genuine and one impostor test session.
fn synthetic(dir: &Path, labels: &str) -> Result<()> {
    write(
        &dir.join("training_files/user1/session_a"),
        &session_text(60, 12.0, true),
    )?;
    write(
        &dir.join("training_files/user2/session_b"),
        &session_text(60, 3.0, false),
    )?;
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
        ..BalabitParams::default()
    }
}

#[test]
fn synthetic_users_separate() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let labels = "filename,is_illegal\nsession_1,0\nsession_2,1\nsession_3,0\nsession_4,1\n";
    synthetic(dir.path(), labels)?;
    let report = replay(dir.path(), &small())?;
    assert_eq!(report.sessions.len(), 4, "the unlabelled file is not read");
    assert_eq!(report.session_auc, 1.0);
    assert_eq!(report.session_eer, 0.0);
    assert!(report.action_auc > 0.9, "{}", report.action_auc);
    assert_eq!(report.per_user.len(), 2);
    assert_eq!(report.by_decision_size.len(), 5);
    assert_eq!(report.sessions_without_actions, 0);
    assert_eq!(report.training_segments.point_click, 120);
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
    let cv = cv::CvParams {
        folds: 2,
        chunk_actions: 5,
    };
    let variants = [cv::ForestVariant {
        name: "small".into(),
        params: small(),
    }];
    let results = cv::cross_validate(dir.path(), &cv, &variants)?;
    // Per variant: each aggregate, the calibrated headline score, and each aggregate
    // cross-fitted; then the two one-class scores.
    assert_eq!(results.len(), 2 * cv::AGGREGATES.len() + 3);
    for r in results
        .iter()
        .filter(|r| !r.variant.starts_with("one-class"))
    {
        assert_eq!(r.auc, 1.0, "{}", r.variant);
    }
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
    for (folds, chunk_actions) in [(3, 5), (1, 5), (2, 0)] {
        let cv = cv::CvParams {
            folds,
            chunk_actions,
        };
        assert!(
            matches!(
                cv::cross_validate(dir.path(), &cv, &variants),
                Err(Error::DatasetShape { .. })
            ),
            "{folds} folds, {chunk_actions} actions"
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
    let Some(root) = std::env::var_os("KINETYPE_DATA_DIR") else {
        println!("skipped: KINETYPE_DATA_DIR is not set");
        return Ok(());
    };
    let dir = Path::new(&root).join(balabit::NAME);
    if !dir.join(balabit::TRAINING_DIR).is_dir() {
        println!("skipped: {} has no training files", dir.display());
        return Ok(());
    }
    let base = BalabitParams::default();
    let variants = [
        cv::ForestVariant {
            name: "default".into(),
            params: base.clone(),
        },
        cv::ForestVariant {
            name: "1x negatives".into(),
            params: BalabitParams {
                negative_ratio: 1,
                ..base.clone()
            },
        },
        cv::ForestVariant {
            name: "15 features per split".into(),
            params: BalabitParams {
                forest: ForestParams {
                    max_features: Some(15),
                    ..base.forest
                },
                ..base.clone()
            },
        },
    ];
    let results = cv::cross_validate(&dir, &cv::CvParams::default(), &variants)?;
    for r in &results {
        println!("{:<56} {:.4}", r.variant, r.auc);
    }
    Ok(())
}

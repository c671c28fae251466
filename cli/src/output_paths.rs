//! Checks of the paths that `--report-json`, `--plots` and `--scores` write to. Every command
//! runs them before any data loads, so a mistyped path fails at once instead of after the run.

use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Rejects a `flag` file path that is an existing directory, or whose folder is missing or is
/// not a directory. Creates nothing, so a mistyped folder is reported instead of made.
///
/// # Errors
///
/// When `path` is a directory, or when its folder is missing, is not a directory or cannot be
/// read, with a message that names `flag` and the path.
pub(crate) fn check_output_file(path: &Path, flag: &str) -> Result<()> {
    if path.is_dir() {
        bail!(
            "{flag} {} is a directory; give a file path, such as {}",
            path.display(),
            path.join("report.json").display()
        );
    }
    check_parent(path, flag)
}

/// Makes sure that the `flag` directory exists. A missing directory whose parent exists is
/// created, but not a missing parent, so that a mistyped path is reported instead of made.
///
/// # Errors
///
/// When `path` exists but is not a directory, when its parent is missing or is not a
/// directory, or when creating it fails, with a message that names `flag` and the path.
pub(crate) fn prepare_output_dir(path: &Path, flag: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => return Ok(()),
        Ok(_) => bail!(
            "{flag} {} is not a directory; give the path of a directory, which is created if \
             missing",
            path.display()
        ),
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("{flag} {}", path.display())),
    }
    check_parent(path, flag)?;
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        // Another process created it in the meantime.
        Err(error) if error.kind() == ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(error) => {
            Err(error).with_context(|| format!("{flag} {}: creating the directory", path.display()))
        }
    }
}

/// Rejects a `flag` path whose folder is missing or is not a directory. A path without a
/// folder part names a file in the working directory, so it needs no check.
fn check_parent(path: &Path, flag: &str) -> Result<()> {
    let Some(folder) = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    else {
        return Ok(());
    };
    match std::fs::metadata(folder) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => bail!(
            "{flag} {}: {} is not a directory; correct the path",
            path.display(),
            folder.display()
        ),
        Err(error) if error.kind() == ErrorKind::NotFound => bail!(
            "{flag} {}: folder {} does not exist; create the folder, or correct the path",
            path.display(),
            folder.display()
        ),
        Err(error) => Err(error)
            .with_context(|| format!("{flag} {}: reading {}", path.display(), folder.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the text of the error of `result`, which must have failed.
    fn message(result: Result<()>) -> String {
        format!("{:#}", result.expect_err("the check should fail"))
    }

    #[test]
    fn report_file_in_existing_folder_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        check_output_file(&path, "--report-json").unwrap();
        assert!(!path.exists(), "the check created the file");
        std::fs::write(&path, "{}").unwrap();
        check_output_file(&path, "--report-json").unwrap();
    }

    #[test]
    fn report_file_that_is_a_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let text = message(check_output_file(dir.path(), "--report-json"));
        assert!(text.starts_with("--report-json "), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains("is a directory"), "{text}");
        assert!(text.contains("give a file path"), "{text}");
    }

    #[test]
    fn report_file_in_missing_folder_fails() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let path = missing.join("new/report.json");
        let text = message(check_output_file(&path, "--report-json"));
        assert!(text.starts_with("--report-json "), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("does not exist"), "{text}");
        assert!(text.contains("create the folder"), "{text}");
        assert!(!missing.exists(), "the check created the folder");
    }

    #[test]
    fn report_file_under_a_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "").unwrap();
        let text = message(check_output_file(&blocker.join("r.json"), "--report-json"));
        assert!(text.starts_with("--report-json "), "{text}");
        assert!(text.contains("is not a directory"), "{text}");
    }

    #[test]
    fn output_dir_that_is_a_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hostname");
        std::fs::write(&file, "host\n").unwrap();
        for flag in ["--plots", "--scores"] {
            let text = message(prepare_output_dir(&file, flag));
            assert!(text.starts_with(&format!("{flag} ")), "{text}");
            assert!(text.contains(&file.display().to_string()), "{text}");
            assert!(text.contains("is not a directory"), "{text}");
            assert_eq!(std::fs::read(&file).unwrap(), b"host\n");
        }
    }

    #[test]
    fn missing_output_dir_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let plots = dir.path().join("plots");
        prepare_output_dir(&plots, "--plots").unwrap();
        assert!(plots.is_dir());
        // An existing directory passes as it is.
        prepare_output_dir(&plots, "--plots").unwrap();
        prepare_output_dir(dir.path(), "--scores").unwrap();
    }

    #[test]
    fn output_dir_in_missing_folder_fails() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let path = missing.join("scores");
        let text = message(prepare_output_dir(&path, "--scores"));
        assert!(text.starts_with("--scores "), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("does not exist"), "{text}");
        assert!(text.contains("create the folder"), "{text}");
        assert!(!missing.exists(), "the check created the folder");
    }
}

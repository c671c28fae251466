//! Checks of the paths that `--report-json`, `--plots` and `--scores` write to. Every command
//! runs them before any data loads, so a mistyped path or a folder without write permission
//! fails at once instead of after the run.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Rejects a `flag` file path that is an existing directory, whose folder is missing or is
/// not a directory, or that cannot be written. An existing file must open for writing, and
/// otherwise the folder must accept a new file. The check leaves an existing file as it is
/// and creates no folder, so a mistyped folder is reported instead of made.
///
/// # Errors
///
/// When `path` is a directory, when its folder is missing, is not a directory or cannot be
/// read, or when the file or folder is not writable, with a message that names `flag` and the
/// path.
pub(crate) fn check_output_file(path: &Path, flag: &str) -> Result<()> {
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|metadata| metadata.is_dir()) {
        bail!(
            "{flag} {} is a directory; give a file path, such as {}",
            path.display(),
            path.join("report.json").display()
        );
    }
    check_parent(path, flag)?;
    if let Some(metadata) = existing {
        // A named pipe or a device such as /dev/stdout is written as it is. Opening a named
        // pipe here would block until a reader opens it, or send end-of-file to a waiting
        // reader.
        if !metadata.is_file() {
            return Ok(());
        }
        // Opening to append checks the permission without changing the file's content.
        return match OpenOptions::new().append(true).open(path) {
            Ok(_) => Ok(()),
            Err(error) => bail!(
                "{flag} {}: the existing file cannot be written ({error}); give another path, \
                 or change the file's permissions",
                path.display()
            ),
        };
    }
    check_writable(folder_of(path).unwrap_or(Path::new(".")), path, flag)
}

/// Returns the folder part of `path`, or `None` for a bare file name, which names a file in
/// the working directory.
fn folder_of(path: &Path) -> Option<&Path> {
    path.parent()
        .filter(|folder| !folder.as_os_str().is_empty())
}

/// Creates and removes an empty file in `folder`, the folder that `flag`'s `path` writes
/// to, so that a folder without write permission is reported before the run. The standard
/// library has no `access(2)`, and a real create meets the same checks as the later write.
fn check_writable(folder: &Path, path: &Path, flag: &str) -> Result<()> {
    match tempfile::Builder::new()
        .prefix(".kinetype-write-check-")
        .tempfile_in(folder)
    {
        // Dropping the file removes it.
        Ok(_) => Ok(()),
        Err(error) => bail!(
            "{flag} {}: cannot create files in {} ({error}); choose a folder you can write to",
            path.display(),
            folder.display()
        ),
    }
}

/// Makes sure that the `flag` directory exists and that files can be created in it. A missing
/// directory whose parent exists is created, but not a missing parent, so that a mistyped
/// path is reported instead of made.
///
/// # Errors
///
/// When `path` exists but is not a directory, when its parent is missing or is not a
/// directory, when creating it fails, or when an existing directory is not writable, with a
/// message that names `flag` and the path.
pub(crate) fn prepare_output_dir(path: &Path, flag: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => return check_writable(path, path, flag),
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
        Err(error) if error.kind() == ErrorKind::AlreadyExists && path.is_dir() => {
            check_writable(path, path, flag)
        }
        Err(error) => {
            Err(error).with_context(|| format!("{flag} {}: creating the directory", path.display()))
        }
    }
}

/// Rejects a `flag` path whose folder is missing or is not a directory. A path without a
/// folder part names a file in the working directory, so it needs no check.
fn check_parent(path: &Path, flag: &str) -> Result<()> {
    let Some(folder) = folder_of(path) else {
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

    /// Linux's `/proc` accepts no new file, not even from root, so the tests use it as a
    /// folder without write permission.
    #[cfg(target_os = "linux")]
    #[test]
    fn unwritable_report_paths_fail() {
        let path = Path::new("/proc/kinetype-report.json");
        let text = message(check_output_file(path, "--report-json"));
        assert!(
            text.starts_with("--report-json /proc/kinetype-report.json: "),
            "{text}"
        );
        assert!(text.contains("cannot create files in /proc"), "{text}");
        assert!(text.contains("choose a folder you can write to"), "{text}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn unwritable_output_dir_fails() {
        for flag in ["--plots", "--scores"] {
            let text = message(prepare_output_dir(Path::new("/proc"), flag));
            assert!(
                text.starts_with(&format!("{flag} /proc: cannot create files")),
                "{text}"
            );
        }
    }

    /// A folder and a file without write permission. Root bypasses the permissions, so there
    /// the test checks only that the checks leave the files alone.
    #[cfg(unix)]
    #[test]
    fn read_only_folder_fails_without_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("read-only");
        std::fs::create_dir(&folder).unwrap();
        let old_report = folder.join("kept.json");
        std::fs::write(&old_report, "{}").unwrap();
        std::fs::set_permissions(&old_report, std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
        let bypassed = std::fs::write(folder.join("probe"), "").is_ok();
        let report = check_output_file(&folder.join("report.json"), "--report-json");
        let existing = check_output_file(&old_report, "--report-json");
        let plots = prepare_output_dir(&folder, "--plots");
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();

        if bypassed {
            report.unwrap();
            existing.unwrap();
            plots.unwrap();
        } else {
            assert!(message(report).contains("cannot create files in"));
            assert!(message(existing).contains("the existing file cannot be written"));
            assert!(message(plots).contains("cannot create files in"));
        }
        let mut left: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "probe")
            .collect();
        left.sort();
        assert_eq!(left, ["kept.json"], "a check left a file behind");
        assert_eq!(std::fs::read(folder.join("kept.json")).unwrap(), b"{}");
    }

    /// A named pipe passes without being opened: opening it for writing would wait for a
    /// reader, so a regression makes this test hang.
    #[cfg(unix)]
    #[test]
    fn named_pipe_report_passes_unopened() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("report.pipe");
        let mkfifo = std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap();
        assert!(mkfifo.success());
        check_output_file(&pipe, "--report-json").unwrap();
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

//! Finding datasets under the data root, and downloading missing files from their official
//! sources.
//!
//! A download streams into a temporary file of its own in the dataset directory
//! (`.<file>.<random>.part`) while computing SHA-256, then checks the size and digest against
//! the catalog, syncs the file and renames it into place. A failed download leaves neither the
//! temporary file nor the final file behind, nor a folder that it created and left empty.
//! Two downloads of the same file at once each write their own temporary file, so the file
//! renamed last contains checked bytes. A download killed by a signal leaves its temporary
//! file, which a later download of the same file deletes once it is an hour old.

use std::cmp::Ordering;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kinetype::datasets::catalog::{Catalog, DatasetEntry, FileEntry, verify_file};
use sha2::{Digest, Sha256};

/// Environment variable that replaces every official download URL with
/// `<base>/<dataset directory>/<file path>`, for mirrors and tests.
pub(crate) const DOWNLOAD_BASE_URL_ENV: &str = "KINETYPE_DOWNLOAD_BASE_URL";

/// An error that prevents a dataset file from being downloaded or accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DownloadError {
    /// The server returned an error status.
    #[error("GET {url} failed: HTTP {status} {reason}")]
    Http {
        url: String,
        status: u16,
        reason: String,
    },

    /// No HTTP response arrived (DNS, connection, TLS or timeout).
    #[error(
        "GET {url} failed: {message}; check the network connection, or set \
         {DOWNLOAD_BASE_URL_ENV} to a mirror"
    )]
    Transport { url: String, message: String },

    /// The connection failed while the body was streaming, for example because the server
    /// closed it before sending `Content-Length` bytes.
    #[error("reading {url} failed after {received} bytes: {source}; the partial file was deleted")]
    Read {
        url: String,
        received: u64,
        source: io::Error,
    },

    /// The body ended before the size the catalog lists.
    #[error(
        "{url} sent {received} bytes, but the catalog lists {expected}; the partial file was \
         deleted"
    )]
    Truncated {
        url: String,
        expected: u64,
        received: u64,
    },

    /// The body is longer than the size the catalog lists.
    #[error(
        "{url} sent more than the {expected} bytes the catalog lists; the partial file was deleted"
    )]
    TooLarge { url: String, expected: u64 },

    /// The body does not have the catalog's SHA-256.
    #[error(
        "{url}: checksum mismatch: expected sha256 {expected}, received {actual}; the download \
         was deleted"
    )]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },

    /// Files that are missing and have no download URL in the catalog.
    #[error(
        "dataset {dataset}: {files} cannot be downloaded automatically. {instructions} Put the \
         files into {}, or point --data-dir / KINETYPE_DATA_DIR at a data root that has them",
        directory.display()
    )]
    Manual {
        dataset: String,
        files: String,
        instructions: String,
        directory: PathBuf,
    },

    /// A file that is present has a size other than the catalog's.
    #[error(
        "{}: size is {actual} bytes, but the catalog lists {expected}; delete the file and run \
         `kinetype download {dataset}`",
        path.display()
    )]
    PresentSize {
        dataset: String,
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    /// A catalog path is absolute or leaves the data root.
    #[error("dataset {dataset}: catalog path `{path}` must be relative and must not contain `..`")]
    UnsafePath { dataset: String, path: String },

    /// The base URL override is not an HTTP URL.
    #[error("{DOWNLOAD_BASE_URL_ENV} `{value}` must start with http:// or https://")]
    BaseUrl { value: String },

    /// A local file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The source of missing files: the official URLs, or a base URL that replaces them.
#[derive(Debug, Clone, Default)]
pub(crate) struct DownloadSource {
    /// Replaces the official URLs when set; see [`DOWNLOAD_BASE_URL_ENV`].
    base_url: Option<String>,
}

impl DownloadSource {
    /// Uses `base_url` in place of every official URL, or the official URLs when `None`.
    ///
    /// # Errors
    ///
    /// [`DownloadError::BaseUrl`] when `base_url` is not an `http://` or `https://` URL.
    pub(crate) fn new(base_url: Option<&str>) -> Result<Self, DownloadError> {
        let Some(value) = base_url.filter(|v| !v.is_empty()) else {
            return Ok(Self::default());
        };
        if !(value.starts_with("http://") || value.starts_with("https://")) {
            return Err(DownloadError::BaseUrl {
                value: value.to_string(),
            });
        }
        Ok(Self {
            base_url: Some(value.trim_end_matches('/').to_string()),
        })
    }

    /// Reads the base URL override from [`DOWNLOAD_BASE_URL_ENV`].
    pub(crate) fn from_env() -> Result<Self, DownloadError> {
        Self::new(std::env::var(DOWNLOAD_BASE_URL_ENV).ok().as_deref())
    }

    /// Builds the URL to fetch `file` from, or `None` when the catalog has no URL for it.
    fn url_for(&self, entry: &DatasetEntry, file: &FileEntry) -> Option<String> {
        let official = file.url.as_deref()?;
        Some(match &self.base_url {
            Some(base) => format!("{base}/{}/{}", entry.directory, file.path),
            None => official.to_string(),
        })
    }
}

/// Makes sure every file that `name` needs from the built-in catalog is present under `root`,
/// downloading missing files from their official URLs (or [`DOWNLOAD_BASE_URL_ENV`]). A subset
/// alias such as `bksd-phrase-ar` needs only its own files.
///
/// Present files are not hashed, which is `kinetype download --verify`'s job. A present file
/// whose size differs from the catalog gets a warning only, because the loaders also accept
/// some variants of the official bytes (for example the DSL file with LF line endings).
pub(crate) fn ensure_dataset(root: &Path, name: &str) -> Result<DatasetEntry> {
    let source = DownloadSource::from_env()?;
    let (entry, _) = ensure_in_catalog(&Catalog::builtin(), root, name, &source)?;
    for mismatch in present_size_mismatches(&entry, root, name) {
        tracing::warn!("{mismatch}");
    }
    Ok(entry)
}

/// Does the work of [`ensure_dataset`] with any catalog and download source, and returns the
/// entry and the paths of the files it downloaded.
pub(crate) fn ensure_in_catalog(
    catalog: &Catalog,
    root: &Path,
    name: &str,
    source: &DownloadSource,
) -> Result<(DatasetEntry, Vec<PathBuf>)> {
    let entry = catalog.get(name)?.clone();
    check_paths(&entry)?;
    let mut downloads = Vec::new();
    let mut manual = Vec::new();
    for file in entry.missing_files_for(root, name) {
        match source.url_for(&entry, file) {
            Some(url) => downloads.push((file, url)),
            None => manual.push(file.path.clone()),
        }
    }
    for folder in required_folders(&entry.name) {
        if !entry.dir(root).join(folder).is_dir() {
            manual.push(format!("{folder}/"));
        }
    }
    if !manual.is_empty() {
        let instructions = match &entry.manual {
            Some(text) => text.clone(),
            None => format!("Download them by hand from {}.", entry.page),
        };
        return Err(DownloadError::Manual {
            dataset: entry.name.clone(),
            files: manual.join(", "),
            instructions,
            directory: entry.dir(root),
        }
        .into());
    }
    let mut downloaded = Vec::new();
    if !downloads.is_empty() {
        let agent = http_agent();
        for (file, url) in downloads {
            let destination = entry.dir(root).join(&file.path);
            eprintln!("downloading {url}");
            download_file(&agent, &url, &destination, file)?;
            eprintln!("saved {}", destination.display());
            downloaded.push(destination);
        }
    }
    Ok((entry, downloaded))
}

/// Folders a dataset needs besides its catalog files. The Balabit session folders hold too
/// many files to list in the catalog, so only their presence is checked, before the loader
/// would fail on them with a bare "No such file or directory".
fn required_folders(dataset: &str) -> &'static [&'static str] {
    use kinetype::datasets::balabit;
    if dataset == balabit::NAME {
        &[balabit::TRAINING_DIR, balabit::TEST_DIR]
    } else {
        &[]
    }
}

/// Rejects catalog paths that could write outside the dataset directory.
fn check_paths(entry: &DatasetEntry) -> Result<(), DownloadError> {
    let paths = std::iter::once(&entry.directory).chain(entry.files.iter().map(|f| &f.path));
    for path in paths {
        let mut components = Path::new(path).components().peekable();
        let safe = components.peek().is_some()
            && components.all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !safe {
            return Err(DownloadError::UnsafePath {
                dataset: entry.name.clone(),
                path: path.clone(),
            });
        }
    }
    Ok(())
}

/// Compares the size of each present file that `name` needs with the catalog, which costs one
/// `stat` per file, and returns one [`DownloadError::PresentSize`] per file whose size differs.
fn present_size_mismatches(entry: &DatasetEntry, root: &Path, name: &str) -> Vec<DownloadError> {
    let mut mismatches = Vec::new();
    for file in entry.files_for(name) {
        let path = entry.dir(root).join(&file.path);
        let Ok(metadata) = fs::metadata(&path) else {
            continue;
        };
        if metadata.is_file() && metadata.len() != file.size {
            mismatches.push(DownloadError::PresentSize {
                dataset: entry.name.clone(),
                path,
                expected: file.size,
                actual: metadata.len(),
            });
        }
    }
    mismatches
}

/// Maximum wait for one read of a response body, in seconds.
const READ_TIMEOUT_SECS: u64 = 60;

fn http_agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        // Per read call, so a stalled server fails instead of hanging, while a slow but live
        // download of any length still completes.
        .timeout_read(Duration::from_secs(READ_TIMEOUT_SECS))
        .user_agent(concat!("kinetype/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Downloads `url` to `destination` and checks it against `file`'s size and SHA-256.
///
/// # Errors
///
/// Every [`DownloadError`] variant except `Manual`, `PresentSize`, `UnsafePath` and `BaseUrl`.
/// On error, no temporary file and no file at `destination` are left behind, and the folders
/// that this call created are removed again if they are still empty.
pub(crate) fn download_file(
    agent: &ureq::Agent,
    url: &str,
    destination: &Path,
    file: &FileEntry,
) -> Result<(), DownloadError> {
    let directory = destination.parent().unwrap_or(Path::new("."));
    let created = create_missing_dirs(directory)?;
    let result = fetch_into(agent, url, destination, directory, file);
    if result.is_err() {
        remove_empty_dirs(&created);
    }
    result
}

/// Creates `directory` and its missing ancestors, and returns the folders that this call
/// created, outermost first. A folder that another process creates meanwhile is not listed.
fn create_missing_dirs(directory: &Path) -> Result<Vec<PathBuf>, DownloadError> {
    let missing: Vec<&Path> = directory
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
        .collect();
    let mut created = Vec::new();
    for dir in missing.into_iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => created.push(dir.to_path_buf()),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(error) => {
                remove_empty_dirs(&created);
                return Err(io_error(dir)(error));
            }
        }
    }
    Ok(created)
}

/// Removes the folders in `created`, innermost first. `remove_dir` fails on a folder that
/// contains anything, such as another download's file, so only empty folders go. Errors are
/// ignored, because a folder that stays only costs a directory entry.
fn remove_empty_dirs(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

/// Does the work of [`download_file`] once `directory`, the parent of `destination`, exists.
fn fetch_into(
    agent: &ureq::Agent,
    url: &str,
    destination: &Path,
    directory: &Path,
    file: &FileEntry,
) -> Result<(), DownloadError> {
    let response = agent.get(url).call().map_err(|error| match error {
        ureq::Error::Status(status, response) => DownloadError::Http {
            url: url.to_string(),
            status,
            reason: response.status_text().to_string(),
        },
        ureq::Error::Transport(transport) => DownloadError::Transport {
            url: url.to_string(),
            message: transport_message(&transport, url),
        },
    })?;
    let content_length = response
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok());
    let total = if file.size > 0 {
        Some(file.size)
    } else {
        content_length
    };

    // `tempfile` creates a file under a new random name and deletes it on drop unless it is
    // persisted, so a failed or concurrent download never writes into another's bytes.
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(destination.file_name().unwrap_or_default());
    prefix.push(".");
    remove_stale_parts(directory, &prefix);
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .rand_bytes(PART_RANDOM_CHARS)
        .suffix(".part");
    // `tempfile` creates files readable by their owner only, which would hide a shared data
    // root from other users. This requests what `File::create` gives, read and write for all
    // less the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut part = builder
        .tempfile_in(directory)
        .map_err(io_error(directory))?;
    let part_path = part.path().to_path_buf();

    let progress = progress_bar(total, &file.path);
    let streamed = stream_body(
        response.into_reader(),
        part.as_file_mut(),
        file.size,
        &progress,
        url,
        &part_path,
    );
    progress.finish_and_clear();
    let (received, actual) = streamed?;

    if received < file.size {
        return Err(DownloadError::Truncated {
            url: url.to_string(),
            expected: file.size,
            received,
        });
    }
    if !actual.eq_ignore_ascii_case(&file.sha256) {
        return Err(DownloadError::Checksum {
            url: url.to_string(),
            expected: file.sha256.clone(),
            actual,
        });
    }
    part.as_file().sync_all().map_err(io_error(&part_path))?;
    part.persist(destination)
        .map_err(|error| io_error(destination)(error.error))?;
    sync_directory(directory)?;
    Ok(())
}

/// Describes a transport failure without the URL that ureq's `Display` puts first, because
/// [`DownloadError::Transport`] names the URL itself. When the failed URL differs from `url`,
/// as after a redirect, the text keeps it.
fn transport_message(transport: &ureq::Transport, url: &str) -> String {
    let text = transport.to_string();
    match transport.url() {
        Some(failed) if failed.as_str() == url => text
            .strip_prefix(&format!("{failed}: "))
            .unwrap_or(&text)
            .to_string(),
        _ => text,
    }
}

/// Age after which a temporary download file is taken as abandoned: one hour.
///
/// A live download gets bytes from the socket within each read timeout
/// ([`READ_TIMEOUT_SECS`]) or fails, but its file can lag behind: TLS hands over a record of
/// up to 16 KiB only once all of it has arrived. An hour without a write is far beyond what
/// a live download shows even at a few bytes per second, and a killed download's file costs
/// only disk space until then.
const STALE_PART_AGE: Duration = Duration::from_secs(3600);

/// Random characters that `tempfile` puts between the prefix and `.part`.
const PART_RANDOM_CHARS: usize = 6;

/// Deletes the temporary files of earlier downloads into `directory` that were last written
/// more than [`STALE_PART_AGE`] ago: names of `prefix`, [`PART_RANDOM_CHARS`] letters or
/// digits, and `.part`, so files of another catalog entry whose name extends this one's stay.
/// A process killed by a signal runs no destructor, so each interrupted download leaves such
/// a file. Errors are ignored, because a file that stays only costs disk space.
fn remove_stale_parts(directory: &Path, prefix: &std::ffi::OsStr) {
    let Ok(entries) = fs::read_dir(directory) else {
        return;
    };
    let prefix = prefix.as_encoded_bytes();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        let random = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(b".part"));
        let ours = random.is_some_and(|r| {
            r.len() == PART_RANDOM_CHARS && r.iter().all(u8::is_ascii_alphanumeric)
        });
        if !ours {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if age.is_some_and(|age| age > STALE_PART_AGE) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Copies at most `expected + 1` bytes of `body` into `output`, and returns the byte count and
/// the SHA-256 of the bytes.
fn stream_body(
    body: impl Read,
    output: &mut File,
    expected: u64,
    progress: &ProgressBar,
    url: &str,
    part_path: &Path,
) -> Result<(u64, String), DownloadError> {
    // One byte past the catalog size is enough to tell that the body is too long, and the
    // limit keeps a wrong server from filling the disk.
    let mut body = body.take(expected.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 16];
    let mut received: u64 = 0;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(DownloadError::Read {
                    url: url.to_string(),
                    received,
                    source,
                });
            }
        };
        received += n as u64;
        if received > expected {
            return Err(DownloadError::TooLarge {
                url: url.to_string(),
                expected,
            });
        }
        hasher.update(&buffer[..n]);
        output
            .write_all(&buffer[..n])
            .map_err(io_error(part_path))?;
        progress.inc(n as u64);
    }
    Ok((received, hex::encode(hasher.finalize())))
}

/// Creates a byte progress bar on stderr, which indicatif hides when stderr is not a terminal.
fn progress_bar(total: Option<u64>, label: &str) -> ProgressBar {
    let template = if total.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} {bytes} {bytes_per_sec}"
    };
    let progress = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        progress.set_style(style.progress_chars("=> "));
    }
    progress.set_message(label.to_string());
    progress
}

/// Makes a rename in `directory` durable (on Unix, a rename is durable once the directory
/// is synced).
fn sync_directory(directory: &Path) -> Result<(), DownloadError> {
    #[cfg(unix)]
    File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(io_error(directory))?;
    #[cfg(not(unix))]
    let _ = directory;
    Ok(())
}

/// Outcome of `kinetype download`: the files it downloaded and the files it verified.
#[derive(Debug, Default)]
pub(crate) struct DownloadSummary {
    /// Files downloaded and verified in this run.
    pub(crate) downloaded: Vec<PathBuf>,
    /// Files that were already present and whose SHA-256 was checked (`--verify` only).
    pub(crate) verified: Vec<PathBuf>,
}

/// Downloads the missing files of `name`, rejects present files whose size differs from the
/// catalog and, with `verify`, checks the SHA-256 of the files that were already present.
pub(crate) fn download_in_catalog(
    catalog: &Catalog,
    root: &Path,
    name: &str,
    source: &DownloadSource,
    verify: bool,
) -> Result<DownloadSummary> {
    let (entry, downloaded) = ensure_in_catalog(catalog, root, name, source)?;
    if let Some(mismatch) = present_size_mismatches(&entry, root, name)
        .into_iter()
        .next()
    {
        return Err(mismatch.into());
    }
    let mut summary = DownloadSummary {
        downloaded,
        ..DownloadSummary::default()
    };
    if !verify {
        return Ok(summary);
    }
    for file in entry.files_for(name) {
        let path = entry.dir(root).join(&file.path);
        if summary.downloaded.contains(&path) {
            continue;
        }
        verify_file(&path, &file.sha256).with_context(|| {
            format!(
                "delete {} and run `kinetype download {name}` again",
                path.display()
            )
        })?;
        summary.verified.push(path);
    }
    Ok(summary)
}

pub(crate) fn download_command(root: &Path, name: &str, verify: bool) -> Result<()> {
    let source = DownloadSource::from_env()?;
    let summary = download_in_catalog(&Catalog::builtin(), root, name, &source, verify)?;
    let downloaded = summary.downloaded.len();
    if verify {
        let verified = summary.verified.len();
        println!("{name}: {downloaded} file(s) downloaded, {verified} present file(s) verified");
    } else {
        println!(
            "{name}: {downloaded} file(s) downloaded; all files present under {}",
            root.display()
        );
    }
    Ok(())
}

/// Describes what the loader of `entry` needs beyond the catalog files and lacks under `root`,
/// such as `incomplete: training_files/ missing`, or returns `None`. It reads directory
/// listings only, so that `kinetype datasets` stays fast.
fn loader_problem(entry: &DatasetEntry, root: &Path) -> Option<String> {
    use kinetype::datasets::{aalto, balabit};
    let dir = entry.dir(root);
    if entry.name == aalto::NAME {
        let Ok(files) = aalto::participant_files(&dir) else {
            return Some(format!("incomplete: {}/ missing", aalto::KEYSTROKE_DIR));
        };
        let (found, expected) = (files.len(), aalto::PARTICIPANTS);
        let folder = aalto::KEYSTROKE_DIR;
        return match found.cmp(&expected) {
            Ordering::Less => Some(format!(
                "incomplete: {found} of {expected} participant files in {folder}/"
            )),
            Ordering::Greater => Some(format!(
                "invalid: {found} participant files in {folder}/, expected {expected}"
            )),
            Ordering::Equal => None,
        };
    }
    if entry.name == balabit::NAME {
        let folders = [
            (
                balabit::TRAINING_DIR,
                balabit::TRAINING_SESSIONS,
                "training",
            ),
            (balabit::TEST_DIR, balabit::TEST_SESSIONS, "test"),
        ];
        let mut missing = Vec::new();
        for (folder, expected, kind) in folders {
            let path = dir.join(folder);
            if !path.is_dir() {
                missing.push(format!("{folder}/ missing"));
                continue;
            }
            // A folder without userN/session files, or one that cannot be listed, counts as 0.
            let found = balabit::list_sessions(&path).map_or(0, |files| files.len());
            if found < expected {
                missing.push(format!(
                    "{found} of {expected} {kind} sessions in {folder}/"
                ));
            }
        }
        if !missing.is_empty() {
            return Some(format!("incomplete: {}", missing.join(", ")));
        }
    }
    None
}

pub(crate) fn list_command(root: &Path) -> Result<()> {
    let catalog = Catalog::builtin();
    println!("data root: {}", root.display());
    for entry in &catalog.datasets {
        let missing = entry.missing_files(root);
        let state = if missing.is_empty() {
            loader_problem(entry, root).unwrap_or_else(|| "present".to_string())
        } else if missing.iter().all(|f| f.url.is_some()) {
            format!(
                "{} of {} files missing (downloadable)",
                missing.len(),
                entry.files.len()
            )
        } else {
            format!(
                "{} of {} files missing (manual)",
                missing.len(),
                entry.files.len()
            )
        };
        println!("{:<20} {:<38} {}", entry.name, state, entry.title);
        if !entry.aliases.is_empty() {
            println!("{:<20} also: {}", "", entry.aliases.join(", "));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "../tests/support/http_server.rs"]
mod http_server;

#[cfg(test)]
mod tests {
    use super::http_server::{TestServer, response, truncated_response, unsized_response};
    use super::*;

    /// Deterministic test bytes that are not all the same value.
    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn sha256(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Builds a one-dataset catalog named `toy` with the file `data/toy.bin` and the given fields.
    fn catalog(url: Option<&str>, size: usize, sha256: &str) -> Catalog {
        let url_line = url.map(|u| format!("url = \"{u}\"\n")).unwrap_or_default();
        Catalog::parse(&format!(
            "[[dataset]]\nname = \"toy\"\ntitle = \"Toy\"\ndirectory = \"toy\"\n\
             page = \"https://example.invalid/toy\"\ncitation = \"none\"\nlicence = \"none\"\n\
             manual = \"Ask the toy maintainers for toy.bin.\"\n\
             [[dataset.file]]\npath = \"data/toy.bin\"\n{url_line}size = {size}\n\
             sha256 = \"{sha256}\"\n"
        ))
        .unwrap()
    }

    /// Downloads the `toy` dataset from its official URL into `root`, without `--verify`.
    fn download_toy(catalog: &Catalog, root: &Path) -> Result<DownloadSummary> {
        download_in_catalog(catalog, root, "toy", &DownloadSource::default(), false)
    }

    /// Serves `reply` at `/toy.bin` and runs the download of the `toy` dataset into `root`.
    fn download(reply: Vec<u8>, size: usize, sha256: &str, root: &Path) -> Result<DownloadSummary> {
        let server = TestServer::start(vec![("/toy.bin".to_string(), reply)]);
        let url = format!("{}/toy.bin", server.base_url);
        let catalog = catalog(Some(&url), size, sha256);
        download_toy(&catalog, root)
    }

    /// Serves `body` with its own size and digest in the catalog and downloads it into `root`.
    fn download_good(body: &[u8], root: &Path) -> DownloadSummary {
        download(response("200 OK", body), body.len(), &sha256(body), root).unwrap()
    }

    /// Sets the last-modified time of the existing file `path`.
    fn set_modified(path: &Path, time: std::time::SystemTime) {
        let file = File::options().write(true).open(path).unwrap();
        file.set_modified(time).unwrap();
    }

    fn download_error(result: Result<DownloadSummary>) -> DownloadError {
        let error = result.expect_err("the download should fail");
        match error.downcast::<DownloadError>() {
            Ok(error) => error,
            Err(other) => panic!("not a DownloadError: {other:#}"),
        }
    }

    /// Names of the `.part` files in `dir` (none when `dir` does not exist).
    fn part_files(dir: &Path) -> Vec<String> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".part"))
            .collect()
    }

    fn assert_no_files_left(root: &Path) {
        let dir = root.join("toy/data");
        assert!(!dir.join("toy.bin").exists(), "final file exists");
        assert_eq!(
            part_files(&dir),
            Vec::<String>::new(),
            "temporary files exist"
        );
    }

    #[test]
    fn missing_balabit_folders_are_named() {
        let root = tempfile::tempdir().unwrap();
        let catalog = Catalog::parse(
            "[[dataset]]\nname = \"balabit\"\ntitle = \"Balabit\"\ndirectory = \"balabit\"\n\
             page = \"https://example.invalid/balabit\"\ncitation = \"none\"\n\
             licence = \"none\"\nmanual = \"Copy the session folders by hand.\"\n\
             [[dataset.file]]\npath = \"public_labels.csv\"\nsize = 1\nsha256 = \"00\"\n",
        )
        .unwrap();
        let dir = root.path().join("balabit");
        fs::create_dir_all(dir.join("test_files")).unwrap();
        fs::write(dir.join("public_labels.csv"), "x").unwrap();
        let result =
            ensure_in_catalog(&catalog, root.path(), "balabit", &DownloadSource::default());
        let error = match result.map(|_| ()).unwrap_err().downcast::<DownloadError>() {
            Ok(error) => error,
            Err(other) => panic!("not a DownloadError: {other:#}"),
        };
        let DownloadError::Manual { files, .. } = &error else {
            panic!("expected a manual-download error, got {error}");
        };
        assert_eq!(files, "training_files/");
        let message = error.to_string();
        assert!(
            message.contains("Copy the session folders by hand."),
            "{message}"
        );
        assert!(message.contains("--data-dir"), "{message}");
    }

    #[test]
    fn subset_alias_skips_other_subsets() {
        let root = tempfile::tempdir().unwrap();
        // Neither file has a URL, so any file that the selection keeps and finds missing
        // becomes a manual-download error instead of a request.
        let catalog = Catalog::parse(
            "[[dataset]]\nname = \"toy\"\ntitle = \"Toy\"\ndirectory = \"toy\"\n\
             page = \"https://example.invalid/toy\"\ncitation = \"none\"\nlicence = \"none\"\n\
             aliases = [\"toy-a\", \"toy-b\"]\n\
             [[dataset.file]]\npath = \"a.bin\"\nsubset = \"toy-a\"\nsize = 1\nsha256 = \"00\"\n\
             [[dataset.file]]\npath = \"b.bin\"\nsubset = \"toy-b\"\nsize = 1\nsha256 = \"00\"\n",
        )
        .unwrap();
        fs::create_dir_all(root.path().join("toy")).unwrap();
        fs::write(root.path().join("toy/a.bin"), "x").unwrap();
        let source = DownloadSource::default();

        let (_, downloaded) = ensure_in_catalog(&catalog, root.path(), "toy-a", &source).unwrap();
        assert!(downloaded.is_empty());

        for name in ["toy-b", "toy"] {
            let result = ensure_in_catalog(&catalog, root.path(), name, &source);
            let error = match result.map(|_| ()).unwrap_err().downcast::<DownloadError>() {
                Ok(error) => error,
                Err(other) => panic!("not a DownloadError: {other:#}"),
            };
            let DownloadError::Manual { files, .. } = &error else {
                panic!("{name}: expected a manual-download error, got {error}");
            };
            assert_eq!(files, "b.bin", "{name}");
        }
    }

    #[test]
    fn good_download_lands_in_place() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(200_000);
        let summary = download_good(&body, root.path());
        let path = root.path().join("toy/data/toy.bin");
        assert_eq!(summary.downloaded, vec![path.clone()]);
        assert_eq!(fs::read(&path).unwrap(), body);
        assert_eq!(
            part_files(&root.path().join("toy/data")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn download_removes_abandoned_temporary_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("toy/data");
        fs::create_dir_all(&dir).unwrap();
        let abandoned = dir.join(".toy.bin.Kil1ed.part");
        fs::write(&abandoned, b"a download killed by a signal").unwrap();
        let old = std::time::SystemTime::now() - 2 * STALE_PART_AGE;
        set_modified(&abandoned, old);
        // Equally old, but temporary files of other catalog entries, one whose name extends
        // this one's.
        let other_file = dir.join(".other.bin.Kil1ed.part");
        let longer_name = dir.join(".toy.bin.extra.Kil1ed.part");
        fs::write(&longer_name, b"a longer name's download").unwrap();
        set_modified(&longer_name, old);
        fs::write(&other_file, b"another file's download").unwrap();
        set_modified(&other_file, old);

        let body = payload(10_000);
        download_good(&body, root.path());
        assert!(!abandoned.exists());
        assert!(other_file.exists());
        assert!(longer_name.exists());
    }

    #[cfg(unix)]
    #[test]
    fn downloaded_file_has_default_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let body = payload(10_000);
        download_good(&body, root.path());
        let dir = root.path().join("toy/data");
        // A file made by `File::create` gets read and write for all less the umask.
        let reference = dir.join("reference");
        File::create(&reference).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("toy.bin")), mode(&reference));
    }

    #[test]
    fn download_spares_other_temporary_files() {
        // Another process downloading the same file has a temporary file in the same
        // directory. This download must neither write into it nor remove it.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("toy/data");
        fs::create_dir_all(&dir).unwrap();
        let others = [".toy.bin.abc123.part", "toy.bin.part"];
        for name in others {
            fs::write(dir.join(name), b"another download's bytes").unwrap();
        }
        let body = payload(50_000);
        download_good(&body, root.path());
        assert_eq!(fs::read(dir.join("toy.bin")).unwrap(), body);
        for name in others {
            assert_eq!(
                fs::read(dir.join(name)).unwrap(),
                b"another download's bytes"
            );
        }
        let mut left = part_files(&dir);
        left.sort();
        assert_eq!(left, others);
    }

    #[test]
    fn wrong_checksum_is_rejected() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(1000);
        let wrong = sha256(b"other bytes");
        let error = download_error(download(
            response("200 OK", &body),
            body.len(),
            &wrong,
            root.path(),
        ));
        let DownloadError::Checksum {
            url,
            expected,
            actual,
        } = &error
        else {
            panic!("expected a checksum error, got {error}");
        };
        assert!(url.ends_with("/toy.bin"), "{url}");
        assert_eq!(expected, &wrong);
        assert_eq!(actual, &sha256(&body));
        let message = error.to_string();
        assert!(
            message.contains(&wrong) && message.contains(&sha256(&body)),
            "{message}"
        );
        assert_no_files_left(root.path());
    }

    #[test]
    fn http_404_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let server = TestServer::start(Vec::new());
        let url = format!("{}/absent.bin", server.base_url);
        let catalog = catalog(Some(&url), 10, &sha256(b"0123456789"));
        let result = download_toy(&catalog, root.path());
        let error = download_error(result);
        assert!(
            matches!(error, DownloadError::Http { status: 404, .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains(&url), "{message}");
        assert!(message.contains("404"), "{message}");
        assert_no_files_left(root.path());
    }

    #[test]
    fn body_shorter_than_content_length_is_rejected() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(5000);
        let sent = truncated_response(&body[..3000], 2000);
        let error = download_error(download(sent, body.len(), &sha256(&body), root.path()));
        assert!(
            matches!(error, DownloadError::Read { received: 3000, .. }),
            "expected a read error after 3000 bytes, got {error}"
        );
        assert_no_files_left(root.path());
    }

    #[test]
    fn body_shorter_than_catalog_size_is_rejected() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(5000);
        let sent = unsized_response(&body[..4000]);
        let error = download_error(download(sent, body.len(), &sha256(&body), root.path()));
        assert!(
            matches!(
                error,
                DownloadError::Truncated {
                    expected: 5000,
                    received: 4000,
                    ..
                }
            ),
            "{error}"
        );
        assert_no_files_left(root.path());
    }

    #[test]
    fn body_longer_than_catalog_size_is_rejected() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(5000);
        let sent = response("200 OK", &payload(6000));
        let error = download_error(download(sent, body.len(), &sha256(&body), root.path()));
        assert!(
            matches!(error, DownloadError::TooLarge { expected: 5000, .. }),
            "{error}"
        );
        assert_no_files_left(root.path());
    }

    /// Returns a URL on a loopback port that refuses connections.
    fn refused_url() -> String {
        // Binding and dropping a listener yields a port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}/toy.bin")
    }

    #[test]
    fn refused_connection_is_a_transport_error() {
        let root = tempfile::tempdir().unwrap();
        let url = refused_url();
        let catalog = catalog(Some(&url), 3, &sha256(b"abc"));
        let result = download_toy(&catalog, root.path());
        let error = download_error(result);
        assert!(matches!(error, DownloadError::Transport { .. }), "{error}");
        assert!(error.to_string().contains(&url), "{error}");
        assert_no_files_left(root.path());
    }

    #[test]
    fn transport_error_names_url_once() {
        let root = tempfile::tempdir().unwrap();
        let url = refused_url();
        let catalog = catalog(Some(&url), 3, &sha256(b"abc"));
        let message = download_error(download_toy(&catalog, root.path())).to_string();
        assert_eq!(message.matches(&url).count(), 1, "{message}");
        assert!(
            message.starts_with(&format!("GET {url} failed: ")),
            "{message}"
        );
    }

    #[test]
    fn failed_download_removes_folders_it_created() {
        let root = tempfile::tempdir().unwrap();
        let catalog = catalog(Some(&refused_url()), 3, &sha256(b"abc"));
        download_error(download_toy(&catalog, root.path()));
        // The download created toy/ and toy/data/ for toy/data/toy.bin.
        assert!(!root.path().join("toy").exists());
        assert!(root.path().is_dir());
    }

    #[test]
    fn failed_download_keeps_existing_folders() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("toy");
        fs::create_dir(&dir).unwrap();
        let catalog = catalog(Some(&refused_url()), 3, &sha256(b"abc"));
        download_error(download_toy(&catalog, root.path()));
        assert!(dir.is_dir());
        assert!(!dir.join("data").exists());
    }

    #[test]
    fn cleanup_keeps_folders_with_contents() {
        let root = tempfile::tempdir().unwrap();
        let outer = root.path().join("outer");
        let inner = outer.join("inner");
        fs::create_dir_all(&inner).unwrap();
        fs::write(outer.join("kept.txt"), b"another download's file").unwrap();
        remove_empty_dirs(&[outer.clone(), inner.clone()]);
        assert!(!inner.exists());
        assert!(outer.join("kept.txt").is_file());

        fs::create_dir(&inner).unwrap();
        fs::write(inner.join("kept.txt"), b"another download's file").unwrap();
        remove_empty_dirs(&[outer.clone(), inner.clone()]);
        assert!(inner.join("kept.txt").is_file());
    }

    #[test]
    fn file_without_url_names_manual_steps() {
        let root = tempfile::tempdir().unwrap();
        let catalog = catalog(None, 3, &sha256(b"abc"));
        let result = download_toy(&catalog, root.path());
        let error = download_error(result);
        let message = error.to_string();
        assert!(matches!(error, DownloadError::Manual { .. }), "{message}");
        assert!(message.contains("data/toy.bin"), "{message}");
        assert!(message.contains("Ask the toy maintainers"), "{message}");
    }

    #[test]
    fn base_url_replaces_official_url() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(700);
        let server = TestServer::start(vec![(
            "/mirror/toy/data/toy.bin".to_string(),
            response("200 OK", &body),
        )]);
        let catalog = catalog(
            Some("https://example.invalid/toy.bin"),
            body.len(),
            &sha256(&body),
        );
        let base = format!("{}/mirror/", server.base_url);
        let source = DownloadSource::new(Some(&base)).unwrap();
        download_in_catalog(&catalog, root.path(), "toy", &source, false).unwrap();
        assert_eq!(
            server.requested_paths(),
            vec!["/mirror/toy/data/toy.bin".to_string()]
        );
        assert_eq!(
            fs::read(root.path().join("toy/data/toy.bin")).unwrap(),
            body
        );
    }

    #[test]
    fn base_url_must_be_http() {
        for value in ["ftp://mirror/x", "127.0.0.1:8000", "file:///srv/data"] {
            let error = DownloadSource::new(Some(value)).unwrap_err();
            assert!(
                matches!(error, DownloadError::BaseUrl { .. }),
                "{value}: {error}"
            );
        }
        assert!(DownloadSource::new(Some("")).unwrap().base_url.is_none());
    }

    #[test]
    fn present_files_are_not_downloaded() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(100);
        let path = root.path().join("toy/data/toy.bin");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &body).unwrap();
        let server = TestServer::start(Vec::new());
        let url = format!("{}/toy.bin", server.base_url);
        let catalog = catalog(Some(&url), body.len(), &sha256(&body));
        let summary = download_toy(&catalog, root.path()).unwrap();
        assert!(summary.downloaded.is_empty());
        assert!(server.requested_paths().is_empty());
    }

    #[test]
    fn present_file_of_wrong_size_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("toy/data/toy.bin");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"short").unwrap();
        let catalog = catalog(Some("https://example.invalid/toy.bin"), 100, &sha256(b"x"));
        let result = download_toy(&catalog, root.path());
        let error = download_error(result);
        assert!(
            matches!(
                error,
                DownloadError::PresentSize {
                    expected: 100,
                    actual: 5,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn replay_path_accepts_other_size() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("toy/data/toy.bin");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"short").unwrap();
        let catalog = catalog(Some("https://example.invalid/toy.bin"), 100, &sha256(b"x"));
        let source = DownloadSource::default();
        let (entry, downloaded) = ensure_in_catalog(&catalog, root.path(), "toy", &source).unwrap();
        assert!(downloaded.is_empty());
        let mismatches = present_size_mismatches(&entry, root.path(), "toy");
        assert_eq!(mismatches.len(), 1);
        assert!(
            matches!(
                mismatches[0],
                DownloadError::PresentSize {
                    expected: 100,
                    actual: 5,
                    ..
                }
            ),
            "{}",
            mismatches[0]
        );
    }

    #[test]
    fn verify_hashes_present_files() {
        let root = tempfile::tempdir().unwrap();
        let body = payload(100);
        let path = root.path().join("toy/data/toy.bin");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            payload(100).iter().map(|b| b ^ 1).collect::<Vec<_>>(),
        )
        .unwrap();
        let catalog = catalog(
            Some("https://example.invalid/toy.bin"),
            body.len(),
            &sha256(&body),
        );
        let source = DownloadSource::default();

        // Without --verify a present file of the right size is accepted unread.
        download_in_catalog(&catalog, root.path(), "toy", &source, false).unwrap();

        let error = download_in_catalog(&catalog, root.path(), "toy", &source, true).unwrap_err();
        let checksum = error.downcast_ref::<kinetype::Error>();
        assert!(
            matches!(checksum, Some(kinetype::Error::Checksum { .. })),
            "{error:#}"
        );
        assert!(
            format!("{error:#}").contains("kinetype download toy"),
            "{error:#}"
        );

        fs::write(&path, &body).unwrap();
        let summary = download_in_catalog(&catalog, root.path(), "toy", &source, true).unwrap();
        assert_eq!(summary.verified, vec![path]);
    }

    #[test]
    fn catalog_paths_must_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        let text = |directory: &str, path: &str| {
            format!(
                "[[dataset]]\nname = \"toy\"\ntitle = \"T\"\ndirectory = \"{directory}\"\n\
                 page = \"p\"\ncitation = \"c\"\nlicence = \"l\"\n[[dataset.file]]\n\
                 path = \"{path}\"\nurl = \"https://example.invalid/x\"\nsize = 1\n\
                 sha256 = \"00\"\n"
            )
        };
        for (directory, path) in [
            ("toy", "../escape.bin"),
            ("toy", "/etc/x"),
            ("..", "a"),
            ("", "a"),
        ] {
            let catalog = Catalog::parse(&text(directory, path)).unwrap();
            let result = download_toy(&catalog, root.path());
            let error = download_error(result);
            assert!(
                matches!(error, DownloadError::UnsafePath { .. }),
                "{directory} {path}: {error}"
            );
        }
    }
}

//! Finding datasets under the data root.

use std::path::Path;

use anyhow::{Result, bail};
use kinetype::datasets::catalog::{Catalog, DatasetEntry};

/// Makes sure every file of `name` is present under `root`.
///
/// NOTE: downloading missing files is not implemented yet; a missing file is an error that
/// names the file and the official page to fetch it from.
pub(crate) fn ensure_dataset(root: &Path, name: &str) -> Result<DatasetEntry> {
    let catalog = Catalog::builtin();
    let entry = catalog.get(name)?.clone();
    let missing = entry.missing_files(root);
    if let Some(file) = missing.first() {
        bail!(
            "{} is missing; download it from {} into {}, or set --data-dir / KINETYPE_DATA_DIR",
            entry.dir(root).join(&file.path).display(),
            file.url.as_deref().unwrap_or(&entry.page),
            entry.dir(root).display()
        );
    }
    Ok(entry)
}

pub(crate) fn download_command(root: &Path, name: &str) -> Result<()> {
    ensure_dataset(root, name)?;
    println!("{name}: all files present under {}", root.display());
    Ok(())
}

pub(crate) fn list_command(root: &Path) -> Result<()> {
    let catalog = Catalog::builtin();
    println!("data root: {}", root.display());
    for entry in &catalog.datasets {
        let missing = entry.missing_files(root).len();
        let state = if missing == 0 {
            "present".to_string()
        } else {
            format!("{missing} of {} files missing", entry.files.len())
        };
        println!("{:<20} {:<28} {}", entry.name, state, entry.title);
        if !entry.aliases.is_empty() {
            println!("{:<20} also: {}", "", entry.aliases.join(", "));
        }
    }
    Ok(())
}

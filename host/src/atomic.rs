//! Crash-safe file replacement.
//!
//! Everything the host writes (datasets, weights, exported headers) goes
//! through here: the bytes land in a temporary file next to the target, are
//! fsynced, and only then renamed over it. A failure at any point leaves the
//! previous file intact and removes the temporary one.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A failed atomic write. Display is one line naming the target path.
///
/// The underlying `io::Error` is part of the message rather than `source()`,
/// so `anyhow`'s `{:#}` / `{:?}` output does not print it twice.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {action}: {err}", path.display())]
pub struct WriteError {
    path: PathBuf,
    action: &'static str,
    err: io::Error,
}

impl WriteError {
    fn new(path: &Path, action: &'static str, err: io::Error) -> Self {
        WriteError {
            path: path.to_path_buf(),
            action,
            err,
        }
    }

    /// The file that could not be written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying I/O error.
    pub fn io_error(&self) -> &io::Error {
        &self.err
    }
}

/// Atomically replace (or create) `path` with `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Atomically replace (or create) `path` with whatever `fill` writes.
///
/// The writer is buffered. If `fill` returns an error, nothing is renamed
/// and the temporary file is deleted.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<(), WriteError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut tmp = temp_beside(path)?;
    let mut w = BufWriter::new(tmp.as_file_mut());
    fill(&mut w)
        .and_then(|()| w.flush())
        .map_err(|e| WriteError::new(path, "write", e))?;
    drop(w);
    commit(tmp, path)
}

/// Create an empty temporary file in the directory that will hold `path`,
/// so the final rename never crosses file systems.
pub(crate) fn temp_beside(path: &Path) -> Result<NamedTempFile, WriteError> {
    let name = path
        .file_name()
        .ok_or_else(|| {
            WriteError::new(
                path,
                "write",
                io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
            )
        })?
        .to_string_lossy();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(parent_dir(path))
        .map_err(|e| WriteError::new(path, "create a temporary file for", e))
}

/// Fsync `tmp` and rename it over `path`. On error `tmp` is dropped, which
/// deletes it.
pub(crate) fn commit(tmp: NamedTempFile, path: &Path) -> Result<(), WriteError> {
    // The temp file is created 0600; give it the permissions a plain
    // `File::create` would have, or keep those of the file it replaces.
    let perms = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => default_permissions(),
    };
    if let Some(perms) = perms {
        tmp.as_file()
            .set_permissions(perms)
            .map_err(|e| WriteError::new(path, "set permissions on", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| WriteError::new(path, "sync", e))?;
    tmp.persist(path)
        .map_err(|e| WriteError::new(path, "rename a temporary file onto", e.error))?;
    // Make the rename itself durable. Best effort: not every platform can
    // open or sync a directory, and the data is already safe either way.
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn default_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<std::fs::Permissions> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn creates_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"first").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        write_atomic(&p, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second, longer");
        assert_eq!(entries(dir.path()), ["out.bin"]);
    }

    #[test]
    fn failed_fill_keeps_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keep.txt");
        write_atomic(&p, b"precious").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk on fire"))
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("keep.txt") && msg.contains("disk on fire"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"precious");
        assert_eq!(entries(dir.path()), ["keep.txt"]);
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/x.bin");
        let msg = write_atomic(&p, b"x").unwrap_err().to_string();
        assert!(msg.contains("x.bin"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_not_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.bin");
        write_atomic(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

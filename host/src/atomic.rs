//! Crash-safe file replacement.
//!
//! Everything the host writes (datasets, weights, exported headers) goes
//! through here: the bytes land in a temporary file next to the target, are
//! fsynced, and only then renamed over it. A failure at any point leaves the
//! previous file intact and removes the temporary one, and so does SIGINT, SIGTERM or
//! SIGHUP once [`clean_up_on_signals`] is installed. Outputs follow the policy in
//! [`crate::files`]: symlinks followed, special files never replaced.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

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
    stage_with(path, fill)?.commit()
}

/// Writes `bytes` to a temporary file beside `path`'s target, to be renamed over it by
/// [`Staged::commit`] or [`commit_all`].
pub fn stage(path: &Path, bytes: &[u8]) -> Result<Staged, WriteError> {
    stage_with(path, |w| w.write_all(bytes))
}

fn stage_with<F>(path: &Path, fill: F) -> Result<Staged, WriteError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let target =
        crate::files::output_target(path).map_err(|e| WriteError::new(path, "write", e))?;
    let mut tmp = temp_beside(&target)?;
    let mut w = BufWriter::new(tmp.as_file_mut());
    fill(&mut w)
        .and_then(|()| w.flush())
        .map_err(|e| WriteError::new(path, "write", e))?;
    drop(w);
    Ok(Staged { tmp, target })
}

/// A file written in full to a temporary file, not yet renamed over its target.
/// Dropping it deletes the temporary file.
pub struct Staged {
    tmp: Temp,
    target: PathBuf,
}

impl Staged {
    /// Renames the file over its target.
    pub fn commit(self) -> Result<(), WriteError> {
        commit_all(vec![self])
    }
}

/// Renames every staged file over its target, as one step for SIGINT and SIGTERM: a
/// signal arriving meanwhile is handled after the last rename. (A SIGKILL or a power
/// cut between two renames can still split them.)
pub fn commit_all(staged: Vec<Staged>) -> Result<(), WriteError> {
    // Every check before the first rename: a refusal leaves all targets as they were.
    for s in &staged {
        check_replaceable(&s.target)?;
        prepare(&s.tmp, &s.target)?;
    }
    let mut live = live_temps();
    for s in staged {
        let Staged { tmp, target } = s;
        let path = tmp.path.clone();
        let result = tmp.persist(&target);
        live.retain(|p| *p != path);
        result?;
        // Make the rename itself durable. Best effort: not every platform can
        // open or sync a directory, and the data is already safe either way.
        if let Ok(dir) = File::open(parent_dir(&target)) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// A temporary file that the signal handler removes if the process is interrupted.
pub(crate) struct Temp {
    file: Option<NamedTempFile>,
    path: PathBuf,
}

impl Temp {
    pub(crate) fn as_file(&self) -> &File {
        self.file
            .as_ref()
            .map(NamedTempFile::as_file)
            .unwrap_or_else(|| unreachable!())
    }

    pub(crate) fn as_file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .map(NamedTempFile::as_file_mut)
            .unwrap_or_else(|| unreachable!())
    }

    /// Renames onto `target`, which must not be anything but a regular file.
    fn persist(mut self, target: &Path) -> Result<(), WriteError> {
        check_replaceable(target)?;
        match self.file.take() {
            Some(f) => f
                .persist(target)
                .map(drop)
                .map_err(|e| WriteError::new(target, "rename a temporary file onto", e.error)),
            None => Ok(()),
        }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // `file` deletes itself when dropped; forget the path.
        if self.file.is_some() {
            live_temps().retain(|p| *p != self.path);
        }
    }
}

/// The last guard of the output policy (crate::files): whatever the caller checked,
/// never rename over a directory, device, FIFO, socket or symlink.
fn check_replaceable(target: &Path) -> Result<(), WriteError> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if !m.is_file() => Err(WriteError::new(
            target,
            "write",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}, not a regular file: refusing to replace it",
                    crate::files::kind_name(&m.file_type())
                ),
            ),
        )),
        _ => Ok(()),
    }
}

/// Temporary files in existence, for the signal handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live_temps() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// On SIGINT, SIGTERM or SIGHUP: removes the temporary files in existence and exits with
/// 128 + the signal's number (130 for SIGINT). The removal waits for a [`commit_all`]
/// under way, so a multi-file output is either all renamed or not at all. Call once,
/// from `main`.
pub fn clean_up_on_signals() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            // Held until the exit: no commit starts after this.
            let live = live_temps();
            for p in live.iter() {
                let _ = std::fs::remove_file(p);
            }
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// Create an empty temporary file in the directory that will hold `path`,
/// so the final rename never crosses file systems.
pub(crate) fn temp_beside(path: &Path) -> Result<Temp, WriteError> {
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
    let mut live = live_temps();
    let file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(parent_dir(path))
        .map_err(|e| WriteError::new(path, "create a temporary file for", e))?;
    let path = file.path().to_path_buf();
    live.push(path.clone());
    Ok(Temp {
        file: Some(file),
        path,
    })
}

/// Fsync `tmp` and rename it over `path` (a regular file or nothing). On error `tmp` is
/// dropped, which deletes it.
pub(crate) fn commit(tmp: Temp, path: &Path) -> Result<(), WriteError> {
    let target =
        crate::files::output_target(path).map_err(|e| WriteError::new(path, "write", e))?;
    commit_all(vec![Staged { tmp, target }])
}

/// Permissions and fsync before the rename.
fn prepare(tmp: &Temp, path: &Path) -> Result<(), WriteError> {
    // The temp file is created 0600; give it the permissions a plain
    // `File::create` would have, or keep those of the file it replaces.
    let perms = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Some(meta.permissions()),
        _ => default_permissions(),
    };
    if let Some(perms) = perms {
        tmp.as_file()
            .set_permissions(perms)
            .map_err(|e| WriteError::new(path, "set permissions on", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| WriteError::new(path, "sync", e))
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

    #[cfg(unix)]
    #[test]
    fn commit_all_renames_every_file_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"old a").unwrap();
        let staged = vec![stage(&a, b"new a").unwrap(), stage(&b, b"new b").unwrap()];
        // `b` turns into a FIFO after staging: nothing may be renamed.
        assert!(std::process::Command::new("mkfifo")
            .arg(&b)
            .status()
            .unwrap()
            .success());
        let e = commit_all(staged).unwrap_err();
        assert!(e.to_string().contains("a FIFO, not a regular file"), "{e}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert_eq!(
            entries(dir.path()),
            ["a", "b"],
            "temporary files left behind"
        );
        std::fs::remove_file(&b).unwrap();
        let staged = vec![stage(&a, b"new a").unwrap(), stage(&b, b"new b").unwrap()];
        commit_all(staged).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        assert!(!live_temps().iter().any(|p| p.starts_with(dir.path())));
    }
}

//! The files a command reads and writes, checked before the work starts.
//!
//! Inputs are read only if they are regular files (a FIFO would block, a device never
//! end), and never beyond a bound.
//!
//! Outputs (`--out`, `--plot`) follow one policy, checked by [`check_outputs`] before any
//! work and again by the writer ([`crate::atomic`]) at the rename:
//! - a symlink is followed: the file it points to is replaced (atomically, through a
//!   temporary file beside that file) and the link stays; a dangling symlink is refused;
//! - an existing output must be a regular file: a directory, FIFO, device or socket is
//!   refused, never replaced;
//! - an output may not be one of the command's inputs (the same file, however its path
//!   is spelled, hard links included), nor another of its outputs;
//! - its directory is created and a file is created in it and removed, so an unwritable
//!   output fails at once rather than after a training run.
use std::fs::{self, FileType};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

/// The whole of `path`, if it is a regular file (symlinks followed) of at most `limit`
/// bytes.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO blocks until a writer comes.
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    let file = fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    if meta.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} bytes, more than the {limit} accepted", meta.len()),
        ));
    }
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(meta.len() as usize)
        .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "too large for this machine"))?;
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than the {limit} bytes accepted"),
        ));
    }
    Ok(bytes)
}

fn not_regular(t: &FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}, not a regular file", kind_name(t)),
    )
}

/// "a directory", "a FIFO", … for error messages.
pub fn kind_name(t: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Where writing `path` lands: the file a symlink points to (the link stays), or `path`
/// itself. Refuses a dangling symlink and anything that exists but is not a regular file.
pub fn output_target(path: &Path) -> io::Result<PathBuf> {
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)
            .map_err(|e| io::Error::new(e.kind(), format!("a symlink to a missing file ({e})")))?,
        _ => path.to_path_buf(),
    };
    match fs::metadata(&target) {
        Ok(m) if !m.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}, not a regular file: refusing to replace it",
                kind_name(&m.file_type())
            ),
        )),
        _ => Ok(target),
    }
}

/// One file, however its path is spelled.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// An existing file: device and inode.
    File(u64, u64),
    /// A file still to be made: its absolute path, directory resolved.
    Name(PathBuf),
}

fn identity(path: &Path) -> io::Result<Identity> {
    match fs::metadata(path) {
        Ok(m) => Ok(file_identity(&m, path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = fs::canonicalize(parent).or_else(|_| std::path::absolute(parent))?;
            Ok(Identity::Name(
                dir.join(path.file_name().unwrap_or_default()),
            ))
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn file_identity(m: &fs::Metadata, _: &Path) -> Identity {
    use std::os::unix::fs::MetadataExt;
    Identity::File(m.dev(), m.ino())
}

#[cfg(not(unix))]
fn file_identity(_: &fs::Metadata, path: &Path) -> Identity {
    Identity::Name(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Checks a command's outputs against the policy above, before any work: `outputs` as
/// (option, path), `inputs` every file the command reads. Creates the outputs'
/// directories.
pub fn check_outputs(outputs: &[(&str, &Path)], inputs: &[&Path]) -> Result<()> {
    let mut seen: Vec<(&str, &Path, Identity)> = Vec::new();
    for &(flag, path) in outputs {
        let at = path.display();
        let target = output_target(path).map_err(|e| anyhow!("{at}: {flag}: {e}"))?;
        let id = identity(&target).map_err(|e| anyhow!("{at}: {flag}: cannot write there: {e}"))?;
        for input in inputs {
            if identity(input).is_ok_and(|i| i == id) {
                return Err(anyhow!(
                    "{at}: {flag} is also an input of this command ({}): refusing to \
                     overwrite it",
                    input.display()
                ));
            }
        }
        if let Some((other, _, _)) = seen.iter().find(|(_, _, s)| *s == id) {
            return Err(anyhow!(
                "{at}: given as both {other} and {flag}: one would overwrite the other"
            ));
        }
        check_writable(&target).map_err(|e| anyhow!("{at}: {flag}: cannot write there: {e}"))?;
        seen.push((flag, path, id));
    }
    Ok(())
}

/// Creates `path`'s directory and a file in it (removed at once).
fn check_writable(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(".microdense-check.")
        .tempfile_in(dir)
        .map(drop)
}

/// For an output directory holding `files` (export-tfjs): the directory must be one or
/// not exist yet; each file is checked as an output.
pub fn check_output_dir(flag: &str, dir: &Path, files: &[&str], inputs: &[&Path]) -> Result<()> {
    if let Ok(m) = fs::metadata(dir) {
        if !m.is_dir() {
            return Err(anyhow!(
                "{}: {flag}: {}, not a directory",
                dir.display(),
                kind_name(&m.file_type())
            ));
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
    let outputs: Vec<(&str, &Path)> = paths.iter().map(|p| (flag, p.as_path())).collect();
    check_outputs(&outputs, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_clash_with_inputs_and_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, b"x").unwrap();
        let hard = dir.path().join("hard");
        fs::hard_link(&a, &hard).unwrap();
        let spelled = dir.path().join("sub/../a");
        fs::create_dir(dir.path().join("sub")).unwrap();
        for out in [&a, &hard, &spelled] {
            let e = check_outputs(&[("--out", out)], &[&a]).unwrap_err();
            assert!(e.to_string().contains("also an input"), "{e}");
        }
        let new = dir.path().join("new");
        let e = check_outputs(&[("--out", &new), ("--plot", &new)], &[]).unwrap_err();
        assert!(e.to_string().contains("both --out and --plot"), "{e}");
        check_outputs(&[("--out", &new), ("--plot", &a)], &[]).unwrap();
        assert!(!new.exists(), "the check writes nothing that stays");
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_and_symlinks_followed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = check_outputs(&[("--out", &fifo)], &[]).unwrap_err();
        assert!(e.to_string().contains("a FIFO, not a regular file"), "{e}");
        let e = read_regular(&fifo, 10).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let e = check_outputs(&[("--out", dir.path())], &[]).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");

        let target = dir.path().join("target");
        fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            output_target(&link).unwrap(),
            fs::canonicalize(&target).unwrap()
        );
        let e = check_outputs(&[("--out", &link)], &[&target]).unwrap_err();
        assert!(e.to_string().contains("also an input"), "{e}");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).unwrap();
        let e = check_outputs(&[("--out", &dangling)], &[]).unwrap_err();
        assert!(e.to_string().contains("symlink to a missing file"), "{e}");
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, [7u8; 100]).unwrap();
        assert_eq!(read_regular(&f, 100).unwrap().len(), 100);
        let e = read_regular(&f, 99).unwrap_err();
        assert!(e.to_string().contains("more than the 99"), "{e}");
    }
}

//! Shared helpers for the workspace-level tests.
use std::path::PathBuf;

/// The MNIST folder from `MICRODENSE_DATA`, or `None` after saying loudly that `test`
/// is skipped (CI always sets it).
pub fn mnist_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("MICRODENSE_DATA") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("SKIPPED: {test}: MICRODENSE_DATA is not set (point it at the MNIST folder)");
            None
        }
    }
}

//! A fresh clone has no exported bundle yet. A board whose board.toml names a shipped
//! model (`[bundle] shipped`, one of ../models/) gets its bundle made here, by the host
//! tool the repository builds anyway: `microdense export --firmware` of that model with the
//! board's digit counts, written under OUT_DIR. The digits come from the MNIST files the
//! host tool finds (MICRODENSE_DATA, else data/mnist, else ../shared/data/mnist beside the
//! repository); the repository holds no MNIST images.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exports `model` (relative to firmware/) with `digits` (e.g. "--digits 100
/// --train-digits 500") into OUT_DIR and returns the bundle's path.
pub fn export(manifest: &Path, model: &str, digits: &str, out: &Path) -> Result<PathBuf, String> {
    let repo = manifest.join("..");
    let bundle = out.join("shipped-bundle.bin");
    println!("cargo:rerun-if-changed={}", manifest.join(model).display());
    println!("cargo:rerun-if-env-changed=MICRODENSE_DATA");
    // Built with --workspace, as scripts/main.sh and CI build it, so this reuses their
    // build (a `-p` build resolves other features and would compile everything again).
    let cargo = env::var_os("CARGO").unwrap_or("cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&repo)
        .args(["build", "--release", "-q", "--workspace"]);
    let mut cmd = Command::new(repo.join("target/release/microdense"));
    cmd.current_dir(&repo)
        .args(["export", "--firmware"])
        .arg("--model")
        .arg(manifest.join(model))
        .args(digits.split_whitespace())
        .arg("--out")
        .arg(&bundle);
    if let Some(data) = mnist(&repo) {
        cmd.arg("--data").arg(data);
    }
    // The outer build's flags are for the chip, not for the host tool.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        build.env_remove(var);
    }
    let built = build
        .status()
        .map_err(|e| format!("building the host tool: {e}"))?;
    if !built.success() {
        return Err("building the host tool failed (see above)".into());
    }
    println!("cargo:warning=no exported bundle: embedding the shipped model {model}");
    let status = cmd
        .status()
        .map_err(|e| format!("running the host tool: {e}"))?;
    if !status.success() {
        return Err(format!(
            "exporting the shipped model {model} failed (see above)"
        ));
    }
    Ok(bundle)
}

/// MNIST where the host tool would not look by itself: beside the repository.
fn mnist(repo: &Path) -> Option<PathBuf> {
    if env::var_os("MICRODENSE_DATA").is_some() || repo.join("data/mnist").is_dir() {
        return None;
    }
    let shared = repo.join("../shared/data/mnist");
    shared.is_dir().then_some(shared)
}

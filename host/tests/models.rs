//! The shipped models (models/README.md): each file's SHA-256 is the one in the table,
//! and re-running its command writes the same bytes. Needs MNIST (MICRODENSE_DATA); skips
//! loudly without it (CI sets it).
mod common;

use std::io::Write;
use std::path::Path;

use common::microdense;
use sha2::{Digest, Sha256};

/// (file, SHA-256, command arguments after `microdense`) of each row of the table.
fn rows(readme: &str) -> Vec<(String, String, Vec<String>)> {
    readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
            let command: Vec<String> = cells[4].split_whitespace().map(String::from).collect();
            assert_eq!(command[0], "microdense", "{l}");
            (
                cells[1].to_string(),
                cells[3].to_string(),
                command[1..].to_vec(),
            )
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_shipped_model_is_its_command_output_bit_for_bit() {
    let Some(data) = std::env::var_os("MICRODENSE_DATA") else {
        let note = "SKIPPED: shipped models: MICRODENSE_DATA is not set (point it at MNIST)";
        let _ = writeln!(std::io::stderr(), "{note}"); // past the harness's capture
        return;
    };
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let readme = std::fs::read_to_string(models.join("README.md")).unwrap();
    let rows = rows(&readme);
    assert_eq!(rows.len(), 4, "models/README.md table");
    let dir = tempfile::tempdir().unwrap();
    // In table order: a quantize row reads the model a train row above it wrote.
    for (file, sha, args) in &rows {
        let shipped = std::fs::read(models.join(file)).unwrap();
        assert_eq!(&hex(&Sha256::digest(&shipped)), sha, "{file}: SHA-256");
        microdense()
            .current_dir(dir.path())
            .env("MICRODENSE_DATA", &data)
            .args(args)
            .assert()
            .success();
        let made = std::fs::read(dir.path().join(file)).unwrap();
        assert!(
            made == shipped,
            "{file}: `microdense {}` wrote other bytes",
            args.join(" ")
        );
    }
}

//! One module per subcommand, named after it: each `run` loads its inputs, hands the work
//! to the library (`train`, `eval`, `model`, `data`) and reports. Only here are the
//! [`crate::cli`] types translated into the library's own.
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use indicatif::ProgressBar;

use crate::cli::{Cli, Command};
use crate::data::idx::Split;

mod bench;
mod check;
mod eval;
mod export;
mod export_onnx;
mod export_tfjs;
mod fetch;
mod import_onnx;
mod import_tfjs;
mod import_tflite;
mod predict;
mod quantize;
mod replay_chip;
mod reproduce;
mod train;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fetch(a) => fetch::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Reproduce(a) => reproduce::run(a),
        Command::Check(a) => check::run(a),
        Command::Export(a) => export::run(a),
        Command::Quantize(a) => quantize::run(a),
        Command::ImportTfjs(a) => import_tfjs::run(a),
        Command::ExportTfjs(a) => export_tfjs::run(a),
        Command::ImportOnnx(a) => import_onnx::run(a),
        Command::ImportTflite(a) => import_tflite::run(a),
        Command::ExportOnnx(a) => export_onnx::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Predict(a) => predict::run(a),
        Command::ReplayChip(a) => replay_chip::run(a),
    }
}

/// Checks the command's outputs (`(option, path)`, absent ones `None`) against its
/// `inputs`, before any work (see [`crate::files`]).
pub(crate) fn check_outputs(outputs: &[(&str, Option<&Path>)], inputs: &[PathBuf]) -> Result<()> {
    let outputs: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|&(flag, path)| path.map(|p| (flag, p)))
        .collect();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    crate::files::check_outputs(&outputs, &inputs)
}

/// The data files of `splits` in `dir` that exist: a command's inputs.
pub(crate) fn data_files(dir: &Path, splits: &[Split]) -> Vec<PathBuf> {
    splits
        .iter()
        .flat_map(|&s| crate::data::idx::split_files(dir, s))
        .collect()
}

/// Every file `--data`, `--test` and `--labels` name (the IDX files in a directory): a
/// command's data inputs.
pub(crate) fn data_inputs(d: &crate::cli::DataArgs) -> Vec<PathBuf> {
    let main = d
        .data
        .clone()
        .unwrap_or_else(|| crate::data::idx::data_dir(None));
    let mut out = Vec::new();
    for p in std::iter::once(main)
        .chain(d.test.clone())
        .chain(d.labels.clone())
    {
        if p.is_dir() {
            out.extend(data_files(&p, &[Split::Train, Split::Test]));
        } else {
            out.push(p);
        }
    }
    out
}

/// Writes to stdout; a closed pipe (`microdense eval | head`) is not an error.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(anyhow::anyhow!("stdout: {e}")),
        _ => Ok(()),
    }
}

pub(crate) fn emit_json(value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    emit(&text)
}

/// A bar on stderr, drawn only when stderr is a terminal and not `quiet`.
pub(crate) fn progress_bar(len: u64, unit: &str, quiet: bool) -> ProgressBar {
    let template = format!(
        "{{elapsed_precise}} {{bar:30.cyan/blue}} {{pos:>6}}/{{len}} {unit} (ETA {{eta}}) {{msg}}"
    );
    crate::progress::bar(len, &template, !quiet)
}

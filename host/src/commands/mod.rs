//! One module per subcommand, named after it: each `run` loads its inputs, hands the work
//! to the library (`train`, `eval`, `model`, `data`) and reports. Only here are the
//! [`crate::cli`] types translated into the library's own.
use std::io::{self, Write};

use anyhow::Result;
use indicatif::ProgressBar;

use crate::cli::{Cli, Command};

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
    }
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

//! One module per subcommand: argument handling, progress and output. The work itself
//! lives in the library modules (`training`, `metrics`, `reproduce`, `crosscheck`, …).
use std::io::{self, IsTerminal, Write};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Cli, Command};

mod bench;
mod check;
mod eval;
mod export;
mod fetch;
mod predict;
mod quantize;
mod reproduce;
mod tfjs;
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
        Command::ImportTfjs(a) => tfjs::import(a),
        Command::ExportTfjs(a) => tfjs::export(a),
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
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    let template =
        format!("{{elapsed_precise}} {{bar:30.cyan/blue}} {{pos:>6}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

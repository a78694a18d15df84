//! `microdense`: see `microdense --help`. Errors are one line on stderr, `error: <file>:
//! <what>`, with exit code 1; usage errors are clap's, with exit code 2.
use std::process::ExitCode;

use clap::Parser;
use microdense_host::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match microdense_host::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` joins the context chain with ": "; keep it on one line whatever an
            // underlying error's text holds.
            let msg = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

//! `microdense`: see `microdense --help`. Errors are one line on stderr, `error: <file>:
//! <what>`, with exit code 1; usage errors are clap's, with exit code 2. SIGINT, SIGTERM
//! and SIGHUP remove the temporary files of outputs being written and exit with 128 + the
//! signal's number.
use std::process::ExitCode;

use clap::Parser;
use microdense_host::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = microdense_host::atomic::clean_up_on_signals() {
        eprintln!("warning: cannot watch for signals ({e}); an interrupted write may leave a temporary file");
    }
    match microdense_host::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// `{:#}` joins the context chain with ": "; keep it on one line whatever an underlying
/// error's text holds, and show control characters (ESC sequences from a file, say)
/// escaped rather than let them drive the terminal.
fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            // C0/C1 controls, line/paragraph separators, bidi overrides and isolates.
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_are_one_line_without_controls() {
        assert_eq!(
            super::one_line("a\nb\x1b[31m\u{2028}c\td"),
            "a b\\u{1b}[31m\\u{2028}c\\u{9}d"
        );
    }
}

use std::io::IsTerminal;

use anyhow::Result;

use super::emit;
use crate::cli::FetchArgs;
use crate::data::{fetch, idx};

pub fn run(args: FetchArgs) -> Result<()> {
    let dir = args.dir.unwrap_or_else(|| idx::data_dir(None));
    let progress = std::io::stderr().is_terminal();
    let report = fetch::fetch(&dir, args.mirror.as_deref(), progress)?;
    let mut text = String::new();
    for file in &report.files {
        text.push_str(&format!("{file}\n"));
    }
    emit(&text)
}

//! `import-onnx`: an ONNX model as an f32 model.
use std::fs;
use std::path::Path;

use anyhow::{anyhow, Result};

use super::emit;
use crate::cli::ImportArgs;
use crate::model::onnx::import_onnx;
use crate::model::{describe, Model};

pub fn run(args: ImportArgs) -> Result<()> {
    let (model, notes) = import_onnx(&args.model, &read(&args.model)?)?;
    // What the loader demands, checked before anything is written.
    Model::from_bytes(&args.model, &model.to_bytes()?)?;
    model.save(&args.out)?;
    let mut text = format!(
        "wrote {}: {} (f32) from {}\n",
        args.out.display(),
        describe(&model.topology),
        args.model.display()
    );
    for n in notes {
        text.push_str(&format!("note: {n}\n"));
    }
    emit(&text)
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))
}

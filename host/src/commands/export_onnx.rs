//! `export-onnx`: an f32 model as an ONNX file.
use anyhow::Result;

use super::emit;
use crate::atomic;
use crate::cli::ExportOnnxArgs;
use crate::model::onnx::export_onnx;
use crate::model::{create_parent, describe, Model};

pub fn run(args: ExportOnnxArgs) -> Result<()> {
    let model = Model::load(&args.model)?;
    create_parent(&args.out)?;
    atomic::write_atomic(&args.out, &export_onnx(&model))?;
    emit(&format!(
        "wrote {}: {} as ONNX (opset 13)\n",
        args.out.display(),
        describe(&model.topology)
    ))
}

//! `import-onnx`, `import-tflite`, `export-onnx`: other runtimes' model files in and out.
use std::fs;
use std::path::Path;

use anyhow::{anyhow, Result};

use super::emit;
use crate::atomic;
use crate::cli::{ExportOnnxArgs, ImportArgs};
use crate::model::onnx::{export_onnx as to_onnx, import_onnx as from_onnx};
use crate::model::tflite::{import_tflite as from_tflite, Imported};
use crate::model::{create_parent, describe, Model};

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))
}

pub fn import_onnx(args: ImportArgs) -> Result<()> {
    let (model, notes) = from_onnx(&args.model, &read(&args.model)?)?;
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

pub fn import_tflite(args: ImportArgs) -> Result<()> {
    let (topology, kind) = match from_tflite(&args.model, &read(&args.model)?)? {
        Imported::F32(model) => {
            Model::from_bytes(&args.model, &model.to_bytes()?)?;
            model.save(&args.out)?;
            (model.topology, "f32")
        }
        Imported::Int8(model) => {
            model.save(&args.out)?;
            (model.topology, "int8, TFLite requantization")
        }
    };
    emit(&format!(
        "wrote {}: {} ({kind}) from {}\n",
        args.out.display(),
        describe(&topology),
        args.model.display()
    ))
}

pub fn export_onnx(args: ExportOnnxArgs) -> Result<()> {
    let model = Model::load(&args.model)?;
    create_parent(&args.out)?;
    atomic::write_atomic(&args.out, &to_onnx(&model))?;
    emit(&format!(
        "wrote {}: {} as ONNX (opset 13)\n",
        args.out.display(),
        describe(&model.topology)
    ))
}

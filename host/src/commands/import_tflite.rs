//! `import-tflite`: a TFLite model as an f32 or int8 model.
use anyhow::Result;

use super::emit;
use super::import_onnx::read;
use crate::cli::ImportArgs;
use crate::model::tflite::{import_tflite, Imported};
use crate::model::{describe, Model};

pub fn run(args: ImportArgs) -> Result<()> {
    let (topology, kind) = match import_tflite(&args.model, &read(&args.model)?)? {
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

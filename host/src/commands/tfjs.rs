use anyhow::{anyhow, Result};

use super::emit;
use crate::cli::{ExportTfjsArgs, ImportTfjsArgs};
use crate::model::{describe, Model};
use crate::tfjs::{export_tfjs, import_tfjs, MODEL_JSON, WEIGHTS_BIN};

pub fn import(args: ImportTfjsArgs) -> Result<()> {
    let (topology, params) = import_tfjs(&args.model_json)?;
    let model = Model {
        topology,
        params,
        input: None,
    };
    // Check what the loader will demand (a softmax classifier) before writing anything.
    let bytes = model.to_bytes()?;
    Model::from_bytes(&args.model_json, &bytes)?;
    model.save(&args.out)?;
    emit(&format!(
        "wrote {}: {} from {}\n",
        args.out.display(),
        describe(&model.topology),
        args.model_json.display()
    ))
}

pub fn export(args: ExportTfjsArgs) -> Result<()> {
    let model = Model::load(&args.model)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow!("{}: cannot create directory: {e}", args.out.display()))?;
    export_tfjs(&model.topology, &model.params, &args.out)?;
    emit(&format!(
        "wrote {} and {} in {}\n",
        MODEL_JSON,
        WEIGHTS_BIN,
        args.out.display()
    ))
}

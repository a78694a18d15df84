use anyhow::{anyhow, Result};

use super::emit;
use crate::cli::ExportTfjsArgs;
use crate::files::check_output_dir;
use crate::model::tfjs::{export_tfjs, MODEL_JSON, WEIGHTS_BIN};
use crate::model::Model;

pub fn run(args: ExportTfjsArgs) -> Result<()> {
    let inputs = [args.model.as_path()];
    check_output_dir("--out", &args.out, &[MODEL_JSON, WEIGHTS_BIN], &inputs)?;
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

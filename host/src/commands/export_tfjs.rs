use anyhow::{anyhow, Result};

use super::emit;
use crate::cli::ExportTfjsArgs;
use crate::files::check_output_dir;
use crate::model::tfjs::{export_tfjs_like, Original, MODEL_JSON, WEIGHTS_BIN};
use crate::model::Model;

pub fn run(args: ExportTfjsArgs) -> Result<()> {
    let mut inputs = vec![args.model.as_path()];
    inputs.extend(args.like.as_deref());
    check_output_dir("--out", &args.out, &[MODEL_JSON, WEIGHTS_BIN], &inputs)?;
    let model = Model::load(&args.model)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow!("{}: cannot create directory: {e}", args.out.display()))?;
    let original = match &args.like {
        Some(path) => Some(Original::read(path, &model.topology)?),
        None => None,
    };
    export_tfjs_like(&model.topology, &model.params, original.as_ref(), &args.out)?;
    emit(&format!(
        "wrote {} and {} in {}\n",
        MODEL_JSON,
        WEIGHTS_BIN,
        args.out.display()
    ))
}

use anyhow::{anyhow, Result};

use super::emit;
use crate::cli::ExportTfjsArgs;
use crate::files::check_output_dir;
use crate::model::tfjs::{export_tfjs_like, Original, MODEL_JSON, WEIGHTS_BIN};
use crate::model::Model;

/// The note beside a TF.js export of a model with stored input scaling.
pub const PREPROCESSING_JSON: &str = "preprocessing.json";

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
    let mut text = format!(
        "wrote {} and {} in {}\n",
        MODEL_JSON,
        WEIGHTS_BIN,
        args.out.display()
    );
    // TF.js Layers has no place for a per-feature input scaling: it goes beside the
    // model as a note, which the application applies before `model.predict`.
    if let Some(input) = &model.input {
        let path = args.out.join(PREPROCESSING_JSON);
        let note = serde_json::json!({
            "note": "scale each raw input before model.predict: x' = (x - offset[j]) / divisor[j], in float32",
            "scaling": input.scaling.kind,
            "offset": input.scaling.offset,
            "divisor": input.scaling.divisor,
            "classes": input.classes,
        });
        let mut bytes = serde_json::to_vec_pretty(&note)?;
        bytes.push(b'\n');
        crate::atomic::write_atomic(&path, &bytes)?;
        text.push_str(&format!(
            "wrote {}: the input scaling ({}) and class names, to apply before predicting\n",
            path.display(),
            input.scaling.kind.name()
        ));
    }
    emit(&text)
}

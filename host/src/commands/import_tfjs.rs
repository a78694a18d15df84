use anyhow::Result;

use super::{check_outputs, emit};
use crate::cli::ImportTfjsArgs;
use crate::model::tfjs::{import_tfjs, shard_files};
use crate::model::{describe, Model};

pub fn run(args: ImportTfjsArgs) -> Result<()> {
    let mut inputs = vec![args.model_json.clone()];
    inputs.extend(shard_files(&args.model_json));
    check_outputs(&[("--out", Some(&args.out))], &inputs)?;
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

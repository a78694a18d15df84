use anyhow::Result;
use serde::Serialize;

use super::{check_outputs, data_files, emit, emit_json};
use crate::cli::EvalArgs;
use crate::data::idx::{self, Split};
use crate::data::Data;
use crate::eval::{evaluate_any, ClassScore, Evaluation};
use crate::model::{describe, AnyModel};
use crate::plot;

#[derive(Serialize)]
struct Report<'a> {
    model: String,
    network: String,
    element: &'static str,
    data: String,
    samples: u64,
    accuracy: f64,
    loss: f64,
    per_class: Vec<ClassScore>,
    confusion: &'a [Vec<u64>],
}

pub fn run(args: EvalArgs) -> Result<()> {
    let dir = idx::data_dir(args.data.data.as_deref());
    let mut inputs = data_files(&dir, &[Split::Test]);
    inputs.push(args.model.clone());
    check_outputs(&[("--plot", args.plot.as_deref())], &inputs)?;
    let model = AnyModel::load(&args.model)?;
    let topology = model.topology();
    if let Some(path) = &args.plot {
        plot::check_confusion(path, topology.outputs())?;
    }
    let test = Data::load(&dir, Split::Test)?;
    test.check_fits(topology, &args.model)?;
    let eval: Evaluation = evaluate_any(&model, &test.set, None);
    let element = model.element_type().name();
    if let Some(path) = &args.plot {
        let title = format!("{} on {}", args.model.display(), dir.display());
        plot::confusion(path, &eval, &title)?.commit()?;
    }
    if args.json {
        return emit_json(&Report {
            model: args.model.display().to_string(),
            network: describe(topology),
            element,
            data: dir.display().to_string(),
            samples: eval.total(),
            accuracy: eval.accuracy(),
            loss: eval.loss,
            per_class: eval.per_class(),
            confusion: &eval.confusion,
        });
    }
    emit(&format!(
        "model {}: {}, {} parameters ({element})\ndata  {} (test set)\n\n{}",
        args.model.display(),
        describe(topology),
        topology.params_len(),
        dir.display(),
        eval.report()
    ))
}

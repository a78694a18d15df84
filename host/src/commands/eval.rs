use anyhow::Result;
use serde::Serialize;

use super::{check_outputs, data_inputs, emit, emit_json};
use crate::cli::EvalArgs;
use crate::data::prepare::{data_for_model, Part};
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
    let mut inputs = data_inputs(&args.data);
    inputs.push(args.model.clone());
    check_outputs(&[("--plot", args.plot.as_deref())], &inputs)?;
    let model = AnyModel::load(&args.model)?;
    let topology = model.topology();
    if let Some(path) = &args.plot {
        plot::check_confusion(path, topology.outputs())?;
    }
    let (test, from) = data_for_model(
        &args.data.spec(),
        model.input().as_ref(),
        topology,
        &args.model,
        Part::Test,
    )?;
    let eval: Evaluation = evaluate_any(&model, &*test, None);
    let element = model.element_type().name();
    if let Some(path) = &args.plot {
        // File names, not absolute paths: a title is read at a glance.
        let name = |p: &str| {
            let p = std::path::Path::new(p.split(',').next().unwrap_or(p));
            p.file_name().map_or(p.display().to_string(), |n| {
                n.to_string_lossy().into_owned()
            })
        };
        let title = format!("{} on {}", name(&args.model.to_string_lossy()), name(&from));
        plot::confusion(path, &eval, &title)?.commit()?;
    }
    if args.json {
        return emit_json(&Report {
            model: args.model.display().to_string(),
            network: describe(topology),
            element,
            data: from.clone(),
            samples: eval.total(),
            accuracy: eval.accuracy(),
            loss: eval.loss,
            per_class: eval.per_class(),
            confusion: &eval.confusion,
        });
    }
    let mut text = format!(
        "model {}: {}, {} parameters ({element})\ndata  {} (test set)\n\n{}",
        args.model.display(),
        describe(topology),
        topology.params_len(),
        from,
        eval.report()
    );
    if let Some(input) = model.input().filter(|i| !i.classes.is_empty()) {
        let names: Vec<String> = (input.classes.iter().enumerate())
            .map(|(i, n)| format!("{i} {n}"))
            .collect();
        text.push_str(&format!("\nclasses {}\n", names.join(", ")));
    }
    if let Some(p) = &args.plot {
        text.push_str(&format!("\nplot  {}: the confusion matrix\n", p.display()));
    }
    emit(&text)
}

use std::fmt::Write as _;

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::{check_outputs, data_inputs, emit, emit_json};
use crate::cli::QuantizeArgs;
use crate::data::examples::Examples;
use crate::data::prepare::{data_for_model, Part};
use crate::data::table::ScaleKind;
use crate::eval::{evaluate, Evaluation};
use crate::model::quantize::{
    calibrate, calibration_indices, quantize, LayerReport, Quantized, CALIBRATION_SEED,
};
use crate::model::{describe, Model};

#[derive(Serialize)]
struct Score {
    accuracy: f64,
    loss: f64,
    bytes: usize,
}

#[derive(Serialize)]
struct Report<'a> {
    model: String,
    out: String,
    network: String,
    data: String,
    calibration_samples: usize,
    calibration_seed: u64,
    layers: &'a [LayerReport],
    test_samples: u64,
    f32: Score,
    int8: Score,
    /// Accuracy points lost (f32 − int8, in percentage points).
    drop_points: f64,
}

pub fn run(args: QuantizeArgs) -> Result<()> {
    let (model, dir, train, test) = load(&args)?;
    let work = work(&args, &model, &train, &test)?;
    work.quantized.model.save(&args.out)?;
    report(&args, &dir, &model, &work)
}

type Set = Box<dyn Examples>;

/// The f32 model and the training (calibration) and test sets it must fit, as its
/// inputs (a table scaled with the model's scaling).
fn load(args: &QuantizeArgs) -> Result<(Model, String, Set, Set)> {
    let mut inputs = data_inputs(&args.data);
    inputs.push(args.model.clone());
    check_outputs(&[("--out", Some(&args.out))], &inputs)?;
    let model = Model::load(&args.model)?;
    let spec = args.data.spec();
    let input = model.input.as_ref();
    let (train, dir) = data_for_model(&spec, input, &model.topology, &args.model, Part::Train)?;
    let (test, _) = data_for_model(&spec, input, &model.topology, &args.model, Part::Test)?;
    Ok((model, dir, train, test))
}

/// The int8 model and both models' scores on the test set.
struct Work {
    calibration_samples: usize,
    quantized: Quantized,
    float: Evaluation,
    int8: Evaluation,
}

fn work(args: &QuantizeArgs, model: &Model, train: &Set, test: &Set) -> Result<Work> {
    let at = args.model.display();
    let indices = calibration_indices(train.len(), args.calibrate as usize);
    let calibration = calibrate(model, &**train, &indices).map_err(|e| anyhow!("{at}: {e}"))?;
    let quantized = quantize(model, &calibration).map_err(|e| anyhow!("{at}: {e}"))?;
    let float = evaluate(model, &**test, None);
    let int8 = evaluate(&quantized.model, &**test, None);
    Ok(Work {
        calibration_samples: calibration.samples,
        quantized,
        float,
        int8,
    })
}

/// What was chosen per layer and both models' scores: JSON or text.
fn report(args: &QuantizeArgs, dir: &str, model: &Model, work: &Work) -> Result<()> {
    let at = args.model.display();
    let (quantized, float, int8) = (&work.quantized, &work.float, &work.int8);
    let f32_bytes = model.to_bytes()?.len();
    let int8_bytes = quantized.model.bytes().len();
    let drop_points = 100.0 * (float.accuracy() - int8.accuracy());
    if args.json {
        return emit_json(&Report {
            model: at.to_string(),
            out: args.out.display().to_string(),
            network: describe(&model.topology),
            data: dir.to_string(),
            calibration_samples: work.calibration_samples,
            calibration_seed: CALIBRATION_SEED,
            layers: &quantized.layers,
            test_samples: int8.total(),
            f32: Score {
                accuracy: float.accuracy(),
                loss: float.loss,
                bytes: f32_bytes,
            },
            int8: Score {
                accuracy: int8.accuracy(),
                loss: int8.loss,
                bytes: int8_bytes,
            },
            drop_points,
        });
    }
    // A table model's examples are rows of features, not images.
    let what = match &model.input {
        Some(i) if i.scaling.kind != ScaleKind::Pixels => "examples",
        _ => "images",
    };
    let mut s = format!(
        "model        {at}: {}, f32, {f32_bytes} bytes\n\
         calibration  {} training {what} from {}\n\n\
         layer  shape        activation  weight scales            calibrated range      output\n",
        describe(&model.topology),
        work.calibration_samples,
        dir
    );
    for l in &quantized.layers {
        let range = l
            .range
            .map_or("-".to_string(), |r| format!("[{:.4}, {:.4}]", r.min, r.max));
        let output = match l.range {
            Some(_) => format!(
                "int8, scale {:.4e}, zero point {}",
                l.output_scale, l.output_zero_point
            ),
            None => format!("i32, scale {:.4e}", l.output_scale),
        };
        let widened = if l.widened { " (widened)" } else { "" };
        let _ = writeln!(
            s,
            "{:<6} {:<12} {:<11} {:.3e} .. {:.3e}   {range:<21} {output}{widened}",
            l.layer,
            format!("{}→{}", l.fan_in, l.units),
            l.activation,
            l.weight_scale.0,
            l.weight_scale.1,
        );
    }
    let _ = writeln!(
        s,
        "\naccuracy     f32 {:.4}, int8 {:.4} ({:+.2} points) on {} test {what}",
        float.accuracy(),
        int8.accuracy(),
        // + 0.0: no drop prints as +0.00, not -0.00.
        -drop_points + 0.0,
        int8.total()
    );
    let _ = writeln!(
        s,
        "mean loss    f32 {:.4}, int8 {:.4}",
        float.loss, int8.loss
    );
    let _ = writeln!(
        s,
        "saved        {}: int8, {int8_bytes} bytes",
        args.out.display()
    );
    emit(&s)
}

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::{emit, emit_json};
use crate::cli::{ActivationArg, BenchArgs};
use crate::data::idx::{self, Split};
use crate::data::Data;
use crate::eval::throughput::{measure, BenchConfig, Throughput};
use crate::model::{describe, mlp};

const CLASSES: usize = 10;

#[derive(Serialize)]
struct Report<'a> {
    config: &'a BenchConfig,
    network: String,
    data: String,
    /// Whether core runs its AVX2 loops on this machine.
    wide_loops: bool,
    timed: &'static str,
    #[serde(flatten)]
    result: &'a Throughput,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let cfg = config(&args);
    let dir = idx::data_dir(args.data.data.as_deref());
    let train = Data::load(&dir, Split::Train)?;
    train.check_labels(CLASSES)?;
    let network = describe(&mlp(
        train.set.input_size(),
        &cfg.hidden,
        cfg.activation,
        CLASSES,
    )?);
    let data = train.set;
    // The measurement is silent for a while: say what it does and for how long.
    if std::io::stderr().is_terminal() && !args.json {
        let about = match cfg.steps {
            Some(_) => String::new(),
            None => format!(", about {} s", 1 + 2 * cfg.repeats),
        };
        eprintln!(
            "timing {network}, batch {}: a warm-up, then {} runs{about}…",
            cfg.batch, cfg.repeats
        );
    }
    let result = measure(&data, CLASSES, &cfg)?;
    report(&args, &cfg, network, &dir, &result)
}

fn config(args: &BenchArgs) -> BenchConfig {
    BenchConfig {
        hidden: args
            .shape
            .hidden
            .as_ref()
            .map_or(vec![32, 256], |h| h.0.clone()),
        activation: args
            .shape
            .activation
            .unwrap_or(ActivationArg::Linear)
            .into(),
        batch: args.shape.batch.unwrap_or(16) as usize,
        lr: args.lr,
        momentum: args.momentum,
        init: args.init.into(),
        seed: args.seed,
        steps: args.steps,
        repeats: args.repeats,
        threads: usize::from(args.threads),
    }
}

fn report(
    args: &BenchArgs,
    cfg: &BenchConfig,
    network: String,
    dir: &Path,
    result: &Throughput,
) -> Result<()> {
    if args.json {
        return emit_json(&Report {
            config: cfg,
            network,
            data: dir.display().to_string(),
            wide_loops: microdense::kernels::wide_loops(),
            timed: "per step: next batch of shuffled indices, those images' pixels scaled to \
                    f32 into one batch (and the next batch's asked of the cache), forward, \
                    softmax cross-entropy, backward, SGD update",
            result,
        });
    }
    let spread: Vec<String> = result
        .repeats
        .iter()
        .map(|r| format!("{:.0}", r.samples_per_second))
        .collect();
    emit(&format!(
        "{network}, batch {}, SGD lr {}{}, one thread (AVX2 loops: {})\n\
         {:.0} samples/s: median of {} repeats of {} steps after {} warm-up steps ({})\n",
        cfg.batch,
        cfg.lr,
        if cfg.momentum != 0.0 {
            format!(" momentum {}", cfg.momentum)
        } else {
            String::new()
        },
        microdense::kernels::wide_loops(),
        result.samples_per_second,
        result.repeats.len(),
        result.steps,
        result.warmup_steps,
        spread.join(", "),
    ))
}

use anyhow::Result;
use serde::Serialize;

use super::{emit, emit_json, progress_bar};
use crate::cli::ReproduceArgs;
use crate::data::idx::{self, Split};
use crate::data::Data;
use crate::eval::reproduce::{self, Recipe, Summary, EXPERIMENTS, EXPLANATION};

#[derive(Serialize)]
struct Report<'a> {
    data: String,
    runs: u32,
    first_seed: u64,
    init: &'static str,
    output_init: &'static str,
    loss: &'static str,
    seconds: f64,
    configurations: &'a [Summary],
}

pub fn run(args: ReproduceArgs) -> Result<()> {
    let dir = idx::data_dir(args.data.data.as_deref());
    let train = Data::load(&dir, Split::Train)?;
    let test = Data::load(&dir, Split::Test)?;
    train.check_labels(10)?;
    test.check_labels(10)?;
    let started = std::time::Instant::now();
    let total = EXPERIMENTS.len() as u64 * u64::from(args.runs);
    let bar = progress_bar(total, "runs", args.quiet || args.json);
    let how = Recipe {
        init: args.init.into(),
        output_init: args.output_init.into(),
        loss: args.loss.into(),
    };
    let summaries = reproduce::reproduce(
        &train.set,
        &test.set,
        args.runs,
        args.seed,
        &how,
        &mut |e, r| {
            bar.inc(1);
            bar.set_message(format!(
                "{}: seed {} accuracy {:.3}",
                e.name(),
                r.seed,
                r.accuracy
            ));
        },
    )?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        return emit_json(&Report {
            data: dir.display().to_string(),
            runs: args.runs,
            first_seed: args.seed,
            init: how.init.name(),
            output_init: how.output_init.name(),
            loss: how.loss.name(),
            seconds,
            configurations: &summaries,
        });
    }
    emit(&format!(
        "The tutorial's configurations: 100 batches of SGD at lr 0.15, linear hidden layers \
         ({} init),\nsoftmax output ({} init), {} loss; {} runs each (seeds {}..={}), data {}.\n\n{}\n{EXPLANATION}\n\n\
         total time {seconds:.1} s\n",
        how.init.name(),
        how.output_init.name(),
        how.loss.name(),
        args.runs,
        args.seed,
        args.seed.wrapping_add(u64::from(args.runs) - 1),
        dir.display(),
        reproduce::table(&summaries),
    ))
}

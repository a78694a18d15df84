use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use super::{check_outputs, data_inputs, emit, emit_json, progress_bar};
use crate::atomic;
use crate::cli::{ActivationArg, InitArg, OptimizerArg, ScheduleArg, TrainArgs};
use crate::data::prepare::{prepare, Prepared};
use crate::eval::{evaluate, ClassScore, Evaluation};
use crate::model::{describe, Model};
use crate::plot::{self, EpochMark};
use crate::train::{self, AdamSettings, Divergence, Event, History, Length, TrainConfig, Trained};

/// A run needing more memory than this gets a warning.
const WARN_BYTES: u64 = 2 << 30;

/// Loss reported as "final": the mean over this many last batches (one batch is noisy).
const TAIL: usize = 10;

#[derive(Serialize)]
struct Report<'a> {
    config: &'a TrainConfig,
    network: String,
    parameters: usize,
    data: String,
    /// Where the test set came from (a file, or a held-out split of `data`).
    test_data: String,
    model: String,
    batches: u64,
    samples: u64,
    epochs: u32,
    seconds: f64,
    /// `seconds` less validation and per-epoch scoring: the steps alone.
    train_seconds: f64,
    /// Spent scoring the test set after each epoch (--eval-every-epoch).
    epoch_eval_seconds: f64,
    epoch_scores: &'a [EpochScore],
    target: Option<Target>,
    diverged: Option<Divergence>,
    final_loss: Option<f64>,
    test_samples: u64,
    test_accuracy: f64,
    test_loss: f64,
    per_class: Vec<ClassScore>,
    history: &'a History,
}

/// The whole test set scored after an epoch.
#[derive(Serialize)]
struct EpochScore {
    epoch: u32,
    /// Training time up to the end of this epoch.
    train_seconds: f64,
    test_accuracy: f64,
    test_loss: f64,
}

/// The first epoch whose test accuracy reached `accuracy`, if any did.
#[derive(Serialize)]
struct Target {
    accuracy: f64,
    epoch: Option<u32>,
    train_seconds: Option<f64>,
}

impl Target {
    fn first(accuracy: f64, scores: &[EpochScore]) -> Target {
        let hit = scores.iter().find(|s| s.test_accuracy >= accuracy);
        Target {
            accuracy,
            epoch: hit.map(|s| s.epoch),
            train_seconds: hit.map(|s| s.train_seconds),
        }
    }
}

/// The run's configuration: the flags given, else the defaults for the kind of data
/// (the tutorial's for IDX; for a small table a relu layer, momentum and 100 epochs).
fn config(args: &TrainArgs, tabular: bool, classes: usize) -> Result<TrainConfig> {
    let t = tabular;
    let shape = &args.shape;
    let init = args.init.unwrap_or(if t {
        InitArg::He
    } else {
        InitArg::GlorotNormal
    });
    Ok(TrainConfig {
        hidden: shape
            .hidden
            .as_ref()
            .map_or(if t { vec![32] } else { vec![32, 256] }, |h| h.0.clone()),
        activation: shape
            .activation
            .unwrap_or(if t {
                ActivationArg::Relu
            } else {
                ActivationArg::Linear
            })
            .into(),
        classes,
        batch: shape.batch.unwrap_or(16) as usize,
        length: match (args.batches, args.epochs) {
            (_, Some(e)) => Length::Epochs(e),
            (Some(b), None) => Length::Batches(b),
            (None, None) if t => Length::Epochs(100),
            (None, None) => Length::Batches(100),
        },
        lr: args.lr.unwrap_or(if t { 0.05 } else { 0.15 }),
        // Momentum is SGD's: the small-table default 0.9 is not Adam's.
        momentum: args
            .momentum
            .unwrap_or(if t && args.optimizer == OptimizerArg::Sgd {
                0.9
            } else {
                0.0
            }),
        weight_decay: args.weight_decay,
        adam: (args.optimizer == OptimizerArg::Adam).then_some(AdamSettings {
            beta1: args.beta1,
            beta2: args.beta2,
            epsilon: args.epsilon,
        }),
        schedule: args
            .schedule
            .unwrap_or(if t {
                ScheduleArg::Cosine
            } else {
                ScheduleArg::Constant
            })
            .into(),
        init: init.into(),
        output_init: args.output_init.unwrap_or(init).into(),
        loss: args.loss.into(),
        from: args.from.as_deref().map(Model::load).transpose()?,
        train_layers: args.train_layers.map(|k| k as usize),
        seed: args.seed,
        val_every: args.val_every,
        val_size: args.val_size as usize,
    })
}

pub fn run(args: TrainArgs) -> Result<()> {
    let adam = args.optimizer == OptimizerArg::Adam;
    if adam && (args.momentum.is_some_and(|m| m != 0.0) || args.weight_decay != 0.0) {
        bail!("--momentum and --weight-decay are SGD's; Adam takes --beta1, --beta2 and --epsilon");
    }
    let mut inputs = data_inputs(&args.data);
    inputs.extend(args.from.clone());
    check_outputs(
        &[
            ("--out", Some(&args.out)),
            ("--plot", args.plot.as_deref()),
            ("--write-batches", args.write_batches.as_deref()),
        ],
        &inputs,
    )?;
    let data = prepare(
        &args.data.spec(),
        args.classes.map(|c| c as usize),
        args.scaling.map(Into::into),
        args.val_split,
        args.seed,
    )?;
    let cfg = config(&args, data.tabular, data.classes)?;
    let need = cfg.check_memory(data.train.input_size())?;
    if need > WARN_BYTES && !args.json {
        eprintln!(
            "warning: this network and batch need {} of memory",
            train::human_bytes(need)
        );
    }
    let mut work = work(&args, &cfg, &data)?;
    // The model remembers how its inputs were scaled, and its class names.
    work.trained.model.input = data.input.clone();
    let trained = &work.trained;
    // A diverged run never replaces a model already there (the default path is shared by
    // every run); its last finite model is saved only to a new file.
    let keep_old = trained.diverged.is_some() && args.out.exists();
    // The outputs are renamed into place together, after all are written.
    let mut outputs = Vec::new();
    if !keep_old {
        outputs.push(trained.model.stage(&args.out)?);
    }
    if let Some(path) = &args.write_batches {
        let order = crate::train::batch_order(&cfg, data.train.len(), trained.batches);
        let json = serde_json::to_vec(&order).map_err(|e| anyhow!("batch order: {e}"))?;
        outputs.push(atomic::stage(path, &json)?);
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{}, batch {}, lr {}, seed {}",
            describe(&trained.model.topology),
            cfg.batch,
            cfg.lr,
            cfg.seed
        );
        outputs.push(plot::training_curves(
            path,
            &trained.history,
            &work.marks,
            &title,
        )?);
    }
    atomic::commit_all(outputs)?;
    let eval = evaluate(&trained.model, &*data.test, None);
    report(&args, &cfg, &data, &work, &eval, !keep_old)?;
    match trained.diverged {
        Some(d) if keep_old => Err(anyhow!(
            "{}: training diverged at batch {} (loss NaN or infinite); the model already there \
             was left as it was (give a new --out to keep the last finite model)",
            args.out.display(),
            d.batch
        )),
        Some(d) => Err(anyhow!(
            "{}: training diverged at batch {} (loss NaN or infinite); saved the last model \
             with a finite loss, after {} batches",
            args.out.display(),
            d.batch,
            d.kept_after
        )),
        None => Ok(()),
    }
}

/// A finished run and the test scores taken after its epochs.
struct Work {
    trained: Trained,
    scores: Vec<EpochScore>,
    /// Where each epoch ended, for the plot.
    marks: Vec<EpochMark>,
    /// Spent on `scores`.
    eval_time: Duration,
}

/// Trains with a progress bar, scoring the test set after each epoch when asked.
fn work(args: &TrainArgs, cfg: &TrainConfig, data: &Prepared) -> Result<Work> {
    let (train, test) = (&*data.train, &*data.test);
    let total = cfg.total_batches(train.len());
    let bar = progress_bar(total, "batches", args.quiet || args.json);
    let mut smoothed: Option<f32> = None;
    let mut last_val = None;
    let per_epoch = args.eval_every_epoch || args.target_accuracy.is_some();
    let (mut scores, mut eval_time) = (Vec::new(), Duration::ZERO);
    let (mut at, mut marks) = (0, Vec::new());
    let trained = train::train(cfg, train, Some(data.val()), &mut |event| match event {
        Event::Step { batch, loss, lr } => {
            at = batch;
            // Exponential moving average: a single batch's loss jumps around.
            let s = smoothed.map_or(loss, |s| 0.9 * s + 0.1 * loss);
            smoothed = Some(s);
            bar.set_position(batch);
            let val = last_val.map_or(String::new(), |a: f64| format!("  val acc {a:.3}"));
            bar.set_message(format!("loss {}{val}  lr {lr:.4}", loss_text(f64::from(s))));
        }
        Event::Val(p) => last_val = Some(p.accuracy),
        Event::Epoch {
            epoch,
            model,
            train_time,
        } => {
            let mut test_accuracy = None;
            if per_epoch {
                let started = Instant::now();
                let e = evaluate(model, test, None);
                eval_time += started.elapsed();
                test_accuracy = Some(e.accuracy());
                scores.push(EpochScore {
                    epoch,
                    train_seconds: train_time.as_secs_f64(),
                    test_accuracy: e.accuracy(),
                    test_loss: e.loss,
                });
            }
            marks.push(EpochMark {
                batch: at,
                test_accuracy,
            });
        }
    })?;
    bar.finish_and_clear();
    Ok(Work {
        trained,
        scores,
        marks,
        eval_time,
    })
}

/// The summary on stdout: JSON or text.
fn report(
    args: &TrainArgs,
    cfg: &TrainConfig,
    data: &Prepared,
    work: &Work,
    eval: &Evaluation,
    saved: bool,
) -> Result<()> {
    let (outcome, scores) = (&work.trained, &work.scores);
    let losses = &outcome.history.loss;
    let tail = &losses[losses.len().saturating_sub(TAIL)..];
    let final_loss = (!tail.is_empty())
        .then(|| tail.iter().map(|&l| f64::from(l)).sum::<f64>() / tail.len() as f64);
    let target = args.target_accuracy.map(|a| Target::first(a, scores));
    if args.json {
        return emit_json(&Report {
            config: cfg,
            network: describe(&outcome.model.topology),
            parameters: outcome.model.params.len(),
            data: data.data.clone(),
            test_data: data.test_from.clone(),
            model: args.out.display().to_string(),
            batches: outcome.batches,
            samples: outcome.samples,
            epochs: outcome.epochs,
            seconds: outcome.elapsed.as_secs_f64(),
            train_seconds: outcome.train_time.as_secs_f64(),
            epoch_eval_seconds: work.eval_time.as_secs_f64(),
            epoch_scores: scores,
            target,
            diverged: outcome.diverged,
            final_loss,
            test_samples: eval.total(),
            test_accuracy: eval.accuracy(),
            test_loss: eval.loss,
            per_class: eval.per_class(),
            history: &outcome.history,
        });
    }
    let optimizer = if let Some(a) = cfg.adam {
        format!(
            "Adam (beta1 {}, beta2 {}, epsilon {})",
            a.beta1, a.beta2, a.epsilon
        )
    } else if cfg.momentum == 0.0 && cfg.weight_decay == 0.0 {
        "SGD".to_string()
    } else {
        format!(
            "SGD (momentum {}, weight decay {})",
            cfg.momentum, cfg.weight_decay
        )
    };
    let mut init = format!("{} init", cfg.init.name());
    if cfg.output_init != cfg.init {
        init += &format!(", {} output", cfg.output_init.name());
    }
    if let Some(from) = &args.from {
        init = format!("starting from {}", from.display());
    }
    if let Some(k) = cfg.train_layers {
        init += &format!(", training the last {k} layer(s) only");
    }
    let optimizer = format!("{optimizer}, {} loss", cfg.loss.name());
    let mut text = format!(
        "network   {} with {} parameters, {init}\n\
         training  {} batches of {} ({:.2} epochs) on {} examples, lr {} ({}), {optimizer}, seed {}: {:.2} s\n",
        describe(&outcome.model.topology),
        outcome.model.params.len(),
        outcome.batches,
        cfg.batch,
        outcome.samples as f64 / data.train.len() as f64,
        data.train.len(),
        cfg.lr,
        cfg.schedule.name(),
        cfg.seed,
        outcome.elapsed.as_secs_f64(),
    );
    if let Some(l) = final_loss {
        text.push_str(&format!(
            "loss      {} (mean of the last {} batches)",
            loss_text(l),
            tail.len()
        ));
        let val = &outcome.history.val;
        let recent = &val[val.len().saturating_sub(TAIL)..];
        if !recent.is_empty() {
            let acc = recent.iter().map(|p| p.accuracy).sum::<f64>() / recent.len() as f64;
            text.push_str(&format!(
                ", validation accuracy {acc:.3} (mean of the last {} validation batches)",
                recent.len()
            ));
        }
        text.push('\n');
    }
    if args.eval_every_epoch || args.target_accuracy.is_some() {
        text.push_str(&epochs_line(scores, target.as_ref(), outcome.train_time));
    }
    text.push_str(&format!(
        "test      accuracy {:.4} on {} examples ({})\n{}     {}\n",
        eval.accuracy(),
        eval.total(),
        data.test_from,
        if saved { "saved" } else { "kept " },
        args.out.display()
    ));
    if let Some(p) = &args.plot {
        text.push_str(&format!(
            "plot      {}: loss per batch, validation accuracy, epoch ends{}\n",
            p.display(),
            if scores.is_empty() {
                ""
            } else {
                ", test accuracy after each epoch"
            }
        ));
    }
    emit(&text)
}

/// A loss for people: four decimals, or three significant digits and an exponent when it
/// is huge (a diverging run) or tiny.
fn loss_text(l: f64) -> String {
    if l.is_finite() && l != 0.0 && !(1e-4..1e5).contains(&l.abs()) {
        format!("{l:.3e}")
    } else {
        format!("{l:.4}")
    }
}

/// `epochs    test accuracy after each: 0.9611 0.9702 …; 0.98 first after epoch 5 (…)`.
fn epochs_line(scores: &[EpochScore], target: Option<&Target>, train_time: Duration) -> String {
    let accs: Vec<String> = scores
        .iter()
        .map(|s| format!("{:.4}", s.test_accuracy))
        .collect();
    let mut line = format!(
        "epochs    test accuracy after each: {}",
        if accs.is_empty() {
            "none completed".to_string()
        } else {
            accs.join(" ")
        }
    );
    match target {
        Some(Target {
            accuracy,
            epoch: Some(e),
            train_seconds: Some(t),
        }) => line.push_str(&format!(
            "; {accuracy} first reached after epoch {e}, {t:.2} s of training"
        )),
        Some(t) => line.push_str(&format!("; {} not reached", t.accuracy)),
        None => {}
    }
    line.push_str(&format!(
        " ({:.2} s of training steps in all, scoring excluded)\n",
        train_time.as_secs_f64()
    ));
    line
}

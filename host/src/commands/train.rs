use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use super::{check_outputs, data_files, emit, emit_json, progress_bar};
use crate::atomic;
use crate::cli::{OptimizerArg, TrainArgs};
use crate::data::idx::{self, Split};
use crate::data::Data;
use crate::eval::{evaluate, ClassScore, Evaluation};
use crate::model::{describe, Model};
use crate::plot;
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

fn config(args: &TrainArgs) -> Result<TrainConfig> {
    Ok(TrainConfig {
        hidden: args.shape.hidden.0.clone(),
        activation: args.shape.activation.into(),
        classes: args.classes as usize,
        batch: args.shape.batch as usize,
        length: match (args.batches, args.epochs) {
            (_, Some(e)) => Length::Epochs(e),
            (Some(b), None) => Length::Batches(b),
            (None, None) => Length::Batches(100),
        },
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        adam: (args.optimizer == OptimizerArg::Adam).then_some(AdamSettings {
            beta1: args.beta1,
            beta2: args.beta2,
            epsilon: args.epsilon,
        }),
        schedule: args.schedule.into(),
        init: args.init.into(),
        output_init: args.output_init.unwrap_or(args.init).into(),
        loss: args.loss.into(),
        from: args.from.as_deref().map(Model::load).transpose()?,
        seed: args.seed,
        val_every: args.val_every,
        val_size: args.val_size as usize,
    })
}

pub fn run(args: TrainArgs) -> Result<()> {
    if args.optimizer == OptimizerArg::Adam && (args.momentum != 0.0 || args.weight_decay != 0.0) {
        bail!("--momentum and --weight-decay are SGD's; Adam takes --beta1, --beta2 and --epsilon");
    }
    let cfg = config(&args)?;
    let (dir, train, test) = load(&args, &cfg)?;
    let work = work(&args, &cfg, &train, &test)?;
    let trained = &work.trained;
    // The outputs are renamed into place together, after all are written.
    let mut outputs = vec![trained.model.stage(&args.out)?];
    if let Some(path) = &args.write_batches {
        let order = crate::train::batch_order(&cfg, train.len(), trained.batches);
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
        outputs.push(plot::training_curves(path, &trained.history, &title)?);
    }
    atomic::commit_all(outputs)?;
    let eval = evaluate(&trained.model, &test.set, None);
    report(&args, &cfg, &dir, &train, &work, &eval)?;
    match trained.diverged {
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

/// The training and test sets, checked against the configuration and each other, after
/// the outputs and the memory the run needs.
fn load(args: &TrainArgs, cfg: &TrainConfig) -> Result<(PathBuf, Data, Data)> {
    let dir = idx::data_dir(args.data.data.as_deref());
    let mut inputs = data_files(&dir, &[Split::Train, Split::Test]);
    inputs.extend(args.from.clone());
    check_outputs(
        &[
            ("--out", Some(&args.out)),
            ("--plot", args.plot.as_deref()),
            ("--write-batches", args.write_batches.as_deref()),
        ],
        &inputs,
    )?;
    let train = Data::load(&dir, Split::Train)?;
    let test = Data::load(&dir, Split::Test)?;
    train.check_labels(cfg.classes)?;
    test.check_labels(cfg.classes)?;
    let (a, b) = (&train.set.images, &test.set.images);
    if (a.rows, a.cols) != (b.rows, b.cols) {
        return Err(anyhow!(
            "{}: the training images are {}x{} but the test images are {}x{}",
            dir.display(),
            a.rows,
            a.cols,
            b.rows,
            b.cols
        ));
    }
    let need = cfg.check_memory(train.set.input_size())?;
    if need > WARN_BYTES && !args.json {
        eprintln!(
            "warning: this network and batch need {} of memory",
            train::human_bytes(need)
        );
    }
    Ok((dir, train, test))
}

/// A finished run and the test scores taken after its epochs.
struct Work {
    trained: Trained,
    scores: Vec<EpochScore>,
    /// Spent on `scores`.
    eval_time: Duration,
}

/// Trains with a progress bar, scoring the test set after each epoch when asked.
fn work(args: &TrainArgs, cfg: &TrainConfig, train: &Data, test: &Data) -> Result<Work> {
    let total = cfg.total_batches(train.len());
    let bar = progress_bar(total, "batches", args.quiet || args.json);
    let mut smoothed: Option<f32> = None;
    let mut last_val = None;
    let per_epoch = args.eval_every_epoch || args.target_accuracy.is_some();
    let (mut scores, mut eval_time) = (Vec::new(), Duration::ZERO);
    let trained = train::train(cfg, &train.set, Some(&test.set), &mut |event| match event {
        Event::Step { batch, loss, lr } => {
            // Exponential moving average: a single batch's loss jumps around.
            let s = smoothed.map_or(loss, |s| 0.9 * s + 0.1 * loss);
            smoothed = Some(s);
            bar.set_position(batch);
            let val = last_val.map_or(String::new(), |a: f64| format!("  val acc {a:.3}"));
            bar.set_message(format!("loss {s:.4}{val}  lr {lr:.4}"));
        }
        Event::Val(p) => last_val = Some(p.accuracy),
        Event::Epoch {
            epoch,
            model,
            train_time,
        } if per_epoch => {
            let started = Instant::now();
            let e = evaluate(model, &test.set, None);
            eval_time += started.elapsed();
            scores.push(EpochScore {
                epoch,
                train_seconds: train_time.as_secs_f64(),
                test_accuracy: e.accuracy(),
                test_loss: e.loss,
            });
        }
        Event::Epoch { .. } => {}
    })?;
    bar.finish_and_clear();
    Ok(Work {
        trained,
        scores,
        eval_time,
    })
}

/// The summary on stdout: JSON or text.
fn report(
    args: &TrainArgs,
    cfg: &TrainConfig,
    dir: &Path,
    train: &Data,
    work: &Work,
    eval: &Evaluation,
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
            data: dir.display().to_string(),
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
    let optimizer = format!("{optimizer}, {} loss", cfg.loss.name());
    let mut text = format!(
        "network   {} with {} parameters, {init}\n\
         training  {} batches of {} ({:.2} epochs) on {} images, lr {} ({}), {optimizer}, seed {}: {:.2} s\n",
        describe(&outcome.model.topology),
        outcome.model.params.len(),
        outcome.batches,
        cfg.batch,
        outcome.samples as f64 / train.len() as f64,
        train.len(),
        cfg.lr,
        cfg.schedule.name(),
        cfg.seed,
        outcome.elapsed.as_secs_f64(),
    );
    if let Some(l) = final_loss {
        text.push_str(&format!(
            "loss      {l:.4} (mean of the last {} batches)",
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
        "test      accuracy {:.4} on {} images ({})\nsaved     {}\n",
        eval.accuracy(),
        eval.total(),
        dir.display(),
        args.out.display()
    ));
    emit(&text)
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

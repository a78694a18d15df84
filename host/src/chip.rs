//! The chip's training replayed on the PC: the steps the firmware's `train` and `finetune`
//! programs take (firmware/src/bin/), from the same initial weights, on the same batches
//! in the same order, with the same optimizer, so that the weights after N steps can be
//! compared with the chip's bit for bit: its digest (CRC-32 of the trained parameters'
//! f32 bytes, `microdense::digest::params_crc`) or the blob it wrote back.
//!
//! A board's training set-up is read from its board.toml as the firmware's build reads it;
//! the two programs' fixed settings (seeds, the fine-tuning shift, batch, epochs, rates)
//! are repeated here, and a replay that drifts from them fails the digest test
//! (tests/tests/chip_replay.rs).
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use microdense::{
    digest::params_crc, rng::Rng, sizes, Activation, Adam, Init, Layer, Network, Sgd, Topology,
    Trainer,
};

use crate::data::scaled;
use crate::model::bundle::BundleView;
use crate::model::Model;

/// The firmware program whose steps are replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `train`: a fresh 2-layer net trained with SGD on the bundle's training digits.
    Train,
    /// `finetune`: the model's output layer trained with Adam on shifted digits.
    Finetune,
}

/// firmware/src/bin/train.rs's seed (weights and shuffles).
const TRAIN_SEED: u64 = 2024;

/// firmware/src/bin/finetune.rs's settings.
mod finetune {
    /// Every digit moved this many pixels right and down.
    pub const SHIFT: (usize, usize) = (4, 3);
    pub const SIDE: usize = 28;
    pub const BATCH: usize = 8;
    pub const EPOCHS: usize = 4;
    pub const SEED: u64 = 7;
    /// Adam's rate on full-resolution digits, and on pooled ones (a smaller model).
    pub const LR_FULL: f32 = 0.002;
    pub const LR_POOLED: f32 = 0.02;
}

/// What a replay needs from a board's board.toml: its `[train]` table.
#[derive(Clone, Debug)]
pub struct BoardSetup {
    pub name: String,
    /// Side of the pooling window of its training and held-out digits (1: none).
    pub pool: usize,
    pub hidden: usize,
    pub batch: usize,
    pub sgd: Sgd,
    pub epochs: usize,
}

impl BoardSetup {
    /// Reads `board`: a board.toml, a board's folder, or a board's name under
    /// `boards` (firmware/boards).
    pub fn read(board: &str, boards: &Path) -> Result<BoardSetup> {
        let given = Path::new(board);
        let path = if given.is_file() {
            given.to_path_buf()
        } else if given.join("board.toml").is_file() {
            given.join("board.toml")
        } else {
            boards.join(board).join("board.toml")
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read the board", path.display()))?;
        let name = path
            .parent()
            .and_then(Path::file_name)
            .map_or(board.to_string(), |n| n.to_string_lossy().into_owned());
        Self::parse(&name, &text).map_err(|e| anyhow!("{}: {e}", path.display()))
    }

    fn parse(name: &str, text: &str) -> Result<BoardSetup> {
        let table: toml::Table = text.parse().map_err(|e| anyhow!("{e}"))?;
        let train = table
            .get("train")
            .and_then(toml::Value::as_table)
            .ok_or_else(|| anyhow!("no [train] table"))?;
        let count = |key: &str| -> Result<usize> {
            train
                .get(key)
                .and_then(toml::Value::as_integer)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| anyhow!("[train] `{key}` is not a positive integer"))
        };
        // As the firmware's build does: the number's shortest f64 text read as an f32
        // literal (not the f64 rounded to f32, which can differ by double rounding).
        let float = |key: &str| -> Result<f32> {
            let v = train
                .get(key)
                .ok_or_else(|| anyhow!("[train] has no `{key}`"))?;
            let x = v
                .as_float()
                .or(v.as_integer().map(|n| n as f64))
                .ok_or_else(|| anyhow!("[train] `{key}` is not a number"))?;
            format!("{x:?}")
                .parse()
                .map_err(|e| anyhow!("[train] `{key}`: {e}"))
        };
        let (rate, momentum) = (float("rate")?, float("momentum")?);
        Ok(BoardSetup {
            name: name.to_string(),
            pool: count("pool")?,
            hidden: count("hidden")?,
            batch: count("batch")?,
            sgd: if momentum == 0.0 {
                Sgd::new(rate)
            } else {
                Sgd::new(rate).with_momentum(momentum)
            },
            epochs: count("epochs")?,
        })
    }
}

/// A replayed run: the trained model, where its trained parameters start, and the steps.
#[derive(Clone, Debug)]
pub struct Replay {
    pub model: Model,
    /// The first trained layer (0 for `train`).
    pub first: usize,
    /// Parameters below this index were frozen (0 for `train`).
    pub split: usize,
    pub steps: usize,
}

impl Replay {
    /// The trained parameters (the chip's digest covers these).
    pub fn trained(&self) -> &[f32] {
        &self.model.params[self.split..]
    }

    /// The chip's digest of them.
    pub fn digest(&self) -> u32 {
        params_crc(&[self.trained()])
    }
}

/// Digits as a board's training program sees them: `count` images of `rows`×`cols`.
#[derive(Clone, Debug)]
pub struct Digits {
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Digits {
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }

    fn pooled(images: &[u8], labels: &[u8], rows: usize, cols: usize, p: usize) -> Digits {
        let (r, c) = (rows / p, cols / p);
        let mut pixels = vec![0u8; labels.len() * r * c];
        for (digit, out) in images
            .chunks_exact(rows * cols)
            .zip(pixels.chunks_exact_mut(r * c))
        {
            microdense::bundle::pool(digit, rows, cols, p, out);
        }
        Digits {
            rows: r,
            cols: c,
            pixels,
            labels: labels.to_vec(),
        }
    }

    /// Each digit moved by finetune's shift at 28×28 (a pooled one read back at 28×28).
    fn shifted(&self) -> Digits {
        let side = finetune::SIDE;
        let mut pixels = vec![0u8; self.labels.len() * side * side];
        for (i, out) in pixels.chunks_exact_mut(side * side).enumerate() {
            shift(self.image(i), out);
        }
        Digits {
            rows: side,
            cols: side,
            pixels,
            labels: self.labels.clone(),
        }
    }
}

/// finetune.rs's `shifted`, in pixels: `pixels` (28×28, or 14×14 read at 28×28) moved
/// right and down, zeros entering at the top and left.
fn shift(pixels: &[u8], out: &mut [u8]) {
    let (side, (dx, dy)) = (finetune::SIDE, finetune::SHIFT);
    let pooled = pixels.len() * 4 == side * side;
    for (k, o) in out.iter_mut().enumerate() {
        let (r, c) = (k / side, k % side);
        let p = match (r.checked_sub(dy), c.checked_sub(dx)) {
            (Some(r), Some(c)) if pooled => pixels.get(r / 2 * side / 2 + c / 2),
            (Some(r), Some(c)) => pixels.get(r * side + c),
            _ => None,
        };
        *o = p.copied().unwrap_or(0);
    }
}

/// The bundle's training digits as the board's build embeds them (pooled per board.toml).
pub fn training_digits(bundle: &BundleView, board: &BoardSetup) -> Digits {
    let p = board.pool;
    Digits::pooled(
        bundle.train_images,
        bundle.train_labels,
        bundle.rows,
        bundle.cols,
        p,
    )
}

/// The digits `program` trains on, as it feeds them to its network: the bundle's training
/// digits pooled per board.toml, and for `finetune` shifted (which also calibrates its
/// on-chip int8 model on them, in order).
pub fn trained_digits(program: Program, bundle: &BundleView, board: &BoardSetup) -> Digits {
    let digits = training_digits(bundle, board);
    match program {
        Program::Train => digits,
        Program::Finetune => digits.shifted(),
    }
}

/// The held-out digits a program scores, as it feeds them to its network: `train`'s are
/// the test digits pooled like its training digits; `finetune`'s are the test digits
/// (pooled on a board that pools, then read back at 28×28) shifted.
pub fn held_out_digits(program: Program, bundle: &BundleView, board: &BoardSetup) -> Digits {
    let (rows, cols) = (bundle.rows, bundle.cols);
    let pooled = Digits::pooled(
        bundle.test_images,
        bundle.test_labels,
        rows,
        cols,
        board.pool,
    );
    match program {
        Program::Train => pooled,
        Program::Finetune => pooled.shifted(),
    }
}

/// Replays `program`'s training steps on `board` with `bundle` (the one its build
/// embedded); `weights` is the model in the WEIGHTS region, if one was loaded
/// (`finetune` takes it before the compiled-in one).
pub fn replay(
    program: Program,
    bundle: &BundleView,
    board: &BoardSetup,
    weights: Option<&Model>,
) -> Result<Replay> {
    let digits = trained_digits(program, bundle, board);
    if digits.labels.is_empty() {
        bail!("the bundle has no training digits (export with --train-digits K)");
    }
    match program {
        Program::Train => replay_train(&digits, bundle.classes, board),
        Program::Finetune => {
            let model = match weights {
                Some(m) => m.clone(),
                None if board.pool == 1 => bundle_model(bundle)?,
                None => bail!(
                    "{}'s finetune takes its model from the WEIGHTS region: give it (--weights)",
                    board.name
                ),
            };
            replay_finetune(&digits, model, board.pool == 1)
        }
    }
}

/// The bundle's compiled-in model (f32 only: the programs train f32 weights).
pub fn bundle_model(bundle: &BundleView) -> Result<Model> {
    Model::from_bytes(Path::new("the bundle's model"), bundle.blob)
}

/// Steps over `digits` in `epochs` reshuffles (seeded `seed`) of their order, `batch` at
/// a time (the last batch of an epoch may be smaller); returns the steps taken.
fn epochs(
    digits: &Digits,
    (batch, epochs, seed): (usize, usize, u64),
    mut step: impl FnMut(&[f32], &[u8]) -> Result<(), microdense::Error>,
) -> Result<usize> {
    let size = digits.rows * digits.cols;
    let mut order: Vec<u32> = (0..digits.labels.len() as u32).collect();
    let mut rng = Rng::new(seed);
    let (mut x, mut y) = (vec![0.0f32; batch * size], vec![0u8; batch]);
    let mut steps = 0;
    for _ in 0..epochs {
        rng.shuffle(&mut order);
        for chunk in order.chunks(batch) {
            for ((&k, x), y) in chunk.iter().zip(x.chunks_exact_mut(size)).zip(&mut y) {
                // pixel / 255, as the firmware's `to_input`.
                for (x, v) in x.iter_mut().zip(scaled(digits.image(k as usize))) {
                    *x = v;
                }
                *y = digits.labels[k as usize];
            }
            let n = chunk.len();
            step(&x[..n * size], &y[..n]).map_err(|e| anyhow!("step {}: {e}", steps + 1))?;
            steps += 1;
        }
    }
    Ok(steps)
}

fn replay_train(digits: &Digits, classes: usize, board: &BoardSetup) -> Result<Replay> {
    let layers = [
        Layer::new(board.hidden, Activation::Relu),
        Layer::new(classes, Activation::Softmax),
    ];
    let input = digits.rows * digits.cols;
    let t = Topology::new(input, &layers)?;
    let mut net = Network::new(t.clone(), vec![0.0f32; t.params_len()])?;
    net.init(Init::GlorotNormal, TRAIN_SEED);
    let mut scratch = vec![0.0f32; t.train_scratch_len(board.batch)];
    let velocity_len = if board.sgd.momentum != 0.0 {
        t.optimizer_len()
    } else {
        0
    };
    let mut velocity = vec![0.0f32; velocity_len];
    let mut trainer = Trainer::new(&t, board.batch, board.sgd, &mut scratch, &mut velocity)?;
    let setup = (board.batch, board.epochs, TRAIN_SEED);
    let steps = epochs(digits, setup, |x, y| {
        trainer.step(&mut net, x, y).map(|_| ())
    })?;
    let (t, params) = net.into_parts();
    Ok(Replay {
        model: Model {
            topology: t,
            params,
            input: None,
        },
        first: 0,
        split: 0,
        steps,
    })
}

fn replay_finetune(digits: &Digits, mut model: Model, full: bool) -> Result<Replay> {
    let t = model.topology.clone();
    if t.input() != digits.rows * digits.cols {
        bail!(
            "finetune trains a {}-input model on 28x28 digits; this one takes {} inputs",
            finetune::SIDE * finetune::SIDE,
            t.input()
        );
    }
    let (input, layers) = (t.input(), t.layers());
    let first = layers.len() - 1;
    let batch = finetune::BATCH;
    let lr = if full {
        finetune::LR_FULL
    } else {
        finetune::LR_POOLED
    };
    let mut scratch = vec![0.0f32; sizes::tail_train_scratch_len(input, layers, batch, first)];
    let mut state = vec![0.0f32; sizes::tail_optimizer_len(input, layers, first, true)];
    let mut trainer = Trainer::tail(&t, batch, first, Adam::new(lr), &mut scratch, &mut state)?;
    let split = t.params_len() - sizes::tail_params_len(input, layers, first);
    let (frozen, trained) = model.params.split_at_mut(split);
    let setup = (batch, finetune::EPOCHS, finetune::SEED);
    let steps = epochs(digits, setup, |x, y| {
        trainer.step_split(frozen, trained, x, y).map(|_| ())
    })?;
    Ok(Replay {
        model,
        first,
        split,
        steps,
    })
}

/// Where two parameter vectors of `topology` first differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// The layer (0-based) and the index within its parameters (weights row by row, then
    /// biases).
    pub layer: usize,
    pub index: usize,
    pub chip: f32,
    pub host: f32,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layer {} parameter {}: chip {:e} ({:#010x}), host {:e} ({:#010x})",
            self.layer,
            self.index,
            self.chip,
            self.chip.to_bits(),
            self.host,
            self.host.to_bits()
        )
    }
}

/// The first parameter whose bits differ between `chip` and `host` (both laid out for
/// `topology`), or `None` when all are equal.
pub fn first_difference(topology: &Topology, chip: &[f32], host: &[f32]) -> Option<Difference> {
    let at = chip
        .iter()
        .zip(host)
        .position(|(a, b)| a.to_bits() != b.to_bits())?;
    let mut start = 0;
    for layer in 0..topology.layers().len() {
        let len = (topology.fan_in(layer) + 1) * topology.layers()[layer].units;
        if at < start + len {
            return Some(Difference {
                layer,
                index: at - start,
                chip: chip[at],
                host: host[at],
            });
        }
        start += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOARD: &str =
        "[train]\npool = 2\nhidden = 4\nbatch = 3\nrate = 0.1\nmomentum = 0.9\nepochs = 2\n";

    #[test]
    fn board_setup_reads_the_train_table() {
        let b = BoardSetup::parse("x", BOARD).unwrap();
        assert_eq!((b.pool, b.hidden, b.batch, b.epochs), (2, 4, 3, 2));
        assert_eq!((b.sgd.lr, b.sgd.momentum), (0.1, 0.9));
        let e = BoardSetup::parse("x", &BOARD.replace("pool = 2", "pool = 0")).unwrap_err();
        assert!(
            e.to_string().contains("`pool` is not a positive integer"),
            "{e}"
        );
    }

    #[test]
    fn shift_moves_right_and_down_and_reads_pooled_digits_at_28() {
        let mut digit = vec![0u8; 784];
        digit[0] = 200;
        let mut out = vec![1u8; 784];
        shift(&digit, &mut out);
        assert_eq!(out[3 * 28 + 4], 200);
        assert_eq!(out.iter().filter(|&&p| p != 0).count(), 1);
        let mut small = vec![0u8; 196];
        small[0] = 90;
        shift(&small, &mut out);
        // A pooled pixel covers 2x2 pixels at 28x28.
        let lit: Vec<usize> = (0..784).filter(|&k| out[k] == 90).collect();
        assert_eq!(lit, [3 * 28 + 4, 3 * 28 + 5, 4 * 28 + 4, 4 * 28 + 5]);
    }

    #[test]
    fn first_difference_names_the_layer_and_index() {
        let t = Topology::new(
            2,
            &[
                Layer::new(3, Activation::Relu),
                Layer::new(2, Activation::Softmax),
            ],
        )
        .unwrap();
        let host: Vec<f32> = (0..t.params_len()).map(|i| i as f32).collect();
        assert_eq!(first_difference(&t, &host, &host), None);
        let mut chip = host.clone();
        chip[9 + 4] = -1.0; // layer 0 has (2 + 1) · 3 = 9 parameters
        let d = first_difference(&t, &chip, &host).unwrap();
        assert_eq!((d.layer, d.index, d.chip, d.host), (1, 4, -1.0, 13.0));
        // -0.0 and 0.0 are different bits.
        let (a, b) = (vec![0.0f32; 17], {
            let mut v = vec![0.0f32; 17];
            v[0] = -0.0;
            v
        });
        assert_eq!(first_difference(&t, &a, &b).unwrap().index, 0);
    }
}

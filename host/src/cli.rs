//! Command-line syntax (clap derive). Defaults reproduce the tutorial's first
//! configuration: 784→32→256→10, linear hidden layers, batch 16, 100 batches, lr 0.15.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use microdense::{loss::Loss, Activation, Init};

use crate::data::csv::{CsvOptions, Header, LabelColumn};
use crate::data::source::{DataSpec, Format};
use crate::data::table::ScaleKind;
use crate::train::Schedule;

#[derive(Debug, Parser)]
#[command(
    name = "microdense",
    version,
    about = "Train, evaluate and export small dense networks on MNIST-style IDX data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download MNIST (gzip IDX files, MD5-checked) into a directory.
    Fetch(FetchArgs),
    /// Train a network and save it in the weights format.
    ///
    /// Batches are drawn from a fresh shuffle of the training set every epoch; pixels are
    /// scaled to [0, 1]. At the end the model is scored on the whole test set and saved
    /// (temporary file, then rename). If a batch's loss is NaN or infinite, training stops:
    /// the model saved is the last one whose loss was measured finite (the weights from
    /// before the previous step), the summary is printed, and the exit code is 1.
    Train(TrainArgs),
    /// Score a saved model on the test set: accuracy, per class, confusion matrix.
    Eval(EvalArgs),
    /// Rerun the tutorial's four configurations over several seeds.
    Reproduce(ReproduceArgs),
    /// Train core (f32) and an independent f64 reference side by side and compare.
    ///
    /// Both start from the same weights and see the same MNIST batches (the tutorial's
    /// configuration). Prints the largest relative deviation of the loss (per step,
    /// |core − ref| / max(|ref|, 1e-3)) and of the weights (per layer, max |core − ref| /
    /// max |ref|), and exits with 1 when either exceeds --tolerance.
    Check(CheckArgs),
    /// Export a model and test digits for the firmware.
    Export(ExportArgs),
    /// Quantize an f32 model to int8 (post-training, calibrated on training images).
    ///
    /// Weights become int8 (symmetric, a scale per output unit), biases i32, hidden
    /// activations int8 with a scale and zero point per layer from the range seen on N
    /// training images, and each unit's output is requantized by an integer multiplier and
    /// shift: inference is integer-only. The output layer yields i32 values at one scale
    /// (the softmax, when wanted, runs on their dequantized values). Prints what was chosen
    /// per layer and the accuracy of both models on the test set; saves the int8 model in
    /// the weights format (element type int8), which `eval` and `export --firmware` take.
    Quantize(QuantizeArgs),
    /// Import a TensorFlow.js Layers model (model.json and its weight shards).
    ImportTfjs(ImportTfjsArgs),
    /// Export a model as TensorFlow.js Layers files (model.json, model.weights.bin).
    ExportTfjs(ExportTfjsArgs),
    /// Import an ONNX model: a chain of Gemm or MatMul+Add layers with Relu, Sigmoid, Tanh,
    /// a Softmax output, Flatten/Reshape of the input, Identity/Dropout (f32 model).
    ImportOnnx(ImportArgs),
    /// Import a TFLite model: FULLY_CONNECTED layers (fused RELU), RESHAPE, SOFTMAX,
    /// QUANTIZE/DEQUANTIZE at the edges. Float models become f32 models; full-integer
    /// int8 models become int8 models computing TFLite's integers bit for bit.
    ImportTflite(ImportArgs),
    /// Export an f32 model as ONNX (Gemm and activations, opset 13).
    ExportOnnx(ExportOnnxArgs),
    /// Measure training throughput (samples per second) on the training set.
    ///
    /// Timed per step: drawing the batch's indices from a shuffled order, copying those
    /// rows of the training set (scaled to [0, 1] beforehand) into one batch, and the
    /// training step (forward, softmax cross-entropy, backward, SGD update). Loading and
    /// scaling the data are not timed. A warm-up of about 0.5 s comes first; every repeat
    /// then starts from the same initial weights and shuffle. Reports the median of the
    /// repeats. One thread. bench/pytorch/bench.py times PyTorch the same way.
    Bench(BenchArgs),
    /// Classify single inputs: CSV rows (`-`: from stdin), an .npy, images (PNG, PGM of
    /// any size, brought to the model's input as MNIST's digits were: docs/datasets.md),
    /// or an IDX images file. Prints the class (its name when the model has names) and
    /// the top-k probabilities. f32 and int8 models.
    Predict(PredictArgs),
    /// Replay a firmware training program's steps (`train`, `finetune`) on the PC and
    /// compare the weights with the chip's bit for bit.
    ///
    /// Same initial weights, batches, order, rates and optimizer as the program on the
    /// board (its board.toml) built with the bundle. Prints the replay's digest (CRC-32 of
    /// the trained parameters' f32 bytes) as the chip prints its own; with --digest or
    /// --chip (the blob the chip wrote back) any difference exits 1, naming the first
    /// differing layer and parameter.
    ReplayChip(ReplayChipArgs),
}

#[derive(Debug, Args)]
pub struct ReplayChipArgs {
    /// The firmware bundle the program was built with.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The board: a name under firmware/boards, a board folder or its board.toml.
    #[arg(long, value_name = "BOARD")]
    pub board: String,
    /// The program replayed.
    #[arg(long, value_enum, default_value_t = ChipProgram::Train)]
    pub program: ChipProgram,
    /// The model loaded into the WEIGHTS region, if any (finetune takes it first).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// The digest the chip printed (`digest: CRC-32 0x…`).
    #[arg(long, value_name = "HEX", value_parser = parse_digest)]
    pub digest: Option<u32>,
    /// The trained model the chip wrote back (train.mdw, finetune.mdw).
    #[arg(long, value_name = "FILE")]
    pub chip: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChipProgram {
    Train,
    Finetune,
}

fn parse_digest(s: &str) -> Result<u32, String> {
    let hex = s.trim_start_matches("0x").trim_start_matches("0X");
    u32::from_str_radix(hex, 16).map_err(|e| format!("not a 32-bit hex number: {e}"))
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model file (f32 or int8).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Inputs: CSV files, .npy, .png/.pgm images, IDX image files, or `-` (CSV on stdin).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// How many of the most probable classes to print.
    #[arg(long, short = 'k', default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub top: u32,
    /// One JSON array of predictions on stdout.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV on stdout: input, class, probability, then the next best classes.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct ImportTfjsArgs {
    /// The model.json of a TF.js Layers model (shards are found beside it).
    #[arg(value_name = "MODEL_JSON")]
    pub model_json: PathBuf,
    /// The model file to write (weights format).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The model to read (.onnx or .tflite).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The model file to write (weights format).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportOnnxArgs {
    /// The f32 model file (weights format).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The .onnx file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportTfjsArgs {
    /// The model file (weights format).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Directory to write model.json and model.weights.bin into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The TF.js model.json the model was imported from: keep its topology (layer names,
    /// initializer configs, Flatten and Dropout layers) instead of writing a fresh one.
    #[arg(long, value_name = "MODEL_JSON")]
    pub like: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Learning rate.
    #[arg(long, default_value_t = 0.15, value_parser = positive, allow_negative_numbers = true)]
    pub lr: f32,
    /// SGD momentum (0 = plain SGD).
    #[arg(long, default_value_t = 0.0, value_parser = momentum)]
    pub momentum: f32,
    /// Weight initializer (biases start at zero).
    #[arg(long, value_enum, default_value_t = InitArg::GlorotNormal)]
    pub init: InitArg,
    /// Seed of the initial weights and the shuffle.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Steps per repeat [default: as many as take about 2 s].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Timed repeats; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeats: u32,
    /// Threads per training step: the kernels are split by samples and by weight rows,
    /// never inside a sum, so the result is bit-identical to one thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The network and batch to train (defaults: the tutorial's for IDX data; for tables,
/// one hidden layer of 32 relu units).
#[derive(Debug, Clone, Args)]
pub struct ShapeArgs {
    /// Hidden layer sizes, comma-separated ("none" for softmax regression) [default:
    /// 32,256; tables: 32].
    #[arg(long, value_name = "N,N,..", value_parser = parse_hidden)]
    pub hidden: Option<Hidden>,
    /// Activation of the hidden layers (the output is always softmax) [default: linear;
    /// tables: relu].
    #[arg(long, value_enum)]
    pub activation: Option<ActivationArg>,
    /// Samples per batch [default: 16].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub batch: Option<u32>,
}

/// Where the data is, and how to read it (docs/datasets.md).
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// An IDX folder, a CSV file, an .npy/.npz, or a folder of class folders of images
    /// [default: $MICRODENSE_DATA, else data/mnist].
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// A separate test set of the same kind [default: the IDX test files, an .npz's
    /// x_test/y_test, else a stratified --test-split of --data].
    #[arg(long, value_name = "PATH")]
    pub test: Option<PathBuf>,
    /// The kind of data [default: found from the path].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// CSV label column: a header name or a 0-based index [default: the last column].
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// Whether the CSV's first row is a header.
    #[arg(long, value_enum, default_value_t = HeaderArg::Auto)]
    pub header: HeaderArg,
    /// Labels of an .npy features file [default: y.npy for x.npy, y_train.npy for x_train.npy…].
    #[arg(long, value_name = "FILE.npy")]
    pub labels: Option<PathBuf>,
    /// Feature and label array names in an .npz [default: x,y or x_train,y_train].
    #[arg(long, value_name = "X,Y", value_parser = parse_pair)]
    pub arrays: Option<(String, String)>,
    /// Fraction of --data held out (stratified) as the test set when there is no test set.
    #[arg(long, value_name = "F", default_value_t = 0.2, value_parser = open_fraction)]
    pub test_split: f64,
    /// Seed of that split (kept apart from --seed, so every model of a dataset is
    /// scored on the same test examples).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub split_seed: u64,
}

impl DataArgs {
    pub fn spec(&self) -> DataSpec {
        DataSpec {
            data: self.data.clone(),
            test: self.test.clone(),
            format: self.format.map(Into::into),
            csv: CsvOptions {
                label: self
                    .label
                    .as_deref()
                    .map_or(LabelColumn::Last, LabelColumn::parse),
                header: self.header.into(),
            },
            labels: self.labels.clone(),
            arrays: self.arrays.clone(),
            test_split: self.test_split,
            split_seed: self.split_seed,
        }
    }
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once(',') {
        Some((x, y)) if !x.is_empty() && !y.is_empty() => Ok((x.to_string(), y.to_string())),
        _ => Err("expected two array names, X,Y".to_string()),
    }
}

fn open_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a fraction from 0 up to (not including) 1"
        )),
    }
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Target directory [default: $MICRODENSE_DATA, else data/mnist].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Base URL to download from instead of the built-in mirror list.
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Number of batches to train [default: 100 unless --epochs is given; tables: 100 epochs].
    #[arg(long, conflicts_with = "epochs", value_parser = clap::value_parser!(u64).range(1..))]
    pub batches: Option<u64>,
    /// Number of passes over the training set (reshuffled each time).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: Option<u32>,
    /// Learning rate (the peak rate with --schedule cosine) [default: 0.15; tables: 0.05].
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// SGD momentum (0 = plain SGD) [default: 0; tables: 0.9].
    #[arg(long, value_parser = momentum, allow_negative_numbers = true)]
    pub momentum: Option<f32>,
    /// L2 weight decay, added to the gradient.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// Optimizer: sgd (--momentum, --weight-decay) or adam (--beta1, --beta2, --epsilon;
    /// Keras/TF.js's Adam with bias correction; try --lr 0.001).
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    pub optimizer: OptimizerArg,
    /// Adam's first-moment decay.
    #[arg(long, default_value_t = 0.9, value_parser = beta)]
    pub beta1: f64,
    /// Adam's second-moment decay.
    #[arg(long, default_value_t = 0.999, value_parser = beta)]
    pub beta2: f64,
    /// Adam's epsilon, added to the root of the second moment.
    #[arg(long, default_value_t = 1e-7, value_parser = positive)]
    pub epsilon: f32,
    /// Learning-rate schedule over the whole run [default: constant; tables: cosine].
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Weight initializer of the hidden layers (biases start at zero) [default:
    /// glorot-normal; tables: he].
    #[arg(long, value_enum)]
    pub init: Option<InitArg>,
    /// The output layer's initializer [default: as --init]. The TF.js tutorial's:
    /// variance-scaling (its hidden layers take the Dense default, glorot-normal).
    #[arg(long, value_enum)]
    pub output_init: Option<InitArg>,
    /// Loss: fused softmax cross-entropy, or TF.js's clipped categorical cross-entropy.
    #[arg(long, value_enum, default_value_t = LossArg::Fused)]
    pub loss: LossArg,
    /// Start from this model's weights (its layers replace --hidden, --activation and
    /// the initializers).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Train only the last K layers of the --from model (fine-tuning): the layers below
    /// keep their weights bit for bit, and the optimizer state and scratch cover the
    /// trained layers only (as on a chip: docs/fine-tuning.md).
    #[arg(long, value_name = "K", requires = "from", value_parser = clap::value_parser!(u32).range(1..))]
    pub train_layers: Option<u32>,
    /// Write the training-set indices of every batch trained, in order, as JSON (an
    /// array of arrays), e.g. to feed the same batches to TF.js.
    #[arg(long, value_name = "FILE.json")]
    pub write_batches: Option<PathBuf>,
    /// Seed of the initial weights, the shuffling, the validation hold-out and batches.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads per training step: the kernels are split by samples and by weight rows,
    /// never inside a sum, so the result is bit-identical to one thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// Fraction of the training data held out for validation [default: 0.1 for tables;
    /// 0 for IDX data, whose validation batches are then training images].
    #[arg(long, value_name = "F", value_parser = open_fraction)]
    pub val_split: Option<f64>,
    /// Input scaling of a table, computed on the training split and stored in the model
    /// [default: standard; pixel data: pixels (/255)].
    #[arg(long, value_enum)]
    pub scaling: Option<ScalingArg>,
    /// Score a validation batch every N batches (0: never).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub val_every: u64,
    /// Samples in each validation batch.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub val_size: u32,
    /// Number of classes (output units) of IDX data; every label must be below it
    /// [default: 10; tables: the classes found].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=256))]
    pub classes: Option<u32>,
    /// Where to save the model (written to a temporary file, then renamed).
    #[arg(long, value_name = "FILE", default_value = "target/model.mdw")]
    pub out: PathBuf,
    /// Draw loss and accuracy curves to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Score the whole test set after every epoch (not counted in the training time).
    #[arg(long)]
    pub eval_every_epoch: bool,
    /// Report the first epoch, and the training time, whose test accuracy reaches ACC
    /// (a fraction, 0.98 for 98%); implies --eval-every-epoch.
    #[arg(long, value_name = "ACC", value_parser = fraction)]
    pub target_accuracy: Option<f64>,
    /// Print the metrics as JSON on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The model file (weights format).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Draw the confusion matrix to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print the metrics as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Runs (seeds) per configuration.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub runs: u32,
    /// Seed of the first run; run k uses seed + k.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hidden layers' initializer (the tutorial's: TF.js's Dense default).
    #[arg(long, value_enum, default_value_t = InitArg::GlorotNormal)]
    pub init: InitArg,
    /// The output layer's initializer (the tutorial's: `kernelInitializer:
    /// 'varianceScaling'`).
    #[arg(long, value_enum, default_value_t = InitArg::VarianceScaling)]
    pub output_init: InitArg,
    /// Loss (the tutorial's: TF.js's categoricalCrossentropy).
    #[arg(long, value_enum, default_value_t = LossArg::Tfjs)]
    pub loss: LossArg,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Training steps to compare.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Largest accepted relative deviation of the loss or of any layer's weights.
    #[arg(long, default_value_t = crate::eval::crosscheck::DEFAULT_TOLERANCE, value_parser = tolerance)]
    pub tolerance: f64,
    /// Seed of the initial weights and the batches.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the deviations as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QuantizeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The f32 model file (weights format).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Calibration images, drawn (with a fixed seed) from the training set.
    #[arg(long, value_name = "N", default_value_t = crate::model::quantize::DEFAULT_CALIBRATION as u32, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub calibrate: u32,
    /// Where to save the int8 model (written to a temporary file, then renamed).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The model file (weights format).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Write the firmware bundle: model, test digits and the host's logits for them.
    #[arg(long, required = true)]
    pub firmware: bool,
    /// How many test digits (the first N of the test set) to include; for a raw-feature
    /// (CSV) model, test rows, kept raw: the chip applies the model's scaling.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub digits: u32,
    /// Training digits for the on-chip trainer (the first K of the training set; default
    /// 500). A raw-feature (CSV) model's bundle has none: the on-chip trainer learns digits.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub train_digits: Option<u32>,
    /// Bundle file to write.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "target/firmware-bundle/bundle.bin"
    )]
    pub out: PathBuf,
}

/// Hidden layer sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden(pub Vec<usize>);

fn parse_hidden(s: &str) -> Result<Hidden, String> {
    let s = s.trim();
    if s.is_empty() || s == "none" {
        return Ok(Hidden(Vec::new()));
    }
    s.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(0) => Err("layer sizes must be at least 1".to_string()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("`{part}` is not a layer size")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Hidden)
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))
}

fn positive(s: &str) -> Result<f32, String> {
    match number::<f32>(s)? {
        v if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("must be positive and finite".into()),
    }
}

fn non_negative(s: &str) -> Result<f32, String> {
    match number::<f32>(s)? {
        v if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("must be zero or positive, and finite".into()),
    }
}

fn momentum(s: &str) -> Result<f32, String> {
    match number::<f32>(s)? {
        v if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err("must be at least 0 and below 1".into()),
    }
}

fn beta(s: &str) -> Result<f64, String> {
    match number::<f64>(s)? {
        v if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err("must be at least 0 and below 1".into()),
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match number::<f64>(s)? {
        v if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err("must be above 0 and at most 1".into()),
    }
}

fn tolerance(s: &str) -> Result<f64, String> {
    match number::<f64>(s)? {
        v if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("must be positive and finite".into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationArg {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
}

impl From<ActivationArg> for Activation {
    fn from(a: ActivationArg) -> Self {
        match a {
            ActivationArg::Linear => Activation::Linear,
            ActivationArg::Relu => Activation::Relu,
            ActivationArg::Sigmoid => Activation::Sigmoid,
            ActivationArg::Tanh => Activation::Tanh,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Stochastic gradient descent.
    Sgd,
    /// Adam with bias correction.
    Adam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    GlorotNormal,
    GlorotUniform,
    VarianceScaling,
    He,
}

impl From<InitArg> for Init {
    fn from(i: InitArg) -> Self {
        match i {
            InitArg::GlorotNormal => Init::GlorotNormal,
            InitArg::GlorotUniform => Init::GlorotUniform,
            InitArg::VarianceScaling => Init::VarianceScaling,
            InitArg::He => Init::He,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// Softmax fused with cross-entropy: gradient (p − one-hot)/n for every sample.
    Fused,
    /// TF.js's categoricalCrossentropy: probabilities clipped to [1e-7, 1 − 1e-7], no
    /// gradient from samples outside that range.
    Tfjs,
}

impl From<LossArg> for Loss {
    fn from(l: LossArg) -> Self {
        match l {
            LossArg::Fused => Loss::SoftmaxCrossEntropy,
            LossArg::Tfjs => Loss::TfjsCategorical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// The same rate throughout.
    Constant,
    /// Half-cosine decay from --lr to zero over the run.
    Cosine,
}

impl From<ScheduleArg> for Schedule {
    fn from(s: ScheduleArg) -> Self {
        match s {
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::Cosine => Schedule::Cosine,
        }
    }
}

/// The kinds of dataset (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A folder of MNIST-style IDX files.
    Idx,
    /// A CSV file (optionally gzip'd).
    Csv,
    /// A NumPy .npy features file (labels next to it, or --labels).
    Npy,
    /// A NumPy .npz archive.
    Npz,
    /// A folder with one sub-folder of images per class.
    Images,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Idx => Format::Idx,
            FormatArg::Csv => Format::Csv,
            FormatArg::Npy => Format::Npy,
            FormatArg::Npz => Format::Npz,
            FormatArg::Images => Format::Images,
        }
    }
}

/// Whether a CSV's first row is a header (`--header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeaderArg {
    /// A header when a cell of the first row is not a number where the second row's is.
    Auto,
    Yes,
    No,
}

impl From<HeaderArg> for Header {
    fn from(h: HeaderArg) -> Self {
        match h {
            HeaderArg::Auto => Header::Auto,
            HeaderArg::Yes => Header::Yes,
            HeaderArg::No => Header::No,
        }
    }
}

/// Input scaling of a table (`--scaling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScalingArg {
    /// Per feature: subtract the training mean, divide by the standard deviation.
    Standard,
    /// Per feature: map the training minimum…maximum to 0…1.
    MinMax,
    /// Pixels: divide by 255.
    Pixels,
    /// Raw values as they are.
    None,
}

impl From<ScalingArg> for ScaleKind {
    fn from(s: ScalingArg) -> Self {
        match s {
            ScalingArg::Standard => ScaleKind::Standard,
            ScalingArg::MinMax => ScaleKind::MinMax,
            ScalingArg::Pixels => ScaleKind::Pixels,
            ScalingArg::None => ScaleKind::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn hidden_sizes() {
        assert_eq!(parse_hidden("32,256"), Ok(Hidden(vec![32, 256])));
        assert_eq!(parse_hidden(" 8 "), Ok(Hidden(vec![8])));
        assert_eq!(parse_hidden("none"), Ok(Hidden(vec![])));
        assert!(parse_hidden("32,,4").is_err());
        assert!(parse_hidden("0").is_err());
        assert!(parse_hidden("x").is_err());
    }

    #[test]
    fn numbers_in_range() {
        assert_eq!(positive("0.5"), Ok(0.5));
        assert!(positive("0").is_err() && positive("inf").is_err() && positive("x").is_err());
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-1e-3").is_err() && non_negative("NaN").is_err());
        assert_eq!(momentum("0.9"), Ok(0.9));
        assert!(momentum("1").is_err() && momentum("-0.1").is_err());
        assert!(tolerance("1e-4").is_ok() && tolerance("0").is_err());
        assert_eq!(fraction("0.98"), Ok(0.98));
        assert!(fraction("1").is_ok() && fraction("0").is_err() && fraction("98").is_err());
    }
}

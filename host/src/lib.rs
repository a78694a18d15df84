//! The host side of microdense: the `microdense` command-line tool as a library, in layers.
//!
//! - [`data`]: datasets as the network sees them: IDX files ([`data::idx`]), the MNIST
//!   download ([`data::fetch`]) and the one pixel scaling ([`data::scaled`]); CSV,
//!   NumPy and image-folder datasets ([`data::table`], [`data::source`]) made ready for
//!   training ([`data::prepare`]).
//! - [`model`]: a network with owned parameters and its file ([`model::Model`]), int8
//!   quantization ([`model::quantize`]), the firmware bundle ([`model::bundle`]) and the
//!   TensorFlow.js Layers format ([`model::tfjs`]).
//! - [`train`]: the training loop, its learning-rate schedule ([`train::schedule`]) and
//!   the divergence replay ([`train::replay`]).
//! - [`eval`]: one evaluator for f32 and int8 models ([`eval::evaluate`]), the metrics it
//!   fills ([`eval::metrics`]), an f64 reference ([`eval::reference`]) and the checks and
//!   measurements built on them: [`eval::crosscheck`], [`eval::reproduce`],
//!   [`eval::throughput`].
//! - [`predict`]: single inputs classified from raw values (CSV rows, images, .npy).
//! - [`plot`] (SVG figures), [`atomic`] (temporary file, then rename) and [`progress`]
//!   (the one progress-bar builder).
//! - [`cli`] (clap argument types) and [`commands`] (one module per subcommand: load →
//!   work → report). Library modules never import [`cli`]; commands translate its types.
pub mod atomic;
pub mod chip;
pub mod cli;
pub mod commands;
pub mod data;
pub mod eval;
pub mod files;
pub mod model;
pub mod plot;
pub mod predict;
pub mod progress;
pub mod train;

//! microdense: dense neural networks on fixed buffers, for microcontrollers and PCs.
//!
//! `#![no_std]`, no `alloc`, no panics on any input: every buffer is the caller's (static
//! arrays on a chip, boxed slices on a PC) and its exact length comes from a `const fn`
//! in [`sizes`]. A wrong length, a bad label or a malformed weights blob is an [`Error`].
//!
//! The crate root holds what an application uses: a [`Topology`] of [`Layer`]s, a
//! [`Network`] over a parameter buffer (initialized by an [`Init`]), a [`Trainer`] with an
//! [`Optimizer`] ([`Sgd`] or [`Adam`]), and weights blobs ([`Blob`]). The rest is in modules:
//! - [`sizes`]: every buffer size as a `const fn`, and the training scratch layout;
//! - [`format`]: the weights blob (header, CRC, writing f32 blobs);
//! - [`int8`]: quantized models (int8 weights and activations, integer-only inference,
//!   SMLAD on a Cortex-M4) over blobs of element type [`ElementType::Int8`];
//! - [`bundle`]: the firmware bundle's layout, shared by the host's writer and the
//!   firmware's build;
//! - [`scaling`]: the input scaling a model may carry (raw values to network inputs)
//!   and its class names, stored in a version-2 blob;
//! - [`loss`], [`rng`]: the losses (fused softmax cross-entropy, TF.js's clipped one,
//!   chosen by [`Trainer::with_loss`]) and the deterministic generator the
//!   host's tools share with the core;
//! - [`store`]: a model kept in flash, two slots so the old one stays until the new
//!   one is complete (the scheme; a chip supplies erase and program);
//! - [`kernels`]: the hot loops (only [`kernels::wide_loops`] is public, for reports).
//!
//! ```
//! use microdense::{sizes, Activation, Init, Layer, Network, Sgd, Topology, Trainer};
//! const LAYERS: [Layer; 2] = [Layer::new(8, Activation::Relu), Layer::new(3, Activation::Softmax)];
//! const P: usize = sizes::params_len(4, &LAYERS);
//! const S: usize = sizes::train_scratch_len(4, &LAYERS, 2);
//! let topology = Topology::new(4, &LAYERS).unwrap();
//! let (mut params, mut scratch) = ([0.0f32; P], [0.0f32; S]);
//! let mut net = Network::new(topology, &mut params[..]).unwrap();
//! net.init(Init::GlorotNormal, 7);
//! let mut trainer = Trainer::new(net.topology(), 2, Sgd::new(0.1), &mut scratch[..], &mut []).unwrap();
//! let loss = trainer.step(&mut net, &[0.0, 1.0, 0.5, 0.2, 1.0, 0.0, 0.3, 0.9], &[2, 0]).unwrap();
//! assert!(loss.is_finite());
//! ```
#![no_std]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod activation;
mod adam;
pub mod bundle;
pub mod digest;
mod error;
pub mod format;
mod init;
pub mod int8;
pub mod kernels;
pub mod loss;
mod math;
mod network;
mod optimizer;
pub mod rng;
pub mod scaling;
mod sgd;
pub mod sizes;
pub mod store;
mod topology;
mod train;

pub use activation::Activation;
pub use adam::Adam;
pub use error::{Buffer, Error};
pub use format::{Blob, ElementType};
pub use init::Init;
pub use network::{argmax, Network};
pub use optimizer::Optimizer;
pub use sgd::Sgd;
pub use topology::{Layer, Topology};
pub use train::Trainer;

//! microdense: dense neural networks on fixed buffers, for microcontrollers and PCs.
//!
//! `#![no_std]`, no `alloc`, no panics on any input: every buffer is the caller's (static
//! arrays on a chip, boxed slices on a PC) and its exact length comes from a `const fn`
//! ([`params_len`], [`train_scratch_len`], [`infer_scratch_len`], [`optimizer_len`],
//! [`blob_len`]). A wrong length, a bad label or a malformed weights blob is an [`Error`].
//!
//! Quantized models (int8 weights and activations, integer-only inference, SMLAD on a
//! Cortex-M4) are [`Int8Network`]s over blobs of element type [`ElementType::Int8`].
//!
//! ```
//! use microdense::{Activation, Init, Layer, Network, Sgd, Topology, Trainer};
//! const LAYERS: [Layer; 2] = [Layer::new(8, Activation::Relu), Layer::new(3, Activation::Softmax)];
//! const P: usize = microdense::params_len(4, &LAYERS);
//! const S: usize = microdense::train_scratch_len(4, &LAYERS, 2);
//! let topology = Topology::new(4, &LAYERS).unwrap();
//! let (mut params, mut scratch) = ([0.0f32; P], [0.0f32; S]);
//! let mut net = Network::new(topology, &mut params[..]).unwrap();
//! net.init(Init::GlorotNormal, 7);
//! let mut trainer = Trainer::new(net.topology(), 2, Sgd::new(0.1), &mut scratch[..], &mut []).unwrap();
//! let loss = trainer.step(&mut net, &[0.0, 1.0, 0.5, 0.2, 1.0, 0.0, 0.3, 0.9], &[2, 0]).unwrap();
//! assert!(loss.is_finite());
//! ```
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod activation;
mod error;
mod format;
mod init;
mod kernels;
mod loss;
mod math;
mod network;
mod quant;
mod rng;
mod scaling;
mod sgd;
mod simd;
mod topology;
mod train;

pub use activation::Activation;
pub use error::{Buffer, Error};
pub use format::{
    blob_len, write_blob, Blob, ElementType, FORMAT_VERSION, FORMAT_VERSION_2, HEADER_LEN, MAGIC,
};
pub use init::Init;
pub use loss::{softmax_cross_entropy, softmax_in_place};
pub use network::{argmax, Network};
pub use quant::{
    argmax_i32, int8_blob_len, int8_payload_len, int8_scratch_bound, int8_scratch_len,
    multiplier_value, pixels_to_int8, quantize_multiplier, requantize, write_int8_blob, Int8Layer,
    Int8LayerView, Int8Network, QuantParams, PIXEL_INPUT,
};
pub use rng::Rng;
pub use scaling::{add_input_section, input_section_len, InputScaling, InputSection, ScalingKind};
pub use sgd::Sgd;
pub use simd::wide_loops;
pub use topology::{
    infer_scratch_len, optimizer_len, params_len, train_scratch_len, Layer, Topology, MAX_DIM,
    MAX_LAYERS,
};
pub use train::Trainer;

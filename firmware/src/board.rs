//! What differs per board besides memory.x: its description, how wide a model the demo
//! takes, and the on-chip training setup that fits its RAM.
use crate::bundle::{CLASSES, TRAIN_PIXELS};
use microdense::{Activation, Layer, Sgd};

#[cfg(all(feature = "stm32f405", feature = "lm3s6965"))]
compile_error!("enable exactly one board feature");

#[cfg(feature = "stm32f405")]
mod chosen {
    pub const NAME: &str = "STM32F405 (Cortex-M4F, hardware float; qemu netduinoplus2)";
    /// Interrupt lines (the vector table's length past the 16 system exceptions).
    pub const IRQS: usize = 82;
    /// Widest layer the demo can run (its scratch is 2 × this many f32: 4 KiB).
    pub const MAX_UNITS: usize = 512;
    /// 784-16-10 on full 28x28 digits: params and gradients take 2 × 49.7 KiB of the
    /// 128 KiB RAM, so plain SGD (momentum would need a third copy) on batches of 4.
    pub const TRAIN_HIDDEN: usize = 16;
    pub const TRAIN_BATCH: usize = 4;
    pub const TRAIN_SGD: microdense::Sgd = microdense::Sgd::new(0.05);
    pub const TRAIN_EPOCHS: usize = 3;
}

#[cfg(feature = "lm3s6965")]
mod chosen {
    pub const NAME: &str = "LM3S6965 (Cortex-M3, software float; qemu lm3s6965evb)";
    /// Interrupt lines (the vector table's length past the 16 system exceptions; qemu's
    /// lm3s6965evb has 64, the chip fewer).
    pub const IRQS: usize = 64;
    pub const MAX_UNITS: usize = 256;
    /// 196-16-10 on 14x14 digits (2x2-pooled at build time): params, gradients and
    /// momentum are 3 × 13 KiB, well inside the 64 KiB RAM.
    pub const TRAIN_HIDDEN: usize = 16;
    pub const TRAIN_BATCH: usize = 8;
    pub const TRAIN_SGD: microdense::Sgd = microdense::Sgd::new(0.02).with_momentum(0.9);
    pub const TRAIN_EPOCHS: usize = 3;
}

pub use chosen::*;

/// The on-chip training net.
pub const TRAIN_LAYERS: [Layer; 2] = [
    Layer::new(TRAIN_HIDDEN, Activation::Relu),
    Layer::new(CLASSES, Activation::Softmax),
];
pub const TRAIN_INPUT: usize = TRAIN_PIXELS;
pub const TRAIN_PARAMS: usize = microdense::sizes::params_len(TRAIN_INPUT, &TRAIN_LAYERS);
pub const TRAIN_SCRATCH: usize =
    microdense::sizes::train_scratch_len(TRAIN_INPUT, &TRAIN_LAYERS, TRAIN_BATCH);
pub const TRAIN_VELOCITY: usize = if uses_momentum(TRAIN_SGD) {
    microdense::sizes::optimizer_len(TRAIN_INPUT, &TRAIN_LAYERS)
} else {
    0
};
pub const TRAIN_EVAL_SCRATCH: usize = microdense::sizes::infer_scratch_len(&TRAIN_LAYERS, 1);

const fn uses_momentum(sgd: Sgd) -> bool {
    sgd.momentum != 0.0
}

//! Exact buffer sizes, as `const fn`s so firmware can size `static` arrays at compile
//! time: f32 parameters, training and inference scratch, optimizer state, weights blobs,
//! and the int8 equivalents. [`crate::Topology`] has the same sizes as methods.
//!
//! Parameter layout (flat `f32`): for each layer in order, its weights as `fan_in` rows of
//! `units` (row i holds input i's weights into every output, as TF.js's `[in, out]`
//! kernel), then its `units` biases. Forward then adds `x[i]·row i` to all outputs at
//! once: lanes never mix, so the vectorized and the scalar loop give the same bits, and a
//! zero input (most MNIST pixels) skips its whole row.
use crate::format::HEADER_LEN;
use crate::Layer;

pub use crate::int8::layout::{
    int8_blob_len, int8_payload_len, int8_scratch_bound, int8_scratch_len,
};

/// Most dense layers a topology can hold.
pub const MAX_LAYERS: usize = 8;
/// Largest input size or unit count; keeps every derived size far from overflow.
pub const MAX_DIM: usize = 1 << 20;

/// Length of the flat parameter buffer.
pub const fn params_len(input: usize, layers: &[Layer]) -> usize {
    let (mut total, mut fan_in, mut i) = (0, input, 0);
    while i < layers.len() {
        total += layers[i].units * (fan_in + 1);
        fan_in = layers[i].units;
        i += 1;
    }
    total
}

const fn units_sum_and_max(layers: &[Layer]) -> (usize, usize) {
    let (mut sum, mut max, mut i) = (0, 0, 0);
    while i < layers.len() {
        sum += layers[i].units;
        if layers[i].units > max {
            max = layers[i].units;
        }
        i += 1;
    }
    (sum, max)
}

/// Parameters of layers `first..` (all of them for `first` 0): what a trainer of the last
/// layers updates, laid out as those layers' part of the flat parameters.
pub const fn tail_params_len(input: usize, layers: &[Layer], first: usize) -> usize {
    let (mut total, mut fan_in, mut i) = (0, input, 0);
    while i < layers.len() {
        if i >= first {
            total += layers[i].units * (fan_in + 1);
        }
        fan_in = layers[i].units;
        i += 1;
    }
    total
}

/// Scratch for training layers `first..` at up to `batch` samples: see
/// [`TrainLayout::tail`].
pub const fn tail_train_scratch_len(
    input: usize,
    layers: &[Layer],
    batch: usize,
    first: usize,
) -> usize {
    TrainLayout::tail(input, layers, batch, first).len()
}

/// Adam's state for the whole network: see [`crate::Adam::state_len`].
pub const fn adam_len(input: usize, layers: &[Layer]) -> usize {
    crate::Adam::state_len(params_len(input, layers))
}

/// Optimizer state for training layers `first..`: SGD with momentum's (`adam` false: one
/// value per trained parameter) or Adam's (`adam` true).
pub const fn tail_optimizer_len(input: usize, layers: &[Layer], first: usize, adam: bool) -> usize {
    let params = tail_params_len(input, layers, first);
    if adam {
        crate::Adam::state_len(params)
    } else {
        params
    }
}

/// Scratch for training at up to `batch` samples: see [`TrainLayout`].
pub const fn train_scratch_len(input: usize, layers: &[Layer], batch: usize) -> usize {
    TrainLayout::new(input, layers, batch).len()
}

/// Scratch for inference of up to `batch` samples: two ping-pong activation buffers.
pub const fn infer_scratch_len(layers: &[Layer], batch: usize) -> usize {
    let (_, max) = units_sum_and_max(layers);
    2 * batch * max
}

/// Optimizer state of SGD with momentum (the velocity): one value per parameter.
pub const fn optimizer_len(input: usize, layers: &[Layer]) -> usize {
    params_len(input, layers)
}

/// Total bytes of an f32 weights blob for this topology.
pub const fn blob_len(input: usize, layers: &[Layer]) -> usize {
    HEADER_LEN + 4 * params_len(input, layers)
}

/// The training scratch buffer for a capacity of `batch` samples, in order: every
/// layer's activations (`batch·units` each, layer by layer), two delta buffers
/// (`batch·max_units` each), then the gradients (laid out like the parameters). The one
/// definition of that layout: [`train_scratch_len`] and the trainer both use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainLayout {
    /// Elements of all layers' activations.
    pub activations: usize,
    /// Elements of each of the two delta buffers.
    pub delta: usize,
    /// Elements of the gradients.
    pub gradients: usize,
}

impl TrainLayout {
    /// The layout for `layers` after an input of `input` values, at up to `batch` samples.
    pub const fn new(input: usize, layers: &[Layer], batch: usize) -> Self {
        Self::tail(input, layers, batch, 0)
    }

    /// The layout for training only layers `first..` (the layers below are frozen): the
    /// activations kept are the frozen part's output and the trained layers'; the frozen
    /// layers below that run through the two delta buffers in turn (they are free during
    /// the forward pass), which are widened to them if need be; gradients cover the
    /// trained layers only. `first` 0 is [`TrainLayout::new`].
    pub const fn tail(input: usize, layers: &[Layer], batch: usize, first: usize) -> Self {
        let stored = first.saturating_sub(1);
        let (mut kept, mut widest, mut i) = (0, 0, 0);
        while i < layers.len() {
            let units = layers[i].units;
            if i >= stored {
                kept += units;
            }
            // Delta buffers: the trained layers' deltas, and the ping-pong of the frozen
            // layers whose outputs are not kept.
            if (i >= first || i < stored) && units > widest {
                widest = units;
            }
            i += 1;
        }
        TrainLayout {
            activations: batch * kept,
            delta: batch * widest,
            gradients: tail_params_len(input, layers, first),
        }
    }

    /// Total elements.
    pub const fn len(&self) -> usize {
        self.activations + 2 * self.delta + self.gradients
    }

    /// Whether the layout holds nothing (never for a valid topology).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Splits a scratch buffer of at least [`TrainLayout::len`] elements into
    /// (activations, first delta, second delta, gradients); a shorter one gives shorter
    /// regions (the trainer checks the length once, when it is built).
    pub(crate) fn split<'s>(
        &self,
        scratch: &'s mut [f32],
    ) -> (&'s mut [f32], &'s mut [f32], &'s mut [f32], &'s mut [f32]) {
        let (acts, rest) = scratch.split_at_mut(self.activations.min(scratch.len()));
        let (delta_a, rest) = rest.split_at_mut(self.delta.min(rest.len()));
        let (delta_b, rest) = rest.split_at_mut(self.delta.min(rest.len()));
        let grads = rest.get_mut(..self.gradients).unwrap_or(&mut []);
        (acts, delta_a, delta_b, grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation::*;

    #[test]
    fn train_layout_regions() {
        let layers = [
            Layer::new(32, Relu),
            Layer::new(256, Linear),
            Layer::new(10, Softmax),
        ];
        let l = TrainLayout::new(784, &layers, 16);
        assert_eq!(
            (l.activations, l.delta, l.gradients),
            (16 * 298, 16 * 256, 36_138)
        );
        assert_eq!(l.len(), train_scratch_len(784, &layers, 16));
        let mut scratch = [0.0f32; 16 * (298 + 512) + 36_138];
        let (a, d1, d2, g) = l.split(&mut scratch);
        assert_eq!(
            (a.len(), d1.len(), d2.len(), g.len()),
            (4768, 4096, 4096, 36_138)
        );
        assert_eq!(blob_len(784, &layers), HEADER_LEN + 4 * 36_138);
    }
}

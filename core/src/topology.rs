//! Network shape and the exact buffer sizes it needs, as `const fn`s so firmware can size
//! `static` arrays at compile time.
//!
//! Parameter layout (flat `f32`): for each layer in order, its weights as `fan_in` rows of
//! `units` (row i holds input i's weights into every output, as TF.js's `[in, out]`
//! kernel), then its `units` biases. Forward then adds `x[i]·row i` to all outputs at
//! once: lanes never mix, so the vectorized and the scalar loop give the same bits, and a
//! zero input (most MNIST pixels) skips its whole row.
use crate::{Activation, Error};
use heapless::Vec;

/// Most dense layers a topology can hold.
pub const MAX_LAYERS: usize = 8;
/// Largest input size or unit count; keeps every derived size far from overflow.
pub const MAX_DIM: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    pub units: usize,
    pub activation: Activation,
}

impl Layer {
    pub const fn new(units: usize, activation: Activation) -> Self {
        Layer { units, activation }
    }
}

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

/// Scratch for training at up to `batch` samples: every layer's activations, two delta
/// buffers, and the gradients.
pub const fn train_scratch_len(input: usize, layers: &[Layer], batch: usize) -> usize {
    let (sum, max) = units_sum_and_max(layers);
    batch * (sum + 2 * max) + params_len(input, layers)
}

/// Scratch for inference of up to `batch` samples: two ping-pong activation buffers.
pub const fn infer_scratch_len(layers: &[Layer], batch: usize) -> usize {
    let (_, max) = units_sum_and_max(layers);
    2 * batch * max
}

/// Optimizer state (momentum velocity): one value per parameter.
pub const fn optimizer_len(input: usize, layers: &[Layer]) -> usize {
    params_len(input, layers)
}

/// A validated network shape: input size and 1..=[`MAX_LAYERS`] dense layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    input: usize,
    layers: Vec<Layer, MAX_LAYERS>,
}

impl Topology {
    /// Checks sizes (non-zero, at most [`MAX_DIM`], total addressable in bytes as `u32`)
    /// and that softmax appears only on the output layer.
    pub fn new(input: usize, layers: &[Layer]) -> Result<Self, Error> {
        if layers.is_empty() {
            return Err(Error::NoLayers);
        }
        let stored = Vec::from_slice(layers).map_err(|()| Error::TooManyLayers(layers.len()))?;
        if input == 0 || layers.iter().any(|l| l.units == 0) {
            return Err(Error::ZeroSize);
        }
        if input > MAX_DIM || layers.iter().any(|l| l.units > MAX_DIM) {
            return Err(Error::TooLarge);
        }
        let last = layers.len() - 1;
        if layers[..last]
            .iter()
            .any(|l| l.activation == Activation::Softmax)
        {
            return Err(Error::SoftmaxNotLast);
        }
        // Weights are addressed in bytes by a u32 in the weights format.
        let mut total: u64 = 0;
        let mut fan_in = input as u64;
        for l in layers {
            total += l.units as u64 * (fan_in + 1);
            fan_in = l.units as u64;
        }
        if total * 4 > u32::MAX as u64 / 2 {
            return Err(Error::TooLarge);
        }
        Ok(Topology {
            input,
            layers: stored,
        })
    }

    pub fn input(&self) -> usize {
        self.input
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Number of outputs (classes).
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.units)
    }

    /// Fan-in of layer `i`.
    pub fn fan_in(&self, i: usize) -> usize {
        match i {
            0 => self.input,
            _ => self.layers.get(i - 1).map_or(0, |l| l.units),
        }
    }

    pub fn params_len(&self) -> usize {
        params_len(self.input, &self.layers)
    }

    pub fn train_scratch_len(&self, batch: usize) -> usize {
        train_scratch_len(self.input, &self.layers, batch)
    }

    pub fn infer_scratch_len(&self, batch: usize) -> usize {
        infer_scratch_len(&self.layers, batch)
    }

    pub fn optimizer_len(&self) -> usize {
        optimizer_len(self.input, &self.layers)
    }

    /// Multiply-adds of one single-sample inference.
    pub fn macs(&self) -> usize {
        self.params_len() - self.layers.iter().map(|l| l.units).sum::<usize>()
    }

    /// `(weights offset, bias offset)` of layer `i` in the flat parameter buffer.
    pub(crate) fn offsets(&self, i: usize) -> (usize, usize) {
        let before = params_len(self.input, &self.layers[..i]);
        (before, before + self.layers[i].units * self.fan_in(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Activation::*;

    const TUTORIAL: [Layer; 3] = [
        Layer::new(32, Linear),
        Layer::new(256, Linear),
        Layer::new(10, Softmax),
    ];

    #[test]
    fn sizes_of_the_tutorial_network() {
        // 784*32+32 + 32*256+256 + 256*10+10
        assert_eq!(params_len(784, &TUTORIAL), 25_120 + 8_448 + 2_570);
        let t = Topology::new(784, &TUTORIAL).unwrap();
        assert_eq!(t.params_len(), 36_138);
        assert_eq!(t.optimizer_len(), 36_138);
        assert_eq!(t.train_scratch_len(16), 16 * (298 + 512) + 36_138);
        assert_eq!(t.infer_scratch_len(1), 512);
        assert_eq!(t.macs(), 36_138 - 298);
        assert_eq!(t.offsets(1), (25_120, 25_120 + 8_192));
        assert_eq!(t.outputs(), 10);
        // Usable in a const context, as firmware does.
        const P: usize = params_len(784, &TUTORIAL);
        static BUF: [f32; P] = [0.0; P];
        assert_eq!(BUF.len(), 36_138);
    }

    #[test]
    fn invalid_topologies_are_errors() {
        assert_eq!(Topology::new(4, &[]), Err(Error::NoLayers));
        assert_eq!(
            Topology::new(0, &[Layer::new(2, Softmax)]),
            Err(Error::ZeroSize)
        );
        assert_eq!(
            Topology::new(4, &[Layer::new(0, Softmax)]),
            Err(Error::ZeroSize)
        );
        assert_eq!(
            Topology::new(4, &[Layer::new(3, Softmax), Layer::new(2, Softmax)]),
            Err(Error::SoftmaxNotLast)
        );
        assert_eq!(
            Topology::new(4, &[Layer::new(3, Relu); 9]),
            Err(Error::TooManyLayers(9))
        );
        assert_eq!(
            Topology::new(MAX_DIM + 1, &[Layer::new(2, Softmax)]),
            Err(Error::TooLarge)
        );
        // Each dimension fine, product too large to address.
        assert_eq!(
            Topology::new(
                MAX_DIM,
                &[Layer::new(MAX_DIM, Relu), Layer::new(2, Softmax)]
            ),
            Err(Error::TooLarge)
        );
    }
}

//! Network shape and the exact buffer sizes it needs, as `const fn`s so firmware can size
//! `static` arrays at compile time.
//!
//! Parameter layout (flat `f32`): for each layer in order, its weights as `fan_in` rows of
//! `units` (row i holds input i's weights into every output, as TF.js's `[in, out]`
//! kernel), then its `units` biases. Forward then adds `x[i]·row i` to all outputs at
//! once: lanes never mix, so the vectorized and the scalar loop give the same bits, and a
//! zero input (most MNIST pixels) skips its whole row.
use crate::sizes::{self, MAX_DIM, MAX_LAYERS};
use crate::{Activation, Error};
use heapless::Vec;

/// One dense layer: its width and activation (its fan-in is the layer before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Outputs of the layer.
    pub units: usize,
    /// Its activation.
    pub activation: Activation,
}

impl Layer {
    /// A layer of `units` outputs.
    pub const fn new(units: usize, activation: Activation) -> Self {
        Layer { units, activation }
    }
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

    /// Input size.
    pub fn input(&self) -> usize {
        self.input
    }

    /// The layers, input side first.
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

    /// [`sizes::params_len`] of this topology.
    pub fn params_len(&self) -> usize {
        sizes::params_len(self.input, &self.layers)
    }

    /// [`sizes::train_scratch_len`] of this topology.
    pub fn train_scratch_len(&self, batch: usize) -> usize {
        sizes::train_scratch_len(self.input, &self.layers, batch)
    }

    /// [`sizes::infer_scratch_len`] of this topology.
    pub fn infer_scratch_len(&self, batch: usize) -> usize {
        sizes::infer_scratch_len(&self.layers, batch)
    }

    /// [`sizes::optimizer_len`] of this topology.
    pub fn optimizer_len(&self) -> usize {
        sizes::optimizer_len(self.input, &self.layers)
    }

    /// Multiply-adds of one single-sample inference.
    pub fn macs(&self) -> usize {
        self.params_len() - self.layers.iter().map(|l| l.units).sum::<usize>()
    }

    /// `(weights offset, bias offset)` of layer `i` in the flat parameter buffer.
    pub(crate) fn offsets(&self, i: usize) -> (usize, usize) {
        let before = sizes::params_len(self.input, &self.layers[..i]);
        (before, before + self.layers[i].units * self.fan_in(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizes::params_len;
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

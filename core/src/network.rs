//! A topology over a caller-owned parameter buffer: initialization and inference.
use crate::kernels::dense::dense_forward;
use crate::scaling::InputScaling;
use crate::{Buffer, Error, Init, Layer, Topology};

/// A topology over its parameters, for inference (and, through [`crate::Trainer`],
/// training). `P` is any parameter storage: `&[f32]`, `&mut [f32]`, `Box<[f32]>`, a static array...
#[derive(Clone, Debug)]
pub struct Network<P> {
    topology: Topology,
    params: P,
}

/// Index of the largest value (the first on ties; 0 for an empty slice).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if values
            .get(best)
            .is_some_and(|b| v > b || (b.is_nan() && !v.is_nan()))
        {
            best = i;
        }
    }
    best
}

/// Checks `inputs` holds a whole, non-empty batch and returns its size.
pub(crate) fn batch_of(topology: &Topology, inputs: &[f32]) -> Result<usize, Error> {
    let n = inputs.len() / topology.input();
    if n == 0 || !inputs.len().is_multiple_of(topology.input()) {
        return Err(Error::BufferLength {
            buffer: Buffer::Inputs,
            expected: topology.input() * n.max(1),
            actual: inputs.len(),
        });
    }
    Ok(n)
}

/// Layer `i` for `n` samples: `outputs = act(x·W + b)`. Lengths are the caller's
/// guarantee (checked once at the public entry points).
pub(crate) fn forward_layer(
    topology: &Topology,
    params: &[f32],
    i: usize,
    inputs: &[f32],
    outputs: &mut [f32],
    n: usize,
) {
    let layer = topology.layers()[i];
    let (w, b) = topology.offsets(i);
    forward_dense(
        layer,
        (&params[w..b], &params[b..b + layer.units]),
        &inputs[..n * topology.fan_in(i)],
        outputs,
        n,
    );
}

/// One layer given its weights and biases (for parameters split in two parts, as a
/// trainer of the last layers has them).
#[inline(always)]
pub(crate) fn forward_dense(
    layer: Layer,
    (weights, biases): (&[f32], &[f32]),
    inputs: &[f32],
    outputs: &mut [f32],
    n: usize,
) {
    let outputs = &mut outputs[..n * layer.units];
    dense_forward(weights, biases, inputs, outputs);
    layer.activation.apply(outputs);
}

impl<P: AsRef<[f32]>> Network<P> {
    /// Wraps `params`, which must be exactly `topology.params_len()` long.
    pub fn new(topology: Topology, params: P) -> Result<Self, Error> {
        let (expected, actual) = (topology.params_len(), params.as_ref().len());
        if expected != actual {
            return Err(Error::BufferLength {
                buffer: Buffer::Params,
                expected,
                actual,
            });
        }
        Ok(Network { topology, params })
    }

    /// The network's shape.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The flat parameters (layout in [`crate::sizes`]).
    pub fn params(&self) -> &[f32] {
        self.params.as_ref()
    }

    /// The topology and the parameter storage back.
    pub fn into_parts(self) -> (Topology, P) {
        (self.topology, self.params)
    }

    /// Output-layer values for a batch of samples laid end to end: logits (before the
    /// softmax) for a softmax output, activations otherwise. `scratch` needs at least
    /// `topology.infer_scratch_len(batch)` elements.
    pub fn logits<'s>(&self, inputs: &[f32], scratch: &'s mut [f32]) -> Result<&'s [f32], Error> {
        let t = &self.topology;
        let n = batch_of(t, inputs)?;
        let needed = t.infer_scratch_len(n);
        if scratch.len() < needed {
            return Err(Error::BufferLength {
                buffer: Buffer::Scratch,
                expected: needed,
                actual: scratch.len(),
            });
        }
        let (mut from, mut to) = scratch[..needed].split_at_mut(needed / 2);
        let depth = t.layers().len();
        forward_layer(t, self.params(), 0, inputs, to, n);
        for i in 1..depth {
            core::mem::swap(&mut from, &mut to);
            forward_layer(t, self.params(), i, from, to, n);
        }
        Ok(&to[..n * t.outputs()])
    }

    /// The predicted class of one sample.
    pub fn predict(&self, input: &[f32], scratch: &mut [f32]) -> Result<usize, Error> {
        if input.len() != self.topology.input() {
            return Err(Error::BufferLength {
                buffer: Buffer::Inputs,
                expected: self.topology.input(),
                actual: input.len(),
            });
        }
        self.logits(input, scratch).map(argmax)
    }

    /// [`Network::logits`] of raw examples (a sensor's values, pixels 0…255): `scaling`
    /// (the model's stored one, one entry per input) applied into `scaled[..raw.len()]`
    /// first. The one path from raw values to logits, on a PC and a chip alike.
    pub fn logits_raw<'s>(
        &self,
        scaling: &InputScaling<'_>,
        raw: &[f32],
        scaled: &mut [f32],
        scratch: &'s mut [f32],
    ) -> Result<&'s [f32], Error> {
        scaling.check_width(self.topology.input())?;
        let actual = scaled.len();
        let scaled = scaled.get_mut(..raw.len()).ok_or(Error::BufferLength {
            buffer: Buffer::Inputs,
            expected: raw.len(),
            actual,
        })?;
        scaling.apply(raw, scaled)?;
        self.logits(scaled, scratch)
    }

    /// The predicted class of one raw example ([`Network::logits_raw`]).
    pub fn predict_raw(
        &self,
        scaling: &InputScaling<'_>,
        raw: &[f32],
        scaled: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<usize, Error> {
        if raw.len() != self.topology.input() {
            return Err(Error::BufferLength {
                buffer: Buffer::Inputs,
                expected: self.topology.input(),
                actual: raw.len(),
            });
        }
        self.logits_raw(scaling, raw, scaled, scratch).map(argmax)
    }
}

impl<P: AsRef<[f32]> + AsMut<[f32]>> Network<P> {
    /// The flat parameters, writable.
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.params.as_mut()
    }

    /// Initializes weights with `init` from `seed` (same seed, same bits, on any target)
    /// and biases to zero.
    pub fn init(&mut self, init: Init, seed: u64) {
        self.init_with(|_| init, seed);
    }

    /// As [`Network::init`], layer `i`'s weights drawn by `init(i)`: TF.js's tutorial
    /// network has glorot-normal hidden layers and a variance-scaling output.
    pub fn init_with(&mut self, init: impl Fn(usize) -> Init, seed: u64) {
        Init::fill(&self.topology, self.params.as_mut(), seed, init);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation::*, Layer};

    fn tiny() -> Topology {
        Topology::new(2, &[Layer::new(2, Relu), Layer::new(2, Softmax)]).unwrap()
    }

    #[test]
    fn forward_by_hand() {
        // Layer 1: h_0 = x_0 − x_1, h_1 = (x_0 + x_1)/2 + 1, stored as W[i][j] (input i to
        // output j): [[1, 0.5], [-1, 0.5]], b = [0, 1]; layer 2: W = I, b = [0, -1].
        let params = [1.0, 0.5, -1.0, 0.5, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, -1.0];
        let net = Network::new(tiny(), &params[..]).unwrap();
        let mut scratch = [0.0f32; 8];
        // x = [1, 3]: h = relu([-2, 3]) = [0, 3]; z = [0, 2]
        assert_eq!(net.logits(&[1.0, 3.0], &mut scratch).unwrap(), &[0.0, 2.0]);
        assert_eq!(net.predict(&[1.0, 3.0], &mut scratch).unwrap(), 1);
        // A batch of two: second sample x = [2, 0]: h = [2, 2]; z = [2, 1]
        let both = net.logits(&[1.0, 3.0, 2.0, 0.0], &mut scratch).unwrap();
        assert_eq!(both, &[0.0, 2.0, 2.0, 1.0]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let params = [0.0f32; 12];
        assert!(matches!(
            Network::new(tiny(), &params[..11]),
            Err(Error::BufferLength {
                buffer: Buffer::Params,
                expected: 12,
                actual: 11
            })
        ));
        let net = Network::new(tiny(), &params[..]).unwrap();
        let mut small = [0.0f32; 3];
        assert!(net.logits(&[1.0, 2.0], &mut small).is_err());
        let mut scratch = [0.0f32; 4];
        assert!(net.logits(&[1.0, 2.0, 3.0], &mut scratch).is_err());
        assert!(net.logits(&[], &mut scratch).is_err());
        assert!(net.predict(&[1.0, 2.0, 3.0, 4.0], &mut scratch).is_err());
    }

    #[test]
    fn init_is_deterministic_and_scaled() {
        let t = Topology::new(784, &[Layer::new(32, Linear), Layer::new(10, Softmax)]).unwrap();
        let mut a = Network::new(t.clone(), [0.0f32; 784 * 32 + 32 + 330]).unwrap();
        let mut b = a.clone();
        a.init(Init::GlorotNormal, 5);
        b.init(Init::GlorotNormal, 5);
        assert_eq!(a.params(), b.params());
        b.init(Init::GlorotNormal, 6);
        assert_ne!(a.params(), b.params());
        let sigma = (2.0f32 / (784.0 + 32.0)).sqrt();
        let (w, bias) = a.params()[..784 * 32 + 32].split_at(784 * 32);
        assert!(w.iter().all(|x| x.abs() <= 2.0 * sigma));
        assert!(bias.iter().all(|x| *x == 0.0));
        // Truncated at 2σ, the spread is about 0.88σ.
        let sd = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
        assert!((sd / sigma - 0.88).abs() < 0.03, "{}", sd / sigma);
        for init in Init::ALL {
            a.init(init, 1);
            assert!(a.params().iter().all(|x| x.is_finite()));
            assert_eq!(Init::from_name(init.name()), Some(init));
        }
    }

    #[test]
    fn init_per_layer() {
        let t = Topology::new(784, &[Layer::new(32, Linear), Layer::new(10, Softmax)]).unwrap();
        let mut a = Network::new(t.clone(), [0.0f32; 784 * 32 + 32 + 330]).unwrap();
        let mut b = a.clone();
        a.init(Init::GlorotNormal, 9);
        b.init_with(|_| Init::GlorotNormal, 9);
        assert_eq!(a.params(), b.params());
        // The tutorial's: glorot-normal hidden layer, variance-scaling (fan_in) output.
        b.init_with(|i| [Init::GlorotNormal, Init::VarianceScaling][i], 9);
        let split = 784 * 32 + 32;
        assert_eq!(a.params()[..split], b.params()[..split]);
        let out = &b.params()[split..split + 320];
        let sigma = (1.0f32 / 32.0).sqrt();
        assert!(out.iter().all(|x| x.abs() <= 2.0 * sigma));
        // Glorot's σ here would be √(2/42), 1.23 times as wide.
        let sd = (out.iter().map(|x| x * x).sum::<f32>() / 320.0).sqrt();
        assert!((sd / sigma - 0.88).abs() < 0.08, "{}", sd / sigma);
        assert!(b.params()[split + 320..].iter().all(|x| *x == 0.0));
    }

    #[test]
    fn raw_inputs_are_scaled_first() {
        let params = [1.0, 0.5, -1.0, 0.5, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, -1.0];
        let net = Network::new(tiny(), &params[..]).unwrap();
        // (x − offset) / divisor gives x = [1, 3] from raw [12, 9].
        let s = InputScaling {
            offset: &[10.0, 3.0],
            divisor: &[2.0, 2.0],
        };
        let (mut scaled, mut scratch) = ([0.0f32; 4], [0.0f32; 8]);
        let z = net.logits_raw(&s, &[12.0, 9.0], &mut scaled, &mut scratch);
        assert_eq!(z.unwrap(), &[0.0, 2.0]);
        let c = net.predict_raw(&s, &[12.0, 9.0], &mut scaled, &mut scratch);
        assert_eq!(c.unwrap(), 1);
        assert!(net
            .logits_raw(&s, &[1.0; 4], &mut scaled[..3], &mut scratch)
            .is_err());
        assert!(net
            .predict_raw(&s, &[1.0; 4], &mut scaled, &mut scratch)
            .is_err());
        let narrow = InputScaling {
            offset: &[0.0],
            divisor: &[1.0],
        };
        assert!(net
            .logits_raw(&narrow, &[1.0, 2.0], &mut scaled, &mut scratch)
            .is_err());
    }

    #[test]
    fn argmax_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[f32::NAN, 1.0]), 1);
    }
}

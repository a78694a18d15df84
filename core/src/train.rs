//! Training: forward with stored activations, softmax cross-entropy (batch mean, as
//! TensorFlow.js), backward into a gradient buffer, then the SGD update.
//!
//! Scratch layout for a capacity of `cap` samples: every layer's activations
//! (`cap·units` each), two delta buffers (`cap·max_units` each), then the gradients
//! (laid out like the parameters).
use crate::network::{batch_of, forward_layer};
use crate::{
    kernels, simd, softmax_cross_entropy, Activation, Buffer, Error, Network, Sgd, Topology,
};

pub struct Trainer<'a> {
    topology: Topology,
    capacity: usize,
    sgd: Sgd,
    scratch: &'a mut [f32],
    velocity: &'a mut [f32],
}

fn check_len(buffer: Buffer, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::BufferLength {
            buffer,
            expected,
            actual,
        })
    }
}

impl<'a> Trainer<'a> {
    /// `scratch` must be `topology.train_scratch_len(batch)` long; `velocity` must be
    /// `topology.optimizer_len()` long when `sgd` has momentum, and may be empty otherwise.
    pub fn new(
        topology: &Topology,
        batch: usize,
        sgd: Sgd,
        scratch: &'a mut [f32],
        velocity: &'a mut [f32],
    ) -> Result<Self, Error> {
        if topology.layers().last().map(|l| l.activation) != Some(Activation::Softmax) {
            return Err(Error::OutputNotSoftmax);
        }
        if batch == 0 {
            return Err(Error::EmptyBatch);
        }
        check_len(
            Buffer::Scratch,
            topology.train_scratch_len(batch),
            scratch.len(),
        )?;
        if sgd.needs_state() || !velocity.is_empty() {
            if velocity.is_empty() {
                return Err(Error::MissingOptimizerState);
            }
            check_len(
                Buffer::OptimizerState,
                topology.optimizer_len(),
                velocity.len(),
            )?;
        }
        velocity.fill(0.0);
        Ok(Trainer {
            topology: topology.clone(),
            capacity: batch,
            sgd,
            scratch,
            velocity,
        })
    }

    pub fn sgd(&self) -> &Sgd {
        &self.sgd
    }

    /// For schedules: change the learning rate (or momentum) between steps. Turning
    /// momentum on needs a velocity buffer given at construction.
    pub fn set_sgd(&mut self, sgd: Sgd) -> Result<(), Error> {
        if sgd.needs_state() && self.velocity.is_empty() {
            return Err(Error::MissingOptimizerState);
        }
        self.sgd = sgd;
        Ok(())
    }

    /// The gradients of the last [`Trainer::loss_and_gradients`], laid out like the
    /// parameters.
    pub fn gradients(&self) -> &[f32] {
        let start = self.scratch.len() - self.topology.params_len();
        &self.scratch[start..]
    }

    /// One SGD step on a batch of up to the trainer's capacity; returns the batch-mean
    /// loss. A NaN or infinite loss is [`Error::NonFiniteLoss`] and leaves the parameters
    /// as they were.
    pub fn step<P>(
        &mut self,
        net: &mut Network<P>,
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<f32, Error>
    where
        P: AsRef<[f32]> + AsMut<[f32]>,
    {
        let loss = self.loss_and_gradients(net, inputs, labels)?;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss);
        }
        self.apply(net)?;
        Ok(loss)
    }

    /// Applies the gradients last computed to the parameters.
    pub fn apply<P>(&mut self, net: &mut Network<P>) -> Result<(), Error>
    where
        P: AsRef<[f32]> + AsMut<[f32]>,
    {
        if *net.topology() != self.topology {
            return Err(Error::TopologyMismatch);
        }
        let start = self.scratch.len() - self.topology.params_len();
        self.sgd
            .update(net.params_mut(), &self.scratch[start..], self.velocity);
        Ok(())
    }

    /// Forward, loss and backward for a batch; the gradients stay in the scratch buffer.
    pub fn loss_and_gradients<P: AsRef<[f32]>>(
        &mut self,
        net: &Network<P>,
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<f32, Error> {
        let t = &self.topology;
        if *net.topology() != *t {
            return Err(Error::TopologyMismatch);
        }
        let n = batch_of(t, inputs)?;
        check_len(Buffer::Labels, n, labels.len())?;
        if n > self.capacity {
            return Err(Error::BatchTooLarge {
                batch: n,
                capacity: self.capacity,
            });
        }
        let classes = t.outputs();
        if let Some(&label) = labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(Error::LabelOutOfRange { label, classes });
        }

        let layers = t.layers();
        let cap = self.capacity;
        let sum_units: usize = layers.iter().map(|l| l.units).sum();
        let max_units = layers.iter().map(|l| l.units).max().unwrap_or(0);
        let params = net.params();
        let (acts, rest) = self.scratch.split_at_mut(cap * sum_units);
        let (delta_a, rest) = rest.split_at_mut(cap * max_units);
        let (delta_b, grads) = rest.split_at_mut(cap * max_units);

        // Forward, keeping every layer's activations.
        let mut offset = 0;
        for i in 0..layers.len() {
            let (done, todo) = acts.split_at_mut(offset);
            let input: &[f32] = if i == 0 {
                inputs
            } else {
                &done[offset - cap * layers[i - 1].units..][..n * layers[i - 1].units]
            };
            forward_layer(t, params, i, input, todo, n);
            offset += cap * layers[i].units;
        }

        // Loss and the output delta (softmax − one-hot) / n.
        let logits_at = offset - cap * classes;
        let logits = &acts[logits_at..logits_at + n * classes];
        let (mut delta, mut delta_prev) = (delta_a, delta_b);
        let scale = 1.0 / n as f32;
        let mut loss = 0.0f32;
        for ((z, d), &label) in logits
            .chunks_exact(classes)
            .zip(delta.chunks_exact_mut(classes))
            .zip(labels)
        {
            loss += softmax_cross_entropy(z, usize::from(label), d);
            d.iter_mut().for_each(|g| *g *= scale);
        }

        // Backward, last layer first.
        let mut act_offset = offset;
        for i in (0..layers.len()).rev() {
            let units = layers[i].units;
            let fan_in = t.fan_in(i);
            act_offset -= cap * units;
            let prev: &[f32] = if i == 0 {
                inputs
            } else {
                &acts[act_offset - cap * fan_in..][..n * fan_in]
            };
            let (w, b) = t.offsets(i);
            let d = &delta[..n * units];
            let (grad_w, grad_b) = grads[w..b + units].split_at_mut(b - w);
            dense_gradients(prev, d, grad_w, grad_b);
            if i == 0 {
                break;
            }
            let below = layers[i - 1].activation;
            dense_backprop(
                &params[w..b],
                prev,
                d,
                &mut delta_prev[..n * fan_in],
                units,
                below,
            );
            core::mem::swap(&mut delta, &mut delta_prev);
        }
        Ok(loss * scale)
    }
}

simd::multiversion! {
    /// `dW[i] = Σ_s prev_s[i]·d_s` (zero inputs skipped), `db = Σ_s d_s`.
    fn dense_gradients(prev: &[f32], deltas: &[f32], grad_w: &mut [f32], grad_b: &mut [f32]) {
        let units = grad_b.len();
        let fan_in = grad_w.len() / units;
        grad_b.fill(0.0);
        for d in deltas.chunks_exact(units) {
            grad_b.iter_mut().zip(d).for_each(|(g, v)| *g += v);
        }
        // Sample by sample, each row sums its terms in sample order: the same bits as
        // row by row, but only the rows of non-zero inputs are touched.
        grad_w.fill(0.0);
        for (xs, d) in prev.chunks_exact(fan_in).zip(deltas.chunks_exact(units)) {
            kernels::for_each_nonzero(xs, |i, xi| {
                kernels::axpy(xi, d, &mut grad_w[i * units..][..units])
            });
        }
    }
}

simd::multiversion! {
    /// `d_prev_s[i] = f'(prev_s[i]) · (W[i] · d_s)`: the delta one layer down.
    fn dense_backprop(
        weights: &[f32],
        prev: &[f32],
        deltas: &[f32],
        deltas_prev: &mut [f32],
        units: usize,
        below: Activation,
    ) {
        let fan_in = weights.len() / units;
        for ((d, dp), xs) in deltas
            .chunks_exact(units)
            .zip(deltas_prev.chunks_exact_mut(fan_in))
            .zip(prev.chunks_exact(fan_in))
        {
            for ((g, row), &y) in dp.iter_mut().zip(weights.chunks_exact(units)).zip(xs) {
                *g = kernels::dot(row, d) * below.derivative_from_output(y);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation::*, Init, Layer};

    const LAYERS: [Layer; 3] = [
        Layer::new(5, Tanh),
        Layer::new(4, Sigmoid),
        Layer::new(3, Softmax),
    ];
    const P: usize = crate::params_len(4, &LAYERS);
    const S: usize = crate::train_scratch_len(4, &LAYERS, 3);
    const X: [f32; 12] = [
        0.1, -0.4, 0.9, 0.3, 0.7, 0.2, -0.5, 0.0, -0.8, 0.6, 0.1, 0.4,
    ];
    const Y: [u8; 3] = [2, 0, 1];

    fn arr(s: &[f32]) -> [f32; P] {
        s.try_into().unwrap()
    }

    fn loss_at(params: &[f32], scratch: &mut [f32]) -> f32 {
        let t = Topology::new(4, &LAYERS).unwrap();
        let net = Network::new(t.clone(), params).unwrap();
        let mut tr = Trainer::new(&t, 3, Sgd::new(0.1), scratch, &mut []).unwrap();
        tr.loss_and_gradients(&net, &X, &Y).unwrap()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let t = Topology::new(4, &LAYERS).unwrap();
        let mut net = Network::new(t.clone(), [0.0f32; P]).unwrap();
        net.init(Init::GlorotUniform, 11);
        // Non-zero biases so their gradients are exercised too.
        net.params_mut().iter_mut().for_each(|p| *p += 0.05);
        let mut scratch = [0.0f32; S];
        let mut tr = Trainer::new(&t, 3, Sgd::new(0.1), &mut scratch, &mut []).unwrap();
        tr.loss_and_gradients(&net, &X, &Y).unwrap();
        let grads: [f32; P] = core::array::from_fn(|i| tr.gradients()[i]);
        let mut tmp = [0.0f32; S];
        for k in 0..P {
            let h = 1e-2f32;
            let mut p = arr(net.params());
            p[k] += h;
            let plus = loss_at(&p, &mut tmp);
            p[k] -= 2.0 * h;
            let minus = loss_at(&p, &mut tmp);
            let numeric = (plus - minus) / (2.0 * h);
            assert!(
                (numeric - grads[k]).abs() < 1e-3 + 1e-2 * grads[k].abs(),
                "param {k}: analytic {} numeric {numeric}",
                grads[k]
            );
        }
    }

    #[test]
    fn training_reduces_loss_deterministically() {
        let run = || {
            let t = Topology::new(4, &LAYERS).unwrap();
            let mut net = Network::new(t.clone(), [0.0f32; P]).unwrap();
            net.init(Init::GlorotNormal, 1);
            let (mut scratch, mut v) = ([0.0f32; S], [0.0f32; P]);
            let sgd = Sgd::new(0.5).with_momentum(0.9).with_weight_decay(1e-4);
            let mut tr = Trainer::new(&t, 3, sgd, &mut scratch, &mut v).unwrap();
            let first = tr.step(&mut net, &X, &Y).unwrap();
            let mut last = first;
            for _ in 0..200 {
                last = tr.step(&mut net, &X, &Y).unwrap();
            }
            (first, last, arr(net.params()))
        };
        let (first, last, params) = run();
        assert!(last < 0.05 * first, "{first} -> {last}");
        let (_, _, again) = run();
        assert_eq!(params.map(f32::to_bits), again.map(f32::to_bits));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let t = Topology::new(4, &LAYERS).unwrap();
        let mut net = Network::new(t.clone(), [0.0f32; P]).unwrap();
        let mut scratch = [0.0f32; S];
        let sgd = Sgd::new(0.1);
        assert!(matches!(
            Trainer::new(&t, 2, sgd, &mut scratch, &mut []).err(),
            Some(Error::BufferLength {
                buffer: Buffer::Scratch,
                ..
            })
        ));
        assert_eq!(
            Trainer::new(&t, 3, sgd.with_momentum(0.9), &mut scratch, &mut []).err(),
            Some(Error::MissingOptimizerState)
        );
        let linear_out = Topology::new(4, &[Layer::new(3, Linear)]).unwrap();
        assert_eq!(
            Trainer::new(&linear_out, 3, sgd, &mut scratch, &mut []).err(),
            Some(Error::OutputNotSoftmax)
        );
        let mut tr = Trainer::new(&t, 3, sgd, &mut scratch, &mut []).unwrap();
        assert_eq!(
            tr.step(&mut net, &X, &[2, 0, 3]),
            Err(Error::LabelOutOfRange {
                label: 3,
                classes: 3
            })
        );
        assert!(tr.step(&mut net, &X, &Y[..2]).is_err());
        assert!(tr.step(&mut net, &X[..5], &Y[..1]).is_err());
        let four = [0.5f32; 16];
        assert_eq!(
            tr.step(&mut net, &four, &[0, 1, 2, 0]),
            Err(Error::BatchTooLarge {
                batch: 4,
                capacity: 3
            })
        );
        // A smaller final batch is fine.
        assert!(tr.step(&mut net, &X[..8], &Y[..2]).is_ok());
        let mut other = Network::new(linear_out, [0.0f32; 15]).unwrap();
        assert_eq!(
            tr.step(&mut other, &X[..4], &Y[..1]),
            Err(Error::TopologyMismatch)
        );
        assert_eq!(
            tr.set_sgd(sgd.with_momentum(0.5)),
            Err(Error::MissingOptimizerState)
        );
    }

    #[test]
    fn non_finite_loss_leaves_params_unchanged() {
        let t = Topology::new(4, &LAYERS).unwrap();
        let mut net = Network::new(t.clone(), [0.0f32; P]).unwrap();
        net.init(Init::GlorotNormal, 2);
        net.params_mut()[P - 1] = f32::NAN;
        let before = arr(net.params()).map(f32::to_bits);
        let mut scratch = [0.0f32; S];
        let mut tr = Trainer::new(&t, 3, Sgd::new(0.1), &mut scratch, &mut []).unwrap();
        assert_eq!(tr.step(&mut net, &X, &Y), Err(Error::NonFiniteLoss));
        assert_eq!(arr(net.params()).map(f32::to_bits), before);
    }
}

//! Training: forward with stored activations, softmax cross-entropy (batch mean, as
//! TensorFlow.js), backward into a gradient buffer, then the SGD update.
//!
//! The scratch buffer is laid out by [`TrainLayout`]; the loops are in the crate's
//! kernels (`kernels::dense`), this module checks and orchestrates.
use crate::kernels::dense::{dense_backprop, dense_gradients};
use crate::kernels::sparse::Nonzeros;
use crate::loss::{softmax_cross_entropy, tfjs_categorical_crossentropy, Loss};
use crate::network::{batch_of, forward_layer};
use crate::sizes::TrainLayout;
use crate::{Activation, Buffer, Error, Network, Sgd, Topology};

/// Trains a [`Network`] of one topology on batches of up to a fixed capacity, in
/// caller-owned scratch and optimizer-state buffers.
pub struct Trainer<'a> {
    topology: Topology,
    capacity: usize,
    layout: TrainLayout,
    sgd: Sgd,
    loss: Loss,
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
            layout: TrainLayout::new(topology.input(), topology.layers(), batch),
            sgd,
            loss: Loss::default(),
            scratch,
            velocity,
        })
    }

    /// Trains with `loss` instead of the default fused softmax cross-entropy.
    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// The loss it trains with.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// The optimizer's current settings.
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

    /// The optimizer's state (momentum velocity, laid out like the parameters; empty
    /// without momentum): with the parameters, all a step depends on besides its batch.
    pub fn velocity(&self) -> &[f32] {
        self.velocity
    }

    /// Puts back a state read with [`Trainer::velocity`], to replay steps from a snapshot.
    pub fn set_velocity(&mut self, velocity: &[f32]) -> Result<(), Error> {
        check_len(Buffer::OptimizerState, self.velocity.len(), velocity.len())?;
        self.velocity.copy_from_slice(velocity);
        Ok(())
    }

    /// The gradients of the last [`Trainer::loss_and_gradients`], laid out like the
    /// parameters.
    pub fn gradients(&self) -> &[f32] {
        let start = self.scratch.len() - self.layout.gradients;
        &self.scratch[start..]
    }

    /// One SGD step on a batch of up to the trainer's capacity; returns the batch-mean
    /// loss. A NaN or infinite loss is [`Error::NonFiniteLoss`] and leaves the parameters
    /// as they were. Gives the same bits as [`Trainer::loss_and_gradients`] followed by
    /// [`Trainer::apply`], but updates each block of weights as soon as its gradient is
    /// summed, so the gradients never travel through memory.
    pub fn step<P>(
        &mut self,
        net: &mut Network<P>,
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<f32, Error>
    where
        P: AsRef<[f32]> + AsMut<[f32]>,
    {
        let n = self.check(net.topology(), inputs, labels)?;
        let loss = self.forward_and_loss(net.params(), inputs, labels, n);
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss);
        }
        if n <= Nonzeros::BLOCK {
            self.backward(Target::Params(net.params_mut()), inputs, n);
        } else {
            // The fused update sums a row over at most one block of samples at a time.
            self.backward(Target::Gradients(net.params()), inputs, n);
            self.apply(net)?;
        }
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
        let (_, _, _, grads) = self.layout.split(self.scratch);
        self.sgd.update(net.params_mut(), grads, self.velocity);
        Ok(())
    }

    /// Forward, loss and backward for a batch; the gradients stay in the scratch buffer.
    pub fn loss_and_gradients<P: AsRef<[f32]>>(
        &mut self,
        net: &Network<P>,
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<f32, Error> {
        let n = self.check(net.topology(), inputs, labels)?;
        let loss = self.forward_and_loss(net.params(), inputs, labels, n);
        self.backward(Target::Gradients(net.params()), inputs, n);
        Ok(loss)
    }

    /// Validates a batch against the trainer; returns its size.
    fn check(&self, topology: &Topology, inputs: &[f32], labels: &[u8]) -> Result<usize, Error> {
        let t = &self.topology;
        if *topology != *t {
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
        Ok(n)
    }

    /// Forward keeping every layer's activations, then the batch-mean loss and the output
    /// delta (the loss's gradient, batch mean) into the first delta buffer.
    fn forward_and_loss(&mut self, params: &[f32], inputs: &[f32], labels: &[u8], n: usize) -> f32 {
        let t = self.topology.clone();
        let (cap, kind) = (self.capacity, self.loss);
        let layers = t.layers();
        let (acts, delta, _, _) = self.layout.split(self.scratch);
        let mut offset = 0;
        for i in 0..layers.len() {
            let (done, todo) = acts.split_at_mut(offset);
            let input: &[f32] = if i == 0 {
                inputs
            } else {
                &done[offset - cap * layers[i - 1].units..][..n * layers[i - 1].units]
            };
            forward_layer(&t, params, i, input, todo, n);
            offset += cap * layers[i].units;
        }
        let classes = t.outputs();
        let logits = &acts[offset - cap * classes..][..n * classes];
        let scale = 1.0 / n as f32;
        let mut loss = 0.0f32;
        let samples = logits
            .chunks_exact(classes)
            .zip(delta.chunks_exact_mut(classes))
            .zip(labels);
        match kind {
            Loss::SoftmaxCrossEntropy => {
                for ((z, d), &label) in samples {
                    loss += softmax_cross_entropy(z, usize::from(label), d);
                    d.iter_mut().for_each(|g| *g *= scale);
                }
            }
            Loss::TfjsCategorical => {
                for ((z, d), &label) in samples {
                    loss += tfjs_categorical_crossentropy(z, usize::from(label), scale, d);
                }
            }
        }
        loss * scale
    }

    /// Backward, last layer first: each layer's delta one layer down (with the weights as
    /// they were), then its gradients into `target`.
    fn backward(&mut self, mut target: Target<'_>, inputs: &[f32], n: usize) {
        let t = self.topology.clone();
        let (cap, sgd) = (self.capacity, self.sgd);
        let layers = t.layers();
        let velocity = &mut *self.velocity;
        let (acts, mut delta, mut delta_prev, grads) = self.layout.split(self.scratch);
        let mut act_offset = acts.len();
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
            if i > 0 {
                let weights = match &target {
                    Target::Gradients(p) => &p[w..b],
                    Target::Params(p) => &p[w..b],
                };
                let below = layers[i - 1].activation;
                dense_backprop(
                    weights,
                    prev,
                    d,
                    &mut delta_prev[..n * fan_in],
                    units,
                    below,
                );
            }
            let update = matches!(target, Target::Params(_));
            let (into, velocity) = match &mut target {
                Target::Gradients(_) => (&mut grads[w..b + units], &mut [][..]),
                Target::Params(p) => (
                    &mut p[w..b + units],
                    match velocity.get_mut(w..b + units) {
                        Some(v) => v,
                        None => &mut [][..],
                    },
                ),
            };
            dense_gradients(prev, d, into, velocity, units, update, sgd);
            core::mem::swap(&mut delta, &mut delta_prev);
        }
    }
}

/// Where backward puts a layer's gradients.
enum Target<'p> {
    /// Into the scratch buffer; the parameters are only read.
    Gradients(&'p [f32]),
    /// Straight into an SGD update of these parameters.
    Params(&'p mut [f32]),
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::{Activation::*, Init, Layer};

    const LAYERS: [Layer; 3] = [
        Layer::new(5, Tanh),
        Layer::new(4, Sigmoid),
        Layer::new(3, Softmax),
    ];
    const P: usize = crate::sizes::params_len(4, &LAYERS);
    const S: usize = crate::sizes::train_scratch_len(4, &LAYERS, 3);
    const X: [f32; 12] = [
        0.1, -0.4, 0.9, 0.3, 0.7, 0.2, -0.5, 0.0, -0.8, 0.6, 0.1, 0.4,
    ];
    const Y: [u8; 3] = [2, 0, 1];

    fn arr(s: &[f32]) -> [f32; P] {
        s.try_into().unwrap()
    }

    fn loss_at(params: &[f32], scratch: &mut [f32], loss: Loss) -> f32 {
        let t = Topology::new(4, &LAYERS).unwrap();
        let net = Network::new(t.clone(), params).unwrap();
        let tr = Trainer::new(&t, 3, Sgd::new(0.1), scratch, &mut []).unwrap();
        tr.with_loss(loss).loss_and_gradients(&net, &X, &Y).unwrap()
    }

    /// Both losses' gradients, through every layer, against central differences.
    #[test]
    fn gradients_match_finite_differences() {
        for loss in [Loss::SoftmaxCrossEntropy, Loss::TfjsCategorical] {
            let t = Topology::new(4, &LAYERS).unwrap();
            let mut net = Network::new(t.clone(), [0.0f32; P]).unwrap();
            net.init(Init::GlorotUniform, 11);
            // Non-zero biases so their gradients are exercised too.
            net.params_mut().iter_mut().for_each(|p| *p += 0.05);
            let mut scratch = [0.0f32; S];
            let tr = Trainer::new(&t, 3, Sgd::new(0.1), &mut scratch, &mut []).unwrap();
            let mut tr = tr.with_loss(loss);
            assert_eq!(tr.loss(), loss);
            tr.loss_and_gradients(&net, &X, &Y).unwrap();
            let grads: [f32; P] = core::array::from_fn(|i| tr.gradients()[i]);
            let mut tmp = [0.0f32; S];
            for k in 0..P {
                let h = 1e-2f32;
                let mut p = arr(net.params());
                p[k] += h;
                let plus = loss_at(&p, &mut tmp, loss);
                p[k] -= 2.0 * h;
                let minus = loss_at(&p, &mut tmp, loss);
                let numeric = (plus - minus) / (2.0 * h);
                assert!(
                    (numeric - grads[k]).abs() < 1e-3 + 1e-2 * grads[k].abs(),
                    "{loss:?} param {k}: analytic {} numeric {numeric}",
                    grads[k]
                );
            }
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

    /// The fused step must give the bits of gradients-then-apply, for plain SGD (which
    /// skips rows of zero inputs), momentum with decay, and batches over one block.
    #[test]
    fn fused_step_equals_gradients_then_apply() {
        const L: [Layer; 2] = [Layer::new(20, Relu), Layer::new(10, Softmax)];
        const IN: usize = 40;
        const PL: usize = crate::sizes::params_len(IN, &L);
        let t = Topology::new(IN, &L).unwrap();
        let mut rng = crate::rng::Rng::new(4);
        for (batch, sgd) in [
            (16, Sgd::new(0.2)),
            (16, Sgd::new(0.2).with_momentum(0.9).with_weight_decay(1e-3)),
            (70, Sgd::new(0.2).with_momentum(0.5)),
            (70, Sgd::new(0.2)),
        ] {
            // Sparse inputs, like MNIST: most values exactly zero.
            let xs: std::vec::Vec<f32> = (0..batch * IN)
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.next_f64() as f32
                    } else {
                        0.0
                    }
                })
                .collect();
            let ys: std::vec::Vec<u8> = (0..batch).map(|_| rng.below(10) as u8).collect();
            let mut fused = Network::new(t.clone(), std::vec![0.0f32; PL]).unwrap();
            fused.init(Init::He, 3);
            let mut split = fused.clone();
            let len = t.train_scratch_len(batch);
            let (mut s1, mut s2) = (std::vec![0.0f32; len], std::vec![0.0f32; len]);
            let (mut v1, mut v2) = (std::vec![0.0f32; PL], std::vec![0.0f32; PL]);
            let mut a = Trainer::new(&t, batch, sgd, &mut s1, &mut v1).unwrap();
            let mut b = Trainer::new(&t, batch, sgd, &mut s2, &mut v2).unwrap();
            for _ in 0..5 {
                let l1 = a.step(&mut fused, &xs, &ys).unwrap();
                let l2 = b.loss_and_gradients(&split, &xs, &ys).unwrap();
                b.apply(&mut split).unwrap();
                assert_eq!(l1.to_bits(), l2.to_bits());
            }
            let bits = |n: &Network<std::vec::Vec<f32>>| {
                n.params()
                    .iter()
                    .map(|p| p.to_bits())
                    .collect::<std::vec::Vec<_>>()
            };
            assert_eq!(bits(&fused), bits(&split), "batch {batch}, {sgd:?}");
        }
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

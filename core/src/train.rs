//! Training: forward with stored activations, softmax cross-entropy (batch mean, as
//! TensorFlow.js), backward into a gradient buffer, then the SGD update.
//!
//! The scratch buffer is laid out by [`TrainLayout`]; the loops are in the crate's
//! kernels (`kernels::dense`), this module checks and orchestrates.
use crate::kernels::dense::{dense_backprop, dense_gradient_rows, dense_gradients, GradientRows};
use crate::kernels::sparse::Nonzeros;
use crate::loss::{softmax_cross_entropy, tfjs_categorical_crossentropy, Loss};
use crate::network::{argmax, batch_of, forward_dense, forward_layer};
use crate::parallel::{part, Parallel, Shared};
use crate::sizes::TrainLayout;
use crate::{Activation, Buffer, Error, Network, Optimizer, Sgd, Topology};

/// Trains a [`Network`] of one topology on batches of up to a fixed capacity, in
/// caller-owned scratch and optimizer-state buffers: all its layers ([`Trainer::new`]),
/// or only the last ones ([`Trainer::tail`]), whose frozen layers it never writes.
pub struct Trainer<'a> {
    topology: Topology,
    capacity: usize,
    /// The first trained layer (0: all of them).
    first: usize,
    /// Parameters before the first trained layer (the frozen part).
    split: usize,
    layout: TrainLayout,
    optimizer: Optimizer,
    loss: Loss,
    scratch: &'a mut [f32],
    velocity: &'a mut [f32],
    parallel: Option<&'a dyn Parallel>,
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
    /// A trainer of every layer. `scratch` must be `topology.train_scratch_len(batch)`
    /// long; `velocity` (the optimizer's state) must be `topology.optimizer_len()` long
    /// for SGD with momentum, [`crate::sizes::adam_len`] for Adam, and may be empty for
    /// plain SGD.
    pub fn new(
        topology: &Topology,
        batch: usize,
        optimizer: impl Into<Optimizer>,
        scratch: &'a mut [f32],
        velocity: &'a mut [f32],
    ) -> Result<Self, Error> {
        Self::tail(topology, batch, 0, optimizer, scratch, velocity)
    }

    /// A trainer of layers `first..` only (fine-tuning): the layers below are frozen,
    /// read but never written, so their parameters may stay in flash (see
    /// [`Trainer::step_split`]). Memory is spent on the trained layers only: `scratch`
    /// must be [`crate::sizes::tail_train_scratch_len`] long and `velocity`
    /// [`crate::sizes::tail_optimizer_len`] (or empty for plain SGD).
    pub fn tail(
        topology: &Topology,
        batch: usize,
        first: usize,
        optimizer: impl Into<Optimizer>,
        scratch: &'a mut [f32],
        velocity: &'a mut [f32],
    ) -> Result<Self, Error> {
        let optimizer = optimizer.into();
        let layers = topology.layers();
        if layers.last().map(|l| l.activation) != Some(Activation::Softmax) {
            return Err(Error::OutputNotSoftmax);
        }
        if batch == 0 {
            return Err(Error::EmptyBatch);
        }
        if first >= layers.len() {
            return Err(Error::FirstTrainable {
                first,
                layers: layers.len(),
            });
        }
        optimizer.check()?;
        let layout = TrainLayout::tail(topology.input(), layers, batch, first);
        check_len(Buffer::Scratch, layout.len(), scratch.len())?;
        let trained = layout.gradients;
        let needed = optimizer.state_len(trained);
        if needed != 0 || !velocity.is_empty() {
            if velocity.is_empty() {
                return Err(Error::MissingOptimizerState);
            }
            check_len(Buffer::OptimizerState, needed.max(trained), velocity.len())?;
        }
        optimizer.reset(velocity);
        Ok(Trainer {
            topology: topology.clone(),
            capacity: batch,
            first,
            split: topology.params_len() - trained,
            layout,
            optimizer,
            loss: Loss::default(),
            scratch,
            velocity,
            parallel: None,
        })
    }

    /// Runs the trained layers' kernels in `parallel`'s parts (see [`crate::parallel`]):
    /// the same bits as without.
    pub fn with_parallel(mut self, parallel: &'a dyn Parallel) -> Self {
        self.parallel = Some(parallel);
        self
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
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// For schedules: change the learning rate (or momentum) between steps. Turning
    /// momentum on needs a velocity buffer given at construction.
    pub fn set_sgd(&mut self, sgd: Sgd) -> Result<(), Error> {
        self.set_optimizer(sgd)
    }

    /// For schedules: change the optimizer's settings between steps; its kind (SGD or
    /// Adam) stays (their states differ). Turning momentum on needs a velocity buffer
    /// given at construction.
    pub fn set_optimizer(&mut self, optimizer: impl Into<Optimizer>) -> Result<(), Error> {
        let optimizer = optimizer.into();
        optimizer.check()?;
        match (&self.optimizer, &optimizer) {
            (Optimizer::Sgd(_), Optimizer::Sgd(sgd)) => {
                if sgd.needs_state() && self.velocity.is_empty() {
                    return Err(Error::MissingOptimizerState);
                }
            }
            (Optimizer::Adam(_), Optimizer::Adam(_)) => {}
            _ => return Err(Error::OptimizerSettings),
        }
        self.optimizer = optimizer;
        Ok(())
    }

    /// The optimizer's state (SGD's momentum velocity, laid out like the trained
    /// parameters, empty without momentum; Adam's moments and bias-correction products):
    /// with the parameters, all a step depends on besides its batch.
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
    /// trained parameters.
    pub fn gradients(&self) -> &[f32] {
        let start = self.scratch.len() - self.layout.gradients;
        &self.scratch[start..]
    }

    /// The first trained layer (0 when every layer is trained).
    pub fn first_trained(&self) -> usize {
        self.first
    }

    /// One optimizer step on a batch of up to the trainer's capacity; returns the
    /// batch-mean loss. A NaN or infinite loss is [`Error::NonFiniteLoss`] and leaves the
    /// parameters as they were. Gives the same bits as [`Trainer::loss_and_gradients`]
    /// followed by [`Trainer::apply`]; with SGD it updates each block of weights as soon
    /// as its gradient is summed, so the gradients never travel through memory. Only the
    /// trained layers' parameters are written.
    pub fn step<P>(
        &mut self,
        net: &mut Network<P>,
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<f32, Error>
    where
        P: AsRef<[f32]> + AsMut<[f32]>,
    {
        if *net.topology() != self.topology {
            return Err(Error::TopologyMismatch);
        }
        let (frozen, trained) = net.params_mut().split_at_mut(self.split);
        self.step_split(frozen, trained, inputs, labels)
    }

    /// [`Trainer::step`] with the parameters in two parts: `frozen`, those of the layers
    /// below the first trained one (read only: flash will do), and `trained`, the rest.
    pub fn step_split(
        &mut self,
        frozen: &[f32],
        trained: &mut [f32],
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<f32, Error> {
        self.check_parts(frozen, trained)?;
        let n = self.check(inputs, labels)?;
        let loss = self.forward_and_loss(frozen, trained, inputs, labels, n);
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss);
        }
        match self.optimizer.fusable() {
            // The fused update sums a row over at most one block of samples at a time.
            Some(sgd) if n <= Nonzeros::BLOCK => {
                self.backward(Target::Params(trained), sgd, inputs, n);
            }
            _ => {
                self.backward(Target::Gradients(trained), Sgd::new(0.0), inputs, n);
                self.apply_to(trained);
            }
        }
        Ok(loss)
    }

    /// The batch-mean loss and the number of correct predictions (argmax of the logits)
    /// on a batch, with the parameters in two parts as for [`Trainer::step_split`]:
    /// evaluation of a fine-tuned model whose frozen part stays in flash. Writes only the
    /// scratch buffer.
    pub fn evaluate_split(
        &mut self,
        frozen: &[f32],
        trained: &[f32],
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<(f32, usize), Error> {
        self.check_parts(frozen, trained)?;
        let n = self.check(inputs, labels)?;
        let loss = self.forward_and_loss(frozen, trained, inputs, labels, n);
        let classes = self.topology.outputs();
        let (acts, _, _, _) = self.layout.split(self.scratch);
        let logits = &acts[acts.len() - self.capacity * classes..][..n * classes];
        let right = logits
            .chunks_exact(classes)
            .zip(labels)
            .filter(|(z, &label)| argmax(z) == usize::from(label))
            .count();
        Ok((loss, right))
    }

    /// Applies the gradients last computed to the trained parameters.
    pub fn apply<P>(&mut self, net: &mut Network<P>) -> Result<(), Error>
    where
        P: AsRef<[f32]> + AsMut<[f32]>,
    {
        if *net.topology() != self.topology {
            return Err(Error::TopologyMismatch);
        }
        let trained = net.params_mut().get_mut(self.split..).unwrap_or(&mut []);
        self.apply_to(trained);
        Ok(())
    }

    fn apply_to(&mut self, trained: &mut [f32]) {
        let (_, _, _, grads) = self.layout.split(self.scratch);
        self.optimizer.update(trained, grads, self.velocity);
    }

    /// Forward, loss and backward for a batch; the gradients (of the trained layers)
    /// stay in the scratch buffer.
    pub fn loss_and_gradients<P: AsRef<[f32]>>(
        &mut self,
        net: &Network<P>,
        inputs: &[f32],
        labels: &[u8],
    ) -> Result<f32, Error> {
        if *net.topology() != self.topology {
            return Err(Error::TopologyMismatch);
        }
        let (frozen, trained) = net.params().split_at(self.split);
        let n = self.check(inputs, labels)?;
        let loss = self.forward_and_loss(frozen, trained, inputs, labels, n);
        self.backward(Target::Gradients(trained), Sgd::new(0.0), inputs, n);
        Ok(loss)
    }

    /// Checks the two parts of the parameters have the lengths this trainer splits at.
    fn check_parts(&self, frozen: &[f32], trained: &[f32]) -> Result<(), Error> {
        check_len(Buffer::Params, self.split, frozen.len())?;
        check_len(Buffer::Params, self.layout.gradients, trained.len())
    }

    /// Validates a batch against the trainer; returns its size.
    fn check(&self, inputs: &[f32], labels: &[u8]) -> Result<usize, Error> {
        let t = &self.topology;
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

    /// Forward keeping the activations backward needs, then the batch-mean loss and the
    /// output delta (the loss's gradient, batch mean) into the first delta buffer. Frozen layers
    /// whose outputs are not kept run through the two delta buffers in turn.
    fn forward_and_loss(
        &mut self,
        frozen: &[f32],
        trained: &[f32],
        inputs: &[f32],
        labels: &[u8],
        n: usize,
    ) -> f32 {
        let t = self.topology.clone();
        let (cap, split, kind, parallel) = (self.capacity, self.split, self.loss, self.parallel);
        let layers = t.layers();
        let stored = self.first.saturating_sub(1);
        let (acts, delta, other, _) = self.layout.split(self.scratch);
        for i in 0..stored {
            let fan_in = n * t.fan_in(i);
            match (i, i % 2) {
                (0, _) => forward_layer(&t, frozen, i, inputs, delta, n),
                (_, 1) => forward_layer(&t, frozen, i, &delta[..fan_in], other, n),
                _ => forward_layer(&t, frozen, i, &other[..fan_in], delta, n),
            }
        }
        let mut offset = 0;
        for (i, layer) in layers.iter().enumerate().skip(stored) {
            let (done, todo) = acts.split_at_mut(offset);
            let fan_in = t.fan_in(i);
            let input: &[f32] = match i {
                0 => inputs,
                _ if i == stored => match (i - 1) % 2 {
                    0 => &delta[..n * fan_in],
                    _ => &other[..n * fan_in],
                },
                _ => &done[offset - cap * fan_in..][..n * fan_in],
            };
            if i < self.first {
                forward_layer(&t, frozen, i, input, todo, n);
            } else {
                // The trained part starts at offset `split` of the flat parameters.
                let (w, b) = t.offsets(i);
                let (w, b) = (w - split, b - split);
                let params = (&trained[w..b], &trained[b..b + layer.units]);
                forward_parts(parallel, *layer, params, &input[..n * fan_in], todo, n);
            }
            offset += cap * layer.units;
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

    /// Backward over the trained layers, last first: each layer's delta one layer down
    /// (with the weights as they were; not below the first trained layer), then its
    /// gradients into `target` (with `sgd` when that is the parameters).
    fn backward(&mut self, mut target: Target<'_>, sgd: Sgd, inputs: &[f32], n: usize) {
        let t = self.topology.clone();
        let (cap, first, split, parallel) = (self.capacity, self.first, self.split, self.parallel);
        let layers = t.layers();
        let velocity = &mut *self.velocity;
        let (acts, mut delta, mut delta_prev, grads) = self.layout.split(self.scratch);
        let mut act_offset = acts.len();
        for i in (first..layers.len()).rev() {
            let units = layers[i].units;
            let fan_in = t.fan_in(i);
            act_offset -= cap * units;
            let prev: &[f32] = if i == 0 {
                inputs
            } else {
                &acts[act_offset - cap * fan_in..][..n * fan_in]
            };
            let (w, b) = t.offsets(i);
            let (w, b) = (w - split, b - split);
            let d = &delta[..n * units];
            if i > first {
                let weights = match &target {
                    Target::Gradients(p) => &p[w..b],
                    Target::Params(p) => &p[w..b],
                };
                let below = layers[i - 1].activation;
                let out = &mut delta_prev[..n * fan_in];
                backprop_parts(parallel, weights, prev, d, out, units, below);
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
            gradients_parts(parallel, prev, d, into, velocity, units, update, sgd);
            core::mem::swap(&mut delta, &mut delta_prev);
        }
    }
}

/// `forward_dense` of `n` samples, split by samples into `parallel`'s parts.
fn forward_parts(
    parallel: Option<&dyn Parallel>,
    layer: crate::Layer,
    params: (&[f32], &[f32]),
    input: &[f32],
    out: &mut [f32],
    n: usize,
) {
    // Chips (no OS) have no threads: the plain call, and no parallel code in flash.
    #[cfg(target_os = "none")]
    let parallel = parallel.filter(|_| false);
    let parts = parallel.map_or(1, |p| p.parts().min(n));
    let (Some(p), true) = (parallel, parts > 1) else {
        return forward_dense(layer, params, input, out, n);
    };
    let (fan_in, units) = (input.len() / n, layer.units);
    let out = Shared::new(&mut out[..n * units]);
    p.run(&|k| {
        if k >= parts {
            return;
        }
        let r = part(n, k, parts);
        // SAFETY: the parts' sample ranges are disjoint.
        let o = unsafe { out.range(r.start * units..r.end * units) };
        let x = &input[r.start * fan_in..r.end * fan_in];
        forward_dense(layer, params, x, o, r.len());
    });
}

/// `dense_backprop`, split by samples into `parallel`'s parts.
fn backprop_parts(
    parallel: Option<&dyn Parallel>,
    weights: &[f32],
    prev: &[f32],
    d: &[f32],
    out: &mut [f32],
    units: usize,
    below: crate::Activation,
) {
    // Chips (no OS) have no threads: the plain call, and no parallel code in flash.
    #[cfg(target_os = "none")]
    let parallel = parallel.filter(|_| false);
    let n = d.len() / units;
    let parts = parallel.map_or(1, |p| p.parts().min(n));
    let (Some(p), true) = (parallel, parts > 1) else {
        return dense_backprop(weights, prev, d, out, units, below);
    };
    let fan_in = out.len() / n;
    let out = Shared::new(out);
    p.run(&|k| {
        if k >= parts {
            return;
        }
        let r = part(n, k, parts);
        // SAFETY: the parts' sample ranges are disjoint.
        let o = unsafe { out.range(r.start * fan_in..r.end * fan_in) };
        let (x, dk) = (
            &prev[r.start * fan_in..r.end * fan_in],
            &d[r.start * units..r.end * units],
        );
        dense_backprop(weights, x, dk, o, units, below);
    });
}

/// `dense_gradients`, split by weight rows into `parallel`'s parts (the last one also
/// does the biases): every row's sum over the samples stays in one part.
#[allow(clippy::too_many_arguments)]
fn gradients_parts(
    parallel: Option<&dyn Parallel>,
    prev: &[f32],
    d: &[f32],
    into: &mut [f32],
    velocity: &mut [f32],
    units: usize,
    update: bool,
    sgd: Sgd,
) {
    // Chips (no OS) have no threads: the plain call, and no parallel code in flash.
    #[cfg(target_os = "none")]
    let parallel = parallel.filter(|_| false);
    let fan_in = into.len() / units - 1;
    let parts = parallel.map_or(1, |p| p.parts().min(fan_in));
    let (Some(p), true) = (parallel, parts > 1) else {
        return dense_gradients(prev, d, into, velocity, units, update, sgd);
    };
    let stateful = !velocity.is_empty();
    let (into, velocity) = (Shared::new(into), Shared::new(velocity));
    p.run(&|k| {
        if k >= parts {
            return;
        }
        let r = part(fan_in, k, parts);
        let biases = k + 1 == parts;
        let end = r.end * units + if biases { units } else { 0 };
        // SAFETY: the parts' row ranges are disjoint (the biases go to the last).
        let (into, v) = unsafe {
            (
                into.range(r.start * units..end),
                velocity.range(r.start * units..end),
            )
        };
        let v = if stateful { v } else { &mut [][..] };
        let rows = GradientRows {
            first: r.start,
            fan_in,
            biases,
        };
        dense_gradient_rows(prev, d, into, v, units, update, sgd, rows);
    });
}

/// Where backward puts a layer's gradients (the trained parameters either way).
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

    /// Sparse random inputs (most values exactly zero, like MNIST) and labels.
    fn sparse_batch(
        rng: &mut crate::rng::Rng,
        n: usize,
        input: usize,
    ) -> (std::vec::Vec<f32>, std::vec::Vec<u8>) {
        let xs = (0..n * input)
            .map(|_| match rng.below(4) {
                0 => rng.next_f64() as f32,
                _ => 0.0,
            })
            .collect();
        (xs, (0..n).map(|_| rng.below(10) as u8).collect())
    }

    /// Training the last layers leaves the frozen ones bit for bit as they were, and
    /// updates the trained ones exactly as full training would if the frozen layers'
    /// gradients were thrown away; for SGD (fused and not, with momentum) and Adam, with
    /// the frozen parameters in the network or in a separate read-only slice.
    #[test]
    fn tail_training_equals_full_training_without_frozen_gradients() {
        use crate::Adam;
        use std::vec;
        const L: [Layer; 4] = [
            Layer::new(24, Relu),
            Layer::new(18, Tanh),
            Layer::new(12, Relu),
            Layer::new(10, Softmax),
        ];
        const IN: usize = 40;
        let t = Topology::new(IN, &L).unwrap();
        let mut rng = crate::rng::Rng::new(12);
        let optimizers: [(usize, Optimizer); 4] = [
            (16, Sgd::new(0.2).into()),
            (
                70,
                Sgd::new(0.2)
                    .with_momentum(0.9)
                    .with_weight_decay(1e-3)
                    .into(),
            ),
            (16, Adam::new(0.01).into()),
            (70, Adam::new(0.01).with_betas(0.8, 0.99).into()),
        ];
        for first in 1..L.len() {
            for (batch, opt) in optimizers {
                let mut net = Network::new(t.clone(), vec![0.0f32; t.params_len()]).unwrap();
                net.init(Init::He, 5);
                let mut reference = net.clone();
                let split = t.params_len() - crate::sizes::tail_params_len(IN, &L, first);
                let frozen_before: vec::Vec<u32> =
                    net.params()[..split].iter().map(|p| p.to_bits()).collect();
                let adam = matches!(opt, Optimizer::Adam(_));
                let state_len = crate::sizes::tail_optimizer_len(IN, &L, first, adam);
                let scratch_len = crate::sizes::tail_train_scratch_len(IN, &L, batch, first);
                let (mut scratch, mut state) = (vec![0.0f32; scratch_len], vec![0.0; state_len]);
                let (mut scratch2, mut state2) = (scratch.clone(), state.clone());
                let mut tail =
                    Trainer::tail(&t, batch, first, opt, &mut scratch, &mut state).unwrap();
                // The reference: full gradients, the trained part applied by the optimizer.
                let mut full_scratch = vec![0.0f32; t.train_scratch_len(batch)];
                let mut full =
                    Trainer::new(&t, batch, Sgd::new(0.0), &mut full_scratch, &mut []).unwrap();
                let mut ref_state = vec![0.0f32; state_len];
                opt.reset(&mut ref_state);
                // The frozen part as a separate read-only copy, for step_split.
                let mut split_net = net.clone();
                let frozen_copy: vec::Vec<f32> = net.params()[..split].to_vec();
                let mut tail2 =
                    Trainer::tail(&t, batch, first, opt, &mut scratch2, &mut state2).unwrap();
                for _ in 0..4 {
                    let (xs, ys) = sparse_batch(&mut rng, batch, IN);
                    let loss = tail.step(&mut net, &xs, &ys).unwrap();
                    let want = full.loss_and_gradients(&reference, &xs, &ys).unwrap();
                    assert_eq!(loss.to_bits(), want.to_bits());
                    let grads = full.gradients()[split..].to_vec();
                    opt.update(&mut reference.params_mut()[split..], &grads, &mut ref_state);
                    let trained = &mut split_net.params_mut()[split..];
                    let loss2 = tail2.step_split(&frozen_copy, trained, &xs, &ys).unwrap();
                    assert_eq!(loss2.to_bits(), loss.to_bits());
                }
                let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<vec::Vec<_>>();
                let what = std::format!("first {first}, batch {batch}, {opt:?}");
                assert_eq!(bits(&net.params()[..split]), frozen_before, "{what}");
                assert_eq!(bits(net.params()), bits(reference.params()), "{what}");
                assert_eq!(bits(split_net.params()), bits(net.params()), "{what}");
                assert_eq!(bits(tail.velocity()), bits(&ref_state), "{what}");
            }
        }
    }

    #[test]
    fn tail_buffers_are_checked_and_smaller() {
        const L: [Layer; 3] = [
            Layer::new(32, Linear),
            Layer::new(256, Linear),
            Layer::new(10, Softmax),
        ];
        use crate::sizes::{tail_optimizer_len, tail_train_scratch_len, train_scratch_len};
        // The last layer only: its inputs, outputs, deltas (the frozen layers' ping-pong
        // is as wide as the first layer) and its 2570 parameters.
        assert_eq!(
            tail_train_scratch_len(784, &L, 16, 2),
            16 * 266 + 2 * 16 * 32 + 2570
        );
        assert_eq!(
            tail_train_scratch_len(784, &L, 16, 0),
            train_scratch_len(784, &L, 16)
        );
        assert_eq!(tail_optimizer_len(784, &L, 2, true), 2 * 2570 + 2);
        let t = Topology::new(784, &L).unwrap();
        let mut scratch = [0.0f32; 16 * 266 + 2 * 16 * 32 + 2570];
        assert_eq!(
            Trainer::tail(&t, 16, 3, Sgd::new(0.1), &mut scratch, &mut []).err(),
            Some(Error::FirstTrainable {
                first: 3,
                layers: 3
            })
        );
        let adam = crate::Adam::new(0.1);
        assert_eq!(
            Trainer::tail(&t, 16, 2, adam, &mut scratch, &mut []).err(),
            Some(Error::MissingOptimizerState)
        );
        let mut state = [0.0f32; 2 * 2570 + 2];
        let mut tr = Trainer::tail(&t, 16, 2, adam, &mut scratch, &mut state).unwrap();
        assert_eq!(tr.set_sgd(Sgd::new(0.1)), Err(Error::OptimizerSettings));
        assert!(tr.set_optimizer(adam.with_epsilon(1e-3)).is_ok());
        let frozen = [0.0f32; 784 * 32 + 32 + 32 * 256 + 256];
        let mut trained = [0.0f32; 2570];
        assert!(matches!(
            tr.step_split(&frozen[1..], &mut trained, &[0.0; 784], &[1]),
            Err(Error::BufferLength {
                buffer: Buffer::Params,
                ..
            })
        ));
        assert!(tr
            .step_split(&frozen, &mut trained, &[0.5; 784], &[1])
            .is_ok());
        assert!(trained.iter().any(|&w| w != 0.0));
    }
}

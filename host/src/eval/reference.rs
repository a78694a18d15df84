//! An independent f64 reference of forward, loss, gradients and the SGD and Adam updates.
//!
//! Written plainly (nested loops over `Vec<Vec<f64>>`, std's f64 maths) and sharing no
//! code with core, so agreement between the two is evidence, not tautology. Only the
//! flat parameter layout is shared, to load the same initial weights.
use microdense::{Activation, Topology};

struct RefLayer {
    /// `weights[j][i]`: from input i to output j.
    weights: Vec<Vec<f64>>,
    biases: Vec<f64>,
    activation: Activation,
}

pub struct RefNet {
    layers: Vec<RefLayer>,
}

fn activate(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Linear | Activation::Softmax => z,
        Activation::Relu => z.max(0.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
    }
}

/// Derivative with respect to the pre-activation z.
fn activate_derivative(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Linear | Activation::Softmax => 1.0,
        Activation::Relu => {
            if z > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Sigmoid => {
            let s = 1.0 / (1.0 + (-z).exp());
            s * (1.0 - s)
        }
        Activation::Tanh => 1.0 - z.tanh().powi(2),
    }
}

/// Per-sample record of a forward pass: pre-activations and outputs of every layer.
struct Trace {
    pre: Vec<Vec<f64>>,
    post: Vec<Vec<f64>>,
}

impl RefNet {
    /// Reads core's flat layout: per layer, `fan_in` rows of `units` weights (`W[i][j]`,
    /// input i to output j), then the biases.
    pub fn from_core(topology: &Topology, params: &[f32]) -> RefNet {
        let mut at = 0;
        let mut fan_in = topology.input();
        let mut layers = Vec::new();
        for layer in topology.layers() {
            let units = layer.units;
            let weights = (0..units)
                .map(|j| {
                    (0..fan_in)
                        .map(|i| params[at + i * units + j] as f64)
                        .collect()
                })
                .collect();
            at += fan_in * units;
            let biases = params[at..at + units].iter().map(|&b| b as f64).collect();
            at += units;
            layers.push(RefLayer {
                weights,
                biases,
                activation: layer.activation,
            });
            fan_in = units;
        }
        RefNet { layers }
    }

    /// The parameters in core's flat layout.
    pub fn params_flat(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for l in &self.layers {
            flatten_into(&l.weights, &l.biases, &mut out);
        }
        out
    }

    fn trace(&self, x: &[f64]) -> Trace {
        let mut pre = Vec::new();
        let mut post = vec![x.to_vec()];
        for l in &self.layers {
            let input = post.last().map(Vec::as_slice).unwrap_or(&[]);
            let z: Vec<f64> = l
                .weights
                .iter()
                .zip(&l.biases)
                .map(|(row, b)| row.iter().zip(input).map(|(w, v)| w * v).sum::<f64>() + b)
                .collect();
            post.push(z.iter().map(|&v| activate(l.activation, v)).collect());
            pre.push(z);
        }
        Trace { pre, post }
    }

    /// Output-layer values before any softmax (as core's `Network::logits`).
    pub fn logits(&self, x: &[f64]) -> Vec<f64> {
        self.trace(x).post.pop().unwrap_or_default()
    }

    /// Batch-mean softmax cross-entropy and its gradient in core's flat layout.
    pub fn loss_and_gradients(&self, xs: &[&[f64]], labels: &[u8]) -> (f64, Vec<f64>) {
        let n = xs.len() as f64;
        let mut grad_w: Vec<Vec<Vec<f64>>> = self
            .layers
            .iter()
            .map(|l| vec![vec![0.0; l.weights[0].len()]; l.weights.len()])
            .collect();
        let mut grad_b: Vec<Vec<f64>> = self
            .layers
            .iter()
            .map(|l| vec![0.0; l.biases.len()])
            .collect();
        let mut loss = 0.0;
        for (x, &label) in xs.iter().zip(labels) {
            let t = self.trace(x);
            let z = t.pre.last().cloned().unwrap_or_default();
            let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let denom: f64 = z.iter().map(|v| (v - max).exp()).sum();
            let probs: Vec<f64> = z.iter().map(|v| (v - max).exp() / denom).collect();
            loss += -(probs[label as usize]).ln();
            // dL/dz of the output layer, for this sample's share of the mean.
            let mut delta: Vec<f64> = probs
                .iter()
                .enumerate()
                .map(|(k, p)| (p - if k == label as usize { 1.0 } else { 0.0 }) / n)
                .collect();
            for li in (0..self.layers.len()).rev() {
                let input = &t.post[li];
                for (j, d) in delta.iter().enumerate() {
                    grad_b[li][j] += d;
                    for (i, v) in input.iter().enumerate() {
                        grad_w[li][j][i] += d * v;
                    }
                }
                if li == 0 {
                    break;
                }
                let below = &self.layers[li - 1];
                let mut next = vec![0.0; input.len()];
                for (i, slot) in next.iter_mut().enumerate() {
                    let back: f64 = (0..delta.len())
                        .map(|j| self.layers[li].weights[j][i] * delta[j])
                        .sum();
                    *slot = back * activate_derivative(below.activation, t.pre[li - 1][i]);
                }
                delta = next;
            }
        }
        let mut flat = Vec::new();
        for (gw, gb) in grad_w.iter().zip(&grad_b) {
            flatten_into(gw, gb, &mut flat);
        }
        (loss / n, flat)
    }

    /// Plain SGD (w ← w − lr·g); returns the loss before the step.
    pub fn sgd_step(&mut self, xs: &[&[f64]], labels: &[u8], lr: f64) -> f64 {
        let (loss, grads) = self.loss_and_gradients(xs, labels);
        let mut at = 0;
        for l in &mut self.layers {
            let (units, fan_in) = (l.biases.len(), l.weights[0].len());
            for i in 0..fan_in {
                for j in 0..units {
                    l.weights[j][i] -= lr * grads[at + i * units + j];
                }
            }
            at += fan_in * units;
            for (j, b) in l.biases.iter_mut().enumerate() {
                *b -= lr * grads[at + j];
            }
            at += units;
        }
        loss
    }
}

/// Adam in f64 as the paper writes it (bias correction by `powi`, not core's running
/// product), its moments in core's flat layout.
pub struct RefAdam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl RefAdam {
    pub fn new(lr: f64, beta1: f64, beta2: f64, epsilon: f64, params: usize) -> RefAdam {
        RefAdam {
            lr,
            beta1,
            beta2,
            epsilon,
            m: vec![0.0; params],
            v: vec![0.0; params],
            t: 0,
        }
    }
}

impl RefNet {
    /// One Adam step; returns the loss before it.
    pub fn adam_step(&mut self, xs: &[&[f64]], labels: &[u8], adam: &mut RefAdam) -> f64 {
        let (loss, grads) = self.loss_and_gradients(xs, labels);
        adam.t += 1;
        let (c1, c2) = (1.0 - adam.beta1.powi(adam.t), 1.0 - adam.beta2.powi(adam.t));
        let mut flat = self.params_flat();
        for (k, (w, g)) in flat.iter_mut().zip(&grads).enumerate() {
            adam.m[k] = adam.beta1 * adam.m[k] + (1.0 - adam.beta1) * g;
            adam.v[k] = adam.beta2 * adam.v[k] + (1.0 - adam.beta2) * g * g;
            let (m_hat, v_hat) = (adam.m[k] / c1, adam.v[k] / c2);
            *w -= adam.lr * m_hat / (v_hat.sqrt() + adam.epsilon);
        }
        self.set_params_flat(&flat);
        loss
    }

    /// The inverse of [`RefNet::params_flat`].
    fn set_params_flat(&mut self, flat: &[f64]) {
        let mut at = 0;
        for l in &mut self.layers {
            let (units, fan_in) = (l.biases.len(), l.weights[0].len());
            for i in 0..fan_in {
                for j in 0..units {
                    l.weights[j][i] = flat[at + i * units + j];
                }
            }
            at += fan_in * units;
            l.biases.copy_from_slice(&flat[at..at + units]);
            at += units;
        }
    }
}

/// Appends `weights[j][i]` (output-major) and biases in core's order: input-major rows.
fn flatten_into(weights: &[Vec<f64>], biases: &[f64], out: &mut Vec<f64>) {
    let fan_in = weights.first().map_or(0, Vec::len);
    for i in 0..fan_in {
        out.extend(weights.iter().map(|row| row[i]));
    }
    out.extend_from_slice(biases);
}

#[cfg(test)]
mod tests {
    use super::*;
    use microdense::Layer;

    #[test]
    fn hand_computed_forward_and_loss() {
        let t = Topology::new(2, &[Layer::new(2, Activation::Softmax)]).unwrap();
        // W = I, b = [0, ln 3]: logits for x = [0, 0] are [0, ln 3]; p = [1/4, 3/4].
        let params = [1.0, 0.0, 0.0, 1.0, 0.0, 3f32.ln()];
        let net = RefNet::from_core(&t, &params);
        // Layout: W[i][j] is input i into output j.
        let skew = RefNet::from_core(&t, &[0.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(skew.logits(&[1.0, 0.0]), vec![0.0, 2.0]);
        assert_eq!(skew.params_flat(), vec![0.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
        let (loss, g) = net.loss_and_gradients(&[&[0.0, 0.0]], &[1]);
        assert!((loss - (4.0f64 / 3.0).ln()).abs() < 1e-7);
        // Biases' gradient is p − one_hot; weights' is zero at x = 0.
        assert!((g[4] - 0.25).abs() < 1e-7 && (g[5] + 0.25).abs() < 1e-7);
        assert_eq!(&g[..4], &[0.0; 4]);
        assert_eq!(net.params_flat().len(), 6);
    }
}

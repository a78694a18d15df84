//! Stochastic gradient descent with optional momentum and weight decay (PyTorch's form:
//! g ← g + λ·w; v ← μ·v + g; w ← w − lr·v).

/// The optimizer's settings; [`crate::Trainer::set_sgd`] changes them between steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum μ (0: plain SGD, no state buffer needed).
    pub momentum: f32,
    /// L2 weight decay λ, added to the gradient.
    pub weight_decay: f32,
}

impl Sgd {
    /// Plain SGD at learning rate `lr`.
    pub const fn new(lr: f32) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// The same with momentum `momentum`.
    pub const fn with_momentum(self, momentum: f32) -> Self {
        Sgd { momentum, ..self }
    }

    /// The same with weight decay `weight_decay`.
    pub const fn with_weight_decay(self, weight_decay: f32) -> Self {
        Sgd {
            weight_decay,
            ..self
        }
    }

    /// Whether a state buffer ([`crate::sizes::optimizer_len`]) is needed: with momentum.
    pub fn needs_state(&self) -> bool {
        self.momentum != 0.0
    }

    /// One update; `velocity` is used only with momentum (lengths checked by the caller).
    pub(crate) fn update(&self, params: &mut [f32], grads: &[f32], velocity: &mut [f32]) {
        let (lr, wd, mu) = (self.lr, self.weight_decay, self.momentum);
        if self.needs_state() {
            for ((w, g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
                *v = mu * *v + (g + wd * *w);
                *w -= lr * *v;
            }
        } else {
            for (w, g) in params.iter_mut().zip(grads) {
                *w -= lr * (g + wd * *w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_momentum_and_decay() {
        let mut w = [1.0f32, -2.0];
        Sgd::new(0.5).update(&mut w, &[0.5, 1.0], &mut []);
        assert_eq!(w, [0.75, -2.5]);
        let (mut w, mut v) = ([1.0f32], [0.0f32]);
        let sgd = Sgd::new(0.5).with_momentum(0.5).with_weight_decay(0.5);
        sgd.update(&mut w, &[1.0], &mut v); // g = 1.5, v = 1.5, w = 0.25
        assert_eq!((w, v), ([0.25], [1.5]));
        sgd.update(&mut w, &[1.0], &mut v); // g = 1.125, v = 1.875, w = -0.6875
        assert_eq!((w, v), ([-0.6875], [1.875]));
    }
}

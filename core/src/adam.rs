//! Adam with bias correction, computed as TensorFlow.js's `AdamOptimizer` does (and Keras
//! defines it), one f32 operation at a time in the same order:
//!
//! ```text
//! m ← β1·m + (1 − β1)·g
//! v ← β2·v + (1 − β2)·g²
//! w ← (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε) · (−lr) + w
//! ```
//!
//! where β1ᵗ is kept as a running product (starting at β1, multiplied by β1 after every
//! step, in f32) rather than a power. The betas are `f64` because TF.js takes them as
//! JavaScript numbers: `1 − β` is computed in double precision before it is rounded to
//! f32, which differs from `1 − f32(β)` in the last bits.
//!
//! State ([`Adam::state_len`] values per `n` parameters): m (n values, laid out like the
//! parameters), v (n values), then β1ᵗ and β2ᵗ; so a snapshot of the state buffer is all a
//! replay needs.
use crate::Error;

/// Adam's settings (Keras/TF.js defaults from [`Adam::new`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment (the gradients' running mean).
    pub beta1: f64,
    /// Decay of the second moment (the squared gradients' running mean).
    pub beta2: f64,
    /// Added to the root of the second moment to keep the division finite.
    pub epsilon: f32,
}

impl Adam {
    /// Adam at learning rate `lr` with TF.js's defaults: β1 = 0.9, β2 = 0.999, ε = 1e-7
    /// (the float32 backend's epsilon, also Keras's default).
    pub const fn new(lr: f32) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// The same with other moment decays.
    pub const fn with_betas(self, beta1: f64, beta2: f64) -> Self {
        Adam {
            beta1,
            beta2,
            ..self
        }
    }

    /// The same with another ε.
    pub const fn with_epsilon(self, epsilon: f32) -> Self {
        Adam { epsilon, ..self }
    }

    /// State values for `params` parameters: both moments, then β1ᵗ and β2ᵗ.
    pub const fn state_len(params: usize) -> usize {
        2 * params + 2
    }

    /// Checks the settings: betas in [0, 1), ε and the learning rate finite and ε > 0.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let beta_ok = |b: f64| (0.0..1.0).contains(&b);
        if beta_ok(self.beta1)
            && beta_ok(self.beta2)
            && self.epsilon.is_finite()
            && self.epsilon > 0.0
            && self.lr.is_finite()
        {
            Ok(())
        } else {
            Err(Error::OptimizerSettings)
        }
    }

    /// A fresh state: zero moments, β1ᵗ = β1 and β2ᵗ = β2 (TF.js's initial values).
    pub(crate) fn reset(&self, state: &mut [f32]) {
        state.fill(0.0);
        let n = state.len();
        if n >= 2 {
            state[n - 2] = self.beta1 as f32;
            state[n - 1] = self.beta2 as f32;
        }
    }

    /// One step over `params` with `grads` (the same length); `state` is
    /// [`Adam::state_len`] of it (lengths checked by the caller; shorter buffers update
    /// fewer parameters rather than panic).
    pub(crate) fn update(&self, params: &mut [f32], grads: &[f32], state: &mut [f32]) {
        let n = params.len();
        let (moments, acc) = state.split_at_mut(state.len().saturating_sub(2));
        let (m, v) = moments.split_at_mut(n.min(moments.len()));
        let (Some(&acc1), Some(&acc2)) = (acc.first(), acc.get(1)) else {
            return;
        };
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let (c1, c2) = ((1.0 - self.beta1) as f32, (1.0 - self.beta2) as f32);
        let (d1, d2) = (1.0 - acc1, 1.0 - acc2);
        let (neg_lr, eps) = (-self.lr, self.epsilon);
        for (((w, &g), m), v) in params.iter_mut().zip(grads).zip(m).zip(v) {
            *m = *m * b1 + g * c1;
            *v = *v * b2 + g * g * c2;
            let (m_hat, v_hat) = (*m / d1, *v / d2);
            *w += m_hat / (libm::sqrtf(v_hat) + eps) * neg_lr;
        }
        acc[0] = acc1 * b1;
        acc[1] = acc2 * b2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps by hand, each operation rounded to f32 as TF.js does.
    #[test]
    fn two_steps_as_tfjs_computes_them() {
        let adam = Adam::new(0.1);
        let mut w = [1.0f32, -0.5];
        let mut state = [0.0f32; Adam::state_len(2)];
        adam.reset(&mut state);
        assert_eq!(state[4..], [0.9f32, 0.999f32]);
        let g = [0.5f32, -2.0];
        adam.update(&mut w, &g, &mut state);
        let (c1, c2) = ((1.0f64 - 0.9) as f32, (1.0f64 - 0.999) as f32);
        let mut want = [1.0f32, -0.5];
        let (mut m, mut v) = ([0.0f32; 2], [0.0f32; 2]);
        for k in 0..2 {
            m[k] = 0.0 * 0.9f32 + g[k] * c1;
            v[k] = 0.0 * 0.999f32 + g[k] * g[k] * c2;
            let (mh, vh) = (m[k] / (1.0 - 0.9f32), v[k] / (1.0 - 0.999f32));
            want[k] += mh / (libm::sqrtf(vh) + 1e-7) * -0.1;
        }
        assert_eq!(w.map(f32::to_bits), want.map(f32::to_bits));
        // The first step moves each weight by about lr·sign(g).
        assert!((w[0] - 0.9).abs() < 1e-5 && (w[1] + 0.4).abs() < 1e-5);
        assert_eq!(state[..4], [m[0], m[1], v[0], v[1]]);
        assert_eq!(state[4..], [0.9f32 * 0.9f32, 0.999f32 * 0.999f32]);
        adam.update(&mut w, &g, &mut state);
        let (a1, a2) = (0.9f32 * 0.9f32, 0.999f32 * 0.999f32);
        for k in 0..2 {
            m[k] = m[k] * 0.9f32 + g[k] * c1;
            v[k] = v[k] * 0.999f32 + g[k] * g[k] * c2;
            let (mh, vh) = (m[k] / (1.0 - a1), v[k] / (1.0 - a2));
            want[k] += mh / (libm::sqrtf(vh) + 1e-7) * -0.1;
        }
        assert_eq!(w.map(f32::to_bits), want.map(f32::to_bits));
    }

    #[test]
    fn settings_are_checked() {
        assert!(Adam::new(0.01).check().is_ok());
        assert!(Adam::new(0.01).with_betas(1.0, 0.9).check().is_err());
        assert!(Adam::new(0.01).with_betas(0.9, -0.1).check().is_err());
        assert!(Adam::new(0.01).with_epsilon(0.0).check().is_err());
        assert!(Adam::new(f32::NAN).check().is_err());
    }
}

//! Activation functions and their derivatives, expressed through the activation's output
//! so backward needs only the stored activations.
use crate::math;

/// A layer's activation function (its code is stored in the weights format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Activation {
    /// The identity.
    Linear = 0,
    /// max(x, 0).
    Relu = 1,
    /// 1 / (1 + e^−x).
    Sigmoid = 2,
    /// Hyperbolic tangent.
    Tanh = 3,
    /// Output layer only: softmax over the layer (fused with cross-entropy in training).
    Softmax = 4,
}

impl Activation {
    /// Every activation, in code order.
    pub const ALL: [Activation; 5] = [
        Activation::Linear,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
    ];

    /// The code stored in the weights format.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The activation stored as `code`, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Activation::Linear),
            1 => Some(Activation::Relu),
            2 => Some(Activation::Sigmoid),
            3 => Some(Activation::Tanh),
            4 => Some(Activation::Softmax),
            _ => None,
        }
    }

    /// The name used on the command line and in TF.js models.
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
        }
    }

    /// The activation called `name` (as [`Activation::name`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Applies an element-wise activation in place. Softmax is not element-wise, so it is
    /// left to the caller (logits stay logits).
    pub fn apply(self, values: &mut [f32]) {
        match self {
            Activation::Linear | Activation::Softmax => {}
            Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Sigmoid => values.iter_mut().for_each(|v| *v = math::sigmoid(*v)),
            Activation::Tanh => values.iter_mut().for_each(|v| *v = math::tanh(*v)),
        }
    }

    /// Derivative at the point whose activation output is `y`.
    #[inline]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Linear | Activation::Softmax => 1.0,
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_derivative(a: Activation, x: f32) -> f32 {
        let h = 1e-3f32;
        let (mut p, mut m) = ([x + h], [x - h]);
        a.apply(&mut p);
        a.apply(&mut m);
        (p[0] - m[0]) / (2.0 * h)
    }

    #[test]
    fn values() {
        let mut v = [-2.0f32, 0.0, 3.0];
        Activation::Relu.apply(&mut v);
        assert_eq!(v, [0.0, 0.0, 3.0]);
        let mut v = [0.0f32, 100.0, -100.0];
        Activation::Sigmoid.apply(&mut v);
        assert_eq!(v[0], 0.5);
        assert!((v[1] - 1.0).abs() < 1e-6 && v[2].abs() < 1e-6 && v[2] >= 0.0);
        let mut v = [0.0f32, 20.0, -20.0, 0.5];
        Activation::Tanh.apply(&mut v);
        assert_eq!(&v[..3], &[0.0, 1.0, -1.0]);
        assert!((v[3] - 0.462_117_16).abs() < 1e-6);
        let mut v = [-1.5f32, 2.5];
        Activation::Linear.apply(&mut v);
        assert_eq!(v, [-1.5, 2.5]);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for a in [
            Activation::Linear,
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
        ] {
            for x in [-2.5f32, -0.7, 0.3, 1.9] {
                let mut y = [x];
                a.apply(&mut y);
                let analytic = a.derivative_from_output(y[0]);
                let numeric = numeric_derivative(a, x);
                assert!(
                    (analytic - numeric).abs() < 2e-3,
                    "{a:?} at {x}: {analytic} vs {numeric}"
                );
            }
        }
    }

    #[test]
    fn codes_and_names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(Activation::from_code(a.code()), Some(a));
            assert_eq!(Activation::from_name(a.name()), Some(a));
        }
        assert_eq!(Activation::from_code(5), None);
        assert_eq!(Activation::from_name("gelu"), None);
    }
}

//! Weight initializers with TensorFlow.js's definitions; biases start at zero.
use crate::rng::Rng;
use crate::Topology;

/// How [`crate::Network::init`] draws the initial weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// TF.js dense default: truncated normal (±2σ), σ = √(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// Uniform in ±√(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// TF.js `varianceScaling` defaults: truncated normal, σ = √(1 / fan_in).
    VarianceScaling,
    /// He normal: truncated normal, σ = √(2 / fan_in).
    He,
}

impl Init {
    /// Every initializer.
    pub const ALL: [Init; 4] = [
        Init::GlorotNormal,
        Init::GlorotUniform,
        Init::VarianceScaling,
        Init::He,
    ];

    /// The name used on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Init::GlorotNormal => "glorot-normal",
            Init::GlorotUniform => "glorot-uniform",
            Init::VarianceScaling => "variance-scaling",
            Init::He => "he",
        }
    }

    /// The initializer called `name` (as [`Init::name`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    fn sample(self, rng: &mut Rng, fan_in: usize, fan_out: usize) -> f32 {
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        let v = match self {
            Init::GlorotNormal => rng.truncated_normal() * libm::sqrt(2.0 / (fi + fo)),
            Init::GlorotUniform => (2.0 * rng.next_f64() - 1.0) * libm::sqrt(6.0 / (fi + fo)),
            Init::VarianceScaling => rng.truncated_normal() * libm::sqrt(1.0 / fi),
            Init::He => rng.truncated_normal() * libm::sqrt(2.0 / fi),
        };
        v as f32
    }

    /// Fills `params` (laid out for `topology`, length checked by the caller) from `seed`.
    pub(crate) fn fill(self, topology: &Topology, params: &mut [f32], seed: u64) {
        let mut rng = Rng::new(seed);
        for (i, layer) in topology.layers().iter().enumerate() {
            let fan_in = topology.fan_in(i);
            let (w, b) = topology.offsets(i);
            for p in &mut params[w..b] {
                *p = self.sample(&mut rng, fan_in, layer.units);
            }
            params[b..b + layer.units].fill(0.0);
        }
    }
}

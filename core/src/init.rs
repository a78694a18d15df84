//! Weight initializers with TensorFlow.js's definitions; biases start at zero.
//!
//! Each is TF.js's `VarianceScaling(scale, mode, distribution)` (docs/tfjs-semantics.md):
//! `normal` is a normal of σ = √(scale / fan) redrawn outside ±2σ, with no variance
//! correction; `uniform` is uniform in ±√(3·scale / fan); fan_avg is (fan_in + fan_out)/2.
use crate::rng::Rng;
use crate::Topology;

/// How [`crate::Network::init`] draws the initial weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// TF.js's Dense default `glorotNormal` = (1, fan_avg, normal): truncated normal
    /// (±2σ), σ = √(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// `glorotUniform` = (1, fan_avg, uniform): uniform in ±√(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// `'varianceScaling'` with its defaults (1, fan_in, normal): truncated normal,
    /// σ = √(1 / fan_in).
    VarianceScaling,
    /// `heNormal` = (2, fan_in, normal): truncated normal, σ = √(2 / fan_in).
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

    /// Fills `params` (laid out for `topology`, length checked by the caller) from `seed`,
    /// layer `i`'s kernel by `init(i)` (TF.js gives each Dense layer its own), layer after
    /// layer from one stream: the same initializer everywhere draws what it always drew.
    pub(crate) fn fill(
        topology: &Topology,
        params: &mut [f32],
        seed: u64,
        init: impl Fn(usize) -> Init,
    ) {
        let mut rng = Rng::new(seed);
        for (i, layer) in topology.layers().iter().enumerate() {
            let fan_in = topology.fan_in(i);
            let (w, b) = topology.offsets(i);
            let kernel = init(i);
            for p in &mut params[w..b] {
                *p = kernel.sample(&mut rng, fan_in, layer.units);
            }
            params[b..b + layer.units].fill(0.0);
        }
    }
}

//! Learning-rate schedules over a whole run.
use serde::Serialize;

/// How the learning rate moves from the first batch to the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Half-cosine decay from the peak rate to zero over the run.
    Cosine,
}

impl Schedule {
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        }
    }

    /// Learning rate of batch `step` (0-based) out of `total`, for peak rate `lr`.
    pub fn lr_at(self, lr: f32, step: u64, total: u64) -> f32 {
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => {
                let t = step as f64 / total.max(1) as f64;
                (f64::from(lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32
            }
        }
    }
}

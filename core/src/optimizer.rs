//! The optimizers a [`crate::Trainer`] can run: SGD (with momentum and weight decay) or
//! Adam. Each keeps its state in one caller-owned buffer, sized by [`crate::sizes`].
use crate::{Adam, Error, Sgd};

/// An optimizer and its settings. `From` conversions let [`crate::Trainer::new`] take an
/// [`Sgd`] or an [`Adam`] directly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent.
    Sgd(Sgd),
    /// Adam with bias correction.
    Adam(Adam),
}

impl From<Sgd> for Optimizer {
    fn from(sgd: Sgd) -> Self {
        Optimizer::Sgd(sgd)
    }
}

impl From<Adam> for Optimizer {
    fn from(adam: Adam) -> Self {
        Optimizer::Adam(adam)
    }
}

impl Optimizer {
    /// State values it needs for `params` trained parameters (0: none, the buffer may be
    /// empty).
    pub fn state_len(&self, params: usize) -> usize {
        match self {
            Optimizer::Sgd(sgd) if sgd.needs_state() => params,
            Optimizer::Sgd(_) => 0,
            Optimizer::Adam(_) => Adam::state_len(params),
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            Optimizer::Sgd(sgd) => sgd.lr,
            Optimizer::Adam(adam) => adam.lr,
        }
    }

    /// The same optimizer at another learning rate (for schedules).
    pub fn with_lr(self, lr: f32) -> Self {
        match self {
            Optimizer::Sgd(sgd) => Optimizer::Sgd(Sgd { lr, ..sgd }),
            Optimizer::Adam(adam) => Optimizer::Adam(Adam { lr, ..adam }),
        }
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        match self {
            Optimizer::Sgd(_) => Ok(()),
            Optimizer::Adam(adam) => adam.check(),
        }
    }

    /// A fresh state in `state`.
    pub(crate) fn reset(&self, state: &mut [f32]) {
        match self {
            Optimizer::Sgd(_) => state.fill(0.0),
            Optimizer::Adam(adam) => adam.reset(state),
        }
    }

    /// The SGD settings when the update can be fused into the gradient kernel (plain
    /// SGD and momentum update each weight from its own gradient and velocity only).
    pub(crate) fn fusable(&self) -> Option<Sgd> {
        match self {
            Optimizer::Sgd(sgd) => Some(*sgd),
            Optimizer::Adam(_) => None,
        }
    }

    /// One update of `params` by `grads` (lengths checked by the caller).
    pub(crate) fn update(&self, params: &mut [f32], grads: &[f32], state: &mut [f32]) {
        match self {
            Optimizer::Sgd(sgd) => sgd.update(params, grads, state),
            Optimizer::Adam(adam) => adam.update(params, grads, state),
        }
    }
}

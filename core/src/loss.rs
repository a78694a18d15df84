//! The losses a [`crate::Trainer`] can train a softmax output with: softmax fused with
//! categorical cross-entropy (the default), computed through log-sum-exp so logits of any
//! finite size give a finite loss; and TensorFlow.js's clipped `categoricalCrossentropy`,
//! computed op by op as TF.js does (docs/tfjs-semantics.md).
use crate::math;

/// How a trainer turns the softmax output into a loss and its gradient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loss {
    /// Softmax fused with cross-entropy: gradient (softmax − one-hot) / n for every sample.
    #[default]
    SoftmaxCrossEntropy,
    /// TF.js's `categoricalCrossentropy` after its softmax layer: probabilities divided
    /// by their sum, clipped to [1e-7, 1 − 1e-7], differentiated through the division,
    /// the clip and the softmax's own gradient. A sample whose label probability lies
    /// outside the clip range gets no gradient at all, and its loss stops at 16.12.
    TfjsCategorical,
}

impl Loss {
    /// Its name on the command line (`--loss fused|tfjs`).
    pub const fn name(self) -> &'static str {
        match self {
            Loss::SoftmaxCrossEntropy => "fused",
            Loss::TfjsCategorical => "tfjs",
        }
    }
}

/// TF.js's ε (`EPSILON_FLOAT32`) and the clip bounds as its f32 tensors hold them.
const EPSILON: f32 = 1e-7;
const ONE_MINUS_EPSILON: f32 = (1.0 - 1e-7f64) as f32;

fn max_of(values: &[f32]) -> f32 {
    values.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// Replaces logits by their softmax probabilities.
pub fn softmax_in_place(values: &mut [f32]) {
    let m = max_of(values);
    let mut sum = 0.0f32;
    for v in values.iter_mut() {
        *v = math::exp(*v - m);
        sum += *v;
    }
    let inv = 1.0 / sum;
    values.iter_mut().for_each(|v| *v *= inv);
}

/// Cross-entropy of `softmax(logits)` against class `label`; writes the gradient with
/// respect to the logits (`softmax − one_hot`) into `grad`. The caller checks `label`
/// is in range and `grad` is as long as `logits`.
pub fn softmax_cross_entropy(logits: &[f32], label: usize, grad: &mut [f32]) -> f32 {
    let m = max_of(logits);
    let mut sum = 0.0f32;
    for (g, z) in grad.iter_mut().zip(logits) {
        *g = math::exp(z - m);
        sum += *g;
    }
    let inv = 1.0 / sum;
    grad.iter_mut().for_each(|g| *g *= inv);
    let target = logits.get(label).copied().unwrap_or(m);
    if let Some(g) = grad.get_mut(label) {
        *g -= 1.0;
    }
    // (m − z_y) first: no cancellation between two large numbers.
    (m - target) + math::ln(sum)
}

/// TF.js's clipped cross-entropy of `softmax(logits)` against class `label`; writes the
/// gradient with respect to the logits, already scaled by `scale` (1 / batch, TF.js's
/// mean), into `grad` and returns the sample's (unscaled) loss. The caller checks `label`
/// is in range and `grad` is as long as `logits`.
pub fn tfjs_categorical_crossentropy(
    logits: &[f32],
    label: usize,
    scale: f32,
    grad: &mut [f32],
) -> f32 {
    // p = softmax(z) as TF.js's CPU kernel: exp(z − max), divided by the sum.
    let m = max_of(logits);
    let mut sum = 0.0f32;
    for (g, z) in grad.iter_mut().zip(logits) {
        *g = math::exp(z - m);
        sum += *g;
    }
    grad.iter_mut().for_each(|g| *g /= sum);
    let p = &*grad;
    // q = p / Σp, clipped; only the label's term of −Σ t·ln(q) is non-zero.
    let s: f32 = p.iter().sum();
    let p_y = p.get(label).copied().unwrap_or(f32::NAN);
    let q_y = p_y / s;
    let loss = -math::ln(q_y.clamp(EPSILON, ONE_MINUS_EPSILON));
    // Back through mean (scale), neg, log (÷ q), the clip (zero outside its range)...
    let g = if (EPSILON..=ONE_MINUS_EPSILON).contains(&q_y) {
        -scale / q_y
    } else {
        0.0
    };
    // ...the division by s (g/s on the label, −g·p_y/s² on every class through the
    // sum)...
    let through_sum = -(g * p_y) / (s * s);
    let dp = |k: usize| {
        if k == label {
            g / s + through_sum
        } else {
            through_sum
        }
    };
    // ...and the softmax: dz_k = dp_k·p_k − (Σ_j dp_j·p_j)·p_k.
    let dot: f32 = p.iter().enumerate().map(|(k, &pk)| dp(k) * pk).sum();
    for (k, v) in grad.iter_mut().enumerate() {
        let pk = *v;
        *v = dp(k) * pk - dot * pk;
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one() {
        let mut v = [1.0f32, -2.0, 0.5, 3.0, 0.0];
        softmax_in_place(&mut v);
        let s: f32 = v.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert!(v.iter().all(|p| *p > 0.0));
        assert!(v[3] > v[0] && v[0] > v[2]);
    }

    #[test]
    fn loss_value_and_gradient() {
        let z = [0.0f32, 0.0, 0.0, 0.0];
        let mut g = [0.0f32; 4];
        let loss = softmax_cross_entropy(&z, 2, &mut g);
        assert!((loss - 4.0f32.ln()).abs() < 1e-6);
        assert_eq!(g, [0.25, 0.25, -0.75, 0.25]);
    }

    #[test]
    fn tfjs_loss_matches_fused_inside_the_clip() {
        let z = [0.3f32, -1.2, 2.0, 0.5, -0.1];
        let (mut fused, mut tfjs) = ([0.0f32; 5], [0.0f32; 5]);
        let a = softmax_cross_entropy(&z, 3, &mut fused);
        let b = tfjs_categorical_crossentropy(&z, 3, 0.25, &mut tfjs);
        assert!((a - b).abs() < 1e-6, "{a} {b}");
        for (f, t) in fused.iter().zip(&tfjs) {
            assert!((f * 0.25 - t).abs() < 1e-7, "{fused:?} {tfjs:?}");
        }
        // Central differences of the loss itself.
        for k in 0..5 {
            let h = 1e-2f32;
            let mut zp = z;
            zp[k] += h;
            let plus = tfjs_categorical_crossentropy(&zp, 3, 1.0, &mut [0.0; 5]);
            zp[k] -= 2.0 * h;
            let minus = tfjs_categorical_crossentropy(&zp, 3, 1.0, &mut [0.0; 5]);
            let numeric = (plus - minus) / (2.0 * h) * 0.25;
            assert!(
                (numeric - tfjs[k]).abs() < 1e-4,
                "{k}: {numeric} {}",
                tfjs[k]
            );
        }
    }

    #[test]
    fn tfjs_loss_saturates_outside_the_clip() {
        let mut g = [1.0f32; 3];
        // Confidently wrong: capped loss, no gradient at all.
        let wrong = tfjs_categorical_crossentropy(&[30.0, 0.0, 0.0], 1, 0.5, &mut g);
        assert_eq!(wrong, -math::ln(EPSILON));
        assert!((wrong - 16.118).abs() < 1e-3);
        assert!(g.iter().all(|x| *x == 0.0), "{g:?}");
        // Confidently right: loss ln(1/(1 − 1e-7)), no gradient.
        let right = tfjs_categorical_crossentropy(&[30.0, 0.0, 0.0], 0, 0.5, &mut g);
        assert!(right > 0.0 && right < 2e-7, "{right}");
        assert!(g.iter().all(|x| *x == 0.0), "{g:?}");
        // The fused loss keeps pushing the wrong sample.
        let fused = softmax_cross_entropy(&[30.0, 0.0, 0.0], 1, &mut g);
        assert_eq!((fused, g[1]), (30.0, -1.0));
        // Non-finite logits give a non-finite loss (the trainer's divergence signal).
        let nan = tfjs_categorical_crossentropy(&[f32::NAN, 0.0, 0.0], 0, 0.5, &mut g);
        assert!(nan.is_nan());
        assert_eq!(Loss::default(), Loss::SoftmaxCrossEntropy);
    }

    #[test]
    fn stable_at_extreme_logits() {
        let mut g = [0.0f32; 3];
        let z = [1e4f32, -1e4, 0.0];
        let right = softmax_cross_entropy(&z, 0, &mut g);
        assert_eq!(right, 0.0);
        assert!(g.iter().all(|x| x.is_finite()));
        let wrong = softmax_cross_entropy(&z, 1, &mut g);
        assert_eq!(wrong, 2e4);
        assert_eq!(g, [1.0, -1.0, 0.0]);
        let mut p = [1e4f32, 1e4, -1e4];
        softmax_in_place(&mut p);
        assert_eq!(p, [0.5, 0.5, 0.0]);
    }
}

//! Softmax fused with categorical cross-entropy, computed through log-sum-exp so logits
//! of any finite size give a finite loss.
use crate::math;

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

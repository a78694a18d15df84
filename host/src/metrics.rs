//! Scoring a model on a labelled set: accuracy, per-class accuracy, confusion matrix.
use std::fmt::Write as _;

use microdense::{argmax, loss::softmax_cross_entropy};
use serde::Serialize;

use crate::data::examples::Examples;
use crate::model::Model;

/// Inference batch: large enough to amortize per-call overhead, small enough for cache.
const CHUNK: usize = 256;

/// Counts of (true class, predicted class) over a set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub classes: usize,
    /// `confusion[truth][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// Mean cross-entropy over the set.
    pub loss: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassScore {
    pub class: usize,
    pub samples: u64,
    pub correct: u64,
    pub accuracy: f64,
}

impl Evaluation {
    pub(crate) fn empty(classes: usize) -> Self {
        Evaluation {
            classes,
            confusion: vec![vec![0; classes]; classes],
            loss: 0.0,
        }
    }

    pub fn total(&self) -> u64 {
        self.confusion.iter().flatten().sum()
    }

    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.confusion[c][c]).sum()
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Accuracy within each true class (recall).
    pub fn per_class(&self) -> Vec<ClassScore> {
        (0..self.classes)
            .map(|c| {
                let samples = self.confusion[c].iter().sum();
                let correct = self.confusion[c][c];
                ClassScore {
                    class: c,
                    samples,
                    correct,
                    accuracy: ratio(correct, samples),
                }
            })
            .collect()
    }

    /// Human-readable report: overall, per class, and the confusion matrix.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "accuracy {:.4} ({} of {}), mean loss {:.4}",
            self.accuracy(),
            self.correct(),
            self.total(),
            self.loss
        );
        let _ = writeln!(s, "\nper class:\n  class  samples  correct  accuracy");
        for c in self.per_class() {
            let _ = writeln!(
                s,
                "  {:>5}  {:>7}  {:>7}  {:>8.4}",
                c.class, c.samples, c.correct, c.accuracy
            );
        }
        let width = self
            .confusion
            .iter()
            .flatten()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(self.classes.to_string().len())
            .max(3);
        let _ = writeln!(s, "\nconfusion (rows: true class, columns: predicted):");
        let _ = write!(s, "  {:>w$} ", "", w = width);
        for p in 0..self.classes {
            let _ = write!(s, " {p:>width$}");
        }
        s.push('\n');
        for (t, row) in self.confusion.iter().enumerate() {
            let _ = write!(s, "  {t:>width$} ");
            for n in row {
                let _ = write!(s, " {n:>width$}");
            }
            s.push('\n');
        }
        s
    }

    fn merge(&mut self, other: &Evaluation) {
        for (a, b) in self.confusion.iter_mut().zip(&other.confusion) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.loss += other.loss;
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Scores `model` on `indices` of `set` (all of it when `None`). The caller has checked
/// the set fits the model (see `Data::check_fits`).
pub fn evaluate(model: &Model, set: &dyn Examples, indices: Option<&[usize]>) -> Evaluation {
    score_in_parallel(set, indices, model.topology.outputs(), |part| {
        evaluate_serial(model, set, part)
    })
}

/// Runs `score` (counts and a summed loss over some indices) over `indices` of `set` (all
/// of it when `None`), split across the cores. Counts add up exactly, and the f64 loss
/// sum is taken in a fixed order, so the result does not depend on thread timing.
pub(crate) fn score_in_parallel(
    set: &dyn Examples,
    indices: Option<&[usize]>,
    classes: usize,
    score: impl Fn(&[usize]) -> Evaluation + Sync,
) -> Evaluation {
    let all: Vec<usize>;
    let indices = match indices {
        Some(i) => i,
        None => {
            all = (0..set.len()).collect();
            &all
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(indices.len().div_ceil(CHUNK))
        .max(1);
    let per = indices.len().div_ceil(threads).max(1);
    let score = &score;
    let parts: Vec<Evaluation> = std::thread::scope(|s| {
        let handles: Vec<_> = indices
            .chunks(per)
            .map(|part| s.spawn(move || score(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut total = Evaluation::empty(classes);
    for p in &parts {
        total.merge(p);
    }
    total.loss /= indices.len().max(1) as f64;
    total
}

/// Loss summed (not averaged) over `indices`.
fn evaluate_serial(model: &Model, set: &dyn Examples, indices: &[usize]) -> Evaluation {
    let net = model.network();
    let classes = model.topology.outputs();
    let mut eval = Evaluation::empty(classes);
    let mut scratch = vec![0.0f32; model.topology.infer_scratch_len(CHUNK)];
    let (mut xs, mut labels) = (Vec::new(), Vec::new());
    let mut grad = vec![0.0f32; classes];
    for chunk in indices.chunks(CHUNK) {
        set.gather(chunk, &mut xs, &mut labels);
        let Ok(logits) = net.logits(&xs, &mut scratch) else {
            unreachable!("batch and scratch sized from the topology");
        };
        for (z, &label) in logits.chunks_exact(classes).zip(&labels) {
            let truth = usize::from(label);
            eval.confusion[truth][argmax(z)] += 1;
            eval.loss += f64::from(softmax_cross_entropy(z, truth, &mut grad));
        }
    }
    eval
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_from_confusion() {
        let mut e = Evaluation::empty(3);
        e.confusion = vec![vec![5, 1, 0], vec![0, 2, 2], vec![0, 0, 0]];
        assert_eq!(e.total(), 10);
        assert_eq!(e.correct(), 7);
        assert!((e.accuracy() - 0.7).abs() < 1e-12);
        let pc = e.per_class();
        assert_eq!(pc[1].samples, 4);
        assert!((pc[1].accuracy - 0.5).abs() < 1e-12);
        assert_eq!(pc[2].accuracy, 0.0);
        let r = e.report();
        assert!(r.starts_with("accuracy 0.7000 (7 of 10)"), "{r}");
        assert!(r.contains("\n    0    5   1   0\n"), "{r}");
    }
}

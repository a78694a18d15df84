//! What scoring a model on a labelled set yields: accuracy, per-class accuracy, confusion matrix.
use std::fmt::Write as _;

use serde::Serialize;

use crate::plot::MAX_CONFUSION_CLASSES;

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
        if self.classes > MAX_CONFUSION_CLASSES {
            let _ = writeln!(
                s,
                "\nconfusion matrix not printed: {} classes (at most {MAX_CONFUSION_CLASSES}; \
                 --json has it)",
                self.classes
            );
            return s;
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

    pub(crate) fn merge(&mut self, other: &Evaluation) {
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

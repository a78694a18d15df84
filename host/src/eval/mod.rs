//! Scoring models: one evaluator for f32 and int8 models ([`evaluate`]), the metrics it
//! fills, an f64 reference implementation and the checks built on them.
pub mod crosscheck;
pub mod metrics;
pub mod reference;
pub mod reproduce;
pub mod throughput;

use microdense::{argmax, int8::argmax_i32, loss::softmax_cross_entropy};

use crate::data::examples::Examples;
use crate::model::{AnyModel, Model, QuantModel};
pub use metrics::{ClassScore, Evaluation};

/// Images per inference call: large enough to amortize per-call overhead, small enough
/// for cache.
const CHUNK: usize = 256;

/// What the evaluator needs of a model: for a chunk of images, each one's predicted class
/// and the f32 logits its loss is taken on.
pub trait Classifier: Sync {
    /// Buffers one scoring thread reuses from chunk to chunk.
    type Work: Default;
    fn classes(&self) -> usize;
    /// Fills `out` for `chunk` of `set`.
    fn classify(
        &self,
        set: &dyn Examples,
        chunk: &[usize],
        work: &mut Self::Work,
        out: &mut Scored,
    );
}

/// One chunk's results.
#[derive(Default)]
pub struct Scored {
    /// Predicted class of each image.
    pub predicted: Vec<usize>,
    /// `classes` logits per image, end to end.
    pub logits: Vec<f32>,
}

/// f32 inference on a batch of scaled pixels.
#[derive(Default)]
pub struct F32Work {
    scratch: Vec<f32>,
    xs: Vec<f32>,
    labels: Vec<u8>,
}

impl Classifier for Model {
    type Work = F32Work;

    fn classes(&self) -> usize {
        self.topology.outputs()
    }

    fn classify(&self, set: &dyn Examples, chunk: &[usize], w: &mut F32Work, out: &mut Scored) {
        w.scratch
            .resize(self.topology.infer_scratch_len(chunk.len()), 0.0);
        set.gather(chunk, &mut w.xs, &mut w.labels);
        let Ok(logits) = self.network().logits(&w.xs, &mut w.scratch) else {
            unreachable!("batch and scratch sized from the topology");
        };
        out.logits.clear();
        out.logits.extend_from_slice(logits);
        out.predicted.clear();
        out.predicted
            .extend(logits.chunks_exact(self.classes()).map(argmax));
    }
}

/// Integer inference one image at a time; the loss from the dequantized outputs.
#[derive(Default)]
pub struct Int8Work {
    x: Vec<i8>,
    row: Vec<f32>,
    label: Vec<u8>,
    scratch: Vec<u32>,
    y: Vec<i32>,
}

impl Classifier for QuantModel {
    type Work = Int8Work;

    fn classes(&self) -> usize {
        self.topology.outputs()
    }

    fn classify(&self, set: &dyn Examples, chunk: &[usize], w: &mut Int8Work, out: &mut Scored) {
        let net = self.network();
        let classes = self.classes();
        w.x.resize(self.topology.input(), 0);
        w.scratch.resize(net.scratch_len(), 0);
        w.y.resize(classes, 0);
        out.predicted.clear();
        out.logits.resize(chunk.len() * classes, 0.0);
        for (&i, z) in chunk.iter().zip(out.logits.chunks_exact_mut(classes)) {
            match set.pixels(i) {
                Some(image) => self.quantize_image(image, &mut w.x),
                None => {
                    // Scaled features (a table): quantized with the input's parameters.
                    let params = net.input_params();
                    set.gather(&[i], &mut w.row, &mut w.label);
                    for (q, &v) in w.x.iter_mut().zip(&w.row) {
                        *q = params.quantize(v);
                    }
                }
            }
            if net.logits(&w.x, &mut w.scratch, &mut w.y).is_err() {
                unreachable!("buffers sized from the topology");
            }
            out.predicted.push(argmax_i32(&w.y));
            net.dequantize_logits(&w.y, z);
        }
    }
}

/// Scores `model` on `indices` of `set` (all of it when `None`), split across the cores.
/// Counts add up exactly and the f64 loss sum is taken in a fixed order, so the result
/// does not depend on thread timing. The caller has checked the set fits the model (see
/// `Data::check_fits`).
pub fn evaluate<M: Classifier>(
    model: &M,
    set: &dyn Examples,
    indices: Option<&[usize]>,
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
    let parts: Vec<Evaluation> = std::thread::scope(|s| {
        let handles: Vec<_> = indices
            .chunks(per)
            .map(|part| s.spawn(move || evaluate_serial(model, set, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut total = Evaluation::empty(model.classes());
    for p in &parts {
        total.merge(p);
    }
    total.loss /= indices.len().max(1) as f64;
    total
}

/// Either kind of model.
pub fn evaluate_any(model: &AnyModel, set: &dyn Examples, indices: Option<&[usize]>) -> Evaluation {
    match model {
        AnyModel::F32(m) => evaluate(m, set, indices),
        AnyModel::Int8(q) => evaluate(q, set, indices),
    }
}

/// Confusion counts and the loss summed (not averaged) over `indices`.
fn evaluate_serial<M: Classifier>(model: &M, set: &dyn Examples, indices: &[usize]) -> Evaluation {
    let classes = model.classes();
    let mut eval = Evaluation::empty(classes);
    let mut work = M::Work::default();
    let mut scored = Scored::default();
    let mut grad = vec![0.0f32; classes];
    for chunk in indices.chunks(CHUNK) {
        model.classify(set, chunk, &mut work, &mut scored);
        let logits = scored.logits.chunks_exact(classes);
        for ((z, &predicted), &i) in logits.zip(&scored.predicted).zip(chunk) {
            let truth = usize::from(set.label(i));
            eval.confusion[truth][predicted] += 1;
            eval.loss += f64::from(softmax_cross_entropy(z, truth, &mut grad));
        }
    }
    eval
}

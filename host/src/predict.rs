//! `predict`: the network's answer for single inputs, from the raw values a sensor or a
//! paint program produces. The model's stored scaling is applied (core's arithmetic, the
//! same as on a chip); a version-1 model takes pixels 0…255, scaled /255.
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, Result};
use microdense::loss::softmax_in_place;
use serde::Serialize;

use crate::data::idx;
use crate::data::table::{ModelInput, ScaleKind, Scaling};
use crate::data::{csv as csvdata, images, npy};
use crate::model::AnyModel;

/// One input to classify: where it came from and its raw values.
pub struct Input {
    pub name: String,
    pub raw: Vec<f32>,
}

/// Whether the model's inputs are pixels (version 1, or stored pixel scaling).
fn takes_pixels(input: Option<&ModelInput>) -> bool {
    input.is_none_or(|i| i.scaling.kind == ScaleKind::Pixels)
}

/// Reads the inputs in `arg` (a file, or `-` for CSV rows on stdin) for a model of
/// `width` inputs.
pub fn read_inputs(arg: &str, width: usize, input: Option<&ModelInput>) -> Result<Vec<Input>> {
    let rows = |name: &str, rows: Vec<Vec<f32>>| -> Vec<Input> {
        rows.into_iter()
            .enumerate()
            .map(|(i, raw)| Input {
                name: format!("{name}#{}", i + 1),
                raw,
            })
            .collect()
    };
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| anyhow!("stdin: cannot read: {e}"))?;
        return Ok(rows(
            "stdin",
            csvdata::load_rows(Path::new("stdin"), &text, width)?,
        ));
    }
    let path = Path::new(arg);
    let lower = arg.to_lowercase();
    let ext = lower
        .trim_end_matches(".gz")
        .rsplit('.')
        .next()
        .unwrap_or("");
    match ext {
        "npy" => {
            let (shape, values) = npy::load_features(path)?;
            let per: usize =
                shape.iter().product::<usize>() / shape.first().copied().unwrap_or(1).max(1);
            let (n, w) = if shape.iter().product::<usize>() == width {
                (1, width)
            } else {
                (shape.first().copied().unwrap_or(0), per)
            };
            if w != width {
                return Err(anyhow!(
                    "{arg}: examples of shape {:?}, but the model takes {width} values",
                    &shape[1.min(shape.len())..]
                ));
            }
            let mut out = rows(
                arg,
                values.chunks(width.max(1)).map(<[f32]>::to_vec).collect(),
            );
            out.truncate(n);
            check_finite(&out, arg)?;
            Ok(out)
        }
        "png" | "pgm" | "pnm" | "jpg" | "jpeg" | "bmp" => {
            if !takes_pixels(input) {
                return Err(anyhow!(
                    "{arg}: the model takes scaled features, not pixels; give CSV rows or .npy"
                ));
            }
            let (grey, r, c) = images::read_grey(path)?;
            let pixels = if r * c == width {
                grey
            } else {
                let side = (width as f64).sqrt().round() as usize;
                if side * side != width {
                    return Err(anyhow!(
                        "{arg}: {c}x{r} pixels, and the model's {width} inputs are not a square image"
                    ));
                }
                images::mnist_style(&grey, r, c, side)
            };
            Ok(vec![Input {
                name: arg.to_string(),
                raw: pixels.iter().map(|&p| f32::from(p)).collect(),
            }])
        }
        _ if lower.contains("idx3") || lower.contains("ubyte") => {
            let imgs = idx::read_images(path)?;
            if imgs.image_size() != width {
                return Err(anyhow!(
                    "{arg}: {}x{} images, but the model takes {width} inputs",
                    imgs.rows,
                    imgs.cols
                ));
            }
            Ok((0..imgs.count)
                .map(|i| Input {
                    name: format!("{arg}#{}", i + 1),
                    raw: imgs.image(i).iter().map(|&p| f32::from(p)).collect(),
                })
                .collect())
        }
        _ => {
            let text = csvdata::read_text(path)?;
            Ok(rows(arg, csvdata::load_rows(path, &text, width)?))
        }
    }
}

fn check_finite(inputs: &[Input], name: &str) -> Result<()> {
    for (i, x) in inputs.iter().enumerate() {
        if let Some(j) = x.raw.iter().position(|v| !v.is_finite()) {
            return Err(anyhow!(
                "{name}: example {} value {} is not finite",
                i + 1,
                j + 1
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Guess {
    pub class: usize,
    pub name: String,
    pub probability: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub input: String,
    /// The `k` most probable classes, most probable first.
    pub top: Vec<Guess>,
}

/// Classifies each input: scaling (stored, else pixels /255), the network (f32 or
/// int8), softmax, the `k` best.
pub fn predict(model: &AnyModel, inputs: &[Input], k: usize) -> Result<Vec<Prediction>> {
    let t = model.topology();
    let stored = model.input();
    let scaling = match &stored {
        Some(i) => i.scaling.clone(),
        None => Scaling {
            kind: ScaleKind::Pixels,
            offset: vec![0.0; t.input()],
            divisor: vec![255.0; t.input()],
        },
    };
    let names: Vec<String> = match &stored {
        Some(i) if !i.classes.is_empty() => i.classes.clone(),
        _ => (0..t.outputs()).map(|c| c.to_string()).collect(),
    };
    let classes = t.outputs();
    let core_scaling = microdense::scaling::InputScaling {
        offset: &scaling.offset,
        divisor: &scaling.divisor,
    };
    let mut out = Vec::with_capacity(inputs.len());
    let mut probs = vec![0.0f32; classes];
    // Core's raw-input path, the one a chip runs: scaling, then the network.
    let mut x = vec![0.0f32; t.input()];
    let mut scratch = vec![0.0f32; t.infer_scratch_len(1)];
    let mut xq = vec![0i8; t.input()];
    let mut qscratch = Vec::new();
    let mut y = vec![0i32; classes];
    for input in inputs {
        match model {
            AnyModel::F32(m) => {
                let logits = m
                    .network()
                    .logits_raw(&core_scaling, &input.raw, &mut x, &mut scratch)
                    .map_err(|e| anyhow!("{}: {e}", input.name))?;
                probs.copy_from_slice(logits);
            }
            AnyModel::Int8(q) => {
                let net = q.network();
                qscratch.resize(net.scratch_len(), 0u32);
                net.logits_raw(&core_scaling, &input.raw, &mut xq, &mut qscratch, &mut y)
                    .map_err(|e| anyhow!("{}: {e}", input.name))?;
                net.dequantize_logits(&y, &mut probs);
            }
        }
        softmax_in_place(&mut probs);
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        out.push(Prediction {
            input: input.name.clone(),
            top: order
                .iter()
                .take(k.max(1))
                .map(|&c| Guess {
                    class: c,
                    name: names[c].clone(),
                    probability: probs[c],
                })
                .collect(),
        });
    }
    Ok(out)
}

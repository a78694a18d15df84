use std::fmt::Write as _;

use anyhow::Result;

use super::{emit, emit_json};
use crate::cli::PredictArgs;
use crate::model::AnyModel;
use crate::predict::{predict, read_inputs};

pub fn run(args: PredictArgs) -> Result<()> {
    let model = AnyModel::load(&args.model)?;
    let input = model.input();
    let width = model.topology().input();
    let mut inputs = Vec::new();
    for arg in &args.inputs {
        inputs.extend(read_inputs(arg, width, input.as_ref())?);
    }
    let k = (args.top as usize).min(model.topology().outputs());
    let predictions = predict(&model, &inputs, k)?;
    if args.json {
        return emit_json(&predictions);
    }
    let mut s = String::new();
    if args.csv {
        s.push_str("input,class,probability");
        for i in 2..=k {
            let _ = write!(s, ",class_{i},probability_{i}");
        }
        s.push('\n');
        for p in &predictions {
            s.push_str(&csv_field(&p.input));
            for g in &p.top {
                let _ = write!(s, ",{},{:.6}", csv_field(&g.name), g.probability);
            }
            s.push('\n');
        }
        return emit(&s);
    }
    for p in &predictions {
        let best = &p.top[0];
        let others: Vec<String> = p
            .top
            .iter()
            .map(|g| format!("{} {:.3}", g.name, g.probability))
            .collect();
        let _ = writeln!(s, "{}: {}  ({})", p.input, best.name, others.join(", "));
    }
    emit(&s)
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

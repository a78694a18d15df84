use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, Result};

use super::{emit, emit_json};
use crate::cli::CheckArgs;
use crate::data::idx::{self, Split};
use crate::data::Data;
use crate::eval::crosscheck::{self, CheckReport};

pub fn run(args: CheckArgs) -> Result<()> {
    let dir = idx::data_dir(args.data.data.as_deref());
    let train = Data::load(&dir, Split::Train)?;
    train.check_labels(10)?;
    let report = crosscheck::run(&train.set, u64::from(args.steps), args.seed)?;
    if args.json {
        emit_json(&report)?;
    } else {
        emit(&text(&report, &dir, args.tolerance))?;
    }
    if report.worst() > args.tolerance {
        return Err(anyhow!(
            "{}: core and the f64 reference deviate by {:.3e}, more than the args.tolerance {:.1e}",
            dir.display(),
            report.worst(),
            args.tolerance
        ));
    }
    Ok(())
}

/// The deviations, layer by layer, and the verdict.
fn text(report: &CheckReport, dir: &Path, tolerance: f64) -> String {
    let mut s = format!(
        "core (f32) vs f64 reference: {} steps of the tutorial configuration \
         ({} linear, batch 16, lr 0.15, seed {}) on {}\n",
        report.steps,
        report.network,
        report.seed,
        dir.display()
    );
    let _ = writeln!(
        s,
        "loss      step 1: core {:.7} ref {:.7}; step {}: core {:.7} ref {:.7}",
        report.first_loss.0,
        report.first_loss.1,
        report.steps,
        report.last_loss.0,
        report.last_loss.1
    );
    let _ = writeln!(
        s,
        "max relative deviation of the loss     {:.3e} (step {})",
        report.loss_relative, report.loss_step
    );
    let _ = writeln!(
        s,
        "max relative deviation of step-1 grads {:.3e}",
        report.first_gradients_relative
    );
    let _ = writeln!(
        s,
        "max relative deviation of the weights  {:.3e} (after step {})",
        report.weights_relative, report.steps
    );
    for l in &report.layers {
        let _ = writeln!(
            s,
            "  layer {}: max |core − ref| {:.3e}, scale max |ref| {:.4}, relative {:.3e}",
            l.layer, l.max_abs, l.scale, l.relative
        );
    }
    let _ = writeln!(
            s,
            "relative deviation: max |core − ref| / max |ref| per layer; loss: |core − ref| / max(|ref|, 1e-3)"
        );
    let verdict = if report.worst() <= tolerance {
        "ok"
    } else {
        "FAILED"
    };
    let _ = writeln!(s, "tolerance {:.1e}: {verdict}", tolerance);
    s
}

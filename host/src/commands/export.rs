use anyhow::Result;

use super::{check_outputs, data_inputs, emit};
use crate::cli::ExportArgs;
use crate::data::idx::{self, Split};
use crate::data::prepare::{raw_for_model, Part};
use crate::data::table::{ModelInput, ScaleKind};
use crate::data::Data;
use crate::model::AnyModel;

pub fn run(args: ExportArgs) -> Result<()> {
    debug_assert!(args.firmware, "clap requires --firmware");
    let mut inputs = data_inputs(&args.data);
    inputs.push(args.model.clone());
    check_outputs(&[("--out", Some(&args.out))], &inputs)?;
    let model = AnyModel::load(&args.model)?;
    let topology = model.topology();
    if let Some(input) = model.input() {
        if input.scaling.kind != ScaleKind::Pixels {
            return export_features(&args, &model, &input);
        }
    }
    let dir = idx::data_dir(args.data.data.as_deref());
    let test = Data::load(&dir, Split::Test)?;
    test.check_fits(topology, &args.model)?;
    let (images, labels) = first(&test, args.digits as usize);
    let train_digits = args.train_digits.unwrap_or(500) as usize;
    let (train_images, train_labels) = if train_digits > 0 {
        let train = Data::load(&dir, Split::Train)?;
        train.check_fits(topology, &args.model)?;
        let (i, l) = first(&train, train_digits);
        (i.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), l)
    } else {
        (Vec::new(), Vec::new())
    };
    let train_refs: Vec<&[u8]> = train_images.iter().map(Vec::as_slice).collect();
    crate::model::bundle::write_bundle_for(
        &args.out,
        &model,
        &images,
        &labels,
        &train_refs,
        &train_labels,
    )
    .map_err(|e| naming(&args.out, e))?;
    emit(&format!(
        "wrote {}: {} ({}) and {} test digits ({} training digits)\n",
        args.out.display(),
        args.model.display(),
        model.element_type().name(),
        images.len(),
        train_refs.len()
    ))
}

/// A model of raw features (a CSV's): a version-2 bundle of the first `--digits` test
/// rows as they are in the file, which the chip scales with the model's stored scaling.
fn export_features(args: &ExportArgs, model: &AnyModel, input: &ModelInput) -> Result<()> {
    if let Some(k) = args.train_digits.filter(|&k| k > 0) {
        return Err(anyhow::anyhow!(
            "{}: a model of raw features ({} scaling): --train-digits {k}, but its bundle \
             carries no training rows (the on-chip trainer learns digits); leave it out",
            args.model.display(),
            input.scaling.kind.name()
        ));
    }
    let (test, from) = raw_for_model(
        &args.data.spec(),
        Some(input),
        model.topology(),
        &args.model,
        Part::Test,
    )?;
    let n = (args.digits as usize).min(test.len());
    let rows: Vec<&[f32]> = (0..n).map(|i| test.row(i)).collect();
    crate::model::bundle::write_feature_bundle(&args.out, model, &rows, &test.labels[..n])
        .map_err(|e| naming(&args.out, e))?;
    emit(&format!(
        "wrote {}: {} ({}, {} scaling applied on the chip) and {n} raw test rows from {from}\n",
        args.out.display(),
        args.model.display(),
        model.element_type().name(),
        input.scaling.kind.name(),
    ))
}

/// Write errors already name the file; the bundle's own checks do not.
fn naming(out: &std::path::Path, e: anyhow::Error) -> anyhow::Error {
    let (msg, out) = (format!("{e:#}"), out.display().to_string());
    match msg.starts_with(&out) {
        true => anyhow::anyhow!(msg),
        false => anyhow::anyhow!("{out}: {msg}"),
    }
}

/// The first `n` images (or all, if fewer) and their labels.
fn first(data: &Data, n: usize) -> (Vec<&[u8]>, Vec<u8>) {
    let n = n.min(data.len());
    (
        (0..n).map(|i| data.set.image(i)).collect(),
        data.set.labels[..n].to_vec(),
    )
}

use anyhow::Result;

use super::{check_outputs, data_inputs, emit};
use crate::cli::ExportArgs;
use crate::data::idx::{self, Split};
use crate::data::table::ScaleKind;
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
            return Err(anyhow::anyhow!(
                "{}: a model of raw features ({} scaling); firmware bundles take pixel models \
                 for now (predict and eval run it on the PC)",
                args.model.display(),
                input.scaling.kind.name()
            ));
        }
    }
    let dir = idx::data_dir(args.data.data.as_deref());
    let test = Data::load(&dir, Split::Test)?;
    test.check_fits(topology, &args.model)?;
    let (images, labels) = first(&test, args.digits as usize);
    let (train_images, train_labels) = if args.train_digits > 0 {
        let train = Data::load(&dir, Split::Train)?;
        train.check_fits(topology, &args.model)?;
        let (i, l) = first(&train, args.train_digits as usize);
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
    .map_err(|e| {
        // Write errors already name the file; the bundle's own checks do not.
        let (msg, out) = (format!("{e:#}"), args.out.display().to_string());
        match msg.starts_with(&out) {
            true => anyhow::anyhow!(msg),
            false => anyhow::anyhow!("{out}: {msg}"),
        }
    })?;
    emit(&format!(
        "wrote {}: {} ({}) and {} test digits ({} training digits)\n",
        args.out.display(),
        args.model.display(),
        model.element_type().name(),
        images.len(),
        train_refs.len()
    ))
}

/// The first `n` images (or all, if fewer) and their labels.
fn first(data: &Data, n: usize) -> (Vec<&[u8]>, Vec<u8>) {
    let n = n.min(data.len());
    (
        (0..n).map(|i| data.set.image(i)).collect(),
        data.set.labels[..n].to_vec(),
    )
}

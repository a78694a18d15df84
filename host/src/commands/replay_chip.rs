//! `microdense replay-chip`: a firmware training run replayed on the PC (crate::chip) and
//! compared with what the chip reported.
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::emit;
use crate::chip::{first_difference, replay, BoardSetup, Program};
use crate::cli::{ChipProgram, ReplayChipArgs};
use crate::model::bundle::read_bundle;
use crate::model::{describe, Model};

pub fn run(args: ReplayChipArgs) -> Result<()> {
    let program = match args.program {
        ChipProgram::Train => Program::Train,
        ChipProgram::Finetune => Program::Finetune,
    };
    let board = BoardSetup::read(&args.board, Path::new("firmware/boards"))?;
    let bytes = std::fs::read(&args.bundle)
        .map_err(|e| anyhow!("{}: cannot read the bundle: {e}", args.bundle.display()))?;
    let bundle = read_bundle(&bytes).map_err(|e| anyhow!("{}: {e}", args.bundle.display()))?;
    let weights = args.weights.as_deref().map(Model::load).transpose()?;
    let r = replay(program, &bundle, &board, weights.as_ref())?;
    let t = &r.model.topology;
    emit(&format!(
        "replayed {program:?} on {}: {}, layers {}.. trained ({} parameters), {} steps\n\
         digest: CRC-32 {:#010x}\n",
        board.name,
        describe(t),
        r.first,
        r.trained().len(),
        r.steps,
        r.digest()
    ))?;
    let mut same = true;
    if let Some(chip) = args.digest {
        let verdict = if chip == r.digest() {
            "equal"
        } else {
            "DIFFERENT"
        };
        same &= chip == r.digest();
        emit(&format!("chip's digest {chip:#010x}: {verdict}\n"))?;
    }
    if let Some(path) = &args.chip {
        let chip = Model::load(path)?;
        if chip.topology != *t {
            bail!(
                "{}: the chip's model is {}, the replay's {}",
                path.display(),
                describe(&chip.topology),
                describe(t)
            );
        }
        match first_difference(t, &chip.params, &r.model.params) {
            None => emit(&format!(
                "chip's model {}: bit-identical ({} parameters)\n",
                path.display(),
                chip.params.len()
            ))?,
            Some(d) => {
                same = false;
                emit(&format!(
                    "chip's model {}: DIFFERENT, first at {d}\n",
                    path.display()
                ))?;
            }
        }
    }
    if !same {
        bail!("the chip's weights are not the replay's");
    }
    Ok(())
}

//! The flash budget: warns when a bundle's data and the code will likely not fit the
//! board's program flash. The linker has the last word ("will not fit in region FLASH");
//! this says why first.
use std::path::Path;

use microdense::bundle::{Bundle, Section};

/// Code takes up to about this much flash (the train program on the LM3S6965: 68 KiB).
const CODE_ESTIMATE: usize = 72 * 1024;

/// Prints a cargo warning for each program whose bundled data may not fit.
pub fn warn_if_too_big(b: &Bundle, board: &str, train_pool: usize, memory: &Path) {
    let text = std::fs::read_to_string(memory).unwrap_or_default();
    let Some(flash) = flash_len(&text) else {
        return;
    };
    let len = |s| b.section(s).len();
    let p2 = train_pool * train_pool;
    let demo = len(Section::Model)
        + len(Section::TestImages)
        + len(Section::Logits)
        + len(Section::TestLabels);
    let train = (len(Section::TrainImages) + len(Section::TestImages)) / p2
        + len(Section::TrainLabels)
        + len(Section::TestLabels);
    for (program, data) in [("demo", demo), ("train", train)] {
        if data + CODE_ESTIMATE > flash {
            println!(
                "cargo:warning=the {program} program's bundled data ({} KiB) and code (~{} KiB) may not fit the \
                 {} KiB of program flash on {board}: export a smaller model or fewer digits",
                data / 1024,
                CODE_ESTIMATE / 1024,
                flash / 1024,
            );
        }
    }
}

/// LENGTH of the FLASH region in a memory.x, in bytes.
fn flash_len(memory_x: &str) -> Option<usize> {
    let line = memory_x
        .lines()
        .find(|l| l.trim_start().starts_with("FLASH"))?;
    let spec = line.split("LENGTH").nth(1)?.trim_start_matches([' ', '=']);
    let digits = spec
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(spec.len());
    let scale = match spec[digits..].chars().next() {
        Some('K') => 1024,
        Some('M') => 1024 * 1024,
        _ => 1,
    };
    Some(spec[..digits].parse::<usize>().ok()? * scale)
}

//! Build script: picks the board (MICRODENSE_BOARD, set by the board's cargo alias; the
//! default is stm32f405), reads its `boards/<name>/board.toml` and passes its memory.x and
//! the link scripts, generates `board.rs` (its constants, see src/board.rs), and embeds the
//! firmware bundle written by `microdense export --firmware`.
//!
//! The bundle is read and checked with core's `microdense::bundle` (which holds its
//! layout) and split into one file per section under OUT_DIR; the generated `bundle.rs`
//! includes each into a `static` with its own link section, so a binary keeps only what it
//! uses and llvm-size reports model and digits apart from code (the generated names are
//! listed on `bundle` in src/lib.rs). On boards whose training net takes downsampled
//! digits, the training and held-out digits are pooled here, at build time, to save flash.
mod board;
mod budget;
mod digits;
mod shipped;

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::exit;

use board::Board;
use digits::{pool, run_length};
use microdense::bundle::{Bundle, Section};

/// The board when MICRODENSE_BOARD is unset.
const DEFAULT_BOARD: &str = "stm32f405";

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    exit(1);
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let target = env::var("TARGET").unwrap_or_default();
    println!("cargo:rerun-if-env-changed=MICRODENSE_BOARD");
    let name = env::var("MICRODENSE_BOARD")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or(DEFAULT_BOARD.into());
    let boards = manifest.join("boards");
    if !boards.join(&name).join("board.toml").is_file() {
        let known: Vec<String> = fs::read_dir(&boards)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("board.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        fail(&format!(
            "MICRODENSE_BOARD={name}: no boards/{name}/board.toml (boards: {}); \
             the cargo alias `cargo <board> build` sets it",
            known.join(", ")
        ));
    }
    let board = Board::read(&boards, &name).unwrap_or_else(|e| fail(&e));
    println!(
        "cargo:rerun-if-changed={}",
        boards.join(&name).join("board.toml").display()
    );
    if !board.targets.contains(&target) {
        fail(&format!(
            "board {name} needs --target {} (not {target}); use its cargo alias: cargo {name} build",
            board.targets[0]
        ));
    }
    for f in &board.features {
        let var = format!("CARGO_FEATURE_{}", f.to_uppercase().replace('-', "_"));
        if env::var_os(var).is_none() {
            fail(&format!(
                "board {name} needs the cargo feature {f}: add --features {f}"
            ));
        }
    }
    write(&out.join("board.rs"), board.constants().as_bytes());
    // Armv6-M (Cortex-M0/M0+): no DWT cycle counter (src/meter.rs).
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    if target.starts_with("thumbv6m") {
        println!("cargo:rustc-cfg=armv6m");
    }

    // Link scripts: cortex-m-rt's link.x includes memory.x from the search path.
    let memory = boards.join(&name).join("memory.x");
    copy(&memory, &out.join("memory.x"));
    copy(&manifest.join("sections.x"), &out.join("sections.x"));
    // cortex-m-rt's "device" feature includes device.x for named interrupt handlers; the
    // vector table's interrupt part is src/lib.rs's __INTERRUPTS, all DefaultHandler.
    write(
        &out.join("device.x"),
        b"/* No named interrupt handlers: see __INTERRUPTS in src/lib.rs. */\n",
    );
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tsections.x");
    println!("cargo:rerun-if-changed={}", memory.display());
    println!("cargo:rerun-if-changed=sections.x");

    println!("cargo:rerun-if-env-changed=MICRODENSE_BUNDLE");
    let path = match env::var_os("MICRODENSE_BUNDLE").filter(|p| !p.is_empty()) {
        Some(p) => manifest.join(p),
        None => match (&board.bundle_shipped, manifest.join(&board.bundle)) {
            // A fresh clone: nothing exported yet, so the board's shipped model is.
            (Some(model), default) if !default.exists() => {
                shipped::export(&manifest, model, &board.bundle_digits, &out).unwrap_or_else(|e| {
                    fail(&format!("{e}\n{}", board.missing_bundle(&default, None)))
                })
            }
            (_, default) => default,
        },
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) => fail(&board.missing_bundle(&path, Some(&e))),
    };
    let bundle = Bundle::parse(&bytes).unwrap_or_else(|e| {
        fail(&format!(
            "{}: {e}; re-export it with `microdense export --firmware`",
            path.display()
        ))
    });
    let code = generate(&bundle, &board, &out, &path);
    budget::warn_if_too_big(&bundle, &board.name, board.train_pool, &memory);
    write(&out.join("bundle.rs"), code.as_bytes());
}

fn copy(from: &Path, to: &Path) {
    match fs::read(from) {
        Ok(b) => write(to, &b),
        Err(e) => fail(&format!("{}: {e}", from.display())),
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = fs::write(path, bytes) {
        fail(&format!("{}: {e}", path.display()));
    }
}

/// Writes each section to OUT_DIR and returns the Rust that embeds them.
fn generate(b: &Bundle, board: &Board, out: &Path, source: &Path) -> String {
    // A raw-feature bundle (a CSV model's) has no digits to pool or train on.
    let features = b.features();
    let p = if features { 1 } else { board.train_pool };
    if b.rows() % p != 0 || b.cols() % p != 0 {
        fail(&format!(
            "{}x{} digits cannot be pooled {p}x{p} for {}",
            b.rows(),
            b.cols(),
            &board.name
        ));
    }
    let (train_rows, train_cols) = (b.rows() / p, b.cols() / p);
    let part = |name: &str, data: &[u8]| {
        let path = out.join(name);
        write(&path, data);
        format!("{:?}", path.display().to_string())
    };
    let pool_all = |s: Section| -> Vec<u8> {
        b.section(s)
            .chunks_exact((b.rows() * b.cols()).max(1))
            .flat_map(|d| pool(d, b.rows(), b.cols(), p))
            .collect()
    };
    // Pixel bundles: the digits' bytes and no raw rows; raw-feature bundles: the rows'
    // f32 bytes and (for the programs that name them) blank digits of the same shape.
    let pixels_len = b.test_count() * b.rows() * b.cols();
    let (test_images, test_features): (Vec<u8>, &[u8]) = if features {
        (vec![0; pixels_len], b.section(Section::TestImages))
    } else {
        (b.section(Section::TestImages).to_vec(), &[])
    };
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "// Generated by build.rs from {:?}.",
        source.display().to_string()
    );
    let _ = writeln!(
        w,
        "/// Board this build is for.\npub const BOARD: &str = {:?};",
        &board.name
    );
    let _ = writeln!(
        w,
        "/// The test inputs are raw feature rows (TEST_FEATURES), scaled on the chip.\n\
         pub const RAW_FEATURES: bool = {features};"
    );
    let f = part("test_features.bin", test_features);
    let _ = writeln!(
        w,
        "/// Raw-feature bundles: the test rows, PIXELS little-endian f32 values each.\n\
         #[link_section = \".digits.test_features\"]\n\
         pub static TEST_FEATURES: [u8; {}] = *include_bytes!({f});",
        test_features.len()
    );
    for (name, value, doc) in [
        ("ROWS", b.rows(), "Rows of a test digit."),
        ("COLS", b.cols(), "Columns of a test digit."),
        (
            "PIXELS",
            b.rows() * b.cols(),
            "Pixels of a test digit: the model's input.",
        ),
        ("CLASSES", b.classes(), "Classes: the model's outputs."),
        (
            "TEST_COUNT",
            b.test_count(),
            "Test digits, with the host's logits.",
        ),
        ("TRAIN_COUNT", b.train_count(), "Training digits."),
        (
            "TRAIN_ROWS",
            train_rows,
            "Rows of a training (and held-out) digit on this board.",
        ),
        (
            "TRAIN_COLS",
            train_cols,
            "Columns of a training (and held-out) digit on this board.",
        ),
        (
            "TRAIN_PIXELS",
            train_rows * train_cols,
            "Input of the on-chip training net.",
        ),
        (
            "MODEL_LEN",
            b.section(Section::Model).len(),
            "Bytes of the compiled-in model blob.",
        ),
    ] {
        let _ = writeln!(w, "/// {doc}\npub const {name}: usize = {value};");
    }
    let model = part("model.bin", b.section(Section::Model));
    let _ = writeln!(
        w,
        "/// The compiled-in model, in the core's weights format, 32-byte aligned for in-place use.\n\
         #[link_section = \".model\"]\n\
         pub static MODEL: crate::Aligned<[u8; MODEL_LEN]> = crate::Aligned(*include_bytes!({model}));"
    );
    let held_out = if p == 1 {
        "&TEST_IMAGES".to_string()
    } else {
        let f = part("heldout_images.bin", &pool_all(Section::TestImages));
        let _ = writeln!(
            w,
            "#[link_section = \".digits.heldout_images\"]\n\
             static POOLED_TEST_IMAGES: [u8; TEST_COUNT * TRAIN_PIXELS] = *include_bytes!({f});"
        );
        "&POOLED_TEST_IMAGES".to_string()
    };
    let train_images = if p == 1 {
        b.section(Section::TrainImages).to_vec()
    } else {
        pool_all(Section::TrainImages)
    };
    for (name, len, data, doc) in [
        (
            "TEST_IMAGES",
            "TEST_COUNT * PIXELS",
            &test_images[..],
            "Test digits, a byte per pixel.",
        ),
        (
            "TEST_LABELS",
            "TEST_COUNT",
            b.section(Section::TestLabels),
            "Labels of the test digits.",
        ),
        (
            "HOST_LOGITS",
            "TEST_COUNT * CLASSES * 4",
            b.section(Section::Logits),
            "The host's logits for the test digits, little-endian: f32 for an f32 model, i32 for an int8 one.",
        ),
        (
            "TRAIN_IMAGES",
            "TRAIN_COUNT * TRAIN_PIXELS",
            &train_images[..],
            "Training digits at this board's training resolution.",
        ),
        (
            "TRAIN_LABELS",
            "TRAIN_COUNT",
            b.section(Section::TrainLabels),
            "Labels of the training digits.",
        ),
    ] {
        let f = part(&format!("{}.bin", name.to_lowercase()), data);
        let _ = writeln!(
            w,
            "/// {doc}\n#[link_section = \".digits.{}\"]\npub static {name}: [u8; {len}] = *include_bytes!({f});",
            name.to_lowercase()
        );
    }
    let _ = writeln!(
        w,
        "/// The test digits at the training resolution: the on-chip trainer's held-out set.\n\
         pub static HELDOUT_IMAGES: &[u8; TEST_COUNT * TRAIN_PIXELS] = {held_out};"
    );
    // The test digits again, run-length coded (demo-int8 takes these: a blank pixel
    // costs nothing, a digit about a quarter of its bytes).
    let pixels = (b.rows() * b.cols()).max(1);
    let mut packed = Vec::new();
    let mut starts = vec![0usize];
    for digit in test_images.chunks_exact(pixels) {
        packed.extend(run_length(digit));
        starts.push(packed.len());
    }
    let f = part("test_images_rle.bin", &packed);
    let _ = writeln!(
        w,
        "/// The test digits run-length coded: per digit, until its pixels are covered, a \
         count of zero pixels (u8), a count n of literal pixels (u8), then those n pixels.\n\
         #[link_section = \".digits.test_images_rle\"]\n\
         pub static TEST_IMAGES_RLE: [u8; {}] = *include_bytes!({f});\n\
         /// Where digit i's code starts in TEST_IMAGES_RLE (and, at i + 1, ends).\n\
         #[link_section = \".digits.test_images_rle_at\"]\n\
         pub static TEST_IMAGES_RLE_AT: [u32; TEST_COUNT + 1] = {starts:?};",
        packed.len()
    );
    s
}

//! Build script: picks the board's memory.x (by cargo feature), passes the link scripts,
//! and embeds the firmware bundle written by `microdense export --firmware`.
//!
//! The bundle (layout in host/src/bundle.rs) is checked here, with the core's own blob
//! reader for the model, and split into one file per section under OUT_DIR; the generated
//! `bundle.rs` includes each into a `static` with its own link section, so a binary keeps
//! only what it uses and llvm-size reports model and digits apart from code. On boards
//! whose training net takes downsampled digits, the training and held-out digits are
//! pooled here, at build time, to save flash.
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::exit;

struct Board {
    feature: &'static str,
    name: &'static str,
    /// Target triples the board's core runs.
    targets: &'static [&'static str],
    /// Side of the square pooling window for the on-chip training digits (1: none).
    train_pool: usize,
    /// Default bundle, relative to this package (MICRODENSE_BUNDLE overrides it).
    bundle: &'static str,
    /// How to make this board's bundle, for the missing-bundle message: the `microdense`
    /// train arguments of a model that fits, then the export's digit counts.
    train: &'static str,
    digits: &'static str,
    advice: &'static str,
}

const BOARDS: [Board; 2] = [
    Board {
        feature: "STM32F405",
        name: "stm32f405",
        targets: &["thumbv7em-none-eabihf", "thumbv7em-none-eabi"],
        train_pool: 1,
        bundle: "../target/firmware-bundle/bundle.bin",
        train: "train --out target/model.mdw",
        digits: "--digits 100 --train-digits 500",
        advice: "",
    },
    Board {
        feature: "LM3S6965",
        name: "lm3s6965",
        targets: &["thumbv7m-none-eabi"],
        train_pool: 2,
        bundle: "../target/firmware-bundle/bundle-lm3s6965.bin",
        train: "train --hidden 16 --activation relu --epochs 1 --out target/model-small.mdw",
        digits: "--digits 50 --train-digits 500",
        advice:
            " (its 192 KiB of program flash takes a model of about 50 KiB, like this 784-16-10)",
    },
];

const MAGIC: &[u8; 8] = b"MDBUNDLE";
const VERSION: usize = 1;
const HEADER_LEN: usize = 64;

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    exit(1);
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let target = env::var("TARGET").unwrap_or_default();
    let chosen: Vec<&Board> = BOARDS
        .iter()
        .filter(|b| env::var_os(format!("CARGO_FEATURE_{}", b.feature)).is_some())
        .collect();
    let board = match chosen[..] {
        [b] => b,
        _ => fail(
            "enable exactly one board feature: `stm32f405` (default) or `lm3s6965` \
             (cargo build-lm3s6965 does it)",
        ),
    };
    if !board.targets.contains(&target.as_str()) {
        fail(&format!(
            "board {} needs --target {} (not {target}); use the cargo alias build-{} or run-{}",
            board.name, board.targets[0], board.name, board.name
        ));
    }

    // Link scripts: cortex-m-rt's link.x includes memory.x from the search path.
    let memory = manifest.join("boards").join(board.name).join("memory.x");
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
        None => manifest.join(board.bundle),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            let model = board.train.rsplit(' ').next().unwrap_or_default();
            fail(&format!(
                "no firmware bundle at {} ({e}).\n\
                 The {} firmware embeds a model, test digits with the host's logits for them, and \
                 training digits for the on-chip trainer{}. From the repository root:\n\n    \
                 cargo run --release -p microdense-host -- {}\n    \
                 cargo run --release -p microdense-host -- export --model {model} --firmware {} --out {}\n\n\
                 or point MICRODENSE_BUNDLE at a bundle (a relative path is relative to firmware/).",
                path.display(),
                board.name,
                board.advice,
                board.train,
                board.digits,
                board.bundle.trim_start_matches("../"),
            ))
        }
    };
    let bundle = Bundle::parse(&bytes).unwrap_or_else(|e| {
        fail(&format!(
            "{}: {e}; re-export it with `microdense export --firmware`",
            path.display()
        ))
    });
    let code = bundle.generate(&bytes, board, &out, &path);
    warn_if_too_big(&bundle, board, &memory);
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

/// Byte ranges of a checked bundle's sections.
struct Bundle {
    rows: usize,
    cols: usize,
    classes: usize,
    tests: usize,
    trains: usize,
    blob: std::ops::Range<usize>,
    test_images: std::ops::Range<usize>,
    test_labels: std::ops::Range<usize>,
    logits: std::ops::Range<usize>,
    train_images: std::ops::Range<usize>,
    train_labels: std::ops::Range<usize>,
}

impl Bundle {
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err("not a microdense firmware bundle".into());
        }
        let field = |k: usize| {
            let at = 8 + 4 * k;
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        };
        let [version, header, rows, cols, classes, tests, trains, blob_at, blob_len, ti, tl, lg, ri, rl] =
            std::array::from_fn(field);
        if version != VERSION || header != HEADER_LEN {
            return Err(format!(
                "bundle version {version} is not supported (this firmware reads {VERSION})"
            ));
        }
        let pixels = rows * cols;
        let section = |at: usize, len: usize, what: &str| {
            let end = at.checked_add(len).filter(|&e| e <= bytes.len());
            end.map(|e| at..e).ok_or(format!("truncated in its {what}"))
        };
        let b = Bundle {
            rows,
            cols,
            classes,
            tests,
            trains,
            blob: section(blob_at, blob_len, "model blob")?,
            test_images: section(ti, tests * pixels, "test images")?,
            test_labels: section(tl, tests, "test labels")?,
            logits: section(lg, 4 * tests * classes, "logits")?,
            train_images: section(ri, trains * pixels, "train images")?,
            train_labels: section(rl, trains, "train labels")?,
        };
        if blob_at % 32 != 0 {
            return Err(format!(
                "model blob at offset {blob_at}, not a multiple of 32"
            ));
        }
        let blob =
            microdense::Blob::parse(&bytes[b.blob.clone()]).map_err(|e| format!("model: {e}"))?;
        let t = blob.topology();
        if t.input() != pixels || t.outputs() != classes {
            return Err(format!(
                "model takes {} inputs to {} classes, digits are {rows}x{cols} in {classes} classes",
                t.input(),
                t.outputs()
            ));
        }
        let labels = [
            &bytes[b.test_labels.clone()],
            &bytes[b.train_labels.clone()],
        ];
        if labels.concat().iter().any(|&l| usize::from(l) >= classes) {
            return Err(format!("a label is out of range for {classes} classes"));
        }
        Ok(b)
    }

    /// Writes each section to OUT_DIR and returns the Rust that embeds them.
    fn generate(&self, bytes: &[u8], board: &Board, out: &Path, source: &Path) -> String {
        let p = board.train_pool;
        if self.rows % p != 0 || self.cols % p != 0 {
            fail(&format!(
                "{}x{} digits cannot be pooled {p}x{p} for {}",
                self.rows, self.cols, board.name
            ));
        }
        let (train_rows, train_cols) = (self.rows / p, self.cols / p);
        let part = |name: &str, data: &[u8]| {
            let path = out.join(name);
            write(&path, data);
            format!("{:?}", path.display().to_string())
        };
        let pool_all = |range: &std::ops::Range<usize>| -> Vec<u8> {
            bytes[range.clone()]
                .chunks_exact((self.rows * self.cols).max(1))
                .flat_map(|d| pool(d, self.rows, self.cols, p))
                .collect()
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
            board.name
        );
        for (name, value, doc) in [
            ("ROWS", self.rows, "Rows of a test digit."),
            ("COLS", self.cols, "Columns of a test digit."),
            (
                "PIXELS",
                self.rows * self.cols,
                "Pixels of a test digit: the model's input.",
            ),
            ("CLASSES", self.classes, "Classes: the model's outputs."),
            (
                "TEST_COUNT",
                self.tests,
                "Test digits, with the host's logits.",
            ),
            ("TRAIN_COUNT", self.trains, "Training digits."),
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
                self.blob.len(),
                "Bytes of the compiled-in model blob.",
            ),
        ] {
            let _ = writeln!(w, "/// {doc}\npub const {name}: usize = {value};");
        }
        let model = part("model.bin", &bytes[self.blob.clone()]);
        let _ = writeln!(
            w,
            "/// The compiled-in model, in the core's weights format, 32-byte aligned for in-place use.\n\
             #[link_section = \".model\"]\n\
             pub static MODEL: crate::Aligned<[u8; MODEL_LEN]> = crate::Aligned(*include_bytes!({model}));"
        );
        let held_out = if p == 1 {
            "&TEST_IMAGES".to_string()
        } else {
            let f = part("heldout_images.bin", &pool_all(&self.test_images));
            let _ = writeln!(
                w,
                "#[link_section = \".digits.heldout_images\"]\n\
                 static POOLED_TEST_IMAGES: [u8; TEST_COUNT * TRAIN_PIXELS] = *include_bytes!({f});"
            );
            "&POOLED_TEST_IMAGES".to_string()
        };
        let train_images = if p == 1 {
            bytes[self.train_images.clone()].to_vec()
        } else {
            pool_all(&self.train_images)
        };
        for (name, len, data, doc) in [
            (
                "TEST_IMAGES",
                "TEST_COUNT * PIXELS",
                &bytes[self.test_images.clone()],
                "Test digits, a byte per pixel.",
            ),
            (
                "TEST_LABELS",
                "TEST_COUNT",
                &bytes[self.test_labels.clone()],
                "Labels of the test digits.",
            ),
            (
                "HOST_LOGITS",
                "TEST_COUNT * CLASSES * 4",
                &bytes[self.logits.clone()],
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
                &bytes[self.train_labels.clone()],
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
        let pixels = (self.rows * self.cols).max(1);
        let mut packed = Vec::new();
        let mut starts = vec![0usize];
        for digit in bytes[self.test_images.clone()].chunks_exact(pixels) {
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
}

/// Run-length code of one digit: (zero pixels: u8, literal count n: u8, n pixels)
/// groups covering it.
fn run_length(digit: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < digit.len() {
        let zeros = digit[i..].iter().take(255).take_while(|&&p| p == 0).count();
        i += zeros;
        let n = digit[i..].iter().take(255).take_while(|&&p| p != 0).count();
        out.push(zeros as u8);
        out.push(n as u8);
        out.extend_from_slice(&digit[i..i + n]);
        i += n;
    }
    out
}

/// Code takes up to about this much flash (the train program on the LM3S6965: 68 KiB).
const CODE_ESTIMATE: usize = 72 * 1024;

/// The linker has the last word ("will not fit in region FLASH"); this says why first.
fn warn_if_too_big(b: &Bundle, board: &Board, memory: &Path) {
    let text = fs::read_to_string(memory).unwrap_or_default();
    let Some(flash) = flash_len(&text) else {
        return;
    };
    let p2 = board.train_pool * board.train_pool;
    let demo = b.blob.len() + b.test_images.len() + b.logits.len() + b.test_labels.len();
    let train = (b.train_images.len() + b.test_images.len()) / p2
        + b.train_labels.len()
        + b.test_labels.len();
    for (program, data) in [("demo", demo), ("train", train)] {
        if data + CODE_ESTIMATE > flash {
            println!(
                "cargo:warning=the {program} program's bundled data ({} KiB) and code (~{} KiB) may not fit the \
                 {} KiB of program flash on {}: export a smaller model or fewer digits",
                data / 1024,
                CODE_ESTIMATE / 1024,
                flash / 1024,
                board.name
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

/// Mean of each `p`×`p` block, rounded to nearest.
fn pool(digit: &[u8], rows: usize, cols: usize, p: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows / p * cols / p);
    for r in (0..rows).step_by(p) {
        for c in (0..cols).step_by(p) {
            let sum: usize = (0..p)
                .flat_map(|i| (0..p).map(move |j| (i, j)))
                .map(|(i, j)| usize::from(digit[(r + i) * cols + c + j]))
                .sum();
            out.push(((sum + p * p / 2) / (p * p)) as u8);
        }
    }
    out
}

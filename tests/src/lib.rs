//! Shared helpers for the workspace-level tests: the MNIST folder, and building and
//! running the firmware under qemu-system-arm.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use microdense_host::model::bundle::BundleView;

/// Says loudly that `test` is skipped and why: straight to stderr, past the test
/// harness's capture (which hides `eprintln!` of a passing test), so `cargo test` shows it.
pub fn skip(test: &str, why: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// The MNIST folder from `MICRODENSE_DATA`, or `None` after saying loudly that `test`
/// is skipped (CI always sets it).
pub fn mnist_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("MICRODENSE_DATA") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            skip(
                test,
                format_args!("MICRODENSE_DATA is not set (point it at the MNIST folder)"),
            );
            None
        }
    }
}

pub const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(180);

/// A board the firmware runs on under qemu: its folder `firmware/boards/<name>/`, whose
/// board.toml gives the target (and the runner its qemu machine).
pub struct Board {
    pub name: &'static str,
}

impl Board {
    /// The board's description, `firmware/boards/<name>/board.toml`.
    pub fn description(&self) -> toml::Table {
        let path = root()
            .join("firmware/boards")
            .join(self.name)
            .join("board.toml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The target triple the board's programs are built for (the first of `targets`).
    pub fn target(&self) -> String {
        let d = self.description();
        let first = d["targets"].as_array().and_then(|t| t.first());
        match first.and_then(|t| t.as_str()) {
            Some(t) => t.to_string(),
            None => panic!("{}: board.toml has no `targets`", self.name),
        }
    }
}

pub const STM32F405: Board = Board { name: "stm32f405" };

pub const LM3S6965: Board = Board { name: "lm3s6965" };

pub const BOARDS: [Board; 2] = [STM32F405, LM3S6965];

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the firmware tests keep their bundles, models and cargo target folders.
pub fn work() -> PathBuf {
    root().join("target/firmware-tests")
}

pub fn target_installed(target: &str) -> bool {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output();
    sysroot.is_ok_and(|o| {
        let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
        Path::new(&dir).join("lib/rustlib").join(target).is_dir()
    })
}

/// Everything the firmware tests need from outside (MNIST, qemu, both thumb targets), or
/// `None` after a loud skip note.
pub fn firmware_prerequisites(test: &str) -> Option<PathBuf> {
    let data = mnist_dir(test)?;
    let qemu = Command::new("qemu-system-arm").arg("--version").output();
    if !qemu.is_ok_and(|o| o.status.success()) {
        skip(
            test,
            format_args!("qemu-system-arm not found (apt-get install qemu-system-arm)"),
        );
        return None;
    }
    if let Some(t) = BOARDS
        .iter()
        .map(Board::target)
        .find(|t| !target_installed(t))
    {
        skip(
            test,
            format_args!("rust target {t} not installed (rustup target add {t})"),
        );
        return None;
    }
    Some(data)
}

/// Runs `cmd` to completion or kills it after `limit`; returns (exit code, stdout+stderr).
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    let out_reader = std::thread::spawn(move || {
        let _ = out.read_to_string(&mut stdout);
        stdout
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = out_reader.join().unwrap() + &reader.join().unwrap();
    match status {
        Some(s) => (s.code(), text),
        None => panic!("timed out after {limit:?}: {cmd:?}\n{text}"),
    }
}

/// Builds firmware for `board` with `bundle` into `target_dir` (`cargo build` and
/// `args`, e.g. `--release --bins`, or `--profile small --bin demo-int8`); returns the
/// folder of the ELFs for `profile` ("release", "small"). Builds run one at a time: they
/// share cargo's locks, which would otherwise count against another build's timeout.
pub fn build_firmware(
    board: &Board,
    bundle: &Path,
    target_dir: &Path,
    args: &[&str],
    profile: &str,
) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    cmd.current_dir(root().join("firmware"))
        .arg("build")
        .args(args)
        .args(["--target", &board.target()])
        .env("MICRODENSE_BOARD", board.name)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("MICRODENSE_BUNDLE", bundle);
    let (code, text) = run_with_timeout(cmd, BUILD_TIMEOUT);
    assert_eq!(
        code,
        Some(0),
        "firmware build for {} failed:\n{text}",
        board.name
    );
    target_dir.join(board.target()).join(profile)
}

/// Boots `elf` in qemu through the firmware's runner script (which reads the board's
/// qemu machine from its board.toml), with `weights` (a blob file) in the WEIGHTS flash
/// region if given.
pub fn qemu(board: &Board, elf: &Path, weights: Option<&Path>) -> (Option<i32>, String) {
    let mut cmd = Command::new(root().join("firmware/qemu-run.sh"));
    cmd.arg(elf)
        .env("MICRODENSE_BOARD", board.name)
        .env_remove("MICRODENSE_WEIGHTS");
    if let Some(w) = weights {
        cmd.env("MICRODENSE_WEIGHTS", w);
    }
    let (code, text) = run_with_timeout(cmd, QEMU_TIMEOUT);
    eprintln!("--- {} {} ---\n{text}", board.name, elf.display());
    (code, text)
}

/// (digit, label, firmware prediction, host prediction or None) from a demo's table.
pub fn predictions(output: &str) -> Vec<(usize, usize, usize, Option<usize>)> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("digit  label"))
        .skip(1)
        .map_while(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let num = |k: usize| f.get(k)?.parse::<usize>().ok();
            Some((num(0)?, num(1)?, num(2)?, num(3)))
        })
        .collect()
}

/// Asserts that a demo's table lists `digits` rows, in order, with the bundle's labels,
/// and that both the firmware's and the printed host prediction equal the host's.
pub fn assert_predictions_match(output: &str, view: &BundleView<'_>, digits: usize) {
    let rows = predictions(output);
    assert_eq!(rows.len(), digits, "{output}");
    for (i, (digit, label, firmware, host)) in rows.into_iter().enumerate() {
        assert_eq!((digit, label), (i, usize::from(view.test_labels[i])));
        assert_eq!(host, Some(view.host_prediction(i)), "digit {i}");
        assert_eq!(firmware, view.host_prediction(i), "digit {i}");
    }
}

/// The number after `prefix` on the line that starts with it (up to the next space,
/// `/` or `%`), e.g. `number(out, "cost per inference: ")`.
pub fn number_after(output: &str, prefix: &str) -> Option<f64> {
    let line = output.lines().find(|l| l.starts_with(prefix))?;
    let rest = &line[prefix.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A small relu network (784-16-10, 400 batches of 32) on MNIST's training set: the
/// LM3S6965's model, small enough for its WEIGHTS region and for the int8 slim build.
pub fn small_relu_model(
    train_set: &microdense_host::data::idx::Dataset,
) -> microdense_host::model::Model {
    use microdense::{Activation, Init};
    use microdense_host::train::{train, Length, TrainConfig};
    let cfg = TrainConfig {
        hidden: vec![16],
        activation: Activation::Relu,
        init: Init::He,
        batch: 32,
        length: Length::Batches(400),
        lr: 0.1,
        val_every: 0,
        ..TrainConfig::tutorial()
    };
    train(&cfg, train_set, None, &mut |_| {})
        .expect("training the small model")
        .model
}

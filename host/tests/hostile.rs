//! Issue #11: a careless or hostile user. Each test reproduces one case from the issue
//! with FIFOs, symlinks, bombs and traversal paths made in a temporary directory (never
//! a real device: CI runs as root).
mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use microdense_host::data::idx::Split;
use microdense_host::model::{mlp, Model};

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

fn is_fifo(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Toy data, a model trained on it, and a TF.js export of that model.
struct Fixture {
    data: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture {
            data: toy_data(),
            dir: tempfile::tempdir().unwrap(),
        };
        train_small(f.data.path(), &f.model(), &["--batches", "20"]);
        let out = microdense()
            .arg("export-tfjs")
            .arg(f.model())
            .arg("--out")
            .arg(f.tfjs())
            .output()
            .unwrap();
        assert_success(&out);
        f
    }

    fn model(&self) -> PathBuf {
        self.dir.path().join("m.mdw")
    }

    fn tfjs(&self) -> PathBuf {
        self.dir.path().join("tfjs")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        microdense()
            .args(args)
            .arg("--data")
            .arg(self.data.path())
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    }

    fn run_plain(&self, args: &[&std::ffi::OsStr]) -> std::process::Output {
        microdense()
            .args(args)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Case 1: a FIFO (standing in for a device) given as --out or --plot stays what it is;
/// a symlink is followed: its target is replaced and the link stays.
#[test]
fn special_outputs_are_refused_and_symlinks_followed() {
    let f = Fixture::new();
    let fifo = f.path("out.fifo");
    mkfifo(&fifo);
    let json = f.tfjs().join("model.json");
    let out = f.run_plain(&[
        "import-tfjs".as_ref(),
        json.as_ref(),
        "--out".as_ref(),
        fifo.as_ref(),
    ]);
    assert_one_line_error(&out, &["out.fifo", "a FIFO, not a regular file"]);
    assert!(is_fifo(&fifo), "the FIFO was replaced");

    let out = f.run(&[
        "train",
        "--quiet",
        "--batches",
        "2",
        "--out",
        s(&f.path("x.mdw")),
        "--plot",
        s(&fifo),
    ]);
    assert_one_line_error(&out, &["out.fifo", "--plot", "a FIFO"]);
    assert!(is_fifo(&fifo) && !f.path("x.mdw").exists());

    let target = f.path("target.mdw");
    fs::write(&target, b"old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    let link = f.path("link.mdw");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = f.run_plain(&[
        "import-tfjs".as_ref(),
        json.as_ref(),
        "--out".as_ref(),
        link.as_ref(),
    ]);
    assert_success(&out);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    Model::load(&target).expect("the link's target holds the model");
    let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the target keeps its own mode");
}

/// Case 2: an output that is one of the command's inputs is refused, the input intact.
#[test]
fn outputs_equal_to_inputs_are_refused() {
    let f = Fixture::new();
    let (train_images, _) = paths(f.data.path(), Split::Train, false);
    let (_, test_labels) = paths(f.data.path(), Split::Test, false);
    let before = (
        fs::read(&train_images).unwrap(),
        fs::read(&test_labels).unwrap(),
    );
    let model_bytes = fs::read(f.model()).unwrap();
    let m = s(&f.model()).to_string();
    let d = f.dir.path().display();
    // Arguments separated by spaces (temporary paths have none).
    let cases = [
        (
            format!("train --batches 2 --out {}", train_images.display()),
            "train-images-idx3-ubyte",
        ),
        (
            format!("eval --model {m} --plot {}", test_labels.display()),
            "t10k-labels-idx1-ubyte",
        ),
        (format!("export --firmware --model {m} --out {m}"), "m.mdw"),
        (format!("quantize --model {m} --out {m}"), "m.mdw"),
        (format!("train --batches 2 --from {m} --out {m}"), "m.mdw"),
        // The same file by another spelling.
        (
            format!("quantize --model {m} --out {d}/./sub/../m.mdw"),
            "m.mdw",
        ),
    ];
    fs::create_dir(f.path("sub")).unwrap();
    for (args, name) in &cases {
        let args: Vec<&str> = args.split(' ').collect();
        let out = f.run(&args);
        assert_one_line_error(&out, &[name, "also an input of this command"]);
    }
    let json = f.tfjs().join("model.json");
    let json_bytes = fs::read(&json).unwrap();
    let out = f.run_plain(&[
        "import-tfjs".as_ref(),
        json.as_ref(),
        "--out".as_ref(),
        json.as_ref(),
    ]);
    assert_one_line_error(&out, &["model.json", "also an input"]);
    let weights = f.tfjs().join("model.weights.bin");
    let out = f.run_plain(&[
        "import-tfjs".as_ref(),
        json.as_ref(),
        "--out".as_ref(),
        weights.as_ref(),
    ]);
    assert_one_line_error(&out, &["model.weights.bin", "also an input"]);

    let both = f.path("both.mdw");
    let out = f.run(&[
        "train",
        "--batches",
        "2",
        "--out",
        s(&both),
        "--plot",
        s(&both),
    ]);
    assert_one_line_error(&out, &["both.mdw", "both --out and --plot"]);

    assert_eq!(
        (
            fs::read(&train_images).unwrap(),
            fs::read(&test_labels).unwrap()
        ),
        before
    );
    assert_eq!(fs::read(f.model()).unwrap(), model_bytes);
    assert_eq!(fs::read(&json).unwrap(), json_bytes);
    assert!(!both.exists());
}

/// Case 3: a model with more classes than byte labels allow is refused by eval and
/// quantize; one with more than a readable confusion matrix is scored without printing
/// or drawing the matrix.
#[test]
fn absurd_class_counts_are_refused_or_summarized() {
    let f = Fixture::new();
    let wide = f.path("wide.mdw");
    Model::init(
        mlp(16, &[1], microdense::Activation::Linear, 100_000).unwrap(),
        microdense::Init::He,
        1,
    )
    .save(&wide)
    .unwrap();
    for cmd in ["eval", "quantize"] {
        let mut args = vec![cmd, "--model", s(&wide)];
        let q = f.path("q.mdw");
        if cmd == "quantize" {
            args.extend(["--out", s(&q)]);
        }
        let out = f.run(&args);
        assert_one_line_error(&out, &["wide.mdw", "100000 classes", "at most 256"]);
    }
    let forty = f.path("forty.mdw");
    Model::init(
        mlp(16, &[4], microdense::Activation::Relu, 40).unwrap(),
        microdense::Init::He,
        1,
    )
    .save(&forty)
    .unwrap();
    let out = f.run(&["eval", "--model", s(&forty)]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("confusion matrix not printed: 40 classes"),
        "{text}"
    );
    assert!(text.len() < 4000, "{} bytes", text.len());
    let svg = f.path("c.svg");
    let out = f.run(&["eval", "--model", s(&forty), "--plot", s(&svg)]);
    assert_one_line_error(&out, &["c.svg", "40 classes is too large to draw"]);
    assert!(!svg.exists());
}

/// Case 4: a gzip bomb (a header claiming 10 M images over megabytes of zeros) is refused
/// from its header, before it is inflated.
#[test]
fn gzip_bombs_are_refused_before_inflating() {
    let data = tempfile::tempdir().unwrap();
    write_splits(data.path(), 28, 28, 20, 10, true);
    let (images, _) = paths(data.path(), Split::Test, true);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut header = vec![0, 0, 8, 3];
    for d in [10_000_000u32, 28, 28] {
        header.extend(d.to_be_bytes());
    }
    gz.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        gz.write_all(&zeros).unwrap();
    }
    fs::write(&images, gz.finish().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    Model::init(
        mlp(784, &[4], microdense::Activation::Relu, 10).unwrap(),
        microdense::Init::He,
        1,
    )
    .save(&dir.path().join("m.mdw"))
    .unwrap();
    let out = microdense()
        .args(["eval", "--model"])
        .arg(dir.path().join("m.mdw"))
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        &["t10k-images-idx3-ubyte.gz", "gzip bomb", "7840000016 bytes"],
    );
}

/// Rewrites the first weight group's paths of `json`.
fn set_shard_path(json: &Path, path: &str) {
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(json).unwrap()).unwrap();
    v["weightsManifest"][0]["paths"] = serde_json::json!([path]);
    fs::write(json, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Case 5: TF.js shard paths stay in the model's folder, and only regular files of the
/// size the manifest describes are read.
#[test]
fn tfjs_shards_are_confined_to_the_model_folder() {
    let f = Fixture::new();
    let json = f.tfjs().join("model.json");
    let weights = f.tfjs().join("model.weights.bin");
    // A readable file outside the folder, of exactly the right size.
    let outside = f.path("secret.bin");
    fs::copy(&weights, &outside).unwrap();
    let out_model = f.path("imported.mdw");
    let import = || {
        f.run_plain(&[
            "import-tfjs".as_ref(),
            json.as_ref(),
            "--out".as_ref(),
            out_model.as_ref(),
        ])
    };

    set_shard_path(&json, "../secret.bin");
    assert_one_line_error(&import(), &["model.json", "leaves the model's folder"]);

    let link = f.tfjs().join("link.bin");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    set_shard_path(&json, "link.bin");
    assert_one_line_error(&import(), &["leads out of the model's folder"]);

    let fifo = f.tfjs().join("fifo.bin");
    mkfifo(&fifo);
    set_shard_path(&json, "fifo.bin");
    assert_one_line_error(&import(), &["fifo.bin", "a FIFO, not a regular file"]);

    // A shard far longer than the manifest describes: refused from its size.
    let long = f.tfjs().join("long.bin");
    let file = fs::File::create(&long).unwrap();
    file.set_len(1 << 34).unwrap(); // sparse: 16 GiB that take no disk
    set_shard_path(&json, "long.bin");
    assert_one_line_error(&import(), &["long.bin", "bytes more than"]);
    assert!(!out_model.exists());
}

/// Case 6: a network and batch too large for the machine's memory are an error naming
/// the size, not an abort.
#[test]
fn absurd_sizes_are_an_error_before_allocating() {
    let data = toy_data();
    let dir = tempfile::tempdir().unwrap();
    let out = microdense()
        .args([
            "train",
            "--quiet",
            "--hidden",
            "675000",
            "--batch",
            "65536",
            "--batches",
            "1",
        ])
        .arg("--data")
        .arg(data.path())
        .arg("--out")
        .arg(dir.path().join("m.mdw"))
        .output()
        .unwrap();
    let line = assert_one_line_error(&out, &["675000", "batch 65536", "GB of memory"]);
    assert!(line.contains("available"), "{line}");
}

/// Serves one response that announces the size of the first MNIST file and then stalls.
fn stalling_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let size = microdense_host::data::fetch::MNIST_FILES[0].size;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&[0u8; 4096]);
            let _ = stream.flush();
            std::thread::sleep(Duration::from_secs(30));
        }
    });
    (url, handle)
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

/// Case 7: SIGINT and SIGTERM while an output is being written remove its temporary file.
#[test]
fn signals_remove_temporary_files() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let (url, _server) = stalling_server();
        let dir = tempfile::tempdir().unwrap();
        let bin = assert_cmd::cargo::cargo_bin("microdense");
        let mut child = Command::new(bin)
            .args(["fetch", "--mirror", &url, "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while temp_files(dir.path()).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no temporary file appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{signal}");
        assert_eq!(temp_files(dir.path()), Vec::<String>::new(), "{signal}");
    }
}

/// Case 7 (multi-file output) and 8: export-tfjs writes both files or neither; an output
/// that cannot be written fails before the work and keeps what was there.
#[test]
fn outputs_are_checked_before_the_work_and_committed_together() {
    let f = Fixture::new();
    let tfjs = f.tfjs();
    let weights_before = fs::read(tfjs.join("model.weights.bin")).unwrap();
    fs::remove_file(tfjs.join("model.json")).unwrap();
    mkfifo(&tfjs.join("model.json"));
    let out = f.run_plain(&[
        "export-tfjs".as_ref(),
        f.model().as_ref(),
        "--out".as_ref(),
        tfjs.as_ref(),
    ]);
    assert_one_line_error(&out, &["model.json", "a FIFO"]);
    assert_eq!(
        fs::read(tfjs.join("model.weights.bin")).unwrap(),
        weights_before
    );
    assert!(temp_files(&tfjs).is_empty());

    // --out a directory: refused at once.
    let out = f.run(&["train", "--batches", "2", "--out", s(f.dir.path())]);
    assert_one_line_error(&out, &["a directory, not a regular file"]);

    // --plot where no file can be: --out keeps its bytes, nothing is printed.
    let keep = f.path("keep.mdw");
    fs::write(&keep, b"precious").unwrap();
    fs::write(f.path("file"), b"").unwrap();
    let plot = f.path("file/plot.svg");
    let out = f.run(&[
        "train",
        "--json",
        "--batches",
        "2",
        "--out",
        s(&keep),
        "--plot",
        s(&plot),
    ]);
    assert_one_line_error(&out, &["plot.svg", "--plot", "cannot write there"]);
    assert!(out.stdout.is_empty());
    assert_eq!(fs::read(&keep).unwrap(), b"precious");
}

/// Case 9: control characters from a file never reach the terminal; the labels error
/// names the labels file; `check` prints the network it really compared.
#[test]
fn messages_are_inert_and_name_the_right_file() {
    let f = Fixture::new();
    let json = f.tfjs().join("model.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    v["weightsManifest"][0]["weights"][0]["name"] = "evil\u{1b}]0;pwned\u{7}\u{2028}x".into();
    v["weightsManifest"][0]["weights"][0]["dtype"] = "int64".into();
    fs::write(&json, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = f.run_plain(&[
        "import-tfjs".as_ref(),
        json.as_ref(),
        "--out".as_ref(),
        f.path("i.mdw").as_ref(),
    ]);
    let line = assert_one_line_error(&out, &["model.json", "evil\\u{1b}]0;pwned\\u{7}\\u{2028}x"]);
    assert!(
        !line.chars().any(|c| c.is_control() || c == '\u{2028}'),
        "{line:?}"
    );

    let out = f.run(&[
        "train",
        "--batches",
        "2",
        "--classes",
        "2",
        "--out",
        s(&f.path("c.mdw")),
    ]);
    assert_one_line_error(&out, &["train-labels-idx1-ubyte", "labels go up to 9"]);

    let out = f.run(&["check", "--steps", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(16→32→256→10 linear,"), "{text}");
}

/// Case 10: scripts/setup.sh installs without removing anything, pinned to the version of
/// the qemu packages already installed. Run with stand-ins for rustup, dpkg-query and
/// apt-get that record their arguments.
#[test]
fn setup_script_never_removes_packages() {
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("log");
    let stub = |name: &str, body: &str| {
        let p = bin.path().join(name);
        fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
                log.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    stub("rustup", "exit 0");
    stub("cargo", "exit 0");
    stub("apt-get", "exit 0");
    stub("dpkg-query", "echo 1:10.2.0+ds-1; exit 0");
    stub("id", "echo 0");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/setup.sh");
    let out = Command::new("/bin/bash")
        .arg(&script)
        .env("PATH", bin.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = fs::read_to_string(&log).unwrap();
    let installs: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("apt-get install"))
        .collect();
    assert_eq!(installs.len(), 1, "{log}");
    assert!(installs[0].contains("--no-remove"), "{log}");
    assert!(
        installs[0].contains("qemu-system-arm=1:10.2.0+ds-1"),
        "{log}"
    );
    for word in ["remove ", "purge", "autoremove"] {
        assert!(
            !log.lines().any(|l| l.starts_with("apt-get")
                && l.contains(word)
                && !l.contains("--no-remove")),
            "{log}"
        );
    }
}

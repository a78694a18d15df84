//! Download and verify the MNIST files.
//!
//! Each file is streamed into a temporary file beside its destination, its
//! MD5 is checked, and only then is it renamed into place, so a bad mirror or
//! an interrupted download never leaves a broken file under the real name.
//! The checksum table is a parameter ([`fetch_files`]) so tests can serve
//! their own files.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use md5::{Digest, Md5};

use crate::atomic::{self, WriteError};

/// One file to fetch: its name on the mirror and on disk, and its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpec<'a> {
    pub name: &'a str,
    /// Lower-case hex MD5 of the file as served (compressed).
    pub md5: &'a str,
    /// Exact size in bytes.
    pub size: u64,
}

/// The four canonical MNIST files.
pub const MNIST_FILES: [FileSpec<'static>; 4] = [
    FileSpec {
        name: "train-images-idx3-ubyte.gz",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        size: 9_912_422,
    },
    FileSpec {
        name: "train-labels-idx1-ubyte.gz",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
        size: 28_881,
    },
    FileSpec {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
        size: 1_648_877,
    },
    FileSpec {
        name: "t10k-labels-idx1-ubyte.gz",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
        size: 4_542,
    },
];

/// Public MNIST mirrors, tried in order. The original site is last because it
/// is slow and often refuses automated downloads.
pub const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub name: String,
    pub path: PathBuf,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already on disk with the right MD5; nothing was requested.
    AlreadyPresent,
    /// Downloaded from `url`; `replaced` if a wrong file was there before.
    Downloaded {
        url: String,
        bytes: u64,
        replaced: bool,
    },
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::AlreadyPresent => {
                write!(f, "{}: already present, MD5 ok", self.path.display())
            }
            Outcome::Downloaded {
                url,
                bytes,
                replaced,
            } => write!(
                f,
                "{}: downloaded {bytes} bytes from {url}, MD5 ok{}",
                self.path.display(),
                if *replaced {
                    " (replaced a bad copy)"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Result of a successful [`fetch`]: one entry per file, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    pub files: Vec<FileReport>,
}

impl FetchReport {
    pub fn downloaded(&self) -> usize {
        self.files.len() - self.skipped()
    }

    pub fn skipped(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.outcome == Outcome::AlreadyPresent)
            .count()
    }
}

/// Why one download attempt from one URL failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("HTTP {code} {text}")]
    Status { code: u16, text: String },
    /// Connection, TLS, DNS or mid-body network failure.
    #[error("{0}")]
    Network(String),
    #[error("server announced {announced} bytes, expected {expected}")]
    WrongLength { expected: u64, announced: u64 },
    #[error("server sent more than the expected {expected} bytes")]
    TooLong { expected: u64 },
    #[error("MD5 mismatch: expected {expected}, got {actual} ({bytes} bytes received)")]
    Md5Mismatch {
        expected: String,
        actual: String,
        bytes: u64,
    },
}

/// One failed try: the URL and what went wrong.
#[derive(Debug)]
pub struct Attempt {
    pub url: String,
    pub error: AttemptError,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.url, self.error)
    }
}

/// A failed fetch or verify. Display is one line starting with the path.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{}: cannot create directory: {err}", dir.display())]
    CreateDir { dir: PathBuf, err: io::Error },
    #[error("{}: cannot read: {err}", path.display())]
    Read { path: PathBuf, err: io::Error },
    #[error("{}: cannot write the download: {err}", path.display())]
    Write { path: PathBuf, err: io::Error },
    #[error(transparent)]
    Commit(#[from] WriteError),
    #[error("{}: download failed: {}", path.display(), join(attempts))]
    Download {
        path: PathBuf,
        attempts: Vec<Attempt>,
    },
    #[error("{}: no mirror to download from", path.display())]
    NoMirrors { path: PathBuf },
}

fn join(attempts: &[Attempt]) -> String {
    let parts: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
    parts.join("; ")
}

/// Download the four MNIST files into `dir` (created if needed), from
/// `mirror` if given (a base URL) or else from [`MNIST_MIRRORS`] in turn.
/// Files already present with the right MD5 are left alone. `progress`
/// draws a byte-count bar per download on stderr.
pub fn fetch(dir: &Path, mirror: Option<&str>, progress: bool) -> Result<FetchReport, FetchError> {
    let mirrors: Vec<&str> = match mirror {
        Some(m) => vec![m],
        None => MNIST_MIRRORS.to_vec(),
    };
    fetch_files(dir, &mirrors, &MNIST_FILES, progress)
}

/// [`fetch`] with an explicit mirror list and file table.
///
/// Each file is taken from the first mirror that serves it with the right
/// size and MD5; if none does, the error lists every attempt. Files fetched
/// before the failure stay in place. The proxy from `HTTPS_PROXY` /
/// `HTTP_PROXY` / `ALL_PROXY` is used, except for loopback mirrors.
pub fn fetch_files(
    dir: &Path,
    mirrors: &[&str],
    specs: &[FileSpec],
    progress: bool,
) -> Result<FetchReport, FetchError> {
    fs::create_dir_all(dir).map_err(|err| FetchError::CreateDir {
        dir: dir.to_path_buf(),
        err,
    })?;
    let mut files = Vec::with_capacity(specs.len());
    for spec in specs {
        let path = dir.join(spec.name);
        let outcome = match check_file(&path, spec)? {
            FileState::Ok => Outcome::AlreadyPresent,
            state => {
                let (url, bytes) = download(&path, mirrors, spec, progress)?;
                Outcome::Downloaded {
                    url,
                    bytes,
                    replaced: state != FileState::Missing,
                }
            }
        };
        files.push(FileReport {
            name: spec.name.to_string(),
            path,
            outcome,
        });
    }
    Ok(FetchReport { files })
}

/// State of one file on disk relative to its [`FileSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Ok,
    Missing,
    WrongSize { size: u64 },
    WrongMd5 { actual: String },
}

/// One entry of a [`verify`] report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub name: String,
    pub path: PathBuf,
    pub state: FileState,
}

/// Check the four MNIST files in `dir` without downloading anything.
pub fn verify(dir: &Path) -> Result<Vec<FileCheck>, FetchError> {
    verify_files(dir, &MNIST_FILES)
}

/// [`verify`] with an explicit file table.
pub fn verify_files(dir: &Path, specs: &[FileSpec]) -> Result<Vec<FileCheck>, FetchError> {
    specs
        .iter()
        .map(|spec| {
            let path = dir.join(spec.name);
            let state = check_file(&path, spec)?;
            Ok(FileCheck {
                name: spec.name.to_string(),
                path,
                state,
            })
        })
        .collect()
}

fn check_file(path: &Path, spec: &FileSpec) -> Result<FileState, FetchError> {
    let read_err = |err| FetchError::Read {
        path: path.to_path_buf(),
        err,
    };
    // Checked before opening: opening a FIFO blocks until a writer comes.
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(read_err(e)),
        Ok(m) if !m.is_file() => {
            let what = crate::files::kind_name(&m.file_type());
            let msg = format!("{what}, not a regular file: refusing to replace it");
            return Err(read_err(io::Error::new(io::ErrorKind::InvalidInput, msg)));
        }
        Ok(_) => {}
    }
    let mut file = File::open(path).map_err(read_err)?;
    // The size check avoids hashing a file that cannot match.
    let size = file.metadata().map_err(read_err)?.len();
    if size != spec.size {
        return Ok(FileState::WrongSize { size });
    }
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(e)),
        }
    }
    let actual = hex(&hasher.finalize());
    Ok(if actual.eq_ignore_ascii_case(spec.md5) {
        FileState::Ok
    } else {
        FileState::WrongMd5 { actual }
    })
}

/// Try each mirror in turn; return the URL used and the byte count.
fn download(
    dest: &Path,
    mirrors: &[&str],
    spec: &FileSpec,
    progress: bool,
) -> Result<(String, u64), FetchError> {
    if mirrors.is_empty() {
        return Err(FetchError::NoMirrors {
            path: dest.to_path_buf(),
        });
    }
    let mut attempts = Vec::new();
    for (i, mirror) in mirrors.iter().enumerate() {
        let url = join_url(mirror, spec.name);
        let bar = progress_bar(progress, spec);
        match download_one(&url, dest, spec, &bar)? {
            Ok(bytes) => {
                bar.finish_and_clear();
                return Ok((url, bytes));
            }
            Err(error) => {
                bar.finish_and_clear();
                if progress && i + 1 < mirrors.len() {
                    eprintln!("warning: {url}: {error}; trying the next mirror");
                }
                attempts.push(Attempt { url, error });
            }
        }
    }
    Err(FetchError::Download {
        path: dest.to_path_buf(),
        attempts,
    })
}

/// Fetch `url` into `dest`. The outer error aborts the whole fetch (local
/// disk trouble); the inner one means "try the next mirror".
fn download_one(
    url: &str,
    dest: &Path,
    spec: &FileSpec,
    bar: &ProgressBar,
) -> Result<Result<u64, AttemptError>, FetchError> {
    let resp = match agent_for(url)
        .get(url)
        // The .gz files must arrive byte for byte; no transfer decoding.
        .set("Accept-Encoding", "identity")
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let text = r.status_text().to_string();
            return Ok(Err(AttemptError::Status { code, text }));
        }
        Err(ureq::Error::Transport(t)) => {
            // ureq prefixes the URL, which the Attempt already shows.
            let msg = t.to_string();
            let msg = msg.strip_prefix(&format!("{url}: ")).unwrap_or(&msg);
            return Ok(Err(AttemptError::Network(msg.to_string())));
        }
    };
    let announced = resp
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(announced) = announced.filter(|&n| n != spec.size) {
        return Ok(Err(AttemptError::WrongLength {
            expected: spec.size,
            announced,
        }));
    }
    bar.set_length(spec.size);

    let write_err = |err| FetchError::Write {
        path: dest.to_path_buf(),
        err,
    };
    // Dropping `tmp` on any early return deletes it.
    let mut tmp = atomic::temp_beside(dest)?;
    let mut body = resp.into_reader().take(spec.size.saturating_add(1));
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let msg = format!("error reading the response after {bytes} bytes: {e}");
                return Ok(Err(AttemptError::Network(msg)));
            }
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        tmp.as_file_mut().write_all(chunk).map_err(write_err)?;
        bytes += n as u64;
        bar.inc(n as u64);
    }
    if bytes > spec.size {
        return Ok(Err(AttemptError::TooLong {
            expected: spec.size,
        }));
    }
    let actual = hex(&hasher.finalize());
    if !actual.eq_ignore_ascii_case(spec.md5) {
        return Ok(Err(AttemptError::Md5Mismatch {
            expected: spec.md5.to_string(),
            actual,
            bytes,
        }));
    }
    atomic::commit(tmp, dest)?;
    Ok(Ok(bytes))
}

fn agent_for(url: &str) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        // Per read, not per download: a slow but live mirror is fine.
        .timeout_read(Duration::from_secs(60))
        .user_agent(concat!("microdense/", env!("CARGO_PKG_VERSION")))
        // ureq ignores NO_PROXY, so never send loopback through a proxy.
        .try_proxy_from_env(!is_loopback(url))
        .build()
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host == "localhost"
        || host.starts_with("localhost:")
        || host.starts_with("127.")
        || host.starts_with("[::1]")
}

/// `base` + `/` + `name`, with exactly one slash between them.
pub fn join_url(base: &str, name: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        name.trim_start_matches('/')
    )
}

fn progress_bar(enabled: bool, spec: &FileSpec) -> ProgressBar {
    let template = "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    let bar = crate::progress::bar(spec.size, template, enabled);
    bar.set_message(spec.name.to_string());
    bar
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::BufRead;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::Instant;

    /// What the test server answers for one path.
    #[derive(Clone)]
    struct Route {
        body: Vec<u8>,
        content_length: bool,
    }

    /// A one-thread HTTP/1.1 server on 127.0.0.1. It answers at most
    /// `max_requests` requests, stops after 30 s regardless, and is stopped
    /// and joined when dropped, so a failing test never leaves it running.
    struct Server {
        base: String,
        log: Arc<Mutex<Vec<String>>>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(routes: &[(&str, &[u8])], max_requests: usize) -> Server {
            let routes = routes
                .iter()
                .map(|&(p, b)| {
                    let route = Route {
                        body: b.to_vec(),
                        content_length: true,
                    };
                    (p.to_string(), route)
                })
                .collect();
            Server::start_routes(routes, max_requests)
        }

        fn start_routes(routes: HashMap<String, Route>, max_requests: usize) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let log = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let (log2, stop2) = (log.clone(), stop.clone());
            let thread = std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut served = 0;
                while served < max_requests
                    && !stop2.load(Ordering::Relaxed)
                    && Instant::now() < deadline
                {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            let _ = serve(stream, &routes, &log2);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => break,
                    }
                }
            });
            Server {
                base,
                log,
                stop,
                thread: Some(thread),
            }
        }

        fn url(&self, prefix: &str) -> String {
            format!("{}/{prefix}", self.base)
        }

        fn requests(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(
        stream: TcpStream,
        routes: &HashMap<String, Route>,
        log: &Mutex<Vec<String>>,
    ) -> io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = io::BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        // Skip headers up to the blank line.
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        log.lock().unwrap().push(path.clone());
        let mut out = stream;
        match routes.get(&path) {
            Some(route) => {
                write!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n")?;
                if route.content_length {
                    write!(out, "Content-Length: {}\r\n", route.body.len())?;
                }
                write!(out, "\r\n")?;
                out.write_all(&route.body)?;
            }
            None => {
                let body = b"no such file";
                write!(
                    out,
                    "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                out.write_all(body)?;
            }
        }
        out.flush()
    }

    fn md5_hex(bytes: &[u8]) -> String {
        hex(&Md5::digest(bytes))
    }

    /// Deterministic, incompressible-looking test content.
    fn content(seed: u32, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    struct Fixture {
        a: Vec<u8>,
        b: Vec<u8>,
        md5_a: String,
        md5_b: String,
    }

    impl Fixture {
        fn new() -> Fixture {
            // `a` spans several read chunks; `b` is tiny.
            let (a, b) = (content(1, 200_000), content(2, 37));
            Fixture {
                md5_a: md5_hex(&a),
                md5_b: md5_hex(&b),
                a,
                b,
            }
        }

        fn specs(&self) -> [FileSpec<'_>; 2] {
            [
                FileSpec {
                    name: "a.gz",
                    md5: &self.md5_a,
                    size: self.a.len() as u64,
                },
                FileSpec {
                    name: "b.gz",
                    md5: &self.md5_b,
                    size: self.b.len() as u64,
                },
            ]
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn downloads_then_skips() {
        let fx = Fixture::new();
        let server = Server::start(&[("/m/a.gz", &fx.a), ("/m/b.gz", &fx.b)], 10);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/data");
        // A trailing slash on the mirror must not double up.
        let mirror = server.url("m/");

        let report = fetch_files(&dir, &[&mirror], &fx.specs(), false).unwrap();
        assert_eq!((report.downloaded(), report.skipped()), (2, 0));
        assert_eq!(
            report.files[0].outcome,
            Outcome::Downloaded {
                url: server.url("m/a.gz"),
                bytes: fx.a.len() as u64,
                replaced: false
            }
        );
        assert!(report.files[0]
            .to_string()
            .contains("a.gz: downloaded 200000 bytes"));
        assert_eq!(fs::read(dir.join("a.gz")).unwrap(), fx.a);
        assert_eq!(fs::read(dir.join("b.gz")).unwrap(), fx.b);
        assert_eq!(entries(&dir), ["a.gz", "b.gz"]);
        assert_eq!(server.requests(), ["/m/a.gz", "/m/b.gz"]);

        let again = fetch_files(&dir, &[&mirror], &fx.specs(), false).unwrap();
        assert_eq!((again.downloaded(), again.skipped()), (0, 2));
        assert!(again.files[1].to_string().contains("already present"));
        assert_eq!(server.requests().len(), 2, "second run must not download");

        let checks = verify_files(&dir, &fx.specs()).unwrap();
        assert!(checks.iter().all(|c| c.state == FileState::Ok));
    }

    #[test]
    fn falls_back_to_next_mirror_and_replaces_bad_copy() {
        let fx = Fixture::new();
        let server = Server::start(&[("/good/a.gz", &fx.a), ("/good/b.gz", &fx.b)], 10);
        // A port nobody listens on: connection refused.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/x", l.local_addr().unwrap())
        };
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("a.gz"), b"stale partial download").unwrap();

        let mirrors = [dead.as_str(), &server.url("missing"), &server.url("good")];
        // With progress on, to exercise the bar and the mirror warning.
        let report = fetch_files(tmp.path(), &mirrors, &fx.specs(), true).unwrap();
        match &report.files[0].outcome {
            Outcome::Downloaded { url, replaced, .. } => {
                assert_eq!(url, &server.url("good/a.gz"));
                assert!(replaced);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read(tmp.path().join("a.gz")).unwrap(), fx.a);
        assert_eq!(
            server.requests(),
            ["/missing/a.gz", "/good/a.gz", "/missing/b.gz", "/good/b.gz"]
        );
    }

    #[test]
    fn wrong_bytes_leave_existing_file_untouched() {
        let fx = Fixture::new();
        let mut evil = fx.a.clone();
        evil[1234] ^= 1;
        let server = Server::start(&[("/m/a.gz", &evil)], 10);
        let tmp = tempfile::tempdir().unwrap();
        let old = b"an old copy that is wrong but must survive a bad download";
        fs::write(tmp.path().join("a.gz"), old).unwrap();

        let err =
            fetch_files(tmp.path(), &[&server.url("m")], &fx.specs()[..1], false).unwrap_err();
        let msg = err.to_string();
        for needle in [
            "a.gz: download failed",
            &server.url("m/a.gz"),
            "MD5 mismatch",
            &fx.md5_a,
            &md5_hex(&evil),
        ] {
            assert!(msg.contains(needle), "{needle:?} not in {msg}");
        }
        assert!(matches!(
            &err,
            FetchError::Download { attempts, .. }
                if matches!(attempts[..], [Attempt { error: AttemptError::Md5Mismatch { .. }, .. }])
        ));
        assert_eq!(fs::read(tmp.path().join("a.gz")).unwrap(), old);
        assert_eq!(entries(tmp.path()), ["a.gz"], "temp file left behind");

        // Same without a previous file: nothing may appear.
        let empty = tempfile::tempdir().unwrap();
        fetch_files(empty.path(), &[&server.url("m")], &fx.specs()[..1], false).unwrap_err();
        assert!(entries(empty.path()).is_empty());
    }

    #[test]
    fn oversized_responses_are_rejected() {
        let fx = Fixture::new();
        let mut long = fx.b.clone();
        long.extend_from_slice(b"extra");
        let routes = HashMap::from([
            (
                "/len/b.gz".to_string(),
                Route {
                    body: long.clone(),
                    content_length: true,
                },
            ),
            (
                "/nolen/b.gz".to_string(),
                Route {
                    body: long,
                    content_length: false,
                },
            ),
        ]);
        let server = Server::start_routes(routes, 10);
        let tmp = tempfile::tempdir().unwrap();
        let spec = &fx.specs()[1..];

        let msg = fetch_files(tmp.path(), &[&server.url("len")], spec, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("announced 42 bytes, expected 37"), "{msg}");
        let msg = fetch_files(tmp.path(), &[&server.url("nolen")], spec, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("more than the expected 37 bytes"), "{msg}");
        assert!(entries(tmp.path()).is_empty());
    }

    #[test]
    fn not_found_is_a_clear_error() {
        let fx = Fixture::new();
        let server = Server::start(&[], 10);
        let tmp = tempfile::tempdir().unwrap();
        let err = fetch_files(tmp.path(), &[&server.url("m")], &fx.specs(), false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a.gz: download failed"), "{msg}");
        assert!(
            msg.contains(&format!("{}: HTTP 404 Not Found", server.url("m/a.gz"))),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
        assert!(entries(tmp.path()).is_empty());

        let msg = fetch_files(tmp.path(), &[], &fx.specs(), false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no mirror"), "{msg}");
    }

    #[test]
    fn url_joining_and_loopback_detection() {
        assert_eq!(join_url("http://h/a", "f.gz"), "http://h/a/f.gz");
        assert_eq!(join_url("http://h/a/", "f.gz"), "http://h/a/f.gz");
        assert_eq!(join_url("http://h/a//", "/f.gz"), "http://h/a/f.gz");
        assert!(is_loopback("http://127.0.0.1:8000/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:80/"));
        assert!(!is_loopback(
            "https://storage.googleapis.com/cvdf-datasets/mnist/"
        ));
        assert!(!is_loopback("http://localhost.example.com/"));
    }

    #[test]
    fn mnist_table_is_sane() {
        for (spec, mirror_name) in MNIST_FILES.iter().zip([
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]) {
            assert_eq!(spec.name, mirror_name);
            assert_eq!(spec.md5.len(), 32);
            assert!(spec.md5.bytes().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn real_mnist_verifies() {
        let Some(dir) =
            crate::data::idx::tests::real_mnist_dir("fetch::tests::real_mnist_verifies")
        else {
            return;
        };
        for check in verify(&dir).unwrap() {
            assert_eq!(check.state, FileState::Ok, "{}", check.path.display());
        }
    }
}

//! What the training programs (`train`, `finetune`) share: the steps' cost, the held-out
//! scores, and the end of a run: the digest of the trained weights (which a host replay
//! of the same steps must match: `microdense replay-chip`), the trained model written to
//! the host, RAM use and the verdict.
use microdense::digest::params_crc;
use microdense::Topology;

use crate::bundle::TEST_COUNT;
use crate::meter::{self, Meter, Ratio, Stamp};
use crate::{exit, hprintln, ram, Percent};

/// Runs a training program's body with the chip's cost meter and exits with its verdict;
/// an error from the core is one line and a failure.
pub fn run_and_exit<B>(
    buffers: B,
    run: impl FnOnce(&Meter, B) -> Result<bool, microdense::Error>,
) -> ! {
    let ok = match meter::take() {
        Some(meter) => run(&meter, buffers).unwrap_or_else(|e| {
            hprintln!("error: {e}");
            false
        }),
        None => false,
    };
    exit(ok)
}

/// Training steps taken, and the cost of the full-batch ones.
pub struct Steps {
    batch: usize,
    pub count: usize,
    timed: u64,
    cost: u64,
}

impl Steps {
    pub fn new(batch: usize) -> Steps {
        Steps {
            batch,
            count: 0,
            timed: 0,
            cost: 0,
        }
    }

    /// Counts a step of `n` samples begun at `start`; only full batches are timed, so the
    /// figure is per step of `batch` samples.
    pub fn took(&mut self, meter: &Meter, start: Stamp, n: usize) {
        if n == self.batch {
            (self.timed, self.cost) = (self.timed + 1, self.cost + meter.since(start));
        }
        self.count += 1;
    }
}

/// A held-out score: correct predictions out of `TEST_COUNT`, and the mean loss.
#[derive(Clone, Copy)]
pub struct Score {
    pub right: usize,
    pub loss: f32,
}

impl core::fmt::Display for Score {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "accuracy {}/{TEST_COUNT} ({}), loss {:.4}",
            self.right,
            Percent(self.right, TEST_COUNT),
            self.loss
        )
    }
}

/// The trained model: its topology, its parameters in order (the frozen part first, if
/// any, then the trained one), and the host file it is written to.
pub struct Trained<'a> {
    pub topology: &'a Topology,
    pub frozen: &'a [f32],
    pub trained: &'a [f32],
    pub file: &'a core::ffi::CStr,
}

/// What a run ends with: the cost per step, the digest of the trained parameters, and
/// the trained model written to the host.
pub fn results(meter: &Meter, steps: &Steps, model: &Trained) {
    let per_step = steps.cost / steps.timed.max(1);
    hprintln!(
        "cost per training step (batch {}): {per_step} {unit}, {} {unit} per sample",
        steps.batch,
        Ratio(per_step, steps.batch as u64),
        unit = meter.unit()
    );
    hprintln!(
        "digest: CRC-32 {:#010x} of the {} trained parameters after {} steps",
        params_crc(&[model.trained]),
        model.trained.len(),
        steps.count
    );
    write_back(model);
}

/// RAM use and the verdict: `ok` when the held-out loss fell and the accuracy rose from
/// `before` to `after` and `also` holds (`failure` says what went wrong otherwise).
pub fn verdict((before, after): (Score, Score), also: bool, failure: &str) -> bool {
    ram::report();
    let ok = after.loss < before.loss && after.right > before.right && also;
    hprintln!("verdict: {}", if ok { "PASS" } else { failure });
    ok
}

/// Writes the trained model to a host file over semihosting (under qemu: in its working
/// directory, `qemu-run.sh`'s MICRODENSE_OUT): a temporary file, then renamed, so a file
/// there is always a whole blob.
#[cfg(not(feature = "rtt"))]
fn write_back(model: &Trained) {
    use microdense::digest::{write_blob_parts, WriteError};
    use semihosting::{fs, io::Write as _};
    const PART: &core::ffi::CStr = c"trained.part";
    let name = model.file.to_str().unwrap_or("?");
    let written = fs::File::create(PART)
        .map_err(|_| "cannot create it")
        .and_then(|mut f| {
            let parts = [model.frozen, model.trained];
            write_blob_parts(model.topology, &parts, |b| f.write_all(b)).map_err(|e| match e {
                WriteError::Blob(_) => "the parameters do not fit the topology",
                WriteError::Sink(_) => "write failed",
            })
        });
    match written.and_then(|n| {
        fs::rename(PART, model.file)
            .map(|()| n)
            .map_err(|_| "rename failed")
    }) {
        Ok(n) => hprintln!("trained model written to the host: {name} ({n} bytes)"),
        Err(e) => hprintln!("trained model not written to {name}: {e}"),
    }
}

/// Over RTT there is no host file system: the model stays in RAM (docs/flashing.md reads
/// it out with probe-rs).
#[cfg(feature = "rtt")]
fn write_back(model: &Trained) {
    hprintln!(
        "trained model not written: no host files over RTT; the trained parameters are at {:p} ({} f32)",
        model.trained.as_ptr(),
        model.trained.len()
    );
}

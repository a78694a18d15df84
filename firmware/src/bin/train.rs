//! Learning on the chip: trains a small net with the core's SGD on the bundled training
//! digits, every buffer a `static` sized by the core's `const fn`s (board.rs picks the
//! net that fits the board's RAM). Prints the loss falling, held-out accuracy on the test
//! digits before and after, RAM use, the cost per step and the digest of the trained
//! weights (`microdense replay-chip` replays the same steps on the PC); writes the trained
//! model to the host (`train.mdw`, see src/report.rs); exits 0 when the held-out loss fell
//! and the held-out accuracy rose.
#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![no_main]

use microdense::{rng::Rng, Init, Network, Topology, Trainer};
use microdense_firmware::board::{
    TRAIN_BATCH, TRAIN_EPOCHS, TRAIN_EVAL_SCRATCH, TRAIN_INPUT, TRAIN_LAYERS, TRAIN_PARAMS,
    TRAIN_SCRATCH, TRAIN_SGD, TRAIN_VELOCITY,
};
use microdense_firmware::bundle::{
    HELDOUT_IMAGES, TEST_COUNT, TEST_LABELS, TRAIN_COLS, TRAIN_COUNT, TRAIN_IMAGES, TRAIN_LABELS,
    TRAIN_ROWS,
};
use microdense_firmware::meter::Meter;
use microdense_firmware::report::{self, Score, Steps, Trained};
use microdense_firmware::{board, buffer, hprintln, to_input, KiB};
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
use panic_semihosting as _;

/// Steps between two training-loss reports.
const LOG_EVERY: usize = 25;
const SEED: u64 = 2024;

/// The training buffers, all `static` (see `main`).
struct Buffers {
    params: &'static mut [f32],
    scratch: &'static mut [f32],
    velocity: &'static mut [f32],
    batch: &'static mut [f32],
    eval: &'static mut [f32],
    order: &'static mut [u32],
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    microdense_firmware::start();
    let buffers = Buffers {
        params: buffer!([f32; TRAIN_PARAMS] = [0.0; TRAIN_PARAMS]),
        scratch: buffer!([f32; TRAIN_SCRATCH] = [0.0; TRAIN_SCRATCH]),
        velocity: buffer!([f32; TRAIN_VELOCITY] = [0.0; TRAIN_VELOCITY]),
        batch: buffer!([f32; TRAIN_BATCH * TRAIN_INPUT] = [0.0; TRAIN_BATCH * TRAIN_INPUT]),
        eval: buffer!([f32; TRAIN_EVAL_SCRATCH] = [0.0; TRAIN_EVAL_SCRATCH]),
        order: buffer!([u32; TRAIN_COUNT] = [0; TRAIN_COUNT]),
    };
    report::run_and_exit(buffers, run)
}

/// Held-out accuracy and mean loss, the digits taken a batch at a time through `batch`.
fn evaluate(
    net: &Network<&mut [f32]>,
    trainer: &mut Trainer,
    batch: &mut [f32],
    scratch: &mut [f32],
) -> Result<Score, microdense::Error> {
    let (mut right, mut loss) = (0, 0.0f32);
    let images = HELDOUT_IMAGES.chunks(TRAIN_BATCH * TRAIN_INPUT);
    for (pixels, labels) in images.zip(TEST_LABELS.chunks(TRAIN_BATCH)) {
        let inputs = &mut batch[..pixels.len()];
        for (p, x) in pixels
            .chunks_exact(TRAIN_INPUT)
            .zip(inputs.chunks_exact_mut(TRAIN_INPUT))
        {
            to_input(p, x);
        }
        loss += trainer.loss_and_gradients(net, inputs, labels)? * labels.len() as f32;
        for (x, &label) in inputs.chunks_exact(TRAIN_INPUT).zip(labels) {
            right += usize::from(net.predict(x, scratch)? == usize::from(label));
        }
    }
    Ok(Score {
        right,
        loss: loss / TEST_COUNT.max(1) as f32,
    })
}

fn run(meter: &Meter, b: Buffers) -> Result<bool, microdense::Error> {
    let topology = Topology::new(TRAIN_INPUT, &TRAIN_LAYERS)?;
    hprintln!("microdense on-chip training on {}", board::NAME);
    hprintln!("cost meter: {meter}");
    hprintln!(
        "net: {TRAIN_INPUT}-{}-{} (relu, softmax) on {TRAIN_ROWS}x{TRAIN_COLS} digits, {TRAIN_PARAMS} params; \
         SGD lr {} momentum {}, batch {TRAIN_BATCH}, {TRAIN_EPOCHS} epochs over {TRAIN_COUNT} digits; \
         {TEST_COUNT} held-out digits",
        TRAIN_LAYERS[0].units,
        TRAIN_LAYERS[1].units,
        TRAIN_SGD.lr,
        TRAIN_SGD.momentum,
    );
    let f32s = |n: usize| KiB(4 * n);
    let buffers = 4
        * (TRAIN_PARAMS + TRAIN_SCRATCH + TRAIN_VELOCITY + b.batch.len() + b.eval.len())
        + 4 * TRAIN_COUNT;
    hprintln!(
        "static buffers: params {}, scratch {} (gradients {}), momentum {}, batch inputs {}, other {}: {} in all",
        f32s(TRAIN_PARAMS),
        f32s(TRAIN_SCRATCH),
        f32s(TRAIN_PARAMS),
        f32s(TRAIN_VELOCITY),
        f32s(b.batch.len()),
        KiB(4 * (b.eval.len() + TRAIN_COUNT)),
        KiB(buffers),
    );
    if TRAIN_COUNT == 0 || TEST_COUNT == 0 {
        hprintln!("error: the bundle needs training and test digits (export with --train-digits K --digits N)");
        return Ok(false);
    }

    let mut net = Network::new(topology.clone(), &mut b.params[..])?;
    net.init(Init::GlorotNormal, SEED);
    let mut trainer = Trainer::new(&topology, TRAIN_BATCH, TRAIN_SGD, b.scratch, b.velocity)?;
    let before = evaluate(&net, &mut trainer, b.batch, b.eval)?;
    hprintln!("held-out before training: {before}");

    for (i, o) in b.order.iter_mut().enumerate() {
        *o = i as u32;
    }
    let mut rng = Rng::new(SEED);
    let mut labels = [0u8; TRAIN_BATCH];
    let mut steps = Steps::new(TRAIN_BATCH);
    let mut window = 0.0f32;
    for epoch in 1..=TRAIN_EPOCHS {
        rng.shuffle(b.order);
        let (mut epoch_loss, mut epoch_steps) = (0.0f32, 0);
        for chunk in b.order.chunks(TRAIN_BATCH) {
            let inputs = b.batch.chunks_exact_mut(TRAIN_INPUT);
            for ((&k, x), y) in chunk.iter().zip(inputs).zip(&mut labels) {
                let k = k as usize;
                to_input(&TRAIN_IMAGES[k * TRAIN_INPUT..(k + 1) * TRAIN_INPUT], x);
                *y = TRAIN_LABELS[k];
            }
            let n = chunk.len();
            let start = meter.now();
            let loss = trainer.step(&mut net, &b.batch[..n * TRAIN_INPUT], &labels[..n])?;
            steps.took(meter, start, n);
            (epoch_loss, epoch_steps, window) = (epoch_loss + loss, epoch_steps + 1, window + loss);
            if steps.count % LOG_EVERY == 0 {
                let (mean, step) = (window / LOG_EVERY as f32, steps.count);
                hprintln!("  step {step:4} (epoch {epoch}): training loss {mean:.4} (mean of the last {LOG_EVERY} steps)");
                window = 0.0;
            }
        }
        let score = evaluate(&net, &mut trainer, b.batch, b.eval)?;
        hprintln!(
            "epoch {epoch}: training loss {:.4} (mean); held-out {score}",
            epoch_loss / epoch_steps as f32,
        );
    }
    let after = evaluate(&net, &mut trainer, b.batch, b.eval)?;
    hprintln!("held-out after training: {after}");
    let model = Trained {
        topology: &topology,
        frozen: &[],
        trained: net.params(),
        file: c"train.mdw",
    };
    report::results(meter, &steps, &model);
    Ok(report::verdict(
        (before, after),
        true,
        "FAIL: it did not learn",
    ))
}

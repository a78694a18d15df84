// The tutorial's four experiments run by TensorFlow.js itself (the tutorial's model and
// training loop, tutorial.js), over several seeds, scored on the full test set; prints the
// table `microdense reproduce` prints.
//
//   node reproduce.js DATA [RUNS=10] [FIRST_SEED=1] [--json FILE] [--only K]
//                                  (--only K: the K-th experiment alone, 1-based)
//
// Seed k replaces Math.random by a generator seeded with k before the model is built, so
// TF.js's initializers (which seed themselves from Math.random) and the tutorial's batch
// draws are reproducible; the streams are TF.js's own, not microdense's.
'use strict';
const fs = require('fs');
const { tf, loadSplit, scores, probabilities, tutorialModel } = require('./tutorial.js');

const EXPERIMENTS = [
  { batch: 16, hidden: [32, 256], tutorial: 0.84 },
  { batch: 64, hidden: [32, 256], tutorial: 0.92 },
  { batch: 16, hidden: [32, 256, 256, 32], tutorial: 0.75 },
  { batch: 16, hidden: [32, 256, 256, 256], tutorial: 0.11 },
];
const BATCHES = 100;
const CHANCE = 0.2;

// mulberry32: a small 32-bit generator, enough to make the runs repeatable.
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function run(e, seed, train, test) {
  Math.random = seeded(seed);
  const started = process.hrtime.bigint();
  const model = tutorialModel(e.hidden);
  let divergedAt = null;
  for (let b = 0; b < BATCHES; b++) {
    // The tutorial's loop: a random batch of training images, one SGD step.
    const idx = Array.from({ length: e.batch }, () => Math.floor(Math.random() * train.count));
    const x = new Float32Array(e.batch * 784);
    idx.forEach((s, k) => x.set(train.x.subarray(s * 784, (s + 1) * 784), k * 784));
    const tensors = tf.tidy(() => {
      const ys = tf.oneHot(tf.tensor1d(idx.map((s) => train.labels[s]), 'int32'), 10);
      return [tf.tensor2d(x, [e.batch, 784]), ys];
    });
    const value = await model.trainOnBatch(tensors[0], tensors[1]);
    tf.dispose(tensors);
    if (divergedAt === null && !Number.isFinite(value)) divergedAt = b + 1;
  }
  const probs = probabilities(model, test);
  const full = scores(probs, test.labels, 10).accuracy;
  // A tutorial-style score: 100 random test images.
  let right = 0;
  const pred = scores(probs, test.labels, 10).predicted;
  for (let k = 0; k < 100; k++) {
    const s = Math.floor(Math.random() * test.count);
    if (pred[s] === test.labels[s]) right += 1;
  }
  model.dispose();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seed, accuracy: full, accuracy_100: right / 100, diverged_at: divergedAt, seconds };
}

function summarize(e, runs) {
  const acc = runs.map((r) => r.accuracy);
  const n = acc.length;
  const mean = acc.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(acc.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const a100 = runs.map((r) => r.accuracy_100);
  return {
    configuration: `batch ${e.batch}, ${e.hidden.join('+')}`,
    tutorial: e.tutorial,
    mean,
    sd,
    min: Math.min(...acc),
    max: Math.max(...acc),
    min_100: Math.min(...a100),
    max_100: Math.max(...a100),
    diverged: runs.filter((r) => r.diverged_at !== null).length,
    at_chance: acc.filter((a) => a < CHANCE).length,
    seconds_per_run: runs.reduce((a, r) => a + r.seconds, 0) / n,
    runs,
  };
}

function table(summaries, runs) {
  const pad = (s, w, left) => (left ? String(s).padEnd(w) : String(s).padStart(w));
  const lines = [
    `${pad('configuration', 26, true)} ${pad('tutorial', 8)}  ${pad('TF.js mean ± sd', 15)}  ${pad('min–max', 11)}  ${pad('100-img', 11)}  ${pad('diverged', 8)}  ${pad('chance', 6)}  ${pad('time/run', 8)}`,
  ];
  for (const m of summaries) {
    lines.push(
      `${pad(m.configuration, 26, true)} ${pad(m.tutorial.toFixed(2), 8)}  ${pad(`${m.mean.toFixed(3)} ± ${m.sd.toFixed(3)}`, 15)}  ` +
        `${pad(`${m.min.toFixed(3)}–${m.max.toFixed(3)}`, 11)}  ${pad(`${m.min_100.toFixed(2)}–${m.max_100.toFixed(2)}`, 11)}  ` +
        `${pad(`${m.diverged}/${runs}`, 8)}  ${pad(`${m.at_chance}/${runs}`, 6)}  ${pad(`${m.seconds_per_run.toFixed(2)}s`, 8)}`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const args = process.argv.slice(2);
  const jsonAt = args.indexOf('--json');
  const jsonFile = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : null;
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? Number(args.splice(onlyAt, 2)[1]) : null;
  const [dataDir, runsArg, seedArg] = args;
  const runs = Number(runsArg || 10);
  const first = Number(seedArg || 1);
  const train = loadSplit(dataDir, 'train');
  const test = loadSplit(dataDir, 'test');
  const summaries = [];
  for (const e of only ? [EXPERIMENTS[only - 1]] : EXPERIMENTS) {
    const results = [];
    for (let k = 0; k < runs; k++) {
      const r = await run(e, first + k, train, test);
      process.stderr.write(`batch ${e.batch}, ${e.hidden.join('+')}: seed ${r.seed} accuracy ${r.accuracy.toFixed(3)}\n`);
      results.push(r);
    }
    summaries.push(summarize(e, results));
  }
  console.log(`TF.js ${tf.version.tfjs} (${tf.getBackend()} backend), the tutorial's code: ${BATCHES} batches of SGD at lr 0.15,`);
  console.log(`glorotNormal hidden layers, varianceScaling output, categoricalCrossentropy; ${runs} runs each (seeds ${first}..=${first + runs - 1}).\n`);
  console.log(table(summaries, runs));
  console.log(`\nTF.js: accuracy on the full test set over ${runs} seeds; diverged: runs whose loss became NaN or infinite`);
  console.log(`(training goes on, as in the tutorial; scored with the final model); chance: runs below ${CHANCE} accuracy.`);
  if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify({ tfjs: tf.version.tfjs, runs, first_seed: first, configurations: summaries }, null, 1));
}

module.exports = { seeded };

if (require.main === module) main().catch((e) => { console.error(e.stack); process.exitCode = 2; });

// Step-by-step agreement between TF.js and microdense (driven by steps.sh).
//
//   node steps.js init DIR SEED [HIDDEN]  the tutorial's model (hidden layers 32,256 unless
//                                      given), built by TF.js (seeded), saved to
//                                      DIR/initial (model.json + model.weights.bin)
//   node steps.js compare DIR DATA STEPS TOLERANCE [OPTIMIZER]
//                                      trains TF.js from DIR/initial on the batches
//                                      microdense used (DIR/batches.json), and after each
//                                      of STEPS (e.g. 1,10,100) compares its weights with
//                                      microdense's (DIR/md-N/, exported) layer by layer,
//                                      and the loss curve with DIR/md.json; exit 1 past
//                                      TOLERANCE. OPTIMIZER: sgd:LR (default sgd:0.15)
//                                      or adam:LR:BETA1:BETA2:EPSILON (tf.train.adam)
//
// Deviations are relative to the largest magnitude of the reference vector (TF.js's), so
// near-zero entries do not inflate them.
'use strict';
const fs = require('fs');
const path = require('path');
const { tf, loadSplit, tutorialModel } = require('./tutorial.js');

// The weights of a saved TF.js model as named Float32Arrays, in manifest order.
function readWeights(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const out = [];
  for (const group of json.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    let at = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32' || w.quantization) throw new Error(`${dir}: ${w.name} is not plain float32`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      out.push({ name: w.name, shape: w.shape, values: new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + 4 * n)) });
      at += 4 * n;
    }
  }
  return out;
}

async function init(dir, seed, hidden) {
  Math.random = require('./reproduce.js').seeded(Number(seed));
  const model = tutorialModel(hidden ? hidden.split(',').map(Number) : undefined);
  const weights = model.getWeights();
  const data = Buffer.concat(weights.map((w) => Buffer.from(w.dataSync().buffer)));
  fs.mkdirSync(path.join(dir, 'initial'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'initial', 'model.weights.bin'), data);
  const specs = model.weights.map((w) => ({ name: w.originalName, shape: w.shape, dtype: 'float32' }));
  const json = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    modelTopology: model.toJSON(null, false),
    weightsManifest: [{ paths: ['./model.weights.bin'], weights: specs }],
  };
  fs.writeFileSync(path.join(dir, 'initial', 'model.json'), JSON.stringify(json));
}

// Largest |a − b| over the largest |b|, over a layer's kernel and bias together.
function deviation(ours, theirs) {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < theirs.length; i++) {
    for (let k = 0; k < theirs[i].length; k++) {
      diff = Math.max(diff, Math.abs(ours[i][k] - theirs[i][k]));
      scale = Math.max(scale, Math.abs(theirs[i][k]));
    }
  }
  return diff / scale;
}

// The optimizer named on the command line: sgd:LR or adam:LR:BETA1:BETA2:EPSILON.
function optimizer(spec) {
  const [name, ...args] = (spec || 'sgd:0.15').split(':');
  const n = args.map(Number);
  if (name === 'sgd' && n.length === 1) return { name: `SGD ${n[0]}`, make: () => tf.train.sgd(n[0]) };
  if (name === 'adam' && n.length === 4) return { name: `Adam ${args.join(', ')}`, make: () => tf.train.adam(...n) };
  throw new Error(`optimizer ${spec}: expected sgd:LR or adam:LR:BETA1:BETA2:EPSILON`);
}

async function compare(dir, dataDir, stepsArg, tolArg, optArg) {
  const opt = optimizer(optArg);
  const steps = stepsArg.split(',').map(Number);
  const tolerance = Number(tolArg);
  const train = loadSplit(dataDir, 'train');
  const batches = JSON.parse(fs.readFileSync(path.join(dir, 'batches.json'), 'utf8'));
  const initial = readWeights(path.join(dir, 'initial'));
  const hidden = initial.filter((w) => w.shape.length === 2).slice(0, -1).map((w) => w.shape[1]);
  const model = tutorialModel(hidden, opt.make());
  model.setWeights(initial.map((w) => tf.tensor(w.values, w.shape)));
  const ourLoss = JSON.parse(fs.readFileSync(path.join(dir, 'md.json'), 'utf8')).history.loss;
  const losses = [];
  const rows = [];
  let worst = 0;
  for (let b = 0; b < Math.max(...steps); b++) {
    const idx = batches[b];
    const x = new Float32Array(idx.length * 784);
    idx.forEach((s, k) => x.set(train.x.subarray(s * 784, (s + 1) * 784), k * 784));
    const xs = tf.tensor2d(x, [idx.length, 784]);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(idx.map((s) => train.labels[s]), 'int32'), 10));
    losses.push(await model.trainOnBatch(xs, ys));
    tf.dispose([xs, ys]);
    if (!steps.includes(b + 1)) continue;
    const theirs = model.getWeights().map((w) => w.dataSync());
    const ours = readWeights(path.join(dir, `md-${b + 1}`)).map((w) => w.values);
    const layers = [];
    for (let l = 0; l < theirs.length; l += 2) {
      const d = deviation(ours.slice(l, l + 2), theirs.slice(l, l + 2));
      layers.push(d);
      worst = Math.max(worst, d);
    }
    rows.push({ step: b + 1, layers });
  }
  let lossDev = 0;
  losses.forEach((l, k) => { lossDev = Math.max(lossDev, Math.abs(ourLoss[k] - l) / Math.abs(l)); });
  worst = Math.max(worst, lossDev);
  const names = rows[0].layers.map((_, l) => `layer ${l + 1}`);
  console.log(`TF.js ${tf.version.tfjs} and microdense (--loss tfjs), ${opt.name}, from the same weights, on the same ${batches[0].length}-sample batches;`);
  console.log(`largest relative deviation of the weights (kernel and bias), per layer:\n`);
  console.log(['steps'.padEnd(6), ...names.map((n) => n.padStart(10))].join(' '));
  for (const r of rows) console.log([String(r.step).padEnd(6), ...r.layers.map((d) => d.toExponential(2).padStart(10))].join(' '));
  const pick = steps.filter((s) => s <= losses.length).map((s) => `${s}: ${losses[s - 1].toFixed(6)} vs ${ourLoss[s - 1].toFixed(6)}`);
  console.log(`\nloss curve (TF.js vs microdense) at ${pick.join(', ')};`);
  console.log(`largest relative deviation over all ${losses.length} steps ${lossDev.toExponential(2)}`);
  const ok = worst <= tolerance;
  console.log(`${ok ? 'agree' : 'DISAGREE'}: worst ${worst.toExponential(2)} against a tolerance of ${tolerance}`);
  process.exitCode = ok ? 0 : 1;
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'init') await init(args[0], args[1], args[2]);
  else if (cmd === 'compare') await compare(args[0], args[1], args[2], args[3], args[4]);
  else throw new Error(`unknown command ${cmd}`);
}

main().catch((e) => { console.error(e.stack); process.exitCode = 2; });

// The tutorial's MNIST network trained with TensorFlow.js (pure-JS CPU backend), saved in
// both TF.js layouts, and the checks that microdense reads and writes them faithfully.
//
//   node tutorial.js train DATA OUT BATCHES   train, save OUT/browser and OUT/sharded,
//                                             write OUT/tfjs-probs.f32 and OUT/tfjs.json
//   node tutorial.js compare-eval OUT EVAL    microdense `eval --json` vs TF.js's scores
//   node tutorial.js check DATA DIR OUT       load DIR with tf.loadLayersModel (HTTP
//                                             loader over local files), compare with OUT
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const tf = require('@tensorflow/tfjs');

// --- MNIST IDX files, gzipped or not ---
function readIdx(dir, name) {
  const gz = path.join(dir, name + '.gz');
  const bytes = fs.existsSync(gz) ? zlib.gunzipSync(fs.readFileSync(gz)) : fs.readFileSync(path.join(dir, name));
  const magic = bytes.readUInt32BE(0);
  const count = bytes.readUInt32BE(4);
  if (magic === 2049) return { count, size: 1, data: bytes.subarray(8, 8 + count) };
  if (magic !== 2051) throw new Error(`${name}: not an IDX image or label file`);
  const size = bytes.readUInt32BE(8) * bytes.readUInt32BE(12);
  return { count, size, data: bytes.subarray(16, 16 + count * size) };
}

function loadSplit(dir, split) {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdx(dir, `${prefix}-images-idx3-ubyte`);
  const labels = readIdx(dir, `${prefix}-labels-idx1-ubyte`);
  // Scaled as the tutorial (and microdense) do: x / 255.
  const x = Float32Array.from(images.data, (v) => v / 255);
  return { x, labels: labels.data, count: images.count, size: images.size };
}

function probabilities(model, set) {
  return tf.tidy(() => model.predict(tf.tensor2d(set.x, [set.count, set.size])).dataSync());
}

function scores(probs, labels, classes) {
  const confusion = Array.from({ length: classes }, () => new Array(classes).fill(0));
  const predicted = new Uint8Array(labels.length);
  let right = 0;
  for (let s = 0; s < labels.length; s++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[s * classes + c] > probs[s * classes + best]) best = c;
    predicted[s] = best;
    confusion[labels[s]][best] += 1;
    if (best === labels[s]) right += 1;
  }
  return { accuracy: right / labels.length, confusion, predicted };
}

// Captures model.save's artifacts as files: one bin (browser) or 4-KiB-ish shards
// named as the converter names them.
function saveHandler(dir, shardBytes) {
  return tf.io.withSaveHandler(async (artifacts) => {
    fs.mkdirSync(dir, { recursive: true });
    const data = Buffer.from(artifacts.weightData);
    let paths;
    if (shardBytes) {
      const n = Math.ceil(data.length / shardBytes);
      paths = [];
      for (let i = 0; i < n; i++) {
        const name = `group1-shard${i + 1}of${n}.bin`;
        fs.writeFileSync(path.join(dir, name), data.subarray(i * shardBytes, (i + 1) * shardBytes));
        paths.push(name);
      }
    } else {
      fs.writeFileSync(path.join(dir, 'model.weights.bin'), data);
      paths = ['./model.weights.bin'];
    }
    const json = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
    };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  });
}

// The tutorial's network: 784 → hidden (linear, each layer the Dense default
// initializer, glorotNormal) → 10 softmax with `kernelInitializer: 'varianceScaling'`,
// categoricalCrossentropy, SGD at 0.15.
// `optimizer`: the tutorial's SGD 0.15 unless given (steps.js passes Adam).
function tutorialModel(hidden = [32, 256], optimizer = tf.train.sgd(0.15)) {
  const model = tf.sequential();
  hidden.forEach((units, i) => model.add(tf.layers.dense(i === 0 ? { units, inputShape: [784] } : { units })));
  model.add(tf.layers.dense({ units: 10, kernelInitializer: 'varianceScaling', activation: 'softmax' }));
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  return model;
}

async function train(dataDir, out, batches) {
  const trainSet = loadSplit(dataDir, 'train');
  const test = loadSplit(dataDir, 'test');
  const model = tutorialModel();
  const batch = 16;
  for (let b = 0; b < batches; b++) {
    const idx = Array.from({ length: batch }, () => Math.floor(Math.random() * trainSet.count));
    const x = new Float32Array(batch * 784);
    idx.forEach((s, k) => x.set(trainSet.x.subarray(s * 784, (s + 1) * 784), k * 784));
    const labels = tf.tensor1d(idx.map((s) => trainSet.labels[s]), 'int32');
    const xs = tf.tensor2d(x, [batch, 784]);
    const ys = tf.oneHot(labels, 10);
    await model.trainOnBatch(xs, ys);
    tf.dispose([xs, ys, labels]);
  }
  await model.save(saveHandler(path.join(out, 'browser')));
  await model.save(saveHandler(path.join(out, 'sharded'), 40000));
  const probs = probabilities(model, test);
  fs.writeFileSync(path.join(out, 'tfjs-probs.f32'), Buffer.from(probs.buffer, probs.byteOffset, probs.byteLength));
  const s = scores(probs, test.labels, 10);
  fs.writeFileSync(path.join(out, 'tfjs.json'), JSON.stringify({ accuracy: s.accuracy, confusion: s.confusion }));
  console.log(`TF.js: trained ${batches} batches of ${batch}; test accuracy ${s.accuracy.toFixed(4)} on ${test.count} images`);
}

function compareEval(out, evalJson) {
  const ours = JSON.parse(fs.readFileSync(evalJson, 'utf8'));
  const theirs = JSON.parse(fs.readFileSync(path.join(out, 'tfjs.json'), 'utf8'));
  let differing = 0;
  theirs.confusion.forEach((row, i) => row.forEach((v, j) => { differing += Math.abs(v - ours.confusion[i][j]); }));
  const same = differing === 0 ? 'identical' : `differs in ${differing / 2} predictions (at least)`;
  console.log(`${path.basename(evalJson)}: accuracy ${ours.accuracy.toFixed(4)} vs TF.js ${theirs.accuracy.toFixed(4)}; confusion matrix ${same}`);
  return differing === 0;
}

// tf.loadLayersModel through the HTTP loader, fetching from the local directory: the
// same manifest resolution a browser does.
async function check(dataDir, dir, out) {
  const root = 'http://bench.invalid/';
  const fetchFunc = async (url) => {
    const rel = decodeURIComponent(new URL(url).pathname).replace(/^\//, '');
    return new Response(fs.readFileSync(path.join(dir, rel)));
  };
  const model = await tf.loadLayersModel(tf.io.http(root + 'model.json', { fetchFunc }));
  const test = loadSplit(dataDir, 'test');
  const probs = probabilities(model, test);
  const ref = new Float32Array(fs.readFileSync(path.join(out, 'tfjs-probs.f32')).buffer.slice(0));
  const a = scores(probs, test.labels, 10).predicted;
  const b = scores(ref, test.labels, 10).predicted;
  let agree = 0;
  let maxDiff = 0;
  for (let s = 0; s < a.length; s++) if (a[s] === b[s]) agree += 1;
  for (let k = 0; k < ref.length; k++) maxDiff = Math.max(maxDiff, Math.abs(probs[k] - ref[k]));
  console.log(`tf.loadLayersModel(${dir}): ${agree}/${a.length} predictions agree with the original, max |Δp| = ${maxDiff}`);
  return agree === a.length;
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  let ok = true;
  if (cmd === 'train') await train(args[0], args[1], Number(args[2] || 100));
  else if (cmd === 'compare-eval') ok = compareEval(args[0], args[1]);
  else if (cmd === 'check') ok = await check(args[0], args[1], args[2]);
  else throw new Error(`unknown command ${cmd}`);
  process.exitCode = ok ? 0 : 1;
}

module.exports = { tf, loadSplit, scores, probabilities, tutorialModel };

if (require.main === module) main().catch((e) => { console.error(e.message); process.exitCode = 2; });

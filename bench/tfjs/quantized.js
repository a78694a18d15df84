// Writes the fixture of host/tests/tfjs.rs `quantized_import_is_bit_identical_to_tfjs`:
// a small Dense model whose weights are quantized as tensorflowjs_converter quantizes
// them (affine uint8/uint16, the range nudged so that 0 is a code: scale = (max − min) /
// (2^bits − 1), zero point = round(−min / scale), min = −zero point · scale), and the
// values TF.js itself dequantizes (tf.loadLayersModel, then getWeights()).
//
//   node quantized.js DIR [SEED]  writes DIR/model.json, DIR/group1-shard1of1.bin and
//                              DIR/tfjs-weights.f32 (every weight, in manifest order)
'use strict';
const fs = require('fs');
const path = require('path');
const { tf } = require('./tutorial.js');
const { seeded } = require('./reproduce.js');

async function main() {
  const dir = process.argv[2];
  fs.mkdirSync(dir, { recursive: true });
  Math.random = seeded(Number(process.argv[3] || 4));
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 12, inputShape: [16], activation: 'relu' }));
  model.add(tf.layers.dense({ units: 8, activation: 'tanh' }));
  model.add(tf.layers.dense({ units: 8, activation: 'sigmoid' }));
  model.add(tf.layers.dense({ units: 6 }));
  model.add(tf.layers.dense({ units: 10, kernelInitializer: 'varianceScaling', activation: 'softmax' }));
  // Non-zero biases, so they have ranges to quantize, and every third weight exactly 0
  // (as pruned weights or untouched biases are): those land on the zero point.
  const pruned = (t) => tf.mul(t, tf.tensor(Float32Array.from({ length: t.size }, (_, k) => (k % 3 ? 1 : 0)), t.shape));
  model.setWeights(model.getWeights().map((w, i) => pruned(i % 2 ? tf.randomUniform(w.shape, -0.3, 0.2) : w)));

  const specs = [];
  const parts = [];
  model.weights.forEach((w, i) => {
    const values = w.read().dataSync();
    const dtype = i % 2 ? 'uint16' : 'uint8';
    const top = dtype === 'uint8' ? 255 : 65535;
    let [lo, hi] = [Math.min(0, ...values), Math.max(0, ...values)];
    const scale = (hi - lo) / top;
    const zero = Math.round(-lo / scale);
    const min = -zero * scale;
    const codes = (dtype === 'uint8' ? Uint8Array : Uint16Array).from(values, (v) => Math.min(top, Math.max(0, Math.round((v - min) / scale))));
    parts.push(Buffer.from(codes.buffer));
    specs.push({ name: w.originalName, shape: w.shape, dtype: 'float32', quantization: { dtype, scale, min } });
  });
  fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), Buffer.concat(parts));
  const json = {
    format: 'layers-model',
    generatedBy: 'keras v2.15.0',
    convertedBy: `TensorFlow.js Converter v${tf.version.tfjs}`,
    modelTopology: model.toJSON(null, false),
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));

  // What TF.js makes of it: the HTTP loader over the local files, as a browser loads it.
  const fetchFunc = async (url) => new Response(fs.readFileSync(path.join(dir, decodeURIComponent(new URL(url).pathname).replace(/^\//, ''))));
  const loaded = await tf.loadLayersModel(tf.io.http('http://fixture.invalid/model.json', { fetchFunc }));
  const values = loaded.getWeights().map((w) => Buffer.from(w.dataSync().buffer));
  fs.writeFileSync(path.join(dir, 'tfjs-weights.f32'), Buffer.concat(values));
  const zeros = loaded.getWeights().reduce((n, w) => n + w.dataSync().filter((v) => v === 0).length, 0);
  console.log(`${dir}: ${specs.length} quantized tensors; TF.js dequantizes ${zeros} weights to exactly 0`);
}

main().catch((e) => { console.error(e.stack); process.exitCode = 2; });

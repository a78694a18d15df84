"""Trains small models, exports them to ONNX (PyTorch) and TFLite (Keras), and writes the
reference runtimes' outputs on fixed inputs: the fixtures of host/tests/import_*.rs.

    python3 -m venv target/import-venv
    target/import-venv/bin/pip install -r scripts/import-fixtures/requirements.txt
    target/import-venv/bin/python scripts/import-fixtures/make.py \
        --data ../shared/data --out host/tests/fixtures/import [--microdense target/debug/microdense]

No dataset sample is written: the inputs are rows of the shared files, named by index
(optdigits-8x8.csv rows 0..300 as features / 16; MNIST t10k images 0..200 as pixels / 255),
and the tests re-read them. int8 inputs are q = clamp(floor(x / s + 0.5) + zp, -128, 127)
computed in float64 from the float32 x and s, as the tests do (a checksum guards it).

References: onnxruntime (CPU) for ONNX; tf.lite.Interpreter with the BUILTIN_REF op
resolver (TFLite's reference kernels) for TFLite; the default (optimized) resolver's
outputs are compared and the count of differences recorded too. Seeds are fixed, but
PyTorch/TensorFlow training is not guaranteed bit-reproducible across versions: the
committed fixtures are the ones to test against.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np

OPT_ROWS = 300
MNIST_ROWS = 200


def load_optdigits(data):
    raw = np.loadtxt(os.path.join(data, "tabular", "optdigits-8x8.csv"), delimiter=",", skiprows=1)
    x = (raw[:, :64].astype(np.float32) / np.float32(16.0)).astype(np.float32)
    return x, raw[:, 64].astype(np.int64)


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_mnist(data, split):
    d = os.path.join(data, "mnist")
    img = load_idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz"))
    lab = load_idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"))
    return (img.astype(np.float32) / np.float32(255.0)).astype(np.float32), lab.astype(np.int64)


def quantize_inputs(x, scale, zp):
    """The tests' rule: float64 arithmetic on the float32 values, ties away from zero
    only matter at exact halves, which floor(v + 0.5) rounds up (the tests do the same)."""
    v = np.floor(x.astype(np.float64) / np.float64(np.float32(scale)) + 0.5) + zp
    return np.clip(v, -128, 127).astype(np.int8)


def checksum(q):
    flat = q.reshape(-1).astype(np.int64)
    return int(np.sum(flat * (np.arange(flat.size, dtype=np.int64) % 251 + 1)))


def floats(a):
    return [[float(f"{v:.9g}") for v in row] for row in np.asarray(a, dtype=np.float32)]


# ---------------------------------------------------------------- PyTorch → ONNX
def train_torch(model, x, y, epochs, lr, seed):
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    n = len(xs)
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xs[idx], logits=True), ys[idx])
            loss.backward()
            opt.step()
    return model.eval()


def onnx_models(data, out):
    import onnx
    import onnxruntime as ort
    import torch

    class GemmNet(torch.nn.Module):
        """nn.Linear layers: the exporter writes Gemm (transB = 1)."""

        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = torch.nn.Linear(64, 32), torch.nn.Linear(32, 16), torch.nn.Linear(16, 10)

        def forward(self, x, logits=False):
            z = self.c(torch.sigmoid(self.b(torch.relu(self.a(x)))))
            return z if logits else torch.softmax(z, dim=-1)

    class MatMulNet(torch.nn.Module):
        """x @ W + b with W [in, out]: the exporter writes MatMul then Add; the input is
        an image [N, 1, 28, 28], flattened; dropout (inference: none) between layers."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.w1 = torch.nn.Parameter(torch.randn(784, 32) * 0.05)
            self.b1 = torch.nn.Parameter(torch.zeros(32))
            self.w2 = torch.nn.Parameter(torch.randn(32, 10) * 0.2)
            self.b2 = torch.nn.Parameter(torch.zeros(10))
            self.drop = torch.nn.Dropout(0.1)

        def forward(self, x, logits=False):
            h = self.drop(torch.tanh(torch.flatten(x, 1) @ self.w1 + self.b1))
            z = h @ self.w2 + self.b2
            return z if logits else torch.softmax(z, dim=-1)

    results = []
    xo, yo = load_optdigits(data)
    xm, ym = load_mnist(data, "train")
    xt, _ = load_mnist(data, "t10k")
    specs = [
        ("digits-gemm.onnx", GemmNet, xo[OPT_ROWS:], yo[OPT_ROWS:], xo[:OPT_ROWS], "optdigits", 30, (1, 64)),
        ("mnist-matmul.onnx", MatMulNet, xm[:20000].reshape(-1, 1, 28, 28), ym[:20000],
         xt[:MNIST_ROWS].reshape(-1, 1, 28, 28), "mnist-t10k", 3, (1, 1, 28, 28)),
    ]
    for name, cls, tx, ty, ex, dataset, epochs, shape in specs:
        torch.manual_seed(0)
        model = train_torch(cls(), tx, ty, epochs, 1e-2 if dataset == "optdigits" else 3e-3, 0)
        path = os.path.join(out, name)
        torch.onnx.export(model, (torch.zeros(*shape),), path, dynamo=False, input_names=["x"],
                          output_names=["probs"], dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}})
        ops = [n.op_type for n in onnx.load(path).graph.node]
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        probs = sess.run(None, {"x": ex})[0]
        with torch.no_grad():
            torch_probs = model(torch.from_numpy(ex)).numpy()
        results.append({
            "model": name, "dataset": dataset, "rows": len(ex), "ops": ops,
            "reference": f"onnxruntime {ort.__version__} CPUExecutionProvider",
            "torch_vs_onnxruntime_max_abs": float(np.max(np.abs(torch_probs - probs))),
            "probs": floats(probs),
        })
        print(name, ops, "torch vs ort", results[-1]["torch_vs_onnxruntime_max_abs"])
    return results


# ---------------------------------------------------------------- Keras → TFLite
def tflite_models(data, out):
    import tensorflow as tf

    keras = tf.keras
    Ref = tf.lite.experimental.OpResolverType.BUILTIN_REF
    results = []
    xo, yo = load_optdigits(data)
    xm, ym = load_mnist(data, "train")
    xt, _ = load_mnist(data, "t10k")

    def train(layers, x, y, epochs, seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(layers)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
        return model

    def interpreter(content, resolver=None):
        kw = {"experimental_preserve_all_tensors": True}
        if resolver is not None:
            kw["experimental_op_resolver_type"] = resolver
        it = tf.lite.Interpreter(model_content=content, **kw)
        it.allocate_tensors()
        return it

    def run(it, xs, want=None):
        """Final outputs, and the input of the SOFTMAX op (the last FULLY_CONNECTED's)."""
        inp, outp = it.get_input_details()[0], it.get_output_details()[0]
        ops = it._get_ops_details()
        soft = [o for o in ops if o["op_name"] == "SOFTMAX"]
        logits_idx = soft[-1]["inputs"][0] if soft else None
        finals, logits = [], []
        for x in xs:
            it.set_tensor(inp["index"], x[None, ...])
            it.invoke()
            finals.append(it.get_tensor(outp["index"])[0].copy())
            if logits_idx is not None:
                logits.append(it.get_tensor(logits_idx)[0].copy())
        return np.array(finals), np.array(logits)

    def representative(x):
        def gen():
            for i in range(0, 500):
                yield [x[i : i + 1]]
        return gen

    def convert(model, rep=None, per_tensor=False):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if rep is not None:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = rep
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
            if per_tensor:
                conv._experimental_disable_per_channel_quantization_for_dense_layers = True
        return conv.convert()

    opt_train, opt_test = (xo[OPT_ROWS:], yo[OPT_ROWS:]), xo[:OPT_ROWS]
    f32 = train([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                 keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(10, activation="softmax")],
                *opt_train, 30, 0)
    relu = train([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                  keras.layers.Dense(10, activation="softmax")], *opt_train, 30, 1)
    trained = train([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"),
                     keras.layers.Dense(10, activation="softmax")], xm[:20000], ym[:20000], 3, 2)
    # The same weights behind a fixed batch of 1: Flatten becomes one static RESHAPE (not
    # SHAPE, STRIDED_SLICE, PACK, RESHAPE).
    mnist = keras.Sequential([keras.Input((28, 28), batch_size=1), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    mnist.set_weights(trained.get_weights())
    specs = [
        ("digits-f32.tflite", f32, None, False, opt_test, "optdigits"),
        ("digits-int8.tflite", relu, representative(opt_train[0]), False, opt_test, "optdigits"),
        ("digits-int8-per-tensor.tflite", relu, representative(opt_train[0]), True, opt_test, "optdigits"),
        ("mnist-int8.tflite", mnist, representative(xm), False, xt[:MNIST_ROWS], "mnist-t10k"),
    ]
    for name, model, rep, per_tensor, xs, dataset in specs:
        content = convert(model, rep, per_tensor)
        with open(os.path.join(out, name), "wb") as f:
            f.write(content)
        ref = interpreter(content, Ref)
        ops = [o["op_name"] for o in ref._get_ops_details()]
        entry = {"model": name, "dataset": dataset, "rows": len(xs), "ops": ops,
                 "reference": f"tf.lite.Interpreter (TensorFlow {tf.__version__}), OpResolverType.BUILTIN_REF"}
        if rep is None:
            probs, _ = run(ref, xs)
            entry["probs"] = floats(probs)
            entry["keras_vs_tflite_max_abs"] = float(np.max(np.abs(model.predict(xs, verbose=0) - probs)))
        else:
            d = ref.get_input_details()[0]
            scale, zp = d["quantization"]
            q = quantize_inputs(xs, scale, zp)
            finals, logits = run(ref, q)
            opt_finals, opt_logits = run(interpreter(content), q)
            entry.update({
                "input_scale": float(scale), "input_zero_point": int(zp), "input_checksum": checksum(q),
                "logits_q": logits.astype(int).tolist(), "output_q": finals.astype(int).tolist(),
                "output_quantization": [float(v) for v in ref.get_output_details()[0]["quantization"]],
                "optimized_kernels_differing_logits": int(np.sum(opt_logits != logits)),
                "optimized_kernels_differing_outputs": int(np.sum(opt_finals != finals)),
                "per_channel": not per_tensor,
            })
        results.append(entry)
        print(name, ops, {k: v for k, v in entry.items() if k.startswith(("optimized", "keras"))})
    return results


def check_export(microdense, out, data):
    """`microdense export-onnx` of the imported Gemm model: onnx's checker (with shape
    inference), then onnxruntime against the original."""
    import onnxruntime as ort

    tmp = os.path.join(out, "..", "..", "..", "..", "target", "export-check")
    os.makedirs(tmp, exist_ok=True)
    mdw, exported = os.path.join(tmp, "m.mdw"), os.path.join(tmp, "m.onnx")
    subprocess.run([microdense, "import-onnx", os.path.join(out, "digits-gemm.onnx"), "--out", mdw], check=True)
    subprocess.run([microdense, "export-onnx", mdw, "--out", exported], check=True)
    import onnx

    onnx.checker.check_model(onnx.load(exported), full_check=True)
    x = load_optdigits(data)[0][:OPT_ROWS]
    a = ort.InferenceSession(os.path.join(out, "digits-gemm.onnx")).run(None, {"x": x})[0]
    sess = ort.InferenceSession(exported)
    b = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    print("export-onnx → onnxruntime: max |Δ| vs the original", float(np.max(np.abs(a - b))),
          "disagreeing classes", int(np.sum(a.argmax(1) != b.argmax(1))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--part", choices=["onnx", "tflite"], help="one part only (default: both)")
    ap.add_argument("--microdense", help="only check export-onnx with onnxruntime")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.microdense:
        check_export(a.microdense, a.out, a.data)
        return
    if a.part is None:
        # torch and tensorflow in one process abort (both register LLVM options).
        for part in ("onnx", "tflite"):
            subprocess.run([sys.executable, __file__, "--data", a.data, "--out", a.out, "--part", part], check=True)
        return
    if a.part == "onnx":
        import onnx, onnxruntime, torch

        entries, mods = onnx_models(a.data, a.out), (np, torch, onnx, onnxruntime)
    else:
        import tensorflow

        entries, mods = tflite_models(a.data, a.out), (np, tensorflow)
    versions = {m.__name__: m.__version__ for m in mods}
    versions["python"] = sys.version.split()[0]
    with open(os.path.join(a.out, f"expected-{a.part}.json"), "w") as f:
        json.dump({"versions": versions, "models": entries}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()

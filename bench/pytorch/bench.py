"""PyTorch on one thread, timed the way `microdense bench` and `microdense train
--target-accuracy` time microdense, on the same MNIST files.

    python bench.py throughput --batch 16 [--steps N] [--repeats 5] [--json]
    python bench.py recipe [--epochs 10] [--target 0.98] [--json]

throughput: the tutorial's network, 784->32->256->10 with linear hidden layers and a
softmax output (cross_entropy on the logits, batch mean), glorot-normal weights (TF.js's:
normal truncated at 2 sigma, sigma = sqrt(2 / (fan_in + fan_out))), zero biases, plain SGD
at lr 0.15. Timed per step, as microdense: the next slice of a shuffled index order (a
fresh torch.randperm at each epoch's end), X[idx] and Y[idx] from float32 tensors scaled
to [0, 1] beforehand, zero_grad, forward, loss, backward, optimizer step. Not timed:
loading and scaling the data, building the model. A warm-up of about 0.5 s (in doubling
chunks, whose last one sizes the repeats to about 2 s unless --steps is given); each repeat
starts again from the same weights and shuffle; the median of the repeats is reported.

recipe: the README's 98% command, `--hidden 128 --activation relu --init he --batch 64
--momentum 0.9 --lr 0.1 --schedule cosine --epochs 10 --weight-decay 1e-4`: 784->128->10,
relu, He-normal weights (truncated at 2 sigma, sigma = sqrt(2 / fan_in)), zero biases,
torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False) -- the same
update as microdense's, decay on biases too -- and the learning rate set before every
batch to 0.1 * (1 + cos(pi * step / total)) / 2 over all 10 epochs, as microdense's cosine
schedule. Batches from a fresh shuffle each epoch, the last one smaller. After each epoch
the whole test set is scored; that time is excluded from the training time but reported.
"""
import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WARMUP = 0.5  # seconds
REPEAT = 2.0  # seconds per repeat unless --steps


def read_idx(directory, name):
    """An IDX file, gzipped or not, as a numpy array of its dimensions."""
    path = os.path.join(directory, name)
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = magic & 0xFF
    if magic >> 8 != 0x08:
        sys.exit(f"error: {path}: not an unsigned-byte IDX file")
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    return body[: int(np.prod(shape))].reshape(shape)


def load(directory, split):
    """Pixels as float32 in [0, 1] (x / 255, as microdense), one row per image; labels."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels = read_idx(directory, f"{prefix}-labels-idx1-ubyte")
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / np.float32(255))
    return x, torch.from_numpy(labels.astype(np.int64))


def mlp(sizes, activation):
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if activation is not None and i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def init_truncated(model, std_of):
    """TF.js-style truncated normal (cut at 2 sigma) weights, zero biases."""
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                std = std_of(m.in_features, m.out_features)
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.zeros_(m.bias)


class Sampler:
    """Slices of a shuffled order; reshuffled once all of it has been handed out."""

    def __init__(self, n, seed):
        self.n = n
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n, generator=self.gen)
        self.at = 0

    def next(self, batch):
        if self.at >= self.n:
            self.order = torch.randperm(self.n, generator=self.gen)
            self.at = 0
        idx = self.order[self.at : self.at + batch]
        self.at += len(idx)
        return idx

    def epoch_finished(self):
        return self.at >= self.n


def run_steps(model, opt, x, y, sampler, batch, steps):
    """`steps` training steps; returns (seconds, samples, last loss)."""
    samples = 0
    loss = None
    start = time.perf_counter()
    for _ in range(steps):
        idx = sampler.next(batch)
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        samples += len(idx)
    return time.perf_counter() - start, samples, loss


def throughput(args):
    x, y = load(args.data, "train")
    torch.manual_seed(args.seed)
    model = mlp([x.shape[1], 32, 256, 10], None)
    init_truncated(model, lambda fi, fo: math.sqrt(2.0 / (fi + fo)))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    sampler = Sampler(len(y), args.seed)

    chunk, warmup_steps, spent = 8, 0, 0.0
    while True:
        t, _, _ = run_steps(model, opt, x, y, sampler, args.batch, chunk)
        warmup_steps += chunk
        spent += t
        if spent >= WARMUP:
            rate = chunk / max(t, 1e-9)
            break
        chunk *= 2
    steps = args.steps or max(1, math.ceil(rate * REPEAT))
    repeats = []
    for _ in range(args.repeats):
        model.load_state_dict(start)
        sampler = Sampler(len(y), args.seed)
        t, samples, loss = run_steps(model, opt, x, y, sampler, args.batch, steps)
        repeats.append({"seconds": t, "samples": samples, "samples_per_second": samples / t})
    return {
        "network": "784→32→256→10 (linear, softmax)",
        "timed": "per step: next slice of a shuffled index order, X[idx] and Y[idx] from "
        "pre-scaled float32 tensors, zero_grad, forward, cross_entropy, backward, SGD step",
        "batch": args.batch,
        "lr": args.lr,
        "steps": steps,
        "warmup_steps": warmup_steps,
        "repeats": repeats,
        "samples_per_second": statistics.median(r["samples_per_second"] for r in repeats),
        "last_loss": loss.item(),
    }


def accuracy(model, x, y):
    with torch.no_grad():
        logits = model(x)
        return (logits.argmax(1) == y).float().mean().item(), F.cross_entropy(logits, y).item()


def recipe(args):
    x, y = load(args.data, "train")
    tx, ty = load(args.data, "test")
    torch.manual_seed(args.seed)
    model = mlp([x.shape[1], 128, 10], nn.ReLU)
    init_truncated(model, lambda fi, fo: math.sqrt(2.0 / fi))
    lr, batch = 0.1, 64
    opt = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4, nesterov=False
    )
    sampler = Sampler(len(y), args.seed)
    total = args.epochs * math.ceil(len(y) / batch)
    train_time, eval_time, scores = 0.0, 0.0, []
    start = time.perf_counter()
    for step in range(total):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
        idx = sampler.next(batch)
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        if sampler.epoch_finished():
            train_time += time.perf_counter() - start
            t = time.perf_counter()
            acc, loss = accuracy(model, tx, ty)
            eval_time += time.perf_counter() - t
            scores.append(
                {"epoch": len(scores) + 1, "train_seconds": train_time,
                 "test_accuracy": acc, "test_loss": loss}
            )
            start = time.perf_counter()
    hit = next((s for s in scores if s["test_accuracy"] >= args.target), None)
    return {
        "network": "784→128→10 (relu, softmax)",
        "batch": batch,
        "epochs": args.epochs,
        "train_seconds": train_time,
        "epoch_eval_seconds": eval_time,
        "epoch_scores": scores,
        "target": {
            "accuracy": args.target,
            "epoch": hit and hit["epoch"],
            "train_seconds": hit and hit["train_seconds"],
        },
        "test_accuracy": scores[-1]["test_accuracy"] if scores else None,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.environ.get("MICRODENSE_DATA", "data/mnist"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=0.15)
    t.add_argument("--steps", type=int)
    t.add_argument("--repeats", type=int, default=5)
    r = sub.add_parser("recipe")
    r.add_argument("--epochs", type=int, default=10)
    r.add_argument("--target", type=float, default=0.98)
    args = p.parse_args()

    # One core: intra-op and inter-op pools of one thread each.
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    out = throughput(args) if args.what == "throughput" else recipe(args)
    out.update(torch=torch.__version__, threads=torch.get_num_threads())
    if args.json:
        print(json.dumps(out, indent=2))
    elif args.what == "throughput":
        print(f"{out['network']}, batch {out['batch']}: {out['samples_per_second']:.0f} "
              f"samples/s (median of {len(out['repeats'])} x {out['steps']} steps)")
    else:
        accs = " ".join(f"{s['test_accuracy']:.4f}" for s in out["epoch_scores"])
        tgt = out["target"]
        reached = (f"first after epoch {tgt['epoch']}, {tgt['train_seconds']:.2f} s"
                   if tgt["epoch"] else "not reached")
        print(f"{out['network']}: test accuracy after each epoch {accs}; "
              f"{tgt['accuracy']} {reached} ({out['train_seconds']:.2f} s in all)")


if __name__ == "__main__":
    main()

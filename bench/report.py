"""The table of bench/run.sh from the JSON files it left in OUT (standard library only).

    python bench/report.py OUT ROUNDS

Throughput: the median over every repeat of every round, per side. Time to 98%: the
median over the rounds of the training time up to the end of the first epoch whose test
accuracy reached 98.0% (scoring time excluded on both sides).
"""
import json
import os
import statistics
import sys

TARGETS = {16: 4.0, 64: 2.0}  # issue 18: microdense / PyTorch samples per second
TIME_TARGET = 3.0  # issue 18: PyTorch's time to 98% / microdense's (at most a third)


def read(out, name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def main():
    out, rounds = sys.argv[1], int(sys.argv[2])
    r = range(1, rounds + 1)
    rows = []
    print(f"microdense vs PyTorch, one thread each, {rounds} alternating round(s)")
    print(f"{'configuration':<34}{'microdense':>12}{'PyTorch':>12}{'ratio':>8}{'target':>8}  ok")
    for batch, target in TARGETS.items():
        md = [x["samples_per_second"] for i in r for x in read(out, f"md-b{batch}-{i}.json")["repeats"]]
        pt = [x["samples_per_second"] for i in r for x in read(out, f"pt-b{batch}-{i}.json")["repeats"]]
        m, p = statistics.median(md), statistics.median(pt)
        ok = m / p >= target
        rows.append(ok)
        print(f"{f'784-32-256-10 linear, batch {batch}':<34}{m:>12,.0f}{p:>12,.0f}"
              f"{m / p:>7.2f}x{target:>7.1f}x  {'yes' if ok else 'NO'}")
        spread = lambda v: f"{min(v):,.0f}-{max(v):,.0f}"
        print(f"{'  samples/s, range over repeats':<34}{spread(md):>12} {spread(pt):>12}")

    def first(name):
        runs = [read(out, f"{name}-recipe-{i}.json") for i in r]
        times = [x["target"]["train_seconds"] for x in runs]
        epochs = [x["target"]["epoch"] for x in runs]
        total = statistics.median(x["train_seconds"] for x in runs)
        final = [x["epoch_scores"][-1]["test_accuracy"] for x in runs if x["epoch_scores"]]
        return times, epochs, total, final

    mt, me, mtotal, mfinal = first("md")
    pt, pe, ptotal, pfinal = first("pt")
    if None in mt or None in pt:
        print(f"time to 98%: not reached (microdense epochs {me}, PyTorch epochs {pe})")
        rows.append(False)
    else:
        m, p = statistics.median(mt), statistics.median(pt)
        ok = p / m >= TIME_TARGET
        rows.append(ok)
        print(f"{'time to 98.0% (s of training)':<34}{m:>12.2f}{p:>12.2f}{p / m:>7.2f}x"
              f"{TIME_TARGET:>7.1f}x  {'yes' if ok else 'NO'}")
        print(f"{'  reached after epoch':<34}{'/'.join(map(str, me)):>12}{'/'.join(map(str, pe)):>12}")
    print(f"{'  10 epochs in all (s)':<34}{mtotal:>12.2f}{ptotal:>12.2f}{ptotal / mtotal:>7.2f}x")
    print(f"{'  final test accuracy':<34}{max(mfinal):>12.4f}{max(pfinal):>12.4f}")

    check = read(out, "check.json")
    status = open(os.path.join(out, "check.status")).read().strip()
    worst = max(check["loss_relative"], check["weights_relative"], check["first_gradients_relative"])
    print(f"f64 reference (microdense check, {check['steps']} steps): worst relative deviation "
          f"{worst:.2e}, {'within' if status == '0' else 'OUTSIDE'} the tolerance 1e-4")
    loads = [float(x) for x in open(os.path.join(out, "load")).read().split()]
    pt_info = read(out, "pt-b16-1.json")
    print(f"load average (1 min) during the run: {min(loads):.2f}-{max(loads):.2f} on "
          f"{os.cpu_count()} cores; torch {pt_info['torch']}, {pt_info['threads']} thread")
    print(f"targets met: {sum(rows)} of {len(rows)}")


if __name__ == "__main__":
    main()

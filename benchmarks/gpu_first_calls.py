"""Which batch shapes are still slow on their first call after `Classifier.warm_up`, on a GPU.

    python benchmarks/gpu_first_calls.py [--window 2]

A server's steps send the model batches of every size and mix of lengths. After the warm-up, each kind of
batch below is scored twice; a first call much slower than the second is a shape the warm-up missed, and
a server's stream that waits for it sees a late decision.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from streamlid.core.audio import SAMPLE_RATE
from streamlid.model.classifier import Classifier


def timed(classifier: Classifier, windows: list[np.ndarray]) -> float:
    t = time.perf_counter()
    classifier.log_probs(windows)
    torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--most-windows", type=int, default=256, help="the warm-up's largest batch [%(default)s]")
    p.add_argument("--compile", action="store_true", help="the model compiled first, as serve runs it")
    args = p.parse_args()
    classifier = Classifier.load(args.model, "cuda")
    t = time.perf_counter()
    if args.compile:
        print(f"compiled: {classifier.compile()} in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    classifier.warm_up(args.window, args.most_windows)
    print(f"warm-up: {time.perf_counter() - t:.2f} s")
    rng = np.random.default_rng(0)
    full = int(args.window * SAMPLE_RATE)
    rows = []
    for n in (1, 2, 3, 5, 8, 16, 31, 32, 33, 64, 200):
        for kind in ("equal", "mixed", "short"):
            if kind == "equal":
                lengths = [full] * n
            elif kind == "mixed":
                lengths = [int(x) for x in rng.integers(SAMPLE_RATE, full + 1, n)]
            else:
                lengths = [SAMPLE_RATE] * n
            windows = [rng.standard_normal(m).astype(np.float32) * 0.1 for m in lengths]
            first, second = timed(classifier, windows), timed(classifier, windows)
            row = {
                "windows": n,
                "lengths": kind,
                "first_ms": round(first * 1000, 1),
                "second_ms": round(second * 1000, 1),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    slow = [r for r in rows if r["first_ms"] > 3 * r["second_ms"] + 5]
    print(json.dumps({"gpu": torch.cuda.get_device_name(), "slow_first_calls": slow}))


if __name__ == "__main__":
    main()

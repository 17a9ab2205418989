"""A model call in a thread beside a busy one, as the server's model thread beside its event loop (and the
dashboard's pipeline beside its rendering): how long one call takes alone, and beside a thread that never
sleeps, at Python's default GIL switch interval and at the one streamlid sets (MODEL_THREAD_SWITCH_S).

    python benchmarks/model_thread.py [--seconds 0.5,2] [--compute cpu] [--out benchmarks/results/model_thread.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from streamlid.core.threads import MODEL_THREAD_SWITCH_S
from streamlid.model.classifier import Classifier

DEFAULT_SWITCH_S = 0.005  # Python's


def call_ms(classifier: Classifier, windows: list[np.ndarray], reps: int) -> float:
    """Median ms of one log_probs call, made in a thread of its own."""
    times: list[float] = []

    def calls() -> None:
        for _ in range(reps):
            t = time.perf_counter()
            classifier.log_probs(windows)
            times.append(time.perf_counter() - t)

    worker = threading.Thread(target=calls)
    worker.start()
    worker.join()
    return round(float(np.median(times)) * 1000, 1)


def beside_a_busy_thread(classifier: Classifier, windows: list[np.ndarray], reps: int, switch_s: float) -> float:
    sys.setswitchinterval(switch_s)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(100))

    spinner = threading.Thread(target=busy)
    spinner.start()
    try:
        return call_ms(classifier, windows, reps)
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(DEFAULT_SWITCH_S)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", default="0.5,2", help="window lengths [%(default)s]")
    p.add_argument("--compute", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    classifier = Classifier.load(None, args.compute)
    rng = np.random.default_rng(0)
    rows = []
    for seconds in map(float, args.seconds.split(",")):
        windows = [rng.standard_normal(int(seconds * 16000)).astype(np.float32) * 0.1]
        call_ms(classifier, windows, 2)  # warm-up
        row = {
            "window_s": seconds,
            "alone_ms": call_ms(classifier, windows, args.reps),
            "beside_busy_thread_default_switch_ms": beside_a_busy_thread(
                classifier, windows, args.reps, DEFAULT_SWITCH_S
            ),
            "beside_busy_thread_streamlid_switch_ms": beside_a_busy_thread(
                classifier, windows, args.reps, MODEL_THREAD_SWITCH_S
            ),
        }
        print(row, flush=True)
        rows.append(row)
    report = {"model": classifier.name, "compute": args.compute, "switch_s": MODEL_THREAD_SWITCH_S, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

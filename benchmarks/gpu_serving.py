"""The GPU serving path, measured in layers on one GPU: the model alone, `Classifier.log_probs` (numpy in,
numpy out, as the server calls it) with the audio sent as float32 or as float16 through a page-locked
buffer, and the server's whole scoring step (`protocol.score_together`: every stream's VAD and windowing,
one batched model call, smoothing and events) for N real-time streams in one process, with adaptive
analysis (the default) and with every hop analysed, and then in P processes sharing the GPU (the CPU side
of a step is one core's work per process: more streams need more processes, each a server of its own).

    python benchmarks/gpu_serving.py --out benchmarks/results/gpu_serving_v4.json    # on a GPU machine

A stream needs 1/hop windows per second (4 at the default 0.25 s hop). In the step rows, a tick pushes
one hop of audio into every stream and runs one step; real time holds while a tick takes less than the
hop, and a window's decision latency is at most a hop (waiting for the audio) plus the tick.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from streamlid.core.audio import load_mono_16k
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.model.classifier import Classifier
from streamlid.serving.protocol import score_together, step_windows

SPEECH = Path(__file__).resolve().parents[1] / "tests/fixtures/speech/real/commonvoice/deu"


def per_second(fn, reps: int) -> float:
    """Calls per second of `fn` (median of `reps`, after a warm-up), the GPU synchronised after each."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return 1 / float(np.median(times))


def model_rows(classifier: Classifier, seconds: float, batches: list[int], reps: int) -> list[dict]:
    rng = np.random.default_rng(0)
    model, calibration, device = classifier.model, classifier.info.calibration, classifier.device
    rows = []
    for batch in batches:
        windows = [rng.standard_normal(int(seconds * 16000)).astype(np.float32) * 0.1 for _ in range(batch)]
        on_device = torch.from_numpy(np.stack(windows)).to(device)

        @torch.inference_mode()
        def model_only(x: torch.Tensor = on_device) -> None:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                model.scores(x)

        @torch.inference_mode()
        def float32_copy(w: list[np.ndarray] = windows) -> np.ndarray:
            """log_probs as it was before the float16 page-locked buffer: a plain float32 copy to the GPU."""
            x = torch.from_numpy(np.stack(w)).to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits, hidden = model.scores(x)
            return calibration.log_probs(logits.float(), seconds, hidden.float()).cpu().numpy()

        calls = {
            "model_only": model_only,
            "log_probs_float32": float32_copy,
            "log_probs_float16_pinned": lambda w=windows: classifier.log_probs(w),
        }
        row = {"batch": batch} | {f"{k}_windows_per_s": round(batch * per_second(f, reps)) for k, f in calls.items()}
        print(row, flush=True)
        rows.append(row)
    return rows


class TimedScorer:
    """The classifier as the streams see it, with the time spent in its `log_probs` (numpy in, numpy out:
    the copies and the GPU's work included) and the calls added up, so a step splits into model and the
    rest (each stream's VAD, windowing, smoothing and events)."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier, self.seconds, self.calls = classifier, 0.0, 0

    def __getattr__(self, name: str):
        return getattr(self.classifier, name)

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        t = time.perf_counter()
        out = self.classifier.log_probs(windows)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out


def step_rows(
    classifier: Classifier, counts: list[int], seconds: float, options: StreamOptions, pipelined: bool = False
) -> list[dict]:
    """N streams, each fed real speech (looped, a different offset each), a tick of one hop at a time;
    `pipelined`: the model's calls in a thread of their own, half the streams at a time (score_together's
    model_thread; the model's share then overlaps the rest, so no CPU side is given)."""
    model_thread = ThreadPoolExecutor(1) if pipelined else None
    speech = np.concatenate([load_mono_16k(p) for p in sorted(SPEECH.glob("*.opus"))[:6]])
    hop = int(options.hop * 16000)
    rows = []
    for n in counts:
        rng = np.random.default_rng(n)
        offsets = rng.integers(0, len(speech), n)
        scorer = TimedScorer(classifier)
        streams = [LanguageStream(scorer, options=options) for _ in range(n)]
        ticks, push_s, step_s, windows = [], 0.0, 0.0, 0
        for k in range(int(seconds / options.hop)):
            if k == 8:  # the first two seconds fill the windows
                scorer.seconds, scorer.calls = 0.0, 0
            t0 = time.perf_counter()
            for s, off in zip(streams, offsets, strict=True):
                start = (off + k * hop) % (len(speech) - hop)
                s.write(speech[start : start + hop])
            t1 = time.perf_counter()
            due = streams
            while due:  # as the server steps: again while adaptive analysis stopped a stream after a window
                events = score_together(scorer, due, model_thread)
                windows += sum(e["type"] == "posteriors" for es in events for e in es)
                due = [s for s in due if s.pending]
            t2 = time.perf_counter()
            if k >= 8:
                ticks.append(t2 - t0)
                push_s, step_s = push_s + t1 - t0, step_s + t2 - t1
        tick = np.array(ticks)
        model_ms = scorer.seconds / len(ticks) * 1000
        row = {
            "streams": n,
            "tick_ms_p50": round(float(np.percentile(tick, 50)) * 1000, 1),
            "tick_ms_p99": round(float(np.percentile(tick, 99)) * 1000, 1),
            "push_ms_per_tick": round(push_s / len(ticks) * 1000, 1),
            "step_ms_per_tick": round(step_s / len(ticks) * 1000, 1),
            "model_ms_per_tick": round(model_ms, 1),
            "model_calls_per_tick": round(scorer.calls / len(ticks), 2),
            "cpu_side_ms_per_stream_tick": None
            if pipelined
            else round(((push_s + step_s) / len(ticks) * 1000 - model_ms) / n, 3),
            "windows_per_s_analysed": round(windows / seconds),
            "real_time": bool(np.percentile(tick, 99) < options.hop),
            "decision_latency_ms_p99": round((options.hop + float(np.percentile(tick, 99))) * 1000, 1),
        }
        print(row, flush=True)
        rows.append(row)
    if model_thread:
        model_thread.shutdown()
    return rows


def load(model: str | None, unrounded: bool, compiled: bool, streams: int) -> Classifier:
    """The classifier as `streamlid serve` makes it, warmed up for steps of up to `streams` streams."""
    classifier = Classifier.load(model, "cuda")
    if unrounded:  # every batch its own shape, as before the rounding
        classifier.round_rows = classifier.round_samples = 1
    if compiled:
        classifier.compile()
    classifier.warm_up(StreamOptions.window, step_windows(streams))
    return classifier


def _process(model, unrounded, compiled, pipelined, n, seconds, options, barrier, results) -> None:
    torch.set_num_threads(1)
    classifier = load(model, unrounded, compiled, n)
    step_rows(classifier, [min(n, 64)], 2.5, options)  # warm-up: CUDA context, allocator
    barrier.wait()
    results.put(step_rows(classifier, [n], seconds, options, pipelined)[0])


def process_rows(
    model: str | None,
    unrounded: bool,
    compiled: bool,
    pipelined: bool,
    layouts: list[tuple[int, int]],
    seconds: float,
    options: StreamOptions,
) -> list:
    """(processes, streams each): all processes step at once, on one GPU; real time when every one keeps it."""
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for processes, n in layouts:
        barrier, results = ctx.Barrier(processes), ctx.Queue()
        workers = [
            ctx.Process(
                target=_process, args=(model, unrounded, compiled, pipelined, n, seconds, options, barrier, results)
            )
            for _ in range(processes)
        ]
        for w in workers:
            w.start()
        each = [results.get() for _ in workers]
        for w in workers:
            w.join()
        row = {
            "processes": processes,
            "streams": processes * n,
            "tick_ms_p99_worst": max(r["tick_ms_p99"] for r in each),
            "tick_ms_p50_median": float(np.median([r["tick_ms_p50"] for r in each])),
            "windows_per_s_analysed": sum(r["windows_per_s_analysed"] for r in each),
            "real_time": all(r["real_time"] for r in each),
            "decision_latency_ms_p99": max(r["decision_latency_ms_p99"] for r in each),
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--batches", default="256,1024,4096")
    p.add_argument("--streams", default="256,1024,2048,4096")
    p.add_argument("--seconds", type=float, default=6.0, help="audio per step measurement")
    p.add_argument(
        "--processes", default="4x256,8x256,12x256,12x384", help="PxN: P processes of N streams each ('' skips)"
    )
    p.add_argument("--skip-one-process", action="store_true", help="only the model and multi-process rows")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--profile", type=int, metavar="N", help="only profile one process's step with N streams (cProfile)")
    p.add_argument(
        "--unrounded", action="store_true", help="batches unpadded, each its own shape (Classifier.round_rows)"
    )
    p.add_argument("--compile", action="store_true", help="the model compiled (Classifier.compile)")
    p.add_argument("--pipelined", action="store_true", help="the model's calls in a thread of their own")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: this benchmark measures the GPU serving path")
    counts = [int(n) for n in args.streams.split(",")]
    layouts = [tuple(int(v) for v in pn.split("x")) for pn in args.processes.split(",") if pn]
    # the main process warms up for the steps it scores itself (each process warms up for its own)
    most_streams = max([*([] if args.skip_one_process else counts), args.profile or 0, 1])
    classifier = load(args.model, args.unrounded, args.compile, most_streams)
    if args.profile:
        import cProfile
        import pstats

        step_rows(classifier, [args.profile], 2.5, StreamOptions())  # warm-up
        with cProfile.Profile() as profile:
            step_rows(classifier, [args.profile], args.seconds, StreamOptions())
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        return
    report = {
        "model": classifier.name,
        "gpu": torch.cuda.get_device_name(),
        "cpu_cores": len(os.sched_getaffinity(0)),
        "window_s": args.window,
        "batch_rounding": {"rows": classifier.round_rows, "samples": classifier.round_samples},
        "compiled": args.compile,
        "pipelined": args.pipelined,
        "model_calls": model_rows(classifier, args.window, [int(b) for b in args.batches.split(",")], args.reps),
    }
    if not args.skip_one_process:
        report["server_step"] = step_rows(classifier, counts, args.seconds, StreamOptions(), args.pipelined)
        report["server_step_every_hop"] = step_rows(
            classifier, counts, args.seconds, StreamOptions(steady_hop=0), args.pipelined
        )
    del classifier
    torch.cuda.empty_cache()
    report["server_step_processes"] = process_rows(
        args.model, args.unrounded, args.compile, args.pipelined, layouts, args.seconds, StreamOptions()
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

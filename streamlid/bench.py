"""Benchmarks: model cost per window, real-time factor, concurrent streams, latency, memory, and
streaming quality (time to decision, switch latency, false switches) on synthetic conversations.

    streamlid bench --out bench-results          # CPU part, a few minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .conversations import Score, make_conversations, read_clips
from .features import SAMPLE_RATE
from .languages import CORE
from .model import Classifier
from .stream import LanguageStream, StreamOptions

DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "manifest.csv"


def cpu_ms_per_window(classifier: Classifier, seconds: float, batch: int = 1, reps: int = 30) -> float:
    """Median CPU time (process time, all threads) per window of `seconds`, in ms."""
    rng = np.random.default_rng(0)
    windows = [rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1 for _ in range(batch)]
    classifier.log_probs(windows)  # warm-up
    times = []
    for _ in range(reps):
        t = time.process_time()
        classifier.log_probs(windows)
        times.append((time.process_time() - t) / batch)
    return float(np.median(times) * 1000)


def stream_cost(classifier: Classifier, audio: np.ndarray, chunk: float = 0.02) -> dict:
    """Push audio in real-time-sized chunks; CPU per second of audio, and chunk -> event latency."""
    stream = LanguageStream(classifier)
    step = int(chunk * SAMPLE_RATE)
    latencies, cpu0 = [], time.process_time()
    for i in range(0, audio.size, step):
        t = time.perf_counter()
        events = stream.push(audio[i : i + step])
        if any(e["type"] == "posteriors" for e in events):
            latencies.append(time.perf_counter() - t)
    cpu = time.process_time() - cpu0
    lat = np.array(latencies) * 1000
    return {
        "audio_seconds": round(audio.size / SAMPLE_RATE, 2),
        "cpu_seconds": round(cpu, 3),
        "real_time_factor": round(cpu / (audio.size / SAMPLE_RATE), 4),
        "windows": stream.stats.windows,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 2),
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 2),
    }


def concurrent_streams(classifier: Classifier, audio: np.ndarray, seconds: float = 10.0, tick: float = 0.1) -> dict:
    """Largest number of streams one process keeps in real time with cross-stream batching.

    Every tick each stream gets `tick` seconds of audio; all streams' windows go through one forward
    pass. Real time holds while the work for `seconds` of audio takes less wall time than `seconds`.
    """

    def wall_for(n: int) -> float:
        streams = [
            LanguageStream(None, options=StreamOptions(), model_languages=classifier.languages) for _ in range(n)
        ]
        step = int(tick * SAMPLE_RATE)
        offsets = np.linspace(0, audio.size - int(seconds * SAMPLE_RATE) - 1, n).astype(int)
        start = time.perf_counter()
        for k in range(int(seconds / tick)):
            batches = []
            for s, off in zip(streams, offsets, strict=True):
                s.write(audio[off + k * step : off + (k + 1) * step])
                batches.append(s.advance())
            flat = [w for b in batches for w in b]
            scores = classifier.log_probs(flat) if flat else np.zeros((0, len(classifier.languages)))
            i = 0
            for s, b in zip(streams, batches, strict=True):
                s.complete(scores[i : i + len(b)])
                i += len(b)
        return time.perf_counter() - start

    lo, hi, results = 0, 1, {}
    while True:  # double until real time breaks, then bisect
        results[hi] = wall_for(hi)
        if results[hi] > seconds * 0.9:
            break
        lo, hi = hi, hi * 2
    while hi - lo > max(1, lo // 10):
        mid = (lo + hi) // 2
        results[mid] = wall_for(mid)
        lo, hi = (mid, hi) if results[mid] <= seconds * 0.9 else (lo, mid)
    return {
        "streams": lo,
        "threads": torch.get_num_threads(),
        "wall_seconds_per_10s": {str(k): round(v, 2) for k, v in sorted(results.items())},
    }


def listen_peak_rss_mb(audio_file: Path, model: str | None) -> float:
    """Peak resident memory of `streamlid listen --input FILE --fast` in a child process."""
    cmd = [
        sys.executable,
        "-m",
        "streamlid",
        "listen",
        "--input",
        str(audio_file),
        "--fast",
        "--json",
        "--compute",
        "cpu",
    ]
    if model:
        cmd += ["--model", model]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def quality(classifier: Classifier, manifest: Path, split: str, n: int, seed: int, options: StreamOptions) -> dict:
    langs = [c for c in CORE if c in classifier.languages]
    clips = read_clips(manifest, split, langs)
    score = Score()
    for switch in (False, True):
        for conv in make_conversations(clips, n, seed=seed + switch, switch=switch):
            stream = LanguageStream(classifier, options=options)
            stream.set_languages(langs)
            score.add(conv, stream.run(conv.audio))
    return score.summary()


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model weights [shipped model]")
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="clips for conversations [%(default)s]")
    p.add_argument("--split", default="dev", help="manifest split for conversations [%(default)s]")
    p.add_argument("--conversations", type=int, default=40, help="conversations of each kind [%(default)s]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="report folder [%(default)s]")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    classifier = Classifier.load(args.model, "cpu")
    langs = [c for c in CORE if c in classifier.languages]
    clips = read_clips(args.manifest, args.split, langs)
    convs = make_conversations(clips, 6, seed=args.seed, switch=True)
    audio = np.concatenate([c.audio for c in convs])
    report: dict = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__}}
    print("model cost per window (1 thread)...", file=sys.stderr)
    report["cpu_ms_per_window"] = {str(s): round(cpu_ms_per_window(classifier, s), 2) for s in (0.5, 1.0, 2.0, 3.0)}
    print("stream cost and latency...", file=sys.stderr)
    report["stream"] = stream_cost(classifier, audio)
    print("concurrent streams...", file=sys.stderr)
    report["concurrent_1_thread"] = concurrent_streams(classifier, audio)
    print("peak memory of listen...", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    wav = args.out / "conversations.wav"
    sf.write(wav, audio, SAMPLE_RATE)
    report["listen_peak_rss_mb"] = round(listen_peak_rss_mb(wav, args.model), 1)
    wav.unlink()
    print("streaming quality...", file=sys.stderr)
    report["quality"] = quality(classifier, args.manifest, args.split, args.conversations, args.seed, StreamOptions())
    (args.out / "bench.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0

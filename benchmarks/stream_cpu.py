"""The CPU one stream costs a server, a hop at a time, without the model: every stream's audio path (PCM
in, down-mixing, VAD, windows), its events (smoothing, decisions, two probabilities a language) and their
JSON, as `streamlid serve` steps them (`protocol.score_together`). This is what binds a GPU server: the
model's own cost is measured by gpu_serving.py, and a step needs both.

    python benchmarks/stream_cpu.py [--streams 128] [--seconds 30] [--format int16] [--out results/stream_cpu.json]

The scores are the real model's, for real speech windows, computed once and then handed back in turn, so
the events are those of real speech without the model's time in them. Each stream plays real speech (a
different offset each) in hops of 0.25 s; the first 2 s fill the windows and are not counted. CPU time is
the process's (one thread), the minimum and median over blocks of 8 hops; a core holds hop / cost streams.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from streamlid.core.audio import load_mono_16k
from streamlid.core.events import to_json
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.model.classifier import Classifier
from streamlid.serving.protocol import score_together

SPEECH = Path(__file__).resolve().parents[1] / "tests/fixtures/speech/real/commonvoice/deu"
BLOCK = 8  # hops


class ReplayedScores:
    """The model's scores for a set of real windows, handed out in turn: a stream sees real scores, and
    no model runs in the measured loop."""

    def __init__(self, classifier: Classifier, windows: list[np.ndarray]) -> None:
        self.languages = classifier.languages
        self.open_set, self.speech_check = classifier.open_set, classifier.speech_check
        self.rows = classifier.log_probs(windows)
        self.calls = 0

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        index = (self.calls + np.arange(len(windows))) % len(self.rows)
        self.calls += len(windows)
        return self.rows[index]


def measure(scorer: ReplayedScores, speech: np.ndarray, streams: int, seconds: float, fmt: str) -> dict:
    options = StreamOptions()
    hop = int(options.hop * 16000)
    offsets = np.random.default_rng(streams).integers(0, len(speech) - hop, streams)
    pcm = (speech * 32767).astype(np.int16)[:, None] if fmt == "int16" else speech
    group = [LanguageStream(scorer, options=options) for _ in range(streams)]
    parts = {"write": [], "step": [], "json": []}
    events = windows = 0
    for k in range(8 + int(seconds / options.hop) // BLOCK * BLOCK):
        t0 = time.process_time()
        for stream, offset in zip(group, offsets, strict=True):
            start = (offset + k * hop) % (len(speech) - hop)
            stream.write(pcm[start : start + hop])
        t1 = time.process_time()
        out: list[list[dict]] = [[] for _ in group]
        due = list(range(streams))
        while due:  # as the server steps: again while adaptive analysis stopped a stream after a window
            for i, evs in zip(due, score_together(scorer, [group[i] for i in due]), strict=True):
                out[i] += evs
            due = [i for i in due if group[i].pending]
        t2 = time.process_time()
        for i, evs in enumerate(out):
            for event in evs:
                to_json({**event, "stream": f"s{i}"})  # as LiveServer.publish does
        t3 = time.process_time()
        if k >= 8:
            for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                parts[name].append(dt)
            events += sum(map(len, out))
            windows += sum(e["type"] == "posteriors" for evs in out for e in evs)
    hops = len(parts["write"])
    per = {name: np.add.reduceat(np.array(v), np.arange(0, hops, BLOCK)) / BLOCK / streams for name, v in parts.items()}
    total = sum(per.values())
    ms = lambda x: round(float(x) * 1000, 4)  # noqa: E731
    return {
        "streams": streams,
        "format": fmt,
        "hops": hops,
        "ms_per_stream_hop_min": ms(total.min()),
        "ms_per_stream_hop_median": ms(np.median(total)),
        "ms_per_stream_hop_median_by_part": {name: ms(np.median(v)) for name, v in per.items()},
        "streams_per_core": int(options.hop / np.median(total)),
        "windows_per_stream_second": round(windows / hops / streams / options.hop, 2),
        "events_per_stream_hop": round(events / hops / streams, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=None, help="the model whose scores are replayed (default: the shipped one)")
    ap.add_argument("--streams", default="128", help="comma-separated stream counts (default 128)")
    ap.add_argument("--seconds", type=float, default=30.0, help="audio per stream, after the first 2 s (default 30)")
    ap.add_argument("--format", default="int16,float32", help="PCM as clients send it: int16, float32 or both")
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    speech = np.concatenate([load_mono_16k(p) for p in sorted(SPEECH.glob("*.opus"))[:6]])
    classifier = Classifier.load(args.model, "cpu")
    starts = range(0, len(speech) - 32000, len(speech) // 24)
    scorer = ReplayedScores(classifier, [speech[s : s + 32000] for s in starts])
    rows = []
    for fmt in args.format.split(","):
        for n in map(int, args.streams.split(",")):
            rows.append(measure(scorer, speech, n, args.seconds, fmt))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        result = {"machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}", "rows": rows}
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Sweep window, hop and smoothing settings on conversations built from dev-split clips.

    python benchmarks/sweep_streaming.py --out benchmarks/results/sweep.json

Window scores are cached, so the smoothing settings of one (window, hop) cost no extra model time.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from streamlid.conversations import Score, benchmark_conversations
from streamlid.languages import CORE
from streamlid.model import Classifier
from streamlid.stream import LanguageStream, StreamOptions, replace_options


class CachedClassifier:
    def __init__(self, classifier: Classifier) -> None:
        self.inner, self.languages, self.cache = classifier, classifier.languages, {}

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        keys = [hashlib.blake2b(w.tobytes(), digest_size=16).digest() for w in windows]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            for i, lp in zip(missing, self.inner.log_probs([windows[i] for i in missing]), strict=True):
                self.cache[keys[i]] = lp
        return np.stack([self.cache[k] for k in keys])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="../shared/data/manifest.csv")
    p.add_argument("--split", default="dev")
    p.add_argument("--model", default=None)
    p.add_argument("--conversations", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep.json"))
    p.add_argument("--windows", nargs="+", default=["1,0.25", "2,0.25", "3,0.25", "2,0.5"], help="window,hop pairs")
    p.add_argument("--switch-prob", nargs="+", type=float, default=[0.01, 0.03, 0.1, 0.3])
    p.add_argument("--evidence-weight", nargs="+", type=float, default=[0.5, 1.0])
    p.add_argument("--confident", nargs="+", type=float, default=[0.6, 0.8])
    args = p.parse_args()

    classifier = Classifier.load(args.model, "cpu")
    langs = [c for c in CORE if c in classifier.languages]
    convs = benchmark_conversations(args.manifest, args.split, args.conversations, args.seed, langs)
    grid_windows = [tuple(map(float, wh.split(","))) for wh in args.windows]
    grid_smoothing = [
        {"switch_prob": s, "evidence_weight": w, "confident": c}
        for s, w, c in itertools.product(args.switch_prob, args.evidence_weight, args.confident)
    ]
    rows = []
    for window, hop in grid_windows:
        cached = CachedClassifier(classifier)
        for smoothing in tqdm(grid_smoothing, desc=f"window {window} hop {hop}"):
            options = replace_options(StreamOptions(), window=window, hop=hop, languages=tuple(langs), **smoothing)
            score = Score()
            for conv in convs:
                score.add(conv, LanguageStream(cached, options=options).run(conv.audio))
            rows.append({"window": window, "hop": hop, **smoothing, **score.summary()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {len(rows)} settings to {args.out}")
    plot(rows, args.out.with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    """Correct-decision time against false switches, one point per setting; the defaults ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = StreamOptions()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for window in sorted({r["window"] for r in rows}):
        pts = [r for r in rows if r["window"] == window]
        ax.scatter(
            [r["false_switches_per_10min"] for r in pts],
            [r["correct_fraction"] for r in pts],
            label=f"window {window:g} s",
            s=18,
        )
    chosen = [
        r
        for r in rows
        if (r["window"], r["hop"], r["switch_prob"], r["evidence_weight"], r["confident"])
        == (d.window, d.hop, d.smoothing.switch_prob, d.smoothing.evidence_weight, d.smoothing.confident)
    ]
    for r in chosen[:1]:
        ax.scatter(
            r["false_switches_per_10min"],
            r["correct_fraction"],
            s=160,
            facecolors="none",
            edgecolors="k",
            label="default",
        )
    ax.set_xlabel("false switches per 10 min of one-language speech")
    ax.set_ylabel("fraction of speech time with the right decision")
    ax.set_title("Streaming trade-off on dev-split conversations")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

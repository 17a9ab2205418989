"""Whisper-base as a streaming identifier, side by side with streamlid, on the same conversations.

    nice python benchmarks/peer_streaming.py           # first 12 + 12 conversations of `streamlid bench`
    python benchmarks/peer_streaming.py --model PATH   # another streamlid model (Whisper from the cache)

Both systems go through the very same LanguageStream (VAD gating, window, hop, smoothing, decisions): only
the classifier behind it differs. Whisper-base is padded to 30 s (its accurate mode), closed set over the
core six, one CPU thread. Its posterior for each window is cached by a hash of the window's samples in
the PeerCache file shared with `streamlid evaluate --peer` (streamlid.evaluation.peer.default_decisions_file), so a
re-run (a new streamlid model, other smoothing) costs no Whisper time at all; without the cache, Whisper takes ~25 CPU minutes on one thread.
Each system is also scored with "raw" smoothing: the decision is every window's argmax.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from streamlid.core.languages import CORE
from streamlid.core.stream import LanguageStream, StreamOptions, replace_options
from streamlid.evaluation.bench import goal, seconds_cell
from streamlid.evaluation.conversations import Conversation, Score, benchmark_conversations, decision_track, read_clips
from streamlid.evaluation.peer import PeerCache, WhisperPeer, default_decisions_file
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.classifier import Classifier

# the decision follows each window's argmax: no memory between windows, any language may take over at once
RAW = {"switch_prob": 1.0, "pause_switch_prob": 1.0, "evidence_weight": 1.0, "confident": 0.0}


class TimedClassifier:
    """streamlid's model one window at a time (as a single real-time stream sees it), CPU time per window."""

    def __init__(self, inner: Classifier) -> None:
        self.inner, self.languages, self.cpu = inner, inner.languages, []

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        out = []
        for w in windows:
            t = time.process_time()
            out.append(self.inner.log_probs([w])[0])
            self.cpu.append(time.process_time() - t)
        return np.stack(out) if out else np.zeros((0, len(self.languages)))


class WhisperWindows:
    """Whisper-base behind LanguageStream's classifier interface, closed set, its decisions in the
    PeerCache shared with `streamlid evaluate --peer`; the model is loaded on the first window missing
    from the cache."""

    def __init__(self, languages: list[str], cache: Path, threads: int = 1, progress_total: int = 0) -> None:
        self.languages, self.threads = list(languages), threads
        self.cache = PeerCache(cache)
        self.peer = None
        self.cpu: list[float] = []  # CPU seconds of each window used, as measured when it was computed
        self.computed, self.total = 0, progress_total

    def whisper(self, w: np.ndarray) -> dict[str, float]:
        if self.peer is None:  # loaded only when a window is missing from the cache
            self.peer = WhisperPeer(padded=True, cpu_threads=self.threads)
        self.computed += 1
        if self.computed % 25 == 0:
            print(f"whisper: {len(self.cache.entries) + 1} windows cached (~{self.total} needed)", file=sys.stderr)
        return self.peer.probs_iso639_3(w)

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        out = []
        for w in windows:
            probs, cpu_s = self.cache.decision("whisper-base", w, self.whisper)
            self.cpu.append(cpu_s)
            p = np.array([probs.get(c, 0.0) for c in self.languages]) + 1e-12
            out.append(np.log(p / p.sum()))
        return np.stack(out) if out else np.zeros((0, len(self.languages)))


def score(classifier, convs: list[Conversation], options: StreamOptions) -> tuple[dict, list[list[dict]]]:
    """Score.summary of every conversation through LanguageStream, and the events of each."""
    score, runs = Score(), []
    for conv in convs:
        events = LanguageStream(classifier, options=options).run(conv.audio)
        score.add(conv, events)
        runs.append(events)
    summary = score.summary()
    summary["decisions"] = sum(e["type"] == "posteriors" for ev in runs for e in ev)
    summary["changes"] = sum(e["type"] == "change" for ev in runs for e in ev)
    return summary, runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="../shared/data/manifest.csv")
    p.add_argument("--split", default="dev")
    p.add_argument("--model", default=None, help="streamlid model [shipped model]")
    p.add_argument("--conversations", type=int, default=12, help="first N of each kind (one-language, A->B)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peer-threads", type=int, default=1)
    p.add_argument("--peer-cache", type=Path, default=default_decisions_file())
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/peer_streaming.json"))
    args = p.parse_args()

    torch.set_num_threads(1)
    ours = TimedClassifier(Classifier.load(args.model, "cpu"))
    langs = [c for c in CORE if c in ours.languages]
    convs = benchmark_conversations(read_clips(args.manifest, args.split, langs), args.conversations, args.seed)
    default = replace_options(StreamOptions(), languages=tuple(langs))
    raw = replace_options(default, **RAW)
    rows, timelines = [], {}
    for name in ("streamlid", "whisper-base"):
        for smoothing, options in (("default", default), ("raw argmax", raw)):
            if name == "streamlid":
                classifier = ours
            else:  # windows depend on the VAD only, so streamlid's count is Whisper's too
                classifier = WhisperWindows(langs, args.peer_cache, args.peer_threads, rows[0]["decisions"])
            classifier.cpu = []
            start = time.perf_counter()
            summary, runs = score(classifier, convs, options)
            cpu = np.array(classifier.cpu) * 1000
            row = {
                "system": name,
                "smoothing": smoothing,
                **summary,
                "cpu_ms_per_decision_mean": round(float(cpu.mean()), 2),
                "cpu_ms_per_decision_p50": round(float(np.median(cpu)), 2),
                "wall_seconds": round(time.perf_counter() - start, 1),
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
            timelines[f"{name} / {smoothing}"] = [decision_track(ev) for ev in runs]
    result = {
        "command": " ".join(["python", *sys.argv]),
        "model": str(args.model or DEFAULT_MODEL.relative_to(DEFAULT_MODEL.parent.parent)),
        "model_sha256": hashlib.sha256(Path(args.model or DEFAULT_MODEL).read_bytes()).hexdigest()[:12],
        "conversations": {"one_language": args.conversations, "switching": args.conversations, "seed": args.seed},
        "options": {"window": default.window, "hop": default.hop, "min_window": default.min_window},
        "peer": {"name": "whisper-base", "padded_to_30s": True, "compute": "int8", "cpu_threads": args.peer_threads},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    plot(convs, timelines, rows, args.out.with_suffix(".png"))
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {args.out} and its .png and .md")


def markdown(result: dict) -> str:
    """The side-by-side table: one column per system and smoothing, the command above it."""
    rows, n = result["rows"], result["conversations"]["one_language"]

    def line(label: str, cell, key: str = "") -> str:
        return f"| {label} | " + " | ".join(cell(r) for r in rows) + f" | {goal(key)} |"

    return "\n".join(
        [
            f"`{result['command']}` (model {result['model']}, sha256 {result['model_sha256']}…)",
            "",
            "| measure | " + " | ".join(f"{r['system']}, {r['smoothing']}" for r in rows) + " | target |",
            "|---|" + "---|" * (len(rows) + 1),
            line(
                "speech onset → first correct decision that holds, p50 / p90",
                lambda r: (
                    f"{seconds_cell(r['first_decision_p50'], r['first_decision_never'], 2 * n)}"
                    f" / {seconds_cell(r['first_decision_p90'], 0, 2 * n)}"
                ),
                "first_decision_p50",
            ),
            line(
                "switch → correct new decision, p50 / p90",
                lambda r: (
                    f"{seconds_cell(r['switch_p50'], r['switch_never'], n)} / {seconds_cell(r['switch_p90'], 0, n)}"
                ),
                "switch_p50",
            ),
            line(
                "false switches per 10 min",
                lambda r: f"{r['false_switches_per_10min']:g}",
                "false_switches_per_10min",
            ),
            line("fraction of speech time correct", lambda r: f"{r['correct_fraction']:g}"),
            line(
                "CPU ms per decision, mean (p50), one thread",
                lambda r: f"{r['cpu_ms_per_decision_mean']:g} ({r['cpu_ms_per_decision_p50']:g})",
            ),
            line("decisions (windows) / language changes", lambda r: f"{r['decisions']} / {r['changes']}"),
            "",
        ]
    )


def plot(convs: list[Conversation], timelines: dict[str, list], rows: list[dict], path: Path) -> None:
    """Decision timelines of three switching conversations against the truth, and the headline metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {c: plt.get_cmap("tab10")(i) for i, c in enumerate(CORE)}
    picks = [i for i, c in enumerate(convs) if len(c.stretches) > 1][:3]
    fig, axes = plt.subplots(len(picks) + 1, 1, figsize=(10, 2.2 * len(picks) + 3.2))
    for ax, i in zip(axes, picks, strict=False):
        conv, labels = convs[i], ["truth", *timelines]
        for start, end, lang in conv.speech:
            ax.barh(0, end - start, left=start, color=colours[lang], height=0.8)
        for y, name in enumerate(timelines, 1):
            track = timelines[name][i] + [(conv.duration, None)]
            for (t0, lang), (t1, _) in zip(track, track[1:], strict=False):
                if lang is not None:
                    ax.barh(y, t1 - t0, left=t0, color=colours[lang], height=0.8)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, conv.duration)
        ax.set_title(f"conversation {i}: " + " → ".join(s[2] for s in conv.stretches), fontsize=9)
    axes[len(picks) - 1].set_xlabel("seconds")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in CORE]
    axes[0].legend(handles, CORE, ncol=6, fontsize=7, loc="upper right", bbox_to_anchor=(1, 1.45))
    ax = axes[-1]
    names = [f"{r['system']}\n{r['smoothing']}" for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["correct_fraction"] for r in rows], 0.4, label="fraction of speech time correct")
    ax2 = ax.twinx()
    ax2.bar(
        x + 0.2, [r["false_switches_per_10min"] for r in rows], 0.4, color="tab:red", label="false switches / 10 min"
    )
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("correct fraction")
    ax2.set_ylabel("false switches / 10 min", color="tab:red")
    ax.legend(loc="upper left", fontsize=7)
    ax2.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

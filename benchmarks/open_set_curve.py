"""The open set on whole clips, as `streamlid identify` sees them: speech in the model's languages and in
others, and non-speech; how often each ends as "none of the languages", at every threshold on the
summary's p(none).

    python benchmarks/open_set_curve.py --out benchmarks/results/open_set_v3.json    # CPU: ~10 min

The shipped rule is p(none) >= 0.5 (none is more likely than all the languages together). Out-of-set
languages are split into those the model was trained on as negatives and those it never saw.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import torch

from streamlid.core.audio import load_mono_16k
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.evaluation.evaluate import read_manifest
from streamlid.evaluation.metrics import wilson_interval
from streamlid.evaluation.nonspeech import nonspeech_clips
from streamlid.model.classifier import Classifier

IDENTIFY = StreamOptions(window=3.0, ring_seconds=15.0)  # cli.IDENTIFY_WINDOW
THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)
_CLASSIFIER: list[Classifier] = []


def _summary(audio: np.ndarray) -> dict:
    if not _CLASSIFIER:
        torch.set_num_threads(1)
        _CLASSIFIER.append(Classifier.load(None, "cpu"))
    s = LanguageStream(_CLASSIFIER[0], options=IDENTIFY).run(audio)[-1]
    return {"language": s["language"], "state": s["state"], "unknown": s.get("unknown", 0.0)}


def _clip(path: str) -> dict:
    return _summary(load_mono_16k(path))


def rates(items: list[dict]) -> dict:
    out = {}
    for t in THRESHOLDS:
        k = int(sum(i["unknown"] >= t for i in items if i["state"] != "silence"))
        n = int(sum(i["state"] != "silence" for i in items))
        out[f"{t:g}"] = {"k": k, "n": n, "rate": round(k / n, 4) if n else None, "ci95": wilson_interval(k, n)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"))
    p.add_argument("--split", default="dev")
    p.add_argument("--training-config", type=Path, default=Path("models/training/streamlid-v3/config.json"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/open_set.json"))
    args = p.parse_args()
    languages = Classifier.load(None, "cpu").languages
    trained = set(json.loads(args.training_config.read_text())["config"]["languages"])
    rows = read_manifest(args.manifest, args.split)
    nonspeech = nonspeech_clips()
    with mp.get_context("fork").Pool(args.workers) as pool:
        clips = pool.map(_clip, [r["path"] for r in rows], chunksize=4)
        noise = pool.map(_summary, [c.audio for c in nonspeech])
    for r, c in zip(rows, clips, strict=True):
        c["truth"], c["path"] = r["language"], Path(r["path"]).name
    groups = {
        "in_set": [c for c in clips if c["truth"] in languages],
        "out_of_set": [c for c in clips if c["truth"] not in languages],
        "out_of_set_trained_as_negatives": [c for c in clips if c["truth"] not in languages and c["truth"] in trained],
        "out_of_set_never_trained": [c for c in clips if c["truth"] not in languages and c["truth"] not in trained],
        "nonspeech": noise,
    }
    in_set = groups["in_set"]
    result = {
        "split": args.split,
        "options": "identify's: window 3 s, hop 0.25 s",
        "clips": {g: len(v) for g, v in groups.items()},
        "languages": {g: len({c.get("truth") for c in v}) for g, v in groups.items() if g != "nonspeech"},
        "shipped_rule": {
            g: {
                "unknown": (k := sum(c["state"] == "speech-unknown" for c in v)),
                "n": len(v),
                "ci95": wilson_interval(k, len(v)),
            }
            for g, v in groups.items()
        },
        "in_set_right": sum(c["language"] == c["truth"] for c in in_set),
        "nonspeech_given_language": sum(c["language"] is not None for c in noise),
        "curve": {g: rates(v) for g, v in groups.items()},
        "clips_scored": clips,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=1))
    plot(result, args.out.with_suffix(".png"))


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = [curve["in_set"][t]["rate"] for t in curve["in_set"]]
    for group, label in (
        ("out_of_set_never_trained", "other languages, never trained"),
        ("out_of_set_trained_as_negatives", "other languages, trained as negatives"),
        ("nonspeech", "non-speech (VAD let through)"),
    ):
        ax.plot(x, [curve[group][t]["rate"] for t in curve[group]], marker=".", label=label)
    t = "0.5"
    ax.scatter(
        [curve["in_set"][t]["rate"]],
        [curve["out_of_set"][t]["rate"]],
        s=150,
        facecolors="none",
        edgecolors="k",
        label="shipped rule, all other languages (p(none) ≥ 0.5)",
        zorder=3,
    )
    ax.axvline(0.05, color="grey", ls=":", lw=1)
    ax.axhline(0.8, color="grey", ls=":", lw=1)
    ax.set_xlabel("in-set speech called 'none of the languages' (false rejections)")
    ax.set_ylabel("called 'none of the languages'")
    ax.set_title(f"Open set on whole {result['split']} clips, thresholds on p(none) 0.05–0.95")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

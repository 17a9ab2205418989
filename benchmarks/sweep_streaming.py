"""Sweep window, hop, min-window and smoothing settings on conversations; choose the defaults by a rule.

    python benchmarks/sweep_streaming.py --out benchmarks/results/sweep_v4.json      # GPU: minutes

Streams run as a user's do by default: every language of the model, and its open set. Two sets of
conversations in the core six languages (one language, A→B and A→B→A; clips joined with pauses):
- tune: clips of the speakers the model's training run held out (its config.json), train split;
- dev: dev-split clips, never used to choose.
The rule, applied to the tune set only: of the settings with the open set on (the product promises
"none of my languages"; the closed-set rows are kept to show what it costs) and the sparsest adaptive
analysis swept (the rows that analyse every hop are kept to show what it costs), those within 0.02 of the
best fraction of speech time decided right; of them the one with the fewest false switches; ties go to
the earlier first decision. The dev
rows of every setting are written beside the tune rows, to check the choice.

Window scores are cached per (window, hop, min-window); the smoothing settings then run in parallel
processes that only read the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
from tqdm import tqdm

from streamlid.core.languages import CORE
from streamlid.core.stream import LanguageStream, StreamOptions, replace_options
from streamlid.evaluation.conversations import Conversation, Score, benchmark_conversations, read_clips
from streamlid.model.classifier import Classifier

KEYS = (
    "window",
    "hop",
    "min_window",
    "steady_hop",
    "switch_prob",
    "evidence_weight",
    "confident",
    "recent_weight",
    "unknown",
    "unknown_confident",
)


class CachedClassifier:
    def __init__(self, classifier: Classifier) -> None:
        self.inner, self.languages, self.cache = classifier, classifier.languages, {}
        self.open_set = classifier.open_set

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        keys = [hashlib.blake2b(w.tobytes(), digest_size=16).digest() for w in windows]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            if _WORK.get("frozen"):  # a forked worker must not touch the GPU
                raise RuntimeError(f"{len(missing)} windows were not scored when the cache was filled")
            for i, lp in zip(missing, self.inner.log_probs([windows[i] for i in missing]), strict=True):
                self.cache[keys[i]] = lp
        return np.stack([self.cache[k] for k in keys])


# what the forked workers read (set before the pool starts; copied on write, never sent)
_WORK: dict = {}


def _score(setting: dict) -> dict:
    options = replace_options(StreamOptions(), **setting)
    out = {}
    for name, convs in _WORK["sets"].items():
        score, analysed, skipped = Score(), 0, 0
        for conv in convs:
            stream = LanguageStream(_WORK["scorer"], options=options)
            score.add(conv, stream.run(conv.audio))
            analysed, skipped = analysed + stream.stats.windows, skipped + stream.stats.skipped_windows
        out[name] = {**score.summary(), "analysed_fraction": round(analysed / max(analysed + skipped, 1), 4)}
    return out


def choose(rows: list[dict]) -> dict:
    cheapest = max(r["steady_hop"] for r in rows)
    tune = [r for r in rows if r["set"] == "tune" and r["unknown"] is not False and r["steady_hop"] == cheapest]
    best = max(r["correct_fraction"] for r in tune)
    near = [r for r in tune if r["correct_fraction"] >= best - 0.02]
    return min(near, key=lambda r: (r["false_switches_per_10min"], r["first_decision_p50"] or np.inf))


def tune_clips(config: Path, manifests: list[Path], languages: list[str]) -> dict[str, list[Path]]:
    held = set(json.loads(config.read_text())["data"]["val_speakers"])
    clips: dict[str, list[Path]] = {}
    for m in manifests:
        for lang, paths in read_clips(m, "train", languages, held).items():
            clips[lang] = clips.get(lang, []) + paths
    return clips


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"))
    p.add_argument("--synth-manifest", type=Path, default=Path("../shared/data/synth/manifest.csv"))
    p.add_argument("--tune-config", type=Path, default=Path("models/training/streamlid-v3/config.json"))
    p.add_argument("--model", default=None)
    p.add_argument("--compute", default="auto")
    p.add_argument("--conversations-of", default=",".join(CORE), help="the languages the conversations speak")
    p.add_argument("--conversations", type=int, default=40, help="of each kind (1, 2 and 3 stretches) per set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=mp.cpu_count())
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep.json"))
    p.add_argument(
        "--windows",
        nargs="+",
        default=["2,0.25,0.5", "3,0.25,0.5", "3,0.25,1"],
        help="window,hop,min_window triples",
    )
    p.add_argument("--switch-prob", nargs="+", type=float, default=[0.03, 0.1, 0.3])
    p.add_argument("--evidence-weight", nargs="+", type=float, default=[0.5, 1.0])
    p.add_argument("--confident", nargs="+", type=float, default=[0.7, 0.8])
    p.add_argument("--recent-weight", nargs="+", type=float, default=[1.0, 10.0])
    p.add_argument("--steady-hop", nargs="+", type=float, default=[1.0, 0.0], help="0: analyse every hop")
    p.add_argument(
        "--unknown-confident",
        nargs="+",
        type=float,
        default=[0.9, 0.98],
        help="open set on, with these thresholds for deciding 'none of the languages'; and once off",
    )
    p.add_argument("--no-plot", action="store_true", help="write the JSON only (a machine without matplotlib)")
    p.add_argument("--replot", action="store_true", help="only draw the plot of an existing --out")
    args = p.parse_args()
    if args.replot:
        result = json.loads(args.out.read_text())
        plot(result["rows"], result["chosen"], args.out.with_suffix(".png"))
        return

    classifier = Classifier.load(args.model, args.compute)
    langs = [c for c in args.conversations_of.split(",") if c in classifier.languages]
    sets: dict[str, list[Conversation]] = {
        "tune": benchmark_conversations(
            tune_clips(args.tune_config, [args.manifest, args.synth_manifest], langs), args.conversations, args.seed
        ),
        "dev": benchmark_conversations(read_clips(args.manifest, "dev", langs), args.conversations, args.seed),
    }
    for name, convs in sets.items():
        print(f"{name}: {len(convs)} conversations, {sum(c.duration for c in convs) / 60:.1f} min")
    open_set = [{"unknown": None, "unknown_confident": u} for u in args.unknown_confident]
    open_set += [{"unknown": False, "unknown_confident": StreamOptions().smoothing.unknown_confident}]
    grid = (args.steady_hop, args.switch_prob, args.evidence_weight, args.confident, args.recent_weight, open_set)
    smoothing = [
        {"steady_hop": h, "switch_prob": s, "evidence_weight": w, "confident": c, "recent_weight": r, **u}
        for h, s, w, c, r, u in itertools.product(*grid)
    ]
    rows = []
    for triple in args.windows:
        window, hop, min_window = map(float, triple.split(","))
        scorer = CachedClassifier(classifier)
        options = replace_options(StreamOptions(), window=window, hop=hop, min_window=min_window, steady_hop=0)
        _WORK["frozen"] = False
        for convs in sets.values():  # fill the cache: every window of this triple, scored once
            for conv in convs:
                LanguageStream(scorer, options=options).run(conv.audio)
        _WORK.update(scorer=scorer, sets=sets, frozen=True)
        settings = [{"window": window, "hop": hop, "min_window": min_window, **s} for s in smoothing]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with mp.get_context("fork").Pool(args.workers) as pool:
            results = pool.imap(_score, settings)
            for i, (setting, result) in enumerate(
                tqdm(zip(settings, results, strict=True), total=len(settings), desc=triple)
            ):
                rows += [{"set": name, **setting, **summary} for name, summary in result.items()]
                if i % args.workers == args.workers - 1:  # a cut-short run keeps these
                    args.out.with_suffix(".partial.json").write_text(json.dumps({"rows": rows}))
    chosen = choose(rows)
    key = tuple(chosen[k] for k in KEYS)
    dev = next(r for r in rows if r["set"] == "dev" and tuple(r[k] for k in KEYS) == key)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "rule": __doc__.split("The rule, ")[1].split("\n\n")[0],
                "chosen": chosen,
                "chosen_on_dev": dev,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(json.dumps({"chosen": chosen, "dev": dev}, indent=1))
    if not args.no_plot:
        plot(rows, chosen, args.out.with_suffix(".png"))


def plot(rows: list[dict], chosen: dict, path: Path) -> None:
    """Right-decision time against false switches, one point per setting and set; the chosen ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, name in zip(axes, ("tune", "dev"), strict=True):
        pts = [r for r in rows if r["set"] == name]
        for window in sorted({r["window"] for r in pts}):
            for closed, marker in ((False, "o"), (True, "x")):
                sel = [r for r in pts if r["window"] == window and (r["unknown"] is False) == closed]
                label = f"window {window:g} s, " + ("closed set" if closed else "open set")
                ax.scatter(
                    [r["false_switches_per_10min"] for r in sel],
                    [r["correct_fraction"] for r in sel],
                    label=label,
                    s=14,
                    alpha=0.7,
                    marker=marker,
                    color=f"C{int(window)}",
                )
        mine = [r for r in pts if all(r[k] == chosen[k] for k in KEYS)]
        for r in mine:
            ax.scatter(
                r["false_switches_per_10min"],
                r["correct_fraction"],
                s=160,
                facecolors="none",
                edgecolors="k",
                label="chosen (on tune)",
            )
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("false switches per 10 min of one-language speech")
        ax.set_title(f"{name}: {'held-out training speakers' if name == 'tune' else 'dev split (check)'}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of speech time with the right decision")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

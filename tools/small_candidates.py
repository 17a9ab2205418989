"""The candidates for streamlid-v3-small side by side: size, CPU ms per 1-s window (one thread), held-out-
source score (the selection metric: the runs with whole sources held out, tools/recipes_small.txt) and dev
accuracy at 1 and 3 s (`streamlid evaluate` reports), as a JSON table and the accuracy-against-cost plot.

    python tools/small_candidates.py OUT.json NAME=MODEL,EVAL_DIR,HELDOUT_SCORE ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from streamlid.evaluation.bench import cpu_ms_per_window
from streamlid.model.classifier import Classifier


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("candidates", nargs="+", metavar="NAME=MODEL,EVAL_DIR,HELDOUT_SCORE")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for spec in args.candidates:
        name, _, rest = spec.partition("=")
        model, eval_dir, heldout = rest.split(",")
        classifier = Classifier.load(model, "cpu")
        core = json.loads((Path(eval_dir) / "report.json").read_text())["systems"]["streamlid"]["sets"]["core6"]
        rows.append(
            {
                "name": name,
                "parameters": sum(t.numel() for t in classifier.model.parameters()),
                "cpu_ms_1s": round(cpu_ms_per_window(classifier, 1.0), 2),
                "heldout_source_score": float(heldout) if heldout else None,
                "steps": classifier.info.training.get("steps"),
                **{
                    f"dev_{s}s": {k: core[f"{s}.0"][k] for k in ("accuracy", "ci95", "n_crops", "n_clips")}
                    for s in (1, 3)
                },
            }
        )
        print(json.dumps(rows[-1]))
    args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    plot(rows, args.out.with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import StrMethodFormatter

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for s, marker in ((1, "o"), (3, "s")):
        for r in rows:
            a = r[f"dev_{s}s"]
            lo, hi = a["accuracy"] - a["ci95"][0], a["ci95"][1] - a["accuracy"]
            ax.errorbar(r["cpu_ms_1s"], a["accuracy"], yerr=[[lo], [hi]], fmt=marker, capsize=3,
                        color="tab:blue" if s == 1 else "tab:orange", label=f"{s}-s window" if r is rows[0] else None)  # fmt: skip
            if s == 3:
                ax.annotate(r["name"], (r["cpu_ms_1s"], a["accuracy"]), textcoords="offset points", xytext=(5, 5))
    ax.axvline(5, color="tab:red", ls="--", lw=1, label="≤ 5 ms target")
    ax.axhline(0.85, color="tab:blue", ls=":", lw=1, label="≥ 85% at 1 s")
    ax.axhline(0.95, color="tab:orange", ls=":", lw=1, label="≥ 95% at 3 s")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.xaxis.set_minor_formatter(StrMethodFormatter("{x:g}"))
    ax.set_xlabel("CPU ms per 1-s window, one thread (log)")
    ax.set_ylabel("dev accuracy, core six closed set")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()

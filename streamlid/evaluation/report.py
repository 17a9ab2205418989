"""The report of `streamlid evaluate`: markdown tables, plots and report.json from an evaluation result
(streamlid.evaluation.evaluate.evaluate's dict)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.languages import CORE


def _cell(m: dict) -> str:
    if not m.get("n_crops"):
        return "–"
    lo, hi = m["ci95"]
    return f"{m['accuracy']:.3f} [{lo:.2f}–{hi:.2f}]"


def summary_tables(result: dict) -> str:
    """The accuracy tables (one per closed set) and the CPU-time table, in markdown."""
    systems = list(result["systems"])
    first = result["systems"][systems[0]]["sets"]
    lines = []
    for name, by_dur in first.items():
        n_lang = len(CORE) if name == "core6" else len(result["languages"])
        title = "Core six" if name == "core6" else "All languages"
        lines += [f"### {title} (closed set over {n_lang} languages)", ""]
        head = "| window | n crops (clips) |" + "".join(f" {s} accuracy [95% CI] | macro-F1 | ECE |" for s in systems)
        lines += [head, "|---|---|" + "---|---|---|" * len(systems)]
        for d, m in by_dur.items():
            row = f"| {float(d):g} s | {m['n_crops']} ({m['n_clips']}) |"
            for s in systems:
                ms = result["systems"][s]["sets"][name][d]
                if ms.get("n_crops"):
                    row += f" {_cell(ms)} | {ms['macro_f1']:.3f} | {ms['ece']:.3f} |"
                else:
                    row += " – | – | – |"
            lines.append(row)
        lines.append("")
    threads = ", ".join(f"{s} {n}" for s, n in result.get("threads", {}).items())
    lines += [f"### CPU time per decision (ms, `time.process_time`, one window per call; threads: {threads})", ""]
    lines += ["| window |" + "".join(f" {s} |" for s in systems), "|---|" + "---|" * len(systems)]
    for d in first["all"]:
        cells = [result["systems"][s]["cpu_ms_per_decision"][d] for s in systems]
        lines.append(f"| {float(d):g} s |" + "".join(" – |" if c is None else f" {c:.1f} |" for c in cells))
    return "\n".join(lines) + "\n"


def per_language_table(result: dict, name: str) -> str:
    """Per-language recall by window: `correct/n` for each system."""
    systems = list(result["systems"])
    by_dur = result["systems"][systems[0]]["sets"][name]
    langs = sorted({lang for m in by_dur.values() for lang in m.get("per_language", {})})
    lines = ["| language |" + "".join(f" {float(d):g} s |" for d in by_dur), "|---|" + "---|" * len(by_dur)]
    for lang in langs:
        row = f"| {lang} |"
        for d in by_dur:
            cells = []
            for s in systems:
                pl = result["systems"][s]["sets"][name][d].get("per_language", {}).get(lang)
                cells.append(f"{pl['correct']}/{pl['n']}" if pl else "–")
            row += " " + " · ".join(cells) + " |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def markdown_report(result: dict, plots: list[str]) -> str:
    c, systems = result["clips"], list(result["systems"])
    lines = [
        f"# streamlid evaluation: {result.get('model', 'model')} on {result.get('manifest', 'manifest')}"
        + (f" (split {result['split']})" if result.get("split") else ""),
        "",
        f"- Model: {result.get('model', 'model')}, weights sha256 {result.get('model_sha256', '?')}…,"
        f" {len(result['languages'])} languages: {' '.join(result['languages'])}.",
        f"- Clips: {c['in_manifest']} in the split; {c['unknown_language']} of languages the model does not know"
        f" (skipped); {c['over_cap']} over --max-clips-per-language; {len(c['unreadable'])} unreadable (skipped);"
        f" {c['evaluated']} evaluated.",
        f"- Crops: up to {result['options']['crops_per_clip']} per clip and window length from the VAD speech,"
        f" seed {result['options']['seed']}; clips with less speech than the window are left out of that row"
        f" ({', '.join(f'{float(d):g} s: {n}' for d, n in c['too_short'].items())}).",
        "- Accuracy with a 95% bootstrap interval over clips; macro-F1 over the languages that have clips;"
        f" ECE over {result['options']['ece_bins']} confidence bins; closed-set posteriors renormalised.",
        f"- Systems: {', '.join(systems)}. Per-language cells read `correct/n` as " + " · ".join(systems) + ".",
    ]
    if result.get("peer_uncovered_languages"):
        lines.append(f"- {systems[1]} has no output for: {' '.join(result['peer_uncovered_languages'])}.")
    lines += ["", "## Accuracy by window length", "", summary_tables(result)]
    lines += [f"![{p}]({p})" for p in plots] + [""]
    sets = result["systems"]["streamlid"]["sets"]
    for name, title in (("core6", "Core six"), ("all", "All languages")):
        if name in sets:
            lines += [
                f"## Per language, {title.lower()} (recall, correct/n crops)",
                "",
                per_language_table(result, name),
            ]
    lines += ["## Most frequent confusions, all languages (true → predicted: crops)", ""]
    for s in systems:
        for d, m in result["systems"][s]["sets"]["all"].items():
            pairs = ", ".join(f"{t}→{p}: {n}" for t, p, n in m.get("top_confusions", []))
            lines.append(f"- {s}, {float(d):g} s: {pairs or '–'}")
    if c["unreadable"]:
        lines += ["", "## Unreadable clips", ""] + [f"- {e}" for e in c["unreadable"]]
    return "\n".join(lines) + "\n"


def plot_accuracy(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(result["systems"]["streamlid"]["sets"])
    fig, axes = plt.subplots(1, len(sets), figsize=(4.5 * len(sets), 3.6), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        for s, sys_result in result["systems"].items():
            pts = [(float(d), m) for d, m in sys_result["sets"][name].items() if m.get("n_crops")]
            x = np.array([d for d, _ in pts])
            y = np.array([m["accuracy"] for _, m in pts])
            err = np.abs(np.array([m["ci95"] for _, m in pts]).T - y)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=s)
        n_clips = max((m["n_clips"] for m in result["systems"]["streamlid"]["sets"][name].values()), default=0)
        n_lang = len(CORE) if name == "core6" else len(result["languages"])
        ax.set_title(f"{'core six' if name == 'core6' else 'all'}: {n_lang} languages, ≤{n_clips} clips")
        ax.set_xlabel("window (s of speech)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (95% CI)")
    axes[0][0].legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(result: dict, duration: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = [s for s in result["systems"] if "confusion" in result["systems"][s]["sets"]["core6"][duration]]
    fig, axes = plt.subplots(1, len(systems), figsize=(4.2 * len(systems), 3.9), squeeze=False)
    for ax, s in zip(axes[0], systems, strict=True):
        conf = result["systems"][s]["sets"]["core6"][duration]["confusion"]
        m = np.array(conf["counts"], dtype=float)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i, j in np.ndindex(m.shape):
            if m[i, j]:
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8, color=color)
        ax.set_xticks(range(len(conf["labels"])), conf["labels"])
        ax.set_yticks(range(len(conf["labels"])), conf["labels"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{s}, {float(duration):g} s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _rounded(obj, digits: int = 4):
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v, digits) for v in obj]
    return obj


def write_report(result: dict, out: Path) -> str:
    """report.json, report.md and the PNGs into `out`; returns the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    plots = ["accuracy_vs_duration.png"]
    plot_accuracy(result, out / plots[0])
    if "core6" in result["systems"]["streamlid"]["sets"]:
        for d, m in result["systems"]["streamlid"]["sets"]["core6"].items():
            if m.get("n_crops"):
                plots.append(f"confusion_core6_{float(d):g}s.png")
                plot_confusion(result, d, out / plots[-1])
    text = json.dumps(_rounded(result), indent=1, ensure_ascii=False)
    (out / "report.json").write_text(text + "\n", encoding="utf-8")
    md = markdown_report(result, plots)
    (out / "report.md").write_text(md, encoding="utf-8")
    return md

"""Accuracy, macro-F1 and calibration by window length on a manifest split.

Every clip's speech (VAD-gated) gives up to `crops_per_clip` crops per window length, spread evenly with
a seeded jitter. Each crop is scored in two closed sets: the core six (eng deu fra spa cmn rus; the
posteriors renormalised over those six, their clips only) and all of the model's languages (clips of
languages the model does not know are skipped and counted). With a peer (Whisper-base) the same crops
go through it too. Confidence intervals are 95% bootstrap intervals over clips (crops of one clip are
not independent).
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.audio import SAMPLE_RATE, AudioError, load_mono_16k
from ..core.languages import CORE
from ..core.vad import speech_only
from ..model.classifier import Classifier
from ..model.features import seconds_to_samples
from ..training.manifest import read_manifest as read_clip_manifest
from .metrics import accuracy, bootstrap_ci, confusion, expected_calibration_error, macro_f1, per_label_f1
from .peer import PeerCache

DURATIONS = (0.5, 1.0, 2.0, 3.0, 5.0)
MIN_CROP_SHIFT = SAMPLE_RATE // 4  # crops of one clip start at least ~0.25 s apart on average


class EvalError(Exception):
    """Bad input to the evaluation (manifest, split, options); the message is one line."""


@dataclass(frozen=True)
class EvalOptions:
    durations: tuple[float, ...] = DURATIONS
    crops_per_clip: int = 3
    seed: int = 0
    max_clips_per_language: int | None = None
    bootstrap: int = 1000
    ece_bins: int = 15


# ---------------------------------------------------------------------------------------------- input


def read_manifest(path: str | Path, split: str | None = None, root: str | Path | None = None) -> list[dict]:
    """Manifest rows of one split (the rule of streamlid.training.manifest: no split column means train) as dicts
    with an absolute `path`, `language`, `speaker`, `split` and `source`."""
    try:
        clips = read_clip_manifest(path, root)
    except (OSError, ValueError) as e:
        raise EvalError(str(e)) from None
    rows = [
        {"path": str(c.path), "language": c.language, "speaker": c.speaker, "split": c.split, "source": c.source}
        for c in clips
        if split is None or c.split == split
    ]
    if not rows:
        raise EvalError(f"{path}: no rows" + (f" for split {split!r}" if split is not None else ""))
    return rows


def crop_starts(n_speech: int, n_window: int, count: int, rng: np.random.Generator) -> list[int]:
    """Up to `count` window starts spread evenly over the speech: one random start in each of `count`
    equal strata of the possible starts. None if the speech is shorter than the window."""
    span = n_speech - n_window
    if span < 0:
        return []
    count = min(count, 1 + span // MIN_CROP_SHIFT)
    edges = np.linspace(0, span, count + 1)
    return [int(lo + rng.random() * (hi - lo)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def clip_crops(speech: np.ndarray, clip_key: str, options: EvalOptions) -> dict[float, list[np.ndarray]]:
    """Window length -> crops of one clip's speech; the same for the same clip key (file name) and seed."""
    crops = {}
    for d in options.durations:
        n = seconds_to_samples(d)
        rng = np.random.default_rng([options.seed, zlib.crc32(clip_key.encode()), n])
        crops[d] = [speech[s : s + n] for s in crop_starts(len(speech), n, options.crops_per_clip, rng)]
    return crops


def cap_per_language(rows: list[dict], cap: int | None, seed: int) -> list[dict]:
    """At most `cap` clips of each language, a seeded sample, manifest order kept."""
    if cap is None:
        return rows
    rng = np.random.default_rng(seed)
    by_language: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_language.setdefault(r["language"], []).append(i)
    keep = set()
    for lang in sorted(by_language):
        idx = by_language[lang]
        keep.update(idx if len(idx) <= cap else rng.choice(idx, cap, replace=False).tolist())
    return [r for i, r in enumerate(rows) if i in keep]


# --------------------------------------------------------------------------------------- evaluation


def score(probs: np.ndarray, languages: list[str], labels: np.ndarray, clips: np.ndarray, subset: list[str],
          options: EvalOptions) -> dict:  # fmt: skip
    """Closed-set metrics over `subset`: crops of those languages, posteriors renormalised over them."""
    keep = np.isin(labels, subset)
    p = probs[keep][:, [languages.index(lang) for lang in subset]].astype(np.float64)
    p /= np.maximum(p.sum(axis=1, keepdims=True), 1e-30)
    y_true = np.array([subset.index(lang) for lang in labels[keep]], dtype=np.int64)
    y_pred = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=np.int64)
    correct = y_true == y_pred
    out = {"n_crops": int(keep.sum()), "n_clips": len(set(clips[keep].tolist()))}
    if not out["n_crops"]:
        return out
    out["accuracy"] = accuracy(y_true, y_pred)
    out["ci95"] = bootstrap_ci(correct, clips[keep], options.bootstrap, options.seed)
    out["macro_f1"] = macro_f1(y_true, y_pred)
    out["ece"] = expected_calibration_error(p.max(axis=1), correct, options.ece_bins)
    f1 = per_label_f1(y_true, y_pred, np.unique(y_true))
    out["per_language"] = {
        subset[i]: {"n": int(np.sum(y_true == i)), "correct": int(np.sum(correct & (y_true == i))),
                    "precision": pr, "recall": rc, "f1": f}
        for i, (pr, rc, f) in f1.items()
    }  # fmt: skip
    m = confusion(y_true, y_pred, len(subset))
    if len(subset) <= len(CORE):
        out["confusion"] = {"labels": subset, "counts": m.tolist()}
    np.fill_diagonal(m, 0)
    top = np.argsort(m, axis=None)[::-1][:10]
    out["top_confusions"] = [
        [subset[i], subset[j], int(m[i, j])] for i, j in zip(*np.unravel_index(top, m.shape), strict=True) if m[i, j]
    ]
    return out


def evaluate(rows: list[dict], classifier: Classifier, options: EvalOptions | None = None, peer=None,
             peer_cache: Path | None = None, progress: bool = False) -> dict:  # fmt: skip
    """Evaluate `classifier` (and `peer`, anything with `name` and `probs_iso639_3(x) -> {code: p}`) on the
    crops of the manifest rows (dicts with an absolute `path` and a `language`). Returns the report dict."""
    from tqdm import tqdm

    options = options or EvalOptions()
    languages = list(classifier.languages)
    core = [lang for lang in CORE if lang in languages]
    unknown = Counter(r["language"] for r in rows if r["language"] not in languages)
    known = [r for r in rows if r["language"] in languages]
    rows = cap_per_language(known, options.max_clips_per_language, options.seed)
    cache = PeerCache(peer_cache)
    systems = ["streamlid"] + ([peer.name] if peer is not None else [])
    probs: dict[str, list[np.ndarray]] = {s: [] for s in systems}
    cpu: dict[str, list[float]] = {s: [] for s in systems}
    labels, clips, durs = [], [], []
    unreadable, too_short = [], Counter()
    for clip_id, row in enumerate(tqdm(rows, desc="evaluate", unit="clip", disable=not progress)):
        try:
            speech = speech_only(load_mono_16k(row["path"]))
        except AudioError as e:
            unreadable.append(str(e))
            continue
        for d, crops in clip_crops(speech, Path(row["path"]).name, options).items():
            too_short[d] += not crops
            for crop in crops:
                t0 = time.process_time()
                # closed-set scores: the open set's "none of them" is measured by benchmarks/open_set_curve.py
                p = np.exp(classifier.log_probs([crop])[0][: len(languages)])
                probs["streamlid"].append(p / p.sum())
                cpu["streamlid"].append(time.process_time() - t0)
                if peer is not None:
                    p, cpu_s = cache.decision(peer.name, crop, peer.probs_iso639_3)
                    probs[peer.name].append(np.array([p.get(lang, 0.0) for lang in languages]))
                    cpu[peer.name].append(cpu_s)
                labels.append(row["language"])
                clips.append(clip_id)
                durs.append(d)
    labels_a, clips_a, durs_a = np.array(labels, dtype=object), np.array(clips), np.array(durs)
    result = {
        "options": asdict(options),
        "threads": {
            "streamlid": torch.get_num_threads(),
            **({peer.name: getattr(peer, "threads", None)} if peer else {}),
        },
        "languages": languages,
        "clips": {
            "in_manifest": len(known) + sum(unknown.values()),
            "evaluated": len(rows) - len(unreadable),
            "unknown_language": sum(unknown.values()),
            "over_cap": len(known) - len(rows),
            "unknown_languages": dict(sorted(unknown.items())),
            "unreadable": unreadable,
            "too_short": {str(d): too_short[d] for d in options.durations},
        },
        "systems": {},
    }
    sets = {"core6": core, "all": languages}
    for s in systems:
        p_all = np.array(probs[s]).reshape(len(labels), len(languages))
        t_all = np.array(cpu[s])
        result["systems"][s] = {
            "cpu_ms_per_decision": {
                str(d): float(1000 * t_all[durs_a == d].mean()) if np.any(durs_a == d) else None
                for d in options.durations
            },
            "sets": {
                name: {str(d): score(p_all[durs_a == d], languages, labels_a[durs_a == d], clips_a[durs_a == d],
                                     subset, options) for d in options.durations}
                for name, subset in sets.items() if subset
            },
        }  # fmt: skip
    if peer is not None:
        seen = np.array(probs[peer.name]).reshape(len(labels), len(languages)).any(axis=0)
        result["peer_uncovered_languages"] = [lang for lang, ok in zip(languages, seen, strict=True) if not ok]
    return result


if __name__ == "__main__":  # the command line lives in the cli layer, which the library does not import
    raise SystemExit("this is the library; evaluate with `streamlid evaluate` or `python -m streamlid evaluate`")

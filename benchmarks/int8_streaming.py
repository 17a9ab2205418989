"""Streaming quality and CPU of `--int8` against float32, with `listen`'s defaults, on the sweep's dev set.

The sweep's dev conversations (core six, 40 each of one language, A→B and A→B→A; dev-split clips) run
through `LanguageStream` once per form on one thread; the scores are the sweep's, the CPU is process time.
The fraction of speech time decided right gets a 95% interval, and int8's difference from float32 a
paired one, both resampling whole conversations.

    python benchmarks/int8_streaming.py --out benchmarks/results/streaming_int8_v4.json    # CPU: ~10 min
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from streamlid.core.languages import CORE
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.evaluation.conversations import Score, benchmark_conversations, read_clips
from streamlid.model.classifier import Classifier


def intervals(right: dict[str, np.ndarray], speech: np.ndarray, n: int = 2000) -> dict:
    """95% percentile intervals of each form's right fraction and of int8 - float32, conversations resampled."""
    sample = np.random.default_rng(0).integers(0, speech.size, size=(n, speech.size))
    total = speech[sample].sum(axis=1)
    frac = {k: v[sample].sum(axis=1) / total for k, v in right.items()}
    out = {k: [round(float(x), 4) for x in np.percentile(f, [2.5, 97.5])] for k, f in frac.items()}
    out["int8_minus_fp32"] = [round(float(x), 4) for x in np.percentile(frac["int8"] - frac["fp32"], [2.5, 97.5])]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"))
    p.add_argument("--model", default=None, help="a model name or path (default: the shipped default)")
    p.add_argument("--conversations", type=int, default=40, help="of each kind (1, 2 and 3 stretches)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the results here (JSON)")
    args = p.parse_args()
    torch.set_num_threads(1)
    forms = {
        "fp32": Classifier.load(args.model, "cpu", int8=False),
        "int8": Classifier.load(args.model, "cpu", int8=True),
    }
    langs = [c for c in CORE if c in forms["fp32"].languages]
    convs = benchmark_conversations(read_clips(args.manifest, "dev", langs), args.conversations, args.seed)
    result, right, speech = {}, {}, np.zeros(len(convs))
    for name, classifier in forms.items():
        score, analysed, start = Score(), 0, time.process_time()
        right[name] = np.zeros(len(convs))
        for i, conv in enumerate(tqdm(convs, desc=name)):
            stream = LanguageStream(classifier, options=StreamOptions())
            before = score.correct_seconds, score.speech_seconds
            score.add(conv, stream.run(conv.audio))
            right[name][i], speech[i] = score.correct_seconds - before[0], score.speech_seconds - before[1]
            analysed += stream.stats.windows
        cpu = time.process_time() - start
        audio = sum(c.duration for c in convs)
        result[name] = {
            **score.summary(),
            "windows": analysed,
            "cpu_s": round(cpu, 1),
            "cpu_s_per_audio_s": round(cpu / audio, 4),
        }
        print(name, json.dumps(result[name]))
    result["correct_fraction_ci95"] = intervals(right, speech)
    print(json.dumps(result["correct_fraction_ci95"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

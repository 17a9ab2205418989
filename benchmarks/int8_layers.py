"""Which Linear layers `--int8` can quantise: the speech check's rejection of distant dev speech
(benchmarks/speech_check.py's "distant" windows, 1, 2 and 3 s, n = 947 for v4) with all but the given
layers in dynamic int8 (one weight scale per output channel), and CPU ms per 2-s window on one thread.

    python benchmarks/int8_layers.py "nothing;blocks.3.mlp.2;blocks.3.mlp.2,step.;mlp.2"   # CPU: ~2 min each

Each ';'-separated item is a set of ','-separated name parts whose layers stay in float32 ("nothing": all
in int8). v4: all in int8 rejects 126/947; block 3's mlp.2 alone in int8 rejects 100; float32 18.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from speech_check import SECONDS, distant
from torch import nn
from tqdm import tqdm

from streamlid.core.audio import load_mono_16k
from streamlid.core.stream import StreamOptions
from streamlid.core.vad import speech_only
from streamlid.evaluation.bench import cpu_ms_per_window
from streamlid.evaluation.evaluate import EvalOptions, clip_crops, read_manifest
from streamlid.model.classifier import Classifier
from streamlid.model.int8 import quantized_int8


def distant_windows(manifest: Path) -> list[list[np.ndarray]]:
    """speech_check.speech_side's distant windows, from the same random draws (only they draw)."""
    rng = np.random.default_rng(0)
    out = []
    for r in tqdm(read_manifest(manifest, "dev"), desc="dev speech"):
        crops = clip_crops(speech_only(load_mono_16k(r["path"])), Path(r["path"]).name, EvalOptions(SECONDS, 1, 0))
        for windows in crops.values():
            if windows:
                out.append([distant(w, rng) for w in windows])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("keep", help="';'-separated sets of ','-separated layer-name parts kept in float32")
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"))
    args = p.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    groups = distant_windows(args.manifest)
    classifier = Classifier.load(None, "cpu", int8=False)
    fp32 = classifier.model
    linear = [n for n, m in fp32.named_modules() if isinstance(m, nn.Linear)]
    for keep in ["float32", *args.keep.split(";")]:
        kept = tuple(n for n in linear if any(part in n for part in keep.split(",")))
        classifier.model = fp32 if keep == "float32" else quantized_int8(fp32, kept)
        torch.set_num_threads(1)
        ms = cpu_ms_per_window(classifier, 2.0, reps=10)
        torch.set_num_threads(2)
        rejected = sum(
            int((np.exp(classifier.log_probs(ws)[:, -1]) >= StreamOptions().no_speech).sum()) for ws in groups
        )
        n = sum(map(len, groups))
        what = "all in float32" if keep == "float32" else f"{keep} in float32, {len(linear) - len(kept)} layers in int8"
        print(f"{what}: {rejected}/{n} called non-speech, "
              f"{ms:.1f} ms CPU per 2-s window")  # fmt: skip


if __name__ == "__main__":
    main()

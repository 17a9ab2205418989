"""Weight-space interpolation between Whisper's pretrained language step and a model adapted from it
(WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot models", 2022): weights
(1 - alpha) * pretrained + alpha * adapted, alpha chosen on the run's held-out speakers, never on dev.

    python tools/interpolate.py streamlid/models/streamlid-v4.safetensors \
        --encoder /work/w/whisper-base-encoder.safetensors --language-step /work/w/whisper-base-langid.safetensors \
        --training-config models/training/streamlid-v4/config.json --alphas 0.4 0.6 0.8 1.0 \
        --out runs/wise/model.safetensors --record models/training/streamlid-v4/interpolation.json

The adaptation buys short windows on the languages it saw and costs breadth on the others; mixing the
weights back towards the pretrained network keeps some of each. The score is `streamlid train`'s model
selection score (99-way accuracy averaged over 1, 2 and 3 s, macro over languages) on up to
`--per-language` clips of each held-out language. The model written keeps the adapted model's metadata
(its calibration must be refitted: tools/calibrate.py) with the interpolation recorded in `training`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from streamlid.model.architectures import pretrained_whisper_lid
from streamlid.model.format import load_model, save_model
from streamlid.training.data import Bank, load_cached
from streamlid.training.manifest import read_manifest
from streamlid.training.train import evaluate, score


def interpolated(pretrained: dict, adapted: dict, alpha: float) -> dict:
    """(1 - alpha) * pretrained + alpha * adapted for every floating-point tensor both have."""
    out = {}
    for k, v in adapted.items():
        if v.is_floating_point() and k in pretrained:
            out[k] = torch.lerp(pretrained[k].to(v.dtype), v, alpha)
        else:
            out[k] = v
    return out


def held_out_bank(run: dict, manifest: Path, synth_manifest: Path, languages: list[str], per_language: int,
                  seed: int) -> Bank:  # fmt: skip
    """Up to `per_language` clips of each language of the run's held-out speakers, decoded."""
    held = set(run["data"]["val_speakers"])
    clips = [c for c in read_manifest(manifest) if c.split == "train" and c.speaker in held]
    clips += [c for c in read_manifest(synth_manifest, synthetic=True) if c.split == "train" and c.speaker in held]
    by_lang = defaultdict(list)
    for c in clips:
        if c.language in languages:
            by_lang[c.language].append(c)
    rng = random.Random(seed)
    picked = [c for lang in sorted(by_lang) for c in rng.sample(by_lang[lang], min(per_language, len(by_lang[lang])))]
    return Bank(picked, load_cached(picked, None, workers=2, progress=True), languages, torch.device("cpu"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="the adapted model (a whisper-lid streamlid model)")
    p.add_argument(
        "--encoder", type=Path, required=True, help="Whisper-base's encoder (tools/convert_whisper_encoder.py)"
    )
    p.add_argument("--language-step", type=Path, required=True, help="Whisper-base's language step (the same tool)")
    p.add_argument(
        "--training-config", type=Path, required=True, help="the adapted run's config.json (held-out speakers)"
    )
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"))
    p.add_argument("--synth-manifest", type=Path, default=Path("../shared/data/synth/manifest.csv"))
    p.add_argument(
        "--alphas", type=float, nargs="+", default=[0.0, 0.4, 0.6, 0.8, 1.0], help="weights of the adapted model"
    )
    p.add_argument("--per-language", type=int, default=100, help="held-out clips per language")
    p.add_argument("--seconds", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    p.add_argument("--out", type=Path, help="write the best-scoring interpolation here")
    p.add_argument("--record", type=Path, help="write every alpha's held-out scores here (JSON)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if any(not 0.0 <= a <= 1.0 for a in args.alphas):
        sys.exit("interpolate.py: every alpha must lie in [0, 1]")

    model, info = load_model(args.model)
    if info.config.name != "whisper-lid":
        sys.exit(f"interpolate.py: {args.model} is a {info.config.name}; interpolation needs a whisper-lid model")
    base = pretrained_whisper_lid(args.encoder, args.language_step, padded=False).state_dict()
    adapted = {k: v.clone() for k, v in model.state_dict().items()}
    run = json.loads(args.training_config.read_text())
    bank = held_out_bank(run, args.manifest, args.synth_manifest, info.languages, args.per_language, args.seed)
    results = []
    for alpha in tqdm(args.alphas, desc="alphas"):
        model.load_state_dict(interpolated(base, adapted, alpha))
        metrics = evaluate(model, bank, tuple(args.seconds))
        row = {
            "alpha": alpha,
            "score": round(score(metrics), 4),
            **{k: {m: v[m] for m in ("macro", "core6_closed_macro")} for k, v in metrics.items()},
        }
        print(json.dumps(row), flush=True)
        results.append(row)
    best = max(results, key=lambda r: r["score"])
    record = {
        "command": "python tools/interpolate.py " + " ".join(sys.argv[1:]),
        "held_out": {"clips": len(bank), "languages": sorted({c.language for c in bank.clips})},
        "results": results,
        "chosen_alpha": best["alpha"],
    }
    if args.record:
        args.record.write_text(json.dumps(record, indent=1) + "\n")
    if args.out:
        model.load_state_dict(interpolated(base, adapted, best["alpha"]))
        training = {**info.training, "interpolation": {"alpha": best["alpha"], "with": "whisper-base pretrained"}}
        save_model(model, replace(info, training=training), args.out)
        print(f"wrote {args.out} (alpha {best['alpha']})")


if __name__ == "__main__":
    main()

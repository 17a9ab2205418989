"""Fit a model's calibration (temperature and open set, or the speech check) on speakers held out of its
training, and write it into the model's metadata.

    python tools/calibrate.py streamlid/models/streamlid-v3.safetensors \
        --training-config models/training/streamlid-v3/config.json --record models/training/streamlid-v3/calibration.json
    python tools/calibrate.py streamlid/models/streamlid-v4.safetensors --speech-check \
        --training-config models/training/streamlid-v4/config.json --record models/training/streamlid-v4/speech_check.json

In-set crops: the training run's validation speakers (held out of training) in the model's languages.
Out-of-set crops: training-split clips of every language the model does not output (those it was
trained on as negatives and those it never saw), and synthetic non-speech (streamlid.evaluation.nonspeech, seeds
other than the test set's 0; the recorded non-speech clips stay a test set). The temperature minimises in-set NLL; the open set is
a class-balanced, L2-regularised logistic regression on model.calibration.OPEN_SET_FEATURES. The dev split is never
read.

`--speech-check` keeps the temperature and open set and fits only the speech check (Whisper-LID models): a
logistic regression on the language step's final hidden state separating the held-out speakers' speech in every language
they have from the synthetic non-speech, its bias then moved so that at most `--speech-miss` of that speech
is called non-speech at the stream's default threshold.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from streamlid.core.audio import load_mono_16k
from streamlid.core.stream import StreamOptions
from streamlid.core.vad import speech_only
from streamlid.evaluation.evaluate import EvalOptions, clip_crops
from streamlid.evaluation.nonspeech import (
    BABBLE_TALKERS,
    DEFAULT_DIR,
    NonSpeechClip,
    babble_from_files,
    manifest_rows,
    recorded_clips,
    synthetic_clips,
)
from streamlid.model.architectures import WhisperLIDConfig
from streamlid.model.calibration import Calibration, open_set_features
from streamlid.model.classifier import Classifier, pick_device
from streamlid.model.format import ModelInfo, load_model, metadata_path
from streamlid.training.manifest import read_manifest

SECONDS = (0.5, 1.0, 2.0, 3.0)


def crop_logits(classifier: Classifier, clips: list, desc: str, per_length: int = 1) -> tuple[list, list, list, list]:
    """Raw logits of crops of what passes the VAD in each clip (a Clip, or a NonSpeechClip): (logits,
    language or kind, seconds, the language step's hidden state or None)."""
    logits, langs, secs, hidden = [], [], [], []
    model, device = classifier.model, classifier.device
    scores = getattr(model, "scores", lambda w: (model(w), None))
    with torch.inference_mode():
        for c in tqdm(clips, desc=desc):
            if isinstance(c, NonSpeechClip):
                speech, key = speech_only(c.audio), c.name
            else:
                speech, key = speech_only(load_mono_16k(c.path)), c.path.name
            crops = clip_crops(speech, key, EvalOptions(SECONDS, per_length, 0))
            for d, cs in crops.items():
                for w in cs:
                    z, h = scores(torch.from_numpy(w[None]).to(device))
                    logits.append(z[0].float().cpu().numpy())
                    hidden.append(None if h is None else h[0].float().cpu().numpy())
                    langs.append(c.kind if isinstance(c, NonSpeechClip) else c.language)
                    secs.append(d)
    return logits, langs, secs, hidden


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.exp())


def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float = 1e-3) -> tuple[list[float], float]:
    """Balanced logistic regression on standardised features; returns weights and bias on raw features."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    weight = torch.where(y > 0, 0.5 / y.sum(), 0.5 / (1 - y).sum())
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, y, reduction="none")
        loss = (weight * bce).sum() + l2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    raw_w = (w / sd).detach()
    return raw_w.tolist(), float(b.detach() - (raw_w * mu).sum())


def write_calibration(model_file: Path, calibration: Calibration) -> None:
    meta_file = metadata_path(model_file.with_suffix(".safetensors"))
    meta = json.loads(meta_file.read_text())
    meta["calibration"] = calibration.to_dict()
    meta_file.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def command() -> str:
    return "python tools/calibrate.py " + " ".join(sys.argv[1:])


def report(record: dict, path: Path | None) -> None:
    print(json.dumps(record, indent=1))
    if path:
        path.write_text(json.dumps(record, indent=1) + "\n")


def fit_speech_check(
    args: argparse.Namespace, model, info: ModelInfo, held_clips: list, other_clips: list, rng: random.Random
) -> None:
    """Fit and write the speech check: held-out speech (every language) against synthetic non-speech,
    recorded non-speech and babble of other training speakers."""
    if info.config.name != WhisperLIDConfig.name:
        raise SystemExit(f"the speech check needs Whisper's no-speech output; {args.model} is a {info.config.name}")
    classifier = Classifier(model, info, pick_device(args.compute), int8=False)
    by_lang = defaultdict(list)
    for c in held_clips:
        by_lang[c.language].append(c)
    speech = [
        c for lang in sorted(by_lang) for c in rng.sample(by_lang[lang], min(args.max_per_language, len(by_lang[lang])))
    ]
    if any(folder.resolve() == DEFAULT_DIR for folder in args.nonspeech_dir):
        raise SystemExit(f"{DEFAULT_DIR} is the non-speech test set: it is never fitted on")
    _, _, _, hs = crop_logits(classifier, speech, "held-out speech")
    noise = [c for seed in args.nonspeech_seeds for c in synthetic_clips(seed)]
    noise += [c for folder in args.nonspeech_dir for c in recorded_clips(folder)]
    real = [c for c in other_clips if not c.synthetic]
    voices = [c.path for c in rng.sample(real, min(100, len(real)))]
    noise += babble_from_files(voices, args.babble, seed=rng.randrange(2**31))
    _, kinds, _, hn = crop_logits(classifier, noise, "synthetic non-speech", per_length=3)
    x = torch.tensor(np.array(hs + hn))
    y = torch.cat([torch.zeros(len(hs)), torch.ones(len(hn))])
    weights, bias = fit_logistic(x, y, args.speech_l2)
    margin = x @ torch.tensor(weights)
    fitted_bias = bias
    bias = min(bias, -float(torch.quantile(margin[: len(hs)], 1 - args.speech_miss)))
    calibration = replace(info.calibration, no_speech_weights=tuple(weights), no_speech_bias=bias)
    write_calibration(args.model, calibration)
    p = torch.sigmoid(margin + bias)
    rejected = p >= StreamOptions().no_speech
    record = {
        "command": command(),
        "calibration": calibration.to_dict(),
        "fitted_bias": fitted_bias,
        "speech": {
            "clips": len(speech),
            "crops": len(hs),
            "speakers": len({c.speaker for c in speech}),
            "languages": sorted(by_lang),
            "called_non_speech": float(rejected[: len(hs)].float().mean()),
        },
        "nonspeech": {
            "clips": len(noise),
            "crops": len(hn),
            "seeds": args.nonspeech_seeds,
            "babble": {
                "clips": args.babble,
                "talkers": list(BABBLE_TALKERS),
                "voices": "training speakers not held out",
            },
            "recorded": {
                "folders": [str(folder) for folder in args.nonspeech_dir],
                "built_by": "python tools/nonspeech_fixtures.py --training DIR",
                "packages": sorted({row["package"] for folder in args.nonspeech_dir for row in manifest_rows(folder)}),
            },
            "called_speech": float((~rejected[len(hs) :]).float().mean()),
            "called_speech_by_kind": {
                k: float((~rejected[len(hs) :][[i for i, kk in enumerate(kinds) if kk == k]]).float().mean())
                for k in sorted(set(kinds))
            },
        },
    }
    report(record, args.record)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("--training-config", type=Path, required=True, help="the run's config.json (val speakers)")
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"))
    p.add_argument("--synth-manifest", type=Path, default=Path("../shared/data/synth/manifest.csv"))
    p.add_argument("--max-per-language", type=int, default=120, help="in-set clips per language")
    p.add_argument("--max-out", type=int, default=1500, help="out-of-set clips")
    p.add_argument("--nonspeech-seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6])
    p.add_argument("--record", type=Path, help="write the fit's numbers here (JSON)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compute", default="auto", help="where the model runs: auto (the GPU if there is one), cpu, cuda")
    p.add_argument("--speech-check", action="store_true", help="fit only the speech check, keep the rest")
    p.add_argument(
        "--speech-miss", type=float, default=0.005, help="most of the held-out speech the speech check may reject"
    )
    p.add_argument(
        "--nonspeech-dir",
        type=Path,
        nargs="*",
        default=[],
        help="recorded non-speech to fit on as well (tools/nonspeech_fixtures.py --training; never the test set)",
    )
    p.add_argument(
        "--babble", type=int, default=60, help="babble clips (6-12 talkers of other training speakers) to fit on"
    )
    p.add_argument("--speech-l2", type=float, default=0.1, help="the speech check's L2 penalty")
    args = p.parse_args()
    torch.set_num_threads(1)

    model, info = load_model(args.model)
    classifier = Classifier(model, replace(info, calibration=Calibration()), pick_device(args.compute), int8=False)
    run = json.loads(args.training_config.read_text())
    held = set(run["data"]["val_speakers"])
    trained = set(run["languages"])
    clips = [c for c in read_manifest(args.manifest) if c.split == "train"]
    clips += [c for c in read_manifest(args.synth_manifest, synthetic=True) if c.split == "train"]
    rng = random.Random(args.seed)
    if args.speech_check:
        held_clips = [c for c in clips if c.speaker in held]
        fit_speech_check(args, model, info, held_clips, [c for c in clips if c.speaker not in held], rng)
        return
    by_lang = defaultdict(list)
    for c in clips:
        if c.speaker in held and c.language in info.languages:
            by_lang[c.language].append(c)
    inset = [
        c for lang in sorted(by_lang) for c in rng.sample(by_lang[lang], min(args.max_per_language, len(by_lang[lang])))
    ]
    outset = [c for c in clips if c.language not in info.languages and not c.synthetic]
    outset = rng.sample(outset, min(args.max_out, len(outset)))

    li, yi, si, _ = crop_logits(classifier, inset, "in-set (held-out speakers)")
    lo, _, so, _ = crop_logits(classifier, outset, "out-of-set languages")
    noise = [c for seed in args.nonspeech_seeds for c in synthetic_clips(seed)]
    ln, _, sn, _ = crop_logits(classifier, noise, "synthetic non-speech", per_length=3)
    lo, so = lo + ln, so + sn
    zi = torch.tensor(np.array(li))
    labels = torch.tensor([info.languages.index(c) for c in yi])
    temperature = fit_temperature(zi, labels)

    def features(z: np.ndarray, secs: list[float]) -> torch.Tensor:
        z = torch.tensor(z)
        return torch.cat(
            [
                open_set_features(z[i : i + 1], torch.log_softmax(z[i : i + 1] / temperature, -1), s)
                for i, s in enumerate(secs)
            ]
        )

    x = torch.cat([features(np.array(li), si), features(np.array(lo), so)])
    y = torch.cat([torch.zeros(len(li)), torch.ones(len(lo))])
    weights, bias = fit_logistic(x, y)
    calibration = Calibration(temperature, tuple(weights), bias)

    write_calibration(args.model, calibration)
    with torch.no_grad():
        u = torch.sigmoid(x @ torch.tensor(weights) + bias)
    record = {
        "command": command(),
        "calibration": calibration.to_dict(),
        "in_set": {
            "clips": len(inset),
            "crops": len(li),
            "speakers": len({c.speaker for c in inset}),
            "languages": sorted(by_lang),
        },
        "out_of_set": {
            "clips": len(outset),
            "crops": len(lo) - len(ln),
            "languages": len({c.language for c in outset}),
            "trained_as_negatives": sorted({c.language for c in outset} & trained),
        },
        "nonspeech": {"clips": len(noise), "crops": len(ln), "seeds": args.nonspeech_seeds},
        "nll_before": float(torch.nn.functional.cross_entropy(zi, labels)),
        "nll_after": float(torch.nn.functional.cross_entropy(zi / temperature, labels)),
        "fit_in_set_unknown_rate": float((u[: len(li)] > 0.5).float().mean()),
        "fit_out_of_set_unknown_rate": float((u[len(li) :] > 0.5).float().mean()),
    }
    report(record, args.record)


if __name__ == "__main__":
    main()

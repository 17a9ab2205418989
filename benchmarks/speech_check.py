"""The speech check measured from both sides, on data it was never fitted on:

- non-speech (streamlid/evaluation/nonspeech_clips/'s recordings, synthetic noise, tones and music of the
  test seeds, and babble of 6-12 dev-split talkers; the fit's babble is of training speakers): how often a clip is given a language or "another language", streaming (`listen`'s defaults: any decision)
  and whole (`identify`: the summary), and the share of analysed windows still taken for speech;
- speech (the dev split, every language): how often a 1, 2 or 3-s window of it is called non-speech, as
  recorded, 20 dB quieter, and "distant" (reverberant, in pink noise at 10 dB SNR).

    python benchmarks/speech_check.py --no-int8 --out benchmarks/results/speech_check_v4.json    # CPU: ~10 min
    python benchmarks/speech_check.py --out benchmarks/results/speech_check_v4_int8.json      # the default: int8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from streamlid.core.audio import load_mono_16k
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.core.vad import speech_only
from streamlid.evaluation.bench import names_a_language, rate
from streamlid.evaluation.evaluate import EvalOptions, clip_crops, read_manifest
from streamlid.evaluation.nonspeech import (
    BABBLE_TALKERS,
    babble_from_files,
    coloured_noise,
    recorded_clips,
    synthetic_clips,
)
from streamlid.io.offline import identify
from streamlid.model.classifier import Classifier

TEST_SEEDS = (0, *range(100, 105))  # the fit uses seeds 1-6
SECONDS = (1.0, 2.0, 3.0)
BABBLE_CLIPS = 30


def given_language(events: list[dict]) -> bool:
    return any(e["type"] == "decision" and names_a_language(e) for e in events)


def nonspeech_side(classifier: Classifier, manifest: Path) -> dict:
    voices = [r["path"] for r in np.random.default_rng(0).permutation(read_manifest(manifest, "dev"))[:100]]
    babble = babble_from_files(voices, BABBLE_CLIPS, seed=0)
    clips = recorded_clips() + [c for seed in TEST_SEEDS for c in synthetic_clips(seed)] + babble
    streamed = whole = windows = speechy = 0
    by_kind: dict[str, list[int]] = {}
    failures = []
    for c in tqdm(clips, desc="non-speech"):
        events = LanguageStream(classifier, options=StreamOptions()).run(c.audio)
        r = identify(c.audio, classifier)
        s, w = given_language(events), names_a_language(r)
        streamed, whole = streamed + s, whole + w
        posts = [e for e in events if e["type"] == "posteriors"]
        windows, speechy = windows + len(posts), speechy + sum(e["speech"] for e in posts)
        by_kind.setdefault(c.kind, []).append(s or w)
        if s or w:
            failures.append({"clip": c.name, "kind": c.kind, "streaming": s, "identify": w, "state": r["state"]})
    return {
        "clips": len(clips),
        "recorded": len(recorded_clips()),
        "synthetic_seeds": list(TEST_SEEDS),
        "babble": {"clips": len(babble), "talkers": list(BABBLE_TALKERS), "voices": "dev split"},
        "streaming_given_language": rate(streamed, len(clips)),
        "identify_given_language": rate(whole, len(clips)),
        "windows_taken_for_speech": rate(speechy, windows),
        "given_language_by_kind": {k: rate(sum(v), len(v)) for k, v in sorted(by_kind.items())},
        "failures": failures,
    }


def distant(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reverberant (an exponentially decaying noise impulse response, RT60 ~0.5 s) in pink noise at 10 dB."""
    t = np.arange(int(0.4 * 16000)) / 16000
    rir = rng.standard_normal(t.size) * np.exp(-6.9 * t / 0.5)
    rir[0] = 1.0
    y = np.convolve(x, rir)[: x.size]
    y *= np.sqrt(np.mean(x**2) / max(np.mean(y**2), 1e-12))
    noise = coloured_noise(x.size, 1, rng)
    noise *= np.sqrt(np.mean(y**2) / max(np.mean(noise**2), 1e-12)) / np.sqrt(10)
    out = y + noise
    return (out / max(1.0, np.abs(out).max())).astype(np.float32)


def speech_side(classifier: Classifier, manifest: Path) -> dict:
    rows = read_manifest(manifest, "dev")
    rng = np.random.default_rng(0)
    variants = {"recorded": lambda x: x, "quiet (-20 dB)": lambda x: x * 0.1, "distant": lambda x: distant(x, rng)}
    rejected = {(v, s): [0, 0] for v in variants for s in SECONDS}
    for r in tqdm(rows, desc="dev speech"):
        crops = clip_crops(speech_only(load_mono_16k(r["path"])), Path(r["path"]).name, EvalOptions(SECONDS, 1, 0))
        for s, windows in crops.items():
            for v, change in variants.items():
                if windows:
                    p = np.exp(classifier.log_probs([change(w).astype(np.float32) for w in windows])[:, -1])
                    rejected[v, s][0] += int((p >= StreamOptions().no_speech).sum())
                    rejected[v, s][1] += len(windows)
    return {
        "clips": len(rows),
        "languages": len({r["language"] for r in rows}),
        "called_non_speech": {
            v: {
                **{f"{s:g} s": rate(*rejected[v, s]) for s in SECONDS},
                "all": rate(*map(sum, zip(*(rejected[v, s] for s in SECONDS), strict=True))),
            }
            for v in variants
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a model name or path (default: the shipped default)")
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"), help="with a dev split")
    p.add_argument("--out", type=Path, help="write the results here (JSON)")
    p.add_argument(
        "--int8",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the model's Linear layers in int8, or (--no-int8) float32 [default: the model's choice, as listen]",
    )
    args = p.parse_args()
    torch.set_num_threads(2)
    classifier = Classifier.load(args.model, "cpu", args.int8)
    if not classifier.speech_check:
        raise SystemExit(f"{classifier.name} has no speech check")
    report = {
        "model": classifier.name,
        "int8": classifier.int8,
        "threshold": StreamOptions().no_speech,
        "nonspeech": nonspeech_side(classifier, args.manifest),
        "speech": speech_side(classifier, args.manifest),
    }
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

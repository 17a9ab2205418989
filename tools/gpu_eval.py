"""Evaluate models on a manifest split on a GPU machine that has no matplotlib: the report's JSON only.

    python tools/gpu_eval.py MANIFEST --split dev --out DIR --model NAME=PATH ... [--whisper ENC LANGID]

Each --model is a streamlid model (weights + JSON); --whisper adds Whisper-base's own language step with
no training, run on the unpadded crop (as `whisper-unpadded`) with the same network padded to 30 s (as
Whisper runs it) as its peer on the same crops. Writes DIR/NAME.json, the dict `streamlid evaluate`
writes as report.json; `python tools/gpu_eval.py --report DIR/NAME.json OUT` turns one into the full
report (markdown and plots) where matplotlib is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from streamlid.evaluation.evaluate import EvalOptions, evaluate, read_manifest
from streamlid.model.architectures import languages_of, pretrained_whisper_lid
from streamlid.model.classifier import Classifier
from streamlid.model.format import ModelInfo


class NetworkPeer:
    """A Classifier in the peer's place of `evaluate` (probabilities by ISO 639-3 code)."""

    def __init__(self, classifier: Classifier, name: str) -> None:
        self.classifier, self.name = classifier, name

    def probs_iso639_3(self, x: np.ndarray) -> dict[str, float]:
        p = np.exp(self.classifier.log_probs([x])[0][: len(self.classifier.languages)])
        return dict(zip(self.classifier.languages, (p / p.sum()).tolist(), strict=True))


def whisper_classifier(encoder: str, langid: str, padded: bool, device: str) -> Classifier:
    model = pretrained_whisper_lid(encoder, langid, padded)
    return Classifier(model, ModelInfo(languages_of(langid), model.cfg), device)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifest", type=Path, nargs="?")
    p.add_argument("--split", default="dev")
    p.add_argument("--out", type=Path, default=Path("eval"))
    p.add_argument("--model", action="append", default=[], metavar="NAME=PATH")
    p.add_argument("--whisper", nargs=2, metavar=("ENCODER", "LANGID"))
    p.add_argument("--durations", default="0.5,1,2,3,5")
    p.add_argument("--compute", default="cuda")
    p.add_argument("--report", nargs=2, type=Path, metavar=("JSON", "OUT"), help="JSON -> full report in OUT")
    args = p.parse_args()
    if args.report:
        from streamlid.evaluation.report import write_report

        write_report(json.loads(args.report[0].read_text(encoding="utf-8")), args.report[1])
        return 0
    rows = read_manifest(args.manifest, args.split)
    options = EvalOptions(durations=tuple(float(d) for d in args.durations.split(",")))
    systems = [
        (name, Classifier.load(path, args.compute), None) for name, path in (m.split("=", 1) for m in args.model)
    ]
    if args.whisper:
        padded = NetworkPeer(whisper_classifier(*args.whisper, True, args.compute), "whisper-padded")
        systems.append(("whisper-unpadded", whisper_classifier(*args.whisper, False, args.compute), padded))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, classifier, peer in systems:
        with torch.inference_mode():
            result = evaluate(rows, classifier, options, peer, progress=False)
        result.update(model=name, manifest=str(args.manifest), split=args.split)
        (args.out / f"{name}.json").write_text(json.dumps(result) + "\n", encoding="utf-8")
        core = result["systems"]["streamlid"]["sets"]["core6"]
        print(name, {d: round(m.get("accuracy", float("nan")), 3) for d, m in core.items()}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

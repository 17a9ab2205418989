"""Does torch.compile pay for the model on a GPU? Windows per second of the model alone (bf16, as
`Classifier` runs it), eager against compiled per shape (dynamic=False) and compiled once for all shapes
(dynamic=True, as `Classifier.compile` does), for batches of equal-length windows (unmasked) and of mixed
lengths (masked); then, on real speech (the test fixtures' clips), how far each bf16 form's scores are
from float32's.

    python benchmarks/gpu_compile.py --out benchmarks/results/gpu_compile_v4.json    # on a GPU machine

Only the encoder and the language step are compiled (`model.hidden`): the front end's complex STFT stays
eager.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from gpu_serving import per_second

from streamlid.core.audio import SAMPLE_RATE, load_mono_16k
from streamlid.model.classifier import Classifier

FIXTURES = Path(__file__).resolve().parents[1] / "tests/fixtures/speech"


def speech_windows(seconds: float, most: int) -> tuple[torch.Tensor, list[int]]:
    """Windows of real speech, 1 s to `seconds` long (zero-padded to `seconds`), from the fixtures' clips."""
    rng = np.random.default_rng(0)
    full = int(seconds * SAMPLE_RATE)
    windows = []
    for clip in sorted(FIXTURES.rglob("*.opus")):
        audio = load_mono_16k(clip)
        for start in range(0, len(audio) - full + 1, SAMPLE_RATE):
            windows.append(audio[start : start + int(rng.integers(SAMPLE_RATE, full + 1))])
    windows = windows[:most]
    batch = torch.zeros(len(windows), full)
    for row, w in zip(batch, windows, strict=True):
        row[: len(w)] = torch.from_numpy(w)
    return batch.cuda(), [len(w) for w in windows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--batches", default="256,1024,2048")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: this benchmark measures the model on a GPU")
    torch._dynamo.config.cache_size_limit = 64
    classifier = Classifier.load(args.model, "cuda")
    model = classifier.model
    forms = {
        "eager": model.hidden,
        "static": torch.compile(model.hidden, dynamic=False),
        "dynamic": torch.compile(model.hidden, dynamic=True),
    }

    @torch.inference_mode()
    def scores(form: str, wav: torch.Tensor, lengths: list[int] | None, bf16: bool = True) -> torch.Tensor:
        model.hidden = forms[form]
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                return torch.log_softmax(model.scores(wav, lengths)[0].float(), -1)
        finally:
            model.hidden = forms["eager"]

    full = int(args.window * SAMPLE_RATE)
    rng = np.random.default_rng(0)
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        for kind in ("equal", "mixed"):
            wav = torch.from_numpy(rng.standard_normal((batch, full)).astype(np.float32) * 0.1).cuda()
            lengths = None
            if kind == "mixed":
                lengths = [int(n) for n in rng.integers(SAMPLE_RATE // 2, full + 1, batch)]
                lengths[0] = full
                for row, n in zip(wav, lengths, strict=True):
                    row[n:] = 0
            row = {"batch": batch, "lengths": kind}
            for form in forms:
                t = time.perf_counter()
                scores(form, wav, lengths)
                torch.cuda.synchronize()
                row[f"{form}_first_call_s"] = round(time.perf_counter() - t, 1)
                row[f"{form}_windows_per_s"] = round(
                    batch * per_second(lambda f=form, w=wav, n=lengths: scores(f, w, n), args.reps)
                )
            row["dynamic_speed_up"] = round(row["dynamic_windows_per_s"] / row["eager_windows_per_s"], 2)
            print(json.dumps(row), flush=True)
            rows.append(row)
    wav, lengths = speech_windows(args.window, 1024)
    reference = scores("eager", wav, lengths, bf16=False)
    agreement = {"windows": len(lengths)}
    for form in forms:
        lp = scores(form, wav, lengths)
        diff = (lp - reference).abs().amax(-1)
        agreement[form] = {
            "same_top_language_as_float32": round((lp.argmax(-1) == reference.argmax(-1)).float().mean().item(), 4),
            "max_abs_log_prob_diff_p50": round(diff.median().item(), 4),
            "max_abs_log_prob_diff_p99": round(diff.quantile(0.99).item(), 4),
        }
    print(json.dumps({"real_speech_against_float32": agreement}), flush=True)
    report = {"model": classifier.name, "gpu": torch.cuda.get_device_name(), "throughput": rows}
    report["real_speech_against_float32"] = agreement
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""The shipped model through ONNX Runtime, in float32 and in dynamic int8 (per-channel weights), beside
torch's: CPU time per window, how far int8 moves the speech check's hidden state, and the speech check's
two sides (benchmarks/speech_check.py) with the model run by ONNX Runtime int8. A measurement of a route,
not a runtime streamlid ships (`--int8` is torch's).

    pip install onnx onnxscript onnxruntime
    python benchmarks/onnx_int8.py --out benchmarks/results/speech_check_v4_onnx_int8.json   # CPU: ~15 min
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from speech_check import nonspeech_side, speech_side

from streamlid.core.audio import load_mono_16k
from streamlid.model.classifier import Classifier
from streamlid.model.int8 import quantized_int8

FIXTURES = Path(__file__).resolve().parents[1] / "tests/fixtures/speech/real"


class Scores(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.scores(wav)


def export(model: torch.nn.Module, folder: Path) -> tuple[Path, Path]:
    """float32 and int8 ONNX files of `model.scores`, any batch and length (exported at batch 3)."""
    fp32, int8 = folder / "model.onnx", folder / "model_int8.onnx"
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("samples", min=1600, max=480000)}
    torch.onnx.export(
        Scores(model), (torch.randn(3, 24000) * 0.1,), fp32, dynamo=True, dynamic_shapes={"wav": dims},
        input_names=["wav"], output_names=["logits", "hidden"],
    )  # fmt: skip
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True)
    return fp32, int8


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def median_ms(fn, reps: int = 7) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1000, 1)


def hidden_drift(model, torch_int8, onnx_int8: ort.InferenceSession) -> dict:
    """On 2-s crops of the fixtures' speech in white noise (10 dB): the hidden state's relative error and
    top-1 agreement with float32, for torch's int8 and ONNX Runtime's."""
    rng = np.random.default_rng(0)
    drift: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    agree: dict[str, list[bool]] = {"torch": [], "onnxruntime": []}
    for path in sorted(FIXTURES.glob("*/*/*.opus")):
        audio = load_mono_16k(path)[:32000]
        if len(audio) < 32000:
            continue
        audio = audio + rng.standard_normal(audio.size).astype(np.float32) * 0.3 * audio.std()
        x = torch.from_numpy(audio[None].astype(np.float32))
        with torch.inference_mode():
            logits, hidden = model.scores(x)
            outs = {
                "torch": torch_int8.scores(x),
                "onnxruntime": map(torch.from_numpy, onnx_int8.run(None, {"wav": x.numpy()})),
            }
            for k, (l8, h8) in outs.items():
                drift[k].append(float((h8 - hidden).norm() / hidden.norm()))
                agree[k].append(bool(l8.argmax() == logits.argmax()))
    return {
        k: {
            "windows": len(v),
            "hidden_relative_error_median": round(float(np.median(v)), 3),
            "top1_agrees": sum(agree[k]),
        }
        for k, v in drift.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"), help="with a dev split")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    classifier = Classifier.load(None, "cpu", int8=False)
    model = classifier.model
    fp32, int8 = export(model, Path(tempfile.mkdtemp()))
    onnx_fp32, onnx_int8, torch_int8 = (
        session(fp32, 1),
        session(int8, 1),
        quantized_int8(model, tuple(classifier.info.int8_float_layers)),
    )
    x = torch.randn(1, 32000) * 0.1
    with torch.inference_mode():
        cost = {
            "torch_fp32": median_ms(lambda: model.scores(x)),
            "torch_int8": median_ms(lambda: torch_int8.scores(x)),
        }
    cost |= {
        "onnxruntime_fp32": median_ms(lambda: onnx_fp32.run(None, {"wav": x.numpy()})),
        "onnxruntime_int8": median_ms(lambda: onnx_int8.run(None, {"wav": x.numpy()})),
    }
    report = {"ms_per_2s_window_one_thread": cost, "int8_drift": hidden_drift(model, torch_int8, onnx_int8)}
    print(json.dumps(report, indent=1), flush=True)

    torch.set_num_threads(2)
    checked = session(int8, 2)

    def scores(wav: torch.Tensor, lengths: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logits, hidden = checked.run(None, {"wav": wav.numpy()})  # the CPU scores one length at a time
        return torch.from_numpy(logits), torch.from_numpy(hidden)

    model.scores = scores
    report |= {"speech": speech_side(classifier, args.manifest), "nonspeech": nonspeech_side(classifier, args.manifest)}
    print(json.dumps({k: report[k] for k in ("speech",)}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Batched inference: Classifier, a loaded model on a device (int8 on the CPU if asked); 16 kHz windows in,
calibrated log-probabilities out."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from ..core.audio import SAMPLE_RATE
from .architectures import LanguageModel
from .checkpoint import ModelError, model_name
from .features import indices_by_length
from .format import ModelInfo, has_speech_check, load_model
from .int8 import quantized_int8

log = logging.getLogger("streamlid.model")


def pick_device(compute: str = "auto") -> torch.device:
    if compute not in ("auto", "cpu", "cuda"):
        raise ValueError(f"compute must be auto, cpu or cuda, not {compute!r}")
    if compute == "cuda" and not torch.cuda.is_available():
        raise ModelError("compute cuda was asked for but no CUDA GPU is available")
    if compute == "auto":
        compute = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(compute)


class Classifier:
    """Batched inference: a list of 16 kHz float32 windows -> calibrated log-probabilities (n, languages),
    plus a column, log p(none of these languages), when `open_set`, and a last one, log p(no speech), when
    `speech_check` (both from the model's Calibration).

    int8=True runs the Linear layers in dynamic int8 on the CPU, but for those the model's metadata keeps
    in float32 (streamlid-v4: 28.9 against 64.2 ms CPU per 2-s window, one thread; accuracy and the speech
    check in models/MODEL_CARD.md); None leaves it to the model (`int8_default`); on a GPU it is ignored.
    The model is quantised in place: the Classifier owns it."""

    def __init__(
        self,
        model: LanguageModel,
        info: ModelInfo,
        device: torch.device | str = "cpu",
        int8: bool | None = None,
        name: str = "",
    ) -> None:
        self.name = name  # the weights file's stem when loaded from one
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.int8 = info.runs_int8(int8) and self.device.type == "cpu"
        if self.int8:
            self.model = quantized_int8(self.model, tuple(info.int8_float_layers), inplace=True)
        self.info = info
        self.languages = info.languages
        self.open_set = info.calibration.open_set  # log_probs has a column for "none of these languages"
        # ... and a last one, log p(no speech), when the model can tell speech from noise (WhisperLID)
        self.speech_check = has_speech_check(info)
        self.compiled = False  # the language step compiled (`compile`)
        self._pinned: torch.Tensor | None = None  # the host buffer of _to_device, on a GPU
        self._gpu_turn = threading.Lock()  # one call at a time uses it
        # every length in one call (None: on a GPU when the model masks padding): a call per length costs a
        # launch-bound GPU round trip each, while on the CPU the padding is wasted work
        self.one_call: bool | None = None
        # a one-call batch is padded up to a multiple of these rows and samples (masked: the scores are the
        # same), so that a server's batches, a different size every step, come in a few shapes whose GPU
        # plans are made once
        self.round_rows, self.round_samples = (ROUND_ROWS, ROUND_SAMPLES) if self.device.type == "cuda" else (1, 1)

    @classmethod
    def load(cls, path: str | Path | None = None, compute: str = "auto", int8: bool | None = None) -> Classifier:
        device = pick_device(compute)
        model, info = load_model(path, int8 if device.type == "cpu" else False)  # quantised as it loads
        return cls(model, info, device, int8, model_name(path))

    def compile(self) -> bool:
        """On a GPU, compile the encoder and the language step (torch.compile, batch and length dynamic: one
        graph for equal-length batches and one for masked ones, each compiled on its first call, so call
        `warm_up` next); the front end's complex STFT stays eager. Whether it is compiled: not on the CPU,
        nor a model without the language step, nor where compiling fails (a warning, and eager it stays)."""
        if self.device.type != "cuda" or not hasattr(self.model, "hidden"):
            return False
        self.model.hidden = torch.compile(self.model.hidden, dynamic=True)
        self.compiled = True
        try:  # both graphs: one length, and two (masked)
            self.log_probs([np.zeros(SAMPLE_RATE, dtype=np.float32)])
            self.log_probs([np.zeros(n, dtype=np.float32) for n in (SAMPLE_RATE, SAMPLE_RATE // 2)])
        except Exception as e:  # torch's compilers raise many kinds: a missing Triton, a failed build
            log.warning("the model could not be compiled (%s: %s); it runs eager", type(e).__name__, e)
            self._uncompile()
        return self.compiled

    def _uncompile(self) -> None:
        if self.compiled:
            vars(self.model).pop("hidden", None)  # the class's eager method shows again
            self.compiled = False

    def describe(self) -> dict:
        """The model as a server's hello names it: name, version, languages, open set, where it runs."""
        return {
            "name": self.name,
            "version": self.info.version,
            "languages": self.languages,
            "open_set": self.open_set,
            "compute": self.device.type,
        }

    def warm_up(self, longest: float, most_windows: int = 1) -> None:
        """Where batches are rounded (on a GPU), score each shape a caller of up to `most_windows` windows
        of up to `longest` seconds can send: each rounded row count and length, with the windows all of one
        length (unmasked) and of two (masked), as a server's are. The first real calls then do not pay for
        the GPU's first calls of each shape (kernels loaded, FFT and convolution plans made: an H100 took
        2 s over its first unmasked call and ~0.1 s over each new row count). Nothing to do on the CPU."""
        if self.round_rows == 1:
            return
        longest_samples = round_up(int(longest * SAMPLE_RATE), self.round_samples)
        step, most = self.round_samples, round_up(max(most_windows, 1), self.round_rows)
        for rows in range(self.round_rows, most + 1, self.round_rows):
            for n in range(step, longest_samples + 1, step):
                full, half = np.zeros(n, dtype=np.float32), np.zeros(n // 2, dtype=np.float32)
                for batch in ([full] * rows, [full if i % 2 else half for i in range(rows)]):
                    if self.round_rows == 1:  # out of GPU memory: on the CPU now, with nothing to warm up
                        return
                    self.log_probs(batch)

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        """Scores; a GPU that runs out of memory is given up for the CPU, with one warning (logging). Safe
        from several threads (`listen --serve` scores from two): on a GPU the calls take turns, as they
        share the page-locked buffer."""
        try:
            if self.device.type != "cuda":
                return self._log_probs(windows)
            with self._gpu_turn:
                return self._log_probs(windows)
        except torch.OutOfMemoryError:
            if self.device.type == "cpu":
                raise
            log.warning("out of memory on %s; the model runs on the CPU from now on", self.device)
            self.device = torch.device("cpu")
            self.model = self.model.to(self.device)
            self._uncompile()  # compiled for the GPU: the eager one again
            self.round_rows, self.round_samples = 1, 1
            torch.cuda.empty_cache()
            return self._log_probs(windows)

    def _to_device(self, windows: list[np.ndarray], rows: int, samples: int) -> torch.Tensor:
        """(rows, samples) float32 audio on the model's device, each window zero-padded after its end, rows
        past the windows zeros. To a GPU it goes as float16 (half the bytes) through one reused page-locked
        buffer, so the copy is a DMA and not a staged one; the buffer is free again by the next call, whose
        results wait for this one's."""
        if self.device.type != "cuda":
            return pack_rows(windows, torch.empty(rows, samples)).to(self.device)
        if self._pinned is None or self._pinned.numel() < rows * samples:
            self._pinned = torch.empty(rows * samples, dtype=torch.float16, pin_memory=True)
        host = pack_rows(windows, self._pinned[: rows * samples].view(rows, samples))
        return host.to(self.device, non_blocking=True).float()

    @torch.inference_mode()
    def _log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(windows), len(self.languages) + self.open_set + self.speech_check), dtype=np.float32)
        lengths = [len(w) for w in windows]
        one_call = self.device.type == "cuda" if self.one_call is None else self.one_call
        one_call = one_call and getattr(self.model, "mixes_lengths", False)
        if one_call:
            groups = [list(range(len(windows)))] if windows else []
        else:
            groups = indices_by_length(lengths)
        for idx in groups:
            rows, samples = len(idx), max(lengths[i] for i in idx)
            if one_call:
                rows, samples = round_up(rows, self.round_rows), round_up(samples, self.round_samples)
            batch = self._to_device([windows[i] for i in idx], rows, samples)
            batch_lengths = [lengths[i] for i in idx] + [samples] * (rows - len(idx))
            mixed = {"lengths": batch_lengths} if len(set(batch_lengths)) > 1 else {}
            # bf16 on a GPU (the front ends keep float32): 3.4x v3's float32 windows per second (BENCHMARKS.md)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                logits, hidden = (
                    self.model.scores(batch, **mixed) if self.speech_check else (self.model(batch, **mixed), None)
                )
            logits, hidden = logits[: len(idx)], None if hidden is None else hidden[: len(idx)].float()
            seconds = torch.tensor([lengths[i] / SAMPLE_RATE for i in idx], device=logits.device)
            out[idx] = self.info.calibration.log_probs(logits.float(), seconds, hidden).cpu().numpy()
        return out


ROUND_ROWS = 32  # on a GPU: ~8% more rows, on average, at a server's typical 200-window step
ROUND_SAMPLES = SAMPLE_RATE // 2


def pack_rows(windows: list[np.ndarray], out: torch.Tensor) -> torch.Tensor:
    """`out` (rows, samples) with a window in each row, zero-padded after its end, and zeros in the rows past
    the windows: written in place, a row at a time (torch converts to float16 several times faster than
    numpy, and no whole float32 batch is made first)."""
    for row, w in zip(out, windows, strict=False):
        x = np.ascontiguousarray(w, dtype=np.float32)
        row[: len(x)].copy_(torch.from_numpy(x if x.flags.writeable else x.copy()))  # Ray's are read-only
        row[len(x) :].zero_()
    out[len(windows) :].zero_()
    return out


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple

"""Log-mel front end in plain torch (the PyPI torchaudio wheel does not import with a CPU torch)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..core.audio import SAMPLE_RATE


@dataclass(frozen=True)
class FeatureConfig:
    kind: str = "log-mel"  # or "whisper-log-mel": Whisper's own front end (streamlid.model.encoder)
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    f_min: float = 40.0
    f_max: float = 7600.0

    def to_dict(self) -> dict:
        return asdict(self)


def _hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def _mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(cfg: FeatureConfig) -> torch.Tensor:
    """Triangular HTK-style mel filters, shape (n_mels, n_fft // 2 + 1)."""
    n_freqs = cfg.n_fft // 2 + 1
    freqs = torch.linspace(0, cfg.sample_rate / 2, n_freqs, dtype=torch.float64)
    mel_points = torch.linspace(
        _hz_to_mel(torch.tensor(cfg.f_min, dtype=torch.float64)),
        _hz_to_mel(torch.tensor(cfg.f_max, dtype=torch.float64)),
        cfg.n_mels + 2,
        dtype=torch.float64,
    )
    hz = _mel_to_hz(mel_points)
    lower, center, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None, :] - lower) / (center - lower)
    down = (upper - freqs[None, :]) / (upper - center)
    return torch.clamp(torch.minimum(up, down), min=0.0).float()


class LogMel(nn.Module):
    """Waveform (batch, samples) at 16 kHz -> log-mel (batch, n_mels, frames).

    Each window is normalised by its own mean and variance per mel band (CMVN) inside the model,
    so gain and fixed channel colouring do not reach the classifier.
    """

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or FeatureConfig()
        self.register_buffer("window", torch.hann_window(self.cfg.n_fft), persistent=False)
        self.register_buffer("fbank", mel_filterbank(self.cfg), persistent=False)

    @torch.autocast("cuda", enabled=False)  # float32 under a caller's autocast
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        spec = torch.stft(
            wav.float(),
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.fbank, power)
        return torch.log(mel + 1e-6)


def frames_for(samples: int, cfg: FeatureConfig | None = None) -> int:
    cfg = cfg or FeatureConfig()
    return 1 + samples // cfg.hop_length


def seconds_to_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    return int(math.floor(seconds * sample_rate + 0.5))


def indices_by_length(lengths: list[int]) -> list[list[int]]:
    """The positions of equal lengths together, in order of first appearance: one batch per length."""
    groups: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        groups.setdefault(n, []).append(i)
    return list(groups.values())

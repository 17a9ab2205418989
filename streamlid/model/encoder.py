"""Whisper-base's audio encoder in plain PyTorch, for windows of any length (no padding to 30 s).

The front end is Whisper's own: 16 kHz, 25 ms Hann frames every 10 ms, 80 Slaney mel bands, log10 of the
power clamped at 1e-10, floored at (max - 8) per window, then (x + 4) / 4. Then the conv stem (two
convolutions, the second of stride 2, GELU after each), sinusoidal positions, six pre-LN transformer
blocks and a final LayerNorm. `WhisperEncoder.forward` returns every block's output, so a head can weigh
them; a batch of windows of mixed lengths, given their frame counts, gives what each gives alone.

The weights come from tools/convert_whisper_encoder.py (OpenAI's Whisper base, MIT licence).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.audio import SAMPLE_RATE

N_FFT = 400
HOP_LENGTH = 160
MAX_FRAMES = 3000  # 30 s: the positions Whisper was trained with (after the stride-2 stem: 1500)
# weights stored in float16, not int8: the stem's and the first block's rounding errors are amplified by
# every block above them (int8 there: max abs error 3.5 on outputs up to 17; float16 there: 0.56)
INT8_KEEP = ("conv", "blocks.0.")


@dataclass(frozen=True)
class EncoderConfig:
    n_mels: int = 80
    width: int = 512
    heads: int = 8
    layers: int = 6

    def to_dict(self) -> dict:
        return asdict(self)


def mel_filters(n_mels: int = 80, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> torch.Tensor:
    """Slaney-style mel filterbank (librosa's default, which Whisper uses), shape (n_mels, n_fft // 2 + 1)."""
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    max_mel = min_log_mel + math.log(sample_rate / 2 / min_log_hz) / logstep
    mels = np.linspace(0.0, max_mel, n_mels + 2)
    freqs = f_sp * mels
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2 : n_mels + 2] - freqs[:n_mels]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


class WhisperLogMel(nn.Module):
    """Waveform (batch, samples) at 16 kHz -> Whisper's normalised log-mel (batch, n_mels, samples // 160).

    The (max - 8) floor is taken per window, as Whisper takes it per 30-s segment.
    """

    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("filters", mel_filters(n_mels), persistent=False)

    @torch.autocast("cuda", enabled=False)  # float32 under a caller's autocast: log10 of tiny powers
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav.float(), N_FFT, HOP_LENGTH, window=self.window, return_complex=True)
        power = spec[..., :-1].abs().square()
        log_spec = torch.clamp(self.filters @ power, min=1e-10).log10()
        floor = log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0
        return (torch.maximum(log_spec, floor) + 4.0) / 4.0

    @torch.autocast("cuda", enabled=False)
    def of_lengths(self, wav: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows of mixed lengths, (batch, samples) each zero-padded after its `lengths` (batch,) samples ->
        their log-mels (batch, n_mels, T) with zeros past each window's frames, and the frame counts: what
        `forward` gives each window alone, in one batched STFT. Each row gets the reflection at its own end
        that the STFT's centring would give it, and its own (max - 8) floor over its own frames."""
        wav = wav.float()
        half = N_FFT // 2
        rows = torch.arange(wav.shape[0], device=wav.device)[:, None]
        k = torch.arange(half, device=wav.device)[None, :]
        ends = lengths.to(wav.device)[:, None]
        padded = F.pad(wav, (half, half))
        padded[:, :half] = wav[:, 1 : half + 1].flip(-1)
        padded[rows, half + ends + k] = wav[rows, (ends - 2 - k).clamp(min=0)]
        frames = lengths.to(wav.device) // HOP_LENGTH
        spec = torch.stft(padded, N_FFT, HOP_LENGTH, window=self.window, center=False, return_complex=True)
        power = torch.view_as_real(spec[..., : wav.shape[-1] // HOP_LENGTH]).square().sum(-1)  # no sync
        log_spec = torch.clamp(self.filters @ power, min=1e-10).log10()
        valid = (torch.arange(log_spec.shape[-1], device=wav.device)[None, :] < frames[:, None])[:, None, :]
        floor = log_spec.masked_fill(~valid, float("-inf")).amax(dim=(-2, -1), keepdim=True) - 8.0
        return ((torch.maximum(log_spec, floor) + 4.0) / 4.0) * valid, frames


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's sinusoidal position table (length, channels)."""
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float64))
    scaled = torch.arange(length, dtype=torch.float64)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1).float()


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)  # Whisper's key projection has no bias: zeros here
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, t, w))


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn_ln = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads)
        self.mlp_ln = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x), key_mask)
        return x + self.mlp(self.mlp_ln(x))


def stem_lengths(frames: torch.Tensor) -> torch.Tensor:
    """Encoder positions of windows of `frames` log-mel frames (the stem's stride-2 convolution)."""
    return (frames - 1) // 2 + 1


class WhisperEncoder(nn.Module):
    """Log-mel (batch, n_mels, T) -> the output of the stem, of each block, and of the final LayerNorm.

    `frames` (batch,) gives each window's real frame count when a batch mixes lengths: frames past it
    are zeroed before each convolution (as a window alone sees the convolution's zero padding there)
    and masked out of every attention.
    """

    def __init__(self, cfg: EncoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or EncoderConfig()
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.width, 3, padding=1)
        self.conv2 = nn.Conv1d(cfg.width, cfg.width, 3, stride=2, padding=1)
        self.register_buffer("positions", sinusoids(MAX_FRAMES // 2, cfg.width), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads) for _ in range(cfg.layers))
        self.ln_post = nn.LayerNorm(cfg.width)

    def forward(self, mel: torch.Tensor, frames: torch.Tensor | None = None) -> list[torch.Tensor]:
        if mel.shape[-1] > MAX_FRAMES:
            raise ValueError(f"windows longer than {MAX_FRAMES // 100} s are not supported")
        key_mask = None
        if frames is not None:
            in_mask = torch.arange(mel.shape[-1], device=mel.device)[None, :] < frames[:, None]
            mel = mel * in_mask[:, None, :]
        x = F.gelu(self.conv1(mel))
        if frames is not None:
            x = x * in_mask[:, None, :]
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.positions[: x.shape[1]].to(x.dtype)
        if frames is not None:
            key_mask = torch.arange(x.shape[1], device=x.device)[None, :] < stem_lengths(frames)[:, None]
        outputs = [x]
        for block in self.blocks:
            x = block(x, key_mask)
            outputs.append(x)
        outputs.append(self.ln_post(x))
        if key_mask is not None:
            outputs = [o * key_mask[..., None] for o in outputs]
        return outputs


def pad_windows(windows: list[torch.Tensor], logmel: WhisperLogMel) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of mixed lengths -> their log-mels padded to the longest (batch, n_mels, T), and frame counts
    (each window's front end its own: WhisperLogMel.of_lengths)."""
    lengths = torch.tensor([w.shape[-1] for w in windows], device=windows[0].device)
    wav = torch.zeros(len(windows), int(lengths.max()), device=windows[0].device)
    for row, w in zip(wav, windows, strict=True):
        row[: w.shape[-1]] = w
    return logmel.of_lengths(wav, lengths)

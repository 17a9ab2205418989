"""On-the-fly augmentation for speaker and channel invariance, batched on the training device.

Waveform effects work on (batch, samples) float32 at 16 kHz, spectrogram effects on log-mel
(batch, mels, frames). Each effect picks its own examples with its probability; every random number
comes from the `torch.Generator` passed in, so a seed reproduces a batch exactly on one device.
Speed perturbation (new "speakers": pitch, formants and tempo move together) is applied by the crop
in `streamlid.training.data.Bank.crop`, which reads the bank at a random rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch

from ..core.audio import SAMPLE_RATE

# the effects an ablation can switch off, and the config fields that turn each one off
GROUPS = {
    "speed": {"speed": (1.0, 1.0)},
    "noise": {"noise_p": 0.0, "babble_p": 0.0},
    "reverb": {"reverb_p": 0.0},
    "channel": {"telephone_p": 0.0, "bandlimit_p": 0.0},
    "gain": {"gain_db": (0.0, 0.0), "clip_p": 0.0},
    "vtlp": {"vtlp_p": 0.0},
    "specaug": {"freq_masks": 0, "time_masks": 0},
}


@dataclass(frozen=True)
class AugmentConfig:
    speed: tuple[float, float] = (0.88, 1.14)  # read-rate range used by the crop
    noise_p: float = 0.4  # coloured noise, spectral slope 1/f**beta with beta in [0, 2]
    noise_snr_db: tuple[float, float] = (0.0, 30.0)
    babble_p: float = 0.15  # three other clips of the batch, mixed
    babble_snr_db: tuple[float, float] = (5.0, 20.0)
    reverb_p: float = 0.3  # simulated room: exponentially decaying noise tail after a direct path
    rt60_s: tuple[float, float] = (0.15, 0.9)
    telephone_p: float = 0.15  # 300-3400 Hz band and 8-bit mu-law
    bandlimit_p: float = 0.15  # low-pass at a random cut-off (narrow-band codecs, cheap microphones)
    gain_db: tuple[float, float] = (-24.0, 6.0)
    clip_p: float = 0.05  # overdriven input: +6..20 dB then hard clipping
    vtlp_p: float = 0.4  # vocal-tract-length perturbation as a warp of the mel axis
    vtlp_alpha: tuple[float, float] = (0.88, 1.12)
    freq_masks: int = 2
    freq_mask_width: int = 8
    time_masks: int = 2
    time_mask_frac: float = 0.1

    def without(self, *groups: str) -> AugmentConfig:
        """This config with the named effect groups (keys of GROUPS, or "all") switched off."""
        names = list(GROUPS) if "all" in groups else groups
        changes: dict = {}
        for g in names:
            if g not in GROUPS:
                raise ValueError(f"unknown augmentation group {g!r}; known: {', '.join(GROUPS)}, all")
            changes.update(GROUPS[g])
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _uniform(n: int, lo_hi: tuple[float, float], g: torch.Generator) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=g, device=g.device)


def _chosen(n: int, p: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g, device=g.device) < p


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.square().mean(dim=-1, keepdim=True).add(1e-10).sqrt()


def _mix(x: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    scale = _rms(x) / _rms(noise) / (10.0 ** (snr_db[:, None] / 20.0))
    return x + noise * scale


def _fft_size(n: int) -> int:
    """A power of two >= n: cuFFT is fast and caches few plans, whatever the crop length."""
    return 1 << (n - 1).bit_length()


def coloured_noise(shape: tuple[int, int], beta: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Gaussian noise with power spectrum ~ 1/f**beta per row (0 white, 1 pink, 2 brown), unit RMS."""
    n = _fft_size(shape[-1])
    spec = torch.fft.rfft(torch.randn((shape[0], n), generator=g, device=g.device))
    f = torch.arange(spec.shape[-1], device=g.device).clamp(min=1).float()
    spec = spec * f[None, :] ** (-beta[:, None] / 2)
    noise = torch.fft.irfft(spec, n=n)[:, : shape[-1]]
    return noise / _rms(noise)


def room_impulse(n: int, rt60_s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(B, n) impulse responses: a unit direct path, then a noise tail decaying 60 dB in rt60_s."""
    t = torch.arange(n, device=g.device).float() / SAMPLE_RATE
    tail = torch.randn((len(rt60_s), n), generator=g, device=g.device)
    tail = tail * torch.exp(-6.9078 * t[None, :] / rt60_s[:, None])  # ln(1000) = 60 dB in amplitude
    delay = int(0.002 * SAMPLE_RATE)  # the first reflections arrive after the direct sound
    tail[:, :delay] = 0.0
    tail = tail / tail.square().sum(dim=-1, keepdim=True).sqrt()  # tail energy 1 = direct path energy
    tail[:, 0] = 1.0
    return tail


def _fft_filter(x: torch.Tensor, lo_hz: torch.Tensor, hi_hz: torch.Tensor) -> torch.Tensor:
    n = _fft_size(x.shape[-1])
    spec = torch.fft.rfft(x, n=n)
    f = torch.fft.rfftfreq(n, 1.0 / SAMPLE_RATE).to(x.device)
    keep = (f[None, :] >= lo_hz[:, None]) & (f[None, :] <= hi_hz[:, None])
    return torch.fft.irfft(spec * keep, n=n)[:, : x.shape[-1]]


def mu_law(x: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Round trip through mu-law companding at `bits` bits (the G.711 telephone codec's quantiser)."""
    mu = 2**bits - 1
    x = x.clamp(-1.0, 1.0)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    y = torch.round((y + 1) / 2 * mu) / mu * 2 - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


def augment_waveform(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """(B, samples) float32 -> augmented (B, samples) in [-1, 1]."""
    b, n = x.shape
    dev = x.device
    if cfg.reverb_p > 0:
        pick = _chosen(b, cfg.reverb_p, g)
        rir = room_impulse(min(n, SAMPLE_RATE // 2), _uniform(b, cfg.rt60_s, g), g)
        m = _fft_size(n + rir.shape[-1])
        wet = torch.fft.irfft(torch.fft.rfft(x, n=m) * torch.fft.rfft(rir, n=m), n=m)[:, :n]
        x = torch.where(pick[:, None], wet * (_rms(x) / _rms(wet)), x)
    if cfg.babble_p > 0 and b > 3:
        pick = _chosen(b, cfg.babble_p, g)
        babble = sum(
            torch.roll(x, shifts=(k, int(torch.randint(n, (1,), generator=g, device=dev))), dims=(0, 1))
            for k in (1, 2, 3)
        )
        x = torch.where(pick[:, None], _mix(x, babble, _uniform(b, cfg.babble_snr_db, g)), x)
    if cfg.noise_p > 0:
        pick = _chosen(b, cfg.noise_p, g)
        noise = coloured_noise((b, n), _uniform(b, (0.0, 2.0), g), g)
        x = torch.where(pick[:, None], _mix(x, noise, _uniform(b, cfg.noise_snr_db, g)), x)
    if cfg.bandlimit_p > 0:
        pick = _chosen(b, cfg.bandlimit_p, g)
        cut = _uniform(b, (2500.0, 7000.0), g)
        x = torch.where(pick[:, None], _fft_filter(x, torch.zeros_like(cut), cut), x)
    if cfg.telephone_p > 0:
        pick = _chosen(b, cfg.telephone_p, g)
        band = _fft_filter(x, torch.full((b,), 300.0, device=dev), torch.full((b,), 3400.0, device=dev))
        band = band / band.abs().amax(dim=-1, keepdim=True).clamp(min=1e-4) * 0.9
        x = torch.where(pick[:, None], mu_law(band), x)
    gain = 10.0 ** (_uniform(b, cfg.gain_db, g) / 20.0)
    if cfg.clip_p > 0:
        overdrive = 10.0 ** (_uniform(b, (6.0, 20.0), g) / 20.0)
        peak = x.abs().amax(dim=-1).clamp(min=1e-4)
        gain = torch.where(_chosen(b, cfg.clip_p, g), overdrive / peak, gain)
    return (x * gain[:, None]).clamp(-1.0, 1.0)


def augment_logmel(mel: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """(B, mels, frames) log-mel -> VTLP warp and SpecAugment masks (masked cells get their band's
    mean, which the model's per-band mean removal maps to about zero)."""
    b, m, t = mel.shape
    dev = mel.device
    if cfg.vtlp_p > 0:
        alpha = torch.where(_chosen(b, cfg.vtlp_p, g), _uniform(b, cfg.vtlp_alpha, g), 1.0)
        src = (torch.arange(m, device=dev).float()[None, :] / alpha[:, None]).clamp(0, m - 1)
        i0 = src.floor().long().clamp(max=m - 2)
        frac = (src - i0)[:, :, None]
        lo = torch.gather(mel, 1, i0[:, :, None].expand(b, m, t))
        hi = torch.gather(mel, 1, (i0 + 1)[:, :, None].expand(b, m, t))
        mel = lo + (hi - lo) * frac
    fill = mel.mean(dim=2, keepdim=True)
    mask = torch.zeros((b, m, t), dtype=torch.bool, device=dev)
    rows = torch.arange(m, device=dev)[None, :]
    for _ in range(cfg.freq_masks):
        w = torch.randint(cfg.freq_mask_width + 1, (b, 1), generator=g, device=dev)
        f0 = (torch.rand((b, 1), generator=g, device=dev) * (m - w + 1)).long()
        mask |= ((rows >= f0) & (rows < f0 + w))[:, :, None]
    cols = torch.arange(t, device=dev)[None, :]
    for _ in range(cfg.time_masks):
        w = (torch.rand((b, 1), generator=g, device=dev) * cfg.time_mask_frac * t).long()
        t0 = (torch.rand((b, 1), generator=g, device=dev) * (t - w + 1)).long()
        mask |= ((cols >= t0) & (cols < t0 + w))[:, None, :]
    return torch.where(mask, fill.expand_as(mel), mel)

"""Waveform and spectrogram augmentation (streamlid.training.augment): shapes, ranges, effects, seeds."""

from __future__ import annotations

import math

import pytest
import torch

from streamlid.model.features import LogMel
from streamlid.training.augment import (
    AugmentConfig,
    augment_logmel,
    augment_waveform,
    coloured_noise,
    mu_law,
    room_impulse,
)

SR = 16000


def speechlike(batch: int = 6, samples: int = 12345, seed: int = 0) -> torch.Tensor:
    """Harmonic tones with a syllable-rate envelope, peak about 0.5."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / SR
    f0 = 100 + 150 * torch.rand((batch, 1), generator=g)
    x = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 8))
    return 0.25 * x * (1 + torch.sin(2 * math.pi * 4 * t)) / 2


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def band_energy(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    spec = torch.fft.rfft(x).abs().square()
    f = torch.fft.rfftfreq(x.shape[-1], 1 / SR)
    return spec[:, (f >= lo) & (f < hi)].sum(-1)


def test_waveform_shape_range_and_seed():
    x = speechlike()
    a = augment_waveform(x, AugmentConfig(), gen(1))
    b = augment_waveform(x, AugmentConfig(), gen(1))
    c = augment_waveform(x, AugmentConfig(), gen(2))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert torch.isfinite(a).all() and a.abs().max() <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_everything_off_is_identity():
    x = speechlike()
    assert torch.equal(augment_waveform(x, AugmentConfig().without("all"), gen(0)), x)
    mel = LogMel()(x)
    assert torch.equal(augment_logmel(mel, AugmentConfig().without("all"), gen(0)), mel)


def test_unknown_group_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation group"):
        AugmentConfig().without("echo")


def only(**changes) -> AugmentConfig:
    return AugmentConfig(**{**AugmentConfig().without("all").to_dict(), **changes})


def test_telephone_removes_energy_above_3400_hz():
    x = speechlike() + 0.02 * torch.randn(6, 12345, generator=gen(0))
    y = augment_waveform(x, only(telephone_p=1.0), gen(0))
    ratio = band_energy(y, 4000, 8000) / band_energy(y, 300, 3400)
    assert (ratio < 1e-3).all()  # what is left is mu-law quantisation noise
    assert (band_energy(x, 4000, 8000) / band_energy(x, 300, 3400) > 1e-2).all()


def test_noise_sets_the_signal_to_noise_ratio():
    x = speechlike()
    y = augment_waveform(x, only(noise_p=1.0, noise_snr_db=(10.0, 10.0)), gen(0))
    snr = 10 * torch.log10(x.square().sum(-1) / (y - x).square().sum(-1))
    assert torch.allclose(snr, torch.full_like(snr, 10.0), atol=0.1)


def test_gain_and_clipping_stay_in_range():
    x = speechlike()
    y = augment_waveform(x, only(clip_p=1.0), gen(0))
    assert y.abs().max() == 1.0
    assert ((y.abs() == 1.0).float().mean(-1) > 0.01).all()  # overdriven: many samples at full scale


def test_reverb_keeps_level_and_smears_in_time():
    x = torch.zeros(2, SR)
    x[:, 1000] = 0.5
    y = augment_waveform(x, only(reverb_p=1.0, rt60_s=(0.5, 0.5)), gen(0))
    assert torch.allclose(y.square().sum(-1), x.square().sum(-1), rtol=1e-3)
    assert ((y[:, 1000 + 800 :].abs() > 1e-4).sum(-1) > 1000).all()


def test_room_impulse_direct_path_and_decay():
    h = room_impulse(8000, torch.tensor([0.3, 0.8]), gen(0))
    assert h.shape == (2, 8000) and torch.all(h[:, 0] == 1.0)
    assert torch.allclose(h[:, 1:].square().sum(-1), torch.ones(2), atol=1e-4)
    late = h[:, 4000:].square().sum(-1)
    assert late[0] < late[1]  # the shorter RT60 has died away more by 0.25 s


def test_coloured_noise_slope():
    white = coloured_noise((4, 16000), torch.zeros(4), gen(0))
    brown = coloured_noise((4, 16000), torch.full((4,), 2.0), gen(0))
    assert torch.allclose(white.square().mean(-1), torch.ones(4), atol=1e-3)
    low_high = lambda n: band_energy(n, 50, 500) / band_energy(n, 4000, 8000)  # noqa: E731
    assert (low_high(brown) > 100 * low_high(white)).all()


def test_mu_law_round_trip():
    x = torch.linspace(-1, 1, 10001)
    y = mu_law(x)
    assert ((y - x).abs() <= 0.04 * x.abs() + 2e-3).all()  # a logarithmic quantiser: relative error
    assert len(torch.unique(y)) <= 256


def test_logmel_masks_and_warp():
    mel = LogMel()(speechlike(samples=SR))
    cfg = only(freq_masks=2, freq_mask_width=8, time_masks=2, time_mask_frac=0.2)
    a = augment_logmel(mel, cfg, gen(0))
    assert a.shape == mel.shape
    assert torch.equal(a, augment_logmel(mel, cfg, gen(0)))
    changed = a != mel
    assert changed.any() and changed.float().mean() < 0.6
    band_mean = mel.mean(dim=2, keepdim=True).expand_as(mel)
    assert torch.equal(a[changed], band_mean[changed])  # masked cells hold their band's mean
    warped = augment_logmel(mel, only(vtlp_p=1.0, vtlp_alpha=(1.1, 1.1)), gen(0))
    assert warped.shape == mel.shape and not torch.equal(warped, mel)
    assert torch.allclose(warped[:, 0], mel[:, 0])  # the warp is anchored at the lowest band

"""features.py (log-mel front end) and the parts of the model the features feed (model/architectures.py, model/format.py): normalisation, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support import TINY, random_crnn

from streamlid.model.architectures import CRNN, ModelConfig
from streamlid.model.checkpoint import ModelError
from streamlid.model.classifier import Classifier
from streamlid.model.features import FeatureConfig, LogMel, frames_for, mel_filterbank, seconds_to_samples
from streamlid.model.format import load_model, save_model

SR = 16000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR
    return (amp * torch.sin(2 * torch.pi * freq * t)).float()


def test_filterbank_shape_and_triangles():
    cfg = FeatureConfig()
    fb = mel_filterbank(cfg)
    assert fb.shape == (cfg.n_mels, cfg.n_fft // 2 + 1)
    assert torch.all(fb >= 0) and torch.all(fb <= 1.0 + 1e-6)
    assert torch.all(fb.sum(dim=1) > 0), "every mel band covers some FFT bin"
    peaks = fb.argmax(dim=1)
    assert torch.all(peaks[1:] >= peaks[:-1]), "band centres rise with the band index"
    freqs = torch.linspace(0, SR / 2, cfg.n_fft // 2 + 1)
    covered = freqs[fb.sum(dim=0) > 0]
    assert covered.min() >= cfg.f_min - SR / cfg.n_fft and covered.max() <= cfg.f_max + SR / cfg.n_fft


@pytest.mark.parametrize("samples", [400, 8000, 16000, 32001])
def test_logmel_shape_matches_frames_for(samples):
    mel = LogMel()(torch.zeros(2, samples))
    assert mel.shape == (2, 64, frames_for(samples))
    assert torch.isfinite(mel).all()


def test_silence_gives_the_floor():
    mel = LogMel()(torch.zeros(1, SR))
    torch.testing.assert_close(mel, torch.full_like(mel, float(np.log(1e-6))))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 4000.0])
def test_a_tone_lights_up_its_band(freq):
    cfg = FeatureConfig()
    mel = LogMel(cfg)(tone(freq)[None])[0]
    band = int(mel[:, 10:-10].mean(dim=1).argmax())
    centres = mel_filterbank(cfg).argmax(dim=1).float() * SR / cfg.n_fft
    assert abs(float(centres[band]) - freq) <= 0.12 * freq + 60


def test_gain_only_shifts_the_log_mel():
    x = tone(700.0)[None] + 0.05 * torch.randn(1, SR, generator=torch.Generator().manual_seed(0))
    a, b = LogMel()(x)[..., 3:-3], LogMel()(0.1 * x)[..., 3:-3]  # the edges are zero-padded
    loud = b > np.log(1e-3)  # well above the 1e-6 floor
    assert loud.float().mean() > 0.9
    torch.testing.assert_close((a - b)[loud], torch.full_like(a[loud], float(np.log(100.0))), atol=0.02, rtol=0)


def test_model_normalisation_removes_gain_and_fixed_colouring():
    model, _ = random_crnn(TINY)
    mel = LogMel()(torch.randn(1, SR, generator=torch.Generator().manual_seed(1)))
    colour = torch.linspace(-3, 3, 64)[None, :, None]  # a fixed per-band channel response
    a = model.normalise(mel)
    b = model.normalise(mel + colour + 2.0)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_seconds_to_samples_rounds():
    assert seconds_to_samples(0.5) == 8000
    assert seconds_to_samples(1 / 3) == 5333
    assert seconds_to_samples(0.0) == 0


# -- the model on top of the features --------------------------------------------------------------


@pytest.mark.parametrize("samples", [1600, 8000, 32000, 80000])
def test_model_takes_any_window_of_at_least_a_tenth_of_a_second(samples):
    model, _ = random_crnn(TINY)
    with torch.inference_mode():
        out = model(torch.randn(3, samples) * 0.1)
    assert out.shape == (3, TINY.n_languages) and torch.isfinite(out).all()


def test_checkpoint_round_trip(tmp_path):
    model, info = random_crnn(TINY, seed=3)
    path = save_model(model, info, tmp_path / "m.safetensors")
    assert path.exists() and path.with_suffix(".json").exists()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["format"] == "streamlid-model" and meta["languages"] == info.languages
    loaded, loaded_info = load_model(path)
    assert loaded_info.languages == info.languages and loaded_info.config == info.config
    x = torch.randn(2, 16000) * 0.1
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))
    # the metadata path names the same model
    assert load_model(path.with_suffix(".json"))[1].languages == info.languages
    lp = Classifier(loaded, loaded_info).log_probs([x[0].numpy(), x[1].numpy()[:8000]])
    assert lp.shape == (2, 6)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, rtol=1e-5)


def test_checkpoint_errors_are_one_line(tmp_path):
    model, info = random_crnn(TINY)
    path = save_model(model, info, tmp_path / "m.safetensors")
    meta = path.with_suffix(".json")
    cases = []
    with pytest.raises(ModelError, match="not found") as e:
        load_model(tmp_path / "nope.safetensors")
    cases.append(e)
    good = meta.read_text()
    meta.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON") as e:
        load_model(path)
    cases.append(e)
    meta.write_text(json.dumps({**json.loads(good), "languages": ["eng", "deu"]}))
    with pytest.raises(ModelError, match="2 languages but 6 outputs") as e:
        load_model(path)
    cases.append(e)
    meta.write_text(good)
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="cannot read model weights") as e:
        load_model(path)
    cases.append(e)
    other, _ = random_crnn(ModelConfig(n_languages=6, channels=(4, 4, 4, 4), rnn_hidden=8, embed_dim=8))
    save_model(other, info, path)
    meta.write_text(good)
    with pytest.raises(ModelError, match="does not match its metadata") as e:
        load_model(path)
    cases.append(e)
    for e in cases:
        assert "\n" not in str(e.value), str(e.value)


def test_crnn_rejects_mismatched_config():
    with pytest.raises(ValueError):
        CRNN(ModelConfig(n_languages=3, channels=(8, 8), time_pool=(1, 1, 1)))

"""Whisper's language step on unpadded windows (streamlid.model.language_step, model.architectures.WhisperLID): any length,
mixed-length batches, the padded mode, the checkpoint, and distillation from the padded network."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from support import REPO, tiny_config

from streamlid.core.languages import CORE
from streamlid.model.architectures import WhisperLID, WhisperLIDConfig
from streamlid.model.encoder import EncoderConfig, pad_windows
from streamlid.model.format import ModelInfo, load_model, save_model
from streamlid.training.train import Trainer

SMALL = EncoderConfig(n_mels=80, width=64, heads=4, layers=2)


def small_lid(padded: bool = False, seed: int = 0) -> WhisperLID:
    torch.manual_seed(seed)
    model = WhisperLID(WhisperLIDConfig(n_languages=5, padded=padded, decoder_layers=2, encoder=SMALL.to_dict()))
    with torch.no_grad():
        for name, p in model.step.named_parameters():
            if name == "languages":
                p.normal_()
        model.step.start.normal_()
    return model.eval()


def test_any_window_length_gives_one_logit_per_language():
    model = small_lid()
    for seconds in (0.12, 0.5, 1.0, 2.7, 7.0):
        with torch.inference_mode():
            logits = model(torch.randn(2, int(seconds * 16000)) * 0.1)
        assert logits.shape == (2, 5) and torch.isfinite(logits).all()


def test_a_mixed_length_batch_equals_each_window_alone():
    model = small_lid()
    rng = np.random.default_rng(0)
    windows = [torch.from_numpy(rng.standard_normal(n).astype(np.float32) * 0.1) for n in (8000, 16000, 11230, 3300)]
    mel, frames = pad_windows(windows, model.logmel)
    with torch.inference_mode():
        batched = model.forward_features(mel, frames)
        alone = torch.cat([model(w[None]) for w in windows])
        unmasked = model.forward_features(mel)
    assert torch.allclose(batched, alone, atol=1e-4), float((batched - alone).abs().max())
    # without the frame counts the step would attend to the padding
    assert not torch.allclose(unmasked[3], alone[3], atol=1e-3)


def test_the_padded_mode_is_the_window_followed_by_silence_up_to_30_s():
    unpadded, padded = small_lid(), small_lid(padded=True)
    x = torch.randn(1, 16000) * 0.1
    with torch.inference_mode():
        by_hand = unpadded(torch.nn.functional.pad(x, (0, 30 * 16000 - x.shape[1])))
        assert torch.allclose(padded(x), by_hand, atol=1e-5)
        assert not torch.allclose(padded(x), unpadded(x), atol=1e-3)


def test_a_saved_whisper_lid_loads_through_load_model_within_the_int8_step(tmp_path):
    model = small_lid()
    cfg = model.cfg
    info = ModelInfo(["eng", "deu", "fra", "spa", "cmn"], cfg, model.features, version="test")
    loaded, again = load_model(save_model(model, info, tmp_path / "m.safetensors"))
    assert isinstance(loaded, WhisperLID) and again.config == cfg and again.languages == info.languages
    x = torch.randn(2, 16000) * 0.1
    with torch.inference_mode():
        a, b = loaded(x).softmax(-1), model(x).softmax(-1)
    assert (a - b).abs().max() < 0.05
    with pytest.raises(TypeError):
        WhisperLIDConfig.from_dict({"n_languages": 5, "no_such_field": 1})


@pytest.fixture(scope="module")
def whisper_files(tmp_path_factory):
    """Whisper-base's encoder and language step converted from the `peer` extra's packages."""
    pytest.importorskip("faster_whisper")
    out = tmp_path_factory.mktemp("whisper")
    subprocess.run([sys.executable, str(REPO / "tools" / "convert_whisper_encoder.py"), str(out)], check=True)
    return out / "whisper-base-encoder.safetensors", out / "whisper-base-langid.safetensors"


@pytest.mark.e2e
def test_tiny_distillation_brings_the_unpadded_step_toward_the_padded_teacher(tmp_path, whisper_files):
    encoder, langid = (str(f) for f in whisper_files)
    cfg = tiny_config(
        tmp_path,
        architecture="whisper-lid",
        encoder=encoder,
        language_step=langid,
        teacher=langid,
        teacher_weight=1.0,
        model={},
        steps=8,
        eval_every=8,
        batch_size=4,
        lr=3e-4,
        warmup_steps=1,
        crop_s=(0.5, 1.0),
    )
    torch.manual_seed(0)
    trainer = Trainer(cfg, progress_bar=False)
    assert len(trainer.languages) == 99 and set(CORE) <= set(trainer.languages)
    bank = trainer.train_bank
    idx = torch.arange(0, len(bank), len(bank) // 6)[:6]
    ones = torch.ones(len(idx), dtype=torch.float64)
    wav = bank.crop(idx, 16000, ones, ones.float() * 0.5)  # centred 1-s windows, no augmentation
    target = trainer.teacher(wav)  # the same network padded to 30 s

    def divergence() -> float:
        trainer.model.eval()
        with torch.no_grad():
            log_p = torch.log_softmax(trainer.model(wav), -1)
        return float((target * (target.clamp_min(1e-12).log() - log_p)).sum(-1).mean())

    before = divergence()
    trainer.run()
    after = divergence()
    assert after < 0.5 * before, (before, after)  # measured: 2.32 -> 0.40
    model, info = load_model(tmp_path / "run" / "model.safetensors")
    assert isinstance(model, WhisperLID) and info.languages == trainer.languages
    assert info.training["config"]["teacher"] == langid


def test_windows_are_packed_in_place_padded_with_zeros_views_and_read_only_ones_too():
    from streamlid.model.classifier import pack_rows

    short, full = (np.arange(3, dtype=np.float32) + 1)[::-1], np.full(5, 0.5, dtype=np.float32)  # a view too
    full.flags.writeable = False  # as Ray hands them over
    out = torch.full((4, 5), 7.0, dtype=torch.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pack_rows([short, full], out) is out
    assert out.tolist() == [[3, 2, 1, 0, 0], [0.5] * 5, [0] * 5, [0] * 5]


def test_compiling_is_for_a_gpu():
    from streamlid.model.classifier import Classifier

    model = small_lid()
    classifier = Classifier(model, ModelInfo(["eng", "deu"], model.cfg, model.features, version="test"))
    assert classifier.compile() is False and not classifier.compiled and "hidden" not in vars(classifier.model)


def test_the_classifier_scores_mixed_lengths_in_one_call_as_each_alone():
    from streamlid.model.calibration import Calibration
    from streamlid.model.classifier import Classifier

    model = small_lid()
    info = ModelInfo(["eng", "deu", "fra", "spa", "cmn"], model.cfg, model.features, version="test")
    info.calibration = Calibration(temperature=0.7, unknown_weights=(0.1, -0.2, 0.3, 0.5), unknown_bias=0.2)
    classifier = Classifier(model, info)
    rng = np.random.default_rng(1)
    windows = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (8160, 32000, 12480, 8160, 21120)]
    calls = []
    model.register_forward_hook(lambda m, args, out: calls.append(args[0].shape))
    per_length = classifier.log_probs(windows)
    assert len(calls) == 4  # the CPU default: one call per length
    classifier.one_call, calls[:] = True, []
    together = classifier.log_probs(windows)
    assert calls == [(5, 32000)]
    assert np.allclose(together, per_length, atol=1e-4), np.abs(together - per_length).max()
    # a GPU's batch is padded to a few shapes (rows and samples, masked): the scores stay each window's own
    classifier.round_rows, classifier.round_samples, calls[:] = 4, 12000, []
    rounded = classifier.log_probs(windows)
    assert calls == [(8, 36000)]
    assert np.allclose(rounded, per_length, atol=1e-4), np.abs(rounded - per_length).max()
    # warming up scores each shape a caller can send: each rounded row count and length, the windows of
    # one length (unmasked) and of two (masked)
    shapes = []
    model.register_forward_hook(
        lambda m, args, kwargs, out: shapes.append((*args[0].shape, "lengths" in kwargs)), with_kwargs=True
    )
    classifier.warm_up(2.0, most_windows=6)
    lengths = (12000, 24000, 36000)
    assert shapes == [(rows, n, masked) for rows in (4, 8) for n in lengths for masked in (False, True)]
    classifier.round_rows = classifier.round_samples = 1  # the CPU's: nothing to warm up
    shapes[:] = []
    classifier.warm_up(2.0, most_windows=6)
    assert shapes == []
    # the open set reads each window's own length
    seconds = classifier.info.calibration.log_probs(torch.zeros(2, 5), torch.tensor([0.5, 2.0]))
    assert not torch.allclose(seconds[0], seconds[1])

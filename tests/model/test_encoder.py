"""Whisper-base's encoder and language detection in plain torch (streamlid.model.encoder, streamlid.training.teacher):
any length, mixed-length batches, the int8 storage, and the port checked against CTranslate2 itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from support import REPO, SPEECH_CLIP, dev_clip, tiny_config

from streamlid.core.audio import load_mono_16k
from streamlid.core.languages import CORE, WHISPER_TO_ISO639_3
from streamlid.model.architectures import WhisperGRU, WhisperGRUConfig, WhisperLID
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.encoder import EncoderConfig, WhisperEncoder, WhisperLogMel, pad_windows, stem_lengths
from streamlid.model.format import load_model, save_model
from streamlid.model.int8 import dequantize, load_packed_state, pack_int8, quantized_int8, unpack_int8
from streamlid.training.train import Trainer, build_training_model

SMALL = EncoderConfig(n_mels=80, width=64, heads=4, layers=2)


def small_encoder(seed: int = 0) -> WhisperEncoder:
    torch.manual_seed(seed)
    return WhisperEncoder(SMALL).eval()


def test_any_length_gives_one_output_per_two_frames_from_every_layer():
    enc, logmel = small_encoder(), WhisperLogMel()
    for seconds in (0.12, 0.5, 1.0, 2.7):
        mel = logmel(torch.randn(1, int(seconds * 16000)) * 0.1)
        assert mel.shape == (1, 80, int(seconds * 16000) // 160)
        with torch.inference_mode():
            outputs = enc(mel)
        assert len(outputs) == SMALL.layers + 2  # stem, each block, final LayerNorm
        positions = int(stem_lengths(torch.tensor(mel.shape[-1])))
        assert all(o.shape == (1, positions, SMALL.width) for o in outputs)
    with pytest.raises(ValueError, match="30 s"):
        enc(torch.zeros(1, 80, 3002))


def test_the_front_end_of_a_mixed_length_batch_is_each_windows_own():
    logmel = WhisperLogMel()
    rng = np.random.default_rng(2)
    lengths = [4000, 32000, 11230, 3301, 16160, 4000]
    wav = torch.zeros(len(lengths), max(lengths))
    for row, n in zip(wav, lengths, strict=True):
        row[:n] = torch.from_numpy(rng.standard_normal(n).astype(np.float32)) * 0.1 * (1 + n / 8000)
    mel, frames = logmel.of_lengths(wav, torch.tensor(lengths))
    assert frames.tolist() == [n // 160 for n in lengths] and mel.shape == (6, 80, 200)
    for i, n in enumerate(lengths):
        alone = logmel(wav[i : i + 1, :n])[0]  # its own end reflected, its own floor
        assert alone.shape[-1] == frames[i]
        assert torch.allclose(mel[i, :, : frames[i]], alone, atol=1e-5), float(
            (mel[i, :, : frames[i]] - alone).abs().max()
        )
        assert not mel[i, :, frames[i] :].any()


def test_a_mixed_length_batch_equals_each_window_alone():
    enc, logmel = small_encoder(), WhisperLogMel()
    rng = np.random.default_rng(0)
    windows = [torch.from_numpy(rng.standard_normal(n).astype(np.float32) * 0.1) for n in (8000, 16000, 11230, 3300)]
    mel, frames = pad_windows(windows, logmel)
    assert frames.tolist() == [50, 100, 70, 20] and mel.shape == (4, 80, 100)
    with torch.inference_mode():
        batched = enc(mel, frames)
        for i, w in enumerate(windows):
            alone = enc(logmel(w[None]))
            n = alone[0].shape[1]
            for b, a in zip(batched, alone, strict=True):
                assert torch.allclose(b[i, :n], a[0], atol=1e-4), (i, float((b[i, :n] - a[0]).abs().max()))
                assert not b[i, n:].any()  # padding positions are zero, never garbage
    # without the frame counts the padding would leak into the real positions
    with torch.inference_mode():
        unmasked = enc(mel)[-1]
    assert not torch.allclose(unmasked[3, :10], batched[-1][3, :10], atol=1e-3)


def test_int8_storage_round_trips_within_its_step():
    torch.manual_seed(0)
    w = torch.randn(96, 128) * torch.logspace(-2, 1, 128)  # columns of very different scales
    state = {"a.weight": w, "a.bias": torch.randn(96), "b.weight": torch.randn(64, 64), "small": torch.randn(4, 4)}
    packed = pack_int8(state, keep=("b.",))
    assert packed["a.weight"].dtype == torch.int8 and packed["a.weight.int8_scale"].shape == (96, 2)
    assert packed["b.weight"].dtype == torch.float16 and packed["a.bias"].dtype == torch.float32
    assert packed["small"].dtype == torch.float32  # too small to be worth it
    back = unpack_int8(packed)
    assert back.keys() == state.keys()
    into = torch.empty(96, 128)
    assert dequantize(packed["a.weight"], packed["a.weight.int8_scale"], out=into) is into
    assert torch.equal(into, back["a.weight"])  # in place: the same values, no temporaries
    model = torch.nn.ModuleDict({"a": torch.nn.Linear(128, 96), "b": torch.nn.Linear(64, 64, bias=False)})
    model.register_buffer("small", torch.zeros(4, 4))
    load_packed_state(model, packed)
    assert not packed  # emptied as it went: the file's tensors are not kept beside the model's
    assert torch.equal(model.a.weight.data, back["a.weight"]) and torch.equal(model.small, state["small"])
    step = w.abs().reshape(96, 2, 64).amax(-1, keepdim=True) / 127
    assert ((back["a.weight"] - w).abs().reshape(96, 2, 64) <= step * 0.501).all()  # the scale is float16


def test_v2_v3_and_v4_load_through_one_load_model(tmp_path):
    v4, info4 = load_model()
    assert DEFAULT_MODEL.name == "streamlid-v4.safetensors" and isinstance(v4, WhisperLID)
    assert info4.features.kind == "whisper-log-mel" and set(CORE) <= set(info4.languages) and len(info4.languages) == 99
    v2, info2 = load_model(REPO / "streamlid" / "models" / "streamlid-v2.safetensors")
    assert info2.config.name == "crnn" and info2.features.kind == "log-mel"
    # v3's weights left the package; its metadata (models/training) with weights of its architecture loads
    v3_meta = json.loads((REPO / "models" / "training" / "streamlid-v3" / "model.json").read_text())
    arch = {k: v for k, v in v3_meta["architecture"].items() if k != "name"}
    weights = save_model(WhisperGRU(WhisperGRUConfig.from_dict(arch)), info2, tmp_path / "v3.safetensors")
    (tmp_path / "v3.json").write_text(json.dumps(v3_meta))
    v3, info3 = load_model(weights)
    assert isinstance(v3, WhisperGRU) and info3.version == "3" and info3.calibration.temperature != 1.0
    x = torch.from_numpy(load_mono_16k(dev_clip(SPEECH_CLIP))[16000:64000])[None]
    with torch.inference_mode():
        for model, info in ((v4, info4), (v2, info2)):
            assert info.languages[int(model(x).argmax())] == "eng"
        assert v3(x).shape == (1, len(info3.languages))


def test_saved_whisper_model_keeps_its_weights_within_the_int8_step(tmp_path):
    cfg = WhisperGRUConfig(n_languages=3, rnn_hidden=8, embed_dim=8, encoder=SMALL.to_dict(), first_layer=1)
    torch.manual_seed(1)
    model = WhisperGRU(cfg).eval()
    _, info = load_model()
    info.languages, info.config = ["eng", "deu", "fra"], cfg
    loaded, again = load_model(save_model(model, info, tmp_path / "m.safetensors"))
    assert again.config == cfg
    x = torch.randn(2, 16000) * 0.1
    with torch.inference_mode():
        assert torch.allclose(loaded(x), model(x), atol=0.05)


@pytest.mark.e2e
def test_tiny_whisper_gru_training_run_reduces_the_loss(tmp_path):
    from safetensors.torch import save_file

    encoder = small_encoder(3)
    with torch.no_grad():  # a random stem's output is tiny beside the positions; a trained one's is not
        encoder.conv1.weight.mul_(20)
        encoder.conv2.weight.mul_(20)
    save_file(encoder.state_dict(), str(tmp_path / "enc.safetensors"))
    cfg = tiny_config(
        tmp_path,
        architecture="whisper-gru",
        encoder=str(tmp_path / "enc.safetensors"),
        finetune_layers=1,
        model={"rnn_hidden": 16, "embed_dim": 16, "dropout": 0.0, "first_layer": 1, "encoder": SMALL.to_dict()},
        steps=60,
        eval_every=60,
        lr=1e-2,
    )
    trainer = Trainer(cfg, progress_bar=False)
    # only the top block (and the final LayerNorm) of the encoder is trained
    trained = {n for n, p in trainer.model.encoder.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("blocks.1.", "ln_post")) for n in trained)
    torch.manual_seed(0)
    wav, mel, idx = trainer.batch()
    trainer.model.eval()
    with torch.no_grad():
        before = float(trainer.loss(wav, mel, idx)[1])
    frozen_before = trainer.model.encoder.blocks[0].mlp[0].weight.clone()
    result = trainer.run()
    trainer.model.eval()
    with torch.no_grad():
        after = float(trainer.loss(wav, mel, idx)[1])
    assert result["steps"] == 60 and after < 0.7 * before, (before, after)
    assert torch.equal(trainer.model.encoder.blocks[0].mlp[0].weight, frozen_before)
    model, info = load_model(tmp_path / "run" / "model.safetensors")
    assert isinstance(model, WhisperGRU) and info.training["config"]["finetune_layers"] == 1


def test_building_a_whisper_model_needs_its_encoder(tmp_path):
    with pytest.raises(ValueError, match="--encoder"):
        build_training_model(tiny_config(tmp_path, architecture="whisper-gru"), 2)


# -- against CTranslate2 (the `peer` extra: faster-whisper and the packaged Whisper-base weights) --------


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    pytest.importorskip("faster_whisper")
    from streamlid.evaluation.peer import assemble_model

    out = tmp_path_factory.mktemp("whisper")
    subprocess.run([sys.executable, str(REPO / "tools" / "convert_whisper_encoder.py"), str(out)], check=True)
    return assemble_model(), out


@pytest.fixture(scope="module")
def ct2_model(converted):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel

    return WhisperModel(str(converted[0]), device="cpu", compute_type="float32", cpu_threads=2)


@pytest.mark.e2e
def test_front_end_and_encoder_match_ctranslate2(converted, ct2_model):
    import ctranslate2

    x = load_mono_16k(dev_clip("real/aishell3/cmn/ssb0005-ssb00050001.opus"))[: 3 * 16000]
    ref_mel = ct2_model.feature_extractor(x, padding=0)
    mel = WhisperLogMel()(torch.from_numpy(x)[None])
    assert mel.shape[1:] == ref_mel.shape and float((mel[0] - torch.from_numpy(ref_mel)).abs().max()) < 1e-3
    ref = np.array(
        ct2_model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(ref_mel[None])), to_cpu=True)
    )[0]
    enc = WhisperEncoder()
    from safetensors.torch import load_file

    enc.load_state_dict(unpack_int8(load_file(str(converted[1] / "whisper-base-encoder.safetensors"))))
    with torch.inference_mode():
        ours = enc.eval()(torch.from_numpy(ref_mel)[None])[-1][0].numpy()
    # int8 storage with float16 stem and first block: measured max 0.68 on outputs up to ~17
    assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1.5
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.9998


@pytest.mark.e2e
def test_language_detection_matches_ctranslate2(converted, ct2_model):
    from streamlid.training.teacher import WhisperTeacher

    folder = converted[1]
    teacher = WhisperTeacher.load(
        folder / "whisper-base-encoder.safetensors", folder / "whisper-base-langid.safetensors", ["cmn", "eng", "deu"]
    )
    fe = ct2_model.feature_extractor
    for path in ("real/aishell3/cmn/ssb0005-ssb00050001.opus", SPEECH_CLIP):
        x = load_mono_16k(dev_clip(path))[: 2 * 16000]
        feats = fe(np.pad(x, (0, fe.n_samples - len(x))))[..., : fe.nb_max_frames]
        ref = {tok[2:-2]: p for tok, p in ct2_model.model.detect_language(ct2_model.encode(feats))[0]}
        wav = torch.from_numpy(x)[None]
        probs = torch.softmax(teacher.whisper_logits(wav), -1)[0].tolist()
        whisper_code = {iso: code for code, iso in WHISPER_TO_ISO639_3.items()}
        ours = {whisper_code[c]: p for c, p in zip(teacher.whisper_languages, probs, strict=True)}
        assert max(abs(ref[c] - ours[c]) for c in ref) < 0.01
        probs = teacher(wav)[0]  # renormalised over the student's languages
        assert abs(float(probs.sum()) - 1) < 1e-5
        assert abs(float(probs[0]) - ref["zh"] / (ref["zh"] + ref["en"] + ref["de"])) < 0.02


def test_int8_classifier_quantises_the_linear_layers_and_agrees(random_model):
    from streamlid.model.classifier import Classifier

    x = load_mono_16k(dev_clip(SPEECH_CLIP))[16000:48000]
    fp32, int8 = Classifier.load(compute="cpu", int8=False), Classifier.load(compute="cpu")
    assert int8.int8 and not fp32.int8  # int8 is the shipped model's choice on the CPU, float32 one flag away
    assert not Classifier.load(random_model, "cpu").int8  # a model that does not choose it runs float32
    copy = quantized_int8(fp32.model, tuple(fp32.info.int8_float_layers))  # a copy, unless in place
    assert copy is not fp32.model and type(fp32.model.encoder.blocks[3].attn.qkv) is torch.nn.Linear
    with torch.inference_mode():  # quantised as it loaded (never float32 whole) = quantised after loading
        assert torch.equal(copy(torch.from_numpy(x)[None]), int8.model(torch.from_numpy(x)[None]))
    qkv = int8.model.encoder.blocks[3].attn.qkv
    assert type(qkv).__module__.startswith("torch.ao.nn.quantized")
    assert qkv.weight().qscheme() == torch.per_channel_affine
    # the one layer whose int8 error turned distant speech into "no speech" stays in float32
    assert int8.info.int8_float_layers == ["encoder.blocks.3.mlp.2"]
    assert type(int8.model.encoder.blocks[3].mlp[2]) is torch.nn.Linear
    a, b = fp32.log_probs([x])[0], int8.log_probs([x])[0]
    assert a.argmax() == b.argmax() and np.abs(np.exp(a) - np.exp(b)).max() < 0.1


@pytest.mark.e2e
def test_a_built_wheel_carries_every_shipped_model_the_schema_the_page_and_the_nonspeech_clips(installed_wheel):
    import zipfile

    wheel, _ = installed_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("streamlid-v4", "streamlid-v2"):
        assert {f"streamlid/models/{model}.safetensors", f"streamlid/models/{model}.json"} <= names
    assert "streamlid/core/protocol.schema.json" in names  # streamlid.core.events reads the event types from it
    assert "streamlid/serving/static/index.html" in names  # the browser page
    nonspeech = "streamlid/evaluation/nonspeech_clips/"
    assert f"{nonspeech}manifest.csv" in names and any(n.startswith(nonspeech) and n.endswith(".opus") for n in names)

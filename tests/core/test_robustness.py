"""Robustness of the core and the model file: any chunking, any awkward samples, an hour of silence, hostile
model files and a GPU that runs out of memory (driven on the CPU: no GPU exists on CI).

Every stream here must end in schema-valid events with gapless `seq` (support.check_events).
"""

from __future__ import annotations

import logging
import pickle
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import TINY, assert_same_events, check_events, random_crnn, run_stream

from streamlid.core.stream import LanguageStream
from streamlid.model.checkpoint import ModelError
from streamlid.model.classifier import Classifier
from streamlid.model.format import load_model, save_model

SR = 16000
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tiny_classifier() -> Classifier:
    model, info = random_crnn(TINY)
    return Classifier(model, info, "cpu")


@pytest.fixture(scope="module")
def whole(random_classifier, speech_16k) -> list[dict]:
    return run_stream(random_classifier, speech_16k)[0]


# -- chunking invariance ---------------------------------------------------------------------------------


@FAST
@given(cuts=st.lists(st.integers(1, 5 * SR), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_events(random_classifier, speech_16k, whole, cuts):
    stream = LanguageStream(random_classifier, SR, 1)
    events, pos = [], 0
    for n in cuts:
        events += stream.push(speech_16k[pos : pos + n])
        pos += n
    events += stream.push(speech_16k[pos:]) + stream.close()
    check_events(events, random_classifier.languages)
    assert_same_events(events, whole)


# -- awkward samples -------------------------------------------------------------------------------------

awkward = st.fixed_dictionaries(
    {
        "rate": st.integers(1000, 384000),
        "channels": st.integers(1, 64),
        "dtype": st.sampled_from(["int16", "float32"]),
        "seconds": st.floats(0.0, 1.5),
        "kind": st.sampled_from(["noise", "tone", "dc", "clipped", "nan-inf", "zeros"]),
        "chunk": st.integers(1, 20000),
        "seed": st.integers(0, 2**16),
    }
)


def awkward_audio(a: dict) -> np.ndarray:
    rng = np.random.default_rng(a["seed"])
    frames = max(1, min(int(a["seconds"] * a["rate"]), 400_000 // a["channels"]))
    t = np.arange(frames)[:, None] / a["rate"]
    x = {
        "noise": rng.normal(0, 0.3, (frames, a["channels"])),
        "tone": 0.5 * np.sin(2 * np.pi * 220 * t) * np.ones(a["channels"]),
        "dc": 0.7 + 0.01 * rng.normal(size=(frames, a["channels"])),
        "clipped": 40 * np.sin(2 * np.pi * 300 * t) * np.ones(a["channels"]),
        "nan-inf": rng.choice([np.nan, np.inf, -np.inf, 0.2, -0.9], (frames, a["channels"])),
        "zeros": np.zeros((frames, a["channels"])),
    }[a["kind"]]
    if a["dtype"] == "int16":
        return (np.nan_to_num(np.clip(x, -1, 1)) * 32767).astype(np.int16)
    return x.astype(np.float32)


@FAST
@given(a=awkward)
def test_awkward_audio_never_crashes_and_events_follow_the_schema(tiny_classifier, a):
    audio = awkward_audio(a)
    stream = LanguageStream(tiny_classifier, a["rate"], a["channels"])
    events = []
    for i in range(0, len(audio), a["chunk"]):
        events += stream.push(audio[i : i + a["chunk"]])
    events += stream.close()
    check_events(events, tiny_classifier.languages)
    if a["kind"] == "nan-inf" and a["dtype"] == "float32":
        assert events[-1]["stats"]["nonfinite_samples"] > 0


class NoModel:
    """The model's languages and a scorer that must never be called."""

    languages = ["eng", "deu", "fra"]

    def log_probs(self, windows):
        raise AssertionError(f"{len(windows)} window(s) of silence reached the model")


@pytest.mark.e2e
def test_an_hour_of_silence_is_fast_flat_and_never_reaches_the_model():
    stream = LanguageStream(NoModel(), SR, 1)
    zeros = np.zeros(20 * SR, np.float32)  # big chunks, within the 30 s ring
    tracemalloc.start()
    t0 = time.perf_counter()
    events = []
    for i in range(180):
        events += stream.push(zeros)
        if i == 9:
            early = tracemalloc.get_traced_memory()[0]
    seconds = time.perf_counter() - t0
    grown = tracemalloc.get_traced_memory()[0] - early
    tracemalloc.stop()
    events += stream.close()
    check_events(events, NoModel.languages)
    assert stream.t == pytest.approx(3600.0, abs=0.05) and stream.stats.windows == 0
    assert [e["type"] for e in events] == ["summary"] and events[0]["language"] is None
    assert grown < 1_000_000, f"memory grew by {grown} bytes over the hour"
    assert seconds < 60, f"an hour of silence took {seconds:.1f} s"


# -- model files -------------------------------------------------------------------------------------------


class Boom:
    """Unpickling this would create a file: proof that a loader ran code from the model file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_a_pickle_bearing_model_file_is_refused_without_running_it(tmp_path, random_model, how):
    marker = tmp_path / "code-ran"
    weights = tmp_path / "evil.safetensors"
    if how == "pickle":
        weights.write_bytes(pickle.dumps(Boom(marker)))
    else:
        torch.save({"state": Boom(marker)}, weights)
    weights.with_suffix(".json").write_text(random_model.with_suffix(".json").read_text())
    with pytest.raises(
        ModelError, match="cannot read model weights .*: a pickled checkpoint, not safetensors; refused"
    ) as e:
        load_model(weights)
    assert "\n" not in str(e.value) and not marker.exists()


def test_an_incompatible_model_file_gets_a_one_line_error(tmp_path, random_model):
    small, info = random_crnn(TINY)
    path = save_model(small, info, tmp_path / "small.safetensors")
    path.with_suffix(".json").write_text(random_model.with_suffix(".json").read_text())  # full-size metadata
    with pytest.raises(ModelError, match="does not match its metadata") as e:
        load_model(path)
    assert "\n" not in str(e.value)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(random_model.read_bytes()[:5000])
    truncated.with_suffix(".json").write_text(random_model.with_suffix(".json").read_text())
    with pytest.raises(ModelError, match="cannot read model weights"):
        load_model(truncated)


# -- GPU out of memory -------------------------------------------------------------------------------------


class OutOfMemoryOffCpu(torch.nn.Module):
    """The real model, kept on the CPU, behind a module that runs out of memory on any other device.

    There is no GPU on CI, so the classifier is put on PyTorch's `meta` device: the batch moves there,
    this module raises the error CUDA raises, and the Classifier's fallback path runs for real."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.hidden = [model]  # not a submodule: `.to(device)` leaves it on the CPU

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.device.type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.hidden[0](wav)


def test_out_of_memory_on_the_gpu_falls_back_to_the_cpu_with_one_warning(caplog, tiny_classifier, speech_16k):
    model, info = random_crnn(TINY)
    gpu = Classifier(OutOfMemoryOffCpu(model), info, "meta")
    assert gpu.device.type == "meta"
    windows = [speech_16k[SR : 2 * SR], speech_16k[SR : 3 * SR]]
    first = gpu.log_probs(windows)
    second = gpu.log_probs(windows)
    assert gpu.device.type == "cpu"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["out of memory on meta; the model runs on the CPU from now on"]
    expected = tiny_classifier.log_probs(windows)
    np.testing.assert_allclose(first, expected, atol=1e-5)
    np.testing.assert_allclose(second, expected, atol=1e-5)


def test_out_of_memory_while_warming_up_stops_the_warm_up_on_the_cpu(caplog):
    model, info = random_crnn(TINY)
    gpu = Classifier(OutOfMemoryOffCpu(model), info, "meta")
    gpu.round_rows, gpu.round_samples = 4, 12000  # a GPU's rounding, as on CUDA
    calls = []
    model.register_forward_hook(lambda m, args, out: calls.append(args[0].shape))
    gpu.warm_up(2.0, most_windows=12)
    assert gpu.device.type == "cpu" and gpu.round_rows == 1
    assert len(calls) == 1  # the call that ran out of memory, again on the CPU; then nothing left to warm


def test_out_of_memory_on_the_cpu_is_not_hidden(speech_16k):
    info = random_crnn(TINY)[1]

    class Exhausted(torch.nn.Module):
        def forward(self, wav):
            raise torch.OutOfMemoryError("out of memory")

    cpu = Classifier(Exhausted(), info, "cpu")
    with pytest.raises(torch.OutOfMemoryError):
        cpu.log_probs([speech_16k[:SR]])


def test_a_model_has_one_display_name_everywhere(random_model):
    from streamlid.model.checkpoint import model_name

    assert model_name(None) == model_name("base") == "streamlid-v4"
    assert model_name(random_model) == model_name(str(random_model)) == "random"  # random.safetensors
    assert Classifier.load(random_model, "cpu").name == model_name(random_model)

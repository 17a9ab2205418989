"""The fixtures the tests share (pytest injects them; no test imports this file): the speech, models (random
and shipped), an installed wheel, and the virtual microphone. The plain helpers and constants they are built
on, which test modules import, are in tests/support.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support import (
    ASOUNDRC,
    ASOUNDRC_48K_ONLY,
    REPO,
    SHIPPED_MODEL,
    SPEECH_CLIP,
    SR,
    dev_clip,
    random_crnn,
    start_virtual_mic,
    stop_virtual_mic,
)

from streamlid.core.audio import load_mono_16k
from streamlid.model.architectures import ModelConfig
from streamlid.model.calibration import Calibration
from streamlid.model.classifier import Classifier
from streamlid.model.format import save_model

# One intra-op thread for the in-process model: windows are small, and on a busy 2-core machine two
# OpenMP threads spin against each other (one stream's windows took 0.05 s with one thread, 3.6 s with two).
torch.set_num_threads(1)


# -- the speech fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def speech_16k() -> np.ndarray:
    """About 4 s of real speech, 16 kHz mono float32, with 0.5 s of silence before and 1.5 s after."""
    x = load_mono_16k(dev_clip(SPEECH_CLIP))[: 4 * SR]
    return np.concatenate([np.zeros(SR // 2, np.float32), x, np.zeros(3 * SR // 2, np.float32)])


# -- models --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> Path:
    """A randomly initialised full-size model (6 outputs) saved in the shipped format; language is meaningless."""
    model, info = random_crnn(ModelConfig(n_languages=6))
    return save_model(model, info, tmp_path_factory.mktemp("model") / "random.safetensors")


@pytest.fixture(scope="session")
def random_classifier(random_model) -> Classifier:
    return Classifier.load(random_model, compute="cpu")


@pytest.fixture(scope="session")
def unknown_model(tmp_path_factory) -> Path:
    """The random model with an open set that says "none of these languages" to everything (p 0.998)."""
    model, info = random_crnn(ModelConfig(n_languages=6))
    info.calibration = Calibration(temperature=0.02, unknown_weights=(0.0, 0.0, 0.0, 0.0), unknown_bias=6.0)
    return save_model(model, info, tmp_path_factory.mktemp("unknown") / "unknown.safetensors")


@pytest.fixture(scope="session")
def unknown_classifier(unknown_model) -> Classifier:
    return Classifier.load(unknown_model, compute="cpu")


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    if not SHIPPED_MODEL.is_file():
        pytest.skip(f"the shipped model {SHIPPED_MODEL.relative_to(REPO)} is not there yet (it is trained separately)")
    return SHIPPED_MODEL


@pytest.fixture(scope="session")
def shipped_classifier(shipped_model) -> Classifier:
    return Classifier.load(shipped_model, compute="cpu")


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory, shipped_model) -> tuple[Path, Path]:
    """(the wheel built from a copy of the checkout, the folder it is installed into with pip --target):
    with that folder as PYTHONPATH a command runs the wheel's files, not the checkout's."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: setuptools builds in the source tree
    shutil.copytree(
        REPO, src, ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "runs", "__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(src)], check=True, cwd=tmp)
    (wheel,) = tmp.glob("streamlid-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=tmp)
    return wheel, site


# -- the virtual microphone ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def virtual_mic(tmp_path_factory):
    mic = start_virtual_mic(tmp_path_factory.mktemp("vmic"))
    yield mic
    stop_virtual_mic(mic)


@pytest.fixture
def fresh_virtual_mic(tmp_path):
    """A daemon of the test's own, for tests that break it."""
    mic = start_virtual_mic(tmp_path / "vmic-fresh")
    yield mic
    stop_virtual_mic(mic)


@pytest.fixture
def virtual_mic_48k_only(tmp_path):
    """A second daemon whose ALSA configuration adds `vmic48k`, a device that refuses 16 kHz."""
    mic = start_virtual_mic(tmp_path / "vmic48k", ASOUNDRC + ASOUNDRC_48K_ONLY)
    yield mic
    stop_virtual_mic(mic)

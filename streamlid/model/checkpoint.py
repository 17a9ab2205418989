"""Where the shipped models lie, their short names, and the error a bad model file raises: no torch here, so
the CLI's help and `devices` start without loading it (format.py holds the format itself)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

# package data (pyproject.toml), so a plain `pip install .` and a wheel carry the models too
MODELS_DIR = Path(str(importlib.resources.files("streamlid") / "models"))
# the short names `--model` takes; a path to any other model works too
MODEL_NAMES = {"base": "streamlid-v4"}
DEFAULT_MODEL = MODELS_DIR / f"{MODEL_NAMES['base']}.safetensors"
MODEL_HELP = "base (streamlid-v4, the default: 99 languages) or the path of a model's .safetensors"


class ModelError(Exception):
    """A model file that is missing, unreadable or not a streamlid model."""


def model_path(model: str | Path | None) -> Path:
    """The weights file of a short name (base), of a path, or of None (the default model)."""
    if model is None:
        return DEFAULT_MODEL
    if str(model) in MODEL_NAMES:
        return MODELS_DIR / f"{MODEL_NAMES[str(model)]}.safetensors"
    return Path(model)


def model_name(model: str | Path | None) -> str:
    """A model's display name, the one reports, the server's hello and the dashboard show: its weights
    file's name without the suffix (streamlid-v4 for base or None)."""
    return model_path(model).with_suffix("").name

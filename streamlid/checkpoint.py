"""Where the shipped model lies and the error a bad model file raises: no torch here, so the CLI's
help and `devices` start without loading it (model.py holds the format itself)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

# package data (pyproject.toml), so a plain `pip install .` and a wheel carry the model too
DEFAULT_MODEL = Path(str(importlib.resources.files("streamlid") / "models" / "streamlid-v3.safetensors"))


class ModelError(Exception):
    """A model file that is missing, unreadable or not a streamlid model."""

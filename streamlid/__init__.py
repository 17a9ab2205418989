"""streamlid: real-time spoken-language identification.

    import streamlid
    result = streamlid.identify("speech.wav")                # or an array: identify(x, sample_rate=16000)
    print(result["language"], result["confidence"])          # 'deu' 0.97; None when it is none of them
    model = streamlid.load_classifier("base")                 # load once, for many calls and streams
    stream = streamlid.LanguageStream(model, sample_rate=48000)  # push PCM chunks, get events back

The names load lazily: `import streamlid` itself loads neither torch nor numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["LanguageStream", "StreamOptions", "identify", "load_classifier", "load_model"]

if TYPE_CHECKING:
    from .core.stream import LanguageStream, StreamOptions
    from .io.offline import identify
    from .model.classifier import Classifier
    from .model.format import load_model

_HOMES = {
    "identify": "io.offline",
    "LanguageStream": "core.stream",
    "StreamOptions": "core.stream",
    "load_model": "model.format",
}


def load_classifier(model: str | None = None, compute: str = "auto") -> Classifier:
    """A ready model (streamlid.model.classifier.Classifier): short name base, a path, or None (base)."""
    from .model.classifier import Classifier

    return Classifier.load(model, compute)


def __getattr__(name: str) -> object:
    if name in _HOMES:
        import importlib

        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'streamlid' has no attribute {name!r}")

"""`identify()`: the language of a whole recording, as `streamlid identify` prints it (the library's
equivalent of whisper's `transcribe()`): the streaming core run over the audio, its closing summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.audio import SAMPLE_RATE, read_audio, truncation_warning
from ..core.stream import LanguageStream, Scorer, StreamOptions, replace_options

# offline there is no latency to keep low: longer windows are more accurate (models/eval/report.md)
IDENTIFY_WINDOW = 3.0
IDENTIFY_OPTIONS = replace_options(StreamOptions(), window=IDENTIFY_WINDOW, ring_seconds=15.0)


def identify(
    audio: str | Path | np.ndarray,
    model: Scorer | str | Path | None = None,
    *,
    sample_rate: int = SAMPLE_RATE,
    options: StreamOptions = IDENTIFY_OPTIONS,
) -> dict:
    """The language of `audio`: a file (wav/flac/ogg/opus/mp3, any rate and channels) or an array of
    samples, (frames,) or (frames, channels), at `sample_rate`. `model` is a loaded Classifier (load it once
    for many calls), a shipped model's short name (base), a path, or None for the default.

    Returns language (None when no speech, or speech in none of the model's languages), name, confidence,
    state, top, speech_seconds, duration and segments (the timeline of a long recording); for a file also
    path, and a warning when the file is cut short. Raises AudioError for unreadable audio and
    ModelError for a bad model."""
    if model is None or isinstance(model, str | Path):
        from ..model.classifier import Classifier

        model = Classifier.load(model)
    head: dict = {}
    if isinstance(audio, str | Path):
        path = Path(audio)
        audio, sample_rate = read_audio(path)
        warning = truncation_warning(path)
        head = {**({"warning": warning} if warning else {}), "path": str(path)}
    audio = np.asarray(audio, dtype=np.float32)
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    summary = LanguageStream(model, sample_rate, channels, options).run(audio)[-1]
    return {
        **head,
        "language": summary["language"],
        "name": summary["name"],
        "confidence": summary["confidence"],
        "state": summary["state"],
        **({"unknown": summary["unknown"]} if "unknown" in summary else {}),
        "top": [{"language": x["language"], "p": x["p"]} for x in summary["top"]],
        "speech_seconds": summary["speech_seconds"],
        "duration": round(len(audio) / sample_rate, 3),
        "segments": summary["segments"],
    }

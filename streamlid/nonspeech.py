"""Non-speech test audio: recordings from Debian packages (benchmarks/nonspeech/, built by
tools/nonspeech_fixtures.py) and synthetic noise, tones, clicks and hum made here, the same every run.
Nothing in it should ever be given a language."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import load_mono_16k

RATE = 16000
SECONDS = 8.0
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "nonspeech"


@dataclass(frozen=True)
class NonSpeechClip:
    name: str
    kind: str  # music, jingle, effects, noise, tone, ...
    audio: np.ndarray  # 16 kHz mono float32


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power ∝ 1/f**exponent (0 white, 1 pink, 2 brown), unit peak."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= f[1:] ** (exponent / 2)
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return x / np.abs(x).max()


def synthetic_clips(seed: int = 0) -> list[NonSpeechClip]:
    """Noise, tones, hum, clicks and near-silence; frequencies and levels drawn from `seed` (seed 0 is
    the test set; calibration fits on other seeds)."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * RATE)
    t = np.arange(n) / RATE
    f0, f1, f2 = rng.uniform(200, 1200), rng.uniform(50, 300), rng.uniform(2000, 6000)
    low, high = rng.choice([(697, 1209), (770, 1336), (852, 1477), (941, 1633)])
    clips = {
        "white-noise": ("noise", coloured_noise(n, 0, rng)),
        "pink-noise": ("noise", coloured_noise(n, 1, rng)),
        "brown-noise": ("noise", coloured_noise(n, 2, rng)),
        "tone": ("tone", np.sin(2 * np.pi * f0 * t)),
        "sweep": ("tone", np.sin(2 * np.pi * (f1 * t + (f2 - f1) * t**2 / (2 * SECONDS)))),
        "dtmf": ("tone", (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)) * (t % 0.4 < 0.2)),
        "hum": ("hum", sum(np.sin(2 * np.pi * rng.choice([50, 60]) * k * t) / k for k in range(1, 8))),
        "clicks": (
            "clicks",
            np.convolve((rng.random(n) < rng.uniform(4, 20) / RATE).astype(float), np.hanning(40), "same"),
        ),
        "bursts": ("noise", coloured_noise(n, 1, rng) * (np.sin(2 * np.pi * rng.uniform(0.5, 3) * t) > 0.3)),
        "silence": ("silence", 1e-4 * rng.standard_normal(n)),
    }
    out = []
    for name, (kind, x) in clips.items():
        x = np.asarray(x, dtype=np.float64)
        level = 1.0 if kind == "silence" else rng.uniform(0.1, 0.7) / np.abs(x).max()
        out.append(NonSpeechClip(name, kind, (x * level).astype(np.float32)))
    return out


def recorded_clips(folder: str | Path = DEFAULT_DIR) -> list[NonSpeechClip]:
    """The clips of a folder's manifest.csv (path, kind, ...); none when the folder is not there."""
    manifest = Path(folder) / "manifest.csv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [NonSpeechClip(Path(r["path"]).stem, r["kind"], load_mono_16k(manifest.parent / r["path"])) for r in rows]


def nonspeech_clips(folder: str | Path = DEFAULT_DIR, seed: int = 0) -> list[NonSpeechClip]:
    return recorded_clips(folder) + synthetic_clips(seed)

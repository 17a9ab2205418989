"""Non-speech test audio: recordings from Debian packages (nonspeech_clips/ beside this module, built by
tools/nonspeech_fixtures.py), synthetic noise, tones, clicks, hum and music made here, the same every run,
and babble (a crowd of talkers) mixed from speech the caller gives. Nothing in it should ever be given a
language."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.audio import load_mono_16k
from ..core.vad import speech_only

RATE = 16000
SECONDS = 8.0
DEFAULT_DIR = Path(__file__).resolve().parent / "nonspeech_clips"  # package data (pyproject.toml)


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


def notes(pitches: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Notes of `seconds` each at the given MIDI pitches (one row per voice, played together), each with
    a few harmonics and a plucked envelope: melody when there is one voice, chords when there are several."""
    per = int(seconds * RATE)
    t = np.arange(per) / RATE
    envelope = np.minimum(t / 0.01, 1) * np.exp(-t * rng.uniform(2, 8))
    harmonics = rng.uniform(0.1, 0.6, size=5) ** np.arange(5)
    out = []
    for chord in np.atleast_2d(pitches).T:
        f = 440 * 2 ** ((chord[:, None] - 69) / 12) * np.arange(1, 6)[None, :]
        out.append((harmonics[:, None] * np.sin(2 * np.pi * f[..., None] * t)).sum((0, 1)) * envelope)
    return np.concatenate(out)


def drums(n: int, rng: np.random.Generator) -> np.ndarray:
    """A drum loop: a kick (a falling sine) on the beat, a snare (noise) off it and hi-hats between."""
    beat = int(RATE * 60 / rng.uniform(80, 160))
    t = np.arange(beat) / RATE
    kick = np.sin(2 * np.pi * (40 * t + 80 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    snare = rng.standard_normal(beat) * np.exp(-t * 25)
    hat = np.diff(rng.standard_normal(beat + 1)) * np.exp(-t * 90)
    x = np.zeros(n + 2 * beat)
    for k, start in enumerate(range(0, n, beat)):
        x[start : start + beat] += kick if k % 2 == 0 else 0.7 * snare
        x[start + beat // 2 : start + beat // 2 + beat] += 0.3 * hat
    return x[:n]


def synthetic_clips(seed: int = 0) -> list[NonSpeechClip]:
    """Noise, tones, hum, clicks, near-silence and music-like notes and drums; frequencies, tunes and
    levels drawn from `seed` (seed 0 is the test set; calibration fits on other seeds)."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * RATE)
    t = np.arange(n) / RATE
    f0, f1, f2 = rng.uniform(200, 1200), rng.uniform(50, 300), rng.uniform(2000, 6000)
    low, high = rng.choice([(697, 1209), (770, 1336), (852, 1477), (941, 1633)])
    scale = rng.integers(48, 72) + np.array([0, 2, 4, 5, 7, 9, 11, 12])
    step = rng.uniform(0.15, 0.5)
    tune = rng.choice(scale, size=int(SECONDS / step) + 1)
    roots = rng.choice(scale[:5], size=int(SECONDS / (2 * step)) + 1)
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
        "melody": ("music", notes(tune, step, rng)[:n]),
        "chords": ("music", notes(np.stack([roots, roots + 4, roots + 7]), 2 * step, rng)[:n]),
        "drums": ("music", drums(n, rng)),
        "band": ("music", notes(tune, step, rng)[:n] / 3 + drums(n, rng) / 2 + coloured_noise(n, 1, rng) / 50),
    }
    out = []
    for name, (kind, x) in clips.items():
        x = np.asarray(x, dtype=np.float64)
        level = 1.0 if kind == "silence" else rng.uniform(0.1, 0.7) / np.abs(x).max()
        out.append(NonSpeechClip(name, kind, (x * level).astype(np.float32)))
    return out


BABBLE_TALKERS = (6, 12)  # fewer overlapping talkers can still be followed: that is speech, not babble


def babble(voices: list[np.ndarray], talkers: int, rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """`talkers` of `voices` (16 kHz speech, each looped to length from a random start) at equal levels,
    summed: a crowd in which no one talker can be followed. Peak 0.1-0.7."""
    n = int(seconds * RATE)
    mix = np.zeros(n)
    for i in rng.choice(len(voices), size=talkers, replace=False):
        v = np.asarray(voices[i], dtype=np.float64)
        start = int(rng.integers(0, v.size))
        x = np.resize(np.roll(v, -start), n)
        mix += x / max(float(np.sqrt(np.mean(x**2))), 1e-9)
    return (mix * rng.uniform(0.1, 0.7) / max(float(np.abs(mix).max()), 1e-9)).astype(np.float32)


def babble_clips(voices: list[np.ndarray], count: int, seed: int = 0) -> list[NonSpeechClip]:
    """`count` babble clips of 6 to 12 of `voices` each (the same for the same voices and seed)."""
    lo, hi = BABBLE_TALKERS
    if len(voices) < hi:
        raise ValueError(f"babble needs at least {hi} voices, not {len(voices)}")
    rng = np.random.default_rng(seed)
    return [
        NonSpeechClip(f"babble-{k}", "babble", babble(voices, int(rng.integers(lo, hi + 1)), rng)) for k in range(count)
    ]


def babble_from_files(paths: list[str | Path], count: int, seed: int = 0) -> list[NonSpeechClip]:
    """`count` babble clips mixed from what passes the VAD in the audio files `paths` (files with less
    than a second of it are left out)."""
    if count == 0:
        return []
    from tqdm import tqdm

    voices = [speech_only(load_mono_16k(p)) for p in tqdm(paths, desc="babble voices")]
    return babble_clips([v for v in voices if v.size >= RATE], count, seed)


def manifest_rows(folder: str | Path = DEFAULT_DIR) -> list[dict]:
    """The rows of a folder's manifest.csv (path, kind, duration_s, package, license, origin); none when
    the folder is not there."""
    manifest = Path(folder) / "manifest.csv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def recorded_clips(folder: str | Path = DEFAULT_DIR) -> list[NonSpeechClip]:
    """The clips of a folder's manifest.csv; none when the folder is not there."""
    return [
        NonSpeechClip(Path(r["path"]).stem, r["kind"], load_mono_16k(Path(folder) / r["path"]))
        for r in manifest_rows(folder)
    ]


def nonspeech_clips(folder: str | Path = DEFAULT_DIR, seed: int = 0) -> list[NonSpeechClip]:
    return recorded_clips(folder) + synthetic_clips(seed)

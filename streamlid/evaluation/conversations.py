"""Synthetic conversations from labelled clips, and how well a stream of events follows them.

A conversation is speech clips separated by pauses: one-language stretches, and switches A -> B.
Generated deterministically from a seed, so every benchmark run scores the same audio.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.audio import SAMPLE_RATE, load_mono_16k
from ..core.vad import VadGate
from ..training.manifest import read_manifest


@dataclass
class Conversation:
    audio: np.ndarray
    stretches: list[tuple[float, float, str]]  # (start, end, language) of each one-language stretch
    speech: list[tuple[float, float, str]] = field(default_factory=list)  # each clip's (start, end, language)

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE


def read_clips(
    manifest: str | Path, split: str, languages: list[str], speakers: set[str] | None = None
) -> dict[str, list[Path]]:
    """Language -> clips of `split` (streamlid.training.manifest's rule), optionally only those of `speakers`."""
    clips: dict[str, list[Path]] = defaultdict(list)
    for clip in read_manifest(manifest):
        if clip.split == split and clip.language in languages and (speakers is None or clip.speaker in speakers):
            clips[clip.language].append(clip.path)
    return {k: sorted(v) for k, v in clips.items()}


def trim_silence(x: np.ndarray) -> np.ndarray:
    """Cut leading and trailing non-speech, so a stretch starts where its speech starts."""
    gate = VadGate()
    labels = [run.speech for run in gate.process(x) for _ in run.levels]
    if not any(labels):
        return x
    first = labels.index(True)
    last = len(labels) - labels[::-1].index(True)
    return x[first * gate.frame_len : last * gate.frame_len]


def make_conversations(
    clips: dict[str, list[Path]],
    n: int,
    seed: int = 0,
    n_stretches: int = 2,
    clips_per_stretch: int = 2,
    pause: tuple[float, float] = (0.4, 1.5),
) -> list[Conversation]:
    """`n` conversations of `n_stretches` one-language stretches: 1 one language, 2 A then B, 3 A, B, A."""
    rng = random.Random(seed)
    cache: dict[Path, np.ndarray] = {}
    langs = sorted(k for k, v in clips.items() if v)
    out = []
    for _ in range(n):
        a, b = rng.sample(langs, 2)
        order = [a, b, a][:n_stretches]
        parts = [np.zeros(int(rng.uniform(*pause) * SAMPLE_RATE), dtype=np.float32)]
        t = parts[0].size / SAMPLE_RATE
        stretches, speech = [], []
        for lang in order:
            start = t
            for clip in rng.sample(clips[lang], min(clips_per_stretch, len(clips[lang]))):
                if clip not in cache:
                    cache[clip] = trim_silence(load_mono_16k(clip))
                x = cache[clip]
                speech.append((t, t + x.size / SAMPLE_RATE, lang))
                gap = np.zeros(int(rng.uniform(*pause) * SAMPLE_RATE), dtype=np.float32)
                parts += [x, gap]
                t += (x.size + gap.size) / SAMPLE_RATE
            stretches.append((start, speech[-1][1], lang))
        out.append(Conversation(np.concatenate(parts), stretches, speech))
    return out


def benchmark_conversations(clips: dict[str, list[Path]], n: int, seed: int) -> list[Conversation]:
    """The conversations bench, the sweep and the peer comparison score: `n` in one language (seed
    `seed`), `n` switching A→B (seed `seed + 1`) and `n` switching A→B→A (seed `seed + 2`)."""
    return [c for k in (1, 2, 3) for c in make_conversations(clips, n, seed=seed + k - 1, n_stretches=k)]


def decision_track(events: list[dict]) -> list[tuple[float, str | None]]:
    """(time, language) each time the decided language is (re)stated."""
    return [(e["t"], e["language"]) for e in events if e["type"] == "decision"]


def language_at(track: list[tuple[float, str | None]], t: float) -> str | None:
    lang = None
    for when, language in track:
        if when > t:
            break
        lang = language
    return lang


def settle_time(track: list[tuple[float, str | None]], start: float, end: float, truth: str) -> float | None:
    """Seconds after `start` until the decision is `truth` and stays so until `end`; None if it never does."""
    settled = None
    if language_at(track, start) == truth:
        settled = start
    for when, language in track:
        if start < when <= end:
            if language == truth and settled is None:
                settled = when
            elif language != truth:
                settled = None
    return None if settled is None else settled - start


@dataclass
class Score:
    first_decision: list[float | None] = field(default_factory=list)  # from the first speech onset
    switch: list[float | None] = field(default_factory=list)  # from the start of the second stretch
    false_switches: int = 0
    one_language_seconds: float = 0.0
    correct_seconds: float = 0.0
    speech_seconds: float = 0.0

    def add(self, conv: Conversation, events: list[dict]) -> None:
        track = decision_track(events)
        first_start, first_end, first_lang = conv.stretches[0]
        self.first_decision.append(settle_time(track, first_start, first_end, first_lang))
        for start, end, lang in conv.stretches[1:]:
            self.switch.append(settle_time(track, start, end, lang))
        for start, end, lang in conv.stretches:
            self.one_language_seconds += end - start
            self.false_switches += sum(
                1 for e in events if e["type"] == "change" and start < e["t"] <= end and e["to"] != lang
            )
        for start, end, lang in conv.speech:
            grid = np.arange(start, end, 0.05)
            self.correct_seconds += 0.05 * sum(language_at(track, g) == lang for g in grid)
            self.speech_seconds += end - start

    def summary(self) -> dict:
        def pct(values: list[float | None], q: float) -> float | None:
            # a decision that never came counts as infinitely late
            if not values:
                return None
            v = np.array([np.inf if x is None else x for x in values])
            p = float(np.percentile(v, q, method="higher"))
            return None if np.isinf(p) else round(p, 3)

        return {
            "first_decision_p50": pct(self.first_decision, 50),
            "first_decision_p90": pct(self.first_decision, 90),
            "first_decision_never": sum(x is None for x in self.first_decision),
            "switch_p50": pct(self.switch, 50),
            "switch_p90": pct(self.switch, 90),
            "switch_never": sum(x is None for x in self.switch),
            "switches": len(self.switch),
            "false_switches_per_10min": round(self.false_switches / max(self.one_language_seconds, 1e-9) * 600, 3),
            "correct_fraction": round(self.correct_seconds / max(self.speech_seconds, 1e-9), 4),
            "conversations": len(self.first_decision),
            "speech_minutes": round(self.speech_seconds / 60, 2),
        }

"""WebRTC VAD with onset/offset hangover: 16 kHz float32 in any chunk size -> runs of labelled frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import webrtcvad

from .audio import SAMPLE_RATE


@dataclass(frozen=True)
class VadOptions:
    aggressiveness: int = 2  # 0 (keeps most audio) .. 3 (keeps least)
    frame_ms: int = 30  # webrtcvad takes 10, 20 or 30 ms frames
    onset_ms: int = 90  # this much consecutive speech opens a segment (the frames are kept as pre-roll)
    hangover_ms: int = 300  # a segment closes after this much consecutive non-speech
    energy_floor_db: float = -55.0  # frames quieter than this (dBFS RMS) are never speech

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"VAD aggressiveness must be 0, 1, 2 or 3, not {self.aggressiveness}")
        if self.frame_ms not in (10, 20, 30):
            raise ValueError(f"VAD frame must be 10, 20 or 30 ms, not {self.frame_ms}")
        if self.onset_ms < 0 or self.hangover_ms < 0:
            raise ValueError("VAD onset and hangover must not be negative")


def frame_levels_db(frames: np.ndarray) -> np.ndarray:
    """RMS level of each row of `frames` (n, samples) in dBFS, floored at -120: one numpy call for all
    the frames of a chunk (every stream's every frame goes through here)."""
    x = frames.astype(np.float64, copy=False)
    power = np.einsum("ij,ij->i", x, x) / max(x.shape[1], 1)
    return 10.0 * np.log10(np.maximum(power, 1e-12))


class Run(NamedTuple):
    """Consecutive frames with one label: `audio` holds `len(levels)` frames, `levels` each one's level
    (dBFS). Runs rather than frames, so that the stream takes in steady speech a chunk at a time."""

    audio: np.ndarray
    speech: bool
    levels: np.ndarray


class VadGate:
    """Frames the audio, classifies each frame, and applies onset and hangover.

    `process` returns the labelled frames as runs, in stream order. A frame is labelled only once its fate
    is known, so up to `onset_ms` of audio can be held back until speech is confirmed.
    """

    def __init__(self, options: VadOptions | None = None) -> None:
        self.options = options or VadOptions()
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self.frame_len = SAMPLE_RATE * self.options.frame_ms // 1000
        self._onset_frames = max(1, -(-self.options.onset_ms // self.options.frame_ms))
        self._hangover_frames = max(1, -(-self.options.hangover_ms // self.options.frame_ms))
        self._rest = np.zeros(0, dtype=np.float32)
        self._held = np.zeros(0, dtype=np.float32)  # speech frames awaiting the onset
        self._held_levels = np.zeros(0)
        self._quiet = 0
        self.in_speech = False

    def is_speech_frame(self, frame: np.ndarray) -> bool:
        return self._classify(np.asarray(frame)[None])[0][0]

    def _classify(self, frames: np.ndarray) -> tuple[list[bool], np.ndarray]:
        """WebRTC's speech flag and the level (dBFS) of each row of `frames`; frames below the energy
        floor are never speech."""
        levels = frame_levels_db(frames)
        loud = (levels >= self.options.energy_floor_db).tolist()
        speech = [False] * len(frames)
        if any(loud):
            pcm = frames * 32767.0  # ufuncs, not np.clip: this runs for every stream's every chunk
            np.minimum(pcm, 32767.0, out=pcm)
            np.maximum(pcm, -32767.0, out=pcm)
            data, size = pcm.astype("<i2").tobytes(), 2 * frames.shape[1]
            for i, is_loud in enumerate(loud):
                if is_loud:
                    speech[i] = self._vad.is_speech(data[i * size : (i + 1) * size], SAMPLE_RATE)
        return speech, levels

    def process(self, x: np.ndarray) -> list[Run]:
        """The runs of frames whose label is now known, in order."""
        fl = self.frame_len
        x = np.concatenate([self._rest, x]) if self._rest.size else x
        n = x.size // fl
        self._rest = x[n * fl :].copy()
        flags, levels = self._classify(x[: n * fl].reshape(n, fl))
        held = self._held_levels.size
        audio = np.concatenate([self._held, x[: n * fl]]) if held else x[: n * fl]
        levels = np.concatenate([self._held_levels, levels]) if held else levels
        spans: list[list] = []  # [first frame, end, speech]: the labelled frames, label by label
        done = 0  # frames labelled; the rest are speech awaiting the onset
        for i, speech in enumerate(flags, start=held):
            if self.in_speech:
                self._quiet = 0 if speech else self._quiet + 1
                label = True
                if self._quiet >= self._hangover_frames:
                    self.in_speech = False
            elif not speech:
                label = False  # the frames awaiting the onset were not speech after all
            elif i + 1 - done >= self._onset_frames:
                self.in_speech, self._quiet, label = True, 0, True
            else:
                continue
            if spans and spans[-1][2] == label:
                spans[-1][1] = i + 1
            else:
                spans.append([done, i + 1, label])
            done = i + 1
        self._held, self._held_levels = audio[done * fl :].copy(), levels[done:]
        return [Run(audio[a * fl : b * fl], speech, levels[a:b]) for a, b, speech in spans]

    @property
    def held_back(self) -> int:
        """Samples received but not yet labelled."""
        return self._rest.size + self._held.size


def speech_only(x: np.ndarray, options: VadOptions | None = None) -> np.ndarray:
    """The speech of a whole 16 kHz recording, pauses removed (for offline evaluation and crops)."""
    gate = VadGate(options)
    speech = [run.audio for run in gate.process(x) if run.speech]
    return np.concatenate(speech) if speech else np.zeros(0, dtype=np.float32)

"""WebRTC VAD with onset/offset hangover: 16 kHz float32 in any chunk size -> labelled frames."""

from __future__ import annotations

from dataclasses import dataclass

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


class VadGate:
    """Frames the audio, classifies each frame, and applies onset and hangover.

    `process` returns (frame, in_speech, level_db) triples in stream order. A frame is labelled only once its
    fate is known, so up to `onset_ms` of audio can be held back until speech is confirmed.
    """

    def __init__(self, options: VadOptions | None = None) -> None:
        self.options = options or VadOptions()
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self.frame_len = SAMPLE_RATE * self.options.frame_ms // 1000
        self._onset_frames = max(1, -(-self.options.onset_ms // self.options.frame_ms))
        self._hangover_frames = max(1, -(-self.options.hangover_ms // self.options.frame_ms))
        self._rest = np.zeros(0, dtype=np.float32)
        self._pending: list[tuple[np.ndarray, bool, float]] = []  # speech frames awaiting the onset
        self._quiet = 0
        self.in_speech = False

    def is_speech_frame(self, frame: np.ndarray) -> bool:
        return self._classify(np.asarray(frame)[None])[0][0]

    def _classify(self, frames: np.ndarray) -> tuple[list[bool], np.ndarray]:
        """WebRTC's speech flag and the level (dBFS) of each row of `frames`; frames below the energy
        floor are never speech."""
        levels = frame_levels_db(frames)
        loud = levels >= self.options.energy_floor_db
        speech = [False] * len(frames)
        if loud.any():
            pcm = (np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2")
            for i in np.flatnonzero(loud):
                speech[i] = self._vad.is_speech(pcm[i].tobytes(), SAMPLE_RATE)
        return speech, levels

    def process(self, x: np.ndarray) -> list[tuple[np.ndarray, bool, float]]:
        """(frame, in speech, level in dBFS) for every frame whose label is now known, in order."""
        x = np.concatenate([self._rest, x]) if self._rest.size else x
        n = x.size // self.frame_len
        self._rest = x[n * self.frame_len :].copy()
        frames = x[: n * self.frame_len].reshape(n, self.frame_len)
        out: list[tuple[np.ndarray, bool, float]] = []
        flags, levels = self._classify(frames)
        for frame, speech, level in zip(frames, flags, levels.tolist(), strict=True):
            labelled = (frame, speech, level)
            if self.in_speech:
                self._quiet = 0 if speech else self._quiet + 1
                out.append((frame, True, level))
                if self._quiet >= self._hangover_frames:
                    self.in_speech = False
            elif speech:
                self._pending.append(labelled)
                if len(self._pending) >= self._onset_frames:
                    self.in_speech, self._quiet = True, 0
                    out += [(f, True, lv) for f, _, lv in self._pending]
                    self._pending = []
            else:
                out += [(f, False, lv) for f, _, lv in self._pending]
                out.append((frame, False, level))
                self._pending = []
        return out

    @property
    def held_back(self) -> int:
        """Samples received but not yet labelled."""
        return self._rest.size + len(self._pending) * self.frame_len


def speech_only(x: np.ndarray, options: VadOptions | None = None) -> np.ndarray:
    """The speech of a whole 16 kHz recording, pauses removed (for offline evaluation and crops)."""
    gate = VadGate(options)
    frames = [f for f, speech, _ in gate.process(x) if speech]
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.float32)

"""WebRTC VAD with onset/offset hangover: 16 kHz float32 in any chunk size -> labelled frames."""

from __future__ import annotations

import math
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


def level_db(frame: np.ndarray) -> float:
    """RMS level of a frame in dBFS (floored at -120). Called for every frame of every stream: a dot
    product and math.log10, not numpy's mean, which costs several times more per call."""
    x = frame.astype(np.float64, copy=False)
    return 10.0 * math.log10(max(float(np.dot(x, x)) / max(x.size, 1), 1e-12))


class VadGate:
    """Frames the audio, classifies each frame, and applies onset and hangover.

    `process` returns (frame, in_speech) pairs in stream order. A frame is labelled only once its
    fate is known, so up to `onset_ms` of audio can be held back until speech is confirmed.
    """

    def __init__(self, options: VadOptions | None = None) -> None:
        self.options = options or VadOptions()
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self.frame_len = SAMPLE_RATE * self.options.frame_ms // 1000
        self._onset_frames = max(1, -(-self.options.onset_ms // self.options.frame_ms))
        self._hangover_frames = max(1, -(-self.options.hangover_ms // self.options.frame_ms))
        self._rest = np.zeros(0, dtype=np.float32)
        self._pending: list[np.ndarray] = []
        self._quiet = 0
        self.in_speech = False

    def is_speech_frame(self, frame: np.ndarray) -> bool:
        if level_db(frame) < self.options.energy_floor_db:
            return False
        pcm = (np.clip(frame, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        return self._vad.is_speech(pcm, SAMPLE_RATE)

    def process(self, x: np.ndarray) -> list[tuple[np.ndarray, bool]]:
        x = np.concatenate([self._rest, x]) if self._rest.size else x
        n = x.size // self.frame_len
        self._rest = x[n * self.frame_len :].copy()
        out: list[tuple[np.ndarray, bool]] = []
        for i in range(n):
            frame = x[i * self.frame_len : (i + 1) * self.frame_len]
            speech = self.is_speech_frame(frame)
            if self.in_speech:
                self._quiet = 0 if speech else self._quiet + 1
                out.append((frame, True))
                if self._quiet >= self._hangover_frames:
                    self.in_speech = False
            elif speech:
                self._pending.append(frame)
                if len(self._pending) >= self._onset_frames:
                    self.in_speech, self._quiet = True, 0
                    out += [(f, True) for f in self._pending]
                    self._pending = []
            else:
                out += [(f, False) for f in self._pending]
                out.append((frame, False))
                self._pending = []
        return out

    @property
    def held_back(self) -> int:
        """Samples received but not yet labelled."""
        return self._rest.size + len(self._pending) * self.frame_len


def speech_only(x: np.ndarray, options: VadOptions | None = None) -> np.ndarray:
    """The speech of a whole 16 kHz recording, pauses removed (for offline evaluation and crops)."""
    gate = VadGate(options)
    frames = [f for f, speech in gate.process(x) if speech]
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.float32)

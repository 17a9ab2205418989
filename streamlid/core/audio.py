"""Audio I/O and the pieces of the audio path that do no I/O: ring buffer, down-mixing, resampling."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import soxr

SAMPLE_RATE = 16000  # the rate everything after the resampler runs at: VAD, windows, the models


class AudioError(Exception):
    """Audio that cannot be read or used; the message is one line for the user."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read any file libsndfile knows (wav/flac/ogg/opus/mp3/...) -> (float32 (frames, channels), rate)."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        reason = str(e).split("\n")[0] or type(e).__name__
        raise AudioError(f"{path}: cannot decode audio ({reason})") from None
    except OSError as e:
        raise AudioError(f"{path}: {e.strerror or e}") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    return data, int(rate)


def truncation_warning(path: str | Path) -> str | None:
    """A one-line warning when a file ends before its own end marker: an Ogg (Opus/Vorbis/FLAC) stream
    whose last page lacks the end-of-stream flag, or a WAV whose header promises more frames than it
    holds. None for a complete file (or one whose format has no such marker)."""
    import soundfile as sf

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(max(0, path.stat().st_size - 65536))
        tail = f.read()
    if head == b"OggS":
        last = tail.rfind(b"OggS")
        if last < 0 or last + 5 >= len(tail) or not tail[last + 5] & 0x04:
            return f"{path} ends early (no end-of-stream mark: a truncated file?); only what is there was analysed"
        return None
    if head == b"RIFF":
        info = sf.info(str(path))
        with open(path, "rb") as f:
            data = f.read()
        at = data.find(b"data")
        if at >= 0:
            promised = int.from_bytes(data[at + 4 : at + 8], "little")
            if promised and len(data) - (at + 8) < promised and promised != 0xFFFFFFFF:
                return f"{path} ends early (its header promises more audio: a truncated file?); {info.frames} frames analysed"
    return None


def to_float_mono(pcm: np.ndarray, channels: int | None = None) -> np.ndarray:
    """int16/int32/float PCM, interleaved or (frames, channels) -> mono float32 in [-1, 1].

    NaN and inf become 0 and everything is clipped to [-1, 1], so bad samples never reach the model.
    """
    x = np.asarray(pcm)
    if x.ndim == 1 and channels and channels > 1:
        if x.size % channels:
            raise AudioError(f"{x.size} samples do not divide into {channels} channels")
        x = x.reshape(-1, channels)
    if x.dtype.kind in "iu":  # in [-1, 1) once scaled: nothing to mend
        scale = 2.0 ** (8 * x.dtype.itemsize - (x.dtype.kind == "i"))  # iinfo's max + 1, without its cost
        x = x.astype(np.float32)
        x /= scale
    else:
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():  # rare: the check costs a fraction of nan_to_num's copies
            x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        x = np.minimum(x, 1.0)  # ufuncs, not np.clip: every stream's every chunk comes through here
        np.maximum(x, -1.0, out=x)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
    return x


def load_mono_16k(path: str | Path) -> np.ndarray:
    """A whole file as mono float32 at 16 kHz (offline use: training, evaluation)."""
    data, rate = read_audio(path)
    x = to_float_mono(data)
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return x


class Resampler:
    """Streaming resampler to 16 kHz (soxr keeps filter state between chunks)."""

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE) -> None:
        if in_rate <= 0:
            raise AudioError(f"sample rate must be positive, not {in_rate}")
        self.in_rate, self.out_rate = in_rate, out_rate
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")
        )

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return x
        return self._stream.resample_chunk(x, last=last)


class RecentAudio:
    """The last `capacity` samples appended, as one array, for a consumer on one thread. Appending a
    frame costs a copy of the frame (the whole window is moved only once per `capacity` samples), where
    concatenating and slicing a window per frame would copy it dozens of times a second per stream."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._buf = np.zeros(2 * capacity, dtype=np.float32)
        self._end = 0

    @property
    def size(self) -> int:
        return min(self._end, self.capacity)

    def append(self, x: np.ndarray) -> None:
        x = x[-self.capacity :]
        if self._end + x.size > self._buf.size:
            keep = min(self._end, self.capacity - x.size)
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._end = keep
        self._buf[self._end : self._end + x.size] = x
        self._end += x.size

    def view(self) -> np.ndarray:
        """The recent samples (at most `capacity`), oldest first; valid until the next append."""
        return self._buf[self._end - self.size : self._end]

    def clear(self) -> None:
        self._end = 0


class RingBuffer:
    """A bounded mono float32 buffer between a producer (an audio callback) and the consumer.

    `write` never blocks for longer than a copy: when the buffer is full the oldest samples are
    overwritten and counted in `dropped`. The lock only guards index updates and memcpy.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("ring buffer capacity must be positive")
        self._buf = np.zeros(capacity, dtype=np.float32)
        self._start = 0  # index of the oldest sample
        self._size = 0
        self._lock = threading.Lock()
        self.dropped = 0  # samples overwritten before they were read
        self._written = 0

    @property
    def capacity(self) -> int:
        return self._buf.size

    def __len__(self) -> int:
        return self._size

    @property
    def written(self) -> int:
        """Samples ever written; read under the lock, as the writer is another thread (an audio callback)."""
        with self._lock:
            return self._written

    def write(self, x: np.ndarray) -> None:
        n = x.size
        cap = self._buf.size
        with self._lock:
            self._written += n
            if n >= cap:
                self.dropped += self._size + n - cap
                self._buf[:] = x[-cap:]
                self._start, self._size = 0, cap
                return
            end = (self._start + self._size) % cap
            first = min(n, cap - end)
            self._buf[end : end + first] = x[:first]
            self._buf[: n - first] = x[first:]
            overflow = max(0, self._size + n - cap)
            self.dropped += overflow
            self._start = (self._start + overflow) % cap
            self._size = min(cap, self._size + n)

    def read(self) -> np.ndarray:
        """Take everything buffered, oldest first."""
        with self._lock:
            end = self._start + self._size
            out = self._buf[self._start : end].copy()
            if end > self._buf.size:  # wrapped round
                out = np.concatenate([out, self._buf[: end - self._buf.size]])
            self._start, self._size = 0, 0
        return out

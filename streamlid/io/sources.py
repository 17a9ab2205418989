"""Audio sources: thin adapters that feed a LanguageStream (microphone through sounddevice, or a file)."""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..core.audio import SAMPLE_RATE, AudioError, read_audio
from ..core.stream import LanguageStream


def _sd():
    try:
        import sounddevice as sd
    except OSError as e:  # PortAudio library missing
        raise AudioError(f"cannot use audio devices: {e} (on Debian: apt-get install libportaudio2)") from None
    return sd


def input_devices() -> list[dict]:
    """Input devices: index, name, channels, default_samplerate, hostapi."""
    sd = _sd()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as e:
        raise AudioError(f"cannot list audio devices: {e}") from None
    return [
        {
            "index": i,
            "name": d["name"],
            "channels": d["max_input_channels"],
            "default_samplerate": d["default_samplerate"],
            "hostapi": hostapis[d["hostapi"]]["name"],
        }
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


def find_device(spec: str | int | None) -> dict:
    """An input device by index or case-insensitive name substring; AudioError listing the valid ones."""
    devices = input_devices()
    if not devices:
        raise AudioError("no audio input devices found (is a sound server or card available?)")
    listing = "; ".join(f"{d['index']}: {d['name']}" for d in devices)
    if spec is None or spec == "":
        sd = _sd()
        default = sd.default.device[0]
        for d in devices:
            if d["index"] == default:
                return d
        return devices[0]
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        for d in devices:
            if d["index"] == int(text):
                return d
        raise AudioError(f"no input device with index {text}; input devices are {listing}")
    matches = [d for d in devices if text.lower() in d["name"].lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioError(f"no input device matching {text!r}; input devices are {listing}")
    raise AudioError(f"{text!r} matches several input devices ({', '.join(d['name'] for d in matches)}); use an index")


class MicSource:
    """A live input device. Opens it at 16 kHz mono when it can, else at its native rate and channels."""

    def __init__(self, device: str | int | None = None, blocksize_ms: int = 20, stall_seconds: float = 5.0) -> None:
        sd = _sd()
        self.stall_seconds = stall_seconds  # an open device that delivers nothing this long is an error
        self.device = find_device(device)
        self.description = f"{self.device['index']}: {self.device['name']}"
        self.sample_rate, self.channels = SAMPLE_RATE, 1
        try:
            sd.check_input_settings(self.device["index"], channels=1, samplerate=SAMPLE_RATE, dtype="float32")
        except Exception:
            self.sample_rate = int(self.device["default_samplerate"])
            self.channels = 1
            try:
                sd.check_input_settings(self.device["index"], channels=1, samplerate=self.sample_rate, dtype="float32")
            except Exception:
                self.channels = min(2, self.device["channels"])
        self.blocksize = self.sample_rate * blocksize_ms // 1000
        self._stream = None
        self._stopping = False
        self._last_count = -1
        self._quiet = 0.0  # seconds this process was running while no audio came
        self._last_poll = 0.0

    def start(self, stream: LanguageStream) -> None:
        sd = _sd()

        def callback(indata, frames, time_info, status) -> None:  # PortAudio thread: copy and return
            if status.input_overflow:
                stream.report_input_overflow()
            stream.write(indata)

        try:
            self._stream = sd.InputStream(
                device=self.device["index"],
                samplerate=self.sample_rate,
                channels=self.channels,
                dtype="float32",
                blocksize=self.blocksize,
                callback=callback,
            )
            self._stream.start()
        except sd.PortAudioError as e:
            raise AudioError(f"cannot open input device {self.description}: {e}") from None

    def feed(self, stream: LanguageStream, interval: float) -> bool:
        time.sleep(interval)
        if not self._stream.active and not self._stopping:
            raise AudioError(f"input device {self.description} stopped delivering audio (unplugged or gone?)")
        # time this process was itself stopped (CPU starvation, SIGSTOP) does not count as the device's silence
        now = time.monotonic()
        elapsed, self._last_poll = min(now - self._last_poll, 4 * interval) if self._last_poll else 0.0, now
        written = stream.samples_written  # the ring's own locked count: the callback writes from its thread
        if written != self._last_count:
            self._last_count, self._quiet = written, 0.0
        else:
            self._quiet += elapsed
            if self._quiet > self.stall_seconds:
                raise AudioError(f"input device {self.description} delivered no audio for {self.stall_seconds:.0f} s")
        return True

    def stop(self) -> None:
        self._stopping = True
        if self._stream is None:
            return

        def close() -> None:
            try:
                self._stream.abort()
                self._stream.close()
            except Exception:  # the device may already be gone; closing must not fail the shutdown
                pass

        # a frozen sound server can block PortAudio's close for ever: give it a moment, then leave it
        closer = threading.Thread(target=close, daemon=True)
        closer.start()
        closer.join(timeout=3.0)
        if closer.is_alive():  # PortAudio is stuck; its exit handler (Pa_Terminate) would hang the exit too
            atexit.unregister(_sd()._exit_handler)


class FileSource:
    """An audio file played into the stream, paced in real time or as fast as possible."""

    def __init__(self, path: str | Path, realtime: bool = True) -> None:
        self.path = Path(path)
        self.audio, self.sample_rate = read_audio(self.path)
        self.channels = self.audio.shape[1]
        self.description = str(self.path)
        self.realtime = realtime
        self._pos = 0
        self._t0 = 0.0

    def start(self, stream: LanguageStream) -> None:
        self._t0 = time.monotonic()

    def feed(self, stream: LanguageStream, interval: float) -> bool:
        n = max(1, int(interval * self.sample_rate))
        if self.realtime:
            due = self._t0 + (self._pos + n) / self.sample_rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stream.write(self.audio[self._pos : self._pos + n])
        self._pos += n
        return self._pos < len(self.audio)

    def stop(self) -> None:
        pass


def pump(
    source: MicSource | FileSource,
    stream: LanguageStream,
    on_events: Callable[[list[dict]], None],
    stop: threading.Event | None = None,
    interval: float = 0.02,
) -> None:
    """Drive `stream` from `source` until the source ends or `stop` is set; ends with the summary."""
    stop = stop or threading.Event()
    source.start(stream)
    try:
        while not stop.is_set():
            alive = source.feed(stream, interval)
            events = stream.process()
            if events:
                on_events(events)
            if not alive:
                break
    finally:
        source.stop()
    on_events(stream.close())

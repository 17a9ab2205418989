"""What the tests share besides fixtures: paths, the speech fixtures' manifest and chosen clips, models,
the event schema checks, the CLI runner, the virtual microphone, and helpers several test modules use.
Test modules import it as `support` (pyproject's `pythonpath` puts tests/ on the path); the fixtures built
on it are in tests/conftest.py, which pytest injects and no test imports.

The speech is the tests' own (tests/fixtures/speech, from tools/pick_test_clips.py): no test reads
../shared, so the suite runs from a checkout anywhere. Tests that need a system part (PulseAudio,
PortAudio, Chromium) call `need_system`: it skips, naming the Debian package, or fails under
STREAMLID_REQUIRE_SYSTEM=1 (.ci/run, which installs them all).

The virtual microphone is a private, user-mode PulseAudio daemon with a null sink (recipe:
../shared/notes/portaudio-virtual-mic.md). PortAudio (through ALSA's `pulse` plugin) captures the sink's
monitor, so `paplay --device=vspk FILE` is what the "microphone" hears. Everything lives in a temporary
directory and reaches the processes under test only through the environment in `VirtualMic.env`.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from streamlid.core.audio import load_mono_16k
from streamlid.core.events import FIELDS, SCHEMA
from streamlid.core.languages import CORE
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.model.architectures import CRNN, ModelConfig
from streamlid.model.calibration import Calibration
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.classifier import Classifier
from streamlid.model.format import ModelInfo
from streamlid.serving.protocol import ServerOptions
from streamlid.serving.server import LiveServer
from streamlid.training.train import TrainConfig

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "speech"  # the speech clips the tests carry, with manifest.csv
SHIPPED_MODEL = DEFAULT_MODEL
SR = 16000

# -- system parts --------------------------------------------------------------------------------------


def need_system(present: bool, what: str, package: str) -> None:
    """Skip the calling test (or fixture) when a system part is missing, naming the Debian package that
    brings it; with STREAMLID_REQUIRE_SYSTEM=1 (set by .ci/run, which installs them) fail instead, so
    that nothing goes untested there."""
    if present:
        return
    message = f"needs {what}: apt-get install -y {package} (bash .ci/run installs it)"
    if os.environ.get("STREAMLID_REQUIRE_SYSTEM") == "1":
        pytest.fail(f"{message}; STREAMLID_REQUIRE_SYSTEM=1 makes a missing system part a failure", pytrace=False)
    pytest.skip(message)


@functools.cache
def has_portaudio() -> bool:
    try:
        import sounddevice  # noqa: F401  (loads the system's libportaudio)
    except OSError:
        return False
    return True


def need_portaudio() -> None:
    need_system(has_portaudio(), "PortAudio (the library sounddevice loads)", "libportaudio2")


def need_virtual_mic() -> None:
    """What the virtual microphone is made of: PulseAudio, its tools, ALSA's pulse plugin, PortAudio."""
    need_system(shutil.which("pulseaudio") is not None, "PulseAudio (the virtual microphone's daemon)", "pulseaudio")
    need_system(
        shutil.which("pactl") is not None and shutil.which("paplay") is not None, "pactl and paplay", "pulseaudio-utils"
    )
    plugin = [*Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so")]
    plugin += [*Path("/usr/lib/alsa-lib").glob("libasound_module_pcm_pulse.so")]
    need_system(bool(plugin), "ALSA's pulse plugin (PortAudio reaches PulseAudio through it)", "libasound2-plugins")
    need_portaudio()


CHROMIUM = Path("/usr/bin/chromium")


def need_chromium() -> None:
    need_system(CHROMIUM.is_file(), "Chromium (the browser page's end-to-end tests)", "chromium")


# -- the speech fixtures ---------------------------------------------------------------------------------


@functools.cache
def manifest() -> list[dict]:
    """tests/fixtures/speech/manifest.csv, rows with `duration_s` a float and `file` an absolute Path."""
    with (FIXTURES / "manifest.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["duration_s"] = float(r["duration_s"])
        r["file"] = FIXTURES / r["path"]
    return rows


def dev_clips(language: str, min_seconds: float = 0.0, sources: tuple[str, ...] | None = None) -> list[dict]:
    """The fixtures' dev clips of one language, longest first (manifest rows with `file` an absolute Path)."""
    rows = [
        r
        for r in manifest()
        if r["split"] == "dev"
        and r["language"] == language
        and r["duration_s"] >= min_seconds
        and (sources is None or r["source"] in sources)
    ]
    return sorted(rows, key=lambda r: (-r["duration_s"], r["path"]))


def dev_clip(relpath: str) -> Path:
    """One dev clip of the fixtures by its manifest path; fails clearly if the manifest does not list it."""
    for r in manifest():
        if r["path"] == relpath:
            assert r["split"] == "dev", f"{relpath} is not a dev clip"
            return r["file"]
    pytest.fail(f"{relpath} is not in {FIXTURES / 'manifest.csv'} (tools/pick_test_clips.py --write)")


# The speech used where the language does not matter (unit tests, mechanics): a clean English reading
# (10.2 s; streamlid-v4 and v2 both call it English).
SPEECH_CLIP = "real/asterisk_debian/eng/allison_smith-dictate_play_help.opus"


# Clear cases for the shipped model, chosen by tools/pick_test_clips.py (re-run it when the model changes):
# over the copyable clips of the core six languages (none over 11 s), per language, the longest that is
# - IDENTIFY_CLIPS: identified correctly with a margin of at least 0.5 between the top two languages;
# - CLEAR_CLIPS: also decided, streamed, within 3 s of the speech onset, never leaving that decision.
# streamlid-v4 has clips of both kinds for all six, and they are the same clips.
IDENTIFY_CLIPS: list[tuple[str, str]] = [
    ("eng", "real/asterisk_debian/eng/allison_smith-demo-nogo.opus"),
    ("deu", "real/commonvoice/deu/unknown-2025-12-23-2025-12-23.opus"),
    ("fra", "real/commonvoice/fra/unknown-2025-08-03-2025-08-03.opus"),
    ("spa", "real/commonvoice/spa/unknown-2025-08-08-2025-08-08.opus"),
    ("cmn", "real/aishell3/cmn/ssb0005-ssb00050001.opus"),
    ("rus", "real/commonvoice/rus/unknown-2025-11-07-2025-11-07.opus"),
]
CLEAR_CLIPS: list[tuple[str, str]] = list(IDENTIFY_CLIPS)
SWITCH_CLIPS = (CLEAR_CLIPS[0], CLEAR_CLIPS[1])  # code-switching: the first language, then the second


def write_wav(path: Path, audio: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    sf.write(str(path), audio, rate, subtype=subtype)
    return path


# -- models --------------------------------------------------------------------------------------------


def random_crnn(config: ModelConfig, seed: int = 0) -> tuple[CRNN, ModelInfo]:
    torch.manual_seed(seed)
    model = CRNN(config).eval()
    # a low temperature makes the untrained model's tiny logit differences decisive, so streams decide
    info = ModelInfo(
        languages=list(CORE[: config.n_languages]),
        config=config,
        version="test-random",
        calibration=Calibration(temperature=0.02),
    )
    return model, info


# Same architecture code, fewer channels (for the model-level unit tests).
TINY = ModelConfig(n_languages=6, channels=(8, 8, 16, 16), rnn_hidden=16, embed_dim=32, dropout=0.0)


# -- the event schema (events.py's docstring) -----------------------------------------------------------


@functools.cache
def _validator(kind: str) -> object:
    import jsonschema

    schema = {**SCHEMA, "$ref": f"#/$defs/{kind}"}
    schema.pop("oneOf")
    return jsonschema.Draft202012Validator(schema)


def validate_message(msg: dict, kind: str = "server_message") -> None:
    """One protocol message against protocol.schema.json's definition `kind` (jsonschema, test extra)."""
    _validator(kind).validate(msg)


STATES = {"speech-confident", "speech-uncertain", "speech-unknown", "silence"}
NUM = (int, float)
# the fields of each event type, from the one schema (protocol.schema.json, read by streamlid.core.events)
EVENT_FIELDS = {kind: set(required) - {"type", "seq", "t"} for kind, (required, _) in FIELDS.items()}
# present when the model has a speech check
SPEECH_CHECK_FIELDS = {"posteriors": {"no_speech"}}
# present when the stream can decide "none of the languages" (open set): the schema's other optional fields
UNKNOWN_FIELDS = {
    kind: set(FIELDS[kind][1] - FIELDS[kind][0]) - SPEECH_CHECK_FIELDS.get(kind, set())
    for kind in ("posteriors", "summary")
}
DROPPED_FIELDS = {"ring": {"samples", "seconds", "total_seconds"}, "input": {"overflows", "total_overflows"}}
STATS_FIELDS = {
    "samples_in",
    "dropped_samples",
    "input_overflows",
    "nonfinite_samples",
    "clipped_samples",
    "speech_seconds",
    "windows",
    "skipped_windows",
    "nonspeech_windows",
    "nonspeech_seconds",
}


def _is_prob(x) -> bool:
    return isinstance(x, NUM) and not isinstance(x, bool) and math.isfinite(x) and -1e-9 <= x <= 1 + 1e-9


def _check_probs(d, languages, unknown: float = 0.0) -> None:
    assert isinstance(d, dict) and d, d
    if languages is not None:
        assert list(d) == list(languages), (list(d), languages)
    assert all(_is_prob(p) for p in d.values()), d
    assert abs(sum(d.values()) + unknown - 1.0) < 2e-3 + 1e-4 * len(d), d


def check_event(e: dict, languages: list[str] | None = None) -> None:
    """One event against the schema (protocol.schema.json, jsonschema) and beyond it: the exact field set
    per type, ranges and the relations between fields."""
    assert isinstance(e, dict), e
    validate_message({**e, "stream": "s0"}, "event")
    kind = e.get("type")
    assert kind in EVENT_FIELDS, f"unknown event type {kind!r}"
    assert isinstance(e["seq"], int) and e["seq"] >= 0, e
    assert isinstance(e["t"], NUM) and math.isfinite(e["t"]) and e["t"] >= 0, e
    expected = {"type", "seq", "t"} | EVENT_FIELDS[kind]
    if kind == "dropped":
        assert e["source"] in DROPPED_FIELDS, e
        expected |= DROPPED_FIELDS[e["source"]]
    if kind in UNKNOWN_FIELDS and UNKNOWN_FIELDS[kind] & set(e):
        expected |= UNKNOWN_FIELDS[kind]
        assert all(_is_prob(e[k]) for k in UNKNOWN_FIELDS[kind]), e
    if kind in SPEECH_CHECK_FIELDS and SPEECH_CHECK_FIELDS[kind] & set(e):
        expected |= SPEECH_CHECK_FIELDS[kind]
        assert all(_is_prob(e[k]) for k in SPEECH_CHECK_FIELDS[kind]), e
    assert set(e) == expected, f"{kind}: fields {sorted(e)} differ from the schema's {sorted(expected)}"
    known = set(languages) if languages is not None else None
    if kind == "vad":
        assert isinstance(e["speech"], bool) and isinstance(e["level_db"], NUM), e
    elif kind == "posteriors":
        assert isinstance(e["speech"], bool) and isinstance(e["window"], NUM) and 0 < e["window"] <= 30, e
        assert e["speech"] or "no_speech" in e, e  # only the speech check says a window is not speech
        _check_probs(e["probs"], languages, e.get("unknown", 0.0))
        _check_probs(e["window_probs"], languages, e.get("window_unknown", 0.0))
        assert list(e["probs"]) == list(e["window_probs"])
    elif kind == "decision":
        assert e["state"] in STATES, e
        assert _is_prob(e["confidence"]), e
        if e["language"] is None:
            assert e["name"] is None and e["state"] != "speech-confident", e
        else:
            assert isinstance(e["language"], str) and isinstance(e["name"], str) and e["name"], e
            assert known is None or e["language"] in known, e
    elif kind == "change":
        # null: none of the languages (the open set's unknown)
        assert all(x is None or isinstance(x, str) for x in (e["from"], e["to"])) and e["from"] != e["to"], e
        assert known is None or {e["from"], e["to"]} - {None} <= known, e
        assert _is_prob(e["confidence"]), e
    elif kind == "level":
        assert isinstance(e["level_db"], NUM) and isinstance(e["speech"], bool), e
    elif kind == "dropped":
        for k in DROPPED_FIELDS[e["source"]]:
            assert isinstance(e[k], NUM) and e[k] > 0, e
    elif kind == "summary":
        assert _is_prob(e["confidence"]), e
        assert isinstance(e["speech_seconds"], NUM) and e["speech_seconds"] >= 0, e
        assert isinstance(e["top"], list) and isinstance(e["segments"], list), e
        assert e["state"] in STATES, e
        if e["language"] is None:
            assert e["name"] is None, e
            assert (e["top"] == []) == (e["state"] == "silence"), e  # unknown speech still lists candidates
        else:
            assert e["top"] and e["top"][0]["language"] == e["language"], e
            assert known is None or e["language"] in known, e
        for item in e["top"]:
            assert {"language", "p"} <= set(item) and _is_prob(item["p"]), item
        ps = [item["p"] for item in e["top"]]
        assert ps == sorted(ps, reverse=True), ps
        for s in e["segments"]:
            assert set(s) == {"start", "end", "language"} and 0 <= s["start"] <= s["end"] <= e["t"] + 1e-6, s
        assert set(e["stats"]) == STATS_FIELDS, e["stats"]
    json.dumps(e, allow_nan=False)  # JSON-serialisable, no NaN/inf


def check_events(events: list[dict], languages: list[str] | None = None, complete: bool = True) -> None:
    """A whole stream's events: each valid, seq gapless from 0, t never going back, one summary at the end."""
    for e in events:
        check_event(e, languages)
    assert [e["seq"] for e in events] == list(range(len(events))), [e["seq"] for e in events]
    ts = [e["t"] for e in events]
    assert all(b >= a - 1e-9 for a, b in zip(ts, ts[1:], strict=False)), ts
    kinds = [e["type"] for e in events]
    if complete:
        assert kinds and kinds[-1] == "summary" and kinds.count("summary") == 1, kinds
    else:
        assert "summary" not in kinds


def parse_json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_one_line_error(stderr: str, *needles: str) -> str:
    """stderr is exactly one non-empty line, no traceback, containing each needle (case-insensitive)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    for n in needles:
        assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}"
    return lines[0]


# -- running the CLI -----------------------------------------------------------------------------------


def streamlid_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamlid", *args]


def run_streamlid(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        streamlid_cmd(*map(str, args)), capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO
    )


# -- the virtual microphone ----------------------------------------------------------------------------

ASOUNDRC = """pcm.vmic { type pulse device "vspk.monitor" hint { show on description "streamlid test microphone" } }
"""
# A device that cannot capture at 16 kHz: a plug onto the monitor fixed at 48 kHz whose rate converter
# does not exist, so any other rate fails when the hardware parameters are set. (PortAudio's stream on
# a plug over the pulse plugin opens and runs but delivers no frames; only the rate choice is testable.)
ASOUNDRC_48K_ONLY = """pcm.vmic48k {
    type plug
    slave { pcm "vmic" rate 48000 channels 1 }
    rate_converter "streamlid_test_no_such_converter"
    hint { show on description "streamlid test microphone, 48 kHz only" }
}
"""


@dataclass
class VirtualMic:
    dir: Path
    env: dict
    process: subprocess.Popen
    _devices: list[dict] | None = None

    def devices(self) -> list[dict]:
        """The input devices as `streamlid devices --json` lists them with this daemon's environment."""
        if self._devices is None:
            r = run_streamlid("devices", "--json", env=self.env, timeout=60)
            assert r.returncode == 0, r.stderr
            self._devices = parse_json_lines(r.stdout)
        return self._devices

    def device_index(self, name: str) -> int:
        found = [d["index"] for d in self.devices() if d["name"] == name]
        assert len(found) == 1, f"no single input device named {name!r}: {self.devices()}"
        return found[0]

    def play(self, path: Path) -> subprocess.Popen:
        """Play a file into the microphone (real-time paced; returns at once, wait() on the result)."""
        return subprocess.Popen(
            ["paplay", "--device=vspk", str(path)], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def recorders(self) -> int:
        """How many capture streams are connected to the daemon (the stream under test is one)."""
        r = subprocess.run(["pactl", "list", "short", "source-outputs"], env=self.env, capture_output=True, text=True)
        return len([line for line in r.stdout.splitlines() if line.strip()])

    def wait_for_recorder(self, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        while self.recorders() == 0:
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"the recording process exited early with code {proc.returncode}")
            if time.monotonic() > deadline:
                pytest.fail(f"nothing started recording from the virtual microphone within {timeout} s")
            time.sleep(0.1)

    def log(self) -> str:
        p = self.dir / "pulse.log"
        return p.read_text(errors="replace") if p.exists() else ""


def start_virtual_mic(root: Path, asoundrc: str = ASOUNDRC) -> VirtualMic:
    need_virtual_mic()
    run_dir, home = root / "run", root / "home"
    (home / ".config").mkdir(parents=True)
    run_dir.mkdir(mode=0o700)
    (home / ".asoundrc").write_text(asoundrc)
    socket = run_dir / "pulse" / "native"
    (root / "vmic.pa").write_text(
        f"load-module module-native-protocol-unix auth-anonymous=1 auth-cookie-enabled=0 socket={socket}\n"
        "load-module module-null-sink sink_name=vspk rate=16000 channels=1"
        " sink_properties=device.description=VirtualSpeaker\n"
        "set-default-sink vspk\n"
        "set-default-source vspk.monitor\n"
    )
    env = dict(os.environ)
    env.update(
        XDG_RUNTIME_DIR=str(run_dir),
        PULSE_SERVER=f"unix:{socket}",
        PULSE_SOURCE="vspk.monitor",
        PULSE_SINK="vspk",
        PULSE_COOKIE=str(root / "cookie"),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [
            "pulseaudio",
            "--daemonize=no",
            "-n",
            "-F",
            str(root / "vmic.pa"),
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "--system=no",
            "--disable-shm=yes",
            f"--log-target=file:{root / 'pulse.log'}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    mic = VirtualMic(root, env, process)
    deadline = time.monotonic() + 15
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_virtual_mic(mic)
            pytest.fail(f"the private PulseAudio daemon did not start:\n{mic.log()[-2000:]}")
        time.sleep(0.1)
    return mic


def stop_virtual_mic(mic: VirtualMic) -> None:
    if mic.process.poll() is None:
        mic.process.terminate()
        try:
            mic.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mic.process.kill()
            mic.process.wait()


# -- helpers shared by several test modules ---------------------------------------------------------
def run_stream(classifier, audio, rate=SR, channels=1, chunk=None, options=None) -> tuple[list[dict], LanguageStream]:
    stream = LanguageStream(classifier, rate, channels, options or StreamOptions())
    chunk = chunk or len(audio)
    events = []
    for i in range(0, len(audio), chunk):
        events += stream.push(audio[i : i + chunk])
    events += stream.close()
    return events, stream


def assert_same_events(a: list[dict], b: list[dict], tol: float = 2e-4) -> None:
    """Equal event streams; numbers may differ by a rounding step (batched vs single model calls)."""
    assert [e["type"] for e in a] == [e["type"] for e in b]

    def same(x, y, where):
        if isinstance(x, dict):
            assert isinstance(y, dict) and x.keys() == y.keys(), where
            for k in x:
                same(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, list):
            assert isinstance(y, list) and len(x) == len(y), where
            for i, (p, q) in enumerate(zip(x, y, strict=True)):
                same(p, q, f"{where}[{i}]")
        elif isinstance(x, float) and not isinstance(x, bool):
            assert isinstance(y, (int, float)) and abs(x - y) <= tol, f"{where}: {x} != {y}"
        else:
            assert x == y, f"{where}: {x!r} != {y!r}"

    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        same(x, y, f"event {i} ({x['type']})")


CLIPS = {  # commonvoice clips of three languages, for servers, faults, the dashboard and the page
    "deu": FIXTURES / "real/commonvoice/deu/unknown-2025-08-06-2025-08-06.opus",
    "fra": FIXTURES / "real/commonvoice/fra/unknown-2025-06-29-2025-06-29.opus",
    "spa": FIXTURES / "real/commonvoice/spa/unknown-2025-06-27-2025-06-27.opus",
}
# clips the shipped model identifies correctly, streamed too: the live tests check the live path shows it
RIGHT = {
    "deu": FIXTURES / "real/commonvoice/deu/unknown-2025-11-20-2025-11-20.opus",
    "fra": FIXTURES / "real/commonvoice/fra/unknown-2025-10-25-2025-10-25.opus",
    "spa": FIXTURES / "real/commonvoice/spa/unknown-2025-06-27-2025-06-27.opus",
}


@asynccontextmanager
async def running(classifier: Classifier, **options):
    server = LiveServer(classifier, ServerOptions(port=0, **options), model="m")
    await server.start()
    try:
        yield server, f"ws://127.0.0.1:{server.port}"
    finally:
        await server.close()


TINY_ARCH = {
    "channels": [8, 16, 16, 24],
    "time_pool": [2, 2, 1, 1],
    "rnn_hidden": 24,
    "embed_dim": 32,
    "dropout": 0.0,
}  # training runs' tiny CRNN (TrainConfig.model)


TINY_SOURCES = {"heidelberg_digits": "eng", "commonvoice": "spa"}  # the tiny runs' two languages


def tiny_manifest(path) -> str:
    """Four clips from each of three speakers of an English and a Spanish source, from the fixtures: digits
    of Heidelberg Digits' first three English speakers, and three Spanish Common Voice sentences (fixture
    dev clips, `train` here: these runs learn from them), each cut in four, so that each speaker has four."""
    path = Path(path)
    rows = []
    for source, language in TINY_SOURCES.items():
        own = [r | {"split": "train"} for r in manifest() if r["source"] == source and r["language"] == language]
        speakers = sorted({r["speaker"] for r in own})[:3]
        assert len(speakers) == 3, f"the fixtures have {len(speakers)} {language} speakers of {source}, not 3"
        for speaker in speakers:
            clips = [r for r in own if r["speaker"] == speaker]
            if len(clips) == 1:  # one sentence: its four quarters
                x = load_mono_16k(clips[0]["file"])
                for k, part in enumerate(np.array_split(x, 4)):
                    piece = write_wav(path.parent / f"{Path(clips[0]['path']).stem}-{k}.wav", part, SR)
                    rows.append(clips[0] | {"path": str(piece), "duration_s": f"{part.size / SR:.3f}"})
            else:
                rows += clips[:4]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(
            f, fieldnames=["path", "language", "speaker", "duration_s", "source", "split"], extrasaction="ignore"
        )
        w.writeheader()
        w.writerows(rows)
    return f"{path}={FIXTURES}"


def tiny_config(tmp_path, **overrides) -> TrainConfig:
    """A CPU run of the tiny network on the tiny manifest, seconds long."""
    settings = dict(
        out=str(tmp_path / "run"),
        manifests=[tiny_manifest(tmp_path / "tiny.csv")],
        min_minutes=0,
        min_speakers=1,
        holdout={source: 1 for source in TINY_SOURCES},
        batch_size=8,
        crop_s=(0.5, 0.8),
        lr=1e-2,
        warmup_steps=5,
        val_seconds=(1.0,),
        workers=1,
        no_aug=["all"],
        model=TINY_ARCH,
        compute="cpu",
    )
    return TrainConfig(**(settings | overrides))

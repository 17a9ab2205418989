"""A first-time user's path: the README's set-up and examples work as written, and the CLI behaves as one
expects on first use (a narrow terminal, a bare server URL, no terminal or no input device, out-of-range
options, empty or cut files), saying plainly what is wrong and what its numbers mean."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
import soxr
from support import CLEAR_CLIPS, CLIPS, check_events, dev_clip, need_portaudio, write_wav

from streamlid.core.audio import read_audio
from streamlid.io.sinks import LiveLine
from streamlid.model.classifier import Classifier
from streamlid.serving.client import ClientError, audio_url, send_file
from streamlid.serving.server import BackgroundServer, LiveServer, ServerOptions

pytestmark = pytest.mark.e2e  # end-to-end: real servers, processes, models over whole clips

ROOT = Path(__file__).resolve().parents[2]
DEU = CLIPS["deu"]
SR = 16000
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def streamlid(*argv: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamlid", *map(str, argv)], capture_output=True, text=True, timeout=timeout, **kw
    )


# -- the README's test command is the whole set-up ------------------------------------------------------
def test_readme_test_command_is_the_whole_ci_set_up():
    blocks = re.findall(r"```\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks[1].strip() == "bash .ci/run"
    ci = (ROOT / ".ci" / "run").read_text()
    for package in ("libportaudio2", "pulseaudio", "chromium"):
        assert re.search(rf"^\s+{package}\b", ci, flags=re.M), package
    assert "apt-get" in ci and "pip install -q torch==2.13.0" in ci and "python -m pytest -q" in ci
    assert "export STREAMLID_REQUIRE_SYSTEM=1" in ci  # there a missing system part fails the tests needing it


# -- the live line on an 80-column terminal -------------------------------------------------------------
def test_live_line_never_wraps_at_80_columns(random_model, speech_16k, tmp_path):
    """`listen --input F` on an 80-column terminal (a real pty): every redraw fits in one row."""
    wav = write_wav(tmp_path / "s.wav", speech_16k, SR)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlid", "listen", "--model", str(random_model), "--input", str(wav), "--fast"],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(leader)
    rows = [ANSI.sub("", r) for r in re.split(r"[\r\n]+", out.decode(errors="replace"))]
    status = [r for r in rows if r.startswith("[")]
    assert status, rows
    assert max(len(r) for r in rows) < 80, [r for r in rows if len(r) >= 80]


def test_status_line_gives_up_the_extras_first():
    line = LiveLine(open(os.devnull, "w"))
    line([{"type": "posteriors", "t": 1.0, "probs": {"deu": 0.9, "eng": 0.05, "fra": 0.05}}])
    line(
        [
            {
                "type": "decision",
                "t": 1.0,
                "language": "deu",
                "name": "German",
                "confidence": 0.9,
                "state": "speech-confident",
            }
        ]
    )
    wide, narrow, tiny = line.status_line(200), line.status_line(60), line.status_line(20)
    assert "deu 0.90" in wide and "█" in wide
    assert len(narrow) < 60 and "German (deu)" in narrow and "p 0.90" in narrow
    assert len(tiny) < 20


# -- the URL `send` takes -------------------------------------------------------------------------------
def test_send_url_without_a_path_goes_to_audio_and_the_feed_path_is_named():
    assert audio_url("ws://h:1") == "ws://h:1/audio" and audio_url("ws://h:1/?token=t") == "ws://h:1/audio?token=t"
    assert audio_url("ws://h:1/audio") == "ws://h:1/audio"
    with pytest.raises(ClientError, match=r"event feed.*send to ws://h:1/audio"):
        audio_url("ws://h:1/events")


def test_send_to_a_bare_server_url_works_and_a_wrong_path_says_so(random_classifier):
    server = BackgroundServer(LiveServer(random_classifier, ServerOptions(port=0))).start()
    try:
        port = server.server.port
        summary = asyncio.run(send_file(DEU, f"ws://127.0.0.1:{port}/", realtime=False))
        assert summary["type"] == "summary"
        r = streamlid("send", DEU, "--url", f"ws://127.0.0.1:{port}/elsewhere", "--fast")
        assert r.returncode == 1 and "<" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        r = streamlid("send", DEU, "--url", f"ws://127.0.0.1:{port}/events")
        assert r.returncode == 1 and "/audio" in r.stderr
        r = streamlid("send", DEU, "--url", f"ws://127.0.0.1:{port}", "--languages", "xxx")
        assert r.returncode == 1 and "--languages: unknown language(s) xxx" in r.stderr
    finally:
        server.close()


# -- the TUI without a terminal -------------------------------------------------------------------------
def test_tui_without_a_terminal_refuses_at_once(random_model, speech_16k, tmp_path):
    wav = write_wav(tmp_path / "s.wav", speech_16k, SR)
    r = streamlid(
        "listen", "--model", random_model, "--input", wav, "--fast", "--tui", stdin=subprocess.DEVNULL, timeout=60
    )
    assert r.returncode == 2 and "--tui needs a terminal" in r.stderr and "\x1b[" not in r.stdout
    r = streamlid("listen", "--model", random_model, "--input", wav, "--tui", "--json", timeout=60)
    assert r.returncode == 2 and "--tui and --json cannot go together" in r.stderr


# -- the two probabilities' names -----------------------------------------------------------------------
def test_the_two_probabilities_are_named():
    line = LiveLine(open(os.devnull, "w"))
    line(
        [
            {
                "type": "decision",
                "t": 1.0,
                "language": "eng",
                "name": "English",
                "confidence": 0.92,
                "state": "speech-confident",
            }
        ]
    )
    summary = {"type": "summary", "t": 9.0, "language": "spa", "name": "Spanish", "confidence": 0.26,
               "state": "speech-uncertain", "top": [], "speech_seconds": 8.0}  # fmt: skip
    text = line.summary_line(summary)
    assert "overall p 0.26" in text and "the last decision was English (eng)" in text
    assert "p 0.92" in line.status_line(200)
    readme = (ROOT / "README.md").read_text()
    assert "overall p" in readme and "p now" in readme


# -- options out of range -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["identify", "--window", "-1", "F"], "--window must be from 0.1 to 30 s, not -1"),
        (
            ["identify", "--min-window", "5", "--window", "1", "F"],
            "--min-window must be from 0.1 to 1 s (--window), not 5",
        ),
        (["identify", "--hop", "0", "F"], "--hop must be from 0.01 to 3 s (--window), not 0"),
        (["identify", "--top", "0", "F"], "--top must be at least 1, not 0"),
        (["identify", "--top", "-3", "F"], "--top must be at least 1, not -3"),
        (["listen", "--confident", "2", "--input", "F"], "--confident must be from 0 to 1, not 2"),
    ],
)
def test_validation_names_the_option_and_its_range(argv, message, speech_16k, tmp_path):
    wav = write_wav(tmp_path / "s.wav", speech_16k, SR)
    r = streamlid(*[str(wav) if a == "F" else a for a in argv], timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# -- empty and truncated files --------------------------------------------------------------------------
def test_empty_and_truncated_files_are_named_as_such(random_model, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    r = streamlid("identify", "--model", random_model, empty, timeout=60)
    assert r.returncode == 1 and "the file is empty (0 bytes)" in r.stderr
    cut = tmp_path / "cut.opus"
    cut.write_bytes(DEU.read_bytes()[:3000])
    r = streamlid("identify", "--model", random_model, cut, timeout=60)
    assert r.returncode == 0 and "warning:" in r.stderr and "ends early" in r.stderr
    r = streamlid("identify", "--model", random_model, "--json", cut, timeout=60)
    assert "ends early" in json.loads(r.stdout)["warning"]
    r = streamlid("listen", "--model", random_model, "--input", cut, "--fast", "--json", timeout=60)
    assert r.returncode == 0 and "ends early" in r.stderr
    whole = streamlid("identify", "--model", random_model, "--json", DEU, timeout=60)
    assert "warning" not in json.loads(whole.stdout)


# -- no input device ------------------------------------------------------------------------------------
def test_devices_json_with_no_device_fails_like_text_mode(tmp_path):
    need_portaudio()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE")}
    env["PULSE_RUNTIME_PATH"] = str(tmp_path)  # no PulseAudio daemon to find
    text = streamlid("devices", env=env, timeout=60)
    if text.returncode == 0:
        pytest.skip("this machine has a real input device")
    r = streamlid("devices", "--json", env=env, timeout=60)
    assert r.returncode == 1 == text.returncode and r.stdout == "" and "no audio input devices" in r.stderr


# -- help, what --json prints, and the README's examples ------------------------------------------------
def test_every_train_option_has_help():
    out = streamlid("train", "--help", timeout=60).stdout
    options = re.findall(r"^  (--[a-z-]+)(.*)$", out, flags=re.M)
    bare = [name for name, rest in options if not rest.strip() and not re.search(rf"{name}.*\n {{20,}}\S", out)]
    assert options and bare == [], bare


def test_listen_json_says_on_stderr_when_it_listens(random_model, speech_16k, tmp_path):
    wav = write_wav(tmp_path / "s.wav", speech_16k, SR)
    r = streamlid("listen", "--model", random_model, "--input", wav, "--fast", "--json", timeout=60)
    assert r.returncode == 0 and r.stderr.startswith("listening to ")
    assert all(json.loads(line)["type"] for line in r.stdout.splitlines())


def test_identify_json_top_entries_are_as_documented(random_model, speech_16k, tmp_path):
    wav = write_wav(tmp_path / "s.wav", speech_16k, SR)
    r = json.loads(streamlid("identify", "--model", random_model, "--json", wav, timeout=60).stdout)
    assert r["top"] and all(set(t) == {"language", "p"} for t in r["top"])
    assert "`top` [{`language`, `p`}]" in (ROOT / "README.md").read_text()


def test_a_silent_input_gives_no_decision_and_no_crash(random_classifier):
    from streamlid.core.stream import LanguageStream

    events = LanguageStream(random_classifier).run(np.zeros(3 * SR, np.float32))
    assert events[-1]["state"] == "silence" and Classifier is not None


def test_the_readme_library_example_runs_as_written(capsys):
    """The README's five lines, run on a real German clip with its PCM pushed in one chunk."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## As a library") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("```\n", 10)]
    clip = dev_clip(next(path for language, path in CLEAR_CLIPS if language == "deu"))
    code = code.replace('"speech.opus"', repr(str(clip)))
    audio, rate = read_audio(clip)
    pcm_chunk = soxr.resample(audio[:, 0], rate, 48000)
    namespace = {"pcm_chunk": pcm_chunk}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.split()
    assert printed[0] == "deu" and printed[2] == "speech-confident", printed
    events = namespace["events"]
    assert events[-1]["type"] == "summary" and {e["type"] for e in events} >= {"vad", "posteriors"}
    check_events(events)

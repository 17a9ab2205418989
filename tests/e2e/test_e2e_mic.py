"""End to end through a real PortAudio input stream: `streamlid devices` and `streamlid listen --device N`.

A private PulseAudio daemon (support.VirtualMic) provides a null sink; PortAudio captures its monitor
through ALSA's pulse plugin, and `paplay` speaks real speech into it in real time. Nothing is mocked:
the CLI runs as a subprocess with the daemon's environment, exactly as a user would run it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support import (
    CLEAR_CLIPS,
    REPO,
    SPEECH_CLIP,
    SR,
    assert_one_line_error,
    check_events,
    dev_clip,
    need_portaudio,
    parse_json_lines,
    run_streamlid,
    streamlid_cmd,
    write_wav,
)

from streamlid.core.audio import load_mono_16k
from streamlid.core.languages import CORE
from streamlid.core.vad import speech_only

pytestmark = pytest.mark.e2e  # end-to-end: real servers, processes, models over whole clips

# -- devices -------------------------------------------------------------------------------------------


def test_devices_lists_the_virtual_microphone(virtual_mic):
    devices = virtual_mic.devices()
    names = [d["name"] for d in devices]
    assert "vmic" in names, names
    for d in devices:
        assert set(d) == {"index", "name", "channels", "default_samplerate", "hostapi"}
        assert d["channels"] >= 1 and d["default_samplerate"] > 0 and d["hostapi"] == "ALSA"
    assert len({d["index"] for d in devices}) == len(devices)
    r = run_streamlid("devices", env=virtual_mic.env)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["index", "channels", "rate", "name"]
    vmic = next(d for d in devices if d["name"] == "vmic")
    assert any(line.split()[0] == str(vmic["index"]) and "vmic (ALSA)" in line for line in lines[1:])


def test_no_sound_server_means_no_devices(tmp_path):
    """With no daemon to reach (and no sound card here) there is nothing to list or open."""
    import os

    need_portaudio()

    (tmp_path / "home").mkdir()
    env = dict(
        os.environ, HOME=str(tmp_path / "home"), PULSE_SERVER=f"unix:{tmp_path}/none", XDG_RUNTIME_DIR=str(tmp_path)
    )
    r = run_streamlid("devices", env=env)
    assert r.returncode == 1 and r.stdout.strip() == "no audio input devices found"
    assert "Traceback" not in r.stderr
    r = run_streamlid("listen", "--device", "0", "--json", env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert_one_line_error(r.stderr, "streamlid listen: error:", "no audio input devices found")


@pytest.mark.parametrize("spec", ["99", "no-such-microphone"])
def test_unknown_device_lists_the_valid_ones(virtual_mic, spec):
    devices = virtual_mic.devices()
    r = run_streamlid("listen", "--device", spec, "--json", env=virtual_mic.env)
    assert r.returncode == 2 and r.stdout == ""
    line = assert_one_line_error(r.stderr, "streamlid listen: error:", "no input device", spec)
    for d in devices:
        assert f"{d['index']}: {d['name']}" in line, line


# -- listening ------------------------------------------------------------------------------------------


@dataclass
class Heard:
    events: list[dict]
    arrival: list[float]  # wall-clock second each event line arrived, from the start of playback
    returncode: int
    stderr: str
    played_seconds: float
    recorded_seconds: float  # wall clock from recording start to SIGTERM


def listen_to(mic, device: int | str, wav: Path, *extra: str, lead_in: float = 2.0, tail: float = 1.5) -> Heard:
    """Run `streamlid listen --device DEVICE --json`, play `wav` into the microphone, then stop it with SIGTERM."""
    proc = subprocess.Popen(
        streamlid_cmd("listen", "--device", str(device), "--json", *extra),
        env=mic.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[tuple[float, str]] = []
    errors: list[str] = []
    out_reader = threading.Thread(target=lambda: [lines.append((time.monotonic(), x)) for x in proc.stdout])
    err_reader = threading.Thread(target=lambda: errors.extend(proc.stderr))
    out_reader.start()
    err_reader.start()
    try:
        mic.wait_for_recorder(timeout=90, proc=proc)
        recording_since = time.monotonic()
        time.sleep(lead_in)  # the first callbacks come 1.2-1.6 s after the stream starts: play after them
        play_start = time.monotonic()
        player = mic.play(wav)
        assert player.wait(timeout=120) == 0, player.stderr.read()
        played = time.monotonic() - play_start
        time.sleep(tail)  # let the hangover close the segment
        proc.send_signal(signal.SIGTERM)
        recorded = time.monotonic() - recording_since
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out_reader.join(timeout=10)
        err_reader.join(timeout=10)
    events = [parse_json_lines(x)[0] for _, x in lines if x.strip()]
    arrival = [t - play_start for t, x in lines if x.strip()]
    return Heard(events, arrival, proc.returncode, "".join(errors), played, recorded)


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> tuple[Path, float]:
    """6 s of the English reading as a 16 kHz WAV, and how many seconds of it the VAD calls speech."""
    x = load_mono_16k(dev_clip(SPEECH_CLIP))[: 6 * SR]
    path = write_wav(tmp_path_factory.mktemp("play") / "speech.wav", x, SR, "PCM_16")
    return path, speech_only(x).size / SR


def check_heard(heard: Heard, speech_seconds: float, rate: int, languages=None) -> list[dict]:
    assert heard.returncode == 0, heard.stderr
    assert "Traceback" not in heard.stderr
    events = heard.events
    check_events(events, languages)
    summary = events[-1]
    # a real device stream: audio kept coming, silence included, at the device's rate
    stats = summary["stats"]
    assert stats["samples_in"] == pytest.approx(heard.recorded_seconds * rate, rel=0.25)
    assert summary["t"] == pytest.approx(stats["samples_in"] / rate, abs=0.1)
    assert stats["dropped_samples"] == 0 and stats["input_overflows"] == 0
    # what was played is what was heard: one utterance, of the file's speech length
    vad = [e for e in events if e["type"] == "vad"]
    assert [e["speech"] for e in vad] == [True, False] * (len(vad) // 2), vad  # a pause may split the reading
    assert summary["speech_seconds"] == pytest.approx(speech_seconds, abs=0.6)
    # every hop of speech was either analysed or skipped while the decision was steady
    assert stats["windows"] + stats["skipped_windows"] >= 10 and stats["windows"] >= 2
    decisions = [e for e in events if e["type"] == "decision"]
    assert decisions and decisions[-1]["state"] == "silence" and decisions[-1]["language"] is not None
    return events


def test_listen_to_the_virtual_microphone(virtual_mic, random_model, speech_wav):
    """The mechanics with a random model: speech in through PortAudio, a decision out within seconds."""
    wav, speech_seconds = speech_wav
    device = virtual_mic.device_index("vmic")
    heard = listen_to(virtual_mic, device, wav, "--model", str(random_model))
    events = check_heard(heard, speech_seconds, SR, list(CORE))
    onset = next(e["t"] for e in events if e["type"] == "vad")
    first = next(e for e in events if e["type"] == "decision")
    assert first["t"] - onset <= 1.0  # the first window comes after min_window of speech
    assert first["state"].startswith("speech")
    decided = next(e for e in events if e["type"] == "decision" and e["language"])
    assert decided["language"] in CORE and decided["t"] - onset <= 3.0


def test_listen_on_a_device_that_refuses_16k(virtual_mic_48k_only, random_model):
    """A device that cannot do 16 kHz is opened at its own rate (48 kHz), to be resampled in the stream."""
    mic = virtual_mic_48k_only
    device = mic.device_index("vmic48k")
    probe = "import sounddevice as sd, sys; sd.check_input_settings(int(sys.argv[1]), channels=1, samplerate=%d)"
    for rate, refused in ((16000, True), (48000, False)):
        r = subprocess.run([sys.executable, "-c", probe % rate, str(device)], env=mic.env, capture_output=True)
        assert (r.returncode != 0) == refused, f"the test device should {'refuse' if refused else 'take'} {rate} Hz"
    proc = subprocess.Popen(
        streamlid_cmd("listen", "--device", str(device), "--model", str(random_model)),
        env=mic.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        mic.wait_for_recorder(timeout=90, proc=proc)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err
    # PortAudio and ALSA print their own complaints about the refused rate; streamlid's line is the one
    ours = [line for line in err.splitlines() if line.startswith("listening to")]
    assert ours == [f"listening to {device}: vmic48k at 48000 Hz, 1 ch; model on cpu; Ctrl-C stops"], err
    assert out.splitlines()[-1].startswith("end: ")


def test_listen_by_device_name_in_text_mode(virtual_mic, random_model, tmp_path):
    """`--device NAME` and the live line: the informational line on stderr, an end line on stdout."""
    silence = write_wav(tmp_path / "quiet.wav", np.zeros(SR, np.float32), SR, "PCM_16")
    proc = subprocess.Popen(
        streamlid_cmd("listen", "--device", "vmic", "--model", str(random_model)),
        env=virtual_mic.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        virtual_mic.wait_for_recorder(timeout=90, proc=proc)
        virtual_mic.play(silence).wait(timeout=30)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert_one_line_error(err, "listening to", "vmic", "16000 Hz", "1 ch")
    assert out.splitlines()[-1].startswith("end: no speech heard")


def test_a_device_that_vanishes_mid_stream(fresh_virtual_mic, random_model):
    """The sink behind the microphone is unloaded while listening: a clear error and exit code, no hang."""
    mic = fresh_virtual_mic
    proc = subprocess.Popen(
        streamlid_cmd("listen", "--device", "vmic", "--json", "--model", str(random_model)),
        env=mic.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        mic.wait_for_recorder(timeout=90, proc=proc)
        time.sleep(1.5)
        unload = subprocess.run(["pactl", "unload-module", "module-null-sink"], env=mic.env, capture_output=True)
        assert unload.returncode == 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2 and "Traceback" not in err
    # PortAudio prints its own failed expressions first; streamlid's message is one line, the last
    ours = [line for line in err.splitlines() if line.startswith("streamlid")]
    assert len(ours) == 1 and err.strip().splitlines()[-1] == ours[0], err
    assert "streamlid listen: error: input device" in ours[0] and "vmic" in ours[0] and "stopped" in ours[0]
    check_events(parse_json_lines(out), list(CORE), complete=False)


# -- the shipped model, through the microphone ------------------------------------------------------------

MIC_CLIP = CLEAR_CLIPS[0]


def test_the_right_language_is_decided_within_seconds_of_speech(virtual_mic, shipped_model, tmp_path):
    language, relpath = MIC_CLIP
    x = load_mono_16k(dev_clip(relpath))[: 7 * SR]  # the first 7 s of the reading are plenty
    wav = write_wav(tmp_path / "speech.wav", x, SR, "PCM_16")
    device = virtual_mic.device_index("vmic")
    heard = listen_to(virtual_mic, device, wav)  # the shipped model, default settings
    events = check_heard(heard, speech_only(x).size / SR, SR)
    onset = next(e["t"] for e in events if e["type"] == "vad")
    decided = next((e for e in events if e["type"] == "decision" and e["language"] == language), None)
    assert decided is not None, [e for e in events if e["type"] == "decision"]
    assert decided["t"] - onset <= 3.0, f"{language} decided {decided['t'] - onset:.2f} s into the speech"
    assert events[-1]["language"] == language
    decisions = [e for e in events if e["type"] == "decision"]
    assert any(d["language"] == language and d["state"] == "speech-confident" for d in decisions), decisions
    changes = [e for e in events if e["type"] == "change"]
    assert not [c for c in changes if c["from"] == language], f"the decision left {language}: {changes}"

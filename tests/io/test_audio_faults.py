"""Faults of the sound server under `streamlid listen --device`: the PulseAudio daemon killed or frozen
mid-stream, and the listening process starved of CPU. Each runs against a private daemon of its own
(the `fresh_virtual_mic` fixture, support.VirtualMic), which the test breaks; `listen` must end with a
clear one-line error and exit code, or lose no audio silently.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from support import REPO, SPEECH_CLIP, check_events, dev_clip, parse_json_lines, streamlid_cmd

pytestmark = pytest.mark.e2e  # end-to-end: real servers, processes, models over whole clips


def listen_to(mic, model, **env) -> subprocess.Popen:
    proc = subprocess.Popen(
        streamlid_cmd("listen", "--device", "vmic", "--json", "--model", str(model)),
        env={**mic.env, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mic.wait_for_recorder(timeout=90, proc=proc)
    mic.play(dev_clip(SPEECH_CLIP))
    time.sleep(1.5)
    return proc


def test_the_sound_server_killed_mid_stream_gives_a_clear_error_and_exit(fresh_virtual_mic, random_model):
    proc = listen_to(fresh_virtual_mic, random_model)
    try:
        t0 = time.monotonic()
        fresh_virtual_mic.process.kill()
        out, err = proc.communicate(timeout=30)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"the daemon killed: exit {proc.returncode} after {seconds:.2f} s")
    assert proc.returncode == 2 and "Traceback" not in err and seconds < 10
    assert err.strip().splitlines()[-1].startswith("streamlid listen: error: input device"), err
    check_events(parse_json_lines(out), None, complete=False)


def test_a_process_starved_of_cpu_loses_no_audio_silently(fresh_virtual_mic, random_model):
    """SIGSTOP for 8 s, then on: PulseAudio holds the audio for its stopped client and hands it over on
    SIGCONT; the 30 s ring takes the backlog, so it is heard and no drop is (falsely) reported.

    `wall` starts when the daemon lists the recorder, before the first block arrives, so it runs up to ~1 s
    ahead of the audio; ALSA's pulse plugin passes PortAudio no overflow flag, so only a loss would show."""
    proc = listen_to(fresh_virtual_mic, random_model)
    try:
        t0 = time.monotonic() - 1.5
        proc.send_signal(signal.SIGSTOP)
        time.sleep(8)
        proc.send_signal(signal.SIGCONT)
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        wall = time.monotonic() - t0
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err
    events = parse_json_lines(out)
    check_events(events, None)
    dropped = [e for e in events if e["type"] == "dropped"]
    heard = events[-1]["stats"]["samples_in"] / 16000
    print(f"8 s stopped: {wall:.1f} s recorded, {heard:.1f} s heard; dropped events {dropped}")
    assert wall - heard < 2.0 and not dropped, (wall, heard, dropped)


def test_a_sound_server_that_stops_delivering_gives_a_clear_error_and_exit(fresh_virtual_mic, random_model):
    """The daemon frozen (SIGSTOP): the device stays open but no audio arrives; the watchdog ends it."""
    proc = listen_to(fresh_virtual_mic, random_model)
    try:
        t0 = time.monotonic()
        fresh_virtual_mic.process.send_signal(signal.SIGSTOP)
        out, err = proc.communicate(timeout=30)
        seconds = time.monotonic() - t0
    finally:
        fresh_virtual_mic.process.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"the daemon frozen: exit {proc.returncode} after {seconds:.2f} s")
    assert proc.returncode == 2 and "Traceback" not in err and seconds < 15
    assert err.strip().splitlines()[-1].endswith("delivered no audio for 5 s"), err
    check_events(parse_json_lines(out), None, complete=False)

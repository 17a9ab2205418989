"""vad.py: framing, WebRTC VAD decisions with the energy floor, onset pre-roll, hangover, speech_only."""

from __future__ import annotations

import numpy as np
import pytest

from streamlid.core.vad import VadGate, VadOptions, speech_only

SR = 16000


def labels(gate: VadGate, x: np.ndarray, chunk: int | None = None) -> tuple[np.ndarray, list[bool]]:
    chunk = chunk or x.size
    frames, flags = [], []
    for i in range(0, x.size, chunk):
        for run in gate.process(x[i : i + chunk]):
            frames.append(run.audio.copy())
            flags += [run.speech] * len(run.levels)
    return (np.concatenate(frames) if frames else np.zeros(0, np.float32)), flags


def test_digital_silence_is_never_speech():
    gate = VadGate()
    frames, flags = labels(gate, np.zeros(5 * SR, np.float32))
    assert len(flags) == 5 * SR // gate.frame_len and not any(flags)
    assert gate.in_speech is False


def test_quiet_noise_below_the_energy_floor_is_never_speech():
    noise = np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32) * 10 ** (-65 / 20)
    _, flags = labels(VadGate(), noise)
    assert not any(flags)


def test_real_speech_is_found(speech_16k):
    gate = VadGate()
    frames, flags = labels(gate, speech_16k)
    # speech_16k: 0.5 s silence, 4 s of reading, 1.5 s silence
    on = np.array(flags)
    assert on.sum() * gate.frame_len / SR > 2.0  # most of the reading
    first = int(np.argmax(on)) * gate.frame_len / SR
    last = (len(on) - int(np.argmax(on[::-1]))) * gate.frame_len / SR
    assert 0.3 <= first <= 1.2, first
    assert 3.5 <= last <= 4.5 + 0.3 + 0.1, last  # ends within the hangover after the reading
    assert not on[-20:].any()  # closed again well before the end


def test_every_sample_is_labelled_once_in_order_for_any_chunking(speech_16k):
    reference = None
    for chunk in (1, 17, 480, 1000, 4801, speech_16k.size):
        gate = VadGate()
        frames, flags = labels(gate, speech_16k, chunk)
        n = len(flags) * gate.frame_len
        assert n + gate.held_back == speech_16k.size
        np.testing.assert_array_equal(frames, speech_16k[:n])
        if reference is None:
            reference = flags
        assert flags == reference, f"chunk size {chunk} changed the labels"


def test_onset_holds_frames_back_and_labels_them_as_speech_preroll(speech_16k):
    opts = VadOptions(onset_ms=90, frame_ms=30)
    gate = VadGate(opts)
    first_speech_frame = None
    for i in range(0, speech_16k.size, gate.frame_len):
        before = gate.held_back
        out = gate.process(speech_16k[i : i + gate.frame_len])
        if any(run.speech for run in out):
            # the confirming frame releases the whole onset at once: three frames, all speech, one run
            assert [(run.speech, len(run.levels), run.audio.size) for run in out] == [(True, 3, 3 * gate.frame_len)]
            assert before == 2 * gate.frame_len
            first_speech_frame = i // gate.frame_len - 2
            break
        assert gate.held_back <= 2 * gate.frame_len
    assert first_speech_frame is not None
    # the pre-roll frames are the very frames the VAD called speech
    check = VadGate(opts)
    assert all(check.is_speech_frame(speech_16k[(first_speech_frame + k) * 480 :][:480]) for k in range(3))


def test_hangover_keeps_the_segment_open_through_short_pauses(speech_16k):
    speech = speech_16k[SR // 2 : SR // 2 + 3 * SR]
    gap = np.zeros(int(0.2 * SR), np.float32)  # shorter than the 300 ms hangover
    x = np.concatenate([speech, gap, speech, np.zeros(SR, np.float32)])
    gate = VadGate(VadOptions(hangover_ms=300))
    _, flags = labels(gate, x)
    on = np.array(flags)
    start, end = int(np.argmax(on)), len(on) - int(np.argmax(on[::-1]))
    gap_frames = slice(speech.size // 480 + 1, (speech.size + gap.size) // 480)
    assert on[gap_frames].all(), "a 0.2 s pause closed the segment"
    assert on[start:end].mean() > 0.95
    # after the end: exactly hangover frames of non-speech stay labelled speech, then it closes
    tail = on[(2 * speech.size + gap.size) // 480 :]
    assert 0 < tail.sum() <= 300 // 30 + 1


def test_long_pause_closes_the_segment(speech_16k):
    speech = speech_16k[SR // 2 : SR // 2 + 2 * SR]
    x = np.concatenate([speech, np.zeros(SR, np.float32), speech])
    gate = VadGate(VadOptions(hangover_ms=300))
    _, flags = labels(gate, x)
    pause = np.array(flags)[(speech.size + 480 * 12) // 480 : (speech.size + SR) // 480]
    assert not pause.any()


def test_aggressiveness_orders_the_amount_of_speech(speech_16k):
    noisy = speech_16k + np.random.default_rng(0).standard_normal(speech_16k.size).astype(np.float32) * 0.01
    amounts = [sum(labels(VadGate(VadOptions(aggressiveness=a)), noisy)[1]) for a in (0, 3)]
    assert amounts[0] >= amounts[1] > 0


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_frame_lengths(frame_ms, speech_16k):
    gate = VadGate(VadOptions(frame_ms=frame_ms))
    assert gate.frame_len == SR * frame_ms // 1000
    _, flags = labels(gate, speech_16k)
    assert any(flags) and not all(flags)


@pytest.mark.parametrize(
    "kwargs", [{"aggressiveness": 4}, {"aggressiveness": -1}, {"frame_ms": 25}, {"onset_ms": -1}, {"hangover_ms": -5}]
)
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        VadOptions(**kwargs)


def test_speech_only_drops_pauses(speech_16k):
    speech = speech_16k[SR // 2 : SR // 2 + 2 * SR]
    x = np.concatenate(
        [np.zeros(SR, np.float32), speech, np.zeros(2 * SR, np.float32), speech, np.zeros(SR, np.float32)]
    )
    y = speech_only(x)
    assert y.dtype == np.float32
    # both readings kept, the silences gone (up to onset pre-roll and hangover)
    assert 2 * speech.size * 0.7 <= y.size <= 2 * speech.size + 2 * int(0.35 * SR)
    assert speech_only(np.zeros(3 * SR, np.float32)).size == 0


def test_each_labelled_frame_carries_its_own_level(speech_16k):
    gate = VadGate()
    out = gate.process(speech_16k[: 3 * SR])
    assert len(out) >= 2 and any(run.speech for run in out) and not all(run.speech for run in out)
    assert all(out[i].speech != out[i + 1].speech for i in range(len(out) - 1)), "runs of one label are joined"
    for run in out:
        frames = run.audio.astype(np.float64).reshape(len(run.levels), gate.frame_len)
        expected = 10 * np.log10(np.maximum(np.mean(frames * frames, axis=1), 1e-12))
        np.testing.assert_allclose(run.levels, expected, atol=1e-9)

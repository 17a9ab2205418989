"""audio.py: the ring buffer, down-mixing and sanitising, streaming resampling, reading files."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from support import SPEECH_CLIP, SR, dev_clip, write_wav

from streamlid.core.audio import (
    AudioError,
    RecentAudio,
    Resampler,
    RingBuffer,
    load_mono_16k,
    read_audio,
    to_float_mono,
)
from streamlid.core.vad import frame_levels_db

# -- RingBuffer ----------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 64),
    ops=st.lists(st.one_of(st.integers(0, 150), st.just("read")), max_size=40),
)
def test_ring_buffer_matches_a_reference_fifo(capacity, ops):
    """Against a plain list: keeps the newest `capacity` samples in order, counts what it overwrote."""
    ring, ref = RingBuffer(capacity), []
    written = dropped = 0
    counter = 0
    for op in ops:
        if op == "read":
            out = ring.read()
            assert out.dtype == np.float32
            assert out.tolist() == ref
            ref = []
        else:
            x = np.arange(counter, counter + op, dtype=np.float32)
            counter += op
            ring.write(x)
            ref += x.tolist()
            written += op
            if len(ref) > capacity:
                dropped += len(ref) - capacity
                ref = ref[-capacity:]
        assert len(ring) == len(ref)
        assert ring.dropped == dropped
        assert ring.written == written
    assert ring.read().tolist() == ref
    assert len(ring) == 0 and ring.read().size == 0


def test_ring_buffer_overwrites_oldest_and_counts():
    ring = RingBuffer(5)
    ring.write(np.array([1, 2, 3], np.float32))
    ring.write(np.array([4, 5, 6, 7], np.float32))
    assert ring.dropped == 2
    assert ring.read().tolist() == [3, 4, 5, 6, 7]
    ring.write(np.arange(12, dtype=np.float32))  # larger than the buffer at once
    assert ring.dropped == 2 + 7
    assert ring.read().tolist() == [7, 8, 9, 10, 11]


def test_ring_buffer_rejects_nonpositive_capacity():
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_ring_buffer_with_a_producer_thread():
    """A producer thread writing while the consumer reads: each sample is read once, in order, or counted dropped."""
    ring = RingBuffer(4_000)
    total, block = 200_000, 160
    done = threading.Event()

    def produce():
        for start in range(0, total, block):
            ring.write(np.arange(start, start + block, dtype=np.float32))
        done.set()

    got = []
    t = threading.Thread(target=produce)
    t.start()
    while not done.is_set() or len(ring):
        got.append(ring.read())
    t.join()
    got = np.concatenate(got)
    assert got.size + ring.dropped == total == ring.written
    assert np.all(np.diff(got) > 0)  # in order, nothing read twice
    assert got[-1] == total - 1  # the newest sample is never the one dropped


# -- to_float_mono -------------------------------------------------------------------------------------


def test_int16_scales_to_unit_range():
    x = np.array([-32768, -16384, 0, 16384, 32767], dtype=np.int16)
    y = to_float_mono(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [-1.0, -0.5, 0.0, 0.5, 32767 / 32768])


def test_int32_scales_to_unit_range():
    y = to_float_mono(np.array([-(2**31), 2**30], dtype=np.int32))
    np.testing.assert_allclose(y, [-1.0, 0.5])


def test_stereo_is_averaged_whether_2d_or_interleaved():
    left = np.array([0.2, 0.4, -0.6], np.float32)
    right = np.array([0.0, 0.2, 0.2], np.float32)
    two_d = np.stack([left, right], axis=1)
    expected = (left + right) / 2
    np.testing.assert_allclose(to_float_mono(two_d), expected, rtol=1e-6)
    np.testing.assert_allclose(to_float_mono(two_d.reshape(-1), channels=2), expected, rtol=1e-6)


def test_interleaved_samples_must_divide_into_channels():
    with pytest.raises(AudioError, match="channels"):
        to_float_mono(np.zeros(5, np.float32), channels=2)


def test_nan_inf_and_clipping_are_sanitised():
    x = np.array([np.nan, np.inf, -np.inf, 3.0, -7.5, 0.25], np.float32)
    y = to_float_mono(x)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y, np.array([0.0, 1.0, -1.0, 1.0, -1.0, 0.25], np.float32))


def test_single_channel_2d_is_flattened():
    y = to_float_mono(np.array([[0.1], [0.2]], np.float32))
    assert y.shape == (2,)


# -- Resampler -----------------------------------------------------------------------------------------


def _tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spec)])


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampler_keeps_length_and_pitch(rate):
    x = _tone(rate, 2.0)
    r = Resampler(rate)
    y = np.concatenate([r(x[i : i + 1000]) for i in range(0, x.size, 1000)] + [r(np.zeros(0, np.float32), last=True)])
    assert y.dtype == np.float32
    assert abs(y.size - 32000) <= 2
    assert abs(_dominant_freq(y[2000:-2000], 16000) - 440.0) < 2.0


def test_resampler_output_does_not_depend_on_chunking():
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1
    outs = []
    for size in (1, 37, 441, 44100):
        r = Resampler(44100)
        parts = [r(x[i : i + size]) for i in range(0, x.size, size)]
        parts.append(r(np.zeros(0, np.float32), last=True))
        outs.append(np.concatenate(parts))
    for y in outs[1:]:
        assert y.size == outs[0].size
        np.testing.assert_allclose(y, outs[0], atol=1e-6)


def test_resampler_passes_16k_through_untouched():
    x = np.random.default_rng(1).standard_normal(100).astype(np.float32)
    assert Resampler(16000)(x) is x


@pytest.mark.parametrize("rate", [0, -8000])
def test_resampler_rejects_bad_rates(rate):
    with pytest.raises(AudioError):
        Resampler(rate)


# -- reading files -------------------------------------------------------------------------------------


def test_read_opus_dev_clip():
    data, rate = read_audio(dev_clip(SPEECH_CLIP))
    assert rate == 16000 and data.ndim == 2 and data.shape[1] == 1 and data.shape[0] > 16000


def test_load_mono_16k_downmixes_and_resamples(tmp_path):
    stereo = np.stack([_tone(44100, 1.0), _tone(44100, 1.0)], axis=1)
    path = write_wav(tmp_path / "s.wav", stereo, 44100, "PCM_16")
    y = load_mono_16k(path)
    assert y.dtype == np.float32 and y.ndim == 1 and abs(y.size - 16000) <= 1
    assert abs(_dominant_freq(y, 16000) - 440.0) < 2.0


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "nope.wav")


def test_directory(tmp_path):
    with pytest.raises(AudioError, match="directory"):
        read_audio(tmp_path)


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00", b"this is not audio at all" * 100])
def test_corrupt_or_empty_file(tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError) as e:
        read_audio(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_wav_without_samples(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        read_audio(path)


def test_recent_audio_holds_the_last_window_of_what_was_appended():
    recent, reference = RecentAudio(1000), np.zeros(0, np.float32)
    rng = np.random.default_rng(0)
    for step in range(3000):
        frame = rng.standard_normal(int(rng.integers(1, 1300))).astype(np.float32)
        recent.append(frame)
        reference = np.concatenate([reference, frame])[-1000:]
        assert recent.size == reference.size and np.array_equal(recent.view(), reference), step
        if rng.random() < 0.01:
            recent.clear()
            reference = reference[:0]
    with pytest.raises(ValueError, match="capacity must be positive"):
        RecentAudio(0)


def test_frame_levels_are_the_rms_level_in_dbfs():
    t = np.arange(480) / SR
    frames = np.stack([np.sin(2 * np.pi * 1000 * t), np.full(480, 0.1), np.zeros(480)]).astype(np.float32)
    sine, constant, silence = frame_levels_db(frames)
    assert sine == pytest.approx(-3.01, abs=0.01)
    assert constant == pytest.approx(-20.0, abs=1e-4)
    assert silence == -120.0

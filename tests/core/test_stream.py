"""stream.py, the sans-I/O core: PCM chunks in, events out (schema in events.py).

The model here is a randomly initialised CRNN saved and loaded like the shipped one: which language it
picks means nothing, but the same audio must give the same events however it arrives.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soxr
from support import EVENT_FIELDS, assert_same_events, check_events, run_stream

from streamlid.core.events import EVENT_TYPES, to_json
from streamlid.core.languages import CORE
from streamlid.core.stream import LanguageStream, StreamOptions, replace_options

SR = 16000
LANGS = list(CORE)


def kinds(events, kind):
    return [e for e in events if e["type"] == kind]


@pytest.fixture(scope="module")
def reference(random_classifier, speech_16k):
    """The events of the speech clip pushed whole at 16 kHz mono float32."""
    events, stream = run_stream(random_classifier, speech_16k)
    return events, stream


# -- the schema ----------------------------------------------------------------------------------------


def test_events_follow_the_schema(reference):
    events, stream = reference
    check_events(events, LANGS)
    assert {e["type"] for e in events} >= {"vad", "posteriors", "decision", "summary"}
    for e in events:
        assert json.loads(to_json(e)) == e
    summary = events[-1]
    assert summary["stats"]["windows"] == len(kinds(events, "posteriors")) == stream.stats.windows > 0
    assert summary["t"] == pytest.approx(6.0, abs=0.031)  # 6 s of audio in
    assert summary["stats"]["samples_in"] == 6 * SR
    assert 2.5 <= summary["speech_seconds"] <= 4.6
    assert set(EVENT_FIELDS) == set(EVENT_TYPES)


def test_events_are_written_as_one_line_of_compact_utf8_json():
    event = {"type": "decision", "seq": np.int64(3), "t": np.float64(1.25), "name": "Français", "ok": np.bool_(True)}
    text = to_json(event)
    assert text == '{"type":"decision","seq":3,"t":1.25,"name":"Français","ok":true}'
    assert json.loads(text) == event
    # what the fast encoder refuses is still written: a file name that is not UTF-8, a numpy string key
    odd = {"path": "caf\udce9.opus", "probs": {np.str_("deu"): 0.5}}
    assert json.loads(to_json(odd)) == {"path": "caf\udce9.opus", "probs": {"deu": 0.5}}


def test_speech_on_and_off_are_reported_once_each_with_levels(reference):
    events, _ = reference
    vad = kinds(events, "vad")
    assert [e["speech"] for e in vad] == [True, False]
    on, off = vad
    assert 0.3 <= on["t"] <= 1.2 and 3.5 <= off["t"] <= 5.0  # the reading is 0.5 .. 4.5 s
    assert on["level_db"] > -50, "speech began with a frame of speech level"
    first = kinds(events, "posteriors")[0]
    assert first["window"] == pytest.approx(StreamOptions().min_window, abs=0.031)
    assert first["t"] - on["t"] == pytest.approx(first["window"], abs=0.031)


def test_windows_grow_to_the_window_length_and_hop(random_classifier, speech_16k):
    o = StreamOptions(steady_hop=0)  # every hop (adaptive analysis has its own tests below)
    events, _ = run_stream(random_classifier, speech_16k, options=o)
    posts = kinds(events, "posteriors")
    assert all(p["skipped"] == 0 for p in posts)
    assert max(p["window"] for p in posts) == pytest.approx(o.window, abs=1e-6)
    hops = np.diff([p["t"] for p in posts[:-1]])  # the last one may come early, at the end of speech
    assert np.all(np.abs(hops - o.hop) <= 0.031), hops


# -- the same audio, however it arrives -------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 480, 1001, 4801, 40000])
def test_chunk_size_does_not_change_the_events(random_classifier, speech_16k, reference, chunk):
    events, _ = run_stream(random_classifier, speech_16k, chunk=chunk)
    check_events(events, LANGS)
    assert_same_events(events, reference[0])


def test_int16_gives_the_same_events_as_float32(random_classifier, speech_16k):
    pcm16 = np.clip(np.round(speech_16k * 32768), -32768, 32767).astype(np.int16)
    as_float = (pcm16.astype(np.float32) / 32768).astype(np.float32)
    a, _ = run_stream(random_classifier, pcm16, chunk=320)
    b, _ = run_stream(random_classifier, as_float, chunk=320)
    check_events(a, LANGS)
    assert_same_events(a, b)


def test_stereo_gives_the_same_events_as_mono(random_classifier, speech_16k, reference):
    stereo = np.stack([speech_16k, speech_16k], axis=1)
    a, stream = run_stream(random_classifier, stereo, channels=2, chunk=640)
    assert_same_events(a, reference[0])
    assert stream.stats.samples_in == len(speech_16k)  # frames, not samples
    interleaved = stereo.reshape(-1)
    b, _ = run_stream(random_classifier, interleaved, channels=2, chunk=2 * 333)
    assert_same_events(b, reference[0])


def test_wrong_channel_count_is_refused(random_classifier):
    stream = LanguageStream(random_classifier, SR, 2)
    with pytest.raises(ValueError, match="channel"):
        stream.push(np.zeros((100, 3), np.float32))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_sample_rates_are_resampled(random_classifier, speech_16k, reference, rate):
    audio = soxr.resample(speech_16k, SR, rate, quality="HQ").astype(np.float32)
    events, stream = run_stream(random_classifier, audio, rate=rate, chunk=rate // 50)  # 20 ms blocks, as from a device
    check_events(events, LANGS)
    ref_events = reference[0]
    summary, ref = events[-1], ref_events[-1]
    assert stream.stats.samples_in == len(audio)
    assert summary["t"] == pytest.approx(ref["t"], abs=0.04)  # the clock counts 16 kHz samples
    on, ref_on = kinds(events, "vad")[0], kinds(ref_events, "vad")[0]
    assert on["t"] == pytest.approx(ref_on["t"], abs=0.1)
    assert summary["speech_seconds"] == pytest.approx(ref["speech_seconds"], abs=0.35)
    assert abs(summary["stats"]["windows"] - ref["stats"]["windows"]) <= 2
    if rate > SR:  # nothing lost above 8 kHz: the model sees practically the same audio
        assert summary["language"] == ref["language"]


def test_unsupported_rates_and_channels_are_refused(random_classifier):
    for rate in (0, 999, 500_000):
        with pytest.raises(ValueError, match="sample rate"):
            LanguageStream(random_classifier, rate)
    for ch in (0, 65):
        with pytest.raises(ValueError, match="channel"):
            LanguageStream(random_classifier, SR, ch)


# -- bad samples -------------------------------------------------------------------------------------------


def test_nan_and_inf_are_counted_and_replaced(random_classifier, speech_16k):
    rng = np.random.default_rng(0)
    bad = speech_16k.copy()
    idx = rng.choice(bad.size, 300, replace=False)
    nan_idx, pinf_idx, ninf_idx = idx[:100], idx[100:200], idx[200:]
    bad[nan_idx], bad[pinf_idx], bad[ninf_idx] = np.nan, np.inf, -np.inf
    bad[2 * SR : 2 * SR + 800] = np.nan  # a burst
    fixed = bad.copy()
    fixed[np.isnan(fixed)] = 0.0
    fixed[np.isposinf(fixed)], fixed[np.isneginf(fixed)] = 1.0, -1.0
    a, stream = run_stream(random_classifier, bad, chunk=1600)
    b, _ = run_stream(random_classifier, fixed, chunk=1600)
    check_events(a, LANGS)
    assert_same_events(a[:-1], b[:-1])
    n_bad = int((~np.isfinite(bad)).sum())
    assert stream.stats.nonfinite_samples == n_bad
    sa, sb = dict(a[-1]), dict(b[-1])
    sa["stats"], sb["stats"] = dict(sa["stats"]), dict(sb["stats"])
    assert sa["stats"].pop("nonfinite_samples") == n_bad and sb["stats"].pop("nonfinite_samples") == 0
    assert_same_events([sa], [sb])
    assert n_bad >= 300 + 700


def test_a_stream_of_nothing_but_nan_is_silence(random_classifier):
    events, stream = run_stream(random_classifier, np.full(3 * SR, np.nan, np.float32), chunk=SR // 10)
    check_events(events, LANGS)
    assert [e["type"] for e in events] == ["summary"]
    assert stream.stats.nonfinite_samples == 3 * SR and stream.stats.windows == 0


def test_clipping_is_limited_and_counted(random_classifier, speech_16k):
    loud = speech_16k * 30.0
    a, stream = run_stream(random_classifier, loud, chunk=1600)
    b, _ = run_stream(random_classifier, np.clip(loud, -1.0, 1.0), chunk=1600)
    check_events(a, LANGS)
    assert_same_events(a, b)
    clipped = int(np.count_nonzero(np.abs(np.clip(loud, -1, 1)) >= 0.999))
    assert clipped > 1000 and stream.stats.clipped_samples == clipped == a[-1]["stats"]["clipped_samples"]


# -- silence -------------------------------------------------------------------------------------------


def test_silence_never_reaches_the_model(random_classifier):
    rng = np.random.default_rng(0)
    quiet = [
        np.zeros(5 * SR, np.float32),
        (rng.standard_normal(5 * SR) * 10 ** (-70 / 20)).astype(np.float32),  # below the energy floor
    ]
    for audio in quiet:
        stream = LanguageStream(random_classifier)
        for i in range(0, audio.size, 800):
            stream.write(audio[i : i + 800])
            assert stream.advance() == [], "a window of silence was handed to the model"
            assert stream.complete(np.zeros((0, len(LANGS)))) == []
        events = stream.close()
        check_events(events, LANGS)
        assert [e["type"] for e in events] == ["summary"]
        s = events[0]
        assert s["language"] is None and s["top"] == [] and s["segments"] == []
        assert s["stats"]["windows"] == 0 and s["speech_seconds"] == 0


def test_pauses_are_not_analysed(random_classifier, speech_16k, reference):
    speech = speech_16k[SR // 2 : SR // 2 + 4 * SR]
    with_pause = np.concatenate([speech[: 2 * SR], np.zeros(4 * SR, np.float32), speech[2 * SR :]])
    stream = LanguageStream(random_classifier)
    windows = []
    for i in range(0, with_pause.size, 1600):
        stream.write(with_pause[i : i + 1600])
        w = stream.advance()
        windows += w
        stream.complete(random_classifier.log_probs(w) if w else np.zeros((0, 0)))
    assert windows
    hangover = StreamOptions().vad.hangover_ms / 1000
    for w in windows:
        zero = np.concatenate([[0], (w == 0).astype(np.int8), [0]])
        runs = np.diff(np.flatnonzero(np.diff(zero)))[::2]  # lengths of runs of exact zeros
        longest = runs.max() / SR if runs.size else 0.0
        assert longest <= hangover + 0.03, f"a window holds {longest:.2f} s of the pause"
    # 4 s more audio, no more windows than the same speech without the pause (+ the first of the 2nd part)
    assert len(windows) <= reference[1].stats.windows + 2


@pytest.mark.parametrize("pause,fresh", [(0.7, False), (2.0, True)])
def test_a_long_pause_starts_the_window_afresh(random_classifier, speech_16k, pause, fresh):
    """After reset_after (1 s) of silence the next window holds only new speech; after a shorter one it goes on."""
    speech = speech_16k[SR // 2 : SR // 2 + int((StreamOptions().window + 0.5) * SR)]
    audio = np.concatenate([speech, np.zeros(int(pause * SR), np.float32), speech])
    events, _ = run_stream(random_classifier, audio, chunk=800)
    check_events(events, LANGS)
    vads = kinds(events, "vad")
    assert [v["speech"] for v in vads] == [True, False, True, False]
    first_after = next(e for e in kinds(events, "posteriors") if e["seq"] > vads[2]["seq"])
    if fresh:
        assert first_after["window"] == pytest.approx(StreamOptions().min_window, abs=0.031)
    else:
        assert first_after["window"] == pytest.approx(StreamOptions().window, abs=0.031)


def test_the_decision_holds_through_silence(random_classifier, speech_16k):
    speech = speech_16k[: 5 * SR]
    audio = np.concatenate([speech, np.zeros(3 * SR, np.float32), speech])
    events, _ = run_stream(random_classifier, audio, chunk=800)
    check_events(events, LANGS)
    decisions = kinds(events, "decision")
    silences = [i for i, d in enumerate(decisions) if d["state"] == "silence"]
    assert len(silences) == 2, decisions  # after each utterance
    first = silences[0]
    assert first > 0
    before = decisions[first - 1]
    lang = decisions[first]["language"]
    assert lang == before["language"] is not None
    last_post = [e for e in kinds(events, "posteriors") if e["seq"] < decisions[first]["seq"]][-1]
    assert decisions[first]["confidence"] == last_post["probs"][lang]
    # the pause: nothing but the vad-off and the silence decision until speech comes back
    vads = kinds(events, "vad")
    assert [v["speech"] for v in vads] == [True, False, True, False]
    in_pause = [e for e in events if vads[1]["seq"] < e["seq"] < vads[2]["seq"]]
    assert [e["type"] for e in in_pause] == ["decision"] and in_pause[0]["state"] == "silence"
    # speech again: a speech state comes back, for a language that was held through the pause
    after = [d for d in decisions[first + 1 :] if d["state"] != "silence"]
    assert after and after[0]["t"] > vads[2]["t"]
    # a decision event is sent only when language or state changes
    pairs = [(d["language"], d["state"]) for d in decisions]
    assert all(p != q for p, q in zip(pairs, pairs[1:], strict=False))


# -- scripted model output: change events and language subsets -------------------------------------------


def scripted(stream: LanguageStream, audio: np.ndarray, probs_for, chunk: int = 1600) -> list[dict]:
    """Drive a stream through advance/complete (the server's path) with chosen model outputs:
    `probs_for(n, t)` for the n-th window scored, which ends at t seconds (exact with adaptive analysis,
    whose `advance` stops after each window); a row may carry the model's extra columns."""
    width = len(probs_for(0, 0.0))
    events, n = [], 0
    for i in range(0, audio.size + chunk, chunk):
        last = i >= audio.size
        if not last:
            stream.write(audio[i : i + chunk])
        while True:
            windows = stream.advance(last=last)
            lp = np.array([np.log(probs_for(n + k, stream.t)) for k in range(len(windows))])
            n += len(windows)
            events += stream.complete(lp.reshape(len(windows), width))
            if not stream.pending:
                break
    return events + stream.close()


def one_hot_ish(lang: str, p: float = 0.9) -> np.ndarray:
    out = np.full(len(LANGS), (1 - p) / (len(LANGS) - 1))
    out[LANGS.index(lang)] = p
    return out


def test_a_language_change_is_reported(speech_16k):
    speech = speech_16k[SR // 2 : SR // 2 + 4 * SR]
    audio = np.concatenate([speech, speech, speech])  # continuous speech, 12 s
    stream = LanguageStream(None, model_languages=LANGS, options=StreamOptions(steady_hop=0))
    events = scripted(stream, audio, lambda n, t: one_hot_ish("eng" if n < 20 else "deu"))
    check_events(events, LANGS)
    changes = kinds(events, "change")
    assert len(changes) == 1
    c = changes[0]
    assert c["from"] == "eng" and c["to"] == "deu" and c["confidence"] >= StreamOptions().smoothing.confident
    posts = kinds(events, "posteriors")
    assert posts[20]["t"] <= c["t"] <= posts[30]["t"], "the switch took too long or came too early"
    decision = next(d for d in kinds(events, "decision") if d["seq"] > c["seq"])
    assert decision["language"] == "deu" and decision["t"] == c["t"] and decision["seq"] == c["seq"] + 1
    summary = events[-1]
    assert [s["language"] for s in summary["segments"]] == ["eng", "deu"]
    assert summary["segments"][0]["end"] <= summary["segments"][1]["start"]
    assert summary["stats"]["windows"] == len(posts)


# -- adaptive analysis -----------------------------------------------------------------------------------


def continuous_speech(speech_16k: np.ndarray, seconds: int) -> np.ndarray:
    speech = speech_16k[SR // 2 : SR // 2 + 4 * SR]
    return np.tile(speech, seconds // 4 + 1)[: seconds * SR]


def every_hop_windows(audio: np.ndarray) -> int:
    stream = LanguageStream(None, model_languages=LANGS, options=StreamOptions(steady_hop=0))
    return len(kinds(scripted(stream, audio, lambda n, t: one_hot_ish("eng")), "posteriors"))


def test_a_steady_decision_is_analysed_one_hop_in_four(speech_16k):
    audio = continuous_speech(speech_16k, 12)
    o = StreamOptions()  # steady_hop 1 s, hop 0.25 s: the default
    assert o.steady_every == 4
    stream = LanguageStream(None, model_languages=LANGS, options=o)
    events = scripted(stream, audio, lambda n, t: one_hot_ish("eng", 0.95))
    check_events(events, LANGS)
    posts = kinds(events, "posteriors")
    skipped = [p["skipped"] for p in posts]
    first_decided = next(d["t"] for d in kinds(events, "decision") if d["language"] == "eng")
    assert first_decided <= 1.5  # deciding is not slowed: every hop until then
    assert all(k == 0 for p, k in zip(posts, skipped, strict=True) if p["t"] <= first_decided)
    # steady after two agreeing windows, in every utterance (the clip's pauses start new ones)
    assert skipped.count(3) >= 6, skipped
    for i, k in enumerate(skipped):
        if k:
            assert skipped[i - 1] or (i >= 2 and skipped[i - 2 : i] == [0, 0]), skipped
    stats = events[-1]["stats"]
    assert stats["windows"] == len(posts) and stats["skipped_windows"] == sum(skipped) > 0
    assert stats["windows"] + stats["skipped_windows"] == every_hop_windows(audio)
    assert stats["windows"] < every_hop_windows(audio) / 2


def test_a_window_that_disagrees_brings_back_every_hop_and_the_switch_is_still_quick(speech_16k):
    audio = continuous_speech(speech_16k, 12)
    stream = LanguageStream(None, model_languages=LANGS)
    events = scripted(stream, audio, lambda n, t: one_hot_ish("eng" if t < 6.0 else "deu", 0.95))
    check_events(events, LANGS)
    posts = kinds(events, "posteriors")
    first_deu = next(i for i, p in enumerate(posts) if p["t"] >= 6.0)
    assert posts[first_deu - 1]["skipped"] == 3  # steady before the change
    assert posts[first_deu + 1]["skipped"] == 0  # the next hop is analysed again
    (change,) = kinds(events, "change")
    assert change["to"] == "deu" and change["t"] - 6.0 <= 1.75  # at most a steady hop later than every hop


def test_a_drop_in_confidence_brings_back_every_hop(speech_16k):
    audio = continuous_speech(speech_16k, 12)
    stream = LanguageStream(None, model_languages=LANGS)
    events = scripted(stream, audio, lambda n, t: one_hot_ish("eng", 0.95 if t < 6.0 else 0.2))
    posts = kinds(events, "posteriors")
    late = [p for p in posts if p["t"] > 8.0]
    assert late and all(p["skipped"] == 0 for p in late)  # the smoothed eng fell below confident
    assert all(p["probs"]["eng"] < StreamOptions().smoothing.confident for p in late[1:])


def test_a_new_utterance_after_a_pause_is_analysed_every_hop(speech_16k):
    speech = continuous_speech(speech_16k, 6)
    pause = np.zeros(2 * SR, dtype=np.float32)
    stream = LanguageStream(None, model_languages=LANGS)
    events = scripted(stream, np.concatenate([speech, pause, speech]), lambda n, t: one_hot_ish("eng", 0.95))
    posts = kinds(events, "posteriors")
    before = [p for p in posts if p["t"] < 6.1]
    after = [p for p in posts if p["t"] > 8.0]
    assert before[-1]["skipped"] > 0 and after[0]["skipped"] == 0 and after[1]["skipped"] == 0


def test_adaptive_analysis_does_not_depend_on_chunk_size(random_classifier, speech_16k):
    audio = np.concatenate([speech_16k, speech_16k])
    a, _ = run_stream(random_classifier, audio, chunk=480)
    b, _ = run_stream(random_classifier, audio)  # the whole 12 s at once
    assert_same_events(a, b)


def test_window_probs_are_the_model_output(speech_16k):
    rng = np.random.default_rng(0)
    table = [rng.dirichlet(np.ones(len(LANGS))) for _ in range(100)]
    stream = LanguageStream(None, model_languages=LANGS)
    events = scripted(stream, speech_16k, lambda n, t: table[n])
    posts = kinds(events, "posteriors")
    assert posts
    for n, p in enumerate(posts):
        np.testing.assert_allclose(list(p["window_probs"].values()), table[n], atol=6e-5)


def test_languages_subset_renormalises(speech_16k):
    rng = np.random.default_rng(1)
    table = [rng.dirichlet(np.ones(len(LANGS))) for _ in range(100)]
    subset = ("deu", "rus")
    idx = [LANGS.index(c) for c in subset]
    opts = replace_options(StreamOptions(), languages=subset)
    stream = LanguageStream(None, options=opts, model_languages=LANGS)
    events = scripted(stream, speech_16k, lambda n, t: table[n])
    check_events(events, list(subset))
    posts = kinds(events, "posteriors")
    assert posts
    for n, p in enumerate(posts):
        expected = table[n][idx] / table[n][idx].sum()
        np.testing.assert_allclose([p["window_probs"][c] for c in subset], expected, atol=6e-5)
    for d in kinds(events, "decision"):  # a forced choice: undecided at most, never unknown
        assert d["language"] in subset or (d["language"] is None and d["state"] == "speech-uncertain")
    assert {t["language"] for t in events[-1]["top"]} <= set(subset)


def test_languages_subset_with_the_model(random_classifier, speech_16k):
    subset = ["spa", "eng", "cmn"]
    opts = replace_options(StreamOptions(steady_hop=0), languages=tuple(subset))  # the same windows
    events, stream = run_stream(random_classifier, speech_16k, chunk=1600, options=opts)
    check_events(events, subset)
    full, _ = run_stream(random_classifier, speech_16k, chunk=1600, options=StreamOptions(steady_hop=0))
    for p, q in zip(kinds(events, "posteriors"), kinds(full, "posteriors"), strict=True):
        raw = np.array([q["window_probs"][c] for c in subset])
        np.testing.assert_allclose([p["window_probs"][c] for c in subset], raw / raw.sum(), atol=1e-3)
    with pytest.raises(ValueError, match="xxx"):
        stream.set_languages(["eng", "xxx"])


# -- lost audio ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 48000])
def test_ring_overflow_is_reported_as_dropped(random_classifier, rate):
    opts = replace_options(StreamOptions(), ring_seconds=1.0)
    stream = LanguageStream(random_classifier, rate, 1, opts)
    stream.write(np.zeros(3 * rate, np.float32))  # the consumer fell 3 s behind a 1 s ring
    events = stream.process()
    dropped = kinds(events, "dropped")
    assert len(dropped) == 1
    assert dropped[0]["source"] == "ring" and dropped[0]["samples"] == 2 * rate
    assert dropped[0]["seconds"] == 2.0 and dropped[0]["total_seconds"] == 2.0
    assert stream.process() == []  # reported once
    stream.write(np.zeros(rate * 3 // 2, np.float32))
    events = stream.process() + stream.close()
    check_events([{**e, "seq": i} for i, e in enumerate(kinds(events, "dropped") + events[-1:])])
    d2 = kinds(events, "dropped")
    assert len(d2) == 1 and d2[0]["seconds"] == 0.5 and d2[0]["total_seconds"] == 2.5
    assert events[-1]["stats"]["dropped_samples"] == int(2.5 * rate)
    # the audio that survived still went through: 1 s + 1 s of the ring
    assert events[-1]["t"] == pytest.approx(2.0, abs=0.03)


def test_input_overflows_are_reported(random_classifier):
    stream = LanguageStream(random_classifier)
    stream.report_input_overflow()
    stream.report_input_overflow()
    events = stream.push(np.zeros(1600, np.float32))
    assert [(e["type"], e["source"], e["overflows"], e["total_overflows"]) for e in events] == [
        ("dropped", "input", 2, 2)
    ]
    stream.report_input_overflow()
    events += stream.push(np.zeros(1600, np.float32)) + stream.close()
    check_events(events, LANGS)
    assert [e["total_overflows"] for e in kinds(events, "dropped")] == [2, 3]
    assert events[-1]["stats"]["input_overflows"] == 3


# -- level events and options ----------------------------------------------------------------------------


def test_level_events_when_asked_for(random_classifier, speech_16k):
    opts = replace_options(StreamOptions(), level_interval=0.1)
    events, _ = run_stream(random_classifier, speech_16k, chunk=800, options=opts)
    check_events(events, LANGS)
    levels = kinds(events, "level")
    gaps = np.diff([e["t"] for e in levels])
    # one per 0.1 s, at the first 30 ms VAD frame that ends at or after it is due
    assert np.all(gaps >= 0.1 - 1e-9) and np.all(gaps <= 0.1 + 0.03 + 1e-9), gaps
    assert len(levels) >= 6.0 / 0.13
    assert levels[0]["level_db"] == -120.0 and not levels[0]["speech"]  # 0.5 s of digital silence first
    loud = [e for e in levels if e["speech"]]
    assert loud and max(e["level_db"] for e in loud) > -30
    assert not kinds(run_stream(random_classifier, speech_16k)[0], "level"), "off by default"


def test_a_level_event_comes_at_the_first_frame_that_reaches_its_time(random_classifier):
    """Frame by frame: due once the stream clock (samples / rate) reaches the last event's time plus the
    interval. 0.05 s in 10-ms frames puts due times a rounding error off frame ends (8.06: 128960.00000000001
    samples), where counting in samples instead of seconds would be a frame late."""
    opts = replace_options(StreamOptions(), level_interval=0.05, vad_frame_ms=10)
    events, _ = run_stream(random_classifier, np.zeros(9 * SR, np.float32), chunk=1234, options=opts)
    expected, due = [], 0.0
    for end in range(160, 9 * SR + 1, 160):
        if end / SR >= due:
            expected.append(round(end / SR, 3))
            due = end / SR + 0.05
    assert [e["t"] for e in kinds(events, "level")] == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_window": 0.05},
        {"min_window": 3.5},
        {"hop": 0},
        {"hop": 3.5},
        {"window": 31, "min_window": 1},
        {"ring_seconds": 0},
        {"steady_hop": -1},
    ],
)
def test_bad_stream_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        StreamOptions(**kwargs)


def test_replace_options_routes_fields():
    o = replace_options(StreamOptions(), window=1.5, vad_aggressiveness=3, switch_prob=0.2, confident=0.8)
    assert o.window == 1.5 and o.vad.aggressiveness == 3
    assert o.smoothing.switch_prob == 0.2 and o.smoothing.confident == 0.8
    assert StreamOptions().smoothing.switch_prob != 0.2  # the defaults are untouched


def test_a_stream_needs_languages():
    with pytest.raises(ValueError):
        LanguageStream(None)


def test_summary_of_a_short_final_utterance(random_classifier, speech_16k):
    """A last utterance shorter than min_window still gets one look when nothing else was heard."""
    word = speech_16k[SR : SR + int(0.4 * SR)]
    audio = np.concatenate([np.zeros(SR // 2, np.float32), word])
    events, stream = run_stream(random_classifier, audio)
    check_events(events, LANGS)
    assert 0.25 <= stream.stats.speech_seconds < StreamOptions().min_window
    assert stream.stats.windows == 1 and events[-1]["language"] in LANGS
    assert len(kinds(events, "posteriors")) == 1 and kinds(events, "posteriors")[0]["window"] < 0.5


def test_the_core_imports_no_torch():
    """stream, audio, vad, smoothing, events and the sinks load without torch (a model is one Scorer)."""
    import subprocess
    import sys

    code = "import sys, streamlid.core.stream, streamlid.io.sinks; print(sorted(m for m in ('torch', 'streamlid.model.classifier') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_writer_holds_every_event_to_the_one_schema():
    from streamlid.core.events import FIELDS, SCHEMA, check_fields

    assert set(FIELDS) == set(EVENT_TYPES) == {ref["$ref"].split("/")[-1] for ref in SCHEMA["$defs"]["event"]["oneOf"]}
    good = {"type": "vad", "seq": 0, "t": 0.5, "speech": True, "level_db": -20.0}
    assert check_fields(good) is good
    with pytest.raises(ValueError, match="vad event with fields"):
        check_fields({**good, "surprise": 1})  # a field the schema does not have
    with pytest.raises(ValueError, match="vad event with fields"):
        check_fields({k: v for k, v in good.items() if k != "level_db"})
    with pytest.raises(ValueError, match="unknown type"):
        check_fields({"type": "gossip", "seq": 0, "t": 0})


def speech_check_scores(lang: str, no_speech: float) -> np.ndarray:
    """A model row with a speech check: the languages, then p(no speech) (no open set)."""
    return np.append(one_hot_ish(lang, 0.95), no_speech)


def test_windows_the_speech_check_rejects_are_no_evidence_and_read_as_silence(speech_16k):
    audio = continuous_speech(speech_16k, 12)
    stream = LanguageStream(None, model_languages=LANGS, speech_check=True)
    # speech in English for 5 s, then 4 s the model calls no speech (scored as German), then English again
    noise = lambda t: 5.0 <= t < 9.0  # noqa: E731
    events = scripted(
        stream, audio, lambda n, t: speech_check_scores("deu" if noise(t) else "eng", 0.9 if noise(t) else 0.01)
    )
    check_events(events, LANGS)
    posts = kinds(events, "posteriors")
    assert all(p["speech"] == (not noise(p["t"])) for p in posts), [(p["t"], p["speech"]) for p in posts]
    assert all("no_speech" in p for p in posts)
    assert not kinds(events, "change")  # German never counted: no switch
    states = [(d["t"], d["language"], d["state"]) for d in kinds(events, "decision")]
    assert any(lang == "eng" and st == "silence" and 5.0 <= t < 9.0 for t, lang, st in states), states
    assert states[-1][1:] == ("eng", "speech-confident") or states[-1][2] == "silence", states
    summary = events[-1]
    assert summary["language"] == "eng" and summary["stats"]["nonspeech_windows"] == sum(not p["speech"] for p in posts)
    assert summary["speech_seconds"] == pytest.approx(12 - summary["stats"]["nonspeech_seconds"], abs=0.6)
    assert 3.0 <= summary["stats"]["nonspeech_seconds"] <= 4.5


def test_a_stream_of_nothing_but_rejected_windows_has_no_speech(speech_16k):
    audio = continuous_speech(speech_16k, 6)
    stream = LanguageStream(None, model_languages=LANGS, speech_check=True)
    events = scripted(stream, audio, lambda n, t: speech_check_scores("eng", 0.99))
    check_events(events, LANGS)
    assert all(d["language"] is None for d in kinds(events, "decision"))
    assert events[-1]["language"] is None and events[-1]["state"] == "silence" and events[-1]["top"] == []
    off = LanguageStream(None, model_languages=LANGS, speech_check=True, options=StreamOptions(no_speech=1.0))
    assert scripted(off, audio, lambda n, t: speech_check_scores("eng", 0.99))[-1]["language"] == "eng"


@pytest.mark.parametrize(
    ("held_speech", "named"),
    [
        (lambda n: n % 3 != 0, True),
        (lambda n: n % 2 == 0, True),
        (lambda n: n % 3 == 0, False),
        (lambda n: n % 10 == 0, False),
    ],
    ids=["two-thirds", "half", "a-third", "a-tenth"],
)
def test_the_summary_names_speech_only_when_most_windows_held_it(speech_16k, held_speech, named):
    """Babble and music: the speech check misses a window now and then; those few are not speech."""
    audio = continuous_speech(speech_16k, 8)
    stream = LanguageStream(None, model_languages=LANGS, speech_check=True, options=StreamOptions(steady_hop=0))
    events = scripted(stream, audio, lambda n, t: speech_check_scores("eng", 0.01 if held_speech(n) else 0.99))
    check_events(events, LANGS)
    summary, posts = events[-1], kinds(events, "posteriors")
    assert 0 < sum(p["speech"] for p in posts) < len(posts)
    assert (summary["language"], summary["state"] != "silence") == (("eng", True) if named else (None, False))


def test_samples_written_counts_what_another_thread_wrote():
    import threading

    stream = LanguageStream(None, model_languages=LANGS, sample_rate=48000, channels=2)
    chunk = np.zeros((480, 2), np.float32)
    seen = []
    writer = threading.Thread(target=lambda: [stream.write(chunk) for _ in range(2000)])
    writer.start()
    while writer.is_alive():
        seen.append(stream.samples_written)
    writer.join()
    assert seen == sorted(seen) and stream.samples_written == 2000 * 480

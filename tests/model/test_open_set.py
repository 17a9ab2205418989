"""Decisions to trust: the calibration stored in the checkpoint, the open set ("none of the languages")
in the core, every sink and the schema, `--languages` with and without rejection, and non-speech."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support import RIGHT, check_events, manifest, random_crnn, validate_message, write_wav

from streamlid.core.audio import load_mono_16k
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.core.vad import speech_only
from streamlid.evaluation import nonspeech
from streamlid.evaluation.bench import names_a_language
from streamlid.evaluation.nonspeech import recorded_clips, synthetic_clips
from streamlid.io.offline import identify
from streamlid.io.sinks import LiveLine
from streamlid.model.architectures import ModelConfig
from streamlid.model.calibration import Calibration
from streamlid.model.checkpoint import ModelError
from streamlid.model.classifier import Classifier
from streamlid.model.format import load_model, metadata_path, save_model

SR = 16000
LANGS = ["eng", "deu", "fra", "spa", "cmn", "rus"]


def test_calibration_round_trips_through_the_checkpoint(tmp_path):
    model, info = random_crnn(ModelConfig(n_languages=6))
    info.calibration = Calibration(temperature=0.5, unknown_weights=(0.1, -0.2, 0.3, 0.4), unknown_bias=1.5)
    path = save_model(model, info, tmp_path / "m.safetensors")
    loaded, loaded_info = load_model(path)
    assert loaded_info.calibration == info.calibration
    classifier = Classifier(loaded, loaded_info)
    assert classifier.open_set
    rng = np.random.default_rng(0)
    windows = [rng.standard_normal(SR).astype(np.float32) * 0.1, rng.standard_normal(SR // 2).astype(np.float32) * 0.1]
    got = [classifier.log_probs([w])[0] for w in windows]
    for w, lp in zip(windows, got, strict=True):
        with torch.no_grad():
            z = loaded(torch.from_numpy(w[None]))[0]
        closed = torch.log_softmax(z / 0.5, -1)
        feats = torch.stack([torch.logsumexp(z, -1), z.max(), closed.max(), torch.tensor(float(np.log(w.size / SR)))])
        u = torch.sigmoid(feats @ torch.tensor([0.1, -0.2, 0.3, 0.4]) + 1.5).item()
        assert lp.shape == (7,)
        np.testing.assert_allclose(np.exp(lp[-1]), u, rtol=1e-4)
        np.testing.assert_allclose(np.exp(lp[:-1]), (1 - u) * closed.exp().numpy(), rtol=1e-4, atol=1e-7)
        assert abs(np.exp(lp).sum() - 1) < 1e-5


def test_a_model_without_calibration_is_a_closed_set_at_temperature_one(tmp_path):
    model, info = random_crnn(ModelConfig(n_languages=6))
    path = save_model(model, info, tmp_path / "m.safetensors")
    meta = json.loads(metadata_path(path).read_text())
    del meta["calibration"]  # a checkpoint written before calibration existed
    metadata_path(path).write_text(json.dumps(meta))
    loaded, loaded_info = load_model(path)
    assert loaded_info.calibration == Calibration() and not Classifier(loaded, loaded_info).open_set
    w = np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.1
    with torch.no_grad():
        expected = torch.log_softmax(loaded(torch.from_numpy(w[None])), -1)[0].numpy()
    np.testing.assert_allclose(Classifier(loaded, loaded_info).log_probs([w])[0], expected, atol=1e-6)


def test_bad_calibration_is_refused():
    with pytest.raises(ValueError, match="temperature"):
        Calibration(temperature=0)
    with pytest.raises(ValueError, match="unknown_weights needs 4"):
        Calibration(unknown_weights=(1.0,))


def stream_events(classifier, audio, **options) -> list[dict]:
    return LanguageStream(classifier, options=StreamOptions(**options)).run(audio)


def test_speech_in_none_of_the_languages_is_decided_unknown(unknown_classifier, speech_16k):
    events = stream_events(unknown_classifier, speech_16k)
    check_events(events, LANGS)
    for e in events:  # the JSON schema too, as the feed sends them
        validate_message({**e, "stream": "s1"}, "event")
    decisions = [e for e in events if e["type"] == "decision"]
    assert any(d["state"] == "speech-unknown" for d in decisions)
    assert all(d["language"] is None for d in decisions)
    posteriors = [e for e in events if e["type"] == "posteriors"]
    assert posteriors and all(p["window_unknown"] > 0.99 for p in posteriors) and posteriors[-1]["unknown"] > 0.99
    summary = events[-1]
    assert summary["language"] is None and summary["state"] == "speech-unknown" and summary["unknown"] > 0.99
    assert [t["language"] for t in summary["top"]]  # the closest languages are still listed
    assert all(s["language"] is None for s in summary["segments"])


def test_a_restriction_is_a_forced_choice_unless_rejection_is_asked_for(unknown_classifier, speech_16k):
    closed = stream_events(unknown_classifier, speech_16k, languages=("eng", "deu"))
    check_events(closed, ["eng", "deu"])
    assert "unknown" not in closed[-1] and closed[-1]["language"] in ("eng", "deu")
    assert all(e["state"] != "speech-unknown" for e in closed if e["type"] == "decision")
    rejecting = stream_events(unknown_classifier, speech_16k, languages=("eng", "deu"), unknown=True)
    check_events(rejecting, ["eng", "deu"])
    assert rejecting[-1]["state"] == "speech-unknown" and rejecting[-1]["language"] is None
    # and the open set can be switched off without a restriction
    off = stream_events(unknown_classifier, speech_16k, unknown=False)
    assert off[-1]["language"] in LANGS and "unknown" not in off[-1]


def test_a_restriction_rejects_the_languages_it_leaves_out(random_classifier, speech_16k):
    """With rejection, speech the model gives to a language outside the restriction is "none of them"."""
    full = stream_events(random_classifier, speech_16k)
    top = full[-1]["language"]
    others = tuple(c for c in LANGS if c != top)[:2]
    events = stream_events(random_classifier, speech_16k, languages=others, unknown=True)
    check_events(events, list(others))
    assert events[-1]["state"] == "speech-unknown"
    assert stream_events(random_classifier, speech_16k, languages=others)[-1]["language"] in others


def test_the_live_line_names_another_language(unknown_classifier, speech_16k):
    out = io.StringIO()
    line = LiveLine(out)
    for event in stream_events(unknown_classifier, speech_16k):  # as they come, a chunk at a time
        line([event])
    text = out.getvalue()
    assert "other language" in text
    assert "end: not one of the model's languages" in text.splitlines()[-1]


@pytest.mark.e2e
def test_identify_json_gives_null_and_the_candidates(unknown_model, speech_16k, tmp_path):
    wav = write_wav(tmp_path / "speech.wav", speech_16k, SR)

    def identify(*extra: str) -> dict:
        cmd = [sys.executable, "-m", "streamlid", "identify", "--model", str(unknown_model), "--json", str(wav)]
        out = subprocess.run(cmd + list(extra), capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    r = identify()
    assert r["language"] is None and r["name"] is None and r["state"] == "speech-unknown"
    assert r["unknown"] > 0.99 and len(r["top"]) >= 3
    assert identify("--languages", "eng,deu")["language"] in ("eng", "deu")
    assert identify("--languages", "eng,deu", "--unknown")["language"] is None
    text = subprocess.run(
        [sys.executable, "-m", "streamlid", "identify", "--model", str(unknown_model), str(wav)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "another language, not one of the model's" in text and "closest:" in text


@pytest.fixture(scope="module")
def shipped_classifier(shipped_model) -> Classifier:
    torch.set_num_threads(1)
    return Classifier.load(shipped_model, "cpu")


def test_the_shipped_model_checks_for_speech(shipped_classifier):
    assert shipped_classifier.speech_check
    assert len(shipped_classifier.info.calibration.no_speech_weights) == 512


def test_a_speech_check_of_the_wrong_width_is_refused(shipped_model, tmp_path):
    weights = tmp_path / "m.safetensors"
    weights.symlink_to(Path(shipped_model).with_suffix(".safetensors").resolve())
    meta = json.loads(metadata_path(Path(shipped_model).with_suffix(".safetensors")).read_text())
    meta["calibration"]["no_speech_weights"] = [0.1, 0.2]
    metadata_path(weights).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="speech check has 2 weights.*512 hidden units"):
        load_model(weights)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "name", ["music-chromium-bsu-menu", "jingle-gnome-shutdown", "effects-yaru", "band", "white-noise", "tone"]
)
def test_non_speech_gets_no_language(shipped_classifier, name):
    clips = {c.name: c for c in recorded_clips() + synthetic_clips(0)}
    events = stream_events(shipped_classifier, clips[name].audio)
    check_events(events, shipped_classifier.languages)
    stats = events[-1]["stats"]
    assert stats["windows"] > 0  # the VAD let it through: the model had to say no
    assert stats["nonspeech_windows"] > 0.8 * stats["windows"]
    assert [e["state"] for e in events if e["type"] == "decision"] in ([], ["silence"])
    assert events[-1]["language"] is None and events[-1]["state"] == "silence"


@pytest.fixture(scope="module")
def fixture_voices() -> list[np.ndarray]:
    return [speech_only(load_mono_16k(r["file"])) for r in manifest() if r["split"] == "dev"]


def test_babble_is_a_crowd_of_the_voices_given(fixture_voices):
    clips = nonspeech.babble_clips(fixture_voices, 4, seed=3)
    again = nonspeech.babble_clips(fixture_voices, 4, seed=3)
    assert [c.kind for c in clips] == ["babble"] * 4
    for c, d in zip(clips, again, strict=True):
        assert c.audio.dtype == np.float32 and c.audio.size == nonspeech.SECONDS * SR
        assert np.array_equal(c.audio, d.audio) and 0.1 <= np.abs(c.audio).max() <= 0.7
    assert not np.array_equal(clips[0].audio, nonspeech.babble_clips(fixture_voices, 1, seed=4)[0].audio)
    with pytest.raises(ValueError, match="at least 12 voices"):
        nonspeech.babble_clips(fixture_voices[:5], 1)


def test_babble_from_files_mixes_what_passes_the_vad_in_them(fixture_voices):
    files = [r["file"] for r in manifest() if r["split"] == "dev"]
    voices = [v for v in fixture_voices if v.size >= SR]
    for a, b in zip(
        nonspeech.babble_from_files(files, 2, seed=3), nonspeech.babble_clips(voices, 2, seed=3), strict=True
    ):
        assert np.array_equal(a.audio, b.audio)
    assert nonspeech.babble_from_files(files, 0) == []


@pytest.mark.e2e
def test_babble_gets_no_language(shipped_classifier, fixture_voices):
    for clip in nonspeech.babble_clips(fixture_voices, 3, seed=0):
        events = stream_events(shipped_classifier, clip.audio)
        check_events(events, shipped_classifier.languages)
        stats = events[-1]["stats"]
        assert stats["windows"] > 0 and stats["nonspeech_windows"] > 0.75 * stats["windows"], clip.name
        assert not any(names_a_language(e) for e in events if e["type"] in ("decision", "summary")), clip.name
        assert events[-1]["state"] == "silence"
        assert not names_a_language(identify(clip.audio, shipped_classifier)), clip.name


@pytest.mark.e2e
@pytest.mark.parametrize("gain", [1.0, 0.05])
def test_quiet_speech_still_gets_its_language(shipped_classifier, gain):
    audio = load_mono_16k(RIGHT["deu"]) * gain
    events = stream_events(shipped_classifier, audio)
    assert events[-1]["stats"]["nonspeech_windows"] == 0
    assert events[-1]["language"] == "deu"


def test_the_live_line_and_the_dashboard_say_sound_for_what_is_not_speech():
    from streamlid.io.tui import DashboardState

    heard = {"type": "vad", "t": 0.5, "speech": True, "level_db": -20.0}
    sound = {"type": "posteriors", "t": 1.0, "probs": dict.fromkeys(LANGS, 1 / 6), "speech": False, "no_speech": 0.97}
    speech = {**sound, "t": 1.25, "speech": True, "no_speech": 0.01}
    quiet = {**heard, "t": 2.0, "speech": False}
    line, state = LiveLine(io.StringIO()), DashboardState(LANGS)
    for events, label, is_sound in (
        ([heard], "speech ", False),
        ([sound], "sound", True),
        ([speech], "speech ", False),
        ([sound], "sound", True),
        ([quiet], "silence", False),
    ):
        line(events)
        state.apply(events)
        assert label in line.status_line(200) and state.sound == is_sound


def test_nonspeech_fixtures_are_listed_with_their_licences():
    manifest = nonspeech.DEFAULT_DIR / "manifest.csv"  # package data: a wheel carries the clips
    assert nonspeech.DEFAULT_DIR.parent == Path(nonspeech.__file__).resolve().parent
    rows = manifest.read_text().splitlines()
    assert rows[0] == "path,kind,duration_s,package,license,origin" and len(rows) > 15
    assert all(len(r.split(",")) >= 6 and r.split(",")[4] for r in rows[1:])
    assert len(recorded_clips()) == len(rows) - 1


def test_a_client_asks_the_server_for_rejection(unknown_classifier, speech_16k, tmp_path):
    import asyncio

    from streamlid.serving.client import send_file
    from streamlid.serving.server import BackgroundServer, LiveServer, ServerOptions

    wav = write_wav(tmp_path / "speech.wav", speech_16k, SR)
    server = BackgroundServer(LiveServer(unknown_classifier, ServerOptions(port=0))).start()
    try:
        url = f"ws://127.0.0.1:{server.server.port}/audio"

        def summary(**kw) -> dict:
            return asyncio.run(send_file(wav, url, realtime=False, **kw))

        assert summary()["state"] == "speech-unknown"  # no restriction: the model's open set
        assert summary(languages=["eng", "deu"])["language"] in ("eng", "deu")  # a forced choice
        assert summary(languages=["eng", "deu"], unknown=True)["state"] == "speech-unknown"
        assert summary(unknown=False)["language"] in LANGS
    finally:
        server.close()

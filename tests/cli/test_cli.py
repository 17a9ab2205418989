"""The command line: parsing, --help, errors for bad input, `identify` and `listen --input`.

Most runs call `streamlid.cli.main.main` in this process (an uncaught exception fails the test just as a
traceback would); a few go through `python -m streamlid` to cover the entry point. Language-asserting
tests use the shipped model and skip, saying so, while it is missing.
"""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest
import soundfile as sf
import soxr
from support import (
    CLEAR_CLIPS,
    IDENTIFY_CLIPS,
    SPEECH_CLIP,
    SR,
    SWITCH_CLIPS,
    assert_one_line_error,
    check_events,
    dev_clip,
    parse_json_lines,
    run_streamlid,
    write_wav,
)

from streamlid.cli import main as cli
from streamlid.cli import options
from streamlid.core.audio import load_mono_16k, read_audio
from streamlid.core.languages import CORE
from streamlid.core.stream import LanguageStream, StreamOptions, replace_options
from streamlid.io.offline import IDENTIFY_WINDOW
from streamlid.model.architectures import WhisperLID
from streamlid.model.classifier import Classifier
from streamlid.model.format import load_model

LANGS = list(CORE)


@pytest.fixture(autouse=True)
def keep_sigterm():
    """`listen` installs a SIGTERM handler; give pytest its own back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def main(capsys, *argv) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    out, err = capsys.readouterr()
    return code, out, err


# -- audio files: real speech made awkward ---------------------------------------------------------------


@pytest.fixture(scope="module")
def clip5() -> np.ndarray:
    """5 s of real speech, 16 kHz mono."""
    return load_mono_16k(dev_clip(SPEECH_CLIP))[: 5 * SR]


@pytest.fixture(scope="module")
def files(tmp_path_factory, clip5) -> dict:
    d = tmp_path_factory.mktemp("audio")
    nan = clip5.copy()
    nan[SR : SR + 2000] = np.nan
    nan[3 * SR : 3 * SR + 10] = np.inf
    nan[4 * SR : 4 * SR + 10] = -np.inf
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    (d / "adir.wav").mkdir()
    return {
        "mono": write_wav(d / "mono.wav", clip5, SR, "PCM_16"),
        "stereo": write_wav(d / "stereo.wav", np.stack([clip5, 0.8 * clip5], axis=1), SR, "PCM_16"),
        "stereo44k": write_wav(
            d / "stereo44k.flac", np.stack([soxr.resample(clip5, SR, 44100)] * 2, axis=1), 44100, "PCM_16"
        ),
        "tel8k": write_wav(d / "tel8k.wav", soxr.resample(clip5, SR, 8000), 8000, "PCM_16"),
        "ulaw8k": write_wav(d / "ulaw8k.wav", soxr.resample(clip5, SR, 8000), 8000, "ULAW"),
        "nan": write_wav(d / "nan.wav", nan, SR, "FLOAT"),
        "clipped": write_wav(d / "clipped.wav", clip5 * 40.0, SR, "FLOAT"),
        "silence": write_wav(d / "silence.wav", np.zeros(3 * SR, np.float32), SR, "PCM_16"),
        "nosamples": write_wav(d / "nosamples.wav", np.zeros((0, 1), np.float32), SR),
        "empty": d / "empty.wav",
        "corrupt": d / "corrupt.wav",
        "directory": d / "adir.wav",
        "missing": d / "missing.wav",
    }


def only_ready(err: str) -> bool:
    """listen's stderr when all went well: its one ready line ("listening to …"), nothing else."""
    return err.startswith("listening to ") and err.count("\n") == 1


# -- parsing -------------------------------------------------------------------------------------------


def test_defaults_are_the_stream_defaults():
    parser = cli.build_parser()
    args = parser.parse_args(["listen"])
    d = StreamOptions()
    assert (args.window, args.hop, args.min_window) == (d.window, d.hop, None)  # None: not typed
    assert (args.vad_aggressiveness, args.vad_frame_ms) == (d.vad.aggressiveness, d.vad.frame_ms)
    assert (args.switch_prob, args.confident) == (d.smoothing.switch_prob, d.smoothing.confident)
    assert args.evidence_weight == d.smoothing.evidence_weight
    assert args.no_speech == d.no_speech
    assert args.device is None and args.input is None and not args.fast and not args.json
    assert args.model is None and args.languages is None and args.compute == "auto"
    assert args.int8 is None  # the model's choice
    assert options.stream_options(args, None, LANGS) == d
    assert cli.build_parser().parse_args(["listen", "--no-int8"]).int8 is False
    assert cli.build_parser().parse_args(["serve", "--int8"]).int8 is True


def test_options_reach_the_stream_options():
    args = cli.build_parser().parse_args(
        "identify a.wav b.ogg --json --top 5 --window 3 --hop 0.5 --min-window 2 --languages eng,deu "
        "--vad-aggressiveness 3 --vad-frame-ms 20 --switch-prob 0.1 --confident 0.8 --compute cpu --threads 2 "
        "--prefer fra,ENG --evidence-weight 0.5 --no-speech 0.9".split()
    )
    assert [p.name for p in args.files] == ["a.wav", "b.ogg"] and args.json and args.top == 5
    o = options.stream_options(args, ["eng", "deu"], LANGS)
    assert (o.window, o.hop, o.min_window, o.languages) == (3.0, 0.5, 2.0, ("eng", "deu"))
    assert o.prefer == ("fra", "eng")
    args.min_window = 4.0  # typed longer than --window: refused, no longer clamped in silence
    with pytest.raises(options.UsageError, match="--min-window must be from 0.1 to 3 s"):
        options.stream_options(args, None, LANGS)
    args.min_window = None  # not typed: the default, shortened to a short --window
    args.window, args.hop = 0.3, 0.1
    assert options.stream_options(args, None, LANGS).min_window == 0.3
    assert (o.vad.aggressiveness, o.vad.frame_ms) == (3, 20)
    assert (o.smoothing.switch_prob, o.smoothing.confident, o.smoothing.evidence_weight) == (0.1, 0.8, 0.5)
    assert o.no_speech == 0.9


def test_device_is_kept_as_text_and_short_options():
    args = cli.build_parser().parse_args(["listen", "-d", "3", "--json"])
    assert args.device == "3"
    args = cli.build_parser().parse_args(["listen", "-i", "x.wav", "--fast"])
    assert str(args.input) == "x.wav" and args.fast


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nosuchcommand"],
        ["identify"],
        ["listen", "--vad-aggressiveness", "7"],
        ["listen", "--vad-frame-ms", "25"],
        ["listen", "--compute", "tpu"],
        ["listen", "--window", "abc"],
        ["identify", "x.wav", "--top", "many"],
    ],
)
def test_malformed_command_lines_exit_2_with_usage(capsys, argv):
    code, out, err = main(capsys, *argv)
    assert code == 2 and out == ""
    assert "usage: streamlid" in err and "error:" in err and "Traceback" not in err


def _commands() -> list[str]:
    sub = next(a for a in cli.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(sub.choices)


def test_every_command_is_listed():
    assert {"devices", "listen", "identify"} <= set(_commands())


@pytest.mark.parametrize("command", [None, *_commands()])
def test_help_of_every_command(capsys, command):
    argv = ["--help"] if command is None else [command, "--help"]
    code, out, err = main(capsys, *argv)
    assert code == 0 and err == ""
    assert out.startswith(f"usage: streamlid{'' if command is None else ' ' + command}")
    if command in ("listen", "identify"):
        for option in ("--model", "--languages", "--window", "--hop", "--switch-prob", "--compute"):
            assert option in out


def test_entry_point_runs_as_a_module():
    r = run_streamlid("--help", timeout=60)
    assert r.returncode == 0 and "listen" in r.stdout and "identify" in r.stdout and r.stderr == ""


# -- usage errors: one line, exit 2 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra,needles",
    [
        (["--device", "1"], ["either --device or --input"]),
        (["--languages", "eng,xyz"], ["xyz", "eng deu fra spa cmn rus"]),
        (["--languages", "eng"], ["at least 2"]),
        (["--languages", "eng,ENG"], ["at least 2"]),
        (["--prefer", "eng,xyz"], ["--prefer: unknown language(s) xyz", "eng deu fra spa cmn rus"]),
        (["--window", "0.05"], ["--window must be from 0.1 to 30 s, not 0.05"]),
        (["--hop", "0"], ["hop"]),
        (["--hop", "5"], ["hop"]),
        (["--window", "40"], ["window"]),
        (["--switch-prob", "1.5"], ["--switch-prob must be from 0 to 1, not 1.5"]),
        (["--confident", "-1"], ["confident"]),
        (["--evidence-weight", "0"], ["--evidence-weight must be from 0.01 to 10, not 0"]),
        (["--no-speech", "1.5"], ["--no-speech must be from 0.01 to 1, not 1.5"]),
    ],
)
def test_listen_usage_errors(capsys, random_model, files, extra, needles):
    code, out, err = main(capsys, "listen", "--model", random_model, "--input", files["mono"], "--fast", *extra)
    assert code == 2 and out == ""
    assert_one_line_error(err, "streamlid listen: error:", *needles)


def test_fast_needs_an_input_file(capsys, random_model):
    code, out, err = main(capsys, "listen", "--model", random_model, "--fast")
    assert code == 2 and out == ""
    assert_one_line_error(err, "--fast", "--input")


def test_identify_usage_error(capsys, random_model, files):
    code, out, err = main(capsys, "identify", "--model", random_model, "--languages", "klingon,eng", files["mono"])
    assert code == 2 and out == ""
    assert_one_line_error(err, "streamlid identify: error:", "klingon")


# -- bad input files -----------------------------------------------------------------------------------

BAD_FILES = {
    "empty": "the file is empty (0 bytes)",
    "corrupt": "cannot decode",
    "directory": "directory",
    "missing": "no such file",
    "nosamples": "no audio samples",
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_listen_bad_file(capsys, random_model, files, kind):
    code, out, err = main(capsys, "listen", "--model", random_model, "--input", files[kind], "--fast", "--json")
    assert code == 2 and out == ""
    assert_one_line_error(err, "streamlid listen: error:", str(files[kind]), BAD_FILES[kind])


@pytest.mark.parametrize("kind", BAD_FILES)
def test_identify_bad_file(capsys, random_model, files, kind):
    code, out, err = main(capsys, "identify", "--model", random_model, files[kind])
    assert code == 1 and out == ""
    assert_one_line_error(err, "streamlid identify: error:", str(files[kind]), BAD_FILES[kind])


def test_identify_bad_file_through_the_entry_point(random_model, files):
    r = run_streamlid("identify", "--model", random_model, "--threads", "1", files["corrupt"])
    assert r.returncode == 1 and r.stdout == ""
    assert_one_line_error(r.stderr, "streamlid identify: error:", "corrupt.wav", "cannot decode")


# -- the model file ------------------------------------------------------------------------------------


@pytest.fixture
def broken_models(tmp_path, random_model) -> dict:
    weights = random_model.read_bytes()
    meta = random_model.with_suffix(".json").read_text()
    no_meta = tmp_path / "nometa.safetensors"
    no_meta.write_bytes(weights)
    bad_weights = tmp_path / "badweights.safetensors"
    bad_weights.write_bytes(b"\x01\x02garbage" * 50)
    bad_weights.with_suffix(".json").write_text(meta)
    bad_meta = tmp_path / "badmeta.safetensors"
    bad_meta.write_bytes(weights)
    bad_meta.with_suffix(".json").write_text("{oops")
    return {
        "missing": (tmp_path / "missing.safetensors", "model file not found"),
        "no metadata": (no_meta, "metadata not found"),
        "bad weights": (bad_weights, "cannot read model weights"),
        "bad metadata": (bad_meta, "not valid JSON"),
        "a directory": (tmp_path, "not found"),
    }


@pytest.mark.parametrize("case", ["missing", "no metadata", "bad weights", "bad metadata", "a directory"])
@pytest.mark.parametrize("command", ["identify", "listen"])
def test_bad_model_file(capsys, broken_models, files, case, command):
    path, needle = broken_models[case]
    argv = [files["mono"]] if command == "identify" else ["--input", files["mono"], "--fast"]
    code, out, err = main(capsys, command, "--model", path, *argv)
    assert code == 2 and out == ""
    assert_one_line_error(err, f"streamlid {command}: error:", needle)


def test_missing_model_through_the_entry_point(tmp_path, files):
    r = run_streamlid("listen", "--model", tmp_path / "gone.safetensors", "--input", files["mono"], "--fast")
    assert r.returncode == 2 and r.stdout == ""
    assert_one_line_error(r.stderr, "model file not found", "gone.safetensors")


# -- awkward but valid input works ---------------------------------------------------------------------

AWKWARD = ["mono", "stereo", "stereo44k", "tel8k", "ulaw8k", "nan", "clipped"]


@pytest.mark.parametrize("kind", AWKWARD)
def test_identify_awkward_audio(capsys, random_model, files, kind):
    code, out, err = main(capsys, "identify", "--model", random_model, "--json", files[kind])
    assert code == 0 and err == ""
    (r,) = parse_json_lines(out)
    assert r["language"] in LANGS and r["duration"] == pytest.approx(5.0, abs=0.01)
    assert 3.0 <= r["speech_seconds"] <= 5.0


@pytest.mark.parametrize("kind", AWKWARD)
def test_listen_awkward_audio(capsys, random_model, files, kind):
    code, out, err = main(capsys, "listen", "--model", random_model, "--input", files[kind], "--fast", "--json")
    assert code == 0 and only_ready(err)
    events = parse_json_lines(out)
    check_events(events, LANGS)
    stats = events[-1]["stats"]
    data, rate = read_audio(files[kind])
    assert stats["samples_in"] == len(data)
    assert events[-1]["t"] == pytest.approx(5.0, abs=0.04)
    assert stats["windows"] > 5
    if kind == "nan":
        assert stats["nonfinite_samples"] == int((~np.isfinite(data)).sum()) == 2020
    if kind == "clipped":
        assert stats["clipped_samples"] > 1000
    else:
        assert stats["clipped_samples"] < 50


def test_silence_gives_no_language(capsys, random_model, files):
    code, out, err = main(capsys, "identify", "--model", random_model, "--json", files["silence"])
    assert code == 0 and err == ""
    (r,) = parse_json_lines(out)
    assert r["language"] is None and r["name"] is None and r["top"] == [] and r["speech_seconds"] == 0
    code, out, err = main(capsys, "identify", "--model", random_model, files["silence"])
    assert code == 0 and "no speech" in out


# -- identify --json -----------------------------------------------------------------------------------

IDENTIFY_FIELDS = {"path", "language", "name", "confidence", "state", "top", "speech_seconds", "duration", "segments"}


def test_identify_json_shape_and_a_bad_file_among_good_ones(capsys, random_model, files):
    paths = [files["mono"], files["corrupt"], files["tel8k"], files["missing"], files["stereo44k"]]
    code, out, err = main(capsys, "identify", "--model", random_model, "--json", *paths)
    assert code == 1, "a file failed, so the exit code says so"
    assert err == ""
    results = parse_json_lines(out)
    assert [r["path"] for r in results] == [str(p) for p in paths], "every file answered, in order"
    for r, p in zip(results, paths, strict=True):
        if p in (files["corrupt"], files["missing"]):
            assert set(r) == {"path", "error"} and str(p) in r["error"] and "\n" not in r["error"]
            continue
        assert set(r) == IDENTIFY_FIELDS
        assert r["language"] in LANGS and isinstance(r["name"], str)
        assert 0 < r["confidence"] <= 1
        assert r["top"] and all(set(t) == {"language", "p"} for t in r["top"])
        assert r["top"][0]["language"] == r["language"] and r["top"][0]["p"] == r["confidence"]
        assert r["duration"] == pytest.approx(5.0, abs=0.01)
        for s in r["segments"]:
            assert set(s) == {"start", "end", "language"} and 0 <= s["start"] < s["end"] <= r["duration"]
        json.dumps(r, allow_nan=False)


def test_identify_text_output(capsys, random_model, files):
    code, out, err = main(capsys, "identify", "--model", random_model, "--top", "2", files["mono"], files["tel8k"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 2
    for line, p in zip(lines, (files["mono"], files["tel8k"]), strict=True):
        assert line.startswith(f"{p}: ") and "top:" in line and line.count(",") >= 1


def test_identify_matches_the_streaming_core(capsys, random_model, random_classifier, files):
    code, out, _ = main(capsys, "identify", "--model", random_model, "--json", files["stereo44k"])
    (r,) = parse_json_lines(out)
    audio, rate = read_audio(files["stereo44k"])
    stream = LanguageStream(random_classifier, rate, 2, StreamOptions(window=IDENTIFY_WINDOW, ring_seconds=15.0))
    stream.push(audio)
    summary = stream.close()[-1]
    assert r["language"] == summary["language"]
    assert r["confidence"] == pytest.approx(summary["confidence"], abs=2e-4)
    assert r["speech_seconds"] == summary["speech_seconds"]


# -- listen --input ------------------------------------------------------------------------------------


def test_listen_fast_json_is_the_streaming_core(capsys, random_model, random_classifier, files):
    """The CLI's events are the core's events for the same file and options, chunking aside."""
    code, out, err = main(capsys, "listen", "--model", random_model, "--input", files["stereo44k"], "--fast", "--json")
    assert code == 0 and only_ready(err)
    events = parse_json_lines(out)
    check_events(events, LANGS)
    audio, rate = read_audio(files["stereo44k"])
    stream = LanguageStream(random_classifier, rate, 2)
    expected = stream.push(audio) + stream.close()
    assert [e["type"] for e in events] == [e["type"] for e in expected]
    for a, b in zip(events, expected, strict=True):
        assert a["seq"] == b["seq"] and a["t"] == pytest.approx(b["t"], abs=1e-3)
        if a["type"] == "decision":
            assert (a["language"], a["state"]) == (b["language"], b["state"])


def test_listen_languages_subset(capsys, random_model, files):
    code, out, err = main(
        capsys,
        "listen",
        "--model",
        random_model,
        "--input",
        files["mono"],
        "--fast",
        "--json",
        "--languages",
        "fra,cmn",
    )
    assert code == 0 and only_ready(err)
    events = parse_json_lines(out)
    check_events(events, ["fra", "cmn"])


def test_listen_text_output(capsys, random_model, files):
    code, out, err = main(capsys, "listen", "--model", random_model, "--input", files["tel8k"], "--fast")
    assert code == 0
    assert_one_line_error(err, "listening to", "8000 Hz", "1 ch")  # the one informational line
    lines = out.splitlines()
    assert lines and lines[-1].startswith("end: ") and "s of speech" in lines[-1]


@pytest.mark.e2e
def test_listen_input_is_paced_in_real_time(capsys, random_model, tmp_path, clip5):
    short = write_wav(tmp_path / "short.wav", clip5[: 2 * SR], SR, "PCM_16")
    start = time.monotonic()
    code, out, _ = main(capsys, "listen", "--model", random_model, "--input", short, "--json")
    elapsed = time.monotonic() - start
    assert code == 0
    check_events(parse_json_lines(out), LANGS)
    assert elapsed >= 1.9, f"2 s of audio played in {elapsed:.2f} s"


def test_listen_fast_through_the_entry_point(random_model, files):
    r = run_streamlid("listen", "--model", random_model, "--input", files["nan"], "--fast", "--json", "--threads", "1")
    assert r.returncode == 0 and only_ready(r.stderr)
    events = parse_json_lines(r.stdout)
    check_events(events, LANGS)
    assert events[-1]["stats"]["nonfinite_samples"] == 2020


# -- the shipped model: languages of real dev clips -------------------------------------------------------


def decisions_of(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "decision"]


def assert_decided(events: list[dict], language: str, within: float = 3.0, after: float | None = None) -> dict:
    """`language` is decided within `within` s of stream time after speech starts (or after `after`),
    reaches speech-confident, and the decision never leaves it again."""
    start = after if after is not None else next(e["t"] for e in events if e["type"] == "vad" and e["speech"])
    decided = next((d for d in decisions_of(events) if d["language"] == language and d["t"] >= start), None)
    assert decided is not None, f"{language} was never decided: {decisions_of(events)}"
    assert decided["t"] - start <= within, f"{language} decided {decided['t'] - start:.2f} s after {start:.2f} s"
    later = [d for d in decisions_of(events) if d["seq"] >= decided["seq"]]
    assert all(d["language"] == language for d in later), f"the decision left {language}: {later}"
    assert any(d["state"] == "speech-confident" for d in later), later
    return decided


def test_shipped_model_knows_the_core_languages(shipped_classifier):
    assert set(CORE) <= set(shipped_classifier.languages)


@pytest.mark.e2e
@pytest.mark.parametrize("language,relpath", IDENTIFY_CLIPS)
def test_identify_clear_dev_clips(capsys, shipped_model, language, relpath):
    code, out, err = main(capsys, "identify", "--model", shipped_model, "--json", dev_clip(relpath))
    assert code == 0 and err == ""
    (r,) = parse_json_lines(out)
    assert r["language"] == language, r


@pytest.mark.e2e
@pytest.mark.parametrize("language,relpath", CLEAR_CLIPS)
def test_listen_fast_decides_the_language_within_seconds(capsys, shipped_model, language, relpath):
    code, out, err = main(capsys, "listen", "--input", dev_clip(relpath), "--fast", "--json")  # the default model
    assert code == 0 and only_ready(err)
    events = parse_json_lines(out)
    check_events(events)
    assert_decided(events, language)
    assert events[-1]["language"] == language


@pytest.mark.e2e
def test_a_change_of_language_is_followed(capsys, shipped_model, tmp_path):
    """Two clear clips back to back, no pause: the decision changes to the second language within seconds."""
    (lang_a, clip_a), (lang_b, clip_b) = SWITCH_CLIPS
    a, b = load_mono_16k(dev_clip(clip_a)), load_mono_16k(dev_clip(clip_b))
    path = write_wav(tmp_path / "switch.wav", np.concatenate([a, b]), SR, "PCM_16")
    code, out, err = main(capsys, "listen", "--model", shipped_model, "--input", path, "--fast", "--json")
    assert code == 0 and only_ready(err)
    events = parse_json_lines(out)
    check_events(events)
    boundary = len(a) / SR
    assert_decided([e for e in events if e["t"] <= boundary], lang_a)
    changes = [e for e in events if e["type"] == "change" and e["t"] > boundary]
    assert changes and changes[0]["from"] == lang_a and changes[0]["to"] == lang_b, changes
    assert_decided(events, lang_b, within=4.0, after=boundary)
    segments = events[-1]["segments"]
    assert [s["language"] for s in segments][-2:] == [lang_a, lang_b], segments


@pytest.mark.e2e
def test_streaming_in_device_sized_blocks_matches_identify(capsys, shipped_model, shipped_classifier: Classifier):
    language, relpath = CLEAR_CLIPS[0]
    audio, rate = sf.read(str(dev_clip(relpath)), dtype="float32")
    stream = LanguageStream(shipped_classifier, rate, options=replace_options(StreamOptions(), window=IDENTIFY_WINDOW))
    events = []
    for i in range(0, len(audio), rate // 50):
        events += stream.push(audio[i : i + rate // 50])
    events += stream.close()
    check_events(events, shipped_classifier.languages)
    code, out, _ = main(capsys, "identify", "--model", shipped_model, "--json", dev_clip(relpath))
    (r,) = parse_json_lines(out)
    assert events[-1]["language"] == r["language"] == language
    assert events[-1]["confidence"] == pytest.approx(r["confidence"], abs=2e-4)


def test_the_shipped_model_loads_by_short_name(capsys):
    base, base_info = load_model("base")
    assert isinstance(base, WhisperLID)
    assert len(base_info.languages) == 99 and base_info.version == "4"
    assert Classifier.load("base", "cpu").name == "streamlid-v4"

    code, out, err = main(capsys, "identify", "--model", "base", "--json", dev_clip(SPEECH_CLIP))
    assert code == 0 and err == ""
    (r,) = parse_json_lines(out)
    assert r["language"] == "eng", r

    code, out, err = main(capsys, "identify", "--model", "small", dev_clip(SPEECH_CLIP))
    assert code == 2 and out == ""
    assert err.strip() == "streamlid identify: error: model file not found: small (the shipped model names: base)"

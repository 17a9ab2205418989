"""`streamlid evaluate`: metrics on hand-computed cases, seeded crops, the report end to end, the Whisper peer."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support import FIXTURES

from streamlid.cli import evaluate_command
from streamlid.core.audio import load_mono_16k
from streamlid.core.languages import CORE
from streamlid.core.vad import speech_only
from streamlid.evaluation import evaluate as ev
from streamlid.evaluation import metrics, report
from streamlid.model.architectures import CRNN, ModelConfig
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.classifier import Classifier
from streamlid.model.format import ModelInfo, save_model

MANIFEST = FIXTURES / "manifest.csv"  # the speech the tests carry: two dev clips of each core language


# ---------------------------------------------------------------------------------------------- metrics


def test_accuracy_and_confusion():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(3 / 5)
    assert metrics.confusion(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_macro_f1_by_hand():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    # class 0: p=1/2 r=1/2 f=1/2; class 1: p=2/3 r=1 f=0.8; class 2: never predicted, f=0
    assert metrics.macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    # a predicted label with no true clips costs recall only, it is not averaged in
    assert metrics.macro_f1(np.array([0, 0]), np.array([0, 3])) == pytest.approx(2 / 3)
    assert metrics.macro_f1(y_true, y_true) == 1.0


def test_expected_calibration_error_by_hand():
    # bin (0.8, 0.867]: conf 0.85 twice, one right -> |0.5 - 0.85| x 2/4; bin (0.933, 1]: 0.95 twice, both right
    conf = np.array([0.85, 0.85, 0.95, 0.95])
    correct = np.array([True, False, True, True])
    assert metrics.expected_calibration_error(conf, correct, bins=15) == pytest.approx(0.5 * 0.35 + 0.5 * 0.05)
    assert metrics.expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == 0.0


def test_bootstrap_ci_resamples_clips():
    assert metrics.bootstrap_ci(np.ones(6, bool), np.arange(6)) == (1.0, 1.0)
    correct = np.array([1, 1, 1, 0, 0, 0], bool)
    lo, hi = metrics.bootstrap_ci(correct, np.array([0, 0, 0, 1, 1, 1]), n=500, seed=1)
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    assert (lo, hi) == metrics.bootstrap_ci(correct, np.array([0, 0, 0, 1, 1, 1]), n=500, seed=1)


def test_score_renormalises_closed_set():
    languages = ["eng", "deu", "ita"]
    probs = np.array([[0.2, 0.1, 0.7], [0.1, 0.3, 0.6], [0.05, 0.05, 0.9]])
    labels = np.array(["eng", "deu", "ita"], dtype=object)
    core = ev.score(probs, languages, labels, np.arange(3), ["eng", "deu"], ev.EvalOptions(bootstrap=50))
    assert (core["n_crops"], core["n_clips"], core["accuracy"]) == (2, 2, 1.0)
    assert core["confusion"] == {"labels": ["eng", "deu"], "counts": [[1, 0], [0, 1]]}
    everything = ev.score(probs, languages, labels, np.arange(3), languages, ev.EvalOptions(bootstrap=50))
    assert everything["accuracy"] == pytest.approx(1 / 3)
    assert everything["top_confusions"] == [["eng", "ita", 1], ["deu", "ita", 1]] or everything["top_confusions"] == [
        ["deu", "ita", 1],
        ["eng", "ita", 1],
    ]
    assert everything["per_language"]["ita"] == {"n": 1, "correct": 1, "precision": 1 / 3, "recall": 1.0, "f1": 0.5}


# ---------------------------------------------------------------------------------------------- crops


def test_crop_starts_spread_and_seeded():
    rng = np.random.default_rng(0)
    starts = ev.crop_starts(16000 * 10, 16000, 3, rng)
    assert len(starts) == 3 and starts == sorted(starts)
    assert all(0 <= s <= 16000 * 9 for s in starts)
    assert starts[0] < 16000 * 3 <= starts[1] < 16000 * 6 <= starts[2]  # one per third of the range
    assert ev.crop_starts(16000, 32000, 3, rng) == []  # speech shorter than the window
    assert ev.crop_starts(16000, 16000, 3, rng) == [0]  # exactly one window
    assert len(ev.crop_starts(16000 + 4000, 16000, 3, rng)) == 2  # little slack: fewer, distinct crops


def test_clip_crops_deterministic_under_seed():
    x = np.random.default_rng(5).standard_normal(16000 * 4).astype(np.float32)
    opts = ev.EvalOptions(durations=(0.5, 1.0, 5.0), crops_per_clip=3, seed=7)
    a, b = ev.clip_crops(x, "clip.opus", opts), ev.clip_crops(x, "clip.opus", opts)
    assert [len(c) for c in a[0.5]] == [8000] * 3 and len(a[1.0]) == 3 and a[5.0] == []
    assert all(np.array_equal(p, q) for d in a for p, q in zip(a[d], b[d], strict=True))
    other = ev.clip_crops(x, "clip.opus", ev.EvalOptions(durations=(0.5,), seed=8))
    assert not all(np.array_equal(p, q) for p, q in zip(a[0.5], other[0.5], strict=True))


def test_cap_per_language_is_seeded():
    rows = [{"path": f"{i}.opus", "language": "eng" if i % 3 else "deu"} for i in range(12)]
    capped = ev.cap_per_language(rows, 2, seed=0)
    assert sorted(r["language"] for r in capped) == ["deu", "deu", "eng", "eng"]
    assert capped == ev.cap_per_language(rows, 2, seed=0)
    assert ev.cap_per_language(rows, None, seed=0) == rows


# ---------------------------------------------------------------------------------------------- manifest


def write_manifest(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_read_manifest_paths_split_and_errors(tmp_path):
    m = write_manifest(
        tmp_path / "m.csv",
        [
            {"path": "a/x.opus", "language": "eng", "split": "dev"},
            {"path": "/abs/y.opus", "language": "deu", "split": "train"},
        ],
    )
    rows = ev.read_manifest(m, "dev")
    assert [r["path"] for r in rows] == [str(tmp_path / "a" / "x.opus")]
    assert ev.read_manifest(m, "train", root="/elsewhere")[0]["path"] == "/abs/y.opus"
    with pytest.raises(ev.EvalError, match="no rows for split 'test'"):
        ev.read_manifest(m, "test")
    with pytest.raises(ev.EvalError, match="manifest not found"):
        ev.read_manifest(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,lang\nx.opus,eng\n")
    with pytest.raises(ev.EvalError, match="missing column"):
        ev.read_manifest(bad)


# ---------------------------------------------------------------------------------------------- end to end


def random_model(tmp_path: Path, languages: list[str]) -> Path:
    torch.manual_seed(0)
    cfg = ModelConfig(len(languages), channels=(8, 8, 8, 8), rnn_hidden=16, embed_dim=16)
    return save_model(CRNN(cfg).eval(), ModelInfo(languages, cfg, version="random"), tmp_path / "random.safetensors")


def dev_rows(per_language: int, languages=CORE) -> list[dict]:
    rows = ev.read_manifest(MANIFEST, "dev")
    return [r for lang in languages for r in [r for r in rows if r["language"] == lang][:per_language]]


class FakePeer:
    """Says 'eng' with 0.6 whatever it hears; counts its calls."""

    name = "fake-peer"

    def __init__(self) -> None:
        self.calls = 0

    def probs_iso639_3(self, x: np.ndarray) -> dict[str, float]:
        self.calls += 1
        return {"eng": 0.6, "deu": 0.3, "xyz": 0.1}


def test_cli_counts_skips_and_reuses_peer_cache(tmp_path, capsys, monkeypatch):
    rows = dev_rows(1, ["eng", "deu"])
    rows = [{"path": r["path"], "language": r["language"], "split": "dev"} for r in rows]
    rows += [
        {"path": str(tmp_path / "broken.opus"), "language": "eng", "split": "dev"},
        {"path": rows[0]["path"], "language": "zzz", "split": "dev"},
    ]
    (tmp_path / "broken.opus").write_bytes(b"not audio")
    manifest = write_manifest(tmp_path / "m.csv", rows)
    model = random_model(tmp_path, ["eng", "deu", "fra"])
    opts = ev.EvalOptions(durations=(1.0, 2.0), crops_per_clip=2, bootstrap=50)
    peer, cache = FakePeer(), tmp_path / "peer.jsonl"
    result = ev.evaluate(ev.read_manifest(manifest), Classifier.load(model, "cpu"), opts, peer, cache)
    assert result["clips"]["unknown_language"] == 1 and result["clips"]["unknown_languages"] == {"zzz": 1}
    assert len(result["clips"]["unreadable"]) == 1 and "broken.opus" in result["clips"]["unreadable"][0]
    assert result["clips"]["evaluated"] == 2
    assert result["peer_uncovered_languages"] == ["fra"]
    peer_1s = result["systems"]["fake-peer"]["sets"]["all"]["1.0"]
    assert peer_1s["n_crops"] == 4 and peer_1s["accuracy"] == 0.5  # always eng; one eng and one deu clip
    calls = peer.calls
    again = ev.evaluate(ev.read_manifest(manifest), Classifier.load(model, "cpu"), opts, peer, cache)
    assert peer.calls == calls and again["systems"]["fake-peer"] == result["systems"]["fake-peer"]

    parser = argparse.ArgumentParser()
    evaluate_command.configure_parser(parser)
    out = tmp_path / "cli"
    args = [str(manifest), "--split", "dev", "--model", str(model), "--durations", "1,2", "--out", str(out)]
    assert evaluate_command.run(parser.parse_args([*args, "--no-progress"])) == 0
    assert "### Core six" in capsys.readouterr().out
    assert (out / "report.md").is_file() and (out / "confusion_core6_1s.png").is_file()
    assert evaluate_command.run(parser.parse_args([*args, "--split", "test"])) == 2
    assert "no rows for split 'test'" in capsys.readouterr().err


@pytest.mark.e2e
@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason=f"shipped model {DEFAULT_MODEL.name} not trained yet")
def test_evaluate_shipped_model_on_dev_clips(tmp_path):
    opts = ev.EvalOptions(durations=(1.0, 3.0), crops_per_clip=2, bootstrap=200)
    result = ev.evaluate(dev_rows(2), Classifier.load(None, "cpu"), opts)
    md = report.write_report({**result, "model": "streamlid-v2", "manifest": "dev"}, tmp_path)
    for name in ("report.md", "report.json", "accuracy_vs_duration.png", "confusion_core6_1s.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "confusion_core6_3s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "report.json").read_text())
    core = saved["systems"]["streamlid"]["sets"]["core6"]
    assert core["1.0"]["n_clips"] == 12 and core["1.0"]["n_crops"] == 24
    assert sum(map(sum, core["1.0"]["confusion"]["counts"])) == 24
    for m in core.values():
        assert 0.0 <= m["ci95"][0] <= m["accuracy"] <= m["ci95"][1] <= 1.0 and 0.0 <= m["ece"] <= 1.0
    assert saved["systems"]["streamlid"]["cpu_ms_per_decision"]["1.0"] > 0
    assert "### Core six (closed set over 6 languages)" in md and "| 3 s | " in md
    assert f"| 1 s | 24 (12) | {core['1.0']['accuracy']:.3f}" in md
    assert (tmp_path / "report.md").read_text() == md


# ---------------------------------------------------------------------------------------------- peer


def test_whisper_code_map_covers_whisper():
    tokenizer = pytest.importorskip("faster_whisper.tokenizer")
    from streamlid.evaluation.peer import WHISPER_TO_ISO639_3

    assert set(tokenizer._LANGUAGE_CODES) <= set(WHISPER_TO_ISO639_3)
    assert len(set(WHISPER_TO_ISO639_3.values())) == len(WHISPER_TO_ISO639_3)
    assert [WHISPER_TO_ISO639_3[c] for c in ("en", "de", "fr", "es", "zh", "ru")] == list(CORE)


def test_whisper_peer_on_one_clip():
    pytest.importorskip("faster_whisper")
    from streamlid.evaluation.peer import PeerError, WhisperPeer

    try:
        peer = WhisperPeer()
    except PeerError as e:
        pytest.skip(str(e))
    x = speech_only(load_mono_16k(FIXTURES / "real/aishell3/cmn/ssb0005-ssb00050001.opus"))[: 3 * 16000]
    probs = peer.probs_iso639_3(x)
    assert max(probs, key=probs.get) == "cmn"
    assert sum(probs.values()) == pytest.approx(1.0, abs=0.02)


def test_one_peer_cache_for_evaluate_and_the_streaming_benchmark(tmp_path):
    from streamlid.evaluation.peer import PeerCache

    path = tmp_path / "sub" / "peer.jsonl"
    peer = FakePeer()
    x = np.linspace(-0.1, 0.1, 16000, dtype=np.float32)
    probs, cpu_s = PeerCache(path).decision(peer.name, x, peer.probs_iso639_3)
    assert probs == {"eng": 0.6, "deu": 0.3, "xyz": 0.1} and cpu_s >= 0 and peer.calls == 1
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"key": "cut sho')  # a run killed while writing
    again = PeerCache(path)  # another process, another run
    assert again.decision(peer.name, x, peer.probs_iso639_3) == (probs, cpu_s) and peer.calls == 1
    assert again.decision("other-system", x, peer.probs_iso639_3)[0] == probs and peer.calls == 2
    assert again.decision(peer.name, x * 2, peer.probs_iso639_3) and peer.calls == 3  # other audio, other key

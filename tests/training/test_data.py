"""Manifests, speaker hold-out, decoding, balanced sampling and crops (streamlid.training.data)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from support import FIXTURES, manifest

from streamlid.training.data import Bank, SamplingConfig, decode_clips, holdout_speakers, select_languages
from streamlid.training.manifest import Clip, read_manifest

CPU = torch.device("cpu")


def clip(lang: str, speaker: str, synthetic: bool = False, source: str = "src", duration: float = 1.0) -> Clip:
    return Clip(Path(f"/x/{lang}/{speaker}.opus"), lang, speaker, duration, source, "train", "", synthetic)


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_user_manifest_with_root_and_defaults(tmp_path):
    rows = [r for r in manifest() if r["split"] == "train"][:3]
    csv_path = write_csv(tmp_path / "cv.csv", [{"path": r["path"], "language": r["language"]} for r in rows])
    clips = read_manifest(csv_path, root=FIXTURES)
    assert [c.path for c in clips] == [(FIXTURES / r["path"]).resolve() for r in rows]
    assert all(c.path.is_file() and c.split == "train" and c.source == "cv" for c in clips)
    assert len({c.speaker for c in clips}) == 3  # no speaker column: one id per clip


def test_manifest_without_language_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="language"):
        read_manifest(write_csv(tmp_path / "m.csv", [{"path": "a.opus", "lang": "eng"}]))


def test_corpus_manifest_reads_split_and_speakers():
    """The fixtures' manifest has the corpus's columns (../shared/data/manifest.csv) and reads the same way."""
    clips = read_manifest(FIXTURES / "manifest.csv")
    assert {c.split for c in clips} == {"train", "dev"}
    assert any(c.speaker == "heidelberg_digits:spk00" and c.split == "train" for c in clips)
    assert all(c.path.is_file() and c.license and c.duration > 0 for c in clips)


def test_select_languages_counts_only_real_speech():
    clips = [clip("eng", f"e{i}", duration=120) for i in range(3)]
    clips += [clip("fra", "f0", duration=600)]  # one speaker only
    clips += [clip("nld", f"n{i}", synthetic=True, duration=600) for i in range(5)]  # synthetic only
    assert select_languages(clips, min_minutes=5, min_speakers=2) == ["eng"]


def test_holdout_takes_whole_speakers_deterministically():
    clips = [clip("eng", f"rav:{i}", source="rav") for i in range(5) for _ in range(3)]
    clips += [clip("deu", "solo:0", source="solo")]
    clips += [clip("deu", f"tts:{i}", synthetic=True) for i in range(4)]
    held = holdout_speakers(clips, {"rav": 2, "solo": 1}, synth_per_language=1, seed=3)
    assert held == holdout_speakers(clips, {"rav": 2, "solo": 1}, synth_per_language=1, seed=3)
    assert len([s for s in held if s.startswith("rav:")]) == 2
    assert "solo:0" not in held  # a source's last speaker stays in training
    assert len([s for s in held if s.startswith("tts:")]) == 1


def test_holdout_of_whole_sources_and_named_speakers():
    clips = [clip("eng", f"rav:{i}", source="rav") for i in range(4)]
    clips += [clip(lang, "ivr:allison", source="ivr") for lang in ("eng", "spa")]
    clips += [clip("spa", "ivr:julia", source="ivr")]
    clips += [clip("deu", f"emo:{i}", source="emo") for i in range(3)]
    held = holdout_speakers(clips, {"rav": 1}, synth_per_language=0, seed=0, whole=["emo", "ivr:allison"])
    assert {"emo:0", "emo:1", "emo:2", "ivr:allison"} <= held
    assert "ivr:julia" not in held
    assert len([s for s in held if s.startswith("rav:")]) == 1
    # without `whole` the draw from the other sources is the one it always was
    assert holdout_speakers(clips, {"rav": 1}, 0, seed=0) == {s for s in held if s.startswith("rav:")}


def test_decode_real_clips_to_int16_16k():
    rows = [r for r in manifest() if r["split"] == "train" and r["source"] == "heidelberg_digits"][:2]
    audio = decode_clips(
        [Clip(r["file"], r["language"], r["speaker"], r["duration_s"], r["source"], "train", "", False) for r in rows]
    )
    for a, r in zip(audio, rows, strict=True):
        assert a.dtype == np.int16
        assert abs(len(a) / 16000 - r["duration_s"]) < 0.05
        assert np.abs(a).max() > 1000  # speech, not silence


def make_bank() -> Bank:
    clips = [
        clip("spa", "s1"),
        clip("eng", "e2"),
        clip("eng", "e1"),
        clip("eng", "e1"),
        clip("spa", "t", synthetic=True),
    ]
    audio = [
        np.full(n, v, dtype=np.int16) for n, v in ((8000, 100), (4000, 200), (3000, 300), (5000, 400), (9000, 500))
    ]
    return Bank(clips, audio, ["eng", "spa"], CPU)


def test_bank_orders_by_language_and_speaker():
    bank = make_bank()
    assert [(c.language, c.speaker) for c in bank.clips] == [
        ("eng", "e1"),
        ("eng", "e1"),
        ("eng", "e2"),
        ("spa", "s1"),
        ("spa", "t"),
    ]
    assert bank.label.tolist() == [0, 0, 0, 1, 1]


def test_crop_reads_the_clip_at_speed_one():
    bank = make_bank()
    ones = torch.ones(1, dtype=torch.float64)
    x = bank.crop(torch.tensor([3]), 2000, ones, torch.tensor([0.5]))  # spa s1, 8000 samples of 100
    assert x.shape == (1, 2000)
    assert torch.allclose(x, torch.full((1, 2000), 100 / 32767))


def test_short_clip_continues_into_same_speaker_never_another():
    bank = make_bank()
    one = torch.ones(1, dtype=torch.float64)
    # e1's two clips (3000 + 5000 samples) form one span: a 6000-sample crop of the first uses both
    x = bank.crop(torch.tensor([0]), 6000, one, torch.tensor([0.0])) * 32767
    assert set(x.round().unique().tolist()) <= {300.0, 400.0} and {300.0, 400.0} <= set(x.round().unique().tolist())
    # e2 has 4000 samples alone: a longer crop is padded with zeros, not filled from e1 or spa
    y = bank.crop(torch.tensor([2]), 6000, one, torch.tensor([0.0])) * 32767
    assert set(y.round().unique().tolist()) == {0.0, 200.0}
    assert int((y.round() == 200).sum()) == 4000 - 1  # the last sample has no right neighbour to interpolate


def test_speed_changes_the_read_rate():
    ramp = np.arange(16000, dtype=np.int16)
    ramp_bank = Bank([clip("eng", "r")], [ramp], ["eng"], CPU)
    x = ramp_bank.crop(torch.tensor([0]), 1000, torch.tensor([1.25], dtype=torch.float64), torch.tensor([0.0])) * 32767
    assert torch.allclose(x[0, 1:] - x[0, :-1], torch.full((999,), 1.25), atol=1e-2)


def test_weights_balance_languages_and_synthetic_share():
    bank = make_bank()
    w = bank.weights(SamplingConfig(synth_share=0.25, speaker_power=0.0))
    assert float(w.sum()) == pytest.approx(1.0)
    assert float(w[bank.label == 0].sum()) == pytest.approx(0.5)
    synthetic = torch.tensor([c.synthetic for c in bank.clips])
    assert float(w[synthetic].sum()) == pytest.approx(0.5 * 0.25)
    # speaker_power 0: the two English speakers weigh the same although e1 has twice the audio
    assert float(w[:2].sum()) == pytest.approx(float(w[2]))

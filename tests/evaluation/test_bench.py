"""`streamlid bench`: a quick real run writes bench.json, the markdown report and its plot.

The numbers are real measurements of the shipped model (rough: `--quick`); nothing is timed here, the
tests check that every measured number reaches the report and that the command in it reproduces the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from support import FIXTURES, SR, write_wav

from streamlid.cli import bench_command
from streamlid.evaluation import bench
from streamlid.model.checkpoint import MODELS_DIR

V2 = MODELS_DIR / "streamlid-v2.safetensors"  # an older shipped CRNN, to set beside the default
pytestmark = pytest.mark.e2e  # end-to-end: real servers, processes, models over whole clips


def bench_args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    bench_command.configure_parser(p)
    return p.parse_args(list(argv))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, shipped_model) -> tuple[argparse.Namespace, dict, str]:
    out = tmp_path_factory.mktemp("bench")
    args = bench_args(
        *("--quick", "--conversations", "1", "--manifest", str(FIXTURES / "manifest.csv"), "--out", str(out)),
        *("--model", "base", "--model", str(V2)),
    )
    assert bench_command.run(args) == 0
    report = json.loads((out / "bench.json").read_text())
    return args, report, (out / "bench.md").read_text(encoding="utf-8")


def test_report_holds_every_measured_number(quick_run) -> None:
    args, report, md = quick_run
    assert f"Reproduce: `{report['command']}`" in md
    assert list(report["models"]) == ["streamlid-v4", "streamlid-v2"]  # side by side, in the order asked
    assert "| measure | streamlid-v4 | streamlid-v2 |" in md
    assert "## streamlid-v4 (models/streamlid-v4.safetensors)" in md and f"## streamlid-v2 ({V2})" in md
    for r in report["models"].values():
        for seconds, a in r["accuracy"].items():
            assert 0 <= a["accuracy"] <= 1 and a["ci95"][0] <= a["accuracy"] <= a["ci95"][1]
            assert a["n_crops"] >= a["n_clips"] > 0
            assert f"| accuracy of one {float(seconds):g}-s window, core six closed set | {a['accuracy']:.3f} [" in md
        for seconds, ms in r["cpu_ms_per_window"].items():
            assert f"| model CPU time per window of {float(seconds):g} s | {ms:.2f} ms | ≤ 10 ms: " in md
        s, every, other = r["stream"], r["stream_every_hop"], r["stream_other_form"]
        assert s["int8"] == every["int8"] == (r["name"] == "streamlid-v4") != other["int8"]  # v4 chooses int8
        for x in (s, every, other):
            assert f"| {x['real_time_factor']:g} ({x['cpu_seconds']:g} CPU s, {x['windows']} windows analysed," in md
            assert x["streams_per_core"] == int(x["audio_seconds"] / x["cpu_seconds"])
        assert every["skipped_windows"] == 0 and s["windows"] + s["skipped_windows"] == every["windows"]
        assert f"| {s['latency_ms_p50']:g} / {s['latency_ms_p99']:g} ms |" in md
        c = r["concurrent_1_thread"]
        assert f"cross-stream batching | {c['streams']} |" in md
        assert "| streams | " + " | ".join(c["wall_seconds"]) + " |" in md
        assert "| wall seconds | " + " | ".join(f"{v:g}" for v in c["wall_seconds"].values()) + " |" in md
        assert f"| {r['listen_peak_rss_mb']:g} MB | ≤ 400 MB: " in md
        assert (r["gpu"] is None) == (not torch.cuda.is_available())  # said so, not guessed
        q = r["quality"]
        assert f"| false switches per 10 min of one-language speech | {q['false_switches_per_10min']:g} |" in md
        assert f"| {q['correct_fraction']:g} | ≥ 0.95: " in md
        g = r["nonspeech"]["given_language"]
        assert f"given a language or 'another language' at any moment ({g['n']} clips) | {g['rate']:g} [" in md
        if "open_set" in r:
            o = r["open_set"]["out_of_set"]
            assert (
                f"called 'none of the languages' ({o['n']} clips, {o['languages']} languages) | {o['rate']:g} [" in md
            )
        assert f"| {q['conversations']}, {q['speech_minutes']:g} min |" in md
        assert q["conversations"] == 3 and q["switches"] == 3  # one of each kind: A, A→B, A→B→A
    base, crnn = report["models"].values()
    row = "| model CPU ms per 1-s window, 1 thread | "
    assert row + f"{base['cpu_ms_per_window']['1.0']:.2f} | {crnn['cpu_ms_per_window']['1.0']:.2f} |" in md
    assert crnn["cpu_ms_per_window"]["1.0"] < base["cpu_ms_per_window"]["1.0"]  # a CRNN is far smaller
    assert "no GPU here | no GPU here |" in md
    cells = " / ".join(f"{base[k]['real_time_factor']:g}" for k in ("stream_every_hop", "stream", "stream_other_form"))
    label = "every hop / adaptive (the model's form) / adaptive, the other form"
    assert f"| CPU s per s of audio, one stream: {label} | {cells} |" in md
    assert "Quick run" in md


def test_one_model_from_an_installed_wheel(installed_wheel, tmp_path) -> None:
    """The bench needs nothing of the checkout but a manifest: run from the wheel's files, outside it."""
    _, site = installed_wheel
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import streamlid; print(streamlid.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(site)
    v2 = site / "streamlid" / "models" / "streamlid-v2.safetensors"  # a CRNN the wheel ships: quick to measure
    out = tmp_path / "out"
    argv = [
        "bench",
        "--quick",
        "--conversations",
        "1",
        "--model",
        str(v2),
        "--manifest",
        str(FIXTURES / "manifest.csv"),
    ]
    run = subprocess.run(
        [sys.executable, "-m", "streamlid", *argv, "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "bench.json").read_text())
    assert list(report["models"]) == ["streamlid-v2"]
    assert f"--model {v2}" in report["command"]
    assert report["models"]["streamlid-v2"]["nonspeech"]["given_language"]["n"] > 0  # the wheel's non-speech clips
    assert (out / "bench.md").is_file() and (out / "bench-cost.png").is_file()


def test_report_plot_is_beside_it_and_linked(quick_run) -> None:
    args, _, md = quick_run
    plot = args.out / "bench-cost.png"
    assert f"]({plot.name})" in md
    image = imread(plot)
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_report_elsewhere_gets_its_own_plot(quick_run, tmp_path) -> None:
    _, report, _ = quick_run
    plot = bench.write_report(report, tmp_path / "sub" / "cpu.md")
    assert plot == tmp_path / "sub" / "cpu-cost.png" and plot.is_file()
    assert "](cpu-cost.png)" in (tmp_path / "sub" / "cpu.md").read_text(encoding="utf-8")


def test_command_reproduces_the_arguments(quick_run) -> None:
    args, report, _ = quick_run
    argv = shlex.split(report["command"])
    assert argv[:2] == ["streamlid", "bench"]
    assert bench_args(*argv[2:]) == args
    other = bench_args("--manifest", "m.csv", "--out", "x", "--report", "r.md", "--seed", "3")
    assert "--manifest m.csv" in bench_command.command(other)  # required: always in the command
    assert bench_args(*shlex.split(bench_command.command(other))[2:]) == other


def test_targets_say_met_or_by_how_much_missed() -> None:
    assert bench.target("cpu_ms_per_window", 4.0) == "≤ 10 ms: met"
    assert bench.target("listen_peak_rss_mb", 450.0) == "≤ 400 MB: missed by 50 MB"
    assert bench.target("first_decision_p50", None) == "≤ 1 s: missed (never, in half or more)"
    assert bench.target("switch_p90", 3.0) == ""


def test_listen_peak_rss_is_the_child_alone(tmp_path) -> None:
    """Linux carries peak RSS across exec: a child of a big process must not report the parent's size."""
    wav = write_wav(
        tmp_path / "noise.wav", np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 0.05, SR
    )
    ballast = np.ones(100_000_000)  # 800 MB in this process
    rss = bench.listen_peak_rss_mb(wav, None)
    assert ballast[-1] == 1.0
    assert 50 < rss < 700


def test_the_manifest_is_asked_for_and_a_missing_one_is_one_line(tmp_path, capsys) -> None:
    from streamlid.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--quick", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "the following arguments are required: --manifest" in capsys.readouterr().err
    missing = tmp_path / "nowhere.csv"
    assert main(["bench", "--quick", "--manifest", str(missing), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"streamlid bench: error: manifest not found: {missing} (--manifest names a CSV of clips)\n"


@pytest.mark.parametrize("command", ["bench", "evaluate"])
def test_without_the_eval_extra_the_plotting_commands_say_what_to_install(tmp_path, monkeypatch, capsys, command):
    from streamlid.cli.main import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: importing it raises
    manifest = ["--manifest"] if command == "bench" else []  # evaluate takes it as its argument
    assert main([command, *manifest, str(FIXTURES / "manifest.csv"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"streamlid {command}: error: matplotlib is needed" in err and "pip install 'streamlid[eval]'" in err
    assert not any(tmp_path.iterdir())  # nothing measured or written

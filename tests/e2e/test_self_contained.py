"""The suite depends on nothing beside the checkout: the speech fixtures it carries, and the system parts it
names (skipped with the Debian package to install, or failed under STREAMLID_REQUIRE_SYSTEM=1)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from support import FIXTURES, REPO, manifest, need_system, need_virtual_mic

# the licences of the sources tools/pick_test_clips.py may copy from (../shared/data/README.md)
LICENCES = ("CC0-1.0", "Apache-2.0", "CC-BY-4.0", "CC-BY-SA-3.0")
MAX_BYTES = 1_500_000

# -- the speech fixtures -----------------------------------------------------------------------------------


def test_every_fixture_clip_is_listed_with_a_copyable_licence_and_its_real_length():
    rows = manifest()
    listed = {r["path"] for r in rows}
    on_disk = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.opus")}
    assert listed == on_disk and len(rows) == len(listed)  # every file listed once, none unlisted
    for r in rows:
        assert any(licence in r["license"] for licence in LICENCES), r
        info = sf.info(str(r["file"]))
        assert (info.samplerate, info.channels) == (16000, 1), r["path"]
        assert info.duration == pytest.approx(r["duration_s"], abs=0.05), r["path"]
        assert r["split"] in ("dev", "train") and r["corpus_split"] in ("dev", "train") and r["origin"], r
    assert sum(r["file"].stat().st_size for r in rows) < MAX_BYTES


def test_the_fixtures_readme_gives_every_clips_provenance():
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for r in manifest():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{r['path']}` |")), None)
        assert row is not None, f"{r['path']} is not in the README's table"
        assert r["speaker"] in row and r["license"] in row and r["source"] in row, row


def test_the_core_languages_and_the_open_set_have_two_dev_clips_each():
    dev = [r for r in manifest() if r["split"] == "dev"]
    for language in ("eng", "deu", "fra", "spa", "cmn", "rus", "epo", "gle", "yue"):
        assert len([r for r in dev if r["language"] == language]) >= 2, language


# -- system parts ---------------------------------------------------------------------------------------


def test_a_missing_system_part_skips_naming_its_debian_package(monkeypatch):
    monkeypatch.delenv("STREAMLID_REQUIRE_SYSTEM", raising=False)
    need_system(True, "something present", "a-package")  # present: nothing happens
    with pytest.raises(pytest.skip.Exception, match=r"needs a part: apt-get install -y a-package"):
        need_system(False, "a part", "a-package")


def test_a_missing_system_part_fails_when_the_system_is_required(monkeypatch):
    monkeypatch.setenv("STREAMLID_REQUIRE_SYSTEM", "1")
    need_system(True, "something present", "a-package")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y a-package.*STREAMLID_REQUIRE_SYSTEM=1"):
        need_system(False, "a part", "a-package")


def test_the_virtual_microphone_names_pulseaudio_when_it_is_not_on_the_path(monkeypatch, tmp_path):
    monkeypatch.delenv("STREAMLID_REQUIRE_SYSTEM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no pulseaudio, no pactl
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y pulseaudio "):
        need_virtual_mic()


def test_ci_requires_the_system_parts_it_installs():
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^export STREAMLID_REQUIRE_SYSTEM=1$", ci, flags=re.M)
    assert ci.index("apt-get") < ci.index("export STREAMLID_REQUIRE_SYSTEM=1") < ci.index("python -m pytest -q")


# -- a checkout anywhere -----------------------------------------------------------------------------------

# real speech through the shipped model, the data tests and the VAD: each reads the fixtures
REAL_SPEECH_TESTS = [
    "tests/core/test_audio.py::test_read_opus_dev_clip",
    "tests/core/test_vad.py",
    "tests/training/test_data.py",
    "tests/cli/test_cli.py::test_identify_clear_dev_clips",
    "tests/serving/test_server.py::test_real_model_names_each_stream_language_over_websockets",
]


def checkout_files() -> list[str]:
    """What a clone has (the tracked files, as they are in the working tree) plus fixtures not yet added."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to copy the way a clone would be")

    def git(*args: str) -> list[str]:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
        return [line for line in out.splitlines() if line]

    return git("ls-files") + git("ls-files", "--others", "--exclude-standard", "tests/fixtures")


@pytest.mark.e2e
def test_the_real_speech_tests_pass_in_a_copy_of_the_checkout_with_nothing_beside_it(tmp_path):
    copy = tmp_path / "elsewhere" / "streamlid"
    for name in checkout_files():
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not there to copy
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    assert not (copy.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLID_")}
    env.update(PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run(
        [sys.executable, "-c", "import streamlid; print(streamlid.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(copy), where.stdout  # the copy's code, not this checkout's
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *REAL_SPEECH_TESTS],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.fullmatch(r"=* ?\d+ passed in [\d.]+s( \([\d:]+\))? ?=*", last), r.stdout[-4000:]  # none skipped

"""Pick the speech clips the tests use and copy them into tests/fixtures/speech, with their provenance.

    python tools/pick_test_clips.py [--model PATH] [--manifest ../shared/data/manifest.csv] [--write]

The tests carry their own speech (no test reads ../shared): a few dozen short clips of the corpus in
../shared/data, only from sources whose licence lets them be copied here (COPYABLE), each a byte copy of
the corpus's file at the corpus's own path. Which clips:

- per core language, over the candidates longest first (none longer than MAX_SECONDS), the first clip
  that is
  - IDENTIFY: identified correctly by `identify` (3-s windows) with a margin of at least 0.5 between the
    top two languages;
  - CLEAR: also decided correctly when streamed in 20 ms blocks with the live defaults, within 3 s of the
    speech onset, reaching speech-confident and never leaving that decision;
  - and a second one (the next identified, else the longest other), so that every core language has
    two (evaluate, bench), and English a second reading (support.SPEECH_CLIP);
- NAMED: the clips tests name by path (the random-model mechanics, the server's and the page's streams);
- OUT_OF_SET: speech in languages none of the shipped models knows (the open set's "none of them");
- TRAIN: four digits of each of three English speakers for the tiny training runs.

The English candidates are Allison Smith's Asterisk prompts (CC-BY-SA-3.0): the corpus's only English
sentences under a licence that allows copying (its English dev clips, UDHR readings from omniglot.com,
have no known licence). They are training material of the shipped models, so in the fixtures they check
behaviour, not accuracy; the fixture manifest gives them the split `dev` (what the tests identify) and
keeps the corpus's split in `corpus_split`.

Without --write it prints the picks (support.py's IDENTIFY_CLIPS, CLEAR_CLIPS, SPEECH_CLIP); with
--write it also copies the clips and writes manifest.csv and README.md beside them. Which clips the model
gets right depends on the model, so this is re-run whenever the shipped model changes.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

from streamlid.core.audio import load_mono_16k
from streamlid.core.languages import CORE, name
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.io.offline import identify
from streamlid.model.classifier import Classifier

ROOT = Path(__file__).resolve().parent.parent

SR = 16000
FIXTURES = ROOT / "tests" / "fixtures" / "speech"
MAX_SECONDS = 11.0  # whole clips, byte copies, none longer: the fixtures stay small (~2 kB a second)
# source (or source:speaker) -> the licence that lets its clips be copied here (../shared/data/README.md)
COPYABLE = {
    "commonvoice": "CC0-1.0",
    "aishell3": "Apache-2.0",
    "heidelberg_digits": "CC-BY-4.0",
    "asterisk_debian:allison_smith": "CC-BY-SA-3.0",
}
ENGLISH_SPEAKER = "asterisk_debian:allison_smith"
NAMED = [
    "real/commonvoice/deu/unknown-2025-08-06-2025-08-06.opus",  # support.CLIPS, the browser page, usability
    "real/commonvoice/deu/unknown-2025-09-24-2025-09-24.opus",  # the dashboard (9.7 s)
    "real/commonvoice/deu/unknown-2025-11-20-2025-11-20.opus",  # RIGHT: the shipped model gets it right
    "real/commonvoice/fra/unknown-2025-06-29-2025-06-29.opus",  # support.CLIPS, the browser page
    "real/commonvoice/fra/unknown-2025-10-25-2025-10-25.opus",  # RIGHT
    "real/commonvoice/spa/unknown-2025-06-27-2025-06-27.opus",  # support.CLIPS and RIGHT
    "real/aishell3/cmn/ssb0005-ssb00050001.opus",  # the encoder and the Whisper peer tests
]
OUT_OF_SET = {"epo": 2, "gle": 2, "yue": 2}  # not among Whisper's 99 languages
TRAIN = ("heidelberg_digits", "eng", ["heidelberg_digits:spk00", "heidelberg_digits:spk01", "heidelberg_digits:spk02"])
TRAIN_CLIPS_PER_SPEAKER = 4
COLUMNS = ["path", "language", "speaker", "duration_s", "license", "source", "content", "split", "origin"]


def licence_of(row: dict) -> str | None:
    return COPYABLE.get(f"{row['source']}:{row['speaker'].split(':', 1)[1]}") or COPYABLE.get(row["source"])


def is_candidate(row: dict) -> bool:
    """A clip to try for the core language's IDENTIFY/CLEAR picks."""
    if row["language"] not in CORE or float(row["duration_s"]) > MAX_SECONDS:
        return False
    if row["language"] == "eng":
        return row["speaker"] == ENGLISH_SPEAKER
    return row["split"] == "dev" and row["source"] in ("commonvoice", "aishell3")


def identify_margin(classifier: Classifier, x, language: str) -> float:
    top = identify(x, classifier, sample_rate=SR)["top"]
    if top[0]["language"] != language:
        return -1.0
    return top[0]["p"] - (top[1]["p"] if len(top) > 1 else 0.0)


def decided_clearly(classifier: Classifier, x, language: str, within: float = 3.0) -> bool:
    stream = LanguageStream(classifier, SR, options=StreamOptions())
    events = []
    for i in range(0, len(x), SR // 50):
        events += stream.push(x[i : i + SR // 50])
    events += stream.close()
    onset = next((e["t"] for e in events if e["type"] == "vad" and e["speech"]), None)
    decisions = [e for e in events if e["type"] == "decision"]
    first = next((k for k, d in enumerate(decisions) if d["language"] == language), None)
    if onset is None or first is None or decisions[first]["t"] - onset > within:
        return False
    later = decisions[first:]
    return all(d["language"] == language for d in later) and any(d["state"] == "speech-confident" for d in later)


def pick(classifier: Classifier, rows: list[dict], data: Path) -> dict[str, dict[str, str]]:
    """language -> {"identify", "clear", "second"}: paths (a key is missing where no clip qualified)."""
    candidates = sorted((r for r in rows if is_candidate(r)), key=lambda r: (-float(r["duration_s"]), r["path"]))
    picked: dict[str, dict[str, str]] = {lang: {} for lang in CORE}
    for r in candidates:
        got = picked[r["language"]]
        if "clear" in got and "second" in got:
            continue
        if identify_margin(classifier, load_mono_16k(data / r["path"]), r["language"]) < 0.5:
            continue
        if "identify" not in got:
            got["identify"] = r["path"]
        elif "second" not in got:
            got["second"] = r["path"]
        if "clear" not in got and decided_clearly(classifier, load_mono_16k(data / r["path"]), r["language"]):
            got["clear"] = r["path"]
    for lang, got in picked.items():  # none more identified: the longest other clip (evaluate, bench)
        if "second" not in got:
            others = [r["path"] for r in candidates if r["language"] == lang and r["path"] not in got.values()]
            got.update({"second": others[0]} if others else {})
    return picked


def fixture_rows(rows: list[dict], picked: dict[str, dict[str, str]]) -> list[dict]:
    by_path = {r["path"]: r for r in rows}
    paths = list(NAMED) + [p for got in picked.values() for p in got.values()]
    for lang, n in OUT_OF_SET.items():
        paths += sorted(r["path"] for r in rows if r["language"] == lang and r["source"] == "commonvoice")[:n]
    source, lang, speakers = TRAIN
    for speaker in speakers:
        own = sorted(
            r["path"] for r in rows if r["source"] == source and r["language"] == lang and r["speaker"] == speaker
        )
        paths += own[:TRAIN_CLIPS_PER_SPEAKER]
    out = []
    for path in dict.fromkeys(paths):  # once each, in this order
        r = by_path[path]
        if licence_of(r) is None:
            raise SystemExit(f"{path}: {r['source']} is not among the sources that may be copied here")
        row = {c: r[c] for c in COLUMNS}
        if r["speaker"] == ENGLISH_SPEAKER:
            row["split"] = "dev"  # identified by the tests; the corpus trains on it (corpus_split)
        out.append({**row, "corpus_split": r["split"]})
    return sorted(out, key=lambda r: (r["split"], r["language"], r["path"]))


README = """# Speech the tests carry

The real speech the tests use, so that they run from any checkout (none reads `../shared`). Written by
`python tools/pick_test_clips.py --write`, which picks the clips with the shipped model (its docstring
says how) from the corpus in `../shared/data` (`data/README.md` there describes its sources). Each file
is a byte copy of the corpus's clip at the same path: Ogg Opus, mono, 16 kHz, 16 kbit/s.

Only sources whose licence allows copying them here: Mozilla Common Voice (CC0-1.0), AISHELL-3
(Apache-2.0), Heidelberg Digits (CC-BY-4.0, Cramer et al. 2019) and Allison Smith's Asterisk prompts
(CC-BY-SA-3.0; these clips stay under it). `manifest.csv` has the corpus's columns for each clip
(`origin`: the upstream repository or package and file) plus `corpus_split`, the split in the corpus.
`split` is the clip's role here: `dev` clips are identified and evaluated by the tests, `train` clips feed
the tiny training runs. The English `dev` clips are training material of the shipped models (the corpus
has no English dev speech under a licence that allows copying it), so they check behaviour, not accuracy.

{n} clips, {seconds:.1f} s, {kb:.0f} kB.

| path | language | speaker | seconds | source | licence | split (corpus) | upstream origin |
|---|---|---|---|---|---|---|---|
"""


def write_fixtures(rows: list[dict], data: Path, out: Path) -> None:
    for old in out.glob("real/**/*.opus"):
        old.unlink()
    for r in rows:
        (out / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data / r["path"], out / r["path"])
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "corpus_split"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    size = sum((out / r["path"]).stat().st_size for r in rows)
    seconds = sum(float(r["duration_s"]) for r in rows)
    text = README.format(n=len(rows), seconds=seconds, kb=size / 1000)
    for r in rows:
        split = r["split"] if r["split"] == r["corpus_split"] else f"{r['split']} ({r['corpus_split']})"
        cells = [f"`{r['path']}`", f"{r['language']} ({name(r['language'])})", r["speaker"], r["duration_s"]]
        cells += [r["source"], r["license"], split, r["origin"].replace("|", "\\|")]
        text += "| " + " | ".join(cells) + " |\n"
    (out / "README.md").write_text(text, encoding="utf-8")
    print(f"wrote {len(rows)} clips ({seconds:.1f} s, {size / 1000:.0f} kB) to {out}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifest.csv")
    p.add_argument("--write", action="store_true", help=f"copy the clips into {FIXTURES.relative_to(ROOT)}")
    args = p.parse_args()
    classifier = Classifier.load(args.model, compute="cpu")
    with open(args.manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    picked = pick(classifier, rows, args.manifest.parent)
    for listed, key in (("IDENTIFY_CLIPS", "identify"), ("CLEAR_CLIPS", "clear")):
        print(f"{listed} = [")
        for lang in CORE:
            if key in picked[lang]:
                print(f'    ("{lang}", "{picked[lang][key]}"),')
        print("]")
    print(f'SPEECH_CLIP = "{picked["eng"].get("second")}"')
    missing = {k: [x for x in CORE if k not in picked[x]] for k in ("identify", "clear", "second")}
    print("# none found:", missing)
    if args.write:
        write_fixtures(fixture_rows(rows, picked), args.manifest.parent, FIXTURES)


if __name__ == "__main__":
    main()

"""Pick the dev clips the end-to-end tests use (tests/conftest.py IDENTIFY_CLIPS and CLEAR_CLIPS).

    python tools/pick_test_clips.py [--model PATH]

Runs the model over every dev-split clip of the core six and keeps, per language, the longest clip that is
- IDENTIFY: identified correctly by `identify` (3-s windows) with a margin of at least 0.5 between the
  top two languages;
- CLEAR: also decided correctly when streamed in 20 ms blocks with the live defaults, within 3 s of the
  speech onset, reaching speech-confident and never leaving that decision.
The tests check behaviour (identify, listen, a real microphone stream) on clips the model gets right;
which clips those are depends on the model, so this is re-run whenever the shipped model changes.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamlid.audio import load_mono_16k  # noqa: E402
from streamlid.languages import CORE  # noqa: E402
from streamlid.model import Classifier  # noqa: E402
from streamlid.offline import identify  # noqa: E402
from streamlid.stream import LanguageStream, StreamOptions  # noqa: E402

SR = 16000


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--manifest", type=Path, default=Path("../shared/data/manifest.csv"))
    args = p.parse_args()
    classifier = Classifier.load(args.model, compute="cpu")
    with open(args.manifest, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "dev" and r["language"] in CORE]
    rows.sort(key=lambda r: -float(r["duration_s"]))
    identify, clear = {}, {}
    for r in rows:
        lang = r["language"]
        if lang in clear:
            continue
        x = load_mono_16k(args.manifest.parent / r["path"])
        if identify_margin(classifier, x, lang) < 0.5:
            continue
        identify.setdefault(lang, r["path"])
        if decided_clearly(classifier, x, lang):
            clear[lang] = r["path"]
    for name, picked in (("IDENTIFY_CLIPS", identify), ("CLEAR_CLIPS", clear)):
        print(f"{name} = [")
        for lang in CORE:
            if lang in picked:
                print(f'    ("{lang}", "{picked[lang]}"),')
        print("]")
    print(
        "# none found:",
        {"identify": [x for x in CORE if x not in identify], "clear": [x for x in CORE if x not in clear]},
    )


if __name__ == "__main__":
    main()

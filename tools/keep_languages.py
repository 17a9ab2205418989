"""Keep only some of a trained model's output languages (the others are removed, not renormalised away).

    python tools/keep_languages.py RUN/model.safetensors OUT.safetensors --report EVAL/report.json --min-accuracy 0.8

With --report (a `streamlid evaluate` report.json), keeps the languages whose accuracy at --window seconds
(closed set over all the model's languages) is at least --min-accuracy; --languages names them instead.
Among the kept languages the ranking is unchanged (streamlid.training.train.without_languages). The metadata
records the rule and each language's numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streamlid.model.format import load_model, save_model
from streamlid.training.train import without_languages


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--report", type=Path, help="streamlid evaluate's report.json of this model")
    p.add_argument("--window", default="3.0", help="window length of the rule, seconds (default 3.0)")
    p.add_argument("--min-accuracy", type=float, default=0.8)
    p.add_argument("--languages", help="comma-separated codes to keep instead of a report's rule")
    p.add_argument("--version", help="version string of the result")
    args = p.parse_args()
    model, info = load_model(args.model)
    rule: dict = {}
    if args.languages:
        keep = args.languages.split(",")
    elif args.report:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        per = report["systems"]["streamlid"]["sets"]["all"][args.window]["per_language"]
        keep = [lang for lang in info.languages if lang in per and per[lang]["recall"] >= args.min_accuracy]
        rule = {
            "rule": f"accuracy at {args.window} s >= {args.min_accuracy} on {report['split']} of {report['manifest']}",
            "per_language": {
                lang: {k: per[lang][k] for k in ("n", "correct")} for lang in info.languages if lang in per
            },
        }
    else:
        p.error("give --report or --languages")
    unknown = sorted(set(keep) - set(info.languages))
    if unknown:
        p.error(f"not among the model's languages: {', '.join(unknown)}")
    drop = [lang for lang in info.languages if lang not in keep]
    smaller = without_languages(model, info.languages, drop)
    info.training = {**info.training, "kept_languages": {"kept": keep, "dropped": drop, **rule}}
    info.languages = [lang for lang in info.languages if lang in keep]
    info.config = smaller.cfg
    if args.version:
        info.version = args.version
    print(f"kept {len(keep)}: {' '.join(keep)}; dropped {len(drop)}: {' '.join(drop)}")
    save_model(smaller, info, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

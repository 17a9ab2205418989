"""Rank training recipes by how their runs did on validation speech, and write the best as a run list.

    python tools/rank_runs.py tools/recipes.txt --runs /root/runs --prefix judge- --top 2 --write top.txt

The score of a run is `--metric` (by default the core six, closed set, real speech only) averaged over
its validation window lengths and over its last `--last` validations (one validation is noisy).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def recipes(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, opts = line.strip().partition(" ")
            out.append((name, opts.strip()))
    return out


def run_score(log: Path, metric: str, last: int) -> dict:
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries = [e for e in entries if "val" in e][-last:]
    per_window = [sum(v[metric] for v in e["val"].values()) / len(e["val"]) for e in entries]
    return {"score": round(sum(per_window) / len(per_window), 4), "steps": entries[-1]["step"], "evals": per_window}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipes", type=Path)
    p.add_argument("--runs", type=Path, default=Path("/root/runs"))
    p.add_argument("--prefix", default="")
    p.add_argument("--metric", default="core6_closed_real_macro")
    p.add_argument("--last", type=int, default=2)
    p.add_argument("--top", type=int, default=1)
    p.add_argument("--write", type=Path, help="write the top recipes here, in the recipes file's format")
    args = p.parse_args()
    scored = []
    for name, opts in recipes(args.recipes):
        log = args.runs / (args.prefix + name) / "log.jsonl"
        if log.is_file():
            scored.append((run_score(log, args.metric, args.last), name, opts))
    scored.sort(key=lambda s: -s[0]["score"])
    print(json.dumps([{"recipe": n, "options": o, **s} for s, n, o in scored], indent=1))
    if args.write:
        args.write.write_text("".join(f"{n} {o}\n" for _, n, o in scored[: args.top]), encoding="utf-8")


if __name__ == "__main__":
    main()

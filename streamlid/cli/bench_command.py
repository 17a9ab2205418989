"""Benchmarks of the shipped models side by side: accuracy on windows of 1 and 3 s, model cost per
window, real-time factor, concurrent streams, latency, memory, GPU throughput (where there is a GPU), and
streaming quality (time to decision, switch latency, false switches) on synthetic conversations.

    streamlid bench --out bench-results            # the shipped model, some minutes on 2 cores
    streamlid bench --model base --model M.safetensors   # side by side
    streamlid bench --quick --conversations 2      # a smoke run, rough numbers, about a minute

Writes bench.json and a markdown report (bench.md, every number with the command that measured it) with
its plot beside it. The measurements are streamlid.evaluation.bench's; this is their command line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..evaluation.bench import BenchOptions, bench_models, write_report
from ..model.checkpoint import MODEL_HELP, MODEL_NAMES


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        action="append",
        metavar="NAME|PATH",
        help=f"a model to measure, repeatable: {MODEL_HELP} [base]",
    )
    p.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="CSV of speech clips (path,language[,speaker,split,...]) for the accuracy, conversations and open set",
    )
    p.add_argument("--split", default=BenchOptions.split, help="manifest split for conversations [%(default)s]")
    p.add_argument(
        "--conversations",
        type=int,
        default=BenchOptions.conversations,
        help="conversations of each kind [%(default)s]",
    )
    p.add_argument(
        "--open-set-clips",
        type=int,
        default=BenchOptions.open_set_clips,
        help="whole clips in and out of the model's languages [%(default)s]",
    )
    p.add_argument("--seed", type=int, default=BenchOptions.seed)
    p.add_argument("--out", type=Path, default=BenchOptions.work_dir, help="report folder [%(default)s]")
    p.add_argument("--report", type=Path, default=None, help="markdown report [OUT/bench.md]; its plot beside it")
    p.add_argument("--quick", action="store_true", help="few repetitions and short runs: a smoke test, rough numbers")


def command(args: argparse.Namespace) -> str:
    """The `streamlid bench` command line that reproduces `args` (options left at their default omitted)."""
    p = argparse.ArgumentParser()
    configure_parser(p)
    defaults = vars(p.parse_args(["--manifest", str(args.manifest)]))
    parts = ["streamlid", "bench"]
    for key, value in vars(args).items():
        if key in defaults and value != defaults[key] or key in ("manifest", "out"):
            flag = "--" + key.replace("_", "-")
            if isinstance(value, list):
                parts += [a for v in value for a in (flag, str(v))]
            else:
                parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


def bench_options(args: argparse.Namespace) -> BenchOptions:
    return BenchOptions(
        manifest=args.manifest,
        split=args.split,
        conversations=args.conversations,
        open_set_clips=args.open_set_clips,
        seed=args.seed,
        quick=args.quick,
        work_dir=args.out,
    )


def run(args: argparse.Namespace) -> int:
    if not args.manifest.is_file():  # one line, not a traceback from deep inside the first measurement
        print(
            f"streamlid bench: error: manifest not found: {args.manifest} (--manifest names a CSV of clips)",
            file=sys.stderr,
        )
        return 2
    try:
        import matplotlib  # noqa: F401  (the report's plot; fail before the long run, not after)
    except ImportError:
        print(
            "streamlid bench: error: matplotlib is needed for the plot: pip install 'streamlid[eval]'", file=sys.stderr
        )
        return 2
    report = bench_models(args.model or list(MODEL_NAMES), bench_options(args), command(args))
    (args.out / "bench.json").write_text(json.dumps(report, indent=1))
    md = args.report or args.out / "bench.md"
    plot = write_report(report, md)
    print(json.dumps(report, indent=1))
    print(f"wrote {args.out / 'bench.json'}, {md} and {plot}", file=sys.stderr)
    return 0

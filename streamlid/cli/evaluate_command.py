"""`streamlid evaluate`: accuracy, macro-F1 and calibration by window length on a manifest split.

The command line of streamlid.evaluation.evaluate (its docstring says how crops are cut and scored): the
options, the checks before the long run, and the report folder it writes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

from ..evaluation.evaluate import DURATIONS, EvalError, EvalOptions, evaluate, read_manifest
from ..evaluation.report import summary_tables, write_report
from ..model.checkpoint import ModelError, model_name, model_path
from ..model.classifier import Classifier
from .options import add_model_option, add_runtime_options


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path, help="CSV with at least path,language (optional speaker, split)")
    parser.add_argument("--split", help="only rows whose split column has this value (e.g. dev)")
    parser.add_argument("--root", type=Path, help="folder the manifest's paths are relative to (default: its own)")
    add_model_option(parser)
    add_runtime_options(parser, compute_default="cpu")  # one decision's CPU cost, as bench measures it
    parser.add_argument("--durations", default=",".join(f"{d:g}" for d in DURATIONS), help="window lengths, s")
    parser.add_argument("--crops-per-clip", type=int, default=3, help="crops per clip and window length")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crop positions and bootstrap")
    parser.add_argument("--max-clips-per-language", type=int, default=None, help="cap (seeded sample), for speed")
    parser.add_argument("--peer", choices=("whisper",), help="also evaluate Whisper-base on the same crops (slow)")
    parser.add_argument("--peer-unpadded", action="store_true", help="Whisper on the real frames only (fast)")
    parser.add_argument("--peer-threads", type=int, default=2, help="CPU threads for Whisper")
    parser.add_argument(
        "--peer-cache", type=Path, default=None,
        help="JSONL of earlier peer decisions to reuse and extend (default: in ~/.cache/streamlid)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: eval-<model>-<split>/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    def fail(msg: str) -> int:
        print(f"streamlid evaluate: error: {msg}", file=sys.stderr)
        return 2

    try:
        durations = tuple(float(d) for d in args.durations.split(","))
    except ValueError:
        return fail(f"--durations must be comma-separated seconds, not {args.durations!r}")
    if any(d <= 0 for d in durations) or args.crops_per_clip < 1:
        return fail("window lengths and --crops-per-clip must be positive")
    options = EvalOptions(durations, args.crops_per_clip, args.seed, args.max_clips_per_language)
    try:
        import matplotlib  # noqa: F401  (the plots; fail before the long run, not after)
    except ImportError:
        return fail("matplotlib is needed for the plots: pip install 'streamlid[eval]'")
    try:
        rows = read_manifest(args.manifest, args.split, args.root)
        classifier = Classifier.load(args.model, args.compute, args.int8)
        peer, peer_cache = None, None
        if args.peer == "whisper":
            from ..evaluation.peer import PeerError, WhisperPeer, default_decisions_file

            try:
                peer = WhisperPeer(padded=not args.peer_unpadded, cpu_threads=args.peer_threads)
            except PeerError as e:
                return fail(str(e))
            peer_cache = args.peer_cache or default_decisions_file()
    except (EvalError, ModelError) as e:
        return fail(str(e))
    weights = model_path(args.model)
    name = model_name(args.model)
    out = args.out or Path(f"eval-{name}-{args.split or 'all'}")
    torch.set_num_threads(args.threads)  # after loading the peer: ctranslate2 sets the OpenMP thread count
    result = evaluate(rows, classifier, options, peer, peer_cache, progress=not args.no_progress)
    weights = weights.with_suffix(".safetensors")
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    result.update(model=name, model_sha256=sha, manifest=str(args.manifest), split=args.split)
    write_report(result, out)
    print(summary_tables(result))
    print(f"report: {out / 'report.md'} (and report.json, PNGs)")
    return 0

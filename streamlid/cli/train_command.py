"""`streamlid train`: train a language identifier from one or more manifests: Whisper-base's own language
step adapted to short unpadded windows by distillation from the padded network (whisper-lid, streamlid-v4),
Whisper-base's encoder under a recurrent head (whisper-gru) or the CRNN.

The command line of streamlid.training.train (its docstring says what a run keeps and where): every
TrainConfig field as an option, `--config` to start from a run's config.json.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..training.augment import GROUPS
from ..training.train import TrainConfig, config_with, train


def configure_parser(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    a = parser.add_argument
    a("--config", help="a run's config.json (or a JSON TrainConfig) to start from; other options override it")
    a("--out", help=f"run folder: config, log, checkpoints, model (default {d.out})")
    a(
        "--manifest",
        dest="manifests",
        action="append",
        metavar="CSV[=ROOT]",
        help="manifest of real speech (path,language[,speaker,split,duration_s,source,license]); repeatable. "
        "Relative paths are taken from ROOT, by default the manifest's folder; rows with split other than "
        "'train' are skipped; automatic language choice needs duration_s",
    )
    a(
        "--synth-manifest",
        dest="synth_manifests",
        action="append",
        metavar="CSV[=ROOT]",
        help="manifest of synthetic speech, mixed in at --synth-share; repeatable",
    )
    a("--languages", type=lambda s: s.split(","), help="comma-separated ISO 639-3 codes (default: automatic)")
    a(
        "--drop-languages",
        type=lambda s: s.split(","),
        help="languages to train on as negatives but leave out of the saved model's outputs",
    )
    a("--min-minutes", type=float, help=f"automatic languages: real training minutes needed (default {d.min_minutes})")
    a("--min-speakers", type=int, help=f"automatic languages: real speakers needed (default {d.min_speakers})")
    a("--holdout", type=json.loads, help="JSON {source: speakers held out for validation}")
    a(
        "--holdout-whole",
        type=lambda s: s.split(","),
        metavar="NAMES",
        help="comma-separated sources and/or speaker ids (source:id) held out entirely, for validation on "
        "unfamiliar recording conditions",
    )
    a("--synth-holdout", type=int, help=f"synthetic voices held out per language (default {d.synth_holdout})")
    a("--synth-share", type=float, help=f"share of synthetic draws per language (default {d.synth_share})")
    a("--speaker-power", type=float, help=f"speaker weight = minutes**power (default {d.speaker_power})")
    a("--crop", dest="crop_s", type=float, nargs=2, metavar=("MIN_S", "MAX_S"), help="random crop range in seconds")
    a("--batch-size", type=int, help=f"(default {d.batch_size})")
    a("--steps", type=int, help=f"optimiser steps (default {d.steps})")
    a(
        "--time-budget",
        dest="time_budget_min",
        type=float,
        metavar="MIN",
        help="also end the schedule after this many minutes",
    )
    a("--lr", type=float, help=f"peak learning rate (default {d.lr})")
    a("--weight-decay", type=float, help=f"AdamW weight decay (default {d.weight_decay})")
    a("--warmup-steps", type=int, help=f"linear learning-rate warm-up steps (default {d.warmup_steps})")
    a("--label-smoothing", type=float, help=f"of the hard labels (default {d.label_smoothing})")
    a("--adversary", type=float, help="weight of the speaker-adversarial loss (default 0: off)")
    a("--amp", choices=["bf16", "fp16", "off"], help=f"mixed precision on CUDA (default {d.amp})")
    a(
        "--no-aug",
        type=lambda s: s.split(","),
        metavar="GROUPS",
        help=f"switch off augmentation groups: {','.join(GROUPS)} or all",
    )
    a(
        "--architecture",
        choices=["crnn", "whisper-gru", "whisper-lid"],
        help="whisper-lid (Whisper-base's encoder and its own 99-language step, adapted to unpadded windows; "
        "needs --encoder and --language-step, and --teacher with the step's file to distil from the padded "
        "network), whisper-gru (the encoder under a BiGRU head; needs --encoder) or crnn (trained from "
        f"scratch) (default {d.architecture})",
    )
    a("--model", type=json.loads, help="JSON architecture fields, e.g. '{\"rnn_hidden\": 96}'")
    a("--encoder", help="whisper-base-encoder.safetensors from tools/convert_whisper_encoder.py")
    a("--language-step", help="whisper-lid: whisper-base-langid.safetensors from tools/convert_whisper_encoder.py")
    a(
        "--finetune-layers",
        type=int,
        metavar="N",
        help=f"whisper-gru, whisper-lid: train the encoder's top N blocks too (default {d.finetune_layers}: frozen)",
    )
    a("--encoder-lr", type=float, help=f"peak learning rate of the trained encoder blocks (default {d.encoder_lr})")
    a(
        "--teacher",
        metavar="MODEL",
        help="soft targets from a teacher run on each augmented crop: a streamlid model (base or a "
        "path: distillation, e.g. a CRNN student of base) or whisper-base-langid.safetensors (Whisper-base's "
        "language detection, 30-s padded; needs --encoder)",
    )
    a("--teacher-weight", type=float, help=f"share of the teacher in the language loss (default {d.teacher_weight})")
    a("--eval-every", type=int, help=f"validate and checkpoint every this many steps (default {d.eval_every})")
    a("--val-seconds", type=float, nargs="+", help="validation window lengths (default 1 2 3)")
    a("--seed", type=int, help=f"random seed (default {d.seed})")
    a("--workers", type=int, help="decoding processes")
    a("--cache", help="decoded-audio cache file (.npy) shared between runs")
    a("--compute", choices=["auto", "cpu", "cuda"], help="where to train (default auto: the GPU if there is one)")
    a("--version", help="model version string written into the model metadata")
    a("--restart", action="store_true", help="ignore <out>/last.pt and start from scratch")
    a("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The options given, over the --config file's (if any)."""
    return config_with(vars(args), getattr(args, "config", None))


def run(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args)
        if not cfg.manifests and not cfg.synth_manifests:
            print("streamlid train: give at least one --manifest", file=sys.stderr)
            return 2
        result = train(cfg, restart=args.restart, progress_bar=not args.quiet)
    except (OSError, ValueError) as e:
        print(f"streamlid train: {e}", file=sys.stderr)
        return 1
    best = result["history"][-1] if result["history"] else {}
    print(
        json.dumps(
            {
                "out": cfg.out,
                "languages": result["languages"],
                "steps": result["steps"],
                "best_score": result["best_score"],
                "last": best,
            },
            ensure_ascii=False,
        )
    )
    return 0

"""`streamlid train`: train the CRNN language identifier from one or more manifests.

Everything a run needs is in TrainConfig, written to <out>/config.json; `--config <out>/config.json`
repeats the run (options given on the command line override the file). The run keeps its state in
<out>/last.pt and continues from there when started again with the same --out, unless --restart.
Validation is on whole held-out training speakers (never the dev split); the model with the best
validation score is written to <out>/model.safetensors + model.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .augment import GROUPS, AugmentConfig, augment_logmel, augment_waveform
from .data import (
    Bank,
    Clip,
    SamplingConfig,
    holdout_speakers,
    load_cached,
    random_crop_seconds,
    read_manifest,
    select_languages,
)
from .features import seconds_to_samples
from .languages import CORE
from .model import CRNN, ModelConfig, ModelInfo, pick_device, save_model

# whole speakers held out of training for validation, per multi-speaker real source
DEFAULT_HOLDOUT = {
    "ravdess": 3,
    "emodb": 2,
    "spanish_ser": 3,
    "casia": 1,
    "heidelberg_digits": 2,
    "fsdd": 1,
    "arabic_commands": 3,
    "bengali_digits": 3,
    "ukrainian_digits": 5,
    "turev": 1,
}


@dataclass
class TrainConfig:
    out: str = "runs/train"
    manifests: list[str] = field(default_factory=list)  # CSV or CSV=ROOT (relative paths start at ROOT)
    synth_manifests: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)  # empty: every language with enough real speech
    drop_languages: list[str] = field(default_factory=list)  # trained on (as negatives), not in the saved model
    min_minutes: float = 10.0  # of real training speech, for a language to be picked automatically
    min_speakers: int = 3  # distinct real speakers, likewise
    holdout: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_HOLDOUT))
    holdout_whole: list[str] = field(default_factory=list)  # sources or speaker ids held out entirely
    synth_holdout: int = 2  # synthetic voices held out per language
    synth_share: float = 0.3
    speaker_power: float = 0.5
    crop_s: tuple[float, float] = (0.5, 4.0)
    batch_size: int = 256
    steps: int = 6000
    time_budget_min: float = 0.0  # > 0: the schedule also ends when this much time has passed
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_steps: int = 300
    label_smoothing: float = 0.1
    adversary: float = 0.0  # > 0: weight of the speaker-adversarial loss (gradient reversal)
    amp: str = "bf16"  # bf16, fp16 or off (CUDA only)
    no_aug: list[str] = field(default_factory=list)  # augmentation groups switched off
    model: dict = field(default_factory=dict)  # ModelConfig fields other than n_languages
    eval_every: int = 500
    val_seconds: tuple[float, ...] = (1.0, 2.0, 3.0)
    seed: int = 0
    workers: int = 4  # decoding processes
    cache: str = ""  # decoded-audio cache (.npy); empty: decode every run
    compute: str = "auto"
    version: str = "1"

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        for key in ("crop_s", "val_seconds"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _manifest_spec(spec: str) -> tuple[str, str | None]:
    path, _, root = spec.partition("=")
    return path, root or None


def load_clips(cfg: TrainConfig) -> list[Clip]:
    """Training rows of every manifest (rows marked dev or test never take part)."""
    clips: list[Clip] = []
    for specs, synthetic in ((cfg.manifests, False), (cfg.synth_manifests, True)):
        for spec in specs:
            path, root = _manifest_spec(spec)
            clips += [c for c in read_manifest(path, root, synthetic=synthetic) if c.split == "train"]
    return clips


def data_summary(clips: list[Clip]) -> dict:
    """Per language: minutes, clips, real speakers and synthetic voices."""
    out: dict = defaultdict(lambda: {"real_min": 0.0, "synth_min": 0.0, "clips": 0, "speakers": set(), "voices": set()})
    for c in clips:
        s = out[c.language]
        s["synth_min" if c.synthetic else "real_min"] += c.duration / 60
        s["clips"] += 1
        s["voices" if c.synthetic else "speakers"].add(c.speaker)
    return {
        lang: {
            **s,
            "real_min": round(s["real_min"], 1),
            "synth_min": round(s["synth_min"], 1),
            "speakers": len(s["speakers"]),
            "voices": len(s["voices"]),
        }
        for lang, s in sorted(out.items())
    }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@torch.inference_mode()
def evaluate(model: CRNN, bank: Bank, seconds: tuple[float, ...], batch_size: int = 512) -> dict:
    """Accuracy per language of one centred window per held-out clip, for each window length, over all
    held-out clips and over the real and the synthetic ones apart; `core6_closed` restricts both the
    clips and the answers to the core languages."""
    model.eval()
    langs = bank.languages
    core = torch.tensor([i for i, lang in enumerate(langs) if lang in CORE], device=bank.device)
    synthetic = torch.tensor([c.synthetic for c in bank.clips], device=bank.device)
    out: dict = {}
    for sec in seconds:
        preds, core_preds = [], []
        for i in range(0, len(bank), batch_size):
            idx = torch.arange(i, min(i + batch_size, len(bank)), device=bank.device)
            ones = torch.ones(len(idx), device=bank.device, dtype=torch.float64)
            logits = model(bank.crop(idx, seconds_to_samples(sec), ones, ones.float() * 0.5)).float()
            preds.append(logits.argmax(-1))
            core_preds.append(core[logits[:, core].argmax(-1)])
        pred, core_pred = torch.cat(preds), torch.cat(core_preds)

        def accuracy(p: torch.Tensor, keep: torch.Tensor, only: list[int]) -> dict[str, float]:
            return {
                langs[k]: round(float((p[sel] == k).float().mean()), 4)
                for k in only
                if (sel := keep & (bank.label == k)).any()
            }

        every = torch.ones_like(synthetic)
        all_langs, core_langs = list(range(len(langs))), core.tolist()
        per = {
            "per_language": accuracy(pred, every, all_langs),
            "real": accuracy(pred, ~synthetic, all_langs),
            "synth": accuracy(pred, synthetic, all_langs),
            "core6_closed": accuracy(core_pred, every, core_langs),
            "core6_closed_real": accuracy(core_pred, ~synthetic, core_langs),
        }
        out[f"{sec:g}s"] = {
            "macro": _mean(per["per_language"]),
            "real_macro": _mean(per["real"]),
            "core6_closed_macro": _mean(per["core6_closed"]),
            "core6_closed_real_macro": _mean(per["core6_closed_real"]),
            **per,
        }
    model.train()
    return out


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


class SpeakerAdversary(nn.Module):
    """Guesses which training speaker (or synthetic voice) said a window, among the speakers of the
    window's own language, from the classifier's hidden layer; the gradient reaching that layer is
    reversed, so the classifier learns to hide who is speaking but not which language. Restricting the
    guess to one language's speakers matters: most speakers speak one language, so an unrestricted
    speaker guess would also carry, and erase, the language."""

    def __init__(self, bank: Bank, dim: int) -> None:
        super().__init__()
        pairs = sorted({(c.language, c.speaker) for c in bank.clips})
        index = {p: k for k, p in enumerate(pairs)}
        self.register_buffer("speaker", torch.tensor([index[(c.language, c.speaker)] for c in bank.clips]))
        lang_index = {lang: k for k, lang in enumerate(bank.languages)}
        allowed = torch.zeros(len(bank.languages), len(pairs), dtype=torch.bool)
        for (lang, _), k in index.items():
            allowed[lang_index[lang], k] = True
        self.register_buffer("allowed", allowed)
        self.register_buffer("label", bank.label.cpu())
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, len(pairs)))

    def loss(self, hidden: torch.Tensor, clip: torch.Tensor, scale: float) -> torch.Tensor:
        logits = self.net(_ReverseGrad.apply(hidden, scale)).float()
        logits = logits.masked_fill(~self.allowed[self.label[clip]], float("-inf"))
        return F.cross_entropy(logits, self.speaker[clip])


def _mean(acc: dict[str, float]) -> float:
    return round(sum(acc.values()) / max(len(acc), 1), 4)


def without_languages(model: CRNN, languages: list[str], drop: list[str]) -> CRNN:
    """A copy of `model` without the outputs for `drop`: among the other languages the ranking is
    unchanged, and the dropped ones are never answered."""
    keep = [i for i, lang in enumerate(languages) if lang not in drop]
    out = copy.deepcopy(model)
    last = out.head[-1]
    head = nn.Linear(last.in_features, len(keep)).to(last.weight.device)
    with torch.no_grad():
        head.weight.copy_(last.weight[keep])
        head.bias.copy_(last.bias[keep])
    out.head[-1] = head
    out.cfg = replace(model.cfg, n_languages=len(keep))
    return out


def score(metrics: dict) -> float:
    """Model-selection score: macro accuracy averaged over the window lengths."""
    return sum(m["macro"] for m in metrics.values()) / len(metrics)


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def train(cfg: TrainConfig, restart: bool = False, progress_bar: bool = True) -> dict:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    device = pick_device(cfg.compute)

    clips = load_clips(cfg)
    languages = sorted(cfg.languages) or select_languages(clips, cfg.min_minutes, cfg.min_speakers)
    if not languages:
        raise ValueError("no language has enough training speech; lower --min-minutes or name --languages")
    clips = [c for c in clips if c.language in languages]
    held = holdout_speakers(clips, cfg.holdout, cfg.synth_holdout, cfg.seed, cfg.holdout_whole)
    train_clips = [c for c in clips if c.speaker not in held]
    val_clips = [c for c in clips if c.speaker in held]
    missing = sorted(set(languages) - {c.language for c in train_clips})
    if missing:
        raise ValueError(f"no training clips left for: {', '.join(missing)}")
    summary = {
        "train": data_summary(train_clips),
        "val": data_summary(val_clips),
        "val_speakers": sorted(held),
        "sources": sorted({c.source for c in train_clips}),
    }
    record = {
        "config": asdict(cfg),
        "languages": languages,
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "device": str(device),
        "command": sys.argv,
        "data": summary,
    }
    (out / "config.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")

    audio = load_cached(train_clips + val_clips, Path(cfg.cache) if cfg.cache else None, cfg.workers, progress_bar)
    train_bank = Bank(train_clips, audio[: len(train_clips)], languages, device)
    shipped = [lang for lang in languages if lang not in cfg.drop_languages]
    keep = [i for i, c in enumerate(val_clips) if c.language in shipped]
    val_bank = None
    if keep:
        val_audio = [audio[len(train_clips) + i] for i in keep]
        val_bank = Bank([val_clips[i] for i in keep], val_audio, shipped, device)
    del audio
    weights = train_bank.weights(SamplingConfig(cfg.synth_share, cfg.speaker_power))
    aug = AugmentConfig().without(*cfg.no_aug)

    model_cfg = ModelConfig(n_languages=len(languages), **cfg.model)
    model = CRNN(model_cfg).to(device)
    adversary = SpeakerAdversary(train_bank, model_cfg.embed_dim).to(device)
    params = list(model.parameters()) + (list(adversary.parameters()) if cfg.adversary > 0 else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    use_amp = device.type == "cuda" and cfg.amp != "off"
    amp_dtype = torch.float16 if cfg.amp == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler(enabled=use_amp and cfg.amp == "fp16")
    state = {"step": 0, "elapsed": 0.0, "best": -1.0, "history": []}
    last = out / "last.pt"
    if last.is_file() and not restart:
        ckpt = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        adversary.load_state_dict(ckpt["adversary"])
        opt.load_state_dict(ckpt["opt"])
        scaler.load_state_dict(ckpt["scaler"])
        gen.set_state(ckpt["gen"].cpu())
        rng.setstate(ckpt["rng"])
        state = ckpt["state"]

    def progress() -> float:
        p = state["step"] / cfg.steps
        if cfg.time_budget_min > 0:
            p = max(p, state["elapsed"] / (cfg.time_budget_min * 60))
        return p

    def saved_model() -> CRNN:
        return without_languages(model, languages, cfg.drop_languages) if cfg.drop_languages else model

    def save(net: CRNN, metrics: dict) -> None:
        training = {
            "recipe": "streamlid.train",
            "steps": state["step"],
            "config": asdict(cfg),
            "trained_languages": languages,
            "data": {k: v for k, v in summary.items() if k != "val_speakers"},
        }
        info = ModelInfo(
            shipped,
            net.cfg,
            net.features,
            cfg.version,
            training,
            {"validation": metrics, "validation_set": "held-out training speakers (not dev)"},
        )
        save_model(net, info, out / "model.safetensors")

    def checkpoint() -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "adversary": adversary.state_dict(),
                "opt": opt.state_dict(),
                "scaler": scaler.state_dict(),
                "gen": gen.get_state(),
                "rng": rng.getstate(),
                "state": state,
            },
            out / "last.tmp",
        )
        (out / "last.tmp").replace(last)

    def validate() -> None:
        entry = {"step": state["step"], "elapsed_s": round(state["elapsed"], 1), "loss": round(float(loss_ema), 4)}
        if val_bank is not None:
            net = saved_model()
            metrics = evaluate(net, val_bank, cfg.val_seconds)
            entry["score"] = round(score(metrics), 4)
            entry["val"] = {
                k: {m: v[m] for m in ("macro", "real_macro", "core6_closed_macro", "core6_closed_real_macro")}
                for k, v in metrics.items()
            }
            if entry["score"] > state["best"]:
                state["best"] = entry["score"]
                save(net, metrics)
        state["history"].append(entry)
        with open(out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        checkpoint()

    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=state["step"], disable=not progress_bar, desc="train", mininterval=10)
    loss_ema, t0, start_elapsed, start_step = torch.zeros(()), time.monotonic(), state["elapsed"], state["step"]
    model.train()
    while progress() < 1.0:
        sec = random_crop_seconds(rng, *cfg.crop_s)
        b = cfg.batch_size
        idx = torch.multinomial(weights, b, replacement=True, generator=gen)
        lo, hi = aug.speed
        speed = lo + (hi - lo) * torch.rand(b, generator=gen, device=device, dtype=torch.float64)
        wav = train_bank.crop(idx, seconds_to_samples(sec), speed, torch.rand(b, generator=gen, device=device))
        with torch.no_grad():
            mel = augment_logmel(model.logmel(augment_waveform(wav, aug, gen)), aug, gen)
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, state["step"], progress())
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            hidden = model.embed(mel)
            logits = model.head[-1](hidden)
        lang_loss = F.cross_entropy(logits.float(), train_bank.label[idx], label_smoothing=cfg.label_smoothing)
        loss = lang_loss
        if cfg.adversary > 0:
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                # DANN's ramp: the reversed gradient grows from 0 as the language head learns
                ramp = 2 / (1 + math.exp(-10 * progress())) - 1
                loss = loss + cfg.adversary * adversary.loss(hidden, idx, ramp)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(opt)
        scaler.update()
        loss_ema = lang_loss.detach() if state["step"] == start_step else 0.98 * loss_ema + 0.02 * lang_loss.detach()
        state["step"] += 1
        state["elapsed"] = start_elapsed + time.monotonic() - t0
        bar.update(1)
        if state["step"] % 50 == 0:  # reading the loss waits for the GPU
            bar.set_postfix(loss=f"{float(loss_ema):.3f}", refresh=False)
        if state["step"] % cfg.eval_every == 0:
            validate()
    bar.close()
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        validate()
    if val_bank is None:
        save(saved_model(), {})
    return {"languages": languages, "steps": state["step"], "best_score": state["best"], "history": state["history"]}


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
    a("--weight-decay", type=float)
    a("--warmup-steps", type=int)
    a("--label-smoothing", type=float)
    a("--adversary", type=float, help="weight of the speaker-adversarial loss (default 0: off)")
    a("--amp", choices=["bf16", "fp16", "off"], help=f"mixed precision on CUDA (default {d.amp})")
    a(
        "--no-aug",
        type=lambda s: s.split(","),
        metavar="GROUPS",
        help=f"switch off augmentation groups: {','.join(GROUPS)} or all",
    )
    a("--model", type=json.loads, help="JSON ModelConfig fields, e.g. '{\"rnn_hidden\": 96}'")
    a("--eval-every", type=int)
    a("--val-seconds", type=float, nargs="+")
    a("--seed", type=int)
    a("--workers", type=int, help="decoding processes")
    a("--cache", help="decoded-audio cache file (.npy) shared between runs")
    a("--compute", choices=["auto", "cpu", "cuda"])
    a("--version", help="model version string written into the model metadata")
    a("--restart", action="store_true", help="ignore <out>/last.pt and start from scratch")
    a("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    base: dict = {}
    if getattr(args, "config", None):
        base = json.loads(Path(args.config).read_text(encoding="utf-8"))
        base = base.get("config", base)
    names = {f.name for f in fields(TrainConfig)}
    base.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    return TrainConfig.from_dict(base)


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


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="streamlid train", description=__doc__.splitlines()[0])
    configure_parser(p)
    sys.exit(run(p.parse_args()))

"""`streamlid train`: train a language identifier from one or more manifests: Whisper-base's own language
step adapted to short unpadded windows by distillation from the padded network (whisper-lid, streamlid-v4),
Whisper-base's encoder under a recurrent head (whisper-gru) or the CRNN.

Everything a run needs is in TrainConfig, written to <out>/config.json; `--config <out>/config.json`
repeats the run (options given on the command line override the file). The run keeps its state in
<out>/last.pt and continues from there when started again with the same --out, unless --restart.
Validation is on whole held-out training speakers (never the dev split); the model with the best
validation score is written to <out>/model.safetensors + model.json.
"""

from __future__ import annotations

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

from ..core.languages import CORE
from ..model.architectures import (
    LanguageModel,
    ModelConfig,
    WhisperGRUConfig,
    WhisperLIDConfig,
    build_model,
    languages_of,
    pretrained_whisper_lid,
)
from ..model.classifier import pick_device
from ..model.features import seconds_to_samples
from ..model.format import ModelInfo, save_model
from ..model.int8 import load_packed_state
from .augment import AugmentConfig, augment_logmel, augment_waveform
from .data import Bank, SamplingConfig, holdout_speakers, load_cached, random_crop_seconds, select_languages
from .manifest import Clip, read_manifest
from .teacher import is_model_teacher, load_teacher

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
    architecture: str = "crnn"  # "whisper-gru": Whisper-base's encoder under a recurrent head; "whisper-lid":
    # Whisper's own language step on the encoder (its languages are the step's rows)
    model: dict = field(default_factory=dict)  # architecture fields other than n_languages
    encoder: str = ""  # whisper-gru, whisper-lid: the converted encoder (tools/convert_whisper_encoder.py)
    language_step: str = ""  # whisper-lid: the converted language step (whisper-base-langid.safetensors)
    finetune_layers: int = 0  # whisper-gru, whisper-lid: top encoder blocks trained (0: the encoder stays frozen)
    encoder_lr: float = 3e-5  # peak learning rate of the trained encoder blocks
    teacher: str = ""  # soft targets: a streamlid model (base, a path) or whisper-base-langid.safetensors
    teacher_weight: float = 0.5  # share of the teacher's soft targets in the language loss
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
def evaluate(model: LanguageModel, bank: Bank, seconds: tuple[float, ...], batch_size: int = 512) -> dict:
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


def without_languages(model: LanguageModel, languages: list[str], drop: list[str]) -> LanguageModel:
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


class Trainer:
    """One training run: data, model, optimiser and state, and the steps that change them.

    `run()` trains until the schedule ends, validating every `eval_every` steps; each validation
    checkpoints to <out>/last.pt and keeps the best model in <out>/model.safetensors. The loss of a step
    is the language loss (hard labels, mixed with a teacher's soft targets when there is one) plus the
    speaker adversary's.
    """

    def __init__(self, cfg: TrainConfig, restart: bool = False, progress_bar: bool = True) -> None:
        if cfg.teacher and not cfg.encoder and not is_model_teacher(cfg.teacher):  # before decoding the data
            raise ValueError("a Whisper --teacher needs --encoder (the teacher runs Whisper-base's encoder)")
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress_bar = progress_bar
        torch.manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed)
        self.device = device = pick_device(cfg.compute)
        self._load_data()
        self.aug = AugmentConfig().without(*cfg.no_aug)
        self.model = build_training_model(cfg, len(self.languages)).to(device)
        self.adversary = None
        if cfg.adversary > 0:
            self.adversary = SpeakerAdversary(self.train_bank, self.model.cfg.embed_dim).to(device)
        self.teacher = None
        if cfg.teacher:
            self.teacher = load_teacher(cfg.teacher, cfg.encoder, self.languages).to(device)
        head = [p for n, p in self.model.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
        groups = [{"params": head, "lr_scale": 1.0}]
        encoder = [p for n, p in self.model.named_parameters() if p.requires_grad and n.startswith("encoder.")]
        if encoder:
            groups.append({"params": encoder, "lr_scale": cfg.encoder_lr / cfg.lr})
        if self.adversary is not None:
            groups.append({"params": list(self.adversary.parameters()), "lr_scale": 1.0})
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed)
        self.use_amp = device.type == "cuda" and cfg.amp != "off"
        self.amp_dtype = torch.float16 if cfg.amp == "fp16" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(enabled=self.use_amp and cfg.amp == "fp16")
        self.state = {"step": 0, "elapsed": 0.0, "best": -1.0, "history": []}
        self.loss_ema = torch.zeros(())
        last = self.out / "last.pt"
        if last.is_file() and not restart:
            self._resume(last)

    def _load_data(self) -> None:
        cfg = self.cfg
        clips = load_clips(cfg)
        if cfg.architecture == WhisperLIDConfig.name:
            # the step's rows are the languages; every clip teaches (through the teacher), whatever its language
            languages = languages_of(_required(cfg.language_step, "--language-step"))
        else:
            languages = sorted(cfg.languages) or select_languages(clips, cfg.min_minutes, cfg.min_speakers)
            clips = [c for c in clips if c.language in languages]
        if not languages:
            raise ValueError("no language has enough training speech; lower --min-minutes or name --languages")
        held = holdout_speakers(clips, cfg.holdout, cfg.synth_holdout, cfg.seed, cfg.holdout_whole)
        train_clips = [c for c in clips if c.speaker not in held]
        val_clips = [c for c in clips if c.speaker in held]
        missing = sorted(set(languages) - {c.language for c in train_clips})
        if missing and cfg.architecture != WhisperLIDConfig.name:
            raise ValueError(f"no training clips left for: {', '.join(missing)}")
        self.summary = {
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
            "device": str(self.device),
            "command": sys.argv,
            "data": self.summary,
        }
        (self.out / "config.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        audio = load_cached(
            train_clips + val_clips, Path(cfg.cache) if cfg.cache else None, cfg.workers, self.progress_bar
        )
        self.languages = languages
        self.train_bank = Bank(train_clips, audio[: len(train_clips)], languages, self.device)
        self.shipped = [lang for lang in languages if lang not in cfg.drop_languages]
        keep = [i for i, c in enumerate(val_clips) if c.language in self.shipped]
        self.val_bank = None
        if keep:
            val_audio = [audio[len(train_clips) + i] for i in keep]
            self.val_bank = Bank([val_clips[i] for i in keep], val_audio, self.shipped, self.device)
        self.weights = self.train_bank.weights(SamplingConfig(cfg.synth_share, cfg.speaker_power))

    def _resume(self, last: Path) -> None:
        ckpt = torch.load(last, map_location=self.device, weights_only=False)
        self.model.load_state_dict(ckpt["model"])
        if self.adversary is not None:
            self.adversary.load_state_dict(ckpt["adversary"])
        self.opt.load_state_dict(ckpt["opt"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.gen.set_state(ckpt["gen"].cpu())
        self.rng.setstate(ckpt["rng"])
        self.state = ckpt["state"]

    def progress(self) -> float:
        cfg, state = self.cfg, self.state
        p = state["step"] / cfg.steps
        if cfg.time_budget_min > 0:
            p = max(p, state["elapsed"] / (cfg.time_budget_min * 60))
        return p

    def saved_model(self) -> LanguageModel:
        if not self.cfg.drop_languages:
            return self.model
        return without_languages(self.model, self.languages, self.cfg.drop_languages)

    def save(self, net: LanguageModel, metrics: dict) -> None:
        cfg = self.cfg
        training = {
            "recipe": "streamlid.train",
            "steps": self.state["step"],
            "config": asdict(cfg),
            "trained_languages": self.languages,
            "data": {k: v for k, v in self.summary.items() if k != "val_speakers"},
        }
        validation = {"validation": metrics, "validation_set": "held-out training speakers (not dev)"}
        info = ModelInfo(self.shipped, net.cfg, net.features, cfg.version, training, validation)
        save_model(net, info, self.out / "model.safetensors")

    def checkpoint(self) -> None:
        ckpt = {
            "model": self.model.state_dict(),
            "adversary": self.adversary.state_dict() if self.adversary is not None else {},
            "opt": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "gen": self.gen.get_state(),
            "rng": self.rng.getstate(),
            "state": self.state,
        }
        torch.save(ckpt, self.out / "last.tmp")
        (self.out / "last.tmp").replace(self.out / "last.pt")

    def validate(self) -> None:
        state = self.state
        entry = {"step": state["step"], "elapsed_s": round(state["elapsed"], 1), "loss": round(float(self.loss_ema), 4)}
        if self.val_bank is not None:
            net = self.saved_model()
            metrics = evaluate(net, self.val_bank, self.cfg.val_seconds)
            entry["score"] = round(score(metrics), 4)
            entry["val"] = {
                k: {m: v[m] for m in ("macro", "real_macro", "core6_closed_macro", "core6_closed_real_macro")}
                for k, v in metrics.items()
            }
            if entry["score"] > state["best"]:
                state["best"] = entry["score"]
                self.save(net, metrics)
        state["history"].append(entry)
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        self.checkpoint()

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch of random crops (one crop length per batch): augmented audio, its log-mel, clip indices."""
        cfg, gen, device = self.cfg, self.gen, self.device
        sec = random_crop_seconds(self.rng, *cfg.crop_s)
        b = cfg.batch_size
        idx = torch.multinomial(self.weights, b, replacement=True, generator=gen)
        lo, hi = self.aug.speed
        speed = lo + (hi - lo) * torch.rand(b, generator=gen, device=device, dtype=torch.float64)
        wav = self.train_bank.crop(idx, seconds_to_samples(sec), speed, torch.rand(b, generator=gen, device=device))
        with torch.no_grad():
            wav = augment_waveform(wav, self.aug, gen)
            mel = augment_logmel(self.model.logmel(wav), self.aug, gen)
        return wav, mel, idx

    def loss(self, wav: torch.Tensor, mel: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, language loss) of one batch. Clips of a language the model has no row for (label
        -1) count only through the teacher."""
        cfg = self.cfg
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            if self.adversary is not None:
                hidden = self.model.embed(mel)
                logits = self.model.head[-1](hidden)
            else:
                logits = self.model.forward_features(mel)
        labels = self.train_bank.label[idx]
        known = labels >= 0
        lang_loss = logits.new_zeros((), dtype=torch.float32)
        if known.any():
            lang_loss = F.cross_entropy(logits[known].float(), labels[known], label_smoothing=cfg.label_smoothing)
            lang_loss = lang_loss * known.float().mean()
        if self.teacher is not None:
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                soft = self.teacher(wav)
            soft_loss = -(soft * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()
            lang_loss = (1 - cfg.teacher_weight) * lang_loss + cfg.teacher_weight * soft_loss
        loss = lang_loss
        if self.adversary is not None:
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                # DANN's ramp: the reversed gradient grows from 0 as the language head learns
                ramp = 2 / (1 + math.exp(-10 * self.progress())) - 1
                loss = loss + cfg.adversary * self.adversary.loss(hidden, idx, ramp)
        return loss, lang_loss

    def step(self) -> None:
        state = self.state
        wav, mel, idx = self.batch()
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.cfg, state["step"], self.progress()) * group["lr_scale"]
        loss, lang_loss = self.loss(wav, mel, idx)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.scaler.step(self.opt)
        self.scaler.update()
        lang_loss = lang_loss.detach()
        self.loss_ema = lang_loss if state["step"] == self.start_step else 0.98 * self.loss_ema + 0.02 * lang_loss
        state["step"] += 1

    def run(self) -> dict:
        from tqdm import tqdm

        cfg, state = self.cfg, self.state
        bar = tqdm(total=cfg.steps, initial=state["step"], disable=not self.progress_bar, desc="train", mininterval=10)
        t0, start_elapsed, self.start_step = time.monotonic(), state["elapsed"], state["step"]
        self.model.train()
        while self.progress() < 1.0:
            self.step()
            state["elapsed"] = start_elapsed + time.monotonic() - t0
            bar.update(1)
            if state["step"] % 50 == 0:  # reading the loss waits for the GPU
                bar.set_postfix(loss=f"{float(self.loss_ema):.3f}", refresh=False)
            if state["step"] % cfg.eval_every == 0:
                self.validate()
        bar.close()
        if not state["history"] or state["history"][-1]["step"] != state["step"]:
            self.validate()
        if self.val_bank is None:
            self.save(self.saved_model(), {})
        return {
            "languages": self.languages,
            "steps": state["step"],
            "best_score": state["best"],
            "history": state["history"],
        }


def build_training_model(cfg: TrainConfig, n_languages: int) -> LanguageModel:
    """A fresh CRNN; or Whisper-base's encoder from `cfg.encoder` under a new recurrent head (whisper-gru)
    or under Whisper's own language step from `cfg.language_step` (whisper-lid, every step weight
    trained); of the encoder, only the top `cfg.finetune_layers` blocks are trained."""
    if cfg.architecture == ModelConfig.name:
        return build_model(ModelConfig(n_languages=n_languages, **cfg.model))
    known = (ModelConfig.name, WhisperGRUConfig.name, WhisperLIDConfig.name)
    if cfg.architecture not in known:
        raise ValueError(f"unknown architecture {cfg.architecture!r}; known: {', '.join(known)}")
    encoder = _required(cfg.encoder, "--encoder")
    if cfg.architecture == WhisperLIDConfig.name:
        model = pretrained_whisper_lid(encoder, _required(cfg.language_step, "--language-step"))
    else:
        from safetensors.torch import load_file

        model = build_model(WhisperGRUConfig(n_languages=n_languages, **cfg.model))
        load_packed_state(model.encoder, load_file(encoder))
    layers = model.encoder.cfg.layers
    if not 0 <= cfg.finetune_layers <= layers:
        raise ValueError(f"--finetune-layers must be in 0..{layers}")
    trained = {f"blocks.{i}." for i in range(layers - cfg.finetune_layers, layers)}
    for name, p in model.encoder.named_parameters():
        p.requires_grad = cfg.finetune_layers > 0 and (name.startswith("ln_post") or name.startswith(tuple(trained)))
    return model


def _required(path: str, option: str) -> str:
    if not path:
        raise ValueError(f"this architecture needs {option} (tools/convert_whisper_encoder.py writes it)")
    return path


def train(cfg: TrainConfig, restart: bool = False, progress_bar: bool = True) -> dict:
    return Trainer(cfg, restart, progress_bar).run()


def config_with(overrides: dict, config_file: str | Path | None = None) -> TrainConfig:
    """A TrainConfig from a run's config.json (or a JSON TrainConfig) at `config_file`, if any, with every
    TrainConfig field of `overrides` that is not None put over it (names that are no field are ignored)."""
    base: dict = {}
    if config_file:
        base = json.loads(Path(config_file).read_text(encoding="utf-8"))
        base = base.get("config", base)
    names = {f.name for f in fields(TrainConfig)}
    base.update({k: v for k, v in overrides.items() if k in names and v is not None})
    return TrainConfig.from_dict(base)


if __name__ == "__main__":  # the command line lives in the cli layer, which the library does not import
    sys.exit("this is the library; train with `streamlid train` or `python -m streamlid train`")

"""The language classifiers (WhisperLID, and the older WhisperGRU and CRNN), their checkpoint format
(safetensors weights + JSON metadata, int8 storage) and batched inference."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .audio import SAMPLE_RATE
from .checkpoint import MODEL_NAMES, ModelError, model_path
from .encoder import INT8_KEEP, EncoderConfig, WhisperEncoder, WhisperLogMel, stem_lengths
from .features import FeatureConfig, LogMel
from .language_step import LanguageDetector
from .languages import WHISPER_TO_ISO639_3

FORMAT = "streamlid-model"
FORMAT_VERSION = 1
log = logging.getLogger("streamlid.model")
WHISPER_FEATURES = FeatureConfig(kind="whisper-log-mel", n_mels=80, f_min=0.0, f_max=8000.0)


def front_end(features: FeatureConfig) -> nn.Module:
    """The feature extractor a checkpoint's metadata names."""
    if features.kind == "whisper-log-mel":
        return WhisperLogMel(features.n_mels)
    if features.kind == "log-mel":
        return LogMel(features)
    raise ValueError(f"unknown feature kind {features.kind!r}")


class RecurrentClassifier(nn.Module):
    """The seed design's head, shared by both architectures: a frame sequence (B, T, D) from the
    subclass's `sequence` -> BiGRU -> mean+std pooling over time -> hidden layer -> logits."""

    def build_head(self, width: int, rnn_hidden: int, embed_dim: int, dropout: float, n_languages: int) -> None:
        self.rnn = nn.GRU(width, rnn_hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Linear(4 * rnn_hidden, embed_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(embed_dim, n_languages),
        )

    def sequence(self, mel: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        """log-mel (B, mels, T) -> the hidden layer before the output layer (B, embed_dim)."""
        x, _ = self.rnn(self.sequence(mel))
        return self.head[:-1](torch.cat([x.mean(dim=1), x.std(dim=1, unbiased=False)], dim=-1))

    def forward_features(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head[-1](self.embed(mel))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> logits (batch, n_languages)."""
        return self.forward_features(self.logmel(wav))


@dataclass(frozen=True)
class ModelConfig:
    name: ClassVar[str] = "crnn"
    n_languages: int
    channels: tuple[int, ...] = (32, 48, 96, 128)
    time_pool: tuple[int, ...] = (2, 2, 1, 1)
    rnn_hidden: int = 128
    embed_dim: int = 256
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        for key in ("channels", "time_pool"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


class CRNN(RecurrentClassifier):
    """log-mel -> conv stack (frequency and time pooling) -> BiGRU -> mean+std pooling -> logits.

    Any window of at least ~0.1 s is accepted; the recurrent layer and the statistics pooling make the
    output independent of the window's length.
    """

    def __init__(self, cfg: ModelConfig, features: FeatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = features or FeatureConfig()
        self.logmel = front_end(self.features)
        blocks: list[nn.Module] = []
        cin, n_freq = 1, self.features.n_mels
        for cout, tp in zip(cfg.channels, cfg.time_pool, strict=True):
            blocks += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d((2, tp)),
            ]
            cin, n_freq = cout, n_freq // 2
        self.conv = nn.Sequential(*blocks)
        self.build_head(cin * n_freq, cfg.rnn_hidden, cfg.embed_dim, cfg.dropout, cfg.n_languages)

    def normalise(self, mel: torch.Tensor) -> torch.Tensor:
        """Per-window mean removal per band (channel invariance) and one global scale (gain)."""
        mel = mel - mel.mean(dim=-1, keepdim=True)
        return mel / (mel.std(dim=(-2, -1), keepdim=True) + 1e-3)

    def sequence(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.normalise(mel).unsqueeze(1)  # (B, 1, mels, T)
        x = self.conv(x)  # (B, C, F, T')
        b, c, f, t = x.shape
        return x.permute(0, 3, 1, 2).reshape(b, t, c * f)


@dataclass(frozen=True)
class WhisperGRUConfig:
    name: ClassVar[str] = "whisper-gru"
    n_languages: int
    first_layer: int = 3  # weigh the encoder's outputs from this one on (0 stem, i after block i, 7 final LN)
    rnn_hidden: int = 128
    embed_dim: int = 256
    dropout: float = 0.2
    encoder: dict = field(default_factory=lambda: EncoderConfig().to_dict())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WhisperGRUConfig:
        return cls(**d)


class WhisperGRU(RecurrentClassifier):
    """Whisper-base's encoder -> a learned weighting of its upper outputs -> BiGRU -> mean+std pooling ->
    logits: the seed CRNN's recurrent head on a pretrained front end.

    Each weighed output is layer-normalised first (the residual stream grows with depth), so the
    softmax weights compare like with like.
    """

    def __init__(self, cfg: WhisperGRUConfig, features: FeatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = features or WHISPER_FEATURES
        self.logmel = front_end(self.features)
        self.encoder = WhisperEncoder(EncoderConfig(**cfg.encoder))
        width, n_outputs = self.encoder.cfg.width, self.encoder.cfg.layers + 2
        if not 0 <= cfg.first_layer < n_outputs:
            raise ValueError(f"first_layer must be in 0..{n_outputs - 1}")
        self.layer_logits = nn.Parameter(torch.zeros(n_outputs - cfg.first_layer))
        self.build_head(width, cfg.rnn_hidden, cfg.embed_dim, cfg.dropout, cfg.n_languages)

    def layer_weights(self) -> torch.Tensor:
        return torch.softmax(self.layer_logits, dim=0)

    def sequence(self, mel: torch.Tensor) -> torch.Tensor:
        outputs = self.encoder(mel)[self.cfg.first_layer :]
        w = self.layer_weights()
        return sum(w[i] * F.layer_norm(o, o.shape[-1:]) for i, o in enumerate(outputs))


PADDED_SAMPLES = 30 * SAMPLE_RATE  # what Whisper pads every input to


@dataclass(frozen=True)
class WhisperLIDConfig:
    name: ClassVar[str] = "whisper-lid"
    n_languages: int
    padded: bool = False  # pad every window to 30 s as Whisper does (about 30x the compute of a 1-s window)
    decoder_layers: int = 6
    encoder: dict = field(default_factory=lambda: EncoderConfig().to_dict())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WhisperLIDConfig:
        return cls(**d)


class WhisperLID(nn.Module):
    """Whisper-base's encoder -> Whisper's own language step (streamlid.language_step): the language
    logits of the decoder's first position, one row per language.

    Unpadded (the default) it runs on the window itself, whatever its length; `padded` runs it as Whisper
    does, on the window followed by silence up to 30 s. streamlid-v4 is this network with its weights
    adapted to unpadded windows by distillation from the padded one.
    """

    def __init__(self, cfg: WhisperLIDConfig, features: FeatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = features or WHISPER_FEATURES
        self.logmel = front_end(self.features)
        self.encoder = WhisperEncoder(EncoderConfig(**cfg.encoder))
        width, heads = self.encoder.cfg.width, self.encoder.cfg.heads
        self.step = LanguageDetector([""] * cfg.n_languages, width, heads, cfg.decoder_layers)

    def hidden(self, mel: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """log-mel (B, mels, T) -> the language step's final hidden state (B, width). `frames` (B,): each
        window's real frame count in a batch of mixed lengths (None: all are T long)."""
        audio = self.encoder(mel, frames)[-1]
        key_mask = None
        if frames is not None:
            key_mask = torch.arange(audio.shape[1], device=mel.device)[None, :] < stem_lengths(frames)[:, None]
        return self.step.hidden(audio, key_mask)

    def forward_features(self, mel: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        h = self.hidden(mel, frames)
        return h @ self.step.languages.to(h.dtype).T

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> logits (batch, n_languages)."""
        return self.scores(wav)[0]

    def scores(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, samples) at 16 kHz -> the language logits (batch, n_languages) and the language step's
        final hidden state (batch, width), which the speech check reads."""
        if self.cfg.padded:
            wav = F.pad(wav, (0, max(0, PADDED_SAMPLES - wav.shape[-1])))[..., :PADDED_SAMPLES]
        h = self.hidden(self.logmel(wav))
        return h @ self.step.languages.to(h.dtype).T, h


def pretrained_whisper_lid(encoder_file: str | Path, langid_file: str | Path, padded: bool = False) -> WhisperLID:
    """WhisperLID with Whisper-base's own weights (tools/convert_whisper_encoder.py's two files); its
    languages are `languages_of(langid_file)`."""
    from safetensors.torch import load_file

    model = WhisperLID(WhisperLIDConfig(n_languages=len(languages_of(langid_file)), padded=padded))
    load_packed_state(model.encoder, load_file(str(encoder_file)))
    load_packed_state(model.step, load_file(str(langid_file)))
    return model


def languages_of(langid_file: str | Path) -> list[str]:
    """The ISO 639-3 codes of the rows of a converted language step (tools/convert_whisper_encoder.py)."""
    from safetensors import safe_open

    with safe_open(str(langid_file), "pt") as f:
        return [WHISPER_TO_ISO639_3[c] for c in json.loads(f.metadata()["languages"])]


ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {
    ModelConfig.name: (ModelConfig, CRNN),
    WhisperGRUConfig.name: (WhisperGRUConfig, WhisperGRU),
    WhisperLIDConfig.name: (WhisperLIDConfig, WhisperLID),
}
LanguageModel = CRNN | WhisperGRU | WhisperLID
ArchitectureConfig = ModelConfig | WhisperGRUConfig | WhisperLIDConfig


def build_model(cfg: ArchitectureConfig, features: FeatureConfig | None = None) -> LanguageModel:
    return ARCHITECTURES[cfg.name][1](cfg, features)


@dataclass(frozen=True)
class Calibration:
    """What turns a window's logits into the probabilities the stream uses (tools/calibrate.py fits it on
    speakers held out of training): a temperature; optionally the open set, a logistic regression on
    `open_set_features` giving p(the speech is in none of the model's languages); and optionally the
    speech check, a logistic regression on the language step's final hidden state (WhisperLID.scores)
    giving p(the window holds no speech: noise, music, tones that passed the VAD)."""

    temperature: float = 1.0
    unknown_weights: tuple[float, ...] = ()  # empty: a closed-set model
    unknown_bias: float = 0.0
    no_speech_weights: tuple[float, ...] = ()  # empty: no speech check (what passes the VAD is speech)
    no_speech_bias: float = 0.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, not {self.temperature}")
        if self.unknown_weights and len(self.unknown_weights) != len(OPEN_SET_FEATURES):
            raise ValueError(f"unknown_weights needs {len(OPEN_SET_FEATURES)} values ({', '.join(OPEN_SET_FEATURES)})")

    @property
    def open_set(self) -> bool:
        return bool(self.unknown_weights)

    @property
    def speech_check(self) -> bool:
        return bool(self.no_speech_weights)

    def to_dict(self) -> dict:
        out = {
            "temperature": self.temperature,
            "unknown_weights": list(self.unknown_weights),
            "unknown_bias": self.unknown_bias,
            "unknown_features": list(OPEN_SET_FEATURES),
        }
        if self.speech_check:
            out.update(
                no_speech_weights=list(self.no_speech_weights),
                no_speech_bias=self.no_speech_bias,
                no_speech_features=NO_SPEECH_FEATURES,
            )
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(
            float(d.get("temperature", 1.0)),
            tuple(map(float, d.get("unknown_weights", ()))),
            float(d.get("unknown_bias", 0.0)),
            tuple(map(float, d.get("no_speech_weights", ()))),
            float(d.get("no_speech_bias", 0.0)),
        )

    def log_probs(self, logits: torch.Tensor, seconds: float, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """(n, languages) logits of windows `seconds` long -> log-probabilities (n, languages), with a
        column for "none of them" when the model has an open set (the columns then sum to one together),
        and, given the windows' hidden states (n, width) and a speech check, a last column: log p(no speech)."""
        lp = torch.log_softmax(logits / self.temperature, dim=-1)
        if self.open_set:
            z = open_set_features(logits, lp, seconds) @ logits.new_tensor(self.unknown_weights) + self.unknown_bias
            lp = torch.cat([lp + F.logsigmoid(-z)[:, None], F.logsigmoid(z)[:, None]], dim=-1)
        if self.speech_check and hidden is not None:
            z = hidden @ hidden.new_tensor(self.no_speech_weights) + self.no_speech_bias
            lp = torch.cat([lp, F.logsigmoid(z)[:, None]], dim=-1)
        return lp


OPEN_SET_FEATURES = ("energy", "max_logit", "max_log_prob", "log_seconds")


def open_set_features(logits: torch.Tensor, log_probs: torch.Tensor, seconds: float) -> torch.Tensor:
    """Per window: logsumexp of the logits (an energy score: low for speech unlike the training
    languages), the largest logit, the largest calibrated log-probability, and log window length."""
    return torch.stack(
        [
            torch.logsumexp(logits, dim=-1),
            logits.max(dim=-1).values,
            log_probs.max(dim=-1).values,
            torch.full_like(logits[:, 0], float(np.log(seconds))),
        ],
        dim=-1,
    )


NO_SPEECH_FEATURES = "language_step_hidden"  # what no_speech_weights read: one weight per hidden unit


@dataclass
class ModelInfo:
    languages: list[str]
    config: ArchitectureConfig
    features: FeatureConfig = field(default_factory=FeatureConfig)
    version: str = "0"
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    calibration: Calibration = field(default_factory=Calibration)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "languages": self.languages,
            "architecture": {"name": self.config.name, **self.config.to_dict()},
            "features": self.features.to_dict(),
            "training": self.training,
            "metrics": self.metrics,
            "calibration": self.calibration.to_dict(),
        }


def has_speech_check(info: ModelInfo) -> bool:
    """Whether the model's scores carry a last column, log p(no speech): a calibrated speech check on a
    WhisperLID model's language step."""
    return info.calibration.speech_check and info.config.name == WhisperLIDConfig.name


INT8_SCALE = ".int8_scale"
INT8_GROUP = 64


def pack_int8(
    state: dict[str, torch.Tensor], keep: tuple[str, ...] = (), min_size: int = 4096
) -> dict[str, torch.Tensor]:
    """Matrices (2+ dimensions, at least `min_size` values) as int8 with one float16 scale per group of
    64 consecutive input weights of a row (a whole row where 64 does not divide it); matrices whose names
    start with one of `keep` as float16; everything else unchanged. Weight-only: load_packed_state (or
    unpack_int8) turns them back into float32."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        value = value.detach().cpu().contiguous()
        quantize = value.is_floating_point() and value.dim() >= 2 and value.numel() >= min_size
        if quantize and not key.startswith(keep):
            rows = value.float().reshape(value.shape[0], -1)
            group = INT8_GROUP if rows.shape[1] % INT8_GROUP == 0 else rows.shape[1]
            groups = rows.reshape(rows.shape[0], -1, group)
            scale = (groups.abs().amax(dim=2) / 127.0).clamp(min=1e-8).half()
            q = torch.round(groups / scale.float()[..., None]).clamp(-127, 127)
            out[key] = q.to(torch.int8).reshape(value.shape)
            out[key + INT8_SCALE] = scale
        elif quantize:
            out[key] = value.half()
        else:
            out[key] = value
    return out


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    groups = q.float().reshape(q.shape[0], scale.shape[1], -1)
    return (groups * scale.float()[..., None]).reshape(q.shape)


def unpack_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {k: v for k, v in state.items() if not k.endswith(INT8_SCALE)}
    for key in out:
        if key + INT8_SCALE in state:
            out[key] = dequantize(out[key], state[key + INT8_SCALE])
    return out


def load_packed_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict for pack_int8's output, one tensor at a time: the model's float32 weights are
    never held twice (for streamlid-v3 that is 80 MB less peak memory than unpack_int8 + load_state_dict)."""
    target = model.state_dict()
    names = {k for k in state if not k.endswith(INT8_SCALE)}
    missing, unexpected = sorted(target.keys() - names), sorted(names - target.keys())
    if missing or unexpected:
        raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")
    with torch.no_grad():
        for key in names:
            value = state[key]
            if key + INT8_SCALE in state:
                value = dequantize(value, state[key + INT8_SCALE])
            if value.shape != target[key].shape:
                raise RuntimeError(
                    f"size mismatch for {key}: {tuple(value.shape)} in the file, {tuple(target[key].shape)} in the model"
                )
            target[key].copy_(value)


def metadata_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_model(model: LanguageModel, info: ModelInfo, path: str | Path) -> Path:
    """Weights (a pretrained encoder's matrices as int8 with group scales, see pack_int8) + JSON metadata."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    pretrained = ("encoder.", "step.")  # Whisper's parts: int8 but for the encoder's first layers
    if isinstance(model, WhisperGRU | WhisperLID):
        packed = pack_int8(
            {k: v for k, v in state.items() if k.startswith(pretrained)}, keep=tuple("encoder." + k for k in INT8_KEEP)
        )
        state = {**{k: v for k, v in state.items() if not k.startswith(pretrained)}, **packed}
    save_file(state, str(path), metadata={"format": FORMAT})
    metadata_path(path).write_text(json.dumps(info.to_json(), indent=2, ensure_ascii=False) + "\n")
    return path


def load_model(path: str | Path | None = None) -> tuple[LanguageModel, ModelInfo]:
    """Load weights and metadata; raises ModelError with a one-line reason on any problem.

    `path` may name the .safetensors file or its .json metadata, be a shipped model's short name (base,
    base) or None for the default model.
    Weights are read with safetensors, which cannot execute code (no pickle).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = model_path(path)
    if weights.suffix == ".json":
        weights = weights.with_suffix(".safetensors")
    meta_file = metadata_path(weights)
    if not weights.is_file():
        names = ", ".join(MODEL_NAMES)
        raise ModelError(f"model file not found: {weights} (the shipped model names: {names})")
    if not meta_file.is_file():
        raise ModelError(f"model metadata not found: {meta_file} (expected next to the weights)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"model metadata {meta_file} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{meta_file} is not a streamlid model description")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{weights} needs a newer streamlid (format {meta['format_version']})")
    try:
        arch = dict(meta["architecture"])
        name = arch.pop("name", ModelConfig.name)
        if name not in ARCHITECTURES:
            raise ModelError(
                f"{meta_file}: unknown architecture {name!r} (this streamlid knows {', '.join(ARCHITECTURES)})"
            )
        info = ModelInfo(
            languages=list(meta["languages"]),
            config=ARCHITECTURES[name][0].from_dict(arch),
            features=FeatureConfig(**meta.get("features", {})),
            version=str(meta.get("version", "0")),
            training=meta.get("training", {}),
            metrics=meta.get("metrics", {}),
            calibration=Calibration.from_dict(meta.get("calibration", {})),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{meta_file} has an incomplete model description: {e}") from None
    if info.config.n_languages != len(info.languages):
        raise ModelError(f"{meta_file}: {len(info.languages)} languages but {info.config.n_languages} outputs")
    width = EncoderConfig(**info.config.encoder).width if info.config.name == WhisperLIDConfig.name else 0
    if has_speech_check(info) and len(info.calibration.no_speech_weights) != width:
        raise ModelError(
            f"{meta_file}: the speech check has {len(info.calibration.no_speech_weights)} weights, the model's"
            f" language step {width} hidden units"
        )
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        reason = (
            "a pickled checkpoint, not safetensors; refused (unpickling can run code)" if _looks_pickled(weights) else e
        )
        raise ModelError(f"cannot read model weights {weights}: {reason}") from None
    try:
        model = build_model(info.config, info.features)
        load_packed_state(model, state)
        del state
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0]
        raise ModelError(f"{weights} does not match its metadata: {first}") from None
    model.eval()
    return model, info


def _looks_pickled(path: Path) -> bool:
    """A pickle (protocol 2+) or torch.save's zip of pickles, judged by the first bytes only."""
    with path.open("rb") as f:
        head = f.read(2)
    return (head[:1] == b"\x80" and head[1:] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head == b"PK"


def pick_device(compute: str = "auto") -> torch.device:
    if compute not in ("auto", "cpu", "cuda"):
        raise ValueError(f"compute must be auto, cpu or cuda, not {compute!r}")
    if compute == "cuda" and not torch.cuda.is_available():
        raise ModelError("compute cuda was asked for but no CUDA GPU is available")
    if compute == "auto":
        compute = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(compute)


def quantized_int8(model: nn.Module) -> nn.Module:
    """A copy with dynamically int8-quantised Linear layers, for the CPU (torch.ao's eager route:
    deprecated in torch 2.13 but working; its warnings are silenced here)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


class Classifier:
    """Batched inference: a list of 16 kHz float32 windows -> calibrated log-probabilities (n, languages),
    plus a column, log p(none of these languages), when `open_set`, and a last one, log p(no speech), when
    `speech_check` (both from the model's Calibration).

    int8=True runs the Linear layers in dynamic int8 on the CPU (streamlid-v3: ~35% less CPU per
    window; accuracy in models/MODEL_CARD.md); on a GPU it is ignored."""

    def __init__(
        self,
        model: LanguageModel,
        info: ModelInfo,
        device: torch.device | str = "cpu",
        int8: bool = False,
        name: str = "",
    ) -> None:
        self.name = name  # the weights file's stem when loaded from one
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.int8 = int8 and self.device.type == "cpu"
        if self.int8:
            self.model = quantized_int8(self.model)
        self.info = info
        self.languages = info.languages
        self.open_set = info.calibration.open_set  # log_probs has a column for "none of these languages"
        # ... and a last one, log p(no speech), when the model can tell speech from noise (WhisperLID)
        self.speech_check = has_speech_check(info)
        self._pinned: torch.Tensor | None = None  # the host buffer of _to_device, on a GPU

    @classmethod
    def load(cls, path: str | Path | None = None, compute: str = "auto", int8: bool = False) -> Classifier:
        model, info = load_model(path)
        return cls(model, info, pick_device(compute), int8, model_path(path).with_suffix("").name)

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        """Scores; a GPU that runs out of memory is given up for the CPU, with one warning (logging)."""
        try:
            return self._log_probs(windows)
        except torch.OutOfMemoryError:
            if self.device.type == "cpu":
                raise
            log.warning("out of memory on %s; the model runs on the CPU from now on", self.device)
            self.device = torch.device("cpu")
            self.model = self.model.to(self.device)
            torch.cuda.empty_cache()
            return self._log_probs(windows)

    def _to_device(self, stacked: np.ndarray) -> torch.Tensor:
        """(n, samples) float32 audio on the model's device. To a GPU it goes as float16 (half the bytes)
        through one reused page-locked buffer, so the copy is a DMA and not a staged one; the buffer is
        free again by the next call, whose results wait for this one's."""
        if self.device.type != "cuda":
            return torch.from_numpy(stacked).to(self.device)
        if self._pinned is None or self._pinned.numel() < stacked.size:
            self._pinned = torch.empty(stacked.size, dtype=torch.float16, pin_memory=True)
        host = self._pinned[: stacked.size].view(stacked.shape)
        host.copy_(torch.from_numpy(stacked))
        return host.to(self.device, non_blocking=True).float()

    @torch.inference_mode()
    def _log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(windows), len(self.languages) + self.open_set + self.speech_check), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_length.setdefault(len(w), []).append(i)
        for idx in by_length.values():
            batch = self._to_device(np.stack([windows[i] for i in idx]))
            # bf16 on a GPU (the front ends keep float32): 3.4x v3's float32 windows per second (BENCHMARKS.md)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                logits, hidden = self.model.scores(batch) if self.speech_check else (self.model(batch), None)
            seconds = batch.shape[1] / SAMPLE_RATE
            hidden = None if hidden is None else hidden.float()
            out[idx] = self.info.calibration.log_probs(logits.float(), seconds, hidden).cpu().numpy()
        return out

"""The language classifiers' architectures: WhisperLID (Whisper-base's encoder and language step, the
shipped design) and the older WhisperGRU and CRNN, their configs, and the front end a checkpoint names."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..core.audio import SAMPLE_RATE
from ..core.languages import WHISPER_TO_ISO639_3
from .encoder import EncoderConfig, WhisperEncoder, WhisperLogMel, stem_lengths
from .features import FeatureConfig, LogMel
from .int8 import load_packed_state
from .language_step import LanguageDetector

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


class StoredConfig:
    """An architecture's config as the checkpoint's metadata stores it: the dataclass's fields."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StoredConfig:
        return cls(**d)


@dataclass(frozen=True)
class ModelConfig(StoredConfig):
    name: ClassVar[str] = "crnn"
    n_languages: int
    channels: tuple[int, ...] = (32, 48, 96, 128)
    time_pool: tuple[int, ...] = (2, 2, 1, 1)
    rnn_hidden: int = 128
    embed_dim: int = 256
    dropout: float = 0.2

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
class WhisperGRUConfig(StoredConfig):
    name: ClassVar[str] = "whisper-gru"
    n_languages: int
    first_layer: int = 3  # weigh the encoder's outputs from this one on (0 stem, i after block i, 7 final LN)
    rnn_hidden: int = 128
    embed_dim: int = 256
    dropout: float = 0.2
    encoder: dict = field(default_factory=lambda: EncoderConfig().to_dict())


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
class WhisperLIDConfig(StoredConfig):
    name: ClassVar[str] = "whisper-lid"
    n_languages: int
    padded: bool = False  # pad every window to 30 s as Whisper does (about 30x the compute of a 1-s window)
    decoder_layers: int = 6
    encoder: dict = field(default_factory=lambda: EncoderConfig().to_dict())


class WhisperLID(nn.Module):
    """Whisper-base's encoder -> Whisper's own language step (streamlid.model.language_step): the language
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

    mixes_lengths = True  # scores() takes a batch of windows of different lengths, padding masked

    def forward(self, wav: torch.Tensor, lengths: list[int] | None = None) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> logits (batch, n_languages)."""
        return self.scores(wav, lengths)[0]

    def scores(self, wav: torch.Tensor, lengths: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, samples) at 16 kHz -> the language logits (batch, n_languages) and the language step's
        final hidden state (batch, width), which the speech check reads. `lengths`: each window's samples
        when a batch mixes lengths, zero-padded after its end; each scores as it would alone."""
        if self.cfg.padded:  # the zeros after a shorter window are the silence padding means
            wav = F.pad(wav, (0, max(0, PADDED_SAMPLES - wav.shape[-1])))[..., :PADDED_SAMPLES]
            lengths = None
        if lengths is None:
            h = self.hidden(self.logmel(wav))
        else:
            h = self.hidden(*self.logmel.of_lengths(wav, torch.tensor(lengths, device=wav.device)))
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

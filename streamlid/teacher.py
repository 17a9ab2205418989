"""The teachers of `streamlid train --teacher`: a shipped streamlid model (distillation into a smaller
student), or Whisper base's own language detection, in plain PyTorch.

Whisper detects the language from the decoder's first step: the start-of-transcript token attends to the
encoded audio (padded to 30 s) through six decoder layers, and the logits of the 99 language tokens are
read off. With one token, self-attention is the value projection alone. The weights come from
tools/convert_whisper_encoder.py; tests/test_encoder.py checks the result against CTranslate2's
`detect_language`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import model_path
from .encoder import SAMPLE_RATE, EncoderConfig, WhisperEncoder, WhisperLogMel
from .model import load_model, load_packed_state, metadata_path
from .peer import WHISPER_TO_ISO639_3

PADDED_SAMPLES = 30 * SAMPLE_RATE


class DecoderLayer(nn.Module):
    def __init__(self, width: int = 512, heads: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.self_ln, self.self_v, self.self_out = nn.LayerNorm(width), nn.Linear(width, width), nn.Linear(width, width)
        self.cross_ln, self.cross_q = nn.LayerNorm(width), nn.Linear(width, width)
        self.cross_kv, self.cross_out = nn.Linear(width, 2 * width), nn.Linear(width, width)
        self.mlp_ln = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """x (B, width): the one token; audio (B, T, width): the encoder's output."""
        x = x + self.self_out(self.self_v(self.self_ln(x)))
        b, t, w = audio.shape
        q = self.cross_q(self.cross_ln(x)).view(b, self.heads, 1, w // self.heads)
        k, v = self.cross_kv(audio).view(b, t, 2, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v).reshape(b, w)
        x = x + self.cross_out(y)
        return x + self.mlp(self.mlp_ln(x))


class LanguageDetector(nn.Module):
    """Encoded 30-s audio (B, 1500, width) -> logits over Whisper's 99 languages (B, 99)."""

    def __init__(self, codes: list[str], width: int = 512, heads: int = 8, layers: int = 6) -> None:
        super().__init__()
        self.codes = codes
        self.register_buffer("start", torch.zeros(width))
        self.register_buffer("languages", torch.zeros(len(codes), width))
        self.layers = nn.ModuleList(DecoderLayer(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.start.to(audio.dtype).expand(audio.shape[0], -1)
        for layer in self.layers:
            x = layer(x, audio)
        return self.ln(x) @ self.languages.to(x.dtype).T


class WhisperTeacher(nn.Module):
    """Waveforms (B, samples) -> Whisper-base's language probabilities over `languages` (ISO 639-3),
    renormalised over those Whisper knows; the audio is padded to 30 s as Whisper pads it."""

    def __init__(self, encoder: WhisperEncoder, detector: LanguageDetector, languages: list[str]) -> None:
        super().__init__()
        self.logmel = WhisperLogMel(encoder.cfg.n_mels)
        self.encoder, self.detector = encoder, detector
        self.register_buffer("rows", language_rows([WHISPER_TO_ISO639_3.get(c) for c in detector.codes], languages))

    @classmethod
    def load(cls, encoder_file: str | Path, langid_file: str | Path, languages: list[str]) -> WhisperTeacher:
        from safetensors import safe_open
        from safetensors.torch import load_file

        encoder = WhisperEncoder(EncoderConfig())
        load_packed_state(encoder, load_file(str(encoder_file)))
        with safe_open(str(langid_file), "pt") as f:
            codes = json.loads(f.metadata()["languages"])
        detector = LanguageDetector(codes)
        load_packed_state(detector, load_file(str(langid_file)))
        return cls(encoder, detector, languages).eval()

    @torch.no_grad()
    def whisper_logits(self, wav: torch.Tensor) -> torch.Tensor:
        """Logits over Whisper's own 99 languages (detector.codes)."""
        wav = F.pad(wav.float(), (0, max(0, PADDED_SAMPLES - wav.shape[-1])))[..., :PADDED_SAMPLES]
        return self.detector(self.encoder(self.logmel(wav))[-1]).float()

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return mapped_probs(self.whisper_logits(wav), self.rows)


class ModelTeacher(nn.Module):
    """Waveforms (B, samples) -> a streamlid model's probabilities (softmax of its logits, the model's own
    front end) over `languages`: the languages the teacher does not know get 0. The teacher of a
    distilled student (streamlid-v3-small learns from streamlid-v3)."""

    def __init__(self, model: nn.Module, teacher_languages: list[str], languages: list[str]) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.register_buffer("rows", language_rows(teacher_languages, languages))

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return mapped_probs(self.model(wav).float(), self.rows)


def language_rows(teacher_codes: list[str | None], languages: list[str]) -> torch.Tensor:
    """For each of `languages`, its index among the teacher's outputs, or -1 where the teacher lacks it."""
    rows = [teacher_codes.index(lang) if lang in teacher_codes else -1 for lang in languages]
    if max(rows) < 0:
        raise ValueError("the teacher knows none of the trained languages")
    return torch.tensor(rows)


def mapped_probs(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The teacher's probabilities over the student's languages: softmax over those the teacher knows."""
    known = rows >= 0
    out = torch.full((logits.shape[0], len(rows)), float("-inf"), device=logits.device)
    out[:, known] = logits[:, rows[known]]
    return torch.softmax(out, dim=-1)


def is_model_teacher(spec: str) -> bool:
    """Whether --teacher names a streamlid model (a short name, or weights with their JSON metadata)
    rather than Whisper's language detection."""
    return metadata_path(model_path(spec)).is_file()


def load_teacher(spec: str, encoder_file: str, languages: list[str]) -> nn.Module:
    """The teacher --teacher names: a streamlid model (base, small or a path) or whisper-base-langid."""
    if is_model_teacher(spec):
        model, info = load_model(spec)
        return ModelTeacher(model, info.languages, languages)
    if not encoder_file:
        raise ValueError("a Whisper --teacher needs --encoder (the teacher runs Whisper-base's encoder)")
    return WhisperTeacher.load(encoder_file, spec, languages)

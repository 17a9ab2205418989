"""The teachers of `streamlid train --teacher`: a shipped streamlid model (distillation into a smaller
student), or Whisper base's own language detection (streamlid.model.language_step on audio padded to 30 s, as
Whisper runs it). tests/model/test_encoder.py checks the latter against CTranslate2's `detect_language`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..model.architectures import WhisperLID, languages_of, pretrained_whisper_lid
from ..model.checkpoint import model_path
from ..model.format import load_model, metadata_path


class WhisperTeacher(nn.Module):
    """Waveforms (B, samples) -> Whisper-base's language probabilities over `languages` (ISO 639-3),
    renormalised over those Whisper knows; the audio is padded to 30 s as Whisper pads it."""

    def __init__(self, network: WhisperLID, whisper_languages: list[str], languages: list[str]) -> None:
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.whisper_languages = whisper_languages
        self.register_buffer("rows", language_rows(whisper_languages, languages))

    @classmethod
    def load(cls, encoder_file: str | Path, langid_file: str | Path, languages: list[str]) -> WhisperTeacher:
        network = pretrained_whisper_lid(encoder_file, langid_file, padded=True)
        return cls(network, languages_of(langid_file), languages)

    @torch.no_grad()
    def whisper_logits(self, wav: torch.Tensor) -> torch.Tensor:
        """Logits over Whisper's own 99 languages (`whisper_languages`)."""
        return self.network(wav.float()).float()

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return mapped_probs(self.whisper_logits(wav), self.rows)


class ModelTeacher(nn.Module):
    """Waveforms (B, samples) -> a streamlid model's probabilities (softmax of its logits, the model's own
    front end) over `languages`: the languages the teacher does not know get 0. The teacher of a
    distilled student (a CRNN learns from a larger streamlid model)."""

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
    """The teacher --teacher names: a streamlid model (base or a path) or whisper-base-langid."""
    if is_model_teacher(spec):
        model, info = load_model(spec)
        return ModelTeacher(model, info.languages, languages)
    if not encoder_file:
        raise ValueError("a Whisper --teacher needs --encoder (the teacher runs Whisper-base's encoder)")
    return WhisperTeacher.load(encoder_file, spec, languages)

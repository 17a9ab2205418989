"""Calibration: what turns a window's logits into the probabilities the stream uses (a temperature, the
open set's p(none of the model's languages), the speech check's p(no speech))."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


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

    def log_probs(
        self, logits: torch.Tensor, seconds: float | torch.Tensor, hidden: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(n, languages) logits of windows `seconds` long (one length, or one per window) -> log-probabilities (n, languages), with a
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


def open_set_features(logits: torch.Tensor, log_probs: torch.Tensor, seconds: float | torch.Tensor) -> torch.Tensor:
    """Per window: logsumexp of the logits (an energy score: low for speech unlike the training
    languages), the largest logit, the largest calibrated log-probability, and log window length."""
    return torch.stack(
        [
            torch.logsumexp(logits, dim=-1),
            logits.max(dim=-1).values,
            log_probs.max(dim=-1).values,
            torch.log(torch.as_tensor(seconds, dtype=logits.dtype, device=logits.device)).expand(logits.shape[0]),
        ],
        dim=-1,
    )


NO_SPEECH_FEATURES = "language_step_hidden"  # what no_speech_weights read: one weight per hidden unit

"""Temporal smoothing of window posteriors: an HMM forward filter over languages, and the decision on top.

Each analysis window gives log p(language | window). Between windows the language stays the same with
probability 1 - switch_prob and jumps to a uniformly chosen language otherwise; the window evidence is
tempered by `evidence_weight` because overlapping windows share audio and are not independent.
A small switch_prob reacts slowly and switches falsely rarely; a large one reacts fast and flickers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPEECH_CONFIDENT = "speech-confident"
SPEECH_UNCERTAIN = "speech-uncertain"
SILENCE = "silence"


@dataclass(frozen=True)
class SmoothingOptions:
    # defaults from the sweep in benchmarks/results/sweep*.json (streamlid-v2): of the settings within 0.02
    # of the best fraction of correct speech time, the one with the fewest false switches
    switch_prob: float = 0.3  # per hop, while speech goes on (benchmarks/results/sweep_v3.json)
    pause_switch_prob: float = 0.5  # at the first window after a pause long enough to reset the window
    evidence_weight: float = 0.5
    confident: float = 0.8  # smoothed probability needed to be confident, and to change the decision

    def __post_init__(self) -> None:
        for name in ("switch_prob", "pause_switch_prob", "confident"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {v}")
        if self.evidence_weight <= 0:
            raise ValueError("evidence_weight must be positive")


class ForwardFilter:
    """log-domain HMM forward filter with a uniform-jump transition."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.log_post = np.full(n, -np.log(n))

    def update(self, log_probs: np.ndarray, switch_prob: float, evidence_weight: float) -> np.ndarray:
        prior = (1.0 - switch_prob) * np.exp(self.log_post) + switch_prob / self.n
        log_post = np.log(prior + 1e-30) + evidence_weight * log_probs
        log_post -= np.logaddexp.reduce(log_post)
        self.log_post = log_post
        return np.exp(log_post)


@dataclass
class Decision:
    language: str | None
    confidence: float
    state: str


class Decider:
    """Holds the decided language; it changes only when another language becomes confident."""

    def __init__(self, languages: list[str], options: SmoothingOptions) -> None:
        self.languages = languages
        self.options = options
        self.filter = ForwardFilter(len(languages))
        self.probs = np.full(len(languages), 1.0 / len(languages))
        self.decision = Decision(None, 0.0, SILENCE)
        self._after_pause = False

    def pause(self) -> None:
        """A long pause: the next window may more easily start a new language."""
        self._after_pause = True

    def update(self, log_probs: np.ndarray) -> tuple[Decision, str | None]:
        """Take one window's log-probabilities; return the decision and the previous language if it changed."""
        o = self.options
        switch = o.pause_switch_prob if self._after_pause else o.switch_prob
        self._after_pause = False
        self.probs = self.filter.update(log_probs, switch, o.evidence_weight)
        top = int(np.argmax(self.probs))
        held = self.decision.language
        previous = None
        if held is None or (self.languages[top] != held and self.probs[top] >= o.confident):
            previous = held
            held = self.languages[top]
        confidence = float(self.probs[self.languages.index(held)])
        state = SPEECH_CONFIDENT if confidence >= o.confident else SPEECH_UNCERTAIN
        self.decision = Decision(held, confidence, state)
        return self.decision, previous

    def silence(self) -> Decision:
        self.decision = Decision(self.decision.language, self.decision.confidence, SILENCE)
        return self.decision

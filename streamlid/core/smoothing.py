"""Temporal smoothing of window posteriors: an HMM forward filter over languages, and the decision on top.

Each analysis window gives log p(language | window). Between windows the language stays the same with
probability 1 - switch_prob and jumps otherwise, to a language drawn from the jump prior; the window
evidence is tempered by `evidence_weight` because overlapping windows share audio and are not independent.
A small switch_prob reacts slowly and switches falsely rarely; a large one reacts fast and flickers.

The jump prior (also the prior before the first window) is uniform, except that languages the user
prefers (`prefer`: likely, not exclusive) weigh `prefer_weight` times as much, and languages already
decided in this stream `recent_weight` times as much: with 99 languages competing, a conversation that
returns to a language it had should not have to win against 98 others again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPEECH_CONFIDENT = "speech-confident"
SPEECH_UNCERTAIN = "speech-uncertain"
SPEECH_UNKNOWN = "speech-unknown"  # the decision is: none of the languages (language None)
SILENCE = "silence"


@dataclass(frozen=True)
class SmoothingOptions:
    # defaults from the sweep in benchmarks/results/sweep_v3b.json (streamlid-v3, its open set on): of the
    # settings within 0.02 of the best fraction of right speech time on held-out training speakers, the
    # one with the fewest false switches
    switch_prob: float = 0.3  # per hop, while speech goes on
    pause_switch_prob: float = 0.5  # at the first window after a pause long enough to reset the window
    evidence_weight: float = 0.5
    confident: float = 0.7  # smoothed probability needed to be confident, and to change the decision
    unknown_confident: float = 0.98  # ... to decide "none of the languages" (open set only)
    prefer_weight: float = 10.0  # jump-prior weight of a preferred language (uniform = 1)
    recent_weight: float = 1.0  # ... of a language already decided in this stream

    def __post_init__(self) -> None:
        for name in ("switch_prob", "pause_switch_prob", "confident", "unknown_confident"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {v}")
        for name in ("evidence_weight", "prefer_weight", "recent_weight"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


class ForwardFilter:
    """log-domain HMM forward filter; a switch jumps to a class drawn from `jump` (uniform by default)."""

    def __init__(self, n: int, jump: np.ndarray | None = None) -> None:
        self.n = n
        self.jump = np.full(n, 1.0 / n) if jump is None else jump / jump.sum()
        self.log_post = np.log(self.jump)

    def update(self, log_probs: np.ndarray, switch_prob: float, evidence_weight: float) -> np.ndarray:
        prior = (1.0 - switch_prob) * np.exp(self.log_post) + switch_prob * self.jump
        log_post = np.log(prior + 1e-30) + evidence_weight * log_probs
        log_post -= np.logaddexp.reduce(log_post)
        self.log_post = log_post
        return np.exp(log_post)


@dataclass
class Decision:
    language: str | None  # None: nothing decided yet, or (state speech-unknown) none of the languages
    confidence: float
    state: str


class Decider:
    """Holds the decision; nothing is decided until a class is confident, and the decision changes only
    when another class becomes confident. The classes are the languages and, with `unknown`, a last one
    for "none of them" (its decision has language None and state speech-unknown). `prefer`: languages
    more likely than the rest (see the module's doc)."""

    def __init__(
        self, languages: list[str], options: SmoothingOptions, unknown: bool = False, prefer: tuple[str, ...] = ()
    ) -> None:
        self.languages = languages
        self.options = options
        self.labels: list[str | None] = list(languages) + [None] * unknown
        n = len(self.labels)
        self.weights = np.array([options.prefer_weight if c in prefer else 1.0 for c in self.labels])
        self.filter = ForwardFilter(n, self.weights.copy())
        self.probs = self.filter.jump.copy()
        self.decision = Decision(None, 0.0, SILENCE)
        self.held: int | None = None  # index into labels of the decided class
        self._after_pause = False

    def pause(self) -> None:
        """A long pause: the next window may more easily start a new language."""
        self._after_pause = True

    def needed(self, index: int) -> float:
        """The smoothed probability class `index` needs to be decided (and, when held, to be confident)."""
        return self.options.unknown_confident if self.labels[index] is None else self.options.confident

    def update(self, log_probs: np.ndarray, hops: int = 1) -> tuple[Decision, bool]:
        """Take one window's log-probabilities over `labels`, `hops` hops after the last one (more when
        windows were skipped); return the decision and whether it changed from one decided class to
        another (not the first decision)."""
        o = self.options
        switch = o.pause_switch_prob if self._after_pause else 1.0 - (1.0 - o.switch_prob) ** hops
        self._after_pause = False
        self.probs = self.filter.update(log_probs, switch, o.evidence_weight)
        top = int(self.probs.argmax())
        changed = False
        if top != self.held and self.probs[top] >= self.needed(top):
            changed = self.held is not None
            self.held = top
            if self.labels[top] is not None and o.recent_weight > self.weights[top]:
                self.weights[top] = o.recent_weight
                self.filter.jump = self.weights / self.weights.sum()
        if self.held is None:
            self.decision = Decision(None, float(self.probs[top]), SPEECH_UNCERTAIN)
            return self.decision, False
        confidence = float(self.probs[self.held])
        if self.labels[self.held] is None:
            state = SPEECH_UNKNOWN  # held like a language; its confidence says how sure
        else:
            state = SPEECH_CONFIDENT if confidence >= o.confident else SPEECH_UNCERTAIN
        self.decision = Decision(self.labels[self.held], confidence, state)
        return self.decision, changed

    def silence(self) -> Decision:
        self.decision = Decision(self.decision.language, self.decision.confidence, SILENCE)
        return self.decision

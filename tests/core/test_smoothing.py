"""smoothing.py: the HMM forward filter over languages and the decision with hysteresis on top."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlid.core.smoothing import (
    SILENCE,
    SPEECH_CONFIDENT,
    SPEECH_UNCERTAIN,
    SPEECH_UNKNOWN,
    Decider,
    ForwardFilter,
    SmoothingOptions,
)

LANGS = ["eng", "deu", "fra", "spa"]


def evidence(probs: dict[str, float]) -> np.ndarray:
    """log p(language | window) for the given probabilities (the rest shared equally)."""
    p = np.array([probs.get(c, 0.0) for c in LANGS], dtype=np.float64)
    rest = [i for i, c in enumerate(LANGS) if c not in probs]
    if rest:
        p[rest] = (1.0 - p.sum()) / len(rest)
    return np.log(p)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def test_filter_starts_uniform_and_uniform_evidence_keeps_it():
    f = ForwardFilter(4)
    np.testing.assert_allclose(np.exp(f.log_post), 0.25)
    for _ in range(10):
        p = f.update(np.log(np.full(4, 0.25)), 0.05, 0.5)
    np.testing.assert_allclose(p, 0.25, rtol=1e-9)


def test_without_switching_the_filter_accumulates_tempered_evidence():
    rng = np.random.default_rng(0)
    lps = [np.log(softmax(rng.standard_normal(4))) for _ in range(6)]
    f = ForwardFilter(4)
    for lp in lps:
        p = f.update(lp, switch_prob=0.0, evidence_weight=0.5)
    np.testing.assert_allclose(p, softmax(0.5 * np.sum(lps, axis=0)), rtol=1e-6)


def test_with_certain_switching_only_the_last_window_counts():
    rng = np.random.default_rng(1)
    f = ForwardFilter(4)
    for _ in range(5):
        lp = np.log(softmax(rng.standard_normal(4)))
        p = f.update(lp, switch_prob=1.0, evidence_weight=0.7)
    np.testing.assert_allclose(p, softmax(0.7 * lp), rtol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.floats(-60, 0), min_size=4, max_size=4), min_size=1, max_size=30),
    st.floats(0, 1),
    st.floats(0.05, 3),
)
def test_filter_output_is_always_a_distribution(windows, switch, weight):
    f = ForwardFilter(4)
    for w in windows:
        p = f.update(np.array(w), switch, weight)
        assert np.isfinite(p).all() and (p >= 0).all()
        assert abs(p.sum() - 1.0) < 1e-9


def test_consistent_evidence_raises_the_posterior_monotonically():
    f = ForwardFilter(4)
    ps = [f.update(evidence({"deu": 0.6}), 0.05, 0.5)[1] for _ in range(15)]
    assert all(b > a for a, b in zip(ps, ps[1:], strict=False))
    assert ps[-1] > 0.9


def test_nothing_is_decided_until_a_language_is_confident():
    d = Decider(LANGS, SmoothingOptions(confident=0.8))
    assert d.decision.language is None and d.decision.state == SILENCE
    decision, changed = d.update(evidence({"fra": 0.4}))
    # an uncertain first window no longer decides (it used to, and then flickered)
    assert decision.language is None and decision.state == SPEECH_UNCERTAIN and not changed
    assert decision.confidence == pytest.approx(d.probs.max())
    for _ in range(30):
        decision, changed = d.update(evidence({"fra": 0.9}))
        assert not changed  # the first decision is not a change
        if decision.language:
            break
    assert decision.language == "fra" and decision.state == SPEECH_CONFIDENT
    assert d.probs[LANGS.index("fra")] >= 0.8


def test_unknown_is_a_class_of_its_own():
    d = Decider(LANGS, SmoothingOptions(confident=0.7, unknown_confident=0.8), unknown=True)
    assert d.labels == LANGS + [None] and d.probs.size == 5
    p_unknown = np.log(np.array([0.05, 0.05, 0.05, 0.05, 0.8]))
    for _ in range(10):
        decision, changed = d.update(p_unknown)
    assert decision.language is None and decision.state == SPEECH_UNKNOWN and not changed
    for _ in range(30):
        decision, changed = d.update(np.log(np.array([0.85, 0.05, 0.03, 0.02, 0.05])))
        if changed:
            break
    assert changed and decision.language == "eng" and decision.state == SPEECH_CONFIDENT


def test_confidence_state_follows_the_threshold():
    d = Decider(LANGS, SmoothingOptions(confident=0.7))
    states = []
    for _ in range(20):
        decision, _ = d.update(evidence({"spa": 0.7}))
        states.append((decision.confidence >= 0.7, decision.state))
    assert all((s == SPEECH_CONFIDENT) == conf for conf, s in states)
    assert states[-1][1] == SPEECH_CONFIDENT


def test_decision_holds_until_another_language_is_confident():
    opts = SmoothingOptions(confident=0.7)
    d = Decider(LANGS, opts)
    for _ in range(20):
        d.update(evidence({"eng": 0.8}))
    assert d.decision.language == "eng" and d.decision.state == SPEECH_CONFIDENT
    changed_at, held_while_behind = None, 0
    for i in range(60):
        decision, changed = d.update(evidence({"deu": 0.6, "eng": 0.2}))
        top = LANGS[int(np.argmax(d.probs))]
        if changed:
            changed_at = i
            assert decision.language == "deu"
            assert d.probs[LANGS.index("deu")] >= opts.confident
            break
        # not yet confident in the newcomer: the decision stays, even where it is no longer on top
        assert decision.language == "eng"
        if top == "deu":
            held_while_behind += 1
            assert decision.state == SPEECH_UNCERTAIN
            assert decision.confidence == pytest.approx(d.probs[LANGS.index("eng")])
    assert changed_at is not None and held_while_behind >= 1


def test_silence_keeps_the_language():
    d = Decider(LANGS, SmoothingOptions())
    for _ in range(10):
        d.update(evidence({"spa": 0.9}))
    held = d.decision
    s = d.silence()
    assert s.state == SILENCE and s.language == "spa" and s.confidence == held.confidence


def _windows_to_switch(pause: bool) -> int:
    d = Decider(LANGS, SmoothingOptions(switch_prob=0.01, pause_switch_prob=0.5))
    for _ in range(30):
        d.update(evidence({"eng": 0.9}))
    if pause:
        d.pause()
    for n in range(1, 100):
        _, changed = d.update(evidence({"fra": 0.9}))
        if changed:
            return n
    raise AssertionError("never switched")


def test_a_pause_makes_a_new_language_quicker_to_take_over():
    assert _windows_to_switch(pause=True) < _windows_to_switch(pause=False)


def test_pause_applies_to_one_window_only():
    a = Decider(LANGS, SmoothingOptions(switch_prob=0.05, pause_switch_prob=0.05, recent_weight=1.0))
    b = Decider(LANGS, SmoothingOptions(switch_prob=0.05, pause_switch_prob=0.9, recent_weight=1.0))
    lp1, lp2 = evidence({"eng": 0.9}), evidence({"deu": 0.5})
    for d in (a, b):
        d.update(lp1)
        d.pause()
        d.update(lp2)
    assert not np.allclose(a.probs, b.probs)
    before = b.probs.copy()
    a2 = ForwardFilter(4)
    a2.log_post = np.log(before)
    expected = a2.update(lp2, 0.05, b.options.evidence_weight)  # the next window uses the normal switch_prob
    b.update(lp2)
    np.testing.assert_allclose(b.probs, expected, rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"switch_prob": -0.1},
        {"switch_prob": 1.5},
        {"pause_switch_prob": 2},
        {"confident": 1.1},
        {"evidence_weight": 0},
        {"prefer_weight": 0},
        {"recent_weight": -1},
    ],
)
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        SmoothingOptions(**kwargs)


def windows_to_decide(d: Decider, language: str, p: float) -> int:
    for n in range(1, 200):
        decision, _ = d.update(evidence({language: p}))
        if decision.language == language:
            return n
    raise AssertionError("never decided")


def test_a_preferred_language_starts_likelier_and_is_decided_sooner_not_exclusively():
    opts = SmoothingOptions(switch_prob=0.1, prefer_weight=10.0)
    d = Decider(LANGS, opts, prefer=("fra",))
    assert d.probs[LANGS.index("fra")] == pytest.approx(10 / 13)  # the prior before any window
    assert d.probs.sum() == pytest.approx(1.0)
    plain = windows_to_decide(Decider(LANGS, opts), "fra", 0.5)
    assert windows_to_decide(Decider(LANGS, opts, prefer=("fra",)), "fra", 0.5) < plain
    # not exclusive: a language that is not preferred is still decided, only later
    assert windows_to_decide(Decider(LANGS, opts, prefer=("fra",)), "deu", 0.6) >= windows_to_decide(
        Decider(LANGS, opts), "deu", 0.6
    )


def test_a_language_decided_before_comes_back_sooner_with_recent_weight():
    def back_to_eng(recent_weight: float) -> int:
        d = Decider(LANGS, SmoothingOptions(switch_prob=0.05, recent_weight=recent_weight))
        windows_to_decide(d, "eng", 0.9)
        windows_to_decide(d, "deu", 0.9)
        return windows_to_decide(d, "eng", 0.3)

    assert back_to_eng(10.0) < back_to_eng(1.0)

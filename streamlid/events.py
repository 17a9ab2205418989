"""The one event schema every sink uses (JSON lines, the live line, the dashboard, the websocket feed).

Every event is a JSON-serialisable dict with `type`, `seq` (per stream, from 0, no gaps) and `t`
(seconds of stream audio since the start). The types and their fields:

- `vad`         speech (bool), level_db: the VAD opened or closed a speech segment
- `posteriors`  probs {code: p} (smoothed), window_probs {code: p} (this window alone), speech (true),
                window (seconds analysed); on an open-set stream also unknown and window_unknown, p(none
                of the languages), which with probs sums to 1
- `decision`    language (code or null), name, confidence, state (speech-confident | speech-uncertain
                | speech-unknown | silence); sent whenever the language or the state changes. Language
                null with speech-uncertain: nothing decided yet; with speech-unknown: none of the
                languages (open set)
- `change`      from, to (codes, or null for none of the languages), confidence: the decision changed
- `level`       level_db, speech: the input level, every `level_interval` seconds (off by default)
- `dropped`     audio was lost. source "ring": the consumer fell behind and the ring buffer overwrote
                samples (samples, seconds, total_seconds); source "input": the audio device reported
                input overflows (overflows, total_overflows)
- `summary`     language, name, confidence, state, top [{language, name, p}] (the closest languages, also
                when the state is speech-unknown), unknown (open set only), speech_seconds, segments
                [{start, end, language}], stats: sent once when the stream ends
"""

from __future__ import annotations

import json

from .languages import name

EVENT_TYPES = ("vad", "posteriors", "decision", "change", "level", "dropped", "summary")


def rounded(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def probs_dict(languages: list[str], probs) -> dict[str, float]:
    return {code: rounded(p) for code, p in zip(languages, probs, strict=True)}


def top_list(languages: list[str], probs, k: int = 3) -> list[dict]:
    order = sorted(range(len(languages)), key=lambda i: -probs[i])[:k]
    return [{"language": languages[i], "name": name(languages[i]), "p": rounded(probs[i])} for i in order]


def to_json(event: dict) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))

"""The one event schema every sink uses (JSON lines, the live line, the dashboard, the websocket feed).
Its one written form is the JSON Schema `protocol.schema.json`: the types and the fields of each are read
from it here, and `check_fields` holds every event LanguageStream writes to it.

Every event is a JSON-serialisable dict with `type`, `seq` (per stream, from 0, no gaps) and `t`
(seconds of stream audio since the start). The types and their fields:

- `vad`         speech (bool), level_db: the VAD opened or closed a speech segment
- `posteriors`  probs {code: p} (smoothed), window_probs {code: p} (this window alone), speech (false when
                the model's speech check found no speech in the window: then probs are unchanged), window
                (seconds analysed), skipped; on an open-set stream also unknown and window_unknown,
                p(none of the languages), which with probs sums to 1; with a speech check no_speech
- `decision`    language (code or null), name, confidence, state (speech-confident | speech-uncertain
                | speech-unknown | silence: no speech, or none the speech check believes); sent whenever the
                language or the state changes. Language
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
from pathlib import Path

import numpy as np
import orjson

from .languages import name

SCHEMA_FILE = Path(__file__).resolve().parent / "protocol.schema.json"  # package data (pyproject.toml)
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
DEFINITIONS = SCHEMA["$defs"]
EVENT_TYPES = tuple(ref["$ref"].rsplit("/", 1)[1] for ref in DEFINITIONS["event"]["oneOf"])
STREAM_FIELD = "stream"  # added by the server to the events it sends; not the stream's own


def event_fields(kind: str) -> tuple[frozenset[str], frozenset[str]]:
    """(required, allowed) fields of an event of type `kind`, as the schema has them (without `stream`)."""
    base = set(DEFINITIONS["event_base"]["required"]) - {STREAM_FIELD}
    d = DEFINITIONS[kind]
    required = base | set(d["required"]) | {"type"}
    return frozenset(required), frozenset(required | set(d["properties"]))


FIELDS = {kind: event_fields(kind) for kind in EVENT_TYPES}


def check_fields(event: dict) -> dict:
    """`event` if its type and fields are the schema's; ValueError otherwise (a bug, not bad input)."""
    if event.get("type") not in FIELDS:
        raise ValueError(f"event of unknown type {event.get('type')!r}")
    required, allowed = FIELDS[event["type"]]
    if not required <= event.keys() <= allowed:
        raise ValueError(f"{event['type']} event with fields {sorted(event)}: the schema wants {sorted(required)}"
                         f" and allows {sorted(allowed)}")  # fmt: skip
    return event


def rounded(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def probs_dict(languages: list[str], probs) -> dict[str, float]:
    """{code: p rounded to 4 digits}; vectorised, since every window's event carries one for every language."""
    return dict(zip(languages, np.asarray(probs, dtype=np.float64).round(4).tolist(), strict=True))


def top_list(languages: list[str], probs, k: int = 3) -> list[dict]:
    order = sorted(range(len(languages)), key=lambda i: -probs[i])[:k]
    return [{"language": languages[i], "name": name(languages[i]), "p": rounded(probs[i])} for i in order]


def to_json(event: dict) -> str:
    """One line of compact JSON, UTF-8 as it is. orjson, not json: a `posteriors` event carries two
    probabilities for each of ~100 languages, and json's float formatting made encoding it cost more than
    the whole step that made it (70 against 9 microseconds)."""
    try:
        return orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:  # what orjson refuses: a lone surrogate (a file name that is not UTF-8), subclasses of
        return json.dumps(event, separators=(",", ":"))  # str or float, huge ints; escaped to ASCII here

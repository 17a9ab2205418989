"""Event sinks for the terminal: JSON lines and the compact live line."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from ..core.events import to_json
from ..core.languages import name


class JsonLines:
    """One JSON object per event per line (the schema in events.py)."""

    def __init__(self, out: TextIO | None = None, types: set[str] | None = None) -> None:
        self.out, self.types = out or sys.stdout, types

    def __call__(self, events: list[dict]) -> None:
        for e in events:
            if self.types is None or e["type"] in self.types:
                self.out.write(to_json(e) + "\n")
        self.out.flush()


def bar(p: float, width: int = 10) -> str:
    filled = int(round(p * width))
    return "█" * filled + "·" * (width - filled)


class LiveLine:
    """A compact status line, rewritten in place on a terminal; one line per decision change otherwise."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.decision: dict | None = None
        self.probs: dict[str, float] = {}
        self.unknown_p = 0.0  # smoothed p(none of the languages), when the stream can decide that
        self.unknown_held = False  # the decision is "none of the languages"
        self.t = 0.0
        self.speech = False
        self.sound = False  # the VAD hears something the speech check says is not speech
        self.dropped = 0.0

    def __call__(self, events: list[dict]) -> None:
        changed = False
        for e in events:
            kind = e["type"]
            self.t = e["t"]
            if kind == "posteriors":
                self.probs = e["probs"]
                self.unknown_p = e.get("unknown", 0.0)
                self.sound = not e.get("speech", True)
            elif kind == "decision":
                self.decision, changed = e, True
                if e["state"] != "silence":
                    self.unknown_held = e["state"] == "speech-unknown"
            elif kind == "vad":
                self.speech = e["speech"]
                self.sound = self.sound and self.speech
            elif kind == "dropped":
                self.dropped = e.get("total_seconds", self.dropped)
                self._print(
                    f"warning: audio dropped ({e.get('seconds', e.get('overflows'))} {e['source']})", final=True
                )
            elif kind == "summary":
                self._print(self.summary_line(e), final=True)
                return
        if self.tty or changed:
            width = shutil.get_terminal_size().columns if self.tty else None
            self._print(self.status_line(width), final=not self.tty)

    def status_line(self, width: int | None = None) -> str:
        """The redrawn line, at most `width - 1` characters (a wrapped line could not be redrawn in place):
        the probability list and then the bar go first when the terminal is narrow."""
        d = self.decision or {}
        lang = d.get("language")
        state = d.get("state", "silence")
        unknown = lang is None and self.unknown_held  # also through the silence after it
        label = f"{name(lang)} ({lang})" if lang else "other language" if unknown else "—"
        top = "  ".join(f"{c} {p:.2f}" for c, p in sorted(self.probs.items(), key=lambda kv: -kv[1])[:3])
        # the decided class's smoothed probability now (decision events come only when the language or state
        # changes; the probability moves on)
        p_now = self.unknown_p if unknown else self.probs.get(lang, d.get("confidence", 0.0))
        mic = "sound  " if self.speech and self.sound else "speech " if self.speech else "silence"
        drop = f"  dropped {self.dropped:.1f}s" if self.dropped else ""
        head = f"[{self.t:7.2f}s] {mic} {label:<20}"
        tail = f"p {p_now:.2f} {state:<16}"
        for line in (
            f"{head} {bar(p_now)} {tail} | {top}{drop}",
            f"{head} {bar(p_now)} {tail}{drop}",
            f"{head} {tail}{drop}",
            f"{head} {tail}",
        ):
            if width is None or len(line) < width:
                return line
        return line[: max(0, width - 1)]

    def summary_line(self, e: dict) -> str:
        """The end of the stream. Its p is the whole stream's (all the speech together), which can differ
        from the last decision's p, the smoothed probability of recent windows."""
        if e["state"] == "speech-unknown":
            guess = f"; closest {e['top'][0]['name']} ({e['top'][0]['language']})" if e["top"] else ""
            return (
                f"end: not one of the model's languages (overall p {e['unknown']:.2f}) over"
                f" {e['speech_seconds']:.1f} s of speech{guess}"
            )
        if e["language"] is None:
            return f"end: no speech heard ({e['t']:.1f} s of audio)"
        last = (self.decision or {}).get("language")
        differs = f"; the last decision was {name(last)} ({last})" if last and last != e["language"] else ""
        return (
            f"end: {e['name']} ({e['language']}), overall p {e['confidence']:.2f} over"
            f" {e['speech_seconds']:.1f} s of speech{differs}"
        )

    def _print(self, text: str, final: bool) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()

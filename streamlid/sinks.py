"""Event sinks for the terminal: JSON lines and the compact live line."""

from __future__ import annotations

import sys
from typing import TextIO

from .events import to_json
from .languages import name


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
        self.t = 0.0
        self.speech = False
        self.dropped = 0.0

    def __call__(self, events: list[dict]) -> None:
        changed = False
        for e in events:
            kind = e["type"]
            self.t = e["t"]
            if kind == "posteriors":
                self.probs = e["probs"]
            elif kind == "decision":
                self.decision, changed = e, True
            elif kind == "vad":
                self.speech = e["speech"]
            elif kind == "dropped":
                self.dropped = e.get("total_seconds", self.dropped)
                self._print(
                    f"warning: audio dropped ({e.get('seconds', e.get('overflows'))} {e['source']})", final=True
                )
            elif kind == "summary":
                self._print(self.summary_line(e), final=True)
                return
        if self.tty or changed:
            self._print(self.status_line(), final=not self.tty)

    def status_line(self) -> str:
        d = self.decision or {}
        lang = d.get("language")
        label = f"{name(lang)} ({lang})" if lang else "—"
        state = d.get("state", "silence")
        top = "  ".join(f"{c} {p:.2f}" for c, p in sorted(self.probs.items(), key=lambda kv: -kv[1])[:3])
        # decision events come only when the language or state changes; the smoothed probability moves on
        confidence = self.probs.get(lang, d.get("confidence", 0.0))
        mic = "speech " if self.speech else "silence"
        drop = f"  dropped {self.dropped:.1f}s" if self.dropped else ""
        return f"[{self.t:7.2f}s] {mic} {label:<20} {bar(confidence)} {confidence:.2f} {state:<16} | {top}{drop}"

    @staticmethod
    def summary_line(e: dict) -> str:
        if e["language"] is None:
            return f"end: no speech heard ({e['t']:.1f} s of audio)"
        return f"end: {e['name']} ({e['language']}) {e['confidence']:.2f} over {e['speech_seconds']:.1f} s of speech"

    def _print(self, text: str, final: bool) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()

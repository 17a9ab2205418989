"""The terminal dashboard (`streamlid listen --tui`), built with Textual.

Bars for the most probable languages (smoothed probabilities, best first), the decision with its confidence and state, an input level
and VAD meter, a timeline of the decided language over the last minute with its change points, and the
source, model, compute and dropped-audio counters. Keys: q quit, p pause (freezes the view; the analysis
goes on and the view catches up), r reset (the smoothing and the timeline start afresh), l restrict the
languages. Works in 80x24 and over SSH (plain text, 16 colours are enough).

The pipeline (`pump`) runs in a Textual thread worker; its events reach the app as messages
(`post_message` is thread-safe and does not wait), so neither side ever blocks the other. Commands from
the keys (reset, languages) are queued and run on the pipeline thread between two steps.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from ..core.languages import name, parse_languages
from ..core.smoothing import SILENCE, SPEECH_UNCERTAIN, SPEECH_UNKNOWN
from ..core.stream import LanguageStream
from ..core.threads import favour_model_thread
from ..model.checkpoint import model_name
from .sources import pump

# 12 distinct colours (Tableau 10 and two more); terminals without true colour get the nearest of 256
COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#17becf",
    "#bcbd22",
    "#bab0ac",
)
SPAN = 60.0  # seconds the timeline shows
TOP_BARS = 8  # bars for the most probable languages (a model may have 99)
UNKNOWN_MARK = "?"  # the timeline's and the change list's mark for none of the languages


class DashboardState:
    """What the dashboard shows, folded from events; no widgets here."""

    def __init__(self, languages: list[str], span: float = SPAN) -> None:
        self.span = span
        self.set_languages(languages)

    def set_languages(self, languages: list[str]) -> None:
        """Start afresh (a reset, or other languages): uniform bars, no decision, an empty timeline."""
        self.languages = list(languages)
        self.probs = {c: 1.0 / len(languages) for c in languages}
        self.unknown_p = 0.0  # smoothed p(none of the languages), when the stream can decide that
        self.unknown_held = False  # the decision is "none of the languages" (through the silence after it)
        self.decision: dict | None = None
        self.timeline: list[tuple[float, str | None, bool]] = []  # (t, language, confident) at each decision
        self.changes: list[dict] = []
        self.summary: dict | None = None
        self.level_db, self.speech, self.t = -120.0, False, 0.0
        self.sound = False  # the VAD hears something the speech check says is not speech
        self.dropped_seconds, self.overflows = 0.0, 0

    def colour(self, code: str | None) -> str:
        return COLOURS[self.languages.index(code) % len(COLOURS)] if code in self.languages else "white"

    def apply(self, events: list[dict]) -> bool:
        """Fold events in; True when the set of languages changed (the bars must be rebuilt)."""
        rebuilt = False
        for e in events:
            self.t = max(self.t, e["t"])
            kind = e["type"]
            if kind == "posteriors":
                if list(e["probs"]) != self.languages:
                    self.set_languages(list(e["probs"]))
                    rebuilt = True
                self.probs = dict(e["probs"])
                self.unknown_p = e.get("unknown", 0.0)
                self.sound = not e.get("speech", True)
            elif kind == "decision":
                self.decision = e
                speaking = e["state"] != SILENCE
                if speaking:
                    self.unknown_held = e["state"] == SPEECH_UNKNOWN
                language = UNKNOWN_MARK if e["state"] == SPEECH_UNKNOWN else e["language"]
                self.timeline.append((e["t"], language if speaking else None, e["state"] != SPEECH_UNCERTAIN))
            elif kind == "change":
                self.changes.append(e)
            elif kind in ("level", "vad"):
                self.level_db, self.speech = e["level_db"], e["speech"]
                self.sound = self.sound and self.speech
            elif kind == "dropped":
                self.dropped_seconds = e.get("total_seconds", self.dropped_seconds)
                self.overflows = e.get("total_overflows", self.overflows)
            elif kind == "summary":
                self.summary = e
        start = self.t - self.span
        while len(self.timeline) > 1 and self.timeline[1][0] <= start:
            self.timeline.pop(0)
        self.changes = [c for c in self.changes if c["t"] > start]
        return rebuilt

    def timeline_cells(self, width: int) -> list[tuple[str, str]]:
        """The last `span` seconds as `width` cells of (character, colour): the language's initial,
        upper case when confident, lower case when not, '?' for none of the languages, '·' for silence,
        ' ' before the stream began; a cell holding a change point is '|'."""
        step = self.span / width
        start = max(self.t, self.span) - self.span
        cells, k, current = [], 0, (None, False, False)  # language, confident, seen
        change_cells = {int((c["t"] - start) / step) for c in self.changes}
        for i in range(width):
            end = start + (i + 1) * step
            while k < len(self.timeline) and self.timeline[k][0] < end:
                current = (self.timeline[k][1], self.timeline[k][2], True)
                k += 1
            language, confident, seen = current
            if start + i * step > self.t or not seen:
                cells.append((" ", "white"))
            elif i in change_cells:
                cells.append(("|", "bold white"))
            elif language is None:
                cells.append(("·", "bright_black"))
            elif language == UNKNOWN_MARK:
                cells.append((UNKNOWN_MARK, "bold magenta"))
            else:
                initial = language[0].upper() if confident else language[0]
                cells.append((initial, self.colour(language)))
        return cells


def solid(p: float, width: int, colour: str) -> Text:
    """A bar of `width` cells filled to `p` in `colour` (coloured cells, so no glyph widths to go wrong)."""
    filled = int(round(min(max(p, 0.0), 1.0) * width))
    return Text(" " * filled, style=f"on {colour}").append(" " * (width - filled), style="on grey15")


class Events(Message):
    def __init__(self, events: list[dict]) -> None:
        super().__init__()
        self.events = events


class CommandApplied(Message):
    """The pipeline ran a command: the events after this one reflect it."""


class PipelineFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class LanguageBar(Widget):
    """One rank of the bars: the language now at that rank, its name, a bar and its smoothed probability."""

    DEFAULT_CSS = "LanguageBar { height: 1; }"
    code: reactive[str] = reactive("")
    value: reactive[float] = reactive(0.0)
    decided: reactive[bool] = reactive(False)

    def __init__(self, rank: int, code: str, colour: str) -> None:
        super().__init__(id=f"bar-{rank}")
        self.code, self.colour = code, colour

    def render(self) -> Text:
        text = Text(
            f"{'>' if self.decided else ' '} {self.code} {name(self.code)[:11]:<11} ",
            style="bold" if self.decided else "",
        )
        text.append_text(solid(self.value, max(5, self.size.width - 24), self.colour))
        return text.append(f" {self.value:5.2f}")


class Dashboard(App[int]):
    TITLE = "streamlid"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #info { height: 1; background: $panel; color: $text; }
    #decision { height: 4; border: round $accent; padding: 0 1; }
    #bars { height: auto; max-height: 15; border: round $primary; scrollbar-size-vertical: 1; }
    #level { height: 1; padding: 0 1; }
    #timeline { height: 2; padding: 0 1; }
    #languages { dock: bottom; display: none; }
    #languages.shown { display: block; }
    """
    BINDINGS = [
        Binding("q", "quit_dashboard", "quit"),
        Binding("p", "pause", "pause"),
        Binding("r", "reset", "reset"),
        Binding("l", "languages", "languages"),
        Binding("escape", "close_input", show=False),
    ]

    def __init__(
        self, source, stream: LanguageStream, info: dict, also: Callable[[list[dict]], None] | None = None
    ) -> None:
        super().__init__()
        self.source, self.stream, self.info, self.also = source, stream, info, also
        self.state = DashboardState(stream.languages)
        self.paused = False
        self.error: str | None = None
        self.stop = threading.Event()
        self.commands: queue.SimpleQueue[Callable[[LanguageStream], None]] = queue.SimpleQueue()
        self.unapplied = 0  # commands sent to the pipeline and not yet run there

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="info")
        yield Static(id="decision")
        with VerticalScroll(id="bars"):
            yield from self._bars()
        yield Static(id="level")
        yield Static(id="timeline")
        yield Input(placeholder="languages, e.g. eng,deu (empty: all); Enter applies, Esc cancels", id="languages")
        yield Footer()

    def _bars(self) -> list[LanguageBar]:
        shown = self.state.languages[:TOP_BARS]
        return [LanguageBar(i, c, self.state.colour(c)) for i, c in enumerate(shown)]

    def on_mount(self) -> None:
        self.query_one("#bars").border_title = "smoothed probabilities"
        self.refresh_view()
        favour_model_thread()  # rendering would starve the pipeline thread's model calls
        self.run_worker(self._run_pipeline, thread=True, name="pipeline")

    # -- the pipeline thread ----------------------------------------------------------------------
    def _run_pipeline(self) -> None:
        source = _Commanded(self.source, self.commands)

        def on_events(events: list[dict]) -> None:
            self.post_message(Events(events))
            if self.also:
                self.also(events)

        try:
            pump(source, self.stream, on_events, self.stop)
        except Exception as e:  # an audio device that went away: shown, then the app ends
            self.post_message(PipelineFailed(str(e)))

    def command(self, fn: Callable[[LanguageStream], None]) -> None:
        """Run `fn(stream)` on the pipeline thread; until it has run, older events are not shown."""

        def run(stream: LanguageStream) -> None:
            fn(stream)
            self.post_message(CommandApplied())

        self.unapplied += 1
        self.commands.put(run)

    def on_command_applied(self, message: CommandApplied) -> None:
        self.unapplied -= 1

    async def on_events(self, message: Events) -> None:
        events = message.events
        if self.unapplied:  # made before a reset or a language change: stale
            events = [e for e in events if e["type"] == "summary"]
        if self.state.apply(events):
            await self._rebuild_bars()
        if not self.paused:
            self.refresh_view()

    def on_pipeline_failed(self, message: PipelineFailed) -> None:
        self.error = message.error
        self.exit(2)

    # -- the view ---------------------------------------------------------------------------------
    def refresh_view(self) -> None:
        s, info = self.state, self.info
        dropped = f"dropped {s.dropped_seconds:.1f} s" + (f", {s.overflows} overflows" if s.overflows else "")
        source = (Path(str(info.get("source", ""))).name or str(info.get("source", "")))[:24]
        self.query_one("#info", Static).update(
            f" {source} · {info.get('sample_rate', 0)} Hz {info.get('channels', 1)} ch · {model_name(info['model']) if info.get('model') else ''}"
            f" on {str(info.get('compute', 'cpu')).upper()} · {dropped}{' · PAUSED' if self.paused else ''}"
            + (f" · only {','.join(s.languages)}" if s.languages != self.stream.model_languages else "")
        )
        self.query_one("#decision", Static).update(self.decision_text())
        decided = s.decision["language"] if s.decision else None
        ranked = sorted(s.languages, key=lambda c: -s.probs.get(c, 0.0))
        for widget, code in zip(self.query(LanguageBar), ranked, strict=False):
            widget.code, widget.colour = code, s.colour(code)
            widget.value, widget.decided = s.probs.get(code, 0.0), code == decided
        level = Text(" input ")
        fill = max(0.0, min(1.0, (s.level_db + 60.0) / 60.0))
        level.append_text(solid(fill, 30, "green" if s.speech else "bright_black"))
        level.append(f" {s.level_db:6.1f} dB  ")
        if s.speech and s.sound:
            level.append("◐ sound, not speech", style="yellow")
        else:
            level.append("● speech" if s.speech else "○ silence", style="bold green" if s.speech else "bright_black")
        level.append(f"   t {s.t:7.1f} s")
        self.query_one("#level", Static).update(level)
        self.query_one("#timeline", Static).update(self.timeline_text())

    def decision_text(self) -> Text:
        s = self.state
        if s.summary is not None:
            e = s.summary
            text = Text().append("ended: ", style="bold")
            if e["state"] == SPEECH_UNKNOWN:
                closest = f", closest {e['top'][0]['name']}" if e["top"] else ""
                text.append("another language", style="bold magenta")
                return text.append(
                    f"  (not one of the model's: p {e['unknown']:.2f}{closest}) over {e['speech_seconds']:.1f} s"
                    " of speech\nq quits"
                )
            if e["language"] is None:
                return text.append("no speech heard")
            text.append(f"{e['name']} ({e['language']})", style=f"bold {s.colour(e['language'])}")
            return text.append(f"  overall p {e['confidence']:.2f} over {e['speech_seconds']:.1f} s of speech\nq quits")
        d = s.decision
        if d is not None and d["language"] is None and s.unknown_held:
            text = Text().append("ANOTHER LANGUAGE", style="bold magenta")
            text.append("  not one of the model's languages")
            text.append(f"\np(another language) {s.unknown_p:.2f} ")
            text.append_text(solid(s.unknown_p, 20, "magenta"))
            return text.append(f"  {d['state']}", style="magenta")
        if d is None or d["language"] is None:
            return Text("listening…  no language decided yet", style="bright_black")
        text = Text().append(f"{d['name'].upper()}  ({d['language']})", style=f"bold {s.colour(d['language'])}")
        # decision events come only when the language or state changes; the smoothed probability moves on
        confidence = s.probs.get(d["language"], d["confidence"])
        text.append(f"\np now {confidence:.2f} ")
        text.append_text(solid(confidence, 20, s.colour(d["language"])))
        state_style = {"speech-confident": "bold green", "speech-uncertain": "yellow"}.get(d["state"], "bright_black")
        return text.append(f"  {d['state']}", style=state_style)

    def timeline_text(self) -> Text:
        width = max(10, self.query_one("#timeline").size.width - 2)
        changes = "  ".join(
            f"{c['t']:.1f}s {c['from'] or UNKNOWN_MARK}→{c['to'] or UNKNOWN_MARK}" for c in self.state.changes[-3:]
        )
        text = Text(f"decided, last {SPAN:.0f} s · ", style="bright_black")
        text.append("changes: " + (changes or "none"), style="" if changes else "bright_black")
        text.append("\n")
        for char, colour in self.state.timeline_cells(width):
            text.append(char, style=colour)
        return text

    async def _rebuild_bars(self) -> None:
        container = self.query_one("#bars")
        await container.remove_children()
        await container.mount(*self._bars())

    # -- keys -------------------------------------------------------------------------------------
    def action_quit_dashboard(self) -> None:
        self.stop.set()
        self.exit(0)

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.refresh_view()

    def action_reset(self) -> None:
        self.command(lambda stream: stream.set_languages(stream.languages))
        self.state.set_languages(self.state.languages)
        self.refresh_view()

    def action_languages(self) -> None:
        field = self.query_one("#languages", Input)
        field.value = ",".join(self.state.languages) if self.state.languages != self.stream.model_languages else ""
        field.add_class("shown")
        field.focus()

    def action_close_input(self) -> None:
        self.query_one("#languages", Input).remove_class("shown")

    async def on_input_submitted(self, message: Input.Submitted) -> None:
        try:
            languages = parse_languages(message.value, self.stream.model_languages)
        except ValueError as e:  # said on the field itself: a notification would cover it
            message.input.border_title = f"error: {e}"
            return
        message.input.border_title = ""
        self.command(lambda stream: stream.set_languages(languages))
        self.state.set_languages(languages or self.stream.model_languages)
        await self._rebuild_bars()
        self.action_close_input()
        self.refresh_view()


class _Commanded:
    """The source, with the dashboard's queued commands run on the pipeline thread before each step."""

    def __init__(self, source, commands: queue.SimpleQueue) -> None:
        self.source, self.commands = source, commands
        self.sample_rate, self.channels = source.sample_rate, source.channels

    def start(self, stream: LanguageStream) -> None:
        self.source.start(stream)

    def feed(self, stream: LanguageStream, interval: float) -> bool:
        while not self.commands.empty():
            self.commands.get()(stream)
        return self.source.feed(stream, interval)

    def stop(self) -> None:
        self.source.stop()


def run_dashboard(source, stream: LanguageStream, info: dict, also: Callable[[list[dict]], None] | None = None) -> int:
    """Run the dashboard until q (or the source fails); the exit status. `also` gets every event too."""
    app = Dashboard(source, stream, info, also)
    code = app.run()
    app.stop.set()
    if app.error:
        print(f"streamlid listen: error: {app.error}", file=sys.stderr)
    return code or 0

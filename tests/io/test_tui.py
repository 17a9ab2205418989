"""The Textual dashboard, driven by Textual's pilot in 80x24, on real events from real speech."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from support import FIXTURES, RIGHT

from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.io.sources import FileSource
from streamlid.io.tui import TOP_BARS, Dashboard, DashboardState, LanguageBar
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.classifier import Classifier

REAL_MODEL = DEFAULT_MODEL
DEU = FIXTURES / "real/commonvoice/deu/unknown-2025-09-24-2025-09-24.opus"  # 9.7 s
RIGHT_DEU = RIGHT["deu"]  # one the shipped model gets right
LANGS = ["eng", "deu", "fra", "spa", "cmn", "rus"]


@pytest.fixture(scope="module")
def classifier(random_classifier) -> Classifier:
    return random_classifier


def dashboard(classifier: Classifier, realtime: bool, seen: list[dict], clip: Path = DEU) -> Dashboard:
    source = FileSource(clip, realtime=realtime)
    stream = LanguageStream(classifier, source.sample_rate, source.channels, StreamOptions(level_interval=0.1))
    info = {"source": str(DEU), "sample_rate": source.sample_rate, "channels": 1, "model": "models/m.safetensors"}
    return Dashboard(source, stream, {**info, "compute": "cpu"}, also=seen.extend)


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def text(app: Dashboard, selector: str) -> str:
    return str(app.query_one(selector).render())


def bars(app: Dashboard) -> dict[str, float]:
    return {bar.code: bar.value for bar in app.query(LanguageBar)}


def test_dashboard_shows_the_events_of_a_real_stream(classifier):
    seen: list[dict] = []
    app = dashboard(classifier, realtime=False, seen=seen)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.state.summary is not None)
            await pilot.pause(0.1)
            posteriors = [e for e in seen if e["type"] == "posteriors"][-1]
            decision = [e for e in seen if e["type"] == "decision"][-1]
            top = sorted(posteriors["probs"].items(), key=lambda kv: -kv[1])[: len(bars(app))]
            assert len(bars(app)) == min(TOP_BARS, len(posteriors["probs"])) and bars(app) == dict(top)
            assert [b.code for b in app.query(LanguageBar) if b.decided] == [decision["language"]]
            summary = seen[-1]
            assert f"ended: {summary['name']} ({summary['language']})" in text(app, "#decision")
            cells = "".join(c for c, _ in app.state.timeline_cells(60))
            first = [e for e in seen if e["type"] == "decision" and e["language"]][0]
            assert cells.strip(" ·|")[0].lower() == first["language"][0]
            assert cells.rstrip().endswith("·")  # the clip ends in silence
            timeline = text(app, "#timeline")
            assert cells.strip(" ·|")[:3] in timeline and "changes:" in timeline
            info = text(app, "#info")
            assert "16000 Hz" in info and " m on CPU" in info and "dropped 0.0 s" in info
            levels = [e for e in seen if e["type"] == "level"]
            assert len(levels) > 50 and f"{app.state.level_db:6.1f} dB" in text(app, "#level")
            for widget in app.query("#info, #decision, #bars, #level, #timeline, Footer"):
                assert widget.region.bottom <= 24 and widget.region.right <= 80  # all of it fits in 80x24
            await pilot.press("q")
        return app.return_code

    assert asyncio.run(main()) == 0


def test_dashboard_shows_another_language(unknown_classifier):
    seen: list[dict] = []
    app = dashboard(unknown_classifier, realtime=False, seen=seen)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: any(e["type"] == "decision" and e["state"] == "speech-unknown" for e in seen))
            await wait_for(pilot, lambda: "ANOTHER LANGUAGE" in text(app, "#decision") or app.state.summary is not None)
            if app.state.summary is None:
                assert "not one of the model's languages" in text(app, "#decision")
                assert not [b.code for b in app.query(LanguageBar) if b.decided]
            await wait_for(pilot, lambda: app.state.summary is not None)
            await pilot.pause(0.1)
            assert "ended: another language" in text(app, "#decision")
            assert "?" in "".join(c for c, _ in app.state.timeline_cells(60))
            await pilot.press("q")
        return app.return_code

    assert asyncio.run(main()) == 0


@pytest.mark.e2e
def test_keys_pause_reset_restrict_languages_and_quit(classifier):
    seen: list[dict] = []
    app = dashboard(classifier, realtime=True, seen=seen)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.state.decision is not None and len(app.state.timeline) > 0)
            # p freezes the view while the analysis goes on; p again catches up
            await pilot.press("p")
            frozen, frozen_t = bars(app), app.state.t
            assert "PAUSED" in text(app, "#info")
            await wait_for(pilot, lambda: app.state.t > frozen_t + 0.5)
            assert bars(app) == frozen
            # r starts afresh: uniform bars, no decision (shown at once, even paused), a new timeline
            reset_at = app.state.t
            await pilot.press("r")
            assert set(bars(app).values()) == {1 / 6} and "no language decided yet" in text(app, "#decision")
            await pilot.press("p")
            assert bars(app) == app.state.probs and "PAUSED" not in text(app, "#info")
            assert all(t >= reset_at for t, _, _ in app.state.timeline)  # nothing from before the reset
            # l restricts the languages; a bad list is refused with a notice
            await pilot.press("l")
            field = app.query_one("#languages")
            assert field.has_focus and field.display
            await pilot.press(*"xx,deu", "enter")
            assert field.display and "unknown language" in str(field.border_title)  # on the field, not over it
            field.value = ""
            await pilot.press(*"deu,fra", "enter")
            assert not field.display and list(bars(app)) == ["deu", "fra"] and not field.border_title
            assert "only deu,fra" in text(app, "#info")  # the restriction shows in the header
            await wait_for(pilot, lambda: app.stream.languages == ["deu", "fra"])
            await wait_for(
                pilot, lambda: any(e["type"] == "posteriors" and list(e["probs"]) == ["deu", "fra"] for e in seen)
            )
            assert list(bars(app)) == ["deu", "fra"] and sum(bars(app).values()) == pytest.approx(1, abs=1e-3)
            await pilot.press("q")
        return app.return_code

    assert asyncio.run(main()) == 0
    deadline = time.monotonic() + 5
    while seen[-1]["type"] != "summary":  # q stops the pipeline, which ends the stream with its summary
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert seen[-1]["t"] < 9.0  # stopped before the end of the 9.7 s clip


def test_timeline_cells_mark_languages_silence_and_change_points():
    state = DashboardState(["deu", "fra"], span=60.0)
    state.apply(
        [
            {
                "type": "decision",
                "seq": 0,
                "t": 6.0,
                "language": "deu",
                "name": "German",
                "confidence": 0.5,
                "state": "speech-uncertain",
            },
            {
                "type": "decision",
                "seq": 1,
                "t": 12.0,
                "language": "deu",
                "name": "German",
                "confidence": 0.9,
                "state": "speech-confident",
            },
            {"type": "change", "seq": 2, "t": 30.0, "from": "deu", "to": "fra", "confidence": 0.8},
            {
                "type": "decision",
                "seq": 3,
                "t": 30.0,
                "language": "fra",
                "name": "French",
                "confidence": 0.8,
                "state": "speech-confident",
            },
            {
                "type": "decision",
                "seq": 4,
                "t": 48.0,
                "language": "fra",
                "name": "French",
                "confidence": 0.8,
                "state": "silence",
            },
            {"type": "level", "seq": 5, "t": 54.0, "level_db": -70.0, "speech": False},
        ]
    )
    cells = "".join(c for c, _ in state.timeline_cells(10))  # 6 s a cell
    assert cells == " dDDD|FF··"
    state.apply([{"type": "level", "seq": 6, "t": 90.0, "level_db": -70.0, "speech": False}])
    assert "".join(c for c, _ in state.timeline_cells(10)) == "FFF" + "·" * 7  # 30..90 s: the change scrolled out
    assert state.changes == [] and [entry[0] for entry in state.timeline] == [30.0, 48.0]


@pytest.mark.e2e
@pytest.mark.skipif(not REAL_MODEL.exists(), reason=f"needs the trained model {REAL_MODEL} (not there yet)")
def test_real_model_dashboard_shows_german():
    seen: list[dict] = []
    app = dashboard(Classifier.load(REAL_MODEL, "cpu"), realtime=False, seen=seen, clip=RIGHT_DEU)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.state.summary is not None)
            assert "German (deu)" in text(app, "#decision")  # the whole stream's language
            assert "deu" in bars(app)  # among the most probable at the end
            await pilot.press("q")

    asyncio.run(main())

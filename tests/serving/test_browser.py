"""The browser page, end to end: headless Chromium on a real server fed real speech over websockets.

Needs Debian's `chromium` (apt-get install -y chromium) and the `playwright` package (its bundled
driver only; no `playwright install`: the system Chromium is used). Without Chromium the tests skip,
saying so; under STREAMLID_REQUIRE_SYSTEM=1 (.ci/run) they fail (support.need_system).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from support import CHROMIUM, CLIPS, RIGHT, need_chromium

from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.classifier import Classifier
from streamlid.serving.client import send_file
from streamlid.serving.server import BackgroundServer, LiveServer, ServerOptions

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")

REAL_MODEL = DEFAULT_MODEL
DEU, FRA = CLIPS["deu"], CLIPS["fra"]
RIGHT_DEU = RIGHT["deu"]  # one the shipped model gets right
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOP_BARS = 8  # app.js shows the most probable languages, best first
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def playwright():
    need_chromium()  # skips, naming the package; under STREAMLID_REQUIRE_SYSTEM=1 (.ci/run) fails
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
    yield b
    b.close()


def serve(classifier: Classifier, **options) -> BackgroundServer:
    return BackgroundServer(LiveServer(classifier, ServerOptions(port=0, **options), model="m")).start()


def send_in_background(clip: Path, url: str, events: list[dict], token: str | None = None) -> threading.Thread:
    thread = threading.Thread(target=lambda: asyncio.run(send_file(clip, url, events.extend, token=token)))
    thread.start()
    return thread


def open_page(browser, port: int, query: str = ""):
    page = browser.new_page(viewport={"width": 900, "height": 560})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://127.0.0.1:{port}/{query}")
    page.wait_for_selector("#status.live", timeout=5000)
    return page, errors


def test_page_follows_a_live_stream_and_its_summary(browser, random_classifier):
    server = serve(random_classifier)
    try:
        page, errors = open_page(browser, server.server.port)
        events: list[dict] = []
        sender = send_in_background(DEU, f"ws://127.0.0.1:{server.server.port}/audio", events)
        page.wait_for_function("document.querySelector('#decision-code').textContent !== ''", timeout=10000)
        assert sender.is_alive()  # the page shows a decision while the audio is still coming in
        sender.join(timeout=20)
        page.wait_for_selector("#summary:not([hidden])", timeout=10000)
        decision = [e for e in events if e["type"] == "decision"][-1]
        posteriors = [e for e in events if e["type"] == "posteriors"][-1]
        summary = events[-1]
        assert page.inner_text("#decision-code") == decision["language"]
        assert page.inner_text("#decision-name") == decision["name"]
        assert page.inner_text("#state") == decision["state"]
        assert page.get_attribute("#summary", "data-language") == summary["language"]
        rows = page.query_selector_all("#bars .bar")
        best_first = sorted(posteriors["probs"], key=lambda c: -posteriors["probs"][c])[:TOP_BARS]
        assert [r.get_attribute("data-language") for r in rows] == best_first
        shown = {r.get_attribute("data-language"): float(r.query_selector(".p").inner_text()) for r in rows}
        assert shown == {c: round(posteriors["probs"][c], 2) for c in best_first}
        assert page.inner_text("#bars .bar.decided .name") == decision["name"]
        assert page.inner_text("#stream option") == f"s1: {DEU.name} (ended)"
        assert errors == []
    finally:
        server.close()


def test_page_shows_another_language(browser, unknown_classifier):
    server = serve(unknown_classifier)
    try:
        page, errors = open_page(browser, server.server.port)
        events: list[dict] = []
        sender = send_in_background(DEU, f"ws://127.0.0.1:{server.server.port}/audio", events)
        page.wait_for_selector("#decision.speech-unknown", timeout=10000)
        assert page.inner_text("#decision-name") == "Another language"
        assert page.inner_text("#state") == "speech-unknown"
        assert page.is_visible("#other") and page.get_attribute("#other", "class") == "bar other decided"
        assert page.query_selector_all("#bars .bar.decided") == []
        sender.join(timeout=20)
        page.wait_for_selector("#summary:not([hidden])", timeout=10000)
        assert page.inner_text("#summary").startswith("ended: another language, not one of the model's")
        assert events[-1]["state"] == "speech-unknown"
        assert errors == []
    finally:
        server.close()


def test_page_can_switch_streams_and_pass_a_token(browser, random_classifier):
    server = serve(random_classifier, token="t0k")
    try:
        url = f"ws://127.0.0.1:{server.server.port}/audio"
        page, errors = open_page(browser, server.server.port, "?token=t0k")
        first, second = [], []
        threads = [send_in_background(DEU, url, first, "t0k")]
        page.wait_for_function("document.querySelectorAll('#stream option').length === 1")  # DEU is s1
        threads.append(send_in_background(FRA, url, second, "t0k"))
        for t in threads:
            t.join(timeout=20)
        page.wait_for_function("document.querySelectorAll('#stream option').length === 2")
        for sid, events in (("s1", first), ("s2", second)):
            page.select_option("#stream", sid)
            summary = events[-1]
            assert page.get_attribute("#summary", "data-language") == summary["language"]
            assert f"{summary['confidence']:.2f}" in page.inner_text("#summary")
        assert errors == []
        refused = browser.new_page()
        refused.goto(f"http://127.0.0.1:{server.server.port}/")  # the page loads; the feed needs the token
        refused.wait_for_selector("#status.error", timeout=5000)
        refused.close()
    finally:
        server.close()


@pytest.mark.skipif(not REAL_MODEL.exists(), reason=f"needs the trained model {REAL_MODEL} (not there yet)")
def test_page_shows_german_for_german_speech(browser):
    server = serve(Classifier.load(REAL_MODEL, "cpu"))
    try:
        page, _ = open_page(browser, server.server.port)
        events: list[dict] = []
        send_in_background(RIGHT_DEU, f"ws://127.0.0.1:{server.server.port}/audio", events).join(timeout=20)
        page.wait_for_selector("#summary:not([hidden])", timeout=10000)
        assert page.inner_text("#decision-code") == "deu"
        assert page.get_attribute("#summary", "data-language") == "deu"
        assert page.inner_text("#bars .bar.decided .code") == "deu"
    finally:
        server.close()


@pytest.mark.skipif(not REAL_MODEL.exists(), reason=f"needs the trained model {REAL_MODEL} (not there yet)")
def test_listen_button_sends_the_microphone_and_decides_its_language(playwright, tmp_path):
    """Chromium's fake microphone plays a German clip (looped); the page captures it with getUserMedia and
    an AudioWorklet, streams it to /audio, and shows that stream deciding German."""
    import soundfile as sf

    from streamlid.core.audio import load_mono_16k

    wav = tmp_path / "german.wav"
    sf.write(wav, load_mono_16k(RIGHT_DEU), 16000, subtype="PCM_16")
    fake_mic = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    server = serve(Classifier.load(REAL_MODEL, "cpu"))
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS + fake_mic + [f"--use-file-for-fake-audio-capture={wav}"]
        )
        try:
            page, errors = open_page(browser, server.server.port)
            page.click("#listen")
            page.wait_for_selector("#mic.live", timeout=10000)
            assert "browser microphone" in page.inner_text("#stream")
            page.wait_for_function("document.querySelector('#decision-code').textContent === 'deu'", timeout=30000)
            assert page.inner_text("#decision-name") == "German"
            page.click("#listen")  # stop: the stream ends with its summary
            page.wait_for_selector("#summary:not([hidden])", timeout=10000)
            assert page.get_attribute("#summary", "data-language") == "deu"
            assert page.inner_text("#listen") == "● Listen" and errors == []
        finally:
            browser.close()
    finally:
        server.close()

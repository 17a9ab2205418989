"""Screenshots for the README: the terminal dashboard (SVG and PNG) and the browser page (PNG), on real speech.

    python benchmarks/live_screenshots.py [--model M] [--out docs]

Uses the trained model when it is there (else a random one: the layout is right, the language is not).
PNG of the dashboard needs cairosvg; the browser page needs Debian's chromium and playwright.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.io.sources import FileSource
from streamlid.io.tui import Dashboard
from streamlid.model.architectures import CRNN, ModelConfig
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.classifier import Classifier
from streamlid.model.format import ModelInfo, save_model
from streamlid.serving.client import send_file
from streamlid.serving.server import BackgroundServer, LiveServer, ServerOptions

ROOT = Path(__file__).resolve().parents[1]

CLIP = ROOT.parent / "shared/data/real/udhr_omniglot/fra/reader-french-france-french_france.opus"  # 11.3 s
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
FLAGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


def dashboard(classifier: Classifier, model: Path, out: Path) -> None:
    source = FileSource(CLIP, realtime=True)
    stream = LanguageStream(classifier, source.sample_rate, source.channels, StreamOptions(level_interval=0.1))
    info = {"source": str(CLIP), "sample_rate": source.sample_rate, "channels": source.channels}
    app = Dashboard(source, stream, {**info, "model": str(model), "compute": classifier.device.type})

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            while app.state.t < 7.0:
                await pilot.pause(0.1)
            app.save_screenshot("dashboard.svg", str(out))
            await pilot.press("q")

    asyncio.run(run())
    try:
        import cairosvg
    except ImportError:
        print("cairosvg is not installed: docs/dashboard.png not made")
        return
    cairosvg.svg2png(url=str(out / "dashboard.svg"), write_to=str(out / "dashboard.png"), output_width=1000)


def browser_page(classifier: Classifier, model: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    server = BackgroundServer(LiveServer(classifier, ServerOptions(port=0), model=str(model))).start()
    port = server.server.port
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 900, "height": 580})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#status.live")
            sender = threading.Thread(target=lambda: asyncio.run(send_file(CLIP, f"ws://127.0.0.1:{port}/audio")))
            sender.start()
            time.sleep(7.0)
            page.screenshot(path=str(out / "browser.png"))
            sender.join()
            browser.close()
    finally:
        server.close()


def microphone_page(classifier: Classifier, model: Path, out: Path) -> None:
    """The Listen button, with Chromium's fake microphone playing CLIP."""
    import soundfile as sf
    from playwright.sync_api import sync_playwright

    from streamlid.core.audio import load_mono_16k

    wav = Path(tempfile.mkdtemp()) / "mic.wav"
    sf.write(wav, load_mono_16k(CLIP), 16000, subtype="PCM_16")
    fake = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]
    server = BackgroundServer(LiveServer(classifier, ServerOptions(port=0), model=str(model))).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS + fake)
            page = browser.new_page(viewport={"width": 900, "height": 620})
            page.goto(f"http://127.0.0.1:{server.server.port}/")
            page.wait_for_selector("#status.live")
            page.click("#listen")
            page.wait_for_selector("#mic.live")
            time.sleep(6.0)
            page.screenshot(path=str(out / "browser-microphone.png"))
            browser.close()
    finally:
        server.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args()
    model = args.model or (DEFAULT_MODEL if DEFAULT_MODEL.exists() else None)
    if model is None:
        print("no trained model: using a random one (right layout, meaningless languages)")
        m = CRNN(ModelConfig(n_languages=6))
        model = save_model(
            m, ModelInfo(["eng", "deu", "fra", "spa", "cmn", "rus"], m.cfg), Path(tempfile.mkdtemp()) / "m"
        )
    classifier = Classifier.load(model, "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    dashboard(classifier, model, args.out)
    browser_page(classifier, model, args.out)
    microphone_page(classifier, model, args.out)
    print(
        f"wrote {args.out}/dashboard.svg, dashboard.png, browser.png, browser-microphone.png in {time.monotonic() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much `streamlid serve` holds on this machine: concurrent real-time audio streams, subscribers, latency.

    python benchmarks/live_server.py [--model M] [--streams 1,4,8,16,24,32] [--subscribers 10,100,500,1000]

The server runs in its own process (`streamlid serve` on 127.0.0.1); this process plays real speech into
it in real time, 50 ms a message, and listens. Latency is audio in -> event out: from the moment the
message holding the last sample of an analysed window was sent to the moment its `posteriors` event
arrived (for subscribers: to its arrival at each of them). A load is held when every stream ends with
its summary, nothing was dropped or missed and p99 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

from streamlid.core.audio import load_mono_16k
from streamlid.model.architectures import CRNN, ModelConfig
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.format import ModelInfo, save_model

ROOT = Path(__file__).resolve().parents[1]

CLIP = ROOT / "tests/fixtures/speech/real/commonvoice/deu/unknown-2025-09-24-2025-09-24.opus"  # 9.7 s
CHUNK = 0.05
RATE = 16000


STEP = int(CHUNK * RATE)


def latency(event: dict, sent_at: list[float], now: float) -> float:
    """From sending the message that held the window's last sample to receiving its event."""
    return now - sent_at[min(len(sent_at) - 1, int(np.ceil(event["t"] * RATE / STEP)) - 1)]


async def play(url: str, audio: np.ndarray, delay: float, latencies: list[float], sent_at: list[float]) -> dict:
    """One real-time stream; appends its posteriors latencies and the send times; returns its summary."""
    await asyncio.sleep(delay)
    async with connect(url, max_size=2**22) as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "start", "sample_rate": RATE, "format": "float32"}))
        await ws.recv()  # started

        async def send() -> None:
            t0 = time.monotonic()
            for k, i in enumerate(range(0, len(audio), STEP)):
                await asyncio.sleep(max(0.0, t0 + k * CHUNK - time.monotonic()))
                await ws.send(audio[i : i + STEP].tobytes())
                sent_at.append(time.monotonic())
            await ws.send(json.dumps({"type": "stop"}))

        sender = asyncio.create_task(send())
        async for text in ws:
            now = time.monotonic()
            event = json.loads(text)
            if event["type"] == "posteriors" and not sender.done():
                latencies.append(latency(event, sent_at, now))
            if event["type"] in ("summary", "error"):
                await sender
                return event
    return {"type": "closed"}


async def listen(url: str, counts: list[int], missed: list[int], latencies: list[float], sent_at: list[float]) -> None:
    async with connect(url, max_size=2**22) as ws:
        n = 0
        async for text in ws:
            now = time.monotonic()
            event = json.loads(text)
            n += 1
            if event["type"] == "posteriors" and sent_at:
                latencies.append(latency(event, sent_at, now))
            if event["type"] == "missed":
                missed.append(event["count"])
            if event["type"] == "summary":
                break
        counts.append(n)


def percentiles(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    p50, p99 = np.percentile(xs, [50, 99]) * 1000
    return f"p50 {p50:6.0f} ms  p99 {p99:6.0f} ms  max {max(xs) * 1000:6.0f} ms"


async def play_streams(base: str, audio: np.ndarray, n: int) -> tuple[bool, list[float]]:
    """n real-time streams at once: whether every one ended with its summary and dropped nothing, and
    their posteriors latencies."""
    latencies: list[float] = []
    summaries = await asyncio.gather(
        *(play(base + "/audio", audio, random.uniform(0, 0.25), latencies, []) for _ in range(n))
    )
    return all(s["type"] == "summary" and s["stats"]["dropped_samples"] == 0 for s in summaries), latencies


async def streams_level(base: str, audio: np.ndarray, n: int) -> bool:
    t0 = time.monotonic()
    ok, latencies = await play_streams(base, audio, n)
    return level_row(n, ok, latencies, time.monotonic() - t0)["held"]


def level_row(n: int, ok: bool, latencies: list[float], wall: float) -> dict:
    """A load of n streams, printed: held when every stream ended with its summary, nothing dropped, and
    p99 < 1 s."""
    p50, p99 = (round(float(p) * 1000) for p in np.percentile(latencies, [50, 99])) if latencies else (None, None)
    held = bool(ok and latencies and np.percentile(latencies, 99) < 1.0)
    print(
        f"  {n:3d} streams: {percentiles(latencies)}  ({len(latencies)} events, {wall:.1f} s){'' if held else '  NOT HELD'}"
    )
    return {"streams": n, "held": held, "latency_ms_p50": p50, "latency_ms_p99": p99}


async def subscribers_level(base: str, audio: np.ndarray, m: int) -> bool:
    counts: list[int] = []
    missed: list[int] = []
    subs = []
    sent_at: list[float] = []
    feed_latencies: list[float] = []
    for i in range(0, m, 100):  # connect in batches of 100
        batch = [
            asyncio.create_task(listen(base + "/events", counts, missed, feed_latencies, sent_at))
            for _ in range(min(100, m - i))
        ]
        subs += batch
        await asyncio.sleep(0.2)
    latencies: list[float] = []
    summary = await play(base + "/audio", audio, 0.0, latencies, sent_at)
    await asyncio.wait_for(asyncio.gather(*subs), timeout=30)
    expected = max(counts)
    complete = sum(c == expected for c in counts)
    held = complete == m and not missed and summary["type"] == "summary" and np.percentile(feed_latencies, 99) < 1.0
    print(
        f"  {m:4d} subscribers: {complete}/{m} got all {expected} messages, missed {sum(missed)};"
        f" subscribers' latency {percentiles(feed_latencies)}{'' if held else '  NOT HELD'}"
    )
    return held


def server_env() -> dict[str, str]:
    """The environment of a server process: this one's, with the checkout first on its path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="model weights [the trained model, else a random one]")
    p.add_argument("--streams", default="1,4,8,16,24,32")
    p.add_argument("--subscribers", default="10,100,500,1000")
    args = p.parse_args()
    model = args.model or (DEFAULT_MODEL if DEFAULT_MODEL.exists() else None)
    if model is None:
        m = CRNN(ModelConfig(n_languages=6))
        model = save_model(
            m, ModelInfo(["eng", "deu", "fra", "spa", "cmn", "rus"], m.cfg), Path(tempfile.mkdtemp()) / "m"
        )
    audio = load_mono_16k(CLIP)
    port = free_port()
    env = server_env()
    cmd = [sys.executable, "-m", "streamlid", "serve", "--port", str(port), "--model", str(model), "--compute", "cpu"]
    most = max(map(int, args.subscribers.split(","))) + max(map(int, args.streams.split(","))) + 8
    limits = ["--max-streams", "128", "--queue-size", "1024", "--max-connections-per-address", str(most)]
    limits += ["--max-subscribers", str(most)]  # every client connects from 127.0.0.1
    server = subprocess.Popen([*cmd, *limits], env=env, stdout=subprocess.PIPE)
    server.stdout.readline()  # "serving on ..."
    print(
        f"server: {' '.join(cmd[3:])} on {os.cpu_count()} CPUs; clip {CLIP.name} ({len(audio) / RATE:.1f} s), {CHUNK * 1000:.0f} ms messages"
    )
    base = f"ws://127.0.0.1:{port}"
    try:
        print("concurrent real-time audio streams (latency: audio in -> posteriors event out)")
        held_streams = 0
        for n in map(int, args.streams.split(",")):
            if not asyncio.run(streams_level(base, audio, n)):
                break
            held_streams = n
        print("subscribers of one real-time stream")
        held_subs = 0
        for m in map(int, args.subscribers.split(",")):
            if not asyncio.run(subscribers_level(base, audio, m)):
                break
            held_subs = m
        print(f"held: {held_streams} concurrent real-time streams, {held_subs} subscribers")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

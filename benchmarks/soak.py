"""Soak `streamlid serve`: M real-time audio streams and N subscribers for a while; prints what held.

    python benchmarks/soak.py [--seconds S] [--streams M] [--subscribers N] [--json]

The server runs in its own process on 127.0.0.1 (`streamlid serve`, CPU); this process plays real speech
into it in real time (50 ms messages, the clip looped with 1.5 s pauses), N healthy subscribers read the
event feed, and one more subscriber never reads. Figures:

- lost events: for each healthy subscriber and stream, the events whose `seq` never arrived (gaps, or a
  stream that did not end with its summary) plus `missed` notices; must be 0;
- latency: audio in -> `posteriors` out at the subscribers, from sending the message that held the
  window's last sample to the event's arrival;
- memory: the server's RSS after a warm-up (a quarter of the run) and at the end, and the growth.

--seconds defaults to STREAMLID_SOAK_SECONDS, else 300.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

CLIP = ROOT / "tests/fixtures/speech/real/asterisk_debian/eng/allison_smith-dictate_play_help.opus"  # 10.2 s
RATE = 16000
CHUNK = 0.05
STEP = int(CHUNK * RATE)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def play(url: str, audio: np.ndarray, seconds: float, sent_at: dict[str, list[float]]) -> list[dict]:
    """One real-time stream for `seconds`; returns the events it got back (its own feed)."""
    async with connect(url + "/audio", max_size=2**22) as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "start", "sample_rate": RATE, "format": "float32", "label": "soak"}))
        sid = json.loads(await ws.recv())["stream"]
        times = sent_at.setdefault(sid, [])

        async def send() -> None:
            t0 = time.monotonic()
            for k in range(int(seconds / CHUNK)):
                await asyncio.sleep(max(0.0, t0 + k * CHUNK - time.monotonic()))
                i = (k * STEP) % (len(audio) - STEP)
                await ws.send(audio[i : i + STEP].tobytes())
                times.append(time.monotonic())
            await ws.send(json.dumps({"type": "stop"}))

        sender = asyncio.create_task(send())
        events = []
        async for text in ws:
            events.append(json.loads(text))
        await sender
        return [e for e in events if "seq" in e]


async def subscribe(url: str, ready: asyncio.Event, stop: asyncio.Event, sent_at: dict, latencies: list) -> dict:
    """A healthy subscriber: every message, per stream, with the posteriors' latency."""
    got: dict[str, list[dict]] = {}
    missed = 0
    async with connect(url + "/events", max_size=2**22) as ws:
        await ws.recv()  # hello
        ready.set()
        while not (stop.is_set() and got and all(s and s[-1]["type"] == "summary" for s in got.values())):
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except TimeoutError:
                continue
            now = time.monotonic()
            msg = json.loads(text)
            if msg["type"] == "missed":
                missed += msg["count"]
            elif "seq" in msg:
                got.setdefault(msg["stream"], []).append(msg)
                times = sent_at.get(msg["stream"])
                if msg["type"] == "posteriors" and times:
                    k = min(len(times) - 1, int(np.ceil(msg["t"] * RATE / STEP)) - 1)
                    latencies.append(now - times[k])
    return {"streams": got, "missed": missed}


def lost(sub: dict, expected: dict[str, int]) -> int:
    """Events a subscriber should have had and did not, plus its `missed` count."""
    n = sub["missed"]
    for sid, count in expected.items():
        seqs = [e["seq"] for e in sub["streams"].get(sid, [])]
        n += count - len(seqs) + sum(b != a + 1 for a, b in zip(seqs, seqs[1:], strict=False))
    return n


async def soak(url: str, pid: int, audio: np.ndarray, seconds: float, streams: int, subscribers: int) -> dict:
    sent_at: dict[str, list[float]] = {}
    latencies: list[float] = []
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(subscribers)]
    subs = [asyncio.create_task(subscribe(url, r, stop, sent_at, latencies)) for r in readies]
    stalled = await connect(url + "/events", max_queue=1)  # never reads after this
    await asyncio.gather(*(r.wait() for r in readies))
    rss = [rss_mb(pid)]
    players = [asyncio.create_task(play(url, audio, seconds, sent_at)) for _ in range(streams)]
    t0 = time.monotonic()
    baseline = None
    while not all(p.done() for p in players):
        await asyncio.sleep(1.0)
        rss.append(rss_mb(pid))
        if baseline is None and time.monotonic() - t0 >= seconds / 4:
            baseline = rss[-1]
    stop.set()
    own = [p.result() for p in players]
    got = await asyncio.wait_for(asyncio.gather(*subs), timeout=30)
    stalled_closed = stalled.state.name == "CLOSED"
    stalled.transport.abort()
    expected = {e[0]["stream"]: len(e) for e in own if e}
    complete = all(e and e[-1]["type"] == "summary" and [x["seq"] for x in e] == list(range(len(e))) for e in own)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if latencies else (float("nan"),) * 3
    return {
        "seconds": round(time.monotonic() - t0, 1),
        "streams": streams,
        "subscribers": subscribers,
        "events_per_stream": round(float(np.mean(list(expected.values()))), 1),
        "events_delivered": sum(len(s) for sub in got for s in sub["streams"].values()),
        "streams_complete": complete and len(expected) == streams,
        "lost_events": sum(lost(sub, expected) for sub in got),
        "latency_p50_ms": round(p50 * 1000),
        "latency_p95_ms": round(p95 * 1000),
        "latency_p99_ms": round(p99 * 1000),
        "latency_max_ms": round(max(latencies, default=float("nan")) * 1000),
        "rss_start_mb": round(rss[0], 1),
        "rss_warm_mb": round(baseline or rss[-1], 1),
        "rss_end_mb": round(rss[-1], 1),
        "rss_growth_after_warmup_mb": round(rss[-1] - (baseline or rss[-1]), 1),
        "rss_max_mb": round(max(rss), 1),
        "rss_quarters_mb": [round(rss[min(len(rss) - 1, len(rss) * q // 4)], 1) for q in range(1, 5)],
        "stalled_subscriber_cut_off": stalled_closed,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=float(os.environ.get("STREAMLID_SOAK_SECONDS", 300)))
    p.add_argument("--streams", type=int, default=4, help="concurrent real-time audio streams [%(default)s]")
    p.add_argument("--subscribers", type=int, default=20, help="healthy event-feed subscribers [%(default)s]")
    p.add_argument("--model", type=Path, default=None, help="model weights [the shipped model, else a random one]")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()
    model = args.model or (DEFAULT_MODEL if DEFAULT_MODEL.exists() else None)
    if model is None:
        m = CRNN(ModelConfig(n_languages=6))
        info = ModelInfo(["eng", "deu", "fra", "spa", "cmn", "rus"], m.cfg)
        model = save_model(m, info, Path(tempfile.mkdtemp()) / "m")
    speech = load_mono_16k(CLIP)
    audio = np.concatenate([speech, np.zeros(int(1.5 * RATE), np.float32)])
    cmd = [sys.executable, "-m", "streamlid", "serve", "--port", "0", "--model", str(model), "--compute", "cpu"]
    cmd += ["--threads", "1", "--max-connections-per-address", str(args.subscribers + args.streams + 8)]
    server = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "streamlid: serving on http://127.0.0.1:PORT/ ..."
        if "serving on" not in line:
            print(f"soak: the server did not start: {line.strip()}", file=sys.stderr)
            return 1
        url = "ws://" + line.split("http://")[1].split("/")[0]
        figures = asyncio.run(soak(url, server.pid, audio, args.seconds, args.streams, args.subscribers))
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The CPU one stream costs a server, a hop at a time, without the model: every stream's audio path (PCM
in, down-mixing, VAD, windows), its events (smoothing, decisions, two probabilities a language) and their
JSON, as `streamlid serve` steps them (`protocol.score_together`); with `--server`, the whole server too
(websocket messages in, events out). This is what binds a GPU server: the model's own cost is measured by
gpu_serving.py, and a step needs both.

    python benchmarks/stream_cpu.py [--streams 128] [--seconds 30] [--format int16] [--out results/stream_cpu.json]
    python benchmarks/stream_cpu.py --server --streams 16,64 [--message 0.05,0.25]

The scores are the real model's, for real speech windows, computed once and then handed back in turn, so
the events are those of real speech without the model's time in them. Each stream plays real speech (a
different offset each) in hops of 0.25 s; the first 2 s fill the windows and are not counted. CPU time is
the process's (one thread), the minimum and median over blocks of 8 hops; a core holds hop / cost streams.

`--server` runs a `LiveServer` with the replayed scores in a process of its own and plays real-time int16
streams into it over real websockets from this one (messages of `--message` seconds), each client
reading its own events; the cost is the server process's CPU time (all its threads, from /proc) over the
run, per stream and hop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from streamlid.core.audio import load_mono_16k
from streamlid.core.events import to_json
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.model.classifier import Classifier
from streamlid.serving.protocol import ServerOptions, score_together
from streamlid.serving.server import LiveServer

SPEECH = Path(__file__).resolve().parents[1] / "tests/fixtures/speech/real/commonvoice/deu"
BLOCK = 8  # hops


class ReplayedScores:
    """The model's scores for a set of real windows, handed out in turn: a stream sees real scores, and
    no model runs in the measured loop."""

    def __init__(self, classifier: Classifier, windows: list[np.ndarray]) -> None:
        self.languages = classifier.languages
        self.open_set, self.speech_check = classifier.open_set, classifier.speech_check
        self.rows = classifier.log_probs(windows)
        self.calls = 0

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        index = (self.calls + np.arange(len(windows))) % len(self.rows)
        self.calls += len(windows)
        return self.rows[index]

    def describe(self) -> dict:
        return {"name": "replayed scores", "languages": self.languages, "open_set": self.open_set, "compute": "none"}


def replayed(model: str | None, speech: np.ndarray) -> ReplayedScores:
    """The real model's scores for 24 real 2-s windows."""
    starts = range(0, len(speech) - 32000, len(speech) // 24)
    return ReplayedScores(Classifier.load(model, "cpu"), [speech[s : s + 32000] for s in starts])


def measure(scorer: ReplayedScores, speech: np.ndarray, streams: int, seconds: float, fmt: str) -> dict:
    options = StreamOptions()
    hop = int(options.hop * 16000)
    offsets = np.random.default_rng(streams).integers(0, len(speech) - hop, streams)
    pcm = (speech * 32767).astype(np.int16)[:, None] if fmt == "int16" else speech
    group = [LanguageStream(scorer, options=options) for _ in range(streams)]
    parts = {"write": [], "step": [], "json": []}
    events = windows = 0
    for k in range(8 + int(seconds / options.hop) // BLOCK * BLOCK):
        t0 = time.process_time()
        for stream, offset in zip(group, offsets, strict=True):
            start = (offset + k * hop) % (len(speech) - hop)
            stream.write(pcm[start : start + hop])
        t1 = time.process_time()
        out: list[list[dict]] = [[] for _ in group]
        due = list(range(streams))
        while due:  # as the server steps: again while adaptive analysis stopped a stream after a window
            for i, evs in zip(due, score_together(scorer, [group[i] for i in due]), strict=True):
                out[i] += evs
            due = [i for i in due if group[i].pending]
        t2 = time.process_time()
        for i, evs in enumerate(out):
            for event in evs:
                to_json({**event, "stream": f"s{i}"})  # as LiveServer.publish does
        t3 = time.process_time()
        if k >= 8:
            for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                parts[name].append(dt)
            events += sum(map(len, out))
            windows += sum(e["type"] == "posteriors" for evs in out for e in evs)
    hops = len(parts["write"])
    per = {name: np.add.reduceat(np.array(v), np.arange(0, hops, BLOCK)) / BLOCK / streams for name, v in parts.items()}
    total = sum(per.values())
    ms = lambda x: round(float(x) * 1000, 4)  # noqa: E731
    return {
        "streams": streams,
        "format": fmt,
        "hops": hops,
        "ms_per_stream_hop_min": ms(total.min()),
        "ms_per_stream_hop_median": ms(np.median(total)),
        "ms_per_stream_hop_median_by_part": {name: ms(np.median(v)) for name, v in per.items()},
        "streams_per_core": int(options.hop / np.median(total)),
        "windows_per_stream_second": round(windows / hops / streams / options.hop, 2),
        "events_per_stream_hop": round(events / hops / streams, 2),
    }


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def serve_replayed(scorer: ReplayedScores, port: int, streams: int) -> None:
    server = LiveServer(scorer, ServerOptions(port=port, max_streams=streams, max_connections_per_address=streams + 8))
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("serving", flush=True)
    await stop.wait()
    await server.close()


async def client(url: str, pcm: np.ndarray, message: float, delay: float) -> bool:
    """One real-time int16 stream; whether it ended with its summary, nothing dropped."""
    from websockets.asyncio.client import connect

    await asyncio.sleep(delay)
    step = int(message * 16000)
    async with connect(url, max_size=2**22) as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "format": "int16"}))
        await ws.recv()  # started

        async def send() -> None:
            t0 = time.monotonic()
            for k, i in enumerate(range(0, len(pcm), step)):
                await asyncio.sleep(max(0.0, t0 + k * message - time.monotonic()))
                await ws.send(pcm[i : i + step].tobytes())
            await ws.send(json.dumps({"type": "stop"}))

        sender = asyncio.create_task(send())
        async for text in ws:
            event = json.loads(text)
            if event["type"] in ("summary", "error"):
                await sender
                return event["type"] == "summary" and event["stats"]["dropped_samples"] == 0
    return False


async def play(url: str, speech: np.ndarray, streams: int, seconds: float, message: float) -> bool:
    pcm = (speech * 32767).astype(np.int16)
    starts = np.random.default_rng(streams).integers(0, len(pcm) - int(seconds * 16000), streams)
    clips = [pcm[s : s + int(seconds * 16000)] for s in starts]
    # spread over a hop, as independent clients are
    done = await asyncio.gather(*(client(url, c, message, i * 0.25 / streams) for i, c in enumerate(clips)))
    return all(done)


def measure_server(args: argparse.Namespace, speech: np.ndarray) -> list[dict]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    most = max(map(int, args.streams.split(",")))
    cmd = [sys.executable, __file__, "--serve-replayed", str(port), "--streams", str(most)]
    server = subprocess.Popen([*cmd, *(["--model", args.model] if args.model else [])], stdout=subprocess.PIPE)
    rows = []
    try:
        assert server.stdout.readline().strip() == b"serving"
        for message in map(float, args.message.split(",")):
            for n in map(int, args.streams.split(",")):
                cpu, wall = process_cpu_seconds(server.pid), time.monotonic()
                held = asyncio.run(play(f"ws://127.0.0.1:{port}/audio", speech, n, args.seconds, message))
                cpu, wall = process_cpu_seconds(server.pid) - cpu, time.monotonic() - wall
                hops = n * args.seconds / StreamOptions.hop
                rows.append(
                    {
                        "streams": n,
                        "message_s": message,
                        "format": "int16",
                        "ms_per_stream_hop": round(cpu / hops * 1000, 4),
                        "streams_per_core": int(StreamOptions.hop / (cpu / hops)),
                        "server_cpu_share": round(cpu / wall, 2),
                        "wall_s": round(wall, 1),
                        # every stream ended with its summary, nothing dropped, and the server kept up: a
                        # server that falls behind stops reading (backpressure) and the clients slow down
                        "held": held and wall < args.seconds + 1.5,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=None, help="the model whose scores are replayed (default: the shipped one)")
    ap.add_argument("--streams", default="128", help="comma-separated stream counts (default 128)")
    ap.add_argument("--seconds", type=float, default=30.0, help="audio per stream, after the first 2 s (default 30)")
    ap.add_argument("--format", default="int16,float32", help="PCM as clients send it: int16, float32 or both")
    ap.add_argument("--server", action="store_true", help="measure the whole server over real websockets")
    ap.add_argument("--message", default="0.05,0.25", help="--server: seconds of audio a message (default 0.05,0.25)")
    ap.add_argument("--serve-replayed", type=int, metavar="PORT", help=argparse.SUPPRESS)  # --server's own process
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    speech = np.concatenate([load_mono_16k(p) for p in sorted(SPEECH.glob("*.opus"))[:6]])
    if args.server:
        rows = measure_server(args, speech)
    else:
        scorer = replayed(args.model, speech)
        if args.serve_replayed:
            asyncio.run(serve_replayed(scorer, args.serve_replayed, int(args.streams)))
            return
        rows = []
        for fmt in args.format.split(","):
            for n in map(int, args.streams.split(",")):
                rows.append(measure(scorer, speech, n, args.seconds, fmt))
                print(json.dumps(rows[-1]), flush=True)
    if args.out:
        result = {"machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}", "rows": rows}
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

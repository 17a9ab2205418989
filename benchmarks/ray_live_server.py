"""Concurrent real-time streams held by `streamlid serve --backend ray`, next to `streamlid serve`, on this machine.

    python benchmarks/ray_live_server.py [--streams 1,2,4,8,12,16,24,32] [--backends local,ray]

Each server runs in its own process on 127.0.0.1 with the shipped model on the CPU (the Ray one starts
its own local cluster: one ingress replica, one model replica). The load and the rule for "held" are
benchmarks/live_server.py's: real speech in real time, 50 ms a message; every stream ends with its
summary, nothing dropped, p99 latency (audio in -> posteriors event out) < 1 s. The results go to
benchmarks/results/ray_live_server.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from live_server import CLIP, free_port, streams_level

from streamlid.core.audio import load_mono_16k
from streamlid.model.checkpoint import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "ray_live_server.json"


def held_streams(backend: str, levels: list[int], audio) -> int:
    """Start the server, raise the load level by level until one is not held; the last held level."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlid", "serve", "--backend", backend, "--port", str(port)]
    cmd += ["--model", str(DEFAULT_MODEL), "--compute", "cpu", "--max-streams", "128"]
    server = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while "serving" not in server.stdout.readline():
        pass
    print(f"{backend}: serving after {time.monotonic() - t0:.1f} s")
    held = 0
    try:
        for n in levels:
            if not asyncio.run(streams_level(f"ws://127.0.0.1:{port}", audio, n)):
                break
            held = n
    finally:
        server.terminate()
        server.wait(timeout=60)
    return held


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", default="1,2,4,8,12,16,24,32")
    p.add_argument("--backends", default="local,ray")
    args = p.parse_args()
    audio = load_mono_16k(CLIP)
    levels = [int(n) for n in args.streams.split(",")]
    held = {b: held_streams(b, levels, audio) for b in args.backends.split(",")}
    result = {"cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(), "clip": CLIP.name}
    result["held_real_time_streams"] = held
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

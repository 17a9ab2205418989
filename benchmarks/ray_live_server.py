"""Concurrent real-time streams held by `streamlid serve --backend ray`, next to `streamlid serve`, on this machine.

    python benchmarks/ray_live_server.py [--streams 1,2,4,8,12,16,24,32] [--backends local,ray]
    python benchmarks/ray_live_server.py --compute cuda --streams 64,128,256,384,512 --client-processes 4 \
        --out benchmarks/results/ray_live_server_gpu.json    # on a GPU machine

Each server runs in its own process on 127.0.0.1 with the shipped model (the Ray one starts its own local
cluster: one ingress replica, and model replicas on the CPU or, with --compute cuda, on the GPU). The load
and the rule for "held" are benchmarks/live_server.py's: real speech in real time, 50 ms a message; every
stream ends with its summary, nothing dropped, p99 latency (audio in -> posteriors event out) < 1 s. The
streams of a level can be played from several client processes, so that the clients are not the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from live_server import CLIP, free_port, level_row, play_streams, server_env

from streamlid.core.audio import load_mono_16k
from streamlid.model.checkpoint import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "ray_live_server.json"


def _client(url: str, audio: np.ndarray, n: int) -> tuple[bool, list[float]]:
    return asyncio.run(play_streams(url, audio, n))


def level(url: str, audio: np.ndarray, n: int, processes: int, rows: list[dict]) -> bool:
    """n streams, played from `processes` client processes at once; its row appended to `rows`."""
    t0 = time.monotonic()
    shares = [n // processes + (i < n % processes) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(_client, [(url, audio, k) for k in shares if k])
    latencies = [x for _, lat in results for x in lat]
    rows.append(level_row(n, all(ok for ok, _ in results), latencies, time.monotonic() - t0))
    return rows[-1]["held"]


def held_streams(
    backend: str, levels: list[int], audio, compute: str, processes: int, rows: list[dict], keep_going: bool = False
) -> int:
    """Start the server, raise the load level by level until one is not held (with `keep_going`, play every
    level); the last held level (each level's row appended to `rows`)."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlid", "serve", "--backend", backend, "--port", str(port)]
    cmd += ["--model", str(DEFAULT_MODEL), "--compute", compute, "--max-streams", str(max(levels))]
    cmd += ["--max-connections-per-address", str(2 * max(levels))]  # every client plays from 127.0.0.1
    server = subprocess.Popen(
        cmd,
        env=server_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    t0 = time.monotonic()
    while "serving" not in server.stdout.readline():
        pass
    print(f"{backend}: serving after {time.monotonic() - t0:.1f} s")
    held = 0
    try:
        for n in levels:
            if level(f"ws://127.0.0.1:{port}", audio, n, processes, rows):
                held = max(held, n)
            elif not keep_going:
                break
    finally:
        server.terminate()
        server.wait(timeout=60)
    return held


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", default="1,2,4,8,12,16,24,32")
    p.add_argument("--backends", default="local,ray")
    p.add_argument("--compute", default="cpu", choices=("cpu", "cuda"), help="where the model runs [%(default)s]")
    p.add_argument("--client-processes", type=int, default=1, help="processes playing the streams [%(default)s]")
    p.add_argument("--keep-going", action="store_true", help="play every level, held or not, on one server")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    audio = load_mono_16k(CLIP)
    levels = [int(n) for n in args.streams.split(",")]
    rows: dict[str, list[dict]] = {b: [] for b in args.backends.split(",")}
    held = {
        b: held_streams(b, levels, audio, args.compute, args.client_processes, rows[b], args.keep_going) for b in rows
    }
    result = {"cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(), "clip": CLIP.name}
    result |= {
        "compute": args.compute,
        "client_processes": args.client_processes,
        "held_real_time_streams": held,
        "levels": rows,
    }
    if args.compute == "cuda":
        import torch

        result["gpu"] = torch.cuda.get_device_name()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up time of the command line and the core: median wall seconds of a few fresh processes each.

    python benchmarks/startup.py            # the target: `streamlid --help` well under 0.5 s

Prints one line per command; nothing is asserted (a benchmark, not a timed test).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = {
    "streamlid --help": [sys.executable, "-m", "streamlid", "--help"],
    "streamlid devices --json": [sys.executable, "-m", "streamlid", "devices", "--json"],
    "streamlid listen --help": [sys.executable, "-m", "streamlid", "listen", "--help"],
    "streamlid train --help (imports torch)": [sys.executable, "-m", "streamlid", "train", "--help"],
    "python -c 'import streamlid.core.stream'": [sys.executable, "-c", "import streamlid.core.stream"],
    "python -c 'import streamlid'": [sys.executable, "-c", "import streamlid"],
}


def main(runs: int = 7) -> None:
    for label, cmd in COMMANDS.items():
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - t)
        print(f"{label:45s} {statistics.median(times):.3f} s (min {min(times):.3f}, {runs} runs)")


if __name__ == "__main__":
    main()

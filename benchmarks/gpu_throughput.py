"""GPU throughput of the classifier: windows per second against batch size and precision.

Run on a GPU machine:  python benchmarks/gpu_throughput.py --out results.json
Prints a table; a stream needs 1/hop windows per second of speech (4 at the default hop of 0.25 s).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from streamlid.model.format import load_model


def timed(fn, reps: int = 20) -> float:
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--hop", type=float, default=0.25)
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM)")
    p.add_argument("--out", type=Path, default=Path("gpu_throughput.json"))
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd bf16")
    args = p.parse_args()
    model, info = load_model(args.model)
    model = model.cuda().eval()
    n = int(args.window * 16000)
    with FlopCounterMode(display=False) as fc:
        with torch.inference_mode():
            model(torch.randn(1, n, device="cuda"))
    flops = fc.get_total_flops()
    rows = []
    variants = [("eager", torch.float32, model), ("eager", torch.bfloat16, model)]
    if args.compile:
        variants.append(("compiled", torch.bfloat16, torch.compile(model)))
    for mode, dtype, net in variants:
        for batch in (1, 16, 64, 256, 1024, 4096):
            x = torch.randn(batch, n, device="cuda") * 0.1
            torch.cuda.reset_peak_memory_stats()

            def step(x=x, dtype=dtype, net=net):
                with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                    net(x).float().softmax(-1)

            try:
                sec = timed(step)
            except torch.OutOfMemoryError:
                break
            except Exception as e:  # a compile failure is a result to report, not a crash
                print(f"{mode} {dtype} batch {batch}: {type(e).__name__}: {str(e).splitlines()[0]}", flush=True)
                break
            wps = batch / sec
            rows.append(
                {
                    "mode": mode,
                    "dtype": str(dtype).split(".")[-1],
                    "batch": batch,
                    "ms_per_batch": round(sec * 1000, 3),
                    "windows_per_s": round(wps),
                    "streams_at_hop": int(wps * args.hop),
                    "gpu_mem_mib": round(torch.cuda.max_memory_allocated() / 2**20),
                    "tflops": round(wps * flops / 1e12, 2),
                    "fraction_of_peak": round(wps * flops / 1e12 / args.peak_tflops, 4),
                }
            )
            print(rows[-1], flush=True)
    result = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "gflops_per_window": flops / 1e9,
        "window": args.window,
        "hop": args.hop,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{'mode':>9} {'dtype':>9} {'batch':>6} {'ms':>8} {'windows/s':>10} {'streams':>8} {'MiB':>6} {'%peak':>6}")
    for r in rows:
        print(
            f"{r['dtype']:>9} {r['batch']:>6} {r['ms_per_batch']:>8} {r['windows_per_s']:>10} {r['streams_at_hop']:>8} {r['gpu_mem_mib']:>6} {100 * r['fraction_of_peak']:>6.2f}"
        )


if __name__ == "__main__":
    main()

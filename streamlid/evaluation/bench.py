"""The measurements behind `streamlid bench` (its command line: streamlid.cli.bench_command), per model:
accuracy of 1- and 3-s windows, model cost per window, real-time factor, concurrent streams, latency,
memory, GPU throughput where there is a GPU, streaming quality on synthetic conversations, the open set
and non-speech; `bench_models` gathers them into the report that `write_report` turns into markdown and
a plot."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..core.audio import SAMPLE_RATE, load_mono_16k
from ..core.languages import CORE
from ..core.smoothing import SPEECH_UNKNOWN
from ..core.stream import LanguageStream, StreamOptions, replace_options
from ..model.checkpoint import MODEL_NAMES, model_name, model_path
from ..model.classifier import Classifier
from .conversations import Score, benchmark_conversations, make_conversations, read_clips
from .evaluate import EvalOptions, evaluate
from .evaluate import read_manifest as evaluate_manifest
from .metrics import wilson_interval
from .nonspeech import nonspeech_clips

# targets: met when the measured value is at most the limit
TARGETS = {
    "cpu_ms_per_window": (10.0, "ms"),
    "cpu_per_audio_second": (0.08, "s"),
    "listen_peak_rss_mb": (400.0, "MB"),
    "first_decision_p50": (1.0, "s"),
    "switch_p50": (1.5, "s"),
    "false_switches_per_10min": (1.0, ""),
    "in_set_unknown": (0.05, ""),
    "nonspeech_given_language": (0.02, ""),
}
# targets: met when the measured value is at least the limit
AT_LEAST = {"correct_fraction": 0.95, "out_of_set_unknown": 0.8, "accuracy_1s": 0.85, "accuracy_3s": 0.95}
ACCURACY_SECONDS = (1.0, 3.0)
GPU_BATCH = 1024


def cpu_ms_per_window(classifier: Classifier, seconds: float, batch: int = 1, reps: int = 30) -> float:
    """Median CPU time (process time, all threads) per window of `seconds`, in ms."""
    rng = np.random.default_rng(0)
    windows = [rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1 for _ in range(batch)]
    classifier.log_probs(windows)  # warm-up
    times = []
    for _ in range(reps):
        t = time.process_time()
        classifier.log_probs(windows)
        times.append((time.process_time() - t) / batch)
    return float(np.median(times) * 1000)


def form(r: dict, key: str) -> str:
    """How a stream_cost row's model ran, for its label: ", int8" or ", float32"."""
    return ", int8" if r[key].get("int8") else ", float32"


def stream_cost(
    classifier: Classifier, audio: np.ndarray, options: StreamOptions | None = None, chunk: float = 0.02
) -> dict:
    """Push audio in real-time-sized chunks; CPU per second of audio (and so real-time streams per core),
    and chunk -> event latency."""
    stream = LanguageStream(classifier, options=options or StreamOptions())
    step = int(chunk * SAMPLE_RATE)
    latencies, cpu0 = [], time.process_time()
    for i in range(0, audio.size, step):
        t = time.perf_counter()
        events = stream.push(audio[i : i + step])
        if any(e["type"] == "posteriors" for e in events):
            latencies.append(time.perf_counter() - t)
    cpu = round(time.process_time() - cpu0, 3)
    seconds = round(audio.size / SAMPLE_RATE, 2)
    lat = np.array(latencies) * 1000
    return {  # streams per core from the rounded numbers, so that the report agrees with itself
        "audio_seconds": seconds,
        "cpu_seconds": cpu,
        "real_time_factor": round(cpu / seconds, 4),
        "streams_per_core": int(seconds / cpu) if cpu > 0 else None,
        "windows": stream.stats.windows,
        "skipped_windows": stream.stats.skipped_windows,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 2),
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 2),
    }


def concurrent_streams(classifier: Classifier, audio: np.ndarray, seconds: float = 10.0, tick: float = 0.1) -> dict:
    """Largest number of streams one process keeps in real time with cross-stream batching.

    Every tick each stream gets `tick` seconds of audio; all streams' windows go through one forward
    pass. Real time holds while the work for `seconds` of audio takes less wall time than `seconds`.
    """

    def wall_for(n: int) -> float:
        streams = [
            LanguageStream(
                None, options=StreamOptions(), model_languages=classifier.languages, open_set=classifier.open_set
            )
            for _ in range(n)
        ]
        step = int(tick * SAMPLE_RATE)
        offsets = np.linspace(0, audio.size - int(seconds * SAMPLE_RATE) - 1, n).astype(int)
        start = time.perf_counter()
        for k in range(int(seconds / tick)):
            batches = []
            for s, off in zip(streams, offsets, strict=True):
                s.write(audio[off + k * step : off + (k + 1) * step])
                batches.append(s.advance())
            flat = [w for b in batches for w in b]
            scores = classifier.log_probs(flat) if flat else np.zeros((0, len(classifier.languages)))
            i = 0
            for s, b in zip(streams, batches, strict=True):
                s.complete(scores[i : i + len(b)])
                i += len(b)
        return time.perf_counter() - start

    lo, hi, results = 0, 1, {}
    while True:  # double until real time breaks, then bisect
        results[hi] = wall_for(hi)
        if results[hi] > seconds * 0.9:
            break
        lo, hi = hi, hi * 2
    while hi - lo > max(1, lo // 10):
        mid = (lo + hi) // 2
        results[mid] = wall_for(mid)
        lo, hi = (mid, hi) if results[mid] <= seconds * 0.9 else (lo, mid)
    return {
        "streams": lo,
        "threads": torch.get_num_threads(),
        "audio_seconds": seconds,
        "wall_seconds": {str(k): round(v, 2) for k, v in sorted(results.items())},
    }


# Linux carries a process's peak RSS across exec, so a child started straight from this (large) process
# would report at least our own size: a small Python in between starts `listen` and reports its peak.
PEAK_RSS_OF_CHILD = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
    " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def listen_peak_rss_mb(audio_file: Path, model: str | None) -> float:
    """Peak resident memory of `streamlid listen --input FILE --fast` in a child process."""
    cmd = [sys.executable, "-m", "streamlid", "listen", "--input", str(audio_file), "--fast", "--json"]
    cmd += ["--compute", "cpu"] + (["--model", model] if model else [])
    out = subprocess.run([sys.executable, "-c", PEAK_RSS_OF_CHILD, *cmd], check=True, capture_output=True, text=True)
    return int(out.stdout) / 1024  # ru_maxrss is in KiB on Linux


def quality(classifier: Classifier, manifest: Path, split: str, n: int, seed: int, options: StreamOptions) -> dict:
    """Conversations in the core six languages, streamed as a user's are by default: every language of
    the model (and its open set) to choose from."""
    langs = [c for c in CORE if c in classifier.languages]
    score = Score()
    for conv in benchmark_conversations(read_clips(manifest, split, langs), n, seed):
        score.add(conv, LanguageStream(classifier, options=options).run(conv.audio))
    return score.summary()


def window_accuracy(classifier: Classifier, manifest: Path, split: str, quick: bool, seed: int) -> dict:
    """Core six, closed set: accuracy of single windows of 1 and 3 s cut from the split's clips (as
    `streamlid evaluate` cuts them), with a 95% bootstrap interval over clips."""
    rows = evaluate_manifest(manifest, split)
    options = EvalOptions(ACCURACY_SECONDS, seed=seed, max_clips_per_language=2 if quick else None)
    core = evaluate(rows, classifier, options)["systems"]["streamlid"]["sets"]["core6"]
    return {
        f"{s:g}": {k: core[str(s)][k] for k in ("accuracy", "ci95", "n_crops", "n_clips")} for s in ACCURACY_SECONDS
    }


def gpu_streams(model: str | None, hop: float, quick: bool) -> dict | None:
    """Real-time streams one GPU serves: 1-s windows per second at a batch of GPU_BATCH (bf16, as the
    Classifier runs them), divided by the windows a stream needs per second (1 / hop). None without CUDA."""
    if not torch.cuda.is_available():
        return None
    gpu = Classifier.load(model, "cuda")
    windows = [np.zeros(SAMPLE_RATE, dtype=np.float32)] * GPU_BATCH
    gpu.log_probs(windows)  # warm-up
    reps = 2 if quick else 10
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        gpu.log_probs(windows)
    per_s = reps * GPU_BATCH / (time.perf_counter() - start)
    return {"device": torch.cuda.get_device_name(0), "windows_per_s": round(per_s), "streams": int(per_s * hop)}


def rate(k: int, n: int) -> dict:
    low, high = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": round(k / n, 4) if n else None, "ci95": [round(low, 3), round(high, 3)]}


def open_set(
    classifier: Classifier, manifest: Path, split: str, per_group: int, seed: int, options: StreamOptions
) -> dict:
    """Whole clips, as `identify` sees them: how often speech in the model's languages, and speech in
    others, ends as "none of the languages" (the summary's state speech-unknown)."""
    rows = evaluate_manifest(manifest, split)
    rng = random.Random(seed)
    groups = {
        "in_set": [r for r in rows if r["language"] in classifier.languages],
        "out_of_set": [r for r in rows if r["language"] not in classifier.languages],
    }
    out = {}
    for group, members in groups.items():
        picked = rng.sample(members, min(per_group, len(members)))
        unknown = 0
        for r in picked:
            summary = LanguageStream(classifier, options=options).run(load_mono_16k(r["path"]))[-1]
            unknown += summary["state"] == SPEECH_UNKNOWN
        out[group] = {**rate(unknown, len(picked)), "languages": len({r["language"] for r in picked})}
    return out


def names_a_language(event: dict) -> bool:
    """A decision or summary that says someone spoke: a language, or "another language"."""
    return event["language"] is not None or event["state"] == SPEECH_UNKNOWN


def nonspeech(classifier: Classifier, options: StreamOptions) -> dict:
    """The non-speech test set (nonspeech_clips/ and synthetic noise, tones, music, clicks, silence):
    how often any decision names a language or "another language", and how often the summary does."""
    clips = nonspeech_clips()
    decided = summarised = 0
    for clip in clips:
        events = LanguageStream(classifier, options=options).run(clip.audio)
        decided += any(e["type"] == "decision" and names_a_language(e) for e in events)
        summarised += names_a_language(events[-1])
    return {"given_language": rate(decided, len(clips)), "summary_language": rate(summarised, len(clips))}


def goal(key: str) -> str:
    """`≤ limit unit` or `≥ limit`; '' for a measure without a target."""
    if key in AT_LEAST:
        return f"≥ {AT_LEAST[key]:g}"
    return f"≤ {TARGETS[key][0]:g} {TARGETS[key][1]}".rstrip() if key in TARGETS else ""


def target(key: str, value: float | None) -> str:
    """`≤ limit unit: met`, or missed and by how much; '' for a measure without a target."""
    if key in AT_LEAST:
        return f"{goal(key)}: met" if value >= AT_LEAST[key] else f"{goal(key)}: missed by {AT_LEAST[key] - value:.3g}"
    if key not in TARGETS:
        return ""
    limit, unit = TARGETS[key]
    if value is None:
        return f"{goal(key)}: missed (never, in half or more)"
    return f"{goal(key)}: met" if value <= limit else f"{goal(key)}: missed by {value - limit:.3g} {unit}".rstrip()


def seconds_cell(value: float | None, never: int, total: int) -> str:
    """A latency percentile: seconds, or never (a decision that never came counts as infinitely late)."""
    if value is None:
        return f"never ({never} of {total} never)" if never else "never"
    return f"{value:.2f} s ({never} of {total} never)" if never else f"{value:.2f} s"


def side_by_side(report: dict) -> list[str]:
    """The table users choose a model by: one column per model."""
    models = report["models"]

    def accuracy(r: dict, s: str) -> str:
        a = r["accuracy"][s]
        return f"{a['accuracy']:.3f} [{a['ci95'][0]:.2f}–{a['ci95'][1]:.2f}] (n = {a['n_crops']}, {a['n_clips']} clips)"

    def gpu(r: dict) -> str:
        g = r["gpu"]
        return f"{g['streams']} ({g['windows_per_s']} windows/s, {g['device']})" if g else "no GPU here"

    rows = [
        (f"accuracy, one {float(s):g}-s window, core six closed set [95% CI]", lambda r, s=s: accuracy(r, s))
        for s in (f"{x:g}" for x in ACCURACY_SECONDS)
    ]
    rows += [
        ("model CPU ms per 1-s window, 1 thread", lambda r: f"{r['cpu_ms_per_window']['1.0']:.2f}"),
        (
            "CPU s per s of audio, one stream: every hop / adaptive (the model's form) / adaptive, the other form",
            lambda r: " / ".join(
                f"{r[k]['real_time_factor']:g}" for k in ("stream_every_hop", "stream", "stream_other_form")
            ),
        ),
        (
            "real-time streams per CPU core, one stream each: adaptive / adaptive, the other form",
            lambda r: f"{r['stream']['streams_per_core']} / {r['stream_other_form']['streams_per_core']}",
        ),
        ("real-time streams per CPU core (cross-stream batching)", lambda r: str(r["concurrent_1_thread"]["streams"])),
        (f"real-time streams per GPU (1-s windows, batch {GPU_BATCH})", gpu),
        ("streaming: fraction of speech time right", lambda r: f"{r['quality']['correct_fraction']:g}"),
        ("streaming: false switches per 10 min", lambda r: f"{r['quality']['false_switches_per_10min']:g}"),
        ("peak RSS of `listen`", lambda r: f"{r['listen_peak_rss_mb']:g} MB"),
    ]
    names = list(models)
    lines = ["| measure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cell(models[n]) for n in names) + " |" for label, cell in rows]
    targets = [f"{goal(f'accuracy_{s:g}s')} at {s:g} s" for s in ACCURACY_SECONDS]
    cost = f"{goal('cpu_per_audio_second')} CPU per s of audio (one stream)"
    return [*lines, "", f"Targets: {', '.join(targets)}, {cost}.", ""]


def model_sections(r: dict) -> list[str]:
    """Every number measured of one model, in markdown tables."""
    s, c, q = r["stream"], r["concurrent_1_thread"], r["quality"]
    rows = [
        (
            f"accuracy of one {float(w):g}-s window, core six closed set",
            f"{a['accuracy']:.3f} [{a['ci95'][0]:.2f}–{a['ci95'][1]:.2f}]",
            target(f"accuracy_{float(w):g}s", a["accuracy"]),
        )
        for w, a in r["accuracy"].items()
    ]
    rows += [
        (f"model CPU time per window of {float(w):g} s", f"{ms:.2f} ms", target("cpu_ms_per_window", ms))
        for w, ms in r["cpu_ms_per_window"].items()
    ]
    rows += [
        (
            f"CPU s per s of audio, one stream, {label} ({x['audio_seconds']:g} s of conversations, 20 ms chunks)",
            f"{x['real_time_factor']:g} ({x['cpu_seconds']:g} CPU s, {x['windows']} windows analysed,"
            f" {x['skipped_windows']} skipped; {x['streams_per_core']} streams per core)",
            target("cpu_per_audio_second", x["real_time_factor"]),
        )
        for label, x in (
            ("every hop", r["stream_every_hop"]),
            (f"adaptive analysis (the default){form(r, 'stream')}", s),
            (f"adaptive{form(r, 'stream_other_form')}", r["stream_other_form"]),
        )
    ]
    rows += [
        (
            "chunk pushed → its events, one stream, p50 / p99",
            f"{s['latency_ms_p50']:g} / {s['latency_ms_p99']:g} ms",
            "",
        ),
        (f"concurrent real-time streams, one process, {c['threads']} thread, cross-stream batching", c["streams"], ""),
        (
            "peak RSS of `streamlid listen --input F --fast`",
            f"{r['listen_peak_rss_mb']:g} MB",
            target("listen_peak_rss_mb", r["listen_peak_rss_mb"]),
        ),
    ]
    n = q["conversations"]
    quality = [
        (
            "speech onset → first correct decision that holds, p50 / p90",
            f"{seconds_cell(q['first_decision_p50'], q['first_decision_never'], n)}"
            f" / {seconds_cell(q['first_decision_p90'], 0, n)}",
            target("first_decision_p50", q["first_decision_p50"]),
        ),
        (
            "language switch → correct new decision, p50 / p90",
            f"{seconds_cell(q['switch_p50'], q['switch_never'], q['switches'])}"
            f" / {seconds_cell(q['switch_p90'], 0, q['switches'])}",
            target("switch_p50", q["switch_p50"]),
        ),
        (
            "false switches per 10 min of one-language speech",
            f"{q['false_switches_per_10min']:g}",
            target("false_switches_per_10min", q["false_switches_per_10min"]),
        ),
        (
            "fraction of speech time with the right decision",
            f"{q['correct_fraction']:g}",
            target("correct_fraction", q["correct_fraction"]),
        ),
        ("conversations (one language, A→B, A→B→A), speech", f"{n}, {q['speech_minutes']:g} min", ""),
    ]

    def table(rows: list[tuple]) -> list[str]:
        return ["| measure | value | target |", "|---|---|---|"] + [f"| {a} | {b} | {t} |" for a, b, t in rows]

    lines = [
        f"## {r['name']} ({r['model']})",
        "",
        "### Accuracy and cost on the CPU (one thread)",
        "",
        *table(rows),
        "",
        f"Concurrent streams: wall time to process {c['audio_seconds']:g} s of audio for N streams"
        f" (real time holds below {0.9 * c['audio_seconds']:g} s):",
        "",
        "| streams | " + " | ".join(c["wall_seconds"]) + " |",
        "|---|" + "---|" * len(c["wall_seconds"]),
        "| wall seconds | " + " | ".join(f"{v:g}" for v in c["wall_seconds"].values()) + " |",
        "",
        "### Streaming quality (default settings)",
        "",
        *table(quality),
        "",
    ]
    trust = []
    if "open_set" in r:
        o = r["open_set"]
        for key, label in (("out_of_set", "in other languages"), ("in_set", "in the model's languages")):
            g = o[key]
            trust.append(
                (
                    f"whole clips {label} called 'none of the languages' ({g['n']} clips, {g['languages']} languages)",
                    f"{g['rate']:g} [{g['ci95'][0]:g}–{g['ci95'][1]:g}]",
                    target(f"{key}_unknown", g["rate"]),
                )
            )
    g = r["nonspeech"]["given_language"]
    trust.append(
        (
            f"non-speech clips given a language or 'another language' at any moment ({g['n']} clips)",
            f"{g['rate']:g} [{g['ci95'][0]:g}–{g['ci95'][1]:g}]",
            target("nonspeech_given_language", g["rate"]),
        )
    )
    return lines + ["### Decisions to trust (whole clips; 95% Wilson intervals)", "", *table(trust), ""]


def markdown_report(report: dict, plot: str) -> str:
    """Every number of `report` in markdown tables, under the command that measured them."""
    m = report["machine"]
    lines = [
        "# streamlid bench",
        "",
        f"Reproduce: `{report['command']}`",
        "",
        f"{m['cpus']} CPUs, torch {m['torch']}; {report['date']}; clips of the `{report['split']}` split,"
        f" seed {report['seed']}." + (" Quick run: few repetitions, rough numbers." if report.get("quick") else ""),
        "",
        *side_by_side(report),
        f"![CPU time per window and concurrent streams]({plot})",
        "",
    ]
    for r in report["models"].values():
        lines += model_sections(r)
    return "\n".join(lines)


def plot_cost(report: dict, path: Path) -> None:
    """CPU time per window against its length, and wall time against the number of concurrent streams,
    one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import StrMethodFormatter

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, r in report["models"].items():
        cpu = r["cpu_ms_per_window"]
        a.plot([float(w) for w in cpu], list(cpu.values()), marker="o", label=name)
        c = r["concurrent_1_thread"]
        b.plot([int(k) for k in c["wall_seconds"]], list(c["wall_seconds"].values()), marker="o", label=name)
    a.axhline(TARGETS["cpu_ms_per_window"][0], color="tab:red", ls="--", label="target")
    a.set_xlabel("window (s)")
    a.set_ylabel("CPU ms per window, 1 thread")
    a.set_ylim(bottom=0)
    a.legend()
    audio_seconds = next(iter(report["models"].values()))["concurrent_1_thread"]["audio_seconds"]
    b.axhline(0.9 * audio_seconds, color="tab:red", ls="--", label="real-time limit")
    b.set_xscale("log", base=2)
    b.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    b.set_xlabel("concurrent streams")
    b.set_ylabel(f"wall s per {audio_seconds:g} s of audio")
    b.legend()
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict, path: Path) -> Path:
    """The markdown report at `path` and its plot beside it; returns the plot's path."""
    plot = path.with_name(f"{path.stem}-cost.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_cost(report, plot)
    path.write_text(markdown_report(report, plot.name), encoding="utf-8")
    return plot


@dataclass(frozen=True)
class BenchOptions:
    """What `measure` and `bench` measure on: the manifest's clips (accuracy, conversations, open set) and
    how much of it; `work_dir` takes a scratch file (the audio `listen` is measured on)."""

    manifest: Path
    split: str = "dev"
    conversations: int = 40  # conversations of each kind
    open_set_clips: int = 40  # whole clips in and out of the model's languages
    seed: int = 0
    quick: bool = False  # few repetitions and short runs: a smoke test, rough numbers
    work_dir: Path = Path("bench-results")


def measure(model: str, options: BenchOptions) -> dict:
    """Every measurement of one model."""
    o = options
    classifier = Classifier.load(model, "cpu")  # in the model's own form: int8 where it chooses it
    weights = model_path(model)
    langs = [c for c in CORE if c in classifier.languages]
    clips = read_clips(o.manifest, o.split, langs)
    convs = make_conversations(clips, 1 if o.quick else 6, seed=o.seed, n_stretches=2)
    audio = np.concatenate([c.audio for c in convs])
    name = model_name(model)
    r: dict = {
        "name": name,
        "model": str(weights.relative_to(weights.parent.parent)) if model in MODEL_NAMES else model,
    }

    def step(what: str) -> None:
        print(f"{name}: {what}...", file=sys.stderr)

    step("accuracy of 1-s and 3-s windows")
    r["accuracy"] = window_accuracy(classifier, o.manifest, o.split, o.quick, o.seed)
    step("model cost per window (1 thread)")
    reps = 3 if o.quick else 30
    r["cpu_ms_per_window"] = {
        str(s): round(cpu_ms_per_window(classifier, s, reps=reps), 2) for s in (0.5, 1.0, 2.0, 3.0)
    }
    step("stream cost and latency (adaptive analysis, every hop, the other of int8 and float32)")
    r["stream"] = {**stream_cost(classifier, audio), "int8": classifier.int8}
    every_hop = replace_options(StreamOptions(), steady_hop=0)
    r["stream_every_hop"] = {**stream_cost(classifier, audio, every_hop), "int8": classifier.int8}
    other = Classifier.load(model, "cpu", int8=not classifier.int8)
    r["stream_other_form"] = {**stream_cost(other, audio), "int8": other.int8}
    del other
    step("concurrent streams")
    r["concurrent_1_thread"] = concurrent_streams(classifier, audio, seconds=1.0 if o.quick else 10.0)
    step("GPU throughput")
    r["gpu"] = gpu_streams(model, StreamOptions().hop, o.quick)
    step("peak memory of listen")
    o.work_dir.mkdir(parents=True, exist_ok=True)
    wav = o.work_dir / "conversations.wav"
    sf.write(wav, audio, SAMPLE_RATE)
    r["listen_peak_rss_mb"] = round(listen_peak_rss_mb(wav, model), 1)
    wav.unlink()
    step("streaming quality")
    r["quality"] = quality(classifier, o.manifest, o.split, o.conversations, o.seed, StreamOptions())
    if classifier.open_set:
        step("open set (whole clips)")
        n = 6 if o.quick else o.open_set_clips
        r["open_set"] = open_set(classifier, o.manifest, o.split, n, o.seed, StreamOptions())
    step("non-speech")
    r["nonspeech"] = nonspeech(classifier, StreamOptions())
    return r


def bench_models(models: list[str], options: BenchOptions, command: str) -> dict:
    """The report of every model in `models` (one CPU thread), under `command`, the command line that
    reproduces it."""
    torch.set_num_threads(1)
    report: dict = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "quick": options.quick,
        "split": options.split,
        "seed": options.seed,
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__},
        "models": {},
    }
    for model in models:
        r = measure(model, options)
        report["models"][r["name"]] = r
    return report

"""Command line: `streamlid devices | listen | identify | train | evaluate | serve | send`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from ..core.audio import AudioError
from ..core.events import to_json
from ..core.stream import LanguageStream, replace_options
from ..io.offline import IDENTIFY_WINDOW, identify
from ..model.checkpoint import ModelError, model_path
from ..serving.protocol import parse_host_port, token_from_env
from .options import UsageError, add_model_options, check_token, load_classifier, stream_options

# subcommands that live in their own module of the command line: name -> (module, help). Each module has
# configure_parser(parser) and run(args) -> int; the library functions they call take no argparse Namespace.
MODULE_COMMANDS = {
    "train": ("streamlid.cli.train_command", "train a model from manifests"),
    "evaluate": ("streamlid.cli.evaluate_command", "accuracy, F1 and calibration by window length on a manifest"),
    "serve": ("streamlid.cli.serve_command", "websocket server: event feed, audio in, browser page"),
    "send": ("streamlid.cli.send_command", "stream an audio file to a streamlid server and print the events"),
    "bench": (
        "streamlid.cli.bench_command",
        "benchmarks: cost per window, real-time factor, latency, streaming quality",
    ),
}


LONG_FILE = 30.0  # seconds; identify prints a timeline of language segments for longer files


# -- devices -----------------------------------------------------------------------------------------
def cmd_devices(args: argparse.Namespace) -> int:
    from ..io.sources import input_devices

    devices = input_devices()
    if not devices:  # the same exit status with --json: a script must not take "nothing" for success
        print("no audio input devices found", file=sys.stderr if args.json else sys.stdout)
        return 1
    if args.json:
        for d in devices:
            print(json.dumps(d, ensure_ascii=False))
        return 0
    print(f"{'index':>5}  {'channels':>8}  {'rate':>7}  name")
    for d in devices:
        print(f"{d['index']:>5}  {d['channels']:>8}  {d['default_samplerate']:>7.0f}  {d['name']} ({d['hostapi']})")
    return 0


# -- listen ------------------------------------------------------------------------------------------
def cmd_listen(args: argparse.Namespace) -> int:
    from ..io.sources import FileSource, MicSource

    if args.input and args.device is not None:
        raise UsageError("use either --device or --input, not both")
    if args.fast and not args.input:
        raise UsageError("--fast only applies to --input FILE")
    if args.tui and args.json:
        raise UsageError(
            "--tui and --json cannot go together: the dashboard owns the terminal (--serve can feed others)"
        )
    if args.tui and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("--tui needs a terminal on stdin and stdout; without one use the live line or --json")
    source = FileSource(args.input, realtime=not args.fast) if args.input else MicSource(args.device)
    if args.input:
        from ..core.audio import truncation_warning

        warning = truncation_warning(args.input)
        if warning:
            print(f"streamlid listen: warning: {warning}", file=sys.stderr, flush=True)
    classifier, languages = load_classifier(args)
    options = replace_options(
        stream_options(args, languages, classifier.languages), level_interval=0.1 if args.tui else 0.0
    )
    classifier.warm_up(options.window)  # on a GPU: before the first speech, not during it
    stream = LanguageStream(classifier, source.sample_rate, source.channels, options)
    info = {
        "source": source.description,
        "sample_rate": source.sample_rate,
        "channels": source.channels,
        "model": str(model_path(args.model)),
        "compute": classifier.device.type,
    }
    feed, publish = None, None
    if args.serve:
        from ..serving.server import serve_stream

        try:
            token = token_from_env(args.token)
            check_token(parse_host_port(args.serve)[0], token, allow_remote_without_token=False)
            feed, publish = serve_stream(args.serve, token, classifier, stream, info)
        except ValueError as e:
            raise UsageError(str(e)) from None
        print(f"serving the events on ws://{args.serve}/events (page at http://{args.serve}/)", file=sys.stderr)
    try:
        return run_sinks(args, source, stream, info, publish)
    finally:
        if feed:
            feed.close()


def run_sinks(args: argparse.Namespace, source, stream: LanguageStream, info: dict, publish) -> int:
    from ..io.sinks import JsonLines, LiveLine
    from ..io.sources import pump

    if args.tui:
        from ..io.tui import run_dashboard

        return run_dashboard(source, stream, info, also=publish)
    sink = JsonLines() if args.json else LiveLine()
    if publish:
        sink = tee(sink, publish)
    # on stderr in every mode: with --json it is the ready signal a script can wait for
    print(
        f"listening to {info['source']} at {info['sample_rate']} Hz, {info['channels']} ch; model on {info['compute']}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()

    def on_signal(*_) -> None:
        # Ctrl-C or SIGTERM ends the loop between two steps (the summary follows); a second one interrupts
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pump(source, stream, sink, stop)
    except KeyboardInterrupt:
        source.stop()
        sink(stream.close())
    return 0


def tee(*sinks):
    def both(events: list[dict]) -> None:
        for sink in sinks:
            sink(events)

    return both


# -- identify ----------------------------------------------------------------------------------------
def cmd_identify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.top < 1:
        raise UsageError(f"--top must be at least 1, not {args.top}")
    classifier, languages = load_classifier(args)
    options = replace_options(stream_options(args, languages, classifier.languages), ring_seconds=15.0)
    failed = 0
    show_progress = not args.json and len(args.files) > 1 and sys.stderr.isatty()
    for path in tqdm(args.files, desc="identify", unit="file", disable=not show_progress):
        try:
            result = identify(path, classifier, options=options)
        except AudioError as e:
            failed += 1
            result = {"path": str(path), "error": str(e)}
        if "warning" in result and not args.json:
            print(f"streamlid identify: warning: {result['warning']}", file=sys.stderr, flush=True)
        if args.json:
            print(to_json(result), flush=True)
        elif "error" in result:  # a file that cannot be read: one line on stderr, the others go on
            print(f"streamlid identify: error: {result['error']}", file=sys.stderr, flush=True)
        else:
            print(format_result(result, args.top))
    return 1 if failed else 0


def format_result(r: dict, k: int) -> str:
    if "error" in r:
        return f"{r['path']}: error: {r['error']}"
    top = ", ".join(f"{x['language']} {x['p']:.2f}" for x in r["top"][:k])
    if r["state"] == "speech-unknown":
        return (
            f"{r['path']}: another language, not one of the model's ({r['unknown']:.2f})"
            f"  [{r['speech_seconds']:.1f} s speech of {r['duration']:.1f} s; closest: {top}]"
        )
    if r["language"] is None:
        return f"{r['path']}: no speech found ({r['duration']:.1f} s of audio)"
    lines = [
        f"{r['path']}: {r['name']} ({r['language']}) {r['confidence']:.2f}  [{r['speech_seconds']:.1f} s speech of {r['duration']:.1f} s; top: {top}]"
    ]
    if r["duration"] > LONG_FILE:  # a timeline only where a language change is plausible
        for s in r["segments"]:
            lines.append(f"    {s['start']:8.2f} – {s['end']:8.2f} s  {s['language']}")
    return "\n".join(lines)


# -- entry point -------------------------------------------------------------------------------------
def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; with `argv`, only the subcommand it names is fully configured."""
    parser = argparse.ArgumentParser(
        prog="streamlid",
        description="Real-time spoken-language identification: live from a microphone, from files, or over websockets.",
        epilog="Run 'streamlid COMMAND --help' for the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "devices",
        help="list audio input devices",
        description="List audio input devices: index, channels, default sample rate, name.",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per device")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser(
        "listen",
        help="identify the language live from a microphone or a file",
        description="Identify the spoken language live. Prints a compact live line, or JSON lines with --json (event schema in the README).",
    )
    src = p.add_argument_group("source")
    src.add_argument(
        "--device",
        "-d",
        default=None,
        help="input device: index or part of its name (see 'streamlid devices') [default device]",
    )
    src.add_argument(
        "--input",
        "-i",
        type=Path,
        default=None,
        help="use an audio file as the source instead of a microphone, paced in real time",
    )
    src.add_argument(
        "--fast",
        action="store_true",
        help="with --input: as fast as possible instead of real time (same events, stream time in t)",
    )
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON lines: one event per line")
    out.add_argument(
        "--tui",
        action="store_true",
        help="full-screen terminal dashboard (q quit, p pause, r reset, l languages); only when asked, so pipes and scripts always get plain lines",
    )
    out.add_argument(
        "--serve",
        metavar="HOST:PORT",
        default=None,
        help="also publish the events over websockets: feed at /events, browser page at / (see 'streamlid serve')",
    )
    out.add_argument(
        "--token",
        default=None,
        help="with --serve: token clients must present; required unless bound to loopback [STREAMLID_TOKEN]",
    )
    add_model_options(p)
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser(
        "identify",
        help="identify the language of audio files (offline, as fast as possible)",
        description="For each file: language, confidence, top-k, seconds of speech, and for long files a timeline of language segments. Reads wav/flac/ogg/opus/mp3 at any rate and channel count.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.add_argument("--top", type=int, default=3, help="how many languages to list [%(default)s]")
    add_model_options(p, window=IDENTIFY_WINDOW)
    p.set_defaults(func=cmd_identify)

    # the other subcommands' modules import torch or websockets: only the one named is imported
    named = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for command, (module_name, help_text) in MODULE_COMMANDS.items():
        p = sub.add_parser(command, help=help_text, description=help_text)
        if named in (None, command):
            module = importlib.import_module(module_name)
            p.description = " ".join((module.__doc__ or help_text).strip().split("\n\n")[0].split())
            module.configure_parser(p)
            p.set_defaults(func=module.run)
    return parser


class _StderrLines(logging.StreamHandler):
    """`streamlid: warning: ...` on whatever sys.stderr is when the record comes (as logging's last resort)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("streamlid: %(levelname)s: %(message)s"))

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass

    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)


def show_library_warnings() -> None:
    """The library's warnings and errors (a GPU given up for the CPU, a failed scoring step) as
    `streamlid: warning: ...` lines on stderr, like the command line's own."""
    logger = logging.getLogger("streamlid")
    if not logger.handlers:
        logger.addHandler(_StderrLines())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    show_library_warnings()
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except UsageError as e:
        parser.exit(2, f"streamlid {args.command}: error: {e}\n")
    except (AudioError, ModelError) as e:
        print(f"streamlid {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`): not an error worth a traceback
        return 0


if __name__ == "__main__":
    sys.exit(main())

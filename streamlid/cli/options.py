"""Command-line options shared by the subcommands that run a model (`listen`, `identify`, `serve`, and the
runtime options of `evaluate`): their argparse groups, and the checks that turn them into StreamOptions,
ServerOptions and a loaded model. The library modules (stream, server, ray_serve) never import this; the
command-line layer does."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..core.languages import parse_languages
from ..core.stream import StreamOptions, replace_options
from ..model.checkpoint import MODEL_HELP
from ..serving.protocol import ServerOptions, is_loopback, token_from_env

if TYPE_CHECKING:
    from ..model.classifier import Classifier

DEFAULTS = StreamOptions()


class UsageError(Exception):
    """A bad option value; the command line prints it with the usage line and exits with 2."""


def add_model_options(p: argparse.ArgumentParser, window: float = DEFAULTS.window) -> None:
    g = p.add_argument_group("model and analysis")
    add_model_option(g)
    g.add_argument(
        "--languages",
        default=None,
        help="restrict to these languages, comma-separated ISO 639-3 codes (e.g. eng,deu); probabilities are renormalised over them",
    )
    g.add_argument(
        "--prefer",
        default=None,
        metavar="CODES",
        help="languages you expect, comma-separated (e.g. eng,deu): more likely than the rest, not exclusive;"
        " a switch to one of them needs less evidence",
    )
    g.add_argument(
        "--unknown",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decide 'none of these languages' (state speech-unknown, language null) when the speech fits none:"
        " on by default with a model that has an open set, off with --languages (a forced choice among them)",
    )
    g.add_argument(
        "--window",
        type=float,
        default=window,
        help="longest analysis window in seconds of speech [%(default)s]",
    )
    g.add_argument(
        "--hop", type=float, default=DEFAULTS.hop, help="seconds of new speech between analyses [%(default)s]"
    )
    g.add_argument(
        "--steady-hop",
        type=float,
        default=DEFAULTS.steady_hop,
        help="seconds between analyses while the decision is steady (confident, and the last windows agree);"
        " every --hop again on a change, a drop in confidence or a new utterance; 0 analyses every hop [%(default)s]",
    )
    g.add_argument(
        "--min-window",
        type=float,
        default=None,
        help=f"speech needed for the first analysis of an utterance, at most --window [{DEFAULTS.min_window}]",
    )
    g.add_argument(
        "--vad-aggressiveness",
        type=int,
        choices=(0, 1, 2, 3),
        default=DEFAULTS.vad.aggressiveness,
        help="WebRTC VAD: 0 keeps most audio as speech, 3 the least [%(default)s]",
    )
    g.add_argument(
        "--vad-frame-ms",
        type=int,
        choices=(10, 20, 30),
        default=DEFAULTS.vad.frame_ms,
        help="VAD frame length [%(default)s]",
    )
    g.add_argument(
        "--switch-prob",
        type=float,
        default=DEFAULTS.smoothing.switch_prob,
        help="smoothing: probability of a language switch per hop; lower is steadier, higher reacts faster [%(default)s]",
    )
    g.add_argument(
        "--confident",
        type=float,
        default=DEFAULTS.smoothing.confident,
        help="smoothed probability needed to be confident and to change the decision [%(default)s]",
    )
    g.add_argument(
        "--evidence-weight",
        type=float,
        default=DEFAULTS.smoothing.evidence_weight,
        help="smoothing: how much each window's evidence counts (overlapping windows share audio);"
        " lower is steadier, higher reacts faster [%(default)s]",
    )
    g.add_argument(
        "--no-speech",
        type=float,
        default=DEFAULTS.no_speech,
        metavar="P",
        help="the model's speech check: a window it gives p(no speech) >= P (noise, music, tones the VAD let"
        " through) is not speech and names no language; 1 turns the check off [%(default)s]",
    )
    add_runtime_options(g)


def add_model_option(g: argparse.ArgumentParser) -> None:
    """--model on a parser or argument group `g`."""
    g.add_argument("--model", default=None, metavar="NAME|PATH", help=f"{MODEL_HELP} [default: base]")


def add_runtime_options(g: argparse.ArgumentParser, compute_default: str = "auto") -> None:
    """--compute, --int8 and --threads on a parser or argument group `g`: where and how the model runs.
    `evaluate` measures CPU cost, so its model runs on the CPU unless told (compute_default "cpu")."""
    g.add_argument(
        "--compute",
        choices=("auto", "cpu", "cuda"),
        default=compute_default,
        help="where the model runs: auto picks a CUDA GPU when there is one [%(default)s]",
    )
    g.add_argument(
        "--int8",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="on the CPU, run the model's Linear layers in int8: half the CPU per window, as accurate on dev"
        " (model card); --no-int8 runs float32 [default: the model's choice; on for the shipped model]",
    )
    g.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for the model; one window is too small to share, and more threads fight the audio path on a busy machine [%(default)s]",
    )


def check_range(option: str, value: float, low: float, high: float, unit: str = "") -> None:
    """A UsageError naming the option the user typed and its allowed range."""
    if not low <= value <= high:
        raise UsageError(f"{option} must be from {low:g} to {high:g}{unit}, not {value:g}")


def stream_options(args: argparse.Namespace, languages: list[str] | None, model_languages: list[str]) -> StreamOptions:
    """StreamOptions from the command line; `languages` as load_classifier checked them."""
    try:
        prefer = parse_languages(args.prefer, model_languages, "--prefer", at_least=1) or []
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_range("--window", args.window, 0.1, 30, " s")
    if args.min_window is None:  # not typed: the default, or --window when that is shorter
        min_window = min(DEFAULTS.min_window, args.window)
    else:
        check_range("--min-window", args.min_window, 0.1, args.window, " s (--window)")
        min_window = args.min_window
    check_range("--hop", args.hop, 0.01, args.window, " s (--window)")
    check_range("--steady-hop", args.steady_hop, 0, 30, " s")
    check_range("--switch-prob", args.switch_prob, 0, 1)
    check_range("--confident", args.confident, 0, 1)
    check_range("--evidence-weight", args.evidence_weight, 0.01, 10)
    check_range("--no-speech", args.no_speech, 0.01, 1)
    try:
        return replace_options(
            DEFAULTS,
            window=args.window,
            hop=args.hop,
            steady_hop=args.steady_hop,
            min_window=min_window,
            languages=tuple(languages) if languages else None,
            prefer=tuple(prefer),
            unknown=args.unknown,
            vad_aggressiveness=args.vad_aggressiveness,
            vad_frame_ms=args.vad_frame_ms,
            switch_prob=args.switch_prob,
            confident=args.confident,
            evidence_weight=args.evidence_weight,
            no_speech=args.no_speech,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None


def load_classifier(args: argparse.Namespace) -> tuple[Classifier, list[str] | None]:
    import torch

    from ..model.classifier import Classifier

    if args.threads < 1:
        raise UsageError("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    classifier = Classifier.load(args.model, args.compute, args.int8)
    try:
        languages = parse_languages(args.languages, classifier.languages)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return classifier, languages


def add_server_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("server")
    g.add_argument(
        "--token",
        default=None,
        help="clients must present this token (?token= or Authorization: Bearer) [STREAMLID_TOKEN]",
    )
    g.add_argument(
        "--origin", action="append", default=[], help="also allow browser pages from this origin (repeatable)"
    )
    g.add_argument(
        "--queue-size",
        type=int,
        default=ServerOptions.queue_size,
        help="messages a subscriber may lag behind before the oldest are dropped [%(default)s]",
    )
    g.add_argument(
        "--max-streams", type=int, default=ServerOptions.max_streams, help="concurrent audio-in streams [%(default)s]"
    )
    g.add_argument(
        "--max-subscribers",
        type=int,
        default=ServerOptions.max_subscribers,
        help="concurrent event-feed connections [%(default)s]",
    )
    g.add_argument(
        "--max-connections-per-address",
        type=int,
        default=ServerOptions.max_connections_per_address,
        help="concurrent websocket connections from one client address [%(default)s]",
    )
    g.add_argument(
        "--max-message-bytes",
        type=int,
        default=ServerOptions.max_message_bytes,
        help="largest message a client may send; larger ones close the connection with 1009 [%(default)s]",
    )
    g.add_argument(
        "--allow-remote-without-token",
        action="store_true",
        help="bind beyond loopback without a token (anyone who can reach the port may connect)",
    )


def check_token(host: str, token: str | None, allow_remote_without_token: bool) -> None:
    """The rule of ServerOptions, in the command line's words: beyond loopback, a token or the explicit flag."""
    if token is None and not is_loopback(host) and not allow_remote_without_token:
        raise UsageError(
            f"binding to {host} needs a token (--token or STREAMLID_TOKEN, or --allow-remote-without-token)"
        )


def server_options(args: argparse.Namespace, host: str, port: int) -> ServerOptions:
    check_token(host, token_from_env(args.token), args.allow_remote_without_token)

    try:
        return ServerOptions(
            host=host,
            port=port,
            token=token_from_env(args.token),
            origins=tuple(args.origin),
            queue_size=args.queue_size,
            max_streams=args.max_streams,
            max_subscribers=args.max_subscribers,
            max_connections_per_address=args.max_connections_per_address,
            max_message_bytes=args.max_message_bytes,
            allow_remote_without_token=args.allow_remote_without_token,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None

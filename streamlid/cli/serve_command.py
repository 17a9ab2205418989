"""`streamlid serve`: the websocket server (event feed, audio in, browser page) in this process, or on Ray
Serve with the model in autoscaled replicas (docs/scaling.md)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from ..serving.protocol import step_windows
from ..serving.server import LiveServer
from .options import UsageError, add_model_options, add_server_options, load_classifier, server_options, stream_options


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="interface to bind; anything but loopback needs --token [%(default)s]"
    )
    p.add_argument("--port", type=int, default=8765, help="port (0 picks a free one) [%(default)s]")
    p.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: Ray Serve, the model in autoscaled replicas (docs/scaling.md) [%(default)s]",
    )
    add_server_options(p)
    add_model_options(p)
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="on a GPU, compile the model (torch.compile) before serving: 1.5x the windows per second on an"
        " H100, for about 30 s more start-up (BENCHMARKS.md); nothing on the CPU [on]",
    )


def run(args: argparse.Namespace) -> int:
    if args.backend == "ray":
        return run_on_ray(args)
    options = server_options(args, args.host, args.port)
    classifier, languages = load_classifier(args)
    streams = stream_options(args, languages, classifier.languages)
    if args.compile:
        classifier.compile()  # compiled by the warm-up's calls
    classifier.warm_up(streams.window, step_windows(options.max_streams))
    server = LiveServer(classifier, options, streams, str(args.model or ""))
    return asyncio.run(_serve_until_signal(server))


async def _serve_until_signal(server: LiveServer) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as e:
        print(
            f"streamlid serve: error: cannot listen on {server.options.host}:{server.options.port}: {e.strerror or e}",
            file=sys.stderr,
        )
        return 2
    o = server.options
    host = f"[{o.host}]" if ":" in o.host else o.host
    print(f"streamlid: serving on http://{host}:{server.port}/ (feed /events, audio /audio); Ctrl-C stops", flush=True)
    await stop.wait()
    await server.close()
    return 0


def run_on_ray(args: argparse.Namespace) -> int:
    """`streamlid serve --backend ray`: deploy on the cluster at RAY_ADDRESS (or a new local one), serve
    on --host/--port until Ctrl-C or SIGTERM."""
    try:
        from ray import serve

        from ..serving.ray_serve import application, start_ray
    except ModuleNotFoundError as e:
        raise UsageError(f"--backend ray needs {e.name}: pip install 'streamlid[ray]'") from None
    options = server_options(args, args.host, args.port)
    classifier, languages = load_classifier(args)  # the model and --languages are checked here, before deploying
    start_ray(options)
    serve.run(
        application(
            options,
            stream_options(args, languages, classifier.languages),
            args.model,
            args.compute,
            args.threads,
            int8=args.int8,
            compiled=args.compile,
        ),
        name="streamlid",
        route_prefix="/",
    )
    print(
        f"streamlid: serving on Ray at http://{options.host}:{options.port}/ (feed /events, audio /audio)", flush=True
    )
    asyncio.run(_until_signal())
    serve.shutdown()
    return 0


async def _until_signal() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()

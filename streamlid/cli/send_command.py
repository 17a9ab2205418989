"""Stream an audio file to a streamlid server (`streamlid serve`) and print the events it sends back.

The command line of streamlid.serving.client.send_file: the events as the live line or JSON lines, exit
status 1 when the server refuses or breaks off the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..serving.client import DEFAULT_URL, ClientError, send_file
from ..serving.protocol import token_from_env


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="audio file (wav/flac/ogg/opus/mp3, any rate and channels)")
    p.add_argument(
        "--url", default=DEFAULT_URL, help="the server's audio endpoint; a URL without a path gets /audio [%(default)s]"
    )
    p.add_argument("--token", default=None, help="the server's token [STREAMLID_TOKEN]")
    p.add_argument("--fast", action="store_true", help="send as fast as the server takes it, not in real time")
    p.add_argument("--json", action="store_true", help="JSON lines: one event per line (as listen --json)")
    p.add_argument("--languages", default=None, help="restrict to these languages, comma-separated codes")
    p.add_argument(
        "--prefer",
        default=None,
        help="languages you expect, comma-separated: more likely, not exclusive (listen --help)",
    )
    p.add_argument(
        "--unknown",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask for 'none of these languages' decisions (or not); default: the server's setting",
    )


def codes(text: str | None) -> list[str] | None:
    """Comma-separated language codes as a list; None when not given."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def run(args: argparse.Namespace) -> int:
    from ..io.sinks import JsonLines, LiveLine

    sink = JsonLines() if args.json else LiveLine()
    token = token_from_env(args.token)
    try:
        asyncio.run(
            send_file(
                args.file,
                args.url,
                sink,
                not args.fast,
                codes(args.languages),
                token,
                unknown=args.unknown,
                prefer=codes(args.prefer),
            )
        )
    except ClientError as e:
        print(f"streamlid send: error: {e}", file=sys.stderr)
        return 1
    return 0

"""Stream an audio file to a streamlid server (`streamlid serve`) and print the events it sends back.

    summary = asyncio.run(send_file("talk.wav", "ws://127.0.0.1:8765/audio", print))

The file goes out as float32 PCM in messages of `chunk` seconds, paced in real time or, with
realtime=False, as fast as the server takes it. The events are events.py's (without `stream`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ..core.audio import read_audio
from ..core.events import EVENT_TYPES

DEFAULT_URL = "ws://127.0.0.1:8765/audio"


class ClientError(Exception):
    """The server refused or broke off the stream; the message is one line."""


def audio_url(url: str) -> str:
    """The /audio endpoint of a server URL: a URL without a path gets /audio; the feed's path is refused."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/audio"))
    if parts.path.rstrip("/") == "/events":
        raise ClientError(
            f"{url} is the event feed, which takes no audio; send to {urlunsplit(parts._replace(path='/audio'))}"
        )
    return url


async def send_file(
    path: str | Path,
    url: str = DEFAULT_URL,
    on_events: Callable[[list[dict]], None] = lambda events: None,
    realtime: bool = True,
    languages: list[str] | None = None,
    token: str | None = None,
    chunk: float = 0.1,
    unknown: bool | None = None,
    prefer: list[str] | None = None,
) -> dict:
    """Stream a file and hand each event to `on_events` as it arrives; returns the summary event."""
    audio, rate = read_audio(path)
    url = audio_url(url)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        async with connect(url, additional_headers=headers, max_size=2**22, open_timeout=10) as ws:
            hello = expect(json.loads(await ws.recv()), "hello")
            if languages is not None:
                check_languages(languages, hello.get("languages", []))
            start = {"type": "start", "sample_rate": rate, "channels": audio.shape[1], "format": "float32"}
            start.update(languages=languages, label=Path(path).name)
            if unknown is not None:  # absent: the server's setting
                start["unknown"] = unknown
            if prefer is not None:
                start["prefer"] = prefer
            await ws.send(json.dumps(start))
            expect(json.loads(await ws.recv()), "started")
            sender = asyncio.create_task(_send_audio(ws, audio, rate, realtime, chunk))
            try:
                return await _receive_events(ws, on_events)
            finally:
                sender.cancel()
    except InvalidStatus as e:
        body = e.response.body.decode(errors="replace").strip()
        if body.lstrip().startswith("<") or "\n" in body:  # a web page, not the server's one-line reason
            body = "(is this a streamlid server's /audio endpoint?)"
        raise ClientError(f"{url} refused the connection: HTTP {e.response.status_code} {body[:200]}") from None
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
        raise ClientError(f"cannot connect to {url}: {e}") from None


def check_languages(languages: list[str], known: list[str]) -> None:
    unknown = [c for c in languages if c not in known]
    if unknown:
        raise ClientError(
            f"--languages: unknown language(s) {', '.join(unknown)}; the server's model knows {' '.join(known)}"
        )
    if len(set(languages)) < 2:
        raise ClientError("--languages needs at least two different language codes (one is no choice)")


def expect(msg: dict, kind: str) -> dict:
    if msg.get("type") == "error":
        raise ClientError(f"server: {msg['error']}")
    if msg.get("type") != kind:
        raise ClientError(f"expected a {kind} message, got {msg.get('type')!r}")
    return msg


async def _send_audio(ws: ClientConnection, audio: np.ndarray, rate: int, realtime: bool, chunk: float) -> None:
    step = max(1, int(chunk * rate))
    t0 = time.monotonic()
    for i in range(0, len(audio), step):
        if realtime:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        await ws.send(audio[i : i + step].astype("<f4").tobytes())
    await ws.send(json.dumps({"type": "stop"}))


async def _receive_events(ws: ClientConnection, on_events: Callable[[list[dict]], None]) -> dict:
    try:
        async for text in ws:
            msg = json.loads(text)
            if msg["type"] == "error":
                raise ClientError(f"server: {msg['error']}")
            if msg["type"] in EVENT_TYPES:
                msg.pop("stream", None)
                on_events([msg])
                if msg["type"] == "summary":
                    return msg
    except ConnectionClosed as e:
        raise ClientError(f"the server closed the connection: {e}") from None
    raise ClientError(f"the server closed the connection before the summary ({ws.close_code} {ws.close_reason})")

"""Websocket server: a live event feed for many subscribers, audio in from many clients, a browser page.

Paths: `/` the browser page (static/), `/events` the event feed (`?stream=ID` for one stream),
`/audio` audio in (one stream per connection), `/protocol.schema.json` the protocol's JSON Schema.
`?token=T` (or `Authorization: Bearer T`) when the server has a token.

The first half of this module is the protocol core and does no I/O: parsing and checking client
messages, decoding audio frames, the subscribers' bounded queues and who gets which message. The
second half is the asyncio layer on the `websockets` library around it. The windows of all audio
streams go to the model together, one `Classifier.log_probs` call per step (windows of equal length
share a forward pass), in a single model thread off the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .checkpoint import model_path
from .events import to_json
from .languages import name
from .model import Classifier
from .stream import LanguageStream, StreamOptions

PROTOCOL_VERSION = 2  # 2: the open set (state speech-unknown, language null; start.unknown)
PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_FILES = {
    "/": ("static/index.html", "text/html; charset=utf-8"),
    "/app.js": ("static/app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("static/style.css", "text/css; charset=utf-8"),
    "/mic-worklet.js": ("static/mic-worklet.js", "text/javascript; charset=utf-8"),
    "/protocol.schema.json": ("protocol.schema.json", "application/json"),
}
FORMATS = {"int16": np.dtype("<i2"), "float32": np.dtype("<f4")}
START_FIELDS = {"type", "sample_rate", "channels", "format", "languages", "unknown", "label"}
MAX_TEXT_BYTES = 64 * 1024
log = logging.getLogger("streamlid.server")


# == protocol core: no I/O =============================================================================
class ProtocolError(Exception):
    """A client broke the protocol; the one-line message is sent back to it before the connection closes."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None  # required when binding to anything but loopback
    allow_remote_without_token: bool = False  # the explicit override of that rule
    origins: tuple[str, ...] = ()  # browser origins allowed besides the page's own
    queue_size: int = 256  # messages a subscriber may lag behind before the oldest are dropped
    max_streams: int = 32  # concurrent audio-in streams (one per connection)
    max_subscribers: int = 256  # concurrent /events connections
    max_connections_per_address: int = 64  # concurrent websocket connections from one client address
    max_frame_seconds: float = 5.0  # audio in one binary message
    max_message_bytes: int = 2**20
    backlog_seconds: float = 2.0  # unanalysed audio per stream before the server stops reading from its client
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 5.0  # a peer that does not answer a close is cut off after this

    def __post_init__(self) -> None:
        if self.token is None and not is_loopback(self.host) and not self.allow_remote_without_token:
            raise ValueError(
                f"binding to {self.host} needs a token (--token or STREAMLID_TOKEN, or --allow-remote-without-token)"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, not {self.port}")
        limits = ("queue_size", "max_streams", "max_subscribers", "max_connections_per_address", "max_message_bytes")
        for key in limits:
            if getattr(self, key) < 1:
                raise ValueError(f"{key.replace('_', '-')} must be at least 1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_host_port(text: str, default_port: int = 8765) -> tuple[str, int]:
    """'HOST:PORT', 'HOST', ':PORT' or '[::1]:PORT' -> (host, port); ValueError with a one-line reason."""
    host, sep, port = text.rpartition(":") if text.count(":") <= 1 or text.startswith("[") else (text, "", "")
    if not sep:
        host, port = text, str(default_port)
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad address {text!r}: expected HOST:PORT with a port from 0 to 65535")
    return host, int(port)


def authorised(token: str | None, request: Request) -> bool:
    if token is None:
        return True
    given = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        given = auth[7:]
    return hmac.compare_digest(given.encode(), token.encode())


def origin_allowed(request: Request, allowed: Iterable[str]) -> bool:
    """Browsers send Origin: the page's own origin (same host and port) and listed ones may connect."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser
    host = request.headers.get("Host", "")
    return origin in allowed or origin in (f"http://{host}", f"https://{host}")


@dataclass(frozen=True)
class AudioFormat:
    sample_rate: int
    channels: int = 1
    format: str = "int16"
    languages: tuple[str, ...] | None = None
    label: str = ""
    unknown: bool | None = None  # StreamOptions.unknown: None = the server's setting

    @property
    def frame_bytes(self) -> int:
        return self.channels * FORMATS[self.format].itemsize


def parse_message(text: str, expected: Iterable[str]) -> dict:
    """A client's text message -> dict with a known `type`."""
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError(f"text message of {len(text)} characters is too long (at most {MAX_TEXT_BYTES})")
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"message is not JSON: {e.msg} at position {e.pos}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError('a message must be a JSON object with a "type"')
    expected = tuple(expected)
    if msg["type"] not in expected:
        raise ProtocolError(f"unexpected message type {msg['type']!r} here (expected {' or '.join(expected)})")
    return msg


def _int_field(msg: dict, key: str, default: int | None, low: int, high: int) -> int:
    value = msg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"start: {key} must be an integer from {low} to {high}, not {json.dumps(value)}")
    return value


def parse_start(msg: dict, model_languages: list[str]) -> AudioFormat:
    """Check a `start` message against the model; ProtocolError says what is wrong."""
    extra = sorted(set(msg) - START_FIELDS)
    if extra:
        raise ProtocolError(f"start: unknown field(s) {', '.join(extra)}")
    rate = _int_field(msg, "sample_rate", None, 8000, 192000)
    channels = _int_field(msg, "channels", 1, 1, 8)
    fmt = msg.get("format", "int16")
    if fmt not in FORMATS:
        raise ProtocolError(f"start: format must be {' or '.join(FORMATS)}, not {json.dumps(fmt)}")
    languages = msg.get("languages")
    if languages is not None:
        if not isinstance(languages, list) or not all(isinstance(c, str) for c in languages) or len(languages) < 2:
            raise ProtocolError("start: languages must be a list of at least two language codes, or null")
        unknown = [c for c in languages if c not in model_languages]
        if unknown:
            raise ProtocolError(
                f"start: unknown language(s) {', '.join(unknown)}; the model knows {' '.join(model_languages)}"
            )
        languages = tuple(dict.fromkeys(languages))
    unknown = msg.get("unknown")
    if unknown is not None and not isinstance(unknown, bool):
        raise ProtocolError(f"start: unknown must be true, false or null, not {json.dumps(unknown)}")
    label = msg.get("label", "")
    if not isinstance(label, str) or len(label) > 100:
        raise ProtocolError("start: label must be a string of at most 100 characters")
    return AudioFormat(rate, channels, fmt, languages, label, unknown)


def decode_frame(data: bytes, fmt: AudioFormat, max_seconds: float) -> np.ndarray:
    """A binary message -> (frames, channels) PCM, little-endian interleaved."""
    if len(data) % fmt.frame_bytes or not data:
        raise ProtocolError(
            f"an audio message of {len(data)} bytes is not a whole number of frames"
            f" ({fmt.channels} channel(s) of {fmt.format}: {fmt.frame_bytes} bytes a frame)"
        )
    frames = len(data) // fmt.frame_bytes
    if frames > max_seconds * fmt.sample_rate:
        raise ProtocolError(
            f"an audio message of {frames / fmt.sample_rate:.1f} s is too long (at most {max_seconds:g} s)"
        )
    return np.frombuffer(data, dtype=FORMATS[fmt.format]).reshape(frames, fmt.channels)


class Outbox:
    """A subscriber's bounded queue of encoded messages: when full the oldest go, counted in a `missed` notice."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[str] = deque()
        self.missed = 0

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: str) -> None:
        if len(self.items) >= self.size:
            self.items.popleft()
            self.missed += 1
        self.items.append(item)

    def take(self) -> list[str]:
        out = list(self.items)
        self.items.clear()
        if self.missed:
            out.insert(0, to_json({"type": "missed", "count": self.missed}))
            self.missed = 0
        return out


def score_together(classifier: Classifier, streams: list[LanguageStream]) -> list[list[dict]]:
    """Advance every stream, score all their windows in one call to the model, and complete each stream."""
    windows = [s.advance() for s in streams]
    flat = [w for ws in windows for w in ws]
    scores = classifier.log_probs(flat) if flat else np.zeros((0, 0), dtype=np.float32)
    out, k = [], 0
    for stream, ws in zip(streams, windows, strict=True):
        out.append(stream.complete(scores[k : k + len(ws)]))
        k += len(ws)
    return out


def settings(stream_options: StreamOptions, options: ServerOptions) -> dict:
    s = asdict(stream_options)
    return {
        "stream": {**s, "languages": list(s["languages"]) if s["languages"] else None},
        "formats": list(FORMATS),
        "max_frame_seconds": options.max_frame_seconds,
        "max_message_bytes": options.max_message_bytes,
        "queue_size": options.queue_size,
        "max_streams": options.max_streams,
        "max_subscribers": options.max_subscribers,
        "max_connections_per_address": options.max_connections_per_address,
    }


# == asyncio layer ===================================================================================
class Subscriber:
    """One connection's outbox and the task that sends it; a slow reader only ever delays itself."""

    def __init__(self, ws: ServerConnection, size: int, stream: str | None) -> None:
        self.ws, self.stream = ws, stream
        self.outbox = Outbox(size)
        self.ready = asyncio.Event()
        self.closing = False
        self.task = asyncio.create_task(self._send_all())

    def put(self, text: str) -> None:
        self.outbox.put(text)
        self.ready.set()

    def finish(self) -> None:
        """Send what is queued, then end."""
        self.closing = True
        self.ready.set()

    async def _send_all(self) -> None:
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                for text in self.outbox.take():
                    await self.ws.send(text)
                if self.closing and not self.outbox:
                    return
        except ConnectionClosed:
            pass


class LiveServer:
    """The websocket server. Audio-in streams are its own; `publish` adds events of a stream run elsewhere."""

    def __init__(
        self,
        classifier: Classifier,
        options: ServerOptions | None = None,
        stream_options: StreamOptions | None = None,
        model: str = "",
    ) -> None:
        self.classifier = classifier
        self.options = options or ServerOptions()
        self.stream_options = stream_options or StreamOptions()
        self.model = {
            "name": model_path(model).with_suffix("").name if model else classifier.name,
            "version": classifier.info.version,
            "languages": classifier.languages,
            "open_set": classifier.open_set,
            "compute": classifier.device.type,
        }
        self.subscribers: set[Subscriber] = set()
        self.feeds = 0  # open /events connections
        self.streams: dict[str, dict] = {}  # id -> description and the latest decision/posteriors
        self.audio: dict[str, LanguageStream] = {}  # the audio-in streams the scoring loop drives
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="streamlid-model")
        self.server: Server | None = None
        self._next_id = 0
        self._closing = False
        self._audio_in: asyncio.Event | None = None
        self._stepped: asyncio.Condition | None = None
        self._scoring: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self.start_scoring()
        o = self.options
        self.server = await serve(
            self._handle,
            o.host,
            o.port,
            process_request=self._process_request,
            compression=None,  # many subscribers: no per-connection deflate on 2 cores
            ping_interval=o.ping_interval,
            ping_timeout=o.ping_timeout,
            close_timeout=o.close_timeout,
            max_size=o.max_message_bytes,
            logger=log,
        )

    def start_scoring(self) -> None:
        """The scoring loop alone, on the running event loop: for connections served by another transport
        (ray_serve.py hands its websockets to `_handle`); `start` calls it before binding its own."""
        self._audio_in, self._stepped = asyncio.Event(), asyncio.Condition()
        self._scoring = asyncio.create_task(self._score_loop())

    async def close(self) -> None:
        """End every audio stream with its summary, let the subscribers flush, then close the connections."""
        self._closing = True
        loop = asyncio.get_running_loop()
        for sid in list(self.audio):
            stream = self.audio.pop(sid)
            self.publish(sid, await loop.run_in_executor(self.executor, stream.close))
        for sub in self.subscribers:
            sub.finish()
        if self.subscribers:
            await asyncio.wait([sub.task for sub in self.subscribers], timeout=2.0)
        if self._scoring:
            self._scoring.cancel()
        if self.server:
            self.server.close()
            await self.server.wait_closed()
        self.executor.shutdown(wait=True)

    # -- the feed ---------------------------------------------------------------------------------
    def open_stream(self, label: str, sample_rate: int, channels: int, languages: list[str]) -> str:
        self._next_id += 1
        sid = f"s{self._next_id}"
        info = {"stream": sid, "label": label, "sample_rate": sample_rate, "channels": channels, "languages": languages}
        self.streams[sid] = {**info, "last": {}}
        self._broadcast(sid, to_json({"type": "open", **info}))
        return sid

    def publish(self, sid: str, events: list[dict]) -> None:
        """Send a stream's events to its subscribers; the `summary` ends the stream."""
        state = self.streams.get(sid)
        if state is None:
            return
        for event in events:
            message = {**event, "stream": sid}
            if event["type"] in ("decision", "posteriors"):
                state["last"][event["type"]] = message
            self._broadcast(sid, to_json(message))
            if event["type"] == "summary":
                del self.streams[sid]

    def _broadcast(self, sid: str, text: str) -> None:
        for sub in self.subscribers:
            if sub.stream is None or sub.stream == sid:
                sub.put(text)

    def hello(self, role: str, stream: str | None = None) -> str:
        streams = [s for s in self.streams.values() if stream is None or s["stream"] == stream]
        return to_json(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "role": role,
                "model": self.model,
                "languages": self.classifier.languages,
                "names": {code: name(code) for code in self.classifier.languages},
                "settings": settings(self.stream_options, self.options),
                "streams": streams,
            }
        )

    # -- the model --------------------------------------------------------------------------------
    async def _score_loop(self) -> None:
        """Whenever audio came in: one step for all streams in the model thread, then publish."""
        loop = asyncio.get_running_loop()
        while True:
            await self._audio_in.wait()
            self._audio_in.clear()
            batch = list(self.audio.items())
            try:
                results = await loop.run_in_executor(
                    self.executor, score_together, self.classifier, [s for _, s in batch]
                )
            except Exception:  # a model failure must not stop the server; it is logged and the step skipped
                log.exception("scoring failed")
                results = [[] for _ in batch]
            for (sid, _), events in zip(batch, results, strict=True):
                self.publish(sid, events)
            async with self._stepped:
                self._stepped.notify_all()

    # -- connections ------------------------------------------------------------------------------
    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        o = self.options
        path = urlsplit(request.path).path
        if path in STATIC_FILES:
            file, content_type = STATIC_FILES[path]
            body = (PACKAGE_DIR / file).read_bytes()
            headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body)))])
            headers["Cache-Control"] = "no-cache"
            return Response(200, "OK", headers, body)
        if path not in ("/events", "/audio"):
            return ws.respond(HTTPStatus.NOT_FOUND, f"no such path {path}; try / /events /audio\n")
        if not origin_allowed(request, o.origins):
            return ws.respond(HTTPStatus.FORBIDDEN, f"origin {request.headers.get('Origin')} is not allowed\n")
        if not authorised(o.token, request):
            return ws.respond(HTTPStatus.UNAUTHORIZED, "a valid token is required (?token= or Authorization: Bearer)\n")
        address = ws.remote_address[0]
        if sum(c.remote_address[0] == address for c in self.server.connections) >= o.max_connections_per_address:
            limit = o.max_connections_per_address
            return ws.respond(HTTPStatus.TOO_MANY_REQUESTS, f"at most {limit} connections from one address\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        url = urlsplit(ws.request.path)
        if url.path == "/events":
            await self._serve_feed(ws, parse_qs(url.query).get("stream", [None])[0])
        else:
            await self._serve_audio(ws)

    async def _serve_feed(self, ws: ServerConnection, stream: str | None) -> None:
        if self.feeds >= self.options.max_subscribers:
            limit = self.options.max_subscribers
            await _fail(ws, f"the server is at its limit of {limit} subscribers", code=1013)
            return
        self.feeds += 1
        sub = Subscriber(ws, self.options.queue_size, stream)
        sub.put(self.hello("feed", stream))
        self.subscribers.add(sub)
        try:
            async for _ in ws:
                raise ProtocolError("the event feed takes no messages")
        except ProtocolError as e:
            await _fail(ws, str(e))
        except ConnectionClosed:
            pass
        finally:
            self.feeds -= 1
            self.subscribers.discard(sub)
            sub.task.cancel()

    async def _serve_audio(self, ws: ServerConnection) -> None:
        """hello; start -> started; binary PCM -> events; stop -> the final events and summary, then close."""
        await ws.send(self.hello("audio"))
        sid = None
        sub = Subscriber(ws, self.options.queue_size, None)
        try:
            first = await ws.recv()
            if not isinstance(first, str):
                raise ProtocolError("send a start message before any audio")
            fmt = parse_start(parse_message(first, ["start"]), self.classifier.languages)
            if self._closing:
                raise ProtocolError("the server is shutting down")
            if len(self.audio) >= self.options.max_streams:
                raise ProtocolError(f"the server is at its limit of {self.options.max_streams} audio streams")
            options = replace(
                self.stream_options,
                languages=fmt.languages or self.stream_options.languages,
                unknown=self.stream_options.unknown if fmt.unknown is None else fmt.unknown,
            )
            stream = LanguageStream(self.classifier, fmt.sample_rate, fmt.channels, options)
            sid = self.open_stream(fmt.label or ws.remote_address[0], fmt.sample_rate, fmt.channels, stream.languages)
            sub.stream = sid
            sub.put(to_json({"type": "started", "stream": sid, **asdict(fmt)}))
            self.subscribers.add(sub)
            self.audio[sid] = stream
            backlog = int(self.options.backlog_seconds * fmt.sample_rate)
            async for message in ws:
                if isinstance(message, str):
                    parse_message(message, ["stop"])
                    break
                stream.write(decode_frame(message, fmt, self.options.max_frame_seconds))
                self._audio_in.set()
                if len(stream.ring) > backlog:  # a client faster than real time waits for the model
                    async with self._stepped:
                        await self._stepped.wait_for(lambda s=stream: len(s.ring) <= backlog)
            await self._end_stream(sid)
            sub.finish()
            await sub.task
            await ws.close(1000, "stream ended")
        except ProtocolError as e:
            await self._end_stream(sid)
            await _fail(ws, str(e))
        except ConnectionClosed:
            await self._end_stream(sid)
        finally:
            self.subscribers.discard(sub)
            sub.task.cancel()

    async def _end_stream(self, sid: str | None) -> None:
        stream = self.audio.pop(sid, None)
        if stream is not None:
            events = await asyncio.get_running_loop().run_in_executor(self.executor, stream.close)
            self.publish(sid, events)


async def _fail(ws: ServerConnection, message: str, code: int = 1008) -> None:
    """Tell the client what went wrong, then close: 1008 (policy violation) or 1013 (at a limit: try again later)."""
    try:
        await ws.send(to_json({"type": "error", "error": message}))
        await ws.close(code, message[:120])
    except ConnectionClosed:
        pass


class BackgroundServer:
    """A LiveServer on its own thread and event loop, for `listen --serve`: publish events from any thread."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="streamlid-server", daemon=True)

    def start(self) -> BackgroundServer:
        self._thread.start()
        self._started.wait()
        if self._error:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as e:  # handed to the starting thread
            self._error = e
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()

    def publisher(self, sid: str) -> Callable[[list[dict]], None]:
        """A sink that hands the events to the server's loop without waiting."""
        return lambda events: self.loop.call_soon_threadsafe(self.server.publish, sid, events)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def serve_stream(
    address: str, token: str | None, classifier: Classifier, stream: LanguageStream, info: dict
) -> tuple[BackgroundServer, Callable[[list[dict]], None]]:
    """For `listen --serve HOST:PORT`: a background server publishing this one stream -> (server, sink).

    ValueError with a one-line reason for a bad address, a missing token or a port that is taken."""
    host, port = parse_host_port(address)
    options = ServerOptions(host=host, port=port, token=token or os.environ.get("STREAMLID_TOKEN") or None)
    live = LiveServer(classifier, options, stream.options, info["model"])
    # registered before the port opens, so the first subscriber's hello already lists it
    sid = live.open_stream(info["source"], stream.sample_rate, stream.channels, stream.languages)
    try:
        background = BackgroundServer(live).start()
    except OSError as e:
        raise ValueError(f"cannot listen on {address}: {e.strerror or e}") from None
    return background, background.publisher(sid)


# == command line ====================================================================================
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


def server_options(args: argparse.Namespace, host: str, port: int) -> ServerOptions:
    from .cli import UsageError

    try:
        return ServerOptions(
            host=host,
            port=port,
            token=args.token or os.environ.get("STREAMLID_TOKEN") or None,
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


def configure_parser(p: argparse.ArgumentParser) -> None:
    from .cli import add_model_options

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


def run(args: argparse.Namespace) -> int:
    from .cli import UsageError, load_classifier, stream_options

    if args.backend == "ray":
        try:
            from .ray_serve import run as run_on_ray
        except ModuleNotFoundError as e:
            raise UsageError(f"--backend ray needs {e.name}: pip install 'streamlid[ray]'") from None
        return run_on_ray(args)
    options = server_options(args, args.host, args.port)
    classifier, languages = load_classifier(args)
    server = LiveServer(classifier, options, stream_options(args, languages), str(args.model or ""))
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
